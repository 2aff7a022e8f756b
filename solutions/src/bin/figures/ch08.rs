//! Chapter 8's figures. The detections of sections 8.1, 8.2 and 8.8 come from the
//! chapter's single-shot detector, trained once here ([`ssd_runs`]) on the scenes the
//! hidden test uses, with the settings chosen on validation scenes.

use std::path::Path;

use courselib::device::rng;
use courselib::plot::{self, Panel, Series, Tile};
use datasets::shapes::{self, Scene, ShapeKind};
use image::{imageops, Rgb, RgbImage};
use rand::Rng;
use solutions::ch08_detection::{self as ch08, AnchorLabel, Corners, Detection, Truth};

use crate::{Figure, Result};

pub const FIGURES: &[(&str, Figure)] = &[
    ("ch08/precision-recall.png", precision_recall),
    ("ch08/nms.png", nms_before_after),
    ("ch08/anchor-labels.png", anchor_labels),
    ("ch08/hog.png", hog_glyphs),
    ("ch08/proposal-recall.png", proposal_recall),
    ("ch08/svm-windows.png", svm_windows),
    ("ch08/ssd-training.png", ssd_training),
    ("ch08/detections.png", ssd_detections_figure),
];

/// The learning rates compared on the validation scenes, and the epochs each runs.
const LEARNING_RATES: [f64; 3] = [2e-3, 5e-3, 1e-2];
const GRID_EPOCHS: usize = 5;
/// The chosen learning rate runs this long: the book's "longer run".
const LONG_EPOCHS: usize = 12;

/// One training run of the validation grid.
struct Run {
    learning_rate: f64,
    /// Validation mAP@0.5 after each epoch.
    validation: Vec<f64>,
    /// Mean training loss of each epoch.
    losses: Vec<f64>,
}

/// The detector's training runs, done once for all figures of the chapter.
struct SsdRuns {
    runs: Vec<Run>,
    /// The graded configuration (`SsdConfig::default()`: 3 epochs) ...
    chosen: ch08::TrainedSsd,
    /// ... and the same run continued to `LONG_EPOCHS`.
    long: ch08::TrainedSsd,
    test: Vec<Scene>,
}

/// The hidden test's training scenes (2,000, seed 8,000) and test scenes (300, seed 8,200);
/// 200 validation scenes (seed 8,100) choose the learning rate at `SsdConfig::default()`'s 3
/// epochs, the budget of the graded test.
fn ssd_runs() -> &'static SsdRuns {
    // thread-local, not a static: a model on the CUDA device is not `Sync`
    thread_local! {
        static RUNS: &'static SsdRuns = Box::leak(Box::new(train_ssd_runs()));
    }
    RUNS.with(|runs| *runs)
}

fn train_ssd_runs() -> SsdRuns {
    let config = ch08::detection_scenes();
    let train = shapes::generate_many(&config, 8_000, 2_000);
    let validation = shapes::generate_many(&config, 8_100, 200);
    let truths = ch08::scene_truths(&validation);
    let default = ch08::SsdConfig::default();
    let (mut runs, mut chosen, mut long) = (Vec::new(), None, None);
    for learning_rate in LEARNING_RATES {
        let is_default = learning_rate == default.learning_rate;
        let epochs = if is_default { LONG_EPOCHS } else { GRID_EPOCHS };
        let mut validation_map = Vec::new();
        let config = ch08::SsdConfig { epochs, learning_rate, ..default.clone() };
        let (model, losses) = ch08::train_ssd(&train, &config, |epoch, model| {
            let found = ch08::ssd_detect(model, &validation);
            validation_map.push(f64::from(ch08::mean_average_precision(&found, &truths, 3, 0.5).0));
            if is_default && epoch == default.epochs {
                chosen = Some(model.clone());
            }
        });
        println!("      learning rate {learning_rate:e}: validation mAP@0.5 by epoch {validation_map:.3?}");
        let per_epoch = losses.len() / epochs;
        let losses = losses
            .chunks(per_epoch)
            .map(|c| c.iter().map(|&l| f64::from(l)).sum::<f64>() / c.len() as f64)
            .collect();
        runs.push(Run { learning_rate, validation: validation_map, losses });
        if is_default {
            long = Some(model);
        }
    }
    SsdRuns {
        runs,
        chosen: chosen.expect("the default learning rate is in LEARNING_RATES"),
        long: long.expect("the default learning rate is in LEARNING_RATES"),
        test: shapes::generate_many(&config, 8_200, 300),
    }
}

