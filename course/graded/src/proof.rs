//! Proof that a graded test ran to its end.
//!
//! Under `cargo course grade` every test runs in its own process, and exiting with status 0
//! is not enough to pass: a learner's `std::process::exit(0)` or a printed "test ... ok"
//! would pass that. Instead the grader hands each test process a fresh secret token on its
//! standard input, and the test prints a proof derived from the token and its own name
//! after its last assertion. The grader accepts a test only with the right proof.
//!
//! Every graded test starts with [`graded!`]. It reads the token before any learner code
//! runs; learner code cannot read it again (standard input is consumed), cannot run before
//! it (the exercises crate forbids `unsafe`, and with it pre-`main` tricks), and cannot call
//! this module (it is not a dependency of the exercises' library). Outside the grader
//! (plain `cargo test`) the macro does nothing.

use std::hash::{Hash, Hasher};
use std::io::BufRead;
use std::sync::OnceLock;

/// Set by the grader when the token waits on standard input.
pub const TOKEN_ON_STDIN_ENV: &str = "DLCV_GRADING_TOKEN_ON_STDIN";

/// The start of the proof line a finished test prints.
pub const PROOF_PREFIX: &str = "dlcv-grading-proof:";

/// The token, read once per process from standard input when the grader provides one.
fn token() -> Option<&'static str> {
    static TOKEN: OnceLock<Option<String>> = OnceLock::new();
    TOKEN
        .get_or_init(|| {
            std::env::var_os(TOKEN_ON_STDIN_ENV)?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).ok()?;
            let token = line.trim().to_owned();
            (!token.is_empty()).then_some(token)
        })
        .as_deref()
}

/// The proof for the test whose module path is `test_module` (e.g.
/// `grading::ch01::top_k_error`) under `token`. Without the token it cannot be made.
pub fn proof(token: &str, test_module: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (token, test_module).hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The full line a test prints when it finished under `token`.
pub fn proof_line(token: &str, test_module: &str) -> String {
    format!("{PROOF_PREFIX}{}", proof(token, test_module))
}

/// Prints the proof when dropped at the end of a test that did not panic.
pub struct Graded {
    test_module: &'static str,
}

impl Graded {
    /// Reads the token (before any learner code runs) and arms the proof.
    pub fn start(test_module: &'static str) -> Self {
        token();
        Self { test_module }
    }
}

impl Drop for Graded {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(token) = token() {
            println!("{}", proof_line(token, self.test_module));
        }
    }
}

/// The first statement of every graded test: under the grader, the test prints its proof
/// when it returns without panicking.
#[macro_export]
macro_rules! graded {
    () => {
        let _graded = $crate::proof::Graded::start(module_path!());
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_depend_on_the_token_and_the_test() {
        let p = proof("token-a", "grading::ch01::top_k_error");
        assert_eq!(p, proof("token-a", "grading::ch01::top_k_error"));
        assert_ne!(p, proof("token-b", "grading::ch01::top_k_error"));
        assert_ne!(p, proof("token-a", "grading::ch01::one_hot"));
        assert!(proof_line("t", "m").starts_with(PROOF_PREFIX));
    }
}
