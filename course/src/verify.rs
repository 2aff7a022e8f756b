//! `cargo course verify`: the project's test command.

use crate::commands;
use crate::grade;
use crate::isolate::{self, Grading};
use crate::libtest::{self, BuildFailed, Echo, Kind, Outcome, Report, TestResult};
use crate::manifest::Manifest;
use crate::progress::say;
use crate::sync;
use crate::timing::Timing;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Failed,
}

struct Step {
    title: String,
    status: Status,
    secs: f64,
}

/// Problems found by a step, printed indented under it.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn add(&mut self, s: impl Into<String>) {
        self.0.push(s.into());
    }
    fn status(&self) -> Status {
        if self.0.is_empty() {
            Status::Ok
        } else {
            Status::Failed
        }
    }
}

fn indent(s: &str, by: &str) -> String {
    s.lines().map(|l| format!("{by}{l}")).collect::<Vec<_>>().join("\n")
}

fn first_lines(s: &str, n: usize) -> String {
    let lines: Vec<String> = s.lines().map(|l| crate::commands::clip(l, 300)).collect();
    let mut out = lines[..lines.len().min(n)].join("\n");
    if lines.len() > n {
        out.push_str(&format!("\n... ({} more lines)", lines.len() - n));
    }
    out
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// A cargo command whose exit status is the verdict.
fn cargo_step(root: &Path, args: &[&str], f: &mut Findings, on_fail: &str) {
    match libtest::run_cargo(root, args, Echo::Quiet) {
        Err(e) => f.add(e),
        Ok(o) if !o.success => f.add(format!(
            "`cargo {}` failed{on_fail}:\n{}",
            args.join(" "),
            indent(&libtest::compile_errors(&o.text, 40), "  ")
        )),
        Ok(_) => {}
    }
}

/// Runs tests; on a build failure records it and gives `None`.
fn tests(root: &Path, args: &[&str], f: &mut Findings) -> Option<Report> {
    match libtest::run_tests(root, args, None) {
        Ok(r) => Some(r),
        Err(BuildFailed(e)) => {
            f.add(format!("`cargo test {}` does not build:\n{}", args.join(" "), indent(&e, "  ")));
            None
        }
    }
}

fn graded<'a>(manifest: &Manifest, r: &'a Report) -> impl Iterator<Item = &'a TestResult> + use<'a> {
    let chapters: Vec<String> = manifest.chapters.iter().map(|c| c.id.clone()).collect();
    r.tests.iter().filter(move |t| {
        t.kind == Kind::Integration
            && t.outcome != Outcome::Ignored
            && t.name.split("::").next().is_some_and(|c| chapters.iter().any(|id| id == c))
    })
}

/// Everything must pass.
fn all_pass(r: &Report, what: &str, f: &mut Findings) {
    let failed: Vec<&TestResult> = r.tests.iter().filter(|t| t.outcome == Outcome::Failed).collect();
    if !failed.is_empty() {
        f.add(format!("{} tests of {what} fail:", failed.len()));
        for t in failed {
            f.add(format!("  {}:\n{}", t.name, indent(&first_lines(&t.message(), 6), "      ")));
        }
    }
}

/// What the stubs must do: every graded test fails with a `todo!` of a chapter; every doctest
/// fails.
fn check_stubs(manifest: &Manifest, reports: &[&Report], f: &mut Findings) -> (usize, usize) {
    let mut passing = Vec::new();
    let mut not_todo = Vec::new();
    let mut total = 0;
    let mut failing = 0;
    for r in reports {
        for t in graded(manifest, r) {
            total += 1;
            if t.outcome == Outcome::Passed {
                passing.push(t.name.clone());
                continue;
            }
            failing += 1;
            let msg = t.message();
            let is_todo = msg
                .strip_prefix("not yet implemented: ")
                .and_then(|m| m.split_whitespace().next())
                .is_some_and(|c| manifest.chapter_by_id(c).is_some());
            if !is_todo {
                not_todo.push(format!("  {}: {}", t.name, first_line(&msg)));
            }
        }
    }
    if !passing.is_empty() {
        f.add(format!(
            "these tests pass on the untouched stubs, so they assert nothing: {}",
            passing.join(", ")
        ));
    }
    if !not_todo.is_empty() {
        f.add("these tests fail on the stubs, but not with a `not yet implemented: chNN ...` todo!() panic:");
        f.0.extend(not_todo);
    }
    // Doctests call the exercises: on the stubs they must fail too. A `compile_fail`
    // doctest is exempt: it shows a compile-time check (such as an output size in a type),
    // which may be given code outside the solution regions and then holds on the stubs
    // as on the solutions, where the "solutions pass" step runs it.
    for r in reports {
        let on_stubs_too = |t: &&TestResult| t.mode.as_deref() == Some("compile fail");
        for t in
            r.tests.iter().filter(|t| t.kind == Kind::Doc && t.outcome == Outcome::Passed && !on_stubs_too(t))
        {
            let mode = t.mode.as_deref().map(|m| format!(" ({m})")).unwrap_or_default();
            f.add(format!("doctest `{}`{mode} passes on the stubs, so it checks nothing", t.name));
        }
    }
    (failing, total)
}

