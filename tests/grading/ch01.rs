//! Hidden tests of chapter 1: vision tasks and tensors.

use crate::support::{labels, table, uniform, SEEDS};
use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::{device, Dev};
use dfdx::prelude::*;
use subject::ch01_vision_tasks as ch01;

mod top_k_error {
    use super::*;

    /// The top-k error by sorting each row, the other obvious way to compute it.
    fn by_sorting<const B: usize, const C: usize>(scores: &[f32], labels: &[usize; B], k: usize) -> f32 {
        let misses = (0..B)
            .filter(|&b| {
                let row = &scores[b * C..(b + 1) * C];
                let mut order: Vec<usize> = (0..C).collect();
                // Stable sort, best first, the label before equal scores (ties favour the sample).
                order.sort_by(|&i, &j| {
                    row[j].total_cmp(&row[i]).then((j == labels[b]).cmp(&(i == labels[b])))
                });
                !order[..k].contains(&labels[b])
            })
            .count();
        misses as f32 / B as f32
    }

    fn random_case<const B: usize, const C: usize>(seed: u64) {
        let dev = device(seed);
        let scores: Tensor<Rank2<B, C>, f32, Dev> = uniform(&dev, seed, 1.0);
        let labels = labels::<B, C>(seed);
        let mut previous = f32::INFINITY;
        for k in 1..=C {
            let got = ch01::top_k_error(&scores, &labels, k);
            let context = format!("top_k_error (book section 1.2): B = {B}, C = {C}, k = {k}, seed {seed}");
            assert_close(&context, got, by_sorting::<B, C>(&scores.as_vec(), &labels, k), Tolerance::F32);
            course::check!(got <= previous, "{context}: the error can only fall as k grows");
            previous = got;
        }
        course::check_eq!(
            previous,
            0.0,
            "top_k_error (book section 1.2): with k = C every label is among the top k"
        );
    }

    #[test]
    fn agrees_with_sorting_on_random_shapes_and_seeds() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 2>(seed);
            random_case::<7, 5>(seed);
            random_case::<32, 10>(seed);
            random_case::<5, 100>(seed);
        }
    }

    #[test]
    fn ties_count_in_the_samples_favour() {
        course::graded!();
        let dev = device(0);
        let scores = dev.tensor([[0.5f32, 0.5, 0.5], [0.2, 0.7, 0.7]]);
        assert_close(
            "top_k_error (book section 1.2): all scores equal",
            ch01::top_k_error(&scores, &[2, 2], 1),
            0.0,
            Tolerance::F32,
        );
        assert_close(
            "top_k_error (book section 1.2): label tied for first",
            ch01::top_k_error(&scores, &[1, 1], 1),
            0.0,
            Tolerance::F32,
        );
    }
}

mod one_hot {
    use super::*;

    fn random_case<const B: usize, const C: usize>(seed: u64) {
        let labels = labels::<B, C>(seed);
        let encoded: Tensor<Rank2<B, C>, f32, Dev> = ch01::one_hot(&device(seed), &labels);
        let mut want = vec![0.0f64; B * C];
        for (b, &l) in labels.iter().enumerate() {
            want[b * C + l] = 1.0;
        }
        assert_all_close(
            format!("one_hot (book section 1.3): B = {B}, C = {C}, labels {labels:?}"),
            &encoded.as_vec(),
            &want,
            Tolerance::F32,
        );
    }

    #[test]
    fn one_one_per_row_at_the_label_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1>(seed);
            random_case::<9, 3>(seed);
            random_case::<64, 10>(seed);
        }
    }

    #[test]
    fn a_label_out_of_range_is_a_clear_error() {
        course::graded!();
        let panic = std::panic::catch_unwind(|| {
            let _: Tensor<Rank2<2, 3>, f32, Dev> = ch01::one_hot(&device(0), &[0, 3]);
        })
        .expect_err("one_hot (book section 1.3): label 3 of 3 classes must panic");
        let message = panic.downcast_ref::<String>().map(String::as_str).unwrap_or_default();
        course::check!(
            message.contains("is not below the class count"),
            "one_hot (book section 1.3): the panic for label 3 of 3 classes should say it \"is not below the class count\", got {message:?}"
        );
    }
}

mod image_to_tensor {
    use super::*;
    use image::{Rgb, RgbImage};
    use rand::Rng;

    fn random_case<const H: usize, const W: usize>(seed: u64) {
        let mut rng = courselib::device::rng(seed);
        let image = RgbImage::from_fn(W as u32, H as u32, |_, _| Rgb(rng.gen()));
        let tensor: Tensor<Rank3<3, H, W>, f32, Dev> = ch01::image_to_tensor(&device(seed), &image)
            .unwrap_or_else(|e| {
                panic!("image_to_tensor (book section 1.4): a {W}x{H} image must fit (3, {H}, {W}): {e}")
            });
        let mut want = vec![0.0f64; 3 * H * W];
        for (x, y, p) in image.enumerate_pixels() {
            for c in 0..3 {
                want[(c * H + y as usize) * W + x as usize] = f64::from(p[c]) / 255.0;
            }
        }
        assert_all_close(
            format!("image_to_tensor (book section 1.4): random {W}x{H} image, seed {seed}"),
            &tensor.as_vec(),
            &want,
            Tolerance::F32,
        );
    }

