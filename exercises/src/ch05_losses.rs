//! Chapter 5: loss functions.
//!
//! The loss a network is trained with depends on its task: the cross-entropy (negative
//! log-likelihood) and the multiclass hinge for classification, L1 and L2 for regression,
//! and the triplet loss for metric learning, with batch-hard mining of triplets. Every loss
//! takes its prediction with whatever tape it carries and returns a scalar tensor with that
//! tape, so the same function computes a number (no tape), gradients by dfdx's reverse mode
//! (`OwnedTape`), or is differentiated by finite differences in `f64`. Finally a small
//! network learns 16-dimensional embeddings of the digits with the triplet loss, and a
//! nearest-neighbour search in the embedding space classifies the test images.
//!
//! Functions are generic over the element type `E` (f32 for training, f64 for gradient
//! checks), the device `D` and the tape `T`.

use datasets::ImageSet;
use dfdx::optim::Adam;
use dfdx::prelude::*;
use rand::seq::SliceRandom;

use courselib::device::Dev;

// ANCHOR: log_softmax
/// The logarithm of the softmax over each row, computed stably:
/// `log p[b, k] = z[b, k] − m_b − log Σ_j exp(z[b, j] − m_b)` with the row maximum `m_b`.
///
/// Build it from `max`, `exp`, `sum`, `ln` and broadcasts (not dfdx's `log_softmax`). The
/// maximum is a constant shift that changes nothing mathematically, so take it off the tape
/// (`logits.retaped::<NoneTape>()`). The shifted logits are needed twice, once inside the
/// log-sum-exp and once outside it: `shifted.retaped::<T>()` is a second handle on the same
/// values with a fresh tape of the same kind, and the two tapes merge again when the two
/// branches are subtracted.
///
/// - `logits`: `(B, C)`, with any tape `T`; returns `(B, C)` with the same tape, every row's
///   exponentials summing to 1.
pub fn log_softmax<const B: usize, const C: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    logits: Tensor<Rank2<B, C>, E, D, T>,
) -> Tensor<Rank2<B, C>, E, D, T> {
    todo!("ch05 log_softmax: subtract the row maximum (off the tape), then subtract the log of the row sum of exponentials; see book section 5.2")
}
// ANCHOR_END: log_softmax

// ANCHOR: cross_entropy
/// The cross-entropy between target distributions and the softmax of the logits, averaged
/// over the batch: `L = −(1/B) Σ_b Σ_k q[b, k] · log p[b, k]`.
///
/// With one-hot targets this is the negative log-likelihood of the labels (section 2.4);
/// with smoothed or soft targets it is the general cross-entropy. Use [`log_softmax`].
///
/// - `logits`: `(B, C)`, with any tape `T`.
/// - `targets`: `(B, C)`, every row a probability distribution over the `C` classes.
/// - returns the scalar loss with the logits' tape.
pub fn cross_entropy<const B: usize, const C: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    logits: Tensor<Rank2<B, C>, E, D, T>,
    targets: &Tensor<Rank2<B, C>, E, D>,
) -> Tensor<Rank0, E, D, T> {
    todo!("ch05 cross_entropy: weight the log-probabilities by the targets, sum each row, average over the batch, negate; see book section 5.2")
}
// ANCHOR_END: cross_entropy

// ANCHOR: cross_entropy_gradient
/// The gradient of [`cross_entropy`] with respect to the logits, by hand:
/// `∂L/∂z = (softmax(z) − q) / B`. It holds for any targets `q` whose rows sum to 1.
///
/// - `logits`, `targets`: `(B, C)`; returns `(B, C)`.
pub fn cross_entropy_gradient<const B: usize, const C: usize, E: Dtype, D: Device<E>>(
    logits: &Tensor<Rank2<B, C>, E, D>,
    targets: &Tensor<Rank2<B, C>, E, D>,
) -> Tensor<Rank2<B, C>, E, D> {
    todo!("ch05 cross_entropy_gradient: the softmax (exp of the log-softmax) minus the targets, divided by B; see book section 5.2")
}
// ANCHOR_END: cross_entropy_gradient

