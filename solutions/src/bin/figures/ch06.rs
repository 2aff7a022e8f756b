//! Chapter 6's figures.

use std::path::Path;

use courselib::device::{device, rng, Dev};
use courselib::plot::{self, Panel, Series, Tile};
use datasets::photos::Photo;
use dfdx::prelude::*;
use image::{imageops, GrayImage, Rgb, RgbImage};
use solutions::ch06_convolutions as ch06;

use crate::{Figure, Result};

pub const FIGURES: &[(&str, Figure)] = &[
    ("ch06/filters.png", filters),
    ("ch06/augmentations.png", augmentations),
    ("ch06/cnn-training.png", cnn_training),
    ("ch06/gradient-routing.png", gradient_routing),
    ("ch06/cnn-validation.png", cnn_validation),
    ("ch06/regularisation.png", regularisation),
];

/// Side of the photo the filters are applied to.
const SIDE: usize = 256;

/// A grey tile from values: `[0, 1]` clipped when `signed` is false, else `√(|v| / max |v|)`
/// (edge maps; the square root makes weak edges visible).
fn grey_tile(values: &[f32], signed: bool, caption: &str) -> Tile {
    let top = if signed { values.iter().fold(0.0f32, |m, v| m.max(v.abs())) } else { 1.0 };
    let grey = GrayImage::from_fn(SIDE as u32, SIDE as u32, |x, y| {
        let v = values[y as usize * SIDE + x as usize];
        let v = if signed { (v.abs() / top).sqrt() } else { v };
        image::Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8])
    });
    Tile { image: image::DynamicImage::ImageLuma8(grey).to_rgb8(), caption: caption.into() }
}

