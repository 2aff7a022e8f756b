//! Points per test, the per-chapter table and Gradescope's `results.json`.

use crate::libtest::{Kind, Outcome, Report, TestResult};
use crate::manifest::{Exercise, Manifest};
use serde::Serialize;

/// A graded test: named `chNN::<exercise_id>::<test_fn>`.
#[derive(Debug)]
pub struct Graded<'a> {
    pub exercise: &'a Exercise,
    pub hidden: bool,
    pub test: TestResult,
    /// Its share of the exercise's points.
    pub max_score: f64,
}

impl Graded<'_> {
    pub fn passed(&self) -> bool {
        self.test.outcome == Outcome::Passed
    }
    pub fn score(&self) -> f64 {
        if self.passed() {
            self.max_score
        } else {
            0.0
        }
    }
}

/// Does the first segment of a test name name a chapter (`ch07`, `appA`, or a manifest id)?
pub fn chapter_like(manifest: &Manifest, seg: &str) -> bool {
    let b = seg.as_bytes();
    manifest.chapter_by_id(seg).is_some()
        || (b.len() == 4 && seg.starts_with("ch") && b[2..].iter().all(u8::is_ascii_digit))
        || (b.len() == 4 && seg.starts_with("app") && b[3].is_ascii_uppercase())
}

/// The exercise of a graded test name; `Ok(None)` for a test that is not graded (its name
/// does not start with a chapter); `Err` for a graded-looking name the manifest does not know.
pub fn exercise_of<'a>(manifest: &'a Manifest, name: &str) -> Result<Option<&'a Exercise>, String> {
    let mut parts = name.split("::");
    let chapter = parts.next().unwrap_or_default();
    if !chapter_like(manifest, chapter) {
        return Ok(None);
    }
    let (Some(ex_id), Some(_)) = (parts.next(), parts.next()) else {
        return Err(format!("test `{name}` is not named `{chapter}::<exercise_id>::<test_fn>`"));
    };
    match manifest.exercise(ex_id) {
        None => Err(format!("test `{name}`: exercise `{ex_id}` is not in course.toml")),
        Some(ex) if ex.chapter != chapter => {
            Err(format!("test `{name}`: exercise `{ex_id}` belongs to {}, not {chapter}", ex.chapter))
        }
        Some(ex) => Ok(Some(ex)),
    }
}

#[derive(Debug)]
pub struct Assigned<'a> {
    pub graded: Vec<Graded<'a>>,
    /// Tests that are not graded: other names, doctests, ignored tests.
    pub ungraded: Vec<String>,
}

/// Maps the tests of the visible and hidden runs to exercises and splits each exercise's
/// points equally over all its graded tests. Errors list every test the manifest cannot place.
pub fn assign<'a>(
    manifest: &'a Manifest,
    visible: &Report,
    hidden: Option<&Report>,
) -> Result<Assigned<'a>, String> {
    let mut graded = Vec::new();
    let mut ungraded = Vec::new();
    let mut errors = Vec::new();
    let runs = [(visible, false)].into_iter().chain(hidden.map(|h| (h, true)));
    for (report, hidden) in runs {
        for t in &report.tests {
            if t.kind == Kind::Doc {
                ungraded.push(t.name.clone());
                continue;
            }
            match exercise_of(manifest, &t.name) {
                Err(e) => errors.push(e),
                Ok(None) => ungraded.push(t.name.clone()),
                Ok(Some(_)) if t.outcome == Outcome::Ignored => {
                    ungraded.push(format!("{} (ignored)", t.name))
                }
                Ok(Some(ex)) => graded.push(Graded { exercise: ex, hidden, test: t.clone(), max_score: 0.0 }),
            }
        }
    }
    if !errors.is_empty() {
        return Err(format!("error in the course (not in your code): {}", errors.join("\n  ")));
    }
    // Sorted by name (visible before hidden): reports list tests in a stable order.
    graded.sort_by(|a, b| (&a.test.name, a.hidden).cmp(&(&b.test.name, b.hidden)));
    for i in 0..graded.len() {
        let ex = graded[i].exercise;
        let total: f64 =
            graded.iter().filter(|g| g.exercise.id == ex.id).map(|g| weight(ex, &g.test.name)).sum();
        graded[i].max_score = ex.points * weight(ex, &graded[i].test.name) / total;
    }
    Ok(Assigned { graded, ungraded })
}

/// The weight of a test in its exercise's points: `[exercise.weights]` by test fn name, else 1.
pub fn weight(ex: &Exercise, test_name: &str) -> f64 {
    let short = test_name.rsplit("::").next().unwrap_or(test_name);
    ex.weights.get(short).copied().unwrap_or(1.0)
}

