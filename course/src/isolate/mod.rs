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
//! 3. Every test runs in its own process ([`sandbox`]): `<bin> --exact <name>`, a pipe for
//!    its transcript, a wall-clock limit (from the reference times where known; the whole
//!    process group is killed), an address-space and a file-size limit, and, when the grader
//!    runs as root on Linux, as an unprivileged user in a private mount namespace where this
//!    checkout's hidden tests, solutions, snapshots, git objects and /proc are hidden and /tmp
//!    is its own. The grader's processes are registered with [`crate::reaper`]: a stopped
//!    grader ends them.
//! 4. The verdict is decided here ([`judge()`]), never in the test process: a test passes when
//!    it exited with status 0, its transcript ([`course::transcript`]) records its end, every
//!    check in it holds, and it agrees, check by check, with the transcript the reference
//!    solutions wrote for the same test on this course version ([`reference`]): every value
//!    the learner's code produced within the reference's tolerance of the reference's
//!    expected value. A submission is graded after the reference, which is graded first
//!    where its transcripts are missing.
//! 5. The grading workspace's tests, snapshots and test binaries are hashed before and after
//!    the run: any change zeroes the grade.

use crate::grade;
use crate::libtest::{self, Kind, Outcome, Report, TestResult};
use crate::manifest::Manifest;
use crate::progress::say;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod build;
mod judge;
mod redteam;
mod reference;
mod runner;
mod sandbox;
mod submission;
mod workspace;

use build::*;
use judge::*;
use redteam::*;
use reference::*;
use runner::*;
use sandbox::*;
use submission::*;
use workspace::*;

