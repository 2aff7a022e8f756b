//! Hidden tests of chapter 8: object detection. IoU against pixel counting and f64
//! formulas; matching, curves, both APs and mAP against brute-force versions of their
//! definitions written here on random detections (with tied scores); NMS against a
//! brute-force reference and its defining properties.

use crate::support::{table, SEEDS};
use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::{device, rng, Dev};
use dfdx::prelude::*;
use rand::Rng;
use subject::ch08_detection::{self as ch08, Corners, Detection, Truth};

/// f32 sums of up to a few hundred terms in [0, 1].
const F32: Tolerance = Tolerance { abs: 1e-5, rel: 1e-5 };

/// IoU in f64, from the definition.
fn iou64(a: &Corners, b: &Corners) -> f64 {
    let [a0, a1, a2, a3] = a.map(f64::from);
    let [b0, b1, b2, b3] = b.map(f64::from);
    let area = |x0: f64, y0: f64, x1: f64, y1: f64| (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let inter = area(a0.max(b0), a1.max(b1), a2.min(b2), a3.min(b3));
    let union = area(a0, a1, a2, a3) + area(b0, b1, b2, b3) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// A random box with corners in `[0, extent)` and sides of at least `min_side`.
fn random_box(r: &mut impl Rng, extent: f32, min_side: f32) -> Corners {
    let (x, y) = (r.gen_range(0.0..extent), r.gen_range(0.0..extent));
    [x, y, x + r.gen_range(min_side..extent / 2.0), y + r.gen_range(min_side..extent / 2.0)]
}

/// A random set: 2 images, 2 classes, 3-8 objects, detections near objects (some
/// duplicates, some with the wrong class) and anywhere; scores from a small set, so that
/// ties occur.
fn random_problem(seed: u64) -> (Vec<Detection>, Vec<Truth>) {
    let mut r = rng(seed + 80);
    let truths: Vec<Truth> = (0..r.gen_range(3..9))
        .map(|_| Truth {
            image: r.gen_range(0..2),
            class: r.gen_range(0..2),
            bbox: random_box(&mut r, 40.0, 3.0),
        })
        .collect();
    let mut detections = Vec::new();
    for _ in 0..r.gen_range(10..30) {
        let score = f32::from(r.gen_range(1u8..10)) / 10.0;
        let detection = if r.gen_bool(0.7) {
            let t = truths[r.gen_range(0..truths.len())];
            let mut bbox = t.bbox.map(|v| v + r.gen_range(-2.0..2.0));
            bbox[2] = bbox[2].max(bbox[0] + 0.5);
            bbox[3] = bbox[3].max(bbox[1] + 0.5);
            let class = if r.gen_bool(0.85) { t.class } else { 1 - t.class };
            Detection { image: t.image, class, score, bbox }
        } else {
            Detection {
                image: r.gen_range(0..2),
                class: r.gen_range(0..2),
                score,
                bbox: random_box(&mut r, 40.0, 1.0),
            }
        };
        detections.push(detection);
    }
    (detections, truths)
}

/// The detections' indices by priority: higher score first, the lower index first on ties.
fn priority(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    for i in 1..order.len() {
        // insertion sort on (−score, index): independent of the library's sort
        let mut k = i;
        while k > 0 && {
            let (a, b) = (order[k - 1], order[k]);
            scores[a] < scores[b] || (scores[a] == scores[b] && a > b)
        } {
            order.swap(k - 1, k);
            k -= 1;
        }
    }
    order
}

/// PASCAL VOC's matching, written from its definition.
fn reference_match(detections: &[Detection], truths: &[Truth], threshold: f32) -> Vec<bool> {
    let scores: Vec<f32> = detections.iter().map(|d| d.score).collect();
    let mut taken = vec![false; truths.len()];
    let mut hit = vec![false; detections.len()];
    for i in priority(&scores) {
        let d = detections[i];
        let candidates: Vec<usize> =
            (0..truths.len()).filter(|&j| truths[j].image == d.image && truths[j].class == d.class).collect();
        let best = candidates.iter().copied().reduce(|a, b| {
            if iou64(&d.bbox, &truths[b].bbox) > iou64(&d.bbox, &truths[a].bbox) {
                b
            } else {
                a
            }
        });
        if let Some(j) = best {
            if iou64(&d.bbox, &truths[j].bbox) >= f64::from(threshold) - 1e-7 && !taken[j] {
                taken[j] = true;
                hit[i] = true;
            }
        }
    }
    hit
}

fn reference_curve(scores: &[f32], hits: &[bool], n_truths: usize) -> Vec<(f64, f64)> {
    let order = priority(scores);
    (1..=order.len())
        .map(|k| {
            let tp = order[..k].iter().filter(|&&i| hits[i]).count() as f64;
            (tp / n_truths as f64, tp / k as f64)
        })
        .collect()
}

/// All-points AP as the integral of the interpolated precision over recall: over the
/// distinct recall levels, each level's width times the best precision at or above it.
fn reference_ap(curve: &[(f64, f64)]) -> f64 {
    let mut levels: Vec<f64> = curve.iter().map(|&(r, _)| r).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    let mut previous = 0.0;
    let mut area = 0.0;
    for level in levels {
        let best = curve.iter().filter(|&&(r, _)| r >= level).map(|&(_, p)| p).fold(0.0, f64::max);
        area += (level - previous) * best;
        previous = level;
    }
    area
}

fn flat(curve: &[(f32, f32)]) -> Vec<f64> {
    curve.iter().flat_map(|&(r, p)| [f64::from(r), f64::from(p)]).collect()
}

mod iou {
    use super::*;

    #[test]
    fn agrees_with_pixel_counting_on_integer_boxes() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed);
            for _ in 0..50 {
                let mut int_box = || {
                    let (x, y) = (r.gen_range(0..16u32), r.gen_range(0..16u32));
                    [x, y, x + r.gen_range(1..9), y + r.gen_range(1..9)]
                };
                let (a, b) = (int_box(), int_box());
                let inside =
                    |q: [u32; 4], x: u32, y: u32| (q[0]..q[2]).contains(&x) && (q[1]..q[3]).contains(&y);
                let (mut both, mut either) = (0, 0);
                for y in 0..30 {
                    for x in 0..30 {
                        both += usize::from(inside(a, x, y) && inside(b, x, y));
                        either += usize::from(inside(a, x, y) || inside(b, x, y));
                    }
                }
                let got = ch08::iou(&a.map(|v| v as f32), &b.map(|v| v as f32));
                assert_close(
                    format!("iou (book section 8.1): pixel boxes {a:?} and {b:?} (x_max, y_max exclusive), seed {seed}: shared pixels over covered pixels"),
                    f64::from(got),
                    both as f64 / either as f64,
                    F32,
                );
            }
        }
    }

    #[test]
    fn symmetric_bounded_and_exact_on_known_cases() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 1);
            for _ in 0..50 {
                let (a, b) = (random_box(&mut r, 20.0, 0.1), random_box(&mut r, 20.0, 0.1));
                let context = format!("iou (book section 8.1): {a:?} and {b:?}, seed {seed}");
                let (ab, ba) = (ch08::iou(&a, &b), ch08::iou(&b, &a));
                course::check_eq!(ab, ba, "{context}: IoU is symmetric");
                assert_close(format!("{context}: against f64"), f64::from(ab), iou64(&a, &b), F32);
                assert_close(format!("{context}: a box with itself"), f64::from(ch08::iou(&a, &a)), 1.0, F32);
                let far = [a[2] + 1.0, a[3] + 1.0, a[2] + 5.0, a[3] + 5.0];
                course::check_eq!(ch08::iou(&a, &far), 0.0, "{context}: a disjoint box gives 0");
            }
        }
        course::check_eq!(
            ch08::iou(&[1.0, 1.0, 1.0, 5.0], &[1.0, 1.0, 1.0, 5.0]),
            0.0,
            "iou (book section 8.1): two boxes without area give 0, not NaN"
        );
        assert_close(
            "iou (book section 8.1): a 2x2 box inside a 4x4 box",
            f64::from(ch08::iou(&[0.0, 0.0, 4.0, 4.0], &[1.0, 1.0, 3.0, 3.0])),
            0.25,
            F32,
        );
    }
}

