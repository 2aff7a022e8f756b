//! [`dot`]: the inner product `Σ a·b` of two tensors, the loss of the chapter's gradient
//! checks and benchmarks (`L = Σ y·R`).

use dfdx::prelude::*;

use super::ConvDevice;

/// The inner product of two tensors of the same shape `S`: a scalar, `Σ_i a_i·b_i`.
///
/// - `a`: any shape, carries the tape; `b`: the same shape.
/// - returns `()`-shaped `L`; backward gives `∂L/∂a = b` and `∂L/∂b = a`.
///
/// It computes `(a * b).sum()`; on `Cpu` in one pass instead of dfdx's three (product,
/// sum, and their backward passes), with no temporary tensor.
///
/// ```
/// use courselib::conv::dot;
/// use dfdx::prelude::*;
///
/// let dev = Cpu::default();
/// let a = dev.tensor([1.0f32, 2.0, 3.0]);
/// let b = dev.tensor([4.0f32, 5.0, 6.0]);
/// let l = dot(a.leaky_trace(), &b);
/// assert_eq!(l.array(), 32.0);
/// assert_eq!(l.backward().get(&a).array(), [4.0, 5.0, 6.0]);
/// ```
pub fn dot<S: Shape, E: Dtype, D: ConvDevice<E>, T: Tape<E, D>>(
    a: Tensor<S, E, D, T>,
    b: &Tensor<S, E, D>,
) -> Tensor<(), E, D, T> {
    D::try_dot(a, b).unwrap()
}
