//! Chapter 7: CNN architectures and transfer.
//!
//! What makes deep CNNs affordable and trainable: counting the multiplications of a
//! convolution and of an inception module, with and without 1x1 bottlenecks; the inception
//! module itself (four parallel paths concatenated along the channels, its pooling path
//! padded to keep the size); the residual block `y = relu(x + F(x))` and its pre-activation
//! form, and an 11-layer network that trains with them and stalls without; the auxiliary
//! loss of a classifier on an intermediate feature map, measured in a small inception
//! network under two initialisations. Then transfer (DeCAF): a small CNN
//! trained on five Fashion-MNIST classes becomes a feature extractor, a linear probe on its
//! frozen conv features learns five other classes from 20 labelled images each, and the
//! units of its second conv layer are shown by the test images that activate them most.
//! Last, the receptive field of a layer stack, checked against the tape's input gradient.
//!
//! Tensors are NCHW; the layers are `courselib::conv`'s (chapter 6 built them by hand).

use courselib::conv::builders::{Conv2d as Conv, Flatten, MaxPool2d};
use courselib::conv::cpu::CpuFloat;
use courselib::conv::{max_pool2d, Conv2d, ConvDevice};
use courselib::device::Dev;
use datasets::ImageSet;
use dfdx::nn::{Module, ModuleVisitor, TensorCollection, ZeroSizedModule};
use dfdx::optim::{Adam, AdamConfig, Momentum, Optimizer, Sgd, SgdConfig};
use dfdx::prelude::*;
use rand::distributions::uniform::SampleUniform;

use crate::ch06_convolutions::conv_parameter_count;

// ANCHOR: conv_multiplications
/// The multiplications of one convolutional layer whose output is `out_height x out_width`
/// positions of `filters` channels: every output value is a dot product of the
/// `kernel x kernel x in_channels` weights of its filter with as many inputs, so
/// `filters · out_height · out_width · in_channels · kernel · kernel`.
///
/// Padding zeros count as inputs (the lecture's count and what a dense kernel computes);
/// the biases are additions, not multiplications.
pub fn conv_multiplications(
    out_height: usize,
    out_width: usize,
    in_channels: usize,
    filters: usize,
    kernel: usize,
) -> u64 {
    todo!("ch07 conv_multiplications: output values times the weights of one filter; see book section 7.2")
}
// ANCHOR_END: conv_multiplications

/// The filters of an inception module's four paths, all "same"-sized (stride 1, padding
/// `(K − 1)/2`, so every path keeps the input's height and width):
///
/// 1. `filters_1x1` 1x1 convolutions;
/// 2. `filters_3x3` 3x3 convolutions, after `reduce_3x3` 1x1 convolutions if `Some`;
/// 3. `filters_5x5` 5x5 convolutions, after `reduce_5x5` 1x1 convolutions if `Some`;
/// 4. a 3x3 max pool (stride 1, padding 1), followed by `pool_projection` 1x1
///    convolutions if `Some`; without them the pool passes on all input channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InceptionSpec {
    pub filters_1x1: usize,
    pub reduce_3x3: Option<usize>,
    pub filters_3x3: usize,
    pub reduce_5x5: Option<usize>,
    pub filters_5x5: usize,
    pub pool_projection: Option<usize>,
}

impl InceptionSpec {
    /// The lecture's naive module on a 28x28x256 input: 128, 192 and 96 filters, no 1x1
    /// reductions.
    pub const NAIVE: InceptionSpec = InceptionSpec {
        filters_1x1: 128,
        reduce_3x3: None,
        filters_3x3: 192,
        reduce_5x5: None,
        filters_5x5: 96,
        pool_projection: None,
    };

    /// The same filters with bottlenecks as in CS231n's version of GoogLeNet's module:
    /// 64 1x1 filters before the 3x3 and the 5x5 convolutions and after the pool.
    pub const BOTTLENECK: InceptionSpec = InceptionSpec {
        reduce_3x3: Some(64),
        reduce_5x5: Some(64),
        pool_projection: Some(64),
        ..InceptionSpec::NAIVE
    };
}

/// What a layer costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerCost {
    /// Multiplications for one input image.
    pub multiplications: u64,
    /// Learned values: weights and biases.
    pub parameters: usize,
    /// Channels of the output (the depth of the concatenation).
    pub output_channels: usize,
}

// ANCHOR: inception_cost
/// The cost of the inception module `spec` on one `height x width x in_channels` input:
/// the multiplications of all its convolutions ([`conv_multiplications`]; every output is
/// `height x width`; pooling multiplies nothing), their parameters with one bias per
/// filter (chapter 6's [`conv_parameter_count`]) and the number of output channels.
pub fn inception_cost(spec: &InceptionSpec, height: usize, width: usize, in_channels: usize) -> LayerCost {
    todo!("ch07 inception_cost: list every convolution (in channels, filters, kernel) of the four paths, add up their costs; see book section 7.3")
}
// ANCHOR_END: inception_cost

/// The value the pooling path pads with: smaller than any activation, so a window's
/// maximum is always one of its real inputs (every window holds its centre).
pub const POOL_PAD: f64 = -1e30;

// ANCHOR: max_pool_same
/// A 3x3 max pool with stride 1 and padding 1 ("same": `N x N` in, `N x N` out), built from
/// `courselib::conv::max_pool2d`, which has no padding: surround every map with one row
/// and column of [`POOL_PAD`] on each side, giving `N_PAD = N + 2`, then pool.
///
/// - `x`: `(B, C, N, N)` with any tape; returns `(B, C, N, N)` on that tape.
/// - `N_PAD` must be `N + 2` (checked when the program is built, by `max_pool2d`).
pub fn max_pool_same<
    const B: usize,
    const C: usize,
    const N: usize,
    const N_PAD: usize,
    E: Dtype,
    D: ConvDevice<E>,
    T: Tape<E, D>,
>(
    x: Tensor<Rank4<B, C, N, N>, E, D, T>,
) -> Tensor<Rank4<B, C, N, N>, E, D, T> {
    let dev = x.device().clone();
    let fill = E::from_f64(POOL_PAD).expect("the pad value fits E");
    todo!("ch07 max_pool_same: concatenate a column of POOL_PAD on the left and right, a row on top and bottom, realize (B, C, N_PAD, N_PAD), max_pool2d 3x3 stride 1; see book section 7.3")
}
// ANCHOR_END: max_pool_same

