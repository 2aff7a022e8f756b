//! [`Flatten`]: from feature maps to the vectors a `Linear` layer takes.

use dfdx::nn::{Module, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::*;

/// Flattens each image: input `(B, C, H, W)`, output `(B, N)` with `N = C·H·W`, in NCHW
/// order (a free reshape). A wrong `N` is a compile-time error in `cargo build`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flatten<const N: usize>;

impl<const N: usize> ZeroSizedModule for Flatten<N> {}
impl<const N: usize> NonMutableModule for Flatten<N> {}

impl<const B: usize, const C: usize, const H: usize, const W: usize, const N: usize, E, D, T>
    Module<Tensor<Rank4<B, C, H, W>, E, D, T>> for Flatten<N>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    type Output = Tensor<Rank2<B, N>, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<Rank4<B, C, H, W>, E, D, T>) -> Result<Self::Output, D::Err> {
        const { assert!(N == C * H * W, "Flatten<N>: N must be C * H * W of the (B, C, H, W) input") };
        x.try_reshape()
    }
}