/// Every graded test belongs to a manifest exercise; each exercise has >= 1 visible and
/// >= 2 hidden tests.
fn check_counts(manifest: &Manifest, visible: &Report, hidden: &Report, f: &mut Findings) {
    if let Err(e) = grade::assign(manifest, visible, Some(hidden)) {
        f.add(e);
        return;
    }
    let count = |r: &Report, ch: &str, ex: &str| {
        let p = format!("{ch}::{ex}::");
        graded(manifest, r).filter(|t| t.name.starts_with(&p)).count()
    };
    for ex in &manifest.exercises {
        let (v, h) = (count(visible, &ex.chapter, &ex.id), count(hidden, &ex.chapter, &ex.id));
        if v < 1 || h < 2 {
            f.add(format!(
                "{} {}: {v} visible and {h} hidden tests (needs >= 1 visible and >= 2 hidden)",
                ex.chapter, ex.id
            ));
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Insta names snapshots `<binary>__<module path>__<name>.snap`: `grading__ch01__...`.
fn snapshot_chapters(names: &[String], chapter: &str) -> usize {
    names
        .iter()
        .filter(|n| !n.ends_with(".snap.new") && !n.ends_with(".pending-snap"))
        .filter(|n| n.split("__").any(|seg| seg == chapter || seg.starts_with(&format!("{chapter}_"))))
        .count()
}

fn check_snapshots(root: &Path, manifest: &Manifest, f: &mut Findings) {
    let dir = root.join("tests/grading/snapshots");
    let mut files = Vec::new();
    walk(&dir, &mut files);
    let names: Vec<String> = files.iter().filter_map(|p| p.file_name()?.to_str().map(String::from)).collect();
    for ch in manifest.chapters.iter().filter(|c| c.module.is_some()) {
        if snapshot_chapters(&names, &ch.id) == 0 {
            f.add(format!(
                "{}: no insta snapshot under tests/grading/snapshots/ (expected a file grading__{}__*.snap)",
                ch.id, ch.id
            ));
        }
    }
    let stale: Vec<&String> =
        names.iter().filter(|n| n.ends_with(".snap.new") || n.ends_with(".pending-snap")).collect();
    if !stale.is_empty() {
        println!(
            "      note: unreviewed snapshots (cargo insta review): {}",
            stale.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
}

/// Network loads in built HTML/CSS: `<script src="http..`, `<link href="http..`, CSS `url(http..`.
pub fn network_loads(html: &str, css: bool) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let remote = |v: &str| {
        let v = v.trim_start_matches(['"', '\'', ' ']);
        v.starts_with("http:") || v.starts_with("https:") || v.starts_with("//")
    };
    let mut found = Vec::new();
    if css {
        for (i, _) in lower.match_indices("url(") {
            if remote(&lower[i + 4..]) {
                found.push(
                    html[i..].chars().take(80).collect::<String>().lines().next().unwrap_or("").to_string(),
                );
            }
        }
        for (i, _) in lower.match_indices("@import") {
            let rest = lower[i + 7..].trim_start();
            if remote(rest) || rest.strip_prefix("url(").is_some_and(remote) {
                found.push(
                    html[i..].chars().take(80).collect::<String>().lines().next().unwrap_or("").to_string(),
                );
            }
        }
        return found;
    }
    for tag in ["<script", "<link"] {
        for (i, _) in lower.match_indices(tag) {
            let end = lower[i..].find('>').map_or(lower.len(), |e| i + e + 1);
            let t = &lower[i..end];
            let attr = if tag == "<script" { "src=" } else { "href=" };
            let hit = t.match_indices(attr).any(|(j, _)| {
                let before = t[..j].chars().last();
                before.is_some_and(char::is_whitespace) && remote(&t[j + attr.len()..])
            });
            if hit {
                found.push(html[i..end].to_string());
            }
        }
    }
    found
}

/// The figures are drawn from the solutions and committed: redrawing them must change
/// nothing, or the book shows what the solutions no longer compute.
fn check_figures_committed(root: &Path, f: &mut Findings) {
    let output = Command::new("git")
        .current_dir(root)
        .args(["status", "--porcelain", "--untracked-files=all", "--", "book/figures"])
        .output();
    match output {
        Ok(o) if o.status.success() => {
            let changed = String::from_utf8_lossy(&o.stdout).trim_end().to_string();
            if !changed.is_empty() {
                f.add(format!(
                    "the figures drawn from the solutions differ from the committed ones; look at them and commit:\n{}",
                    indent(&changed, "  ")
                ));
            }
        }
        // Not a git checkout (an unpacked handout): nothing to compare with.
        _ => {}
    }
}

fn check_book(root: &Path, manifest: &Manifest, f: &mut Findings) {
    match libtest::run_cargo(root, &["run", "-p", "solutions", "--bin", "figures"], Echo::Quiet) {
        Err(e) => f.add(e),
        Ok(o) if !o.success => {
            f.add(format!(
                "the figures program failed:\n{}",
                indent(&libtest::compile_errors(&o.text, 30), "  ")
            ));
            return;
        }
        Ok(_) => {}
    }
    check_figures_committed(root, f);
    check_quoted_sources(root, f);
    check_control_characters(root, f);
    match commands::build_book(root, Echo::Quiet) {
        Err(e) => return f.add(e),
        Ok(o) if !o.success => {
            let lines: Vec<&str> = o.text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            return f.add(format!("mdbook build failed:\n{}", indent(&tail, "  ")));
        }
        Ok(_) => {}
    }
    let book = root.join("target/book");
    if !book.join("index.html").is_file() {
        f.add("target/book/index.html was not built");
    }
    for ch in manifest.chapters.iter().filter(|c| c.module.is_some()) {
        let page = root.join(ch.html_path());
        match std::fs::read_to_string(&page) {
            Err(_) => {
                f.add(format!("{} was not built (is book/{} in book/SUMMARY.md?)", ch.html_path(), ch.book))
            }
            Ok(html) if !html.contains("class=\"katex\"") => f.add(format!(
                "{} has no KaTeX maths (`class=\"katex\"`): is the mdbook-katex preprocessor configured?",
                ch.html_path()
            )),
            Ok(_) => {}
        }
    }
    let mut files = Vec::new();
    walk(&book, &mut files);
    files.sort();
    for p in files {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "html" && ext != "css" {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
        for hit in network_loads(&text, ext == "css") {
            f.add(format!("{rel} loads from the network: {hit}"));
        }
    }
}

/// Control characters in the book's Markdown: an escape that went wrong while editing (`\a`
/// of `\approx` read as BEL) leaves a formula that KaTeX cannot render, and mdbook only warns.
fn check_control_characters(root: &Path, f: &mut Findings) {
    let Ok(entries) = std::fs::read_dir(root.join("book")) else { return };
    let mut pages: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "md")).collect();
    pages.sort();
    for page in pages {
        let Ok(text) = std::fs::read_to_string(&page) else { continue };
        for hit in control_characters(&text) {
            f.add(format!("{}: {hit}", page.strip_prefix(root).unwrap_or(&page).display()));
        }
    }
}

/// `line L: control character U+00XX` for every control character other than tab, line feed
/// and carriage return.
fn control_characters(text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .flat_map(|(n, line)| {
            line.chars()
                .filter(|c| c.is_control() && !matches!(c, '\t' | '\r'))
                .map(move |c| format!("line {}: control character U+{:04X}", n + 1, c as u32))
        })
        .collect()
}

/// Compiler messages quoted in the book (`--> exercises/src/..:LINE:COL` followed by
/// `LINE | code`) must quote this repository's files as they are: a quote of a line that
/// has moved, or of a file learners do not have (solutions, hidden tests), fails.
/// Dependencies' files (`~/.cargo/..`) are not checked.
fn check_quoted_sources(root: &Path, f: &mut Findings) {
    let Ok(entries) = std::fs::read_dir(root.join("book")) else {
        return f.add("book/ cannot be read");
    };
    let mut pages: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "md")).collect();
    pages.sort();
    for page in pages {
        let Ok(md) = std::fs::read_to_string(&page) else { continue };
        let name = page.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for problem in quoted_source_mismatches(&md, &|path| std::fs::read_to_string(root.join(path)).ok()) {
            f.add(format!("book/{name}: {problem}"));
        }
    }
}

/// What is wrong with the compiler quotes of one page; `read` gives a file's text by its
/// path relative to the repository.
fn quoted_source_mismatches(md: &str, read: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let lines: Vec<&str> = md.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(location) = line.trim_start().strip_prefix("--> ") else { continue };
        let mut parts = location.trim().rsplitn(3, ':');
        let (Some(_col), Some(number), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ["solutions/", "tests/", "benches/"].iter().any(|hidden| path.starts_with(hidden)) {
            problems.push(format!("quotes `{path}`, which learners do not have: quote their file"));
            continue;
        }
        // a dependency's file (`~/.cargo/registry/..`) is not checked; this repository's are
        let Some(text) = read(path) else {
            if !path.starts_with(['~', '/']) {
                problems.push(format!("quotes `{path}`, which does not exist"));
            }
            continue;
        };
        let quoted = lines[i + 1..].iter().take(3).find_map(|l| {
            let (n, code) = l.split_once(" | ")?;
            (n.trim() == number).then_some(code)
        });
        let actual = number.parse::<usize>().ok().and_then(|n| text.lines().nth(n.wrapping_sub(1)));
        match (quoted, actual) {
            (Some(q), Some(a)) if q.trim_end() == a.trim_end() => {}
            (Some(q), a) => problems.push(format!(
                "quotes `{path}` line {number} as `{}`, but that line is `{}`: update the quote",
                q.trim(),
                a.unwrap_or("(past the end)").trim()
            )),
            (None, _) => {
                problems.push(format!("quotes `{path}:{number}` without the line itself (`{number} | ..`)"))
            }
        }
    }
    problems
}

/// Numbered steps, each with its findings, verdict and seconds; the summary and the timing
/// table at the end.
struct Runner {
    steps: Vec<Step>,
    n_steps: usize,
    start: Instant,
}

impl Runner {
    fn new(n_steps: usize) -> Runner {
        Runner { steps: Vec::new(), n_steps, start: Instant::now() }
    }

    /// Runs one step: `body` records its findings; any finding fails the step.
    fn step(&mut self, title: &str, body: impl FnOnce(&mut Findings)) {
        let n = self.steps.len() + 1;
        println!("[{n}/{}] {title}", self.n_steps);
        let start = Instant::now();
        let mut f = Findings::default();
        {
            let _activity = crate::progress::begin(format!("[{n}/{}] {}", self.n_steps, short(title)));
            body(&mut f);
        }
        let status = f.status();
        let secs = start.elapsed().as_secs_f64();
        for line in &f.0 {
            println!("{}", indent(line, "      "));
        }
        let word = match status {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
        };
        println!("      {word} ({secs:.1} s)");
        self.steps.push(Step { title: title.to_string(), status, secs });
    }

    /// The summary, the timing table and the closing line; the exit status.
    fn finish(self, mut timing: Timing, counts: &str) -> i32 {
        println!("\nSummary");
        for (i, s) in self.steps.iter().enumerate() {
            let word = match s.status {
                Status::Ok => "ok",
                Status::Failed => "FAILED",
            };
            println!("  {:<8} {}. {:<60} {:>7.1} s", word, i + 1, short(&s.title), s.secs);
        }
        if !counts.is_empty() {
            println!("{counts}");
        }
        timing.steps = self.steps.iter().map(|s| (short(&s.title).to_string(), s.secs)).collect();
        println!("\n{}", timing.table());
        let bad: Vec<String> = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.status != Status::Ok)
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        let secs = self.start.elapsed().as_secs_f64();
        if bad.is_empty() {
            println!("verify: all {} steps passed ({secs:.0} s)", self.steps.len());
        } else {
            println!("verify: FAILED (steps {}; {secs:.0} s)", bad.join(", "));
        }
        // Last, the plain closing line that CI systems read, counting steps as a runner counts tests.
        println!("steps: {} passed, {} failed", self.steps.len() - bad.len(), bad.len());
        i32::from(!bad.is_empty())
    }
}