/// Validation mAP and training loss by epoch for each learning rate; the test mAP of the
/// graded configuration and of the longer run, each read once.
fn ssd_training(path: &Path) -> Result {
    let SsdRuns { runs, chosen, long, test } = ssd_runs();
    let truths = ch08::scene_truths(test);
    for (name, model) in [("3 epochs (the graded configuration)", chosen), ("12 epochs", long)] {
        let (map, per_class) = ch08::mean_average_precision(&ch08::ssd_detect(model, test), &truths, 3, 0.5);
        println!("      test mAP@0.5 after {name}: {map:.3} (circles, squares, triangles {per_class:.3?})");
    }
    let series = |values: fn(&Run) -> &Vec<f64>| -> Vec<Series> {
        runs.iter()
            .map(|run| Series {
                label: format!("learning rate {:e}", run.learning_rate),
                points: values(run).iter().enumerate().map(|(e, &v)| ((e + 1) as f64, v)).collect(),
            })
            .collect()
    };
    let panels = [
        Panel {
            title: "validation mAP@0.5 (200 scenes)".into(),
            x_label: "epoch".into(),
            y_label: "mAP@0.5".into(),
            series: series(|r| &r.validation),
        },
        Panel {
            title: "training loss (mean of the epoch)".into(),
            x_label: "epoch".into(),
            y_label: "SSD loss".into(),
            series: series(|r| &r.losses),
        },
    ];
    plot::line_charts_with_legend(path, &panels, (480, 380), plot::SeriesLabelPosition::MiddleRight)?;
    Ok(())
}

/// A detector: the detections of a set of scenes.
type Detector<'a> = dyn Fn(&[Scene]) -> Vec<Detection> + 'a;

