//! `cargo course grade`: grading a submission in isolation.
//!
//! 1. Taking ([`crate::take`]): each chapter file of the submission, read only as a plain
//!    file without symbolic links, gives its exercise functions and added helpers to the
//!    course's stub; refused constructs or names give the stub (0 points), forbidden calls
//!    zero their exercise. With `--chapters`, the test crates' main files keep only those
//!    chapters' modules ([`test_main`]).
//! 2. A grading workspace (`target/course/grading/submissions/ws`, or `.../reference/ws` for
//!    the reference solutions) is this checkout's files with the taken chapter files.
//!    `cargo test --no-run` builds the visible and hidden test binaries into this checkout's
//!    target dir, with artifact names of the workspace's own ([`libtest::share_target`]):
//!    the dependencies are shared, and only the exercises crate and the two test crates are
//!    rebuilt per submission. Each cargo command has a wall-clock and a memory limit. When
//!    the build fails, each learner chapter is tried alone (the others stubbed); chapters
//!    that do not compile score 0 with the compiler's errors, the others are graded.
//! 3. Every test runs in its own process: `<bin> --exact <name>`, a fresh random token on
//!    stdin, a wall-clock limit (from the reference times where known; the whole process
//!    group is killed), an address-space and a file-size limit, and, when the grader runs as
//!    root on Linux, as an unprivileged user in a private mount namespace where this
//!    checkout's hidden tests, solutions and git objects are hidden and /tmp is its own.
//!    A test passes only when it exits with status 0 *and* printed the proof derived from
//!    its token ([`course::proof`]). The grader's processes are registered with
//!    [`crate::reaper`]: a stopped grader ends them.
//! 4. The grading workspace's tests, snapshots and test binaries are hashed before and after
//!    the run: any change zeroes the grade.

use crate::grade;
use crate::libtest::{self, Kind, Outcome, Report, TestResult};
use crate::manifest::Manifest;
use crate::progress::say;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What `cargo course grade` grades and how.
pub struct Options {
    /// Grade the reference solutions (`solutions/src`).
    pub reference: bool,
    /// Another checkout (or unpacked zip) with `exercises/src/`.
    pub submission: Option<PathBuf>,
    pub out: PathBuf,
    /// Overrides `[grading] timeout_s`.
    pub timeout_s: Option<u64>,
    /// Grade only these chapters (ids): only their tests are built and run. The library keeps
    /// every chapter of what is graded (later chapters may call earlier exercises).
    pub chapters: Option<Vec<String>>,
    /// Overrides `[grading] build_timeout_s`.
    pub build_timeout_s: Option<u64>,
    /// Grade a submission even where the tests cannot be isolated (not root, no namespaces).
    pub unsafe_no_isolation: bool,
}

/// The limits of one cargo command of the grader: wall clock and address space per process.
type BuildLimits = (Duration, u64);

/// The longest output kept per test (the rest is dropped).
const MAX_OUTPUT: usize = 256 * 1024;
/// The longest output shown per failed visible test.
const SHOWN_OUTPUT: usize = 4000;

/// Where each chapter's code comes from.
#[derive(Debug, Clone, PartialEq)]
enum Origin {
    Learner,
    /// The stub: the file is missing or was refused.
    Stub(String),
    /// The learner's file did not compile (the compiler's errors).
    Broken(String),
}

struct Chapter {
    id: String,
    module: String,
    learner: Option<String>,
    stub: String,
    origin: Origin,
}

/// The workspace's target dir: shared with this checkout's builds.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => {
            let t = PathBuf::from(t);
            if t.is_absolute() {
                t
            } else {
                root.join(t)
            }
        }
        None => root.join("target"),
    }
}

/// Copies `src` into `dst` file by file, writing only files whose content differs (so that
/// cargo's fingerprints stay fresh), and deletes files of `dst` that `src` lacks.
fn mirror(src: &Path, dst: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<(), String> {
    let mut keep = BTreeSet::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = src.join(&rel);
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let rel = rel.join(entry.file_name());
            if skip(&rel) {
                continue;
            }
            let ty = entry.file_type().map_err(|e| e.to_string())?;
            if ty.is_dir() {
                std::fs::create_dir_all(dst.join(&rel)).map_err(|e| e.to_string())?;
                keep.insert(rel.clone());
                stack.push(rel);
            } else if ty.is_file() {
                let data =
                    std::fs::read(entry.path()).map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
                write_if_changed(&dst.join(&rel), &data)?;
                keep.insert(rel);
            }
        }
    }
    // Remove what the source no longer has (deepest first).
    let mut stale = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(dst.join(&rel)) else { continue };
        for entry in entries.flatten() {
            let rel = rel.join(entry.file_name());
            if skip(&rel) {
                continue;
            }
            if !keep.contains(&rel) {
                stale.push(rel);
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(rel);
            }
        }
    }
    for rel in stale {
        let p = dst.join(rel);
        let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
    }
    Ok(())
}

fn write_if_changed(path: &Path, data: &[u8]) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|old| old == data) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let _ = std::fs::remove_file(path); // it may be read-only
    std::fs::write(path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A built test binary.
struct Binary {
    /// The test crate's name: `visible` or `grading` (the first segment of a test's module path).
    krate: String,
    exe: PathBuf,
    /// The package directory: the test's working directory.
    dir: PathBuf,
    hidden: bool,
}

enum Build {
    Ok(Vec<Binary>),
    Failed(String),
}

/// Why a build was stopped at its limit.
fn build_timed_out(limits: BuildLimits) -> String {
    format!(
        "the build took longer than the grader's limit of {} s ([grading] build_timeout_s): code that keeps the compiler busy (a constant that never finishes evaluating, a macro that expands without end) scores 0",
        limits.0.as_secs()
    )
}

fn build(ws: &Path, hidden: bool, limits: BuildLimits) -> Result<Build, String> {
    let mut cmd = libtest::cargo();
    cmd.current_dir(ws);
    cmd.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
        "-p",
        "exercises",
        "--test",
        "visible",
    ]);
    if hidden {
        cmd.args(["-p", "dlcv", "--test", "grading"]);
    }
    let out = libtest::run_json_within(cmd, Some(limits)).map_err(|e| format!("cannot run cargo: {e}"))?;
    if out.timed_out {
        return Ok(Build::Failed(build_timed_out(limits)));
    }
    if !out.success {
        return Ok(Build::Failed(libtest::compile_errors(&out.stderr, 40)));
    }
    let mut bins = Vec::new();
    for line in out.stdout.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if v["reason"] != "compiler-artifact" || v["profile"]["test"] != true {
            continue;
        }
        let (Some(exe), Some(name), Some(manifest)) =
            (v["executable"].as_str(), v["target"]["name"].as_str(), v["manifest_path"].as_str())
        else {
            continue;
        };
        if name != "visible" && name != "grading" {
            continue;
        }
        bins.push(Binary {
            krate: name.to_string(),
            exe: PathBuf::from(exe),
            dir: Path::new(manifest).parent().unwrap_or(ws).to_path_buf(),
            hidden: name == "grading",
        });
    }
    bins.sort_by(|a, b| a.krate.cmp(&b.krate));
    bins.dedup_by(|a, b| a.krate == b.krate);
    Ok(Build::Ok(bins))
}

