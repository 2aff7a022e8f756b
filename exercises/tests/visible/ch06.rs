//! Visible tests of chapter 6: convolutional networks.

use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::{device, rng, Dev};
use dfdx::prelude::*;
use image::{Rgb, RgbImage};
use rand::Rng;
use subject::ch06_convolutions as ch06;

/// The book's 4x4 example image (section 6.2), as one image of one channel.
fn example_image(dev: &Dev) -> Tensor<Rank4<1, 1, 4, 4>, f32, Dev> {
    dev.tensor([[[[1.0, 2.0, 3.0, 0.0], [0.0, 1.0, 2.0, 3.0], [3.0, 0.0, 1.0, 2.0], [2.0, 3.0, 0.0, 1.0]]]])
}

/// The book's 3x3 "X" filter: ones in the corners and the centre.
fn x_filter(dev: &Dev) -> Tensor<Rank4<1, 1, 3, 3>, f32, Dev> {
    dev.tensor([[[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]]])
}

/// The 5x5 image with values 0, 1, ..., 24, row by row.
fn ramp_5x5(dev: &Dev) -> Tensor<Rank4<1, 1, 5, 5>, f32, Dev> {
    dev.tensor_from_vec((0..25).map(|v| v as f32).collect(), (Const::<1>, Const::<1>, Const::<5>, Const::<5>))
}

mod conv_output_size {
    use super::*;

    #[test]
    fn worked_examples_of_the_book() {
        course::graded!();
        for (input, kernel, stride, padding, want) in [
            (224, 5, 1, 0, 220),
            (224, 5, 1, 2, 224),
            (227, 11, 4, 0, 55),
            (28, 3, 1, 1, 28),
            (28, 2, 2, 0, 14),
            (13, 3, 2, 0, 6),
        ] {
            course::check_eq!(
                ch06::conv_output_size(input, kernel, stride, padding),
                want,
                "conv_output_size (book section 6.2): input {input}, kernel {kernel}, stride {stride}, padding {padding}"
            );
        }
    }
}

mod conv_parameter_count {
    use super::*;

    #[test]
    fn ninety_six_filters_of_5x5x3() {
        course::graded!();
        course::check_eq!(
            ch06::conv_parameter_count(3, 96, 5, true),
            7296,
            "conv_parameter_count (book section 6.2): 96 filters of 5x5x3 with biases"
        );
        course::check_eq!(
            ch06::conv_parameter_count(3, 96, 5, false),
            7200,
            "conv_parameter_count (book section 6.2): 96 filters of 5x5x3 without biases"
        );
    }
}

mod conv2d_naive {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let bias = dev.tensor([1.0f32]);
        let y: Tensor<Rank4<1, 1, 2, 2>, f32, Dev> =
            ch06::conv2d_naive(&example_image(&dev), &x_filter(&dev), &bias, Const::<1>, Const::<0>);
        assert_all_close(
            "conv2d_naive (book section 6.3): X filter, stride 1, no padding, bias 1",
            &y.as_vec(),
            &[10.0f64, 7.0, 5.0, 10.0],
            Tolerance::F32,
        );
        let y: Tensor<Rank4<1, 1, 2, 2>, f32, Dev> =
            ch06::conv2d_naive(&example_image(&dev), &x_filter(&dev), &bias, Const::<2>, Const::<1>);
        assert_all_close(
            "conv2d_naive (book section 6.3): X filter, stride 2, padding 1, bias 1",
            &y.as_vec(),
            &[3.0f64, 8.0, 8.0, 10.0],
            Tolerance::F32,
        );
    }
}

mod im2col_indices {
    use super::*;

    #[test]
    fn a_2x2_kernel_on_a_3x3_image() {
        course::graded!();
        course::check_eq!(
            ch06::im2col_indices(1, 3, 3, 2, 1, 0),
            [0, 1, 3, 4, 1, 2, 4, 5, 3, 4, 6, 7, 4, 5, 7, 8],
            "im2col_indices (book section 6.3): one row per tap (u, v), one column per output position"
        );
        course::check_eq!(
            ch06::im2col_indices(1, 1, 1, 3, 1, 1),
            [1, 1, 1, 1, 0, 1, 1, 1, 1],
            "im2col_indices (book section 6.3): a 3x3 kernel with padding 1 on a single pixel: \
             every tap but the centre reads the zero at index C·H·W = 1"
        );
    }
}

