//! Building the test binaries of a grading workspace, each cargo command within its limits,
//! and listing their tests.

use super::*;

/// The limits of one cargo command of the grader: wall clock and address space per process.
pub(super) type BuildLimits = (Duration, u64);

/// A built test binary.
pub(super) struct Binary {
    /// The test crate's name: `visible` or `grading` (the first segment of a test's module path).
    pub(super) krate: String,
    pub(super) exe: PathBuf,
    /// The package directory: the test's working directory.
    pub(super) dir: PathBuf,
    pub(super) hidden: bool,
}

pub(super) enum Build {
    Ok(Vec<Binary>),
    Failed(String),
}

/// Why a build was stopped at its limit.
pub(super) fn build_timed_out(limits: BuildLimits) -> String {
    format!(
        "the build took longer than the grader's limit of {} s ([grading] build_timeout_s): code that keeps the compiler busy (a constant that never finishes evaluating, a macro that expands without end) scores 0",
        limits.0.as_secs()
    )
}

pub(super) fn build(ws: &Path, hidden: bool, limits: BuildLimits) -> Result<Build, String> {
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

/// The test binaries as the tests run them: copies in `home/bin`, outside the target dir's
/// profile folders (which hold the reference solutions' compiled tests and libraries, and are
/// hidden from the tests). Run as other users, they are execute-only: a test process cannot
/// read its own binary (the compiled hidden tests).
pub(super) fn run_copies(home: &Path, bins: Vec<Binary>, execute_only: bool) -> Result<Vec<Binary>, String> {
    let dir = home.join("bin");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    bins.into_iter()
        .map(|b| {
            let to = dir.join(&b.krate);
            std::fs::copy(&b.exe, &to).map_err(|e| format!("cannot copy {}: {e}", b.exe.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = if execute_only { 0o711 } else { 0o755 };
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| format!("cannot set the mode of {}: {e}", to.display()))?;
            }
            #[cfg(not(unix))]
            let _ = execute_only;
            Ok(Binary { exe: to, ..b })
        })
        .collect()
}

/// `cargo check -p exercises --lib`: the compiler's errors when the library does not compile.
pub(super) fn check_lib(ws: &Path, limits: BuildLimits) -> Result<Result<(), String>, String> {
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

/// The tests a binary lists (`--list`), without the ignored ones.
pub(super) fn list(bin: &Binary) -> Result<Vec<String>, String> {
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

/// Builds the test binaries with the learner's chapters; when that fails, finds the chapters
/// that break it (each alone, the others stubbed: first `cargo check` of the library, then
/// full builds), marks them [`Origin::Broken`] with the compiler's errors and builds without
/// them. `Ok(Err(why))`: nothing builds.
pub(super) fn build_learner_chapters(
    ws: &Path,
    chapters: &mut [Chapter],
    has_hidden: bool,
    limits: BuildLimits,
) -> Result<Result<Vec<Binary>, String>, String> {
    Ok(Ok(match build(ws, has_hidden, limits)? {
        Build::Ok(b) => b,
        Build::Failed(all_errors) => {
            let learner: Vec<usize> =
                (0..chapters.len()).filter(|&i| chapters[i].origin == Origin::Learner).collect();
            // First the cheap check: does each chapter's library code compile alone?
            for &i in &learner {
                say!("  the build failed: checking {} alone (cargo check)", chapters[i].id);
                let id = chapters[i].id.clone();
                write_chapters(ws, chapters, &|c| c.id == id)?;
                if let Err(e) = check_lib(ws, limits)? {
                    chapters[i].origin = Origin::Broken(e);
                }
            }
            write_chapters(ws, chapters, &|c| c.origin == Origin::Learner)?;
            let mut result = build(ws, has_hidden, limits)?;
            if matches!(result, Build::Failed(_)) {
                // The library compiles but the tests do not (a changed signature): full builds.
                for &i in &learner {
                    if chapters[i].origin != Origin::Learner {
                        continue;
                    }
                    say!("  the tests do not build: trying {} alone", chapters[i].id);
                    let id = chapters[i].id.clone();
                    write_chapters(ws, chapters, &|c| c.id == id)?;
                    if let Build::Failed(e) = build(ws, has_hidden, limits)? {
                        chapters[i].origin = Origin::Broken(e);
                    }
                }
                write_chapters(ws, chapters, &|c| c.origin == Origin::Learner)?;
                result = build(ws, has_hidden, limits)?;
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
    }))
}
