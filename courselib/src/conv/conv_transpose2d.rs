//! 2-D transposed convolution: the function [`conv_transpose2d`] and the layer
//! [`ConvTranspose2d`].

use dfdx::nn::{BuildOnDevice, Module, ModuleVisitor, NonMutableModule, TensorCollection, TensorOptions};
use dfdx::prelude::*;
use rand_distr::uniform::SampleUniform;

use super::{uniform_fan_in, ConvDevice};

/// 2-D transposed convolution (PyTorch's `conv_transpose2d`, no output padding), NCHW:
/// the adjoint of [`super::conv2d`] with the same weight, used to upsample.
///
/// - `x`: `(B, C, H, W)`, carries the tape.
/// - `weight`: `(C, O, K, K)` (input channels first, as in PyTorch); `bias`: `(O,)`.
/// - stride `S` and padding `P` as `Const::<S>`, `Const::<P>`.
/// - returns `y`: `(B, O, OH, OW)` with `OH = (H − 1)·S + K − 2P` (same for `OW`) and
///   `y[b, o, i·S + u − P, j·S + v − P] += weight[c, o, u, v] · x[b, c, i, j]` over all
///   `c, i, j, u, v` (terms that land outside `OH × OW` are dropped), plus `bias[o]`.
///
/// ```
/// use courselib::conv::conv_transpose2d;
/// use dfdx::prelude::*;
///
/// let dev = Cpu::default();
/// let x: Tensor<Rank4<2, 16, 7, 7>, f32, _> = dev.sample_normal();
/// let w: Tensor<Rank4<16, 8, 4, 4>, f32, _> = dev.sample_normal();
/// let b: Tensor<Rank1<8>, f32, _> = dev.zeros();
/// // 7 → (7 − 1)·2 + 4 − 2 = 14
/// let y: Tensor<Rank4<2, 8, 14, 14>, f32, _> = conv_transpose2d(x, &w, &b, Const::<2>, Const::<1>);
/// ```
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
    E: Dtype,
    D: ConvDevice<E>,
    T: Tape<E, D>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, D, T>,
    weight: &Tensor<Rank4<C, O, K, K>, E, D>,
    bias: &Tensor<Rank1<O>, E, D>,
    _stride: Const<S>,
    _padding: Const<P>,
) -> Tensor<Rank4<B, O, OH, OW>, E, D, T> {
    D::try_conv_transpose2d::<B, C, H, W, O, K, S, P, OH, OW, T>(x, weight, bias).unwrap()
}

/// Builder of [`ConvTranspose2d`]: `C_IN → C_OUT` channels, kernel `K × K`, stride `S`,
/// padding `P`, output `OH × OW`. Lives in [`super::builders`].
#[derive(Debug, Default, Clone, Copy)]
pub struct ConvTranspose2dBuilder<
    const C_IN: usize,
    const C_OUT: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
>;

/// A transposed convolution layer ([`conv_transpose2d`]) with its parameters.
///
/// - input `(B, C_IN, H, W)`, output `(B, C_OUT, OH, OW)`, `OH = (H − 1)·S + K − 2P`.
/// - `weight`: `(C_IN, C_OUT, K, K)`, `bias`: `(C_OUT,)`, uniform in `±1/√(C_OUT·K·K)`:
///   PyTorch takes the fan-in from the weight's second dimension, and so do we.
#[derive(Debug, Clone)]
pub struct ConvTranspose2d<
    const C_IN: usize,
    const C_OUT: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
    E: Dtype,
    D: Storage<E>,
> {
    pub weight: Tensor<Rank4<C_IN, C_OUT, K, K>, E, D>,
    pub bias: Tensor<Rank1<C_OUT>, E, D>,
}

impl<
        const C_IN: usize,
        const C_OUT: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
        E: Dtype,
        D: Device<E>,
    > BuildOnDevice<D, E> for ConvTranspose2dBuilder<C_IN, C_OUT, K, S, P, OH, OW>
where
    ConvTranspose2d<C_IN, C_OUT, K, S, P, OH, OW, E, D>: BuildModule<D, E>,
{
    type Built = ConvTranspose2d<C_IN, C_OUT, K, S, P, OH, OW, E, D>;
}

impl<
        const C_IN: usize,
        const C_OUT: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
        E: Dtype + num_traits::Float + SampleUniform,
        D: Device<E>,
    > TensorCollection<E, D> for ConvTranspose2d<C_IN, C_OUT, K, S, P, OH, OW, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ConvTranspose2d<C_IN, C_OUT, K, S, P, OH, OW, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(|t| uniform_fan_in(t, C_OUT * K * K)),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(|t| uniform_fan_in(t, C_OUT * K * K)),
                ),
            ),
            |(weight, bias)| ConvTranspose2d { weight, bias },
        )
    }
}

impl<
        const C_IN: usize,
        const C_OUT: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
        E: Dtype,
        D: Storage<E>,
    > NonMutableModule for ConvTranspose2d<C_IN, C_OUT, K, S, P, OH, OW, E, D>
{
}

impl<
        const B: usize,
        const C_IN: usize,
        const H: usize,
        const W: usize,
        const C_OUT: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
        E: Dtype,
        D: ConvDevice<E>,
        T: Tape<E, D>,
    > Module<Tensor<Rank4<B, C_IN, H, W>, E, D, T>> for ConvTranspose2d<C_IN, C_OUT, K, S, P, OH, OW, E, D>
{
    type Output = Tensor<Rank4<B, C_OUT, OH, OW>, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<Rank4<B, C_IN, H, W>, E, D, T>) -> Result<Self::Output, D::Err> {
        D::try_conv_transpose2d::<B, C_IN, H, W, C_OUT, K, S, P, OH, OW, T>(x, &self.weight, &self.bias)
    }
}