/// An inception module (section 7.3) on `(B, C_IN, N, N)` feature maps: four parallel
/// paths, each ending in `N x N` maps, concatenated along the channels to
/// `C_OUT = C1 + C3 + C5 + CP`:
///
/// 1. `branch_1x1`: `C1` 1x1 filters;
/// 2. `reduce_3x3` (`R3` 1x1 filters), then `conv_3x3` (`C3` 3x3 filters, padding 1);
/// 3. `reduce_5x5` (`R5` 1x1 filters), then `conv_5x5` (`C5` 5x5 filters, padding 2);
/// 4. a 3x3 max pool with stride 1 and padding 1 ([`max_pool_same`], on maps padded to
///    `N_PAD = N + 2`), then `pool_projection` (`CP` 1x1 filters).
///
/// Every convolution is followed by a ReLU, as in GoogLeNet.
#[derive(Clone, Debug)]
pub struct InceptionModule<
    const C_IN: usize,
    const N: usize,
    const N_PAD: usize,
    const C1: usize,
    const R3: usize,
    const C3: usize,
    const R5: usize,
    const C5: usize,
    const CP: usize,
    const C_OUT: usize,
    E: Dtype,
    D: Storage<E>,
> {
    pub branch_1x1: Conv2d<C_IN, C1, 1, 1, 0, N, N, E, D>,
    pub reduce_3x3: Conv2d<C_IN, R3, 1, 1, 0, N, N, E, D>,
    pub conv_3x3: Conv2d<R3, C3, 3, 1, 1, N, N, E, D>,
    pub reduce_5x5: Conv2d<C_IN, R5, 1, 1, 0, N, N, E, D>,
    pub conv_5x5: Conv2d<R5, C5, 5, 1, 2, N, N, E, D>,
    pub pool_projection: Conv2d<C_IN, CP, 1, 1, 0, N, N, E, D>,
}

impl<
        const C_IN: usize,
        const N: usize,
        const N_PAD: usize,
        const C1: usize,
        const R3: usize,
        const C3: usize,
        const R5: usize,
        const C5: usize,
        const CP: usize,
        const C_OUT: usize,
        E: Dtype,
        D: ConvDevice<E>,
    > InceptionModule<C_IN, N, N_PAD, C1, R3, C3, R5, C5, CP, C_OUT, E, D>
{
    // ANCHOR: inception_forward
    /// The forward pass: `x (B, C_IN, N, N)` → `(B, C_OUT, N, N)`, the four paths'
    /// outputs in the order 1x1, 3x3, 5x5, pool along the channel axis. Keeps the tape of
    /// `x`, which reaches every path's parameters.
    pub fn forward<const B: usize, T: Tape<E, D>>(
        &self,
        x: Tensor<Rank4<B, C_IN, N, N>, E, D, T>,
    ) -> Tensor<Rank4<B, C_OUT, N, N>, E, D, T> {
        const { assert!(C_OUT == C1 + C3 + C5 + CP, "InceptionModule: C_OUT must be C1 + C3 + C5 + CP") };
        todo!("ch07 inception_forward: run the four paths on copies of x (retaped), concatenate along Axis<1>, realize (B, C_OUT, N, N); see book section 7.3")
    }
    // ANCHOR_END: inception_forward
}

/// Lets dfdx walk the module's parameters: `InceptionModule::build(&dev)` (dfdx's
/// `BuildModule`) initialises every convolution as in PyTorch; optimisers and
/// `alloc_grads` work on it.
impl<
        const C_IN: usize,
        const N: usize,
        const N_PAD: usize,
        const C1: usize,
        const R3: usize,
        const C3: usize,
        const R5: usize,
        const C5: usize,
        const CP: usize,
        const C_OUT: usize,
        E: CpuFloat + SampleUniform,
        D: Device<E>,
    > TensorCollection<E, D> for InceptionModule<C_IN, N, N_PAD, C1, R3, C3, R5, C5, CP, C_OUT, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> =
        InceptionModule<C_IN, N, N_PAD, C1, R3, C3, R5, C5, CP, C_OUT, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("branch_1x1", |s| &s.branch_1x1, |s| &mut s.branch_1x1),
                Self::module("reduce_3x3", |s| &s.reduce_3x3, |s| &mut s.reduce_3x3),
                Self::module("conv_3x3", |s| &s.conv_3x3, |s| &mut s.conv_3x3),
                Self::module("reduce_5x5", |s| &s.reduce_5x5, |s| &mut s.reduce_5x5),
                Self::module("conv_5x5", |s| &s.conv_5x5, |s| &mut s.conv_5x5),
                Self::module("pool_projection", |s| &s.pool_projection, |s| &mut s.pool_projection),
            ),
            |(branch_1x1, reduce_3x3, conv_3x3, reduce_5x5, conv_5x5, pool_projection)| InceptionModule {
                branch_1x1,
                reduce_3x3,
                conv_3x3,
                reduce_5x5,
                conv_5x5,
                pool_projection,
            },
        )
    }
}

/// The identity shortcut of a residual block: returns its input (no parameters).
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl ZeroSizedModule for Identity {}

impl<X: HasErr> Module<X> for Identity {
    type Output = X;
    type Error = X::Err;

    fn try_forward(&self, x: X) -> Result<X, X::Err> {
        Ok(x)
    }
}

/// A residual block (section 7.5) on `N x N` maps: `y = relu(shortcut(x) + F(x))` with
/// `F(x) = conv2(relu(conv1(x)))`, two 3x3 convolutions with padding 1.
///
/// The shortcut `S` is [`Identity`] when `C_IN = C_OUT` ([`IdentityBlock`]) or a 1x1
/// convolution that projects `x` to `C_OUT` channels ([`ProjectionBlock`]).
#[derive(Clone, Debug)]
pub struct ResidualBlock<const C_IN: usize, const C_OUT: usize, const N: usize, S, E: Dtype, D: Storage<E>> {
    pub conv1: Conv2d<C_IN, C_OUT, 3, 1, 1, N, N, E, D>,
    pub conv2: Conv2d<C_OUT, C_OUT, 3, 1, 1, N, N, E, D>,
    pub shortcut: S,
}

