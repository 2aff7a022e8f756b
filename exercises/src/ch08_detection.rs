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
use rand::seq::SliceRandom;
use rand::Rng;
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
    todo!("ch08 iou: overlap per axis clipped at 0, intersection area, union = sum of the areas minus it; see book section 8.1")
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
    todo!("ch08 iou_matrix: coordinate columns broadcast to (N, M), overlaps by maximum/minimum clipped with relu, areas broadcast; see book section 8.1")
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
    todo!("ch08 match_detections: by descending score, each detection's best box of its image and class; a hit if good enough and not taken; see book section 8.1")
}
// ANCHOR_END: match_detections

// ANCHOR: precision_recall_f1
/// Precision, recall and F1 of a set of detections, given which of them are true positives
/// and how many ground-truth objects there are:
///
/// `P = TP / detections`, `R = TP / n_truths`, `F1 = 2PR / (P + R)`; each is 0 where its
/// denominator is 0.
pub fn precision_recall_f1(true_positive: &[bool], n_truths: usize) -> (f32, f32, f32) {
    todo!("ch08 precision_recall_f1: count the hits; three ratios, 0 for an empty denominator; see book section 8.1")
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
    todo!("ch08 precision_recall_curve: walk the detections by descending score, counting the hits; see book section 8.1")
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
    todo!("ch08 average_precision: running maximum of the precision from the end, then the area of the steps; see book section 8.1")
}
// ANCHOR_END: average_precision

// ANCHOR: average_precision_101
/// COCO's average precision: the mean of `p_interp(r)` (as in [`average_precision`]) at the
/// 101 recall levels `r = t / 100`, `t = 0, 1, …, 100` (compute `t as f32 / 100.0`), where
/// `p_interp(r) = 0` if no point reaches recall `r`.
pub fn average_precision_101(curve: &[(f32, f32)]) -> f32 {
    todo!("ch08 average_precision_101: at each of the 101 levels, the best precision among the points with at least that recall; see book section 8.1")
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
    todo!("ch08 mean_average_precision: per class, filter both lists, match, curve, AP; then the mean; see book section 8.1")
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
    todo!("ch08 nms: by descending score; each box not yet suppressed is kept and suppresses the later ones it overlaps; see book section 8.2")
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

// ANCHOR: anchor_boxes
/// The anchors of a feature map of `rows x columns` cells whose centres lie `stride` input
/// pixels apart: cell `(i, j)` is centred at `((j + ½)·stride, (i + ½)·stride)` and carries
/// one anchor per scale and aspect ratio. An anchor of scale `s` and ratio `r` (height over
/// width) has the area `s²`: width `s / √r`, height `s · √r`.
///
/// Returns `rows · columns · scales.len() · ratios.len()` boxes: the cells row by row, in
/// each cell the scales in their order and, for each scale, the ratios in theirs.
pub fn anchor_boxes(
    rows: usize,
    columns: usize,
    stride: f32,
    scales: &[f32],
    ratios: &[f32],
) -> Vec<Corners> {
    todo!("ch08 anchor_boxes: four nested loops (row, column, scale, ratio); the box around the cell's centre; see book section 8.3")
}
// ANCHOR_END: anchor_boxes

/// What an anchor is trained to say (Faster R-CNN, section 8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorLabel {
    /// An object is here; `object` is the index of the object the anchor overlaps most,
    /// whose box it learns to regress.
    Positive { object: usize },
    /// Background.
    Negative,
    /// Neither: left out of the loss.
    Ignored,
}

// ANCHOR: label_anchors
/// Faster R-CNN's training labels for the anchors of one image. Each anchor's object is the
/// one it overlaps most (largest IoU; the first of equal ones). An anchor is
///
/// - **positive** if that IoU is above `positive_above` (0.7 in the paper), or if no anchor
///   overlaps some object more than it does (every anchor that reaches an object's largest
///   IoU, if that IoU is above 0), so that every object gets at least one anchor;
/// - **negative** if it is not positive and its IoU is below `negative_below` (0.3);
/// - **ignored** otherwise.
///
/// With no objects, every anchor is negative. Returns one label per anchor.
pub fn label_anchors(
    anchors: &[Corners],
    objects: &[Corners],
    positive_above: f32,
    negative_below: f32,
) -> Vec<AnchorLabel> {
    todo!("ch08 label_anchors: the IoU table; per anchor its best object; per object its best IoU; then the three rules; see book section 8.3")
}
// ANCHOR_END: label_anchors

// ANCHOR: encode_box
/// The regression target of `target` relative to `anchor` (R-CNN's parametrisation): with
/// centres `(x, y)`, widths `w` and heights `h` (the anchor's with index `a`),
///
/// `t = ((x − x_a) / w_a, (y − y_a) / h_a, ln(w / w_a), ln(h / h_a))`.
///
/// Shifts are measured in anchor sizes and sizes as log ratios, so that the same offsets
/// mean the same for small and large anchors.
pub fn encode_box(anchor: &Corners, target: &Corners) -> [f32; 4] {
    todo!("ch08 encode_box: centres and sizes of both boxes, then the four ratios; see book section 8.3")
}
// ANCHOR_END: encode_box

// ANCHOR: decode_box
/// The box that `offsets` describe relative to `anchor`: the inverse of [`encode_box`],
/// `x = x_a + t_x·w_a`, `y = y_a + t_y·h_a`, `w = w_a·e^(t_w)`, `h = h_a·e^(t_h)`, returned
/// as corners.
pub fn decode_box(anchor: &Corners, offsets: &[f32; 4]) -> Corners {
    todo!("ch08 decode_box: the centre and size from the offsets, then the corners; see book section 8.3")
}
// ANCHOR_END: decode_box

/// A box's centre, width and height: `(x, y, w, h)`.
pub fn centre_size(b: &Corners) -> (f32, f32, f32, f32) {
    ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, b[2] - b[0], b[3] - b[1])
}

// ANCHOR: sample_anchors
/// The anchors one image contributes to a training step (Faster R-CNN: 256, at most half
/// of them positive). Shuffle the indices of the positive anchors and then those of the
/// negative ones, each list in index order before `shuffle(rng)` (`rand::seq::SliceRandom`);
/// take up to `batch / 2` positives and fill the batch with negatives (fewer if there are
/// not enough). Ignored anchors are never taken.
///
/// Returns the chosen indices, the positives first.
pub fn sample_anchors<R: Rng>(labels: &[AnchorLabel], batch: usize, rng: &mut R) -> Vec<usize> {
    todo!("ch08 sample_anchors: two index lists, shuffled positives first; half the batch at most positive, the rest negative; see book section 8.3")
}
// ANCHOR_END: sample_anchors

