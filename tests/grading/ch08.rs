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

/// All-points AP per class from the definitions above: what the bars of the trained
/// detectors are measured with, out of the learner's reach.
fn reference_aps(detections: &[Detection], truths: &[Truth], classes: usize, threshold: f32) -> Vec<f64> {
    (0..classes)
        .map(|class| {
            let ours: Vec<Detection> = detections.iter().filter(|d| d.class == class).copied().collect();
            let objects: Vec<Truth> = truths.iter().filter(|t| t.class == class).copied().collect();
            let hits = reference_match(&ours, &objects, threshold);
            let scores: Vec<f32> = ours.iter().map(|d| d.score).collect();
            reference_ap(&reference_curve(&scores, &hits, objects.len()))
        })
        .collect()
}

/// mAP from [`reference_aps`], with the APs per class.
fn reference_map(
    detections: &[Detection],
    truths: &[Truth],
    classes: usize,
    threshold: f32,
) -> (f64, Vec<f64>) {
    let aps = reference_aps(detections, truths, classes, threshold);
    (aps.iter().sum::<f64>() / classes as f64, aps)
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
            let want = reference_aps(&detections, &truths, 2, 0.5);
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

mod nms {
    use super::*;

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

mod anchor_boxes {
    use super::*;

    #[test]
    fn agrees_with_the_definition_on_random_grids() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 40);
            let (rows, columns, stride) = (r.gen_range(1..6), r.gen_range(1..6), r.gen_range(4.0..32.0f32));
            let scales: Vec<f32> = (0..r.gen_range(1..4)).map(|_| r.gen_range(4.0..64.0)).collect();
            let ratios: Vec<f32> = (0..r.gen_range(1..4)).map(|_| r.gen_range(0.25..4.0)).collect();
            let mut want = Vec::new();
            for i in 0..rows {
                for j in 0..columns {
                    for &s in &scales {
                        for &q in &ratios {
                            let (cx, cy) =
                                ((j as f64 + 0.5) * f64::from(stride), (i as f64 + 0.5) * f64::from(stride));
                            let (w, h) =
                                (f64::from(s) / f64::from(q).sqrt(), f64::from(s) * f64::from(q).sqrt());
                            want.extend([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]);
                        }
                    }
                }
            }
            let got = ch08::anchor_boxes(rows, columns, stride, &scales, &ratios);
            assert_all_close(
                format!(
                    "anchor_boxes (book section 8.3): {rows} x {columns} cells, stride {stride:.2}, scales {scales:?}, ratios {ratios:?}, seed {seed}: corners in the order cell, scale, ratio"
                ),
                &got.concat().into_iter().map(f64::from).collect::<Vec<_>>(),
                &want,
                Tolerance { abs: 1e-4, rel: 1e-5 },
            );
        }
    }

    #[test]
    fn faster_rcnn_has_nine_anchors_per_position() {
        course::graded!();
        let anchors = ch08::anchor_boxes(40, 60, 16.0, &[128.0, 256.0, 512.0], &[0.5, 1.0, 2.0]);
        course::check_eq!(
            anchors.len(),
            21_600,
            "anchor_boxes (book section 8.3): a 40 x 60 map with 3 scales x 3 ratios"
        );
        let last = anchors[21_599];
        let (x, y, w, h) = ch08::centre_size(&last);
        assert_all_close(
            "anchor_boxes (book section 8.3): the last anchor: cell (39, 59), scale 512, ratio 2",
            &[x, y, w * h, h / w],
            &[59.5 * 16.0, 39.5 * 16.0, 512.0 * 512.0, 2.0],
            Tolerance { abs: 1e-3, rel: 1e-5 },
        );
    }
}

/// Faster R-CNN's labels, written from the paper's rules.
fn reference_labels(anchors: &[Corners], objects: &[Corners], high: f32, low: f32) -> Vec<ch08::AnchorLabel> {
    use ch08::AnchorLabel::{Ignored, Negative, Positive};
    let table: Vec<Vec<f64>> =
        anchors.iter().map(|a| objects.iter().map(|o| iou64(a, o)).collect()).collect();
    let best_anchor_iou: Vec<f64> =
        (0..objects.len()).map(|k| table.iter().map(|row| row[k]).fold(0.0, f64::max)).collect();
    table
        .iter()
        .map(|row| {
            if objects.is_empty() {
                return Negative;
            }
            let mut object = 0;
            for k in 1..row.len() {
                if row[k] > row[object] {
                    object = k;
                }
            }
            let is_best =
                (0..objects.len()).any(|k| best_anchor_iou[k] > 0.0 && row[k] == best_anchor_iou[k]);
            if row[object] > f64::from(high) || is_best {
                Positive { object }
            } else if row[object] < f64::from(low) {
                Negative
            } else {
                Ignored
            }
        })
        .collect()
}

mod label_anchors {
    use super::*;

    #[test]
    fn agrees_with_the_rules_on_random_scenes() {
        course::graded!();
        let anchors = ch08::anchor_boxes(8, 8, 8.0, &[12.0, 20.0, 32.0], &[0.5, 1.0, 2.0]);
        for seed in SEEDS {
            let mut r = rng(seed + 50);
            // integer boxes, so that IoUs are exact in f32 and f64 alike up to rounding
            let objects: Vec<Corners> = (0..r.gen_range(0..5))
                .map(|_| {
                    let (x, y) = (f32::from(r.gen_range(0u8..50)), f32::from(r.gen_range(0u8..50)));
                    [x, y, x + f32::from(r.gen_range(6u8..25)), y + f32::from(r.gen_range(6u8..25))]
                })
                .collect();
            for (high, low) in [(0.7, 0.3), (0.5, 0.4)] {
                course::check_eq!(
                    ch08::label_anchors(&anchors, &objects, high, low),
                    reference_labels(&anchors, &objects, high, low),
                    "label_anchors (book section 8.3): 576 anchors of an 8 x 8 map, {} objects {objects:?}, thresholds {high} / {low}, seed {seed}",
                    objects.len()
                );
            }
        }
    }

    #[test]
    fn ties_unreachable_objects_and_empty_scenes() {
        course::graded!();
        use ch08::AnchorLabel::{Negative, Positive};
        // Two anchors overlap the object equally (IoU 1/3): both are its best.
        let anchors = [[0.0, 0.0, 10.0, 10.0], [10.0, 0.0, 20.0, 10.0], [40.0, 40.0, 50.0, 50.0]];
        course::check_eq!(
            ch08::label_anchors(&anchors, &[[5.0, 0.0, 15.0, 10.0]], 0.7, 0.3),
            vec![Positive { object: 0 }, Positive { object: 0 }, Negative],
            "label_anchors (book section 8.3): both anchors that tie for an object's largest IoU are positive"
        );
        course::check_eq!(
            ch08::label_anchors(&anchors, &[[100.0, 100.0, 110.0, 110.0]], 0.7, 0.3),
            vec![Negative; 3],
            "label_anchors (book section 8.3): an object no anchor touches makes no anchor positive"
        );
        course::check_eq!(
            ch08::label_anchors(&anchors, &[], 0.7, 0.3),
            vec![Negative; 3],
            "label_anchors (book section 8.3): without objects every anchor is negative"
        );
    }
}

mod encode_box {
    use super::*;

    #[test]
    fn agrees_with_the_formula_on_random_boxes() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 60);
            for _ in 0..20 {
                let (anchor, target) = (random_box(&mut r, 50.0, 2.0), random_box(&mut r, 50.0, 2.0));
                let [a0, a1, a2, a3] = anchor.map(f64::from);
                let [b0, b1, b2, b3] = target.map(f64::from);
                let (aw, ah, w, h) = (a2 - a0, a3 - a1, b2 - b0, b3 - b1);
                let want = [
                    ((b0 + b2) / 2.0 - (a0 + a2) / 2.0) / aw,
                    ((b1 + b3) / 2.0 - (a1 + a3) / 2.0) / ah,
                    (w / aw).ln(),
                    (h / ah).ln(),
                ];
                assert_all_close(
                    format!("encode_box (book section 8.3): {target:?} relative to {anchor:?}, seed {seed}"),
                    &ch08::encode_box(&anchor, &target),
                    &want,
                    Tolerance { abs: 1e-5, rel: 1e-4 },
                );
            }
        }
    }

    #[test]
    fn an_anchor_relative_to_itself_is_zero() {
        course::graded!();
        course::check_eq!(
            ch08::encode_box(&[3.0, 5.0, 19.0, 13.0], &[3.0, 5.0, 19.0, 13.0]),
            [0.0; 4],
            "encode_box (book section 8.3): a box that is its anchor needs no correction"
        );
        assert_all_close(
            "encode_box (book section 8.3): a box twice as wide and half as high, same centre",
            &ch08::encode_box(&[0.0, 0.0, 8.0, 8.0], &[-4.0, 2.0, 12.0, 6.0]),
            &[0.0, 0.0, 2f64.ln(), 0.5f64.ln()],
            F32,
        );
    }
}

mod decode_box {
    use super::*;

    #[test]
    fn undoes_encode_box_on_random_boxes() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 70);
            for _ in 0..20 {
                let (anchor, target) = (random_box(&mut r, 50.0, 2.0), random_box(&mut r, 50.0, 2.0));
                // the offsets by the formula in f64, so that this test does not rest on encode_box
                let (ax, ay, aw, ah) = ch08::centre_size(&anchor);
                let (x, y, w, h) = ch08::centre_size(&target);
                let offsets = [(x - ax) / aw, (y - ay) / ah, (w / aw).ln(), (h / ah).ln()];
                assert_all_close(
                    format!("decode_box (book section 8.3): the offsets of {target:?} on {anchor:?}, seed {seed}, give the box back"),
                    &ch08::decode_box(&anchor, &offsets),
                    &target,
                    Tolerance { abs: 1e-4, rel: 1e-5 },
                );
            }
        }
    }

    #[test]
    fn zero_offsets_give_the_anchor_and_log_offsets_scale() {
        course::graded!();
        let anchor = [2.0, 4.0, 10.0, 20.0];
        assert_all_close(
            "decode_box (book section 8.3): zero offsets",
            &ch08::decode_box(&anchor, &[0.0; 4]),
            &anchor,
            F32,
        );
        assert_all_close(
            "decode_box (book section 8.3): t_w = ln 2 doubles the width about the same centre, t_x = 1 moves by one anchor width",
            &ch08::decode_box(&anchor, &[1.0, 0.0, 2f32.ln(), 0.0]),
            &[6.0, 4.0, 22.0, 20.0],
            Tolerance { abs: 1e-5, rel: 1e-6 },
        );
    }
}

