//! Convolution, pooling, transposed convolution and flattening for dfdx 0.13 on stable
//! Rust, as functions and as layers for dfdx tuples. All NCHW, square kernels, `f32` or
//! `f64`.
//!
//! | op | function | layer (in [`builders`]) | input → output |
//! |---|---|---|---|
//! | convolution | [`conv2d`] | `Conv2d<C_IN, C_OUT, K, S, P, OH, OW>` | `(B, C_IN, H, W) → (B, C_OUT, OH, OW)` |
//! | max pooling | [`max_pool2d`] | `MaxPool2d<K, S, OH, OW>` | `(B, C, H, W) → (B, C, OH, OW)` |
//! | average pooling | [`avg_pool2d`] | `AvgPool2d<K, S, OH, OW>` | `(B, C, H, W) → (B, C, OH, OW)` |
//! | transposed convolution | [`conv_transpose2d`] | `ConvTranspose2d<C_IN, C_OUT, K, S, P, OH, OW>` | `(B, C_IN, H, W) → (B, C_OUT, OH, OW)` |
//! | flattening | – | `Flatten<N>` | `(B, C, H, W) → (B, N)` |
//! | inner product `Σ a·b` | [`dot`] | – | `S, S → ()` |
//!
//! Output sizes ([`shape`]): convolution `(H + 2P − K)/S + 1`, pooling `(H − K)/S + 1`,
//! transposed convolution `(H − 1)·S + K − 2P`.
//!
//! # A model
//!
//! ```
//! use courselib::conv::builders::*;
//! use courselib::conv::ConvDevice;
//! use dfdx::prelude::*;
//!
//! // dfdx implements `Module` for tuples of up to 6 layers: nest longer models
//! type Cnn = (
//!     (Conv2d<1, 8, 3, 1, 1, 28, 28>, ReLU, MaxPool2d<2, 2, 14, 14>),
//!     (Conv2d<8, 16, 3, 1, 1, 14, 14>, ReLU, MaxPool2d<2, 2, 7, 7>),
//!     (Flatten<784>, Linear<784, 10>),
//! );
//!
//! /// Later chapters stay generic over the device with one bound.
//! fn logits<D: ConvDevice<f32>>(dev: &D) -> Tensor<Rank2<4, 10>, f32, D> {
//!     let model = dev.build_module::<Cnn, f32>();
//!     model.forward(dev.zeros::<Rank4<4, 1, 28, 28>>())
//! }
//! let _ = logits(&Cpu::default());
//! ```
//!
//! # Output sizes are checked when the program is built
//!
//! Stable Rust cannot compute `(H + 2P − K)/S + 1` in a type, so each layer carries its
//! output size `OH × OW` and a `const { .. }` check compares it with the formula. A wrong
//! size is an error in `cargo build`, `cargo test` and `cargo run`, with the formula in
//! the message. Here `3 × 3` without padding turns 28 into 26, not 28:
//!
//! ```compile_fail,E0080
//! use courselib::conv::builders::*;
//! use dfdx::prelude::*;
//!
//! let dev = Cpu::default();
//! let model = dev.build_module::<(Conv2d<1, 8, 3, 1, 0, 28, 28>, ReLU), f32>();
//! // error[E0080]: evaluation panicked: conv2d: OH must be (H + 2*P - K) / S + 1
//! let y = model.forward(dev.zeros::<Rank4<2, 1, 28, 28>>());
//! ```
//!
//! The same for a function call whose result type asks for the wrong size:
//!
//! ```compile_fail,E0080
//! use courselib::conv::max_pool2d;
//! use dfdx::prelude::*;
//!
//! let dev = Cpu::default();
//! let x: Tensor<Rank4<2, 8, 28, 28>, f32, _> = dev.zeros();
//! // error[E0080]: evaluation panicked: pool2d: OH must be (H - K) / S + 1   ((28 − 3)/2 + 1 = 13)
//! let y: Tensor<Rank4<2, 8, 14, 14>, f32, _> = max_pool2d(x, Const::<3>, Const::<2>);
//! ```
//!
//! The check runs when the generic code is instantiated with numbers, which `cargo check`
//! and rust-analyzer never do: they report nothing. Nor does code that is never called.
//! In a tuple model the error points into this library; its message and the `note:` with
//! the instantiated parameters (`check_conv2d(28, 28, 3, 1, 0, 28, 28)`) say which layer.
//! A wrong `Flatten<N>` fails the same way (`N must be C * H * W`).
//!
//! # Which kernels run: [`ConvDevice`]
//!
//! Every op is a method of [`ConvDevice<E>`], implemented per device, so the fastest
//! kernels available are chosen from the tensor's device with no parameter to pick:
//!
//! - `Cpu` (`f32`, `f64`): the fast kernels of [`cpu`]: im2col and `gemm` per image,
//!   rayon over the batch, backward passes written by hand and pushed on dfdx's tape.
//! - `Cuda` (with `--features cuda`): the generic path of `gather`, built only from
//!   dfdx's own differentiable ops (gather + batched matmul), which dfdx runs on the GPU.
//!
//! Generic code writes `D: ConvDevice<f32>` where it would write `D: Device<f32>`
//! (`ConvDevice<E>` implies `Device<E>`). The generic path is the lesson that convolution
//! is a gather followed by a matrix multiply, and with the naive loops of `naive` the
//! reference the fast kernels are tested against; both are public only with the feature
//! `kernel-references` (this crate's own tests and the benches), because they are what
//! chapter 6's exercises ask a learner to write.