mod conv2d_im2col {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let bias = dev.tensor([1.0f32]);
        let y: Tensor<Rank4<1, 1, 2, 2>, f32, Dev> =
            ch06::conv2d_im2col(example_image(&dev), &x_filter(&dev), &bias, Const::<1>, Const::<0>);
        assert_all_close(
            "conv2d_im2col (book section 6.3): X filter, stride 1, no padding, bias 1",
            &y.as_vec(),
            &[10.0f64, 7.0, 5.0, 10.0],
            Tolerance::F32,
        );
        let y: Tensor<Rank4<1, 1, 2, 2>, f32, Dev> =
            ch06::conv2d_im2col(example_image(&dev), &x_filter(&dev), &bias, Const::<2>, Const::<1>);
        assert_all_close(
            "conv2d_im2col (book section 6.3): X filter, stride 2, padding 1, bias 1",
            &y.as_vec(),
            &[3.0f64, 8.0, 8.0, 10.0],
            Tolerance::F32,
        );
    }

    #[test]
    fn the_bias_gradient_counts_the_output_positions() {
        course::graded!();
        let dev = device(0);
        let bias = dev.tensor([1.0f32]);
        let y: Tensor<Rank4<1, 1, 2, 2>, f32, Dev, _> = ch06::conv2d_im2col(
            example_image(&dev).leaky_trace(),
            &x_filter(&dev),
            &bias,
            Const::<1>,
            Const::<0>,
        );
        let grads = y.sum().backward();
        assert_all_close(
            "conv2d_im2col (book section 6.3): d(sum of y)/d bias = number of output values; \
             is the bias on the tape of x?",
            &grads.get(&bias).as_vec(),
            &[4.0f64],
            Tolerance::F32,
        );
    }
}

mod max_pool2d {
    use super::*;

    #[test]
    fn worked_examples_of_the_book() {
        course::graded!();
        let dev = device(0);
        let y: Tensor<Rank4<1, 1, 2, 2>, f32, Dev> =
            ch06::max_pool2d(example_image(&dev), Const::<2>, Const::<2>);
        assert_all_close(
            "max_pool2d (book section 6.4): 2x2 windows, stride 2",
            &y.as_vec(),
            &[2.0f64, 3.0, 3.0, 2.0],
            Tolerance::F32,
        );
        let y: Tensor<Rank4<1, 1, 2, 2>, f32, Dev> = ch06::max_pool2d(ramp_5x5(&dev), Const::<3>, Const::<2>);
        assert_all_close(
            "max_pool2d (book section 6.4): overlapping 3x3 windows, stride 2, on the 5x5 ramp",
            &y.as_vec(),
            &[12.0f64, 14.0, 22.0, 24.0],
            Tolerance::F32,
        );
    }
}

mod avg_pool2d {
    use super::*;

    #[test]
    fn worked_examples_of_the_book() {
        course::graded!();
        let dev = device(0);
        let y: Tensor<Rank4<1, 1, 2, 2>, f32, Dev> =
            ch06::avg_pool2d(example_image(&dev), Const::<2>, Const::<2>);
        assert_all_close(
            "avg_pool2d (book section 6.4): 2x2 windows, stride 2",
            &y.as_vec(),
            &[1.0f64, 2.0, 2.0, 1.0],
            Tolerance::F32,
        );
        let y: Tensor<Rank4<1, 1, 2, 2>, f32, Dev> = ch06::avg_pool2d(ramp_5x5(&dev), Const::<3>, Const::<2>);
        assert_all_close(
            "avg_pool2d (book section 6.4): overlapping 3x3 windows, stride 2, on the 5x5 ramp",
            &y.as_vec(),
            &[6.0f64, 8.0, 16.0, 18.0],
            Tolerance::F32,
        );
    }
}

mod batch_norm_train {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let mut bn = ch06::BatchNorm::<1, f64, Dev>::new(&dev);
        let x = dev.tensor([[[[1.0f64, 3.0]]], [[[5.0, 7.0]]]]);
        let y = bn.forward_train(x);
        let sd = (5.0f64 + 1e-5).sqrt();
        let context = "batch_norm_train (book section 6.6): batch 1, 3, 5, 7 (mean 4, variance 5)";
        assert_all_close(
            format!("{context}: y = (x - 4) / sqrt(5 + 1e-5)"),
            &y.as_vec(),
            &[-3.0 / sd, -1.0 / sd, 1.0 / sd, 3.0 / sd],
            Tolerance::F64,
        );
        assert_all_close(
            format!("{context}: running mean = 0.9·0 + 0.1·4"),
            &bn.running_mean.as_vec(),
            &[0.4],
            Tolerance::F64,
        );
        assert_all_close(
            format!("{context}: running variance = 0.9·1 + 0.1·5·4/3"),
            &bn.running_var.as_vec(),
            &[0.9 + 0.1 * 5.0 * 4.0 / 3.0],
            Tolerance::F64,
        );
    }
}

