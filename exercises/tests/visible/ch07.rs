//! Visible tests of chapter 7: CNN architectures and transfer.

use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::conv::conv2d;
use courselib::device::{device, Dev};
use dfdx::nn::BuildModule;
use dfdx::prelude::*;
use subject::ch07_architectures as ch07;

mod conv_multiplications {
    use super::*;

    #[test]
    fn the_lectures_inception_terms_and_bottleneck() {
        course::graded!();
        let context = "conv_multiplications (book section 7.2)";
        course::check_eq!(
            ch07::conv_multiplications(28, 28, 256, 128, 1),
            25_690_112,
            "{context}: 128 1x1 filters on 28x28x256"
        );
        course::check_eq!(
            ch07::conv_multiplications(28, 28, 256, 192, 3),
            346_816_512,
            "{context}: 192 3x3 filters on 28x28x256"
        );
        course::check_eq!(
            ch07::conv_multiplications(28, 28, 256, 96, 5),
            481_689_600,
            "{context}: 96 5x5 filters on 28x28x256"
        );
        course::check_eq!(
            ch07::conv_multiplications(56, 56, 64, 32, 1),
            6_422_528,
            "{context}: the bottleneck of section 7.3, 32 1x1 filters on 56x56x64"
        );
    }
}

mod inception_cost {
    use super::*;

    #[test]
    fn the_lectures_854_million_and_the_bottleneck_version() {
        course::graded!();
        let context = "inception_cost (book section 7.3)";
        let naive = ch07::inception_cost(&ch07::InceptionSpec::NAIVE, 28, 28, 256);
        course::check_eq!(
            naive,
            ch07::LayerCost { multiplications: 854_196_224, parameters: 1_089_952, output_channels: 672 },
            "{context}: the naive module on 28x28x256"
        );
        let bottleneck = ch07::inception_cost(&ch07::InceptionSpec::BOTTLENECK, 28, 28, 256);
        course::check_eq!(
            bottleneck,
            ch07::LayerCost { multiplications: 271_351_808, parameters: 346_720, output_channels: 480 },
            "{context}: with 64 1x1 filters before the 3x3 and 5x5 convolutions and after the pool"
        );
    }
}

mod max_pool_same {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let x: Tensor<Rank4<1, 2, 3, 3>, f32, Dev> = dev.tensor([[
            [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
            [[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0], [-7.0, -8.0, -9.0]],
        ]]);
        let y = ch07::max_pool_same::<1, 2, 3, 5, f32, Dev, NoneTape>(x);
        let want = [
            5.0, 6.0, 6.0, 8.0, 9.0, 9.0, 8.0, 9.0, 9.0, -1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -4.0, -4.0, -5.0,
        ];
        assert_all_close(
            "max_pool_same (book section 7.3): the 3x3 maps 1..9 and -1..-9; the padding must never win",
            &y.as_vec(),
            &want,
            Tolerance::F32,
        );
    }
}

/// The small inception module of the visible tests: 2 channels in, paths of 1, 2, 1 and 1
/// channels on 4x4 maps.
type SmallInception = ch07::InceptionModule<2, 4, 6, 1, 2, 2, 1, 1, 1, 5, f32, Dev>;

mod inception_forward {
    use super::*;

    #[test]
    fn the_1x1_path_comes_first_and_every_map_keeps_its_size() {
        course::graded!();
        let dev = device(1);
        let module = SmallInception::build(&dev);
        let x: Tensor<Rank4<2, 2, 4, 4>, f32, Dev> = dev.sample_normal();
        let y: Tensor<Rank4<2, 5, 4, 4>, f32, Dev> = module.forward(x.clone());
        let first: Tensor<Rank4<2, 1, 4, 4>, f32, Dev> =
            conv2d(x, &module.branch_1x1.weight, &module.branch_1x1.bias, Const::<1>, Const::<0>).relu();
        let got: Vec<f32> = y.as_vec().chunks(16).step_by(5).flatten().copied().collect();
        assert_all_close(
            "inception_forward (book section 7.3): channel 0 of the output must be relu(branch_1x1(x))",
            &got,
            &first.as_vec(),
            Tolerance::F32,
        );
        course::check!(
            y.as_vec().iter().all(|&v| v >= 0.0),
            "inception_forward (book section 7.3): every path ends in a ReLU"
        );
    }
}

mod residual_forward {
    use super::*;

