//! `cargo course mutants [chapter]`: mutation testing of the reference solutions.
//!
//! cargo-mutants changes the solutions one small edit at a time (an operator, a returned
//! value) and runs the graded tests on each change: the visible tests
//! (`solutions/tests/visible.rs`) and the hidden ones (`tests/grading`, with
//! `--features reference`). A mutant that no test notices ("missed") is a hole in the
//! grading, unless it is equivalent to the solution; the equivalent ones are listed with
//! their reason in `course/mutants-equivalent.toml` and do not count.
//!
//! Only the solution regions are mutated (the code a learner writes: `--in-diff` of the
//! regions), and only the chapter's test modules are built for each mutant. The run never
//! touches the working tree: it copies the sources to `target/course/mutants/tree` (only
//! files that changed, so that cargo's caches stay warm between runs), builds there into
//! this checkout's target dir with artifact names of its own (`libtest::share_target`), and
//! runs cargo-mutants `--in-place` there.

use crate::commands::Tool;
use crate::libtest;
use crate::manifest::{Chapter, Manifest};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The cargo-mutants release the course is checked with.
pub const CARGO_MUTANTS: Tool = Tool {
    name: "cargo-mutants",
    version: "27.1.0",
    // Run directly, cargo-mutants wants the subcommand name first.
    version_args: &["mutants", "--version"],
    install_time: "about 2 to 4 min",
};

/// The kill rate every finished chapter must reach.
pub const BAR: f64 = 0.90;

/// Where the equivalent mutants are listed, relative to the repo root.
pub const EQUIVALENT_FILE: &str = "course/mutants-equivalent.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EquivalentFile {
    #[serde(default)]
    equivalent: Vec<Equivalent>,
}

/// A mutant that behaves like the solution: `file` and `mutant` (cargo-mutants' name
/// without the `file:line:col: ` prefix, e.g. `replace / with % in normalize`), `code` (a
/// piece of the mutated line around the mutated place: one function often has several
/// mutants of the same name, and only some are equivalent), and why.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Equivalent {
    pub file: String,
    pub mutant: String,
    pub code: String,
    pub reason: String,
}

impl Equivalent {
    fn covers(&self, r: &MutantResult) -> bool {
        let Some((_, column)) = r.position() else { return false };
        let width = self.code.chars().count();
        self.file == r.file
            && self.mutant == r.description()
            && r.line_text.match_indices(self.code.as_str()).any(|(at, _)| {
                let start = r.line_text[..at].chars().count() + 1;
                (start..start + width).contains(&column)
            })
    }
}

pub fn load_equivalents(root: &Path) -> Result<Vec<Equivalent>, String> {
    let path = root.join(EQUIVALENT_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let file: EquivalentFile = toml::from_str(&text).map_err(|e| format!("{EQUIVALENT_FILE}: {e}"))?;
    for e in &file.equivalent {
        if e.reason.trim().is_empty() || e.code.trim().is_empty() {
            return Err(format!(
                "{EQUIVALENT_FILE}: `{}` in {} needs a `code` and a `reason`",
                e.mutant, e.file
            ));
        }
    }
    Ok(file.equivalent)
}

/// What happened to one mutant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Caught,
    Missed,
    /// The tests ran past the time limit: a hang the tests did notice.
    Timeout,
    /// The mutant does not build: not a test of the tests.
    Unviable,
}

#[derive(Clone, Debug)]
pub struct MutantResult {
    /// cargo-mutants' full name, `file:line:col: description`.
    pub name: String,
    pub file: String,
    pub verdict: Verdict,
    /// The mutated line of the source, unmutated, filled in by [`with_line_texts`].
    pub line_text: String,
}

impl MutantResult {
    /// The name without `file:line:col: `, stable when lines move.
    pub fn description(&self) -> &str {
        let rest = self.name.strip_prefix(self.file.as_str()).unwrap_or(&self.name);
        // ":line:col: description"
        rest.splitn(4, ':').nth(3).map(str::trim).unwrap_or(rest)
    }

