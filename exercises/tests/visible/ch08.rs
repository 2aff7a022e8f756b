//! Visible tests of chapter 8: object detection.

use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::{device, Dev};
use dfdx::prelude::*;
use subject::ch08_detection::{self as ch08, Corners, Detection, Truth};

/// f32 arithmetic on a few small numbers: a handful of roundings.
const F32: Tolerance = Tolerance { abs: 1e-6, rel: 1e-6 };

/// Section 8.1's scene: two objects of class 0 and four detections.
fn book_truths() -> Vec<Truth> {
    vec![
        Truth { image: 0, class: 0, bbox: [0.0, 0.0, 10.0, 10.0] },
        Truth { image: 0, class: 0, bbox: [20.0, 20.0, 30.0, 30.0] },
    ]
}

fn book_detections() -> Vec<Detection> {
    vec![
        Detection { image: 0, class: 0, score: 0.9, bbox: [1.0, 1.0, 11.0, 11.0] },
        Detection { image: 0, class: 0, score: 0.8, bbox: [0.0, 0.0, 10.0, 10.0] },
        Detection { image: 0, class: 1, score: 0.7, bbox: [20.0, 20.0, 30.0, 30.0] },
        Detection { image: 0, class: 0, score: 0.6, bbox: [21.0, 21.0, 31.0, 31.0] },
    ]
}

mod iou {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        assert_close(
            "iou (book section 8.1): [0, 0, 4, 4] and [2, 2, 6, 6] overlap in 4 of 28 pixels",
            ch08::iou(&[0.0, 0.0, 4.0, 4.0], &[2.0, 2.0, 6.0, 6.0]),
            1.0 / 7.0,
            F32,
        );
        assert_close(
            "iou (book section 8.1): a box with itself",
            ch08::iou(&[1.0, 2.0, 5.0, 3.0], &[1.0, 2.0, 5.0, 3.0]),
            1.0,
            F32,
        );
        assert_close(
            "iou (book section 8.1): boxes that only touch",
            ch08::iou(&[0.0, 0.0, 2.0, 2.0], &[2.0, 0.0, 4.0, 2.0]),
            0.0,
            F32,
        );
    }
}

mod iou_matrix {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev: Dev = device(0);
        let a = dev.tensor([[0.0f32, 0.0, 4.0, 4.0], [0.0, 0.0, 2.0, 2.0]]);
        let b = dev.tensor([[2.0f32, 2.0, 6.0, 6.0], [0.0, 0.0, 4.0, 4.0], [10.0, 10.0, 12.0, 12.0]]);
        assert_all_close(
            "iou_matrix (book section 8.1): two boxes against three, row by row",
            &ch08::iou_matrix(&a, &b).as_vec(),
            &[1.0 / 7.0, 1.0, 0.0, 0.0, 0.25, 0.0],
            F32,
        );
    }
}

mod match_detections {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        course::check_eq!(
            ch08::match_detections(&book_detections(), &book_truths(), 0.5),
            vec![true, false, false, true],
            "match_detections (book section 8.1): IoU 0.68 hits; the second box on the same object, the wrong class and nothing else are misses"
        );
    }
}

mod precision_recall_f1 {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let (p, r, f1) = ch08::precision_recall_f1(&[true, false, false, true], 2);
        assert_all_close(
            "precision_recall_f1 (book section 8.1): 2 hits among 4 detections of 2 objects",
            &[p, r, f1],
            &[0.5, 1.0, 2.0 / 3.0],
            F32,
        );
    }
}

mod precision_recall_curve {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        // Given out of order: the curve follows the scores.
        let curve = ch08::precision_recall_curve(&[0.6, 0.9, 0.7, 0.8], &[true, true, false, false], 2);
        let flat: Vec<f32> = curve.iter().flat_map(|&(r, p)| [r, p]).collect();
        assert_all_close(
            "precision_recall_curve (book section 8.1): (recall, precision) after each of the scores 0.9, 0.8, 0.7, 0.6",
            &flat,
            &[0.5, 1.0, 0.5, 0.5, 0.5, 1.0 / 3.0, 1.0, 0.5],
            F32,
        );
    }
}

/// The curve of section 8.1's example.
fn book_curve() -> Vec<(f32, f32)> {
    vec![(0.5, 1.0), (0.5, 0.5), (0.5, 1.0 / 3.0), (1.0, 0.5)]
}

