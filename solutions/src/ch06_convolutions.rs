//! Chapter 6: convolutional networks.
//!
//! The convolution twice: with plain loops, and as im2col (a gather of every receptive
//! field into a column, then one batched matrix product) built from dfdx's own
//! differentiable operations, so that it runs on any device and the tape gives its
//! gradients. Around it: the output-size and parameter-count formulas, max and average
//! pooling, batch normalisation with running statistics, inverted dropout, and data
//! augmentation with the `image` crate. Finally a conv block (the course's
//! `courselib::conv` layers with your batch normalisation) and a small CNN trained on
//! Fashion-MNIST.
//!
//! Tensors are NCHW: `(batch, channels, height, width)`; filters are `(out channels, in
//! channels, K, K)`. A convolution's output size `OH`, `OW` is a const parameter of its
//! result type, checked at compile time against the formula of section 6.2.

use courselib::conv::shape::{check_conv2d, check_pool2d};
use courselib::conv::ConvDevice;
use courselib::device::Dev;
use datasets::ImageSet;
use dfdx::nn::modules::Linear;
use dfdx::nn::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::optim::Adam;
use dfdx::prelude::*;
use image::{Rgb, RgbImage};
use rand::Rng;

// ANCHOR: conv_output_size
/// The number of positions of a `kernel`-wide window along an axis of `input` values
/// padded with `padding` zeros on both sides and moved by `stride`:
/// `(input + 2·padding − kernel) / stride + 1`, rounded down (a last window that would
/// stick out of the padded input is dropped).
///
/// The same formula gives a pooling layer's output size with `padding = 0`.
///
/// Panics when `stride` is 0 or the kernel is larger than the padded input.
pub fn conv_output_size(input: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    assert!(stride > 0, "conv_output_size: the stride must be at least 1");
    assert!(
        kernel <= input + 2 * padding,
        "conv_output_size: a kernel of {kernel} does not fit into {input} values padded by {padding}"
    );
    // BEGIN SOLUTION conv_output_size: count the window positions in the padded input
    (input + 2 * padding - kernel) / stride + 1
    // END SOLUTION
}
// ANCHOR_END: conv_output_size

// ANCHOR: conv_parameter_count
/// The number of learned values of a convolutional layer with `filters` filters of
/// `kernel x kernel x in_channels` weights each, plus one bias per filter when `bias`.
///
/// It does not depend on the height and width of the image: every filter is shared by
/// all positions.
pub fn conv_parameter_count(in_channels: usize, filters: usize, kernel: usize, bias: bool) -> usize {
    // BEGIN SOLUTION conv_parameter_count: weights of every filter over all input channels, plus the biases
    filters * kernel * kernel * in_channels + if bias { filters } else { 0 }
    // END SOLUTION
}
// ANCHOR_END: conv_parameter_count

// ANCHOR: conv2d_naive
/// A 2-D convolution with loops, the definition of section 6.2 written out:
///
/// `y[b, o, i, j] = bias[o] + Σ_c Σ_u Σ_v x_pad[b, c, i·S + u, j·S + v] · weight[o, c, u, v]`
///
/// where `x_pad` is `x` with `P` zeros around each image (so `x_pad[.., r, s]` is
/// `x[.., r − P, s − P]`, or 0 outside `x`). As in every deep-learning library the filter
/// is not flipped (strictly, a cross-correlation).
///
/// - `x`: `(B, C, H, W)`; `weight`: `(O, C, K, K)`; `bias`: `(O,)`.
/// - `Const::<S>` and `Const::<P>`: stride and padding.
/// - returns `(B, O, OH, OW)`; `OH` and `OW` must be the sizes of section 6.2 (a compile
///   error otherwise).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_naive<
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
>(
    x: &Tensor<Rank4<B, C, H, W>, E, D>,
    weight: &Tensor<Rank4<O, C, K, K>, E, D>,
    bias: &Tensor<Rank1<O>, E, D>,
    _stride: Const<S>,
    _padding: Const<P>,
) -> Tensor<Rank4<B, O, OH, OW>, E, D> {
    const { check_conv2d(H, W, K, S, P, OH, OW) };
    // BEGIN SOLUTION conv2d_naive: for every output value, the bias plus the weighted sum over channels and kernel taps inside the image
    let (xs, ws, bs) = (x.as_vec(), weight.as_vec(), bias.as_vec());
    let mut y = Vec::with_capacity(B * O * OH * OW);
    for b in 0..B {
        for o in 0..O {
            for i in 0..OH {
                for j in 0..OW {
                    let mut sum = bs[o];
                    for c in 0..C {
                        for u in 0..K {
                            for v in 0..K {
                                // position in the padded image, then in the image itself
                                let (r, s) = (i * S + u, j * S + v);
                                if r < P || s < P || r - P >= H || s - P >= W {
                                    continue; // a padding zero
                                }
                                let pixel = xs[((b * C + c) * H + r - P) * W + s - P];
                                sum += pixel * ws[((o * C + c) * K + u) * K + v];
                            }
                        }
                    }
                    y.push(sum);
                }
            }
        }
    }
    x.device().tensor_from_vec(y, (Const::<B>, Const::<O>, Const::<OH>, Const::<OW>))
    // END SOLUTION
}
// ANCHOR_END: conv2d_naive

// ANCHOR: im2col_indices
/// Where the im2col matrix of one image reads its values: the index table of a gather.
///
/// The matrix has one row per filter tap `r = (c, u, v)` (`channels·kernel·kernel` rows,
/// in that order) and one column per output position `q = (i, j)` (`OH·OW` columns, row by
/// row). Entry `r·(OH·OW) + q` of the returned vector is the flat index
/// `c·height·width + (i·stride + u − padding)·width + (j·stride + v − padding)` of the
/// pixel that tap `r` of the window at `q` sees, or `channels·height·width` (one past the
/// last pixel: the course appends a zero there) when that pixel lies in the padding.
pub fn im2col_indices(
    channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Vec<usize> {
    // BEGIN SOLUTION im2col_indices: loop over taps (c, u, v), then output positions (i, j); out-of-image taps read the zero at the end
    let (oh, ow) =
        (conv_output_size(height, kernel, stride, padding), conv_output_size(width, kernel, stride, padding));
    let zero = channels * height * width;
    let mut indices = Vec::with_capacity(channels * kernel * kernel * oh * ow);
    for c in 0..channels {
        for u in 0..kernel {
            for v in 0..kernel {
                for i in 0..oh {
                    for j in 0..ow {
                        let (r, s) = (i * stride + u, j * stride + v);
                        let inside =
                            r >= padding && s >= padding && r - padding < height && s - padding < width;
                        indices.push(if inside {
                            (c * height + r - padding) * width + s - padding
                        } else {
                            zero
                        });
                    }
                }
            }
        }
    }
    indices
    // END SOLUTION
}
// ANCHOR_END: im2col_indices

// ANCHOR: conv2d_im2col
/// The convolution of [`conv2d_naive`] as one gather and one matrix product, from
/// dfdx operations only: it works on any device and keeps the tape `T` of `x`, so that
/// `backward` gives the gradients of `x`, `weight` and `bias`.
///
/// 1. Flatten each image to `C·H·W` values and append one zero: `(B, C·H·W + 1)`.
/// 2. Gather with [`im2col_indices`] (the same table for every image): the columns
///    `(B, C·K·K, OH·OW)`, each column one receptive field.
/// 3. Lay the columns of all images side by side, `(C·K·K, B·OH·OW)` (permute to
///    `(C·K·K, B, OH·OW)`, reshape), and multiply the filters as a `(O, C·K·K)` matrix
///    with them: `(O, B·OH·OW)`, one product for the whole batch. Reshape to
///    `(O, B, OH, OW)`, permute to `(B, O, OH, OW)` (`contiguous` makes the copy) and add
///    the bias.
///
/// Shapes as in [`conv2d_naive`]. Inside, the sizes `C·H·W`, `C·K·K` and `OH·OW` are
/// runtime `usize` dimensions: stable Rust cannot compute them as types.
///
/// ```compile_fail,E0080
/// use dfdx::prelude::*;
/// use solutions::ch06_convolutions::conv2d_im2col;
/// let dev: Cpu = Default::default();
/// let x: Tensor<Rank4<2, 1, 28, 28>, f32, _> = dev.zeros();
/// let w: Tensor<Rank4<8, 1, 3, 3>, f32, _> = dev.zeros();
/// let b: Tensor<Rank1<8>, f32, _> = dev.zeros();
/// // A 3x3 kernel without padding gives 26x26, not 28x28: error[E0080] at compile time.
/// let y: Tensor<Rank4<2, 8, 28, 28>, f32, _> = conv2d_im2col(x, &w, &b, Const::<1>, Const::<0>);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn conv2d_im2col<
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
    _stride: Const<S>,
    _padding: Const<P>,
) -> Tensor<Rank4<B, O, OH, OW>, E, D, T> {
    const { check_conv2d(H, W, K, S, P, OH, OW) };
    // BEGIN SOLUTION conv2d_im2col: flatten and append a zero, gather the columns, multiply by the filter matrix, add the bias
    let dev = x.device().clone();
    let (taps, positions) = (C * K * K, OH * OW);
    let indices = dev.tensor_from_vec(im2col_indices(C, H, W, K, S, P), (taps * positions,));
    let flat = x.reshape_like(&(Const::<B>, C * H * W));
    let padded = (flat, dev.zeros_like(&(Const::<B>, 1))).concat_along(Axis::<1>);
    let columns: Tensor<(Const<B>, usize), E, D, T> =
        padded.gather(indices.broadcast_like::<_, Axis<0>>(&(Const::<B>, taps * positions)));
    // The batch's columns side by side, (C·K·K, B·OH·OW), for one matrix product.
    let columns = columns.reshape_like(&(Const::<B>, taps, positions)).permute::<_, Axes3<1, 0, 2>>();
    let columns = columns.reshape_like(&(taps, B * positions));
    // The filters join the tape of x, so that their gradient is recorded too.
    let filters = weight.retaped::<T>().reshape_like(&(Const::<O>, taps));
    let y = filters.matmul(columns).reshape_like(&(Const::<O>, Const::<B>, Const::<OH>, Const::<OW>));
    let y = y.permute::<Rank4<B, O, OH, OW>, Axes4<1, 0, 2, 3>>().contiguous();
    y + bias.retaped::<T>().broadcast::<Rank4<B, O, OH, OW>, Axes3<0, 2, 3>>()
    // END SOLUTION
}
// ANCHOR_END: conv2d_im2col

