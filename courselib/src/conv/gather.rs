//! The device-generic path: every op built from dfdx's own differentiable ops, so it runs
//! on any `D: Device<E>` (`Cpu`, `Cuda`) and dfdx's tape differentiates it.
//!
//! It is the lesson of the chapter written out: a convolution is a **gather** (im2col:
//! copy every input pixel each kernel tap reads into a column) followed by a **matrix
//! multiply** with the weight matrix. Pooling is the same gather followed by a max or a
//! mean over the taps. It is also the reference the fast kernels are tested against.
//!
//! Inside the functions the sizes `C·K·K` and `OH·OW` are runtime `usize` dimensions:
//! stable Rust cannot name `Const<{C * K * K}>` in generic code.

use dfdx::prelude::*;
use dfdx::tensor_ops::Device;

use super::shape::{check_conv2d, check_conv_transpose2d, check_pool2d, Geometry};

/// The im2col gather index of one image with `c` channels: entry `r·(oh·ow) + q`, for row
/// `r = (ci, ky, kx)` and output position `q = (oy, ox)`, is the flat offset
/// `ci·h·w + iy·w + ix` of the input pixel that tap reads, or `c·h·w` (one past the
/// image: the caller appends a zero there) where the tap reads padding.
/// Length `c·k·k·oh·ow`.
pub fn im2col_index(c: usize, g: Geometry) -> Vec<usize> {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let mut idx = vec![c * hw; c * g.k * g.k * ohw];
    for (r, row) in idx.chunks_exact_mut(ohw).enumerate() {
        let (ci, ky, kx) = (r / (g.k * g.k), r / g.k % g.k, r % g.k);
        for oy in g.rows(ky) {
            for ox in g.cols(kx) {
                row[oy * g.ow + ox] = ci * hw + g.source(oy, ky) * g.w + g.source(ox, kx);
            }
        }
    }
    idx
}

/// The gather index of a transposed convolution, the adjoint of [`im2col_index`]: `g` is
/// the geometry of the convolution it transposes (input `g.h × g.w` = the transposed
/// convolution's output, output `g.oh × g.ow` = its input, with `c` channels). Entry
/// `r·(h·w) + q`, for row `r = (ci, ky, kx)` and output position `q = (y, x)`, is the
/// offset `ci·oh·ow + iy·ow + ix` of the input pixel with `iy·s + ky − p = y` and
/// `ix·s + kx − p = x`, or `c·oh·ow` (the appended zero) if there is none.
/// Length `c·k·k·h·w`.
pub fn conv_transpose_index(c: usize, g: Geometry) -> Vec<usize> {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let mut idx = vec![c * ohw; c * g.k * g.k * hw];
    for (r, row) in idx.chunks_exact_mut(hw).enumerate() {
        let (ci, ky, kx) = (r / (g.k * g.k), r / g.k % g.k, r % g.k);
        for iy in g.rows(ky) {
            for ix in g.cols(kx) {
                row[g.source(iy, ky) * g.w + g.source(ix, kx)] = ci * ohw + iy * g.ow + ix;
            }
        }
    }
    idx
}

/// Gathers the columns of a whole batch side by side: `x (B, n)` with the index `idx` of
/// one image (length `rows·q`, entries `0..=n`, `n` meaning zero) gives `(rows, B·q)`,
/// where row `r` holds image 0's `q` entries, then image 1's, and so on.
#[allow(clippy::type_complexity)]
fn gather_columns<const B: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<(Const<B>, usize), E, D, T>,
    idx: &[usize],
    (rows, q): (usize, usize),
) -> Result<Tensor<(usize, usize), E, D, T>, D::Err> {
    let dev = x.device().clone();
    let row_len = x.shape().1 + 1;
    // a zero at offset n of every image: padding taps read it
    let x = (x, dev.try_zeros_like(&(Const::<B>, Const::<1>))?).try_concat_along(Axis::<1>)?;
    let x = x.try_reshape_like(&(B * row_len,))?;
    let batch_idx = idx
        .chunks_exact(q)
        .flat_map(|row| (0..B).flat_map(move |b| row.iter().map(move |&i| b * row_len + i)))
        .collect();
    let cols: Tensor<(usize,), E, D, T> =
        x.try_gather(dev.try_tensor_from_vec(batch_idx, (rows * B * q,))?)?;
    cols.try_reshape_like(&(rows, B * q))
}

/// `y (B, O, OH, OW) = wm (O, r) · cols (r, B·OH·OW) + bias`, one matrix product for the
/// whole batch, where the tape comes with `wm`. (Not a batched product with the weight
/// broadcast over the batch: dfdx's batched matmul on `Cuda` refuses a broadcast operand,
/// and a copy of one differentiates wrongly there.)
fn matmul_bias<const B: usize, const O: usize, const OH: usize, const OW: usize, E, D, T>(
    wm: Tensor<(Const<O>, usize), E, D, T>,
    cols: Tensor<(usize, usize), E, D>,
    bias: &Tensor<Rank1<O>, E, D>,
) -> Result<Tensor<Rank4<B, O, OH, OW>, E, D, T>, D::Err>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    let y = wm.try_matmul(cols)?.try_reshape_like(&(Const::<O>, Const::<B>, Const::<OH>, Const::<OW>))?;
    let y = y.try_permute::<Rank4<B, O, OH, OW>, Axes4<1, 0, 2, 3>>()?.try_contiguous()?;
    y.try_add(bias.clone().try_broadcast::<Rank4<B, O, OH, OW>, Axes3<0, 2, 3>>()?)
}