/// The targets of `labels` as one-hot rows: `q[b, k] = 1` where `k = labels[b]`, else 0.
///
/// `smoothing` moves that much probability from the label to all classes evenly (label
/// smoothing): each row becomes `(1 − smoothing) · onehot + smoothing / C`. Use 0 for plain
/// one-hot targets.
pub fn one_hot_targets<const B: usize, const C: usize, E: Dtype, D: Device<E>>(
    dev: &D,
    labels: &[usize; B],
    smoothing: f64,
) -> Tensor<Rank2<B, C>, E, D> {
    assert!((0.0..=1.0).contains(&smoothing), "label smoothing {smoothing} is not in [0, 1]");
    let values = (0..B * C)
        .map(|i| {
            let hot = if labels[i / C] == i % C { 1.0 - smoothing } else { 0.0 };
            E::from_f64(hot + smoothing / C as f64).expect("a probability fits E")
        })
        .collect();
    dev.tensor_from_vec(values, (Const::<B>, Const::<C>))
}

// ANCHOR: multiclass_hinge
/// The multiclass hinge loss (Weston and Watkins; the form of CS231n), averaged over the
/// batch: `L = (1/B) Σ_b Σ_{j ≠ y_b} max(0, s[b, j] − s[b, y_b] + margin)`.
///
/// Every wrong class whose score comes within `margin` of the true class's score costs the
/// shortfall; a sample whose true score beats every other by at least `margin` costs 0.
///
/// - `scores`: `(B, C)`, with any tape `T`; `labels`: one class per sample, each below `C`.
/// - returns the scalar loss with the scores' tape.
pub fn multiclass_hinge<const B: usize, const C: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    scores: Tensor<Rank2<B, C>, E, D, T>,
    labels: &[usize; B],
    margin: E,
) -> Tensor<Rank0, E, D, T> {
    assert!(labels.iter().all(|&y| y < C), "multiclass_hinge: labels {labels:?} must be below C = {C}");
    todo!("ch05 multiclass_hinge: select the true scores, hinge every score against them, mask out the true class, sum per row, average; see book section 5.3")
}
// ANCHOR_END: multiclass_hinge

// ANCHOR: l1_loss
/// The L1 loss, the mean absolute error over all elements: `L = (1/N) Σ_i |x_i − y_i|`.
///
/// - `prediction`: any shape `S`, with any tape `T`; `target`: the same shape.
/// - returns the scalar loss with the prediction's tape.
pub fn l1_loss<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    prediction: Tensor<S, E, D, T>,
    target: &Tensor<S, E, D>,
) -> Tensor<Rank0, E, D, T> {
    todo!("ch05 l1_loss: the mean of the absolute residuals; see book section 5.4")
}
// ANCHOR_END: l1_loss

// ANCHOR: l2_loss
/// The L2 loss, the mean squared error over all elements: `L = (1/N) Σ_i (x_i − y_i)²`.
///
/// - `prediction`: any shape `S`, with any tape `T`; `target`: the same shape.
/// - returns the scalar loss with the prediction's tape.
pub fn l2_loss<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    prediction: Tensor<S, E, D, T>,
    target: &Tensor<S, E, D>,
) -> Tensor<Rank0, E, D, T> {
    todo!("ch05 l2_loss: the mean of the squared residuals; see book section 5.4")
}
// ANCHOR_END: l2_loss

// ANCHOR: triplet_loss
/// The triplet loss with squared Euclidean distances, averaged over the batch:
/// `L = (1/B) Σ_b max(0, ‖a_b − p_b‖² − ‖a_b − n_b‖² + margin)`.
///
/// Row `b` of the three inputs is one triplet: an anchor, a positive (same class) and a
/// negative (another class). The loss is 0 once every negative is farther from its anchor
/// than the positive, by at least `margin`.
///
/// - `anchor`, `positive`, `negative`: `(B, N)` embeddings, with the same kind of tape `T`.
/// - returns the scalar loss with the merged tapes.
pub fn triplet_loss<const B: usize, const N: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    anchor: Tensor<Rank2<B, N>, E, D, T>,
    positive: Tensor<Rank2<B, N>, E, D, T>,
    negative: Tensor<Rank2<B, N>, E, D, T>,
    margin: E,
) -> Tensor<Rank0, E, D, T> {
    todo!("ch05 triplet_loss: the two squared distances per row, the hinge on their difference plus the margin, the batch mean; see book section 5.5")
}
// ANCHOR_END: triplet_loss