// ANCHOR: max_pool2d
/// Max pooling: the largest value of every `K x K` window, moved by `S`, per channel,
/// without padding. `K = 2, S = 2` halves the image; `K = 3, S = 2` is overlapping
/// pooling (neighbouring windows share a row or a column).
///
/// Differentiable on any device: gather the windows with [`im2col_indices`] (each
/// channel of each image is a one-channel image), then take the maximum over the taps.
/// The gradient flows only to the largest value of each window.
///
/// - `x`: `(B, C, H, W)` with any tape; returns `(B, C, OH, OW)` with
///   `OH = (H − K) / S + 1` (compile error otherwise).
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
    _kernel: Const<K>,
    _stride: Const<S>,
) -> Tensor<Rank4<B, C, OH, OW>, E, D, T> {
    const { check_pool2d(H, W, K, S, OH, OW) };
    // BEGIN SOLUTION max_pool2d: gather the K·K taps of every window per channel, take the maximum over the taps
    let windows = pool_windows::<B, C, H, W, K, S, OH, OW, E, D, T>(x);
    windows.max::<(Const<B>, Const<C>, usize), Axis<2>>().reshape_like(&(
        Const::<B>,
        Const::<C>,
        Const::<OH>,
        Const::<OW>,
    ))
    // END SOLUTION
}
// ANCHOR_END: max_pool2d

/// The taps of every pooling window: `(B, C, K·K, OH·OW)`, gathered with
/// [`im2col_indices`] from each channel of each image as a one-channel image.
fn pool_windows<
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
) -> Tensor<(Const<B>, Const<C>, usize, usize), E, D, T> {
    let dev = x.device().clone();
    let (taps, positions) = (K * K, OH * OW);
    let indices = dev.tensor_from_vec(im2col_indices(1, H, W, K, S, 0), (taps * positions,));
    let planes = x.reshape_like(&(Const::<B>, Const::<C>, H * W));
    let windows: Tensor<(Const<B>, Const<C>, usize), E, D, T> =
        planes.gather(indices.broadcast_like::<_, Axes2<0, 1>>(&(Const::<B>, Const::<C>, taps * positions)));
    windows.reshape_like(&(Const::<B>, Const::<C>, taps, positions))
}

// ANCHOR: avg_pool2d
/// Average pooling: the mean of every `K x K` window, moved by `S`, per channel, without
/// padding. Shapes as in [`max_pool2d`]; every value of a window gets `1/K²` of its
/// gradient.
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
    _kernel: Const<K>,
    _stride: Const<S>,
) -> Tensor<Rank4<B, C, OH, OW>, E, D, T> {
    const { check_pool2d(H, W, K, S, OH, OW) };
    // BEGIN SOLUTION avg_pool2d: gather the K·K taps of every window per channel, average over the taps
    let windows = pool_windows::<B, C, H, W, K, S, OH, OW, E, D, T>(x);
    windows.mean::<(Const<B>, Const<C>, usize), Axis<2>>().reshape_like(&(
        Const::<B>,
        Const::<C>,
        Const::<OH>,
        Const::<OW>,
    ))
    // END SOLUTION
}
// ANCHOR_END: avg_pool2d

/// Batch normalisation of `C` feature maps (section 6.6): learned scale `γ` and shift
/// `β` per channel, and the running estimates of each channel's mean and variance that
/// replace the batch statistics at test time.
#[derive(Clone, Debug)]
pub struct BatchNorm<const C: usize, E: Dtype, D: Storage<E>> {
    /// `γ`: `(C,)`, starts at 1.
    pub gamma: Tensor<Rank1<C>, E, D>,
    /// `β`: `(C,)`, starts at 0.
    pub beta: Tensor<Rank1<C>, E, D>,
    /// The running mean `μ̂`: `(C,)`, starts at 0.
    pub running_mean: Tensor<Rank1<C>, E, D>,
    /// The running variance `σ̂²`: `(C,)`, starts at 1.
    pub running_var: Tensor<Rank1<C>, E, D>,
    /// How much of a batch's statistics enters the running ones: 0.1.
    pub momentum: f64,
    /// Added to the variance before the square root: `1e-5`.
    pub epsilon: f64,
}

impl<const C: usize, E: Dtype, D: Device<E>> BatchNorm<C, E, D> {
    /// `γ = 1`, `β = 0`, running mean 0 and variance 1, momentum 0.1, `ε = 1e-5` (the
    /// defaults of dfdx and PyTorch).
    pub fn new(dev: &D) -> Self {
        Self {
            gamma: dev.ones(),
            beta: dev.zeros(),
            running_mean: dev.zeros(),
            running_var: dev.ones(),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    // ANCHOR: batch_norm_train
    /// Training mode: normalise each channel with the statistics of this batch, then scale
    /// and shift:
    ///
    /// `μ_c = mean over (b, i, j) of x[b, c, i, j]`, `σ²_c` = the mean of `(x − μ_c)²`
    /// (divided by `n = B·H·W`), `y = γ_c · (x − μ_c) / √(σ²_c + ε) + β_c`.
    ///
    /// Also updates the running statistics, off the tape:
    /// `μ̂ ← (1 − m)·μ̂ + m·μ_c` and `σ̂² ← (1 − m)·σ̂² + m·σ²_c · n / (n − 1)` with the
    /// momentum `m` (the running variance is the unbiased estimate, as in dfdx and PyTorch).
    ///
    /// - `x`: `(B, C, H, W)` with any tape; returns the same shape on the same tape, which
    ///   reaches `x`, `γ` and `β`.
    pub fn forward_train<const B: usize, const H: usize, const W: usize, T: Tape<E, D>>(
        &mut self,
        x: Tensor<Rank4<B, C, H, W>, E, D, T>,
    ) -> Tensor<Rank4<B, C, H, W>, E, D, T> {
        let n = (B * H * W) as f64;
        assert!(n > 1.0, "batch_norm_train: a variance needs more than one value per channel");
        let scalar = |v: f64| E::from_f64(v).expect("a small float fits E");
        // BEGIN SOLUTION batch_norm_train: batch mean and variance per channel, normalise, scale and shift; update the running statistics off the tape
        let mean = x.retaped::<T>().mean::<Rank1<C>, Axes3<0, 2, 3>>();
        let batch_mean = mean.retaped::<NoneTape>();
        let centred = x - mean.broadcast();
        let var = centred.retaped::<T>().square().mean::<Rank1<C>, Axes3<0, 2, 3>>();
        let m = self.momentum;
        self.running_mean = self.running_mean.clone() * scalar(1.0 - m) + batch_mean * scalar(m);
        self.running_var = self.running_var.clone() * scalar(1.0 - m)
            + var.retaped::<NoneTape>() * scalar(m * n / (n - 1.0));
        let std = (var + scalar(self.epsilon)).sqrt();
        let normalised = centred / std.broadcast();
        normalised * self.gamma.retaped::<T>().broadcast() + self.beta.retaped::<T>().broadcast()
        // END SOLUTION
    }
    // ANCHOR_END: batch_norm_train

    // ANCHOR: batch_norm_eval
    /// Test mode: normalise with the running statistics instead of the batch's, so that
    /// every image gets the same result whatever else is in its batch:
    /// `y = γ_c · (x − μ̂_c) / √(σ̂²_c + ε) + β_c`. Changes nothing in `self`.
    pub fn forward_eval<const B: usize, const H: usize, const W: usize, T: Tape<E, D>>(
        &self,
        x: Tensor<Rank4<B, C, H, W>, E, D, T>,
    ) -> Tensor<Rank4<B, C, H, W>, E, D, T> {
        // BEGIN SOLUTION batch_norm_eval: a fixed scale γ/√(σ̂² + ε) and shift β − μ̂·scale per channel
        let epsilon = E::from_f64(self.epsilon).expect("a small float fits E");
        let scale = self.gamma.clone() / (self.running_var.clone() + epsilon).sqrt();
        let shift = self.beta.clone() - self.running_mean.clone() * scale.clone();
        x * scale.broadcast() + shift.broadcast()
        // END SOLUTION
    }
    // ANCHOR_END: batch_norm_eval
}

/// The parameters `γ`, `β` for optimisers, the running statistics as buffers that are
/// saved and moved with the model but get no gradient (as in dfdx's `BatchNorm2D`).
impl<const C: usize, E: Dtype, D: Device<E>> TensorCollection<E, D> for BatchNorm<C, E, D> {
    type To<E2: Dtype, D2: Device<E2>> = BatchNorm<C, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor("gamma", |s| &s.gamma, |s| &mut s.gamma, TensorOptions::reset_to_ones()),
                Self::tensor("beta", |s| &s.beta, |s| &mut s.beta, TensorOptions::reset_to_zeros()),
                Self::tensor(
                    "running_mean",
                    |s| &s.running_mean,
                    |s| &mut s.running_mean,
                    TensorOptions::detached(|t| t.try_fill_with_zeros()),
                ),
                Self::tensor(
                    "running_var",
                    |s| &s.running_var,
                    |s| &mut s.running_var,
                    TensorOptions::detached(|t| t.try_fill_with_ones()),
                ),
            ),
            |(gamma, beta, running_mean, running_var)| BatchNorm {
                gamma,
                beta,
                running_mean,
                running_var,
                momentum: 0.1,
                epsilon: 1e-5,
            },
        )
    }
}

