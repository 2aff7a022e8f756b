//! Benchmarks of the reference solutions and the course's kernels: `cargo bench -p benches`.
//!
//! One binary, one module per chapter, as for the tests.

use criterion::{criterion_group, criterion_main};

mod ch02;
mod ch06;
mod ch08;
mod conv;

criterion_group!(
    benches,
    ch02::backward_by_hand_vs_tape,
    ch06::conv_backward_by_hand_vs_tape,
    ch08::nms_cost,
    conv::conv2d_forward_backward,
    conv::cnn_train_step
);
criterion_main!(benches);