/// A residual block whose shortcut is the identity: `y = relu(x + F(x))`.
pub type IdentityBlock<const C: usize, const N: usize, E, D> = ResidualBlock<C, C, N, Identity, E, D>;
/// A residual block whose shortcut is a 1x1 convolution `W_s`: `y = relu(W_s x + F(x))`.
pub type ProjectionBlock<const C_IN: usize, const C_OUT: usize, const N: usize, E, D> =
    ResidualBlock<C_IN, C_OUT, N, Conv2d<C_IN, C_OUT, 1, 1, 0, N, N, E, D>, E, D>;

impl<const C_IN: usize, const C_OUT: usize, const N: usize, S, E: Dtype, D: ConvDevice<E>>
    ResidualBlock<C_IN, C_OUT, N, S, E, D>
{
    // ANCHOR: residual_forward
    /// The forward pass: `x (B, C_IN, N, N)` → `relu(shortcut(x) + F(x))`, `(B, C_OUT, N, N)`,
    /// keeping the tape of `x`.
    pub fn forward<const B: usize, T: Tape<E, D>>(
        &self,
        x: Tensor<Rank4<B, C_IN, N, N>, E, D, T>,
    ) -> Tensor<Rank4<B, C_OUT, N, N>, E, D, T>
    where
        S: Module<Tensor<Rank4<B, C_IN, N, N>, E, D, T>, Output = Tensor<Rank4<B, C_OUT, N, N>, E, D, T>>,
    {
        todo!("ch07 residual_forward: the shortcut of a retaped copy of x, plus conv2(relu(conv1(x))), then relu; see book section 7.5")
    }
    // ANCHOR_END: residual_forward

    // ANCHOR: preactivation_forward
    /// The pre-activation form of the block (He et al.'s second ResNet paper): the ReLUs
    /// move inside the branch and nothing follows the sum,
    /// `x (B, C_IN, N, N)` → `shortcut(x) + conv2(relu(conv1(relu(x))))`, `(B, C_OUT, N, N)`,
    /// keeping the tape of `x`. Through an identity shortcut the output's gradient reaches
    /// the input unchanged (section 7.5).
    pub fn forward_preactivation<const B: usize, T: Tape<E, D>>(
        &self,
        x: Tensor<Rank4<B, C_IN, N, N>, E, D, T>,
    ) -> Tensor<Rank4<B, C_OUT, N, N>, E, D, T>
    where
        S: Module<Tensor<Rank4<B, C_IN, N, N>, E, D, T>, Output = Tensor<Rank4<B, C_OUT, N, N>, E, D, T>>,
    {
        todo!("ch07 preactivation_forward: the shortcut of a retaped copy of x, plus conv2(relu(conv1(relu(x)))), and no relu after the sum; see book section 7.5")
    }
    // ANCHOR_END: preactivation_forward
}

/// Lets dfdx walk the block's parameters (the shortcut's too): `IdentityBlock::build(&dev)`.
impl<const C_IN: usize, const C_OUT: usize, const N: usize, S, E, D> TensorCollection<E, D>
    for ResidualBlock<C_IN, C_OUT, N, S, E, D>
where
    S: TensorCollection<E, D>,
    E: CpuFloat + SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = ResidualBlock<C_IN, C_OUT, N, S::To<E2, D2>, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("shortcut", |s| &s.shortcut, |s| &mut s.shortcut),
            ),
            |(conv1, conv2, shortcut)| ResidualBlock { conv1, conv2, shortcut },
        )
    }
}

/// Channels of every layer of section 7.5's deep networks.
pub const DEEP_CHANNELS: usize = 8;
/// Residual blocks (two 3x3 conv layers each) after the stem of section 7.5's deep networks.
pub const DEEP_BLOCKS: usize = 5;
/// The maps' size after the stem: 28x28 halved by a stride of 2.
pub const DEEP_MAP: usize = 14;
/// Images per mini-batch of [`deep_experiment`].
pub const DEEP_BATCH: usize = 32;

/// How the blocks of a [`DeepNet`] combine their two convolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortcuts {
    /// A plain network: `relu(conv2(relu(conv1(x))))`, no shortcut.
    Plain,
    /// The original residual block, [`ResidualBlock::forward`]: `relu(x + F(x))`.
    Original,
    /// The pre-activation block, [`ResidualBlock::forward_preactivation`]: `x + F(x)`,
    /// with a ReLU after the last block.
    PreActivation,
}

/// Section 7.5's deep CNN for Fashion-MNIST: a stem (3x3 convolution with stride 2 and
/// ReLU, `(B, 1, 28, 28)` → `(B, 8, 14, 14)`), [`DEEP_BLOCKS`] blocks of two 3x3
/// convolutions that keep the size, the mean of each map (global average pooling) and a
/// linear layer to 10 logits: 1 + 2 · [`DEEP_BLOCKS`] conv layers. The same parameters
/// make a plain or a residual network ([`Shortcuts`]), so both start from the same weights.
#[derive(Clone, Debug)]
pub struct DeepNet<E: Dtype, D: Storage<E>> {
    pub stem: Conv2d<1, DEEP_CHANNELS, 3, 2, 1, DEEP_MAP, DEEP_MAP, E, D>,
    pub blocks: dfdx::nn::modules::Repeated<IdentityBlock<DEEP_CHANNELS, DEEP_MAP, E, D>, DEEP_BLOCKS>,
    pub head: dfdx::nn::modules::Linear<DEEP_CHANNELS, 10, E, D>,
}

impl<E, D> TensorCollection<E, D> for DeepNet<E, D>
where
    E: CpuFloat + SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = DeepNet<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("stem", |s| &s.stem, |s| &mut s.stem),
                Self::module("blocks", |s| &s.blocks, |s| &mut s.blocks),
                Self::module("head", |s| &s.head, |s| &mut s.head),
            ),
            |(stem, blocks, head)| DeepNet { stem, blocks, head },
        )
    }
}