// ANCHOR: smooth_l1
/// The smooth L1 loss of each element (Fast R-CNN): `0.5·x²` where `|x| < 1`, `|x| − 0.5`
/// elsewhere. Quadratic near 0, so small errors get small gradients; linear beyond, so an
/// outlier's gradient is at most 1.
///
/// - `x`: any shape, any tape; returns the same shape on the same tape.
pub fn smooth_l1<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
) -> Tensor<S, E, D, T> {
    todo!("ch08 smooth_l1: with m = min(|x|, 1): 0.5·m² + (|x| − m), one formula for both pieces; see book section 8.3")
}
// ANCHOR_END: smooth_l1

// ANCHOR: rpn_loss
/// Faster R-CNN's multi-task loss for the anchors of one image:
///
/// `L = (1/N_cls) Σ_{i ∈ batch} ℓ_cls(s_i, p*_i) + λ · (1/N_reg) Σ_{i ∈ batch} p*_i · Σ_c smoothL1(t_ic − t*_ic)`
///
/// with `ℓ_cls` the binary cross-entropy of the objectness logit `s_i` against `p*_i` = 1
/// for a positive anchor and 0 for a negative one (`bce_with_logits`), `N_cls =
/// batch.len()`, `N_reg = positions` (the number of cells of the feature map) and
/// `λ = weight`. Only positive anchors are regressed.
///
/// - `objectness`: `(A,)` logits; `offsets`: `(A, 4)` predicted offsets; both on one tape.
/// - `labels`: one per anchor; `batch`: the sampled indices ([`sample_anchors`]; never an
///   ignored anchor); `targets`: `(A, 4)`, row `i` the [`encode_box`] of anchor `i`'s
///   object (read for positive anchors only).
/// - returns the scalar loss on the tape.
#[allow(clippy::too_many_arguments)]
pub fn rpn_loss<const A: usize, D: Device<f32>, T: Tape<f32, D>>(
    objectness: Tensor<Rank1<A>, f32, D, T>,
    offsets: Tensor<Rank2<A, 4>, f32, D, T>,
    labels: &[AnchorLabel],
    batch: &[usize],
    targets: &Tensor<Rank2<A, 4>, f32, D>,
    positions: usize,
    weight: f32,
) -> Tensor<Rank0, f32, D, T> {
    assert_eq!(labels.len(), A, "rpn_loss: one label per anchor");
    assert!(!batch.is_empty(), "rpn_loss: an empty batch has no loss");
    todo!("ch08 rpn_loss: masks of the batch and of its positives; BCE over the batch; smooth L1 of the positives' offsets; the weighted sum; see book section 8.3")
}
// ANCHOR_END: rpn_loss

// ANCHOR: roi_bin
/// One side of an RoI bin on the feature map (Fast R-CNN's quantised RoI pooling). The
/// feature map has `size` cells along this side, `stride` input pixels apart; the RoI spans
/// `[low, high)` input pixels. Rounded to whole cells it covers `first = round(low / stride)`
/// up to `round(high / stride)` (exclusive), `n` cells, at least 1. Bin `bin` of `bins`
/// covers the cells `first + ⌊bin·n / bins⌋` up to `first + ⌈(bin + 1)·n / bins⌉`
/// (exclusive), cut to `0..size`.
///
/// Returns `(start, end)`, empty (`start >= end`) when the bin lies outside the map.
/// Neighbouring bins share a cell when `n` is not a multiple of `bins`.
pub fn roi_bin(low: f32, high: f32, stride: f32, bin: usize, bins: usize, size: usize) -> (usize, usize) {
    todo!("ch08 roi_bin: round both ends to cells, split in integers (floor and ceiling of the divisions), clip; see book section 8.4")
}
// ANCHOR_END: roi_bin

// ANCHOR: roi_max_pool
/// Fast R-CNN's RoI pooling (quantised, max): the box `roi` (corners in input pixels) is
/// mapped onto the feature map, whose cells are `stride` input pixels apart, and divided
/// into `OH x OW` bins; each output value is the largest value of its bin and channel. Bin
/// `(p, q)` covers the rows of [`roi_bin`]`(y_min, y_max, stride, p, OH, H)` and the
/// columns of `roi_bin(x_min, x_max, stride, q, OW, W)`; an empty bin (outside the map)
/// gives 0.
///
/// - `features`: `(C, H, W)`, one image's feature map; returns `(C, OH, OW)` whatever the
///   size of the box.
pub fn roi_max_pool<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    E: Dtype,
    D: Device<E>,
>(
    features: &Tensor<Rank3<C, H, W>, E, D>,
    roi: &Corners,
    stride: f32,
) -> Tensor<Rank3<C, OH, OW>, E, D> {
    todo!("ch08 roi_max_pool: per channel and bin, the rows and columns from roi_bin and the largest value in them; see book section 8.4")
}
// ANCHOR_END: roi_max_pool

// ANCHOR: roi_max_pool_backward
/// The backward pass of [`roi_max_pool`] with loops: each output's gradient `dy[c, p, q]`
/// goes to the first largest value of its bin (row by row, as in the forward pass); a cell
/// that is the maximum of several (overlapping) bins collects the gradient of each; an empty
/// bin passes nothing on.
///
/// - `features`: `(C, H, W)`, the forward pass's input; `dy`: `(C, OH, OW)`; returns
///   `∂L/∂features`: `(C, H, W)`.
pub fn roi_max_pool_backward<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    E: Dtype,
    D: Device<E>,
>(
    features: &Tensor<Rank3<C, H, W>, E, D>,
    roi: &Corners,
    stride: f32,
    dy: &Tensor<Rank3<C, OH, OW>, E, D>,
) -> Tensor<Rank3<C, H, W>, E, D> {
    todo!("ch08 roi_max_pool_backward: per channel and bin, the position of the first largest value; add the bin's gradient there; see book section 8.4")
}
// ANCHOR_END: roi_max_pool_backward

/// HOG's orientation bins: 9 bins of 20° over the unsigned orientations `[0°, 180°)`.
pub const HOG_BINS: usize = 9;

/// A cell of HOG: 8 x 8 pixels.
pub const HOG_CELL: usize = 8;