mod batch_norm_eval {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let mut bn = ch06::BatchNorm::<1, f64, Dev>::new(&dev);
        (bn.gamma, bn.beta) = (dev.tensor([3.0]), dev.tensor([1.0]));
        (bn.running_mean, bn.running_var) = (dev.tensor([2.0]), dev.tensor([4.0]));
        let y = bn.forward_eval(dev.tensor([[[[6.0f64, 2.0]]]]));
        let sd = (4.0f64 + 1e-5).sqrt();
        assert_all_close(
            "batch_norm_eval (book section 6.6): y = 3·(x - 2)/sqrt(4 + 1e-5) + 1 with the running statistics",
            &y.as_vec(),
            &[3.0 * 4.0 / sd + 1.0, 1.0],
            Tolerance::F64,
        );
    }
}

mod dropout {
    use super::*;

    #[test]
    fn rate_one_half_zeroes_or_doubles() {
        course::graded!();
        let dev = device(0);
        let x: Tensor<Rank1<1000>, f32, Dev> = dev.ones();
        let y = ch06::dropout(x.clone(), 0.5, ch06::Mode::Train, &mut rng(6)).as_vec();
        course::check!(
            y.iter().all(|&v| v == 0.0 || (v - 2.0).abs() < 1e-6),
            "dropout (book section 6.7): with rate 0.5 every value must become 0 or 2 (inverted dropout)"
        );
        let dropped = y.iter().filter(|&&v| v == 0.0).count();
        course::check!(
            (400..=600).contains(&dropped),
            "dropout (book section 6.7): rate 0.5 dropped {dropped} of 1000 values"
        );
        let same = ch06::dropout(x.clone(), 0.5, ch06::Mode::Eval, &mut rng(6));
        assert_all_close(
            "dropout (book section 6.7): Mode::Eval returns x",
            &same.as_vec(),
            &x.as_vec(),
            Tolerance::F32,
        );
    }
}

/// A 3x2 RGB image whose pixel (x, y) is (10x + y, 100 + y, 7).
fn small_image() -> RgbImage {
    RgbImage::from_fn(3, 2, |x, y| Rgb([(10 * x + y) as u8, (100 + y) as u8, 7]))
}

mod flip {
    use super::*;

    #[test]
    fn mirrors_a_small_image() {
        course::graded!();
        let image = small_image();
        let h = ch06::flip(&image, true);
        let v = ch06::flip(&image, false);
        course::check_eq!(h.dimensions(), (3, 2), "flip (book section 6.8): the size stays");
        course::check_eq!(
            h.get_pixel(0, 1),
            image.get_pixel(2, 1),
            "flip (book section 6.8): horizontal swaps left and right"
        );
        course::check_eq!(
            v.get_pixel(0, 1),
            image.get_pixel(0, 0),
            "flip (book section 6.8): vertical swaps top and bottom"
        );
    }
}

mod rotate {
    use super::*;

    #[test]
    fn quarter_turn_of_a_2x2_image() {
        course::graded!();
        // 1 2      2 4
        // 3 4  ->  1 3   (counter-clockwise)
        let image = RgbImage::from_fn(2, 2, |x, y| Rgb([(1 + x + 2 * y) as u8, 0, 0]));
        let turned = ch06::rotate(&image, 90.0);
        let reds: Vec<u8> = turned.pixels().map(|p| p.0[0]).collect();
        course::check_eq!(reds, [2, 4, 1, 3], "rotate (book section 6.8): 90 degrees counter-clockwise");
        course::check_eq!(
            ch06::rotate(&image, 0.0),
            image,
            "rotate (book section 6.8): 0 degrees changes nothing"
        );
    }
}

mod random_crop {
    use super::*;

    #[test]
    fn crop_has_the_requested_size() {
        course::graded!();
        let image = RgbImage::from_fn(28, 28, |x, y| Rgb([x as u8, y as u8, 0]));
        let crop = ch06::random_crop(&image, 24, 20, &mut rng(6));
        course::check_eq!(crop.dimensions(), (24, 20), "random_crop (book section 6.8): a 24x20 window");
        let (left, top) = (crop.get_pixel(0, 0).0[0], crop.get_pixel(0, 0).0[1]);
        course::check!(
            left <= 4 && top <= 8,
            "random_crop (book section 6.8): the window must lie inside the image"
        );
        course::check_eq!(
            crop.get_pixel(23, 19).0,
            [left + 23, top + 19, 0],
            "random_crop (book section 6.8): the crop must be a contiguous window"
        );
    }
}

