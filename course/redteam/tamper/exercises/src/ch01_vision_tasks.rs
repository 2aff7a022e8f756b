//! Chapter 1: vision tasks and tensors.
//!
//! How an image classifier is scored (the top-k error), how labels and images become
//! tensors, and how dfdx checks tensor shapes at compile time.

use dfdx::prelude::*;
use image::RgbImage;

// ANCHOR: top_k_error
/// The top-k error of a batch of class scores: the fraction of samples whose true label is
/// not among the `k` highest-scoring classes.
///
/// - `scores`: `(B, C)`, one row of class scores per sample (any scale: logits,
///   probabilities, ...).
/// - `labels`: the true class of each sample, each below `C`.
/// - `k`: how many guesses a sample gets, `1 <= k <= C`.
///
/// Returns a value in `[0, 1]`. Ties count in the sample's favour: the label is among the
/// top k when fewer than `k` classes score strictly higher than it.
pub fn top_k_error<const B: usize, const C: usize, D: Device<f32>>(
    scores: &Tensor<Rank2<B, C>, f32, D>,
    labels: &[usize; B],
    k: usize,
) -> f32 {
    assert!((1..=C).contains(&k), "top_k_error: k = {k} must be in 1..={C}");
    assert!(labels.iter().all(|&l| l < C), "top_k_error: every label must be below C = {C}");
    // BEGIN SOLUTION top_k_error: count the samples whose label is not among the k highest scores
    let scores = scores.as_vec();
    let misses = labels
        .iter()
        .enumerate()
        .filter(|&(sample, &label)| {
            let row = &scores[sample * C..(sample + 1) * C];
            row.iter().filter(|&&s| s > row[label]).count() >= k
        })
        .count();
    misses as f32 / B as f32
    // END SOLUTION
}
// ANCHOR_END: top_k_error

// ANCHOR: one_hot
/// One-hot encoding: row `b` of the `(B, C)` result is all zeros except for a one in
/// column `labels[b]`.
///
/// Panics with "label ... is not below the class count" when a label is `>= C`.
pub fn one_hot<const B: usize, const C: usize, D: Device<f32>>(
    dev: &D,
    labels: &[usize; B],
) -> Tensor<Rank2<B, C>, f32, D> {
    // BEGIN SOLUTION one_hot: put a one in each row at the column of its label
    let mut data = vec![0.0; B * C];
    for (sample, &label) in labels.iter().enumerate() {
        assert!(label < C, "one_hot: label {label} of sample {sample} is not below the class count {C}");
        data[sample * C + label] = 1.0;
    }
    dev.tensor_from_vec(data, (Const::<B>, Const::<C>))
    // END SOLUTION
}
// ANCHOR_END: one_hot

/// An image whose size is not the one the tensor type asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSizeError {
    /// `(width, height)` the tensor type needs.
    pub expected: (u32, u32),
    /// `(width, height)` of the image.
    pub actual: (u32, u32),
}

impl std::fmt::Display for ImageSizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ((ew, eh), (aw, ah)) = (self.expected, self.actual);
        write!(f, "image is {aw}x{ah} (width x height), the tensor needs {ew}x{eh}")
    }
}

impl std::error::Error for ImageSizeError {}

// ANCHOR: image_to_tensor
/// An RGB image as a channel-major `(3, H, W)` tensor with values in `[0, 1]`.
///
/// `image` stores pixels interleaved, row by row: `R G B R G B ...` (height x width x 3).
/// The tensor stores one full `H x W` plane per channel: element `(c, y, x)` is channel `c`
/// of the pixel in row `y`, column `x`, divided by 255.
///
/// Returns [`ImageSizeError`] when the image is not `W` pixels wide and `H` high.
pub fn image_to_tensor<const H: usize, const W: usize, D: Device<f32>>(
    dev: &D,
    image: &RgbImage,
) -> Result<Tensor<Rank3<3, H, W>, f32, D>, ImageSizeError> {
    // BEGIN SOLUTION image_to_tensor: check the size, then move each pixel's channels into their planes
    let expected = (W as u32, H as u32);
    if image.dimensions() != expected {
        return Err(ImageSizeError { expected, actual: image.dimensions() });
    }
    let mut planes = vec![0.0; 3 * H * W];
    for (x, y, pixel) in image.enumerate_pixels() {
        let (x, y) = (x as usize, y as usize);
        for (channel, &value) in pixel.0.iter().enumerate() {
            planes[channel * H * W + y * W + x] = f32::from(value) / 255.0;
        }
    }
    Ok(dev.tensor_from_vec(planes, (Const::<3>, Const::<H>, Const::<W>)))
    // END SOLUTION
}
// ANCHOR_END: image_to_tensor

