//! A graded test that trains a model declares its budget: the epochs, steps and data it
//! trains on, right before it starts, with [`budget!`](crate::budget!):
//!
//! ```
//! # extern crate course_graded as course;
//! let (epochs, steps) = (2, 187);
//! course::budget!("{epochs} epochs x {steps} steps of batch 64 (12,000 images)");
//! ```
//!
//! Under `cargo test` the line is captured like any output. `cargo course verify` reads it
//! from the reference grading and shows it next to the test's measured time in its table of
//! the slowest tests; a test that runs long without declaring a budget, or uses more than
//! `[grading] budget_share` of the grading timeout, fails verify. So the cost of a model
//! trained in a test is written where the test is, and checked on every run.

/// The start of the line a budget is printed on.
pub const PREFIX: &str = "dlcv-budget:";

/// Declares the training budget of the running test (a `format!` string).
#[macro_export]
macro_rules! budget {
    ($($arg:tt)*) => {
        ::std::println!("{} {}", $crate::budget::PREFIX, ::std::format_args!($($arg)*))
    };
}
