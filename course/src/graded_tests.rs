//! The rule graded test files follow, checked by `cargo course verify`: every test starts with
//! `course::graded!()`, and every check goes through `course::check` (so it is recorded in the
//! transcript the grader judges), never through `assert!` and its kin, which decide inside the
//! test process and leave nothing for the grader to compare.

use proc_macro2::{TokenStream, TokenTree};
use std::path::Path;
use syn::Item;

/// Assertion macros that decide in the test process.
const PLAIN: [&str; 8] = [
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "assert_snapshot",
    "assert_debug_snapshot",
];

/// The files graded tests live in, relative to the root.
pub const DIRS: [&str; 2] = ["tests/grading", "exercises/tests/visible"];

/// What breaks the rule in one file's text: one line per problem.
pub fn problems(text: &str) -> Vec<String> {
    let file = match syn::parse_file(text) {
        Ok(f) => f,
        Err(e) => return vec![format!("does not parse: {e}")],
    };
    let mut out = Vec::new();
    plain_asserts(text.parse().unwrap_or_default(), &mut out);
    tests_without_graded(&file.items, &mut out);
    out
}

fn plain_asserts(ts: TokenStream, out: &mut Vec<String>) {
    let tokens: Vec<TokenTree> = ts.into_iter().collect();
    for (k, t) in tokens.iter().enumerate() {
        match t {
            TokenTree::Ident(id) if PLAIN.contains(&id.to_string().as_str()) => {
                if matches!(tokens.get(k + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!') {
                    out.push(format!(
                        "line {}: `{id}!` decides inside the test process: check with course::check \
                         (assert_close, assert_all_close, course::check!, course::check_eq!, course::snapshot!)",
                        id.span().start().line
                    ));
                }
            }
            TokenTree::Group(g) => plain_asserts(g.stream(), out),
            _ => {}
        }
    }
}

fn tests_without_graded(items: &[Item], out: &mut Vec<String>) {
    for item in items {
        match item {
            Item::Mod(m) => {
                if let Some((_, inner)) = &m.content {
                    tests_without_graded(inner, out);
                }
            }
            Item::Fn(f) if f.attrs.iter().any(|a| a.path().is_ident("test")) => {
                let starts_graded = matches!(
                    f.block.stmts.first(),
                    Some(syn::Stmt::Macro(m)) if m.mac.path.segments.iter().map(|s| s.ident.to_string()).eq(["course", "graded"])
                );
                if !starts_graded {
                    out.push(format!(
                        "line {}: test `{}` does not start with `course::graded!();` (nothing would be recorded)",
                        f.sig.ident.span().start().line,
                        f.sig.ident
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Every problem of the graded test files under `root`, as `path: line ..: what`.
pub fn check(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            out.extend(problems(&text).into_iter().map(|p| format!("{shown}: {p}")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_asserts_and_ungraded_tests_are_found() {
        let text = r#"
mod a {
    #[test]
    fn graded() {
        course::graded!();
        course::check!(1 + 1 == 2);
        course::check_eq!(vec![1], [1]);
    }

    #[test]
    fn not_graded() {
        let x = 1;
        helper(x);
    }

    fn helper(x: i32) {
        assert_eq!(x, 1, "inside a helper");
        let _ = vec![std::assert!(true)];
    }
}
"#;
        let p = problems(text);
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(p[0].starts_with("line 17: `assert_eq!`"), "{}", p[0]);
        assert!(p[1].starts_with("line 18: `assert!`"), "{}", p[1]);
        assert!(p[2].contains("test `not_graded` does not start with `course::graded!();`"), "{}", p[2]);
        assert!(problems("mod m { #[test] fn t() { course::graded!(); } }").is_empty());
    }
}