    #[test]
    fn channel_major_and_scaled_on_random_images() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1>(seed);
            random_case::<5, 7>(seed);
            random_case::<16, 9>(seed);
        }
    }

    #[test]
    fn a_wrong_size_is_an_error_not_a_panic() {
        course::graded!();
        let image = RgbImage::new(4, 3);
        let result: Result<Tensor<Rank3<3, 4, 3>, f32, Dev>, _> = ch01::image_to_tensor(&device(0), &image);
        let error = result
            .expect_err("image_to_tensor (book section 1.4): a 4x3 image cannot fill (3, H = 4, W = 3)");
        course::check_eq!(
            error,
            ch01::ImageSizeError { expected: (3, 4), actual: (4, 3) },
            "image_to_tensor (book section 1.4): the error gives (width, height) of both"
        );
    }

    #[test]
    fn the_size_error_message_gives_both_sizes() {
        course::graded!();
        let image = RgbImage::new(5, 2);
        let result: Result<Tensor<Rank3<3, 4, 3>, f32, Dev>, _> = ch01::image_to_tensor(&device(0), &image);
        let error = result
            .expect_err("image_to_tensor (book section 1.4): a 5x2 image cannot fill (3, H = 4, W = 3)");
        let message = error.to_string();
        course::check!(
            message.contains("5x2") && message.contains("3x4"),
            "image_to_tensor (book section 1.4): the error message should give the image's 5x2 and the tensor's 3x4 (width x height), got {message:?}"
        );
    }

    #[test]
    fn the_astronaut_photo() {
        course::graded!();
        let photo = datasets::photos::load_rgb(datasets::photos::Photo::Astronaut)
            .expect("the astronaut photo loads");
        let tensor: Tensor<Rank3<3, 512, 512>, f32, Dev> = ch01::image_to_tensor(&device(0), &photo)
            .expect("image_to_tensor (book section 1.4): the photo is 512x512");
        let planes = tensor.as_vec();
        let p = photo.get_pixel(300, 100);
        let context = "image_to_tensor (book section 1.4): astronaut pixel (x 300, y 100)";
        for c in 0..3 {
            assert_close(
                context,
                planes[(c * 512 + 100) * 512 + 300],
                f64::from(p[c]) / 255.0,
                Tolerance::F32,
            );
        }
    }
}

mod channel_statistics {
    use super::*;

    fn random_case<const N: usize, const C: usize, const H: usize, const W: usize>(seed: u64) {
        let batch: Tensor<Rank4<N, C, H, W>, f32, Dev> = uniform(&device(seed), seed, 3.0);
        let values = batch.as_vec();
        let channel = |c: usize| (0..N).flat_map(move |n| (0..H * W).map(move |i| ((n * C + c) * H * W) + i));
        let mean: Vec<f64> = (0..C)
            .map(|c| channel(c).map(|i| f64::from(values[i])).sum::<f64>() / (N * H * W) as f64)
            .collect();
        let std: Vec<f64> = (0..C)
            .map(|c| {
                (channel(c).map(|i| (f64::from(values[i]) - mean[c]).powi(2)).sum::<f64>()
                    / (N * H * W) as f64)
                    .sqrt()
            })
            .collect();
        let (got_mean, got_std) = ch01::channel_statistics(&batch);
        let context =
            format!("channel_statistics (book section 1.5): shape ({N}, {C}, {H}, {W}), seed {seed}");
        assert_all_close(format!("{context}: mean"), &got_mean, &mean, Tolerance::F32);
        assert_all_close(format!("{context}: std (population)"), &got_std, &std, Tolerance::F32);
    }

    #[test]
    fn agrees_with_an_f64_reference_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1, 1, 2>(seed);
            random_case::<4, 3, 5, 6>(seed);
            random_case::<16, 2, 8, 8>(seed);
        }
    }

    #[test]
    fn digits_dataset_statistics_snapshot() {
        course::graded!();
        let set = datasets::digits::load().expect("the digits dataset loads");
        let (batch, _) = courselib::data::image_batch::<1024, 1, 8, 8, Dev>(
            &device(0),
            &set,
            &(0..1024).collect::<Vec<_>>(),
        );
        let (mean, std) = ch01::channel_statistics(&batch);
        course::snapshot!(
            "ch01_digits_statistics",
            format!("first 1024 digits, pixels in [0, 1]: mean {:.4}, std {:.4}", mean[0], std[0])
        );
    }
}

mod normalize {
    use super::*;