/// The `ε` of HOG's block normalisation: `v / √(‖v‖² + ε²)`.
pub const HOG_EPSILON: f32 = 1e-5;

/// A grey image's gradient at every pixel: its magnitude and its unsigned orientation.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    pub width: usize,
    pub height: usize,
    /// `√(gx² + gy²)`, row by row.
    pub magnitude: Vec<f32>,
    /// In degrees, in `[0, 180)`, row by row.
    pub orientation: Vec<f32>,
}

// ANCHOR: image_gradients
/// The gradient of a grey image (row by row, `width x height` values) by central
/// differences, `gx = I(x+1, y) − I(x−1, y)` and `gy = I(x, y+1) − I(x, y−1)`, where a
/// neighbour outside the image is replaced by the nearest pixel inside (at the left border
/// `gx = I(1, y) − I(0, y)`). The magnitude is `√(gx² + gy²)`; the orientation
/// `atan2(gy, gx)` in degrees, taken modulo 180 into `[0, 180)`: HOG does not distinguish
/// a dark-to-light edge from a light-to-dark one.
pub fn image_gradients(pixels: &[f32], width: usize, height: usize) -> Gradients {
    assert_eq!(pixels.len(), width * height, "image_gradients: width x height pixels");
    todo!("ch08 image_gradients: clamped neighbours, central differences, hypot and atan2 folded into [0, 180); see book section 8.5")
}
// ANCHOR_END: image_gradients

// ANCHOR: cell_histograms
/// HOG's cell histograms: the image is cut into cells of [`HOG_CELL`] x `HOG_CELL` pixels
/// (`width / HOG_CELL` by `height / HOG_CELL`, rounded down; pixels beyond the last whole
/// cell are left out), and each pixel votes with its gradient magnitude into its cell's
/// histogram of [`HOG_BINS`] orientation bins, centred at 10°, 30°, …, 170°.
///
/// A vote is split between the two bins whose centres are nearest (bilinear in the
/// orientation): at `p = θ / 20 − 0.5` the bin `⌊p⌋` gets `1 − (p − ⌊p⌋)` of it and the next
/// bin the rest, counting bins modulo 9 (5° lies between 170° and 10°).
///
/// Returns the histograms cell by cell, row by row, `HOG_BINS` values each.
pub fn cell_histograms(gradients: &Gradients) -> Vec<f32> {
    todo!("ch08 cell_histograms: per pixel of a whole cell, its cell, the two nearest bins and their shares of the magnitude; see book section 8.5")
}
// ANCHOR_END: cell_histograms

// ANCHOR: block_normalise
/// HOG's block normalisation (L2-Hys, Dalal and Triggs 2005): blocks of 2 x 2 cells, one
/// block at every cell that has a right and a lower neighbour (blocks overlap, so each cell
/// is normalised in up to four blocks). A block's vector `v` is its four histograms in the
/// order top left, top right, bottom left, bottom right (36 values); it becomes
/// `v / √(‖v‖² + ε²)`, then every value is clipped to at most 0.2, then the vector is
/// normalised again the same way (`ε` = [`HOG_EPSILON`]).
///
/// - `histograms`: from [`cell_histograms`], `cells_x x cells_y` cells.
/// - returns the blocks row by row, 36 values each: the HOG descriptor.
pub fn block_normalise(histograms: &[f32], cells_x: usize, cells_y: usize) -> Vec<f32> {
    assert_eq!(histograms.len(), cells_x * cells_y * HOG_BINS, "block_normalise: HOG_BINS values per cell");
    todo!("ch08 block_normalise: per block, gather four cells, normalise, clip at 0.2, normalise again; see book section 8.5")
}
// ANCHOR_END: block_normalise

/// A colour image in grey, as HOG sees it: the mean of the three channels, in grey levels
/// (0 to 255), row by row.
pub fn grey(image: &image::RgbImage) -> Vec<f32> {
    image.pixels().map(|p| p.0.iter().map(|&c| f32::from(c)).sum::<f32>() / 3.0).collect()
}

/// The HOG descriptor of a grey image: [`image_gradients`], [`cell_histograms`],
/// [`block_normalise`].
pub fn hog(pixels: &[f32], width: usize, height: usize) -> Vec<f32> {
    let histograms = cell_histograms(&image_gradients(pixels, width, height));
    block_normalise(&histograms, width / HOG_CELL, height / HOG_CELL)
}

// ANCHOR: integral_image
/// The summed-area table of a `width x height` image (row by row): `(width + 1) x
/// (height + 1)` values, row by row, where entry `(x, y)` is the sum of all pixels above and
/// to the left, `Σ_{y' < y, x' < x} I(x', y')`; the first row and column are 0. Sums are
/// kept in f64.
pub fn integral_image(values: &[f32], width: usize, height: usize) -> Vec<f64> {
    assert_eq!(values.len(), width * height, "integral_image: width x height values");
    todo!("ch08 integral_image: each entry is the pixel plus the entries above and to the left minus the one diagonally above; see book section 8.6")
}
// ANCHOR_END: integral_image

// ANCHOR: box_sum
/// The sum of the pixels `x_min <= x < x_max`, `y_min <= y < y_max` from the
/// [`integral_image`] of an image `width` pixels wide, with four look-ups whatever the
/// box's size. An empty box (`x_max <= x_min` or `y_max <= y_min`) sums to 0.
///
/// - `window`: `[x_min, y_min, x_max, y_max]`, inside `0..=width` and `0..=height`.
pub fn box_sum(table: &[f64], width: usize, window: [usize; 4]) -> f64 {
    todo!("ch08 box_sum: bottom right minus top right minus bottom left plus top left; see book section 8.6")
}
// ANCHOR_END: box_sum

/// The width of the bands along a window's border that [`edge_density`] compares.
pub const BAND: usize = 2;

// ANCHOR: edge_density
/// A window's objectness by edge density: a window that fits an object has its outline
/// just inside the border and background just outside. From the [`integral_image`] of the
/// gradient magnitudes (image `width x height`), with `b` = [`BAND`]:
///
/// `score = (E_inner − E_outer) / (2·(w + h))`,
///
/// where `E_inner` is the edge mass of the band of width `b` just inside the border (the
/// window minus the window shrunk by `b` on every side) and `E_outer` that of the band just
/// outside (the window grown by `b` on every side, cut to the image, minus the window);
/// `w` and `h` are the window's width and height.
///
/// - `window`: `[x_min, y_min, x_max, y_max]` in pixels, inside the image, at least
///   `2·b + 1` wide and high.
pub fn edge_density(table: &[f64], width: usize, height: usize, window: [usize; 4]) -> f64 {
    todo!("ch08 edge_density: four box sums: grown (cut), window, shrunk; inner and outer bands; divided by the perimeter; see book section 8.6")
}
// ANCHOR_END: edge_density

