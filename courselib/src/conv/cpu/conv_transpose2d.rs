//! Fast `Cpu` transposed conv2d: the convolution's backward pass run forwards.

use dfdx::prelude::*;

use super::{conv_op, ConvMats, CpuFloat};
use crate::conv::shape::check_conv_transpose2d;

/// Transposed conv2d on `Cpu` (see [`crate::conv::conv_transpose2d`] for the shapes).
///
/// With `m` the convolution from `OH × OW`, `O` channels, to `H × W`, `C` channels, whose
/// weight matrix is the `(C, O, K, K)` weight as `C × O·K·K`: forward `y = mᵀ(x)`,
/// input gradient `m(gy)`, weight gradient `Σ_b x_b · cols(gy_b)ᵀ`
/// (`ConvMats::transpose_backward`).
#[allow(clippy::type_complexity)]
pub fn conv_transpose2d<
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
    E: CpuFloat,
    T: Tape<E, Cpu>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, Cpu, T>,
    weight: &Tensor<Rank4<C, O, K, K>, E, Cpu>,
    bias: &Tensor<Rank1<O>, E, Cpu>,
) -> Result<Tensor<Rank4<B, O, OH, OW>, E, Cpu, T>, CpuError> {
    const { check_conv_transpose2d(H, W, K, S, P, OH, OW) };
    let m = ConvMats::transposed(C, O, (OH, OW), (K, S, P));
    conv_op(m, true, x, weight, bias, (Const::<B>, Const::<O>, Const::<OH>, Const::<OW>))
}