mod sample_anchors {
    use super::*;
    use rand::seq::SliceRandom;

    fn random_labels(seed: u64) -> Vec<ch08::AnchorLabel> {
        let mut r = rng(seed + 90);
        let positive_share = r.gen_range(0.0..0.6);
        (0..r.gen_range(50..400))
            .map(|_| match r.gen_range(0.0..1.0) {
                u if u < positive_share => ch08::AnchorLabel::Positive { object: 0 },
                u if u < positive_share + 0.2 => ch08::AnchorLabel::Ignored,
                _ => ch08::AnchorLabel::Negative,
            })
            .collect()
    }

    #[test]
    fn replays_the_prescribed_shuffles() {
        course::graded!();
        for seed in SEEDS {
            let labels = random_labels(seed);
            for batch in [16, 64, 256] {
                let mut draws = rng(seed);
                let mut positives: Vec<usize> = (0..labels.len())
                    .filter(|&i| matches!(labels[i], ch08::AnchorLabel::Positive { .. }))
                    .collect();
                let mut negatives: Vec<usize> =
                    (0..labels.len()).filter(|&i| labels[i] == ch08::AnchorLabel::Negative).collect();
                positives.shuffle(&mut draws);
                negatives.shuffle(&mut draws);
                positives.truncate(batch / 2);
                negatives.truncate(batch - positives.len());
                let want: Vec<usize> = positives.into_iter().chain(negatives).collect();
                course::check_eq!(
                    ch08::sample_anchors(&labels, batch, &mut rng(seed)),
                    want,
                    "sample_anchors (book section 8.3): {} anchors, batch {batch}, seed {seed}: positives shuffled first, then negatives",
                    labels.len()
                );
            }
        }
    }

    #[test]
    fn counts_on_random_labels() {
        course::graded!();
        for seed in SEEDS {
            let labels = random_labels(seed + 5);
            let positives = labels.iter().filter(|l| matches!(l, ch08::AnchorLabel::Positive { .. })).count();
            let negatives = labels.iter().filter(|l| **l == ch08::AnchorLabel::Negative).count();
            let chosen = ch08::sample_anchors(&labels, 256, &mut rng(seed));
            let taken_positive =
                chosen.iter().filter(|&&i| matches!(labels[i], ch08::AnchorLabel::Positive { .. })).count();
            let context = format!("sample_anchors (book section 8.3): {positives} positive and {negatives} negative anchors, batch 256, seed {seed}");
            course::check_eq!(taken_positive, positives.min(128), "{context}: positives taken");
            course::check_eq!(chosen.len(), (taken_positive + negatives).min(256), "{context}: batch size");
            let mut distinct = chosen.clone();
            distinct.sort();
            distinct.dedup();
            course::check_eq!(distinct.len(), chosen.len(), "{context}: no anchor twice");
            course::check!(
                chosen.iter().all(|&i| labels[i] != ch08::AnchorLabel::Ignored),
                "{context}: an ignored anchor was taken"
            );
        }
    }
}

mod smooth_l1 {
    use super::*;

    fn against_formula<S: ConstShape>(seed: u64) {
        let dev: Dev = device(seed);
        let x: Tensor<S, f64, Dev> = crate::support::uniform(&dev, seed, 3.0);
        let values = x.as_vec();
        let want: Vec<f64> =
            values.iter().map(|v| if v.abs() < 1.0 { 0.5 * v * v } else { v.abs() - 0.5 }).collect();
        let context = format!("smooth_l1 (book section 8.3): {} values in ±3, seed {seed}", values.len());
        let y = ch08::smooth_l1(x.leaky_trace());
        assert_all_close(
            format!("{context}: values"),
            &y.as_vec(),
            &want,
            Tolerance { abs: 1e-12, rel: 1e-12 },
        );
        let grads = y.sum().backward();
        let slope: Vec<f64> = values.iter().map(|v| v.clamp(-1.0, 1.0)).collect();
        assert_all_close(
            format!("{context}: the gradient is x inside (−1, 1) and ±1 outside"),
            &grads.get(&x).as_vec(),
            &slope,
            Tolerance { abs: 1e-12, rel: 1e-12 },
        );
    }

    #[test]
    fn agrees_with_the_formula_and_its_slope_on_random_shapes() {
        course::graded!();
        against_formula::<Rank1<7>>(SEEDS[0]);
        against_formula::<Rank2<5, 4>>(SEEDS[1]);
        against_formula::<Rank3<2, 3, 4>>(SEEDS[2]);
        against_formula::<Rank2<30, 4>>(SEEDS[3]);
    }

    #[test]
    fn both_pieces_meet_at_one() {
        course::graded!();
        let dev: Dev = device(0);
        assert_all_close(
            "smooth_l1 (book section 8.3): at ±1 both pieces give 0.5; at ±10, 9.5",
            &ch08::smooth_l1(dev.tensor([1.0f32, -1.0, 10.0, -10.0, 0.1])).as_vec(),
            &[0.5, 0.5, 9.5, 9.5, 0.005],
            F32,
        );
    }
}

mod rpn_loss {
    use super::*;

    /// A random problem of A anchors.
    struct RpnProblem<const A: usize> {
        labels: Vec<ch08::AnchorLabel>,
        /// Never empty.
        batch: Vec<usize>,
        objectness: Tensor<Rank1<A>, f32, Dev>,
        offsets: Tensor<Rank2<A, 4>, f32, Dev>,
        targets: Tensor<Rank2<A, 4>, f32, Dev>,
    }

    fn random_rpn<const A: usize>(seed: u64) -> RpnProblem<A> {
        let dev: Dev = device(seed);
        let mut r = rng(seed + 100);
        // anchor 0 is positive, so that the batch is never empty
        let labels: Vec<ch08::AnchorLabel> = (0..A)
            .map(|i| match if i == 0 { 0 } else { r.gen_range(0..3) } {
                0 => ch08::AnchorLabel::Positive { object: 0 },
                1 => ch08::AnchorLabel::Negative,
                _ => ch08::AnchorLabel::Ignored,
            })
            .collect();
        let batch: Vec<usize> = (0..A)
            .filter(|&i| labels[i] != ch08::AnchorLabel::Ignored && (i == 0 || r.gen_bool(0.7)))
            .collect();
        RpnProblem {
            labels,
            batch,
            objectness: crate::support::uniform(&dev, seed, 4.0),
            offsets: crate::support::uniform(&dev, seed + 1, 2.0),
            targets: crate::support::uniform(&dev, seed + 2, 2.0),
        }
    }

    fn against_reference<const A: usize>(seed: u64) {
        let RpnProblem { labels, batch, objectness, offsets, targets } = random_rpn::<A>(seed);
        let (s, o, t) = (objectness.as_vec(), offsets.as_vec(), targets.as_vec());
        let (positions, weight) = (A / 3 + 1, 10.0f32);
        let positive = |i: usize| matches!(labels[i], ch08::AnchorLabel::Positive { .. });
        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
        let mut want = 0.0;
        let mut grad_s = vec![0.0; A];
        let mut grad_o = vec![0.0; 4 * A];
        for &i in &batch {
            let (logit, y) = (f64::from(s[i]), if positive(i) { 1.0 } else { 0.0 });
            want += (logit.max(0.0) - logit * y + (1.0 + (-logit.abs()).exp()).ln()) / batch.len() as f64;
            grad_s[i] = (sigmoid(logit) - y) / batch.len() as f64;
            if positive(i) {
                for c in 0..4 {
                    let d = f64::from(o[4 * i + c]) - f64::from(t[4 * i + c]);
                    let l = if d.abs() < 1.0 { 0.5 * d * d } else { d.abs() - 0.5 };
                    want += f64::from(weight) / positions as f64 * l;
                    grad_o[4 * i + c] = f64::from(weight) / positions as f64 * d.clamp(-1.0, 1.0);
                }
            }
        }
        let context = format!(
            "rpn_loss (book section 8.3): {A} anchors, a batch of {}, {positions} positions, λ 10, seed {seed}",
            batch.len()
        );
        let loss = ch08::rpn_loss(
            objectness.leaky_trace(),
            offsets.leaky_trace(),
            &labels,
            &batch,
            &targets,
            positions,
            weight,
        );
        assert_close(format!("{context}: the loss"), f64::from(loss.array()), want, F32);
        let grads = loss.backward();
        assert_all_close(
            format!("{context}: the gradient of the objectness logits ((σ(s) − p*) / N_cls in the batch, 0 elsewhere)"),
            &grads.get(&objectness).as_vec(),
            &grad_s,
            F32,
        );
        assert_all_close(
            format!("{context}: the gradient of the offsets (λ / N_reg times the clipped error for positives in the batch, 0 elsewhere)"),
            &grads.get(&offsets).as_vec(),
            &grad_o,
            F32,
        );
    }

    #[test]
    fn agrees_with_the_formula_and_its_gradients_on_random_anchors() {
        course::graded!();
        against_reference::<5>(SEEDS[0]);
        against_reference::<12>(SEEDS[1]);
        against_reference::<30>(SEEDS[2]);
        against_reference::<64>(SEEDS[3]);
    }

    #[test]
    fn ignored_and_unsampled_anchors_do_not_count() {
        course::graded!();
        use ch08::AnchorLabel::{Ignored, Negative, Positive};
        let dev: Dev = device(0);
        let labels = [Positive { object: 0 }, Ignored, Negative, Positive { object: 1 }];
        // anchors 1 (ignored) and 3 (not in the batch) have huge logits and errors
        let objectness = dev.tensor([0.0f32, 50.0, 0.0, 50.0]);
        let offsets = dev.tensor([[0.0f32; 4], [9.0; 4], [9.0; 4], [9.0; 4]]);
        let loss = ch08::rpn_loss(objectness, offsets, &labels, &[0, 2], &dev.zeros(), 4, 1.0);
        assert_close(
            "rpn_loss (book section 8.3): only anchors 0 and 2 count, both at logit 0: ln 2; a negative's offsets are never regressed",
            loss.array(),
            2f64.ln(),
            F32,
        );
    }
}

