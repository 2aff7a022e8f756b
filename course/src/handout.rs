//! `cargo course handout`: the learner's repository, and `cargo course classroom`: its GitHub
//! Classroom autograding configuration.
//!
//! The handout is this repository without what only instructors may see or need: no hidden
//! tests (`tests/`), no snapshots, no benches, no CI, no solutions (unless asked for), and a
//! root `Cargo.toml` that is a plain workspace of the crates it keeps.

use crate::manifest::Manifest;
use crate::progress::say;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the handout copies from the instructor repository, relative to the root.
pub const COPIED: &[&str] = &[
    "book",
    "book.toml",
    "exercises",
    "datasets",
    "courselib",
    "course",
    "course.toml",
    "LICENSE-MIT",
    "LICENSE-APACHE",
    "rust-toolchain.toml",
    "rustfmt.toml",
    ".cargo/config.toml",
    ".gitignore",
    "Cargo.lock",
];

/// Never copied (relative to the root): instructor material of the course tool, the grader's
/// red-team submissions, the GPU check (it builds the hidden tests) and the mutation tests'
/// list of equivalent mutants.
const NEVER: &[&str] = &["course/redteam", "course/gpu", "course/mutants-equivalent.toml"];

/// Files and folders skipped anywhere: build output, version control, unreviewed snapshots.
fn skipped(name: &str) -> bool {
    matches!(name, "target" | ".git" | "grading-out")
        || name.ends_with(".snap.new")
        || name.ends_with(".pending-snap")
}

/// Copies `from` (a file or a folder) to `to`, skipping build output and `never` (paths
/// relative to `base`). Returns the number of files copied.
pub fn copy_tree(base: &Path, from: &Path, to: &Path, never: &[&str]) -> Result<usize, String> {
    let rel = from.strip_prefix(base).unwrap_or(from);
    if never.iter().any(|n| rel == Path::new(n)) {
        return Ok(0);
    }
    let meta = std::fs::symlink_metadata(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    if meta.is_dir() {
        std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
        let mut entries: Vec<_> = std::fs::read_dir(from)
            .map_err(|e| format!("cannot read {}: {e}", from.display()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        let mut n = 0;
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if skipped(name) {
                continue;
            }
            n += copy_tree(base, &p, &to.join(name), never)?;
        }
        Ok(n)
    } else if meta.is_file() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::copy(from, to)
            .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
        Ok(1)
    } else {
        Ok(0) // symlinks and special files are not part of the course
    }
}

/// The root manifest of the handout: the instructor's root `Cargo.toml` without its root
/// package (hidden grading tests, benches, the `reference` feature), as a virtual workspace of
/// the crates the handout keeps. Edited as parsed TOML, so that every other setting of the
/// workspace (package defaults, dependency versions, profiles, patches) carries over.
pub fn handout_manifest(root_manifest: &str, with_solutions: bool) -> Result<String, String> {
    let mut doc: toml::Table =
        root_manifest.parse().map_err(|e| format!("cannot parse the root Cargo.toml: {e}"))?;
    // Only the workspace-wide tables stay; everything else belongs to the root package.
    doc.retain(|k, _| matches!(k, "workspace" | "profile" | "patch" | "replace" | "cargo-features"));
    let ws = doc
        .get_mut("workspace")
        .and_then(|w| w.as_table_mut())
        .ok_or("the root Cargo.toml has no [workspace]")?;
    // The members the handout copies (the solutions only when asked for).
    let copied = |member: &str| {
        let m = member.trim_end_matches('/');
        COPIED.iter().any(|c| m == *c || m.starts_with(&format!("{c}/")))
            || (with_solutions && m == "solutions")
    };
    let members = ws.get_mut("members").and_then(|m| m.as_array_mut()).ok_or("[workspace] has no members")?;
    members.retain(|m| m.as_str().is_some_and(copied));
    let kept: Vec<String> = members.iter().filter_map(|m| m.as_str().map(String::from)).collect();
    if let Some(d) = ws.get_mut("default-members").and_then(|m| m.as_array_mut()) {
        d.retain(|m| m.as_str().is_some_and(|m| kept.iter().any(|k| k == m)));
    }
    // Workspace dependencies on crates that are not in the handout would not resolve.
    if let Some(deps) = ws.get_mut("dependencies").and_then(|d| d.as_table_mut()) {
        deps.retain(|_, d| match d.get("path").and_then(|p| p.as_str()) {
            Some(p) => kept.iter().any(|k| k == p.trim_end_matches('/')),
            None => true,
        });
    }
    // [workspace] first, then the rest (each key on its own: the table itself is sorted).
    let mut body = String::new();
    for key in ["cargo-features", "workspace", "patch", "replace", "profile"] {
        if let Some(v) = doc.remove(key) {
            let one = toml::Table::from_iter([(key.to_string(), v)]);
            let text =
                toml::to_string(&one).map_err(|e| format!("cannot write the handout's Cargo.toml: {e}"))?;
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&text);
        }
    }
    Ok(format!(
        "# The course workspace. `cargo course` is the course tool; `cargo test --package exercises`\n\
         # runs the visible tests.\n\n{body}"
    ))
}