pub fn round(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// `3`, `2.5`, `0.67`: points without noise.
pub fn fmt_points(x: f64) -> String {
    let s = format!("{:.2}", round(x));
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[derive(Debug, PartialEq)]
pub struct ChapterRow {
    pub chapter: String,
    pub title: String,
    pub passed: usize,
    pub total: usize,
    pub score: f64,
    pub max: f64,
}

/// One row per chapter that has graded tests, in manifest order.
pub fn chapter_rows(manifest: &Manifest, graded: &[Graded]) -> Vec<ChapterRow> {
    manifest
        .chapters
        .iter()
        .filter_map(|ch| {
            let tests: Vec<&Graded> = graded.iter().filter(|g| g.exercise.chapter == ch.id).collect();
            if tests.is_empty() {
                return None;
            }
            Some(ChapterRow {
                chapter: ch.id.clone(),
                title: ch.title.clone(),
                passed: tests.iter().filter(|g| g.passed()).count(),
                total: tests.len(),
                score: tests.iter().map(|g| g.score()).sum(),
                max: tests.iter().map(|g| g.max_score).sum(),
            })
        })
        .collect()
}

pub fn table(rows: &[ChapterRow]) -> String {
    let w = rows.iter().map(|r| r.title.len()).max().unwrap_or(0).max(5);
    let mut out = format!("{:<6} {:<w$}  {:>7}  {:>13}\n", "", "chapter", "tests", "points");
    let (mut passed, mut total, mut score, mut max) = (0, 0, 0.0, 0.0);
    for r in rows {
        out.push_str(&format!(
            "{:<6} {:<w$}  {:>7}  {:>13}\n",
            r.chapter,
            r.title,
            format!("{}/{}", r.passed, r.total),
            format!("{}/{}", fmt_points(r.score), fmt_points(r.max)),
        ));
        passed += r.passed;
        total += r.total;
        score += r.score;
        max += r.max;
    }
    out.push_str(&format!(
        "{:<6} {:<w$}  {:>7}  {:>13}\n",
        "total",
        "",
        format!("{passed}/{total}"),
        format!("{}/{}", fmt_points(score), fmt_points(max)),
    ));
    out
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub score: f64,
    pub execution_time: u64,
    pub output: String,
    pub visibility: &'static str,
    pub tests: Vec<TestJson>,
}

#[derive(Debug, Serialize)]
pub struct TestJson {
    pub name: String,
    pub number: String,
    pub score: f64,
    pub max_score: f64,
    pub output: String,
    pub visibility: &'static str,
}

pub fn results(graded: &[Graded], output: String, execution_time: u64) -> Results {
    let tests = graded
        .iter()
        .map(|g| TestJson {
            name: format!("{} ({})", g.test.name, if g.hidden { "hidden" } else { "visible" }),
            number: g.exercise.section.clone(),
            score: g.score(),
            max_score: g.max_score,
            output: match (g.hidden, g.passed()) {
                (_, true) => "passed".into(),
                (true, false) => "failed".into(),
                (false, false) => g.test.output.clone(),
            },
            visibility: if g.hidden { "after_published" } else { "visible" },
        })
        .collect();
    Results {
        score: round(graded.iter().map(|g| g.score()).sum()),
        execution_time,
        output,
        visibility: "after_published",
        tests,
    }
}

/// The grader could not run (a build failed, the course is broken): score 0.
pub fn failed_results(output: String, execution_time: u64) -> Results {
    Results { score: 0.0, execution_time, output, visibility: "after_published", tests: Vec::new() }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 => {} // not allowed in XML 1.0
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one testsuite per chapter; hidden failures without their output.
pub fn junit(manifest: &Manifest, graded: &[Graded]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures = graded.iter().filter(|g| !g.passed()).count();
    out.push_str(&format!(
        "<testsuites name=\"cargo course grade\" tests=\"{}\" failures=\"{failures}\">\n",
        graded.len()
    ));
    for ch in &manifest.chapters {
        let tests: Vec<&Graded> = graded.iter().filter(|g| g.exercise.chapter == ch.id).collect();
        if tests.is_empty() {
            continue;
        }
        let failed = tests.iter().filter(|g| !g.passed()).count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\">\n",
            xml_escape(&format!("{} {}", ch.id, ch.title)),
            tests.len()
        ));
        for g in tests {
            let class = if g.hidden { "hidden" } else { "visible" };
            let name =
                format!("{} ({}/{} points)", g.test.name, fmt_points(g.score()), fmt_points(g.max_score));
            out.push_str(&format!("    <testcase classname=\"{class}\" name=\"{}\">", xml_escape(&name)));
            if g.passed() {
                out.push_str("</testcase>\n");
            } else {
                let text = if g.hidden { "failed (hidden test)".to_string() } else { g.test.output.clone() };
                out.push_str(&format!(
                    "\n      <failure message=\"failed\">{}</failure>\n    </testcase>\n",
                    xml_escape(&text)
                ));
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// `summary.md`: the per-chapter table in Markdown (for a GitHub job summary), then notes.
pub fn summary_md(rows: &[ChapterRow], notes: &str) -> String {
    let mut out = String::from("## Grade\n\n| chapter | title | tests | points |\n|---|---|---:|---:|\n");
    let (mut passed, mut total, mut score, mut max) = (0, 0, 0.0, 0.0);
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {}/{} | {}/{} |\n",
            r.chapter,
            r.title,
            r.passed,
            r.total,
            fmt_points(r.score),
            fmt_points(r.max)
        ));
        passed += r.passed;
        total += r.total;
        score += r.score;
        max += r.max;
    }
    out.push_str(&format!(
        "| **total** | | {passed}/{total} | **{}/{}** |\n",
        fmt_points(score),
        fmt_points(max)
    ));
    if !notes.trim().is_empty() {
        out.push_str(&format!("\n```text\n{}\n```\n", notes.trim_end().replace("```", "'''")));
    }
    out
}

/// The console's per-exercise lines: tests passed, points, and the failed tests by name
/// (hidden ones without their messages).
pub fn print_per_exercise(manifest: &Manifest, graded: &[Graded]) {
    println!("per exercise:");
    let w = manifest.exercises.iter().map(|e| e.id.len()).max().unwrap_or(0);
    for ex in &manifest.exercises {
        let tests: Vec<&Graded> = graded.iter().filter(|g| g.exercise.id == ex.id).collect();
        if tests.is_empty() {
            continue;
        }
        let ok = tests.iter().filter(|g| g.passed()).count();
        let score: f64 = tests.iter().map(|g| g.score()).sum();
        let failed: Vec<String> = tests
            .iter()
            .filter(|g| !g.passed())
            .map(|g| {
                let short = g.test.name.rsplit("::").next().unwrap_or(&g.test.name);
                format!("{short} ({})", if g.hidden { "hidden" } else { "visible" })
            })
            .collect();
        let failed =
            if failed.is_empty() { String::new() } else { format!("  failed: {}", failed.join(", ")) };
        println!(
            "  {} {:<w$} {:>5} {:>9}{failed}",
            ex.chapter,
            ex.id,
            format!("{ok}/{}", tests.len()),
            format!("{}/{}", fmt_points(score), fmt_points(ex.points)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libtest::Kind;

    fn manifest() -> Manifest {
        crate::manifest::two_chapter_sample()
    }

    fn t(name: &str, outcome: Outcome) -> TestResult {
        TestResult {
            binary: "b".into(),
            kind: Kind::Integration,
            name: name.into(),
            mode: None,
            outcome,
            output: if outcome == Outcome::Failed {
                "thread 'x' panicked at a.rs:1:1:\nboom".into()
            } else {
                String::new()
            },
            duration: None,
        }
    }

    fn reports() -> (Report, Report) {
        let visible = Report {
            tests: vec![
                t("ch01::top_k::small", Outcome::Passed),
                t("ch02::relu::basic", Outcome::Failed),
                t("helpers::works", Outcome::Passed),
                t("ch01::top_k::slow", Outcome::Ignored),
            ],
        };
        let hidden = Report {
            tests: vec![
                t("ch01::top_k::a", Outcome::Passed),
                t("ch01::top_k::b", Outcome::Failed),
                t("ch02::relu::x", Outcome::Passed),
                t("ch02::relu::y", Outcome::Passed),
            ],
        };
        (visible, hidden)
    }

    #[test]
    fn points_are_split_over_visible_and_hidden_tests() {
        let m = manifest();
        let (v, h) = reports();
        let a = assign(&m, &v, Some(&h)).unwrap();
        assert_eq!(a.graded.len(), 6);
        assert_eq!(a.ungraded, ["helpers::works", "ch01::top_k::slow (ignored)"]);
        for g in &a.graded {
            let want = if g.exercise.id == "top_k" { 2.0 / 3.0 } else { 1.0 / 3.0 };
            assert!((g.max_score - want).abs() < 1e-12, "{}", g.test.name);
        }
        let rows = chapter_rows(&m, &a.graded);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].passed, rows[0].total), (2, 3));
        assert!((rows[0].score - 4.0 / 3.0).abs() < 1e-12);
        assert!((rows[0].max - 2.0).abs() < 1e-12);
        assert!((rows[1].score - 2.0 / 3.0).abs() < 1e-12);
        let table = table(&rows);
        assert!(table.contains("ch01   One        2/3         1.33/2"), "{table}");
        assert!(table.contains("total             4/6            2/3"), "{table}");
    }

    #[test]
    fn unknown_exercises_are_course_errors() {
        let m = manifest();
        let v = Report {
            tests: vec![
                t("ch01::nope::a", Outcome::Passed),
                t("ch02::top_k::a", Outcome::Passed),
                t("ch03::x::y", Outcome::Passed),
                t("ch01::top_k", Outcome::Passed),
            ],
        };
        let err = assign(&m, &v, None).unwrap_err();
        assert!(err.contains("exercise `nope` is not in course.toml"), "{err}");
        assert!(err.contains("`top_k` belongs to ch01, not ch02"), "{err}");
        assert!(err.contains("exercise `x` is not in course.toml"), "{err}");
        assert!(err.contains("`ch01::top_k` is not named"), "{err}");
    }

    #[test]
    fn results_json_has_gradescopes_shape() {
        let m = manifest();
        let (v, h) = reports();
        let a = assign(&m, &v, Some(&h)).unwrap();
        let r = results(&a.graded, "summary".into(), 12);
        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["score"], 2.0);
        assert_eq!(json["execution_time"], 12);
        assert_eq!(json["output"], "summary");
        assert_eq!(json["visibility"], "after_published");
        let tests = json["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 6);
        let keys: Vec<&String> = tests[0].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 6);
        for k in ["name", "number", "score", "max_score", "output", "visibility"] {
            assert!(tests[0].get(k).is_some(), "{k}");
        }
        let by = |n: &str| tests.iter().find(|t| t["name"] == n).unwrap();
        let vis_fail = by("ch02::relu::basic (visible)");
        assert_eq!(vis_fail["number"], "2.3");
        assert_eq!(vis_fail["score"], 0.0);
        assert_eq!(vis_fail["output"], "thread 'x' panicked at a.rs:1:1:\nboom");
        assert_eq!(vis_fail["visibility"], "visible");
        let hid_fail = by("ch01::top_k::b (hidden)");
        assert_eq!(hid_fail["output"], "failed");
        assert_eq!(hid_fail["visibility"], "after_published");
        assert_eq!(by("ch01::top_k::a (hidden)")["output"], "passed");
        let f = serde_json::to_value(failed_results("no build".into(), 3)).unwrap();
        assert_eq!(f["score"], 0.0);
        assert_eq!(f["tests"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn weights_split_an_exercises_points_unequally() {
        let mut m = manifest();
        m.exercises[0].weights.insert("a".into(), 2.0);
        let (v, h) = reports();
        let a = assign(&m, &v, Some(&h)).unwrap();
        let max = |n: &str| a.graded.iter().find(|g| g.test.name == n).unwrap().max_score;
        // top_k (2 points): tests small (1), a (2), b (1)
        assert!((max("ch01::top_k::a") - 1.0).abs() < 1e-12);
        assert!((max("ch01::top_k::b") - 0.5).abs() < 1e-12);
        assert!((max("ch01::top_k::small") - 0.5).abs() < 1e-12);
        let names: Vec<&str> = a.graded.iter().map(|g| g.test.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "graded tests are sorted by name");
    }

    #[test]
    fn junit_and_summary_hide_hidden_output() {
        let m = manifest();
        let (v, h) = reports();
        let a = assign(&m, &v, Some(&h)).unwrap();
        let x = junit(&m, &a.graded);
        assert!(x.starts_with("<?xml"), "{x}");
        assert!(x.contains("<testsuite name=\"ch01 One\" tests=\"3\" failures=\"1\">"), "{x}");
        assert!(x.contains("failed (hidden test)"), "{x}");
        assert!(x.contains("thread &apos;x&apos;") || x.contains("thread 'x' panicked"), "{x}");
        let md = summary_md(&chapter_rows(&m, &a.graded), "note");
        assert!(md.contains("| ch01 | One | 2/3 | 1.33/2 |"), "{md}");
        assert!(md.contains("| **total** | | 4/6 | **2/3** |"), "{md}");
        assert!(md.ends_with("```text\nnote\n```\n"), "{md}");
    }

    #[test]
    fn formats_points() {
        assert_eq!(fmt_points(2.0), "2");
        assert_eq!(fmt_points(2.5), "2.5");
        assert_eq!(fmt_points(2.0 / 3.0), "0.67");
        assert_eq!(fmt_points(0.0), "0");
    }
}
