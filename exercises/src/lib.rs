//! # Deep Learning for Computer Vision, in Rust: the exercises
//!
//! One module per chapter of the book. Every `todo!()` is one exercise: its message names
//! the exercise and the book section that explains it. Run `cargo course` to see where you
//! are, `cargo course check ch01` to test one chapter, `cargo course hint <exercise>` when
//! stuck.

// No unsafe code, and with it no code that runs before `main`: the grader relies on it.
#![forbid(unsafe_code)]

pub mod ch01_vision_tasks;
pub mod ch02_backprop;
pub mod ch03_optimisers;
pub mod ch04_activations;
pub mod ch05_losses;
pub mod ch06_convolutions;
pub mod ch07_architectures;
pub mod ch08_detection;