/// The learner-facing README (course/templates/handout-README.md) for this manifest.
pub fn handout_readme(manifest: &Manifest, with_solutions: bool) -> String {
    let mut chapters = String::new();
    for ch in manifest.chapters.iter().filter(|c| c.module.is_some()) {
        let n = manifest.exercises_of(&ch.id).count();
        let points: f64 = manifest.exercises_of(&ch.id).map(|e| e.points).sum();
        chapters.push_str(&format!(
            "| {} | {} | `exercises/src/{}.rs` | {n} | {} |\n",
            ch.number,
            ch.title,
            ch.module.as_deref().unwrap_or(""),
            fmt_points(points)
        ));
    }
    let solutions = if with_solutions {
        "This copy includes the reference solutions (`solutions/`): `cargo course diff ch01` compares\nyour file with them. Look only when you are done or truly stuck."
    } else {
        "The reference solutions are not included; your instructor grades your `exercises/src`."
    };
    include_str!("../templates/handout-README.md")
        .replace("{{TITLE}}", &manifest.course.title)
        .replace("{{CHAPTERS}}", chapters.trim_end())
        .replace("{{SOLUTIONS}}", solutions)
}

/// Refuses to write into the instructor repository's sources or into a folder that is not a
/// previous handout; empties a previous handout (keeping its `.git` and `target`).
fn prepare_out(root: &Path, out: &Path) -> Result<(), String> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let root_c = canon(root);
    let out_c = match out.parent() {
        Some(parent) if !out.exists() => canon(parent).join(out.file_name().unwrap_or_default()),
        _ => canon(out),
    };
    if root_c.starts_with(&out_c) {
        return Err(format!("{} contains the course itself; choose another folder", out.display()));
    }
    if let Ok(inner) = out_c.strip_prefix(&root_c) {
        if COPIED.iter().chain(["solutions"].iter()).any(|c| inner.starts_with(c)) {
            return Err(format!(
                "{} is inside the course's own sources; choose another folder",
                out.display()
            ));
        }
    }
    if !out.exists() {
        return std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()));
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(|e| format!("cannot read {}: {e}", out.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    if !out.join("course.toml").is_file() {
        return Err(format!(
            "{} is not empty and is not a previous handout (no course.toml); choose an empty folder",
            out.display()
        ));
    }
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == ".git" || name == "target" {
            continue;
        }
        let r = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
    }
    Ok(())
}