/// Device-generic conv2d; same inputs and output as [`crate::conv::conv2d`].
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
    D: Device<E>,
    T: Tape<E, D>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, D, T>,
    weight: &Tensor<Rank4<O, C, K, K>, E, D>,
    bias: &Tensor<Rank1<O>, E, D>,
) -> Result<Tensor<Rank4<B, O, OH, OW>, E, D, T>, D::Err> {
    const { check_conv2d(H, W, K, S, P, OH, OW) };
    let g = Geometry::conv(H, W, K, S, P);
    let x = x.try_reshape_like(&(Const::<B>, C * H * W))?;
    let cols = gather_columns(x, &im2col_index(C, g), (C * K * K, OH * OW))?;
    // matmul wants the tape on its left operand: move it to the weight, so every op on
    // the (tapeless) parameter is recorded and its gradient reaches `weight`
    let (cols, tape) = cols.split_tape();
    let wm = weight.clone().put_tape(tape).try_reshape_like(&(Const::<O>, C * K * K))?;
    matmul_bias(wm, cols, bias)
}

/// Device-generic transposed conv2d; same inputs and output as
/// [`crate::conv::conv_transpose2d`].
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
    D: Device<E>,
    T: Tape<E, D>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, D, T>,
    weight: &Tensor<Rank4<C, O, K, K>, E, D>,
    bias: &Tensor<Rank1<O>, E, D>,
) -> Result<Tensor<Rank4<B, O, OH, OW>, E, D, T>, D::Err> {
    const { check_conv_transpose2d(H, W, K, S, P, OH, OW) };
    let g = Geometry::conv(OH, OW, K, S, P);
    let x = x.try_reshape_like(&(Const::<B>, C * H * W))?;
    let cols = gather_columns(x, &conv_transpose_index(C, g), (C * K * K, OH * OW))?;
    let (cols, tape) = cols.split_tape(); // the tape goes to the weight, as in `conv2d`
                                          // W'[o, (c, ky, kx)] = W[c, o, ky, kx]; `permute` is a view, the reshape copies
    let wm = weight.clone().put_tape(tape).try_permute::<Rank4<O, C, K, K>, Axes4<1, 0, 2, 3>>()?;
    let wm = wm.try_reshape_like(&(Const::<O>, C * K * K))?;
    matmul_bias(wm, cols, bias)
}

/// The pooling windows of every plane: `x (B, C, H, W)` gives `(B, C, K·K, OH·OW)`.
#[allow(clippy::type_complexity)]
fn pool_taps<const B: usize, const C: usize, const H: usize, const W: usize, E, D, T>(
    x: Tensor<Rank4<B, C, H, W>, E, D, T>,
    g: Geometry,
) -> Result<Tensor<(Const<B>, Const<C>, usize, usize), E, D, T>, D::Err>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    let (kk, ohw) = (g.k * g.k, g.oh * g.ow);
    // each (b, c) plane is a one-channel image; there is no padding, so no zero entry
    let idx = x.device().try_tensor_from_vec(im2col_index(1, g), (kk * ohw,))?;
    let idx = idx.try_broadcast_like::<_, Axes2<0, 1>>(&(Const::<B>, Const::<C>, kk * ohw))?;
    let x = x.try_reshape_like(&(Const::<B>, Const::<C>, H * W))?;
    let taps: Tensor<(Const<B>, Const<C>, usize), E, D, T> = x.try_gather(idx)?;
    taps.try_reshape_like(&(Const::<B>, Const::<C>, kk, ohw))
}

/// Device-generic max pooling; same input and output as [`crate::conv::max_pool2d`].
/// dfdx's `max` gives the full gradient to *every* input equal to the maximum, so on
/// ties this differs from the fast `Cpu` kernel (which picks the first).
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
    D: Device<E>,
    T: Tape<E, D>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, D, T>,
) -> Result<Tensor<Rank4<B, C, OH, OW>, E, D, T>, D::Err> {
    const { check_pool2d(H, W, K, S, OH, OW) };
    let taps = pool_taps(x, Geometry::conv(H, W, K, S, 0))?;
    let m = taps.try_max::<(Const<B>, Const<C>, usize), Axis<2>>()?;
    m.try_reshape_like(&(Const::<B>, Const::<C>, Const::<OH>, Const::<OW>))
}

/// Device-generic average pooling; same input and output as [`crate::conv::avg_pool2d`].
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
    D: Device<E>,
    T: Tape<E, D>,
>(
    x: Tensor<Rank4<B, C, H, W>, E, D, T>,
) -> Result<Tensor<Rank4<B, C, OH, OW>, E, D, T>, D::Err> {
    const { check_pool2d(H, W, K, S, OH, OW) };
    let taps = pool_taps(x, Geometry::conv(H, W, K, S, 0))?;
    let m = taps.try_mean::<(Const<B>, Const<C>, usize), Axis<2>>()?;
    m.try_reshape_like(&(Const::<B>, Const::<C>, Const::<OH>, Const::<OW>))
}

/// Device-generic inner product `Σ a·b`; same inputs and output as [`crate::conv::dot`].
pub fn dot<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    a: Tensor<S, E, D, T>,
    b: &Tensor<S, E, D>,
) -> Result<Tensor<(), E, D, T>, D::Err> {
    a.try_mul(b.clone())?.try_sum()
}
