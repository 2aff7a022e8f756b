//! Running `cargo test` and reading libtest's plain output.
//!
//! Each run is two cargo calls on one merged stdout+stderr stream: first `-- --list`
//! (`<name>: test` lines) to know every test, then the run itself (`test <name> ... ok`
//! lines and `---- <name> stdout ----` failure sections). A listed test that never reports
//! (its process crashed) counts as failed. Cargo's `Running <target> (<exe>)` and
//! `Doc-tests <crate>` lines tell which test binary a line belongs to.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `Running unittests ...`
    Unit,
    /// `Running tests/...`: an integration test binary
    Integration,
    /// `Doc-tests <crate>`
    Doc,
}

#[derive(Debug, Clone)]
pub struct TestResult {
    /// Cargo's label of the test binary (`tests/visible.rs (target/debug/deps/visible-..)`).
    pub binary: String,
    pub kind: Kind,
    /// The test's name; for doctests without libtest's ` - compile fail` style suffix.
    pub name: String,
    /// libtest's mode suffix: `should panic`; for doctests `compile fail`, `compile` (no_run).
    pub mode: Option<String>,
    pub outcome: Outcome,
    /// The failure section (captured output and panic), cleaned; empty when passed.
    pub output: String,
    /// How long it ran, where measured (the grader runs each test in its own process).
    pub duration: Option<std::time::Duration>,
}

impl TestResult {
    /// The panic message (the lines after `thread '..' panicked at file:line:col:`), else
    /// the whole failure output.
    pub fn message(&self) -> String {
        panic_message(&self.output)
    }
}

/// One parsed `cargo test` output: results in the order they were listed.
#[derive(Debug, Default)]
pub struct Report {
    pub tests: Vec<TestResult>,
}

fn binary_label(line: &str) -> Option<(String, Kind)> {
    let t = line.trim();
    if let Some(rest) = t.strip_prefix("Running ") {
        let kind = if rest.starts_with("unittests ") { Kind::Unit } else { Kind::Integration };
        Some((rest.to_string(), kind))
    } else {
        t.strip_prefix("Doc-tests ").map(|c| (format!("Doc-tests {c}"), Kind::Doc))
    }
}

/// Strips libtest's mode suffix from a reported name (the `--list` names lack it):
/// `ch01::x - should panic`, `src/lib.rs - f (line 4) - compile fail` -> (name, mode).
fn split_mode(name: &str) -> (String, Option<String>) {
    for mode in ["should panic", "compile fail", "compile"] {
        if let Some(head) = name.strip_suffix(mode).and_then(|h| h.strip_suffix(" - ")) {
            if mode == "should panic" || head.ends_with(')') {
                return (head.to_string(), Some(mode.to_string()));
            }
        }
    }
    (name.to_string(), None)
}

/// `--list` output: (binary, kind, name) of every test.
pub fn parse_list(output: &str) -> Vec<(String, Kind, String)> {
    let mut binary = (String::new(), Kind::Integration);
    let mut out = Vec::new();
    for line in output.lines() {
        if let Some(b) = binary_label(line) {
            binary = b;
        } else if let Some(name) = line.strip_suffix(": test") {
            out.push((binary.0.clone(), binary.1.clone(), split_mode(name).0));
        }
    }
    out
}

