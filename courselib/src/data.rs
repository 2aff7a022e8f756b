//! From the plain [`datasets`] to dfdx tensors of compile-time shape.
//!
//! Loaders in `datasets` return `u8` pixels and labels; these helpers pick samples,
//! scale pixels to `[0, 1]` and build a batch tensor whose shape is in its type.

use datasets::ImageSet;
use dfdx::prelude::*;
use rand::seq::SliceRandom;

/// Whether one row of class scores classifies a sample as `label`: the label's score is
/// higher than every other class's. The rule of every accuracy in the course.
///
/// A tie counts as wrong, so a network whose scores are all equal (untrained, or broken)
/// scores 0, never 100 %. (Chapter 1's top-k error counts ties in the sample's favour; the
/// two agree, accuracy = 1 − top-1 error, whenever the highest score is unique.) A label
/// outside the row (the padding rows of a last, short batch) and a NaN score are wrong.
pub fn predicts_label(scores: &[f32], label: usize) -> bool {
    scores.get(label).is_some_and(|&own| scores.iter().enumerate().all(|(k, &s)| k == label || s < own))
}

/// A batch of `set`'s samples `indices` as a `(B, N)` tensor, one flattened image per row,
/// pixels scaled to `[0, 1]` by the set's `max_value`, with their labels.
///
/// `indices` may be shorter than `B` (the last batch of an epoch): the remaining rows are
/// zero and their labels are `usize::MAX`, so they can never count as correct.
///
/// Panics when `N` is not the set's pixels per image or `indices.len() > B`.
pub fn flat_batch<const B: usize, const N: usize, D: Device<f32>>(
    dev: &D,
    set: &ImageSet,
    indices: &[usize],
) -> (Tensor<Rank2<B, N>, f32, D>, [usize; B]) {
    assert_eq!(
        N,
        set.image_len(),
        "flat_batch: {} images have {} values each, not N = {N}",
        set.name,
        set.image_len()
    );
    let (pixels, labels) = gather::<B>(set, indices);
    (dev.tensor_from_vec(pixels, (Const::<B>, Const::<N>)), labels)
}

/// A batch of `set`'s samples `indices` as a `(B, C, H, W)` tensor, pixels scaled to
/// `[0, 1]`, with their labels. Padding as in [`flat_batch`].
///
/// Panics when `(C, H, W)` is not the set's image shape or `indices.len() > B`.
pub fn image_batch<const B: usize, const C: usize, const H: usize, const W: usize, D: Device<f32>>(
    dev: &D,
    set: &ImageSet,
    indices: &[usize],
) -> (Tensor<Rank4<B, C, H, W>, f32, D>, [usize; B]) {
    assert_eq!(
        (C, H, W),
        (set.channels, set.height, set.width),
        "image_batch: {} images are (C, H, W) = {:?}",
        set.name,
        (set.channels, set.height, set.width)
    );
    let (pixels, labels) = gather::<B>(set, indices);
    (dev.tensor_from_vec(pixels, (Const::<B>, Const::<C>, Const::<H>, Const::<W>)), labels)
}

fn gather<const B: usize>(set: &ImageSet, indices: &[usize]) -> (Vec<f32>, [usize; B]) {
    assert!(indices.len() <= B, "a batch of {B} cannot hold {} samples", indices.len());
    let scale = 1.0 / f32::from(set.max_value);
    let mut pixels = vec![0.0; B * set.image_len()];
    let mut labels = [usize::MAX; B];
    for (row, &i) in indices.iter().enumerate() {
        let dst = &mut pixels[row * set.image_len()..(row + 1) * set.image_len()];
        for (d, &p) in dst.iter_mut().zip(set.image(i)) {
            *d = f32::from(p) * scale;
        }
        labels[row] = set.label(i);
    }
    (pixels, labels)
}

/// One epoch of mini-batches: the indices `0..len` shuffled with `seed`, cut into batches
/// of `batch_size`. The last, incomplete batch is dropped, so every batch is full.
pub fn shuffled_batches(len: usize, batch_size: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut crate::device::rng(seed));
    order.chunks_exact(batch_size).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prediction_is_right_only_when_the_label_scores_highest_alone() {
        assert!(predicts_label(&[0.1, 2.0, -1.0], 1));
        assert!(!predicts_label(&[0.1, 2.0, -1.0], 0));
        assert!(!predicts_label(&[2.0, 2.0, -1.0], 0), "a tie counts as wrong");
        assert!(!predicts_label(&[0.0; 10], 3), "equal scores (a zero network) are never right");
        assert!(!predicts_label(&[f32::NAN, 1.0], 1) && !predicts_label(&[1.0, f32::NAN], 1), "NaN");
        assert!(!predicts_label(&[1.0, 0.0], usize::MAX), "padding rows carry label usize::MAX");
    }

    fn tiny_set() -> ImageSet {
        ImageSet {
            name: "tiny".into(),
            channels: 1,
            height: 1,
            width: 2,
            max_value: 4,
            pixels: vec![0, 4, 2, 1, 3, 3],
            labels: vec![7, 8, 9],
            class_names: (0..10).map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn flat_batch_scales_and_pads() {
        let dev: Cpu = Default::default();
        let (x, labels) = flat_batch::<4, 2, _>(&dev, &tiny_set(), &[2, 0]);
        assert_eq!(x.array(), [[0.75, 0.75], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]);
        assert_eq!(labels, [9, 7, usize::MAX, usize::MAX]);
    }

    #[test]
    fn shuffled_batches_cover_each_index_at_most_once_and_repeat_per_seed() {
        let batches = shuffled_batches(10, 3, 1);
        assert_eq!(batches.len(), 3);
        let mut seen: Vec<usize> = batches.concat();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 9);
        assert_eq!(batches, shuffled_batches(10, 3, 1));
        assert_ne!(batches, shuffled_batches(10, 3, 2));
    }
}