mod gaussian_noise {
    use super::*;

    #[test]
    fn noise_of_sigma_ten_on_mid_grey() {
        course::graded!();
        let image = RgbImage::from_pixel(64, 64, Rgb([128, 128, 128]));
        let noisy = ch06::gaussian_noise(&image, 10.0, &mut rng(6));
        let diffs: Vec<f64> = noisy.iter().map(|&v| f64::from(v) - 128.0).collect();
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / diffs.len() as f64).sqrt();
        assert_close(
            "gaussian_noise (book section 6.8): mean of the noise",
            mean,
            0.0,
            Tolerance { abs: 0.5, rel: 0.0 },
        );
        assert_close(
            "gaussian_noise (book section 6.8): standard deviation of the noise",
            sd,
            10.0,
            Tolerance { abs: 0.5, rel: 0.0 },
        );
    }
}

mod scale_channels {
    use super::*;

    #[test]
    fn scales_each_channel_and_clips() {
        course::graded!();
        let image = RgbImage::from_pixel(1, 1, Rgb([100, 200, 50]));
        let scaled = ch06::scale_channels(&image, [0.5, 1.5, 1.0]);
        course::check_eq!(
            scaled.get_pixel(0, 0).0,
            [50, 255, 50],
            "scale_channels (book section 6.8): (100·0.5, 200·1.5 clipped to 255, 50·1)"
        );
    }
}

mod bilinear_warp {
    use super::*;

    /// A field that moves every pixel of a `width x height` image by the same `(dx, dy)`.
    fn uniform_field(width: u32, height: u32, dx: f64, dy: f64) -> ch06::DisplacementField {
        let n = (width * height) as usize;
        ch06::DisplacementField { width, height, dx: vec![dx; n], dy: vec![dy; n] }
    }

    #[test]
    fn worked_examples_of_the_book() {
        course::graded!();
        // A row 0, 100, 200 read half a pixel to the right: 50, 150 and, at the right
        // edge, half of 200 and half of the black outside.
        let row = RgbImage::from_fn(3, 1, |x, _| Rgb([(100 * x) as u8, 0, 0]));
        let moved = ch06::bilinear_warp(&row, &uniform_field(3, 1, 0.5, 0.0));
        course::check_eq!(
            moved.pixels().map(|p| p.0[0]).collect::<Vec<_>>(),
            [50, 150, 100],
            "bilinear_warp (book section 6.8): the row 0, 100, 200 moved by dx = 0.5"
        );
        // 0 100      at (0.25, 0.25): 0.5625·0 + 0.1875·100 + 0.1875·200 + 0.0625·40 = 58.75
        // 200 40
        let square =
            RgbImage::from_fn(2, 2, |x, y| Rgb([[[0, 100], [200, 40]][y as usize][x as usize], 0, 0]));
        let moved = ch06::bilinear_warp(&square, &uniform_field(2, 2, 0.25, 0.25));
        course::check_eq!(
            moved.get_pixel(0, 0).0[0],
            59,
            "bilinear_warp (book section 6.8): the 2x2 example read at (0.25, 0.25) gives 58.75, rounded 59"
        );
    }

    #[test]
    fn a_zero_field_changes_nothing() {
        course::graded!();
        let image = RgbImage::from_fn(5, 4, |x, y| Rgb([(40 * x) as u8, (50 * y) as u8, (x * y) as u8]));
        course::check_eq!(
            ch06::bilinear_warp(&image, &uniform_field(5, 4, 0.0, 0.0)),
            image,
            "bilinear_warp (book section 6.8): a field of zeros must give the image back"
        );
    }
}

mod elastic_field {
    use super::*;

    #[test]
    fn a_tiny_sigma_keeps_the_scaled_draws() {
        course::graded!();
        // With σ = 0.1 the neighbours' weights are e^(−50) ≈ 2·10⁻²² of the centre's.
        let field = ch06::elastic_field(5, 4, 3.0, 0.1, &mut rng(4));
        let mut draws = rng(4);
        let want: Vec<f64> = (0..40).map(|_| 3.0 * (2.0 * draws.gen::<f64>() - 1.0)).collect();
        course::check_eq!((field.width, field.height), (5, 4), "elastic_field (book section 6.8): the size");
        let tolerance = Tolerance { abs: 1e-12, rel: 0.0 };
        assert_all_close(
            "elastic_field (book section 6.8): dx with σ = 0.1 is alpha times the first 20 draws",
            &field.dx,
            &want[..20],
            tolerance,
        );
        assert_all_close(
            "elastic_field (book section 6.8): dy with σ = 0.1 is alpha times the next 20 draws",
            &field.dy,
            &want[20..],
            tolerance,
        );
    }
}

