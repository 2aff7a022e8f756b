//! The part of the course tool that graded tests link to: [`transcript`], what a test
//! checked, sent to the grader that judges it outside the test process, [`check`], the
//! checks that write it, [`snapshot`], snapshots judged the same way, and [`budget`], how a
//! test that trains declares its cost.
//!
//! A crate of its own, without dependencies: every test build links it, and the tool's own
//! dependencies (clap, notify, ...) would otherwise be built into every test build and
//! change the features, and with them the artifacts, of the crates the tests share. The
//! exercises' library does not depend on it, so learner code cannot call it.
//! Tests name it `course` (`course = { package = "course-graded", .. }`): `course::graded!()`.

pub mod budget;
pub mod check;
pub mod snapshot;
pub mod transcript;