/// A step's title before its colon: `format`, `lints`, ...
fn short(title: &str) -> &str {
    title.split(':').next().unwrap_or(title)
}

fn check_format(root: &Path, f: &mut Findings) {
    match libtest::run_cargo(root, &["fmt", "--all", "--", "--check"], Echo::Quiet) {
        Err(e) => f.add(e),
        Ok(o) if !o.success => {
            let mut files: Vec<&str> = o
                .text
                .lines()
                .filter_map(|l| l.strip_prefix("Diff in ")?.rsplit_once(':')?.0.rsplit_once(':').map(|x| x.0))
                .collect();
            files.dedup();
            let prefix = format!("{}/", root.display());
            let files: Vec<&str> = files.iter().map(|p| p.strip_prefix(&prefix).unwrap_or(p)).collect();
            if files.is_empty() {
                f.add(format!("cargo fmt failed:\n{}", indent(&first_lines(&o.text, 20), "  ")));
            } else {
                f.add(format!("not formatted (run `cargo fmt --all`): {}", files.join(", ")));
            }
        }
        Ok(_) => {}
    }
}

fn check_sync(root: &Path, manifest: &Manifest, f: &mut Findings) {
    match sync::plan(root, manifest) {
        Err(e) => f.add(e),
        Ok(plan) => {
            for p in plan.files.iter().filter(|p| p.differs()) {
                f.add(format!(
                    "exercises/src/{} differs from what solutions/src/{} generates (run `cargo course sync`)",
                    p.name, p.name
                ));
            }
            for o in &plan.orphans {
                f.add(format!("exercises/src/{o} has no source solutions/src/{o}"));
            }
        }
    }
}