/// Whether a layer runs for training or for testing (dropout and batch normalisation
/// behave differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

// ANCHOR: dropout
/// Inverted dropout. In [`Mode::Train`], every value is set to 0 with probability
/// `rate`, independently, and the survivors are multiplied by `1 / (1 − rate)`, so that the
/// expected value of every output equals its input and nothing needs rescaling at test
/// time. In [`Mode::Eval`] it returns `x` unchanged.
///
/// Draw one `rng.gen::<f64>()` per value, in the order of `x.as_vec()`: the value is
/// dropped when the draw is below `rate`. Keeps the tape of `x` (a dropped value gets no
/// gradient). Any shape.
pub fn dropout<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>, R: Rng>(
    x: Tensor<S, E, D, T>,
    rate: f64,
    mode: Mode,
    rng: &mut R,
) -> Tensor<S, E, D, T> {
    assert!((0.0..1.0).contains(&rate), "dropout: the rate must be in [0, 1), got {rate}");
    // BEGIN SOLUTION dropout: in training, multiply by a mask of zeros and 1/(1 − rate) drawn from rng
    if mode == Mode::Eval {
        return x;
    }
    let keep = E::from_f64(1.0 / (1.0 - rate)).expect("a float fits E");
    let mask: Vec<E> = (0..x.shape().num_elements())
        .map(|_| if rng.gen::<f64>() < rate { E::default() } else { keep })
        .collect();
    let mask = x.device().tensor_from_vec(mask, *x.shape());
    x * mask
    // END SOLUTION
}
// ANCHOR_END: dropout

// ANCHOR: flip
/// Mirrors the image: left and right swapped when `horizontal`, else top and bottom.
pub fn flip(image: &RgbImage, horizontal: bool) -> RgbImage {
    // BEGIN SOLUTION flip: image::imageops has both mirrors
    if horizontal {
        image::imageops::flip_horizontal(image)
    } else {
        image::imageops::flip_vertical(image)
    }
    // END SOLUTION
}
// ANCHOR_END: flip

// ANCHOR: rotate
/// Rotates the image by `degrees` counter-clockwise (as seen on screen) about its centre
/// `((width − 1) / 2, (height − 1) / 2)`, keeping its size; pixels that come from outside
/// the image are black.
///
/// Work backwards from the output: output pixel `(x, y)` at offset `(dx, dy)` from the
/// centre shows the input pixel at offset `(cos θ·dx − sin θ·dy, sin θ·dx + cos θ·dy)`,
/// rounded to the nearest pixel (nearest-neighbour sampling). Compute in f64.
pub fn rotate(image: &RgbImage, degrees: f64) -> RgbImage {
    // BEGIN SOLUTION rotate: for every output pixel, rotate its offset from the centre and copy the nearest input pixel if it is inside
    let (width, height) = image.dimensions();
    let (cx, cy) = ((f64::from(width) - 1.0) / 2.0, (f64::from(height) - 1.0) / 2.0);
    let (sin, cos) = degrees.to_radians().sin_cos();
    RgbImage::from_fn(width, height, |x, y| {
        let (dx, dy) = (f64::from(x) - cx, f64::from(y) - cy);
        let (sx, sy) = ((cx + cos * dx - sin * dy).round(), (cy + sin * dx + cos * dy).round());
        if sx >= 0.0 && sy >= 0.0 && sx < f64::from(width) && sy < f64::from(height) {
            *image.get_pixel(sx as u32, sy as u32)
        } else {
            image::Rgb([0, 0, 0])
        }
    })
    // END SOLUTION
}
// ANCHOR_END: rotate

// ANCHOR: random_crop
/// A `width x height` window of the image at a random position: its left edge is
/// `rng.gen_range(0..=image_width − width)`, then its top edge
/// `rng.gen_range(0..=image_height − height)`, drawn in that order.
///
/// Panics when the window is larger than the image.
pub fn random_crop<R: Rng>(image: &RgbImage, width: u32, height: u32, rng: &mut R) -> RgbImage {
    assert!(
        width <= image.width() && height <= image.height(),
        "random_crop: a {width}x{height} window does not fit into a {}x{} image",
        image.width(),
        image.height()
    );
    // BEGIN SOLUTION random_crop: draw the left and top edges, copy that window
    let left = rng.gen_range(0..=image.width() - width);
    let top = rng.gen_range(0..=image.height() - height);
    image::imageops::crop_imm(image, left, top, width, height).to_image()
    // END SOLUTION
}
// ANCHOR_END: random_crop

// ANCHOR: gaussian_noise
/// Adds independent Gaussian noise of standard deviation `sigma` (in grey levels,
/// 0..=255) to every channel of every pixel, rounds to the nearest level and clips to
/// `0..=255`.
///
/// Draw the noise with the Box-Muller transform: from two uniform draws `u₁` in (0, 1]
/// (`1.0 - rng.gen::<f64>()`) and `u₂` in [0, 1), `z = √(−2 ln u₁) · cos(2π u₂)` is
/// standard normal. Use one pair per value.
pub fn gaussian_noise<R: Rng>(image: &RgbImage, sigma: f64, rng: &mut R) -> RgbImage {
    // BEGIN SOLUTION gaussian_noise: a standard normal draw per value, times sigma, added, rounded and clipped
    let mut noisy = image.clone();
    for value in noisy.iter_mut() {
        let (u1, u2) = (1.0 - rng.gen::<f64>(), rng.gen::<f64>());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        *value = (f64::from(*value) + sigma * z).round().clamp(0.0, 255.0) as u8;
    }
    noisy
    // END SOLUTION
}
// ANCHOR_END: gaussian_noise

// ANCHOR: scale_channels
/// Changes the intensity of each colour channel on its own: channel `c` of every pixel
/// is multiplied by `factors[c]` (R, G, B), rounded to the nearest level and clipped to
/// `0..=255`.
pub fn scale_channels(image: &RgbImage, factors: [f64; 3]) -> RgbImage {
    // BEGIN SOLUTION scale_channels: multiply every pixel's channel c by factors[c], round and clip
    let mut scaled = image.clone();
    for pixel in scaled.pixels_mut() {
        for (value, factor) in pixel.0.iter_mut().zip(factors) {
            *value = (f64::from(*value) * factor).round().clamp(0.0, 255.0) as u8;
        }
    }
    scaled
    // END SOLUTION
}
// ANCHOR_END: scale_channels

/// A displacement per pixel (section 6.8): a warp by it fills output pixel `(x, y)` from
/// the input at `(x + dx[i], y + dy[i])`, with `i = y·width + x` (row by row).
#[derive(Clone, Debug, PartialEq)]
pub struct DisplacementField {
    pub width: u32,
    pub height: u32,
    pub dx: Vec<f64>,
    pub dy: Vec<f64>,
}

