//! `cargo course gradescope --out DIR`: a Gradescope autograder bundle (setup.sh,
//! run_autograder, README.md and a copy of this instructor repository), zipped when `zip` is
//! there.

use crate::handout::{copy_tree, pinned_toolchain};
use crate::manifest::Manifest;
use std::path::Path;
use std::process::Command;

/// The folder of the instructor repository inside the bundle (/autograder/source/<REPO>).
pub const REPO: &str = "dlcv";

/// Never copied into the bundle, besides build output and `.git`.
const NEVER: &[&str] = &["grading-out"];

fn fill(template: &str, manifest: &Manifest, toolchain: &str) -> String {
    template
        .replace("{{REPO}}", REPO)
        .replace("{{TOOLCHAIN}}", toolchain)
        .replace("{{TITLE}}", &manifest.course.title)
}

/// Writes the bundle's files into `dir` (which must not exist or be empty); returns the number
/// of files of the instructor repository it copied.
pub fn write_bundle(root: &Path, manifest: &Manifest, dir: &Path) -> Result<usize, String> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (root_c, dir_c) = (canon(root), {
        let parent = dir.parent().map(canon).unwrap_or_default();
        parent.join(dir.file_name().unwrap_or_default())
    });
    if root_c.starts_with(&dir_c) {
        return Err(format!("{} contains the course itself; choose another folder", dir.display()));
    }
    if dir_c.starts_with(&root_c) && !dir_c.starts_with(root_c.join("target")) {
        return Err(format!(
            "{} is inside the course (it would copy itself); use a folder under target/ or outside",
            dir.display()
        ));
    }
    if dir.exists() {
        let ours = dir.join("setup.sh").is_file() && dir.join("run_autograder").is_file();
        let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !ours && !empty {
            return Err(format!(
                "{} is not empty and is not a previous bundle; choose an empty folder",
                dir.display()
            ));
        }
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot empty {}: {e}", dir.display()))?;
    }
    let toolchain = pinned_toolchain(root)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let files = [
        ("setup.sh", include_str!("../templates/gradescope/setup.sh"), true),
        ("run_autograder", include_str!("../templates/gradescope/run_autograder"), true),
        ("README.md", include_str!("../templates/gradescope/README.md"), false),
    ];
    for (name, template, executable) in files {
        let p = dir.join(name);
        std::fs::write(&p, fill(template, manifest, &toolchain))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        #[cfg(unix)]
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("cannot make {} executable: {e}", p.display()))?;
        }
        #[cfg(not(unix))]
        let _ = executable;
    }
    // The instructor repository: everything but build output, .git and grading results.
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(root)
        .map_err(|e| format!("cannot read {}: {e}", root.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if matches!(name.as_str(), "target" | ".git") {
            continue;
        }
        n += copy_tree(root, &p, &dir.join(REPO).join(&name), NEVER)?;
    }
    Ok(n)
}

/// `cargo course gradescope --out DIR`.
pub fn gradescope(root: &Path, manifest: &Manifest, out: &Path) -> Result<i32, String> {
    let dir = out.join("autograder");
    let n = write_bundle(root, manifest, &dir)?;
    println!("Wrote the Gradescope autograder to {} (setup.sh, run_autograder, README.md, {REPO}/ with {n} files).", dir.display());
    let zip = out.join("autograder.zip");
    let _ = std::fs::remove_file(&zip);
    let zipped = Command::new("zip")
        .args(["-q", "-r", "-X"])
        .arg(std::path::absolute(&zip).unwrap_or(zip.clone()))
        .arg(".")
        .current_dir(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if zipped {
        println!("Upload {} to Gradescope (Autograder, zip file upload).", zip.display());
    } else {
        println!(
            "`zip` is not available: zip the contents of {} yourself (setup.sh at the top of the archive) and upload that.",
            dir.display()
        );
    }
    println!("It holds the hidden tests: keep it private.");
    Ok(0)
}

/// Layout problems of a bundle written by [`write_bundle`], for `verify` and the tests.
pub fn check_bundle(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for f in ["setup.sh", "run_autograder", "README.md"] {
        let p = dir.join(f);
        let Ok(text) = std::fs::read_to_string(&p) else {
            problems.push(format!("{f} is missing"));
            continue;
        };
        if text.contains("{{") {
            problems.push(format!("{f} has an unfilled placeholder"));
        }
        #[cfg(unix)]
        if f != "README.md" {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).map(|m| m.permissions().mode()).unwrap_or(0);
            if mode & 0o111 == 0 {
                problems.push(format!("{f} is not executable"));
            }
            if !text.starts_with("#!/usr/bin/env bash\n") {
                problems.push(format!("{f} does not start with #!/usr/bin/env bash"));
            }
            if let Ok(o) = Command::new("bash").arg("-n").arg(&p).output() {
                if !o.status.success() {
                    problems.push(format!(
                        "{f} is not valid bash: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    ));
                }
            }
        }
    }
    let run = std::fs::read_to_string(dir.join("run_autograder")).unwrap_or_default();
    if !run.contains("--out \"$RESULTS\"") || !run.contains("RESULTS=/autograder/results") {
        problems.push("run_autograder does not write /autograder/results".into());
    }
    let repo = dir.join(REPO);
    for f in [
        "course.toml",
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        ".cargo/config.toml",
        "course/src/main.rs",
    ] {
        if !repo.join(f).is_file() {
            problems.push(format!("{REPO}/{f} is missing"));
        }
    }
    if !repo.join("tests/grading").is_dir() {
        problems.push(format!("{REPO}/tests/grading (the hidden tests) is missing"));
    }
    for f in ["target", ".git", "grading-out"] {
        if repo.join(f).exists() {
            problems.push(format!("{REPO}/{f} was copied"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_layout() {
        let tmp = std::env::temp_dir().join(format!("course-gradescope-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let root = tmp.join("repo");
        let w = |rel: &str, text: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        for f in ["course.toml", "Cargo.toml", "Cargo.lock", ".cargo/config.toml", "course/src/main.rs"] {
            w(f, "");
        }
        w("rust-toolchain.toml", "[toolchain]\nchannel = \"1.95.0\"\n");
        w("tests/grading/main.rs", "");
        w("target/debug/big", "");
        w(".git/HEAD", "");
        w("grading-out/results.json", "");
        let m = crate::manifest::two_chapter_sample();
        let dir = tmp.join("out/autograder");
        let n = write_bundle(&root, &m, &dir).unwrap();
        assert_eq!(n, 7);
        assert_eq!(check_bundle(&dir), Vec::<String>::new());
        let setup = std::fs::read_to_string(dir.join("setup.sh")).unwrap();
        assert!(
            setup.contains("rustup toolchain install 1.95.0") && setup.contains("cd /autograder/source/dlcv")
        );
        let run = std::fs::read_to_string(dir.join("run_autograder")).unwrap();
        assert!(run.contains("cargo course grade --submission \"$SUBMISSION\" --out \"$RESULTS\""));
        // written again over itself; never over something else, nor inside the course
        write_bundle(&root, &m, &dir).unwrap();
        std::fs::create_dir_all(tmp.join("other")).unwrap();
        std::fs::write(tmp.join("other/notes.txt"), "").unwrap();
        assert!(write_bundle(&root, &m, &tmp.join("other")).unwrap_err().contains("not empty"));
        assert!(write_bundle(&root, &m, &root.join("bundle")).unwrap_err().contains("inside the course"));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