/// Region proposals for a grey image by edge density: every window with sides of 10 to 26
/// pixels in steps of 2 at every second position, scored by [`edge_density`] on the
/// gradient magnitudes ([`image_gradients`], [`integral_image`]); the 2,000 best, cleaned by
/// [`nms`] at IoU 0.5, best first.
pub fn edge_proposals(pixels: &[f32], width: usize, height: usize) -> Vec<(Corners, f32)> {
    let table = integral_image(&image_gradients(pixels, width, height).magnitude, width, height);
    let mut windows = Vec::new();
    for h in (10..=26).step_by(2).filter(|&h| h <= height) {
        for w in (10..=26).step_by(2).filter(|&w| w <= width) {
            for y in (0..=height - h).step_by(2) {
                for x in (0..=width - w).step_by(2) {
                    let window = [x, y, x + w, y + h];
                    windows
                        .push((window.map(|v| v as f32), edge_density(&table, width, height, window) as f32));
                }
            }
        }
    }
    windows.sort_by(|a, b| b.1.total_cmp(&a.1));
    windows.truncate(2000);
    let (boxes, scores): (Vec<Corners>, Vec<f32>) = windows.iter().copied().unzip();
    nms(&boxes, &scores, 0.5).into_iter().map(|i| windows[i]).collect()
}

// ANCHOR: recall_at_k
/// The recall of the first `k` proposals: the share of the `objects` that at least one of
/// `proposals[..k]` (all of them if there are fewer) overlaps with an IoU of at least
/// `iou_threshold`. No objects: recall 1.
pub fn recall_at_k(proposals: &[Corners], objects: &[Corners], k: usize, iou_threshold: f32) -> f32 {
    todo!("ch08 recall_at_k: count the objects that some proposal among the first k covers well enough; see book section 8.6")
}
// ANCHOR_END: recall_at_k

/// A linear two-class SVM: `score(x) = w·x + b`, positive for class +1.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearSvm {
    pub weights: Vec<f64>,
    pub bias: f64,
}

impl LinearSvm {
    /// `w·x + b`.
    pub fn score(&self, x: &[f32]) -> f64 {
        self.weights.iter().zip(x).map(|(w, &v)| w * f64::from(v)).sum::<f64>() + self.bias
    }
}

// ANCHOR: train_linear_svm
/// Trains a linear SVM with Pegasos (Shalev-Shwartz, Singer and Srebro 2007): stochastic
/// sub-gradient descent on `λ/2·(‖w‖² + b²) + (1/n) Σ_i max(0, 1 − y_i (w·x_i + b))`, the
/// hinge loss of section 5.3 with L2 regularisation. The bias is treated as the weight of a
/// constant feature 1, so it is regularised too.
///
/// Start from `w = 0`, `b = 0`. At step `t = 1, …, steps` draw `i = rng.gen_range(0..n)`,
/// set `η = 1 / (λ t)` and shrink `w ← (1 − ηλ) w`, `b ← (1 − ηλ) b`; if the sample's margin
/// before the step, `y_i (w·x_i + b)`, was below 1, also add `η y_i x_i` to `w` and `η y_i`
/// to `b`. Compute in f64.
///
/// - `features`: `n >= 1` vectors of one length; `positive`: `true` where `y_i = +1`.
pub fn train_linear_svm<R: Rng>(
    features: &[Vec<f32>],
    positive: &[bool],
    lambda: f64,
    steps: usize,
    rng: &mut R,
) -> LinearSvm {
    assert!(
        !features.is_empty() && features.len() == positive.len(),
        "train_linear_svm: one label per vector"
    );
    todo!("ch08 train_linear_svm: Pegasos: a random sample per step, the margin before the step, shrink, and add on a violation; see book section 8.7")
}
// ANCHOR_END: train_linear_svm

/// The side of the windows the window classifier sees: 24 pixels, 3 x 3 HOG cells.
pub const WINDOW: u32 = 24;

/// The label of a background window in [`window_examples`]: one past the shape classes.
pub const BACKGROUND: usize = 3;

/// The grey [`WINDOW`]-sized crop of a square around `centre` with side `side` (moved
/// inside the image where it sticks out), resized with bilinear filtering, as HOG values.
pub fn window_hog(scene: &datasets::shapes::Scene, centre: (f32, f32), side: f32) -> Vec<f32> {
    let (w, h) = scene.image.dimensions();
    let side = side.round().clamp(4.0, w.min(h) as f32) as u32;
    let x = (centre.0 - side as f32 / 2.0).round().clamp(0.0, (w - side) as f32) as u32;
    let y = (centre.1 - side as f32 / 2.0).round().clamp(0.0, (h - side) as f32) as u32;
    let crop = image::imageops::crop_imm(&scene.image, x, y, side, side).to_image();
    // `resize` clips f32 pixels to [0, 1]: resample in that range, then back to grey levels.
    let unit: Vec<f32> = grey(&crop).into_iter().map(|v| v / 255.0).collect();
    let grey_crop: image::ImageBuffer<image::Luma<f32>, Vec<f32>> =
        image::ImageBuffer::from_raw(side, side, unit).expect("one value per pixel");
    let window = image::imageops::resize(&grey_crop, WINDOW, WINDOW, image::imageops::FilterType::Triangle);
    let pixels: Vec<f32> = window.into_raw().into_iter().map(|v| 255.0 * v).collect();
    hog(&pixels, WINDOW as usize, WINDOW as usize)
}

/// How much larger than its object a window of [`window_examples`] is: a square of 1.25
/// times the object's longer side, so that HOG sees the object's outline and some
/// background around it.
pub const CONTEXT: f32 = 1.25;