pub mod cpu;
// The naive loops and the gather path are references for this crate's tests and benches, and
// the same functions as chapter 6's exercises: learners' builds (and the grader's) do not see
// them. `Cuda` runs the gather path, so it is always compiled.
#[cfg(feature = "kernel-references")]
pub mod gather;
#[cfg(not(feature = "kernel-references"))]
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
mod gather;
#[cfg(feature = "kernel-references")]
pub mod naive;
pub mod shape;
#[cfg(feature = "kernel-references")]
pub mod workloads;

mod conv2d;
mod conv_transpose2d;
mod dot;
mod flatten;
mod pool;

pub use conv2d::{conv2d, Conv2d};
pub use conv_transpose2d::{conv_transpose2d, ConvTranspose2d};
pub use dot::dot;
pub use flatten::Flatten;
pub use pool::{avg_pool2d, max_pool2d, AvgPool2d, MaxPool2d};
pub use shape::{conv_out, conv_transpose_out, pool_out};

use dfdx::prelude::*;
use dfdx::tensor_ops::Device;

/// The layer types to name in a model, for `dev.build_module::<Model, E>()`, next to
/// dfdx's own builders (`Linear`, `ReLU`, ...): `use courselib::conv::builders::*;`.
pub mod builders {
    pub use super::conv2d::Conv2dBuilder as Conv2d;
    pub use super::conv_transpose2d::ConvTranspose2dBuilder as ConvTranspose2d;
    pub use super::{AvgPool2d, Flatten, MaxPool2d};
}

/// A device with convolution kernels: the bound generic code writes, `D: ConvDevice<f32>`.
/// It also brings `dev.build_module::<Model, E>()` (dfdx's `DeviceBuildExt`) into generic code.
///
/// The methods take the sizes as const parameters and return the device's error; most
/// code calls the functions [`conv2d`], [`max_pool2d`], ... or the layers instead.
/// Shapes are those of the functions.
#[allow(clippy::type_complexity)]
pub trait ConvDevice<E: Dtype>: Device<E> + dfdx::nn::DeviceBuildExt {
    /// [`conv2d`]: `x (B, C, H, W)`, `weight (O, C, K, K)`, `bias (O,)` → `(B, O, OH, OW)`.
    fn try_conv2d<
        const B: usize,
        const C: usize,
        const H: usize,
        const W: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
        T: Tape<E, Self>,
    >(
        x: Tensor<Rank4<B, C, H, W>, E, Self, T>,
        weight: &Tensor<Rank4<O, C, K, K>, E, Self>,
        bias: &Tensor<Rank1<O>, E, Self>,
    ) -> Result<Tensor<Rank4<B, O, OH, OW>, E, Self, T>, Self::Err>;

    /// [`conv_transpose2d`]: `x (B, C, H, W)`, `weight (C, O, K, K)`, `bias (O,)` →
    /// `(B, O, OH, OW)`.
    fn try_conv_transpose2d<
        const B: usize,
        const C: usize,
        const H: usize,
        const W: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
        T: Tape<E, Self>,
    >(
        x: Tensor<Rank4<B, C, H, W>, E, Self, T>,
        weight: &Tensor<Rank4<C, O, K, K>, E, Self>,
        bias: &Tensor<Rank1<O>, E, Self>,
    ) -> Result<Tensor<Rank4<B, O, OH, OW>, E, Self, T>, Self::Err>;

    /// [`max_pool2d`]: `x (B, C, H, W)` → `(B, C, OH, OW)`.
    fn try_max_pool2d<
        const B: usize,
        const C: usize,
        const H: usize,
        const W: usize,
        const K: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
        T: Tape<E, Self>,
    >(
        x: Tensor<Rank4<B, C, H, W>, E, Self, T>,
    ) -> Result<Tensor<Rank4<B, C, OH, OW>, E, Self, T>, Self::Err>;