mod iou_matrix {
    use super::*;

    fn against_loops<const N: usize, const M: usize>(seed: u64) {
        let dev: Dev = device(seed);
        let mut r = rng(seed + 2);
        let a: Vec<Corners> = (0..N).map(|_| random_box(&mut r, 30.0, 0.5)).collect();
        let b: Vec<Corners> = (0..M).map(|_| random_box(&mut r, 30.0, 0.5)).collect();
        let want: Vec<f64> = a.iter().flat_map(|x| b.iter().map(move |y| iou64(x, y))).collect();
        let ta =
            dev.tensor_from_vec(a.iter().flatten().copied().collect::<Vec<f32>>(), (Const::<N>, Const::<4>));
        let tb =
            dev.tensor_from_vec(b.iter().flatten().copied().collect::<Vec<f32>>(), (Const::<M>, Const::<4>));
        let got: Vec<f64> = ch08::iou_matrix(&ta, &tb).as_vec().into_iter().map(f64::from).collect();
        assert_all_close(
            format!("iou_matrix (book section 8.1): {N} x {M} random boxes in f32, seed {seed}"),
            &got,
            &want,
            F32,
        );
        let (ta, tb) = (ta.to_dtype::<f64>(), tb.to_dtype::<f64>());
        assert_all_close(
            format!("iou_matrix (book section 8.1): {N} x {M} random boxes in f64, seed {seed}"),
            &ch08::iou_matrix(&ta, &tb).as_vec(),
            &want,
            Tolerance { abs: 1e-12, rel: 1e-12 },
        );
    }