/// The camera photo convolved with five hand-made filters at once (one conv layer of 5
/// filters of 5x5, padding 2, through `conv2d_im2col`).
fn filters(path: &Path) -> Result {
    let photo = imageops::resize(
        &datasets::photos::load_gray(Photo::Camera)?,
        SIDE as u32,
        SIDE as u32,
        imageops::FilterType::Triangle,
    );
    let pixels: Vec<f32> = photo.pixels().map(|p| f32::from(p.0[0]) / 255.0).collect();
    let dev = device(0);
    let x: Tensor<Rank4<1, 1, SIDE, SIDE>, f32, Dev> =
        dev.tensor_from_vec(pixels.clone(), (Const, Const, Const, Const));
    // 3x3 filters sit in the centre of the 5x5 grid.
    let centred = |f: [[f32; 3]; 3]| -> [[f32; 5]; 5] {
        std::array::from_fn(|r| {
            std::array::from_fn(|c| {
                if (1..4).contains(&r) && (1..4).contains(&c) {
                    f[r - 1][c - 1]
                } else {
                    0.0
                }
            })
        })
    };
    let bank: [[[f32; 5]; 5]; 5] = [
        [[1.0 / 25.0; 5]; 5],
        centred([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),
        centred([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]),
        centred([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]),
        centred([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
    ];
    let weight: Tensor<Rank4<5, 1, 5, 5>, f32, Dev> =
        dev.tensor_from_vec(bank.iter().flatten().flatten().copied().collect(), (Const, Const, Const, Const));
    let y: Tensor<Rank4<1, 5, SIDE, SIDE>, f32, Dev> =
        ch06::conv2d_im2col(x, &weight, &dev.zeros(), Const::<1>, Const::<2>);
    let maps = y.as_vec();
    let map = |k: usize| &maps[k * SIDE * SIDE..(k + 1) * SIDE * SIDE];
    let tiles = [
        grey_tile(&pixels, false, "input"),
        grey_tile(map(0), false, "5x5 box blur"),
        grey_tile(map(4), false, "sharpen (3x3)"),
        grey_tile(map(1), true, "Sobel x: |vertical edges|"),
        grey_tile(map(2), true, "Sobel y: |horizontal edges|"),
        grey_tile(map(3), true, "Laplacian: |v|"),
    ];
    plot::image_grid(path, "one conv layer, five hand-made filters", &tiles, 3, SIDE as u32)?;
    Ok(())
}

/// The augmentations of section 6.8 applied to the first Fashion-MNIST training image.
fn augmentations(path: &Path) -> Result {
    let train = datasets::fashion::train()?;
    let index = 0;
    let image = RgbImage::from_fn(28, 28, |x, y| {
        let v = train.image(index)[(y * 28 + x) as usize];
        Rgb([v, v, v])
    });
    let mut rng = rng(6);
    let crop = ch06::random_crop(&image, 20, 20, &mut rng);
    let combined = ch06::gaussian_noise(
        &ch06::random_crop(&ch06::rotate(&ch06::flip(&image, true), 15.0), 24, 24, &mut rng),
        12.0,
        &mut rng,
    );
    let tiles = [
        Tile { image: image.clone(), caption: datasets::fashion::CLASS_NAMES[train.label(index)].into() },
        Tile { image: ch06::flip(&image, true), caption: "flip horizontal".into() },
        Tile { image: ch06::flip(&image, false), caption: "flip vertical".into() },
        Tile { image: ch06::rotate(&image, 20.0), caption: "rotate 20°".into() },
        Tile { image: ch06::rotate(&image, -35.0), caption: "rotate −35°".into() },
        Tile { image: crop, caption: "random crop 20x20".into() },
        Tile { image: ch06::gaussian_noise(&image, 25.0, &mut rng), caption: "noise σ = 25".into() },
        Tile { image: ch06::scale_channels(&image, [1.0, 0.75, 0.4]), caption: "G × 0.75, B × 0.4".into() },
        Tile { image: combined, caption: "flip, rotate, crop, noise".into() },
        Tile {
            image: ch06::elastic_distortion(&image, 34.0, 4.0, &mut rng),
            caption: "elastic α = 34, σ = 4".into(),
        },
        Tile {
            image: ch06::elastic_distortion(&image, 34.0, 4.0, &mut rng),
            caption: "again, new draws".into(),
        },
        Tile {
            image: ch06::elastic_distortion(&image, 34.0, 1.0, &mut rng),
            caption: "elastic α = 34, σ = 1".into(),
        },
    ];
    // The size of Simard's fields on 28x28 images, quoted in section 6.8.
    for seed in [1, 2, 3, 1234] {
        let field = ch06::elastic_field(28, 28, 34.0, 4.0, &mut courselib::device::rng(seed));
        let all: Vec<f64> = field.dx.iter().chain(&field.dy).copied().collect();
        let rms = (all.iter().map(|v| v * v).sum::<f64>() / all.len() as f64).sqrt();
        let largest = all.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        println!("      elastic field α 34, σ 4, seed {seed}: rms {rms:.2} px, largest {largest:.2} px");
    }
    plot::image_grid(path, "data augmentation of one training image", &tiles, 3, 180)?;
    Ok(())
}

/// The loss of every training batch of the chapter's CNN on Fashion-MNIST, with its moving
/// average, and the test accuracy reached.
fn cnn_training(path: &Path) -> Result {
    let (train, test) = (datasets::fashion::train()?, datasets::fashion::test()?);
    let config = ch06::CnnConfig::default();
    let (model, losses) = ch06::train_fashion_cnn(&train, &config);
    let accuracy = ch06::cnn_accuracy(&model, &test, &(0..test.len()).collect::<Vec<_>>());
    const WINDOW: usize = 20;
    let average = losses
        .windows(WINDOW)
        .enumerate()
        .map(|(i, w)| ((i + WINDOW) as f64, f64::from(w.iter().sum::<f32>()) / WINDOW as f64))
        .collect();
    let panel = Panel {
        title: format!(
            "{} epochs, batch {}, Adam {}: test accuracy {:.1} %",
            config.epochs,
            ch06::CNN_BATCH,
            config.learning_rate,
            100.0 * accuracy
        ),
        x_label: "batch".into(),
        y_label: "cross-entropy loss".into(),
        series: vec![
            Series {
                label: "per batch".into(),
                points: losses.iter().enumerate().map(|(i, &l)| ((i + 1) as f64, f64::from(l))).collect(),
            },
            Series { label: format!("mean of the last {WINDOW} batches"), points: average },
        ],
    };
    plot::line_charts(path, &[panel], 760, 420)?;
    Ok(())
}

/// A grey tile of a small map, black at 0 and white at `top` (shown enlarged, pixel by pixel).
fn map_tile(values: &[f64], side: usize, top: f64, caption: String) -> Tile {
    let grey = GrayImage::from_fn(side as u32, side as u32, |x, y| {
        let v = values[y as usize * side + x as usize] / top;
        image::Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8])
    });
    Tile { image: image::DynamicImage::ImageLuma8(grey).to_rgb8(), caption }
}

/// Where the backward passes of section 6.10 send a gradient of 1 from every output:
/// col2im of all-ones columns (how many windows see each pixel) for three convolution
/// geometries, and the max- and average-pooling backward passes on a Fashion-MNIST image.
fn gradient_routing(path: &Path) -> Result {
    const SIDE: usize = 16;
    let counts = |kernel: usize, stride: usize, padding: usize| -> Tile {
        let positions = ch06::conv_output_size(SIDE, kernel, stride, padding).pow(2);
        let counts =
            ch06::col2im(&vec![1.0f64; kernel * kernel * positions], 1, SIDE, SIDE, kernel, stride, padding);
        let top = counts.iter().fold(0.0f64, |m, &v| m.max(v));
        let low = counts.iter().fold(f64::INFINITY, |m, &v| m.min(v));
        map_tile(
            &counts,
            SIDE,
            top,
            format!("conv {kernel}x{kernel}, S {stride}, P {padding}: {low} to {top}"),
        )
    };
    let train = datasets::fashion::train()?;
    let dev = device(0);
    let pixels: Vec<f64> = train.image(0).iter().map(|&v| f64::from(v) / 255.0).collect();
    let x: Tensor<Rank4<1, 1, 28, 28>, f64, Dev> =
        dev.tensor_from_vec(pixels.clone(), (Const, Const, Const, Const));
    let ones: Tensor<Rank4<1, 1, 14, 14>, f64, Dev> = dev.ones();
    let max_routed = ch06::max_pool2d_backward(&x, &ones, Const::<2>, Const::<2>).as_vec();
    let overlapping: Tensor<Rank4<1, 1, 13, 13>, f64, Dev> = dev.ones();
    let max_overlapping = ch06::max_pool2d_backward(&x, &overlapping, Const::<3>, Const::<2>).as_vec();
    let top = max_overlapping.iter().fold(0.0f64, |m, &v| m.max(v));
    let tiles = [
        counts(3, 1, 1),
        counts(3, 2, 1),
        counts(4, 2, 1),
        map_tile(&pixels, 28, 1.0, format!("{} (input)", datasets::fashion::CLASS_NAMES[train.label(0)])),
        map_tile(&max_routed, 28, 1.0, "max pool 2x2, S 2: 0 or 1".into()),
        map_tile(&max_overlapping, 28, top, format!("max pool 3x3, S 2: 0 to {top}")),
    ];
    plot::image_grid(path, "where a gradient of 1 from every output goes (white: the most)", &tiles, 3, 220)?;
    Ok(())
}

/// Images per class of the reduced training set of the regularisation experiment.
const REDUCED_PER_CLASS: usize = 100;
/// Epochs of the regularisation experiment.
const REDUCED_EPOCHS: usize = 30;

/// Section 6.9's CNN on 1,000 training images (100 per class of the fit part) for 30
/// epochs: training and validation accuracy per epoch, with batch norm alone, without it,
/// with dropout, and with augmentation.
fn regularisation(path: &Path) -> Result {
    let (fit, val) = datasets::fashion::train_val()?;
    let reduced = fit.first_per_class(REDUCED_PER_CLASS);
    let base = ch06::Regularisers { batch_norm: true, dropout: 0.0, augment: false };
    let variants = [
        ("batch norm", base),
        ("no batch norm", ch06::Regularisers { batch_norm: false, ..base }),
        ("batch norm + dropout 0.5", ch06::Regularisers { dropout: 0.5, ..base }),
        ("batch norm + augmentation", ch06::Regularisers { augment: true, ..base }),
    ];
    let mut train_series = Vec::new();
    let mut val_series = Vec::new();
    for (name, regularisers) in variants {
        let curves = ch06::regularisation_experiment(&reduced, &val, regularisers, REDUCED_EPOCHS, 1);
        let points =
            |values: &[f32]| values.iter().zip(1..).map(|(&a, e)| (f64::from(e), f64::from(a))).collect();
        let (train_end, val_end) =
            (curves.train_accuracy[REDUCED_EPOCHS - 1], curves.val_accuracy[REDUCED_EPOCHS - 1]);
        let best_val = curves.val_accuracy.iter().copied().fold(0.0f32, f32::max);
        println!(
            "      {name}: after {REDUCED_EPOCHS} epochs train {:.1} %, val {:.1} % (gap {:.1} points), best val {:.1} %",
            100.0 * train_end,
            100.0 * val_end,
            100.0 * (train_end - val_end),
            100.0 * best_val
        );
        train_series.push(Series { label: name.into(), points: points(&curves.train_accuracy) });
        val_series.push(Series { label: name.into(), points: points(&curves.val_accuracy) });
    }
    let panels = [
        Panel {
            title: format!("training accuracy ({} images)", reduced.len()),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: train_series,
        },
        Panel {
            title: format!("validation accuracy ({} images)", val.len()),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: val_series,
        },
    ];
    plot::line_charts(path, &panels, 520, 400)?;
    Ok(())
}

/// How the number of epochs of section 6.9 was chosen: the chapter's CNN trained on the fit
/// part (9,600 images) for 1, 2 and 3 epochs with seeds 1, 2, 3 and the default seed 6,
/// its accuracy on the validation part (2,400 images).
fn cnn_validation(path: &Path) -> Result {
    let (fit, val) = datasets::fashion::train_val()?;
    let everything: Vec<usize> = (0..val.len()).collect();
    let default = ch06::CnnConfig::default();
    let mut series = Vec::new();
    let mut sums = [0.0f64; 3];
    for seed in [1, 2, 3, default.seed] {
        let points: Vec<(f64, f64)> = (1..=3)
            .map(|epochs| {
                let (model, _) =
                    ch06::train_fashion_cnn(&fit, &ch06::CnnConfig { epochs, seed, ..default.clone() });
                (epochs as f64, 100.0 * f64::from(ch06::cnn_accuracy(&model, &val, &everything)))
            })
            .collect();
        let described: Vec<String> = points.iter().map(|(e, a)| format!("{e} epochs {a:.2} %")).collect();
        println!("      seed {seed}: {}", described.join(", "));
        if seed != default.seed {
            for (sum, (_, a)) in sums.iter_mut().zip(&points) {
                *sum += a / 3.0;
            }
        }
        series.push(Series { label: format!("seed {seed}"), points });
    }
    println!("      mean of seeds 1-3: {:?}", sums.map(|a| (10.0 * a).round() / 10.0));
    series.push(Series {
        label: "mean of seeds 1 to 3".into(),
        points: sums.iter().zip(1..).map(|(&a, e)| (f64::from(e), a)).collect(),
    });
    let panel = Panel {
        title: format!("validation accuracy ({} images), trained on {}", val.len(), fit.len()),
        x_label: "epochs".into(),
        y_label: "accuracy (%)".into(),
        series,
    };
    plot::line_charts(path, &[panel], 620, 420)?;
    Ok(())
}