mod average_precision {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        assert_close(
            "average_precision (book section 8.1): 0.5 · 1 + 0.5 · 0.5",
            ch08::average_precision(&book_curve()),
            0.75,
            F32,
        );
    }
}

mod average_precision_101 {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        assert_close(
            "average_precision_101 (book section 8.1): 51 levels up to recall 0.5 at precision 1, 50 above at 0.5",
            ch08::average_precision_101(&book_curve()),
            76.0 / 101.0,
            F32,
        );
    }
}

mod mean_average_precision {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let mut truths = book_truths();
        truths.push(Truth { image: 0, class: 1, bbox: [20.0, 20.0, 30.0, 30.0] });
        let (map, per_class) = ch08::mean_average_precision(&book_detections(), &truths, 2, 0.5);
        assert_all_close(
            "mean_average_precision (book section 8.1): AP of class 0 (hits at 0.9 and 0.6) and class 1 (one exact box)",
            &per_class,
            &[0.5 + 0.5 * 2.0 / 3.0, 1.0],
            F32,
        );
        assert_close(
            "mean_average_precision (book section 8.1): the mean",
            map,
            (0.5 + 1.0 / 3.0 + 1.0) / 2.0,
            F32,
        );
    }
}

mod nms {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 1.0, 11.0, 11.0],
            [20.0, 20.0, 30.0, 30.0],
            [5.0, 0.0, 15.0, 10.0],
        ];
        course::check_eq!(
            ch08::nms(&boxes, &[0.9, 0.8, 0.7, 0.95], 0.5),
            vec![3, 0, 2],
            "nms (book section 8.2): box 1 overlaps box 0 with IoU 0.68 and goes; box 3 overlaps it with 0.33 and stays"
        );
    }
}

mod anchor_boxes {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let anchors = ch08::anchor_boxes(1, 2, 16.0, &[16.0], &[0.5, 1.0, 2.0]);
        // s / √r / 2 and s · √r / 2 for s = 16: 11.3137 and 5.6569 (r = 0.5), 8 (r = 1).
        let (long, short) = (8.0 * 2f32.sqrt(), 4.0 * 2f32.sqrt());
        let want = [
            [8.0 - long, 8.0 - short, 8.0 + long, 8.0 + short],
            [0.0, 0.0, 16.0, 16.0],
            [8.0 - short, 8.0 - long, 8.0 + short, 8.0 + long],
            [24.0 - long, 8.0 - short, 24.0 + long, 8.0 + short],
            [16.0, 0.0, 32.0, 16.0],
            [24.0 - short, 8.0 - long, 24.0 + short, 8.0 + long],
        ];
        course::check_eq!(
            anchors.len(),
            6,
            "anchor_boxes (book section 8.3): 1 x 2 cells, 1 scale, 3 ratios"
        );
        assert_all_close(
            "anchor_boxes (book section 8.3): cells row by row, ratios 0.5, 1, 2 (height over width) at scale 16, stride 16",
            &anchors.concat(),
            &want.concat(),
            F32,
        );
    }
}

mod label_anchors {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let anchors = [
            [0.0, 0.0, 16.0, 16.0],
            [4.0, 0.0, 20.0, 16.0],
            [8.0, 0.0, 24.0, 16.0],
            [32.0, 32.0, 48.0, 48.0],
            [36.0, 0.0, 52.0, 16.0],
        ];
        let objects = [[2.0, 0.0, 18.0, 16.0], [40.0, 0.0, 60.0, 12.0]];
        use ch08::AnchorLabel::{Ignored, Negative, Positive};
        course::check_eq!(
            ch08::label_anchors(&anchors, &objects, 0.7, 0.3),
            vec![
                Positive { object: 0 },
                Positive { object: 0 },
                Ignored,
                Negative,
                Positive { object: 1 }
            ],
            "label_anchors (book section 8.3): IoU 0.78 and 0.78 with object 0, 0.45, 0, and 0.41 but the best anchor of object 1"
        );
    }
}

mod encode_box {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        assert_all_close(
            "encode_box (book section 8.3): [4, 2, 28, 18] relative to the anchor [0, 0, 16, 16]",
            &ch08::encode_box(&[0.0, 0.0, 16.0, 16.0], &[4.0, 2.0, 28.0, 18.0]),
            &[0.5, 0.125, 1.5f64.ln(), 0.0],
            F32,
        );
    }
}