/// Windows of `scenes` for a window classifier, as HOG vectors with labels: every object
/// (its class, a square of [`CONTEXT`] times its longer side around its centre) and
/// `negatives_per_scene` background squares (sides 12 to 30, IoU below 0.3 with every
/// object; label [`BACKGROUND`]), drawn from `rng`.
pub fn window_examples<R: Rng>(
    scenes: &[datasets::shapes::Scene],
    negatives_per_scene: usize,
    rng: &mut R,
) -> (Vec<Vec<f32>>, Vec<usize>) {
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    for scene in scenes {
        let objects: Vec<Corners> = scene.objects.iter().map(|o| corners(&o.bbox)).collect();
        for (object, bbox) in scene.objects.iter().zip(&objects) {
            let (x, y, w, h) = centre_size(bbox);
            features.push(window_hog(scene, (x, y), CONTEXT * w.max(h)));
            labels.push(object.kind.class_id());
        }
        let (width, height) = scene.image.dimensions();
        let mut found = 0;
        while found < negatives_per_scene {
            let side = rng.gen_range(12.0..30.0f32);
            let (x, y) = (rng.gen_range(0.0..width as f32 - side), rng.gen_range(0.0..height as f32 - side));
            let window = [x, y, x + side, y + side];
            if objects.iter().all(|o| iou(&window, o) < 0.3) {
                features.push(window_hog(scene, (x + side / 2.0, y + side / 2.0), side));
                labels.push(BACKGROUND);
                found += 1;
            }
        }
    }
    (features, labels)
}

/// One SVM per class against all others ([`train_linear_svm`], `classes` of them, each with
/// its own generator `rng(seed + class)`); a window's class is the one whose SVM scores
/// highest.
pub fn train_one_vs_rest(
    features: &[Vec<f32>],
    labels: &[usize],
    classes: usize,
    lambda: f64,
    steps: usize,
    seed: u64,
) -> Vec<LinearSvm> {
    (0..classes)
        .map(|class| {
            let positive: Vec<bool> = labels.iter().map(|&l| l == class).collect();
            train_linear_svm(
                features,
                &positive,
                lambda,
                steps,
                &mut courselib::device::rng(seed + class as u64),
            )
        })
        .collect()
}

/// The class whose SVM gives `x` the highest score.
pub fn classify(svms: &[LinearSvm], x: &[f32]) -> usize {
    let scores: Vec<f32> = svms.iter().map(|s| s.score(x) as f32).collect();
    by_descending_score(&scores)[0]
}

/// The window sides of the sliding-window detector's pyramid: objects of sides 10 to 24
/// seen with [`CONTEXT`] need windows of 12.5 to 30 pixels, about 20 % apart.
pub const PYRAMID_SIDES: [usize; 6] = [12, 15, 18, 22, 26, 30];

/// The step of the sliding window, in pixels.
pub const PYRAMID_STRIDE: usize = 4;

// ANCHOR: pyramid_windows
/// The windows a sliding-window detector scores on a `width × height` image, for an image
/// pyramid: scaling the image by `WINDOW / side` and sliding the fixed [`WINDOW`]-sized
/// window over it is the same as sliding a window of `side` pixels over the image and
/// resampling each crop to [`WINDOW`] ([`window_hog`] does).
///
/// For each side in `sides` (in their order): the squares of that side whose top-left
/// corners lie at `x, y = 0, stride, 2·stride, …` with the square inside the image, row by
/// row (`y` outer, `x` inner). A side larger than the image gives no window.
pub fn pyramid_windows(width: usize, height: usize, sides: &[usize], stride: usize) -> Vec<Corners> {
    assert!(stride > 0, "pyramid_windows: the stride must be at least 1");
    todo!("ch08 pyramid_windows: per side, the corners on the stride's grid that keep the square inside; see book section 8.7")
}
// ANCHOR_END: pyramid_windows

// ANCHOR: detect_windows
/// The sliding-window detector (section 8.7): each window of `windows` becomes
/// [`window_hog`] of its centre and side, the one-vs-rest `svms` (the shape classes and
/// [`BACKGROUND`]) score it, and [`classify`] names its class. A window whose class is a
/// shape and whose SVM score (of that class) is at least `min_score` becomes a detection
/// in image `image` with that score and the box of the object it saw: the window shrunk
/// about its centre by [`CONTEXT`]. Finally [`nms_per_class`] at `iou_threshold`.
pub fn detect_windows(
    scene: &datasets::shapes::Scene,
    image: usize,
    svms: &[LinearSvm],
    windows: &[Corners],
    min_score: f32,
    iou_threshold: f32,
) -> Vec<Detection> {
    todo!("ch08 detect_windows: per window its HOG, the class and its score; keep shapes scoring at least min_score, as the inner box; NMS per class; see book section 8.7")
}
// ANCHOR_END: detect_windows

// ---------------------------------------------------------------------------------------
// Section 8.8: a single-shot detector.

/// What the single-shot detector tells apart: background (0) and the three shapes (`1 +`
/// their class id).
pub const SSD_CLASSES: usize = 1 + datasets::shapes::ShapeKind::COUNT;

/// Default boxes per cell of each feature map.
pub const SSD_PER_CELL: usize = 2;

/// The default boxes of the fine 8x8 map (stride 8 pixels): sides 11 and 15 pixels.
pub const SSD_FINE_SIDES: [f32; SSD_PER_CELL] = [11.0, 15.0];

/// The default boxes of the coarse 4x4 map (stride 16 pixels): sides 20 and 26 pixels.
pub const SSD_COARSE_SIDES: [f32; SSD_PER_CELL] = [20.0, 26.0];

/// Default boxes on the fine map: 8·8 cells, [`SSD_PER_CELL`] each.
pub const SSD_FINE: usize = 8 * 8 * SSD_PER_CELL;

/// Default boxes in all: the fine map's 128, then the coarse map's 32 (4·4 cells).
pub const SSD_DEFAULTS: usize = SSD_FINE + 4 * 4 * SSD_PER_CELL;

/// SSD's "variances": the regression targets are [`encode_box`]'s offsets divided by
/// these, so that a shift of a tenth of the box and a size change of a fifth in log scale
/// weigh as much as a unit of classification loss.
pub const SSD_VARIANCES: [f32; 4] = [0.1, 0.1, 0.2, 0.2];

/// The detector's default boxes: [`anchor_boxes`] of the fine 8x8 map (stride 8,
/// [`SSD_FINE_SIDES`]) followed by those of the coarse 4x4 map (stride 16,
/// [`SSD_COARSE_SIDES`]), all square (the shapes' boxes are): [`SSD_DEFAULTS`] boxes.
pub fn ssd_default_boxes() -> Vec<Corners> {
    let mut boxes = anchor_boxes(8, 8, 8.0, &SSD_FINE_SIDES, &[1.0]);
    boxes.extend(anchor_boxes(4, 4, 16.0, &SSD_COARSE_SIDES, &[1.0]));
    boxes
}

