//! Max and average pooling: the functions [`max_pool2d`], [`avg_pool2d`] and the layers
//! [`MaxPool2d`], [`AvgPool2d`] (no parameters).

use dfdx::nn::{Module, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::*;

use super::ConvDevice;

/// Max pooling over `K × K` windows with stride `S`, no padding, NCHW.
///
/// - `x`: `(B, C, H, W)`, carries the tape.
/// - returns `(B, C, OH, OW)`, `y[b, c, i, j] = max_{u, v < K} x[b, c, i·S + u, j·S + v]`,
///   `OH = (H − K)/S + 1`, `OW = (W − K)/S + 1`. Windows may overlap (`K > S`).
/// - gradient: each output's gradient goes to the input that was its maximum. On ties
///   the fast `Cpu` kernel gives it to the first in row-major window order only; the
///   generic path (`gather::max_pool2d`, used on `Cuda`) gives the full gradient
///   to every tied input, as dfdx's `max` does.
///
/// ```
/// use courselib::conv::max_pool2d;
/// use dfdx::prelude::*;
///
/// let dev = Cpu::default();
/// let x: Tensor<Rank4<2, 8, 28, 28>, f32, _> = dev.sample_normal();
/// // overlapping pooling, K = 3, S = 2: (28 − 3)/2 + 1 = 13
/// let y: Tensor<Rank4<2, 8, 13, 13>, f32, _> = max_pool2d(x, Const::<3>, Const::<2>);
/// ```
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
    E: Dtype,
    D: ConvDevice<E>,
    T: Tape<E, D>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, D, T>,
    _window: Const<K>,
    _stride: Const<S>,
) -> Tensor<Rank4<B, C, OH, OW>, E, D, T> {
    D::try_max_pool2d::<B, C, H, W, K, S, OH, OW, T>(x).unwrap()
}

/// Average pooling over `K × K` windows with stride `S`, no padding, NCHW.
///
/// - `x`: `(B, C, H, W)`, carries the tape.
/// - returns `(B, C, OH, OW)`, `y[b, c, i, j] = (1/K²) Σ_{u, v < K} x[b, c, i·S + u, j·S + v]`,
///   `OH = (H − K)/S + 1`, `OW = (W − K)/S + 1`.
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
    E: Dtype,
    D: ConvDevice<E>,
    T: Tape<E, D>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, D, T>,
    _window: Const<K>,
    _stride: Const<S>,
) -> Tensor<Rank4<B, C, OH, OW>, E, D, T> {
    D::try_avg_pool2d::<B, C, H, W, K, S, OH, OW, T>(x).unwrap()
}

/// The [`max_pool2d`] layer: window `K × K`, stride `S`, output `OH × OW`.
/// Input `(B, C, H, W)`, output `(B, C, OH, OW)`.
#[derive(Debug, Default, Clone, Copy)]
pub struct MaxPool2d<const K: usize, const S: usize, const OH: usize, const OW: usize>;

/// The [`avg_pool2d`] layer: window `K × K`, stride `S`, output `OH × OW`.
/// Input `(B, C, H, W)`, output `(B, C, OH, OW)`.
#[derive(Debug, Default, Clone, Copy)]
pub struct AvgPool2d<const K: usize, const S: usize, const OH: usize, const OW: usize>;

impl<const K: usize, const S: usize, const OH: usize, const OW: usize> ZeroSizedModule
    for MaxPool2d<K, S, OH, OW>
{
}
impl<const K: usize, const S: usize, const OH: usize, const OW: usize> NonMutableModule
    for MaxPool2d<K, S, OH, OW>
{
}
impl<const K: usize, const S: usize, const OH: usize, const OW: usize> ZeroSizedModule
    for AvgPool2d<K, S, OH, OW>
{
}
impl<const K: usize, const S: usize, const OH: usize, const OW: usize> NonMutableModule
    for AvgPool2d<K, S, OH, OW>
{
}

impl<
        const B: usize,
        const C: usize,
        const H: usize,
        const W: usize,
        const K: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
        E: Dtype,
        D: ConvDevice<E>,
        T: Tape<E, D>,
    > Module<Tensor<Rank4<B, C, H, W>, E, D, T>> for MaxPool2d<K, S, OH, OW>
{
    type Output = Tensor<Rank4<B, C, OH, OW>, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<Rank4<B, C, H, W>, E, D, T>) -> Result<Self::Output, D::Err> {
        D::try_max_pool2d::<B, C, H, W, K, S, OH, OW, T>(x)
    }
}

impl<
        const B: usize,
        const C: usize,
        const H: usize,
        const W: usize,
        const K: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
        E: Dtype,
        D: ConvDevice<E>,
        T: Tape<E, D>,
    > Module<Tensor<Rank4<B, C, H, W>, E, D, T>> for AvgPool2d<K, S, OH, OW>
{
    type Output = Tensor<Rank4<B, C, OH, OW>, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<Rank4<B, C, H, W>, E, D, T>) -> Result<Self::Output, D::Err> {
        D::try_avg_pool2d::<B, C, H, W, K, S, OH, OW, T>(x)
    }
}
