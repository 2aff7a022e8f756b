//! Snapshots judged by the grader, outside the test process.
//!
//! A graded test that compares a structured result with a reviewed snapshot calls
//! [`crate::snapshot!`] instead of `insta::assert_snapshot!`. The macro always prints the value
//! as one line, `dlcv-snapshot:<file stem>:<hex of the text>`, and, outside the grader,
//! asserts it with insta as before (review and accept with `cargo insta`). Under
//! `cargo course grade` the grader sets [`JUDGED_OUTSIDE_ENV`]: the snapshot files are hidden
//! from the test process, insta is not called, and the grader compares the printed value with
//! its own copy of the snapshot. So learner code can neither read the snapshots nor make the
//! comparison pass from inside (`INSTA_FORCE_PASS`, unsetting the variable): a test whose
//! line is missing or differs fails.

/// Set by the grader: the grader judges the snapshots.
pub const JUDGED_OUTSIDE_ENV: &str = "DLCV_SNAPSHOTS_JUDGED_OUTSIDE";

/// The start of the line a snapshot prints.
pub const SNAPSHOT_PREFIX: &str = "dlcv-snapshot:";

/// The snapshot file's stem for `name` asserted in `module_path` (insta's naming:
/// `grading::ch01::normalize` and `x` give `grading__ch01__normalize__x`).
pub fn stem(module_path: &str, name: &str) -> String {
    format!("{}__{name}", module_path.replace("::", "__"))
}

/// The line that carries `text` to the grader.
pub fn line(stem: &str, text: &str) -> String {
    let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{SNAPSHOT_PREFIX}{stem}:{hex}")
}

/// Reads a [`line`] back: (stem, text).
pub fn parse(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix(SNAPSHOT_PREFIX)?;
    let (stem, hex) = rest.split_once(':')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
    Some((stem.to_string(), String::from_utf8(bytes?).ok()?))
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

/// Prints the snapshot line; true when the grader judges it (the test then skips insta).
pub fn report(stem: &str, text: &str) -> bool {
    println!("{}", line(stem, text));
    std::env::var_os(JUDGED_OUTSIDE_ENV).is_some()
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
    fn lines_carry_any_text() {
        for text in ["", "a", "two\nlines\n", "dlcv-snapshot:x:y", "ünïcode ∑"] {
            let l = line("grading__ch01__m__n", text);
            assert!(!l.contains('\n'));
            assert_eq!(parse(&l), Some(("grading__ch01__m__n".to_string(), text.to_string())));
        }
        assert_eq!(parse("dlcv-snapshot:x:abc"), None);
        assert_eq!(parse("dlcv-snapshot:x:zz"), None);
        assert_eq!(stem("grading::ch01::normalize", "x"), "grading__ch01__normalize__x");
    }

    #[test]
    fn snap_files_give_their_body() {
        let file = "---\nsource: tests/grading/ch01.rs\nexpression: x\n---\nline one\nline two\n";
        assert_eq!(contents_of_snap_file(file), "line one\nline two");
    }
}
