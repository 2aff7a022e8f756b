//! Snapshots judged by the grader, outside the test process.
//!
//! A graded test that compares a structured result with a reviewed snapshot calls
//! [`crate::snapshot!`] instead of `insta::assert_snapshot!`. Under `cargo course grade` the
//! value goes to the test's [`transcript`](crate::transcript) as a
//! [`Record::Snapshot`](crate::transcript::Record::Snapshot), insta is not called, the snapshot
//! files are hidden from the test process, and the grader compares the value with its own copy
//! of the snapshot. So learner code can neither read the snapshots nor make the comparison pass
//! from inside (`INSTA_FORCE_PASS`, unsetting variables). Outside the grader the macro asserts
//! with insta as before (review and accept with `cargo insta`).

/// The snapshot file's stem for `name` asserted in `module_path` (insta's naming:
/// `grading::ch01::normalize` and `x` give `grading__ch01__normalize__x`).
pub fn stem(module_path: &str, name: &str) -> String {
    format!("{}__{name}", module_path.replace("::", "__"))
}

/// The reviewed value of an insta `.snap` file: what follows its header, as insta compares it
/// (trailing line breaks ignored).
pub fn contents_of_snap_file(file: &str) -> String {
    let body = match file.strip_prefix("---") {
        Some(rest) => rest.split_once("\n---\n").map_or(rest, |(_, b)| b),
        None => file,
    };
    body.trim_end_matches(['\n', '\r']).to_string()
}

/// Records the snapshot; true when the grader judges it (the test then skips insta).
pub fn report(stem: &str, text: &str) -> bool {
    crate::transcript::record(&crate::transcript::Record::Snapshot { stem: stem.into(), text: text.into() });
    crate::transcript::recording()
}

/// `snapshot!("name", text)`: see the module doc. `text` is a `String` (or `&str`).
#[macro_export]
macro_rules! snapshot {
    ($name:literal, $text:expr) => {{
        let text: String = ::std::string::ToString::to_string(&$text);
        let stem = $crate::snapshot::stem(module_path!(), $name);
        if !$crate::snapshot::report(&stem, &text) {
            insta::assert_snapshot!($name, text);
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_follow_insta() {
        assert_eq!(stem("grading::ch01::normalize", "x"), "grading__ch01__normalize__x");
    }

    #[test]
    fn snap_files_give_their_body() {
        let file = "---\nsource: tests/grading/ch01.rs\nexpression: x\n---\nline one\nline two\n";
        assert_eq!(contents_of_snap_file(file), "line one\nline two");
    }
}