    /// [`avg_pool2d`]: `x (B, C, H, W)` → `(B, C, OH, OW)`.
    fn try_avg_pool2d<
        const B: usize,
        const C: usize,
        const H: usize,
        const W: usize,
        const K: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
        T: Tape<E, Self>,
    >(
        x: Tensor<Rank4<B, C, H, W>, E, Self, T>,
    ) -> Result<Tensor<Rank4<B, C, OH, OW>, E, Self, T>, Self::Err>;

    /// [`dot`]: `a`, `b` of shape `S` → `Σ a·b`, shape `()`.
    fn try_dot<S: Shape, T: Tape<E, Self>>(
        a: Tensor<S, E, Self, T>,
        b: &Tensor<S, E, Self>,
    ) -> Result<Tensor<(), E, Self, T>, Self::Err>;
}

/// Implements [`ConvDevice`] for a device by forwarding every method to one module of
/// kernels, so the list of ops is written once per device.
macro_rules! conv_device {
    ($kernels:ident, $($generics:ty),*) => {
        fn try_conv2d<
            const B: usize,
            const C: usize,
            const H: usize,
            const W: usize,
            const O: usize,
            const K: usize,
            const S: usize,
            const P: usize,
            const OH: usize,
            const OW: usize,
            T: Tape<E, Self>,
        >(
            x: Tensor<Rank4<B, C, H, W>, E, Self, T>,
            weight: &Tensor<Rank4<O, C, K, K>, E, Self>,
            bias: &Tensor<Rank1<O>, E, Self>,
        ) -> Result<Tensor<Rank4<B, O, OH, OW>, E, Self, T>, Self::Err> {
            $kernels::conv2d::<B, C, H, W, O, K, S, P, OH, OW, $($generics),*>(x, weight, bias)
        }

        fn try_conv_transpose2d<
            const B: usize,
            const C: usize,
            const H: usize,
            const W: usize,
            const O: usize,
            const K: usize,
            const S: usize,
            const P: usize,
            const OH: usize,
            const OW: usize,
            T: Tape<E, Self>,
        >(
            x: Tensor<Rank4<B, C, H, W>, E, Self, T>,
            weight: &Tensor<Rank4<C, O, K, K>, E, Self>,
            bias: &Tensor<Rank1<O>, E, Self>,
        ) -> Result<Tensor<Rank4<B, O, OH, OW>, E, Self, T>, Self::Err> {
            $kernels::conv_transpose2d::<B, C, H, W, O, K, S, P, OH, OW, $($generics),*>(x, weight, bias)
        }

        fn try_max_pool2d<
            const B: usize,
            const C: usize,
            const H: usize,
            const W: usize,
            const K: usize,
            const S: usize,
            const OH: usize,
            const OW: usize,
            T: Tape<E, Self>,
        >(
            x: Tensor<Rank4<B, C, H, W>, E, Self, T>,
        ) -> Result<Tensor<Rank4<B, C, OH, OW>, E, Self, T>, Self::Err> {
            $kernels::max_pool2d::<B, C, H, W, K, S, OH, OW, $($generics),*>(x)
        }

        fn try_avg_pool2d<
            const B: usize,
            const C: usize,
            const H: usize,
            const W: usize,
            const K: usize,
            const S: usize,
            const OH: usize,
            const OW: usize,
            T: Tape<E, Self>,
        >(
            x: Tensor<Rank4<B, C, H, W>, E, Self, T>,
        ) -> Result<Tensor<Rank4<B, C, OH, OW>, E, Self, T>, Self::Err> {
            $kernels::avg_pool2d::<B, C, H, W, K, S, OH, OW, $($generics),*>(x)
        }

        fn try_dot<S: Shape, T: Tape<E, Self>>(a: Tensor<S, E, Self, T>, b: &Tensor<S, E, Self>) -> Result<Tensor<(), E, Self, T>, Self::Err> {
            $kernels::dot::<S, $($generics),*>(a, b)
        }
    };
}

impl<E: cpu::CpuFloat> ConvDevice<E> for Cpu
where
    Cpu: Device<E>,
{
    conv_device!(cpu, E, T);
}

/// The generic path on the GPU: dfdx keeps its device buffers private, so hand-written
/// kernels cannot reach them from outside dfdx.
#[cfg(feature = "cuda")]
impl<E: Dtype> ConvDevice<E> for dfdx::tensor::Cuda
where
    dfdx::tensor::Cuda: Device<E>,
{
    conv_device!(gather, E, Self, T);
}

/// PyTorch's default initialisation of a layer with `fan_in` inputs per output, for weight
/// and bias alike: uniform in `±1/√fan_in`.
fn uniform_fan_in<S: Shape, E, D: Device<E>>(t: &mut Tensor<S, E, D>, fan_in: usize) -> Result<(), D::Err>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
{
    let bound = E::one() / E::from(fan_in).expect("fan_in is a float").sqrt();
    t.try_fill_with_distr(rand_distr::Uniform::new(-bound, bound))
}
