//! Fast `Cpu` inner product `Σ a·b` with a hand-written backward.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::{sum_of_products, values, CpuFloat};

/// Values per parallel task: a fixed size, so the partial sums, and their rounding, do not
/// depend on how rayon schedules the tasks.
const CHUNK: usize = 1 << 14;

/// `Σ a·b` on `Cpu` (see [`crate::conv::dot`]); `a` carries the tape, both get gradients.
pub fn dot<S: Shape, E: CpuFloat, T: Tape<E, Cpu>>(
    a: Tensor<S, E, Cpu, T>,
    b: &Tensor<S, E, Cpu>,
) -> Result<Tensor<(), E, Cpu, T>, CpuError> {
    super::keep_freed_buffers();
    let (a, mut tape) = a.split_tape();
    let (av, a) = values(a);
    let (bv, b) = values(b.clone());
    let partials: Vec<E> =
        av.par_chunks(CHUNK).zip(bv.par_chunks(CHUNK)).map(|(x, y)| sum_of_products(x, y)).collect();
    let sum = partials.into_iter().fold(E::zero(), |s, p| s + p);
    let out = a.device().try_tensor_from_vec(vec![sum], ())?;
    if T::OWNS_TAPE {
        let (a_g, b_g, out_g) = (a.ghost(), b.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            let g = grads.get_or_alloc_mut(&out_g)?[0];
            for (grad, other) in [(a_g, &bv), (b_g, &av)] {
                grads.get_or_alloc_mut(&grad)?.par_chunks_mut(CHUNK).zip(other.par_chunks(CHUNK)).for_each(
                    |(d, v)| {
                        d.iter_mut().zip(v).for_each(|(d, &v)| *d += g * v);
                    },
                );
            }
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