mod decode_box {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        assert_all_close(
            "decode_box (book section 8.3): the offsets (0.5, 0.125, ln 1.5, 0) on the anchor [0, 0, 16, 16]",
            &ch08::decode_box(&[0.0, 0.0, 16.0, 16.0], &[0.5, 0.125, 1.5f32.ln(), 0.0]),
            &[4.0, 2.0, 28.0, 18.0],
            Tolerance { abs: 1e-5, rel: 1e-6 },
        );
    }
}

mod sample_anchors {
    use super::*;
    use courselib::device::rng;

    #[test]
    fn half_positive_at_most_and_never_ignored() {
        course::graded!();
        use ch08::AnchorLabel::{Ignored, Negative, Positive};
        let mut labels = vec![Negative; 10];
        labels.extend([
            Positive { object: 0 },
            Ignored,
            Positive { object: 1 },
            Ignored,
            Positive { object: 0 },
        ]);
        let is_positive = |i: &usize| matches!(labels[*i], Positive { .. });
        let small = ch08::sample_anchors(&labels, 4, &mut rng(3));
        course::check_eq!(
            (small.len(), small.iter().filter(|i| is_positive(i)).count()),
            (4, 2),
            "sample_anchors (book section 8.3): a batch of 4 takes 2 of the 3 positives and 2 negatives"
        );
        let large = ch08::sample_anchors(&labels, 20, &mut rng(3));
        let mut sorted = large.clone();
        sorted.sort();
        course::check_eq!(
            sorted,
            vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14],
            "sample_anchors (book section 8.3): a batch of 20 takes all 3 positives and all 10 negatives, and no ignored anchor"
        );
        course::check!(
            large[..3].iter().all(is_positive),
            "sample_anchors (book section 8.3): the positives come first, got {large:?}"
        );
    }
}

mod smooth_l1 {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev: Dev = device(0);
        let x = dev.tensor([-3.0f32, -1.0, -0.5, 0.0, 0.5, 2.0]);
        assert_all_close(
            "smooth_l1 (book section 8.3): |x| − 0.5 outside (−1, 1), 0.5·x² inside",
            &ch08::smooth_l1(x).as_vec(),
            &[2.5, 0.5, 0.125, 0.0, 0.125, 1.5],
            F32,
        );
    }
}

mod rpn_loss {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        use ch08::AnchorLabel::{Ignored, Negative, Positive};
        let dev: Dev = device(0);
        let labels = [Positive { object: 0 }, Negative, Ignored, Negative];
        let objectness = dev.tensor([2.0f32, -1.0, 5.0, 0.0]);
        let offsets = dev.tensor([
            [0.5f32, 0.0, 0.0, 0.0],
            [1.0, 1.0, 1.0, 1.0],
            [1.0, 1.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 0.0],
        ]);
        let targets = dev.tensor([[0.0f32, 0.0, 0.0, 2.0], [0.0; 4], [0.0; 4], [0.0; 4]]);
        let loss = ch08::rpn_loss(objectness, offsets, &labels, &[0, 1, 3], &targets, 20, 10.0);
        // (ln(1 + e^−2) + ln(1 + e^−1) + ln 2) / 3 + 10 / 20 · (0.125 + 1.5)
        let classification = ((1.0 + (-2.0f64).exp()).ln() + (1.0 + (-1.0f64).exp()).ln() + 2f64.ln()) / 3.0;
        assert_close(
            "rpn_loss (book section 8.3): three sampled anchors, one positive with offsets off by (0.5, 0, 0, −2), 20 positions, λ = 10",
            loss.array(),
            classification + 0.5 * 1.625,
            F32,
        );
    }
}

mod roi_bin {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        // x from 2 to 30 input pixels, stride 4: cells round(0.5) = 1 to round(7.5) = 8, n = 7
        course::check_eq!(
            (ch08::roi_bin(2.0, 30.0, 4.0, 0, 2, 6), ch08::roi_bin(2.0, 30.0, 4.0, 1, 2, 6)),
            ((1, 5), (4, 6)),
            "roi_bin (book section 8.4): 7 cells from cell 1 in 2 bins: 1..5 and 4..8, the second cut to a map of 6 cells"
        );
    }
}