/// The gradients of [`triplet_loss`] with respect to its three inputs, each `(B, N)`.
#[derive(Clone, Debug)]
pub struct TripletGrads<const B: usize, const N: usize, E: Dtype, D: Storage<E>> {
    pub anchor: Tensor<Rank2<B, N>, E, D>,
    pub positive: Tensor<Rank2<B, N>, E, D>,
    pub negative: Tensor<Rank2<B, N>, E, D>,
}

// ANCHOR: triplet_gradient
/// The gradients of [`triplet_loss`] with respect to the anchors, positives and negatives,
/// by hand: derive them from the loss of section 5.5 (`cargo course hint triplet_gradient`
/// if you are stuck). Where a triplet's hinge is exactly 0, take the derivative to be 0, as
/// for ReLU.
///
/// - `anchor`, `positive`, `negative`: `(B, N)`.
pub fn triplet_gradient<const B: usize, const N: usize, E: Dtype, D: Device<E>>(
    anchor: &Tensor<Rank2<B, N>, E, D>,
    positive: &Tensor<Rank2<B, N>, E, D>,
    negative: &Tensor<Rank2<B, N>, E, D>,
    margin: E,
) -> TripletGrads<B, N, E, D> {
    todo!("ch05 triplet_gradient: find the active triplets, then scale the three differences by 2/B where active; see book section 5.5")
}
// ANCHOR_END: triplet_gradient

// ANCHOR: batch_hard_triplet_loss
/// The batch-hard triplet loss: every sample of the batch is an anchor, paired with its
/// hardest positive (the farthest sample of its own class) and its hardest negative (the
/// closest sample of another class), with squared Euclidean distances:
/// `L = mean over valid anchors i of max(0, max_{j ∈ P(i)} d_ij − min_{k ∈ N(i)} d_ik + margin)`,
/// where `P(i)` holds the other samples with label `labels[i]`, `N(i)` the samples with
/// another label, and `d_ij = ‖x_i − x_j‖²`.
///
/// An anchor is valid when the batch holds at least one positive and one negative for it;
/// an anchor without a positive (the only sample of its class in the batch) or without a
/// negative (a batch of one class) forms no triplet and is left out of the mean. With no
/// valid anchor at all the loss is 0.
///
/// - `embeddings`: `(B, N)`, with any tape `T`; `labels`: one class per row.
/// - returns the scalar loss with the embeddings' tape.
pub fn batch_hard_triplet_loss<const B: usize, const N: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    embeddings: Tensor<Rank2<B, N>, E, D, T>,
    labels: &[usize; B],
    margin: E,
) -> Tensor<Rank0, E, D, T> {
    todo!("ch05 batch_hard_triplet_loss: all pairwise squared distances, label masks, the masked row maximum and minimum, the hinge averaged over valid anchors; see book section 5.6")
}
// ANCHOR_END: batch_hard_triplet_loss

// ANCHOR: nearest_neighbour_accuracy
/// The fraction of `queries` whose nearest neighbour among `references` (by Euclidean
/// distance) has the query's label: a 1-nearest-neighbour classifier in the embedding
/// space. Of several equally near references, the first counts.
///
/// - `references`, `queries`: one `N`-dimensional embedding each, with the labels
///   `reference_labels` and `query_labels` of the same lengths.
pub fn nearest_neighbour_accuracy<const N: usize>(
    references: &[[f32; N]],
    reference_labels: &[usize],
    queries: &[[f32; N]],
    query_labels: &[usize],
) -> f32 {
    assert_eq!(references.len(), reference_labels.len(), "one label per reference embedding");
    assert_eq!(queries.len(), query_labels.len(), "one label per query embedding");
    assert!(!references.is_empty() && !queries.is_empty(), "no references or no queries");
    todo!("ch05 nearest_neighbour_accuracy: for every query, the reference with the smallest squared distance; count matching labels; see book section 5.7")
}
// ANCHOR_END: nearest_neighbour_accuracy

/// Pixels per digit image (8 x 8) and digit classes, as in chapter 2.
pub use crate::ch02_backprop::{DIGIT_CLASSES, DIGIT_PIXELS};
/// Images of each class in a batch of [`train_triplet_embedding`].
pub const PER_CLASS: usize = 8;
/// Images per batch of [`train_triplet_embedding`]: [`PER_CLASS`] of every digit class.
pub const TRIPLET_BATCH: usize = PER_CLASS * DIGIT_CLASSES;

