//! Chapter 2: neural-network basics and backprop.
//!
//! A linear layer, ReLU and softmax with the negative log-likelihood, each with a forward
//! pass and a hand-written backward pass; a two-layer perceptron built from them; its
//! gradients checked against dfdx's tape; and its training on handwritten digits.
//!
//! Functions are generic over the element type `E` (f32 for training, f64 for gradient
//! checks) and the device `D`.

use datasets::ImageSet;
use dfdx::prelude::*;
use rand::Rng;

// ANCHOR: linear_forward
/// The forward pass of a linear (fully connected) layer: `y = x·W + b`.
///
/// - `x`: `(B, I)`, one input vector per row.
/// - `w`: `(I, O)`, the weights, stored input-major: column `o` holds output `o`'s weights.
/// - `b`: `(O,)`, the bias, added to every row.
/// - returns `y`: `(B, O)`.
pub fn linear_forward<const B: usize, const I: usize, const O: usize, E: Dtype, D: Device<E>>(
    x: &Tensor<Rank2<B, I>, E, D>,
    w: &Tensor<Rank2<I, O>, E, D>,
    b: &Tensor<Rank1<O>, E, D>,
) -> Tensor<Rank2<B, O>, E, D> {
    todo!("ch02 linear_forward: multiply x by w, then broadcast b over the batch; see book section 2.2")
}
// ANCHOR_END: linear_forward

/// The gradients of a linear layer's loss with respect to its input and its parameters.
#[derive(Clone, Debug)]
pub struct LinearGrads<const B: usize, const I: usize, const O: usize, E: Dtype, D: Storage<E>> {
    /// `∂L/∂x`: `(B, I)`.
    pub dx: Tensor<Rank2<B, I>, E, D>,
    /// `∂L/∂W`: `(I, O)`.
    pub dw: Tensor<Rank2<I, O>, E, D>,
    /// `∂L/∂b`: `(O,)`.
    pub db: Tensor<Rank1<O>, E, D>,
}

// ANCHOR: linear_backward
/// The backward pass of [`linear_forward`]: from `dy = ∂L/∂y` and the forward inputs, the
/// gradients with respect to `x`, `W` and `b`, derived as in section 2.2
/// (`cargo course hint linear_backward` if you are stuck).
///
/// - `dy`: `(B, O)`; `x`: `(B, I)`; `w`: `(I, O)`.
pub fn linear_backward<const B: usize, const I: usize, const O: usize, E: Dtype, D: Device<E>>(
    dy: &Tensor<Rank2<B, O>, E, D>,
    x: &Tensor<Rank2<B, I>, E, D>,
    w: &Tensor<Rank2<I, O>, E, D>,
) -> LinearGrads<B, I, O, E, D> {
    todo!("ch02 linear_backward: two matrix products with a transpose each, and a sum over the batch; see book section 2.2")
}
// ANCHOR_END: linear_backward

// ANCHOR: relu_forward
/// The rectified linear unit, element-wise: `max(0, x)`. Any shape.
pub fn relu_forward<S: Shape, E: Dtype, D: Device<E>>(x: &Tensor<S, E, D>) -> Tensor<S, E, D> {
    todo!("ch02 relu_forward: keep the positive entries, zero the others; see book section 2.3")
}
// ANCHOR_END: relu_forward

// ANCHOR: relu_backward
/// The backward pass of [`relu_forward`]: `∂L/∂x = dy` where `x > 0`, else 0 (we take the
/// derivative at exactly 0 to be 0).
///
/// - `dy`: `∂L/∂y`, the shape of `x`; `x`: the forward input.
pub fn relu_backward<S: Shape, E: Dtype, D: Device<E>>(
    dy: &Tensor<S, E, D>,
    x: &Tensor<S, E, D>,
) -> Tensor<S, E, D> {
    todo!("ch02 relu_backward: pass dy through where the input was positive; see book section 2.3")
}
// ANCHOR_END: relu_backward