/// The scenes of this chapter: 64x64 pixels, 1 to 4 objects of sides 10 to 24 pixels,
/// noise 8, a plain grey background, no overlap.
pub fn detection_scenes() -> datasets::shapes::ShapesConfig {
    datasets::shapes::ShapesConfig { max_objects: 4, ..Default::default() }
}

/// The ground truth of a scene as `(class id, box)` per object.
pub fn scene_objects(scene: &datasets::shapes::Scene) -> Vec<(usize, Corners)> {
    scene.objects.iter().map(|o| (o.kind.class_id(), corners(&o.bbox))).collect()
}

/// The training targets of one image's default boxes.
#[derive(Clone, Debug, PartialEq)]
pub struct SsdTargets {
    /// Per default box: 0 for background, `1 + class` for a box matched to an object.
    pub classes: Vec<usize>,
    /// Per default box: the [`encode_box`] offsets of its object divided by
    /// [`SSD_VARIANCES`]; zeros for background.
    pub offsets: Vec<[f32; 4]>,
}

// ANCHOR: match_default_boxes
/// SSD's matching of default boxes to the `objects` (`(class, box)`) of one image. A
/// default box learns the object it overlaps most (as in [`label_anchors`]) if that IoU is
/// above 0.5, or if it is the best default box of some object (so that every object is
/// learned by at least one box); every other default box is background.
///
/// Returns per default box the class `1 + class` of its object (0 for background) and the
/// offsets `encode_box(default, object)` divided element-wise by [`SSD_VARIANCES`] (zeros for
/// background).
pub fn match_default_boxes(defaults: &[Corners], objects: &[(usize, Corners)]) -> SsdTargets {
    todo!("ch08 match_default_boxes: label_anchors at 0.5 (what it leaves ignored is background here); the class and the scaled offsets of each positive box; see book section 8.8")
}
// ANCHOR_END: match_default_boxes

// ANCHOR: hard_negatives
/// Hard-negative mining (SSD): of the background boxes (`classes[i] == 0`), the ones with
/// the largest `background_loss`, `ratio` times as many as there are positive boxes
/// (`classes[i] != 0`), or all of them if there are fewer.
///
/// Returns their indices, the largest loss first; equal losses in index order.
pub fn hard_negatives(background_loss: &[f32], classes: &[usize], ratio: usize) -> Vec<usize> {
    assert_eq!(background_loss.len(), classes.len(), "hard_negatives: one loss per default box");
    todo!("ch08 hard_negatives: count the positives; the background indices sorted by descending loss (a stable sort); keep ratio·positives of them; see book section 8.8")
}
// ANCHOR_END: hard_negatives

/// The detector's raw output for a batch: per image and default box, the class logits and
/// the box offsets (in units of [`SSD_VARIANCES`]).
pub struct SsdOutput<const B: usize, D: Device<f32>, T: Tape<f32, D>> {
    /// `(B, SSD_DEFAULTS, SSD_CLASSES)`.
    pub classes: Tensor<Rank3<B, SSD_DEFAULTS, SSD_CLASSES>, f32, D, T>,
    /// `(B, SSD_DEFAULTS, 4)`.
    pub offsets: Tensor<Rank3<B, SSD_DEFAULTS, 4>, f32, D, T>,
}

// ANCHOR: ssd_loss
/// SSD's loss for a batch:
///
/// `L = (1/N) · Σ_images [ Σ_{i ∈ Pos ∪ Neg} −log softmax(c_i)[y_i] + Σ_{i ∈ Pos} Σ_k smoothL1(t_ik − t*_ik) ]`
///
/// with `y_i` and `t*_i` from the image's targets, `Pos` its positive boxes, `Neg` its
/// [`hard_negatives`] (`ratio` per positive), ranked by their background loss
/// `−log softmax(c_i)[0]` (the values of the forward pass, not on the tape), and `N` the
/// number of positive boxes in the batch (at least 1).
///
/// - `output`: the batch's logits and offsets on one tape; `targets`: one per image.
/// - returns the scalar loss on the tape.
pub fn ssd_loss<const B: usize, D: Device<f32>, T: Tape<f32, D>>(
    output: SsdOutput<B, D, T>,
    targets: &[&SsdTargets],
    ratio: usize,
) -> Tensor<Rank0, f32, D, T> {
    assert_eq!(targets.len(), B, "ssd_loss: one target per image");
    todo!("ch08 ssd_loss: log-softmax; per image the mined negatives from its background losses; masks of the classified and the positive boxes; the two sums over N; see book section 8.8")
}
// ANCHOR_END: ssd_loss

// ANCHOR: ssd_detections
/// The detections of image `image` from its `class_logits` (`SSD_DEFAULTS · SSD_CLASSES`
/// values, box by box) and `offsets` (`SSD_DEFAULTS · 4`, in units of [`SSD_VARIANCES`]):
/// for every default box and every shape class `c` (logit `1 + c`), the softmax
/// probability of the box's logits as the score where it is at least `min_score`, with the
/// box [`decode_box`] gives for the offsets times the variances; then [`nms_per_class`] at
/// `iou_threshold`.
pub fn ssd_detections(
    class_logits: &[f32],
    offsets: &[f32],
    defaults: &[Corners],
    image: usize,
    min_score: f32,
    iou_threshold: f32,
) -> Vec<Detection> {
    assert_eq!(
        class_logits.len(),
        defaults.len() * SSD_CLASSES,
        "ssd_detections: SSD_CLASSES logits per box"
    );
    assert_eq!(offsets.len(), defaults.len() * 4, "ssd_detections: 4 offsets per box");
    todo!("ch08 ssd_detections: per box a stable softmax; the decoded box; a detection per class scoring at least min_score; NMS per class; see book section 8.8")
}
// ANCHOR_END: ssd_detections