/// Writes the handout into `out`; returns the number of files written.
pub fn write_handout(
    root: &Path,
    manifest: &Manifest,
    out: &Path,
    with_solutions: bool,
) -> Result<usize, String> {
    prepare_out(root, out)?;
    let mut n = 0;
    let mut copied: Vec<&str> = COPIED.to_vec();
    if with_solutions {
        copied.push("solutions");
    }
    for c in copied {
        let from = root.join(c);
        if !from.exists() {
            if c == "Cargo.lock" || c.starts_with("LICENSE") || c == ".gitignore" || c == "rustfmt.toml" {
                continue;
            }
            return Err(format!("{c} is missing in {}", root.display()));
        }
        n += copy_tree(root, &from, &out.join(c), NEVER)?;
    }
    let cargo_toml = std::fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
    let write = |rel: &str, text: &str| {
        std::fs::write(out.join(rel), text)
            .map_err(|e| format!("cannot write {}: {e}", out.join(rel).display()))
    };
    write("Cargo.toml", &handout_manifest(&cargo_toml, with_solutions)?)?;
    write("README.md", &handout_readme(manifest, with_solutions))?;
    // The stubs as handed out: what `cargo course check` compares the learner's work with.
    let stubs = crate::take::stubs(root, manifest)?;
    std::fs::create_dir_all(out.join(crate::take::HANDOUT_STUBS)).map_err(|e| e.to_string())?;
    for (file, text) in &stubs {
        write(&format!("{}/{file}", crate::take::HANDOUT_STUBS), text)?;
    }
    Ok(n + 2 + stubs.len())
}

/// Cargo.lock still lists the instructor-only packages; cargo drops them the first time it
/// resolves, so do it now and the learner's first build leaves it unchanged.
/// `cargo update --workspace` re-resolves only the workspace's own packages and keeps every
/// locked version; offline, it needs only the registry index that building this repository
/// fetched (`cargo metadata` would also download the sources of every locked package, for
/// all platforms, which a fresh cargo home does not have).
pub fn prune_lock(out: &Path) -> bool {
    crate::libtest::cargo()
        .args(["update", "--workspace", "--offline"])
        .current_dir(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `cargo course handout --out DIR [--with-solutions]`.
pub fn handout(root: &Path, manifest: &Manifest, out: &Path, with_solutions: bool) -> Result<i32, String> {
    let start = Instant::now();
    let n = write_handout(root, manifest, out, with_solutions)?;
    let pruned = prune_lock(out);
    println!(
        "Wrote the learner handout to {} ({n} files, {}solutions; {:.1} s).",
        out.display(),
        if with_solutions { "with " } else { "no " },
        start.elapsed().as_secs_f64()
    );
    if !pruned {
        println!("note: `cargo update --workspace --offline` failed there; Cargo.lock is pruned on the learner's first build.");
    }
    println!(
        "Next: `cd {}`, `git init`, commit, and publish it as the learners' (template) repository.\n\
         GitHub Classroom: `cargo course classroom --out {}` adds the autograding configuration.",
        out.display(),
        out.display()
    );
    Ok(0)
}

/// The channel pinned in rust-toolchain.toml (`1.95.0`).
pub fn pinned_toolchain(root: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(root.join("rust-toolchain.toml"))
        .map_err(|e| format!("cannot read rust-toolchain.toml: {e}"))?;
    let t: toml::Table = text.parse().map_err(|e| format!("rust-toolchain.toml: {e}"))?;
    t.get("toolchain")
        .and_then(|t| t.get("channel"))
        .and_then(|c| c.as_str())
        .map(String::from)
        .ok_or_else(|| "rust-toolchain.toml has no [toolchain] channel".into())
}

/// One Classroom test per exercise with its manifest points.
pub struct ClassroomTest {
    pub id: String,
    pub name: String,
    pub run: String,
    pub points: f64,
    pub timeout_min: u32,
}

pub fn classroom_tests(manifest: &Manifest) -> Vec<ClassroomTest> {
    manifest
        .exercises
        .iter()
        .enumerate()
        .map(|(i, ex)| ClassroomTest {
            id: format!("{}-{}", ex.chapter, ex.id).to_ascii_lowercase().replace('_', "-"),
            name: format!("{} {}: {}", ex.chapter, ex.id, ex.title),
            run: format!("cargo test --package exercises --test visible -- {}::{}::", ex.chapter, ex.id),
            points: ex.points,
            // the first test compiles the course (several minutes on a hosted runner)
            timeout_min: if i == 0 { 30 } else { 10 },
        })
        .collect()
}

fn fmt_points(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    }
}

fn json_points(p: f64) -> serde_json::Value {
    if p.fract() == 0.0 && p.abs() < 1e15 {
        serde_json::json!(p as i64)
    } else {
        serde_json::json!(p)
    }
}

/// `.github/classroom/autograding.json`: GitHub Classroom's autograding configuration.
pub fn autograding_json(manifest: &Manifest, toolchain: &str) -> String {
    let setup = format!("rustup toolchain install {toolchain} --profile minimal");
    let tests: Vec<serde_json::Value> = classroom_tests(manifest)
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({
                "name": t.name,
                "setup": if i == 0 { setup.clone() } else { String::new() },
                "run": t.run,
                "input": "",
                "output": "",
                "comparison": "included",
                "timeout": t.timeout_min,
                "points": json_points(t.points),
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "tests": tests })).expect("json") + "\n"
}

