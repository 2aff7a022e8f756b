//! Chapter 4: activation functions.
//!
//! Sigmoid, tanh, ReLU and leaky ReLU, each with its derivative, built from dfdx's
//! element-wise operations so that the tape records them; a maxout layer; and two
//! experiments: the gradient norm per layer of a deep network (vanishing gradients) and
//! the fraction of dead ReLU units after a far too large learning-rate step (dying ReLU).
//!
//! The activations take the tensor by value with any tape `T`, so they work inside a
//! network whose input is traced; their derivatives take a tape-free tensor and return
//! `f'(x)` element by element. Both are generic over the element type `E` (f32 for
//! training, f64 for gradient checks), the device `D` and the shape `S`.

use datasets::ImageSet;
use dfdx::nn::modules::Linear;
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::optim::{Sgd, SgdConfig};
use dfdx::prelude::*;
use rand::distributions::Uniform;
use rand::Rng;

// ANCHOR: sigmoid
/// The logistic sigmoid, element-wise: `σ(x) = 1 / (1 + e^(−x))`. Any shape `S`; keeps
/// the tape of `x`.
///
/// For large negative `x`, `e^(−x)` overflows to infinity and `σ(x)` correctly becomes
/// `1 / ∞ = 0`; never compute `e^x / (1 + e^x)`, which is `∞ / ∞ = NaN` for large `x`.
pub fn sigmoid<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(x: Tensor<S, E, D, T>) -> Tensor<S, E, D, T> {
    todo!("ch04 sigmoid: negate, exponentiate, add one, take the reciprocal; see book section 4.2")
}

/// The derivative of [`sigmoid`], element-wise: `σ'(x) = σ(x)·(1 − σ(x))`, at most 1/4
/// (at `x = 0`).
pub fn sigmoid_derivative<S: Shape, E: Dtype, D: Device<E>>(x: &Tensor<S, E, D>) -> Tensor<S, E, D> {
    todo!("ch04 sigmoid: σ(x) times one minus σ(x); see book section 4.2")
}
// ANCHOR_END: sigmoid

// ANCHOR: tanh
/// The hyperbolic tangent, element-wise, as a rescaled sigmoid:
/// `tanh(x) = 2·σ(2x) − 1`, between −1 and 1 and zero-centred. Any shape `S`; keeps the
/// tape of `x`.
pub fn tanh<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(x: Tensor<S, E, D, T>) -> Tensor<S, E, D, T> {
    todo!("ch04 tanh: two times the sigmoid of 2x, minus one; see book section 4.3")
}

/// The derivative of [`tanh`], element-wise: `tanh'(x) = 1 − tanh(x)²`, at most 1 (at
/// `x = 0`).
pub fn tanh_derivative<S: Shape, E: Dtype, D: Device<E>>(x: &Tensor<S, E, D>) -> Tensor<S, E, D> {
    todo!("ch04 tanh: one minus the square of tanh(x); see book section 4.3")
}
// ANCHOR_END: tanh

// ANCHOR: relu
/// The rectified linear unit, element-wise: `relu(x) = max(0, x)`. Any shape `S`; keeps
/// the tape of `x`.
///
/// Written as `x ⊙ relu'(x)`: the slope is 1 or 0 everywhere, so multiplying `x` by its
/// (tape-free) slope gives the function, and the tape then passes the gradient times the
/// slope back: exactly the derivative.
pub fn relu<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(x: Tensor<S, E, D, T>) -> Tensor<S, E, D, T> {
    todo!("ch04 relu: multiply x by its slope, computed from a tape-free copy of x; see book section 4.4")
}

/// The derivative of [`relu`], element-wise: 1 where `x > 0`, else 0 (at `x = 0` we take
/// 0, as in chapter 2).
pub fn relu_derivative<S: Shape, E: Dtype, D: Device<E>>(x: &Tensor<S, E, D>) -> Tensor<S, E, D> {
    todo!("ch04 relu: one where x is positive, zero elsewhere; see book section 4.4")
}
// ANCHOR_END: relu