    #[test]
    fn agrees_with_loops_on_random_shapes() {
        course::graded!();
        against_loops::<1, 1>(SEEDS[0]);
        against_loops::<3, 5>(SEEDS[1]);
        against_loops::<7, 2>(SEEDS[2]);
        against_loops::<6, 6>(SEEDS[3]);
    }

    #[test]
    fn identical_sets_give_ones_on_the_diagonal() {
        course::graded!();
        let dev: Dev = device(0);
        let boxes = dev.tensor([[0.0f32, 0.0, 2.0, 2.0], [10.0, 10.0, 14.0, 12.0], [1.0, 1.0, 3.0, 3.0]]);
        assert_all_close(
            "iou_matrix (book section 8.1): three boxes against themselves",
            &ch08::iou_matrix(&boxes, &boxes).as_vec(),
            &[1.0, 0.0, 1.0 / 7.0, 0.0, 1.0, 0.0, 1.0 / 7.0, 0.0, 1.0],
            F32,
        );
    }
}

mod match_detections {
    use super::*;

    #[test]
    fn agrees_with_the_definition_on_random_detections() {
        course::graded!();
        for seed in SEEDS {
            let (detections, truths) = random_problem(seed);
            for threshold in [0.3, 0.5, 0.7] {
                course::check_eq!(
                    ch08::match_detections(&detections, &truths, threshold),
                    reference_match(&detections, &truths, threshold),
                    "match_detections (book section 8.1): {} detections, {} objects, IoU threshold {threshold}, seed {seed}",
                    detections.len(),
                    truths.len()
                );
            }
        }
    }

    #[test]
    fn threshold_ties_images_and_the_best_box() {
        course::graded!();
        let truth = |image, bbox| Truth { image, class: 0, bbox };
        let detection = |image, score, bbox| Detection { image, class: 0, score, bbox };
        // IoU exactly 0.5 counts.
        course::check_eq!(
            ch08::match_detections(
                &[detection(0, 0.5, [0.0, 0.0, 2.0, 1.0])],
                &[truth(0, [0.0, 0.0, 1.0, 1.0])],
                0.5
            ),
            vec![true],
            "match_detections (book section 8.1): an IoU of exactly the threshold (0.5) is a hit"
        );
        // The same box in another image is no hit.
        course::check_eq!(
            ch08::match_detections(
                &[detection(1, 0.5, [0.0, 0.0, 1.0, 1.0])],
                &[truth(0, [0.0, 0.0, 1.0, 1.0])],
                0.5
            ),
            vec![false],
            "match_detections (book section 8.1): a detection only matches objects of its own image"
        );
        // The best box is taken by the higher score; the lower one does not fall back to
        // its second-best box (VOC's rule).
        let truths = [truth(0, [0.0, 0.0, 10.0, 10.0]), truth(0, [2.0, 0.0, 12.0, 10.0])];
        let detections =
            [detection(0, 0.4, [0.0, 0.0, 10.0, 10.0]), detection(0, 0.9, [0.0, 0.0, 10.0, 10.0])];
        course::check_eq!(
            ch08::match_detections(&detections, &truths, 0.5),
            vec![false, true],
            "match_detections (book section 8.1): the higher score takes the box; the second detection of it is a false positive even though another object overlaps it by 0.67"
        );
    }
}

mod precision_recall_f1 {
    use super::*;