/// The three detectors on the 300 test scenes: mAP@0.5, AP per class and the time per
/// image (printed only: timings vary from run to run, the figure must not). Then their
/// detections (score at least 0.5 for SSD, an SVM score of 1, the margin, for the
/// sliding window) on 4 test scenes: the
/// HOG + SVM sliding window (top row), SSD after 3 epochs (middle) and after 12 (bottom);
/// true positives white, false positives magenta, missed objects cyan (colours no shape has).
fn ssd_detections_figure(path: &Path) -> Result {
    let SsdRuns { chosen, long, test, .. } = ssd_runs();
    let [train, _, _] = svm_windows_split();
    let svms = ch08::train_one_vs_rest(&train.0, &train.1, 4, SVM_LAMBDA, 20_000, 1);
    let windows = ch08::pyramid_windows(64, 64, &ch08::PYRAMID_SIDES, ch08::PYRAMID_STRIDE);
    let sliding = |scenes: &[Scene]| -> Vec<Detection> {
        scenes
            .iter()
            .enumerate()
            .flat_map(|(i, s)| ch08::detect_windows(s, i, &svms, &windows, -0.5, ch08::SSD_NMS_IOU))
            .collect()
    };
    let detectors: [(&str, f32, Box<Detector>); 3] = [
        ("HOG + SVM", 1.0, Box::new(sliding)),
        ("SSD, 3 epochs", 0.5, Box::new(|scenes: &[Scene]| ch08::ssd_detect(chosen, scenes))),
        ("SSD, 12 epochs", 0.5, Box::new(|scenes: &[Scene]| ch08::ssd_detect(long, scenes))),
    ];
    let all_truths = ch08::scene_truths(test);
    println!("      {} windows per image for HOG + SVM", windows.len());
    for (name, _, detect) in &detectors {
        let start = std::time::Instant::now();
        let found = detect(test);
        let per_image = start.elapsed().as_secs_f64() * 1e3 / test.len() as f64;
        let (map, per_class) = ch08::mean_average_precision(&found, &all_truths, 3, 0.5);
        println!("      {name}: test mAP@0.5 {map:.3} (circles, squares, triangles {per_class:.3?}), {per_image:.2} ms per image");
    }
    let scenes = &test[..4];
    let truths = ch08::scene_truths(scenes);
    let (white, magenta, cyan) = (Rgb([255, 255, 255]), Rgb([255, 0, 200]), Rgb([0, 230, 255]));
    let mut tiles = Vec::new();
    for (name, min_score, detect) in &detectors {
        let found: Vec<Detection> = detect(scenes).into_iter().filter(|d| d.score >= *min_score).collect();
        let (mut hits, mut false_alarms, mut missed) = (0, 0, 0);
        for (image, scene) in scenes.iter().enumerate() {
            let ours: Vec<Detection> = found.iter().filter(|d| d.image == image).copied().collect();
            let objects: Vec<Truth> = truths.iter().filter(|t| t.image == image).copied().collect();
            let hit = ch08::match_detections(&ours, &objects, 0.5);
            let mut picture = enlarged(scene);
            for object in &objects {
                let found = ours
                    .iter()
                    .zip(&hit)
                    .any(|(d, &h)| h && d.class == object.class && ch08::iou(&d.bbox, &object.bbox) >= 0.5);
                if !found {
                    draw_outline(&mut picture, &object.bbox, cyan);
                    missed += 1;
                }
            }
            for (d, &h) in ours.iter().zip(&hit) {
                draw_outline(&mut picture, &d.bbox, if h { white } else { magenta });
            }
            hits += hit.iter().filter(|&&h| h).count();
            false_alarms += hit.iter().filter(|&&h| !h).count();
            let mut labels: Vec<String> = ours
                .iter()
                .map(|d| format!("{} {:.2}", &ShapeKind::ALL[d.class].name()[..2], d.score))
                .collect();
            if labels.len() > 5 {
                let more = labels.len() - 4;
                labels.truncate(4);
                labels.push(format!("+{more}"));
            }
            tiles.push(Tile { image: picture, caption: labels.join(", ") });
        }
        println!(
            "      {name}: 4 test scenes, {} objects: {hits} true positives, {false_alarms} false positives, {missed} missed (score >= {min_score})",
            truths.len()
        );
    }
    plot::image_grid(
        path,
        "HOG + SVM (top), SSD after 3, 12 epochs: true (white), false (magenta), missed (cyan)",
        &tiles,
        4,
        64 * SCALE,
    )?;
    Ok(())
}

/// The precision-recall curves per class of the graded detector on the 300 test scenes,
/// with the interpolated envelope; the titles give both APs.
fn precision_recall(path: &Path) -> Result {
    let SsdRuns { chosen, test, .. } = ssd_runs();
    let truths = ch08::scene_truths(test);
    let detections = ch08::ssd_detect(chosen, test);
    let (map, _) = ch08::mean_average_precision(&detections, &truths, ShapeKind::COUNT, 0.5);
    println!("      {} detections after NMS, {} objects; mAP@0.5 {map:.3}", detections.len(), truths.len());
    let panels: Vec<Panel> = ShapeKind::ALL
        .iter()
        .map(|kind| {
            let class = kind.class_id();
            let ours: Vec<Detection> = detections.iter().filter(|d| d.class == class).copied().collect();
            let objects: Vec<Truth> = truths.iter().filter(|t| t.class == class).copied().collect();
            let hits = ch08::match_detections(&ours, &objects, 0.5);
            let scores: Vec<f32> = ours.iter().map(|d| d.score).collect();
            let curve = ch08::precision_recall_curve(&scores, &hits, objects.len());
            let (all_points, coco) = (ch08::average_precision(&curve), ch08::average_precision_101(&curve));
            println!(
                "      {}: {} objects, {} detections, AP all points {all_points:.4}, 101 points {coco:.4}",
                kind.plural(),
                objects.len(),
                ours.len()
            );
            // The envelope as steps: level p_interp(r_k) from r_{k-1} to r_k.
            let mut envelope: Vec<f32> = curve.iter().map(|&(_, p)| p).collect();
            for k in (0..envelope.len().saturating_sub(1)).rev() {
                envelope[k] = envelope[k].max(envelope[k + 1]);
            }
            let mut steps = Vec::new();
            let mut previous = 0.0;
            for (&(recall, _), level) in curve.iter().zip(&envelope) {
                steps.push((f64::from(previous), f64::from(*level)));
                steps.push((f64::from(recall), f64::from(*level)));
                previous = recall;
            }
            Panel {
                title: format!("{}: AP {all_points:.3} (all points), {coco:.3} (101)", kind.plural()),
                x_label: "recall".into(),
                y_label: "precision".into(),
                series: vec![
                    Series {
                        label: "after each detection".into(),
                        points: curve.iter().map(|&(r, p)| (f64::from(r), f64::from(p))).collect(),
                    },
                    Series { label: "interpolated (area = AP)".into(), points: steps },
                ],
            }
        })
        .collect();
    plot::line_charts_with_legend(path, &panels, (440, 380), plot::SeriesLabelPosition::LowerLeft)?;
    Ok(())
}

