//! Chapter 8: object detection.
//!
//! How a detector is measured and cleaned up: the overlap of two boxes (intersection over
//! union, one pair and all pairs as tensors), which detections count as found objects, the
//! precision, recall and F1 of a set of detections, the precision-recall curve, average
//! precision in its two interpolations (all points, as in PASCAL VOC since 2010, and
//! COCO's 101 recall levels) and its mean over classes, and greedy non-maximum suppression.
//!
//! Boxes are [`Corners`] `[x_min, y_min, x_max, y_max]` in pixels, continuous: a box covers
//! `x_min <= x < x_max`, `y_min <= y < y_max`, so its width is `x_max − x_min`. The
//! `datasets::shapes` boxes convert exactly ([`corners`]).

use dfdx::prelude::*;
use std::collections::BTreeMap;

/// A box by its corners `[x_min, y_min, x_max, y_max]`, in pixels.
pub type Corners = [f32; 4];

/// The corners of a box of the `shapes` scenes (whose `x_max`, `y_max` are exclusive, as
/// here).
pub fn corners(bbox: &datasets::shapes::BBox) -> Corners {
    [bbox.x_min as f32, bbox.y_min as f32, bbox.x_max as f32, bbox.y_max as f32]
}

/// One detection: a box in an image, the class it claims and the detector's confidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Which image of the set.
    pub image: usize,
    pub class: usize,
    pub score: f32,
    pub bbox: Corners,
}

/// One ground-truth object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Truth {
    pub image: usize,
    pub class: usize,
    pub bbox: Corners,
}

/// Indices `0..scores.len()` from the highest score to the lowest; equal scores keep their
/// order (a stable sort).
pub fn by_descending_score(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    order
}

// ANCHOR: iou
/// Intersection over union of two boxes, `|A ∩ B| / |A ∪ B|`, in `[0, 1]`.
///
/// A box with `x_max <= x_min` or `y_max <= y_min` has area 0. When the union has no area
/// (two empty boxes) the IoU is 0.
pub fn iou(a: &Corners, b: &Corners) -> f32 {
    // BEGIN SOLUTION iou: overlap per axis clipped at 0, intersection area, union = sum of the areas minus it
    let area = |r: &Corners| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let overlap_x = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let overlap_y = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let intersection = overlap_x * overlap_y;
    let union = area(a) + area(b) - intersection;
    if union > 0.0 {
        intersection / union
    } else {
        0.0
    }
    // END SOLUTION
}
// ANCHOR_END: iou

// ANCHOR: iou_matrix
/// The IoU of every box of `a` with every box of `b`, as tensor operations (no loops over
/// boxes): entry `(i, j)` is `iou(a[i], b[j])`.
///
/// - `a`: `(N, 4)` corners; `b`: `(M, 4)` corners; every box with positive width and height.
/// - returns `(N, M)`.
///
/// Take each coordinate column out with `select`, broadcast the `N` values along the
/// columns and the `M` values along the rows, and use `maximum`, `minimum` and `relu`.
pub fn iou_matrix<const N: usize, const M: usize, E: Dtype, D: Device<E>>(
    a: &Tensor<Rank2<N, 4>, E, D>,
    b: &Tensor<Rank2<M, 4>, E, D>,
) -> Tensor<Rank2<N, M>, E, D> {
    // BEGIN SOLUTION iou_matrix: coordinate columns broadcast to (N, M), overlaps by maximum/minimum clipped with relu, areas broadcast
    let dev = a.device().clone();
    let column_a = |k: usize| a.clone().select(dev.tensor([k; N])).broadcast::<Rank2<N, M>, Axis<1>>();
    let column_b = |k: usize| b.clone().select(dev.tensor([k; M])).broadcast::<Rank2<N, M>, Axis<0>>();
    let overlap_x = (column_a(2).minimum(column_b(2)) - column_a(0).maximum(column_b(0))).relu();
    let overlap_y = (column_a(3).minimum(column_b(3)) - column_a(1).maximum(column_b(1))).relu();
    let intersection = overlap_x * overlap_y;
    let area_a = (column_a(2) - column_a(0)) * (column_a(3) - column_a(1));
    let area_b = (column_b(2) - column_b(0)) * (column_b(3) - column_b(1));
    intersection.clone() / (area_a + area_b - intersection)
    // END SOLUTION
}
// ANCHOR_END: iou_matrix

