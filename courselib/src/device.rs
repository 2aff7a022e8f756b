//! Device selection and seeded randomness.
//!
//! Everything in the course is generic over `D: Device<f32>`; this module picks the
//! concrete device: [`Dev`] is dfdx's `Cpu`, or `Cuda` when the crate is built with
//! `--features cuda`. All randomness is seeded, so every run gives the same numbers.

use dfdx::tensor::AutoDevice;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The device the course runs on: `Cpu` by default, `Cuda` with `--features cuda`.
pub type Dev = AutoDevice;

/// A device whose own random sampling (`dev.sample_normal()`, dropout, ...) is seeded.
pub fn device(seed: u64) -> Dev {
    Dev::seed_from_u64(seed)
}

/// The course's random-number generator: ChaCha with 8 rounds, the same stream on every
/// machine for the same seed.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