/// [`ch08::roi_bin`] written with f64 floor and ceiling.
fn reference_bin(low: f32, high: f32, stride: f32, bin: usize, bins: usize, size: usize) -> (usize, usize) {
    let first = f64::from((low / stride).round());
    let n = (f64::from((high / stride).round()) - first).max(1.0);
    let start = first + (bin as f64 * n / bins as f64).floor();
    let end = first + ((bin + 1) as f64 * n / bins as f64).ceil();
    (start.clamp(0.0, size as f64) as usize, end.clamp(0.0, size as f64) as usize)
}

/// A random RoI on a map of `h x w` cells at stride 4: mostly inside, sometimes across the
/// border, from 1 to 12 cells wide.
fn random_roi(r: &mut impl Rng, h: usize, w: usize) -> Corners {
    let (x, y) = (r.gen_range(-8.0..(4 * w) as f32), r.gen_range(-8.0..(4 * h) as f32));
    [x, y, x + r.gen_range(1.0..48.0), y + r.gen_range(1.0..48.0)]
}

/// RoI max pooling in f64, from the definition.
fn reference_roi_pool(
    values: &[f64],
    (c, h, w): (usize, usize, usize),
    roi: &Corners,
    (oh, ow): (usize, usize),
) -> Vec<f64> {
    let mut out = Vec::with_capacity(c * oh * ow);
    for ch in 0..c {
        for p in 0..oh {
            let rows = reference_bin(roi[1], roi[3], 4.0, p, oh, h);
            for q in 0..ow {
                let cols = reference_bin(roi[0], roi[2], 4.0, q, ow, w);
                let bin = (rows.0..rows.1)
                    .flat_map(|i| (cols.0..cols.1).map(move |j| values[(ch * h + i) * w + j]));
                out.push(bin.fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v)))).unwrap_or(0.0));
            }
        }
    }
    out
}

mod roi_bin {
    use super::*;

    #[test]
    fn agrees_with_the_definition_on_random_boxes() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 110);
            for _ in 0..200 {
                let (low, length, stride) =
                    (r.gen_range(-20.0..60.0f32), r.gen_range(0.5..70.0f32), r.gen_range(1.0..16.0f32));
                let (bins, size) = (r.gen_range(1..8), r.gen_range(1..12));
                for bin in 0..bins {
                    course::check_eq!(
                        ch08::roi_bin(low, low + length, stride, bin, bins, size),
                        reference_bin(low, low + length, stride, bin, bins, size),
                        "roi_bin (book section 8.4): side [{low}, {}) at stride {stride}, bin {bin} of {bins}, map of {size} cells, seed {seed}",
                        low + length
                    );
                }
            }
        }
    }

    #[test]
    fn small_boxes_get_a_cell_and_outside_bins_are_empty() {
        course::graded!();
        course::check_eq!(
            ch08::roi_bin(9.0, 10.0, 8.0, 0, 2, 8),
            (1, 2),
            "roi_bin (book section 8.4): a box narrower than a cell still covers one cell (both bins pool it)"
        );
        let (start, end) = ch08::roi_bin(100.0, 140.0, 8.0, 1, 2, 8);
        course::check!(start >= end, "roi_bin (book section 8.4): a box beyond the map's 8 cells gives an empty bin, got {start}..{end}");
        course::check_eq!(
            (0..4).map(|b| ch08::roi_bin(0.0, 64.0, 8.0, b, 4, 8)).collect::<Vec<_>>(),
            vec![(0, 2), (2, 4), (4, 6), (6, 8)],
            "roi_bin (book section 8.4): 8 cells in 4 bins do not overlap"
        );
    }
}

mod roi_max_pool {
    use super::*;

    fn against_reference<const C: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        seed: u64,
    ) {
        let dev: Dev = device(seed);
        let features: Tensor<Rank3<C, H, W>, f64, Dev> = crate::support::uniform(&dev, seed, 1.0);
        let mut r = rng(seed + 120);
        for _ in 0..10 {
            let roi = random_roi(&mut r, H, W);
            let want = reference_roi_pool(&features.as_vec(), (C, H, W), &roi, (OH, OW));
            let got: Tensor<Rank3<C, OH, OW>, f64, Dev> = ch08::roi_max_pool(&features, &roi, 4.0);
            assert_all_close(
                format!("roi_max_pool (book section 8.4): a {C}x{H}x{W} map at stride 4, RoI {roi:?} pooled to {OH}x{OW}, seed {seed}"),
                &got.as_vec(),
                &want,
                Tolerance { abs: 0.0, rel: 0.0 },
            );
        }
    }

    #[test]
    fn agrees_with_the_definition_on_random_boxes_and_shapes() {
        course::graded!();
        against_reference::<1, 6, 6, 2, 2>(SEEDS[0]);
        against_reference::<3, 8, 5, 3, 3>(SEEDS[1]);
        against_reference::<2, 10, 10, 7, 7>(SEEDS[2]);
        against_reference::<4, 7, 9, 2, 4>(SEEDS[3]);
    }

    #[test]
    fn negative_maps_and_boxes_outside() {
        course::graded!();
        let dev: Dev = device(0);
        let map = dev.tensor([[[-5.0f32, -4.0, -3.0], [-2.0, -6.0, -7.0], [-8.0, -9.0, -1.0]]]);
        let whole: Tensor<Rank3<1, 1, 1>, f32, Dev> = ch08::roi_max_pool(&map, &[0.0, 0.0, 3.0, 3.0], 1.0);
        course::check_eq!(
            whole.as_vec(),
            vec![-1.0],
            "roi_max_pool (book section 8.4): the maximum of negative values is negative, not 0"
        );
        let outside: Tensor<Rank3<1, 2, 2>, f32, Dev> =
            ch08::roi_max_pool(&map, &[10.0, 10.0, 20.0, 20.0], 1.0);
        course::check_eq!(
            outside.as_vec(),
            vec![0.0; 4],
            "roi_max_pool (book section 8.4): bins outside the map give 0"
        );
    }
}

mod roi_max_pool_backward {
    use super::*;

    fn against_finite_differences<
        const C: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        seed: u64,
    ) {
        let dev: Dev = device(seed);
        // distinct values (no ties), so that the maximum of every bin is unique
        let features: Tensor<Rank3<C, H, W>, f64, Dev> = crate::support::uniform(&dev, seed, 1.0);
        let dy: Tensor<Rank3<C, OH, OW>, f64, Dev> = crate::support::uniform(&dev, seed + 1, 1.0);
        let mut r = rng(seed + 130);
        for _ in 0..5 {
            let roi = random_roi(&mut r, H, W);
            let dys = dy.as_vec();
            let loss = |values: &[f64]| {
                reference_roi_pool(values, (C, H, W), &roi, (OH, OW))
                    .iter()
                    .zip(&dys)
                    .map(|(y, d)| y * d)
                    .sum::<f64>()
            };
            let x = features.as_vec();
            let eps = 1e-6;
            let numeric: Vec<f64> = (0..x.len())
                .map(|k| {
                    let (mut up, mut down) = (x.clone(), x.clone());
                    up[k] += eps;
                    down[k] -= eps;
                    (loss(&up) - loss(&down)) / (2.0 * eps)
                })
                .collect();
            assert_all_close(
                format!("roi_max_pool_backward (book section 8.4): a {C}x{H}x{W} map, RoI {roi:?} to {OH}x{OW}, seed {seed}: against central differences"),
                &ch08::roi_max_pool_backward(&features, &roi, 4.0, &dy).as_vec(),
                &numeric,
                Tolerance { abs: 1e-6, rel: 1e-6 },
            );
        }
    }

    #[test]
    fn agrees_with_finite_differences_on_random_boxes_and_shapes() {
        course::graded!();
        against_finite_differences::<1, 6, 6, 2, 2>(SEEDS[0]);
        against_finite_differences::<2, 8, 5, 3, 3>(SEEDS[1]);
        against_finite_differences::<2, 10, 10, 7, 7>(SEEDS[2]);
        against_finite_differences::<3, 7, 9, 2, 4>(SEEDS[3]);
    }

    #[test]
    fn ties_take_the_first_and_overlaps_add_up() {
        course::graded!();
        let dev: Dev = device(0);
        // all equal: every bin's maximum is its first cell; 3 cells in 2 bins share cell 1
        let map = dev.tensor([[[1.0f32, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]);
        let dy = dev.tensor([[[1.0f32, 10.0], [100.0, 1000.0]]]);
        course::check_eq!(
            ch08::roi_max_pool_backward(&map, &[0.0, 0.0, 3.0, 3.0], 1.0, &dy).as_vec(),
            vec![1.0, 10.0, 0.0, 100.0, 1000.0, 0.0, 0.0, 0.0, 0.0],
            "roi_max_pool_backward (book section 8.4): on a tie the first cell of the bin (row by row) takes the gradient; the bins start at cells (0, 0), (0, 1), (1, 0), (1, 1)"
        );
    }
}

/// The distance of two orientations in [0, 180), around the circle.
fn angle_gap(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(180.0);
    d.min(180.0 - d)
}

/// A seeded random grey image with values in [0, 255).
fn random_grey(width: usize, height: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    (0..width * height).map(|_| r.gen_range(0.0..255.0)).collect()
}

mod image_gradients {
    use super::*;

    #[test]
    fn agrees_with_the_definition_on_random_images() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 140);
            let (width, height) = (r.gen_range(1..20), r.gen_range(1..20));
            let pixels = random_grey(width, height, seed);
            let got = ch08::image_gradients(&pixels, width, height);
            let context =
                format!("image_gradients (book section 8.5): a random {width}x{height} image, seed {seed}");
            let at = |x: i64, y: i64| {
                f64::from(
                    pixels[(y.clamp(0, height as i64 - 1) as usize) * width
                        + x.clamp(0, width as i64 - 1) as usize],
                )
            };
            let mut magnitude = Vec::new();
            for y in 0..height as i64 {
                for x in 0..width as i64 {
                    let (gx, gy) = (at(x + 1, y) - at(x - 1, y), at(x, y + 1) - at(x, y - 1));
                    magnitude.push(gx.hypot(gy));
                    let want = gy.atan2(gx).to_degrees().rem_euclid(180.0);
                    let o = f64::from(got.orientation[y as usize * width + x as usize]);
                    course::check!(
                        (0.0..180.0).contains(&o) && (gx.hypot(gy) < 1e-9 || angle_gap(o, want) < 1e-3),
                        "{context}: the orientation at ({x}, {y}) is {o}°, want {want:.4}° in [0, 180)"
                    );
                }
            }
            course::check_eq!((got.width, got.height), (width, height), "{context}: the size");
            assert_all_close(
                format!("{context}: magnitudes"),
                &got.magnitude,
                &magnitude,
                Tolerance { abs: 1e-3, rel: 1e-5 },
            );
        }
    }

    #[test]
    fn flat_images_have_no_gradient_and_negatives_the_same_orientation() {
        course::graded!();
        let flat = ch08::image_gradients(&[7.0; 12], 4, 3);
        course::check_eq!(
            flat.magnitude,
            vec![0.0; 12],
            "image_gradients (book section 8.5): a flat image has magnitude 0"
        );
        for seed in SEEDS {
            let pixels = random_grey(9, 7, seed + 3);
            let negative: Vec<f32> = pixels.iter().map(|v| 255.0 - v).collect();
            let (a, b) = (ch08::image_gradients(&pixels, 9, 7), ch08::image_gradients(&negative, 9, 7));
            course::check!(
                a.orientation.iter().zip(&b.orientation).all(|(&p, &q)| angle_gap(f64::from(p), f64::from(q)) < 1e-3),
                "image_gradients (book section 8.5): the negative of a random image (seed {seed}) must have the same unsigned orientations"
            );
            assert_all_close(
                format!("image_gradients (book section 8.5): the negative of a random image (seed {seed}) has the same magnitudes"),
                &b.magnitude,
                &a.magnitude,
                Tolerance { abs: 1e-3, rel: 1e-5 },
            );
        }
    }
}

