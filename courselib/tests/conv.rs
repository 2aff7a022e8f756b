//! `courselib::conv`: every op against naive f64 loops and f64 finite differences, the
//! fast `Cpu` kernels against the generic gather path, the transposed convolution as the
//! adjoint of the convolution, and the layers inside a model that trains.
//!
//! Shapes are compile-time constants, so each op is checked on a fixed list of shapes
//! chosen to cover kernels 1–5, strides 1–3, paddings 0–2, odd and even and non-square
//! sizes; the values come from seeded generators.

use course::check::{assert_all_close, Tolerance};
use courselib::conv::naive::{self, Dims};
use courselib::conv::shape::{conv_out, conv_transpose_out, pool_out};
use courselib::conv::{avg_pool2d, conv2d, conv_transpose2d, gather, max_pool2d};
use courselib::gradcheck::numerical_gradient;
use dfdx::prelude::*;
use rand::Rng;

#[path = "conv/cpu_vs_gather.rs"]
mod cpu_vs_gather;
#[path = "conv/gradients.rs"]
mod gradients;
#[path = "conv/layers.rs"]
mod layers;
#[path = "conv/workloads.rs"]
mod workloads;

type T64 = OwnedTape<f64, Cpu>;

/// A tensor of values uniform in [−1, 1) from `seed`.
fn random<S: ConstShape, E: Dtype + From<f32>>(dev: &Cpu, seed: u64) -> Tensor<S, E, Cpu> {
    let mut rng = courselib::device::rng(seed);
    let values = (0..S::NUMEL).map(|_| E::from(rng.gen_range(-1.0f32..1.0))).collect();
    dev.tensor_from_vec(values, S::default())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Tape gradients against central differences with `eps = 1e-6`. Every op here is
/// (piecewise) linear in each argument, so the difference quotient is exact up to
/// rounding, about `1e-16·|L|/eps ≈ 1e-9`.
fn assert_gradient(context: &str, got: &[f64], want: &[f64]) {
    assert_all_close(context, got, want, Tolerance { abs: 1e-7, rel: 1e-6 });
}