    /// The line and column (from 1, in characters) in `file:line:col: description`.
    fn position(&self) -> Option<(usize, usize)> {
        let mut parts = self.name.strip_prefix(self.file.as_str())?.split(':').skip(1);
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    }
}

/// Gives every mutant of `file` the text of its line in `source` (the unmutated file).
pub fn with_line_texts(results: &mut [MutantResult], file: &str, source: &str) {
    let lines: Vec<&str> = source.lines().collect();
    for r in results.iter_mut().filter(|r| r.file == file) {
        if let Some(text) = r.position().and_then(|(l, _)| lines.get(l.wrapping_sub(1))) {
            r.line_text = text.to_string();
        }
    }
}

/// The mutants of cargo-mutants' `outcomes.json` (the baseline, if any, left out).
pub fn parse_outcomes(json: &str) -> Result<Vec<MutantResult>, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("outcomes.json: {e}"))?;
    let outcomes = v["outcomes"].as_array().ok_or("outcomes.json: no `outcomes` array")?;
    let mut out = Vec::new();
    for o in outcomes {
        let Some(m) = o["scenario"].get("Mutant") else { continue };
        let verdict = match o["summary"].as_str().unwrap_or("") {
            "CaughtMutant" => Verdict::Caught,
            "MissedMutant" => Verdict::Missed,
            "Timeout" => Verdict::Timeout,
            "Unviable" => Verdict::Unviable,
            other => return Err(format!("outcomes.json: unknown summary `{other}`")),
        };
        out.push(MutantResult {
            name: m["name"].as_str().unwrap_or("?").to_string(),
            file: m["file"].as_str().unwrap_or("?").to_string(),
            verdict,
            line_text: String::new(),
        });
    }
    Ok(out)
}

/// One chapter's tally.
#[derive(Debug, Default)]
pub struct Tally {
    pub total: usize,
    pub caught: usize,
    pub timeout: usize,
    pub missed: Vec<String>,
    pub unviable: usize,
    /// Listed equivalent and missed: (name, reason).
    pub equivalent: Vec<(String, String)>,
    /// Listed equivalent but caught: the list is out of date.
    pub stale_equivalent: Vec<String>,
}

impl Tally {
    pub fn new(results: &[MutantResult], equivalents: &[Equivalent]) -> Tally {
        let mut t = Tally { total: results.len(), ..Tally::default() };
        for r in results {
            let eq = equivalents.iter().find(|e| e.covers(r));
            match (r.verdict, eq) {
                (Verdict::Unviable, _) => t.unviable += 1,
                (Verdict::Missed, Some(e)) => t.equivalent.push((r.name.clone(), e.reason.clone())),
                (Verdict::Missed, None) => t.missed.push(r.name.clone()),
                (v, Some(_)) => {
                    t.stale_equivalent.push(r.name.clone());
                    if v == Verdict::Timeout {
                        t.timeout += 1
                    } else {
                        t.caught += 1
                    }
                }
                (Verdict::Caught, None) => t.caught += 1,
                (Verdict::Timeout, None) => t.timeout += 1,
            }
        }
        t
    }

    /// caught / (caught + missed), timeouts counted as caught; `None` with nothing to kill.
    pub fn kill_rate(&self) -> Option<f64> {
        let killed = self.caught + self.timeout;
        let counted = killed + self.missed.len();
        (counted > 0).then(|| killed as f64 / counted as f64)
    }
}

/// The files to copy: git's tracked and untracked-but-not-ignored files, or (without git)
/// everything but `target/` and `.git/`.
fn source_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let git = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .stderr(Stdio::null())
        .output();
    if let Ok(o) = git {
        if o.status.success() {
            return Ok(o
                .stdout
                .split(|&b| b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
                .filter(|p| root.join(p).is_file())
                .collect());
        }
    }
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(root.join(rel)) else { return };
        for e in entries.flatten() {
            let name = e.file_name();
            if rel.as_os_str().is_empty() && (name == "target" || name == ".git") {
                continue;
            }
            let p = rel.join(&name);
            if e.path().is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out);
    Ok(out)
}

