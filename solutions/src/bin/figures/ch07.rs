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
    ("ch07/transfer-choices.png", transfer_choices),
    ("ch07/transfer-vs-scratch.png", transfer_vs_scratch),
    ("ch07/inception-auxiliary.png", inception_auxiliary),
    ("ch07/plain-vs-residual.png", plain_vs_residual),
    ("ch07/receptive-fields.png", receptive_fields),
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

/// The label of every image of `set`, in order.
fn labels(set: &ImageSet) -> Vec<usize> {
    (0..set.len()).map(|i| set.label(i)).collect()
}

/// Section 7.6's settings, chosen on validation: with the 20 labelled images per class of
/// the target task from the fit part, the accuracy on the target classes' images of the
/// validation part (1,200) of a linear probe over learning rates and steps, of training
/// from scratch over learning rates and epochs, and (printed) of a probe on the 64 hidden
/// units of the head instead of the conv features.
fn transfer_choices(path: &Path) -> Result {
    let (fit, val) = datasets::fashion::train_val()?;
    let labelled = ch07::task_subset(&fit, &ch07::TARGET_CLASSES, ch07::LABELLED_PER_CLASS);
    let target_val = ch07::task_subset(&val, &ch07::TARGET_CLASSES, usize::MAX);
    let extractor = &pretrained().0;
    let (features, val_features) =
        (ch07::extract_features(extractor, &labelled), ch07::extract_features(extractor, &target_val));
    let mut probe_series = Vec::new();
    for learning_rate in [1e-3, 1e-2, 1e-1] {
        let mut points = Vec::new();
        for steps in [30, 100, 300, 1000, 3000] {
            let config = ch07::ProbeConfig { steps, learning_rate, ..ch07::ProbeConfig::default() };
            let probe = ch07::linear_probe(&features, &labels(&labelled), &config);
            let accuracy = ch07::probe_accuracy(&probe, &val_features, &labels(&target_val));
            println!(
                "ch07 transfer choices: probe η {learning_rate}, {steps} steps: validation {accuracy:.4}"
            );
            points.push(((steps as f64).log10(), 100.0 * accuracy));
        }
        probe_series.push(Series { label: format!("probe, Adam η = {learning_rate}"), points });
    }
    let mut scratch_series = Vec::new();
    for learning_rate in [1e-3, 3e-3, 1e-2] {
        let mut points = Vec::new();
        for epochs in [10, 30, 100, 300] {
            let config = ch07::TrainConfig { epochs, learning_rate, ..ch07::TrainConfig::SCRATCH };
            let accuracy = network_accuracy(&ch07::train_classifier(&labelled, &config), &target_val);
            println!(
                "ch07 transfer choices: scratch η {learning_rate}, {epochs} epochs: validation {accuracy:.4}"
            );
            points.push((epochs as f64, 100.0 * accuracy));
        }
        scratch_series.push(Series { label: format!("from scratch, Adam η = {learning_rate}"), points });
    }
    // The probe on the head's 64 hidden units: those values padded with zeros to a
    // feature vector, so that the same linear probe trains on them (a zero input adds
    // nothing to a logit, and its weights get no gradient).
    let hidden = |set: &ImageSet, features: &[[f32; ch07::FEATURES]]| -> Vec<[f32; ch07::FEATURES]> {
        let dev = pretrained().1 .0.weight.device().clone();
        let x = dev.tensor_from_vec(features.concat(), (set.len(), Const::<{ ch07::FEATURES }>));
        let values = (pretrained().1 .0.forward(x)).relu().as_vec();
        values.chunks(64).map(|row| std::array::from_fn(|i| if i < 64 { row[i] } else { 0.0 })).collect()
    };
    let probe =
        ch07::linear_probe(&hidden(&labelled, &features), &labels(&labelled), &ch07::ProbeConfig::default());
    let accuracy = ch07::probe_accuracy(&probe, &hidden(&target_val, &val_features), &labels(&target_val));
    println!(
        "ch07 transfer choices: probe on the 64 hidden units (default settings): validation {accuracy:.4}"
    );
    let panels = [
        Panel {
            title: "linear probe on the conv features".into(),
            x_label: "log10 of the full-batch Adam steps".into(),
            y_label: "validation accuracy (%)".into(),
            series: probe_series,
        },
        Panel {
            title: "the whole network from scratch".into(),
            x_label: "epochs of 4 mini-batches".into(),
            y_label: "validation accuracy (%)".into(),
            series: scratch_series,
        },
    ];
    plot::line_charts(path, &panels, 620, 440)?;
    Ok(())
}