/// How many screen pixels one scene pixel becomes in the NMS figure.
const SCALE: u32 = 5;

/// The scene enlarged [`SCALE`] times.
fn enlarged(scene: &Scene) -> RgbImage {
    let (w, h) = scene.image.dimensions();
    imageops::resize(&scene.image, w * SCALE, h * SCALE, imageops::FilterType::Nearest)
}

/// Draws the outline of `bbox` (scene pixels) two pixels wide, inside the box, on an
/// [`enlarged`] image.
fn draw_outline(image: &mut RgbImage, bbox: &Corners, colour: Rgb<u8>) {
    let limit = |v: f32, size: u32| (v * SCALE as f32).round().clamp(0.0, (size - 1) as f32) as u32;
    let (x0, x1) = (limit(bbox[0], image.width()), limit(bbox[2], image.width()));
    let (y0, y1) = (limit(bbox[1], image.height()), limit(bbox[3], image.height()));
    for x in x0..=x1 {
        for y in [y0, y0 + 1, y1.saturating_sub(1), y1] {
            image.put_pixel(x, y.min(image.height() - 1), colour);
        }
    }
    for y in y0..=y1 {
        for x in [x0, x0 + 1, x1.saturating_sub(1), x1] {
            image.put_pixel(x.min(image.width() - 1), y, colour);
        }
    }
}

/// The outline colour of each class's detections: white circles, magenta squares, cyan
/// triangles (colours no shape is filled with).
const CLASS_OUTLINES: [Rgb<u8>; 3] = [Rgb([255, 255, 255]), Rgb([255, 0, 200]), Rgb([0, 230, 255])];

/// The scene enlarged, with each detection's outline in its class's colour.
fn with_boxes(scene: &Scene, detections: &[Detection]) -> RgbImage {
    let mut image = enlarged(scene);
    for d in detections {
        draw_outline(&mut image, &d.bbox, CLASS_OUTLINES[d.class]);
    }
    image
}

