//! Fast `Cpu` max and average pooling with hand-written backward passes.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::{values, CpuFloat};
use crate::conv::shape::check_pool2d;

/// Max pooling on `Cpu` (see [`crate::conv::max_pool2d`]). Each output remembers where
/// its maximum came from; on ties the first in row-major window order wins, and only it
/// receives the gradient.
#[allow(clippy::type_complexity)]
pub fn max_pool2d<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
    E: CpuFloat,
    T: Tape<E, Cpu>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, Cpu, T>,
) -> Result<Tensor<Rank4<B, C, OH, OW>, E, Cpu, T>, CpuError> {
    super::keep_freed_buffers();
    const { check_pool2d(H, W, K, S, OH, OW) };
    let (x, mut tape) = x.split_tape();
    let (xs, x) = values(x);
    let mut ys = vec![E::zero(); B * C * OH * OW];
    // argmax within its H × W plane; u32 halves the memory traffic of usize
    let mut arg = vec![0u32; B * C * OH * OW];
    ys.par_chunks_exact_mut(OH * OW)
        .zip(arg.par_chunks_exact_mut(OH * OW))
        .zip(xs.par_chunks_exact(H * W))
        .for_each(|((yp, ap), xp)| {
            for oy in 0..OH {
                for ox in 0..OW {
                    let mut best = oy * S * W + ox * S;
                    for ky in 0..K {
                        for kx in 0..K {
                            let i = (oy * S + ky) * W + ox * S + kx;
                            if xp[i] > xp[best] {
                                best = i;
                            }
                        }
                    }
                    yp[oy * OW + ox] = xp[best];
                    ap[oy * OW + ox] = best as u32;
                }
            }
        });
    let out = x.device().try_tensor_from_vec(ys, (Const::<B>, Const::<C>, Const::<OH>, Const::<OW>))?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_g)?);
            let gx = grads.get_or_alloc_mut(&x_g)?;
            gx.par_chunks_exact_mut(H * W)
                .zip(gy.par_chunks_exact(OH * OW))
                .zip(arg.par_chunks_exact(OH * OW))
                .for_each(|((gxp, gyp), ap)| {
                    for (&g, &i) in gyp.iter().zip(ap) {
                        gxp[i as usize] += g;
                    }
                });
            **grads.get_or_alloc_mut(&out_g)? = gy;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// Average pooling on `Cpu` (see [`crate::conv::avg_pool2d`]): every input in a window
/// receives `1/K²` of the window's output gradient.
#[allow(clippy::type_complexity)]
pub fn avg_pool2d<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
    E: CpuFloat,
    T: Tape<E, Cpu>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, Cpu, T>,
) -> Result<Tensor<Rank4<B, C, OH, OW>, E, Cpu, T>, CpuError> {
    super::keep_freed_buffers();
    const { check_pool2d(H, W, K, S, OH, OW) };
    let scale = E::one() / E::from(K * K).expect("K² is a float");
    let (x, mut tape) = x.split_tape();
    let (xs, x) = values(x);
    let mut ys = vec![E::zero(); B * C * OH * OW];
    ys.par_chunks_exact_mut(OH * OW).zip(xs.par_chunks_exact(H * W)).for_each(|(yp, xp)| {
        for oy in 0..OH {
            for ox in 0..OW {
                let mut sum = E::zero();
                for ky in 0..K {
                    let row = &xp[(oy * S + ky) * W + ox * S..][..K];
                    sum = row.iter().fold(sum, |a, &v| a + v);
                }
                yp[oy * OW + ox] = sum * scale;
            }
        }
    });
    let out = x.device().try_tensor_from_vec(ys, (Const::<B>, Const::<C>, Const::<OH>, Const::<OW>))?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_g)?);
            let gx = grads.get_or_alloc_mut(&x_g)?;
            gx.par_chunks_exact_mut(H * W).zip(gy.par_chunks_exact(OH * OW)).for_each(|(gxp, gyp)| {
                for oy in 0..OH {
                    for ox in 0..OW {
                        let g = gyp[oy * OW + ox] * scale;
                        for ky in 0..K {
                            gxp[(oy * S + ky) * W + ox * S..][..K].iter_mut().for_each(|v| *v += g);
                        }
                    }
                }
            });
            **grads.get_or_alloc_mut(&out_g)? = gy;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