// ANCHOR: bilinear_warp
/// Warps the image by a displacement field: output pixel `(x, y)` shows the input at
/// `(sx, sy) = (x + dx, y + dy)`, a point between four pixels, read by bilinear
/// interpolation. With `x₀ = ⌊sx⌋`, `y₀ = ⌊sy⌋`, `a = sx − x₀` and `b = sy − y₀`, every
/// channel is
///
/// `(1−a)(1−b)·I(x₀, y₀) + a(1−b)·I(x₀+1, y₀) + (1−a)b·I(x₀, y₀+1) + ab·I(x₀+1, y₀+1)`,
///
/// where pixels outside the image count as black (0); rounded to the nearest level.
/// Compute in f64.
///
/// - `image`: `W x H`; `field`: `W x H`; returns `W x H`.
///
/// Panics when the field's size is not the image's.
pub fn bilinear_warp(image: &RgbImage, field: &DisplacementField) -> RgbImage {
    let (width, height) = image.dimensions();
    assert!(
        (field.width, field.height) == (width, height)
            && field.dx.len() == (width * height) as usize
            && field.dy.len() == (width * height) as usize,
        "bilinear_warp: a {}x{} field ({} and {} displacements) for a {width}x{height} image",
        field.width,
        field.height,
        field.dx.len(),
        field.dy.len()
    );
    // BEGIN SOLUTION bilinear_warp: per output pixel, the source point, its four neighbours and their weights; outside is black
    let pixel_or_black = |x: f64, y: f64| -> [f64; 3] {
        if x >= 0.0 && y >= 0.0 && x < f64::from(width) && y < f64::from(height) {
            image.get_pixel(x as u32, y as u32).0.map(f64::from)
        } else {
            [0.0; 3]
        }
    };
    RgbImage::from_fn(width, height, |x, y| {
        let i = (y * width + x) as usize;
        let (sx, sy) = (f64::from(x) + field.dx[i], f64::from(y) + field.dy[i]);
        let (x0, y0) = (sx.floor(), sy.floor());
        let (a, b) = (sx - x0, sy - y0);
        let corners = [
            (x0, y0, (1.0 - a) * (1.0 - b)),
            (x0 + 1.0, y0, a * (1.0 - b)),
            (x0, y0 + 1.0, (1.0 - a) * b),
            (x0 + 1.0, y0 + 1.0, a * b),
        ];
        Rgb(std::array::from_fn(|c| {
            let value: f64 = corners.iter().map(|&(cx, cy, weight)| weight * pixel_or_black(cx, cy)[c]).sum();
            value.round().clamp(0.0, 255.0) as u8
        }))
    })
    // END SOLUTION
}
// ANCHOR_END: bilinear_warp

// ANCHOR: elastic_field
/// Simard et al.'s (2003) random displacement field: one uniform draw in [−1, 1] per pixel
/// and direction (`2.0 * rng.gen::<f64>() - 1.0`; all of dx row by row, then all of dy),
/// each map smoothed by a Gaussian of standard deviation `sigma` pixels and multiplied by
/// `alpha`.
///
/// The Gaussian is cut at radius `r = ⌈3σ⌉`: weights `exp(−k² / 2σ²)` for `k = −r..=r`,
/// divided by their sum. Smooth along the rows first, then along the columns (the 2-D
/// Gaussian is separable), counting values outside the field as 0.
///
/// Returns a `width x height` field.
pub fn elastic_field<R: Rng>(
    width: u32,
    height: u32,
    alpha: f64,
    sigma: f64,
    rng: &mut R,
) -> DisplacementField {
    assert!(sigma > 0.0, "elastic_field: sigma must be positive, not {sigma}");
    // BEGIN SOLUTION elastic_field: draw both maps, smooth each along rows and then columns with the cut, normalised Gaussian, scale by alpha
    let (w, h) = (width as usize, height as usize);
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> =
        (-radius..=radius).map(|k| (-(k * k) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = kernel.iter().sum();
    // One 1-D pass of the Gaussian, along the rows or along the columns.
    let smooth_lines = |map: &[f64], along_rows: bool| -> Vec<f64> {
        let mut smoothed = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0.0;
                for (k, weight) in (-radius..).zip(&kernel) {
                    let (sx, sy) =
                        if along_rows { (x as isize + k, y as isize) } else { (x as isize, y as isize + k) };
                    if (0..w as isize).contains(&sx) && (0..h as isize).contains(&sy) {
                        sum += weight / total * map[sy as usize * w + sx as usize];
                    }
                }
                smoothed[y * w + x] = sum;
            }
        }
        smoothed
    };
    let mut displacement = || {
        let rough: Vec<f64> = (0..w * h).map(|_| 2.0 * rng.gen::<f64>() - 1.0).collect();
        smooth_lines(&smooth_lines(&rough, true), false).into_iter().map(|v| alpha * v).collect::<Vec<f64>>()
    };
    let dx = displacement();
    let dy = displacement();
    DisplacementField { width, height, dx, dy }
    // END SOLUTION
}
// ANCHOR_END: elastic_field

/// The elastic distortion of section 6.8: [`bilinear_warp`] by an [`elastic_field`] of the
/// image's size. Simard et al. used `alpha = 34`, `sigma = 4` on MNIST's 28x28 digits.
pub fn elastic_distortion<R: Rng>(image: &RgbImage, alpha: f64, sigma: f64, rng: &mut R) -> RgbImage {
    let (width, height) = image.dimensions();
    bilinear_warp(image, &elastic_field(width, height, alpha, sigma, rng))
}

/// One conv block (section 6.5): a 3x3 convolution with padding 1 from `I` to `O`
/// channels (`H x W` stays), batch normalisation, ReLU and 2x2 max pooling to `PH x PW`.
#[derive(Clone, Debug)]
pub struct ConvBlock<
    const I: usize,
    const O: usize,
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    E: Dtype,
    D: Storage<E>,
> {
    pub conv: courselib::conv::Conv2d<I, O, 3, 1, 1, H, W, E, D>,
    pub norm: BatchNorm<O, E, D>,
}

impl<
        const I: usize,
        const O: usize,
        const H: usize,
        const W: usize,
        const PH: usize,
        const PW: usize,
        D: ConvDevice<f32>,
    > TensorCollection<f32, D> for ConvBlock<I, O, H, W, PH, PW, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ConvBlock<I, O, H, W, PH, PW, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv", |s| &s.conv, |s| &mut s.conv),
                Self::module("norm", |s| &s.norm, |s| &mut s.norm),
            ),
            |(conv, norm)| ConvBlock { conv, norm },
        )
    }
}

impl<
        const I: usize,
        const O: usize,
        const H: usize,
        const W: usize,
        const PH: usize,
        const PW: usize,
        E: Dtype,
        D: ConvDevice<E>,
    > ConvBlock<I, O, H, W, PH, PW, E, D>
{
    // ANCHOR: conv_block
    /// Training mode: convolution, batch normalisation with the batch's statistics
    /// (updating the running ones), ReLU, 2x2 max pooling with stride 2.
    ///
    /// - `x`: `(B, I, H, W)` with any tape; returns `(B, O, PH, PW)` on the same tape.
    pub fn forward_train<const B: usize, T: Tape<E, D>>(
        &mut self,
        x: Tensor<Rank4<B, I, H, W>, E, D, T>,
    ) -> Tensor<Rank4<B, O, PH, PW>, E, D, T> {
        // BEGIN SOLUTION conv_block: convolution, batch norm in training mode, ReLU, 2x2 max pooling
        let y = self.norm.forward_train(self.conv.forward(x)).relu();
        courselib::conv::max_pool2d(y, Const::<2>, Const::<2>)
        // END SOLUTION
    }

    /// Test mode: as [`ConvBlock::forward_train`], with batch normalisation's running
    /// statistics. Changes nothing in `self`.
    pub fn forward_eval<const B: usize, T: Tape<E, D>>(
        &self,
        x: Tensor<Rank4<B, I, H, W>, E, D, T>,
    ) -> Tensor<Rank4<B, O, PH, PW>, E, D, T> {
        // BEGIN SOLUTION conv_block: the same layers, batch norm in test mode
        let y = self.norm.forward_eval(self.conv.forward(x)).relu();
        courselib::conv::max_pool2d(y, Const::<2>, Const::<2>)
        // END SOLUTION
    }
    // ANCHOR_END: conv_block
}

/// The CNN of section 6.9 for 28x28 grey images and 10 classes: two conv blocks
/// (1 → 8 channels, 28x28 → 14x14; 8 → 16 channels, 14x14 → 7x7), flattened to 784
/// values, and a linear layer to 10 logits: (72 + 8) + (1,152 + 16) convolution weights
/// and biases, 2·(8 + 16) = 48 values of γ and β, and 7,840 + 10 in the linear layer, 9,146
/// parameters in all.
#[derive(Clone, Debug)]
pub struct FashionCnn<E: Dtype, D: Storage<E>> {
    pub block1: ConvBlock<1, 8, 28, 28, 14, 14, E, D>,
    pub block2: ConvBlock<8, 16, 14, 14, 7, 7, E, D>,
    pub classifier: Linear<784, 10, E, D>,
}

impl<D: ConvDevice<f32>> TensorCollection<f32, D> for FashionCnn<f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = FashionCnn<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("block1", |s| &s.block1, |s| &mut s.block1),
                Self::module("block2", |s| &s.block2, |s| &mut s.block2),
                Self::module("classifier", |s| &s.classifier, |s| &mut s.classifier),
            ),
            |(block1, block2, classifier)| FashionCnn { block1, block2, classifier },
        )
    }
}

