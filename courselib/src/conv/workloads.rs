//! The chapter's benchmark problems, shared by the criterion benches
//! (`cargo bench -p benches`) and `cargo course bench --peers conv2d`,
//! which times the same problems in JAX and NumPy (`course/peers/conv2d.py`).
//!
//! - conv2d forward + backward: `x (64, 8, 28, 28)`, `weight (16, 8, 3, 3)`, `bias (16,)`,
//!   stride 1, padding 1, loss `L = Σ y·R` ([`super::dot`]) with a fixed
//!   `R (64, 16, 28, 28)`; the gradients of `L` with respect to `x`, `weight` and `bias`.
//! - one training step of [`Cnn`] on a batch of 64: forward, cross-entropy, backward,
//!   Adam (lr 1e-3).

use dfdx::optim::{Adam, AdamConfig};
use dfdx::prelude::*;

use super::builders::{Conv2d, Flatten, MaxPool2d};
use super::naive::{self, Dims};

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