/// The result lines and failure sections of a test run, keyed by (binary, name).
pub fn parse_run(output: &str) -> HashMap<(String, String), TestResult> {
    let mut results: HashMap<(String, String), TestResult> = HashMap::new();
    let mut binary = (String::new(), Kind::Integration);
    // The failed test whose failure section we are in, and its lines.
    let mut section: Option<(String, Vec<&str>)> = None;
    let finish = |results: &mut HashMap<(String, String), TestResult>,
                  binary: &str,
                  section: Option<(String, Vec<&str>)>,
                  last: bool| {
        if let Some((name, mut lines)) = section {
            if last {
                // libtest's closing `failures:` list follows the last section
                if let Some(i) = lines.iter().rposition(|l| l.trim_end() == "failures:") {
                    lines.truncate(i);
                }
            }
            if let Some(r) = results.get_mut(&(binary.to_string(), name)) {
                r.output = clean_output(&lines);
            }
        }
    };
    for line in output.lines() {
        if section.is_some() {
            if line.starts_with("test result: ") {
                finish(&mut results, &binary.0, section.take(), true);
                continue;
            }
            if let Some(name) = section_header(line) {
                let key = (binary.0.clone(), split_mode(name).0);
                if results.get(&key).is_some_and(|r| r.outcome == Outcome::Failed) {
                    finish(&mut results, &binary.0, section.take(), false);
                    section = Some((key.1, Vec::new()));
                    continue;
                }
            }
            if let Some((_, lines)) = section.as_mut() {
                lines.push(line);
            }
            continue;
        }
        if let Some(b) = binary_label(line) {
            binary = b;
        } else if let Some(name) = section_header(line) {
            let key = (binary.0.clone(), split_mode(name).0);
            if results.get(&key).is_some_and(|r| r.outcome == Outcome::Failed) {
                section = Some((key.1, Vec::new()));
            }
        } else if let Some((name, outcome)) = result_line(line) {
            let (name, mode) = split_mode(name);
            results.insert(
                (binary.0.clone(), name.clone()),
                TestResult {
                    binary: binary.0.clone(),
                    kind: binary.1.clone(),
                    name,
                    mode,
                    outcome,
                    output: String::new(),
                    duration: None,
                },
            );
        }
    }
    finish(&mut results, &binary.0, section.take(), true);
    results
}

fn section_header(line: &str) -> Option<&str> {
    line.strip_prefix("---- ")?
        .strip_suffix(" stdout ----")
        .or_else(|| line.strip_prefix("---- ")?.strip_suffix(" stderr ----"))
}

fn result_line(line: &str) -> Option<(&str, Outcome)> {
    let rest = line.strip_prefix("test ")?;
    let (name, result) = rest.rsplit_once(" ... ")?;
    let outcome = match result.trim_end() {
        "ok" => Outcome::Passed,
        "FAILED" => Outcome::Failed,
        r if r.starts_with("ignored") => Outcome::Ignored,
        _ => return None,
    };
    Some((name, outcome))
}

/// Drops the backtrace hints and surrounding blank lines of a failure section.
fn clean_output(lines: &[&str]) -> String {
    let kept: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            !l.starts_with("note: run with `RUST_BACKTRACE=1`")
                && !l.starts_with("note: Some details are omitted")
        })
        .collect();
    kept.join("\n").trim_matches('\n').trim_end().to_string()
}

pub fn panic_message(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let Some(i) = lines.iter().position(|l| l.starts_with("thread '") && l.contains(" panicked at ")) else {
        return output.trim().to_string();
    };
    let msg: Vec<&str> = lines[i + 1..]
        .iter()
        .copied()
        .take_while(|l| !l.starts_with("stack backtrace:") && !l.starts_with("note: "))
        .collect();
    msg.join("\n").trim().to_string()
}

/// The first compiler errors of a failed build (up to `max_lines` lines).
pub fn compile_errors(output: &str, max_lines: usize) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut in_error = false;
    for line in output.lines() {
        if line.starts_with("error") {
            in_error = true;
        } else if line.starts_with("warning") || line.trim_start().starts_with("Compiling ") {
            in_error = false;
        }
        if in_error {
            if line.starts_with("error: could not compile") && !out.is_empty() {
                out.push(line);
                break;
            }
            out.push(line);
            if out.len() >= max_lines {
                out.push("...");
                break;
            }
        }
    }
    if out.is_empty() {
        // not a compiler error: show the end of cargo's output
        let all: Vec<&str> = output.lines().collect();
        let start = all.len().saturating_sub(max_lines);
        return all[start..].join("\n");
    }
    out.join("\n")
}

