//! The course's offline datasets, plus a seeded scene generator.
//!
//! Nothing here touches the network. Real data is shipped in the repository under
//! `datasets/data/` (see `datasets/README.md` for sources, licences and sizes):
//!
//! * [`digits`]: the 1797 8x8 handwritten digits of the UCI / scikit-learn set,
//!   pixels `0..=16`.
//! * [`fashion`]: Fashion-MNIST 28x28, a stratified 12,000-image train subset and the
//!   full official 10,000-image test split, pixels `0..=255`.
//! * [`photos`]: five public-domain photographs from scikit-image.
//!
//! and generated data:
//!
//! * [`shapes`]: seeded RGB scenes of circles, squares and triangles with boxes, instance
//!   and semantic masks, captions and question/answer pairs. Same seed, same bytes, on
//!   every machine.
//!
//! **Splits.** Settings (learning rates, epochs, regularisation) are chosen on a validation
//! part, never on the test part: [`digits::train_val_test`] and [`fashion::train_val`]
//! split a fifth of each class off the train part with [`ImageSet::stratified_split`] and
//! [`VALIDATION_SEED`]; the test part is read once, for the final model.
//!
//! Every loader checks the file's SHA-256 against `data/SHA256SUMS` before parsing and
//! returns a [`DataError`] whose message says how to restore the file. The types are plain
//! Rust data (`Vec<u8>`, [`image`] buffers); converting to tensors is left to the caller.
//!
//! ```no_run
//! let digits = datasets::digits::load()?;
//! assert_eq!(digits.len(), 1797);
//! let first: &[u8] = digits.image(0); // 64 pixels, row-major, 0..=16
//! let scene = datasets::shapes::generate(&datasets::shapes::ShapesConfig::default(), 42);
//! println!("{}", scene.caption);
//! # Ok::<(), datasets::DataError>(())
//! ```

#![warn(missing_docs)]

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub mod digits;
pub mod fashion;
pub mod photos;
pub mod shapes;

/// Name of the environment variable that overrides the data folder (see [`data_dir`]).
pub const DATA_DIR_ENV: &str = "DLCV_DATA_DIR";

/// Name of the checksum manifest inside the data folder (`sha256sum` format).
pub const SHA256SUMS: &str = "SHA256SUMS";

/// Why a shipped data file could not be loaded.
///
/// Every variant carries the full path of the offending file, and [`Display`](fmt::Display)
/// names it together with instructions to restore it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataError {
    /// The file does not exist (or could not be opened because it is not there).
    Missing {
        /// Full path of the missing file.
        file: PathBuf,
        /// Human-readable instructions to restore it.
        restore: String,
    },
    /// The file exists but its SHA-256 differs from the one in `data/SHA256SUMS`
    /// (truncated, edited, or replaced by a Git LFS pointer, ...).
    Corrupt {
        /// Full path of the corrupt file.
        file: PathBuf,
        /// Lower-case hex SHA-256 listed in `data/SHA256SUMS`.
        expected_sha256: String,
        /// Lower-case hex SHA-256 of the bytes on disk.
        actual_sha256: String,
        /// Human-readable instructions to restore it.
        restore: String,
    },
    /// The file could not be read or parsed (after its checksum matched, or the
    /// checksum manifest itself is unreadable or has no entry for the file).
    Format {
        /// Full path of the file.
        file: PathBuf,
        /// What went wrong; it also says how to restore the file.
        message: String,
    },
}

impl DataError {
    /// The path of the file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            DataError::Missing { file, .. }
            | DataError::Corrupt { file, .. }
            | DataError::Format { file, .. } => file,
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Missing { file, restore } => {
                write!(f, "data file {} is missing; to restore it, {restore}", file.display())
            }
            DataError::Corrupt { file, expected_sha256, actual_sha256, restore } => write!(
                f,
                "data file {} is corrupt (SHA-256 {actual_sha256}, expected {expected_sha256}); \
                 to restore it, {restore}",
                file.display()
            ),
            DataError::Format { file, message } => {
                write!(f, "data file {} could not be read: {message}", file.display())
            }
        }
    }
}

impl std::error::Error for DataError {}

/// Root folder of the shipped data.
///
/// The environment variable `DLCV_DATA_DIR` if it is set (and not empty), else the
/// `data` folder of this crate (`concat!(env!("CARGO_MANIFEST_DIR"), "/data")`). The folder
/// must have the layout of `datasets/data/`: `digits/`, `fashion/`, `photos/` and
/// `SHA256SUMS`. The loaders without a `_from` suffix read from here; the `*_from(dir)`
/// variants take the folder explicitly.
pub fn data_dir() -> PathBuf {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => default_data_dir(),
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data"))
}

