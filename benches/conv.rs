//! Convolution layers (`courselib::conv`): conv2d forward + backward at batch 64,
//! 8 → 16 channels, 28×28, 3×3, padding 1, `L = Σ y·R`, by the naive loops, the generic
//! gather path and the fast `Cpu` kernels; and one Adam training step of the book's CNN
//! at batch 64. The same problems are timed against JAX by `cargo course bench --peers conv2d`.

use std::hint::black_box;
use std::time::Duration;

use courselib::conv::workloads::{CnnStep, ConvProblem};
use criterion::Criterion;

pub fn conv2d_forward_backward(c: &mut Criterion) {
    let problem = ConvProblem::new(0);
    let mut group = c.benchmark_group("conv2d fwd+bwd, batch 64, 8→16 channels, 28×28, 3×3, pad 1");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    group.bench_function("naive loops", |b| b.iter(|| black_box(problem.naive())));
    group.sample_size(20);
    group.bench_function("generic gather + matmul", |b| b.iter(|| black_box(problem.gather())));
    group.bench_function("fast Cpu kernels", |b| b.iter(|| black_box(problem.fast())));
    group.finish();
}

pub fn cnn_train_step(c: &mut Criterion) {
    let mut step = CnnStep::new(0);
    let mut group = c.benchmark_group("CNN training step, batch 64, cross-entropy, Adam");
    group.sample_size(20);
    group.bench_function("fast Cpu kernels", |b| b.iter(|| black_box(step.step())));
    group.finish();
}