/// `cargo check -p exercises --lib`: the compiler's errors when the library does not compile.
fn check_lib(ws: &Path, limits: BuildLimits) -> Result<Result<(), String>, String> {
    let mut cmd = libtest::cargo();
    cmd.current_dir(ws);
    cmd.args(["check", "-p", "exercises", "--lib"]);
    let out = libtest::run_json_within(cmd, Some(limits)).map_err(|e| format!("cannot run cargo: {e}"))?;
    Ok(if out.timed_out {
        Err(build_timed_out(limits))
    } else if out.success {
        Ok(())
    } else {
        Err(libtest::compile_errors(&out.stderr, 40))
    })
}

/// Writes the chapter files of the grading workspace: the learner's where `use_learner`.
fn write_chapters(
    ws: &Path,
    chapters: &[Chapter],
    use_learner: &dyn Fn(&Chapter) -> bool,
) -> Result<(), String> {
    for ch in chapters {
        let text = match (&ch.learner, use_learner(ch)) {
            (Some(t), true) => t,
            _ => &ch.stub,
        };
        write_if_changed(&ws.join("exercises/src").join(format!("{}.rs", ch.module)), text.as_bytes())?;
    }
    Ok(())
}

/// A hash of every file under `paths` (name and content).
fn tree_hash(paths: &[PathBuf]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in paths {
        let mut files = Vec::new();
        let mut stack = vec![p.clone()];
        while let Some(d) = stack.pop() {
            if d.is_file() {
                files.push(d);
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(&d) {
                for e in entries.flatten() {
                    stack.push(e.path());
                }
            }
        }
        files.sort();
        for f in files {
            f.hash(&mut h);
            std::fs::read(&f).unwrap_or_default().hash(&mut h);
        }
    }
    h.finish()
}

/// A fresh random token (128 bits from the OS).
fn fresh_token() -> String {
    let mut buf = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).is_ok();
    if !ok {
        use std::hash::BuildHasher;
        let s = std::collections::hash_map::RandomState::new();
        let a = s.hash_one(Instant::now());
        let b = s.hash_one(std::process::id());
        buf[..8].copy_from_slice(&a.to_le_bytes());
        buf[8..].copy_from_slice(&b.to_le_bytes());
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the test processes are confined.
#[derive(Clone)]
struct Sandbox {
    timeout: Duration,
    memory_bytes: u64,
    /// Linux as root: run as uid/gid `BASE_UID + slot` (no groups).
    switch_user: bool,
    /// Linux as root: a private mount namespace with `hide` covered by empty tmpfs.
    mask: bool,
    hide: Vec<PathBuf>,
}

const BASE_UID: u32 = 64000;

/// The largest file a test process may write (RLIMIT_FSIZE).
#[cfg(unix)]
const MAX_FILE_BYTES: libc::rlim_t = 64 << 20;

struct Run {
    /// Exit status 0.
    success: bool,
    /// From the start of the process to its end.
    duration: Duration,
    timed_out: bool,
    signal: Option<i32>,
    output: String,
}

#[cfg(unix)]
fn confine(cmd: &mut Command, sandbox: &Sandbox, slot: usize) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let mem = sandbox.memory_bytes as libc::rlim_t;
    let (switch_user, mask) = (sandbox.switch_user, sandbox.mask);
    let uid = BASE_UID + slot as u32;
    let hide: Vec<CString> =
        sandbox.hide.iter().filter_map(|p| CString::new(p.as_os_str().as_bytes()).ok()).collect();
    let tmpfs = CString::new("tmpfs").unwrap();
    let root = CString::new("/").unwrap();
    let opts = CString::new("size=16k,mode=000").unwrap();
    let tmp = CString::new("/tmp").unwrap();
    let tmp_opts = CString::new("size=64m,mode=1777").unwrap();
    // SAFETY: between fork and exec only async-signal-safe system calls run, on memory that
    // was allocated before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
            if mask {
                #[cfg(target_os = "linux")]
                {
                    check(libc::unshare(libc::CLONE_NEWNS))?;
                    check(libc::mount(
                        std::ptr::null(),
                        root.as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ))?;
                    for p in &hide {
                        check(libc::mount(
                            tmpfs.as_ptr(),
                            p.as_ptr(),
                            tmpfs.as_ptr(),
                            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
                            opts.as_ptr() as *const libc::c_void,
                        ))?;
                    }
                    // A private, small /tmp (nothing outlives the test), and no network where
                    // the kernel gives the process its own (best effort).
                    check(libc::mount(
                        tmpfs.as_ptr(),
                        tmp.as_ptr(),
                        tmpfs.as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        tmp_opts.as_ptr() as *const libc::c_void,
                    ))?;
                    libc::unshare(libc::CLONE_NEWNET);
                }
            }
            let limit = |res, v: libc::rlim_t| {
                let r = libc::rlimit { rlim_cur: v, rlim_max: v };
                check(libc::setrlimit(res, &r))
            };
            limit(libc::RLIMIT_AS, mem)?;
            limit(libc::RLIMIT_CORE, 0)?;
            limit(libc::RLIMIT_FSIZE, MAX_FILE_BYTES)?;
            if switch_user {
                limit(libc::RLIMIT_NPROC, 1024)?;
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setgid(uid as libc::gid_t))?;
                check(libc::setuid(uid as libc::uid_t))?;
            }
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn confine(_cmd: &mut Command, _sandbox: &Sandbox, _slot: usize) {}

/// Kills the test's process group and, when it ran under its own uid, every process of it.
fn kill_all(child: &mut std::process::Child, sandbox: &Sandbox, slot: usize) {
    crate::reaper::kill_group(child.id());
    let _ = child.kill();
    if sandbox.switch_user {
        crate::reaper::kill_user(BASE_UID + slot as u32);
    }
}

fn run_one(
    bin: &Binary,
    name: &str,
    token: &str,
    sandbox: &Sandbox,
    slot: usize,
    timeout: Duration,
) -> Result<Run, String> {
    let mut cmd = Command::new(&bin.exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .current_dir(&bin.dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", "/nonexistent")
        .env(course::proof::TOKEN_ON_STDIN_ENV, "1")
        .env(course::snapshot::JUDGED_OUTSIDE_ENV, "1")
        .env("INSTA_UPDATE", "no")
        .env("CI", "true")
        .env("RUST_BACKTRACE", "0")
        .env("RUST_TEST_THREADS", "1")
        .env("CARGO_MANIFEST_DIR", &bin.dir);
    let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::piped()).stdout(writer.try_clone().map_err(|e| e.to_string())?).stderr(writer);
    confine(&mut cmd, sandbox, slot);
    let started = Instant::now();
    let mut child =
        crate::reaper::spawn(&mut cmd).map_err(|e| format!("cannot start {}: {e}", bin.exe.display()))?;
    drop(cmd);
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(format!("{token}\n").as_bytes());
    }
    let buf = Arc::new(Mutex::new((Vec::<u8>::new(), false)));
    let reader_buf = Arc::clone(&buf);
    std::thread::spawn(move || {
        let mut reader = reader;
        let mut chunk = [0u8; 8192];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut b = reader_buf.lock().unwrap();
                    let room = MAX_OUTPUT.saturating_sub(b.0.len());
                    b.0.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
        reader_buf.lock().unwrap().1 = true;
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) => break s,
            None if Instant::now() >= deadline => {
                timed_out = true;
                kill_all(&mut child, sandbox, slot);
                break child.wait().map_err(|e| e.to_string())?;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let duration = started.elapsed();
    // Children it left behind die with it.
    kill_all(&mut child, sandbox, slot);
    crate::reaper::unregister(child.id());
    let until = Instant::now() + Duration::from_secs(2);
    while !buf.lock().unwrap().1 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = String::from_utf8_lossy(&buf.lock().unwrap().0).into_owned();
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal = None;
    Ok(Run { success: status.success() && !timed_out, duration, timed_out, signal, output })
}

/// The output worth showing: libtest's own lines, proofs and forged result lines removed.
fn clean(output: &str, name: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| {
            !(l.contains(course::proof::PROOF_PREFIX)
                || l.contains(course::snapshot::SNAPSHOT_PREFIX)
                || l.contains(crate::timing::BUDGET_PREFIX)
                || matches!(l.trim(), "ok" | "FAILED" | "ignored")
                || l.starts_with("running ")
                || l.starts_with("test result:")
                || (l.starts_with("test ") && l.contains(" ... "))
                || l.starts_with("note: run with `RUST_BACKTRACE=1`")
                || l.trim() == "successes:"
                || l.trim() == "failures:"
                || l.trim() == name
                || l.starts_with("---- "))
        })
        .collect();
    let lines: Vec<String> = lines.into_iter().map(without_thread_id).collect();
    let mut s = lines.join("\n").trim().to_string();
    if s.len() > SHOWN_OUTPUT {
        let mut cut = SHOWN_OUTPUT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("\n[output clipped]");
    }
    s
}

/// `thread 'x' (12345) panicked at ..` without the thread id, which changes between runs.
fn without_thread_id(line: &str) -> String {
    if let Some(rest) = line.strip_prefix("thread '") {
        if let Some(q) = rest.find("' (") {
            let after = &rest[q + 3..];
            if let Some(close) = after.find(')') {
                if close > 0 && after[..close].bytes().all(|b| b.is_ascii_digit()) {
                    return format!("thread '{}'{}", &rest[..q], &after[close + 1..]);
                }
            }
        }
    }
    line.to_string()
}

/// The verdict on one finished test process.
/// The course's snapshots, judged here, outside the test processes ([`course::snapshot`]).
#[derive(Default)]
struct Snapshots {
    /// By file stem: the reviewed value (this checkout's `snapshots/*.snap`).
    reviewed: BTreeMap<String, String>,
    /// By test: the snapshots the reference solutions reported (where they were graded on
    /// this course version): a test that does not report one of them fails.
    required: BTreeMap<String, Vec<String>>,
}

impl Snapshots {
    fn load(root: &Path, required: BTreeMap<String, Vec<String>>) -> Snapshots {
        let mut reviewed = BTreeMap::new();
        for dir in SNAPSHOT_DIRS {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
            for e in entries.flatten() {
                let path = e.path();
                let Some(stem) = path.file_name().and_then(|n| n.to_str()?.strip_suffix(".snap")) else {
                    continue;
                };
                if let Ok(text) = std::fs::read_to_string(&path) {
                    reviewed.insert(stem.to_string(), course::snapshot::contents_of_snap_file(&text));
                }
            }
        }
        Snapshots { reviewed, required }
    }

    /// `Err(why)` when a snapshot the test reported differs from the reviewed one, or one it
    /// must report is missing.
    fn check(&self, test: &str, output: &str) -> Result<(), String> {
        let reported = reported_snapshots(output);
        for (stem, text) in &reported {
            match self.reviewed.get(stem) {
                Some(want) if want == text.trim_end_matches(['\n', '\r']) => {}
                Some(_) => {
                    return Err(format!("the snapshot `{stem}` differs from the course's reviewed value"))
                }
                None => return Err(format!("the snapshot `{stem}` is not one of the course's")),
            }
        }
        for stem in self.required.get(test).into_iter().flatten() {
            if !reported.iter().any(|(s, _)| s == stem) {
                return Err(format!("the test did not report its snapshot `{stem}`"));
            }
        }
        Ok(())
    }
}

/// Where the snapshots live, relative to the root.
const SNAPSHOT_DIRS: [&str; 2] = ["tests/grading/snapshots", "exercises/tests/visible/snapshots"];

/// The snapshot lines of a test's output: (stem, text).
fn reported_snapshots(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|l| l.find(course::snapshot::SNAPSHOT_PREFIX).map(|k| &l[k..]))
        .filter_map(course::snapshot::parse)
        .collect()
}

fn judge(
    bin: &Binary,
    name: &str,
    token: &str,
    run: &Run,
    timeout: Duration,
    snapshots: &Snapshots,
) -> (Outcome, String) {
    let module = match name.rsplit_once("::") {
        Some((m, _)) => format!("{}::{m}", bin.krate),
        None => bin.krate.clone(),
    };
    let proof = course::proof::proof_line(token, &module);
    // libtest prints `test <name> ... ` before the test's own output: the proof may follow it
    // on the same line. A proof is 16 hex digits: one followed by more digits is not it.
    let proved = run
        .output
        .match_indices(&proof)
        .any(|(k, _)| !run.output[k + proof.len()..].starts_with(|c: char| c.is_ascii_hexdigit()));
    let shown = clean(&run.output, name);
    if run.timed_out {
        return (Outcome::Failed, format!("timed out: the test ran longer than {} s", timeout.as_secs()));
    }
    if run.success && proved {
        return match snapshots.check(name, &run.output) {
            Ok(()) => (Outcome::Passed, String::new()),
            Err(why) => (Outcome::Failed, why),
        };
    }
    let why = if let Some(sig) = run.signal {
        let what = match sig {
            6 => "aborted (SIGABRT: a stack overflow, a failed allocation or an abort)",
            9 => "killed (SIGKILL)",
            11 => "crashed (SIGSEGV)",
            _ => "killed by a signal",
        };
        format!("the test process {what}, signal {sig}")
    } else if run.success {
        "the test process exited before the test finished (no proof of completion)".to_string()
    } else {
        String::new()
    };
    let text = match (why.is_empty(), shown.is_empty()) {
        (true, _) => shown,
        (false, true) => why,
        (false, false) => format!("{shown}\n{why}"),
    };
    (Outcome::Failed, text)
}

/// The tests a binary lists (`--list`), without the ignored ones.
fn list(bin: &Binary) -> Result<Vec<String>, String> {
    let names = |extra: &[&str]| -> Result<Vec<String>, String> {
        let out = Command::new(&bin.exe)
            .arg("--list")
            .args(extra)
            .current_dir(&bin.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot list the tests of {}: {e}", bin.exe.display()))?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(str::to_string)
            .collect())
    };
    let ignored = names(&["--ignored"])?;
    let mut all = names(&[])?;
    all.retain(|n| !ignored.contains(n));
    all.sort();
    Ok(all)
}

/// Folders closed to every user but their owner (mode 0700) while it lives; their modes come
/// back when it is dropped.
struct Closed(Vec<(PathBuf, u32)>);

impl Closed {
    fn new(dirs: &[PathBuf]) -> Closed {
        let mut closed = Vec::new();
        #[cfg(unix)]
        for d in dirs {
            use std::os::unix::fs::PermissionsExt;
            let Ok(meta) = std::fs::symlink_metadata(d) else { continue };
            let mode = meta.permissions().mode();
            if std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).is_ok() {
                closed.push((d.clone(), mode));
            }
        }
        #[cfg(not(unix))]
        let _ = dirs;
        Closed(closed)
    }
}