impl<E: Dtype, D: ConvDevice<E>> DeepNet<E, D> {
    // ANCHOR: deep_forward
    /// The logits `(B, 10)` of images `x (B, 1, 28, 28)` with the blocks joined as
    /// `shortcuts` says, keeping the tape of `x`.
    pub fn forward<const B: usize, T: Tape<E, D>>(
        &self,
        x: Tensor<Rank4<B, 1, 28, 28>, E, D, T>,
        shortcuts: Shortcuts,
    ) -> Tensor<Rank2<B, 10>, E, D, T> {
        let mut h = self.stem.forward(x).relu();
        for block in &self.blocks.modules {
            h = match shortcuts {
                Shortcuts::Plain => block.conv2.forward(block.conv1.forward(h).relu()).relu(),
                Shortcuts::Original => block.forward(h),
                Shortcuts::PreActivation => block.forward_preactivation(h),
            };
        }
        if shortcuts == Shortcuts::PreActivation {
            h = h.relu();
        }
        self.head.forward(h.mean::<Rank2<B, DEEP_CHANNELS>, Axes2<2, 3>>())
    }
    // ANCHOR_END: deep_forward

    /// The blocks' conv weights from the input to the output: each block's `conv1`, then
    /// its `conv2` (the stem's, of another shape, is `self.stem.weight`).
    pub fn conv_weights(&self) -> Vec<&Tensor<Rank4<DEEP_CHANNELS, DEEP_CHANNELS, 3, 3>, E, D>> {
        self.blocks.modules.iter().flat_map(|block| [&block.conv1.weight, &block.conv2.weight]).collect()
    }
}

/// How [`deep_experiment`] updates the weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DeepOptimiser {
    /// Stochastic gradient descent with classic momentum (chapter 3).
    SgdMomentum { learning_rate: f64, momentum: f64 },
    /// Adam with its default β₁, β₂ and ε (chapter 3).
    Adam { learning_rate: f64 },
}

impl DeepOptimiser {
    /// Section 7.5's setting, chosen on the validation images: SGD with momentum 0.9 and a
    /// learning rate of 0.03 (the optimiser He et al. trained ResNets with).
    pub const BOOK: DeepOptimiser = DeepOptimiser::SgdMomentum { learning_rate: 0.03, momentum: 0.9 };
}

/// The norm of the loss's gradient with respect to each conv layer's weights of `model`
/// on one batch (`x (B, 1, 28, 28)` and its labels, the mean cross-entropy), the blocks
/// joined as `shortcuts`: from the stem (index 0) to the last block's `conv2`,
/// `1 + 2 · DEEP_BLOCKS` values.
pub fn gradient_norms_per_layer<const B: usize, D: ConvDevice<f32>>(
    model: &DeepNet<f32, D>,
    x: Tensor<Rank4<B, 1, 28, 28>, f32, D>,
    labels: [usize; B],
    shortcuts: Shortcuts,
) -> Vec<f64> {
    let dev = x.device().clone();
    let logits = model.forward(x.traced(model.alloc_grads()), shortcuts);
    let grads = logits.log_softmax::<Axis<1>>().select(dev.tensor(labels)).mean().negate().backward();
    let mut norms = vec![gradient_square_sum(&grads, &model.stem.weight).sqrt()];
    norms.extend(model.conv_weights().into_iter().map(|weight| gradient_square_sum(&grads, weight).sqrt()));
    norms
}

/// What [`deep_experiment`] measured for one kind of network.
#[derive(Clone, Debug, PartialEq)]
pub struct DeepCurves {
    /// [`gradient_norms_per_layer`] at initialisation, on the first training batch.
    pub initial_gradient_norms: Vec<f64>,
    /// The mean training loss of each epoch's mini-batches.
    pub train_loss: Vec<f64>,
    /// The validation accuracy after each epoch.
    pub val_accuracy: Vec<f32>,
}

/// Trains a [`DeepNet`] (built on `device(seed)`) with the blocks joined as `shortcuts`
/// on `train` for `epochs` epochs with `optimiser`, batches of [`DEEP_BATCH`], epoch `e`
/// shuffled with `seed + e`. Measures the gradient norms per layer at initialisation, the
/// training loss of each epoch and the accuracy on `val` after each epoch.
pub fn deep_experiment(
    train: &ImageSet,
    val: &ImageSet,
    shortcuts: Shortcuts,
    optimiser: DeepOptimiser,
    epochs: usize,
    seed: u64,
) -> DeepCurves {
    let dev = courselib::device::device(seed);
    let mut model = DeepNet::<f32, Dev>::build(&dev);
    let (x, labels) = first_batch(&dev, train, seed);
    let initial_gradient_norms = gradient_norms_per_layer(&model, x, labels, shortcuts);
    let (train_loss, val_accuracy) = train_and_validate(
        &mut model,
        optimiser,
        (train, val),
        (epochs, seed),
        |model, x, labels| cross_entropy(model.forward(x, shortcuts), labels),
        |model, x| model.forward(x, shortcuts).as_vec(),
    );
    DeepCurves { initial_gradient_norms, train_loss, val_accuracy }
}

/// The images and labels of the first mini-batch that [`train_and_validate`] takes with
/// `seed`: the gradients at initialisation are measured on it.
fn first_batch(
    dev: &Dev,
    train: &ImageSet,
    seed: u64,
) -> (Tensor<Rank4<DEEP_BATCH, 1, 28, 28>, f32, Dev>, [usize; DEEP_BATCH]) {
    let first = courselib::data::shuffled_batches(train.len(), DEEP_BATCH, seed + 1);
    courselib::data::image_batch::<DEEP_BATCH, 1, 28, 28, Dev>(dev, train, &first[0])
}

/// A mini-batch of [`DEEP_BATCH`] images on a fresh tape.
type TracedBatch = Tensor<Rank4<DEEP_BATCH, 1, 28, 28>, f32, Dev, OwnedTape<f32, Dev>>;