// ANCHOR: channel_statistics
/// The mean and the standard deviation of each channel over a whole batch: over all `N`
/// images and all `H x W` positions. The standard deviation is the population one
/// (divide by the count, not count - 1).
///
/// - `batch`: `(N, C, H, W)`.
/// - returns `(mean, std)`, each with one value per channel.
pub fn channel_statistics<const N: usize, const C: usize, const H: usize, const W: usize, D: Device<f32>>(
    batch: &Tensor<Rank4<N, C, H, W>, f32, D>,
) -> ([f32; C], [f32; C]) {
    // BEGIN SOLUTION channel_statistics: reduce over the batch, height and width axes
    let mean = batch.clone().mean::<Rank1<C>, Axes3<0, 2, 3>>();
    let std = batch.clone().var::<Rank1<C>, Axes3<0, 2, 3>>().sqrt();
    let to_array = |t: Tensor<Rank1<C>, f32, D>| std::array::from_fn(|c| t.as_vec()[c]);
    (to_array(mean), to_array(std))
    // END SOLUTION
}
// ANCHOR_END: channel_statistics

// ANCHOR: normalize
/// Per-channel standardisation: `(x - mean[c]) / std[c]` for every element of channel `c`.
///
/// - `batch`: `(N, C, H, W)`; `mean`, `std`: one value per channel, `std` positive.
/// - returns a tensor of the same shape.
pub fn normalize<const N: usize, const C: usize, const H: usize, const W: usize, D: Device<f32>>(
    batch: Tensor<Rank4<N, C, H, W>, f32, D>,
    mean: [f32; C],
    std: [f32; C],
) -> Tensor<Rank4<N, C, H, W>, f32, D> {
    assert!(std.iter().all(|&s| s > 0.0), "normalize: every std must be positive, got {std:?}");
    // BEGIN SOLUTION normalize: broadcast the per-channel mean and std over N, H and W
    let dev = batch.device().clone();
    let mean = dev.tensor(mean).broadcast::<Rank4<N, C, H, W>, Axes3<0, 2, 3>>();
    let std = dev.tensor(std).broadcast::<Rank4<N, C, H, W>, Axes3<0, 2, 3>>();
    (batch - mean) / std
    // END SOLUTION
}
// ANCHOR_END: normalize

// ANCHOR: flatten
/// Flattens each image of a batch into one row: `(B, C, H, W)` becomes `(B, N)` with
/// `N = C * H * W`, in channel-major order (the whole first channel, then the second...).
///
/// `N` is part of the type, so a wrong `N` is a compile error, not a crash at run time:
///
// ANCHOR: flatten_shape_error
/// ```compile_fail,E0080
/// use dfdx::prelude::*;
/// use solutions::ch01_vision_tasks::flatten;
///
/// let dev: Cpu = Default::default();
/// let digits: Tensor<Rank4<2, 1, 8, 8>, f32, Cpu> = dev.zeros();
/// // An 8x8 grey image has 1 * 8 * 8 = 64 values, not 63:
/// let rows: Tensor<Rank2<2, 63>, f32, Cpu> = flatten(digits);
/// ```
// ANCHOR_END: flatten_shape_error
pub fn flatten<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const N: usize,
    D: Device<f32>,
>(
    batch: Tensor<Rank4<B, C, H, W>, f32, D>,
) -> Tensor<Rank2<B, N>, f32, D> {
    // BEGIN SOLUTION flatten: reshape to (B, N) and let dfdx check that N = C * H * W
    batch.reshape::<Rank2<B, N>>()
    // END SOLUTION
}
// ANCHOR_END: flatten

/// Red team: the hidden tests, read at compile time.
pub const HIDDEN: &str = include_str!("../../tests/grading/ch01.rs");
