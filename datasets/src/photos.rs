//! Five public-domain photographs from scikit-image (see `data/photos/LICENSE.md`), for
//! filtering, convolution, feature and segmentation demos.
//!
//! | [`Photo`] | file | width x height | stored as |
//! |---|---|---|---|
//! | `Camera` | `camera.png` | 512 x 512 | grey |
//! | `Astronaut` | `astronaut.png` | 512 x 512 | RGB |
//! | `Coins` | `coins.png` | 384 x 303 | grey |
//! | `Coffee` | `coffee.png` | 600 x 400 | RGB |
//! | `Chelsea` | `chelsea.png` | 451 x 300 | RGB |

use std::path::Path;

use image::{GrayImage, RgbImage};

use crate::{data_dir, format_error, read_verified, DataError};

/// One of the shipped photographs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Photo {
    /// A man with a camera on a tripod (grey, 512x512; CC0, Lav Varshney).
    Camera,
    /// Astronaut Eileen Collins (RGB, 512x512; public domain, NASA).
    Astronaut,
    /// Greek coins from Pompeii on a grey background (grey, 384x303; Brooklyn Museum).
    Coins,
    /// A cup of coffee (RGB, 600x400; CC0, Rachel Michetti).
    Coffee,
    /// Chelsea the cat (RGB, 451x300; CC0, Stefan van der Walt).
    Chelsea,
}

impl Photo {
    /// All photos, in declaration order.
    pub const ALL: [Photo; 5] =
        [Photo::Camera, Photo::Astronaut, Photo::Coins, Photo::Coffee, Photo::Chelsea];

    /// Lower-case name, e.g. `"camera"`.
    pub fn name(self) -> &'static str {
        match self {
            Photo::Camera => "camera",
            Photo::Astronaut => "astronaut",
            Photo::Coins => "coins",
            Photo::Coffee => "coffee",
            Photo::Chelsea => "chelsea",
        }
    }

    /// Path of the PNG file relative to the data folder, e.g. `"photos/camera.png"`.
    pub fn file(self) -> &'static str {
        match self {
            Photo::Camera => "photos/camera.png",
            Photo::Astronaut => "photos/astronaut.png",
            Photo::Coins => "photos/coins.png",
            Photo::Coffee => "photos/coffee.png",
            Photo::Chelsea => "photos/chelsea.png",
        }
    }

    /// `(width, height)` in pixels.
    pub fn size(self) -> (u32, u32) {
        match self {
            Photo::Camera | Photo::Astronaut => (512, 512),
            Photo::Coins => (384, 303),
            Photo::Coffee => (600, 400),
            Photo::Chelsea => (451, 300),
        }
    }

    /// `true` if the file stores colour (RGB); grey photos are expanded by
    /// [`load_rgb`] with R = G = B.
    pub fn is_colour(self) -> bool {
        matches!(self, Photo::Astronaut | Photo::Coffee | Photo::Chelsea)
    }
}

/// The photo as 8-bit RGB. Grey photos get R = G = B.
///
/// Reads from [`data_dir()`](crate::data_dir).
///
/// # Errors
/// [`DataError::Missing`] if the file is absent, [`DataError::Corrupt`] if its SHA-256
/// differs from `data/SHA256SUMS`, [`DataError::Format`] if it is not a decodable PNG of
/// the expected size.
pub fn load_rgb(photo: Photo) -> Result<RgbImage, DataError> {
    load_rgb_from(&data_dir(), photo)
}

/// The photo as 8-bit grey. Colour photos are converted with image's integer sRGB luma
/// weights (0.2126 R + 0.7152 G + 0.0722 B, truncated), which is exact and deterministic.
///
/// # Errors
/// As [`load_rgb`].
pub fn load_gray(photo: Photo) -> Result<GrayImage, DataError> {
    load_gray_from(&data_dir(), photo)
}

/// [`load_rgb`] from the data folder `dir` (laid out like `datasets/data`).
///
/// # Errors
/// As [`load_rgb`].
pub fn load_rgb_from(dir: &Path, photo: Photo) -> Result<RgbImage, DataError> {
    Ok(decode(dir, photo)?.to_rgb8())
}

/// [`load_gray`] from the data folder `dir`.
///
/// # Errors
/// As [`load_rgb`].
pub fn load_gray_from(dir: &Path, photo: Photo) -> Result<GrayImage, DataError> {
    Ok(decode(dir, photo)?.to_luma8())
}

fn decode(dir: &Path, photo: Photo) -> Result<image::DynamicImage, DataError> {
    let bytes = read_verified(dir, photo.file())?;
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|e| format_error(dir, photo.file(), format!("not a decodable PNG: {e}")))?;
    let size = (img.width(), img.height());
    if size != photo.size() {
        return Err(format_error(
            dir,
            photo.file(),
            format!("expected {:?} pixels, found {size:?}", photo.size()),
        ));
    }
    Ok(img)
}