/// The builds whose dependencies must be the same artifacts: the handout's and the learner's
/// tests, the grader's (with the hidden tests), the figures (no dev-dependencies), and the
/// library tests. (The course tool's tests build on their own: its dependencies are its own.)
const BUILDS: [(&str, &[&str]); 4] = [
    ("the visible tests", &["-p", "exercises"]),
    ("the grader's build", &["-p", "exercises", "-p", "dlcv"]),
    ("the figures", &["-p", "solutions", "-e", "normal,build"]),
    ("the library tests", &["-p", "courselib", "-p", "datasets"]),
];

/// A crate shared by two builds with other features in each is built twice, and with it
/// everything above it (a libc feature set meant dfdx three times in a cold run): every
/// shared crate must have one feature set (`cargo tree -f '{p} {f}'`).
fn check_feature_sets(root: &Path, f: &mut Findings) {
    let mut seen: BTreeMap<String, Vec<(String, &str)>> = BTreeMap::new();
    for (what, args) in BUILDS {
        let mut cmd = vec!["tree", "-f", "{p} {f}", "--prefix", "none"];
        cmd.extend_from_slice(args);
        match libtest::run_cargo(root, &cmd, Echo::Quiet) {
            Err(e) => return f.add(e),
            Ok(o) if !o.success => {
                return f.add(format!(
                    "`cargo {}` failed:\n{}",
                    cmd.join(" "),
                    indent(&first_lines(&o.text, 10), "  ")
                ))
            }
            Ok(o) => {
                // `(*)`: printed before, with its features
                let lines: BTreeSet<&str> =
                    o.text.lines().filter(|l| !l.trim().is_empty() && !l.ends_with("(*)")).collect();
                for line in lines {
                    // `name vX.Y.Z (path)? features`
                    let mut words = line.split_whitespace();
                    let (Some(name), Some(version)) = (words.next(), words.next()) else { continue };
                    if !version.starts_with('v') || line.contains(" (/") {
                        continue; // this workspace's own packages are built apart anyway
                    }
                    let features = words.last().filter(|w| !w.ends_with(')')).unwrap_or("").to_string();
                    seen.entry(format!("{name} {version}")).or_default().push((features, what));
                }
            }
        }
    }
    for (krate, builds) in seen {
        let sets: BTreeSet<&String> = builds.iter().map(|(f, _)| f).collect();
        if sets.len() > 1 {
            let each: Vec<String> =
                builds.iter().map(|(f, w)| format!("{w}: [{}]", if f.is_empty() { "" } else { f })).collect();
            f.add(format!(
                "{krate} has other features in other builds ({}), so it and what depends on it are built once per set: pin the union in courselib/Cargo.toml",
                each.join("; ")
            ));
        }
    }
}