// ANCHOR: leaky_relu
/// The leaky ReLU, element-wise: `x` where `x > 0`, else `alpha·x`; for `0 <= alpha < 1`
/// this is `max(alpha·x, x)`. Any shape `S`; keeps the tape of `x`.
pub fn leaky_relu<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    alpha: E,
) -> Tensor<S, E, D, T> {
    todo!("ch04 leaky_relu: multiply x by its slope, 1 or alpha; see book section 4.5")
}

/// The derivative of [`leaky_relu`], element-wise: 1 where `x > 0`, else `alpha` (also at
/// `x = 0`).
pub fn leaky_relu_derivative<S: Shape, E: Dtype, D: Device<E>>(
    x: &Tensor<S, E, D>,
    alpha: E,
) -> Tensor<S, E, D> {
    todo!("ch04 leaky_relu: one where x is positive, alpha elsewhere; see book section 4.5")
}
// ANCHOR_END: leaky_relu

/// One of the chapter's activation functions, to choose it at run time in the experiments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Sigmoid,
    Tanh,
    Relu,
    /// With its slope `alpha` for negative inputs.
    LeakyRelu(f64),
}

impl Activation {
    /// Applies the activation element-wise (your [`sigmoid`], [`tanh`], [`relu`] or
    /// [`leaky_relu`]), keeping the tape.
    pub fn apply<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
        self,
        x: Tensor<S, E, D, T>,
    ) -> Tensor<S, E, D, T> {
        match self {
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => tanh(x),
            Activation::Relu => relu(x),
            Activation::LeakyRelu(alpha) => leaky_relu(x, E::from_f64(alpha).expect("alpha fits E")),
        }
    }

    /// The derivative of the activation, element-wise.
    pub fn derivative<S: Shape, E: Dtype, D: Device<E>>(self, x: &Tensor<S, E, D>) -> Tensor<S, E, D> {
        match self {
            Activation::Sigmoid => sigmoid_derivative(x),
            Activation::Tanh => tanh_derivative(x),
            Activation::Relu => relu_derivative(x),
            Activation::LeakyRelu(alpha) => {
                leaky_relu_derivative(x, E::from_f64(alpha).expect("alpha fits E"))
            }
        }
    }

    /// A short name for legends and messages, e.g. `leaky ReLU (0.1)`.
    pub fn name(self) -> String {
        match self {
            Activation::Sigmoid => "sigmoid".into(),
            Activation::Tanh => "tanh".into(),
            Activation::Relu => "ReLU".into(),
            Activation::LeakyRelu(alpha) => format!("leaky ReLU ({alpha})"),
        }
    }
}

/// A maxout layer with `I` inputs, `O` outputs and `K` linear pieces per output:
/// `y_o = max_k (x·W_k + b_k)_o`.
#[derive(Clone, Debug)]
pub struct Maxout<const I: usize, const O: usize, const K: usize, E: Dtype, D: Storage<E>> {
    /// `(K, I, O)`: piece `k`'s weights, input-major as in chapter 2.
    pub weight: Tensor<Rank3<K, I, O>, E, D>,
    /// `(K, O)`: piece `k`'s bias.
    pub bias: Tensor<Rank2<K, O>, E, D>,
}

impl<const I: usize, const O: usize, const K: usize, E: Dtype, D: Device<E>> Maxout<I, O, K, E, D> {
    /// Weights uniform in `±1/sqrt(I)`, as dfdx's `Linear`, biases zero. Seeded: the same
    /// `seed` gives the same layer on every machine and device.
    pub fn new(dev: &D, seed: u64) -> Self {
        let limit = 1.0 / (I as f64).sqrt();
        let mut rng = courselib::device::rng(seed);
        let values = (0..K * I * O)
            .map(|_| E::from_f64(rng.gen_range(-limit..limit)).expect("a small float fits E"))
            .collect();
        Self { weight: dev.tensor_from_vec(values, (Const::<K>, Const::<I>, Const::<O>)), bias: dev.zeros() }
    }

