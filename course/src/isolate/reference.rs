//! What the reference solutions showed on one course version (per-test times, reported
//! snapshots): the per-test limits and the snapshots a test must report.

use super::*;

/// What the reference times are valid for: the tests, the solutions and the manifest.
pub(super) fn course_key(root: &Path) -> String {
    let parts = ["tests", "exercises/tests", "solutions/src", "course.toml"].map(|p| root.join(p));
    format!("{:016x}", tree_hash(&parts))
}

pub(super) fn reference_path(target: &Path) -> PathBuf {
    target.join("course/grading/reference.json")
}

/// What the reference solutions showed on one course version: the seconds each test took,
/// and the snapshots each test reported.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Reference {
    pub(super) key: String,
    pub(super) seconds: BTreeMap<String, f64>,
    pub(super) snapshots: BTreeMap<String, Vec<String>>,
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
    times: impl Iterator<Item = (String, f64)>,
    snapshots: BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    let mut r = read_reference(target, key);
    r.seconds.extend(times);
    r.snapshots.extend(snapshots);
    let text = serde_json::to_string(&r).map_err(|e| e.to_string())?;
    write_if_changed(&reference_path(target), text.as_bytes())
}