    #[test]
    fn agrees_with_the_formulas_on_random_flags() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 3);
            let flags: Vec<bool> = (0..r.gen_range(1..40)).map(|_| r.gen_bool(0.4)).collect();
            let hits = flags.iter().filter(|&&f| f).count();
            let n_truths = hits + r.gen_range(1..10);
            let (p, rc) = (hits as f64 / flags.len() as f64, hits as f64 / n_truths as f64);
            let f1 = if p + rc > 0.0 { 2.0 * p * rc / (p + rc) } else { 0.0 };
            let (gp, gr, gf) = ch08::precision_recall_f1(&flags, n_truths);
            assert_all_close(
                format!("precision_recall_f1 (book section 8.1): {hits} hits in {} detections, {n_truths} objects, seed {seed}", flags.len()),
                &[gp, gr, gf].map(f64::from),
                &[p, rc, f1],
                F32,
            );
        }
    }

    #[test]
    fn empty_denominators_give_zero() {
        course::graded!();
        course::check_eq!(
            ch08::precision_recall_f1(&[], 3),
            (0.0, 0.0, 0.0),
            "precision_recall_f1 (book section 8.1): no detections: all three are 0"
        );
        course::check_eq!(
            ch08::precision_recall_f1(&[false, false], 0),
            (0.0, 0.0, 0.0),
            "precision_recall_f1 (book section 8.1): no objects and only misses: all three are 0"
        );
        let (p, r, f1) = ch08::precision_recall_f1(&[true, false, false, false], 1);
        assert_all_close(
            "precision_recall_f1 (book section 8.1): 1 hit of 4 detections, 1 object",
            &[p, r, f1].map(f64::from),
            &[0.25, 1.0, 0.4],
            F32,
        );
    }
}

mod precision_recall_curve {
    use super::*;

    #[test]
    fn agrees_with_the_definition_on_random_scores_with_ties() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 4);
            let n = r.gen_range(1..50);
            let scores: Vec<f32> = (0..n).map(|_| f32::from(r.gen_range(0u8..8)) / 8.0).collect();
            let hits: Vec<bool> = (0..n).map(|_| r.gen_bool(0.5)).collect();
            let n_truths = hits.iter().filter(|&&h| h).count() + r.gen_range(1..5);
            let want: Vec<f64> =
                reference_curve(&scores, &hits, n_truths).into_iter().flat_map(|(a, b)| [a, b]).collect();
            assert_all_close(
                format!("precision_recall_curve (book section 8.1): {n} detections with tied scores, {n_truths} objects, seed {seed}: (recall, precision) pairs"),
                &flat(&ch08::precision_recall_curve(&scores, &hits, n_truths)),
                &want,
                F32,
            );
        }
    }

    #[test]
    fn snapshot_of_a_fixed_ranking() {
        course::graded!();
        let scores = [0.95, 0.9, 0.9, 0.7, 0.6, 0.5, 0.5, 0.3, 0.2, 0.1];
        let hits = [true, false, true, true, false, true, false, false, true, false];
        let curve = ch08::precision_recall_curve(&scores, &hits, 6);
        let text = format!(
            "10 detections of 6 objects; columns: recall, precision\n{}\nAP all points {:.6}, AP 101 points {:.6}",
            table(&flat(&curve), 2, 6),
            ch08::average_precision(&curve),
            ch08::average_precision_101(&curve)
        );
        course::snapshot!("ch08_precision_recall_curve", text);
    }
}

mod average_precision {
    use super::*;

