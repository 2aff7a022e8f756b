//! The chapter's benchmark problems, shared by the criterion benches
//! (`cargo bench -p benches`) and `cargo course bench --peers conv2d`,
//! which times the same problems in JAX and NumPy (`course/peers/conv2d.py`).
//!
//! - conv2d forward + backward: `x (64, 8, 28, 28)`, `weight (16, 8, 3, 3)`, `bias (16,)`,
//!   stride 1, padding 1, loss `L = Σ y·R` ([`super::dot`]) with a fixed
//!   `R (64, 16, 28, 28)`; the gradients of `L` with respect to `x`, `weight` and `bias`.
//! - one training step of [`Cnn`] on a batch of 64: forward, cross-entropy, backward,
//!   Adam (lr 1e-3).
//! - the speed suite [`SUITE`] (and any `--shape`): [`Workload`]s with run-time shapes,
//!   timed by [`ShapedProblem::fast`], the same op as the layers'.

use dfdx::optim::{Adam, AdamConfig};
use dfdx::prelude::*;

use super::builders::{Conv2d, Flatten, MaxPool2d};
use super::cpu::{conv_op, ConvMats};
use super::naive::{self, Dims};
use super::shape::{conv_out, conv_transpose_out};

/// Batch size of both problems.
pub const BATCH: usize = 64;

/// The benchmark's convolution.
pub const DIMS: Dims = Dims { b: BATCH, c: 8, h: 28, w: 28, o: 16, k: 3, s: 1, p: 1 };

/// The book's small CNN for 28×28 digits.
pub type Cnn = (
    (Conv2d<1, 8, 3, 1, 1, 28, 28>, ReLU, MaxPool2d<2, 2, 14, 14>),
    (Conv2d<8, 16, 3, 1, 1, 14, 14>, ReLU, MaxPool2d<2, 2, 7, 7>),
    (Flatten<784>, Linear<784, 10>),
);

/// The inputs of the conv2d problem, seeded.
pub struct ConvProblem {
    pub x: Tensor<Rank4<BATCH, 8, 28, 28>, f32, Cpu>,
    pub weight: Tensor<Rank4<16, 8, 3, 3>, f32, Cpu>,
    pub bias: Tensor<Rank1<16>, f32, Cpu>,
    pub r: Tensor<Rank4<BATCH, 16, 28, 28>, f32, Cpu>,
}

/// `(L, dL/dx, dL/dweight, dL/dbias)` as flat vectors.
pub type ConvGradients = (f32, Vec<f32>, Vec<f32>, Vec<f32>);

impl ConvProblem {
    pub fn new(seed: u64) -> Self {
        let dev = Cpu::seed_from_u64(seed);
        ConvProblem {
            x: dev.sample_normal(),
            weight: dev.sample_normal(),
            bias: dev.sample_normal(),
            r: dev.sample_normal(),
        }
    }

    /// Forward and backward with the fast `Cpu` kernels; the gradients stay in dfdx's
    /// [`Gradients`], as in training.
    pub fn fast(&self) -> Gradients<f32, Cpu> {
        let y = super::conv2d(self.x.leaky_trace(), &self.weight, &self.bias, Const::<1>, Const::<1>);
        super::dot(y, &self.r).backward()
    }

    /// Forward and backward with the device-generic gather path.
    pub fn gather(&self) -> Gradients<f32, Cpu> {
        let y = super::gather::conv2d::<BATCH, 8, 28, 28, 16, 3, 1, 1, 28, 28, _, _, _>(
            self.x.leaky_trace(),
            &self.weight,
            &self.bias,
        )
        .expect("Cpu does not fail");
        super::dot(y, &self.r).backward()
    }

    /// Forward and backward with the naive loops of [`naive`], in f32.
    pub fn naive(&self) -> ConvGradients {
        let (x, w, r) = (self.x.as_vec(), self.weight.as_vec(), self.r.as_vec());
        let y = naive::conv2d(DIMS, &x, &w, &self.bias.as_vec());
        let loss = y.iter().zip(&r).map(|(a, b)| a * b).sum();
        let (gx, gw, gb) = naive::conv2d_backward(DIMS, &x, &w, &r);
        (loss, gx, gw, gb)
    }
}

