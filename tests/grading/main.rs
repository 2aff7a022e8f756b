//! Hidden grading tests. `cargo course grade` runs them against the learner's `exercises`
//! crate; `--features reference` runs them against `solutions` (as `cargo course verify`
//! does, to prove they pass there and fail on the untouched stubs).
//!
//! Test names are `chNN::<exercise>::<what>`: the grader maps each test to its exercise
//! and its points in course.toml.

#[cfg(not(feature = "reference"))]
extern crate exercises as subject;
#[cfg(feature = "reference")]
extern crate solutions as subject;

mod ch01;
mod ch02;
mod ch03;
mod ch04;
mod ch05;
mod ch06;
mod ch07;
mod ch08;
mod support;