    // ANCHOR: maxout
    /// The forward pass for a batch `x`: `(B, I)` → `(B, O)`, keeping the tape of `x` and
    /// recording the layer's parameters on it.
    ///
    /// All `K` pieces in one matrix product: lay the `(K, I, O)` weights side by side as
    /// `(I, K·O)` (permute to `(I, K, O)`, reshape), multiply `x` by them to get `(B, K·O)`,
    /// reshape to `(B, K, O)`, add the bias broadcast over the batch and take the maximum
    /// over the pieces (axis 1).
    pub fn forward<const B: usize, T: Tape<E, D>>(
        &self,
        x: Tensor<Rank2<B, I>, E, D, T>,
    ) -> Tensor<Rank2<B, O>, E, D, T> {
        todo!("ch04 maxout: the K weight matrices side by side, one matmul, the bias, then the maximum over K; see book section 4.6")
    }
    // ANCHOR_END: maxout
}

/// Lets dfdx walk the layer's parameters: its optimisers (and `courselib::optim::Optimiser`)
/// can train it, `alloc_grads` and `reset_params` work on it.
impl<const I: usize, const O: usize, const K: usize, E, D> TensorCollection<E, D> for Maxout<I, O, K, E, D>
where
    E: Dtype + rand::distributions::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = Maxout<I, O, K, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(|t| {
                        let limit = 1.0 / (I as f64).sqrt();
                        let bound = |v: f64| E::from_f64(v).expect("a small float fits E");
                        t.try_fill_with_distr(Uniform::new(bound(-limit), bound(limit)))
                    }),
                ),
                Self::tensor("bias", |s| &s.bias, |s| &mut s.bias, TensorOptions::reset_to_zeros()),
            ),
            |(weight, bias)| Maxout { weight, bias },
        )
    }
}

/// Layers of the deep network of the vanishing-gradient experiment (section 4.7).
pub const DEPTH: usize = 10;

/// A deep perceptron for the vanishing-gradient experiment: linear layers of `W` inputs and
/// `W` outputs each, an activation after every layer but the last, whose `W` outputs are
/// class scores.
#[derive(Clone, Debug)]
pub struct DeepMlp<const W: usize, E: Dtype, D: Storage<E>> {
    /// The layers, input first; dfdx's `Linear` stores its weight output-major, `(W, W)`.
    pub layers: Vec<Linear<W, W, E, D>>,
}

impl<const W: usize, E: Dtype, D: Device<E>> DeepMlp<W, E, D> {
    /// `depth` layers with He initialisation (weights uniform in `±sqrt(6 / W)`, variance
    /// `2 / W`), biases zero. The same initialisation for every activation, so that an
    /// experiment changes only the activation. Seeded.
    pub fn new(dev: &D, depth: usize, seed: u64) -> Self {
        Self::with_init(dev, depth, Init::He, seed)
    }

    /// `depth` layers whose weights are uniform in `±√3·σ`, which has the standard
    /// deviation `σ = init_std(init, W, W)`; biases zero. Seeded: the weights are drawn
    /// layer after layer, row after row, from `courselib::device::rng(seed)`.
    pub fn with_init(dev: &D, depth: usize, init: Init, seed: u64) -> Self {
        let mut rng = courselib::device::rng(seed);
        let limit = 3f64.sqrt() * init_std(init, W, W);
        let layers = (0..depth)
            .map(|_| {
                let values = (0..W * W)
                    .map(|_| {
                        let w = if limit > 0.0 { rng.gen_range(-limit..limit) } else { 0.0 };
                        E::from_f64(w).expect("a small float fits E")
                    })
                    .collect();
                Linear { weight: dev.tensor_from_vec(values, (Const::<W>, Const::<W>)), bias: dev.zeros() }
            })
            .collect();
        Self { layers }
    }
}

/// The synthetic batch of the vanishing-gradient experiment: `B` inputs of `W` values
/// uniform in `[-1, 1)` and `B` labels uniform below `W`, from `seed`.
pub fn synthetic_batch<const B: usize, const W: usize, D: Device<f32>>(
    dev: &D,
    seed: u64,
) -> (Tensor<Rank2<B, W>, f32, D>, [usize; B]) {
    let mut rng = courselib::device::rng(seed);
    let values = (0..B * W).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let labels = std::array::from_fn(|_| rng.gen_range(0..W));
    (dev.tensor_from_vec(values, (Const::<B>, Const::<W>)), labels)
}