/// One convolution geometry of the speed suite (`cargo course bench --peers conv2d`):
/// `x (b, c, h, w)`; a convolution has `weight (o, c, k, k)`, a transposed one
/// `weight (c, o, k, k)`; `bias (o)`; loss `L = Σ y·R`.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub name: &'static str,
    pub dims: Dims,
    pub transposed: bool,
}

const fn workload(name: &'static str, [b, c, h, w, o, k, s, p]: [usize; 8], transposed: bool) -> Workload {
    Workload { name, dims: Dims { b, c, h, w, o, k, s, p }, transposed }
}

/// The suite: today's benchmark, a first layer, a middle ResNet-like layer, a strided
/// 5×5, a 1×1 and a transposed (upsampling) convolution.
pub const SUITE: [Workload; 6] = [
    workload("conv2d_fwd_bwd", [BATCH, 8, 28, 28, 16, 3, 1, 1], false),
    workload("first_layer_3x3", [32, 3, 32, 32, 32, 3, 1, 1], false),
    workload("resnet_middle_3x3", [32, 64, 14, 14, 64, 3, 1, 1], false),
    workload("strided_5x5", [32, 16, 32, 32, 32, 5, 2, 2], false),
    workload("pointwise_1x1", [32, 64, 14, 14, 128, 1, 1, 0], false),
    workload("transposed_4x4_s2", [32, 32, 14, 14, 16, 4, 2, 1], true),
];

impl Workload {
    /// `B,C,H,W,O,K,S,P`, with a `t` after it for a transposed convolution
    /// (`32,32,14,14,16,4,2,1t`), named `shape_B_C_..`.
    pub fn parse(spec: &str) -> Result<Workload, String> {
        let transposed = spec.ends_with('t');
        let numbers: Vec<usize> = spec
            .trim_end_matches('t')
            .split(',')
            .map(|n| n.trim().parse().map_err(|_| format!("`{n}` in `{spec}` is not a size")))
            .collect::<Result<_, _>>()?;
        let [b, c, h, w, o, k, s, p]: [usize; 8] =
            numbers.try_into().map_err(|_| format!("`{spec}`: want 8 sizes B,C,H,W,O,K,S,P"))?;
        let fits =
            if transposed { h.min(w).saturating_sub(1) * s + k > 2 * p } else { h.min(w) + 2 * p >= k };
        if [b, c, h, w, o, k, s].contains(&0) || !fits {
            return Err(format!(
                "`{spec}`: sizes must be positive and the output must have at least one pixel"
            ));
        }
        let name = Box::leak(format!("shape_{}", spec.replace(',', "_")).into_boxed_str());
        Ok(workload(name, [b, c, h, w, o, k, s, p], transposed))
    }

    /// The output's sizes `(o, oh, ow)`.
    pub fn output(&self) -> (usize, usize, usize) {
        let d = self.dims;
        let size = if self.transposed { conv_transpose_out } else { conv_out };
        (d.o, size(d.h, d.k, d.s, d.p), size(d.w, d.k, d.s, d.p))
    }

    /// Floating-point operations of forward + backward: three products (`y`, `dL/dx`,
    /// `dL/dW`) of `2·B·positions·C·O·K²` each, where the positions are the output's, or
    /// for a transposed convolution the input's (it runs a convolution backwards).
    pub fn flops(&self) -> f64 {
        let d = self.dims;
        let (_, oh, ow) = self.output();
        let positions = if self.transposed { d.h * d.w } else { oh * ow };
        3.0 * 2.0 * (d.b * positions * d.c * d.o * d.k * d.k) as f64
    }