impl<D: ConvDevice<f32>> FashionCnn<f32, D> {
    /// The logits `(B, 10)` of a batch `(B, 1, 28, 28)` in training mode.
    pub fn forward_train<const B: usize, T: Tape<f32, D>>(
        &mut self,
        x: Tensor<Rank4<B, 1, 28, 28>, f32, D, T>,
    ) -> Tensor<Rank2<B, 10>, f32, D, T> {
        let features = self.block2.forward_train(self.block1.forward_train(x));
        self.classifier.forward(features.reshape::<Rank2<B, 784>>())
    }

    /// The logits `(B, 10)` of a batch `(B, 1, 28, 28)` in test mode.
    pub fn forward_eval<const B: usize>(
        &self,
        x: Tensor<Rank4<B, 1, 28, 28>, f32, D>,
    ) -> Tensor<Rank2<B, 10>, f32, D> {
        let features = self.block2.forward_eval(self.block1.forward_eval(x));
        self.classifier.forward(features.reshape::<Rank2<B, 784>>())
    }
}

/// How [`train_fashion_cnn`] trains.
#[derive(Clone, Debug)]
pub struct CnnConfig {
    pub epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seeds the initial weights and the batches of each epoch.
    pub seed: u64,
}

impl Default for CnnConfig {
    fn default() -> Self {
        Self { epochs: 2, learning_rate: 3e-3, seed: 6 }
    }
}

/// Images per training batch of [`train_fashion_cnn`].
pub const CNN_BATCH: usize = 64;

// ANCHOR: train_fashion_cnn
/// Trains a fresh [`FashionCnn`] on `train` (28x28 grey images, 10 classes) with the
/// cross-entropy loss and dfdx's Adam (`config.learning_rate`, otherwise Adam's defaults).
///
/// The network is built on `courselib::device::device(config.seed)`; epoch `e` (from 1)
/// uses the batches `courselib::data::shuffled_batches(train.len(), CNN_BATCH,
/// config.seed + e)`, each turned into a `(CNN_BATCH, 1, 28, 28)` tensor by
/// `courselib::data::image_batch`. Per batch: the logits in training mode on a tape, the
/// loss, its gradients and one Adam step.
///
/// Returns the trained network and the loss of every batch, in order.
pub fn train_fashion_cnn(train: &ImageSet, config: &CnnConfig) -> (FashionCnn<f32, Dev>, Vec<f32>) {
    let dev = courselib::device::device(config.seed);
    let mut model = FashionCnn::<f32, Dev>::build(&dev);
    let mut adam: Adam<FashionCnn<f32, Dev>, f32, Dev> =
        Adam::new(&model, AdamConfig { lr: config.learning_rate, ..Default::default() });
    let mut grads = model.alloc_grads();
    let mut losses: Vec<f32> = Vec::new();
    // BEGIN SOLUTION train_fashion_cnn: per epoch and batch: logits in training mode on a tape, cross-entropy, backward, Adam step
    for epoch in 1..=config.epochs {
        for batch in courselib::data::shuffled_batches(train.len(), CNN_BATCH, config.seed + epoch as u64) {
            let (x, labels) = courselib::data::image_batch::<CNN_BATCH, 1, 28, 28, Dev>(&dev, train, &batch);
            let logits = model.forward_train(x.traced(grads));
            let loss = logits.log_softmax::<Axis<1>>().select(dev.tensor(labels)).mean().negate();
            losses.push(loss.array());
            grads = loss.backward();
            adam.update(&mut model, &grads).expect("every parameter has a gradient");
            model.zero_grads(&mut grads);
        }
    }
    (model, losses)
    // END SOLUTION
}
// ANCHOR_END: train_fashion_cnn

/// Images per class in the tiny set of [`overfit_tiny_set`].
pub const TINY_PER_CLASS: usize = 2;
/// Images in the tiny set: [`TINY_PER_CLASS`] of each of the 10 classes.
pub const TINY: usize = 10 * TINY_PER_CLASS;

/// What [`overfit_tiny_set`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SanityReport {
    /// The cross-entropy of the untrained network on the tiny set (training mode); a
    /// network that knows nothing scores `ln 10`.
    pub initial_loss: f32,
    /// The cross-entropy after training, in test mode.
    pub final_loss: f32,
    /// The fraction of the tiny set classified correctly after training, in test mode.
    pub accuracy: f32,
}

// ANCHOR: overfit_tiny_set
/// Two checks to run before any long training (section 6.9). The tiny set is
/// `train.first_per_class(TINY_PER_CLASS)`: [`TINY`] images, one batch. A fresh
/// [`FashionCnn`] on `courselib::device::device(seed)` gives `initial_loss`, the mean
/// cross-entropy of the batch in training mode before any step; it should be near
/// `ln 10`. Then `steps` Adam steps (`learning_rate`, otherwise Adam's defaults) on that
/// same batch, in training mode. Finally the mean cross-entropy (`final_loss`) and the
/// accuracy in test mode on the same images: a network without bugs learns 20 images by
/// heart. Returns the trained network and the report.
pub fn overfit_tiny_set(
    train: &ImageSet,
    steps: usize,
    learning_rate: f64,
    seed: u64,
) -> (FashionCnn<f32, Dev>, SanityReport) {
    // BEGIN SOLUTION overfit_tiny_set: one batch of the first images per class; the untrained loss; Adam steps on that batch; loss and accuracy in test mode
    let tiny = train.first_per_class(TINY_PER_CLASS);
    let dev = courselib::device::device(seed);
    let (x, labels) =
        courselib::data::image_batch::<TINY, 1, 28, 28, Dev>(&dev, &tiny, &(0..TINY).collect::<Vec<_>>());
    let mut model = FashionCnn::<f32, Dev>::build(&dev);
    let mut adam: Adam<FashionCnn<f32, Dev>, f32, Dev> =
        Adam::new(&model, AdamConfig { lr: learning_rate, ..Default::default() });
    let mut grads = model.alloc_grads();
    fn cross_entropy<T: Tape<f32, Dev>>(
        logits: Tensor<Rank2<TINY, 10>, f32, Dev, T>,
        labels: [usize; TINY],
    ) -> Tensor<Rank0, f32, Dev, T> {
        let dev = logits.device().clone();
        logits.log_softmax::<Axis<1>>().select(dev.tensor(labels)).mean().negate()
    }
    let initial_loss = cross_entropy(model.forward_train(x.clone()), labels).array();
    for _ in 0..steps {
        let loss = cross_entropy(model.forward_train(x.clone().traced(grads)), labels);
        grads = loss.backward();
        adam.update(&mut model, &grads).expect("every parameter has a gradient");
        model.zero_grads(&mut grads);
    }
    let logits = model.forward_eval(x);
    let final_loss = cross_entropy(logits.clone(), labels).array();
    let rows = logits.as_vec();
    let correct = rows
        .chunks(10)
        .zip(labels)
        .filter(|(row, label)| courselib::data::predicts_label(row, *label))
        .count();
    (model, SanityReport { initial_loss, final_loss, accuracy: correct as f32 / TINY as f32 })
    // END SOLUTION
}
// ANCHOR_END: overfit_tiny_set

/// The fraction of `set`'s images `indices` that `model` classifies correctly (test mode;
/// [`courselib::data::predicts_label`]: a tie counts as wrong).
pub fn cnn_accuracy<D: ConvDevice<f32>>(
    model: &FashionCnn<f32, D>,
    set: &ImageSet,
    indices: &[usize],
) -> f32 {
    accuracy_of(model.classifier.weight.device(), set, indices, |x| model.forward_eval(x).as_vec())
}

/// Images per forward pass when measuring an accuracy.
pub(crate) const EVAL_CHUNK: usize = 250;

/// The fraction of `set`'s images `indices` whose label has the largest of the 10 logits
/// that `logits` gives for a batch of [`EVAL_CHUNK`] images (a tie counts as wrong).
pub(crate) fn accuracy_of<D: Device<f32>>(
    dev: &D,
    set: &ImageSet,
    indices: &[usize],
    mut logits: impl FnMut(Tensor<Rank4<EVAL_CHUNK, 1, 28, 28>, f32, D>) -> Vec<f32>,
) -> f32 {
    let mut correct = 0;
    for chunk in indices.chunks(EVAL_CHUNK) {
        let (x, labels) = courselib::data::image_batch::<EVAL_CHUNK, 1, 28, 28, D>(dev, set, chunk);
        for (row, label) in logits(x).chunks(10).zip(labels).take(chunk.len()) {
            correct += usize::from(courselib::data::predicts_label(row, label));
        }
    }
    correct as f32 / indices.len() as f32
}

/// Which regularisers [`regularisation_experiment`] turns on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regularisers {
    /// Batch normalisation in both conv blocks (off: convolution, ReLU, pooling).
    pub batch_norm: bool,
    /// The [`dropout`] rate on the 784 features before the linear layer (0: none).
    pub dropout: f64,
    /// A fresh [`augment_set`] of the training images in every epoch.
    pub augment: bool,
}

