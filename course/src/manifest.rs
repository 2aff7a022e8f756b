//! `course.toml`: the chapters and exercises of the course, loaded and validated.

use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub course: Course,
    #[serde(default, rename = "chapter")]
    pub chapters: Vec<Chapter>,
    #[serde(default, rename = "exercise")]
    pub exercises: Vec<Exercise>,
    /// `[grading]`: limits of `cargo course grade`.
    #[serde(default)]
    pub grading: Grading,
}

/// `[grading]`: the limits every graded test process runs under.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grading {
    /// Wall-clock seconds per test (default 60).
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// Address-space limit per test process in MiB (default 8192).
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    /// The chapters `cargo course verify` grades every red-team case on: the grader's code
    /// paths are the same for every chapter, so a fixed set keeps the red team's cost flat
    /// as chapters are added. Empty: every written chapter.
    #[serde(default)]
    pub red_team_chapters: Vec<String>,
    /// The share of `timeout_s` a graded test may use in `cargo course verify`'s reference
    /// grading (default 0.5): what trains must stay well inside the limit on a loaded machine.
    #[serde(default = "default_budget_share")]
    pub budget_share: f64,
    /// Wall-clock seconds per cargo command of the grader (default 1200): a submission that
    /// keeps the compiler busy scores 0 for that chapter instead of holding the grader.
    #[serde(default = "default_build_timeout_s")]
    pub build_timeout_s: u64,
    /// Address-space limit per process of the build in MiB (default 16384).
    #[serde(default = "default_build_memory_mb")]
    pub build_memory_mb: u64,
    /// Wall-clock seconds for running all tests of one grading (default 3600); tests not
    /// started by then fail with the reason.
    #[serde(default = "default_total_timeout_s")]
    pub total_timeout_s: u64,
}

fn default_timeout_s() -> u64 {
    60
}
fn default_memory_mb() -> u64 {
    8192
}
fn default_budget_share() -> f64 {
    0.5
}
fn default_build_timeout_s() -> u64 {
    1200
}
fn default_build_memory_mb() -> u64 {
    16384
}
fn default_total_timeout_s() -> u64 {
    3600
}