/// The figures program: not mutated and not a test, but cargo builds a package's binaries
/// with its integration tests (the visible tests are one of `solutions`), for every mutant.
const LEFT_OUT_OF_THE_COPY: &str = "solutions/src/bin";

/// Mirrors the sources into `tree`, [`LEFT_OUT_OF_THE_COPY`] left out: writes only changed
/// files (their mtimes, and with them cargo's caches, stay), removes files that are gone.
/// `tree/target` is kept.
fn sync_tree(root: &Path, tree: &Path) -> Result<(), String> {
    let mut files = source_files(root)?;
    files.retain(|f| !f.starts_with(LEFT_OUT_OF_THE_COPY));
    let wanted: BTreeSet<PathBuf> = files.iter().cloned().collect();
    for rel in &files {
        let src = root.join(rel);
        let dst = tree.join(rel);
        let data = std::fs::read(&src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
        if std::fs::read(&dst).ok().as_deref() == Some(&data[..]) {
            continue;
        }
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&dst, &data).map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
    }
    // Remove what the working tree no longer has (outside the copy's target/ and mutants.out).
    fn stale(tree: &Path, rel: &Path, wanted: &BTreeSet<PathBuf>, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(tree.join(rel)) else { return };
        for e in entries.flatten() {
            let name = e.file_name();
            if rel.as_os_str().is_empty()
                && (name == "target" || name.to_string_lossy().starts_with("mutants.out"))
            {
                continue;
            }
            let p = rel.join(&name);
            if e.path().is_dir() {
                stale(tree, &p, wanted, out);
            } else if !wanted.contains(&p) {
                out.push(p);
            }
        }
    }
    let mut gone = Vec::new();
    stale(tree, Path::new(""), &wanted, &mut gone);
    for p in gone {
        let _ = std::fs::remove_file(tree.join(p));
    }
    Ok(())
}

/// A unified diff that adds the lines of every solution region of `text` (the file `file`,
/// relative to the root): given to cargo-mutants as `--in-diff`, it limits the mutants to the
/// code a learner writes. Mutants of given code test the course's own code, which the
/// grading does not ask a learner for. `None` when the file has no regions.
pub fn regions_diff(file: &str, text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = format!("--- a/{file}\n+++ b/{file}\n");
    let mut open = None;
    let mut added = 0;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.starts_with("// BEGIN SOLUTION") {
            open = Some(i + 1); // the first body line, 0-based
        } else if t == "// END SOLUTION" {
            let Some(first) = open.take() else { continue };
            let body = &lines[first..i];
            if body.is_empty() {
                continue;
            }
            // The body added: new lines first+1 ..= i (1-based), after what is line
            // `first - added` of the file without the bodies added before.
            out.push_str(&format!("@@ -{},0 +{},{} @@\n", first - added, first + 1, body.len()));
            for l in body {
                out.push_str(&format!("+{l}\n"));
            }
            added += body.len();
        }
    }
    (added > 0).then_some(out)
}

/// The test crates' main files that list the chapters' test modules.
const TEST_MAINS: [&str; 2] = ["solutions/tests/visible.rs", "tests/grading/main.rs"];

/// The graded tests of one chapter, as cargo test arguments (before the name filter).
const TEST_ARGS: [&str; 11] = [
    "test",
    "--package",
    "solutions",
    "--package",
    "dlcv",
    "--features",
    "dlcv/reference",
    "--test",
    "visible",
    "--test",
    "grading",
];

struct ChapterRun<'a> {
    chapter: &'a Chapter,
    tally: Tally,
    secs: f64,
}