impl Drop for Closed {
    fn drop(&mut self) {
        #[cfg(unix)]
        for (d, mode) in &self.0 {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(*mode));
        }
    }
}

/// The strongest confinement that works here: (switch_user, mask). Both need root on Linux;
/// a container may allow the user switch but not mount namespaces.
fn probe_privileges(sandbox: &Sandbox) -> (bool, bool) {
    if !cfg!(target_os = "linux") || std::env::var_os("DLCV_GRADING_NO_SANDBOX").is_some() {
        return (false, false);
    }
    for (switch_user, mask) in [(true, true), (true, false)] {
        let trial = Sandbox { switch_user, mask, ..sandbox.clone() };
        let mut cmd = Command::new("/bin/true");
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        confine(&mut cmd, &trial, 0);
        if cmd.status().is_ok_and(|s| s.success()) {
            return (switch_user, mask);
        }
    }
    (false, false)
}

struct Prepared {
    chapters: Vec<Chapter>,
    notes: Vec<String>,
    /// Per (chapter, exercise): why its tests are not run (a forbidden call).
    forbidden: BTreeMap<(String, String), String>,
}

/// The largest chapter file the grader reads.
pub(crate) const MAX_CHAPTER_BYTES: u64 = 1 << 20;

fn prepare_chapters(root: &Path, manifest: &Manifest, opts: &Options) -> Result<Prepared, String> {
    let (base, sub) = if opts.reference {
        (root.to_path_buf(), "solutions/src")
    } else if let Some(dir) = &opts.submission {
        (dir.clone(), "exercises/src")
    } else {
        (root.to_path_buf(), "exercises/src")
    };
    if opts.submission.is_some() && !base.join(sub).exists() {
        return Err(format!("{} has no exercises/src/: not a submission of this course", base.display()));
    }
    let stubs = crate::take::stubs(root, manifest)?;
    let test_names = course_test_names(root);
    let mut chapters = Vec::new();
    let mut notes = Vec::new();
    let mut forbidden = BTreeMap::new();
    for ch in &manifest.chapters {
        let Some(module) = &ch.module else { continue };
        let file = format!("{module}.rs");
        let stub = stubs.get(&file).cloned().ok_or_else(|| format!("no stub for {file}"))?;
        let rules = crate::take::rules(manifest, &ch.id, &test_names);
        let zero = |why: String| Origin::Stub(format!("{}: {why}: 0 points for {}", ch.id, ch.id));
        let (learner, origin) = match crate::take::read_regular(
            &base,
            &Path::new(sub).join(&file),
            MAX_CHAPTER_BYTES,
        ) {
            Ok(None) => (None, zero(format!("exercises/src/{file} is missing"))),
            Err(why) => (None, zero(why)),
            Ok(Some(text)) => match crate::take::take(&stub, &text, &rules) {
                Err(why) => (None, zero(format!("exercises/src/{file}, {why}"))),
                Ok(taken) => {
                    for line in &taken.ignored {
                        notes.push(format!("{}: exercises/src/{file}, {line}", ch.id));
                    }
                    for (ex, calls) in taken.forbidden {
                        let section =
                            manifest.exercises.iter().find(|e| e.id == ex).map_or("", |e| e.section.as_str());
                        forbidden.insert(
                            (ch.id.clone(), ex.clone()),
                            format!(
                                "0 points: {ex} uses {calls}, which this exercise must not call: it teaches how to do that by hand (book section {section})"
                            ),
                        );
                    }
                    (Some(taken.text), Origin::Learner)
                }
            },
        };
        if let Origin::Stub(n) = &origin {
            notes.push(n.clone());
        }
        chapters.push(Chapter { id: ch.id.clone(), module: module.clone(), learner, stub, origin });
    }
    Ok(Prepared { chapters, notes, forbidden })
}

