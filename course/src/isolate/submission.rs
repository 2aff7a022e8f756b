//! Taking the submission (the grader's first stage): each chapter file read safely and taken
//! into the course's stub by [`crate::take`]; what is refused, ignored or forbidden goes into
//! the report's notes.

use super::*;

pub(super) struct Prepared {
    pub(super) chapters: Vec<Chapter>,
    pub(super) notes: Vec<String>,
    /// Per (chapter, exercise): why its tests are not run (a forbidden call).
    pub(super) forbidden: BTreeMap<(String, String), String>,
}

/// The largest chapter file the grader reads.
pub(crate) const MAX_CHAPTER_BYTES: u64 = 1 << 20;

pub(super) fn prepare_chapters(root: &Path, manifest: &Manifest, opts: &Options) -> Result<Prepared, String> {
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
        let (learner, origin) =
            match crate::take::read_regular(&base, &Path::new(sub).join(&file), MAX_CHAPTER_BYTES) {
                Ok(None) => (None, zero(format!("exercises/src/{file} is missing"))),
                Err(why) => (None, zero(why)),
                Ok(Some(text)) => match crate::take::take(&stub, &text, &rules) {
                    Err(why) => (None, zero(format!("exercises/src/{file}, {why}"))),
                    Ok(taken) => {
                        for line in &taken.ignored {
                            notes.push(format!("{}: exercises/src/{file}, {line}", ch.id));
                        }
                        for (ex, calls) in taken.forbidden {
                            let reason = manifest
                                .exercises
                                .iter()
                                .find(|e| e.id == ex)
                                .map(|e| e.forbid_reason())
                                .unwrap_or_default();
                            let why = format!(
                                "0 points: {ex} uses {calls}, which this exercise must not call: {reason}"
                            );
                            notes.push(format!("{}: exercises/src/{file}, {why}", ch.id));
                            forbidden.insert((ch.id.clone(), ex.clone()), why);
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
