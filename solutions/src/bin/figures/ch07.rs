//! Chapter 7's figures: what the network trained on five Fashion-MNIST classes learned, and
//! how well its features transfer.

use std::path::Path;

use courselib::device::Dev;
use courselib::plot::{self, Panel, Series, Tile};
use datasets::ImageSet;
use dfdx::prelude::*;
use image::{Rgb, RgbImage};
use solutions::ch07_architectures as ch07;

use crate::{Figure, Result};

pub const FIGURES: &[(&str, Figure)] = &[
    ("ch07/first-layer-filters.png", first_layer_filters),
    ("ch07/top-activating-images.png", top_activating_images),
    ("ch07/transfer-vs-scratch.png", transfer_vs_scratch),
];

/// The network of section 7.6, trained on the source classes, once for all figures.
/// (Thread-local, not a `static`: on `Cuda` a model is not `Sync`.)
fn pretrained() -> &'static ch07::Classifier {
    thread_local! {
        static MODEL: &'static ch07::Classifier = Box::leak(Box::new({
            let train = datasets::fashion::train().expect("the fashion training set loads");
            let source = ch07::task_subset(&train, &ch07::SOURCE_CLASSES, usize::MAX);
            ch07::train_classifier(&source, &ch07::TrainConfig::SOURCE)
        }));
    }
    MODEL.with(|model| *model)
}

/// The 8 learned 5x5 filters of the first layer: red positive, blue negative weights,
/// white 0, each scaled by its largest absolute weight.
fn first_layer_filters(path: &Path) -> Result {
    let weights = pretrained().0 .0 .0.weight.as_vec();
    let tiles: Vec<Tile> = weights
        .chunks(25)
        .enumerate()
        .map(|(k, w)| {
            let top = w.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
            let image = RgbImage::from_fn(5, 5, |x, y| {
                let v = w[(y * 5 + x) as usize] / top;
                let fade = (255.0 * (1.0 - v.abs())).round() as u8;
                if v >= 0.0 {
                    Rgb([255, fade, fade])
                } else {
                    Rgb([fade, fade, 255])
                }
            });
            Tile { image, caption: format!("filter {k}") }
        })
        .collect();
    plot::image_grid(path, "First-layer filters (5x5) after training on classes 0-4", &tiles, 8, 100)?;
    Ok(())
}

/// A grey tile of image `i` of `set`.
fn image_tile(set: &ImageSet, i: usize, caption: String) -> Tile {
    let pixels = set.image(i);
    let image = RgbImage::from_fn(28, 28, |x, y| {
        let v = pixels[(y * 28 + x) as usize];
        Rgb([v, v, v])
    });
    Tile { image, caption }
}

/// Channels of the second conv layer shown in the figure, and images per channel.
const SHOWN_CHANNELS: [usize; 6] = [0, 3, 6, 9, 12, 15];
const TOP: usize = 8;

/// For six channels of the second conv layer (after ReLU and pooling, 7x7 maps), the 8 test
/// images of all ten classes whose mean activation of that channel is largest.
fn top_activating_images(path: &Path) -> Result {
    let test = datasets::fashion::test()?;
    let features = ch07::extract_features(&pretrained().0, &test);
    let dev = pretrained().1 .0.weight.device().clone();
    let maps: Tensor<Rank4<{ datasets::fashion::TEST_SIZE }, 16, 7, 7>, f32, Dev> = dev
        .tensor_from_vec(features.concat(), Rank4::<{ datasets::fashion::TEST_SIZE }, 16, 7, 7>::default());
    let mut tiles = Vec::new();
    for channel in SHOWN_CHANNELS {
        for (rank, i) in ch07::top_activating_images(&maps, channel, TOP).into_iter().enumerate() {
            let caption = if rank == 0 {
                format!("unit {channel}: {}", test.class_names[test.label(i)])
            } else {
                test.class_names[test.label(i)].clone()
            };
            tiles.push(image_tile(&test, i, caption));
        }
    }
    plot::image_grid(
        path,
        "Test images that activate six units of the second conv layer most",
        &tiles,
        TOP as u32,
        112,
    )?;
    Ok(())
}

/// The fraction of `set` that `model` classifies correctly.
fn network_accuracy(model: &ch07::Classifier, set: &ImageSet) -> f64 {
    let dev = model.1 .0.weight.device().clone();
    let indices: Vec<usize> = (0..set.len()).collect();
    let mut correct = 0;
    for chunk in indices.chunks(100) {
        let (x, labels) = courselib::data::image_batch::<100, 1, 28, 28, Dev>(&dev, set, chunk);
        let logits = model.forward(x).as_vec();
        for (row, &label) in logits.chunks(ch07::TASK_CLASSES).zip(&labels).take(chunk.len()) {
            correct += usize::from(courselib::data::predicts_label(row, label));
        }
    }
    correct as f64 / set.len() as f64
}

/// Test accuracy on the target classes against the labelled images per class: a linear
/// probe on the frozen features of the pretrained network, and the whole network trained
/// from scratch on the same images.
fn transfer_vs_scratch(path: &Path) -> Result {
    let train = datasets::fashion::train()?;
    let test = datasets::fashion::test()?;
    let target_test = ch07::task_subset(&test, &ch07::TARGET_CLASSES, usize::MAX);
    let labels = |set: &ImageSet| (0..set.len()).map(|i| set.label(i)).collect::<Vec<_>>();
    let test_features = ch07::extract_features(&pretrained().0, &target_test);
    let (mut probe, mut scratch) = (Vec::new(), Vec::new());
    for per_class in [5, 10, 20, 50, 100] {
        let labelled = ch07::task_subset(&train, &ch07::TARGET_CLASSES, per_class);
        let features = ch07::extract_features(&pretrained().0, &labelled);
        let linear = ch07::linear_probe(&features, &labels(&labelled), &ch07::ProbeConfig::default());
        let probe_accuracy = ch07::probe_accuracy(&linear, &test_features, &labels(&target_test));
        let model = ch07::train_classifier(&labelled, &ch07::TrainConfig::SCRATCH);
        let scratch_accuracy = network_accuracy(&model, &target_test);
        println!(
            "ch07 transfer: {per_class} per class: probe {probe_accuracy:.4}, scratch {scratch_accuracy:.4}"
        );
        probe.push((per_class as f64, 100.0 * probe_accuracy));
        scratch.push((per_class as f64, 100.0 * scratch_accuracy));
    }
    let panel = Panel {
        title: "sandal, shirt, sneaker, bag, ankle boot: 5,000 test images".into(),
        x_label: "labelled training images per class".into(),
        y_label: "test accuracy (%)".into(),
        series: vec![
            Series { label: "linear probe on features from classes 0-4".into(), points: probe },
            Series { label: "same network trained from scratch".into(), points: scratch },
        ],
    };
    plot::line_charts(path, &[panel], 760, 460)?;
    Ok(())
}
