//! Visible tests of chapter 6: convolutional networks.

use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::{device, rng, Dev};
use dfdx::prelude::*;
use image::{Rgb, RgbImage};
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