/// The training loop of sections 7.4 and 7.5: `epochs` epochs on `train` in mini-batches
/// of [`DEEP_BATCH`] (epoch `e` shuffled with `seed + e`), each one step of `optimiser` on
/// `loss`. Returns the mean training loss of each epoch and, after each, the accuracy on
/// `val` of the 10 `logits` per image.
fn train_and_validate<M: TensorCollection<f32, Dev>>(
    model: &mut M,
    optimiser: DeepOptimiser,
    (train, val): (&ImageSet, &ImageSet),
    (epochs, seed): (usize, u64),
    loss: impl Fn(&M, TracedBatch, &[usize; DEEP_BATCH]) -> Tensor<Rank0, f32, Dev, OwnedTape<f32, Dev>>,
    logits: impl Fn(&M, Tensor<Rank4<{ crate::ch06_convolutions::EVAL_CHUNK }, 1, 28, 28>, f32, Dev>) -> Vec<f32>,
) -> (Vec<f64>, Vec<f32>) {
    let dev = courselib::device::device(seed);
    let mut optimiser: Box<dyn Optimizer<M, Dev, f32>> = match optimiser {
        DeepOptimiser::SgdMomentum { learning_rate, momentum } => Box::new(Sgd::new(
            model,
            SgdConfig { lr: learning_rate, momentum: Some(Momentum::Classic(momentum)), weight_decay: None },
        )),
        DeepOptimiser::Adam { learning_rate } => {
            Box::new(Adam::new(model, AdamConfig { lr: learning_rate, ..Default::default() }))
        }
    };
    let (mut train_loss, mut val_accuracy) = (Vec::new(), Vec::new());
    let mut grads = model.alloc_grads();
    let everything: Vec<usize> = (0..val.len()).collect();
    for epoch in 1..=epochs {
        let batches = courselib::data::shuffled_batches(train.len(), DEEP_BATCH, seed + epoch as u64);
        let mut loss_sum = 0.0;
        for batch in &batches {
            let (x, labels) = courselib::data::image_batch::<DEEP_BATCH, 1, 28, 28, Dev>(&dev, train, batch);
            let loss = loss(model, x.traced(grads), &labels);
            loss_sum += f64::from(loss.array());
            grads = loss.backward();
            optimiser.update(model, &grads).expect("every parameter has a gradient");
            model.zero_grads(&mut grads);
        }
        train_loss.push(loss_sum / batches.len() as f64);
        val_accuracy
            .push(crate::ch06_convolutions::accuracy_of(&dev, val, &everything, |x| logits(model, x)));
    }
    (train_loss, val_accuracy)
}

/// The mean cross-entropy of `(B, K)` logits against `labels`, on the logits' tape.
pub fn cross_entropy<const B: usize, const K: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    logits: Tensor<Rank2<B, K>, E, D, T>,
    labels: &[usize; B],
) -> Tensor<Rank0, E, D, T> {
    let dev = logits.device().clone();
    logits.log_softmax::<Axis<1>>().select(dev.tensor(*labels)).mean().negate()
}

// ANCHOR: loss_with_auxiliary
/// The training loss of a network with an auxiliary classifier (section 7.4):
/// `L = CE(main_logits) + weight · CE(auxiliary_logits)`, both mean cross-entropies
/// ([`cross_entropy`]) against the same `labels`.
///
/// - `main_logits`, `auxiliary_logits`: `(B, K)`, each on its own tape: the auxiliary
///   head reads a `retaped` copy of the intermediate feature map, so that adding the two
///   losses merges the tapes and no operation is recorded twice.
/// - returns the scalar loss on the merged tape.
pub fn loss_with_auxiliary<const B: usize, const K: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    main_logits: Tensor<Rank2<B, K>, E, D, T>,
    auxiliary_logits: Tensor<Rank2<B, K>, E, D, T>,
    labels: &[usize; B],
    weight: f64,
) -> Tensor<Rank0, E, D, T> {
    let weight = E::from_f64(weight).expect("the weight fits E");
    todo!("ch07 loss_with_auxiliary: the main cross-entropy plus the weighted auxiliary one; see book section 7.4")
}
// ANCHOR_END: loss_with_auxiliary

/// The inception modules of section 7.4's network: 16 channels in and out at 14x14, in
/// the proportions of GoogLeNet's first module (a quarter 1x1, 6/16 3x3, 2/16 5x5, a
/// quarter pool projection).
pub type SmallInception<E, D> = InceptionModule<16, DEEP_MAP, { DEEP_MAP + 2 }, 4, 4, 6, 2, 2, 4, 16, E, D>;
/// Inception modules of section 7.4's network, stacked without shortcuts.
pub const INCEPTION_MODULES: usize = 4;
/// The auxiliary head reads the output of this many modules.
pub const AUXILIARY_AFTER: usize = 2;

/// Section 7.4's inception network for Fashion-MNIST: a stem (3x3 convolution with stride
/// 2 to 16 channels and ReLU, `(B, 1, 28, 28)` → `(B, 16, 14, 14)`),
/// [`INCEPTION_MODULES`] [`SmallInception`] modules, the mean of each map and a linear
/// layer to 10 logits. An auxiliary head (the mean of each map and its own linear layer)
/// reads the output of module [`AUXILIARY_AFTER`], as GoogLeNet's read its 4th and 7th.
#[derive(Clone, Debug)]
pub struct InceptionNet<E: Dtype, D: Storage<E>> {
    pub stem: Conv2d<1, 16, 3, 2, 1, DEEP_MAP, DEEP_MAP, E, D>,
    pub modules: dfdx::nn::modules::Repeated<SmallInception<E, D>, INCEPTION_MODULES>,
    pub head: dfdx::nn::modules::Linear<16, 10, E, D>,
    pub auxiliary_head: dfdx::nn::modules::Linear<16, 10, E, D>,
}

impl<E, D> TensorCollection<E, D> for InceptionNet<E, D>
where
    E: CpuFloat + SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = InceptionNet<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("stem", |s| &s.stem, |s| &mut s.stem),
                Self::module("modules", |s| &s.modules, |s| &mut s.modules),
                Self::module("head", |s| &s.head, |s| &mut s.head),
                Self::module("auxiliary_head", |s| &s.auxiliary_head, |s| &mut s.auxiliary_head),
            ),
            |(stem, modules, head, auxiliary_head)| InceptionNet { stem, modules, head, auxiliary_head },
        )
    }
}

/// Ten logits per image of a batch of `B`.
pub type Logits<const B: usize, E, D, T> = Tensor<Rank2<B, 10>, E, D, T>;

impl<E: Dtype, D: ConvDevice<E>> InceptionNet<E, D> {
    /// The main and the auxiliary logits `(B, 10)` of images `x (B, 1, 28, 28)`, each on
    /// its part of the tape of `x` (the auxiliary head reads a `retaped` copy), ready for
    /// [`loss_with_auxiliary`].
    pub fn forward<const B: usize, T: Tape<E, D>>(
        &self,
        x: Tensor<Rank4<B, 1, 28, 28>, E, D, T>,
    ) -> (Logits<B, E, D, T>, Logits<B, E, D, T>) {
        let mut h = self.stem.forward(x).relu();
        let mut auxiliary = None;
        for (i, module) in self.modules.modules.iter().enumerate() {
            h = module.forward(h);
            if i + 1 == AUXILIARY_AFTER {
                auxiliary =
                    Some(self.auxiliary_head.forward(h.retaped::<T>().mean::<Rank2<B, 16>, Axes2<2, 3>>()));
            }
        }
        let main = self.head.forward(h.mean::<Rank2<B, 16>, Axes2<2, 3>>());
        (main, auxiliary.expect("AUXILIARY_AFTER names a module"))
    }