/// The graded detector's boxes with a score of at least 0.05 on one test scene with 4
/// objects, before and after greedy NMS per class at IoU 0.45.
fn nms_before_after(path: &Path) -> Result {
    let SsdRuns { chosen, test, .. } = ssd_runs();
    let (image, scene) =
        test.iter().enumerate().find(|(_, s)| s.objects.len() == 4).expect("a scene with 4 objects");
    let dev = chosen.fine_classes.weight.device().clone();
    let output = chosen.forward(ch08::scene_batch::<1, _>(&dev, test, &[image]));
    let (logits, offsets) = (output.classes.as_vec(), output.offsets.as_vec());
    let defaults = ch08::ssd_default_boxes();
    // an IoU threshold above 1 suppresses nothing: the raw output
    let raw = ch08::ssd_detections(&logits, &offsets, &defaults, 0, 0.05, 1.1);
    let kept = ch08::ssd_detections(&logits, &offsets, &defaults, 0, 0.05, ch08::SSD_NMS_IOU);
    println!(
        "      test scene {image}: {} objects, {} raw boxes with score >= 0.05, {} after NMS",
        scene.objects.len(),
        raw.len(),
        kept.len()
    );
    for d in &kept {
        println!("        kept: {} {:.2} at {:.1?}", ShapeKind::ALL[d.class].name(), d.score, d.bbox);
    }
    let tiles = [
        Tile { image: with_boxes(scene, &raw), caption: format!("raw: {} boxes", raw.len()) },
        Tile {
            image: with_boxes(scene, &kept),
            caption: format!("after NMS at IoU 0.45: {} boxes", kept.len()),
        },
    ];
    plot::image_grid(path, "circles white, squares magenta, triangles cyan", &tiles, 2, 64 * SCALE)?;
    Ok(())
}

/// The first scene of the 100 scenes of sections 8.5 and 8.6 with the most objects, 4.
fn four_object_scene() -> Scene {
    let scenes = shapes::generate_many(&ch08::detection_scenes(), 8, 100);
    scenes.into_iter().find(|s| s.objects.len() == 4).expect("a scene with 4 objects")
}

/// The anchors of an 8 x 8 feature map (stride 8, scales 12, 20, 28, ratios 0.5, 1, 2) on
/// one scene, labelled at 0.7 / 0.3, and one sample of 32 of them.
fn anchor_labels(path: &Path) -> Result {
    let scene = four_object_scene();
    let objects: Vec<Corners> = scene.objects.iter().map(|o| ch08::corners(&o.bbox)).collect();
    let anchors = ch08::anchor_boxes(8, 8, 8.0, &[12.0, 20.0, 28.0], &[0.5, 1.0, 2.0]);
    let labels = ch08::label_anchors(&anchors, &objects, 0.7, 0.3);
    let count = |wanted: fn(&AnchorLabel) -> bool| labels.iter().filter(|l| wanted(l)).count();
    let positive = count(|l| matches!(l, AnchorLabel::Positive { .. }));
    let ignored = count(|l| *l == AnchorLabel::Ignored);
    let best: Vec<String> = objects
        .iter()
        .map(|o| format!("{:.2}", anchors.iter().map(|a| ch08::iou(a, o)).fold(0.0, f32::max)))
        .collect();
    println!("      the objects' largest IoU with an anchor: {}", best.join(", "));
    let batch = ch08::sample_anchors(&labels, 32, &mut rng(8));
    let batch_positive = batch.iter().filter(|&&i| matches!(labels[i], AnchorLabel::Positive { .. })).count();
    println!(
        "      {} anchors: {positive} positive, {ignored} ignored, {} negative; batch of 32: {batch_positive} positive",
        anchors.len(),
        anchors.len() - positive - ignored
    );
    let (green, yellow, red, white) =
        (Rgb([0, 200, 80]), Rgb([240, 220, 0]), Rgb([230, 40, 40]), Rgb([255, 255, 255]));
    let mut all = enlarged(&scene);
    for (anchor, label) in anchors.iter().zip(&labels) {
        match label {
            AnchorLabel::Ignored => draw_outline(&mut all, anchor, yellow),
            AnchorLabel::Positive { .. } | AnchorLabel::Negative => {}
        }
    }
    for (anchor, label) in anchors.iter().zip(&labels) {
        if let AnchorLabel::Positive { .. } = label {
            draw_outline(&mut all, anchor, green);
        }
    }
    let mut sampled = enlarged(&scene);
    for &i in &batch {
        let colour = if matches!(labels[i], AnchorLabel::Positive { .. }) { green } else { red };
        draw_outline(&mut sampled, &anchors[i], colour);
    }
    for image in [&mut all, &mut sampled] {
        for object in &objects {
            draw_outline(image, object, white);
        }
    }
    let tiles = [
        Tile { image: all, caption: format!("{positive} positive (green), {ignored} ignored (yellow)") },
        Tile {
            image: sampled,
            caption: format!("a batch of 32: {batch_positive} positive, {} negative", 32 - batch_positive),
        },
    ];
    plot::image_grid(path, "576 anchors labelled at IoU 0.7 / 0.3", &tiles, 2, 64 * SCALE)?;
    Ok(())
}

