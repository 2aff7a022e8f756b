//! The learner's commands (status, check, hint, diff, figures, book) and `grade`.

use crate::grade;
use crate::libtest::{self, Echo, Outcome, Report};
use crate::manifest::{Chapter, Manifest};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const VISIBLE: [&str; 4] = ["-p", "exercises", "--test", "visible"];

fn chapter_arg<'a>(manifest: &'a Manifest, arg: &str) -> Result<&'a Chapter, String> {
    manifest.chapter(arg).ok_or_else(|| {
        let ids: Vec<&str> = manifest.chapters.iter().map(|c| c.id.as_str()).collect();
        format!("unknown chapter `{arg}`; chapters: {}", ids.join(", "))
    })
}

/// Tests of `report` named `<prefix>::...`, not ignored.
fn tests_under<'a>(report: &'a Report, prefix: &str) -> Vec<&'a libtest::TestResult> {
    let p = format!("{prefix}::");
    report.tests.iter().filter(|t| t.name.starts_with(&p) && t.outcome != Outcome::Ignored).collect()
}

fn passed(tests: &[&libtest::TestResult]) -> usize {
    tests.iter().filter(|t| t.outcome == Outcome::Passed).count()
}

pub fn status(root: &Path, manifest: &Manifest) -> Result<i32, String> {
    eprintln!("Running the visible tests (cargo test -p exercises --test visible; the first build takes a few minutes)...");
    let (report, build_error) = match libtest::run_tests(root, &VISIBLE, None) {
        Ok(r) => (Some(r), None),
        Err(libtest::BuildFailed(e)) => (None, Some(e)),
    };
    println!("{}\n", manifest.course.title);
    let w = manifest.chapters.iter().map(|c| c.title.chars().count()).max().unwrap_or(7);
    println!("{:>3}  {:<w$}  {:>9}  visible tests", "#", "chapter", "exercises");
    for ch in &manifest.chapters {
        let count = manifest.exercises_of(&ch.id).count();
        let tests = match (&ch.module, &report) {
            (None, _) => "planned".to_string(),
            (Some(_), None) => "does not build".to_string(),
            (Some(_), Some(r)) => {
                let t = tests_under(r, &ch.id);
                let p = passed(&t);
                let done = if !t.is_empty() && p == t.len() { "  done" } else { "" };
                format!("{p}/{}{done}", t.len())
            }
        };
        let count = if ch.module.is_some() { count.to_string() } else { "-".into() };
        println!("{:>3}  {:<w$}  {count:>9}  {tests}", ch.number, ch.title);
    }
    println!();
    if let Some(e) = build_error {
        println!("Your code does not compile yet; the compiler says:\n\n{e}\n");
        println!("Fix that first (`cargo test -p exercises --no-run` shows everything).");
        return Ok(1);
    }
    let report = report.expect("built");
    let next = manifest.exercises.iter().find(|ex| {
        tests_under(&report, &format!("{}::{}", ex.chapter, ex.id))
            .iter()
            .any(|t| t.outcome == Outcome::Failed)
    });
    match next {
        Some(ex) => {
            let ch = manifest.chapter_of(ex);
            println!(
                "Next: {} ({} {}), book section {}: book/{}",
                ex.title, ch.id, ex.id, ex.section, ch.book
            );
            if let Some((file, line)) = exercise_location(root, manifest, ex) {
                println!("  {}:{line}", file.display());
            }
            println!(
                "Commands: `cargo course watch` re-runs its tests whenever you save, `cargo course hint {}` gives a hint, `cargo course --help` lists the rest.",
                ex.id
            );
        }
        None => {
            println!("Every visible test passes. The hidden tests (cargo course grade) check more cases.");
            println!(
                "Commands: `cargo course check chNN`, `cargo course hint <exercise>`, `cargo course --help`."
            );
        }
    }
    Ok(0)
}