    /// The same network with every convolution's weights multiplied by √6: dfdx draws them
    /// uniform in `±1/√fan_in` (variance `1/(3·fan_in)`, PyTorch's default), which makes
    /// them uniform in `±√(6/fan_in)`, He initialisation (variance `2/fan_in`, section 4.8).
    pub fn he_initialised(mut self) -> Self {
        let gain = E::from_f64(6f64.sqrt()).expect("√6 fits E");
        self.stem.weight = self.stem.weight.clone() * gain;
        for m in &mut self.modules.modules {
            m.branch_1x1.weight = m.branch_1x1.weight.clone() * gain;
            m.reduce_3x3.weight = m.reduce_3x3.weight.clone() * gain;
            m.conv_3x3.weight = m.conv_3x3.weight.clone() * gain;
            m.reduce_5x5.weight = m.reduce_5x5.weight.clone() * gain;
            m.conv_5x5.weight = m.conv_5x5.weight.clone() * gain;
            m.pool_projection.weight = m.pool_projection.weight.clone() * gain;
        }
        self
    }

    /// The main logits alone: the network as used after training, without its auxiliary head.
    pub fn logits<const B: usize>(&self, x: Tensor<Rank4<B, 1, 28, 28>, E, D>) -> Tensor<Rank2<B, 10>, E, D> {
        self.forward(x).0
    }
}

/// The norm of the gradient of [`loss_with_auxiliary`] (with `auxiliary_weight`) on one
/// batch with respect to the stem's weights (index 0) and to all weights of each
/// inception module: `1 + INCEPTION_MODULES` values, from the input up.
pub fn inception_gradient_norms<const B: usize, D: ConvDevice<f32>>(
    model: &InceptionNet<f32, D>,
    x: Tensor<Rank4<B, 1, 28, 28>, f32, D>,
    labels: [usize; B],
    auxiliary_weight: f64,
) -> Vec<f64> {
    let (main, auxiliary) = model.forward(x.traced(model.alloc_grads()));
    let grads = loss_with_auxiliary(main, auxiliary, &labels, auxiliary_weight).backward();
    let mut norms = vec![gradient_square_sum(&grads, &model.stem.weight).sqrt()];
    for m in &model.modules.modules {
        let sum = gradient_square_sum(&grads, &m.branch_1x1.weight)
            + gradient_square_sum(&grads, &m.reduce_3x3.weight)
            + gradient_square_sum(&grads, &m.conv_3x3.weight)
            + gradient_square_sum(&grads, &m.reduce_5x5.weight)
            + gradient_square_sum(&grads, &m.conv_5x5.weight)
            + gradient_square_sum(&grads, &m.pool_projection.weight);
        norms.push(sum.sqrt());
    }
    norms
}

/// The sum of the squares of `grads`' entries for `tensor`.
fn gradient_square_sum<S: Shape, D: Device<f32>>(
    grads: &Gradients<f32, D>,
    tensor: &Tensor<S, f32, D>,
) -> f64 {
    grads.get(tensor).as_vec().iter().map(|&v| f64::from(v).powi(2)).sum()
}

/// How [`inception_experiment`] initialises the convolutions' weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initialisation {
    /// dfdx's, as PyTorch's: uniform in `±1/√fan_in`.
    Default,
    /// [`InceptionNet::he_initialised`]: uniform in `±√(6/fan_in)`.
    He,
}

/// Trains an [`InceptionNet`] (built on `device(seed)`, initialised by `initialisation`) on `train` with
/// [`loss_with_auxiliary`] and `auxiliary_weight` (0: the auxiliary head gets no gradient
/// and the network trains on its main loss alone), as [`deep_experiment`] does: the
/// gradient norms at initialisation ([`inception_gradient_norms`]), the training loss (the
/// combined one) per epoch and the validation accuracy of the main logits after each.
pub fn inception_experiment(
    train: &ImageSet,
    val: &ImageSet,
    (initialisation, auxiliary_weight): (Initialisation, f64),
    optimiser: DeepOptimiser,
    epochs: usize,
    seed: u64,
) -> DeepCurves {
    let dev = courselib::device::device(seed);
    let mut model = InceptionNet::<f32, Dev>::build(&dev);
    if initialisation == Initialisation::He {
        model = model.he_initialised();
    }
    let (x, labels) = first_batch(&dev, train, seed);
    let initial_gradient_norms = inception_gradient_norms(&model, x, labels, auxiliary_weight);
    let (train_loss, val_accuracy) = train_and_validate(
        &mut model,
        optimiser,
        (train, val),
        (epochs, seed),
        |model, x, labels| {
            let (main, auxiliary) = model.forward(x);
            loss_with_auxiliary(main, auxiliary, labels, auxiliary_weight)
        },
        |model, x| model.logits(x).as_vec(),
    );
    DeepCurves { initial_gradient_norms, train_loss, val_accuracy }
}

/// Classes of each task of the transfer experiment (section 7.6).
pub const TASK_CLASSES: usize = 5;
/// The values of a feature vector: the 16 maps of 7x7 after the second pooling.
pub const FEATURES: usize = 16 * 7 * 7;

/// The feature extractor: two conv-ReLU-pool stages (8 filters of 5x5, then 16 of 3x3),
/// flattened: `(B, 1, 28, 28)` → `(B, FEATURES)`.
pub type FeatureNet = (
    (Conv<1, 8, 5, 1, 2, 28, 28>, ReLU, MaxPool2d<2, 2, 14, 14>),
    (Conv<8, 16, 3, 1, 1, 14, 14>, ReLU, MaxPool2d<2, 2, 7, 7>),
    Flatten<FEATURES>,
);
/// The classifier of the transfer experiment: the features, then a fully connected
/// head with 64 hidden ReLU units and `TASK_CLASSES` logits.
pub type TransferNet = (FeatureNet, (Linear<FEATURES, 64>, ReLU, Linear<64, TASK_CLASSES>));
/// The classifier's parameters on the course's device; `.0` is the feature extractor.
pub type Classifier = <TransferNet as BuildOnDevice<Dev, f32>>::Built;
/// The feature extractor's parameters on the course's device.
pub type Extractor = <FeatureNet as BuildOnDevice<Dev, f32>>::Built;
/// A linear classifier on the features, the only part a linear probe trains.
pub type Probe = dfdx::nn::modules::Linear<FEATURES, TASK_CLASSES, f32, Dev>;