// ANCHOR: head_rows
/// A prediction head's output `(B, A·V, H, W)`, where channel `a·V + v` holds value `v` of
/// default box `a` of each cell, as rows `(B, H·W·A, V)` in [`anchor_boxes`]' order: the
/// cells row by row, in each cell its `A` boxes. Row `(i·W + j)·A + a` of image `b` is
/// `map[b, a·V + v, i, j]` for `v` in `0..V`.
///
/// The row count is a run-time `usize` so that the maps of several sizes can be
/// concatenated ([`Ssd::forward`]).
pub fn head_rows<const B: usize, const AV: usize, const H: usize, const W: usize, const V: usize, D, T>(
    map: Tensor<Rank4<B, AV, H, W>, f32, D, T>,
) -> Tensor<(Const<B>, usize, Const<V>), f32, D, T>
where
    D: Device<f32>,
    T: Tape<f32, D>,
{
    assert_eq!(AV % V, 0, "head_rows: the channels are A·V");
    todo!("ch08 head_rows: channels last, (B, H, W, A·V); then read as (B, H·W·A, V); see book section 8.8")
}
// ANCHOR_END: head_rows

/// The convolutional body of the detector up to the fine map: three 3x3 convolutions of
/// stride 2 and one of stride 1, each with ReLU: `(B, 3, 64, 64)` → `(B, 64, 8, 8)`.
pub type SsdBody<E, D> = (
    (courselib::conv::Conv2d<3, 16, 3, 2, 1, 32, 32, E, D>, ReLU),
    (courselib::conv::Conv2d<16, 32, 3, 2, 1, 16, 16, E, D>, ReLU),
    (courselib::conv::Conv2d<32, 64, 3, 2, 1, 8, 8, E, D>, ReLU),
    (courselib::conv::Conv2d<64, 64, 3, 1, 1, 8, 8, E, D>, ReLU),
);

/// Channels of a class head: [`SSD_CLASSES`] logits per default box of a cell.
pub const SSD_CLASS_CHANNELS: usize = SSD_PER_CELL * SSD_CLASSES;

/// Channels of an offset head: 4 offsets per default box of a cell.
pub const SSD_OFFSET_CHANNELS: usize = SSD_PER_CELL * 4;

/// A 3x3 prediction head from `C` to `O` channels on an `H × W` map.
pub type SsdHead<const C: usize, const O: usize, const H: usize, const W: usize, E, D> =
    courselib::conv::Conv2d<C, O, 3, 1, 1, H, W, E, D>;

/// A small single-shot detector for 64x64 scenes: the body to an 8x8 map (stride 8), one
/// more convolution of stride 2 to a 4x4 map (stride 16), and on each map a 3x3 head for
/// the class logits and one for the offsets of its default boxes ([`ssd_default_boxes`]).
#[derive(Clone, Debug)]
pub struct Ssd<E: Dtype, D: Storage<E>> {
    pub body: SsdBody<E, D>,
    /// The fine map to the coarse one: `(B, 64, 8, 8)` → `(B, 64, 4, 4)`.
    pub down: (courselib::conv::Conv2d<64, 64, 3, 2, 1, 4, 4, E, D>, ReLU),
    pub fine_classes: SsdHead<64, SSD_CLASS_CHANNELS, 8, 8, E, D>,
    pub fine_offsets: SsdHead<64, SSD_OFFSET_CHANNELS, 8, 8, E, D>,
    pub coarse_classes: SsdHead<64, SSD_CLASS_CHANNELS, 4, 4, E, D>,
    pub coarse_offsets: SsdHead<64, SSD_OFFSET_CHANNELS, 4, 4, E, D>,
}

impl<D: courselib::conv::ConvDevice<f32>> dfdx::nn::TensorCollection<f32, D> for Ssd<f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = Ssd<E2, D2>;

    fn iter_tensors<V: dfdx::nn::ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("body", |s| &s.body, |s| &mut s.body),
                Self::module("down", |s| &s.down, |s| &mut s.down),
                Self::module("fine_classes", |s| &s.fine_classes, |s| &mut s.fine_classes),
                Self::module("fine_offsets", |s| &s.fine_offsets, |s| &mut s.fine_offsets),
                Self::module("coarse_classes", |s| &s.coarse_classes, |s| &mut s.coarse_classes),
                Self::module("coarse_offsets", |s| &s.coarse_offsets, |s| &mut s.coarse_offsets),
            ),
            |(body, down, fine_classes, fine_offsets, coarse_classes, coarse_offsets)| Ssd {
                body,
                down,
                fine_classes,
                fine_offsets,
                coarse_classes,
                coarse_offsets,
            },
        )
    }
}

impl<D: courselib::conv::ConvDevice<f32>> Ssd<f32, D> {
    /// The class logits and offsets of every default box ([`ssd_default_boxes`]' order) of
    /// a batch `(B, 3, 64, 64)` of scenes scaled to `[0, 1]`, on the input's tape.
    pub fn forward<const B: usize, T: Tape<f32, D>>(
        &self,
        x: Tensor<Rank4<B, 3, 64, 64>, f32, D, T>,
    ) -> SsdOutput<B, D, T> {
        const CV: usize = SSD_CLASS_CHANNELS;
        const OV: usize = SSD_OFFSET_CHANNELS;
        let fine = self.body.forward(x);
        let coarse = self.down.forward(fine.retaped::<T>());
        let classes = (
            head_rows::<B, CV, 8, 8, SSD_CLASSES, D, T>(self.fine_classes.forward(fine.retaped::<T>())),
            head_rows::<B, CV, 4, 4, SSD_CLASSES, D, T>(self.coarse_classes.forward(coarse.retaped::<T>())),
        )
            .concat_along(Axis::<1>);
        let offsets = (
            head_rows::<B, OV, 8, 8, 4, D, T>(self.fine_offsets.forward(fine)),
            head_rows::<B, OV, 4, 4, 4, D, T>(self.coarse_offsets.forward(coarse)),
        )
            .concat_along(Axis::<1>);
        let all_boxes = |_| unreachable!("the two maps hold SSD_DEFAULTS boxes");
        SsdOutput {
            classes: classes.try_realize().unwrap_or_else(all_boxes),
            offsets: offsets.try_realize().unwrap_or_else(all_boxes),
        }
    }

    /// The same network with the body's and `down`'s weights multiplied by √6: He
    /// initialisation (variance `2/fan_in`, section 4.8) instead of dfdx's default (see
    /// `ch07`'s `InceptionNet::he_initialised`). The heads keep the default, smaller
    /// weights, so the first predictions are near uniform.
    pub fn he_initialised(mut self) -> Self {
        let gain = 6f32.sqrt();
        self.body.0 .0.weight = self.body.0 .0.weight.clone() * gain;
        self.body.1 .0.weight = self.body.1 .0.weight.clone() * gain;
        self.body.2 .0.weight = self.body.2 .0.weight.clone() * gain;
        self.body.3 .0.weight = self.body.3 .0.weight.clone() * gain;
        self.down.0.weight = self.down.0.weight.clone() * gain;
        self
    }
}