/// Combines a `--list` and a run: every listed test gets a result; unreported ones failed.
pub fn combine(
    list: &[(String, Kind, String)],
    run: HashMap<(String, String), TestResult>,
    crash_note: &str,
) -> Report {
    let mut run = run;
    let mut tests = Vec::with_capacity(list.len());
    for (binary, kind, name) in list {
        let key = (binary.clone(), name.clone());
        let mut r = run.remove(&key).unwrap_or_else(|| TestResult {
            binary: binary.clone(),
            kind: kind.clone(),
            name: name.clone(),
            mode: None,
            outcome: Outcome::Failed,
            output: format!(
                "this test never reported a result: its test process crashed or was killed{crash_note}"
            ),
            duration: None,
        });
        if r.outcome == Outcome::Failed && r.output.is_empty() {
            // libtest prints failure details at the end, which a crash never reaches
            r.output = format!("failed; its details were lost: the test process crashed later{crash_note}");
        }
        tests.push(r);
    }
    // Results the listing did not show (should not happen): keep them, in a stable order.
    let mut rest: Vec<TestResult> = run.into_values().collect();
    rest.sort_by(|a, b| (&a.binary, &a.name).cmp(&(&b.binary, &b.name)));
    tests.extend(rest);
    Report { tests }
}

/// How cargo's output is shown while it runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    Quiet,
    All,
}

pub struct CargoOutput {
    pub success: bool,
    pub text: String,
}

pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(program)
}

/// Runs `cargo <args>` in `root` with stdout and stderr merged in one stream.
pub fn run_cargo(root: &Path, args: &[&str], echo: Echo) -> Result<CargoOutput, String> {
    let mut cmd = cargo();
    cmd.args(args).current_dir(root);
    test_env(&mut cmd);
    run_merged(cmd, echo).map_err(|e| format!("cannot run cargo {}: {e}", args.join(" ")))
}

/// Environment for every test run: graders never write snapshots, plain output.
pub fn test_env(cmd: &mut Command) {
    cmd.env("INSTA_UPDATE", "no").env("CARGO_TERM_COLOR", "never").env("RUST_BACKTRACE", "0");
}

pub fn run_merged(mut cmd: Command, echo: Echo) -> std::io::Result<CargoOutput> {
    let (reader, writer) = std::io::pipe()?;
    cmd.stdout(writer.try_clone()?).stderr(writer).stdin(Stdio::null());
    let mut child = cmd.spawn()?;
    drop(cmd); // closes our copies of the pipe's write end
    let mut text = String::new();
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        crate::progress::observe(&line);
        if echo == Echo::All {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
        text.push_str(&line);
    }
    let status = child.wait()?;
    Ok(CargoOutput { success: status.success(), text })
}

/// The two streams of a cargo command whose stdout is JSON messages.
pub struct JsonOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// Killed at the wall-clock limit of [`run_json_within`].
    pub timed_out: bool,
}

/// Runs `cmd` (a cargo command with `--message-format=json..`), reading both streams as they
/// come: the JSON messages of stdout, and stderr's human lines, which feed the progress line.
/// With limits: after `limit.0` the command's whole process group (cargo and
/// every rustc it started) is killed; `limit.1` bytes of address space per process. The
/// group is registered with [`crate::reaper`], so a stopped grader ends it too.
pub fn run_json_within(mut cmd: Command, limit: Option<(Duration, u64)>) -> std::io::Result<JsonOutput> {
    cmd.env("CARGO_TERM_COLOR", "never").env_remove("RUSTFLAGS").stdin(Stdio::null());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    #[cfg(unix)]
    if let Some((_, memory)) = limit {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        let mem = memory as libc::rlim_t;
        // SAFETY: only setrlimit, async-signal-safe, runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let r = libc::rlimit { rlim_cur: mem, rlim_max: mem };
                if libc::setrlimit(libc::RLIMIT_AS, &r) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let mut child = if limit.is_some() { crate::reaper::spawn(&mut cmd)? } else { cmd.spawn()? };
    let pid = child.id();
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some((wall, _)) = limit {
        let flag = std::sync::Arc::clone(&timed_out);
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(wall) {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                crate::reaper::kill_group(pid);
            }
        });
    }
    let stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            crate::progress::observe(&line);
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("piped"), &mut stdout)?;
    let status = child.wait()?;
    let _ = done.send(());
    if limit.is_some() {
        // What it left behind (a rustc still running) ends with it.
        crate::reaper::kill_group(pid);
        crate::reaper::unregister(pid);
    }
    let stderr = reader.join().unwrap_or_default();
    let timed_out = timed_out.load(std::sync::atomic::Ordering::SeqCst);
    Ok(JsonOutput { success: status.success() && !timed_out, stdout, stderr, timed_out })
}