/// How the transfer experiment trains (Adam with `learning_rate`, mini-batches of
/// [`TRAIN_BATCH`]).
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub epochs: usize,
    pub learning_rate: f64,
    /// Seeds the initial weights and the order of every epoch.
    pub seed: u64,
}

impl TrainConfig {
    /// Training on the source task: all 6,000 training images of [`SOURCE_CLASSES`], 2 epochs.
    pub const SOURCE: TrainConfig = TrainConfig { epochs: 2, learning_rate: 1e-3, seed: 1 };
    /// Training from scratch on the [`LABELLED_PER_CLASS`] images per class of the target
    /// task: the best of η ∈ {1e-3, 3e-3, 1e-2} × {10, 30, 100, 300} epochs on the
    /// validation images of the target classes (section 7.6).
    pub const SCRATCH: TrainConfig = TrainConfig { epochs: 100, learning_rate: 1e-2, seed: 1 };
}

/// The source task: T-shirt/top, trouser, pullover, dress, coat.
pub const SOURCE_CLASSES: [usize; TASK_CLASSES] = [0, 1, 2, 3, 4];
/// The target task: sandal, shirt, sneaker, bag, ankle boot.
pub const TARGET_CLASSES: [usize; TASK_CLASSES] = [5, 6, 7, 8, 9];
/// Labelled training images per class of the target task.
pub const LABELLED_PER_CLASS: usize = 20;

/// Images per mini-batch of [`train_classifier`].
pub const TRAIN_BATCH: usize = 32;

/// The images of `set` of the classes `classes`, relabelled by their position in
/// `classes` (`classes[k]` becomes `k`), at most `per_class` of each (the first ones in the
/// set's order).
pub fn task_subset(set: &ImageSet, classes: &[usize; TASK_CLASSES], per_class: usize) -> ImageSet {
    let mut taken = [0; TASK_CLASSES];
    let mut indices = Vec::new();
    for i in 0..set.len() {
        if let Some(k) = classes.iter().position(|&c| c == set.label(i)) {
            if taken[k] < per_class {
                taken[k] += 1;
                indices.push(i);
            }
        }
    }
    let mut subset = set.subset(&indices);
    for label in &mut subset.labels {
        *label = classes.iter().position(|&c| c == usize::from(*label)).expect("a task class") as u8;
    }
    subset.class_names = classes.iter().map(|&c| set.class_names[c].clone()).collect();
    subset
}

/// Trains a fresh [`TransferNet`] (built on `device(config.seed)`) on all of `train` with
/// the cross-entropy and Adam, mini-batches of [`TRAIN_BATCH`] shuffled per epoch with
/// `config.seed + epoch`; a set smaller than one batch is used as one batch.
pub fn train_classifier(train: &ImageSet, config: &TrainConfig) -> Classifier {
    let dev = courselib::device::device(config.seed);
    let mut model = dev.build_module::<TransferNet, f32>();
    let mut adam = Adam::new(&model, AdamConfig { lr: config.learning_rate, ..Default::default() });
    let mut grads = model.alloc_grads();
    for epoch in 0..config.epochs {
        let mut batches =
            courselib::data::shuffled_batches(train.len(), TRAIN_BATCH, config.seed + epoch as u64);
        if batches.is_empty() {
            batches.push((0..train.len()).collect());
        }
        for batch in &batches {
            let (x, labels) = courselib::data::image_batch::<TRAIN_BATCH, 1, 28, 28, Dev>(&dev, train, batch);
            let logits = model.forward(x.traced(grads));
            // rows beyond the batch (label usize::MAX) get weight 0
            let mask: Vec<f32> =
                labels.iter().flat_map(|&l| [f32::from(u8::from(l < TASK_CLASSES)); TASK_CLASSES]).collect();
            let targets: Vec<f32> = labels
                .iter()
                .flat_map(|&l| (0..TASK_CLASSES).map(move |k| f32::from(u8::from(k == l))))
                .collect();
            let targets = dev.tensor_from_vec(targets, (Const::<TRAIN_BATCH>, Const::<TASK_CLASSES>));
            let mask = dev.tensor_from_vec(mask, (Const::<TRAIN_BATCH>, Const::<TASK_CLASSES>));
            let scale = TRAIN_BATCH as f32 / batch.len() as f32;
            let log_p = logits.log_softmax::<Axis<1>>() * mask;
            let loss = (log_p * targets).sum::<Rank1<TRAIN_BATCH>, Axis<1>>().mean().negate() * scale;
            grads = loss.backward();
            adam.update(&mut model, &grads).expect("every parameter has a gradient");
            model.zero_grads(&mut grads);
        }
    }
    model
}

/// The [`FEATURES`] hidden values of every image of `set` under the feature extractor
/// `features` (the classifier with its last layer cut off), in the set's order.
pub fn extract_features(features: &Extractor, set: &ImageSet) -> Vec<[f32; FEATURES]> {
    const CHUNK: usize = 100;
    let dev = features.0 .0.weight.device().clone();
    let indices: Vec<usize> = (0..set.len()).collect();
    let mut out = Vec::with_capacity(set.len());
    for chunk in indices.chunks(CHUNK) {
        let (x, _) = courselib::data::image_batch::<CHUNK, 1, 28, 28, Dev>(&dev, set, chunk);
        let values = features.forward(x).as_vec();
        out.extend(
            values.chunks(FEATURES).take(chunk.len()).map(|row| <[f32; FEATURES]>::try_from(row).unwrap()),
        );
    }
    out
}

/// The fraction of `features` whose label has the largest logit under `probe`
/// ([`courselib::data::predicts_label`]: a tie counts as wrong, so a zero probe scores 0).
pub fn probe_accuracy(probe: &Probe, features: &[[f32; FEATURES]], labels: &[usize]) -> f64 {
    let dev = probe.weight.device().clone();
    let x = dev.tensor_from_vec(features.concat(), (features.len(), Const::<FEATURES>));
    let logits = probe.forward(x).as_vec();
    let correct = logits
        .chunks(TASK_CLASSES)
        .zip(labels)
        .filter(|(row, &label)| courselib::data::predicts_label(row, label))
        .count();
    correct as f64 / labels.len() as f64
}