    #[test]
    fn agrees_with_the_integral_on_random_curves() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 5);
            let n = r.gen_range(1..60);
            let scores: Vec<f32> = (0..n).map(|_| r.gen_range(0.0..1.0)).collect();
            let hits: Vec<bool> = (0..n).map(|_| r.gen_bool(0.4)).collect();
            let n_truths = hits.iter().filter(|&&h| h).count() + r.gen_range(0..4);
            let n_truths = n_truths.max(1);
            let curve = ch08::precision_recall_curve(&scores, &hits, n_truths);
            let as64: Vec<(f64, f64)> = curve.iter().map(|&(a, b)| (f64::from(a), f64::from(b))).collect();
            assert_close(
                format!("average_precision (book section 8.1): {n} detections, {n_truths} objects, seed {seed}: area under the interpolated curve"),
                f64::from(ch08::average_precision(&curve)),
                reference_ap(&as64),
                F32,
            );
        }
    }

    #[test]
    fn perfect_empty_and_late_detectors() {
        course::graded!();
        course::check_eq!(
            ch08::average_precision(&[]),
            0.0,
            "average_precision (book section 8.1): an empty curve"
        );
        assert_close(
            "average_precision (book section 8.1): every object found before any miss",
            f64::from(ch08::average_precision(&[(0.5, 1.0), (1.0, 1.0), (1.0, 2.0 / 3.0)])),
            1.0,
            F32,
        );
        // Misses first: hits at ranks 3 and 4 of 2 objects give precisions 1/3 and 1/2;
        // the envelope lifts the first to 1/2.
        assert_close(
            "average_precision (book section 8.1): two misses, then both objects",
            f64::from(ch08::average_precision(&[(0.0, 0.0), (0.0, 0.0), (0.5, 1.0 / 3.0), (1.0, 0.5)])),
            0.5,
            F32,
        );
    }
}

mod average_precision_101 {
    use super::*;

    fn reference_101(curve: &[(f32, f32)]) -> f64 {
        (0..=100)
            .map(|t| {
                let level = t as f32 / 100.0;
                curve.iter().filter(|&&(r, _)| r >= level).map(|&(_, p)| f64::from(p)).fold(0.0, f64::max)
            })
            .sum::<f64>()
            / 101.0
    }

    #[test]
    fn agrees_with_the_definition_on_random_curves() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 6);
            let n = r.gen_range(1..60);
            let scores: Vec<f32> = (0..n).map(|_| r.gen_range(0.0..1.0)).collect();
            let hits: Vec<bool> = (0..n).map(|_| r.gen_bool(0.4)).collect();
            let n_truths = (hits.iter().filter(|&&h| h).count() + r.gen_range(0..4)).max(1);
            let curve = ch08::precision_recall_curve(&scores, &hits, n_truths);
            assert_close(
                format!("average_precision_101 (book section 8.1): {n} detections, {n_truths} objects, seed {seed}"),
                f64::from(ch08::average_precision_101(&curve)),
                reference_101(&curve),
                F32,
            );
        }
    }

    #[test]
    fn recall_levels_not_reached_count_zero() {
        course::graded!();
        // One hit of three objects: levels 0, 0.01, ..., 0.33 reach precision 1.
        assert_close(
            "average_precision_101 (book section 8.1): one correct detection of 3 objects: 34 of the 101 levels",
            f64::from(ch08::average_precision_101(&[(1.0 / 3.0, 1.0)])),
            34.0 / 101.0,
            F32,
        );
        course::check_eq!(
            ch08::average_precision_101(&[]),
            0.0,
            "average_precision_101 (book section 8.1): an empty curve"
        );
    }
}

mod mean_average_precision {
    use super::*;

    #[test]
    fn agrees_with_the_definition_on_random_detections() {
        course::graded!();
        for seed in SEEDS {
            let (detections, mut truths) = random_problem(seed);
            // every class needs an object
            truths.push(Truth { image: 0, class: 0, bbox: [50.0, 50.0, 60.0, 60.0] });
            truths.push(Truth { image: 1, class: 1, bbox: [50.0, 50.0, 60.0, 60.0] });
            let want: Vec<f64> = (0..2)
                .map(|class| {
                    let ours: Vec<Detection> =
                        detections.iter().filter(|d| d.class == class).copied().collect();
                    let objects: Vec<Truth> = truths.iter().filter(|t| t.class == class).copied().collect();
                    let hits = reference_match(&ours, &objects, 0.5);
                    let scores: Vec<f32> = ours.iter().map(|d| d.score).collect();
                    reference_ap(&reference_curve(&scores, &hits, objects.len()))
                })
                .collect();
            let (map, per_class) = ch08::mean_average_precision(&detections, &truths, 2, 0.5);
            let context =
                format!("mean_average_precision (book section 8.1): random detections, seed {seed}");
            assert_all_close(
                format!("{context}: AP per class"),
                &per_class.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
                &want,
                F32,
            );
            assert_close(format!("{context}: the mean"), f64::from(map), (want[0] + want[1]) / 2.0, F32);
        }
    }

