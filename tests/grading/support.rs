//! Random inputs for the property tests: seeded, so a failure can be replayed.

use courselib::device::{rng, Dev};
use dfdx::prelude::*;
use rand::Rng;

/// The seeds every property test runs with.
pub const SEEDS: [u64; 4] = [1, 2, 3, 1234];

/// A tensor of shape `S` with entries uniform in `[-scale, scale)`, from `seed`.
pub fn uniform<S: ConstShape, E: Dtype>(dev: &Dev, seed: u64, scale: f64) -> Tensor<S, E, Dev>
where
    Dev: Device<E>,
{
    let mut rng = rng(seed);
    let values = (0..S::NUMEL).map(|_| E::from_f64(rng.gen_range(-scale..scale)).unwrap()).collect();
    dev.tensor_from_vec(values, S::default())
}

/// `B` labels below `C`, from `seed`.
pub fn labels<const B: usize, const C: usize>(seed: u64) -> [usize; B] {
    let mut rng = rng(seed ^ 0x5eed);
    std::array::from_fn(|_| rng.gen_range(0..C))
}

/// Values rounded to `digits` decimals, one row per line: stable text for snapshots.
pub fn table(values: &[f64], columns: usize, digits: usize) -> String {
    values
        .chunks(columns)
        .map(|row| {
            row.iter()
                .map(|v| format!("{:>w$.digits$}", v + 0.0, w = digits + 4))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
