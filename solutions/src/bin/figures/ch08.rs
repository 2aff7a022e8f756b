//! Chapter 8's figures. Until the chapter's detector is trained, the detections come from
//! a simulated detector: the ground truth with noise, duplicates, confusions and false
//! alarms (see [`simulated_detections`]); the figures show how they are measured and
//! cleaned up.

use std::path::Path;

use courselib::device::rng;
use courselib::plot::{self, Panel, Series, Tile, CATEGORY_PALETTE};
use datasets::shapes::{self, Scene, ShapeKind, ShapesConfig};
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
];

/// The scenes of the figures: 64x64, 1 to 4 objects of sides 10 to 24, noise 8.
fn scene_config() -> ShapesConfig {
    ShapesConfig { max_objects: 4, ..ShapesConfig::default() }
}

/// The objects of `scenes` as ground truth, image `i` being `scenes[i]`.
fn truths(scenes: &[Scene]) -> Vec<Truth> {
    scenes
        .iter()
        .enumerate()
        .flat_map(|(image, scene)| {
            scene.objects.iter().map(move |o| Truth {
                image,
                class: o.kind.class_id(),
                bbox: ch08::corners(&o.bbox),
            })
        })
        .collect()
}

/// A standard normal draw (Box-Muller).
fn normal(r: &mut impl Rng) -> f32 {
    let (u1, u2) = (1.0 - r.gen::<f32>(), r.gen::<f32>());
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// What a detector's raw output looks like, simulated from the ground truth. An object is
/// found with probability 0.85: a box whose corners move by Gaussian noise of 6 % of its
/// larger side, with a score from 0.4 to 1, and three copies (noise 8 %) with 0.4 to 0.9
/// times its score. With probability 0.15 an object also gets a box of a wrong class
/// (score 0.3 to 0.8), and each image gets two false alarms anywhere (score below 0.7).
fn simulated_detections(scenes: &[Scene], seed: u64) -> Vec<Detection> {
    let mut r = rng(seed);
    let mut detections = Vec::new();
    for truth in truths(scenes) {
        let size = (truth.bbox[2] - truth.bbox[0]).max(truth.bbox[3] - truth.bbox[1]);
        let moved =
            |spread: f32, r: &mut rand_chacha::ChaCha8Rng| truth.bbox.map(|v| v + spread * size * normal(r));
        if r.gen_bool(0.85) {
            let score = 0.4 + 0.6 * r.gen::<f32>();
            let bbox = moved(0.06, &mut r);
            detections.push(Detection { image: truth.image, class: truth.class, score, bbox });
            for _ in 0..3 {
                let bbox = moved(0.08, &mut r);
                let score = score * (0.4 + 0.5 * r.gen::<f32>());
                detections.push(Detection { image: truth.image, class: truth.class, score, bbox });
            }
        }
        if r.gen_bool(0.15) {
            let class = (truth.class + r.gen_range(1..ShapeKind::COUNT)) % ShapeKind::COUNT;
            let bbox = moved(0.1, &mut r);
            detections.push(Detection { image: truth.image, class, score: 0.3 + 0.5 * r.gen::<f32>(), bbox });
        }
    }
    for (image, scene) in scenes.iter().enumerate().flat_map(|pair| [pair; 2]) {
        let side = r.gen_range(8.0..24.0);
        let (w, h) = (scene.image.width() as f32, scene.image.height() as f32);
        let (x, y) = (r.gen_range(0.0..w - side), r.gen_range(0.0..h - side));
        let class = r.gen_range(0..ShapeKind::COUNT);
        detections.push(Detection {
            image,
            class,
            score: 0.7 * r.gen::<f32>(),
            bbox: [x, y, x + side, y + side],
        });
    }
    detections
}

/// The precision-recall curves per class of the simulated detector after NMS on 100
/// scenes, with the interpolated envelope; the titles give both APs.
fn precision_recall(path: &Path) -> Result {
    let scenes = shapes::generate_many(&scene_config(), 8, 100);
    let truths = truths(&scenes);
    let detections = ch08::nms_per_class(&simulated_detections(&scenes, 8), 0.5);
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

/// The scene enlarged, with each detection's outline in its class's colour.
fn with_boxes(scene: &Scene, detections: &[Detection]) -> RgbImage {
    let mut image = enlarged(scene);
    for d in detections {
        let colour = CATEGORY_PALETTE[d.class];
        draw_outline(&mut image, &d.bbox, Rgb([colour.0, colour.1, colour.2]));
    }
    image
}

/// One scene's simulated raw detections, and what greedy NMS per class keeps of them.
fn nms_before_after(path: &Path) -> Result {
    // The first scene of the precision-recall figure's set with the most objects, 4.
    let scene = four_object_scene();
    let raw = simulated_detections(std::slice::from_ref(&scene), 5);
    let kept = ch08::nms_per_class(&raw, 0.5);
    println!("      {} objects, {} raw detections, {} after NMS", scene.objects.len(), raw.len(), kept.len());
    let tiles = [
        Tile { image: with_boxes(&scene, &raw), caption: format!("raw: {} boxes", raw.len()) },
        Tile {
            image: with_boxes(&scene, &kept),
            caption: format!("after NMS at IoU 0.5: {} boxes", kept.len()),
        },
    ];
    plot::image_grid(path, "greedy NMS per class at IoU 0.5", &tiles, 2, 64 * SCALE)?;
    Ok(())
}

/// The first scene of the precision-recall figure's set with the most objects, 4.
fn four_object_scene() -> Scene {
    let scenes = shapes::generate_many(&scene_config(), 8, 100);
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
    let scenes = shapes::generate_many(&scene_config(), 8, 100);
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

/// The window classifier of section 8.7: HOG of 24 x 24 windows and four one-vs-rest
/// linear SVMs, λ chosen on validation windows, the test windows read once.
fn svm_windows(path: &Path) -> Result {
    let config = scene_config();
    let mut r = rng(7);
    let mut windows =
        |seed: u64, n: usize| ch08::window_examples(&shapes::generate_many(&config, seed, n), 4, &mut r);
    let (train, val, test) = (windows(100, 200), windows(101, 100), windows(102, 100));
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
