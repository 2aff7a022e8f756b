//! The part of the course tool that graded tests link to: [`proof`], how a test shows the
//! grader that it ran to its end, [`budget`], how a test that trains declares its cost, and
//! [`snapshot`], snapshots that the grader judges outside the test process.
//!
//! A crate of its own, without dependencies: every test build links it, and the tool's own
//! dependencies (clap, notify, ...) would otherwise be built into every test build and
//! change the features, and with them the artifacts, of the crates the tests share.
//! Tests name it `course` (`course = { package = "course-graded", .. }`): `course::graded!()`.

pub mod budget;
pub mod proof;
pub mod snapshot;