fn yaml_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `.github/workflows/classroom.yml`: the same tests as GitHub Classroom's current autograding
/// workflow (one command-grader step per exercise, then the reporter).
pub fn classroom_workflow(manifest: &Manifest, toolchain: &str) -> String {
    let tests = classroom_tests(manifest);
    let mut y = String::from(
        "# Generated by `cargo course classroom` from course.toml: regenerate it, do not edit.\n\
         name: Autograding Tests\n'on':\n- push\n- workflow_dispatch\n- repository_dispatch\n\
         permissions:\n  checks: write\n  actions: read\n  contents: read\n\
         jobs:\n  run-autograding-tests:\n    runs-on: ubuntu-latest\n    if: github.actor != 'github-classroom[bot]'\n    steps:\n\
         \x20   - name: Checkout code\n      uses: actions/checkout@v4\n",
    );
    y.push_str(&format!(
        "    - name: Rust toolchain\n      run: rustup toolchain install {toolchain} --profile minimal\n\
         \x20   - name: Build the tests\n      run: cargo test --package exercises --test visible --no-run\n"
    ));
    for t in &tests {
        y.push_str(&format!(
            "    - name: {name}\n      id: {id}\n      uses: classroom-resources/autograding-command-grader@v1\n      with:\n\
             \x20       test-name: {name}\n        setup-command: ''\n        command: {run}\n        timeout: {timeout}\n        max-score: {points}\n",
            name = yaml_str(&t.name),
            id = t.id,
            run = yaml_str(&t.run),
            timeout = t.timeout_min,
            points = json_points(t.points),
        ));
    }
    y.push_str("    - name: Autograding Reporter\n      uses: classroom-resources/autograding-grading-reporter@v1\n      env:\n");
    for t in &tests {
        y.push_str(&format!(
            "        {}_RESULTS: \"${{{{steps.{}.outputs.result}}}}\"\n",
            t.id.to_ascii_uppercase(),
            t.id
        ));
    }
    let ids: Vec<&str> = tests.iter().map(|t| t.id.as_str()).collect();
    y.push_str(&format!("      with:\n        runners: {}\n", ids.join(",")));
    y
}

/// `cargo course classroom --out DIR`: writes DIR/.github/classroom/autograding.json and
/// DIR/.github/workflows/classroom.yml (DIR: the learners' template repository).
pub fn classroom(root: &Path, manifest: &Manifest, out: &Path) -> Result<i32, String> {
    let toolchain = pinned_toolchain(root)?;
    let files = [
        (".github/classroom/autograding.json", autograding_json(manifest, &toolchain)),
        (".github/workflows/classroom.yml", classroom_workflow(manifest, &toolchain)),
    ];
    for (rel, text) in files {
        let p = out.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        println!("Wrote {}", p.display());
    }
    let total: f64 = manifest.exercises.iter().map(|e| e.points).sum();
    println!(
        "{} tests (one per exercise, its visible tests), {} points in all, as in course.toml.",
        manifest.exercises.len(),
        fmt_points(total)
    );
    Ok(0)
}