    #[test]
    fn with_f_zero_the_block_is_relu_of_x() {
        course::graded!();
        let dev = device(2);
        let mut block = ch07::IdentityBlock::<3, 5, f32, Dev>::build(&dev);
        block.conv2.weight = dev.zeros();
        block.conv2.bias = dev.zeros();
        let x: Tensor<Rank4<2, 3, 5, 5>, f32, Dev> = dev.sample_normal();
        let y = block.forward(x.clone());
        assert_all_close(
            "residual_forward (book section 7.5): F(x) = 0 must give relu(x + 0)",
            &y.as_vec(),
            &x.relu().as_vec(),
            Tolerance::F32,
        );
    }

    #[test]
    fn eleven_layers_of_blocks_carry_the_gradient_to_the_stem() {
        course::graded!();
        check_shortcuts_carry_the_gradient(ch07::Shortcuts::Original, "residual_forward (book section 7.5)");
    }
}

/// The stem's and the last conv layer's weight-gradient norms of section 7.5's deep
/// network at initialisation, on 32 Fashion-MNIST images, with the blocks joined as
/// `shortcuts`.
fn stem_and_last_gradient_norms(shortcuts: ch07::Shortcuts) -> (f64, f64) {
    let dev = device(1);
    let model = ch07::DeepNet::<f32, Dev>::build(&dev);
    let train = datasets::fashion::train().expect("the fashion training set loads");
    let first: Vec<usize> = (0..ch07::DEEP_BATCH).collect();
    let (x, labels) =
        courselib::data::image_batch::<{ ch07::DEEP_BATCH }, 1, 28, 28, Dev>(&dev, &train, &first);
    let norms = ch07::gradient_norms_per_layer(&model, x, labels, shortcuts);
    (norms[0], norms[norms.len() - 1])
}

/// The book's measurement of section 7.5: at initialisation the plain network's stem gets
/// a gradient thousands of times smaller than its last layer; through residual blocks
/// it gets about as much.
fn check_shortcuts_carry_the_gradient(shortcuts: ch07::Shortcuts, context: &str) {
    let (plain_stem, plain_last) = stem_and_last_gradient_norms(ch07::Shortcuts::Plain);
    course::check!(
        plain_stem < 1e-2 * plain_last,
        "section 7.5's plain network: stem {plain_stem:.1e}, last layer {plain_last:.1e} (the setup, not your code)"
    );
    let (stem, last) = stem_and_last_gradient_norms(shortcuts);
    course::check!(
        stem > 0.1 * last,
        "{context}: through 5 of your blocks the stem's gradient norm is {stem:.1e}, the last layer's {last:.1e}; the shortcut should carry the gradient to the stem (at least a tenth of the last layer's)"
    );
}

mod preactivation_forward {
    use super::*;

    #[test]
    fn with_f_zero_the_block_is_the_identity_negative_values_included() {
        course::graded!();
        let dev = device(2);
        let mut block = ch07::IdentityBlock::<3, 5, f32, Dev>::build(&dev);
        block.conv2.weight = dev.zeros();
        block.conv2.bias = dev.zeros();
        let x: Tensor<Rank4<2, 3, 5, 5>, f32, Dev> = dev.sample_normal();
        assert_all_close(
            "preactivation_forward (book section 7.5): F(x) = 0 must give x itself (no ReLU after the sum)",
            &block.forward_preactivation(x.clone()).as_vec(),
            &x.as_vec(),
            Tolerance::F32,
        );
    }

    #[test]
    fn eleven_layers_of_blocks_carry_the_gradient_to_the_stem() {
        course::graded!();
        check_shortcuts_carry_the_gradient(
            ch07::Shortcuts::PreActivation,
            "preactivation_forward (book section 7.5)",
        );
    }
}

mod loss_with_auxiliary {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let main = dev.tensor([[1.0f32, 2.0, 3.0]]);
        let auxiliary = dev.tensor([[3.0f32, 2.0, 1.0]]);
        let loss = ch07::loss_with_auxiliary(main, auxiliary, &[2], 0.3).array();
        // 0.4076 + 0.3 · 2.4076
        assert_close(
            "loss_with_auxiliary (book section 7.4): logits (1, 2, 3) and (3, 2, 1), label 2, weight 0.3",
            loss,
            0.4076059644 + 0.3 * 2.4076059644,
            Tolerance::F32,
        );
    }

    /// Section 7.4's measurement: at initialisation (default init, seed 1, the first 32
    /// training images) the auxiliary head after module 2 multiplies the stem's gradient
    /// norm by about 3.4; the modules above the head get exactly the main loss's gradient.
    #[test]
    fn the_auxiliary_loss_reaches_the_stem_of_the_inception_network() {
        course::graded!();
        let dev = device(1);
        let model = ch07::InceptionNet::<f32, Dev>::build(&dev);
        let train = datasets::fashion::train().expect("the fashion training set loads");
        let first: Vec<usize> = (0..32).collect();
        let norms = |weight: f64| {
            let (x, labels) = courselib::data::image_batch::<32, 1, 28, 28, Dev>(&dev, &train, &first);
            ch07::inception_gradient_norms(&model, x, labels, weight)
        };
        let (without, with) = (norms(0.0), norms(0.3));
        course::check!(
            with[0] > 2.0 * without[0],
            "loss_with_auxiliary (book section 7.4): with the auxiliary loss (weight 0.3) the stem's gradient norm is {:.2e}, without it {:.2e}; the auxiliary head's short path should at least double it",
            with[0],
            without[0]
        );
        let above = ch07::AUXILIARY_AFTER + 1;
        assert_all_close(
            "loss_with_auxiliary (book section 7.4): gradient norms of the modules above the auxiliary head, with and without it",
            &with[above..],
            &without[above..],
            Tolerance::F32,
        );
    }
}

