//! Fast `Cpu` transposed conv2d: the convolution's backward pass run forwards.

use dfdx::prelude::*;

use super::{fill_bias, values, ConvMats, CpuFloat};
use crate::conv::shape::{check_conv_transpose2d, Geometry};

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
    super::keep_freed_buffers();
    const { check_conv_transpose2d(H, W, K, S, P, OH, OW) };
    // the convolution this op is the transpose of: OH × OW with O channels -> H × W with C
    let m = ConvMats { g: Geometry::conv(OH, OW, K, S, P), c: O, o: C };
    let (x, mut tape) = x.split_tape();
    let (xs, x) = values(x);
    let ws = weight.as_vec();
    let mut ys = vec![E::zero(); B * O * OH * OW];
    fill_bias(&mut ys, &bias.as_vec(), OH * OW);
    m.adjoint(&ws, &xs, &mut ys);
    let out = x.device().try_tensor_from_vec(ys, (Const::<B>, Const::<O>, Const::<OH>, Const::<OW>))?;
    if T::OWNS_TAPE {
        let (x_g, w_g, b_g, out_g) = (x.ghost(), weight.ghost(), bias.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_g)?);
            let mut gw = std::mem::take(&mut **grads.get_or_alloc_mut(&w_g)?);
            let mut gb = std::mem::take(&mut **grads.get_or_alloc_mut(&b_g)?);
            m.transpose_backward(&ws, &xs, &gy, grads.get_or_alloc_mut(&x_g)?, &mut gw, &mut gb);
            **grads.get_or_alloc_mut(&w_g)? = gw;
            **grads.get_or_alloc_mut(&b_g)? = gb;
            **grads.get_or_alloc_mut(&out_g)? = gy;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
