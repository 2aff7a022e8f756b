//! `cargo course verify`'s red-team step: the cases of `course/redteam`, graded as
//! submissions, earn what their `expected.toml` says.

use super::*;

/// `expected.toml` of a red-team case.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Expected {
    /// Exercises that must score 0.
    #[serde(default)]
    pub(super) zero: Vec<String>,
    /// Exercises that must score their full points.
    #[serde(default)]
    pub(super) full: Vec<String>,
    /// Exercises that must score less than their full points.
    #[serde(default)]
    pub(super) not_full: Vec<String>,
    /// Texts the report's output must contain.
    #[serde(default)]
    pub(super) output_contains: Vec<String>,
    /// The chapters the case is graded on (default: `[grading] red_team_chapters`).
    #[serde(default)]
    pub(super) chapters: Vec<String>,
    /// `--build-timeout` for the case.
    pub(super) build_timeout: Option<u64>,
    /// `--timeout` for the case (default 10: the red team's tests are quick).
    pub(super) timeout: Option<u64>,
    /// The longest the grading may take, in seconds.
    pub(super) max_seconds: Option<f64>,
    /// Grade again and stop that grading with SIGTERM after this many seconds: no test
    /// process may outlive it.
    pub(super) stop_after: Option<u64>,
    /// `false`: graded without any isolation (`--unsafe-no-isolation`, no user switch, no
    /// namespace), to show what holds without it.
    #[serde(default = "yes")]
    pub(super) isolation: bool,
}

fn yes() -> bool {
    true
}

/// Runs `cargo course grade <args>` (this binary) and reads the results.json it wrote.
pub(super) fn grade_child(args: &[&str], out: &Path, isolation: bool) -> Result<serde_json::Value, String> {
    // /proc/self/exe runs this very binary even after a rebuild replaced the file.
    let exe = match Path::new("/proc/self/exe") {
        p if p.exists() => p.to_path_buf(),
        _ => std::env::current_exe().map_err(|e| e.to_string())?,
    };
    let _ = std::fs::remove_dir_all(out);
    let mut cmd = Command::new(exe);
    cmd.arg("grade").args(args).arg("--out").arg(out).stdin(Stdio::null());
    if !isolation {
        cmd.arg("--unsafe-no-isolation").env(NO_SANDBOX_ENV, "1");
    }
    let output = cmd.output().map_err(|e| format!("cannot run the grader: {e}"))?;
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
pub(super) fn stop_leaves_nothing(args: &[&str], out: &Path, after: u64) -> Result<(), String> {
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

/// Running processes that are graded tests: of a sandbox user, or a test binary of a grading
/// (`visible-*`, `grading-*` as built, `visible` and `grading` as run by [`run_copies`]).
pub(super) fn test_processes() -> Vec<i32> {
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
        let path = exe.to_string_lossy();
        let test_binary = ((name.starts_with("visible-") || name.starts_with("grading-"))
            && path.contains("/deps/"))
            || ((name == "visible" || name == "grading") && path.contains("/course/grading/"));
        if uid.is_some_and(|u| (BASE_UID..BASE_UID + 1024).contains(&u)) || test_binary {
            out.push(pid);
        }
    }
    out
}

/// Points per exercise of a results.json: (score, max).
pub(super) fn per_exercise(results: &serde_json::Value) -> BTreeMap<String, (f64, f64)> {
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
pub(super) fn without_time(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("execution_time");
    }
    v
}

/// Where verify writes the red-team cases (copies of the solutions with cheats in them):
/// hidden from the tests like the solutions themselves.
pub(super) fn red_team_cases_dir(root: &Path) -> PathBuf {
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
        let v = match grade_child(&args, &out_root.join(&name), expected.isolation) {
            Ok(v) => v,
            Err(e) => {
                f.push(format!("red team {name}: the grader failed: {e}"));
                continue;
            }
        };
        let secs = started.elapsed().as_secs_f64();
        let got = per_exercise(&v);
        let mut problems = Vec::new();
        // (the exercises, whether (score, max) is as expected, what the cheat or honest code must earn)
        type Rule = fn(f64, f64) -> bool;
        let checks: [(&[String], Rule, &str); 3] = [
            (&expected.zero, |s, _| s == 0.0, "the cheat must earn 0"),
            (&expected.full, |s, m| (s - m).abs() < 1e-6 && m > 0.0, "honest code must earn full points"),
            (&expected.not_full, |s, m| s < m, "the cheat must not earn full points"),
        ];
        for (exercises, ok, must) in checks {
            for ex in exercises {
                match got.get(ex) {
                    Some(&(s, m)) if ok(s, m) => {}
                    Some(&(s, m)) => problems.push(format!(
                        "{ex} earned {}/{} ({must})",
                        grade::fmt_points(s),
                        grade::fmt_points(m)
                    )),
                    None => problems.push(format!("{ex}: no tests in the report")),
                }
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
                match grade_child(&args, &dir, true) {
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