mod linear_probe {
    use super::*;

    #[test]
    fn separates_one_hot_features() {
        course::graded!();
        // Image i of class i % 5 has the feature value 1 at position 7 · (i % 5) and small
        // noise elsewhere: a linear layer separates them.
        let labels: Vec<usize> = (0..40).map(|i| i % 5).collect();
        let features: Vec<[f32; ch07::FEATURES]> = labels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let mut f = [0.0; ch07::FEATURES];
                f[7 * l] = 1.0;
                f[(31 * i) % ch07::FEATURES] += 0.1;
                f
            })
            .collect();
        let probe = ch07::linear_probe(&features, &labels, &ch07::ProbeConfig::default());
        let accuracy = ch07::probe_accuracy(&probe, &features, &labels);
        assert_close(
            "linear_probe (book section 7.6): training accuracy on 40 separable feature vectors",
            accuracy,
            1.0,
            Tolerance::F64,
        );
    }
}

mod top_activating_images {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        // Five images, two channels of 1x2; channel 1's means: 0.5, 2, -1, 2, 1.5.
        let maps: Tensor<Rank4<5, 2, 1, 2>, f32, Dev> = dev.tensor([
            [[[9.0, 9.0]], [[0.0, 1.0]]],
            [[[0.0, 0.0]], [[1.0, 3.0]]],
            [[[0.0, 0.0]], [[-1.0, -1.0]]],
            [[[0.0, 0.0]], [[2.0, 2.0]]],
            [[[0.0, 0.0]], [[3.0, 0.0]]],
        ]);
        course::check_eq!(
            ch07::top_activating_images(&maps, 1, 3),
            vec![1, 3, 4],
            "top_activating_images (book section 7.1): channel 1, k = 3 (images 1 and 3 tie: the smaller index first)"
        );
    }
}

mod receptive_field {
    use super::*;

    #[test]
    fn worked_example_of_the_book_and_its_gradient() {
        course::graded!();
        let context = "receptive_field (book section 7.7)";
        let field = ch07::receptive_field(&ch07::FEATURE_NET_GEOMETRY);
        course::check_eq!(
            field,
            ch07::ReceptiveField { size: 12, stride: 4, first: -4 },
            "{context}: the transfer network's features (5x5 conv, 2x2 pool, 3x3 conv, 2x2 pool)"
        );
        // Unit (3, 3) of a fresh extractor: the pixels with a gradient span its field.
        let dev = device(3);
        let extractor = dev.build_module::<ch07::FeatureNet, f32>();
        let test = datasets::fashion::test().expect("the fashion test set loads");
        let first: Vec<usize> = (0..20).collect();
        let (x, _) = courselib::data::image_batch::<20, 1, 28, 28, Dev>(&dev, &test, &first);
        let gradient = ch07::input_gradient_of_unit(&extractor, x, (0, 3, 3));
        let reached: Vec<(usize, usize)> = (0..28 * 28)
            .filter(|&pixel| gradient[pixel] > 0.0)
            .map(|pixel| (pixel / 28, pixel % 28))
            .collect();
        let rows = (reached.iter().map(|p| p.0).min(), reached.iter().map(|p| p.0).max());
        let columns = (reached.iter().map(|p| p.1).min(), reached.iter().map(|p| p.1).max());
        let start = field.first + 3 * field.stride as isize;
        let span = (usize::try_from(start).ok(), usize::try_from(start + field.size as isize - 1).ok());
        course::check!(
            rows == span && columns == span,
            "{context}: the gradient of unit (3, 3) reaches rows {rows:?} and columns {columns:?} (first, last); your field says {span:?}"
        );
    }
}