/// The part of `cargo course verify` that checks the handout, written to `out`: it is
/// generated, it builds with its own Cargo.lock (`--locked`) in this checkout's target dir
/// (sharing its dependencies), every visible test fails with a `todo!` there, `cargo course
/// status` runs there and `grade`/`verify` say they are for instructors; and the Gradescope
/// bundle's layout. (Grading the handout as a submission is verify's stubs step.) Findings
/// are added to `f`; timings are printed.
pub fn verify_handout(root: &Path, manifest: &Manifest, out: &Path, f: &mut Vec<String>) {
    let start = Instant::now();
    let home = out.parent().unwrap_or(out);
    if let Err(e) = crate::libtest::share_target(
        root,
        home,
        &crate::isolate::target_dir(root),
        crate::libtest::Copy::Handout,
    ) {
        return f.push(e);
    }
    if let Err(e) = write_handout(root, manifest, out, false) {
        return f.push(format!("cargo course handout failed: {e}"));
    }
    if !prune_lock(out) {
        f.push(
            "`cargo update --workspace --offline` fails in the handout (its Cargo.toml or Cargo.lock)"
                .to_string(),
        );
    }
    say!("      handout written to {} ({:.1} s)", out.display(), start.elapsed().as_secs_f64());
    for gone in ["tests", "solutions", "benches", ".ci", "CONTRIBUTING.md"].iter().chain(NEVER) {
        if out.join(gone).exists() {
            f.push(format!("the handout contains {gone}"));
        }
    }
    // `--locked`: the Cargo.lock written above is the one cargo wants, so the learner's first
    // build leaves it unchanged (and needs nothing a build of this repository did not fetch).
    let start = Instant::now();
    let mut cmd = crate::libtest::cargo();
    cmd.args(["test", "--package", "exercises", "--no-fail-fast", "--locked"]).current_dir(out);
    crate::libtest::test_env(&mut cmd);
    let ran = match crate::libtest::run_merged(cmd, crate::libtest::Echo::Quiet) {
        Ok(r) => r,
        Err(e) => return f.push(format!("cannot run cargo test in the handout: {e}")),
    };
    let (passed, failed, not_todo) = stub_outcomes(&ran.text);
    say!(
        "      cargo test --package exercises --locked there: {} failed, {} passed ({:.1} s)",
        failed,
        passed.len(),
        start.elapsed().as_secs_f64()
    );
    if failed == 0 && passed.is_empty() {
        f.push(format!(
            "`cargo test --package exercises --locked` in the handout ran no test (does it build?):\n{}",
            crate::libtest::compile_errors(&ran.text, 30)
        ));
    }
    if !passed.is_empty() {
        f.push(format!("tests pass on the handout's stubs: {}", passed.join(", ")));
    }
    if !not_todo.is_empty() {
        f.push(format!("tests fail in the handout without a todo!: {}", not_todo.join(", ")));
    }
    let mut cmd = crate::libtest::cargo();
    cmd.args(["check", "--package", "course", "--bins", "--locked", "--quiet"]).current_dir(out);
    match crate::libtest::run_merged(cmd, crate::libtest::Echo::Quiet) {
        Ok(o) if o.success => {}
        Ok(o) => f.push(format!(
            "`cargo check --package course --bins --locked` fails in the handout:\n{}",
            crate::libtest::compile_errors(&o.text, 20)
        )),
        Err(e) => f.push(format!("cannot run cargo: {e}")),
    }
    // `cargo course status` there: this very tool, run in the handout (same sources; a
    // `cargo run` there would rebuild it).
    let start = Instant::now();
    match self_exe() {
        Err(e) => f.push(format!("cannot find the course tool's binary: {e}")),
        Ok(exe) => {
            let mut cmd = std::process::Command::new(&exe);
            cmd.arg("status").current_dir(out);
            match crate::libtest::run_merged(cmd, crate::libtest::Echo::Quiet) {
                Ok(o) if o.success && o.text.contains("Next: ") && o.text.contains("exercises/src/ch01_") => {}
                Ok(o) => f.push(format!(
                    "`cargo course status` fails in the handout (or shows no next exercise as file:line):\n{}",
                    o.text.trim_end()
                )),
                Err(e) => f.push(format!("cannot run cargo course status: {e}")),
            }
            for cmd_name in ["grade", "verify"] {
                let mut cmd = std::process::Command::new(&exe);
                cmd.arg(cmd_name).current_dir(out);
                match crate::libtest::run_merged(cmd, crate::libtest::Echo::Quiet) {
                    Ok(o) if o.text.contains("instructor") && !o.success => {}
                    Ok(o) => f.push(format!(
                        "`cargo course {cmd_name}` in the handout does not say it is for instructors:\n{}",
                        o.text.trim_end()
                    )),
                    Err(e) => f.push(format!("cannot run cargo course {cmd_name}: {e}")),
                }
            }
        }
    }
    say!("      cargo course status/grade/verify there ({:.1} s)", start.elapsed().as_secs_f64());

    // The Gradescope bundle's layout (no network: nothing runs there).
    let bundle = root.join("target/course/gradescope/autograder");
    match crate::gradescope::write_bundle(root, manifest, &bundle) {
        Err(e) => f.push(format!("cargo course gradescope failed: {e}")),
        Ok(_) => f.extend(
            crate::gradescope::check_bundle(&bundle).into_iter().map(|p| format!("gradescope bundle: {p}")),
        ),
    }
    let _ = std::fs::remove_dir_all(root.join("target/course/gradescope"));
}