/// How [`linear_probe`] trains: full-batch Adam steps.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    pub steps: usize,
    pub learning_rate: f64,
    /// Seeds the probe's initial weights.
    pub seed: u64,
}

/// The best of η ∈ {1e-3, 1e-2, 1e-1} × {30, 100, 300, 1000, 3000} steps on the
/// validation images of the target classes (section 7.6).
impl Default for ProbeConfig {
    fn default() -> Self {
        Self { steps: 300, learning_rate: 1e-2, seed: 3 }
    }
}

// ANCHOR: linear_probe
/// A linear probe (section 7.6, DeCAF): a new last layer trained on frozen features, the
/// network below it untouched.
///
/// Builds a fresh [`Probe`] on `courselib::device::device(config.seed)` and takes
/// `config.steps` Adam steps (`config.learning_rate`, otherwise Adam's defaults), each on
/// the mean cross-entropy of all `features` (one row of [`FEATURES`] values per image)
/// against their `labels` (below [`TASK_CLASSES`]). Returns the trained probe.
pub fn linear_probe(features: &[[f32; FEATURES]], labels: &[usize], config: &ProbeConfig) -> Probe {
    assert_eq!(features.len(), labels.len(), "linear_probe: one label per feature vector");
    let dev = courselib::device::device(config.seed);
    let mut probe: Probe = dev.build_module::<Linear<FEATURES, TASK_CLASSES>, f32>();
    todo!("ch07 linear_probe: the features as one (n, FEATURES) tensor; per step: logits on a tape, mean cross-entropy, backward, Adam update; see book section 7.6")
}
// ANCHOR_END: linear_probe

/// One layer of a stack as its receptive field sees it, along one axis: a window of
/// `kernel` positions moved by `stride` over the input padded with `padding` positions on
/// each side. A pooling layer is one too (`padding` 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerGeometry {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

/// The receptive field of the units after a stack of layers, along one axis (section 7.7).
/// Output unit `u` sees the input positions `first + u·stride ..= first + u·stride + size − 1`;
/// those outside `0..input size` are padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceptiveField {
    /// The input positions one output unit sees.
    pub size: usize,
    /// The effective stride: how far the field moves in the input when the unit moves by one.
    pub stride: usize,
    /// The first input position that unit 0 sees (negative where it lies in the padding).
    pub first: isize,
}

/// The geometry of the transfer experiment's [`FeatureNet`] along either axis: a 5x5
/// convolution with padding 2, 2x2 pooling, a 3x3 convolution with padding 1, 2x2 pooling.
pub const FEATURE_NET_GEOMETRY: [LayerGeometry; 4] = [
    LayerGeometry { kernel: 5, stride: 1, padding: 2 },
    LayerGeometry { kernel: 2, stride: 2, padding: 0 },
    LayerGeometry { kernel: 3, stride: 1, padding: 1 },
    LayerGeometry { kernel: 2, stride: 2, padding: 0 },
];

// ANCHOR: receptive_field
/// The receptive field of a stack of `layers` (first layer first), along one axis: before
/// any layer a unit is one input position (size 1, stride 1, first 0); each layer widens the
/// field by `kernel − 1` steps of the current effective stride, moves its start back by
/// `padding` such steps, and multiplies the effective stride by its own.
pub fn receptive_field(layers: &[LayerGeometry]) -> ReceptiveField {
    todo!("ch07 receptive_field: start from one position; per layer: size += (k − 1)·stride, first −= p·stride, then stride ·= s; see book section 7.7")
}
// ANCHOR_END: receptive_field

/// The receptive field of one unit measured by its gradient (section 7.7): the sum over
/// the `images` (`(B, 1, 28, 28)`) of `|∂ y / ∂ x|` for the unit `y = features[channel, row,
/// column]` of the 16 feature maps of 7x7 that `extractor` computes, one value per input
/// pixel, row by row (28 · 28 values). A pixel outside the receptive field cannot change
/// the unit: its value is exactly 0.
pub fn input_gradient_of_unit<const B: usize, D: ConvDevice<f32>>(
    extractor: &<FeatureNet as BuildOnDevice<D, f32>>::Built,
    images: Tensor<Rank4<B, 1, 28, 28>, f32, D>,
    (channel, row, column): (usize, usize, usize),
) -> Vec<f32> {
    assert!(
        channel < 16 && row < 7 && column < 7,
        "input_gradient_of_unit: unit ({channel}, {row}, {column}) of 16 maps of 7x7"
    );
    let dev = images.device().clone();
    let features = extractor.forward(images.clone().leaky_traced());
    let mut pick = vec![0.0f32; B * FEATURES];
    for b in 0..B {
        pick[b * FEATURES + (channel * 7 + row) * 7 + column] = 1.0;
    }
    let pick = dev.tensor_from_vec(pick, (Const::<B>, Const::<FEATURES>));
    let gradient = (features * pick).sum().backward();
    let per_image = gradient.get(&images).as_vec();
    (0..28 * 28).map(|pixel| (0..B).map(|b| per_image[b * 28 * 28 + pixel].abs()).sum()).collect()
}

// ANCHOR: top_activating_images
/// The indices of the `k` images whose mean activation of channel `channel` is largest
/// (section 7.1): `mean over (i, j) of maps[n, channel, i, j]`, sorted from the largest
/// down; of equal means the smaller index comes first. For the units of a fully connected
/// layer pass their values as `(N, U, 1, 1)`.
///
/// - `maps`: `(N, C, H, W)`; `channel < C`; `k <= N`.
pub fn top_activating_images<
    const N: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    E: Dtype,
    D: Device<E>,
>(
    maps: &Tensor<Rank4<N, C, H, W>, E, D>,
    channel: usize,
    k: usize,
) -> Vec<usize> {
    assert!(channel < C && k <= N, "top_activating_images: channel {channel} of {C}, {k} of {N} images");
    todo!("ch07 top_activating_images: average each image's map of the channel, sort the indices by it (largest first, stable), keep k; see book section 7.1")
}
// ANCHOR_END: top_activating_images
