//! Fashion-MNIST (Zalando, MIT licence): 28x28 grey images of clothing, pixel values
//! `0..=255`, 10 classes.
//!
//! Shipped: a stratified **train subset** of 12,000 images (the first 1,200 images of
//! each class of the official 60k train split, in file order) and the **full official
//! test split** of 10,000 images (1,000 per class), as IDX files under `data/fashion/`.
//! How the subset was made: `data/fashion/LICENSE.md` and `datasets/README.md`.

use std::path::Path;

use crate::{data_dir, format_error, gunzip, read_verified, DataError, ImageSet, VALIDATION_SEED};

/// Image height in pixels.
pub const HEIGHT: usize = 28;
/// Image width in pixels.
pub const WIDTH: usize = 28;
/// Number of classes.
pub const CLASSES: usize = 10;
/// Images in the shipped train subset.
pub const TRAIN_SIZE: usize = 12_000;
/// Images per class in the shipped train subset.
pub const TRAIN_PER_CLASS: usize = 1_200;
/// Images in the validation part of [`train_val`] (a fifth of each class).
pub const VAL_SIZE: usize = TRAIN_SIZE / 5;
/// Images in the official test split.
pub const TEST_SIZE: usize = 10_000;
/// Class names, indexed by class id.
pub const CLASS_NAMES: [&str; CLASSES] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];
/// Train images file, relative to the data folder.
pub const TRAIN_IMAGES: &str = "fashion/train-images-idx3-ubyte.gz";
/// Train labels file, relative to the data folder.
pub const TRAIN_LABELS: &str = "fashion/train-labels-idx1-ubyte.gz";
/// Test images file, relative to the data folder.
pub const TEST_IMAGES: &str = "fashion/t10k-images-idx3-ubyte.gz";
/// Test labels file, relative to the data folder.
pub const TEST_LABELS: &str = "fashion/t10k-labels-idx1-ubyte.gz";

/// The 12,000-image stratified train subset (1,200 per class, official file order), named
/// `"fashion-train"`: 1 channel, 28x28, `max_value` 255, names [`CLASS_NAMES`].
///
/// Reads from [`data_dir()`](crate::data_dir). Takes a few tens of milliseconds
/// (decompressing 9 MB).
///
/// # Errors
/// [`DataError::Missing`] if a file is absent, [`DataError::Corrupt`] if its SHA-256
/// differs from `data/SHA256SUMS`, [`DataError::Format`] if it is not valid IDX data.
pub fn train() -> Result<ImageSet, DataError> {
    train_from(&data_dir())
}

/// The official 10,000-image test split, named `"fashion-test"`; otherwise as [`train`].
///
/// # Errors
/// As [`train`].
pub fn test() -> Result<ImageSet, DataError> {
    test_from(&data_dir())
}

/// The train subset split for choosing settings: `(fit, val)`, 9,600 images to fit on and
/// 2,400 ([`VAL_SIZE`], 240 per class, [`ImageSet::stratified_split`] with
/// [`VALIDATION_SEED`]) to choose learning rates, epochs and the like on, both in file
/// order. The official test split ([`test()`]) is read once, for the final model fitted
/// on the whole train subset. Names `"fashion-fit"` and `"fashion-val"`.
///
/// # Errors
/// As [`train`].
pub fn train_val() -> Result<(ImageSet, ImageSet), DataError> {
    train_val_from(&data_dir())
}

/// [`train_val`] from the data folder `dir`.
///
/// # Errors
/// As [`train`].
pub fn train_val_from(dir: &Path) -> Result<(ImageSet, ImageSet), DataError> {
    let (fit, val) = train_from(dir)?.stratified_split(5, VALIDATION_SEED);
    Ok((fit.named("fashion-fit"), val.named("fashion-val")))
}

/// [`train`] from the data folder `dir` (laid out like `datasets/data`).
///
/// # Errors
/// As [`train`].
pub fn train_from(dir: &Path) -> Result<ImageSet, DataError> {
    load_pair(dir, TRAIN_IMAGES, TRAIN_LABELS, "fashion-train", TRAIN_SIZE)
}

/// [`test()`] from the data folder `dir`.
///
/// # Errors
/// As [`train`].
pub fn test_from(dir: &Path) -> Result<ImageSet, DataError> {
    load_pair(dir, TEST_IMAGES, TEST_LABELS, "fashion-test", TEST_SIZE)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn load_pair(
    dir: &Path,
    images: &str,
    labels: &str,
    name: &str,
    expected: usize,
) -> Result<ImageSet, DataError> {
    let img = gunzip(dir, images, &read_verified(dir, images)?)?;
    let lab = gunzip(dir, labels, &read_verified(dir, labels)?)?;

    if img.len() < 16 || be_u32(&img, 0) != 2051 {
        return Err(format_error(dir, images, "not an IDX image file (magic 2051)"));
    }
    let (n, h, w) = (be_u32(&img, 4) as usize, be_u32(&img, 8) as usize, be_u32(&img, 12) as usize);
    if (h, w) != (HEIGHT, WIDTH) || n != expected || img.len() != 16 + n * h * w {
        return Err(format_error(
            dir,
            images,
            format!(
                "expected {expected} images of 28x28 ({} bytes), header says {n} of {h}x{w} and \
                 the file holds {} bytes",
                16 + expected * HEIGHT * WIDTH,
                img.len()
            ),
        ));
    }
    if lab.len() < 8 || be_u32(&lab, 0) != 2049 {
        return Err(format_error(dir, labels, "not an IDX label file (magic 2049)"));
    }
    let m = be_u32(&lab, 4) as usize;
    if m != n || lab.len() != 8 + n {
        return Err(format_error(
            dir,
            labels,
            format!("expected {n} labels, header says {m}, file holds {}", lab.len() - 8),
        ));
    }
    let label_bytes = lab[8..].to_vec();
    if let Some(bad) = label_bytes.iter().find(|&&l| l as usize >= CLASSES) {
        return Err(format_error(dir, labels, format!("label {bad} out of range 0..=9")));
    }
    Ok(ImageSet {
        name: name.into(),
        channels: 1,
        height: HEIGHT,
        width: WIDTH,
        max_value: 255,
        pixels: img[16..].to_vec(),
        labels: label_bytes,
        class_names: CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
    })
}