/// HOG's cell histograms in f64, from the definition.
fn reference_histograms(g: &ch08::Gradients) -> Vec<f64> {
    let (cx, cy) = (g.width / 8, g.height / 8);
    let mut h = vec![0.0; cx * cy * 9];
    for y in 0..cy * 8 {
        for x in 0..cx * 8 {
            let (m, theta) =
                (f64::from(g.magnitude[y * g.width + x]), f64::from(g.orientation[y * g.width + x]));
            let p = theta / 20.0 - 0.5;
            let share = p - p.floor();
            let lower = (p.floor() as i64).rem_euclid(9) as usize;
            let cell = ((y / 8) * cx + x / 8) * 9;
            h[cell + lower] += m * (1.0 - share);
            h[cell + (lower + 1) % 9] += m * share;
        }
    }
    h
}

fn random_gradients(width: usize, height: usize, seed: u64) -> ch08::Gradients {
    let mut r = rng(seed);
    ch08::Gradients {
        width,
        height,
        magnitude: (0..width * height).map(|_| r.gen_range(0.0..100.0)).collect(),
        orientation: (0..width * height).map(|_| r.gen_range(0.0..180.0)).collect(),
    }
}

mod cell_histograms {
    use super::*;

    #[test]
    fn agrees_with_the_definition_on_random_gradients() {
        course::graded!();
        for (seed, (width, height)) in SEEDS.into_iter().zip([(8, 8), (16, 24), (21, 13), (40, 33)]) {
            let g = random_gradients(width, height, seed);
            assert_all_close(
                format!("cell_histograms (book section 8.5): random gradients on {width}x{height} pixels ({} x {} whole cells), seed {seed}", width / 8, height / 8),
                &ch08::cell_histograms(&g),
                &reference_histograms(&g),
                Tolerance { abs: 1e-3, rel: 1e-5 },
            );
        }
    }

    #[test]
    fn votes_add_up_to_the_magnitudes_and_bin_centres_take_all() {
        course::graded!();
        let g = random_gradients(20, 12, 9);
        let whole: f64 = (0..8)
            .flat_map(|y| (0..16).map(move |x| (x, y)))
            .map(|(x, y)| f64::from(g.magnitude[y * 20 + x]))
            .sum();
        let total: f64 = ch08::cell_histograms(&g).iter().map(|&v| f64::from(v)).sum();
        assert_close(
            "cell_histograms (book section 8.5): the votes of a 20x12 image's two whole cells add up to their pixels' magnitudes",
            total,
            whole,
            Tolerance { abs: 1e-2, rel: 1e-5 },
        );
        for bin in 0..9 {
            let centre = 10.0 + 20.0 * bin as f32;
            let g = ch08::Gradients {
                width: 8,
                height: 8,
                magnitude: vec![1.0; 64],
                orientation: vec![centre; 64],
            };
            let mut want = vec![0.0; 9];
            want[bin] = 64.0;
            assert_all_close(
                format!("cell_histograms (book section 8.5): 64 votes at the centre {centre}° of bin {bin}"),
                &ch08::cell_histograms(&g),
                &want,
                Tolerance { abs: 1e-4, rel: 1e-6 },
            );
        }
    }
}

mod block_normalise {
    use super::*;

    fn reference_blocks(h: &[f32], cx: usize, cy: usize) -> Vec<f64> {
        let normalised = |v: Vec<f64>| {
            let n = (v.iter().map(|a| a * a).sum::<f64>() + 1e-10).sqrt();
            v.into_iter().map(|a| a / n).collect::<Vec<f64>>()
        };
        let mut out = Vec::new();
        for by in 0..cy.saturating_sub(1) {
            for bx in 0..cx.saturating_sub(1) {
                let v: Vec<f64> = [(by, bx), (by, bx + 1), (by + 1, bx), (by + 1, bx + 1)]
                    .iter()
                    .flat_map(|&(y, x)| {
                        h[(y * cx + x) * 9..(y * cx + x + 1) * 9].iter().map(|&a| f64::from(a))
                    })
                    .collect();
                out.extend(normalised(normalised(v).into_iter().map(|a| a.min(0.2)).collect()));
            }
        }
        out
    }

    #[test]
    fn agrees_with_the_definition_on_random_histograms() {
        course::graded!();
        for (seed, (cx, cy)) in SEEDS.into_iter().zip([(2, 2), (3, 5), (6, 4), (1, 3)]) {
            let mut r = rng(seed + 150);
            let h: Vec<f32> = (0..cx * cy * 9)
                .map(|_| if r.gen_bool(0.3) { 0.0 } else { r.gen_range(0.0..50.0) })
                .collect();
            let got = ch08::block_normalise(&h, cx, cy);
            let context = format!(
                "block_normalise (book section 8.5): {cx} x {cy} cells of random histograms, seed {seed}"
            );
            course::check_eq!(
                got.len(),
                (cx.max(1) - 1) * (cy.max(1) - 1) * 36,
                "{context}: 36 values per block, one block per cell with a right and a lower neighbour"
            );
            assert_all_close(
                format!("{context}: L2-Hys"),
                &got,
                &reference_blocks(&h, cx, cy),
                Tolerance { abs: 1e-5, rel: 1e-4 },
            );
        }
    }

    #[test]
    fn contrast_does_not_matter_and_empty_blocks_stay_zero() {
        course::graded!();
        let mut r = rng(160);
        let h: Vec<f32> = (0..3 * 3 * 9).map(|_| r.gen_range(0.0..10.0)).collect();
        let brighter: Vec<f32> = h.iter().map(|v| 4.0 * v).collect();
        assert_all_close(
            "block_normalise (book section 8.5): four times the contrast gives the same descriptor",
            &ch08::block_normalise(&brighter, 3, 3),
            &ch08::block_normalise(&h, 3, 3).iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            Tolerance { abs: 1e-5, rel: 1e-4 },
        );
        course::check_eq!(
            ch08::block_normalise(&[0.0; 36], 2, 2),
            vec![0.0; 36],
            "block_normalise (book section 8.5): a block without gradients stays 0 (ε keeps it from 0/0)"
        );
    }
}

/// The sum of `values` (row by row, `width` wide) over `[x0, x1) x [y0, y1)`, in f64.
fn brute_sum(values: &[f32], width: usize, [x0, y0, x1, y1]: [usize; 4]) -> f64 {
    (y0..y1).flat_map(|y| (x0..x1).map(move |x| f64::from(values[y * width + x]))).sum()
}

/// A random window inside a `width x height` image, at least `min` wide and high.
fn random_window(r: &mut impl Rng, width: usize, height: usize, min: usize) -> [usize; 4] {
    let (w, h) = (r.gen_range(min..=width), r.gen_range(min..=height));
    let (x, y) = (r.gen_range(0..=width - w), r.gen_range(0..=height - h));
    [x, y, x + w, y + h]
}

mod integral_image {
    use super::*;

    #[test]
    fn agrees_with_sums_on_random_images() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 170);
            let (width, height) = (r.gen_range(1..15), r.gen_range(1..15));
            let values = random_grey(width, height, seed);
            let want: Vec<f64> = (0..=height)
                .flat_map(|y| (0..=width).map(move |x| (x, y)))
                .map(|(x, y)| brute_sum(&values, width, [0, 0, x, y]))
                .collect();
            assert_all_close(
                format!("integral_image (book section 8.6): a random {width}x{height} image, seed {seed}: (width + 1) x (height + 1) prefix sums"),
                &ch08::integral_image(&values, width, height),
                &want,
                Tolerance { abs: 1e-6, rel: 1e-12 },
            );
        }
    }

    #[test]
    fn large_images_keep_the_precision_of_f64() {
        course::graded!();
        // 256 x 256 pixels of 255.1: a sum of 1.67·10⁷, where f32 would lose the decimals
        let table = ch08::integral_image(&vec![255.1; 256 * 256], 256, 256);
        assert_close(
            "integral_image (book section 8.6): the total of 65,536 pixels of 255.1",
            table[257 * 257 - 1],
            65_536.0 * f64::from(255.1f32),
            Tolerance { abs: 1e-3, rel: 0.0 },
        );
    }
}

mod box_sum {
    use super::*;