/// The 4x4 map of the book's examples (section 6.2's image), one channel.
fn example_map(dev: &Dev) -> Tensor<Rank3<1, 4, 4>, f32, Dev> {
    dev.tensor([[[1.0, 2.0, 3.0, 0.0], [0.0, 1.0, 2.0, 3.0], [3.0, 0.0, 1.0, 2.0], [2.0, 3.0, 0.0, 1.0]]])
}

mod roi_max_pool {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev: Dev = device(0);
        let pooled: Tensor<Rank3<1, 2, 2>, f32, Dev> =
            ch08::roi_max_pool(&example_map(&dev), &[0.0, 0.0, 12.0, 12.0], 4.0);
        assert_all_close(
            "roi_max_pool (book section 8.4): the box [0, 0, 12, 12] at stride 4 covers cells 0..3; 2x2 bins of rows and columns 0..2 and 1..3",
            &pooled.as_vec(),
            &[2.0, 3.0, 3.0, 2.0],
            F32,
        );
    }
}

mod roi_max_pool_backward {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev: Dev = device(0);
        let dy = dev.tensor([[[1.0f32, 2.0], [3.0, 4.0]]]);
        let grad = ch08::roi_max_pool_backward(&example_map(&dev), &[0.0, 0.0, 12.0, 12.0], 4.0, &dy);
        let mut want = [0.0; 16];
        // the bins' maxima: (0, 1), (0, 2), (2, 0) and (1, 2)
        for (cell, g) in [(1, 1.0), (2, 2.0), (8, 3.0), (6, 4.0)] {
            want[cell] = g;
        }
        assert_all_close(
            "roi_max_pool_backward (book section 8.4): each bin's gradient goes to its maximum",
            &grad.as_vec(),
            &want,
            F32,
        );
    }
}

mod image_gradients {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let step = ch08::image_gradients(&[0.0, 0.0, 100.0, 100.0], 4, 1);
        course::check_eq!(
            (step.magnitude.clone(), step.orientation.clone()),
            (vec![0.0, 100.0, 100.0, 0.0], vec![0.0; 4]),
            "image_gradients (book section 8.5): the row 0, 0, 100, 100: magnitude 100 at the edge, orientation 0°"
        );
        let falling = ch08::image_gradients(&[100.0, 100.0, 0.0, 0.0], 4, 1);
        course::check_eq!(
            falling.orientation,
            vec![0.0; 4],
            "image_gradients (book section 8.5): a light-to-dark edge has the same orientation (180° becomes 0°)"
        );
        let column = ch08::image_gradients(&[0.0, 0.0, 100.0, 100.0], 1, 4);
        course::check_eq!(
            column.orientation[1],
            90.0,
            "image_gradients (book section 8.5): the same edge along a column: 90°"
        );
        let diagonal = ch08::image_gradients(&[0.0, 1.0, 2.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0], 3, 3);
        assert_all_close(
            "image_gradients (book section 8.5): I = x + y at the centre: gx = gy = 2",
            &[diagonal.magnitude[4], diagonal.orientation[4]],
            &[8f64.sqrt(), 45.0],
            Tolerance { abs: 1e-4, rel: 1e-6 },
        );
    }
}

mod cell_histograms {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let mut magnitude = vec![0.0; 64];
        let mut orientation = vec![0.0; 64];
        (magnitude[0], orientation[0]) = (2.0, 25.0);
        (magnitude[1], orientation[1]) = (1.0, 5.0);
        let gradients = ch08::Gradients { width: 8, height: 8, magnitude, orientation };
        assert_all_close(
            "cell_histograms (book section 8.5): 2 at 25° (0.25 to 10°, 0.75 to 30°) and 1 at 5° (0.75 to 10°, 0.25 to 170°)",
            &ch08::cell_histograms(&gradients),
            &[1.25, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25],
            F32,
        );
    }
}

mod block_normalise {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let mut histograms = vec![0.0; 4 * 9];
        (histograms[0], histograms[27]) = (3.0, 4.0);
        let mut want = vec![0.0; 36];
        // (3, 4) / 5 = (0.6, 0.8), clipped to (0.2, 0.2), normalised again: 1/√2 each
        (want[0], want[27]) = (0.5f64.sqrt(), 0.5f64.sqrt());
        assert_all_close(
            "block_normalise (book section 8.5): one block of 2 x 2 cells with 3 and 4 in bin 0 of its first and last cell",
            &ch08::block_normalise(&histograms, 2, 2),
            &want,
            Tolerance { abs: 1e-5, rel: 1e-5 },
        );
    }
}

