//! The grading workspace: a copy of this checkout with the taken chapter files, written so
//! that cargo's fingerprints stay fresh, and the test crates' main files for `--chapters`.

use super::*;

/// Where each chapter's code comes from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Origin {
    Learner,
    /// The stub: the file is missing or was refused.
    Stub(String),
    /// The learner's file did not compile (the compiler's errors).
    Broken(String),
}

pub(super) struct Chapter {
    pub(super) id: String,
    pub(super) module: String,
    pub(super) learner: Option<String>,
    pub(super) stub: String,
    pub(super) origin: Origin,
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
pub(super) fn mirror(src: &Path, dst: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<(), String> {
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

pub(super) fn write_if_changed(path: &Path, data: &[u8]) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|old| old == data) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let _ = std::fs::remove_file(path); // it may be read-only
    std::fs::write(path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes the chapter files of the grading workspace: the learner's where `use_learner`.
pub(super) fn write_chapters(
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
pub(super) fn tree_hash(paths: &[PathBuf]) -> u64 {
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
pub(super) const TEST_MAINS: [&str; 2] = ["exercises/tests/visible/main.rs", "tests/grading/main.rs"];

/// The grading workspaces (each holds a copy of the solutions).
pub(super) fn grading_workspaces(target: &Path) -> Vec<PathBuf> {
    ["reference", "submissions"].iter().map(|k| target.join("course/grading").join(k).join("ws")).collect()
}

/// Writes the grading workspace `home/ws`: this checkout's files (without `.git`, target dirs
/// and the chapter files, which [`write_chapters`] writes) and the test crates' main files for
/// `only` ([`test_main`]), the hidden test sources closed to other users. Returns the
/// workspace's lock, held while the grading uses it (another grading waits for it).
pub(super) fn set_up_workspace(
    root: &Path,
    manifest: &Manifest,
    home: &Path,
    chapters: &[Chapter],
    only: Option<&[String]>,
) -> Result<std::fs::File, String> {
    let ws = home.join("ws");
    let target = target_dir(root);
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
    Ok(lock)
}