/// A shapes scene in grey, as HOG sees it, and its cell histograms drawn as line segments
/// along the edges (perpendicular to each bin's gradient direction), brighter for more
/// votes.
fn hog_glyphs(path: &Path) -> Result {
    let scene = four_object_scene();
    let (w, h) = (scene.image.width() as usize, scene.image.height() as usize);
    let grey: Vec<f32> = ch08::grey(&scene.image);
    let histograms = ch08::cell_histograms(&ch08::image_gradients(&grey, w, h));
    let top = histograms.iter().copied().fold(0.0, f32::max);
    let (cells_x, cells_y) = (w / ch08::HOG_CELL, h / ch08::HOG_CELL);
    let side = ch08::HOG_CELL as f32 * SCALE as f32;
    let mut glyphs = RgbImage::new(w as u32 * SCALE, h as u32 * SCALE);
    for cy in 0..cells_y {
        for cx in 0..cells_x {
            let centre = ((cx as f32 + 0.5) * side, (cy as f32 + 0.5) * side);
            for bin in 0..ch08::HOG_BINS {
                let value = histograms[(cy * cells_x + cx) * ch08::HOG_BINS + bin] / top;
                let level = (255.0 * value).round() as u8;
                // the edge runs at right angles to the gradient (10°, 30°, ... in image axes, y down)
                let along = (10.0 + 20.0 * bin as f32 + 90.0).to_radians();
                let mut t = -0.45 * side;
                while t <= 0.45 * side {
                    let (x, y) = (centre.0 + t * along.cos(), centre.1 + t * along.sin());
                    let pixel = glyphs.get_pixel_mut(x as u32, y as u32);
                    pixel.0 = pixel.0.map(|c| c.max(level));
                    t += 0.5;
                }
            }
        }
    }
    let grey_image = RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let v = grey[y as usize * w + x as usize].round() as u8;
        Rgb([v, v, v])
    });
    let enlarged_grey =
        imageops::resize(&grey_image, w as u32 * SCALE, h as u32 * SCALE, imageops::FilterType::Nearest);
    let tiles = [
        Tile { image: enlarged_grey, caption: "the scene in grey".into() },
        Tile { image: glyphs, caption: format!("{cells_x} x {cells_y} cell histograms, 9 bins each") },
    ];
    plot::image_grid(path, "histograms of oriented gradients", &tiles, 2, w as u32 * SCALE)?;
    Ok(())
}