/// The copies of this repository that build into its target dir ([`share_target`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copy {
    /// The handout that `verify` checks.
    Handout = 1,
    /// The grading workspace of submissions (and of the handout, and the red-team cases).
    Submissions = 2,
    /// The grading workspace of the reference solutions.
    Reference = 3,
    /// The mutation tests' copy (`cargo course mutants`).
    Mutants = 4,
}

impl Copy {
    /// The copy's codegen-units for its own packages: a number that changes nothing but the
    /// names of their artifacts (this checkout keeps rustc's default, 256).
    pub fn codegen_units(self) -> i64 {
        256 - self as i64
    }

    /// The mutation tests rebuild the test crates for every mutant and only need their
    /// verdicts: without debug info each build is quicker (full debug info elsewhere).
    fn without_debug_info(self) -> bool {
        self == Copy::Mutants
    }
}

/// Makes cargo, run anywhere under `dir`, build into `target` (this checkout's target dir)
/// with artifact names of its own: for copies of this repository (the grading workspaces,
/// the handout check), which then share the registry dependencies built once there.
///
/// A copy's packages have the same names and workspace-relative paths as this checkout's,
/// so cargo would give their artifacts the same names; each build would then take the
/// other's artifacts for fresh (cargo compares file times, not contents), with the other's
/// sources and `CARGO_MANIFEST_DIR` compiled in. A profile setting of the copy's own
/// packages is part of their artifacts' hash: a `codegen-units` of their own gives them
/// names of their own, while the registry dependencies keep theirs. The settings go to
/// `dir/.cargo/config.toml`, which cargo reads for every command under `dir`, whoever runs
/// it (`cargo course status` in the handout included).
pub fn share_target(root: &Path, dir: &Path, target: &Path, copy: Copy) -> Result<(), String> {
    let read = |p: &Path| -> Result<toml::Table, String> {
        std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))?
            .parse()
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let manifest = read(&root.join("Cargo.toml"))?;
    let units = copy.codegen_units();
    let own = manifest.get("profile").and_then(|p| p.get("dev")).and_then(|d| d.get("codegen-units"));
    if own.and_then(|u| u.as_integer()).is_some_and(|u| u >= Copy::Mutants.codegen_units()) {
        return Err(format!(
            "the root Cargo.toml sets [profile.dev] codegen-units = {}, a number the copies of the course use to keep their artifacts apart ({units}..255): choose a smaller one",
            own.and_then(|u| u.as_integer()).unwrap_or_default()
        ));
    }
    let mut names: Vec<String> = manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(String::from)
        .into_iter()
        .collect();
    let members = manifest.get("workspace").and_then(|w| w.get("members")).and_then(|m| m.as_array());
    for m in members.into_iter().flatten().filter_map(|m| m.as_str()) {
        let member = read(&root.join(m).join("Cargo.toml"))?;
        if let Some(n) = member.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()) {
            names.push(n.to_string());
        }
    }
    let mut config = toml::Table::new();
    let mut build = toml::Table::new();
    build.insert("target-dir".into(), toml::Value::String(target.to_string_lossy().into_owned()));
    config.insert("build".into(), toml::Value::Table(build));
    let mut packages = toml::Table::new();
    for n in names {
        let mut p = toml::Table::new();
        p.insert("codegen-units".into(), toml::Value::Integer(units));
        if copy.without_debug_info() {
            p.insert("debug".into(), toml::Value::Integer(0));
        }
        packages.insert(n, toml::Value::Table(p));
    }
    let mut dev = toml::Table::new();
    dev.insert("package".into(), toml::Value::Table(packages));
    let mut profile = toml::Table::new();
    profile.insert("dev".into(), toml::Value::Table(dev));
    config.insert("profile".into(), toml::Value::Table(profile));
    let text = format!(
        "# Written by the course tool (course/src/libtest.rs, share_target): cargo commands under this\n\
         # folder build a copy of the course into its target dir, with artifact names of their own.\n\n{}",
        toml::to_string(&config).map_err(|e| e.to_string())?
    );
    let path = dir.join(".cargo/config.toml");
    std::fs::create_dir_all(dir.join(".cargo"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// A test run failed to build: the compiler's first errors.
pub struct BuildFailed(pub String);

/// `cargo test <args> -- --list`, then `cargo test <args> --no-fail-fast -- <filter>`.
pub fn run_tests(root: &Path, args: &[&str], filter: Option<&str>) -> Result<Report, BuildFailed> {
    let mut list_args: Vec<&str> = vec!["test"];
    list_args.extend_from_slice(args);
    list_args.push("--");
    if let Some(f) = filter {
        list_args.push(f);
    }
    list_args.push("--list");
    let listed = run_cargo(root, &list_args, Echo::Quiet).map_err(BuildFailed)?;
    if !listed.success {
        return Err(BuildFailed(compile_errors(&listed.text, 40)));
    }
    let list = parse_list(&listed.text);

    let mut run_args: Vec<&str> = vec!["test"];
    run_args.extend_from_slice(args);
    run_args.push("--no-fail-fast");
    if let Some(f) = filter {
        run_args.push("--");
        run_args.push(f);
    }
    let ran = run_cargo(root, &run_args, Echo::Quiet).map_err(BuildFailed)?;
    let crash = ran
        .text
        .lines()
        .find(|l| l.contains("process didn't exit successfully"))
        .map(|l| format!(" ({})", l.trim()))
        .unwrap_or_default();
    let results = parse_run(&ran.text);
    if results.is_empty() && !ran.success && crash.is_empty() {
        // nothing ran at all: a build or usage error, not a crash
        return Err(BuildFailed(compile_errors(&ran.text, 40)));
    }
    Ok(combine(&list, results, &crash))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "\
   Compiling lt v0.1.0 (/tmp/lt)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.28s
     Running unittests src/lib.rs (target/debug/deps/lt-d08e)
0 tests, 0 benchmarks
     Running tests/visible/main.rs (target/debug/deps/visible-ec2a)
ch01::f::a: test
ch01::f::b: test
ch01::f::c: test
ch01::f::d: test
ch01::f::e: test
ch01::f::crash: test
ch01::f::sp: test

7 tests, 0 benchmarks
   Doc-tests lt
src/lib.rs - f (line 1): test
src/lib.rs - f (line 7): test

2 tests, 0 benchmarks
src/lib.rs - f (line 4): test

1 test, 0 benchmarks
";

    const RUN: &str = "\
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.28s
     Running unittests src/lib.rs (target/debug/deps/lt-d08e)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/visible/main.rs (target/debug/deps/visible-ec2a)

running 6 tests
test ch01::f::d ... ignored
test ch01::f::e ... ok
test ch01::f::sp - should panic ... ok
test ch01::f::a ... FAILED
test ch01::f::b ... FAILED
test ch01::f::c has been running for over 60 seconds
test ch01::f::c ... FAILED

failures:

---- ch01::f::a stdout ----

thread 'ch01::f::a' (9417) panicked at src/lib.rs:13:21:
not yet implemented: ch01 f: do it; see book section 1.2
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

---- ch01::f::b stdout ----

thread 'ch01::f::b' (9418) panicked at tests/visible/main.rs:3:34:
assertion `left == right` failed: custom
multi
  left: 1
 right: 2

---- ch01::f::c stdout ----
hello
---- fake stdout ----
failures:

thread 'ch01::f::c' (9419) panicked at tests/visible/main.rs:4:81:
boom


failures:
    ch01::f::a
    ch01::f::b
    ch01::f::c

test result: FAILED. 1 passed; 3 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.10s

error: test failed, to rerun pass `--test visible`

Caused by:
  process didn't exit successfully: `/tmp/visible-ec2a` (signal: 6, SIGABRT: process abort signal)
   Doc-tests lt

running 2 tests
test src/lib.rs - f (line 7) - compile ... ok
test src/lib.rs - f (line 1) ... FAILED

failures:

---- src/lib.rs - f (line 1) stdout ----
Test executable failed (exit status: 101).

stderr:

thread 'main' (9445) panicked at src/lib.rs:13:21:
not yet implemented: ch01 f: do it; see book section 1.2
stack backtrace:
   0: __rustc::rust_begin_unwind



failures:
    src/lib.rs - f (line 1)

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.08s


running 1 test
test src/lib.rs - f (line 4) - compile fail ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.03s
";

    fn report() -> Report {
        combine(&parse_list(LIST), parse_run(RUN), " (crash)")
    }

    fn find<'a>(r: &'a Report, name: &str) -> &'a TestResult {
        r.tests.iter().find(|t| t.name == name).unwrap()
    }

    #[test]
    fn lists_every_test_with_its_binary() {
        let list = parse_list(LIST);
        assert_eq!(list.len(), 10);
        assert_eq!(list[0].0, "tests/visible/main.rs (target/debug/deps/visible-ec2a)");
        assert_eq!(list[0].1, Kind::Integration);
        assert_eq!(list[0].2, "ch01::f::a");
        assert_eq!(list[7], ("Doc-tests lt".into(), Kind::Doc, "src/lib.rs - f (line 1)".into()));
    }

    #[test]
    fn reads_outcomes_and_messages() {
        let r = report();
        assert_eq!(r.tests.len(), 10);
        let sp = find(&r, "ch01::f::sp");
        assert_eq!((sp.outcome, sp.mode.as_deref()), (Outcome::Passed, Some("should panic")));
        let a = find(&r, "ch01::f::a");
        assert_eq!(a.outcome, Outcome::Failed);
        assert_eq!(a.message(), "not yet implemented: ch01 f: do it; see book section 1.2");
        assert!(!a.output.contains("RUST_BACKTRACE"));
        let b = find(&r, "ch01::f::b");
        assert_eq!(b.message(), "assertion `left == right` failed: custom\nmulti\n  left: 1\n right: 2");
        // captured output that looks like libtest's own lines stays in the section
        let c = find(&r, "ch01::f::c");
        assert!(c.output.starts_with("hello\n---- fake stdout ----\nfailures:"), "{}", c.output);
        assert_eq!(c.message(), "boom");
        assert_eq!(find(&r, "ch01::f::d").outcome, Outcome::Ignored);
        assert_eq!(find(&r, "ch01::f::e").outcome, Outcome::Passed);
    }

    #[test]
    fn unreported_tests_failed() {
        let r = report();
        let crash = find(&r, "ch01::f::crash");
        assert_eq!(crash.outcome, Outcome::Failed);
        assert!(crash.output.contains("never reported") && crash.output.ends_with("(crash)"));
        // a failure whose section the crash swallowed
        let list = parse_list("ch01::a::x: test\nch01::a::y: test\n");
        let r = combine(&list, parse_run("test ch01::a::x ... FAILED\ntest ch01::a::y ... "), " (SIGABRT)");
        assert_eq!(
            r.tests[0].output,
            "failed; its details were lost: the test process crashed later (SIGABRT)"
        );
        assert!(r.tests[1].output.starts_with("this test never reported"));
    }

    #[test]
    fn doctests_match_despite_mode_suffixes() {
        let r = report();
        let d1 = find(&r, "src/lib.rs - f (line 1)");
        assert_eq!(d1.kind, Kind::Doc);
        assert_eq!(d1.outcome, Outcome::Failed);
        assert!(d1.output.starts_with("Test executable failed"));
        assert_eq!(d1.message(), "not yet implemented: ch01 f: do it; see book section 1.2");
        let d4 = find(&r, "src/lib.rs - f (line 4)");
        assert_eq!(d4.outcome, Outcome::Passed);
        assert_eq!(d4.mode.as_deref(), Some("compile fail"));
        assert_eq!(find(&r, "src/lib.rs - f (line 7)").mode.as_deref(), Some("compile"));
    }

    #[test]
    fn same_name_in_two_binaries_is_two_tests() {
        let list = "     Running unittests src/lib.rs (target/debug/deps/a-1)\nt: test\n     Running unittests src/lib.rs (target/debug/deps/b-2)\nt: test\n";
        let run = "     Running unittests src/lib.rs (target/debug/deps/a-1)\ntest t ... ok\n     Running unittests src/lib.rs (target/debug/deps/b-2)\ntest t ... FAILED\n";
        let r = combine(&parse_list(list), parse_run(run), "");
        assert_eq!(r.tests.len(), 2);
        assert_eq!(r.tests[0].outcome, Outcome::Passed);
        assert_eq!(r.tests[1].outcome, Outcome::Failed);
    }

    #[test]
    fn compiler_errors_are_extracted() {
        let out = "\
   Compiling lt v0.1.0 (/tmp/scratch/lt)
warning: unused variable: `x`
 --> src/lib.rs:1:1

error[E0308]: mismatched types
  --> src/lib.rs:15:20
   |
15 | pub fn h() -> u8 { \"a\" }
   |                    ^^^ expected `u8`, found `&str`

For more information about this error, try `rustc --explain E0308`.
error: could not compile `lt` (lib) due to 1 previous error
warning: build failed, waiting for other jobs to finish...
error: could not compile `lt` (lib test) due to 1 previous error
";
        let e = compile_errors(out, 40);
        assert!(e.starts_with("error[E0308]: mismatched types"), "{e}");
        assert!(e.ends_with("error: could not compile `lt` (lib) due to 1 previous error"), "{e}");
        assert!(!e.contains("unused variable"));
        assert_eq!(compile_errors("a\nb\nc", 2), "b\nc");
    }

    #[test]
    fn a_copy_builds_its_own_packages_with_codegen_units_of_its_own() {
        let dir = std::env::temp_dir().join(format!("course-share-target-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("repo");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"a\"]\n[package]\nname = \"top\"\n",
        )
        .unwrap();
        std::fs::write(root.join("a/Cargo.toml"), "[package]\nname = \"alpha\"\n").unwrap();
        share_target(&root, &dir.join("copy"), Path::new("/t"), Copy::Submissions).unwrap();
        let text = std::fs::read_to_string(dir.join("copy/.cargo/config.toml")).unwrap();
        let config: toml::Table = text.parse().unwrap();
        assert_eq!(config["build"]["target-dir"].as_str(), Some("/t"));
        for name in ["top", "alpha"] {
            assert_eq!(
                config["profile"]["dev"]["package"][name]["codegen-units"].as_integer(),
                Some(254),
                "{text}"
            );
        }
        assert!(config["profile"]["dev"]["package"]["alpha"].get("debug").is_none());
        share_target(&root, &dir.join("copy"), Path::new("/t"), Copy::Mutants).unwrap();
        let config: toml::Table =
            std::fs::read_to_string(dir.join("copy/.cargo/config.toml")).unwrap().parse().unwrap();
        assert_eq!(config["profile"]["dev"]["package"]["alpha"]["debug"].as_integer(), Some(0));
        assert_ne!(Copy::Handout.codegen_units(), Copy::Reference.codegen_units());
        // a repository that uses one of those numbers itself is refused
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"a\"]\n[profile.dev]\ncodegen-units = 255\n",
        )
        .unwrap();
        assert!(share_target(&root, &dir.join("copy"), Path::new("/t"), Copy::Handout)
            .unwrap_err()
            .contains("codegen-units"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn panic_message_without_panic_is_the_output() {
        assert_eq!(panic_message("Error: \"bad\"\n"), "Error: \"bad\"");
    }
}