mod conv_block {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let mut block = ch06::ConvBlock::<1, 1, 4, 4, 2, 2, f32, Dev>::build(&dev);
        // the identity filter: conv(x) = x
        block.conv.weight = dev.tensor([[[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]]);
        block.conv.bias = dev.zeros();
        let y = block.forward_train(example_image(&dev));
        // mean 1.5, variance 1.25: relu((x - 1.5) / sqrt(1.25)), then the maximum of each 2x2 block
        let sd = (1.25f64 + 1e-5).sqrt();
        assert_all_close(
            "conv_block (book section 6.5): identity filter, batch norm, ReLU, 2x2 max pooling",
            &y.as_vec(),
            &[0.5 / sd, 1.5 / sd, 1.5 / sd, 0.5 / sd],
            Tolerance::F32,
        );
        assert_all_close(
            "conv_block (book section 6.5): training mode updates the running mean (0.1·1.5)",
            &block.norm.running_mean.as_vec(),
            &[0.15f64],
            Tolerance::F32,
        );
    }
}

mod train_fashion_cnn {
    use super::*;

    #[test]
    fn the_loss_falls_on_a_small_subset() {
        course::graded!();
        let train = datasets::fashion::train().expect("the shipped Fashion-MNIST subset");
        let subset = train.subset(&(0..train.len()).step_by(10).collect::<Vec<_>>()); // 1200 images
        let config = ch06::CnnConfig { epochs: 2, ..Default::default() };
        let (_, losses) = ch06::train_fashion_cnn(&subset, &config);
        course::check_eq!(
            losses.len(),
            2 * (1200 / ch06::CNN_BATCH),
            "train_fashion_cnn (book section 6.9): one loss per full batch of 64, two epochs of 1200 images"
        );
        let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
        let (first, last) = (mean(&losses[..6]), mean(&losses[losses.len() - 6..]));
        course::check!(
            last < 0.8 * first,
            "train_fashion_cnn (book section 6.9): the mean loss of the last 6 batches ({last:.3}) should be \
             well below that of the first 6 ({first:.3})"
        );
    }
}

// Section 6.10: the backward passes by hand. The worked examples of the book, and your
// backward passes against your own gradient checker (numerical_gradient and
// max_relative_error) on your own forward passes: write those two first.

/// The book's example image and "X" filter in f64.
fn example_in_f64(dev: &Dev) -> (Tensor<Rank4<1, 1, 4, 4>, f64, Dev>, Tensor<Rank4<1, 1, 3, 3>, f64, Dev>) {
    let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
    (
        dev.tensor_from_vec(widen(example_image(dev).as_vec()), (Const, Const, Const, Const)),
        dev.tensor_from_vec(widen(x_filter(dev).as_vec()), (Const, Const, Const, Const)),
    )
}

/// Your gradient checker's verdict on `got` against central differences of `loss` at `x`:
/// the relative error must stay below 1e-5. (Section 2.6 expects about 1e-7 to 1e-10; an
/// entry that nearly cancels to zero, say 1e-5, carries the differences' absolute rounding
/// error of about 1e-10 as a relative error of 1e-5. A bug gives 1e-2 and more.)
fn check_with_your_checker<S: Shape>(
    context: &str,
    got: &Tensor<S, f64, Dev>,
    loss: impl FnMut(&Tensor<S, f64, Dev>) -> f64,
    x: &Tensor<S, f64, Dev>,
) {
    let numeric = ch06::numerical_gradient(loss, x, 1e-6);
    let error = ch06::max_relative_error(&got.as_vec(), &numeric.as_vec());
    course::check!(
        error < 1e-5,
        "{context}: your numerical_gradient and max_relative_error give a relative error of {error:e} (above 1e-5; if they are right, the backward pass is wrong)"
    );
}

/// A seeded tensor with entries uniform in [-1, 1).
fn random<S: ConstShape>(dev: &Dev, seed: u64) -> Tensor<S, f64, Dev> {
    let mut rng = rng(seed);
    dev.tensor_from_vec((0..S::NUMEL).map(|_| rng.gen_range(-1.0..1.0)).collect(), S::default())
}

mod numerical_gradient {
    use super::*;