    #[test]
    fn agrees_with_sums_on_random_boxes() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 180);
            let (width, height) = (r.gen_range(1..20), r.gen_range(1..20));
            let values = random_grey(width, height, seed + 1);
            // the table from the definition, so that this test does not rest on integral_image
            let table: Vec<f64> = (0..=height)
                .flat_map(|y| (0..=width).map(move |x| (x, y)))
                .map(|(x, y)| brute_sum(&values, width, [0, 0, x, y]))
                .collect();
            for _ in 0..30 {
                let window = random_window(&mut r, width, height, 1);
                assert_close(
                    format!("box_sum (book section 8.6): {window:?} in a random {width}x{height} image, seed {seed}"),
                    ch08::box_sum(&table, width, window),
                    brute_sum(&values, width, window),
                    Tolerance { abs: 1e-6, rel: 1e-12 },
                );
            }
        }
    }

    #[test]
    fn empty_and_whole_boxes() {
        course::graded!();
        let values = random_grey(5, 4, 7);
        let table: Vec<f64> = (0..=4)
            .flat_map(|y| (0..=5).map(move |x| (x, y)))
            .map(|(x, y)| brute_sum(&values, 5, [0, 0, x, y]))
            .collect();
        course::check_eq!(
            ch08::box_sum(&table, 5, [3, 1, 3, 4]),
            0.0,
            "box_sum (book section 8.6): a box of width 0 sums to 0"
        );
        course::check_eq!(
            ch08::box_sum(&table, 5, [4, 3, 2, 1]),
            0.0,
            "box_sum (book section 8.6): a box with its corners swapped is empty: 0"
        );
        assert_close(
            "box_sum (book section 8.6): the whole image",
            ch08::box_sum(&table, 5, [0, 0, 5, 4]),
            brute_sum(&values, 5, [0, 0, 5, 4]),
            Tolerance { abs: 1e-9, rel: 0.0 },
        );
    }
}

mod edge_density {
    use super::*;

    #[test]
    fn agrees_with_band_sums_on_random_windows() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 190);
            let (width, height) = (r.gen_range(8..30), r.gen_range(8..30));
            let magnitude = random_grey(width, height, seed + 2);
            let table: Vec<f64> = (0..=height)
                .flat_map(|y| (0..=width).map(move |x| (x, y)))
                .map(|(x, y)| brute_sum(&magnitude, width, [0, 0, x, y]))
                .collect();
            for _ in 0..30 {
                let window = random_window(&mut r, width, height, 5);
                let [x0, y0, x1, y1] = window;
                let (mut inner, mut outer) = (0.0, 0.0);
                for y in y0.saturating_sub(2)..(y1 + 2).min(height) {
                    for x in x0.saturating_sub(2)..(x1 + 2).min(width) {
                        let v = f64::from(magnitude[y * width + x]);
                        let in_window = (x0..x1).contains(&x) && (y0..y1).contains(&y);
                        let in_core = (x0 + 2..x1 - 2).contains(&x) && (y0 + 2..y1 - 2).contains(&y);
                        if in_window && !in_core {
                            inner += v;
                        } else if !in_window {
                            outer += v;
                        }
                    }
                }
                assert_close(
                    format!("edge_density (book section 8.6): window {window:?} in a random {width}x{height} magnitude image, seed {seed}"),
                    ch08::edge_density(&table, width, height, window),
                    (inner - outer) / (2 * (x1 - x0 + y1 - y0)) as f64,
                    Tolerance { abs: 1e-6, rel: 1e-9 },
                );
            }
        }
    }

    #[test]
    fn your_proposals_find_the_objects_of_shapes_scenes() {
        course::graded!();
        let config = ch08::detection_scenes();
        let scenes = datasets::shapes::generate_many(&config, 2026, 20);
        let (mut found, mut objects_seen) = (0.0, 0);
        for scene in &scenes {
            let grey: Vec<f32> = ch08::grey(&scene.image);
            let proposals: Vec<Corners> =
                ch08::edge_proposals(&grey, 64, 64).into_iter().map(|(b, _)| b).collect();
            let objects: Vec<Corners> = scene.objects.iter().map(|o| ch08::corners(&o.bbox)).collect();
            found += f64::from(ch08::recall_at_k(&proposals, &objects, 50, 0.5)) * objects.len() as f64;
            objects_seen += objects.len();
        }
        let recall = found / objects_seen as f64;
        course::check!(
            recall >= 0.9,
            "edge_density (book section 8.6): the given edge_proposals with your integral_image, box_sum and edge_density find {:.1} % of the {objects_seen} objects of 20 shapes scenes in their first 50 proposals; at least 90 % expected (the book's: 98.7 %)",
            100.0 * recall
        );
    }
}

mod recall_at_k {
    use super::*;

    #[test]
    fn agrees_with_the_definition_on_random_proposals() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 200);
            let objects: Vec<Corners> =
                (0..r.gen_range(1..6)).map(|_| random_box(&mut r, 40.0, 4.0)).collect();
            let proposals: Vec<Corners> =
                (0..r.gen_range(0..40)).map(|_| random_box(&mut r, 40.0, 4.0)).collect();
            for k in [0, 1, 5, 20, 100] {
                let first = &proposals[..k.min(proposals.len())];
                let found = objects.iter().filter(|o| first.iter().any(|p| iou64(p, o) >= 0.3)).count();
                assert_close(
                    format!("recall_at_k (book section 8.6): {} objects, {} proposals, k = {k}, IoU 0.3, seed {seed}", objects.len(), proposals.len()),
                    f64::from(ch08::recall_at_k(&proposals, &objects, k, 0.3)),
                    found as f64 / objects.len() as f64,
                    F32,
                );
            }
        }
    }

    #[test]
    fn no_objects_and_the_threshold() {
        course::graded!();
        course::check_eq!(
            ch08::recall_at_k(&[[0.0, 0.0, 1.0, 1.0]], &[], 10, 0.5),
            1.0,
            "recall_at_k (book section 8.6): nothing to find: recall 1"
        );
        course::check_eq!(
            ch08::recall_at_k(&[[0.0, 0.0, 2.0, 1.0]], &[[0.0, 0.0, 1.0, 1.0]], 1, 0.5),
            1.0,
            "recall_at_k (book section 8.6): an IoU of exactly the threshold (0.5) finds the object"
        );
    }
}

mod train_linear_svm {
    use super::*;

    /// The regularisation chosen on validation windows in section 8.7.
    const LAMBDA: f64 = 1e-3;
    /// The window classifier's bar: the book's reaches 100 % on its test windows.
    const BAR: f64 = 0.95;

    /// Pegasos from its definition.
    fn reference_svm(
        x: &[Vec<f32>],
        positive: &[bool],
        lambda: f64,
        steps: usize,
        seed: u64,
    ) -> (Vec<f64>, f64) {
        let mut draws = rng(seed);
        let (mut w, mut b) = (vec![0.0f64; x[0].len()], 0.0f64);
        for t in 1..=steps {
            let i = draws.gen_range(0..x.len());
            let y = if positive[i] { 1.0 } else { -1.0 };
            let eta = 1.0 / (lambda * t as f64);
            let margin = y * (w.iter().zip(&x[i]).map(|(a, &v)| a * f64::from(v)).sum::<f64>() + b);
            for a in w.iter_mut() {
                *a *= 1.0 - eta * lambda;
            }
            b *= 1.0 - eta * lambda;
            if margin < 1.0 {
                for (a, &v) in w.iter_mut().zip(&x[i]) {
                    *a += eta * y * f64::from(v);
                }
                b += eta * y;
            }
        }
        (w, b)
    }

    #[test]
    fn replays_pegasos_on_random_data() {
        course::graded!();
        for (seed, lambda) in SEEDS.into_iter().zip([0.01, 0.1, 1.0, 0.03]) {
            let mut r = rng(seed + 210);
            let (n, d, steps) = (r.gen_range(5..40), r.gen_range(2..10), r.gen_range(50..300));
            let x: Vec<Vec<f32>> = (0..n).map(|_| (0..d).map(|_| r.gen_range(-2.0..2.0)).collect()).collect();
            let positive: Vec<bool> = (0..n).map(|_| r.gen_bool(0.5)).collect();
            let svm = ch08::train_linear_svm(&x, &positive, lambda, steps, &mut rng(seed));
            let (w, b) = reference_svm(&x, &positive, lambda, steps, seed);
            let context = format!("train_linear_svm (book section 8.7): {n} random vectors of {d}, λ = {lambda}, {steps} steps, seed {seed}");
            assert_all_close(
                format!("{context}: weights"),
                &svm.weights,
                &w,
                Tolerance { abs: 1e-9, rel: 1e-9 },
            );
            assert_close(format!("{context}: bias"), svm.bias, b, Tolerance { abs: 1e-9, rel: 1e-9 });
        }
    }

    #[test]
    fn learns_separable_data() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 220);
            let normal: Vec<f32> = (0..5).map(|_| r.gen_range(-1.0..1.0)).collect();
            let mut x = Vec::new();
            while x.len() < 200 {
                let p: Vec<f32> = (0..5).map(|_| r.gen_range(-3.0..3.0)).collect();
                let side: f32 = p.iter().zip(&normal).map(|(a, b)| a * b).sum::<f32>() + 0.5;
                if side.abs() > 0.3 {
                    x.push(p);
                }
            }
            let positive: Vec<bool> = x
                .iter()
                .map(|p| p.iter().zip(&normal).map(|(a, b)| a * b).sum::<f32>() + 0.5 > 0.0)
                .collect();
            let svm = ch08::train_linear_svm(&x, &positive, 1e-3, 5000, &mut rng(seed));
            let correct = x.iter().zip(&positive).filter(|(p, &y)| (svm.score(p) > 0.0) == y).count();
            course::check!(
                correct >= 190,
                "train_linear_svm (book section 8.7): 200 points separable with a margin (seed {seed}); 5,000 steps at λ = 0.001 classify {correct} correctly, at least 190 expected"
            );
        }
    }

    #[test]
    fn your_hog_and_svm_classify_windows_of_shapes_scenes() {
        course::graded!();
        let config = ch08::detection_scenes();
        let mut r = rng(230);
        let (x, y) = ch08::window_examples(&datasets::shapes::generate_many(&config, 230, 60), 4, &mut r);
        let (vx, vy) = ch08::window_examples(&datasets::shapes::generate_many(&config, 231, 30), 4, &mut r);
        let svms = ch08::train_one_vs_rest(&x, &y, 4, LAMBDA, 20_000, 1);
        let correct = vx.iter().zip(&vy).filter(|(v, &label)| ch08::classify(&svms, v) == label).count();
        let accuracy = correct as f64 / vx.len() as f64;
        course::check!(
            accuracy >= BAR,
            "train_linear_svm (book section 8.7): four one-vs-rest SVMs on your HOG, trained on {} windows of 60 scenes, classify {:.1} % of {} windows of 30 other scenes; at least {:.0} % expected",
            x.len(),
            100.0 * accuracy,
            vx.len(),
            100.0 * BAR
        );
    }
}