/// Where exercise `ex` is in the learner's file, relative to the root: the line of its
/// `todo!("chNN <id>: ..")`, else (already replaced) the line of `fn <id>`, else line 1.
pub fn exercise_location(
    root: &Path,
    manifest: &Manifest,
    ex: &crate::manifest::Exercise,
) -> Option<(PathBuf, usize)> {
    let module = manifest.chapter_of(ex).module.as_deref()?;
    let rel = PathBuf::from(format!("exercises/src/{module}.rs"));
    let text = std::fs::read_to_string(root.join(&rel)).ok()?;
    let todo = format!("todo!(\"{} {}:", ex.chapter, ex.id);
    let is_fn = |l: &str| {
        let t = l.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        t.strip_prefix("fn ")
            .and_then(|r| r.strip_prefix(ex.id.as_str()))
            .is_some_and(|r| r.starts_with(['(', '<']))
    };
    let line = text
        .lines()
        .position(|l| l.contains(&todo))
        .or_else(|| text.lines().position(is_fn))
        .map_or(1, |i| i + 1);
    Some((rel, line))
}

/// A line cut to `max` characters.
pub fn clip(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        Some((i, _)) => format!("{} ...", &line[..i]),
        None => line.to_string(),
    }
}

/// The first `max` lines of a message, indented, long lines clipped.
fn excerpt(msg: &str, max: usize, indent: &str) -> String {
    let lines: Vec<&str> = msg.lines().collect();
    let mut out: Vec<String> = lines.iter().take(max).map(|l| format!("{indent}{}", clip(l, 300))).collect();
    if lines.len() > max {
        out.push(format!("{indent}... ({} more lines)", lines.len() - max));
    }
    out.join("\n")
}

pub fn check(root: &Path, manifest: &Manifest, arg: &str) -> Result<i32, String> {
    let ch = chapter_arg(manifest, arg)?;
    if ch.module.is_none() {
        println!("Chapter {} ({}) is planned: it has no exercises yet.", ch.number, ch.title);
        return Ok(0);
    }
    let filter = format!("{}::", ch.id);
    eprintln!(
        "Running the visible tests of {} (cargo test -p exercises --test visible -- {filter})...",
        ch.id
    );
    let report = match libtest::run_tests(root, &VISIBLE, Some(&filter)) {
        Ok(r) => r,
        Err(libtest::BuildFailed(e)) => {
            println!("Your code does not compile yet; the compiler says:\n\n{e}");
            return Ok(1);
        }
    };
    println!("Chapter {}: {}\n", ch.number, ch.title);
    let all = tests_under(&report, &ch.id);
    let mut shown = 0;
    let mut first_failing = None;
    for ex in manifest.exercises_of(&ch.id) {
        let tests = tests_under(&report, &format!("{}::{}", ch.id, ex.id));
        println!("{} ({}), book section {}", ex.title, ex.id, ex.section);
        if tests.is_empty() {
            println!("  (no visible tests yet)");
        }
        for t in &tests {
            print_test(t, &format!("{}::{}::", ch.id, ex.id));
        }
        if first_failing.is_none() && tests.iter().any(|t| t.outcome == Outcome::Failed) {
            first_failing = Some(ex);
        }
        shown += tests.len();
        println!();
    }
    if shown < all.len() {
        println!("Other tests");
        for t in all.iter().filter(|t| {
            !manifest.exercises_of(&ch.id).any(|ex| t.name.starts_with(&format!("{}::{}::", ch.id, ex.id)))
        }) {
            print_test(t, &format!("{}::", ch.id));
        }
        println!();
    }
    let p = passed(&all);
    println!("{p}/{} passed", all.len());
    let graded_as_written = grading_rules(root, manifest, ch)?;
    if let Some(ex) = first_failing {
        println!(
            "Stuck on {}? `cargo course hint {}`, or read book section {} (book/{}).",
            ex.title, ex.id, ex.section, ch.book
        );
    }
    Ok(if p == all.len() && graded_as_written { 0 } else { 1 })
}