pub fn run(root: &Path, manifest: &Manifest, chapter: Option<&str>, iterate: bool) -> Result<i32, String> {
    let chapters: Vec<&Chapter> = match chapter {
        Some(arg) => {
            let ch = manifest.chapter(arg).ok_or_else(|| {
                let ids: Vec<&str> = manifest.chapters.iter().map(|c| c.id.as_str()).collect();
                format!("unknown chapter `{arg}`; chapters: {}", ids.join(", "))
            })?;
            if ch.module.is_none() {
                return Err(format!("chapter {} is not written yet: nothing to mutate", ch.id));
            }
            vec![ch]
        }
        None => manifest.chapters.iter().filter(|c| c.module.is_some()).collect(),
    };
    let equivalents = load_equivalents(root)?;
    let tool = crate::commands::ensure_tool(&CARGO_MUTANTS)?;
    let work = root.join("target/course/mutants");
    let tree = work.join("tree");
    println!("copying the sources to {} ...", tree.display());
    sync_tree(root, &tree)?;
    // The copy builds into this checkout's target dir, with its own artifact names: the
    // registry dependencies built there are not built again.
    libtest::share_target(root, &work, &crate::isolate::target_dir(root), libtest::Copy::Mutants)?;

    // nextest runs each test in its own process and stops at the first failure: a caught
    // mutant costs the time to its first failing test, not the chapter's whole suite.
    let nextest = Command::new(libtest::cargo().get_program())
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut runs = Vec::new();
    for ch in chapters {
        let module = ch.module.as_deref().unwrap_or_default();
        let file = format!("solutions/src/{module}.rs");
        if !tree.join(&file).is_file() {
            return Err(format!("{file} does not exist"));
        }
        let filter = format!("{}::", ch.id);
        let started = Instant::now();
        // Only this chapter's tests are built: every mutant rebuilds the test crates, and the
        // other chapters' tests would cost build time without testing anything here.
        for main in TEST_MAINS {
            let text =
                std::fs::read_to_string(root.join(main)).map_err(|e| format!("cannot read {main}: {e}"))?;
            let restricted = crate::isolate::test_main(&text, manifest, Some(std::slice::from_ref(&ch.id)));
            if std::fs::read_to_string(tree.join(main)).ok().as_deref() != Some(restricted.as_str()) {
                std::fs::write(tree.join(main), restricted)
                    .map_err(|e| format!("cannot write {main}: {e}"))?;
            }
        }

        // Our own baseline: cargo-mutants' would test only the mutated package, without the
        // hidden tests (and `dlcv/reference` is not a feature of `solutions`).
        println!(
            "\n{}: baseline (the graded tests on the unmutated solutions; the first build takes minutes)",
            ch.id
        );
        let build = libtest::cargo()
            .args(TEST_ARGS)
            .arg("--no-run")
            .current_dir(&tree)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run cargo test: {e}"))?;
        let t = Instant::now();
        let status = libtest::cargo()
            .args(TEST_ARGS)
            .arg(&filter)
            .current_dir(&tree)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run cargo test: {e}"))?;
        if !build.success() || !status.success() {
            return Err(format!(
                "{}: the graded tests fail on the unmutated solutions (`cargo {} {filter}` in {})",
                ch.id,
                TEST_ARGS.join(" "),
                tree.display()
            ));
        }
        // The tests' own time (built above): a mutant that hangs is stopped after five times it.
        let baseline = t.elapsed().as_secs_f64();
        let timeout = (baseline * 5.0).max(30.0).ceil() as u64;

        let out = work.join(&ch.id);
        if !iterate {
            let _ = std::fs::remove_dir_all(&out);
        }
        std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        // With --iterate, cargo-mutants lists the earlier runs' unviable mutants among the
        // previously caught ones: their names are kept here, so they stay out of the rate.
        let unviable_file = out.join("unviable-in-earlier-runs.txt");
        let mut unviable_before = read_names(&unviable_file);
        if iterate {
            unviable_before.extend(read_names(&out.join("mutants.out/unviable.txt")));
            let text: String = unviable_before.iter().map(|n| format!("{n}\n")).collect();
            std::fs::write(&unviable_file, text)
                .map_err(|e| format!("cannot write {}: {e}", unviable_file.display()))?;
        }
        let source =
            std::fs::read_to_string(tree.join(&file)).map_err(|e| format!("cannot read {file}: {e}"))?;
        let diff = out.join("solution-regions.diff");
        let regions =
            regions_diff(&file, &source).ok_or_else(|| format!("{file} has no solution regions"))?;
        std::fs::write(&diff, regions).map_err(|e| format!("cannot write {}: {e}", diff.display()))?;
        println!(
            "{}: mutating {file} (test timeout {timeout} s; tests run by {})",
            ch.id,
            if nextest { "cargo nextest, which stops at the first failure" } else { "cargo test" }
        );
        let status = Command::new(&tool)
            .args(["mutants", "--no-config", "--in-place", "--baseline", "skip", "--colors", "never"])
            .args(["--package", "solutions", "--test-package", "solutions", "--test-package", "dlcv"])
            .args(["--features", "dlcv/reference"])
            // Built and run: only the two graded test crates (not the unit tests of `solutions`).
            .args(["--cargo-arg=--test=visible", "--cargo-arg=--test=grading"])
            .args(["--file", &file])
            .arg("--in-diff")
            .arg(&diff)
            .arg(format!("--timeout={timeout}"))
            .arg("--build-timeout=600")
            .args(if nextest { &["--test-tool=nextest"][..] } else { &[] })
            .args(if iterate { &["--iterate"][..] } else { &[] })
            .arg("--output")
            .arg(&out)
            .args(["--", &filter])
            .current_dir(&tree)
            .env("CARGO", std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .status()
            .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
        // Exit status 2 means "some mutants missed", 3 "some timed out": both are results.
        let outcomes = out.join("mutants.out/outcomes.json");
        let json = std::fs::read_to_string(&outcomes)
            .map_err(|e| format!("cargo-mutants ({status}) left no {}: {e}", outcomes.display()))?;
        let mut results = parse_outcomes(&json)?;
        // With --iterate, cargo-mutants tests only what was not caught before and lists the
        // others in previously_caught.txt: caught, or unviable.
        let before = read_names(&out.join("mutants.out/previously_caught.txt"));
        results.extend(before.into_iter().map(|name| MutantResult {
            file: name.split(':').next().unwrap_or_default().to_string(),
            verdict: if unviable_before.contains(&name) { Verdict::Unviable } else { Verdict::Caught },
            name,
            line_text: String::new(),
        }));
        with_line_texts(&mut results, &file, &source);
        runs.push(ChapterRun {
            chapter: ch,
            tally: Tally::new(&results, &equivalents),
            secs: started.elapsed().as_secs_f64(),
        });
    }

    let summary = summary(&runs);
    println!("\n{summary}");
    let path = root.join("target/course/mutants-summary.md");
    std::fs::write(&path, &summary).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("written to {}", path.display());
    let below = runs.iter().any(|r| r.tally.kill_rate().is_some_and(|k| k < BAR));
    Ok(i32::from(below))
}

/// The mutant names in one of cargo-mutants' lists (a name a line; none if it is missing).
fn read_names(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect()
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("-".into(), |k| format!("{:.1} %", 100.0 * k))
}

/// The Markdown summary: the table, then each chapter's missed and equivalent mutants.
fn summary(runs: &[ChapterRun]) -> String {
    let mut s = String::from("# Mutation testing of the solutions (cargo course mutants)\n\n");
    s.push_str(&format!(
        "Kill rate = caught / (caught + missed); timeouts count as caught, unviable mutants (that do not build) and the equivalent ones listed in `{EQUIVALENT_FILE}` are left out. Bar: {:.0} %.\n\n",
        100.0 * BAR
    ));
    s.push_str(
        "| chapter | mutants | caught | timeout | missed | unviable | equivalent | kill rate | time |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in runs {
        let t = &r.tally;
        let mark = if t.kill_rate().is_some_and(|k| k < BAR) { " (below the bar)" } else { "" };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {}{mark} | {:.0} s |\n",
            r.chapter.id,
            t.total,
            t.caught,
            t.timeout,
            t.missed.len(),
            t.unviable,
            t.equivalent.len(),
            percent(t.kill_rate()),
            r.secs
        ));
    }
    for r in runs {
        let t = &r.tally;
        if t.missed.is_empty() && t.equivalent.is_empty() && t.stale_equivalent.is_empty() {
            continue;
        }
        s.push_str(&format!("\n## {}\n", r.chapter.id));
        if !t.missed.is_empty() {
            s.push_str("\nMissed (add a graded test that fails on it, or list it as equivalent):\n\n");
            for m in &t.missed {
                s.push_str(&format!("- `{m}`\n"));
            }
        }
        if !t.equivalent.is_empty() {
            s.push_str("\nEquivalent (not counted):\n\n");
            for (m, why) in &t.equivalent {
                s.push_str(&format!("- `{m}`: {why}\n"));
            }
        }
        if !t.stale_equivalent.is_empty() {
            s.push_str(&format!("\nListed in `{EQUIVALENT_FILE}` but caught (remove them there):\n\n"));
            for m in &t.stale_equivalent {
                s.push_str(&format!("- `{m}`\n"));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTCOMES: &str = r#"{"outcomes": [
        {"scenario": "Baseline", "summary": "Success"},
        {"scenario": {"Mutant": {"name": "solutions/src/a.rs:3:5: replace f -> f32 with 0.0", "file": "solutions/src/a.rs"}}, "summary": "CaughtMutant"},
        {"scenario": {"Mutant": {"name": "solutions/src/a.rs:7:9: replace / with % in g", "file": "solutions/src/a.rs"}}, "summary": "MissedMutant"},
        {"scenario": {"Mutant": {"name": "solutions/src/a.rs:8:9: replace + with - in g", "file": "solutions/src/a.rs"}}, "summary": "MissedMutant"},
        {"scenario": {"Mutant": {"name": "solutions/src/a.rs:9:9: replace g with ()", "file": "solutions/src/a.rs"}}, "summary": "Unviable"},
        {"scenario": {"Mutant": {"name": "solutions/src/a.rs:9:9: replace h with ()", "file": "solutions/src/a.rs"}}, "summary": "Timeout"}
    ]}"#;

    #[test]
    fn tally_leaves_out_unviable_and_equivalent_mutants() {
        let mut results = parse_outcomes(OUTCOMES).unwrap();
        assert_eq!(results.len(), 5);
        assert_eq!(results[1].description(), "replace / with % in g");
        let mut eq = vec![Equivalent {
            file: "solutions/src/a.rs".into(),
            mutant: "replace / with % in g".into(),
            code: "x / 2".into(),
            reason: "x < y".into(),
        }];
        // Column 9 of line 7 is the `/`.
        let source = "\n\n\n\n\n\n  y = x / 2 / 3;\n  z = y + 1;\n";
        with_line_texts(&mut results, "solutions/src/a.rs", source);
        assert_eq!(results[1].line_text, "  y = x / 2 / 3;");
        let t = Tally::new(&results, &eq);
        assert_eq!((t.caught, t.timeout, t.missed.len(), t.unviable, t.equivalent.len()), (1, 1, 1, 1, 1));
        assert_eq!(t.kill_rate(), Some(2.0 / 3.0));
        // The same name at another place is not covered by the entry.
        eq[0].code = "2 / 3".into();
        assert_eq!(Tally::new(&results, &eq).missed.len(), 2);
        assert_eq!(Tally::new(&results[3..4], &[]).kill_rate(), None);
    }

    #[test]
    fn only_the_solution_regions_are_mutated() {
        let text = "pub fn f(x: u8) -> u8 {\n    // BEGIN SOLUTION f: add one\n    let y = x + 1;\n    y\n    // END SOLUTION\n}\n\nfn given() -> u8 {\n    // BEGIN SOLUTION g: nothing\n    // END SOLUTION\n    3\n}\nfn h() -> u8 {\n    // BEGIN SOLUTION h: two\n    2\n    // END SOLUTION\n}\n";
        let diff = regions_diff("solutions/src/ch01_x.rs", text).unwrap();
        assert_eq!(
            diff,
            "--- a/solutions/src/ch01_x.rs\n+++ b/solutions/src/ch01_x.rs\n@@ -2,0 +3,2 @@\n+    let y = x + 1;\n+    y\n@@ -12,0 +15,1 @@\n+    2\n"
        );
        assert!(regions_diff("a.rs", "fn f() {}\n").is_none());
    }

    #[test]
    fn the_equivalent_list_parses_and_every_entry_has_a_reason() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        load_equivalents(root).unwrap();
    }
}
