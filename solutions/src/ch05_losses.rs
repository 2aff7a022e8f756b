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
    // BEGIN SOLUTION log_softmax: subtract the row maximum (off the tape), then subtract the log of the row sum of exponentials
    let row_max = logits.retaped::<NoneTape>().max::<Rank1<B>, Axis<1>>();
    let shifted = logits - row_max.broadcast();
    let log_sum = shifted.retaped::<T>().exp().sum::<Rank1<B>, Axis<1>>().ln();
    shifted - log_sum.broadcast()
    // END SOLUTION
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
    // BEGIN SOLUTION cross_entropy: weight the log-probabilities by the targets, sum each row, average over the batch, negate
    let per_sample = (log_softmax(logits) * targets.clone()).sum::<Rank1<B>, Axis<1>>();
    per_sample.mean().negate()
    // END SOLUTION
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
    // BEGIN SOLUTION cross_entropy_gradient: the softmax (exp of the log-softmax) minus the targets, divided by B
    let batch = E::from_usize(B).expect("the batch size fits the element type");
    (log_softmax(logits.clone()).exp() - targets.clone()) / batch
    // END SOLUTION
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
    // BEGIN SOLUTION multiclass_hinge: select the true scores, hinge every score against them, mask out the true class, sum per row, average
    let dev = scores.device().clone();
    let true_scores = scores.retaped::<T>().select(dev.tensor(*labels));
    let hinges = (scores - true_scores.broadcast() + margin).relu();
    let wrong_classes: Tensor<Rank2<B, C>, E, D> = one_hot_targets(&dev, labels, 0.0).negate() + E::ONE;
    (hinges * wrong_classes).sum::<Rank1<B>, Axis<1>>().mean()
    // END SOLUTION
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
    // BEGIN SOLUTION l1_loss: the mean of the absolute residuals
    (prediction - target.clone()).abs().mean()
    // END SOLUTION
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
    // BEGIN SOLUTION l2_loss: the mean of the squared residuals
    (prediction - target.clone()).square().mean()
    // END SOLUTION
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
    // BEGIN SOLUTION triplet_loss: the two squared distances per row, the hinge on their difference plus the margin, the batch mean
    let to_positive = (anchor.retaped::<T>() - positive).square().sum::<Rank1<B>, Axis<1>>();
    let to_negative = (anchor - negative).square().sum::<Rank1<B>, Axis<1>>();
    (to_positive - to_negative + margin).relu().mean()
    // END SOLUTION
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
    // BEGIN SOLUTION triplet_gradient: find the active triplets, then scale the three differences by 2/B where active
    let (a, p, n) = (anchor.as_vec(), positive.as_vec(), negative.as_vec());
    let scale = E::from_f64(2.0 / B as f64).expect("2/B fits the element type");
    let (mut da, mut dp, mut dn) =
        (vec![E::default(); B * N], vec![E::default(); B * N], vec![E::default(); B * N]);
    let squared = |x: &[E], y: &[E]| x.iter().zip(y).fold(E::default(), |s, (&u, &v)| s + (u - v) * (u - v));
    for b in 0..B {
        let row = b * N..(b + 1) * N;
        let hinge =
            squared(&a[row.clone()], &p[row.clone()]) - squared(&a[row.clone()], &n[row.clone()]) + margin;
        if hinge > E::default() {
            for i in row {
                da[i] = (n[i] - p[i]) * scale;
                dp[i] = (p[i] - a[i]) * scale;
                dn[i] = (a[i] - n[i]) * scale;
            }
        }
    }
    let dev = anchor.device();
    let shape = (Const::<B>, Const::<N>);
    TripletGrads {
        anchor: dev.tensor_from_vec(da, shape),
        positive: dev.tensor_from_vec(dp, shape),
        negative: dev.tensor_from_vec(dn, shape),
    }
    // END SOLUTION
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
    // BEGIN SOLUTION batch_hard_triplet_loss: all pairwise squared distances, label masks, the masked row maximum and minimum, the hinge averaged over valid anchors
    let dev = embeddings.device().clone();
    // d[i, j] = ‖x_i − x_j‖², from the (B, B, N) tensor of all differences. A broadcast is a
    // view with the identity of its source, and dfdx refuses an operation on two views of
    // one tensor: `x_i + (−x_j)` adds two different tensors.
    let rows = embeddings.retaped::<T>().broadcast::<Rank3<B, B, N>, Axis<1>>();
    let negated_columns = embeddings.negate().broadcast::<Rank3<B, B, N>, Axis<0>>();
    let distances = (rows + negated_columns).square().sum::<Rank2<B, B>, Axis<2>>();

    // Which pairs (i, j) are positives (same label, j ≠ i) and negatives (another label).
    let is_positive: Vec<bool> =
        (0..B * B).map(|k| k / B != k % B && labels[k / B] == labels[k % B]).collect();
    let is_negative: Vec<bool> = (0..B * B).map(|k| labels[k / B] != labels[k % B]).collect();
    let has_any = |mask: &[bool], i: usize| mask[i * B..(i + 1) * B].contains(&true);
    let valid: Vec<bool> = (0..B).map(|i| has_any(&is_positive, i) && has_any(&is_negative, i)).collect();
    let valid_count = E::from_usize(valid.iter().filter(|&&v| v).count().max(1)).unwrap();
    let weights = valid.iter().map(|&v| if v { E::ONE / valid_count } else { E::default() }).collect();

    // As bool tensors for `choose`: entries that are not positives become −1 (a squared
    // distance is never below 0), entries that are not negatives a huge distance.
    let shape = (Const::<B>, Const::<B>);
    let mask = |m: Vec<bool>| {
        dev.tensor_from_vec(m.into_iter().map(|b| E::from_u8(b as u8).unwrap()).collect(), shape)
            .gt(E::default())
    };
    let never_largest = dev.ones_like(&shape).negate();
    let never_smallest = dev.ones_like(&shape) * E::from_f32(f32::MAX).expect("f32::MAX fits E");
    let hardest_positive =
        mask(is_positive).choose(distances.retaped::<T>(), never_largest).max::<Rank1<B>, Axis<1>>();
    let hardest_negative = mask(is_negative).choose(distances, never_smallest).min::<Rank1<B>, Axis<1>>();
    let hinges = (hardest_positive - hardest_negative + margin).relu();
    (hinges * dev.tensor_from_vec(weights, (Const::<B>,))).sum()
    // END SOLUTION
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
    // BEGIN SOLUTION nearest_neighbour_accuracy: for every query, the reference with the smallest squared distance; count matching labels
    let squared = |x: &[f32; N], y: &[f32; N]| x.iter().zip(y).map(|(u, v)| (u - v) * (u - v)).sum::<f32>();
    let correct = queries
        .iter()
        .zip(query_labels)
        .filter(|(query, &label)| {
            let mut best = (f32::INFINITY, usize::MAX);
            for (reference, &reference_label) in references.iter().zip(reference_labels) {
                let distance = squared(query, reference);
                if distance < best.0 {
                    best = (distance, reference_label);
                }
            }
            best.1 == label
        })
        .count();
    correct as f32 / queries.len() as f32
    // END SOLUTION
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
    // BEGIN SOLUTION train_triplet_embedding: per epoch and batch: embed with a tape, batch-hard loss, backward, Adam step
    for epoch in 1..=config.epochs {
        let batches = class_balanced_batches(&labels, config.seed + epoch as u64);
        let mut loss_sum = 0.0;
        for batch in &batches {
            let (x, batch_labels) =
                courselib::data::flat_batch::<TRIPLET_BATCH, DIGIT_PIXELS, Dev>(&dev, train, batch);
            let embeddings = model.forward_mut(x.traced(grads));
            let loss = batch_hard_triplet_loss(embeddings, &batch_labels, config.margin);
            loss_sum += loss.array();
            grads = loss.backward();
            adam.update(&mut model, &grads).expect("every parameter has a gradient");
            model.zero_grads(&mut grads);
        }
        epoch_losses.push(loss_sum / batches.len() as f32);
    }
    (model, epoch_losses)
    // END SOLUTION
}
// ANCHOR_END: train_triplet_embedding