/// What the grader will do with the chapter file beyond the tests (see [`crate::take`]): a
/// refused file, given code it will not take, exercises that call what they must not.
/// Prints it; `true` when there is nothing to say.
fn grading_rules(root: &Path, manifest: &Manifest, ch: &crate::manifest::Chapter) -> Result<bool, String> {
    let Some(module) = &ch.module else { return Ok(true) };
    let file = format!("{module}.rs");
    let stubs = crate::take::stubs(root, manifest)?;
    let Some(stub) = stubs.get(&file) else { return Ok(true) };
    let test_names = crate::isolate::course_test_names(root);
    let rules = crate::take::rules(manifest, &ch.id, &test_names);
    let rel = Path::new("exercises/src").join(&file);
    let text = match crate::take::read_regular(root, &rel, crate::isolate::MAX_CHAPTER_BYTES) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(true),
        Err(why) => {
            println!("\n✗ The grader will not take {}: {why}. It would score the chapter 0.", rel.display());
            return Ok(false);
        }
    };
    match crate::take::take(stub, &text, &rules) {
        Err(why) => {
            println!("\n✗ The grader will not take {}: {why}. It would score the chapter 0.", rel.display());
            Ok(false)
        }
        Ok(taken) => {
            for line in &taken.ignored {
                println!("\n! {}, {line}: the grader uses the course's version.", rel.display());
            }
            for (ex, calls) in &taken.forbidden {
                let reason = manifest
                    .exercises
                    .iter()
                    .find(|e| &e.id == ex)
                    .map(|e| e.forbid_reason())
                    .unwrap_or_default();
                println!("\n✗ {ex} uses {calls}, which it must not call: {reason}. The grader scores it 0.");
            }
            Ok(taken.ignored.is_empty() && taken.forbidden.is_empty())
        }
    }
}

fn print_test(t: &libtest::TestResult, prefix: &str) {
    let short = t.name.strip_prefix(prefix).unwrap_or(&t.name);
    match t.outcome {
        Outcome::Passed => println!("  ✓ {short}"),
        Outcome::Ignored => println!("  - {short} (ignored)"),
        Outcome::Failed => {
            println!("  ✗ {short}");
            println!("{}", excerpt(&t.message(), 6, "      "));
        }
    }
}