    #[test]
    fn a_class_without_detections_has_ap_zero() {
        course::graded!();
        let truths = [
            Truth { image: 0, class: 0, bbox: [0.0, 0.0, 4.0, 4.0] },
            Truth { image: 0, class: 1, bbox: [5.0, 5.0, 9.0, 9.0] },
            Truth { image: 0, class: 2, bbox: [0.0, 5.0, 4.0, 9.0] },
        ];
        let detections = [Detection { image: 0, class: 0, score: 0.5, bbox: [0.0, 0.0, 4.0, 4.0] }];
        let (map, per_class) = ch08::mean_average_precision(&detections, &truths, 3, 0.5);
        course::check_eq!(
            per_class,
            vec![1.0, 0.0, 0.0],
            "mean_average_precision (book section 8.1): one class found perfectly, two not at all"
        );
        assert_close(
            "mean_average_precision (book section 8.1): the mean over three classes",
            f64::from(map),
            1.0 / 3.0,
            F32,
        );
    }
}

mod nms {
    use super::*;

    /// Greedy NMS written as "repeatedly take the best remaining box".
    fn reference_nms(boxes: &[Corners], scores: &[f32], threshold: f32) -> Vec<usize> {
        let mut remaining: Vec<usize> = (0..boxes.len()).collect();
        let mut kept = Vec::new();
        while !remaining.is_empty() {
            let best =
                remaining.iter().copied().reduce(|a, b| if scores[b] > scores[a] { b } else { a }).unwrap();
            kept.push(best);
            remaining.retain(|&j| j != best && iou64(&boxes[best], &boxes[j]) <= f64::from(threshold));
        }
        kept
    }

    /// Clusters of boxes around a few centres, as a detector's raw output looks.
    fn clustered_boxes(seed: u64, n: usize) -> (Vec<Corners>, Vec<f32>) {
        let mut r = rng(seed + 7);
        let centres: Vec<(f32, f32)> =
            (0..4).map(|_| (r.gen_range(5.0..45.0), r.gen_range(5.0..45.0))).collect();
        (0..n)
            .map(|_| {
                let (cx, cy) = centres[r.gen_range(0..centres.len())];
                let (x, y) = (cx + r.gen_range(-3.0..3.0), cy + r.gen_range(-3.0..3.0));
                let (w, h) = (r.gen_range(4.0..12.0), r.gen_range(4.0..12.0));
                ([x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0], f32::from(r.gen_range(0u8..20)) / 20.0)
            })
            .unzip()
    }

    #[test]
    fn agrees_with_a_brute_force_reference() {
        course::graded!();
        for seed in SEEDS {
            for (n, threshold) in [(1, 0.5), (30, 0.3), (80, 0.5), (120, 0.7)] {
                let (boxes, scores) = clustered_boxes(seed, n);
                course::check_eq!(
                    ch08::nms(&boxes, &scores, threshold),
                    reference_nms(&boxes, &scores, threshold),
                    "nms (book section 8.2): {n} clustered boxes with tied scores, IoU threshold {threshold}, seed {seed}"
                );
            }
        }
    }

    #[test]
    fn the_kept_boxes_have_the_defining_properties() {
        course::graded!();
        for seed in SEEDS {
            let (boxes, scores) = clustered_boxes(seed + 10, 100);
            let kept = ch08::nms(&boxes, &scores, 0.4);
            let context = format!("nms (book section 8.2): 100 clustered boxes, threshold 0.4, seed {seed}");
            let mut seen = vec![false; boxes.len()];
            for &i in &kept {
                course::check!(
                    i < boxes.len() && !seen[i],
                    "{context}: kept indices must be distinct box indices, got {kept:?}"
                );
                seen[i] = true;
            }
            course::check!(
                kept.windows(2).all(|w| scores[w[0]] >= scores[w[1]]),
                "{context}: the kept boxes come from the highest score down"
            );
            for (a, &i) in kept.iter().enumerate() {
                for &j in &kept[a + 1..] {
                    course::check!(
                        iou64(&boxes[i], &boxes[j]) <= 0.4 + 1e-6,
                        "{context}: kept boxes {i} and {j} overlap with IoU {:.3} > 0.4",
                        iou64(&boxes[i], &boxes[j])
                    );
                }
            }
            for j in (0..boxes.len()).filter(|&j| !seen[j]) {
                course::check!(
                    kept.iter().any(|&i| scores[i] >= scores[j] && iou64(&boxes[i], &boxes[j]) > 0.4 - 1e-6),
                    "{context}: box {j} was dropped although no kept box with a score at least its own overlaps it by more than 0.4"
                );
            }
        }
    }
}
