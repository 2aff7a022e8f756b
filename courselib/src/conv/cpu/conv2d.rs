//! Fast `Cpu` conv2d: im2col + gemm forward, hand-written backward.

use dfdx::prelude::*;

use super::{fill_bias, values, ConvMats, CpuFloat};
use crate::conv::shape::{check_conv2d, Geometry};

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
    super::keep_freed_buffers();
    const { check_conv2d(H, W, K, S, P, OH, OW) };
    let m = ConvMats { g: Geometry::conv(H, W, K, S, P), c: C, o: O };
    let (x, mut tape) = x.split_tape();
    let (xs, x) = values(x);
    let ws = weight.as_vec();
    let mut ys = vec![E::zero(); B * O * OH * OW];
    fill_bias(&mut ys, &bias.as_vec(), OH * OW);
    m.forward(&ws, &xs, &mut ys);
    let out = x.device().try_tensor_from_vec(ys, (Const::<B>, Const::<O>, Const::<OH>, Const::<OW>))?;
    if T::OWNS_TAPE {
        let (x_g, w_g, b_g, out_g) = (x.ghost(), weight.ghost(), bias.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_g)?);
            // the three gradients are distinct buffers in `grads`, but dfdx lends one at a time
            let mut gw = std::mem::take(&mut **grads.get_or_alloc_mut(&w_g)?);
            let mut gb = std::mem::take(&mut **grads.get_or_alloc_mut(&b_g)?);
            m.backward(&ws, &xs, &gy, grads.get_or_alloc_mut(&x_g)?, &mut gw, &mut gb);
            **grads.get_or_alloc_mut(&w_g)? = gw;
            **grads.get_or_alloc_mut(&b_g)? = gb;
            **grads.get_or_alloc_mut(&out_g)? = gy;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