// ANCHOR: softmax
/// Softmax over each row: `p[b, k] = exp(z[b, k]) / Σ_j exp(z[b, j])`.
///
/// Computed stably: subtracting the row maximum first changes nothing mathematically and
/// keeps `exp` from overflowing for large logits.
///
/// - `logits`: `(B, C)`; returns `(B, C)`, every row non-negative and summing to 1.
pub fn softmax<const B: usize, const C: usize, E: Dtype, D: Device<E>>(
    logits: &Tensor<Rank2<B, C>, E, D>,
) -> Tensor<Rank2<B, C>, E, D> {
    todo!("ch02 softmax: subtract each row's maximum, exponentiate, divide by the row sum; see book section 2.4")
}
// ANCHOR_END: softmax

// ANCHOR: softmax_nll_loss
/// The mean negative log-likelihood of the true labels under the softmax of the logits:
/// `L = -(1/B) Σ_b log p[b, labels[b]]`, the cross-entropy loss.
///
/// Use `log p[b, k] = z[b, k] - m_b - log Σ_j exp(z[b, j] - m_b)` with the row maximum
/// `m_b`: taking the log of a softmax that underflowed to 0 would give infinity.
///
/// - `logits`: `(B, C)`; `labels`: one class per sample, each below `C`.
pub fn softmax_nll_loss<const B: usize, const C: usize, E: Dtype, D: Device<E>>(
    logits: &Tensor<Rank2<B, C>, E, D>,
    labels: &[usize; B],
) -> E {
    todo!("ch02 softmax_nll_loss: a stable log-softmax, pick each row's label, average and negate; see book section 2.4")
}
// ANCHOR_END: softmax_nll_loss

// ANCHOR: softmax_nll_backward
/// The gradient of [`softmax_nll_loss`] with respect to the logits:
/// `∂L/∂z = (softmax(z) - onehot(labels)) / B`.
///
/// - `logits`: `(B, C)`; returns `(B, C)`.
pub fn softmax_nll_backward<const B: usize, const C: usize, E: Dtype, D: Device<E>>(
    logits: &Tensor<Rank2<B, C>, E, D>,
    labels: &[usize; B],
) -> Tensor<Rank2<B, C>, E, D> {
    todo!("ch02 softmax_nll_backward: subtract one at each label from the softmax, divide by B; see book section 2.4")
}
// ANCHOR_END: softmax_nll_backward

/// A two-layer perceptron: `logits = relu(x·W1 + b1)·W2 + b2`, with `I` inputs, `H` hidden
/// units and `O` outputs (classes).
#[derive(Clone, Debug)]
pub struct TwoLayerMlp<const I: usize, const H: usize, const O: usize, E: Dtype, D: Storage<E>> {
    /// `(I, H)`
    pub w1: Tensor<Rank2<I, H>, E, D>,
    /// `(H,)`
    pub b1: Tensor<Rank1<H>, E, D>,
    /// `(H, O)`
    pub w2: Tensor<Rank2<H, O>, E, D>,
    /// `(O,)`
    pub b2: Tensor<Rank1<O>, E, D>,
}

/// What the forward pass keeps for the backward pass, for a batch of `B` inputs.
#[derive(Clone, Debug)]
pub struct MlpCache<const B: usize, const H: usize, const O: usize, E: Dtype, D: Storage<E>> {
    /// The hidden pre-activations `x·W1 + b1`: `(B, H)`.
    pub hidden_pre: Tensor<Rank2<B, H>, E, D>,
    /// The hidden activations `relu(hidden_pre)`: `(B, H)`.
    pub hidden: Tensor<Rank2<B, H>, E, D>,
    /// The output scores: `(B, O)`.
    pub logits: Tensor<Rank2<B, O>, E, D>,
}

/// The gradients of the loss with respect to each parameter of a [`TwoLayerMlp`], with the
/// parameters' shapes.
#[derive(Clone, Debug)]
pub struct MlpGrads<const I: usize, const H: usize, const O: usize, E: Dtype, D: Storage<E>> {
    pub w1: Tensor<Rank2<I, H>, E, D>,
    pub b1: Tensor<Rank1<H>, E, D>,
    pub w2: Tensor<Rank2<H, O>, E, D>,
    pub b2: Tensor<Rank1<O>, E, D>,
}