/// Accuracy after each epoch of [`regularisation_experiment`], on the training images
/// (unaugmented, test mode) and on the validation images.
#[derive(Clone, Debug, PartialEq)]
pub struct Curves {
    pub train_accuracy: Vec<f32>,
    pub val_accuracy: Vec<f32>,
}

/// The chapter's augmentations on grey images: each image is mirrored left to right with
/// probability ½ ([`flip`]) and shifted by up to 2 pixels in each direction (padded with 2
/// black pixels on every side, then a [`random_crop`] of the original size). Labels stay.
pub fn augment_set<R: Rng>(set: &ImageSet, rng: &mut R) -> ImageSet {
    assert_eq!(set.channels, 1, "augment_set: grey images only");
    let (width, height) = (set.width as u32, set.height as u32);
    let mut pixels = Vec::with_capacity(set.pixels.len());
    for i in 0..set.len() {
        let grey = set.image(i);
        let mut padded = RgbImage::new(width + 4, height + 4);
        for (k, &value) in grey.iter().enumerate() {
            let (x, y) = (k as u32 % width, k as u32 / width);
            padded.put_pixel(x + 2, y + 2, image::Rgb([value; 3]));
        }
        let mut image = random_crop(&padded, width, height, rng);
        if rng.gen::<bool>() {
            image = flip(&image, true);
        }
        pixels.extend(image.pixels().map(|p| p.0[0]));
    }
    ImageSet { pixels, name: format!("{}-augmented", set.name), ..set.clone() }
}

impl<
        const I: usize,
        const O: usize,
        const H: usize,
        const W: usize,
        const PH: usize,
        const PW: usize,
        D: ConvDevice<f32>,
    > ConvBlock<I, O, H, W, PH, PW, f32, D>
{
    /// The block with batch normalisation in `mode`, or without it (convolution, ReLU,
    /// pooling), for [`regularisation_experiment`].
    fn forward_with<const B: usize, T: Tape<f32, D>>(
        &mut self,
        x: Tensor<Rank4<B, I, H, W>, f32, D, T>,
        batch_norm: bool,
        mode: Mode,
    ) -> Tensor<Rank4<B, O, PH, PW>, f32, D, T> {
        match (batch_norm, mode) {
            (true, Mode::Train) => self.forward_train(x),
            (true, Mode::Eval) => self.forward_eval(x),
            (false, _) => courselib::conv::max_pool2d(self.conv.forward(x).relu(), Const::<2>, Const::<2>),
        }
    }
}

/// Trains section 6.9's CNN with the given regularisers on `train` for `epochs` epochs
/// (Adam at 3·10⁻³, batches of [`CNN_BATCH`], the network built on `device(seed)`, epoch
/// `e` shuffled with `seed + e`, augmentation and dropout drawn from a ChaCha8 stream of
/// `seed`) and measures the accuracy on `train` and on `val` after every epoch. Section
/// 6.9 runs it on a reduced training set, where overfitting shows.
pub fn regularisation_experiment(
    train: &ImageSet,
    val: &ImageSet,
    regularisers: Regularisers,
    epochs: usize,
    seed: u64,
) -> Curves {
    let dev = courselib::device::device(seed);
    let mut rng = courselib::device::rng(seed);
    let mut model = FashionCnn::<f32, Dev>::build(&dev);
    let mut adam: Adam<FashionCnn<f32, Dev>, f32, Dev> =
        Adam::new(&model, AdamConfig { lr: 3e-3, ..Default::default() });
    let mut grads = model.alloc_grads();
    let bn = regularisers.batch_norm;
    let accuracy = |model: &mut FashionCnn<f32, Dev>, set: &ImageSet| {
        accuracy_of(&dev, set, &(0..set.len()).collect::<Vec<_>>(), |x| {
            let features =
                model.block2.forward_with(model.block1.forward_with(x, bn, Mode::Eval), bn, Mode::Eval);
            model.classifier.forward(features.reshape::<Rank2<EVAL_CHUNK, 784>>()).as_vec()
        })
    };
    let mut curves = Curves { train_accuracy: Vec::new(), val_accuracy: Vec::new() };
    for epoch in 1..=epochs {
        let augmented;
        let images = if regularisers.augment {
            augmented = augment_set(train, &mut rng);
            &augmented
        } else {
            train
        };
        for batch in courselib::data::shuffled_batches(images.len(), CNN_BATCH, seed + epoch as u64) {
            let (x, labels) = courselib::data::image_batch::<CNN_BATCH, 1, 28, 28, Dev>(&dev, images, &batch);
            let features = model.block2.forward_with(
                model.block1.forward_with(x.traced(grads), bn, Mode::Train),
                bn,
                Mode::Train,
            );
            let features = features.reshape::<Rank2<CNN_BATCH, 784>>();
            let features = if regularisers.dropout > 0.0 {
                dropout(features, regularisers.dropout, Mode::Train, &mut rng)
            } else {
                features
            };
            let logits = model.classifier.forward(features);
            let loss = logits.log_softmax::<Axis<1>>().select(dev.tensor(labels)).mean().negate();
            grads = loss.backward();
            // Without batch normalisation γ and β get no gradient: not an error here.
            match adam.update(&mut model, &grads) {
                Ok(()) | Err(OptimizerUpdateError::UnusedParams(_)) => {}
                Err(e) => panic!("Adam failed: {e:?}"),
            }
            model.zero_grads(&mut grads);
        }
        curves.train_accuracy.push(accuracy(&mut model, train));
        curves.val_accuracy.push(accuracy(&mut model, val));
    }
    curves
}

// Section 6.10: the backward passes by hand. The tape has differentiated every layer of
// this chapter so far; here each layer gets its gradient from code you write, checked by a
// gradient checker you write too.

// ANCHOR: numerical_gradient
/// The gradient of the scalar function `f` at `x` by central differences (section 2.6),
/// in f64: `∂f/∂xᵢ ≈ (f(x + eps·eᵢ) − f(x − eps·eᵢ)) / (2·eps)`, where `x ± eps·eᵢ` moves
/// element `i` of `x` (in the order of `x.as_vec()`) and nothing else. Two evaluations of
/// `f` per element.
///
/// - `x`: any shape `S`; returns the same shape. `x` itself is not changed.
pub fn numerical_gradient<S, D, F>(mut f: F, x: &Tensor<S, f64, D>, eps: f64) -> Tensor<S, f64, D>
where
    S: Shape,
    D: Device<f64>,
    F: FnMut(&Tensor<S, f64, D>) -> f64,
{
    // BEGIN SOLUTION numerical_gradient: move one element at a time by ±eps, evaluate f on a fresh tensor each time, divide the difference by 2·eps
    let dev = x.device().clone();
    let mut values = x.as_vec();
    let mut gradient = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        let original = values[i];
        values[i] = original + eps;
        let f_plus = f(&dev.tensor_from_vec(values.clone(), *x.shape()));
        values[i] = original - eps;
        let f_minus = f(&dev.tensor_from_vec(values.clone(), *x.shape()));
        values[i] = original;
        gradient.push((f_plus - f_minus) / (2.0 * eps));
    }
    dev.tensor_from_vec(gradient, *x.shape())
    // END SOLUTION
}
// ANCHOR_END: numerical_gradient

// ANCHOR: max_relative_error
/// The largest element-wise relative error between two gradients of the same length
/// (section 2.6): `max over i of |aᵢ − bᵢ| / max(|aᵢ| + |bᵢ|, 1e-8)`; 0 for two empty
/// slices. The floor `1e-8` keeps two entries that are both (nearly) zero from dividing
/// by zero. A NaN anywhere gives NaN: a check must not pass on one.
///
/// Panics when the lengths differ.
pub fn max_relative_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "max_relative_error: gradients of different lengths");
    // BEGIN SOLUTION max_relative_error: the relative error of each pair with the floor, then the largest (NaN wins)
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / (x.abs() + y.abs()).max(1e-8)).fold(0.0, |worst: f64, e| {
        if worst.is_nan() || e.is_nan() {
            f64::NAN
        } else {
            worst.max(e)
        }
    })
    // END SOLUTION
}
// ANCHOR_END: max_relative_error

/// The gradients of a convolution's loss with respect to its input, filters and biases:
/// each has the shape of what it is the gradient of.
#[derive(Clone, Debug)]
pub struct ConvGradients<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const K: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// `∂L/∂x`: `(B, C, H, W)`.
    pub x: Tensor<Rank4<B, C, H, W>, E, D>,
    /// `∂L/∂weight`: `(O, C, K, K)`.
    pub weight: Tensor<Rank4<O, C, K, K>, E, D>,
    /// `∂L/∂bias`: `(O,)`.
    pub bias: Tensor<Rank1<O>, E, D>,
}