/// Recall at k proposals on the 100 scenes of the precision-recall figure: edge-density
/// proposals against random windows of the same sizes and positions.
fn proposal_recall(path: &Path) -> Result {
    let scenes = shapes::generate_many(&ch08::detection_scenes(), 8, 100);
    let mut r = rng(1);
    let ks: Vec<usize> = (1..=100).collect();
    let (mut edge, mut random) = (vec![0.0f64; ks.len()], vec![0.0f64; ks.len()]);
    let (mut objects_seen, mut proposals_made) = (0, 0);
    for scene in &scenes {
        let (w, h) = (scene.image.width() as usize, scene.image.height() as usize);
        let grey: Vec<f32> = ch08::grey(&scene.image);
        let proposals: Vec<Corners> = ch08::edge_proposals(&grey, w, h).into_iter().map(|(b, _)| b).collect();
        proposals_made += proposals.len();
        // the windows edge_proposals scores: sides 10 to 26 in steps of 2, at even positions
        let windows: Vec<Corners> = (0..100)
            .map(|_| {
                let (ww, wh) = (2 * r.gen_range(5..=13), 2 * r.gen_range(5..=13));
                let (x, y) = (2 * r.gen_range(0..=(w - ww) / 2), 2 * r.gen_range(0..=(h - wh) / 2));
                [x as f32, y as f32, (x + ww) as f32, (y + wh) as f32]
            })
            .collect();
        let objects: Vec<Corners> = scene.objects.iter().map(|o| ch08::corners(&o.bbox)).collect();
        objects_seen += objects.len();
        for (i, &k) in ks.iter().enumerate() {
            edge[i] += f64::from(ch08::recall_at_k(&proposals, &objects, k, 0.5)) * objects.len() as f64;
            random[i] += f64::from(ch08::recall_at_k(&windows, &objects, k, 0.5)) * objects.len() as f64;
        }
    }
    let curve = |sums: &[f64]| -> Vec<(f64, f64)> {
        ks.iter().zip(sums).map(|(&k, &s)| (k as f64, 100.0 * s / objects_seen as f64)).collect()
    };
    let (edge, random) = (curve(&edge), curve(&random));
    println!("      {:.1} proposals per scene after NMS", proposals_made as f64 / scenes.len() as f64);
    for k in [10, 50, 100] {
        println!(
            "      recall@{k}: edge density {:.1} %, random windows {:.1} %",
            edge[k - 1].1,
            random[k - 1].1
        );
    }
    let panel = Panel {
        title: format!("recall at IoU 0.5 of {objects_seen} objects in 100 scenes"),
        x_label: "proposals per image k".into(),
        y_label: "recall (%)".into(),
        series: vec![
            Series { label: "edge density + NMS".into(), points: edge },
            Series { label: "random windows".into(), points: random },
        ],
    };
    plot::line_charts_with_legend(path, &[panel], (640, 400), plot::SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// Training, validation and test windows (HOG, label) of section 8.7: 4 background
/// windows per scene from 200, 100 and 100 scenes.
fn svm_windows_split() -> [(Vec<Vec<f32>>, Vec<usize>); 3] {
    let config = ch08::detection_scenes();
    let mut r = rng(7);
    let mut windows =
        |seed: u64, n: usize| ch08::window_examples(&shapes::generate_many(&config, seed, n), 4, &mut r);
    [windows(100, 200), windows(101, 100), windows(102, 100)]
}

/// The λ the validation windows choose (section 8.7's figure).
const SVM_LAMBDA: f64 = 1e-3;

/// The window classifier of section 8.7: HOG of 24 x 24 windows and four one-vs-rest
/// linear SVMs, λ chosen on validation windows, the test windows read once.
fn svm_windows(path: &Path) -> Result {
    let [train, val, test] = svm_windows_split();
    let accuracy = |svms: &[ch08::LinearSvm], (x, y): &(Vec<Vec<f32>>, Vec<usize>)| {
        x.iter().zip(y).filter(|(v, &label)| ch08::classify(svms, v) == label).count() as f64 / x.len() as f64
    };
    let lambdas = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1];
    let mut points = Vec::new();
    let mut best = (0.0, 0.0, Vec::new());
    for lambda in lambdas {
        let svms = ch08::train_one_vs_rest(&train.0, &train.1, 4, lambda, 20_000, 1);
        let (on_train, on_val) = (accuracy(&svms, &train), accuracy(&svms, &val));
        println!("      λ = {lambda:e}: train {:.1} %, validation {:.1} %", 100.0 * on_train, 100.0 * on_val);
        points.push((lambda.log10(), 100.0 * on_val));
        if on_val > best.1 {
            best = (lambda, on_val, svms);
        }
    }
    let on_test = accuracy(&best.2, &test);
    println!(
        "      {} / {} / {} windows; chosen λ = {:e}; test accuracy {:.1} % (read once)",
        train.0.len(),
        val.0.len(),
        test.0.len(),
        best.0,
        100.0 * on_test
    );
    let panel = Panel {
        title: format!(
            "window classifier: HOG + 4 linear SVMs (test {:.1} % at λ = {:e})",
            100.0 * on_test,
            best.0
        ),
        x_label: "log10 λ".into(),
        y_label: "validation accuracy (%)".into(),
        series: vec![Series { label: "validation windows".into(), points }],
    };
    plot::line_charts(path, &[panel], 640, 400)?;
    Ok(())
}