    #[test]
    fn central_differences_of_the_sum_of_cubes() {
        course::graded!();
        let dev = device(0);
        let x: Tensor<Rank1<3>, f64, Dev> = dev.tensor([0.5, -1.0, 2.0]);
        let got = ch06::numerical_gradient(|t| t.as_vec().iter().map(|v| v * v * v).sum(), &x, 0.1);
        assert_all_close(
            "numerical_gradient (book section 6.10): Σ x³ at (0.5, −1, 2) with eps 0.1: 3x² + eps²",
            &got.as_vec(),
            &[0.76, 3.01, 12.01],
            Tolerance::F64,
        );
    }
}

mod max_relative_error {
    use super::*;

    #[test]
    fn worked_examples_of_the_book() {
        course::graded!();
        let context = "max_relative_error (book section 6.10)";
        assert_close(
            format!("{context}: a flipped sign"),
            ch06::max_relative_error(&[1.0, -2.0], &[1.0, 2.0]),
            1.0,
            Tolerance::F64,
        );
        assert_close(
            format!("{context}: 0.001 against 0.0011"),
            ch06::max_relative_error(&[0.001, 5.0], &[0.0011, 5.0]),
            0.0001 / 0.0021,
            Tolerance::F64,
        );
        assert_close(
            format!("{context}: two zeros"),
            ch06::max_relative_error(&[0.0], &[0.0]),
            0.0,
            Tolerance::F64,
        );
    }
}

mod conv2d_naive_backward {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let (x, w) = example_in_f64(&dev);
        let dy: Tensor<Rank4<1, 1, 2, 2>, f64, Dev> = dev.ones();
        let g = ch06::conv2d_naive_backward(&x, &w, &dy, Const::<1>, Const::<0>);
        let context = "conv2d_naive_backward (book section 6.10): the X filter on the example image, dy = 1";
        assert_all_close(
            format!("{context}: ∂L/∂weight sums each tap's pixels over the four windows"),
            &g.weight.as_vec(),
            &[4.0, 8.0, 8.0, 4.0, 4.0, 8.0, 8.0, 4.0, 4.0],
            Tolerance::F64,
        );
        assert_all_close(
            format!("{context}: ∂L/∂x adds the filter once per window"),
            &g.x.as_vec(),
            &[1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            Tolerance::F64,
        );
        assert_close(
            format!("{context}: ∂L/∂bias counts the outputs"),
            g.bias.as_vec()[0],
            4.0,
            Tolerance::F64,
        );
    }

    #[test]
    fn agrees_with_your_gradient_checker() {
        course::graded!();
        let dev = device(1);
        let (x, w, b): (Tensor<Rank4<2, 2, 5, 5>, f64, Dev>, Tensor<Rank4<3, 2, 3, 3>, f64, Dev>, _) =
            (random(&dev, 1), random(&dev, 2), random::<Rank1<3>>(&dev, 3));
        let dy: Tensor<Rank4<2, 3, 3, 3>, f64, Dev> = random(&dev, 4);
        let g = ch06::conv2d_naive_backward(&x, &w, &dy, Const::<2>, Const::<1>);
        let loss = |x: &Tensor<Rank4<2, 2, 5, 5>, f64, Dev>,
                    w: &Tensor<Rank4<3, 2, 3, 3>, f64, Dev>,
                    b: &Tensor<Rank1<3>, f64, Dev>| {
            let y: Tensor<Rank4<2, 3, 3, 3>, f64, Dev> = ch06::conv2d_naive(x, w, b, Const::<2>, Const::<1>);
            (y * dy.clone()).sum::<Rank0, _>().array()
        };
        let context = "conv2d_naive_backward (book section 6.10): stride 2, padding 1";
        check_with_your_checker(&format!("{context}: ∂L/∂x"), &g.x, |t| loss(t, &w, &b), &x);
        check_with_your_checker(&format!("{context}: ∂L/∂weight"), &g.weight, |t| loss(&x, t, &b), &w);
        check_with_your_checker(&format!("{context}: ∂L/∂bias"), &g.bias, |t| loss(&x, &w, t), &b);
    }
}

mod col2im {
    use super::*;

    #[test]
    fn ones_count_the_windows_of_each_pixel() {
        course::graded!();
        // The 2x2 windows of a 3x3 image (stride 1): the centre is in all four.
        let got = ch06::col2im(&[1.0f64; 16], 1, 3, 3, 2, 1, 0);
        assert_all_close(
            "col2im (book section 6.10): 2x2 windows on a 3x3 image",
            &got,
            &[1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0],
            Tolerance::F64,
        );
    }
}