mod integral_image {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        course::check_eq!(
            ch08::integral_image(&[1.0, 2.0, 3.0, 4.0], 2, 2),
            vec![0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 0.0, 4.0, 10.0],
            "integral_image (book section 8.6): the 2x2 image 1 2 / 3 4"
        );
    }
}

mod box_sum {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let table = [0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 0.0, 4.0, 10.0];
        course::check_eq!(
            (
                ch08::box_sum(&table, 2, [1, 0, 2, 2]),
                ch08::box_sum(&table, 2, [0, 0, 2, 2]),
                ch08::box_sum(&table, 2, [1, 1, 1, 2])
            ),
            (6.0, 10.0, 0.0),
            "box_sum (book section 8.6): the right column 2 + 4, the whole image, an empty box"
        );
    }
}

mod edge_density {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        // a 12x12 magnitude image with the outline of the square [2, 2, 10, 10] set to 1
        let magnitude: Vec<f32> = (0..144)
            .map(|i| {
                let (x, y) = (i % 12, i / 12);
                let inside = (2..10).contains(&x) && (2..10).contains(&y);
                if inside && (x == 2 || x == 9 || y == 2 || y == 9) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let table = ch08::integral_image(&magnitude, 12, 12);
        assert_all_close(
            "edge_density (book section 8.6): the fitting window holds all 28 edge pixels in its inner band; shifted by 2, 14 inside and 10 outside",
            &[ch08::edge_density(&table, 12, 12, [2, 2, 10, 10]), ch08::edge_density(&table, 12, 12, [4, 2, 12, 10])],
            &[28.0 / 32.0, 4.0 / 32.0],
            F32,
        );
    }
}

mod recall_at_k {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let objects = [[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]];
        let proposals = [[30.0, 30.0, 40.0, 40.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0]];
        let recalls: Vec<f32> =
            [1, 2, 3, 10].iter().map(|&k| ch08::recall_at_k(&proposals, &objects, k, 0.5)).collect();
        course::check_eq!(
            recalls,
            vec![0.0, 0.5, 1.0, 1.0],
            "recall_at_k (book section 8.6): the first proposal misses, the second finds object 0 (IoU 0.68), the third object 1"
        );
    }
}

mod train_linear_svm {
    use super::*;
    use courselib::device::rng;
    use rand::Rng;

    fn four_points() -> (Vec<Vec<f32>>, Vec<bool>) {
        (
            vec![vec![2.0, 2.0], vec![3.0, 1.0], vec![-2.0, -1.0], vec![-1.0, -3.0]],
            vec![true, true, false, false],
        )
    }

    #[test]
    fn the_first_step_and_four_points() {
        course::graded!();
        let (x, positive) = four_points();
        // Step 1: w = 0, so every margin is 0 < 1; η = 1/λ = 10 and the shrink factor is 0.
        let i = rng(0).gen_range(0..4);
        let y = if positive[i] { 1.0 } else { -1.0 };
        let svm = ch08::train_linear_svm(&x, &positive, 0.1, 1, &mut rng(0));
        assert_all_close(
            format!(
                "train_linear_svm (book section 8.7): after one step on sample {i}: w = 10·y·x, b = 10·y"
            ),
            &[svm.weights[0], svm.weights[1], svm.bias],
            &[10.0 * y * f64::from(x[i][0]), 10.0 * y * f64::from(x[i][1]), 10.0 * y],
            Tolerance { abs: 1e-12, rel: 1e-12 },
        );
        let svm = ch08::train_linear_svm(&x, &positive, 0.1, 500, &mut rng(0));
        let signs: Vec<bool> = x.iter().map(|p| svm.score(p) > 0.0).collect();
        course::check_eq!(
            signs,
            positive,
            "train_linear_svm (book section 8.7): 500 steps separate the four points"
        );
    }
}