// ANCHOR: layer_gradient_norms
/// The vanishing-gradient measurement: the L2 norm `‖∂L/∂W_l‖` of every layer's weight
/// gradient, first layer first, for one batch.
///
/// Forward `x`: `(B, W)` through `net` on a traced input, with `activation` after every
/// layer but the last; the loss `L` is the mean negative log-likelihood of `labels` (each
/// below `W`) under the softmax of the last layer's outputs, as in chapter 2. Returns
/// `net.layers.len()` norms.
pub fn layer_gradient_norms<const B: usize, const W: usize, D: Device<f32>>(
    net: &DeepMlp<W, f32, D>,
    activation: Activation,
    x: &Tensor<Rank2<B, W>, f32, D>,
    labels: &[usize; B],
) -> Vec<f32> {
    todo!("ch04 layer_gradient_norms: forward on a traced input, NLL loss, backward, the norm of each weight's gradient; see book section 4.7")
}
// ANCHOR_END: layer_gradient_norms

// ANCHOR: dead_unit_fraction
/// The fraction of `layer`'s `H` units that are dead on the inputs `x`: `(N, I)`, that is,
/// whose pre-activation `x·Wᵀ + b` is `<= 0` for every one of the `N` inputs. A dead ReLU
/// unit outputs 0 and passes no gradient for all of them.
pub fn dead_unit_fraction<const N: usize, const I: usize, const H: usize, D: Device<f32>>(
    layer: &Linear<I, H, f32, D>,
    x: &Tensor<Rank2<N, I>, f32, D>,
) -> f32 {
    todo!("ch04 dead_unit_fraction: the pre-activations, each unit's maximum over the inputs, the share of maxima <= 0; see book section 4.7")
}
// ANCHOR_END: dead_unit_fraction

/// How the weights of a layer are scaled at initialisation (section 4.8).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Glorot and Bengio (2010): variance `2 / (fan_in + fan_out)`, for tanh and sigmoid.
    Xavier,
    /// He et al. (2015): variance `2 / fan_in`, for ReLU.
    He,
    /// A fixed standard deviation, whatever the layer's size.
    Std(f64),
}

// ANCHOR: init_std
/// The standard deviation of a layer's weights under `init`, for a layer with `fan_in`
/// inputs and `fan_out` outputs: `√(2 / (fan_in + fan_out))` for Xavier, `√(2 / fan_in)`
/// for He, the given value for `Std`.
pub fn init_std(init: Init, fan_in: usize, fan_out: usize) -> f64 {
    todo!("ch04 init_std: the variance of each scheme, then its square root; see book section 4.8")
}
// ANCHOR_END: init_std

/// The mean and the standard deviation of a layer's activations over a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerStatistics {
    pub mean: f64,
    /// The population standard deviation, `√(mean of (h − mean)²)`.
    pub std: f64,
}

// ANCHOR: activation_statistics
/// The activation-statistics experiment: forward `x`: `(B, W)` through `net` without a
/// tape, `h_l = activation(h_{l−1}·W_lᵀ + b_l)` for every layer but the last (whose outputs
/// are scores, not activations), and return the mean and the standard deviation of all
/// `B·W` values of each `h_l`, first hidden layer first: `net.layers.len() − 1` entries,
/// computed in f64.
pub fn activation_statistics<const B: usize, const W: usize, D: Device<f32>>(
    net: &DeepMlp<W, f32, D>,
    activation: Activation,
    x: &Tensor<Rank2<B, W>, f32, D>,
) -> Vec<LayerStatistics> {
    todo!("ch04 activation_statistics: forward layer by layer, and after each activation the mean and the standard deviation of all its values; see book section 4.8")
}
// ANCHOR_END: activation_statistics

/// Pixels per digit image (8 x 8) and digit classes.
pub const DIGIT_PIXELS: usize = datasets::digits::HEIGHT * datasets::digits::WIDTH;
pub const DIGIT_CLASSES: usize = datasets::digits::CLASSES;
/// Samples per mini-batch in the dying-ReLU experiment.
pub const BATCH: usize = 32;

