//! Draws the book's figures from the reference solutions: `cargo course figures`.
//!
//! Writes `book/figures/chNN/*.png`. Every figure is deterministic (seeded), so a run
//! that changes a committed figure means the solution changed.

use std::path::{Path, PathBuf};

use courselib::device::{device, Dev};
use courselib::plot::{self, Panel, Series, Tile};
use datasets::photos::{self, Photo};
use dfdx::prelude::*;
use image::{GrayImage, Luma, Rgb, RgbImage};
use solutions::{ch01_vision_tasks as ch01, ch02_backprop as ch02};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;
type Figure = fn(&Path) -> Result;

fn main() -> Result {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/figures"));
    let figures: [(&str, Figure); 4] = [
        ("ch01/digits-grid.png", digits_grid),
        ("ch01/rgb-channels.png", rgb_channels),
        ("ch02/mlp-training.png", mlp_training),
        ("ch02/gradient-check.png", gradient_check),
    ];
    for (name, draw) in figures {
        let path = root.join(name);
        draw(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn grey_to_rgb(image: &GrayImage) -> RgbImage {
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let Luma([v]) = *image.get_pixel(x, y);
        Rgb([v, v, v])
    })
}

/// The first 32 digits, dark ink on white as on paper.
fn digits_grid(path: &Path) -> Result {
    let set = datasets::digits::load()?;
    let tiles = (0..32)
        .map(|i| {
            let pixels = set.image(i).iter().map(|&p| 255 - (u16::from(p) * 255 / 16) as u8).collect();
            let image = GrayImage::from_raw(8, 8, pixels).expect("8x8 pixels");
            Tile { image: grey_to_rgb(&image), caption: format!("label {}", set.label(i)) }
        })
        .collect::<Vec<_>>();
    plot::image_grid(path, "digits: 8x8 pixels, 17 grey levels", &tiles, 8, 80)?;
    Ok(())
}

/// A photo and the three planes of its (3, H, W) tensor from `image_to_tensor`.
fn rgb_channels(path: &Path) -> Result {
    let photo = photos::load_rgb(Photo::Astronaut)?;
    let tensor: Tensor<Rank3<3, 512, 512>, f32, Dev> = ch01::image_to_tensor(&device(0), &photo)?;
    let planes = tensor.as_vec();
    let plane = |c: usize| {
        let pixels =
            planes[c * 512 * 512..(c + 1) * 512 * 512].iter().map(|v| (v * 255.0).round() as u8).collect();
        grey_to_rgb(&GrayImage::from_raw(512, 512, pixels).expect("512x512 pixels"))
    };
    let tiles = vec![
        Tile { image: photo, caption: "image (H x W x 3)".into() },
        Tile { image: plane(0), caption: "tensor[0]: red".into() },
        Tile { image: plane(1), caption: "tensor[1]: green".into() },
        Tile { image: plane(2), caption: "tensor[2]: blue".into() },
    ];
    plot::image_grid(path, "one image, three channel planes", &tiles, 4, 256)?;
    Ok(())
}

/// Training loss and test accuracy per epoch of the chapter 2 network on digits.
fn mlp_training(path: &Path) -> Result {
    let (train, test) = datasets::digits::train_test()?;
    let config = ch02::TrainConfig::default();
    let (_, history) = ch02::train_mlp::<64, _>(&device(0), &train, &test, &config);
    let points =
        |f: fn(&ch02::EpochStats) -> f32| history.iter().map(|s| (s.epoch as f64, f64::from(f(s)))).collect();
    let panels = [
        Panel {
            title: "mean training loss (NLL)".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![Series { label: String::new(), points: points(|s| s.train_loss) }],
        },
        Panel {
            title: "test accuracy".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: vec![
                Series { label: "64 hidden units".into(), points: points(|s| s.test_accuracy) },
                Series { label: "bar: 95 %".into(), points: vec![(1.0, 0.95), (config.epochs as f64, 0.95)] },
            ],
        },
    ];
    plot::line_charts(path, &panels, 520, 400)?;
    Ok(())
}

/// Every gradient entry of a small network: hand-written backward pass against central
/// finite differences.
fn gradient_check(path: &Path) -> Result {
    type Mlp = ch02::TwoLayerMlp<5, 7, 3, f64, Dev>;
    let dev = device(0);
    let mlp = Mlp::new(&dev, 42);
    let x: Tensor<Rank2<4, 5>, f64, Dev> = dev.sample_normal();
    let labels = [0, 2, 1, 2];
    let (_, grads) = mlp.loss_and_gradients(&x, &labels);
    let loss = |m: &Mlp| ch02::softmax_nll_loss(&m.forward(&x).logits, &labels);
    let eps = 1e-6;
    let numeric = [
        courselib::gradcheck::numerical_gradient(
            |t| loss(&Mlp { w1: t.clone(), ..mlp.clone() }),
            &mlp.w1,
            eps,
        )
        .as_vec(),
        courselib::gradcheck::numerical_gradient(
            |t| loss(&Mlp { b1: t.clone(), ..mlp.clone() }),
            &mlp.b1,
            eps,
        )
        .as_vec(),
        courselib::gradcheck::numerical_gradient(
            |t| loss(&Mlp { w2: t.clone(), ..mlp.clone() }),
            &mlp.w2,
            eps,
        )
        .as_vec(),
        courselib::gradcheck::numerical_gradient(
            |t| loss(&Mlp { b2: t.clone(), ..mlp.clone() }),
            &mlp.b2,
            eps,
        )
        .as_vec(),
    ];
    let hand = [grads.w1.as_vec(), grads.b1.as_vec(), grads.w2.as_vec(), grads.b2.as_vec()];
    let points: Vec<(f64, f64)> =
        numeric.iter().flatten().copied().zip(hand.iter().flatten().copied()).collect();
    let error = courselib::gradcheck::max_relative_error(&hand.concat(), &numeric.concat());
    plot::scatter_against_diagonal(
        path,
        &format!("{} gradient entries, max relative error {error:.1e}", points.len()),
        "finite differences (f64, eps = 1e-6)",
        "hand-written backward pass",
        &points,
    )?;
    Ok(())
}