// ANCHOR: match_detections
/// Which detections find an object, by PASCAL VOC's rule: visit the detections from the
/// highest score to the lowest (equal scores in their given order). Each is compared with
/// the ground-truth boxes of its own image and class and picks the one with the largest IoU
/// (the first of equal ones). It is a true positive if that IoU is at least
/// `iou_threshold` and no earlier detection took that box; it then takes it. Otherwise it is
/// a false positive: a second detection of a found object counts against the detector.
///
/// Returns one flag per detection (true positive), in the order the detections are given.
pub fn match_detections(detections: &[Detection], truths: &[Truth], iou_threshold: f32) -> Vec<bool> {
    // BEGIN SOLUTION match_detections: by descending score, each detection's best box of its image and class; a hit if good enough and not taken
    let scores: Vec<f32> = detections.iter().map(|d| d.score).collect();
    let mut taken = vec![false; truths.len()];
    let mut true_positive = vec![false; detections.len()];
    for i in by_descending_score(&scores) {
        let d = &detections[i];
        let mut best: Option<(usize, f32)> = None;
        for (j, t) in truths.iter().enumerate() {
            if t.image != d.image || t.class != d.class {
                continue;
            }
            let overlap = iou(&d.bbox, &t.bbox);
            if best.is_none_or(|(_, b)| overlap > b) {
                best = Some((j, overlap));
            }
        }
        if let Some((j, overlap)) = best {
            if overlap >= iou_threshold && !taken[j] {
                taken[j] = true;
                true_positive[i] = true;
            }
        }
    }
    true_positive
    // END SOLUTION
}
// ANCHOR_END: match_detections

// ANCHOR: precision_recall_f1
/// Precision, recall and F1 of a set of detections, given which of them are true positives
/// and how many ground-truth objects there are:
///
/// `P = TP / detections`, `R = TP / n_truths`, `F1 = 2PR / (P + R)`; each is 0 where its
/// denominator is 0.
pub fn precision_recall_f1(true_positive: &[bool], n_truths: usize) -> (f32, f32, f32) {
    // BEGIN SOLUTION precision_recall_f1: count the hits; three ratios, 0 for an empty denominator
    let hits = true_positive.iter().filter(|&&t| t).count() as f32;
    let ratio = |num: f32, den: f32| if den > 0.0 { num / den } else { 0.0 };
    let precision = ratio(hits, true_positive.len() as f32);
    let recall = ratio(hits, n_truths as f32);
    (precision, recall, ratio(2.0 * precision * recall, precision + recall))
    // END SOLUTION
}
// ANCHOR_END: precision_recall_f1

// ANCHOR: precision_recall_curve
/// The precision-recall curve: sort the detections by descending score (equal scores in
/// their given order) and, after each one, take the recall and precision of the detections
/// so far: after the `k`-th, `(TP_k / n_truths, TP_k / k)`.
///
/// - `scores`, `true_positive`: one entry per detection; `n_truths >= 1`.
/// - returns one `(recall, precision)` point per detection, from the highest score down.
pub fn precision_recall_curve(scores: &[f32], true_positive: &[bool], n_truths: usize) -> Vec<(f32, f32)> {
    assert_eq!(scores.len(), true_positive.len(), "precision_recall_curve: one flag per score");
    assert!(n_truths > 0, "precision_recall_curve: no ground-truth objects");
    // BEGIN SOLUTION precision_recall_curve: walk the detections by descending score, counting the hits
    let mut hits = 0;
    by_descending_score(scores)
        .into_iter()
        .enumerate()
        .map(|(k, i)| {
            hits += usize::from(true_positive[i]);
            (hits as f32 / n_truths as f32, hits as f32 / (k + 1) as f32)
        })
        .collect()
    // END SOLUTION
}
// ANCHOR_END: precision_recall_curve

// ANCHOR: average_precision
/// Average precision over all points (PASCAL VOC since 2010): the area under the
/// interpolated curve `p_interp(r) = max { precision of a point with recall >= r }`, a step
/// function:
///
/// `AP = Σ_k (r_k − r_{k−1}) · p_interp(r_k)`, with `r_0 = 0`,
///
/// over the points of `curve` in the order [`precision_recall_curve`] gives them (recall
/// never falls along it). An empty curve has AP 0.
pub fn average_precision(curve: &[(f32, f32)]) -> f32 {
    // BEGIN SOLUTION average_precision: running maximum of the precision from the end, then the area of the steps
    let mut envelope: Vec<f32> = curve.iter().map(|&(_, p)| p).collect();
    for k in (0..envelope.len().saturating_sub(1)).rev() {
        envelope[k] = envelope[k].max(envelope[k + 1]);
    }
    let mut previous_recall = 0.0;
    let mut area = 0.0;
    for (&(recall, _), p) in curve.iter().zip(envelope) {
        area += (recall - previous_recall) * p;
        previous_recall = recall;
    }
    area
    // END SOLUTION
}
// ANCHOR_END: average_precision