// ANCHOR: conv2d_naive_backward
/// The backward pass of [`conv2d_naive`] with loops: given `dy = ∂L/∂y` of its output,
/// the gradients of the loss with respect to `x`, `weight` and `bias`.
///
/// Every product `x_pad[b, c, i·S + u, j·S + v] · weight[o, c, u, v]` in the forward sum
/// of `y[b, o, i, j]` sends `dy[b, o, i, j]` times the other factor back to each factor;
/// padding zeros are no input and get nothing.
///
/// - `x`: `(B, C, H, W)`; `weight`: `(O, C, K, K)`; `dy`: `(B, O, OH, OW)`;
///   `Const::<S>`, `Const::<P>`: stride and padding (as in the forward pass).
/// - returns [`ConvGradients`]: `x` `(B, C, H, W)`, `weight` `(O, C, K, K)`, `bias` `(O,)`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_naive_backward<
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
>(
    x: &Tensor<Rank4<B, C, H, W>, E, D>,
    weight: &Tensor<Rank4<O, C, K, K>, E, D>,
    dy: &Tensor<Rank4<B, O, OH, OW>, E, D>,
    _stride: Const<S>,
    _padding: Const<P>,
) -> ConvGradients<B, C, H, W, O, K, E, D> {
    const { check_conv2d(H, W, K, S, P, OH, OW) };
    // BEGIN SOLUTION conv2d_naive_backward: the forward loops again; each output's gradient goes to its bias, to every weight times the pixel it met, to every pixel times its weight
    let (xs, ws, dys) = (x.as_vec(), weight.as_vec(), dy.as_vec());
    let mut dx = vec![E::default(); B * C * H * W];
    let mut dweight = vec![E::default(); O * C * K * K];
    let mut dbias = vec![E::default(); O];
    for b in 0..B {
        for o in 0..O {
            for i in 0..OH {
                for j in 0..OW {
                    let g = dys[((b * O + o) * OH + i) * OW + j];
                    dbias[o] += g;
                    for c in 0..C {
                        for u in 0..K {
                            for v in 0..K {
                                let (r, s) = (i * S + u, j * S + v);
                                if r < P || s < P || r - P >= H || s - P >= W {
                                    continue; // a padding zero: not an input
                                }
                                let pixel = ((b * C + c) * H + r - P) * W + s - P;
                                let tap = ((o * C + c) * K + u) * K + v;
                                dweight[tap] += g * xs[pixel];
                                dx[pixel] += g * ws[tap];
                            }
                        }
                    }
                }
            }
        }
    }
    let dev = x.device();
    ConvGradients {
        x: dev.tensor_from_vec(dx, (Const::<B>, Const::<C>, Const::<H>, Const::<W>)),
        weight: dev.tensor_from_vec(dweight, (Const::<O>, Const::<C>, Const::<K>, Const::<K>)),
        bias: dev.tensor_from_vec(dbias, (Const::<O>,)),
    }
    // END SOLUTION
}
// ANCHOR_END: conv2d_naive_backward

// ANCHOR: col2im
/// The adjoint of the im2col gather: adds every entry of one image's column matrix back
/// onto the pixel it was read from, and drops the entries that read the padding.
///
/// `columns` is laid out as im2col produces it: `channels·kernel·kernel` rows of `OH·OW`
/// entries (entry `r·(OH·OW) + q` for tap `r`, output position `q`, as in
/// [`im2col_indices`]). Returns the `channels·height·width` pixel values of the image; a
/// pixel seen by several windows gets the sum of their entries.
///
/// Panics when `columns` does not have `channels·kernel·kernel·OH·OW` entries.
pub fn col2im<E: Dtype>(
    columns: &[E],
    channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Vec<E> {
    // BEGIN SOLUTION col2im: walk the im2col table; add each entry to the pixel it names, skip the padding index
    let indices = im2col_indices(channels, height, width, kernel, stride, padding);
    assert_eq!(columns.len(), indices.len(), "col2im: the column matrix has the wrong number of entries");
    let pixels = channels * height * width;
    let mut image = vec![E::default(); pixels];
    for (&value, &index) in columns.iter().zip(&indices) {
        if index < pixels {
            image[index] += value;
        }
    }
    image
    // END SOLUTION
}
// ANCHOR_END: col2im

// ANCHOR: conv2d_im2col_backward
/// The backward pass of [`conv2d_im2col`] as matrix products, without the tape. With the
/// forward pass's columns `X_col` `(C·K·K, B·OH·OW)` (gathered again from `x`), the
/// filters as a matrix `W_mat` `(O, C·K·K)` and `dy` as a matrix `dY` `(O, B·OH·OW)`
/// (the same layout as the forward product's result):
///
/// - `∂L/∂W_mat = dY · X_colᵀ`, reshaped to `(O, C, K, K)`;
/// - `∂L/∂X_col = W_matᵀ · dY`, then [`col2im`] of each image's columns gives `∂L/∂x`;
/// - `∂L/∂bias[o]` = the sum of `dy[.., o, .., ..]`.
///
/// Shapes and result as in [`conv2d_naive_backward`]. Works on any device (the two
/// products run there; col2im runs on the CPU).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_im2col_backward<
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
>(
    x: &Tensor<Rank4<B, C, H, W>, E, D>,
    weight: &Tensor<Rank4<O, C, K, K>, E, D>,
    dy: &Tensor<Rank4<B, O, OH, OW>, E, D>,
    _stride: Const<S>,
    _padding: Const<P>,
) -> ConvGradients<B, C, H, W, O, K, E, D> {
    const { check_conv2d(H, W, K, S, P, OH, OW) };
    // BEGIN SOLUTION conv2d_im2col_backward: gather the columns again, two matrix products with dY, col2im per image, sum dy for the bias
    let dev = x.device().clone();
    let (taps, positions) = (C * K * K, OH * OW);
    let indices = dev.tensor_from_vec(im2col_indices(C, H, W, K, S, P), (taps * positions,));
    let padded = (x.clone().reshape_like(&(Const::<B>, C * H * W)), dev.zeros_like(&(Const::<B>, 1)))
        .concat_along(Axis::<1>);
    let columns: Tensor<(Const<B>, usize), E, D> =
        padded.gather(indices.broadcast_like::<_, Axis<0>>(&(Const::<B>, taps * positions)));
    let columns = columns.reshape_like(&(Const::<B>, taps, positions)).permute::<_, Axes3<1, 0, 2>>();
    let columns = columns.reshape_like(&(taps, B * positions));
    // dy in the layout of the forward product's result: (O, B·OH·OW).
    let dy_matrix =
        dy.clone().permute::<Rank4<O, B, OH, OW>, Axes4<1, 0, 2, 3>>().reshape_like(&(O, B * positions));
    let filters = weight.clone().reshape_like(&(O, taps));
    let dweight = dy_matrix.clone().matmul(columns.permute::<_, Axes2<1, 0>>());
    let dcolumns = filters.permute::<_, Axes2<1, 0>>().matmul(dy_matrix);
    // Back to one column matrix per image, (B, C·K·K, OH·OW), and onto the pixels.
    let dcolumns = dcolumns.reshape_like(&(taps, B, positions)).permute::<_, Axes3<1, 0, 2>>().as_vec();
    let dx: Vec<E> =
        dcolumns.chunks(taps * positions).flat_map(|image| col2im(image, C, H, W, K, S, P)).collect();
    ConvGradients {
        x: dev.tensor_from_vec(dx, (Const::<B>, Const::<C>, Const::<H>, Const::<W>)),
        weight: dweight.reshape_like(&(Const::<O>, Const::<C>, Const::<K>, Const::<K>)),
        bias: dy.clone().sum::<Rank1<O>, Axes3<0, 2, 3>>(),
    }
    // END SOLUTION
}
// ANCHOR_END: conv2d_im2col_backward

// ANCHOR: max_pool2d_backward
/// The backward pass of [`max_pool2d`] with loops: each window's gradient `dy[b, c, i, j]`
/// goes to the one value of `x` that was its maximum; all other values of the window get
/// nothing from it. A value that is the maximum of several (overlapping) windows collects
/// the gradient of each.
///
/// On a tie the first largest value of the window, row by row, is its maximum (as in
/// PyTorch); the gradient is not split.
///
/// - `x`: `(B, C, H, W)`, the forward pass's input; `dy`: `(B, C, OH, OW)`;
///   `Const::<K>`, `Const::<S>`: window and stride. Returns `∂L/∂x`: `(B, C, H, W)`.
pub fn max_pool2d_backward<
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
>(
    x: &Tensor<Rank4<B, C, H, W>, E, D>,
    dy: &Tensor<Rank4<B, C, OH, OW>, E, D>,
    _kernel: Const<K>,
    _stride: Const<S>,
) -> Tensor<Rank4<B, C, H, W>, E, D> {
    const { check_pool2d(H, W, K, S, OH, OW) };
    // BEGIN SOLUTION max_pool2d_backward: per window, find the first largest value (row by row) and add the window's gradient to it
    let (xs, dys) = (x.as_vec(), dy.as_vec());
    let mut dx = vec![E::default(); B * C * H * W];
    for plane in 0..B * C {
        for i in 0..OH {
            for j in 0..OW {
                let mut best = (plane * H + i * S) * W + j * S;
                for u in 0..K {
                    for v in 0..K {
                        let at = (plane * H + i * S + u) * W + j * S + v;
                        if xs[at] > xs[best] {
                            best = at; // strictly larger: a tie keeps the earlier value
                        }
                    }
                }
                dx[best] += dys[(plane * OH + i) * OW + j];
            }
        }
    }
    x.device().tensor_from_vec(dx, (Const::<B>, Const::<C>, Const::<H>, Const::<W>))
    // END SOLUTION
}
// ANCHOR_END: max_pool2d_backward

// ANCHOR: avg_pool2d_backward
/// The backward pass of [`avg_pool2d`] with loops: each window's gradient
/// `dy[b, c, i, j]` is spread evenly, `1/K²` of it to every value of the window; a value in
/// several (overlapping) windows collects a share from each, one in none gets 0. The input
/// itself is not needed, only its size `H x W` (from the result type).
///
/// - `dy`: `(B, C, OH, OW)`; `Const::<K>`, `Const::<S>`: window and stride. Returns
///   `∂L/∂x`: `(B, C, H, W)`.
pub fn avg_pool2d_backward<
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
>(
    dy: &Tensor<Rank4<B, C, OH, OW>, E, D>,
    _kernel: Const<K>,
    _stride: Const<S>,
) -> Tensor<Rank4<B, C, H, W>, E, D> {
    const { check_pool2d(H, W, K, S, OH, OW) };
    // BEGIN SOLUTION avg_pool2d_backward: add dy/K² to every value of each window
    let dys = dy.as_vec();
    let share = E::from_f64(1.0 / (K * K) as f64).expect("a small float fits E");
    let mut dx = vec![E::default(); B * C * H * W];
    for plane in 0..B * C {
        for i in 0..OH {
            for j in 0..OW {
                let g = dys[(plane * OH + i) * OW + j] * share;
                for u in 0..K {
                    for v in 0..K {
                        dx[(plane * H + i * S + u) * W + j * S + v] += g;
                    }
                }
            }
        }
    }
    dy.device().tensor_from_vec(dx, (Const::<B>, Const::<C>, Const::<H>, Const::<W>))
    // END SOLUTION
}
// ANCHOR_END: avg_pool2d_backward

/// The gradients of batch normalisation in training mode (section 6.6) with respect to
/// its input and its parameters.
#[derive(Clone, Debug)]
pub struct BatchNormGradients<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// `∂L/∂x`: `(B, C, H, W)`.
    pub x: Tensor<Rank4<B, C, H, W>, E, D>,
    /// `∂L/∂γ`: `(C,)`.
    pub gamma: Tensor<Rank1<C>, E, D>,
    /// `∂L/∂β`: `(C,)`.
    pub beta: Tensor<Rank1<C>, E, D>,
}

