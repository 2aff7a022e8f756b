//! Visible tests of chapter 1: vision tasks and tensors.

use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::{device, Dev};
use dfdx::prelude::*;
use subject::ch01_vision_tasks as ch01;

mod top_k_error {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        // Sample 0: label 2 has the 2nd highest score; sample 1: label 0 has the lowest.
        let scores = dev.tensor([[0.1f32, 0.5, 0.3, 0.1], [0.05, 0.4, 0.3, 0.25]]);
        let labels = [2, 0];
        let context = |k| format!("top_k_error (book section 1.2), k = {k}, scores {:?}", scores.array());
        assert_close(context(1), ch01::top_k_error(&scores, &labels, 1), 1.0, Tolerance::F32);
        assert_close(context(2), ch01::top_k_error(&scores, &labels, 2), 0.5, Tolerance::F32);
        assert_close(context(4), ch01::top_k_error(&scores, &labels, 4), 0.0, Tolerance::F32);
    }
}

mod one_hot {
    use super::*;

    #[test]
    fn three_labels_of_four_classes() {
        course::graded!();
        let dev = device(0);
        let encoded: Tensor<Rank2<3, 4>, f32, Dev> = ch01::one_hot(&dev, &[1, 3, 0]);
        let want = [0., 1., 0., 0., 0., 0., 0., 1., 1., 0., 0., 0.];
        assert_all_close(
            "one_hot (book section 1.3) of labels [1, 3, 0]",
            &encoded.as_vec(),
            &want,
            Tolerance::F32,
        );
    }
}

mod image_to_tensor {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn a_two_by_three_image_becomes_three_planes() {
        course::graded!();
        let dev = device(0);
        // 3 pixels wide, 2 high; pixel (x, y) = (10x + y, 100 + x, 255).
        let image = RgbImage::from_fn(3, 2, |x, y| Rgb([(10 * x + y) as u8, 100 + x as u8, 255]));
        let tensor: Tensor<Rank3<3, 2, 3>, f32, Dev> =
            ch01::image_to_tensor(&dev, &image).expect("a 3x2 image fits (3, H = 2, W = 3)");
        let want: Vec<f32> = [[0., 10., 20., 1., 11., 21.], [100., 101., 102., 100., 101., 102.], [255.; 6]]
            .concat()
            .iter()
            .map(|v| v / 255.0)
            .collect();
        assert_all_close(
            "image_to_tensor (book section 1.4): planes R, G, B",
            &tensor.as_vec(),
            &want,
            Tolerance::F32,
        );
    }
}

mod channel_statistics {
    use super::*;

    #[test]
    fn two_channels_of_a_batch_of_two() {
        course::graded!();
        let dev = device(0);
        // channel 0 holds 1..=8, channel 1 is constant 5.
        let batch =
            dev.tensor([[[[1.0f32, 2.], [3., 4.]], [[5.; 2]; 2]], [[[5., 6.], [7., 8.]], [[5.; 2]; 2]]]);
        let (mean, std) = ch01::channel_statistics(&batch);
        let context = "channel_statistics (book section 1.5)";
        assert_all_close(format!("{context}: mean"), &mean, &[4.5f64, 5.0], Tolerance::F32);
        assert_all_close(format!("{context}: population std"), &std, &[5.25f64.sqrt(), 0.0], Tolerance::F32);
    }
}

mod normalize {
    use super::*;

    #[test]
    fn each_channel_gets_its_own_mean_and_std() {
        course::graded!();
        let dev = device(0);
        let batch = dev.tensor([[[[1.0f32, 3.0]], [[10.0, 30.0]]]]);
        let normalized = ch01::normalize(batch, [2.0, 20.0], [1.0, 10.0]);
        assert_all_close(
            "normalize (book section 1.5) with mean [2, 20] and std [1, 10]",
            &normalized.as_vec(),
            &[-1.0f64, 1.0, -1.0, 1.0],
            Tolerance::F32,
        );
    }
}

mod flatten {
    use super::*;

    #[test]
    fn channels_one_after_the_other() {
        course::graded!();
        let dev = device(0);
        let batch = dev.tensor([[[[1.0f32, 2.], [3., 4.]], [[5., 6.], [7., 8.]]]]);
        let rows: Tensor<Rank2<1, 8>, f32, Dev> = ch01::flatten(batch);
        assert_all_close(
            "flatten (book section 1.6) of a (1, 2, 2, 2) batch",
            &rows.as_vec(),
            &[1.0f64, 2., 3., 4., 5., 6., 7., 8.],
            Tolerance::F32,
        );
    }
}