    /// `B,C,H,W,O,K,S,P[t]`, as [`Workload::parse`] reads it.
    pub fn spec(&self) -> String {
        let d = self.dims;
        format!(
            "{},{},{},{},{},{},{},{}{}",
            d.b,
            d.c,
            d.h,
            d.w,
            d.o,
            d.k,
            d.s,
            d.p,
            if self.transposed { "t" } else { "" }
        )
    }
}

/// A seeded problem of a [`Workload`], with run-time shapes.
pub struct ShapedProblem {
    pub workload: Workload,
    pub x: Tensor<(usize, usize, usize, usize), f32, Cpu>,
    pub weight: Tensor<(usize, usize, usize, usize), f32, Cpu>,
    pub bias: Tensor<(usize,), f32, Cpu>,
    pub r: Tensor<(usize, usize, usize, usize), f32, Cpu>,
}

impl ShapedProblem {
    pub fn new(workload: Workload, seed: u64) -> Self {
        let (d, (o, oh, ow)) = (workload.dims, workload.output());
        let dev = Cpu::seed_from_u64(seed);
        let weight = if workload.transposed { (d.c, d.o, d.k, d.k) } else { (d.o, d.c, d.k, d.k) };
        ShapedProblem {
            workload,
            x: dev.sample_normal_like(&(d.b, d.c, d.h, d.w)),
            weight: dev.sample_normal_like(&weight),
            bias: dev.sample_normal_like(&(o,)),
            r: dev.sample_normal_like(&(d.b, o, oh, ow)),
        }
    }

    /// Forward and backward with the fast `Cpu` kernels (the same op as the layers').
    pub fn fast(&self) -> Gradients<f32, Cpu> {
        let (w, d) = (self.workload, self.workload.dims);
        let (_, oh, ow) = w.output();
        let m = if w.transposed {
            ConvMats::transposed(d.c, d.o, (oh, ow), (d.k, d.s, d.p))
        } else {
            ConvMats::conv(d.c, d.o, (d.h, d.w), (d.k, d.s, d.p))
        };
        let y = conv_op(m, w.transposed, self.x.leaky_trace(), &self.weight, &self.bias, *self.r.shape())
            .expect("Cpu does not fail");
        super::dot(y, &self.r).backward()
    }
}

/// One training step of [`Cnn`] with Adam, on a fixed seeded batch.
pub struct CnnStep {
    pub model: <Cnn as BuildOnDevice<Cpu, f32>>::Built,
    pub adam: Adam<<Cnn as BuildOnDevice<Cpu, f32>>::Built, f32, Cpu>,
    pub x: Tensor<Rank4<BATCH, 1, 28, 28>, f32, Cpu>,
    /// One-hot labels.
    pub y: Tensor<Rank2<BATCH, 10>, f32, Cpu>,
    grads: Option<Gradients<f32, Cpu>>,
}

impl CnnStep {
    pub fn new(seed: u64) -> Self {
        let dev = Cpu::seed_from_u64(seed);
        let model = dev.build_module::<Cnn, f32>();
        let adam = Adam::new(&model, AdamConfig { lr: 1e-3, ..Default::default() });
        let labels: Vec<f32> =
            (0..BATCH * 10).map(|i| if i % 10 == (i / 10 * 7) % 10 { 1.0 } else { 0.0 }).collect();
        let y = dev.tensor_from_vec(labels, Rank2::<BATCH, 10>::default());
        let grads = Some(model.alloc_grads());
        CnnStep { model, adam, x: dev.sample_uniform(), y, grads }
    }

    /// Forward, cross-entropy, backward, Adam update; returns the loss.
    pub fn step(&mut self) -> f32 {
        let grads = self.grads.take().expect("gradients are put back after each step");
        let logits = self.model.forward(self.x.trace(grads));
        let loss = cross_entropy_with_logits_loss(logits, self.y.clone());
        let value = loss.array();
        let mut grads = loss.backward();
        self.adam.update(&mut self.model, &grads).expect("every parameter has a gradient");
        self.model.zero_grads(&mut grads);
        self.grads = Some(grads);
        value
    }
}