/// Restore instructions for `rel` (a path relative to the data folder) living in `dir`.
pub(crate) fn restore_hint(dir: &Path, rel: &str) -> String {
    let mut s = if rel == SHA256SUMS {
        format!("run `git checkout -- datasets/data/{rel}` in the course repository (see datasets/README.md)")
    } else {
        format!(
            "run `git checkout -- datasets/data/{rel}` in the course repository, \
             or re-extract it with datasets/extract.sh (see datasets/README.md)"
        )
    };
    if !same_dir(dir, &default_data_dir()) {
        s.push_str(&format!(", then copy it to {}", dir.join(rel).display()));
    }
    s
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn read_file(dir: &Path, rel: &str) -> Result<Vec<u8>, DataError> {
    let file = dir.join(rel);
    std::fs::read(&file).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing { file: file.clone(), restore: restore_hint(dir, rel) }
        } else {
            DataError::Format {
                message: format!("{e}; to restore it, {}", restore_hint(dir, rel)),
                file: file.clone(),
            }
        }
    })
}

/// The expected SHA-256 of `rel` according to `dir/SHA256SUMS`.
fn expected_sha256(dir: &Path, rel: &str) -> Result<String, DataError> {
    let bytes = read_file(dir, SHA256SUMS)?;
    let sums = dir.join(SHA256SUMS);
    let format_err = |message: String| DataError::Format {
        file: sums.clone(),
        message: format!("{message}; to restore it, {}", restore_hint(dir, SHA256SUMS)),
    };
    let text = String::from_utf8(bytes).map_err(|_| format_err("not UTF-8 text".into()))?;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // `sha256sum` format: 64 hex digits, a space, ' ' or '*' (binary mode), the path.
        let ok = line.len() > 66
            && line.is_char_boundary(64)
            && line[..64].bytes().all(|b| b.is_ascii_hexdigit())
            && line.as_bytes()[64] == b' '
            && matches!(line.as_bytes()[65], b' ' | b'*');
        if !ok {
            return Err(format_err(format!("line {} is not in sha256sum format", n + 1)));
        }
        if line[66..].trim_end() == rel {
            return Ok(line[..64].to_ascii_lowercase());
        }
    }
    Err(format_err(format!("no checksum listed for {rel}")))
}

/// Files whose checksum was verified in this process, keyed by path and identified by
/// (length, modification time), so a file that changes on disk is hashed again.
type VerifiedCache = Mutex<HashMap<PathBuf, (u64, Option<SystemTime>)>>;

fn verified_cache() -> &'static VerifiedCache {
    static CACHE: OnceLock<VerifiedCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Read `dir/rel` and check its SHA-256 against `dir/SHA256SUMS`.
///
/// A successful check is remembered per process (keyed by path, length and modification
/// time), so loading the same file again only re-reads it.
pub(crate) fn read_verified(dir: &Path, rel: &str) -> Result<Vec<u8>, DataError> {
    let file = dir.join(rel);
    let stamp = |bytes_len: usize| {
        let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
        (bytes_len as u64, modified)
    };
    let bytes = read_file(dir, rel)?;
    let key = stamp(bytes.len());
    let cached = verified_cache().lock().map(|c| c.get(&file) == Some(&key)).unwrap_or(false);
    if cached {
        return Ok(bytes);
    }
    let expected = expected_sha256(dir, rel)?;
    let actual = sha256_hex(&bytes);
    if actual != expected {
        return Err(DataError::Corrupt {
            file,
            expected_sha256: expected,
            actual_sha256: actual,
            restore: restore_hint(dir, rel),
        });
    }
    if let Ok(mut c) = verified_cache().lock() {
        c.insert(file, key);
    }
    Ok(bytes)
}

/// A [`DataError::Format`] for `dir/rel` with restore instructions appended.
pub(crate) fn format_error(dir: &Path, rel: &str, message: impl fmt::Display) -> DataError {
    DataError::Format {
        file: dir.join(rel),
        message: format!("{message}; to restore it, {}", restore_hint(dir, rel)),
    }
}