/// Scenes `indices` of `scenes` (64x64) as a batch `(B, 3, 64, 64)`, pixels scaled to
/// `[0, 1]`; rows past `indices.len()` are zeros.
pub fn scene_batch<const B: usize, D: Device<f32>>(
    dev: &D,
    scenes: &[datasets::shapes::Scene],
    indices: &[usize],
) -> Tensor<Rank4<B, 3, 64, 64>, f32, D> {
    assert!(indices.len() <= B, "scene_batch: {} scenes do not fit a batch of {B}", indices.len());
    const IMAGE: usize = 3 * 64 * 64;
    let mut pixels = vec![0.0f32; B * IMAGE];
    for (row, &i) in indices.iter().enumerate() {
        let chw = scenes[i].image_chw();
        assert_eq!(chw.len(), IMAGE, "scene_batch: the scenes must be 64x64");
        for (d, &p) in pixels[row * IMAGE..][..IMAGE].iter_mut().zip(&chw) {
            *d = f32::from(p) / 255.0;
        }
    }
    dev.tensor_from_vec(pixels, (Const::<B>, Const::<3>, Const::<64>, Const::<64>))
}

/// Images per training batch of [`train_ssd`].
pub const SSD_BATCH: usize = 32;

/// How [`train_ssd`] trains.
#[derive(Clone, Debug)]
pub struct SsdConfig {
    pub epochs: usize,
    /// Adam's learning rate (constant).
    pub learning_rate: f64,
    /// Hard negatives per positive box ([`hard_negatives`]' `ratio`).
    pub negatives_per_positive: usize,
    /// Seeds the initial weights and the batches of each epoch.
    pub seed: u64,
}

impl Default for SsdConfig {
    /// Chosen on the validation scenes (section 8.8): 3 epochs at a learning rate of
    /// 5·10⁻³, 3 negatives per positive.
    fn default() -> Self {
        Self { epochs: 3, learning_rate: 5e-3, negatives_per_positive: 3, seed: 8 }
    }
}

/// The trained detector of [`train_ssd`] on the default device.
pub type TrainedSsd = Ssd<f32, courselib::device::Dev>;

// ANCHOR: train_ssd
/// Trains a fresh detector on `scenes` (64x64) with [`ssd_loss`] and dfdx's Adam
/// (`config.learning_rate`, otherwise Adam's defaults).
///
/// The network is `Ssd::build(&courselib::device::device(config.seed)).he_initialised()`;
/// each scene's targets are [`match_default_boxes`] of [`ssd_default_boxes`] and its
/// [`scene_objects`]. Epoch `e` (from 1) uses the batches
/// `courselib::data::shuffled_batches(scenes.len(), SSD_BATCH, config.seed + e)`, each
/// turned into a tensor by [`scene_batch`]. Per batch: the forward pass on a tape, the
/// loss with `config.negatives_per_positive`, its gradients and one Adam step. After each
/// epoch, `after_epoch(e, &model)`.
///
/// Returns the trained network and the loss of every batch, in order.
pub fn train_ssd(
    scenes: &[datasets::shapes::Scene],
    config: &SsdConfig,
    mut after_epoch: impl FnMut(usize, &TrainedSsd),
) -> (TrainedSsd, Vec<f32>) {
    use dfdx::nn::{BuildModule, ZeroGrads};
    use dfdx::optim::{Adam, AdamConfig, Optimizer};
    type Dev = courselib::device::Dev;
    let dev = courselib::device::device(config.seed);
    let mut model = Ssd::<f32, Dev>::build(&dev).he_initialised();
    let mut adam: Adam<TrainedSsd, f32, Dev> =
        Adam::new(&model, AdamConfig { lr: config.learning_rate, ..Default::default() });
    let mut grads = model.alloc_grads();
    let mut losses: Vec<f32> = Vec::new();
    todo!("ch08 train_ssd: the targets of every scene once; per epoch and batch: forward on a tape, the loss, backward, Adam step; then after_epoch; see book section 8.8")
}
// ANCHOR_END: train_ssd

/// The smallest score [`ssd_detect`] keeps (SSD keeps 0.01).
pub const SSD_MIN_SCORE: f32 = 0.01;

/// The IoU above which [`ssd_detect`] suppresses a box of a class (SSD's 0.45).
pub const SSD_NMS_IOU: f32 = 0.45;

/// Images per forward pass of [`ssd_detect`].
const DETECT_CHUNK: usize = 50;

/// The detections of `model` on every scene (image `i` is `scenes[i]`): [`ssd_detections`]
/// with [`SSD_MIN_SCORE`] and [`SSD_NMS_IOU`].
pub fn ssd_detect<D: courselib::conv::ConvDevice<f32>>(
    model: &Ssd<f32, D>,
    scenes: &[datasets::shapes::Scene],
) -> Vec<Detection> {
    let dev = model.fine_classes.weight.device().clone();
    let defaults = ssd_default_boxes();
    let indices: Vec<usize> = (0..scenes.len()).collect();
    let mut detections = Vec::new();
    for chunk in indices.chunks(DETECT_CHUNK) {
        let output = model.forward(scene_batch::<DETECT_CHUNK, D>(&dev, scenes, chunk));
        let (classes, offsets) = (output.classes.as_vec(), output.offsets.as_vec());
        for (row, &image) in chunk.iter().enumerate() {
            detections.extend(ssd_detections(
                &classes[row * SSD_DEFAULTS * SSD_CLASSES..][..SSD_DEFAULTS * SSD_CLASSES],
                &offsets[row * SSD_DEFAULTS * 4..][..SSD_DEFAULTS * 4],
                &defaults,
                image,
                SSD_MIN_SCORE,
                SSD_NMS_IOU,
            ));
        }
    }
    detections
}

/// The objects of `scenes` as ground truth (image `i` is `scenes[i]`).
pub fn scene_truths(scenes: &[datasets::shapes::Scene]) -> Vec<Truth> {
    scenes
        .iter()
        .enumerate()
        .flat_map(|(image, scene)| {
            scene_objects(scene).into_iter().map(move |(class, bbox)| Truth { image, class, bbox })
        })
        .collect()
}