mod match_default_boxes {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let defaults = [
            [0.0, 0.0, 10.0, 10.0],
            [10.0, 0.0, 20.0, 10.0],
            [5.0, 0.0, 15.0, 10.0],
            [30.0, 30.0, 40.0, 40.0],
        ];
        let objects = [(2, [0.0, 0.0, 12.0, 10.0]), (0, [26.0, 26.0, 36.0, 36.0])];
        let targets = ch08::match_default_boxes(&defaults, &objects);
        course::check_eq!(
            targets.classes,
            vec![3, 0, 0, 1],
            "match_default_boxes (book section 8.8): box 0 overlaps the triangle by 0.83, boxes 1 and 2 by 0.1 and 0.47, and box 3 is the circle's best box (IoU 0.22)"
        );
        let context = "match_default_boxes (book section 8.8): the offsets of the matched boxes, divided by SSD_VARIANCES";
        let flat: Vec<f32> = targets.offsets.iter().flatten().copied().collect();
        let want =
            [1.0, 0.0, 1.2f32.ln() / 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -4.0, -4.0, 0.0, 0.0];
        assert_all_close(context, &flat, &want, F32);
    }
}

mod hard_negatives {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let losses = [0.5, 2.0, 9.0, 3.0, 0.5, 1.0];
        let classes = [0, 0, 2, 0, 0, 0];
        course::check_eq!(
            ch08::hard_negatives(&losses, &classes, 3),
            vec![3, 1, 5],
            "hard_negatives (book section 8.8): one positive, ratio 3: the three background boxes of largest loss, the positive's 9.0 left out"
        );
        course::check_eq!(
            ch08::hard_negatives(&losses, &classes, 4),
            vec![3, 1, 5, 0],
            "hard_negatives (book section 8.8): ratio 4: boxes 0 and 4 tie at 0.5, the lower index first"
        );
        course::check_eq!(
            ch08::hard_negatives(&losses, &classes, 10),
            vec![3, 1, 5, 0, 4],
            "hard_negatives (book section 8.8): ratio 10 asks for more negatives than there are: all five"
        );
    }
}

mod ssd_loss {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev: Dev = device(0);
        let mut targets = ch08::SsdTargets {
            classes: vec![0; ch08::SSD_DEFAULTS],
            offsets: vec![[0.0; 4]; ch08::SSD_DEFAULTS],
        };
        targets.classes[7] = 2;
        targets.offsets[7] = [1.0, 0.0, 0.5, 0.0];
        let output = ch08::SsdOutput::<1, Dev, NoneTape> { classes: dev.zeros(), offsets: dev.zeros() };
        let loss = ch08::ssd_loss(output, &[&targets], 3).array();
        assert_close(
            "ssd_loss (book section 8.8): uniform logits and zero offsets, one positive box with targets (1, 0, 0.5, 0): (4·ln 4 + 0.5 + 0.125) / 1",
            loss,
            4.0 * 4f32.ln() + 0.625,
            Tolerance { abs: 1e-5, rel: 1e-5 },
        );
    }
}

mod ssd_detections {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let defaults = [[0.0, 0.0, 10.0, 10.0], [2.0, 0.0, 12.0, 10.0]];
        let logits = [0.0, 3f32.ln(), 0.0, 0.0, 0.0, 2f32.ln(), 0.0, 0.0];
        let offsets = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let context = "ssd_detections (book section 8.8): two boxes, scores from 0.3";
        let kept = ch08::ssd_detections(&logits, &offsets, &defaults, 5, 0.3, 0.45);
        course::check_eq!(
            kept.len(),
            1,
            "{context}, NMS at 0.45: the circle at 0.4 overlaps the one at 0.5 by 7/13"
        );
        course::check_eq!((kept[0].image, kept[0].class), (5, 0), "{context}: a circle (logit 1) in image 5");
        assert_close(context, kept[0].score, 0.5, F32);
        assert_all_close(context, &kept[0].bbox, &[0.0, 0.0, 10.0, 10.0], F32);
        let both = ch08::ssd_detections(&logits, &offsets, &defaults, 5, 0.3, 0.6);
        course::check_eq!(both.len(), 2, "{context}, NMS at 0.6: both circles stay");
        assert_close(context, both[1].score, 0.4, F32);
        assert_all_close(
            "ssd_detections (book section 8.8): t_x = 1 moves the second box by 0.1 of its width",
            &both[1].bbox,
            &[3.0, 0.0, 13.0, 10.0],
            F32,
        );
    }
}