/// Gunzip `bytes` (the content of `dir/rel`).
pub(crate) fn gunzip(dir: &Path, rel: &str, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| format_error(dir, rel, format!("not valid gzip data: {e}")))?;
    Ok(out)
}

/// The seed of the stratified shuffle that splits a validation part off a train part
/// ([`digits::train_val_test`], [`fashion::train_val`]).
pub const VALIDATION_SEED: u64 = 2021;

/// A labelled set of images, stored channel-major `(C, H, W)` per image, `u8` pixels.
///
/// Image `i` occupies `pixels[i * image_len() .. (i + 1) * image_len()]`, laid out as
/// `channels` planes of `height` rows of `width` pixels. Pixel values run from 0 to
/// [`max_value`](ImageSet::max_value) inclusive (16 for [`digits`], 255 otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    /// Short name, e.g. `"digits"`, `"digits-train"`, `"fashion-test"`.
    pub name: String,
    /// Channels per image (1 for all shipped sets).
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Largest possible pixel value: 16 for digits, 255 otherwise. Divide by it to get
    /// intensities in `[0, 1]`.
    pub max_value: u8,
    /// All pixels, `len() * channels * height * width` bytes, image after image.
    pub pixels: Vec<u8>,
    /// One class id per image, each `< class_names.len()`.
    pub labels: Vec<u8>,
    /// Human-readable class names, indexed by class id.
    pub class_names: Vec<String>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of values per image: `channels * height * width`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i`, `(C, H, W)` row-major, `image_len()` values.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        assert!(i < self.len(), "image index {i} out of range for {} images", self.len());
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The class id of image `i`, in `0..class_names.len()`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn label(&self, i: usize) -> usize {
        self.labels[i] as usize
    }

    /// A new set holding the images at `indices`, in that order (repeats allowed).
    /// The name gets a `"-subset"` suffix; everything else is kept.
    ///
    /// # Panics
    /// If an index is `>= len()`.
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        ImageSet {
            name: format!("{}-subset", self.name),
            pixels,
            labels,
            class_names: self.class_names.clone(),
            ..*self
        }
    }

    /// Splits the set in two, stratified: within each class, `round(count / denominator)`
    /// images (halves rounded down) are held out, chosen by a ChaCha8 shuffle of all
    /// indices with `seed` and taken in shuffled order while their class has room. Returns
    /// `(kept, held_out)`, both in this set's order, so the two parts cover every image
    /// exactly once and each class keeps its share. With `denominator` 5 a class of 178
    /// images gives 36 to the held-out part.
    ///
    /// # Panics
    /// If `denominator` is 0.
    pub fn stratified_split(&self, denominator: usize, seed: u64) -> (ImageSet, ImageSet) {
        assert!(denominator > 0, "stratified_split: the denominator must be at least 1");
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        // round(c / d) with halves down: (c + (d - 1) / 2) / d; for d = 5, (c + 2) / 5.
        let mut room: Vec<usize> =
            self.class_counts().iter().map(|&c| (c + (denominator - 1) / 2) / denominator).collect();
        let mut held_out = vec![false; self.len()];
        for i in order {
            if room[self.label(i)] > 0 {
                room[self.label(i)] -= 1;
                held_out[i] = true;
            }
        }
        let (out, kept): (Vec<usize>, Vec<usize>) = (0..self.len()).partition(|&i| held_out[i]);
        (self.subset(&kept), self.subset(&out))
    }

    /// The first `per_class` images of each class, in this set's order (fewer for a class
    /// that has fewer).
    pub fn first_per_class(&self, per_class: usize) -> ImageSet {
        let mut taken = vec![0; self.class_names.len()];
        let indices: Vec<usize> = (0..self.len())
            .filter(|&i| {
                taken[self.label(i)] += 1;
                taken[self.label(i)] <= per_class
            })
            .collect();
        self.subset(&indices)
    }

    /// Renames the set (builder style): `digits.stratified_split(5, 1).0.named("digits-train")`.
    #[must_use]
    pub fn named(mut self, name: &str) -> ImageSet {
        self.name = name.into();
        self
    }

    /// Number of images per class id: a vector of length `class_names.len()`.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// All pixels as `f32` divided by [`max_value`](ImageSet::max_value), so in `[0, 1]`;
    /// same layout and length as [`pixels`](ImageSet::pixels).
    pub fn pixels_f32(&self) -> Vec<f32> {
        let scale = 1.0 / f32::from(self.max_value);
        self.pixels.iter().map(|&p| f32::from(p) * scale).collect()
    }
}