/// Every identifier of the course's test files (visible and hidden): see [`crate::take::Rules`].
pub(crate) fn course_test_names(root: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for dir in ["exercises/tests/visible", "tests/grading"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "rs") {
                names.extend(crate::take::names_in(&std::fs::read_to_string(e.path()).unwrap_or_default()));
            }
        }
    }
    names
}

/// A test crate's main file with only the chapter modules (`mod chNN;`, with the attributes
/// above it) of `chapters` (all of them when `None`): a grading of some chapters builds
/// only their tests (and allows the shared helpers that only the others use).
pub fn test_main(text: &str, manifest: &Manifest, chapters: Option<&[String]>) -> String {
    let mut out = String::new();
    if chapters.is_some() {
        out.push_str("#![allow(dead_code)] // written by the grader: some chapters are left out\n");
    }
    let mut attributes = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("#[") {
            attributes.push_str(line);
            attributes.push('\n');
            continue;
        }
        let keep = match t.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            Some(m) if manifest.chapter_by_id(m).is_some() => {
                chapters.is_none_or(|c| c.iter().any(|x| x == m))
            }
            _ => true,
        };
        if keep {
            out.push_str(&attributes);
            out.push_str(line);
            out.push('\n');
        }
        attributes.clear();
    }
    out.push_str(&attributes);
    out
}

/// The test crates' main files, relative to the root: written by the grader (see [`test_main`]).
const TEST_MAINS: [&str; 2] = ["exercises/tests/visible/main.rs", "tests/grading/main.rs"];

/// The grading workspaces (each holds a copy of the solutions).
fn grading_workspaces(target: &Path) -> Vec<PathBuf> {
    ["reference", "submissions"].iter().map(|k| target.join("course/grading").join(k).join("ws")).collect()
}

/// A finished grading: every test's result, before points.
pub struct Grading {
    pub visible: Report,
    pub hidden: Report,
    pub has_hidden: bool,
    /// What the report says besides the table (missing, refused or broken chapters).
    pub notes: Vec<String>,
    /// The training budgets the tests declared (`course::budget!`), by test name.
    pub budgets: BTreeMap<String, String>,
    /// Seconds spent building the test binaries, and running the tests.
    pub build_secs: f64,
    pub test_secs: f64,
}