const LINTS: &str =
    "lints: cargo clippy --workspace --all-targets --features reference -- -D warnings; one feature set per shared crate";

const CLIPPY: [&str; 8] =
    ["clippy", "--workspace", "--all-targets", "--features", "reference", "--", "-D", "warnings"];

/// A grading through the grader, as `verify` runs it (no reports written).
fn grading(
    root: &Path,
    manifest: &Manifest,
    reference: bool,
    submission: Option<&Path>,
    chapters: Option<Vec<String>>,
    f: &mut Findings,
) -> Option<Grading> {
    let opts = isolate::Options {
        reference,
        submission: submission.map(Path::to_path_buf),
        out: PathBuf::new(),
        timeout_s: None,
        chapters,
        build_timeout_s: None,
        // Only the course's own code: the solutions, the stubs of this checkout or its handout.
        unsafe_no_isolation: true,
    };
    match isolate::run(root, manifest, &opts) {
        Err(e) => f.add(format!("the grader failed: {e}")),
        Ok(Err(why)) => f.add(format!("nothing was graded:\n{}", indent(&first_lines(&why, 40), "  "))),
        Ok(Ok(g)) => return Some(g),
    }
    None
}

/// A test over this many seconds trains something and must declare its budget.
fn budget_needed_above(manifest: &Manifest) -> f64 {
    0.1 * manifest.grading.timeout_s as f64
}

/// Training budgets: no graded test may use more than `budget_share` of the timeout in the
/// reference grading, and a long one must say what it trains (`course::budget!`).
fn check_budgets(manifest: &Manifest, g: &Grading, f: &mut Findings) {
    let limit = manifest.grading.budget_share * manifest.grading.timeout_s as f64;
    let declare = budget_needed_above(manifest);
    for t in g.visible.tests.iter().chain(&g.hidden.tests) {
        let Some(secs) = t.duration.map(|d| d.as_secs_f64()) else { continue };
        if secs > limit {
            f.add(format!(
                "{} took {secs:.1} s, more than {:.0} % of the grading timeout ({} s, [grading] budget_share): make its training smaller",
                t.name,
                100.0 * manifest.grading.budget_share,
                manifest.grading.timeout_s
            ));
        } else if secs > declare && !g.budgets.contains_key(&t.name) {
            f.add(format!(
                "{} took {secs:.1} s without declaring its budget: add `course::budget!(\"<epochs> x <steps> ...\")` before it trains (see course/graded/src/budget.rs)",
                t.name
            ));
        }
    }
}