/// The embedding network: 64 pixels, 64 hidden ReLU units, an `N`-dimensional embedding.
pub type EmbeddingNet<const N: usize> = (Linear<DIGIT_PIXELS, 64>, ReLU, Linear<64, N>);
/// The network's parameters on the course's device.
pub type Embedder<const N: usize> = <EmbeddingNet<N> as BuildOnDevice<Dev, f32>>::Built;

/// How [`train_triplet_embedding`] trains.
#[derive(Clone, Debug)]
pub struct TripletConfig {
    pub epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// The triplet margin `α`, in squared embedding distance.
    pub margin: f32,
    /// Seeds the initial weights and the batches of each epoch.
    pub seed: u64,
}

impl Default for TripletConfig {
    fn default() -> Self {
        Self { epochs: 30, learning_rate: 1e-3, margin: 0.2, seed: 5 }
    }
}

/// One epoch of class-balanced batches of `labels`' indices: each class's indices are
/// shuffled (seeded with `seed`), and batch `k` takes the `k`-th group of [`PER_CLASS`] from
/// every class, so every sample has positives and negatives in its batch. The epoch ends
/// when the smallest class runs out; the rest of the larger classes waits for the next one.
pub fn class_balanced_batches(labels: &[usize], seed: u64) -> Vec<[usize; TRIPLET_BATCH]> {
    let mut rng = courselib::device::rng(seed);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); DIGIT_CLASSES];
    for (i, &label) in labels.iter().enumerate() {
        by_class[label].push(i);
    }
    for class in &mut by_class {
        class.shuffle(&mut rng);
    }
    let batches = by_class.iter().map(|c| c.len() / PER_CLASS).min().unwrap_or(0);
    (0..batches)
        .map(|k| {
            let mut batch = [0; TRIPLET_BATCH];
            for (class, indices) in by_class.iter().enumerate() {
                batch[class * PER_CLASS..(class + 1) * PER_CLASS]
                    .copy_from_slice(&indices[k * PER_CLASS..(k + 1) * PER_CLASS]);
            }
            batch
        })
        .collect()
}

/// The embeddings of all of `set`'s images by `model`, in the set's order.
pub fn embed<const N: usize>(model: &Embedder<N>, set: &ImageSet) -> Vec<[f32; N]> {
    const CHUNK: usize = 128;
    let dev = model.0.weight.device();
    let indices: Vec<usize> = (0..set.len()).collect();
    let mut embeddings = Vec::with_capacity(set.len());
    for chunk in indices.chunks(CHUNK) {
        let (x, _) = courselib::data::flat_batch::<CHUNK, DIGIT_PIXELS, Dev>(dev, set, chunk);
        let values = model.forward(x).as_vec();
        embeddings.extend(values.chunks(N).take(chunk.len()).map(|row| <[f32; N]>::try_from(row).unwrap()));
    }
    embeddings
}

// ANCHOR: train_triplet_embedding
/// Trains a fresh [`EmbeddingNet`] on `train` with the [`batch_hard_triplet_loss`] and
/// dfdx's Adam (`config.learning_rate`, otherwise Adam's defaults).
///
/// The network is built on `courselib::device::device(config.seed)`; epoch `e` (from 1)
/// uses the batches `class_balanced_batches(labels, config.seed + e)`, each turned into a
/// tensor by `courselib::data::flat_batch`. Per batch: embed it on a tape, compute the loss
/// with `config.margin`, take its gradients and one Adam step.
///
/// Returns the trained network and the mean batch loss of every epoch.
pub fn train_triplet_embedding<const N: usize>(
    train: &ImageSet,
    config: &TripletConfig,
) -> (Embedder<N>, Vec<f32>) {
    let dev = courselib::device::device(config.seed);
    let mut model = dev.build_module::<EmbeddingNet<N>, f32>();
    let mut adam: Adam<Embedder<N>, f32, Dev> =
        Adam::new(&model, AdamConfig { lr: config.learning_rate, ..Default::default() });
    let labels: Vec<usize> = (0..train.len()).map(|i| train.label(i)).collect();
    let mut grads = model.alloc_grads();
    let mut epoch_losses: Vec<f32> = Vec::with_capacity(config.epochs);
    todo!("ch05 train_triplet_embedding: per epoch and batch: embed with a tape, batch-hard loss, backward, Adam step; see book section 5.7")
}
// ANCHOR_END: train_triplet_embedding