impl Default for Grading {
    fn default() -> Self {
        Grading {
            timeout_s: default_timeout_s(),
            memory_mb: default_memory_mb(),
            red_team_chapters: Vec::new(),
            budget_share: default_budget_share(),
            build_timeout_s: default_build_timeout_s(),
            build_memory_mb: default_build_memory_mb(),
            total_timeout_s: default_total_timeout_s(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Course {
    pub title: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chapter {
    pub id: String,
    pub number: String,
    pub title: String,
    /// `exercises/src/<module>.rs`; `None` while the chapter is planned.
    pub module: Option<String>,
    /// `book/<book>`.
    pub book: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    pub id: String,
    pub chapter: String,
    pub section: String,
    pub title: String,
    pub points: f64,
    #[serde(default)]
    pub hints: Vec<String>,
    /// `[exercise.weights]`: relative weight of a test fn (default 1) in the exercise's points.
    #[serde(default)]
    pub weights: std::collections::BTreeMap<String, f64>,
    /// What the exercise teaches to write by hand: identifiers (functions, methods, types)
    /// its code and the helpers it reaches must not use. A bare name that the chapter file
    /// itself defines (the learner's own function of that name) is allowed.
    #[serde(default)]
    pub forbid: Vec<String>,
    /// Why `forbid` holds, as the end of the sentence "… which it must not call: …"; by
    /// default that the exercise teaches how to do it by hand.
    #[serde(default)]
    pub forbid_why: Option<String>,
}

impl Exercise {
    /// The reason a forbidden call scores 0, with the book section.
    pub fn forbid_reason(&self) -> String {
        let why = self.forbid_why.as_deref().unwrap_or("the exercise teaches how to do that by hand");
        format!("{why} (book section {})", self.section)
    }
}

impl Chapter {
    /// The built page of this chapter, relative to the repo root.
    pub fn html_path(&self) -> String {
        let stem = self.book.strip_suffix(".md").unwrap_or(&self.book);
        format!("target/book/{stem}.html")
    }
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Manifest::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Every problem at once, one per line.
    fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        let mut chapter_ids = HashSet::new();
        let mut modules = HashSet::new();
        for ch in &self.chapters {
            if !is_ident(&ch.id) {
                errors.push(format!("chapter id `{}` must be a Rust identifier (e.g. ch01, appA)", ch.id));
            }
            if !chapter_ids.insert(ch.id.as_str()) {
                errors.push(format!("chapter id `{}` appears twice", ch.id));
            }
            if ch.number.is_empty() || ch.number.contains('.') {
                errors.push(format!("chapter {}: number `{}` must be like `1` or `A`", ch.id, ch.number));
            }
            if !ch.book.ends_with(".md") {
                errors.push(format!("chapter {}: book `{}` must be a .md file under book/", ch.id, ch.book));
            }
            if let Some(m) = &ch.module {
                if !is_ident(m) || !m.starts_with(&format!("{}_", ch.id)) {
                    errors.push(format!(
                        "chapter {}: module `{m}` must be a Rust identifier starting with `{}_`",
                        ch.id, ch.id
                    ));
                }
                if !modules.insert(m.as_str()) {
                    errors.push(format!("module `{m}` is used by two chapters"));
                }
            }
        }
        let mut exercise_ids = HashSet::new();
        for ex in &self.exercises {
            if !is_ident(&ex.id) {
                errors.push(format!(
                    "exercise id `{}` must be a Rust identifier (it names the test module)",
                    ex.id
                ));
            }
            if !exercise_ids.insert(ex.id.as_str()) {
                errors.push(format!("exercise id `{}` appears twice", ex.id));
            }
            if !(ex.points.is_finite() && ex.points > 0.0) {
                errors.push(format!("exercise {}: points must be positive, not {}", ex.id, ex.points));
            }
            for (test, w) in &ex.weights {
                if !(w.is_finite() && *w > 0.0) {
                    errors.push(format!("exercise {}: weight of `{test}` must be positive, not {w}", ex.id));
                }
            }
            match self.chapters.iter().find(|c| c.id == ex.chapter) {
                None => errors.push(format!(
                    "exercise {}: chapter `{}` is not a [[chapter]] of the manifest",
                    ex.id, ex.chapter
                )),
                Some(ch) => {
                    if ch.module.is_none() {
                        errors.push(format!(
                            "exercise {}: chapter {} has no `module` (it is planned); give it one first",
                            ex.id, ch.id
                        ));
                    }
                    let ok = ex.section.strip_prefix(&format!("{}.", ch.number)).is_some_and(|rest| {
                        !rest.is_empty()
                            && rest.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                    });
                    if !ok {
                        errors.push(format!(
                            "exercise {}: section `{}` must look like `{}.N` (chapter {} is number {})",
                            ex.id, ex.section, ch.number, ch.id, ch.number
                        ));
                    }
                }
            }
        }
        if self.grading.timeout_s == 0 || self.grading.memory_mb < 64 {
            errors.push("[grading]: timeout_s must be positive and memory_mb at least 64".into());
        }
        if !(self.grading.budget_share > 0.0 && self.grading.budget_share <= 1.0) {
            errors.push("[grading]: budget_share must be in (0, 1]".into());
        }
        for id in &self.grading.red_team_chapters {
            match self.chapters.iter().find(|c| &c.id == id) {
                None => errors.push(format!("[grading] red_team_chapters: `{id}` is not a [[chapter]] id")),
                Some(c) if c.module.is_none() => {
                    errors.push(format!("[grading] red_team_chapters: {id} is planned (it has no module)"))
                }
                Some(_) => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("invalid manifest:\n  {}", errors.join("\n  ")))
        }
    }

    /// A chapter by id (`ch01`), by number (`1`, `01`) or, case-insensitively, `appA` / `A`.
    pub fn chapter(&self, arg: &str) -> Option<&Chapter> {
        let a = arg.trim();
        self.chapters.iter().find(|c| {
            c.id.eq_ignore_ascii_case(a)
                || c.number.eq_ignore_ascii_case(a)
                || (a.chars().all(|ch| ch.is_ascii_digit())
                    && !a.is_empty()
                    && a.trim_start_matches('0') == c.number)
        })
    }

    /// The ids of the written chapters named by `args` (each as [`Manifest::chapter`] reads
    /// it), in manifest order without repeats.
    pub fn chapter_ids(&self, args: &[String]) -> Result<Vec<String>, String> {
        let mut wanted = Vec::new();
        for a in args {
            let ch = self.chapter(a).ok_or_else(|| {
                let ids: Vec<&str> = self.written().map(|c| c.id.as_str()).collect();
                format!("unknown chapter `{a}`; chapters: {}", ids.join(", "))
            })?;
            if ch.module.is_none() {
                return Err(format!("chapter {} ({}) is planned: it has no exercises yet", ch.id, ch.title));
            }
            wanted.push(ch.id.clone());
        }
        Ok(self.written().map(|c| c.id.clone()).filter(|id| wanted.contains(id)).collect())
    }

    /// The written chapters (with a module), in order.
    pub fn written(&self) -> impl Iterator<Item = &Chapter> {
        self.chapters.iter().filter(|c| c.module.is_some())
    }

    pub fn chapter_by_id(&self, id: &str) -> Option<&Chapter> {
        self.chapters.iter().find(|c| c.id == id)
    }

    pub fn exercise(&self, id: &str) -> Option<&Exercise> {
        self.exercises.iter().find(|e| e.id == id)
    }

    pub fn exercises_of<'a>(&'a self, chapter: &'a str) -> impl Iterator<Item = &'a Exercise> {
        self.exercises.iter().filter(move |e| e.chapter == chapter)
    }

    /// Chapter of the exercise (validated to exist).
    pub fn chapter_of(&self, ex: &Exercise) -> &Chapter {
        self.chapter_by_id(&ex.chapter).expect("validated: every exercise's chapter exists")
    }
}

pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A small valid manifest for the tool's unit tests: two chapters, one exercise each.
#[cfg(test)]
pub(crate) fn two_chapter_sample() -> Manifest {
    Manifest::parse(
        r#"
[course]
title = "T"
[[chapter]]
id = "ch01"
number = "1"
title = "One"
module = "ch01_one"
book = "ch01-one.md"
[[chapter]]
id = "ch02"
number = "2"
title = "Two"
module = "ch02_two"
book = "ch02-two.md"
[[exercise]]
id = "top_k"
chapter = "ch01"
section = "1.2"
title = "Top-k"
points = 2
[[exercise]]
id = "relu"
chapter = "ch02"
section = "2.3"
title = "ReLU"
points = 1
"#,
    )
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[course]
title = "T"

[[chapter]]
id = "ch01"
number = "1"
title = "One"
module = "ch01_one"
book = "ch01-one.md"

[[chapter]]
id = "appA"
number = "A"
title = "GPUs"
book = "appA-gpus.md"

[[exercise]]
id = "top_k_error"
chapter = "ch01"
section = "1.2"
title = "Top-k"
points = 2
hints = ["a", "b"]

[[exercise]]
id = "one_hot"
chapter = "ch01"
section = "1.3.1"
title = "One-hot"
points = 1.5
"#;

    #[test]
    fn parses_a_good_manifest() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.chapters.len(), 2);
        assert_eq!(m.exercises[0].points, 2.0);
        assert_eq!(m.exercises[1].hints.len(), 0);
        assert_eq!(m.chapter("1").unwrap().id, "ch01");
        assert_eq!(m.chapter("01").unwrap().id, "ch01");
        assert_eq!(m.chapter("CH01").unwrap().id, "ch01");
        assert_eq!(m.chapter("a").unwrap().id, "appA");
        assert!(m.chapter("2").is_none());
        assert_eq!(m.chapters[0].html_path(), "target/book/ch01-one.html");
        assert_eq!(m.exercises_of("ch01").count(), 2);
        assert_eq!(m.chapter_ids(&["1".into(), "ch01".into()]).unwrap(), ["ch01"]);
        assert!(m.chapter_ids(&["appA".into()]).unwrap_err().contains("planned"));
        assert!(m.chapter_ids(&["7".into()]).unwrap_err().contains("unknown chapter `7`; chapters: ch01"));
    }

    fn error_of(text: &str) -> String {
        Manifest::parse(text).unwrap_err()
    }

    #[test]
    fn rejects_duplicate_ids() {
        let text = GOOD.replace("id = \"one_hot\"", "id = \"top_k_error\"");
        assert!(error_of(&text).contains("exercise id `top_k_error` appears twice"));
        let text = GOOD.replace("id = \"appA\"", "id = \"ch01\"");
        assert!(error_of(&text).contains("chapter id `ch01` appears twice"));
    }

    #[test]
    fn rejects_unknown_or_planned_chapters() {
        let text =
            GOOD.replace("chapter = \"ch01\"\nsection = \"1.2\"", "chapter = \"ch09\"\nsection = \"9.2\"");
        assert!(error_of(&text).contains("chapter `ch09` is not a [[chapter]]"));
        let text =
            GOOD.replace("chapter = \"ch01\"\nsection = \"1.2\"", "chapter = \"appA\"\nsection = \"A.2\"");
        assert!(error_of(&text).contains("chapter appA has no `module`"));
    }

    #[test]
    fn rejects_sections_of_another_chapter() {
        for bad in ["2.1", "1", "1.", "12.1", "1.x", "1..2"] {
            let text = GOOD.replace("section = \"1.2\"", &format!("section = \"{bad}\""));
            let err = error_of(&text);
            assert!(err.contains("must look like `1.N`"), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_typos_and_bad_values() {
        let err = error_of(&GOOD.replace("hints = ", "hint = "));
        assert!(err.contains("unknown field `hint`"), "{err}");
        let err = error_of(&GOOD.replace("points = 2", "points = 0"));
        assert!(err.contains("points must be positive"), "{err}");
        let err = error_of(&GOOD.replace("id = \"one_hot\"", "id = \"one-hot\""));
        assert!(err.contains("must be a Rust identifier"), "{err}");
        let err = error_of(&GOOD.replace("module = \"ch01_one\"", "module = \"one\""));
        assert!(err.contains("starting with `ch01_`"), "{err}");
    }

    #[test]
    fn reports_all_problems_at_once() {
        let text =
            GOOD.replace("section = \"1.2\"", "section = \"3.2\"").replace("points = 1.5", "points = -1");
        let err = error_of(&text);
        assert_eq!(err.lines().count(), 3, "{err}");
    }

    #[test]
    fn grading_limits_and_test_weights() {
        let m = two_chapter_sample();
        assert_eq!((m.grading.timeout_s, m.grading.memory_mb), (60, 8192));
        let text = r#"
[course]
title = "T"
[grading]
timeout_s = 5
[[chapter]]
id = "ch01"
number = "1"
title = "One"
module = "ch01_one"
book = "ch01-one.md"
[[exercise]]
id = "top_k"
chapter = "ch01"
section = "1.2"
title = "Top-k"
points = 2
[exercise.weights]
"ties" = 3
"#;
        let m = Manifest::parse(text).unwrap();
        assert_eq!((m.grading.timeout_s, m.grading.memory_mb), (5, 8192));
        assert_eq!(m.exercises[0].weights.get("ties"), Some(&3.0));
        let bad = text.replace("\"ties\" = 3", "\"ties\" = 0");
        assert!(Manifest::parse(&bad).unwrap_err().contains("weight of `ties` must be positive"));
        let red = text.replace("timeout_s = 5", "timeout_s = 5\nred_team_chapters = [\"ch01\", \"ch09\"]");
        assert!(Manifest::parse(&red).unwrap_err().contains("`ch09` is not a [[chapter]] id"));
    }
}