mod head_rows {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev: Dev = device(0);
        // Two default boxes of two values per cell on a 1x2 map: channel c at column j holds 10c + j.
        let map = dev.tensor([[[[0.0f32, 1.0]], [[10.0, 11.0]], [[20.0, 21.0]], [[30.0, 31.0]]]]);
        let rows = ch08::head_rows::<1, 4, 1, 2, 2, Dev, NoneTape>(map);
        course::check_eq!(rows.shape().1, 4, "head_rows (book section 8.8): 1·2 cells with 2 boxes each");
        assert_all_close(
            "head_rows (book section 8.8): the rows (0, 10), (20, 30) of the first cell, then (1, 11), (21, 31)",
            &rows.as_vec(),
            &[0.0, 10.0, 20.0, 30.0, 1.0, 11.0, 21.0, 31.0],
            F32,
        );
    }
}

mod train_ssd {
    use super::*;

    #[test]
    fn the_loss_falls_on_128_scenes() {
        course::graded!();
        let scenes = datasets::shapes::generate_many(&ch08::detection_scenes(), 8_300, 128);
        let config = ch08::SsdConfig { epochs: 4, ..Default::default() };
        let mut epochs = Vec::new();
        let (_, losses) = ch08::train_ssd(&scenes, &config, |epoch, _| epochs.push(epoch));
        course::check_eq!(
            epochs,
            vec![1, 2, 3, 4],
            "train_ssd (book section 8.8): after_epoch after each of 4 epochs"
        );
        course::check_eq!(
            losses.len(),
            16,
            "train_ssd (book section 8.8): one loss per batch of 32, 4 per epoch"
        );
        let last_epoch = losses[12..].iter().sum::<f32>() / 4.0;
        course::check!(
            last_epoch < 0.85 * losses[0],
            "train_ssd (book section 8.8): the loss should fall, from {} on the first batch to a mean of {} in the last epoch",
            losses[0],
            last_epoch
        );
    }
}

mod pyramid_windows {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let windows = ch08::pyramid_windows(10, 8, &[4, 8, 12], 3);
        let want: Vec<Corners> = vec![
            [0.0, 0.0, 4.0, 4.0],
            [3.0, 0.0, 7.0, 4.0],
            [6.0, 0.0, 10.0, 4.0],
            [0.0, 3.0, 4.0, 7.0],
            [3.0, 3.0, 7.0, 7.0],
            [6.0, 3.0, 10.0, 7.0],
            [0.0, 0.0, 8.0, 8.0],
        ];
        course::check_eq!(
            windows,
            want,
            "pyramid_windows (book section 8.7): a 10 x 8 image, sides 4, 8 and 12, stride 3: six windows of side 4 row by row, one of side 8, none of side 12"
        );
    }
}

mod detect_windows {
    use super::*;

    #[test]
    fn constant_svms_find_the_inner_boxes() {
        course::graded!();
        let scene = datasets::shapes::generate(&ch08::detection_scenes(), 1);
        // SVMs without weights: the square's bias 2 wins everywhere
        let features = ch08::window_hog(&scene, (32.0, 32.0), 24.0).len();
        let svms: Vec<ch08::LinearSvm> = [0.0, 2.0, 0.0, -1.0]
            .iter()
            .map(|&bias| ch08::LinearSvm { weights: vec![0.0; features], bias })
            .collect();
        let windows = ch08::pyramid_windows(64, 64, &[24], 20);
        let found = ch08::detect_windows(&scene, 4, &svms, &windows, 1.5, 0.45);
        let context =
            "detect_windows (book section 8.7): 9 windows of side 24, every one a square with score 2";
        course::check_eq!(
            found.len(),
            9,
            "{context}: the inner boxes (side 24 / 1.25 = 19.2) do not overlap, NMS keeps all"
        );
        for d in &found {
            course::check_eq!((d.image, d.class), (4, 1), "{context}: image 4, class 1 (square)");
            assert_close(context, d.score, 2.0, F32);
            let (x, y, w, h) = ch08::centre_size(&d.bbox);
            course::check!(
                [12.0, 32.0, 52.0].contains(&x)
                    && [12.0, 32.0, 52.0].contains(&y)
                    && (w - 19.2).abs() < 1e-4
                    && (h - 19.2).abs() < 1e-4,
                "{context}: each box is its window shrunk by CONTEXT about the window's centre, got {:?}",
                d.bbox
            );
        }
        course::check!(
            ch08::detect_windows(&scene, 4, &svms, &windows, 2.5, 0.45).is_empty(),
            "{context}: no window scores at least 2.5"
        );
    }
}