/// A digit classifier with one hidden layer of `H` units; the activation sits between the
/// two layers.
pub type DigitNet<const H: usize, D> = (Linear<DIGIT_PIXELS, H, f32, D>, Linear<H, DIGIT_CLASSES, f32, D>);

/// The settings of [`dying_relu_experiment`].
#[derive(Clone, Debug)]
pub struct DyingConfig {
    /// The learning rate of the first, far too large, step.
    pub big_learning_rate: f32,
    /// The learning rate of the ordinary steps after it.
    pub learning_rate: f32,
    /// Ordinary steps after the big one.
    pub steps: usize,
    /// Seeds the initial weights and the order of the samples.
    pub seed: u64,
}

impl Default for DyingConfig {
    fn default() -> Self {
        Self { big_learning_rate: 20.0, learning_rate: 1.0, steps: 1000, seed: 1 }
    }
}

/// A fresh [`DigitNet`] with He initialisation (uniform in `±sqrt(6 / fan_in)`), biases zero.
pub fn digit_net<const H: usize, D: Device<f32>>(dev: &D, seed: u64) -> DigitNet<H, D> {
    let mut rng = courselib::device::rng(seed);
    let mut uniform = |count: usize, fan_in: usize| -> Vec<f32> {
        let limit = (6.0 / fan_in as f64).sqrt() as f32;
        (0..count).map(|_| rng.gen_range(-limit..limit)).collect()
    };
    (
        Linear {
            weight: dev.tensor_from_vec(
                uniform(H * DIGIT_PIXELS, DIGIT_PIXELS),
                (Const::<H>, Const::<DIGIT_PIXELS>),
            ),
            bias: dev.zeros(),
        },
        Linear {
            weight: dev.tensor_from_vec(uniform(DIGIT_CLASSES * H, H), (Const::<DIGIT_CLASSES>, Const::<H>)),
            bias: dev.zeros(),
        },
    )
}

/// The dying-ReLU experiment: a [`DigitNet`] with `activation` takes one SGD step with the
/// far too large `config.big_learning_rate`, then `config.steps` ordinary SGD steps, each on
/// a mini-batch of [`BATCH`] training images.
///
/// Returns the [`dead_unit_fraction`] of the hidden layer on the whole of `train`: before
/// the big step, after it, and after every ordinary step (`config.steps + 2` values).
pub fn dying_relu_experiment<const H: usize, D: Device<f32>>(
    dev: &D,
    train: &ImageSet,
    activation: Activation,
    config: &DyingConfig,
) -> Vec<f32> {
    const TRAIN: usize = datasets::digits::TRAIN_SIZE;
    let all: Vec<usize> = (0..train.len()).collect();
    let (everything, _) = courselib::data::flat_batch::<TRAIN, DIGIT_PIXELS, D>(dev, train, &all);
    let mut net = digit_net::<H, D>(dev, config.seed);
    let mut sgd = Sgd::new(
        &net,
        SgdConfig { lr: f64::from(config.big_learning_rate), momentum: None, weight_decay: None },
    );
    let mut fractions = vec![dead_unit_fraction(&net.0, &everything)];
    let mut batches = Vec::new();
    for step in 0..=config.steps {
        if batches.is_empty() {
            batches = courselib::data::shuffled_batches(train.len(), BATCH, config.seed + step as u64);
        }
        let batch = batches.pop().expect("an epoch has batches");
        let (x, labels) = courselib::data::flat_batch::<BATCH, DIGIT_PIXELS, D>(dev, train, &batch);
        let hidden = activation.apply(net.0.forward(x.leaky_traced()));
        let logits = net.1.forward(hidden);
        let loss = logits.log_softmax::<Axis<1>>().select(dev.tensor(labels)).mean().negate();
        sgd.update(&mut net, &loss.backward()).expect("every parameter has a gradient");
        sgd.cfg.lr = f64::from(config.learning_rate);
        fractions.push(dead_unit_fraction(&net.0, &everything));
    }
    fractions
}