pub fn hint(manifest: &Manifest, id: &str, n: Option<usize>) -> Result<i32, String> {
    let Some(ex) = manifest.exercise(id) else {
        let close: Vec<&str> = manifest
            .exercises
            .iter()
            .map(|e| e.id.as_str())
            .filter(|e| e.contains(id) || id.contains(*e))
            .collect();
        let list: Vec<&str> =
            if close.is_empty() { manifest.exercises.iter().map(|e| e.id.as_str()).collect() } else { close };
        return Err(format!("unknown exercise `{id}`; did you mean one of: {}", list.join(", ")));
    };
    if let Some(k) = n.filter(|&k| k == 0 || k > ex.hints.len()) {
        return Err(format!("{} has hints 1 to {}, not {k}", ex.id, ex.hints.len()));
    }
    let ch = manifest.chapter_of(ex);
    println!("{} ({} {}), book section {} (book/{})\n", ex.title, ch.id, ex.id, ex.section, ch.book);
    if ex.hints.is_empty() {
        println!("This exercise has no hints: read book section {}.", ex.section);
        return Ok(0);
    }
    match n {
        Some(k) => println!("Hint {k}/{}: {}", ex.hints.len(), ex.hints[k - 1]),
        None => {
            for (i, h) in ex.hints.iter().enumerate() {
                println!("{}. {h}", i + 1);
            }
        }
    }
    Ok(0)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

pub fn diff(root: &Path, manifest: &Manifest, arg: &str) -> Result<i32, String> {
    let ch = chapter_arg(manifest, arg)?;
    let Some(module) = &ch.module else {
        println!("Chapter {} ({}) is planned: it has no exercises yet.", ch.number, ch.title);
        return Ok(0);
    };
    if !root.join("solutions").is_dir() {
        println!("This copy of the course is a learner handout: it has no solutions/ to compare with.");
        return Ok(1);
    }
    let mine = format!("exercises/src/{module}.rs");
    let source = format!("solutions/src/{module}.rs");
    for f in [&mine, &source] {
        if !root.join(f).is_file() {
            return Err(format!("{f} does not exist"));
        }
    }
    // Compare with the solution as it would sit in exercises/src: no region markers.
    let read = |f: &str| std::fs::read_to_string(root.join(f)).map_err(|e| format!("cannot read {f}: {e}"));
    let theirs = format!("target/course/reference/{module}.rs");
    std::fs::create_dir_all(root.join("target/course/reference")).map_err(|e| e.to_string())?;
    std::fs::write(root.join(&theirs), crate::sync::reference_text(&read(&source)?))
        .map_err(|e| format!("cannot write {theirs}: {e}"))?;
    println!(
        "- lines: yours ({mine}); + lines: the reference solution ({source}, without its region markers)\n"
    );
    if on_path("git").is_some() {
        let status = Command::new("git")
            .args(["diff", "--no-index", "--color=auto", "--", &mine, &theirs])
            .current_dir(root)
            .status()
            .map_err(|e| format!("cannot run git: {e}"))?;
        return match status.code() {
            Some(0) => {
                println!("{mine} and {theirs} are the same.");
                Ok(0)
            }
            Some(1) => Ok(0),
            _ => Err("git diff failed".into()),
        };
    }
    let (a, b) = (read(&mine)?, read(&theirs)?);
    match unified_diff(&a, &b, &mine, &theirs) {
        Some(d) if d.is_empty() => println!("{mine} and {theirs} are the same."),
        Some(d) => print!("{d}"),
        None => println!(
            "The files are too long for the built-in diff; compare {mine} and {theirs} with a diff tool."
        ),
    }
    Ok(0)
}

/// A unified diff with 3 lines of context (LCS by dynamic programming; `None` if too big).
pub fn unified_diff(a: &str, b: &str, name_a: &str, name_b: &str) -> Option<String> {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let (n, m) = (a.len(), b.len());
    if (n + 1) * (m + 1) > 20_000_000 {
        return None;
    }
    // lcs[i][j] = LCS length of a[i..] and b[j..]
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    // edit script: (' ' | '-' | '+', line index in a, line index in b)
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
            ops.push(('-', i, j));
            i += 1;
        } else {
            ops.push(('+', i, j));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    if changed.is_empty() {
        return Some(String::new());
    }
    let mut out = format!("--- {name_a}\n+++ {name_b}\n");
    let ctx = 3;
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(ctx);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * ctx {
            end = changed[k];
            k += 1;
        }
        let end = (end + ctx + 1).min(ops.len());
        let hunk = &ops[start..end];
        let la = hunk.iter().filter(|o| o.0 != '+').count();
        let lb = hunk.iter().filter(|o| o.0 != '-').count();
        let (sa, sb) = (hunk[0].1 + usize::from(la > 0), hunk[0].2 + usize::from(lb > 0));
        out.push_str(&format!("@@ -{sa},{la} +{sb},{lb} @@\n"));
        for &(op, ia, ib) in hunk {
            let line = if op == '+' { b[ib] } else { a[ia] };
            out.push_str(&format!("{op}{line}\n"));
        }
    }
    Some(out)
}

pub fn figures(root: &Path) -> Result<i32, String> {
    if !root.join("solutions").is_dir() {
        println!("The figures are drawn by the reference solutions, which this handout does not include.");
        return Ok(1);
    }
    let status = libtest::cargo()
        .args(["run", "-p", "solutions", "--bin", "figures"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    Ok(if status.success() { 0 } else { 1 })
}

/// A tool the course installs with `cargo install --locked` when it is missing.
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
    /// The arguments that make it print its version.
    pub version_args: &'static [&'static str],
    /// How long `cargo install` takes on 2 cores, said before installing.
    pub install_time: &'static str,
}

pub const MDBOOK: Tool =
    Tool { name: "mdbook", version: "0.5.4", version_args: &["--version"], install_time: "about 2 min" };
pub const MDBOOK_KATEX: Tool = Tool {
    name: "mdbook-katex",
    version: "0.10.0",
    version_args: &["--version"],
    install_time: "about 1.5 min",
};

/// Where `cargo install` puts binaries: $CARGO_INSTALL_ROOT/bin, else $CARGO_HOME/bin (~/.cargo/bin).
pub fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO_INSTALL_ROOT")
        .filter(|r| !r.is_empty())
        .or_else(|| std::env::var_os("CARGO_HOME"))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
}

