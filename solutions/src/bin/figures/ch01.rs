//! Chapter 1's figures.

use std::path::Path;

use courselib::device::{device, Dev};
use courselib::plot::{self, Tile};
use datasets::photos::{self, Photo};
use dfdx::prelude::*;
use image::{GrayImage, Luma, Rgb, RgbImage};
use solutions::ch01_vision_tasks as ch01;

use crate::{Figure, Result};

pub const FIGURES: &[(&str, Figure)] =
    &[("ch01/digits-grid.png", digits_grid), ("ch01/rgb-channels.png", rgb_channels)];

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
