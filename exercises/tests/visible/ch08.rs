//! Visible tests of chapter 8: object detection.

use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::{device, Dev};
use dfdx::prelude::*;
use subject::ch08_detection::{self as ch08, Detection, Truth};

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