/// Grades without writing reports. `Ok(Err(why))`: nothing could be graded (score 0);
/// `Err`: the grader itself failed.
pub fn run(root: &Path, manifest: &Manifest, opts: &Options) -> Result<Result<Grading, String>, String> {
    let what = if opts.reference {
        "the reference solutions".to_string()
    } else if let Some(s) = &opts.submission {
        format!("the submission in {}", s.display())
    } else {
        "this checkout's exercises".to_string()
    };
    let only = opts.chapters.as_deref();
    match only {
        Some([]) => say!("Building {what} without any chapter's tests (what all chapters share):"),
        Some(c) => say!("Grading {what}, chapters {}:", c.join(", ")),
        None => say!("Grading {what}:"),
    }
    crate::reaper::install();
    let timeout = Duration::from_secs(opts.timeout_s.unwrap_or(manifest.grading.timeout_s));
    let memory_bytes = manifest.grading.memory_mb * 1024 * 1024;
    if opts.submission.is_some() && !opts.unsafe_no_isolation {
        let bare = Sandbox { timeout, memory_bytes, switch_user: false, mask: false, hide: Vec::new() };
        if !probe_privileges(&bare).0 {
            return Err(
                "grading a submission needs isolation: root on Linux (the tests run as an unprivileged \
                 user that cannot read the hidden tests or the solutions). Run the grader as root (a \
                 container is enough), or pass --unsafe-no-isolation to grade anyway: then the \
                 submission's code can read the hidden tests and the solutions, and its points mean little."
                    .into(),
            );
        }
    }
    let limits: BuildLimits = (
        Duration::from_secs(opts.build_timeout_s.unwrap_or(manifest.grading.build_timeout_s)),
        manifest.grading.build_memory_mb * 1024 * 1024,
    );
    let Prepared { mut chapters, notes, forbidden } = prepare_chapters(root, manifest, opts)?;
    let graded_chapter = |id: &str| only.is_none_or(|c| c.iter().any(|x| x == id));
    let mut notes: Vec<String> =
        notes.into_iter().filter(|n| graded_chapter(n.split(':').next().unwrap_or_default())).collect();
    let target = target_dir(root);
    // Two workspaces, each with its own artifacts and incremental caches: the reference
    // solutions and the submissions (alternating between the two would rebuild everything).
    let copy = if opts.reference { libtest::Copy::Reference } else { libtest::Copy::Submissions };
    let home =
        target.join(if opts.reference { "course/grading/reference" } else { "course/grading/submissions" });
    let ws = home.join("ws");
    let has_hidden = root.join("tests/grading/main.rs").is_file();
    let modules: BTreeSet<PathBuf> = chapters
        .iter()
        .map(|c| PathBuf::from(format!("exercises/src/{}.rs", c.module)))
        .chain(TEST_MAINS.iter().map(PathBuf::from))
        .collect();
    let target_rel = target.strip_prefix(root).ok().map(Path::to_path_buf);
    let skip = |rel: &Path| -> bool {
        let first =
            rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
        first == ".git"
            || first == "target"
            || first == "grading-out"
            || target_rel.as_deref() == Some(rel)
            || modules.contains(rel)
            || rel.file_name().is_some_and(|n| n == "target")
    };
    // One grading at a time uses the workspace: another one waits here.
    std::fs::create_dir_all(&ws).map_err(|e| format!("cannot create {}: {e}", ws.display()))?;
    let lock_path = home.join("lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        say!("  waiting for another grading to finish (it holds {})", lock_path.display());
        lock.lock().map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    }
    say!("  workspace: {}", ws.display());
    mirror(root, &ws, &skip)?;
    for main in TEST_MAINS {
        if let Ok(text) = std::fs::read_to_string(root.join(main)) {
            write_if_changed(&ws.join(main), test_main(&text, manifest, only).as_bytes())?;
        }
    }
    // The hidden test sources: unreadable for the test processes (they run as another user).
    #[cfg(unix)]
    if let Ok(entries) = std::fs::read_dir(ws.join("tests/grading")) {
        use std::os::unix::fs::PermissionsExt;
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "rs") {
                let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o600));
            }
        }
    }

    // Build; on failure find the chapters that break it.
    let build_start = Instant::now();
    libtest::share_target(root, &home, &target, copy)?;
    say!("  building the test binaries (cargo test --no-run)");
    let building = crate::progress::begin("building the test binaries");
    write_chapters(&ws, &chapters, &|c| c.origin == Origin::Learner)?;
    let mut bins = match build(&ws, has_hidden, limits)? {
        Build::Ok(b) => b,
        Build::Failed(all_errors) => {
            let learner: Vec<usize> =
                (0..chapters.len()).filter(|&i| chapters[i].origin == Origin::Learner).collect();
            // First the cheap check: does each chapter's library code compile alone?
            for &i in &learner {
                say!("  the build failed: checking {} alone (cargo check)", chapters[i].id);
                let id = chapters[i].id.clone();
                write_chapters(&ws, &chapters, &|c| c.id == id)?;
                if let Err(e) = check_lib(&ws, limits)? {
                    chapters[i].origin = Origin::Broken(e);
                }
            }
            write_chapters(&ws, &chapters, &|c| c.origin == Origin::Learner)?;
            let mut result = build(&ws, has_hidden, limits)?;
            if matches!(result, Build::Failed(_)) {
                // The library compiles but the tests do not (a changed signature): full builds.
                for &i in &learner {
                    if chapters[i].origin != Origin::Learner {
                        continue;
                    }
                    say!("  the tests do not build: trying {} alone", chapters[i].id);
                    let id = chapters[i].id.clone();
                    write_chapters(&ws, &chapters, &|c| c.id == id)?;
                    if let Build::Failed(e) = build(&ws, has_hidden, limits)? {
                        chapters[i].origin = Origin::Broken(e);
                    }
                }
                write_chapters(&ws, &chapters, &|c| c.origin == Origin::Learner)?;
                result = build(&ws, has_hidden, limits)?;
            }
            match result {
                Build::Ok(b) => b,
                Build::Failed(e) => {
                    return Ok(Err(if learner.is_empty() {
                        format!("error in the course (not in your code): the stubs do not build:\n\n{e}")
                    } else {
                        format!("The code does not compile; score 0. The compiler says:\n\n{all_errors}")
                    }));
                }
            }
        }
    };
    drop(building);
    let build_secs = build_start.elapsed().as_secs_f64();
    for ch in chapters.iter().filter(|c| graded_chapter(&c.id)) {
        if let Origin::Broken(e) = &ch.origin {
            notes.push(format!(
                "{}: exercises/src/{}.rs does not compile: 0 points for {}. The compiler says:\n\n{e}",
                ch.id, ch.module, ch.id
            ));
        }
    }
    if bins.is_empty() {
        return Err("the build produced no test binaries".into());
    }
    bins.retain(|b| has_hidden || !b.hidden);

    // List every test; those of chapters that are not the learner's are not run.
    let mut jobs: Vec<(usize, String)> = Vec::new();
    let mut reports: Vec<Vec<TestResult>> = bins.iter().map(|_| Vec::new()).collect();
    for (b, bin) in bins.iter().enumerate() {
        for name in list(bin)? {
            let mut segments = name.split("::");
            let chapter = segments.next().unwrap_or_default();
            let exercise = segments.next().unwrap_or_default();
            if let Some(why) = forbidden.get(&(chapter.to_string(), exercise.to_string())) {
                reports[b].push(TestResult {
                    binary: bin.krate.clone(),
                    kind: Kind::Integration,
                    name: name.clone(),
                    mode: None,
                    outcome: Outcome::Failed,
                    output: format!("not run: {why}"),
                    duration: None,
                });
                continue;
            }
            match chapters.iter().find(|c| c.id == chapter).map(|c| &c.origin) {
                Some(Origin::Broken(_)) | Some(Origin::Stub(_)) => reports[b].push(TestResult {
                    binary: bin.krate.clone(),
                    kind: Kind::Integration,
                    name: name.clone(),
                    mode: None,
                    outcome: Outcome::Failed,
                    output: format!("not run: {chapter} was not graded (see the report's notes)"),
                    duration: None,
                }),
                _ => jobs.push((b, name)),
            }
        }
    }

    let sandbox0 = Sandbox {
        timeout,
        memory_bytes,
        switch_user: false,
        mask: false,
        hide: [".git", "tests", "solutions", "course/redteam"]
            .iter()
            .map(|p| root.join(p))
            .chain([ws.join("solutions/src"), ws.join("course/redteam"), red_team_cases_dir(root)])
            .chain(SNAPSHOT_DIRS.iter().map(|d| ws.join(d)))
            .chain(
                grading_workspaces(&target).into_iter().filter(|w| w != &ws).map(|w| w.join("solutions/src")),
            )
            .filter(|p| p.is_dir())
            .collect(),
    };
    let (switch_user, mask) = probe_privileges(&sandbox0);
    let sandbox = Sandbox { switch_user, mask, ..sandbox0 };
    // Without a mount namespace (a container that forbids them), the hidden folders are
    // closed to other users instead; their modes come back after the run.
    let _closed = (switch_user && !mask).then(|| Closed::new(&sandbox.hide));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(jobs.len().max(1));
    say!(
        "  running {} tests, each in its own process ({} at a time; limits: {} s, {} MiB{})",
        jobs.len(),
        workers,
        sandbox.timeout.as_secs(),
        manifest.grading.memory_mb,
        match (switch_user, mask) {
            (true, true) => "; as an unprivileged user, hidden files masked",
            (true, false) =>
                "; as an unprivileged user (no mount namespace here: hidden folders closed by their modes)",
            _ => "; not root: no user switch, hidden files not masked",
        }
    );
    let guarded: Vec<PathBuf> = [ws.join("tests"), ws.join("exercises/tests"), ws.join("course.toml")]
        .into_iter()
        .chain(bins.iter().map(|b| b.exe.clone()))
        .collect();
    let before = tree_hash(&guarded);
    if switch_user {
        (0..workers).for_each(|slot| crate::reaper::register_user(BASE_UID + slot as u32));
    }
    // Per test: a few times what the reference solutions took, where they were timed on this
    // course version, so that code that hangs everywhere is graded in minutes.
    let key = course_key(root);
    let reference = read_reference(&target, &key);
    let reference_times = reference.seconds;
    let snapshots = Snapshots::load(root, reference.snapshots);
    let limit_of = |name: &str| -> Duration {
        match reference_times.get(name) {
            Some(&secs) => timeout.min(Duration::from_secs_f64(3.0 * secs + 2.0)),
            None => timeout,
        }
    };
    let total_limit = Duration::from_secs(manifest.grading.total_timeout_s);
    let timed = jobs.iter().filter(|(_, n)| reference_times.contains_key(n)).count();
    if timed > 0 {
        say!("  {timed} of them with a tighter limit: 3 times the reference solutions' time + 2 s (timed on this course version)");
    }

    let test_start = Instant::now();
    let running = crate::progress::begin("running the tests");
    crate::progress::set_total(jobs.len());
    let queue = Mutex::new(jobs.into_iter().collect::<VecDeque<_>>());
    let results: Mutex<Vec<(usize, TestResult)>> = Mutex::new(Vec::new());
    let budgets: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let reported: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for slot in 0..workers {
            let (queue, results, budgets, errors, bins, sandbox, limit_of, snapshots, reported) =
                (&queue, &results, &budgets, &errors, &bins, &sandbox, &limit_of, &snapshots, &reported);
            s.spawn(move || loop {
                let Some((b, name)) = queue.lock().unwrap().pop_front() else { break };
                let bin = &bins[b];
                if test_start.elapsed() >= total_limit {
                    crate::progress::test_done(&name);
                    let output = format!(
                        "not run: the grading reached its total limit of {} s ([grading] total_timeout_s)",
                        total_limit.as_secs()
                    );
                    let r = TestResult {
                        binary: bin.krate.clone(),
                        kind: Kind::Integration,
                        name,
                        mode: None,
                        outcome: Outcome::Failed,
                        output,
                        duration: None,
                    };
                    results.lock().unwrap().push((b, r));
                    continue;
                }
                let token = fresh_token();
                let limit = limit_of(&name);
                match run_one(bin, &name, &token, sandbox, slot, limit) {
                    Ok(run) => {
                        let (outcome, output) = judge(bin, &name, &token, &run, limit, snapshots);
                        let stems: Vec<String> =
                            reported_snapshots(&run.output).into_iter().map(|r| r.0).collect();
                        if !stems.is_empty() {
                            reported.lock().unwrap().insert(name.clone(), stems);
                        }
                        crate::progress::test_done(&name);
                        if let Some(b) = crate::timing::budget_of(&run.output) {
                            budgets.lock().unwrap().insert(name.clone(), b);
                        }
                        let r = TestResult {
                            binary: bin.krate.clone(),
                            kind: Kind::Integration,
                            name,
                            mode: None,
                            outcome,
                            output,
                            duration: Some(run.duration),
                        };
                        results.lock().unwrap().push((b, r));
                    }
                    Err(e) => errors.lock().unwrap().push(e),
                }
            });
        }
    });
    drop(running);
    let test_secs = test_start.elapsed().as_secs_f64();
    let errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        return Err(format!("the grader could not run the tests: {}", errors.join("; ")));
    }
    for (b, r) in results.into_inner().unwrap() {
        reports[b].push(r);
    }
    for r in &mut reports {
        r.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if opts.reference {
        let passed = reports.iter().flatten().filter(|t| t.outcome == Outcome::Passed);
        let times = passed.filter_map(|t| Some((t.name.clone(), t.duration?.as_secs_f64())));
        write_reference(&target, &key, times, reported.into_inner().unwrap())?;
    }
    if tree_hash(&guarded) != before {
        return Ok(Err(
            "The hidden tests, their snapshots or the test binaries changed while the tests ran: \
             the code under test wrote to them. Score 0."
                .into(),
        ));
    }

    let mut visible = Report::default();
    let mut hidden = Report::default();
    for (bin, tests) in bins.iter().zip(reports) {
        if bin.hidden { &mut hidden } else { &mut visible }.tests.extend(tests);
    }
    let budgets = budgets.into_inner().unwrap();
    Ok(Ok(Grading { visible, hidden, has_hidden, notes, budgets, build_secs, test_secs }))
}

