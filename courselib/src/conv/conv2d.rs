//! 2-D convolution: the function [`conv2d`] and the layer [`Conv2d`].

use dfdx::nn::{BuildOnDevice, Module, ModuleVisitor, NonMutableModule, TensorCollection, TensorOptions};
use dfdx::prelude::*;
use rand_distr::uniform::SampleUniform;

use super::{uniform_fan_in, ConvDevice};

/// 2-D convolution (cross-correlation, as in PyTorch), NCHW.
///
/// - `x`: `(B, C, H, W)`, carries the tape.
/// - `weight`: `(O, C, K, K)`; `bias`: `(O,)`.
/// - stride `S` and padding `P` (zeros on every side) as `Const::<S>`, `Const::<P>`.
/// - returns `y`: `(B, O, OH, OW)` with
///   `y[b, o, i, j] = bias[o] + Σ_{c, u, v} weight[o, c, u, v] · x[b, c, i·S + u − P, j·S + v − P]`
///   (`x` is zero outside the image), `OH = (H + 2P − K)/S + 1`, `OW = (W + 2P − K)/S + 1`.
///
/// The output size comes from the type you ask for and is checked when the code is
/// built (see [the module docs](super)):
///
/// ```
/// use courselib::conv::conv2d;
/// use dfdx::prelude::*;
///
/// let dev = Cpu::default();
/// let x: Tensor<Rank4<2, 1, 28, 28>, f32, _> = dev.sample_normal();
/// let w: Tensor<Rank4<8, 1, 3, 3>, f32, _> = dev.sample_normal();
/// let b: Tensor<Rank1<8>, f32, _> = dev.zeros();
/// let y: Tensor<Rank4<2, 8, 14, 14>, f32, _> = conv2d(x, &w, &b, Const::<2>, Const::<1>);
/// ```
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
    E: Dtype,
    D: ConvDevice<E>,
    T: Tape<E, D>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, D, T>,
    weight: &Tensor<Rank4<O, C, K, K>, E, D>,
    bias: &Tensor<Rank1<O>, E, D>,
    _stride: Const<S>,
    _padding: Const<P>,
) -> Tensor<Rank4<B, O, OH, OW>, E, D, T> {
    D::try_conv2d::<B, C, H, W, O, K, S, P, OH, OW, T>(x, weight, bias).unwrap()
}

/// Builder of [`Conv2d`] for `dev.build_module::<_, E>()`: `C_IN → C_OUT` channels, kernel
/// `K × K`, stride `S`, padding `P`, output `OH × OW`. Lives in [`super::builders`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Conv2dBuilder<
    const C_IN: usize,
    const C_OUT: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
>;

/// A 2-D convolution layer ([`conv2d`]) with its parameters, for dfdx tuples, optimisers
/// and `alloc_grads`. Build it from [`super::builders::Conv2d`].
///
/// - input `(B, C_IN, H, W)`, output `(B, C_OUT, OH, OW)`; `OH`, `OW` are checked
///   against `H`, `W`, `K`, `S`, `P` when the model is built into a program.
/// - `weight`: `(C_OUT, C_IN, K, K)`, `bias`: `(C_OUT,)`, both initialised as in PyTorch,
///   uniform in `±1/√(C_IN·K·K)`.
#[derive(Debug, Clone)]
pub struct Conv2d<
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
    pub weight: Tensor<Rank4<C_OUT, C_IN, K, K>, E, D>,
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
    > BuildOnDevice<D, E> for Conv2dBuilder<C_IN, C_OUT, K, S, P, OH, OW>
where
    Conv2d<C_IN, C_OUT, K, S, P, OH, OW, E, D>: BuildModule<D, E>,
{
    type Built = Conv2d<C_IN, C_OUT, K, S, P, OH, OW, E, D>;
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
    > TensorCollection<E, D> for Conv2d<C_IN, C_OUT, K, S, P, OH, OW, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Conv2d<C_IN, C_OUT, K, S, P, OH, OW, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(|t| uniform_fan_in(t, C_IN * K * K)),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(|t| uniform_fan_in(t, C_IN * K * K)),
                ),
            ),
            |(weight, bias)| Conv2d { weight, bias },
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
    > NonMutableModule for Conv2d<C_IN, C_OUT, K, S, P, OH, OW, E, D>
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
    > Module<Tensor<Rank4<B, C_IN, H, W>, E, D, T>> for Conv2d<C_IN, C_OUT, K, S, P, OH, OW, E, D>
{
    type Output = Tensor<Rank4<B, C_OUT, OH, OW>, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<Rank4<B, C_IN, H, W>, E, D, T>) -> Result<Self::Output, D::Err> {
        D::try_conv2d::<B, C_IN, H, W, C_OUT, K, S, P, OH, OW, T>(x, &self.weight, &self.bias)
    }
}