/// This tool's binary. When a build replaced it while it runs (target/debug/course), Linux
/// names the running one `... (deleted)`: take the new one at the same path.
fn self_exe() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    match exe.to_str().and_then(|p| p.strip_suffix(" (deleted)")) {
        Some(p) if !exe.exists() => Ok(PathBuf::from(p)),
        _ => Ok(exe),
    }
}

/// From a `cargo test` run: the tests that passed, how many failed, and the failed ones whose
/// panic is not a `not yet implemented: ` todo.
pub fn stub_outcomes(text: &str) -> (Vec<String>, usize, Vec<String>) {
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("test ") else { continue };
        let Some((name, result)) = rest.rsplit_once(" ... ") else { continue };
        match result.trim_end() {
            // A `compile_fail` doctest shows a compile-time check that may be given code,
            // so it holds on the stubs as well (see verify's stubs step).
            "ok" if name.ends_with(" - compile fail") => {}
            "ok" => passed.push(name.to_string()),
            "FAILED" => failed.push(name.to_string()),
            _ => {}
        }
    }
    // Each failure section `---- <name> stdout ----` up to the next one must hold a todo panic;
    // doctests (`src/x.rs - f (line 4)`) only have to fail (a `compile_fail` one compiles).
    let mut not_todo = Vec::new();
    for name in failed.iter().filter(|n| !n.contains(" - ")) {
        let header = format!("---- {name} stdout ----");
        let todo = text.split(&header).nth(1).is_some_and(|s| {
            let section = s.split("\n---- ").next().unwrap_or(s);
            section.contains("not yet implemented: ")
        });
        if !todo {
            not_todo.push(name.clone());
        }
    }
    (passed, failed.len(), not_todo)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"
[workspace]
resolver = "2"
members = ["benches", "course", "course/graded", "courselib", "exercises", "solutions"]
default-members = ["course"]

[workspace.package]
edition = "2021"
version = "0.1.0"

[workspace.dependencies]
dfdx = { version = "0.13.0", default-features = false, features = ["std"] }
courselib = { path = "courselib" }
exercises = { path = "exercises" }
solutions = { path = "solutions" }