/// What the reference times are valid for: the tests, the solutions and the manifest.
fn course_key(root: &Path) -> String {
    let parts = ["tests", "exercises/tests", "solutions/src", "course.toml"].map(|p| root.join(p));
    format!("{:016x}", tree_hash(&parts))
}

fn reference_path(target: &Path) -> PathBuf {
    target.join("course/grading/reference.json")
}

/// What the reference solutions showed on one course version: the seconds each test took,
/// and the snapshots each test reported.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Reference {
    key: String,
    seconds: BTreeMap<String, f64>,
    snapshots: BTreeMap<String, Vec<String>>,
}

/// The reference record, when it was made on the course version `key` (else an empty one).
fn read_reference(target: &Path, key: &str) -> Reference {
    let text = std::fs::read_to_string(reference_path(target)).unwrap_or_default();
    match serde_json::from_str::<Reference>(&text) {
        Ok(r) if r.key == key => r,
        _ => Reference { key: key.to_string(), ..Reference::default() },
    }
}

/// Records a reference grading (merged with those of other chapters of the same version).
fn write_reference(
    target: &Path,
    key: &str,
    times: impl Iterator<Item = (String, f64)>,
    snapshots: BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    let mut r = read_reference(target, key);
    r.seconds.extend(times);
    r.snapshots.extend(snapshots);
    let text = serde_json::to_string(&r).map_err(|e| e.to_string())?;
    write_if_changed(&reference_path(target), text.as_bytes())
}

/// `cargo course grade [--reference | --submission DIR] [--chapters ..] [--out DIR]`.
pub fn grade(root: &Path, manifest: &Manifest, opts: &Options) -> Result<i32, String> {
    let start = Instant::now();
    let g = match run(root, manifest, opts)? {
        Ok(g) => g,
        Err(why) => return write_failed(&opts.out, why, start),
    };
    let assigned = match grade::assign(manifest, &g.visible, g.has_hidden.then_some(&g.hidden)) {
        Ok(a) => a,
        Err(e) => return write_failed(&opts.out, format!("{e}\nscore 0"), start),
    };
    let rows = grade::chapter_rows(manifest, &assigned.graded);
    let table = grade::table(&rows);
    let mut notes = g.notes;
    let untested: Vec<&str> = manifest
        .exercises
        .iter()
        .filter(|ex| opts.chapters.as_ref().is_none_or(|c| c.contains(&ex.chapter)))
        .filter(|ex| !assigned.graded.iter().any(|g| g.exercise.id == ex.id))
        .map(|ex| ex.id.as_str())
        .collect();
    if !untested.is_empty() {
        notes.push(format!("Exercises without tests (not counted): {}", untested.join(", ")));
    }
    if !assigned.ungraded.is_empty() {
        notes.push(format!("Not graded: {}", assigned.ungraded.join(", ")));
    }
    let notes = notes.join("\n\n");
    let summary = if notes.is_empty() { table.clone() } else { format!("{table}\n{notes}\n") };
    let results = grade::results(&assigned.graded, summary.clone(), start.elapsed().as_secs());
    println!("\n{summary}");
    grade::print_per_exercise(manifest, &assigned.graded);
    let max: f64 = assigned.graded.iter().map(|g| g.max_score).sum();
    println!("Score: {}/{}", grade::fmt_points(results.score), grade::fmt_points(max));
    write_reports(
        &opts.out,
        &results,
        &grade::junit(manifest, &assigned.graded),
        &grade::summary_md(&rows, &notes),
    )?;
    println!(
        "Graded in {:.0} s (building {:.0} s, running the tests {:.0} s)",
        start.elapsed().as_secs_f64(),
        g.build_secs,
        g.test_secs
    );
    Ok(0)
}