/// The reference grading: every graded test passes in the grader's isolation; test counts,
/// snapshots and budgets. Its run times go to `timing`.
fn check_reference(
    root: &Path,
    manifest: &Manifest,
    chapters: Option<Vec<String>>,
    f: &mut Findings,
    timing: &mut Timing,
) -> Option<Grading> {
    let g = grading(root, manifest, true, None, chapters.clone(), f)?;
    all_pass(&g.visible, "the visible tests on the solutions", f);
    all_pass(&g.hidden, "the hidden tests on the solutions", f);
    if chapters.is_none() {
        check_counts(manifest, &g.visible, &g.hidden, f);
        check_snapshots(root, manifest, f);
    }
    check_budgets(manifest, &g, f);
    timing.add_tests(&g.visible, &g.budgets);
    timing.add_tests(&g.hidden, &g.budgets);
    say!(
        "      {} visible + {} hidden tests on the solutions (building {:.0} s, running {:.0} s)",
        graded(manifest, &g.visible).count(),
        graded(manifest, &g.hidden).count(),
        g.build_secs,
        g.test_secs
    );
    Some(g)
}

/// The names of a grading's graded tests.
fn names(manifest: &Manifest, reports: &[&Report]) -> BTreeSet<String> {
    reports.iter().flat_map(|r| graded(manifest, r)).map(|t| t.name.clone()).collect()
}

/// The stubs fail every graded test with a `todo!`; graded chapter by chapter, so that each
/// chapter's build time is measured (after the part all chapters share). Returns the counts
/// line.
fn check_stubs_by_chapter(
    root: &Path,
    manifest: &Manifest,
    submission: Option<&Path>,
    chapters: &[String],
    reference: Option<&Grading>,
    f: &mut Findings,
    timing: &mut Timing,
) -> String {
    let Some(shared) = grading(root, manifest, false, submission, Some(Vec::new()), f) else {
        return String::new();
    };
    timing.shared_build_secs = Some(shared.build_secs);
    let mut reports = Vec::new();
    for ch in chapters {
        let Some(g) = grading(root, manifest, false, submission, Some(vec![ch.clone()]), f) else { continue };
        timing.chapters.entry(ch.clone()).or_default().build_secs = Some(g.build_secs);
        say!("      {ch}: built in {:.1} s", g.build_secs);
        reports.push(g.visible);
        reports.push(g.hidden);
    }
    let all: Vec<&Report> = reports.iter().collect();
    let (failing, total) = check_stubs(manifest, &all, f);
    if let Some(r) = reference {
        same_tests(manifest, &all, r, f);
        let (v, h) = (graded(manifest, &r.visible).count(), graded(manifest, &r.hidden).count());
        let passed =
            r.visible.tests.iter().chain(&r.hidden.tests).filter(|t| t.outcome == Outcome::Passed).count();
        return format!(
            "graded tests: {v} visible + {h} hidden; pass on the solutions: {passed}/{}; fail on the stubs: {failing}/{total}",
            v + h
        );
    }
    format!("graded tests: fail on the stubs: {failing}/{total}")
}

/// Format, lints, stubs in sync: the first steps of `verify` and `verify --quick`.
fn first_steps(r: &mut Runner, root: &Path, manifest: &Manifest) {
    r.step("format: cargo fmt --all -- --check", |f| check_format(root, f));
    r.step(LINTS, |f| {
        cargo_step(root, &CLIPPY, f, "");
        check_feature_sets(root, f);
    });
    r.step(
        "stubs are generated (cargo course sync --check); graded tests check through course::check",
        |f| {
            check_sync(root, manifest, f);
            crate::graded_tests::check(root).into_iter().for_each(|p| f.add(p));
        },
    );
}

/// The gradings of the stubs must have run the very tests of the reference grading (the
/// chapter restriction dropped none).
fn same_tests(manifest: &Manifest, stubs: &[&Report], reference: &Grading, f: &mut Findings) {
    let (on_stubs, on_solutions) =
        (names(manifest, stubs), names(manifest, &[&reference.visible, &reference.hidden]));
    if on_stubs != on_solutions {
        let missing: Vec<&String> = on_solutions.difference(&on_stubs).take(10).collect();
        let extra: Vec<&String> = on_stubs.difference(&on_solutions).take(10).collect();
        f.add(format!("the stubs' gradings ran other tests than the reference grading: missing {missing:?}, extra {extra:?}"));
    }
}

/// Where `verify` writes and checks the handout (its parent holds the cargo settings that
/// let it share the target dir).
pub fn handout_check_dir(root: &Path) -> PathBuf {
    isolate::target_dir(root).join("course/handout-check/handout")
}