[package]
name = "dlcv"
edition.workspace = true

[features]
reference = ["dep:solutions"]

[dependencies]
solutions = { workspace = true, optional = true }

[[test]]
name = "grading"
path = "tests/grading/main.rs"

[[bench]]
name = "course"
path = "benches/main.rs"

[profile.dev.package."*"]
opt-level = 3
"#;

    #[test]
    fn handout_manifest_is_a_virtual_workspace_without_solutions() {
        let text = handout_manifest(ROOT, false).unwrap();
        let t: toml::Table = text.parse().unwrap();
        for gone in ["package", "features", "dependencies", "test", "bench"] {
            assert!(!t.contains_key(gone), "{gone} in\n{text}");
        }
        let ws = t["workspace"].as_table().unwrap();
        let members: Vec<&str> =
            ws["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert_eq!(members, ["course", "course/graded", "courselib", "exercises"]);
        assert_eq!(ws["default-members"].as_array().unwrap().len(), 1);
        assert_eq!(ws["resolver"].as_str(), Some("2"));
        assert_eq!(ws["package"]["edition"].as_str(), Some("2021"));
        let deps = ws["dependencies"].as_table().unwrap();
        assert!(!deps.contains_key("solutions"));
        assert_eq!(deps["dfdx"]["features"].as_array().unwrap().len(), 1);
        assert!(deps.contains_key("exercises"));
        assert_eq!(t["profile"]["dev"]["package"]["*"]["opt-level"].as_integer(), Some(3));
    }

    #[test]
    fn handout_manifest_with_solutions_keeps_them() {
        let t: toml::Table = handout_manifest(ROOT, true).unwrap().parse().unwrap();
        let ws = t["workspace"].as_table().unwrap();
        assert_eq!(ws["members"].as_array().unwrap().len(), 5);
        assert!(ws["dependencies"].as_table().unwrap().contains_key("solutions"));
        assert!(!t.contains_key("package") && !t.contains_key("features"));
    }

    #[test]
    fn the_real_root_manifest_converts() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let t: toml::Table = handout_manifest(&text, false).unwrap().parse().unwrap();
        assert!(t.get("package").is_none());
        let members = t["workspace"]["members"].as_array().unwrap();
        assert!(members.iter().all(|m| m.as_str() != Some("solutions")));
        assert!(members.iter().any(|m| m.as_str() == Some("exercises")));
    }

    #[test]
    fn classroom_config_follows_the_manifest() {
        let m = crate::manifest::two_chapter_sample();
        let json: serde_json::Value = serde_json::from_str(&autograding_json(&m, "1.95.0")).unwrap();
        let tests = json["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 2);
        assert_eq!(tests[0]["name"], "ch01 top_k: Top-k");
        assert_eq!(tests[0]["run"], "cargo test --package exercises --test visible -- ch01::top_k::");
        assert_eq!(tests[0]["points"], 2);
        assert_eq!(tests[0]["setup"], "rustup toolchain install 1.95.0 --profile minimal");
        assert_eq!(tests[1]["run"], "cargo test --package exercises --test visible -- ch02::relu::");
        assert_eq!(tests[1]["points"], 1);
        assert_eq!(tests[1]["setup"], "");
        assert!(tests.iter().all(|t| t["timeout"].as_u64().is_some() && t["comparison"] == "included"));
        let y = classroom_workflow(&m, "1.95.0");
        assert!(y.contains("      id: ch01-top-k\n"), "{y}");
        assert!(y.contains("        max-score: 2\n"), "{y}");
        assert!(y.contains("        CH01-TOP-K_RESULTS: \"${{steps.ch01-top-k.outputs.result}}\"\n"), "{y}");
        assert!(y.contains("        runners: ch01-top-k,ch02-relu\n"), "{y}");
        assert!(
            y.contains("command: 'cargo test --package exercises --test visible -- ch02::relu::'"),
            "{y}"
        );
    }

    #[test]
    fn fractional_points_stay_fractional() {
        assert_eq!(json_points(1.5), serde_json::json!(1.5));
        assert_eq!(json_points(3.0), serde_json::json!(3));
    }

    #[test]
    fn stub_outcomes_read_a_test_run() {
        let run = "test ch01::a::x ... FAILED\ntest ch01::b::y ... FAILED\ntest ch01::c::z ... ok\ntest src/a.rs - f (line 3) - compile fail ... FAILED\ntest src/b.rs - g (line 9) - compile fail ... ok\n\nfailures:\n\n---- ch01::a::x stdout ----\nthread 'x' panicked at a.rs:1:1:\nnot yet implemented: ch01 a\n\n---- ch01::b::y stdout ----\nthread 'y' panicked at b.rs:1:1:\nindex out of bounds\n";
        let (passed, failed, not_todo) = stub_outcomes(run);
        assert_eq!(passed, ["ch01::c::z"]);
        assert_eq!(failed, 3);
        assert_eq!(not_todo, ["ch01::b::y"]);
    }

    fn fake_root(dir: &Path) {
        let w = |rel: &str, text: &str| {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("Cargo.toml", ROOT);
        w("course.toml", "[course]\ntitle = 'T'\n");
        w("rust-toolchain.toml", "[toolchain]\nchannel = \"1.95.0\"\n");
        w(".cargo/config.toml", "[alias]\n");
        for d in ["book", "exercises", "datasets", "courselib", "course", "solutions"] {
            w(&format!("{d}/src/lib.rs"), "");
        }
        w("book.toml", "");
        w("book/figures/ch01/a.png", "png");
        w("exercises/target/debug/x", "built");
        w("exercises/tests/visible/main.rs", "");
        w("course/redteam/evil.rs", "");
        w("course/gpu/build-bundle.sh", "");
        w("course/templates/handout-README.md", "");
        w("tests/grading/main.rs", "hidden");
        w("tests/grading/snapshots/grading__ch01__a.snap", "");
        w("benches/main.rs", "");
        w(".ci/run", "");
        w("CONTRIBUTING.md", "");
    }

    #[test]
    fn handout_layout() {
        let tmp = std::env::temp_dir().join(format!("course-handout-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let (root, out) = (tmp.join("repo"), tmp.join("out"));
        fake_root(&root);
        let m = crate::manifest::two_chapter_sample();
        write_handout(&root, &m, &out, false).unwrap();
        for kept in [
            "book/figures/ch01/a.png",
            "exercises/tests/visible/main.rs",
            "course/src/lib.rs",
            ".cargo/config.toml",
            "README.md",
            "course.toml",
        ] {
            assert!(out.join(kept).is_file(), "{kept} missing");
        }
        for gone in [
            "tests",
            "solutions",
            "benches",
            ".ci",
            "CONTRIBUTING.md",
            "course/redteam",
            "course/gpu",
            "exercises/target",
        ] {
            assert!(!out.join(gone).exists(), "{gone} copied");
        }
        let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
        assert!(readme.contains("cargo course check") && !readme.contains("{{"), "{readme}");
        // a second run refreshes it, keeping .git
        std::fs::create_dir_all(out.join(".git")).unwrap();
        write_handout(&root, &m, &out, true).unwrap();
        assert!(out.join(".git").is_dir() && out.join("solutions/src/lib.rs").is_file());
        // it refuses folders that are not handouts, and the course's own sources
        std::fs::create_dir_all(tmp.join("other")).unwrap();
        std::fs::write(tmp.join("other/notes.txt"), "").unwrap();
        let err = write_handout(&root, &m, &tmp.join("other"), false).unwrap_err();
        assert!(err.contains("not a previous handout"), "{err}");
        assert!(write_handout(&root, &m, &tmp, false).unwrap_err().contains("contains the course"));
        assert!(write_handout(&root, &m, &root.join("exercises/h"), false).unwrap_err().contains("inside"));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