/// The tool on PATH or in ~/.cargo/bin; installs it with `cargo install --locked` if missing.
pub fn ensure_tool(tool: &Tool) -> Result<PathBuf, String> {
    let (name, version) = (tool.name, tool.version);
    let found = on_path(name).or_else(|| Some(cargo_bin().join(name)).filter(|p| p.is_file()));
    if let Some(path) = found {
        let v = Command::new(&path)
            .args(tool.version_args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        if !v.contains(version) {
            eprintln!(
                "note: {} says `{v}`; the course uses {name} {version} (`cargo install --locked {name} --version {version} --force`)",
                path.display()
            );
        }
        return Ok(path);
    }
    println!("installing {name} {version} with cargo install --locked ({})...", tool.install_time);
    let status = libtest::cargo()
        .args(["install", "--locked", name, "--version", version])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    let path = cargo_bin().join(name);
    if !status.success() || !path.is_file() {
        return Err(format!("installing {name} {version} failed; try `cargo install --locked {name} --version {version}` yourself"));
    }
    Ok(path)
}

/// `mdbook build` at the repo root (output target/book), with ~/.cargo/bin on PATH so that
/// mdbook finds the mdbook-katex preprocessor.
pub fn build_book(root: &Path, echo: Echo) -> Result<libtest::CargoOutput, String> {
    if !root.join("book.toml").is_file() {
        return Err("book.toml is not at the repo root: there is no book to build".into());
    }
    let mdbook = ensure_tool(&MDBOOK)?;
    ensure_tool(&MDBOOK_KATEX)?;
    let mut paths = vec![cargo_bin()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    let mut cmd = Command::new(mdbook);
    cmd.arg("build").current_dir(root);
    if let Ok(p) = std::env::join_paths(paths) {
        cmd.env("PATH", p);
    }
    libtest::run_merged(cmd, echo).map_err(|e| format!("cannot run mdbook: {e}"))
}

pub fn book(root: &Path, _manifest: &Manifest, open: bool) -> Result<i32, String> {
    if root.join("solutions").is_dir() {
        println!("Drawing the figures (cargo run --release -p solutions --bin figures)...");
        if figures(root)? != 0 {
            println!("Drawing the figures failed; the book is not built.");
            return Ok(1);
        }
    }
    let built = build_book(root, Echo::All)?;
    if !built.success {
        println!("mdbook build failed.");
        return Ok(1);
    }
    let index = root.join("target/book/index.html");
    println!("The book is in {}", index.display());
    if open {
        match ["xdg-open", "open"].into_iter().find(|o| on_path(o).is_some()) {
            Some(opener) => {
                let opened = Command::new(opener)
                    .arg(&index)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if !opened {
                    println!("{opener} could not open a browser: open {} yourself.", index.display());
                }
            }
            None => println!("No xdg-open or open here: open {} in a browser.", index.display()),
        }
    }
    Ok(0)
}

pub fn grade(root: &Path, manifest: &Manifest, reference: bool, out_dir: &Path) -> Result<i32, String> {
    let start = Instant::now();
    let krate = if reference { "solutions" } else { "exercises" };
    let visible_args = ["-p", krate, "--test", "visible"];
    let mut hidden_args = vec!["-p", "dlcv", "--test", "grading"];
    if reference {
        hidden_args.extend(["--features", "reference"]);
    }
    let has_hidden = root.join("tests/grading/main.rs").is_file();
    println!("Grading {krate}:");
    println!("  visible tests: cargo test {} --no-fail-fast", visible_args.join(" "));
    let visible = libtest::run_tests(root, &visible_args, None);
    let hidden = if !has_hidden {
        println!("  hidden tests:  none here (tests/grading is not in this copy)");
        None
    } else if visible.is_ok() {
        println!("  hidden tests:  cargo test {} --no-fail-fast", hidden_args.join(" "));
        Some(libtest::run_tests(root, &hidden_args, None))
    } else {
        None // the visible build failed: grading stops there
    };
    let write = |results: &grade::Results| -> Result<(), String> {
        std::fs::create_dir_all(out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
        let path = out_dir.join("results.json");
        let json = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
        std::fs::write(&path, json + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("Wrote {}", path.display());
        Ok(())
    };
    let secs = || start.elapsed().as_secs_f64().round() as u64;
    let fail = |msg: String| -> Result<i32, String> {
        println!("\n{msg}");
        write(&grade::failed_results(msg, secs()))?;
        Ok(2)
    };
    let visible = match visible {
        Ok(r) => r,
        Err(libtest::BuildFailed(e)) => {
            return fail(format!(
                "The code does not compile (cargo test {}); score 0. The compiler says:\n\n{e}",
                visible_args.join(" ")
            ))
        }
    };
    let hidden = match hidden {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(libtest::BuildFailed(e))) => {
            return fail(format!("The hidden tests do not compile against this code (cargo test {}); score 0. The compiler says:\n\n{e}", hidden_args.join(" ")))
        }
    };
    let assigned = match grade::assign(manifest, &visible, hidden.as_ref()) {
        Ok(a) => a,
        Err(e) => return fail(format!("{e}\nscore 0")),
    };
    let rows = grade::chapter_rows(manifest, &assigned.graded);
    let mut summary = grade::table(&rows);
    let untested: Vec<&str> = manifest
        .exercises
        .iter()
        .filter(|ex| !assigned.graded.iter().any(|g| g.exercise.id == ex.id))
        .map(|ex| ex.id.as_str())
        .collect();
    if !untested.is_empty() {
        summary.push_str(&format!("\nExercises without tests (not counted): {}\n", untested.join(", ")));
    }
    if !assigned.ungraded.is_empty() {
        summary.push_str(&format!("\nNot graded: {}\n", assigned.ungraded.join(", ")));
    }
    let results = grade::results(&assigned.graded, summary.clone(), secs());
    println!("\n{summary}");
    grade::print_per_exercise(manifest, &assigned.graded);
    let max: f64 = assigned.graded.iter().map(|g| g.max_score).sum();
    println!("Score: {}/{}", grade::fmt_points(results.score), grade::fmt_points(max));
    write(&results)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_hunks() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
        let b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n12\n13\n";
        let d = unified_diff(a, b, "x", "y").unwrap();
        assert_eq!(
            d,
            "--- x\n+++ y\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n@@ -10,3 +10,4 @@\n 10\n 11\n 12\n+13\n"
        );
        assert_eq!(unified_diff(a, a, "x", "y").unwrap(), "");
        assert_eq!(unified_diff("", "a\n", "x", "y").unwrap(), "--- x\n+++ y\n@@ -0,0 +1,1 @@\n+a\n");
    }

    #[test]
    fn exercise_location_finds_the_todo_or_the_function() {
        let m = crate::manifest::two_chapter_sample();
        let root = std::env::temp_dir().join(format!("course-location-{}", std::process::id()));
        std::fs::create_dir_all(root.join("exercises/src")).unwrap();
        let ex = m.exercise("top_k").unwrap();
        let file = root.join("exercises/src/ch01_one.rs");
        std::fs::write(&file, "//! One\n\npub fn top_k_other() {}\n/// doc\npub fn top_k(x: u8) -> u8 {\n    todo!(\"ch01 top_k: count; see book section 1.2\")\n}\n").unwrap();
        assert_eq!(exercise_location(&root, &m, ex), Some((PathBuf::from("exercises/src/ch01_one.rs"), 6)));
        std::fs::write(
            &file,
            "//! One\n\npub fn top_k_other() {}\n/// doc\npub fn top_k(x: u8) -> u8 {\n    x\n}\n",
        )
        .unwrap();
        assert_eq!(exercise_location(&root, &m, ex).unwrap().1, 5);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn excerpt_trims_long_messages() {
        assert_eq!(excerpt("a\nb\nc", 2, "  "), "  a\n  b\n  ... (1 more lines)");
        assert_eq!(excerpt("a", 2, ""), "a");
        assert_eq!(clip("abcdé", 4), "abcd ...");
        assert_eq!(clip("abcdé", 5), "abcdé");
    }
}