// ANCHOR: average_precision_101
/// COCO's average precision: the mean of `p_interp(r)` (as in [`average_precision`]) at the
/// 101 recall levels `r = t / 100`, `t = 0, 1, …, 100` (compute `t as f32 / 100.0`), where
/// `p_interp(r) = 0` if no point reaches recall `r`.
pub fn average_precision_101(curve: &[(f32, f32)]) -> f32 {
    // BEGIN SOLUTION average_precision_101: at each of the 101 levels, the best precision among the points with at least that recall
    let levels = (0..=100).map(|t| {
        let r = t as f32 / 100.0;
        curve.iter().filter(|&&(recall, _)| recall >= r).map(|&(_, p)| p).fold(0.0, f32::max)
    });
    levels.sum::<f32>() / 101.0
    // END SOLUTION
}
// ANCHOR_END: average_precision_101

// ANCHOR: mean_average_precision
/// Mean average precision over the classes `0..classes` at one IoU threshold: per class,
/// its detections and ground truth, [`match_detections`], [`precision_recall_curve`] and
/// [`average_precision`] (all points); a class without detections has AP 0.
///
/// Returns `(mAP, AP per class)`. Panics if a class has no ground-truth object (its
/// recall would be undefined).
pub fn mean_average_precision(
    detections: &[Detection],
    truths: &[Truth],
    classes: usize,
    iou_threshold: f32,
) -> (f32, Vec<f32>) {
    // BEGIN SOLUTION mean_average_precision: per class, filter both lists, match, curve, AP; then the mean
    let per_class: Vec<f32> = (0..classes)
        .map(|class| {
            let ours: Vec<Detection> = detections.iter().filter(|d| d.class == class).copied().collect();
            let objects: Vec<Truth> = truths.iter().filter(|t| t.class == class).copied().collect();
            assert!(!objects.is_empty(), "mean_average_precision: class {class} has no ground-truth object");
            let hits = match_detections(&ours, &objects, iou_threshold);
            let scores: Vec<f32> = ours.iter().map(|d| d.score).collect();
            average_precision(&precision_recall_curve(&scores, &hits, objects.len()))
        })
        .collect();
    (per_class.iter().sum::<f32>() / classes as f32, per_class)
    // END SOLUTION
}
// ANCHOR_END: mean_average_precision

// ANCHOR: nms
/// Greedy non-maximum suppression: take the highest-scoring box that is left (equal scores:
/// the lower index), keep it, and drop every remaining box whose IoU with it is greater
/// than `iou_threshold`; repeat until no box is left.
///
/// - `boxes`, `scores`: one entry per box.
/// - returns the indices of the kept boxes, from the highest score down.
pub fn nms(boxes: &[Corners], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    assert_eq!(boxes.len(), scores.len(), "nms: one score per box");
    // BEGIN SOLUTION nms: by descending score; each box not yet suppressed is kept and suppresses the later ones it overlaps
    let order = by_descending_score(scores);
    let mut suppressed = vec![false; boxes.len()];
    let mut kept = Vec::new();
    for (position, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        kept.push(i);
        for &j in &order[position + 1..] {
            if !suppressed[j] && iou(&boxes[i], &boxes[j]) > iou_threshold {
                suppressed[j] = true;
            }
        }
    }
    kept
    // END SOLUTION
}
// ANCHOR_END: nms

/// [`nms`] applied to each image and class on its own: boxes of different classes never
/// suppress each other. Returns the kept detections by image, then class, then descending
/// score.
pub fn nms_per_class(detections: &[Detection], iou_threshold: f32) -> Vec<Detection> {
    let mut groups: BTreeMap<(usize, usize), Vec<Detection>> = BTreeMap::new();
    for d in detections {
        groups.entry((d.image, d.class)).or_default().push(*d);
    }
    let mut kept = Vec::new();
    for group in groups.values() {
        let boxes: Vec<Corners> = group.iter().map(|d| d.bbox).collect();
        let scores: Vec<f32> = group.iter().map(|d| d.score).collect();
        kept.extend(nms(&boxes, &scores, iou_threshold).into_iter().map(|i| group[i]));
    }
    kept
}
