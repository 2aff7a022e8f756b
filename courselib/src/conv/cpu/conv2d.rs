//! Fast `Cpu` conv2d: im2col + gemm forward, hand-written backward ([`super::conv_op`]).

use dfdx::prelude::*;

use super::{conv_op, ConvMats, CpuFloat};
use crate::conv::shape::check_conv2d;

/// conv2d on `Cpu` (see [`crate::conv::conv2d`] for the shapes); `x` carries the tape.
#[allow(clippy::type_complexity)]
pub fn conv2d<
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
    weight: &Tensor<Rank4<O, C, K, K>, E, Cpu>,
    bias: &Tensor<Rank1<O>, E, Cpu>,
) -> Result<Tensor<Rank4<B, O, OH, OW>, E, Cpu, T>, CpuError> {
    const { check_conv2d(H, W, K, S, P, OH, OW) };
    let m = ConvMats::conv(C, O, (H, W), (K, S, P));
    conv_op(m, false, x, weight, bias, (Const::<B>, Const::<O>, Const::<OH>, Const::<OW>))
}