pub fn verify(root: &Path, manifest: &Manifest) -> Result<i32, String> {
    let mut r = Runner::new(10);
    let mut timing = Timing::default();
    let written: Vec<String> = manifest.written().map(|c| c.id.clone()).collect();
    first_steps(&mut r, root, manifest);
    r.step(
        "library and tool tests: cargo test -p courselib -p datasets; -p course; -p course-graded; -p solutions --doc",
        |f| {
            for args in
                [&["-p", "courselib", "-p", "datasets"][..], &["-p", "course"], &["-p", "course-graded"], &["-p", "solutions", "--doc"]]
            {
                if let Some(report) = tests(root, args, f) {
                    all_pass(&report, &format!("cargo test {}", args.join(" ")), f);
                }
            }
        },
    );
    let mut reference = None;
    r.step(
        "solutions pass: cargo course grade --reference, every graded test in the grader's isolation; tests per exercise; snapshots; training budgets",
        |f| {
            reference = check_reference(root, manifest, None, f, &mut timing);
        },
    );
    r.step(
        "handout: cargo course handout; it builds (--locked), its visible tests fail with a todo!, cargo course status there; gradescope bundle",
        |f| {
            crate::handout::verify_handout(root, manifest, &handout_check_dir(root), &mut f.0);
        },
    );
    let mut counts = String::new();
    r.step(
        "stubs fail: the handout graded as a submission, chapter by chapter: every graded test fails with a todo!, score 0",
        |f| {
            let handout = handout_check_dir(root);
            if !handout.join("exercises/src").is_dir() {
                return f.add("the handout was not written (see the handout step)");
            }
            counts = check_stubs_by_chapter(root, manifest, Some(&handout), &written, reference.as_ref(), f, &mut timing);
            say!("      {counts}");
        },
    );
    r.step("book: figures, mdbook build, KaTeX maths, nothing loaded from the network", |f| {
        check_book(root, manifest, f);
    });
    r.step("CUDA path type-checks: cargo check --workspace --all-targets --features cuda,ci-check", |f| {
        cargo_step(root, &["check", "--workspace", "--all-targets", "--features", "cuda,ci-check"], f, "");
    });
    let red_team: Vec<String> = if manifest.grading.red_team_chapters.is_empty() {
        written.clone()
    } else {
        manifest.grading.red_team_chapters.clone()
    };
    let title = format!(
        "grader red team: course/redteam cases graded on {} ([grading] red_team_chapters) or the chapters a case names: cheats earn nothing, honest code full points, repeat gradings identical",
        red_team.join(", ")
    );
    r.step(&title, |f| {
        isolate::red_team(root, manifest, &red_team, &mut f.0);
    });
    Ok(r.finish(timing, &counts))
}