fn write_reports(out: &Path, results: &grade::Results, junit: &str, summary: &str) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let json = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    for (name, text) in
        [("results.json", json + "\n"), ("junit.xml", junit.to_string()), ("summary.md", summary.to_string())]
    {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!("Wrote {}/{{results.json,junit.xml,summary.md}}", out.display());
    Ok(())
}

/// The grader could not grade (nothing compiles, the course is broken, tampering): score 0.
fn write_failed(out: &Path, msg: String, start: Instant) -> Result<i32, String> {
    println!("\n{msg}");
    let results = grade::failed_results(msg.clone(), start.elapsed().as_secs());
    let junit = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"cargo course grade\" tests=\"0\" failures=\"0\">\n</testsuites>\n";
    write_reports(
        out,
        &results,
        junit,
        &format!("## Grade\n\nScore 0.\n\n```text\n{}\n```\n", msg.trim_end()),
    )?;
    Ok(2)
}

/// `expected.toml` of a red-team case.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    /// Exercises that must score 0.
    #[serde(default)]
    zero: Vec<String>,
    /// Exercises that must score their full points.
    #[serde(default)]
    full: Vec<String>,
    /// Exercises that must score less than their full points.
    #[serde(default)]
    not_full: Vec<String>,
    /// Texts the report's output must contain.
    #[serde(default)]
    output_contains: Vec<String>,
    /// The chapters the case is graded on (default: `[grading] red_team_chapters`).
    #[serde(default)]
    chapters: Vec<String>,
    /// `--build-timeout` for the case.
    build_timeout: Option<u64>,
    /// `--timeout` for the case (default 10: the red team's tests are quick).
    timeout: Option<u64>,
    /// The longest the grading may take, in seconds.
    max_seconds: Option<f64>,
    /// Grade again and stop that grading with SIGTERM after this many seconds: no test
    /// process may outlive it.
    stop_after: Option<u64>,
}

/// Runs `cargo course grade <args>` (this binary) and reads the results.json it wrote.
fn grade_child(args: &[&str], out: &Path) -> Result<serde_json::Value, String> {
    // /proc/self/exe runs this very binary even after a rebuild replaced the file.
    let exe = match Path::new("/proc/self/exe") {
        p if p.exists() => p.to_path_buf(),
        _ => std::env::current_exe().map_err(|e| e.to_string())?,
    };
    let _ = std::fs::remove_dir_all(out);
    let output = Command::new(exe)
        .arg("grade")
        .args(args)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the grader: {e}"))?;
    let text =
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(format!(
            "`cargo course grade {}` exited with {}:\n{}",
            args.join(" "),
            output.status,
            tail.join("\n")
        ));
    }
    let json =
        std::fs::read_to_string(out.join("results.json")).map_err(|e| format!("no results.json: {e}"))?;
    serde_json::from_str(&json).map_err(|e| format!("results.json: {e}"))
}

/// Starts `cargo course grade <args>`, stops it with SIGTERM after `after` seconds, and
/// checks that it exits soon and that none of its test processes (the sandbox users' or the
/// grading workspaces' test binaries) is left running.
fn stop_leaves_nothing(args: &[&str], out: &Path, after: u64) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("grade")
        .args(args)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run the grader: {e}"))?;
    std::thread::sleep(Duration::from_secs(after));
    #[cfg(unix)]
    // SAFETY: a plain system call.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!("the grader stopped with SIGTERM after {after} s did not exit within 15 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let left = test_processes();
    if !left.is_empty() {
        for &pid in &left {
            #[cfg(unix)]
            // SAFETY: a plain system call.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        return Err(format!("the grader stopped with SIGTERM left test processes running: pids {left:?}"));
    }
    Ok(())
}

/// Running processes that are graded tests: of a sandbox user, or a test binary (`visible-*`,
/// `grading-*`) of a grading workspace.
fn test_processes() -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return out };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let status = std::fs::read_to_string(p.path().join("status")).unwrap_or_default();
        // A zombie is dead: it waits only for its parent, or for init, to reap it.
        let state = status.lines().find_map(|l| l.strip_prefix("State:")).map(str::trim).unwrap_or_default();
        if state.starts_with('Z') || state.starts_with('X') {
            continue;
        }
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        let exe = std::fs::read_link(p.path().join("exe")).unwrap_or_default();
        let name = exe.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let test_binary = (name.starts_with("visible-") || name.starts_with("grading-"))
            && exe.to_string_lossy().contains("/deps/");
        if uid.is_some_and(|u| (BASE_UID..BASE_UID + 1024).contains(&u)) || test_binary {
            out.push(pid);
        }
    }
    out
}

/// Points per exercise of a results.json: (score, max).
fn per_exercise(results: &serde_json::Value) -> BTreeMap<String, (f64, f64)> {
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for t in results["tests"].as_array().into_iter().flatten() {
        let name = t["name"].as_str().unwrap_or_default();
        let Some(ex) = name.split("::").nth(1) else { continue };
        let e = out.entry(ex.to_string()).or_default();
        e.0 += t["score"].as_f64().unwrap_or(0.0);
        e.1 += t["max_score"].as_f64().unwrap_or(0.0);
    }
    out
}

/// results.json without its timing field: what must be identical between gradings.
fn without_time(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("execution_time");
    }
    v
}

/// Where verify writes the red-team cases (copies of the solutions with cheats in them):
/// hidden from the tests like the solutions themselves.
fn red_team_cases_dir(root: &Path) -> PathBuf {
    target_dir(root).join("course/redteam-cases")
}