impl<const I: usize, const H: usize, const O: usize, E: Dtype, D: Device<E>> TwoLayerMlp<I, H, O, E, D> {
    /// He initialisation: weights uniform in `±sqrt(6 / fan_in)` (variance `2 / fan_in`, which
    /// keeps the scale of the activations through ReLU layers), biases zero. Seeded: the same
    /// `seed` gives the same network on every machine and device.
    pub fn new(dev: &D, seed: u64) -> Self {
        let mut rng = courselib::device::rng(seed);
        let mut uniform = |count: usize, fan_in: usize| -> Vec<E> {
            let limit = (6.0 / fan_in as f64).sqrt();
            (0..count)
                .map(|_| E::from_f64(rng.gen_range(-limit..limit)).expect("a small float fits E"))
                .collect()
        };
        Self {
            w1: dev.tensor_from_vec(uniform(I * H, I), (Const::<I>, Const::<H>)),
            b1: dev.zeros(),
            w2: dev.tensor_from_vec(uniform(H * O, H), (Const::<H>, Const::<O>)),
            b2: dev.zeros(),
        }
    }

    // ANCHOR: mlp_forward
    /// The forward pass for a batch `x`: `(B, I)`. Returns the logits and the intermediate
    /// values the backward pass needs. Build it from [`linear_forward`] and [`relu_forward`].
    pub fn forward<const B: usize>(&self, x: &Tensor<Rank2<B, I>, E, D>) -> MlpCache<B, H, O, E, D> {
        todo!(
            "ch02 mlp_forward: linear, relu, linear, keeping each intermediate result; see book section 2.5"
        )
    }
    // ANCHOR_END: mlp_forward

    // ANCHOR: mlp_backward
    /// The backward pass: the gradients of `softmax_nll_loss(logits, labels)` with respect to
    /// every parameter, by the chain rule from the loss back to `W1`. `x` and `cache` are the
    /// input and the result of [`TwoLayerMlp::forward`]. Build it from
    /// [`softmax_nll_backward`], [`linear_backward`] and [`relu_backward`].
    pub fn backward<const B: usize>(
        &self,
        x: &Tensor<Rank2<B, I>, E, D>,
        labels: &[usize; B],
        cache: &MlpCache<B, H, O, E, D>,
    ) -> MlpGrads<I, H, O, E, D> {
        todo!("ch02 mlp_backward: from the loss back through the output layer, the ReLU and the hidden layer; see book section 2.5")
    }
    // ANCHOR_END: mlp_backward

    /// The loss on a batch and its gradients by the hand-written backward pass.
    pub fn loss_and_gradients<const B: usize>(
        &self,
        x: &Tensor<Rank2<B, I>, E, D>,
        labels: &[usize; B],
    ) -> (E, MlpGrads<I, H, O, E, D>) {
        let cache = self.forward(x);
        let loss = softmax_nll_loss(&cache.logits, labels);
        (loss, self.backward(x, labels, &cache))
    }

    /// One step of gradient descent: every parameter moves by `-learning_rate` times its
    /// gradient.
    pub fn sgd_step(&mut self, grads: &MlpGrads<I, H, O, E, D>, learning_rate: E) {
        self.w1 = self.w1.clone() - grads.w1.clone() * learning_rate;
        self.b1 = self.b1.clone() - grads.b1.clone() * learning_rate;
        self.w2 = self.w2.clone() - grads.w2.clone() * learning_rate;
        self.b2 = self.b2.clone() - grads.b2.clone() * learning_rate;
    }
}