/// `cargo course verify --quick [--chapter chNN]`: the maintainer's edit loop. Format, lints,
/// stubs in sync, and for one chapter (or all) the solutions pass and the stubs fail.
pub fn quick(root: &Path, manifest: &Manifest, chapter: Option<&str>) -> Result<i32, String> {
    let mut r = Runner::new(5);
    let mut timing = Timing::default();
    let only = chapter.map(|c| vec![c.to_string()]);
    first_steps(&mut r, root, manifest);
    let mut reference = None;
    r.step("solutions pass: cargo course grade --reference, in isolation", |f| {
        reference = check_reference(root, manifest, only.clone(), f, &mut timing);
    });
    let mut counts = String::new();
    r.step("stubs fail: this checkout's exercises graded: every graded test fails with a todo!", |f| {
        let Some(g) = grading(root, manifest, false, None, only.clone(), f) else { return };
        let (failing, total) = check_stubs(manifest, &[&g.visible, &g.hidden], f);
        if let Some(rg) = &reference {
            same_tests(manifest, &[&g.visible, &g.hidden], rg, f);
        }
        counts = format!("{}: fail on the stubs: {failing}/{total}", chapter.unwrap_or("every chapter"));
        say!("      {counts}");
    });
    Ok(r.finish(timing, &counts))
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_found_with_their_line() {
        assert!(super::control_characters("$a \\approx b$\n\tcode\r\n").is_empty());
        assert_eq!(
            super::control_characters("one\n$x \u{7}pprox y$\n"),
            vec!["line 2: control character U+0007".to_string()]
        );
    }

    #[test]
    fn a_quoted_compiler_message_must_match_the_learners_file() {
        let file = "fn f() {\n    const { check(1) };\n}\n";
        let read = |p: &str| (p == "exercises/src/a.rs").then(|| file.to_string());
        let quote = |path: &str, n: usize, code: &str| {
            format!("```text\nerror[E0080]: x\n   --> {path}:{n}:13\n    |\n{n} | {code}\n```\n")
        };
        assert!(super::quoted_source_mismatches(
            &quote("exercises/src/a.rs", 2, "    const { check(1) };"),
            &read
        )
        .is_empty());
        let moved = super::quoted_source_mismatches(
            &quote("exercises/src/a.rs", 1, "    const { check(1) };"),
            &read,
        );
        assert!(moved[0].contains("but that line is `fn f() {`"), "{moved:?}");
        let hidden = super::quoted_source_mismatches(
            &quote("solutions/src/a.rs", 2, "    const { check(1) };"),
            &read,
        );
        assert!(hidden[0].contains("learners do not have"), "{hidden:?}");
        assert!(super::quoted_source_mismatches("no quotes here\n", &read).is_empty());
        let dependency = quote("~/.cargo/registry/src/x/dfdx-0.13.0/src/a.rs", 7, "anything");
        assert!(super::quoted_source_mismatches(&dependency, &read).is_empty());
        let missing = super::quoted_source_mismatches(&quote("exercises/src/b.rs", 1, "x"), &read);
        assert!(missing[0].contains("does not exist"), "{missing:?}");
    }

    use super::*;

    #[test]
    fn finds_network_loads() {
        let html = r#"<head><script src="https://cdn.x/katex.js"></script>
<script src="book.js"></script><script>var a = "src=http://x";</script>
<link rel="stylesheet" href="//fonts.googleapis.com/css">
<link rel="stylesheet" href="css/general.css">
<a href="https://github.com">gh</a><img src="https://x/y.png"></head>"#;
        let hits = network_loads(html, false);
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert!(hits[0].contains("cdn.x"));
        assert!(hits[1].contains("fonts.googleapis"));
        let css = "@font-face { src: url('https://f/x.woff2') } .a { background: url(fonts/a.woff2) }\n@import \"http://x/y.css\";";
        assert_eq!(network_loads(css, true).len(), 2);
        assert!(network_loads("a { b: url(x.png) }", true).is_empty());
    }

    #[test]
    fn snapshot_names() {
        let names: Vec<String> = [
            "grading__ch01__one_hot__labels.snap",
            "grading__ch02__softmax__probs.snap.new",
            "grading__ch03__x.pending-snap",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(snapshot_chapters(&names, "ch01"), 1);
        assert_eq!(snapshot_chapters(&names, "ch02"), 0);
        assert_eq!(snapshot_chapters(&names, "ch03"), 0);
        assert_eq!(snapshot_chapters(&names, "ch0"), 0);
    }

    fn t(name: &str, kind: Kind, outcome: Outcome, out: &str, mode: Option<&str>) -> TestResult {
        TestResult {
            binary: "b".into(),
            kind,
            name: name.into(),
            mode: mode.map(String::from),
            outcome,
            output: out.into(),
            duration: None,
        }
    }

    #[test]
    fn stub_checks() {
        let m = Manifest::parse(
            "[course]\ntitle='T'\n[[chapter]]\nid='ch01'\nnumber='1'\ntitle='O'\nmodule='ch01_o'\nbook='ch01-o.md'\n",
        )
        .unwrap();
        let todo =
            "thread 'x' panicked at src/a.rs:1:1:\nnot yet implemented: ch01 a: do; see book section 1.2";
        let r = Report {
            tests: vec![
                t("ch01::a::ok", Kind::Integration, Outcome::Failed, todo, None),
                t("ch01::a::passes", Kind::Integration, Outcome::Passed, "", None),
                t(
                    "ch01::a::wrong",
                    Kind::Integration,
                    Outcome::Failed,
                    "thread 'x' panicked at a:\nindex out of bounds",
                    None,
                ),
                t("ch01::a::slow", Kind::Integration, Outcome::Ignored, "", None),
                t("helper::x", Kind::Integration, Outcome::Passed, "", None),
                t("src/lib.rs - f (line 1)", Kind::Doc, Outcome::Failed, todo, None),
                t("src/lib.rs - f (line 5)", Kind::Doc, Outcome::Passed, "", None),
                t("src/lib.rs - f (line 9)", Kind::Doc, Outcome::Passed, "", Some("compile fail")),
                t("src/lib.rs - f (line 20)", Kind::Doc, Outcome::Failed, "compiled", Some("compile fail")),
            ],
        };
        let mut f = Findings::default();
        assert_eq!(check_stubs(&m, &[&r], &mut f), (2, 3));
        let all = f.0.join("\n");
        assert!(
            all.contains("pass on the untouched stubs, so they assert nothing: ch01::a::passes"),
            "{all}"
        );
        assert!(all.contains("  ch01::a::wrong: index out of bounds"), "{all}");
        assert!(!all.contains("ch01::a::ok"), "{all}");
        assert!(all.contains("doctest `src/lib.rs - f (line 5)` passes"), "{all}");
        // A compile_fail doctest may show a given compile-time check, which holds on the stubs.
        assert!(!all.contains("(line 9)"), "{all}");
        assert!(!all.contains("(line 1)") && !all.contains("(line 20)"), "{all}");
    }
}