/// Random integer boxes of sides 6 to 24 in a 64x64 image, with random classes.
fn random_objects(r: &mut impl Rng, n: usize) -> Vec<(usize, Corners)> {
    (0..n)
        .map(|_| {
            let (x, y) = (f32::from(r.gen_range(0u8..45)), f32::from(r.gen_range(0u8..45)));
            let side = f32::from(r.gen_range(6u8..25));
            (r.gen_range(0..3), [x, y, x + side, y + (side + f32::from(r.gen_range(0u8..3))).min(64.0 - y)])
        })
        .collect()
}

/// SSD's targets from the rules: matched classes and offsets in f64, divided by the variances.
fn reference_targets(defaults: &[Corners], objects: &[(usize, Corners)]) -> (Vec<usize>, Vec<f64>) {
    let boxes: Vec<Corners> = objects.iter().map(|&(_, b)| b).collect();
    let mut classes = vec![0; defaults.len()];
    let mut offsets = vec![0.0; 4 * defaults.len()];
    for (i, label) in reference_labels(defaults, &boxes, 0.5, 0.5).into_iter().enumerate() {
        if let ch08::AnchorLabel::Positive { object } = label {
            classes[i] = 1 + objects[object].0;
            let centre = |b: &Corners| {
                let b = b.map(f64::from);
                ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, b[2] - b[0], b[3] - b[1])
            };
            let ((ax, ay, aw, ah), (x, y, w, h)) = (centre(&defaults[i]), centre(&boxes[object]));
            let encoded = [(x - ax) / aw, (y - ay) / ah, (w / aw).ln(), (h / ah).ln()];
            for k in 0..4 {
                offsets[4 * i + k] = encoded[k] / f64::from(ch08::SSD_VARIANCES[k]);
            }
        }
    }
    (classes, offsets)
}

mod match_default_boxes {
    use super::*;

    #[test]
    fn agrees_with_the_rules_on_random_objects() {
        course::graded!();
        // Corners on a half-pixel grid: IoUs are ratios of small integers, so f32 and f64
        // agree on ties and on which side of 0.5 a value lies.
        let grids = [ch08::ssd_default_boxes(), ch08::anchor_boxes(6, 6, 10.0, &[9.0, 16.0], &[1.0])];
        for seed in SEEDS {
            let mut r = rng(seed + 60);
            for defaults in &grids {
                let count = r.gen_range(0..5);
                let objects = random_objects(&mut r, count);
                let (classes, offsets) = reference_targets(defaults, &objects);
                let targets = ch08::match_default_boxes(defaults, &objects);
                let context = format!(
                    "match_default_boxes (book section 8.8): {} default boxes, objects {objects:?}, seed {seed}",
                    defaults.len()
                );
                course::check_eq!(
                    targets.classes,
                    classes,
                    "{context}: the classes (0 background, 1 + class matched)"
                );
                let flat: Vec<f32> = targets.offsets.iter().flatten().copied().collect();
                assert_all_close(
                    format!("{context}: the offsets divided by SSD_VARIANCES (zeros for background)"),
                    &flat,
                    &offsets,
                    Tolerance { abs: 1e-5, rel: 1e-5 },
                );
            }
        }
    }

    #[test]
    fn every_object_is_learned_and_half_is_not_enough() {
        course::graded!();
        let defaults = ch08::ssd_default_boxes();
        for (i, scene) in
            datasets::shapes::generate_many(&ch08::detection_scenes(), 860, 20).iter().enumerate()
        {
            let objects = ch08::scene_objects(scene);
            let targets = ch08::match_default_boxes(&defaults, &objects);
            for &(class, _) in &objects {
                course::check!(
                    targets.classes.contains(&(1 + class)),
                    "match_default_boxes (book section 8.8): scene {i} has a {} but no default box learns it (the best box of each object must)",
                    datasets::shapes::ShapeKind::ALL[class].name()
                );
            }
        }
        // IoU exactly 0.5 is not above 0.5: box 0 stays background, box 1 (IoU 1) learns the object.
        let targets = ch08::match_default_boxes(
            &[[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 20.0]],
            &[(1, [0.0, 0.0, 10.0, 20.0])],
        );
        course::check_eq!(
            targets.classes,
            vec![0, 2],
            "match_default_boxes (book section 8.8): an IoU of exactly 0.5 is not above 0.5"
        );
        let empty = ch08::match_default_boxes(&defaults, &[]);
        course::check!(
            empty.classes.iter().all(|&c| c == 0) && empty.offsets.iter().flatten().all(|&v| v == 0.0),
            "match_default_boxes (book section 8.8): an image without objects has only background boxes with zero offsets"
        );
    }

    #[test]
    fn snapshot_of_a_scene() {
        course::graded!();
        let scene = datasets::shapes::generate(&ch08::detection_scenes(), 861);
        let targets = ch08::match_default_boxes(&ch08::ssd_default_boxes(), &ch08::scene_objects(&scene));
        let grid = |from: usize, side: usize, box_in_cell: usize| -> String {
            (0..side)
                .map(|i| {
                    (0..side)
                        .map(|j| {
                            let c = targets.classes[from + (i * side + j) * ch08::SSD_PER_CELL + box_in_cell];
                            [".", "c", "s", "t"][c]
                        })
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut text = format!("objects: {:?}\n", ch08::scene_objects(&scene));
        for (name, from, side) in [("fine", 0, 8), ("coarse", ch08::SSD_FINE, 4)] {
            for b in 0..ch08::SSD_PER_CELL {
                text += &format!("{name} map, default box {b}:\n{}\n", grid(from, side, b));
            }
        }
        course::snapshot!("ch08_match_default_boxes", text);
    }
}

/// The hard negatives from the definition: background indices by descending loss, ties by index.
fn reference_negatives(losses: &[f32], classes: &[usize], ratio: usize) -> Vec<usize> {
    let positives = classes.iter().filter(|&&c| c != 0).count();
    let mut negatives: Vec<usize> = (0..classes.len()).filter(|&i| classes[i] == 0).collect();
    negatives.sort_by(|&i, &j| losses[j].partial_cmp(&losses[i]).unwrap().then(i.cmp(&j)));
    negatives.into_iter().take(ratio * positives).collect()
}

mod hard_negatives {
    use super::*;

    #[test]
    fn agrees_with_the_definition_on_random_losses_with_ties() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 70);
            for _ in 0..20 {
                let n = r.gen_range(1..300);
                let losses: Vec<f32> = (0..n).map(|_| f32::from(r.gen_range(0u8..30)) / 10.0).collect();
                let classes: Vec<usize> =
                    (0..n).map(|_| if r.gen_bool(0.1) { r.gen_range(1..4) } else { 0 }).collect();
                let ratio = r.gen_range(0..6);
                let chosen = ch08::hard_negatives(&losses, &classes, ratio);
                course::check_eq!(
                    chosen,
                    reference_negatives(&losses, &classes, ratio),
                    "hard_negatives (book section 8.8): {n} boxes, {} positive, ratio {ratio}, losses in tenths (many ties), seed {seed}",
                    classes.iter().filter(|&&c| c != 0).count()
                );
            }
        }
    }

    #[test]
    fn no_positives_no_negatives() {
        course::graded!();
        course::check_eq!(
            ch08::hard_negatives(&[5.0, 1.0, 3.0], &[0, 0, 0], 3),
            Vec::<usize>::new(),
            "hard_negatives (book section 8.8): an image without positive boxes mines no negatives (3 · 0)"
        );
        course::check_eq!(
            ch08::hard_negatives(&[5.0, 1.0, 3.0], &[1, 2, 3], 3),
            Vec::<usize>::new(),
            "hard_negatives (book section 8.8): an image without background boxes has no negatives to mine"
        );
    }
}

mod ssd_loss {
    use super::*;
    const N: usize = ch08::SSD_DEFAULTS;
    const K: usize = ch08::SSD_CLASSES;

    /// Random targets: 1 to 12 positive boxes of random classes with offsets in ±3.
    fn random_targets(r: &mut impl Rng) -> ch08::SsdTargets {
        let mut t = ch08::SsdTargets { classes: vec![0; N], offsets: vec![[0.0; 4]; N] };
        for _ in 0..r.gen_range(1..13) {
            let i = r.gen_range(0..N);
            t.classes[i] = r.gen_range(1..K);
            t.offsets[i] = std::array::from_fn(|_| r.gen_range(-3.0..3.0));
        }
        t
    }

    /// The loss and its gradients (logits, offsets) from the formula, in f64.
    fn reference(
        logits: &[f32],
        offsets: &[f32],
        targets: &[ch08::SsdTargets],
        ratio: usize,
    ) -> (f64, Vec<f64>, Vec<f64>) {
        let mut loss = 0.0;
        let (mut grad_c, mut grad_o) = (vec![0.0; logits.len()], vec![0.0; offsets.len()]);
        let n = targets.iter().flat_map(|t| &t.classes).filter(|&&c| c != 0).count().max(1) as f64;
        for (b, t) in targets.iter().enumerate() {
            let mut softmax = vec![[0.0f64; K]; N];
            for i in 0..N {
                let row: Vec<f64> = (0..K).map(|k| f64::from(logits[(b * N + i) * K + k])).collect();
                let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = row.iter().map(|v| (v - top).exp()).sum();
                softmax[i] = std::array::from_fn(|k| (row[k] - top).exp() / total);
            }
            let background: Vec<f32> = softmax.iter().map(|p| -p[0].ln() as f32).collect();
            let mut classified: Vec<usize> = reference_negatives(&background, &t.classes, ratio);
            classified.extend((0..N).filter(|&i| t.classes[i] != 0));
            for i in classified {
                let y = t.classes[i];
                loss -= softmax[i][y].ln() / n;
                for k in 0..K {
                    grad_c[(b * N + i) * K + k] = (softmax[i][k] - if k == y { 1.0 } else { 0.0 }) / n;
                }
                if y != 0 {
                    for c in 0..4 {
                        let d = f64::from(offsets[(b * N + i) * 4 + c]) - f64::from(t.offsets[i][c]);
                        loss += (if d.abs() < 1.0 { 0.5 * d * d } else { d.abs() - 0.5 }) / n;
                        grad_o[(b * N + i) * 4 + c] = d.clamp(-1.0, 1.0) / n;
                    }
                }
            }
        }
        (loss, grad_c, grad_o)
    }

