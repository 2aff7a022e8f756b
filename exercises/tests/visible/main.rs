//! The visible tests: run them with `cargo test --package exercises`, or one chapter at a
//! time with `cargo course check ch01`. Your instructor also runs hidden tests, so make
//! your code right, not just these tests green.
//!
//! The same files test the reference solutions (solutions/tests/visible.rs), with `subject`
//! standing for the crate under test.

extern crate exercises as subject;

mod ch01;
mod ch02;
mod ch03;
mod ch04;
mod ch05;
mod ch06;
mod ch07;
mod ch08;
