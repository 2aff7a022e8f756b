//! The 8x8 handwritten digits (UCI "Optical Recognition of Handwritten Digits", test part,
//! as shipped by scikit-learn): 1797 grey images, pixel values `0..=16`, classes `0..=9`.
//!
//! File: `data/digits/digits.csv.gz` (CSV, 64 pixels then the label per row). Licence and
//! citation: `data/digits/LICENSE.md` (CC BY 4.0, Alpaydin & Kaynak 1998).

use std::path::Path;

use crate::{data_dir, format_error, gunzip, read_verified, DataError, ImageSet, VALIDATION_SEED};

/// Image height in pixels.
pub const HEIGHT: usize = 8;
/// Image width in pixels.
pub const WIDTH: usize = 8;
/// Number of classes (digits 0 to 9).
pub const CLASSES: usize = 10;
/// Largest pixel value (each pixel counts the "on" pixels of a 4x4 block).
pub const MAX_VALUE: u8 = 16;
/// Total number of images.
pub const SIZE: usize = 1797;
/// Number of images in the test part of [`train_test`]: a fifth of each class, rounded.
pub const TEST_SIZE: usize = 359;
/// Number of images in the train part of [`train_test`].
pub const TRAIN_SIZE: usize = SIZE - TEST_SIZE;
/// The seed of the shuffle behind [`train_test`].
pub const SPLIT_SEED: u64 = 2020;
/// Number of images in the validation part of [`train_val_test`]: a fifth of each class
/// of the train part, rounded.
pub const VAL_SIZE: usize = 287;
/// Number of images in the fit part of [`train_val_test`].
pub const FIT_SIZE: usize = TRAIN_SIZE - VAL_SIZE;
/// Path of the data file, relative to the data folder.
pub const FILE: &str = "digits/digits.csv.gz";

/// All 1797 digits in file order, as an [`ImageSet`] named `"digits"`: 1 channel, 8x8,
/// `max_value` 16, class names `"0"` to `"9"`.
///
/// Reads from [`data_dir()`](crate::data_dir).
///
/// # Errors
/// [`DataError::Missing`] if the file is absent, [`DataError::Corrupt`] if its SHA-256
/// differs from `data/SHA256SUMS`, [`DataError::Format`] if it cannot be parsed.
pub fn load() -> Result<ImageSet, DataError> {
    load_from(&data_dir())
}

/// The fixed split used throughout the course, stratified: within each class, a fifth of
/// the images (rounded) go to test, chosen by a ChaCha8 shuffle with [`SPLIT_SEED`]; both
/// parts keep file order. 1438 train and 359 ([`TEST_SIZE`]) test images. The file is grouped
/// by writer and cycles through the digits, so neither a first/last block split (tests on
/// unseen writers: a 64-hidden-unit MLP drops from about 97 % to 91 %) nor taking every
/// fifth image (skews the classes) gives a fair test set. Names `"digits-train"` and
/// `"digits-test"`.
///
/// # Errors
/// As [`load`].
pub fn train_test() -> Result<(ImageSet, ImageSet), DataError> {
    train_test_from(&data_dir())
}

/// The train part of [`train_test`] split again for choosing settings: `(fit, val, test)`
/// with [`FIT_SIZE`] images to fit on, [`VAL_SIZE`] to choose learning rates, epochs and
/// the like on (a fifth of each class of the train part, [`ImageSet::stratified_split`]
/// with [`VALIDATION_SEED`]), and the same [`TEST_SIZE`] test images as [`train_test`].
/// Once a setting is chosen, the final model is fitted on the whole train part
/// (`fit` + `val`, that is `train_test().0`) and the test accuracy is read once. Names
/// `"digits-fit"`, `"digits-val"` and `"digits-test"`.
///
/// # Errors
/// As [`load`].
pub fn train_val_test() -> Result<(ImageSet, ImageSet, ImageSet), DataError> {
    train_val_test_from(&data_dir())
}

/// [`load`] from the data folder `dir` (laid out like `datasets/data`).
///
/// # Errors
/// As [`load`].
pub fn load_from(dir: &Path) -> Result<ImageSet, DataError> {
    let raw = read_verified(dir, FILE)?;
    let text = gunzip(dir, FILE, &raw)?;
    let text = std::str::from_utf8(&text).map_err(|_| format_error(dir, FILE, "not UTF-8 text"))?;
    let mut pixels = Vec::with_capacity(SIZE * HEIGHT * WIDTH);
    let mut labels = Vec::with_capacity(SIZE);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| format_error(dir, FILE, format!("line {}: {what}", n + 1));
        let mut fields = 0;
        for (k, field) in line.split(',').enumerate() {
            fields += 1;
            // scikit-learn's file holds integers; accept "3.0" too.
            let field = field.trim();
            let field = field.strip_suffix(".0").unwrap_or(field);
            let v: u8 =
                field.parse().map_err(|_| bad(&format!("field {} is not an integer: {field:?}", k + 1)))?;
            if k < HEIGHT * WIDTH {
                if v > MAX_VALUE {
                    return Err(bad(&format!("pixel {v} out of range 0..=16")));
                }
                pixels.push(v);
            } else if k == HEIGHT * WIDTH {
                if v as usize >= CLASSES {
                    return Err(bad(&format!("label {v} out of range 0..=9")));
                }
                labels.push(v);
            }
        }
        if fields != HEIGHT * WIDTH + 1 {
            return Err(bad(&format!("expected 65 fields, found {fields}")));
        }
    }
    if labels.len() != SIZE {
        return Err(format_error(dir, FILE, format!("expected {SIZE} rows, found {}", labels.len())));
    }
    Ok(ImageSet {
        name: "digits".into(),
        channels: 1,
        height: HEIGHT,
        width: WIDTH,
        max_value: MAX_VALUE,
        pixels,
        labels,
        class_names: (0..CLASSES).map(|d| d.to_string()).collect(),
    })
}

/// [`train_test`] from the data folder `dir`.
///
/// # Errors
/// As [`load`].
pub fn train_test_from(dir: &Path) -> Result<(ImageSet, ImageSet), DataError> {
    let (train, test) = load_from(dir)?.stratified_split(5, SPLIT_SEED);
    Ok((train.named("digits-train"), test.named("digits-test")))
}

/// [`train_val_test`] from the data folder `dir`.
///
/// # Errors
/// As [`load`].
pub fn train_val_test_from(dir: &Path) -> Result<(ImageSet, ImageSet, ImageSet), DataError> {
    let (train, test) = train_test_from(dir)?;
    let (fit, val) = train.stratified_split(5, VALIDATION_SEED);
    Ok((fit.named("digits-fit"), val.named("digits-val"), test))
}