    fn against_reference<const B: usize>(seed: u64, ratio: usize) {
        let dev: Dev = device(seed);
        let mut r = rng(seed + 80);
        let targets: Vec<ch08::SsdTargets> = (0..B).map(|_| random_targets(&mut r)).collect();
        let logits: Tensor<Rank3<B, N, K>, f32, Dev> = crate::support::uniform(&dev, seed + 81, 3.0);
        let offsets: Tensor<Rank3<B, N, 4>, f32, Dev> = crate::support::uniform(&dev, seed + 82, 3.0);
        let (want, grad_c, grad_o) = reference(&logits.as_vec(), &offsets.as_vec(), &targets, ratio);
        let output = ch08::SsdOutput { classes: logits.leaky_trace(), offsets: offsets.leaky_trace() };
        let refs: Vec<&ch08::SsdTargets> = targets.iter().collect();
        let loss = ch08::ssd_loss(output, &refs, ratio);
        let context = format!("ssd_loss (book section 8.8): a batch of {B}, random logits and targets, ratio {ratio}, seed {seed}");
        let tolerance = Tolerance { abs: 1e-5, rel: 1e-4 };
        assert_close(format!("{context}: the loss"), f64::from(loss.array()), want, tolerance);
        let grads = loss.backward();
        assert_all_close(
            format!("{context}: the gradient of the logits ((softmax − one-hot) / N for positives and mined negatives, 0 elsewhere)"),
            &grads.get(&logits).as_vec(),
            &grad_c,
            tolerance,
        );
        assert_all_close(
            format!(
                "{context}: the gradient of the offsets (the clipped error / N for positives, 0 elsewhere)"
            ),
            &grads.get(&offsets).as_vec(),
            &grad_o,
            tolerance,
        );
    }

    #[test]
    fn agrees_with_the_formula_and_its_gradients_on_random_batches() {
        course::graded!();
        for seed in SEEDS {
            against_reference::<1>(seed, 3);
            against_reference::<2>(seed, 1);
            against_reference::<3>(seed, 3);
        }
    }

    #[test]
    fn only_positives_and_mined_negatives_count() {
        course::graded!();
        let dev: Dev = device(0);
        // Box 0 is positive (class 1) at logit 0 everywhere; box 1 is the only unsure
        // negative (logits 0); the other negatives are sure (background logit 20) but their
        // offsets are off by 9. Ratio 1 mines box 1 only.
        let mut targets = ch08::SsdTargets { classes: vec![0; N], offsets: vec![[0.0; 4]; N] };
        targets.classes[0] = 1;
        let mut logits = vec![0.0f32; N * K];
        for i in 2..N {
            logits[i * K] = 20.0;
        }
        let mut offsets = vec![9.0f32; N * 4];
        offsets[..8].fill(0.0);
        let output = ch08::SsdOutput::<1, Dev, NoneTape> {
            classes: dev.tensor_from_vec(logits, (Const::<1>, Const::<N>, Const::<K>)),
            offsets: dev.tensor_from_vec(offsets, (Const::<1>, Const::<N>, Const::<4>)),
        };
        assert_close(
            "ssd_loss (book section 8.8): one positive and one mined negative at uniform logits: 2·ln 4; sure negatives and the offsets of background boxes add nothing",
            ch08::ssd_loss(output, &[&targets], 1).array(),
            2.0 * 4f32.ln(),
            Tolerance { abs: 1e-5, rel: 1e-5 },
        );
    }
}

mod ssd_detections {
    use super::*;
    const K: usize = ch08::SSD_CLASSES;

    /// The detections from the definition in f64: softmax, decoding, greedy NMS per class;
    /// sorted by class, then descending score.
    fn reference(
        logits: &[f32],
        offsets: &[f32],
        defaults: &[Corners],
        min_score: f32,
        threshold: f32,
    ) -> Vec<(usize, f32, Corners)> {
        let mut out = Vec::new();
        for class in 1..K {
            let (mut boxes, mut scores) = (Vec::new(), Vec::new());
            for (i, d) in defaults.iter().enumerate() {
                let row: Vec<f64> = (0..K).map(|k| f64::from(logits[i * K + k])).collect();
                let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = row.iter().map(|v| (v - top).exp()).sum();
                let p = (row[class] - top).exp() / total;
                if p >= f64::from(min_score) {
                    let d = d.map(f64::from);
                    let (aw, ah) = (d[2] - d[0], d[3] - d[1]);
                    let t: Vec<f64> =
                        (0..4).map(|k| f64::from(offsets[i * 4 + k] * ch08::SSD_VARIANCES[k])).collect();
                    let (x, y) = ((d[0] + d[2]) / 2.0 + t[0] * aw, (d[1] + d[3]) / 2.0 + t[1] * ah);
                    let (w, h) = (aw * t[2].exp(), ah * t[3].exp());
                    boxes.push([x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0].map(|v| v as f32));
                    scores.push(p as f32);
                }
            }
            out.extend(
                reference_nms(&boxes, &scores, threshold)
                    .into_iter()
                    .map(|j| (class - 1, scores[j], boxes[j])),
            );
        }
        out
    }

    #[test]
    fn agrees_with_the_definition_on_random_outputs() {
        course::graded!();
        let defaults = ch08::ssd_default_boxes();
        for seed in SEEDS {
            let mut r = rng(seed + 90);
            for (min_score, threshold) in [(0.3, 0.45), (0.1, 0.3), (0.05, 0.6)] {
                let logits: Vec<f32> = (0..defaults.len() * K).map(|_| r.gen_range(-4.0..4.0)).collect();
                let offsets: Vec<f32> = (0..defaults.len() * 4).map(|_| r.gen_range(-2.0..2.0)).collect();
                let context = format!(
                    "ssd_detections (book section 8.8): random logits and offsets on the 160 default boxes, scores from {min_score}, NMS at {threshold}, seed {seed}"
                );
                let mut got = ch08::ssd_detections(&logits, &offsets, &defaults, 3, min_score, threshold);
                course::check!(got.iter().all(|d| d.image == 3), "{context}: every detection is of image 3");
                got.sort_by(|a, b| a.class.cmp(&b.class).then(b.score.total_cmp(&a.score)));
                let want = reference(&logits, &offsets, &defaults, min_score, threshold);
                course::check_eq!(got.len(), want.len(), "{context}: the number of detections kept");
                for (g, (class, score, bbox)) in got.iter().zip(&want) {
                    course::check_eq!(g.class, *class, "{context}: the classes, sorted by class and score");
                    assert_close(
                        format!("{context}: a score"),
                        g.score,
                        *score,
                        Tolerance { abs: 1e-6, rel: 1e-5 },
                    );
                    assert_all_close(
                        format!("{context}: a box"),
                        &g.bbox,
                        bbox,
                        Tolerance { abs: 1e-4, rel: 1e-5 },
                    );
                }
            }
        }
    }

    #[test]
    fn large_logits_give_certain_scores_not_nan() {
        course::graded!();
        let defaults = [[0.0, 0.0, 10.0, 10.0]];
        let found =
            ch08::ssd_detections(&[-1000.0, -1000.0, 1000.0, -1000.0], &[0.0; 4], &defaults, 0, 0.01, 0.45);
        course::check!(
            found.len() == 1 && found[0].class == 1 && found[0].score == 1.0,
            "ssd_detections (book section 8.8): logits ±1000 must give one square with score 1 (a softmax that subtracts the largest logit), got {found:?}"
        );
    }
}

mod head_rows {
    use super::*;

    fn against_index_formula<
        const B: usize,
        const AV: usize,
        const H: usize,
        const W: usize,
        const V: usize,
    >(
        seed: u64,
    ) {
        let dev: Dev = device(seed);
        let map: Tensor<Rank4<B, AV, H, W>, f32, Dev> = crate::support::uniform(&dev, seed, 1.0);
        let values = map.as_vec();
        let a_count = AV / V;
        let mut want = vec![0.0f32; B * H * W * AV];
        for b in 0..B {
            for c in 0..AV {
                for i in 0..H {
                    for j in 0..W {
                        let (a, v) = (c / V, c % V);
                        want[(b * H * W * a_count + (i * W + j) * a_count + a) * V + v] =
                            values[((b * AV + c) * H + i) * W + j];
                    }
                }
            }
        }
        let context = format!(
            "head_rows (book section 8.8): a map ({B}, {AV}, {H}, {W}) with {V} values per box, seed {seed}"
        );
        let rows = ch08::head_rows::<B, AV, H, W, V, Dev, OwnedTape<f32, Dev>>(map.leaky_trace());
        course::check_eq!(rows.shape().1, H * W * a_count, "{context}: one row per cell and box");
        assert_all_close(
            format!("{context}: row (i·W + j)·A + a holds map[a·V + v, i, j]"),
            &rows.as_vec(),
            &want,
            Tolerance { abs: 0.0, rel: 0.0 },
        );
    }