/// Test accuracy on the target classes against the labelled images per class: a linear
/// probe on the frozen features of the pretrained network, and the whole network trained
/// from scratch on the same images.
fn transfer_vs_scratch(path: &Path) -> Result {
    let (fit, _) = datasets::fashion::train_val()?;
    let test = datasets::fashion::test()?;
    let target_test = ch07::task_subset(&test, &ch07::TARGET_CLASSES, usize::MAX);
    let test_features = ch07::extract_features(&pretrained().0, &target_test);
    let (mut probe, mut scratch) = (Vec::new(), Vec::new());
    for per_class in [5, 10, 20, 50, 100] {
        let labelled = ch07::task_subset(&fit, &ch07::TARGET_CLASSES, per_class);
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

/// Training images per class of section 7.5's deep-network experiment.
const DEEP_PER_CLASS: usize = 400;
/// Epochs of section 7.5's deep-network experiment.
const DEEP_EPOCHS: usize = 6;

/// Section 7.5: the 11-conv-layer network plain, with original residual blocks and with
/// pre-activation blocks, trained with SGD and momentum ([`ch07::DeepOptimiser::BOOK`]) on
/// 4,000 images of the fit part, and the plain one with Adam too: gradient norm per layer
/// at initialisation, training loss and validation accuracy per epoch.
fn plain_vs_residual(path: &Path) -> Result {
    let (fit, val) = datasets::fashion::train_val()?;
    let train = fit.first_per_class(DEEP_PER_CLASS);
    let adam = ch07::DeepOptimiser::Adam { learning_rate: 3e-3 };
    let runs = [
        ("plain", ch07::Shortcuts::Plain, ch07::DeepOptimiser::BOOK),
        ("residual", ch07::Shortcuts::Original, ch07::DeepOptimiser::BOOK),
        ("pre-activation residual", ch07::Shortcuts::PreActivation, ch07::DeepOptimiser::BOOK),
        ("plain, Adam 0.003", ch07::Shortcuts::Plain, adam),
    ];
    let runs = runs.map(|(name, shortcuts, optimiser)| {
        let curves = ch07::deep_experiment(&train, &val, shortcuts, optimiser, DEEP_EPOCHS, 1);
        // The Adam run starts from the same weights as the plain one: the same norms.
        (name, curves, optimiser == ch07::DeepOptimiser::BOOK)
    });
    let sizes = (train.len(), val.len());
    draw_training_curves(path, &runs, "conv layer (1 = stem, next to the input)", "training loss", sizes)
}

/// Section 7.4: the inception network with and without the auxiliary loss (weight 0.3,
/// GoogLeNet's), under the default and under He initialisation, trained like section
/// 7.5's networks (SGD with momentum 0.9 and η = 0.03, chosen on validation).
fn inception_auxiliary(path: &Path) -> Result {
    let (fit, val) = datasets::fashion::train_val()?;
    let train = fit.first_per_class(DEEP_PER_CLASS);
    let runs = [
        ("default init", ch07::Initialisation::Default, 0.0),
        ("default init, auxiliary 0.3", ch07::Initialisation::Default, 0.3),
        ("He init", ch07::Initialisation::He, 0.0),
        ("He init, auxiliary 0.3", ch07::Initialisation::He, 0.3),
    ];
    let runs = runs.map(|(name, initialisation, weight)| {
        let setup = (initialisation, weight);
        (
            name,
            ch07::inception_experiment(&train, &val, setup, ch07::DeepOptimiser::BOOK, DEEP_EPOCHS, 1),
            true,
        )
    });
    let sizes = (train.len(), val.len());
    let stages = "stage (1 = stem, 2-5 = inception modules 1-4)";
    draw_training_curves(path, &runs, stages, "training loss (main + weight x auxiliary)", sizes)
}

/// Three panels for the runs `(name, curves, show_norms)` of sections 7.4 and 7.5: the
/// gradient norm per stage at initialisation (of the runs with `show_norms`), the training
/// loss and the validation accuracy per epoch; the numbers are printed too.
fn draw_training_curves(
    path: &Path,
    runs: &[(&str, ch07::DeepCurves, bool)],
    stage_label: &str,
    loss_title: &str,
    (train_size, val_size): (usize, usize),
) -> Result {
    let (mut norms, mut losses, mut accuracies) = (Vec::new(), Vec::new(), Vec::new());
    for (name, curves, show_norms) in runs {
        let described: Vec<String> =
            curves.initial_gradient_norms.iter().map(|n| format!("{n:.1e}")).collect();
        println!("      {name}: gradient norms {}", described.join(" "));
        println!(
            "      {name}: loss per epoch {:.3?}, validation accuracy {:.3?}",
            curves.train_loss, curves.val_accuracy
        );
        let per_epoch =
            |values: Vec<f64>| values.into_iter().zip(1..).map(|(v, e)| (f64::from(e), v)).collect();
        if *show_norms {
            let points =
                curves.initial_gradient_norms.iter().zip(1..).map(|(n, l)| (f64::from(l), n.log10()));
            norms.push(Series { label: name.to_string(), points: points.collect() });
        }
        losses.push(Series { label: name.to_string(), points: per_epoch(curves.train_loss.clone()) });
        let percent = curves.val_accuracy.iter().map(|&a| 100.0 * f64::from(a)).collect();
        accuracies.push(Series { label: name.to_string(), points: per_epoch(percent) });
    }
    let panels = [
        Panel {
            title: "at initialisation".into(),
            x_label: stage_label.into(),
            y_label: "log10 of the weight-gradient norm".into(),
            series: norms,
        },
        Panel {
            title: format!("{loss_title} ({train_size} images)"),
            x_label: "epoch".into(),
            y_label: "mean cross-entropy".into(),
            series: losses,
        },
        Panel {
            title: format!("validation accuracy ({val_size} images)"),
            x_label: "epoch".into(),
            y_label: "accuracy (%)".into(),
            series: accuracies,
        },
    ];
    plot::line_charts(path, &panels, 520, 420)?;
    Ok(())
}

/// Pixels per input pixel in the receptive-field figure.
const FIELD_SCALE: u32 = 10;

/// Section 7.7: `|∂ unit / ∂ input|` summed over 100 test images for three units of the
/// first feature map of the trained extractor (red, square root of the value over the
/// largest; white where exactly 0), with the computed receptive field outlined in blue and the image's edge in grey.
fn receptive_fields(path: &Path) -> Result {
    let test = datasets::fashion::test()?;
    let extractor = &pretrained().0;
    let dev = extractor.0 .0.weight.device().clone();
    let field = ch07::receptive_field(&ch07::FEATURE_NET_GEOMETRY);
    let first_hundred: Vec<usize> = (0..100).collect();
    let side = 28 * FIELD_SCALE;
    let mut tiles = Vec::new();
    for (row, column) in [(3, 3), (0, 0), (6, 2)] {
        let (x, _) = courselib::data::image_batch::<100, 1, 28, 28, Dev>(&dev, &test, &first_hundred);
        let gradient = ch07::input_gradient_of_unit(extractor, x, (0, row, column));
        let top = gradient.iter().fold(1e-30f32, |m, &v| m.max(v));
        let span = |unit: usize| {
            let start = field.first + (unit * field.stride) as isize;
            (start, start + field.size as isize - 1)
        };
        let ((top_row, bottom_row), (left, right)) = (span(row), span(column));
        let image = RgbImage::from_fn(side, side, |px, py| {
            let (x, y) = ((px / FIELD_SCALE) as isize, (py / FIELD_SCALE) as isize);
            let on_edge = |at: isize, scaled: u32, lo: isize, hi: isize| {
                (at == lo && scaled % FIELD_SCALE < 2)
                    || (at == hi && scaled % FIELD_SCALE >= FIELD_SCALE - 2)
            };
            let inside = (top_row..=bottom_row).contains(&y) && (left..=right).contains(&x);
            if inside && (on_edge(x, px, left, right) || on_edge(y, py, top_row, bottom_row)) {
                return Rgb([30, 60, 220]);
            }
            if px == 0 || py == 0 || px == side - 1 || py == side - 1 {
                return Rgb([160, 160, 160]);
            }
            let v = gradient[(y * 28 + x) as usize] / top;
            let fade = (255.0 * (1.0 - v.sqrt())).round() as u8;
            Rgb([255, fade, fade])
        });
        let caption = format!(
            "unit ({row}, {column}): rows {}-{}, cols {}-{}",
            top_row.max(0),
            bottom_row.min(27),
            left.max(0),
            right.min(27)
        );
        tiles.push(Tile { image, caption });
    }
    plot::image_grid(
        path,
        "Where one feature unit looks: |gradient| on the input, field in blue",
        &tiles,
        3,
        side,
    )?;
    Ok(())
}