mod conv2d_im2col_backward {
    use super::*;

    #[test]
    fn worked_example_and_agreement_with_the_loops() {
        course::graded!();
        let dev = device(0);
        let (x, w) = example_in_f64(&dev);
        let dy: Tensor<Rank4<1, 1, 2, 2>, f64, Dev> = dev.ones();
        let g = ch06::conv2d_im2col_backward(&x, &w, &dy, Const::<1>, Const::<0>);
        assert_all_close(
            "conv2d_im2col_backward (book section 6.10): the book's ∂L/∂weight",
            &g.weight.as_vec(),
            &[4.0, 8.0, 8.0, 4.0, 4.0, 8.0, 8.0, 4.0, 4.0],
            Tolerance::F64,
        );
        let (x, w): (Tensor<Rank4<2, 3, 6, 5>, f64, Dev>, Tensor<Rank4<4, 3, 3, 3>, f64, Dev>) =
            (random(&dev, 5), random(&dev, 6));
        let dy: Tensor<Rank4<2, 4, 3, 3>, f64, Dev> = random(&dev, 7);
        let fast = ch06::conv2d_im2col_backward(&x, &w, &dy, Const::<2>, Const::<1>);
        let loops = ch06::conv2d_naive_backward(&x, &w, &dy, Const::<2>, Const::<1>);
        for (what, fast, loops) in [
            ("x", fast.x.as_vec(), loops.x.as_vec()),
            ("weight", fast.weight.as_vec(), loops.weight.as_vec()),
            ("bias", fast.bias.as_vec(), loops.bias.as_vec()),
        ] {
            course::check::assert_all_close_own(
                format!("conv2d_im2col_backward (book section 6.10): ∂L/∂{what} against your conv2d_naive_backward"),
                &fast,
                &loops,
                Tolerance::F64,
            );
        }
    }
}

mod max_pool2d_backward {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let (x, _) = example_in_f64(&dev);
        let dy: Tensor<Rank4<1, 1, 2, 2>, f64, Dev> = dev.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]);
        let got = ch06::max_pool2d_backward(&x, &dy, Const::<2>, Const::<2>);
        assert_all_close(
            "max_pool2d_backward (book section 6.10): 2x2 windows of the example image; each gradient to its window's (first) maximum",
            &got.as_vec(),
            &[0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0],
            Tolerance::F64,
        );
    }
}

mod avg_pool2d_backward {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let dy: Tensor<Rank4<1, 1, 2, 2>, f64, Dev> = dev.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]);
        let got: Tensor<Rank4<1, 1, 4, 4>, f64, Dev> = ch06::avg_pool2d_backward(&dy, Const::<2>, Const::<2>);
        assert_all_close(
            "avg_pool2d_backward (book section 6.10): 2x2 windows of a 4x4 image; a quarter of each gradient to every value",
            &got.as_vec(),
            &[0.25, 0.25, 0.5, 0.5, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0, 0.75, 0.75, 1.0, 1.0],
            Tolerance::F64,
        );
    }
}