    /// The gradient of `Σ_k k · rows[k]` must reach each value's place in the map.
    fn through_the_tape<const B: usize, const AV: usize, const H: usize, const W: usize, const V: usize>(
        seed: u64,
    ) {
        let dev: Dev = device(seed);
        let map: Tensor<Rank4<B, AV, H, W>, f32, Dev> = crate::support::uniform(&dev, seed, 1.0);
        let values = map.as_vec();
        let context = format!(
            "head_rows (book section 8.8): a map ({B}, {AV}, {H}, {W}) with {V} values per box, seed {seed}"
        );
        let rows = ch08::head_rows::<B, AV, H, W, V, Dev, OwnedTape<f32, Dev>>(map.leaky_trace());
        let want = rows.as_vec();
        let weights: Vec<f32> = (0..want.len()).map(|k| k as f32).collect();
        let weights = dev.tensor_from_vec(weights, *rows.shape());
        let grads = (rows * weights).sum().backward();
        let g = grads.get(&map).as_vec();
        let mut moved = vec![0.0f32; g.len()];
        for (k, &w) in want.iter().enumerate() {
            let source = values.iter().position(|&x| x == w).expect("the value comes from the map");
            moved[source] = k as f32;
        }
        assert_all_close(
            format!("{context}: the gradient must flow back through the tape to each value's place"),
            &g,
            &moved,
            Tolerance { abs: 0.0, rel: 0.0 },
        );
    }

    #[test]
    fn agrees_with_the_index_formula_on_random_maps() {
        course::graded!();
        for seed in SEEDS {
            against_index_formula::<1, 8, 8, 8, 4>(seed);
            against_index_formula::<2, 6, 3, 5, 3>(seed);
            against_index_formula::<3, 4, 2, 1, 1>(seed);
            against_index_formula::<2, 12, 4, 4, 4>(seed);
        }
    }

    #[test]
    fn the_gradient_flows_back_to_each_place() {
        course::graded!();
        for seed in SEEDS {
            through_the_tape::<1, 8, 8, 8, 4>(seed);
            through_the_tape::<2, 6, 3, 5, 3>(seed);
            through_the_tape::<2, 12, 4, 4, 4>(seed);
        }
    }
}

mod train_ssd {
    use super::*;

    #[test]
    fn reaches_map_075_on_the_test_scenes() {
        course::graded!();
        let config = ch08::SsdConfig::default();
        let train = datasets::shapes::generate_many(&ch08::detection_scenes(), 8_000, 2_000);
        let test = datasets::shapes::generate_many(&ch08::detection_scenes(), 8_200, 300);
        course::budget!(
            "{} epochs x {} steps of batch {} ({} scenes), then {} test scenes",
            config.epochs,
            train.len() / ch08::SSD_BATCH,
            ch08::SSD_BATCH,
            train.len(),
            test.len()
        );
        let (model, losses) = ch08::train_ssd(&train, &config, |_, _| {});
        course::check_eq!(
            losses.len(),
            config.epochs * (2_000 / ch08::SSD_BATCH),
            "train_ssd (book section 8.8): one loss per full batch of 32, for 3 epochs"
        );
        let detections = ch08::ssd_detect(&model, &test);
        let (map, per_class) = reference_map(&detections, &ch08::scene_truths(&test), 3, 0.5);
        course::check!(
            map >= 0.75,
            "train_ssd (book section 8.8): mAP@0.5 {:.3} (circle, square, triangle: {per_class:.3?}) on 300 test scenes; the bar is 0.75 (the book's detector: 0.9)",
            map
        );
    }

    #[test]
    fn repeats_exactly_and_calls_after_epoch() {
        course::graded!();
        let scenes = datasets::shapes::generate_many(&ch08::detection_scenes(), 8_400, 96);
        let config = ch08::SsdConfig { epochs: 2, seed: 21, ..Default::default() };
        let mut calls = Vec::new();
        let (_, first) = ch08::train_ssd(&scenes, &config, |e, _| calls.push(e));
        let (_, second) = ch08::train_ssd(&scenes, &config, |_, _| {});
        let context = "train_ssd (book section 8.8): 96 scenes, 2 epochs";
        course::check_eq!(calls, vec![1, 2], "{context}: after_epoch(e, model) after each epoch");
        course::check_eq!(first.len(), 6, "{context}: one loss per full batch");
        course::check_eq_own!(
            first,
            second,
            "{context}: the same seed must give the same losses (seed the device and the batches)"
        );
    }
}

mod pyramid_windows {
    use super::*;

    #[test]
    fn the_book_pyramid_has_811_windows() {
        course::graded!();
        let windows = ch08::pyramid_windows(64, 64, &ch08::PYRAMID_SIDES, ch08::PYRAMID_STRIDE);
        course::check_eq!(
            windows.len(),
            196 + 169 + 144 + 121 + 100 + 81,
            "pyramid_windows (book section 8.7): a 64 x 64 image, sides 12, 15, 18, 22, 26, 30, stride 4: 14², 13², 12², 11², 10² and 9² windows"
        );
        course::check_eq!(
            (windows[0], windows[195], windows[196], windows[810]),
            ([0.0, 0.0, 12.0, 12.0], [52.0, 52.0, 64.0, 64.0], [0.0, 0.0, 15.0, 15.0], [32.0, 32.0, 62.0, 62.0]),
            "pyramid_windows (book section 8.7): the first and last windows of side 12, the first of side 15 and the last of side 30"
        );
    }

    #[test]
    fn agrees_with_loops_on_random_sizes() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 110);
            for _ in 0..10 {
                let (width, height, stride) = (r.gen_range(1..70), r.gen_range(1..70), r.gen_range(1..9));
                let sides: Vec<usize> = (0..r.gen_range(0..4)).map(|_| r.gen_range(1..40)).collect();
                let mut want = Vec::new();
                for &side in &sides {
                    let mut y = 0;
                    while y + side <= height {
                        let mut x = 0;
                        while x + side <= width {
                            want.push([x as f32, y as f32, (x + side) as f32, (y + side) as f32]);
                            x += stride;
                        }
                        y += stride;
                    }
                }
                course::check_eq!(
                    ch08::pyramid_windows(width, height, &sides, stride),
                    want,
                    "pyramid_windows (book section 8.7): a {width} x {height} image, sides {sides:?}, stride {stride}, seed {seed}"
                );
            }
        }
    }
}

mod detect_windows {
    use super::*;

    /// One-vs-rest SVMs on the windows of 60 scenes, as in section 8.7.
    fn trained_svms() -> Vec<ch08::LinearSvm> {
        let mut r = rng(120);
        let (x, y) = ch08::window_examples(
            &datasets::shapes::generate_many(&ch08::detection_scenes(), 121, 60),
            4,
            &mut r,
        );
        ch08::train_one_vs_rest(&x, &y, 4, 1e-3, 20_000, 1)
    }

    #[test]
    fn agrees_with_the_definition_on_scenes() {
        course::graded!();
        let svms = trained_svms();
        let windows = ch08::pyramid_windows(64, 64, &[12, 18, 26], 6);
        for (i, scene) in
            datasets::shapes::generate_many(&ch08::detection_scenes(), 122, 4).iter().enumerate()
        {
            for (min_score, threshold) in [(-0.5, 0.45), (0.0, 0.3)] {
                let (mut boxes, mut scores, mut classes) = (Vec::new(), Vec::new(), Vec::new());
                for w in &windows {
                    let side = f64::from(w[2] - w[0]);
                    let (cx, cy) = (f64::from(w[0] + w[2]) / 2.0, f64::from(w[1] + w[3]) / 2.0);
                    let features = ch08::window_hog(scene, (cx as f32, cy as f32), side as f32);
                    let all: Vec<f64> = svms.iter().map(|s| s.score(&features)).collect();
                    let class = (0..all.len()).fold(0, |best, c| if all[c] > all[best] { c } else { best });
                    if class != ch08::BACKGROUND && all[class] >= f64::from(min_score) {
                        let half = side / 1.25 / 2.0;
                        boxes.push([cx - half, cy - half, cx + half, cy + half].map(|v| v as f32));
                        scores.push(all[class] as f32);
                        classes.push(class);
                    }
                }
                let mut want: Vec<(usize, Corners)> = Vec::new();
                for class in 0..3 {
                    let of_class: Vec<usize> = (0..boxes.len()).filter(|&k| classes[k] == class).collect();
                    let b: Vec<Corners> = of_class.iter().map(|&k| boxes[k]).collect();
                    let s: Vec<f32> = of_class.iter().map(|&k| scores[k]).collect();
                    want.extend(reference_nms(&b, &s, threshold).into_iter().map(|j| (class, b[j])));
                }
                let mut got: Vec<(usize, Corners)> =
                    ch08::detect_windows(scene, i, &svms, &windows, min_score, threshold)
                        .iter()
                        .map(|d| (d.class, d.bbox))
                        .collect();
                let key = |a: &(usize, Corners), b: &(usize, Corners)| {
                    a.0.cmp(&b.0).then(a.1[0].total_cmp(&b.1[0])).then(a.1[1].total_cmp(&b.1[1]))
                };
                got.sort_by(key);
                want.sort_by(key);
                let context = format!(
                    "detect_windows (book section 8.7): scene {i}, {} windows, scores from {min_score}, NMS at {threshold}",
                    windows.len()
                );
                course::check_eq!(got.len(), want.len(), "{context}: the number of detections");
                for (g, w) in got.iter().zip(&want) {
                    course::check_eq!(g.0, w.0, "{context}: the classes");
                    assert_all_close(
                        format!("{context}: a box (the window shrunk by 1.25)"),
                        &g.1,
                        &w.1,
                        Tolerance { abs: 1e-4, rel: 1e-6 },
                    );
                }
            }
        }
    }

    #[test]
    fn your_detector_finds_the_shapes_of_test_scenes() {
        course::graded!();
        let svms = trained_svms();
        let scenes = datasets::shapes::generate_many(&ch08::detection_scenes(), 8_200, 30);
        let windows = ch08::pyramid_windows(64, 64, &ch08::PYRAMID_SIDES, ch08::PYRAMID_STRIDE);
        let found: Vec<Detection> = scenes
            .iter()
            .enumerate()
            .flat_map(|(i, s)| ch08::detect_windows(s, i, &svms, &windows, -0.5, ch08::SSD_NMS_IOU))
            .collect();
        let (map, per_class) = reference_map(&found, &ch08::scene_truths(&scenes), 3, 0.5);
        course::check!(
            map >= 0.7,
            "detect_windows (book section 8.7): with your pyramid_windows, mAP@0.5 {map:.3} (circles, squares, triangles {per_class:.3?}) on 30 test scenes; the bar is 0.7"
        );
    }
}
