//! What the reference solutions showed on one course version: per-test times (the per-test
//! limits) and transcripts (what a submission's transcripts are judged against).

use super::*;

/// What the reference record is valid for: everything that decides the reference run's
/// values and times. The tests, the solutions and the manifest, and also the code and data
/// the solutions run on (courselib's kernels, the datasets, the check functions), the
/// locked dependency versions and the toolchain: a change to any of them can move an
/// expected value, and a stale record would then judge submissions against old values.
pub(super) fn course_key(root: &Path) -> String {
    let parts = [
        "tests",
        "exercises/tests",
        "solutions/src",
        "course.toml",
        "courselib/src",
        "datasets/src",
        "datasets/data",
        "course/graded/src",
        "Cargo.lock",
        "rust-toolchain.toml",
    ]
    .map(|p| root.join(p));
    format!("{:016x}", tree_hash(&parts))
}

/// The folder of the reference record: hidden from the tests (it holds the expected values).
pub(super) fn reference_dir(target: &Path) -> PathBuf {
    target.join("course/grading/reference-record")
}

pub(super) fn reference_path(target: &Path) -> PathBuf {
    reference_dir(target).join("reference.json")
}

/// What the reference solutions showed on one course version: the seconds each test took,
/// and the transcript each test wrote (its records' lines, without the end), by
/// [`transcript_key`]; and which chapters were graded.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Reference {
    pub(super) key: String,
    pub(super) chapters: BTreeSet<String>,
    pub(super) seconds: BTreeMap<String, f64>,
    pub(super) transcripts: BTreeMap<String, Vec<String>>,
}

impl Reference {
    /// The transcripts as records (a damaged line drops its test's transcript).
    pub(super) fn records(&self) -> BTreeMap<String, Vec<course::transcript::Record>> {
        self.transcripts
            .iter()
            .filter_map(|(k, lines)| {
                let records =
                    lines.iter().map(|l| course::transcript::Record::parse(l)).collect::<Option<_>>()?;
                Some((k.clone(), records))
            })
            .collect()
    }
}

/// The reference record, when it was made on the course version `key` (else an empty one).
pub(super) fn read_reference(target: &Path, key: &str) -> Reference {
    let text = std::fs::read_to_string(reference_path(target)).unwrap_or_default();
    match serde_json::from_str::<Reference>(&text) {
        Ok(r) if r.key == key => r,
        _ => Reference { key: key.to_string(), ..Reference::default() },
    }
}

/// Records a reference grading (merged with those of other chapters of the same version).
pub(super) fn write_reference(
    target: &Path,
    key: &str,
    chapters: impl Iterator<Item = String>,
    times: impl Iterator<Item = (String, f64)>,
    transcripts: BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    let mut r = read_reference(target, key);
    r.chapters.extend(chapters);
    r.seconds.extend(times);
    r.transcripts.extend(transcripts);
    let text = serde_json::to_string(&r).map_err(|e| e.to_string())?;
    let path = reference_path(target);
    write_if_changed(&path, text.as_bytes())?;
    // Readable by the grader's user only: the tests run as other users.
    #[cfg(unix)]
    for (p, mode) in [(reference_dir(target), 0o700), (path, 0o600)] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot close {}: {e}", p.display()))?;
    }
    Ok(())
}