/// Batch norm's backward pass (either form) against your gradient checker on your
/// `forward_train`, and the book's three-value example.
fn batch_norm_backward_visible(closed_form: bool) {
    let name = if closed_form { "batch_norm_backward" } else { "batch_norm_backward_steps" };
    let backward = |x: &Tensor<Rank4<4, 2, 2, 3>, f64, Dev>,
                    gamma: &Tensor<Rank1<2>, f64, Dev>,
                    dy: &Tensor<Rank4<4, 2, 2, 3>, f64, Dev>| {
        if closed_form {
            ch06::batch_norm_backward(x, gamma, dy, 1e-5)
        } else {
            ch06::batch_norm_backward_steps(x, gamma, dy, 1e-5)
        }
    };
    let dev = device(2);
    let x: Tensor<Rank4<4, 2, 2, 3>, f64, Dev> = random(&dev, 8);
    let (gamma, beta): (Tensor<Rank1<2>, f64, Dev>, Tensor<Rank1<2>, f64, Dev>) =
        (random(&dev, 9), random(&dev, 10));
    let dy: Tensor<Rank4<4, 2, 2, 3>, f64, Dev> = random(&dev, 11);
    let g = backward(&x, &gamma, &dy);
    let loss = |x: &Tensor<Rank4<4, 2, 2, 3>, f64, Dev>,
                gamma: &Tensor<Rank1<2>, f64, Dev>,
                beta: &Tensor<Rank1<2>, f64, Dev>| {
        let mut bn = ch06::BatchNorm::<2, f64, Dev>::new(&dev);
        (bn.gamma, bn.beta) = (gamma.clone(), beta.clone());
        (bn.forward_train(x.clone()) * dy.clone()).sum::<Rank0, _>().array()
    };
    let context = format!("{name} (book section 6.10): x (4, 2, 2, 3), against your forward_train");
    check_with_your_checker(&format!("{context}: ∂L/∂x"), &g.x, |t| loss(t, &gamma, &beta), &x);
    check_with_your_checker(&format!("{context}: ∂L/∂γ"), &g.gamma, |t| loss(&x, t, &beta), &gamma);
    check_with_your_checker(&format!("{context}: ∂L/∂β"), &g.beta, |t| loss(&x, &gamma, t), &beta);

    // The book's example: x = (0, 1, 5), γ = 2, dy = (1, 0, 0), ε = 0.
    let x: Tensor<Rank4<1, 1, 1, 3>, f64, Dev> = dev.tensor([[[[0.0, 1.0, 5.0]]]]);
    let dy: Tensor<Rank4<1, 1, 1, 3>, f64, Dev> = dev.tensor([[[[1.0, 0.0, 0.0]]]]);
    let gamma: Tensor<Rank1<1>, f64, Dev> = dev.tensor([2.0]);
    let g = if closed_form {
        ch06::batch_norm_backward(&x, &gamma, &dy, 0.0)
    } else {
        ch06::batch_norm_backward_steps(&x, &gamma, &dy, 0.0)
    };
    let s = (14.0f64 / 3.0).sqrt();
    assert_all_close(
        format!("{name} (book section 6.10): the book's example x = (0, 1, 5), γ = 2, dy = (1, 0, 0): ∂L/∂x"),
        &g.x.as_vec(),
        &[
            2.0 / (3.0 * s) * (2.0 - 4.0 / (s * s)),
            2.0 / (3.0 * s) * (-1.0 - 2.0 / (s * s)),
            2.0 / (3.0 * s) * (-1.0 + 6.0 / (s * s)),
        ],
        Tolerance::F64,
    );
}

mod batch_norm_backward_steps {
    use super::*;

    #[test]
    fn agrees_with_your_checker_and_the_book() {
        course::graded!();
        batch_norm_backward_visible(false);
    }
}

mod batch_norm_backward {
    use super::*;

    #[test]
    fn agrees_with_your_checker_and_the_book() {
        course::graded!();
        batch_norm_backward_visible(true);
    }
}

mod dropout_backward {
    use super::*;

    #[test]
    fn is_the_tape_of_your_dropout() {
        course::graded!();
        let dev = device(0);
        let x: Tensor<Rank2<3, 8>, f64, Dev> = random(&dev, 12);
        let dy: Tensor<Rank2<3, 8>, f64, Dev> = random(&dev, 13);
        let y = ch06::dropout(x.leaky_trace(), 0.5, ch06::Mode::Train, &mut rng(14));
        let tape = (y * dy.clone()).sum().backward();
        let got = ch06::dropout_backward(&dy, 0.5, ch06::Mode::Train, &mut rng(14));
        course::check::assert_all_close_own(
            "dropout_backward (book section 6.10): rate 0.5 with the rng in the forward pass's state, against the tape of your dropout",
            &got.as_vec(),
            &tape.get(&x).as_vec(),
            Tolerance::F64,
        );
        course::check!(
            got.as_vec().iter().zip(dy.as_vec()).all(|(&g, d)| g == 0.0 || (g - 2.0 * d).abs() < 1e-12),
            "dropout_backward (book section 6.10): with rate 0.5 every entry is 0 or 2·dy"
        );
    }
}

mod overfit_tiny_set {
    use super::*;

    /// The two checks of section 6.9 on your network: an untrained loss near ln 10, and 20
    /// images learnt by heart in 100 Adam steps.
    #[test]
    fn your_network_passes_both_checks() {
        course::graded!();
        let train = datasets::fashion::train().expect("the shipped Fashion-MNIST subset");
        let (_, report) = ch06::overfit_tiny_set(&train, 100, 1e-2, 1);
        let context = format!("overfit_tiny_set (book section 6.9): 100 steps, η = 0.01, seed 1: {report:?}");
        course::check!(
            (report.initial_loss - 10f32.ln()).abs() < 0.5,
            "{context}: the untrained loss should be within 0.5 of ln 10"
        );
        course::check!(report.accuracy == 1.0, "{context}: the 20 images should all be classified right");
    }
}