// ANCHOR: batch_norm_backward_steps
/// The backward pass of batch normalisation in training mode ([`BatchNorm::forward_train`]),
/// node by node through its computational graph (section 6.10):
///
/// `μ = mean(x)`, `x_c = x − μ`, `σ² = mean(x_c²)`, `s = √(σ² + ε)`, `x̂ = x_c / s`,
/// `y = γ·x̂ + β`, every mean per channel over `n = B·H·W` values.
///
/// Recompute these from `x`, then walk back from `dy = ∂L/∂y`: `∂L/∂β`, `∂L/∂γ`, `∂L/∂x̂`,
/// `∂L/∂s`, `∂L/∂σ²`, `∂L/∂x_c` (it gets a share directly and one through `σ²`), `∂L/∂μ`,
/// and finally `∂L/∂x` (directly and through `μ`). Without the tape.
///
/// - `x`: `(B, C, H, W)`; `gamma`: `(C,)`; `dy`: `(B, C, H, W)`; `epsilon`: the `ε` of the
///   forward pass. Returns [`BatchNormGradients`].
pub fn batch_norm_backward_steps<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    E: Dtype,
    D: Device<E>,
>(
    x: &Tensor<Rank4<B, C, H, W>, E, D>,
    gamma: &Tensor<Rank1<C>, E, D>,
    dy: &Tensor<Rank4<B, C, H, W>, E, D>,
    epsilon: f64,
) -> BatchNormGradients<B, C, H, W, E, D> {
    let n = (B * H * W) as f64;
    let scalar = |v: f64| E::from_f64(v).expect("a small float fits E");
    // BEGIN SOLUTION batch_norm_backward_steps: recompute μ, x_c, σ², s, x̂; then the gradient of each node in reverse order, summing the two paths into x_c and into x
    let mean = x.clone().mean::<Rank1<C>, Axes3<0, 2, 3>>();
    let centred = x.clone() - mean.broadcast();
    let var = centred.clone().square().mean::<Rank1<C>, Axes3<0, 2, 3>>();
    let std = (var + scalar(epsilon)).sqrt();
    let normalised = centred.clone() / std.clone().broadcast();
    // y = γ·x̂ + β
    let dbeta = dy.clone().sum::<Rank1<C>, Axes3<0, 2, 3>>();
    let dgamma = (dy.clone() * normalised).sum::<Rank1<C>, Axes3<0, 2, 3>>();
    let dnormalised = dy.clone() * gamma.clone().broadcast();
    // x̂ = x_c / s: to x_c directly, and to s (summed over the channel's values)
    let dcentred_direct = dnormalised.clone() / std.clone().broadcast();
    let dstd =
        (dnormalised * centred.clone()).sum::<Rank1<C>, Axes3<0, 2, 3>>().negate() / std.clone().square();
    // s = √(σ² + ε), σ² = mean(x_c²)
    let dvar = dstd / (std * scalar(2.0));
    let dcentred = dcentred_direct + centred * (dvar * scalar(2.0 / n)).broadcast();
    // x_c = x − μ, μ = mean(x)
    let dmean = dcentred.clone().sum::<Rank1<C>, Axes3<0, 2, 3>>().negate();
    let dx = dcentred + (dmean * scalar(1.0 / n)).broadcast();
    BatchNormGradients { x: dx, gamma: dgamma, beta: dbeta }
    // END SOLUTION
}
// ANCHOR_END: batch_norm_backward_steps

// ANCHOR: batch_norm_backward
/// The same gradients as [`batch_norm_backward_steps`] from the simplified closed form
/// the book derives (section 6.10), per channel with `n = B·H·W`, `s = √(σ² + ε)`:
///
/// `∂L/∂x = γ / (n·s) · (n·dy − Σ dy − x̂ · Σ (dy·x̂))`, `∂L/∂γ = Σ dy·x̂`, `∂L/∂β = Σ dy`,
///
/// each `Σ` over the channel's `n` values. Fewer operations and fewer intermediate
/// tensors than the step-by-step form. Shapes and result as there.
pub fn batch_norm_backward<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    E: Dtype,
    D: Device<E>,
>(
    x: &Tensor<Rank4<B, C, H, W>, E, D>,
    gamma: &Tensor<Rank1<C>, E, D>,
    dy: &Tensor<Rank4<B, C, H, W>, E, D>,
    epsilon: f64,
) -> BatchNormGradients<B, C, H, W, E, D> {
    let n = (B * H * W) as f64;
    let scalar = |v: f64| E::from_f64(v).expect("a small float fits E");
    // BEGIN SOLUTION batch_norm_backward: recompute x̂ and s; the two channel sums Σdy and Σdy·x̂ give all three gradients
    let mean = x.clone().mean::<Rank1<C>, Axes3<0, 2, 3>>();
    let centred = x.clone() - mean.broadcast();
    let std = (centred.clone().square().mean::<Rank1<C>, Axes3<0, 2, 3>>() + scalar(epsilon)).sqrt();
    let normalised = centred / std.clone().broadcast();
    let sum_dy = dy.clone().sum::<Rank1<C>, Axes3<0, 2, 3>>();
    let sum_dy_normalised = (dy.clone() * normalised.clone()).sum::<Rank1<C>, Axes3<0, 2, 3>>();
    let scale = gamma.clone() / (std * scalar(n));
    let dx = (dy.clone() * scalar(n)
        - sum_dy.clone().broadcast()
        - normalised * sum_dy_normalised.clone().broadcast())
        * scale.broadcast();
    BatchNormGradients { x: dx, gamma: sum_dy_normalised, beta: sum_dy }
    // END SOLUTION
}
// ANCHOR_END: batch_norm_backward

// ANCHOR: dropout_backward
/// The backward pass of [`dropout`]: `∂L/∂x` from `dy = ∂L/∂y`. The forward pass multiplied
/// `x` by a fixed mask (0 or `1 / (1 − rate)` per value), so the backward pass multiplies
/// `dy` by the same mask. It has to be the same mask: `rng` must be in the state the
/// forward pass's rng was in, and this function draws exactly what [`dropout`] draws. In
/// [`Mode::Eval`] the gradient passes unchanged.
///
/// - `dy`: any shape; returns the same shape.
pub fn dropout_backward<S: Shape, E: Dtype, D: Device<E>, R: Rng>(
    dy: &Tensor<S, E, D>,
    rate: f64,
    mode: Mode,
    rng: &mut R,
) -> Tensor<S, E, D> {
    // BEGIN SOLUTION dropout_backward: the same draws give the same mask; multiplying dy by it is dropout applied to dy
    dropout(dy.clone(), rate, mode, rng)
    // END SOLUTION
}
// ANCHOR_END: dropout_backward