/// `cargo course verify`'s red-team step: every case of `course/redteam`, graded on
/// `chapters`, earns what its `expected.toml` says, and a grading repeated gives the same
/// results. (The reference's full marks and the stubs' zero are verify's own steps.)
/// Problems go to `f`.
pub fn red_team(root: &Path, manifest: &Manifest, chapters: &[String], f: &mut Vec<String>) {
    // Per process: two verify runs at once must not read each other's reports.
    let out_root = target_dir(root).join(format!("course/redteam-out/{}", std::process::id()));
    let score = |v: &serde_json::Value| v["score"].as_f64().unwrap_or(-1.0);
    // The cases are made from the current solutions, so they never drift from them.
    let cases_dir = red_team_cases_dir(root);
    let _ = std::fs::remove_dir_all(&cases_dir);
    match Command::new("python3").arg(root.join("course/redteam/make.py")).arg(&cases_dir).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => f.push(format!(
            "course/redteam/make.py failed:\n{}",
            String::from_utf8_lossy(&o.stderr).trim_end()
        )),
        Err(e) => f.push(format!("cannot run python3 course/redteam/make.py (is python3 installed?): {e}")),
    }
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.join("expected.toml").is_file()).collect())
        .unwrap_or_default();
    cases.sort();
    if cases.is_empty() {
        f.push("course/redteam/make.py wrote no cases (directories with expected.toml)".into());
    }
    for case in &cases {
        let name = case.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let expected: Expected = match std::fs::read_to_string(case.join("expected.toml"))
            .map_err(|e| e.to_string())
            .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(e) => e,
            Err(e) => {
                f.push(format!("{name}/expected.toml: {e}"));
                continue;
            }
        };
        let case_arg = case.to_string_lossy().into_owned();
        let graded = if expected.chapters.is_empty() { chapters } else { &expected.chapters };
        let total: f64 =
            manifest.exercises.iter().filter(|e| graded.contains(&e.chapter)).map(|e| e.points).sum();
        let chapter_arg = graded.join(",");
        let build_arg = expected.build_timeout.map(|b| b.to_string());
        let timeout_arg = expected.timeout.unwrap_or(10).to_string();
        let mut args = vec!["--submission", &case_arg, "--timeout", &timeout_arg, "--chapters", &chapter_arg];
        if let Some(b) = &build_arg {
            args.extend(["--build-timeout", b]);
        }
        let started = Instant::now();
        let v = match grade_child(&args, &out_root.join(&name)) {
            Ok(v) => v,
            Err(e) => {
                f.push(format!("red team {name}: the grader failed: {e}"));
                continue;
            }
        };
        let secs = started.elapsed().as_secs_f64();
        let got = per_exercise(&v);
        let mut problems = Vec::new();
        for ex in &expected.zero {
            match got.get(ex) {
                Some((s, _)) if *s == 0.0 => {}
                Some((s, m)) => problems.push(format!(
                    "{ex} earned {}/{} (the cheat must earn 0)",
                    grade::fmt_points(*s),
                    grade::fmt_points(*m)
                )),
                None => problems.push(format!("{ex}: no tests in the report")),
            }
        }
        for ex in &expected.full {
            match got.get(ex) {
                Some((s, m)) if (s - m).abs() < 1e-6 && *m > 0.0 => {}
                Some((s, m)) => problems.push(format!(
                    "{ex} earned {}/{} (honest code must earn full points)",
                    grade::fmt_points(*s),
                    grade::fmt_points(*m)
                )),
                None => problems.push(format!("{ex}: no tests in the report")),
            }
        }
        for ex in &expected.not_full {
            match got.get(ex) {
                Some((s, m)) if s < m => {}
                Some((s, m)) => problems.push(format!(
                    "{ex} earned {}/{} (the cheat must not earn full points)",
                    grade::fmt_points(*s),
                    grade::fmt_points(*m)
                )),
                None => problems.push(format!("{ex}: no tests in the report")),
            }
        }
        if let Some(max) = expected.max_seconds {
            if secs > max {
                problems.push(format!("the grading took {secs:.0} s, more than the {max:.0} s it may"));
            }
        }
        if let Some(after) = expected.stop_after {
            if let Err(e) = stop_leaves_nothing(&args, &out_root.join(format!("{name}-stopped")), after) {
                problems.push(e);
            }
        }
        let output = v["output"].as_str().unwrap_or_default();
        for want in &expected.output_contains {
            if !output.contains(want.as_str()) {
                problems.push(format!("the report does not mention `{want}`"));
            }
        }
        if problems.is_empty() {
            say!(
                "      red team {name:<12} {:>5}/{total}: {} exercises at 0, {} at full points, as expected ({secs:.0} s{})",
                grade::fmt_points(score(&v)),
                expected.zero.len() + expected.not_full.len(),
                expected.full.len(),
                if expected.stop_after.is_some() { "; stopped with SIGTERM: no test process left" } else { "" }
            );
        } else {
            f.push(format!("red team {name}:\n  {}", problems.join("\n  ")));
        }
        // Reproducible: grading the same submission again (no rebuild) gives the same
        // reports but for the timing.
        if name == "forgery" {
            let files = |dir: &Path| {
                ["junit.xml", "summary.md"].map(|n| std::fs::read_to_string(dir.join(n)).unwrap_or_default())
            };
            let first_dir = out_root.join(&name);
            let same = (2..=3).all(|i| {
                let dir = out_root.join(format!("{name}-{i}"));
                match grade_child(&args, &dir) {
                    Err(e) => {
                        f.push(format!("grading red team {name} again: {e}"));
                        false
                    }
                    Ok(again)
                        if without_time(again.clone()) != without_time(v.clone())
                            || files(&dir) != files(&first_dir) =>
                    {
                        f.push(format!(
                            "grading red team {name} again gave different reports: compare {} and {}",
                            first_dir.display(),
                            dir.display()
                        ));
                        false
                    }
                    Ok(_) => true,
                }
            });
            if same {
                say!("      red team {name} graded 3 times: identical results.json (but execution_time), junit.xml, summary.md");
            }
        }
    }
    if f.is_empty() {
        let _ = std::fs::remove_dir_all(&out_root); // kept when something failed, for a look
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_main_keeps_the_chosen_chapters() {
        let m = crate::manifest::two_chapter_sample();
        let main = "//! Tests.\n\nextern crate solutions as subject;\n\n#[path = \"a/ch01.rs\"]\nmod ch01;\n#[path = \"a/ch02.rs\"]\nmod ch02;\nmod support;\n";
        assert_eq!(test_main(main, &m, None), main);
        let only2 = test_main(main, &m, Some(&["ch02".to_string()]));
        assert_eq!(only2, "#![allow(dead_code)] // written by the grader: some chapters are left out\n//! Tests.\n\nextern crate solutions as subject;\n\n#[path = \"a/ch02.rs\"]\nmod ch02;\nmod support;\n");
        let none = test_main(main, &m, Some(&[]));
        assert!(
            !none.contains("mod ch0") && !none.contains("#[path") && none.contains("mod support;"),
            "{none}"
        );
    }

    #[test]
    fn proofs_and_forged_lines_are_not_shown() {
        let out = "running 1 test\ndlcv-grading-proof:0123\ntest ch01::a::b ... ok\nhello\n\ntest result: ok. 1 passed";
        assert_eq!(clean(out, "ch01::a::b"), "hello");
        let panic = "thread 'ch01::a::b' (23241) panicked at x.rs:1:5:\nboom";
        assert_eq!(clean(panic, "ch01::a::b"), "thread 'ch01::a::b' panicked at x.rs:1:5:\nboom");
    }

    #[test]
    fn a_test_passes_only_with_its_proof() {
        let bin = Binary { krate: "grading".into(), exe: PathBuf::new(), dir: PathBuf::new(), hidden: true };
        let proof = course::proof::proof_line("tok", "grading::ch01::top_k_error");
        let run = |success, output: String| Run {
            success,
            duration: Duration::from_millis(5),
            timed_out: false,
            signal: None,
            output,
        };
        let t = Duration::from_secs(1);
        let name = "ch01::top_k_error::ties";
        assert_eq!(judge(&bin, name, "tok", &run(true, format!("x\n{proof}\n")), t).0, Outcome::Passed);
        assert_eq!(judge(&bin, name, "other", &run(true, format!("{proof}\n")), t).0, Outcome::Failed);
        assert_eq!(judge(&bin, name, "tok", &run(false, format!("{proof}\n")), t).0, Outcome::Failed);
        let (o, why) =
            judge(&bin, name, "tok", &run(true, "test ch01::top_k_error::ties ... ok\n".into()), t);
        assert_eq!(o, Outcome::Failed);
        assert!(why.contains("no proof"), "{why}");
    }
}