    fn random_case<const N: usize, const C: usize, const H: usize, const W: usize>(seed: u64) {
        let dev = device(seed);
        let batch: Tensor<Rank4<N, C, H, W>, f32, Dev> = uniform(&dev, seed, 3.0);
        let mut rng = courselib::device::rng(seed);
        use rand::Rng;
        let mean: [f32; C] = std::array::from_fn(|_| rng.gen_range(-1.0..1.0));
        let std: [f32; C] = std::array::from_fn(|_| rng.gen_range(0.1..2.0));
        let want: Vec<f64> = batch
            .as_vec()
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = (i / (H * W)) % C;
                (f64::from(v) - f64::from(mean[c])) / f64::from(std[c])
            })
            .collect();
        let got = ch01::normalize(batch, mean, std);
        assert_all_close(
            format!("normalize (book section 1.5): shape ({N}, {C}, {H}, {W}), seed {seed}"),
            &got.as_vec(),
            &want,
            Tolerance::F32,
        );
    }

    #[test]
    fn agrees_with_an_f64_reference_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1, 1, 1>(seed);
            random_case::<3, 4, 2, 5>(seed);
            random_case::<8, 3, 7, 7>(seed);
        }
    }

    #[test]
    fn first_digit_normalized_snapshot() {
        course::graded!();
        let set = datasets::digits::load().expect("the digits dataset loads");
        let (digit, _) = courselib::data::image_batch::<1, 1, 8, 8, Dev>(&device(0), &set, &[0]);
        let normalized = ch01::normalize(digit, [0.3], [0.4]);
        let pixels: Vec<f64> = normalized.as_vec().into_iter().map(f64::from).collect();
        course::snapshot!(
            "ch01_first_digit_normalized",
            format!("digit 0 (label {}), (x - 0.3) / 0.4:\n{}", set.label(0), table(&pixels, 8, 2))
        );
    }

    #[test]
    fn zero_mean_unit_std_per_channel_with_own_statistics() {
        course::graded!();
        let dev = device(5);
        let batch: Tensor<Rank4<6, 3, 4, 4>, f32, Dev> = uniform(&dev, 5, 10.0);
        let values = batch.as_vec();
        let stats: Vec<(f32, f32)> = (0..3)
            .map(|c| {
                let xs: Vec<f64> =
                    values.chunks(16).skip(c).step_by(3).flatten().map(|&v| f64::from(v)).collect();
                let m = xs.iter().sum::<f64>() / xs.len() as f64;
                let s = (xs.iter().map(|v| (v - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
                (m as f32, s as f32)
            })
            .collect();
        let normalized =
            ch01::normalize(batch, std::array::from_fn(|c| stats[c].0), std::array::from_fn(|c| stats[c].1));
        let out = normalized.as_vec();
        for c in 0..3 {
            let xs: Vec<f64> = out.chunks(16).skip(c).step_by(3).flatten().map(|&v| f64::from(v)).collect();
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|v| (v - m).powi(2)).sum::<f64>() / xs.len() as f64;
            assert_close(format!("normalize (book section 1.5): channel {c} mean"), m, 0.0, Tolerance::F32);
            assert_close(
                format!("normalize (book section 1.5): channel {c} variance"),
                var,
                1.0,
                Tolerance::F32,
            );
        }
    }
}

mod flatten {
    use super::*;

    fn random_case<const B: usize, const C: usize, const H: usize, const W: usize, const N: usize>(
        seed: u64,
    ) {
        let batch: Tensor<Rank4<B, C, H, W>, f32, Dev> = uniform(&device(seed), seed, 1.0);
        let want: Vec<f64> = batch.as_vec().into_iter().map(f64::from).collect();
        let rows: Tensor<Rank2<B, N>, f32, Dev> = ch01::flatten(batch.clone());
        let context = format!("flatten (book section 1.6): ({B}, {C}, {H}, {W}) -> ({B}, {N}), seed {seed}");
        assert_all_close(&context, &rows.as_vec(), &want, Tolerance::F32);
        let array = batch.array();
        let row_of_last = rows.array()[B - 1];
        course::check_eq!(
            row_of_last[N - 1],
            array[B - 1][C - 1][H - 1][W - 1],
            "{context}: the last row ends with the last pixel of the last channel"
        );
    }

    #[test]
    fn channel_major_rows_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1, 1, 1, 1>(seed);
            random_case::<2, 3, 4, 5, 60>(seed);
            random_case::<5, 1, 8, 8, 64>(seed);
        }
    }

    #[test]
    fn digits_flatten_to_64_values_in_row_order() {
        course::graded!();
        let set = datasets::digits::load().expect("the digits dataset loads");
        let dev = device(0);
        let (images, _) = courselib::data::image_batch::<4, 1, 8, 8, Dev>(&dev, &set, &[0, 1, 2, 3]);
        let (flat, _) = courselib::data::flat_batch::<4, 64, Dev>(&dev, &set, &[0, 1, 2, 3]);
        let rows: Tensor<Rank2<4, 64>, f32, Dev> = ch01::flatten(images);
        assert_all_close(
            "flatten (book section 1.6): digits 0..4",
            &rows.as_vec(),
            &flat.as_vec(),
            Tolerance::F32,
        );
    }
}