// ANCHOR: tape_gradients
/// The same loss and gradients as [`TwoLayerMlp::loss_and_gradients`], computed by dfdx's
/// reverse-mode automatic differentiation instead of by hand.
///
/// Put a tape on the input (`x.clone().leaky_traced()`); every operation on a taped tensor
/// records how to pass gradients back. Compute the logits with dfdx's own operations
/// (`matmul`, `broadcast`, `relu`), the loss with `log_softmax::<Axis<1>>()`, `select` and
/// `mean`; then `loss.backward()` returns the gradients, and `grads.get(&mlp.w1)` reads one
/// parameter's.
pub fn tape_gradients<
    const B: usize,
    const I: usize,
    const H: usize,
    const O: usize,
    E: Dtype,
    D: Device<E>,
>(
    mlp: &TwoLayerMlp<I, H, O, E, D>,
    x: &Tensor<Rank2<B, I>, E, D>,
    labels: &[usize; B],
) -> (E, MlpGrads<I, H, O, E, D>) {
    todo!(
        "ch02 tape_gradients: the forward pass on a traced input, then loss.backward(); see book section 2.6"
    )
}
// ANCHOR_END: tape_gradients

/// Pixels per digit image (8 x 8) and digit classes.
pub const DIGIT_PIXELS: usize = datasets::digits::HEIGHT * datasets::digits::WIDTH;
pub const DIGIT_CLASSES: usize = datasets::digits::CLASSES;
/// Samples per mini-batch in [`train_mlp`].
pub const BATCH: usize = 32;

/// How [`train_mlp`] trains.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub epochs: usize,
    pub learning_rate: f32,
    /// Seeds the initial weights and the order of the samples in each epoch.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 40, learning_rate: 0.1, seed: 7 }
    }
}

/// What happened in one epoch of training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochStats {
    /// 1 for the first epoch.
    pub epoch: usize,
    /// The mean of the mini-batch losses of the epoch.
    pub train_loss: f32,
    /// The fraction of `val` classified correctly after the epoch.
    pub val_accuracy: f32,
}

/// A digit classifier: 64 pixels in, `H` hidden units, 10 classes out.
pub type DigitMlp<const H: usize, D> = TwoLayerMlp<DIGIT_PIXELS, H, DIGIT_CLASSES, f32, D>;

/// The fraction of `set`'s images whose label has the highest logit
/// ([`courselib::data::predicts_label`]: a tie counts as wrong).
pub fn accuracy<const H: usize, D: Device<f32>>(mlp: &DigitMlp<H, D>, set: &ImageSet) -> f32 {
    let dev = mlp.w1.device();
    let indices: Vec<usize> = (0..set.len()).collect();
    let mut correct = 0;
    for chunk in indices.chunks(BATCH) {
        let (x, labels) = courselib::data::flat_batch::<BATCH, DIGIT_PIXELS, D>(dev, set, chunk);
        let logits = mlp.forward(&x).logits.as_vec();
        for (row, &label) in logits.chunks(DIGIT_CLASSES).zip(&labels) {
            correct += usize::from(courselib::data::predicts_label(row, label));
        }
    }
    correct as f32 / set.len() as f32
}

// ANCHOR: train_mlp
/// Trains a fresh [`DigitMlp`] (initialised with `config.seed`) on `train` by mini-batch
/// gradient descent with the hand-written gradients: each epoch shuffles the samples
/// (`courselib::data::shuffled_batches` with seed `config.seed + epoch`), and for each batch
/// of [`BATCH`] images (`courselib::data::flat_batch`) computes
/// [`TwoLayerMlp::loss_and_gradients`] and takes a [`TwoLayerMlp::sgd_step`].
///
/// Returns the trained network and, per epoch, the mean training loss and the accuracy on
/// the validation set `val` (to choose the number of epochs and the learning rate on; the
/// test set is not touched).
pub fn train_mlp<const H: usize, D: Device<f32>>(
    dev: &D,
    train: &ImageSet,
    val: &ImageSet,
    config: &TrainConfig,
) -> (DigitMlp<H, D>, Vec<EpochStats>) {
    todo!("ch02 train_mlp: loop over epochs and shuffled batches, take an SGD step per batch, record the stats; see book section 2.7")
}
// ANCHOR_END: train_mlp