pub use redteam::red_team;
pub(crate) use submission::{course_test_names, MAX_CHAPTER_BYTES};
pub use workspace::{target_dir, test_main};
/// What `cargo course grade` grades and how.
#[derive(Clone)]
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
        let bare = Sandbox {
            timeout,
            memory_bytes,
            switch_user: false,
            mask: false,
            hide: Vec::new(),
            keep: Vec::new(),
        };
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
    let key = course_key(root);
    if opts.submission.is_some() {
        record_reference_first(root, manifest, opts, &key)?;
    }
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
    // One grading at a time uses the workspace: another one waits for the lock.
    let _lock = set_up_workspace(root, manifest, &home, &chapters, only)?;

    // Build; on failure find the chapters that break it.
    let build_start = Instant::now();
    libtest::share_target(root, &home, &target, copy)?;
    say!("  building the test binaries (cargo test --no-run)");
    let building = crate::progress::begin("building the test binaries");
    write_chapters(&ws, &chapters, &|c| c.origin == Origin::Learner)?;
    let mut bins = match build_learner_chapters(&ws, &mut chapters, has_hidden, limits)? {
        Ok(bins) => bins,
        Err(why) => return Ok(Err(why)),
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
            .chain([reference_dir(&target), target.join("debug"), target.join("release")])
            .chain(SNAPSHOT_DIRS.iter().map(|d| ws.join(d)))
            .chain(
                grading_workspaces(&target).into_iter().filter(|w| w != &ws).map(|w| w.join("solutions/src")),
            )
            .filter(|p| p.is_dir())
            .collect(),
        keep: folders_under_tmp(&[root.to_path_buf(), target.clone()]),
    };
    let (switch_user, mask) = probe_privileges(&sandbox0);
    let sandbox = Sandbox { switch_user, mask, ..sandbox0 };
    let bins = run_copies(&home, bins, switch_user)?;
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
    let reference = read_reference(&target, &key);
    let judge_by = Judge::load(root, if opts.reference { BTreeMap::new() } else { reference.records() });
    let reference_times = reference.seconds;
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
    let ran = run_tests(jobs, &bins, &sandbox, workers, &limit_of, total_limit, &judge_by)?;
    let test_secs = test_start.elapsed().as_secs_f64();
    for (b, r) in ran.results {
        reports[b].push(r);
    }
    for r in &mut reports {
        r.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if opts.reference {
        let passed = reports.iter().flatten().filter(|t| t.outcome == Outcome::Passed);
        let times = passed.filter_map(|t| Some((t.name.clone(), t.duration?.as_secs_f64())));
        let graded = chapters.iter().map(|c| c.id.clone()).filter(|id| graded_chapter(id));
        write_reference(&target, &key, graded, times, ran.transcripts)?;
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
    let budgets = ran.budgets;
    Ok(Ok(Grading { visible, hidden, has_hidden, notes, budgets, build_secs, test_secs }))
}

/// Grades the reference solutions of those chapters to be graded that have no reference
/// transcripts on this course version yet: the submission's transcripts are judged against them.
fn record_reference_first(root: &Path, manifest: &Manifest, opts: &Options, key: &str) -> Result<(), String> {
    let recorded = read_reference(&target_dir(root), key).chapters;
    let missing: Vec<String> = manifest
        .chapters
        .iter()
        .filter(|c| c.module.is_some() && !recorded.contains(&c.id))
        .map(|c| c.id.clone())
        .filter(|id| opts.chapters.as_ref().is_none_or(|only| only.contains(id)))
        .collect();
    if missing.is_empty() || !root.join("solutions/src").is_dir() {
        return Ok(());
    }
    say!(
        "First the reference solutions of {} (their transcripts are what a submission is judged against):",
        missing.join(", ")
    );
    let reference = Options { reference: true, submission: None, chapters: Some(missing), ..opts.clone() };
    match run(root, manifest, &reference)? {
        Ok(_) => Ok(()),
        Err(why) => Err(format!("the reference solutions could not be graded: {why}")),
    }
}

/// Those of `paths` that lie under /tmp (which each test gets a private one of), without
/// those inside another.
fn folders_under_tmp(paths: &[PathBuf]) -> Vec<PathBuf> {
    let under: Vec<&PathBuf> =
        paths.iter().filter(|p| p.starts_with("/tmp") && p.as_path() != Path::new("/tmp")).collect();
    let mut keep: Vec<PathBuf> = Vec::new();
    for p in &under {
        if !under.iter().any(|q| q != p && p.starts_with(q)) && !keep.contains(p) {
            keep.push(p.to_path_buf());
        }
    }
    keep
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

#[cfg(test)]
mod tests {
    use super::*;
    use course::transcript::Record;

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
    fn only_the_outermost_folders_under_tmp_are_kept() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(folders_under_tmp(&[p("/tmp/ci/repo"), p("/tmp/ci/repo/target")]), [p("/tmp/ci/repo")]);
        assert_eq!(folders_under_tmp(&[p("/work/repo"), p("/tmp/t")]), [p("/tmp/t")]);
        assert!(folders_under_tmp(&[p("/work/repo"), p("/work/repo/target"), p("/tmpx/a")]).is_empty());
    }

    #[test]
    fn forged_result_lines_are_not_shown() {
        let out = "running 1 test\ntest ch01::a::b ... ok\nhello\n\ntest result: ok. 1 passed";
        assert_eq!(clean(out, "ch01::a::b"), "hello");
        let panic = "thread 'ch01::a::b' (23241) panicked at x.rs:1:5:\nboom";
        assert_eq!(clean(panic, "ch01::a::b"), "thread 'ch01::a::b' panicked at x.rs:1:5:\nboom");
    }

    fn close(got: f64, want: f64, own: bool) -> Record {
        Record::Close { context: "c".into(), got: vec![got], want: vec![want], abs: 1e-6, rel: 0.0, own }
    }

    fn transcript(records: &[Record]) -> String {
        records.iter().map(|r| r.to_line() + "\n").collect()
    }

    /// Judges a run that exited with `success` and wrote `records`, against `reference`.
    fn verdict(success: bool, records: &[Record], reference: Option<&[Record]>) -> (Outcome, String) {
        let bin = Binary { krate: "grading".into(), exe: PathBuf::new(), dir: PathBuf::new(), hidden: true };
        let name = "ch01::top_k_error::ties";
        let mut by = Judge::default();
        by.reviewed.insert("grading__ch01__x".into(), "0.5 0.25".into());
        if let Some(r) = reference {
            by.reference.insert(transcript_key(&bin, name), r.to_vec());
        }
        let run = Run {
            success,
            duration: Duration::ZERO,
            timed_out: false,
            signal: None,
            output: "test ch01::top_k_error::ties ... ok\n".into(),
            transcript: transcript(records),
        };
        judge(&bin, name, &run, Duration::from_secs(1), &by)
    }

    #[test]
    fn a_test_passes_only_with_its_end_recorded_and_its_checks_holding() {
        use Record::End;
        assert_eq!(verdict(true, &[close(1.0, 1.0, false), End], None).0, Outcome::Passed);
        let (o, why) = verdict(true, &[close(1.0, 1.0, false)], None);
        assert_eq!(o, Outcome::Failed);
        assert!(why.contains("did not record its end"), "{why}");
        assert_eq!(verdict(false, &[close(1.0, 1.0, false), End], None).0, Outcome::Failed);
        assert_eq!(verdict(true, &[End, close(1.0, 1.0, false), End], None).0, Outcome::Failed);
        // A check that does not hold fails even when the process says it passed.
        let (o, why) = verdict(true, &[close(1.0, 2.0, false), End], None);
        assert_eq!(o, Outcome::Failed);
        assert!(why.contains("got 1, expected 2"), "{why}");
        assert_eq!(
            verdict(true, &[Record::Holds { context: "x".into(), holds: false }, End], None).0,
            Outcome::Failed
        );
        let (o, why) = verdict(true, &[], None);
        assert_eq!(o, Outcome::Failed);
        assert!(why.contains("did not record its end"), "{why}");
    }

    #[test]
    fn values_are_judged_against_the_reference_run() {
        use Record::End;
        let reference = [close(2.0, 2.0, false), close(5.0, 5.0, true)];
        let with = |records: &[Record]| verdict(true, records, Some(&reference));
        assert_eq!(with(&[close(2.0, 2.0, false), close(7.0, 7.0, true), End]).0, Outcome::Passed);
        // The learner's own expected value is ignored where the test fixes it.
        let (o, why) = with(&[close(3.0, 3.0, false), close(5.0, 5.0, true), End]);
        assert_eq!(o, Outcome::Failed);
        assert!(why.contains("got 3, expected 2 (tolerance: abs 1e-6 + rel 0e0) (the expected values of the reference run)"), "{why}");
        let (o, why) = with(&[close(2.0, 2.0, false), End]);
        assert_eq!(o, Outcome::Failed);
        assert!(why.contains("made 1 check where the reference solutions make 2 checks"), "{why}");
        let (o, why) =
            with(&[close(2.0, 2.0, false), Record::Holds { context: "h".into(), holds: true }, End]);
        assert_eq!(o, Outcome::Failed);
        assert!(
            why.contains("check 2 is the check \"h\" where the reference solutions make the comparison"),
            "{why}"
        );
        // The reference's tolerance counts, not the one the learner's run declared.
        let wide = Record::Close {
            context: "c".into(),
            got: vec![2.5],
            want: vec![2.5],
            abs: 1.0,
            rel: 0.0,
            own: false,
        };
        assert_eq!(with(&[wide, close(5.0, 5.0, true), End]).0, Outcome::Failed);
        let eq =
            |got: &str, own| Record::Equal { context: "e".into(), got: got.into(), want: got.into(), own };
        let reference = [eq("[1.0, -0.0]", false)];
        assert_eq!(verdict(true, &[eq("[1.0, 0.0]", false), End], Some(&reference)).0, Outcome::Passed);
        assert_eq!(verdict(true, &[eq("[1.0, 0.5]", false), End], Some(&reference)).0, Outcome::Failed);
        assert_eq!(verdict(true, &[eq("[1.0, 0.5]", true), End], Some(&reference)).0, Outcome::Failed);
    }

    #[test]
    fn snapshots_are_judged_here() {
        use Record::End;
        let snap = |stem: &str, text: &str| Record::Snapshot { stem: stem.into(), text: text.into() };
        let reference = [snap("grading__ch01__x", "0.5 0.25")];
        let with = |records: &[Record]| verdict(true, records, Some(&reference));
        assert_eq!(with(&[snap("grading__ch01__x", "0.5 0.25"), End]).0, Outcome::Passed);
        assert_eq!(with(&[snap("grading__ch01__x", "0.5 0.25\n"), End]).0, Outcome::Passed);
        let (o, why) = with(&[snap("grading__ch01__x", "0.5 0.26"), End]);
        assert_eq!(o, Outcome::Failed);
        assert!(why.contains("differs"), "{why}");
        let (o, why) = with(&[End]);
        assert_eq!(o, Outcome::Failed);
        assert!(why.contains("made 0 checks where the reference solutions make 1 check"), "{why}");
        let (o, why) = with(&[snap("grading__other", "y"), End]);
        assert_eq!(o, Outcome::Failed);
        assert!(why.contains("not one of the course's"), "{why}");
    }

    #[test]
    fn a_damaged_transcript_fails() {
        let bin = Binary { krate: "grading".into(), exe: PathBuf::new(), dir: PathBuf::new(), hidden: true };
        let run = Run {
            success: true,
            duration: Duration::ZERO,
            timed_out: false,
            signal: None,
            output: String::new(),
            transcript: "end\nforged\n".into(),
        };
        let (o, why) = judge(&bin, "ch01::a::b", &run, Duration::from_secs(1), &Judge::default());
        assert_eq!(o, Outcome::Failed);
        assert!(why.contains("damaged"), "{why}");
    }
}
