//! Assertions for graded tests. A failure says what was compared, where the first and the
//! largest mismatch are, and which book section explains the exercise.

use std::fmt::Display;

/// How close two numbers must be: `|got − want| <= abs + rel · |want|`.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub abs: f64,
    pub rel: f64,
}

impl Tolerance {
    /// For f32 results of a few arithmetic operations compared with an f64 reference:
    /// f32 rounds at about 6e-8 relative per operation.
    pub const F32: Tolerance = Tolerance { abs: 1e-5, rel: 1e-4 };
    /// For f64 results compared with an f64 reference computed another way.
    pub const F64: Tolerance = Tolerance { abs: 1e-10, rel: 1e-9 };

    pub fn accepts(&self, got: f64, want: f64) -> bool {
        (got - want).abs() <= self.abs + self.rel * want.abs()
    }
}

/// Panics unless `got` and `want` have the same length and agree element-wise within
/// `tolerance`. `context` names the exercise and its book section, e.g.
/// `"softmax (book section 2.4): rows of a 3x4 batch"`.
pub fn assert_all_close<G, W>(context: impl Display, got: &[G], want: &[W], tolerance: Tolerance)
where
    G: Copy + Into<f64>,
    W: Copy + Into<f64>,
{
    assert_eq!(got.len(), want.len(), "{context}: got {} values, expected {}", got.len(), want.len());
    let mut first_bad = None;
    let mut worst: Option<(usize, f64)> = None;
    let mut bad_count = 0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w): (f64, f64) = (g.into(), w.into());
        if !tolerance.accepts(g, w) || g.is_nan() != w.is_nan() {
            bad_count += 1;
            first_bad.get_or_insert((i, g, w));
            let err = if g.is_nan() { f64::INFINITY } else { (g - w).abs() };
            if worst.is_none_or(|(_, e)| err > e) {
                worst = Some((i, err));
            }
        }
    }
    if let (Some((i, g, w)), Some((j, err))) = (first_bad, worst) {
        panic!(
            "{context}: {bad_count} of {} values differ; first at index {i}: got {g}, expected {w}; \
             largest error {err:.3e} at index {j} (tolerance: abs {:e} + rel {:e})",
            got.len(),
            tolerance.abs,
            tolerance.rel
        );
    }
}

/// Panics unless `got` is within `tolerance` of `want`.
pub fn assert_close(context: impl Display, got: impl Into<f64>, want: impl Into<f64>, tolerance: Tolerance) {
    let (got, want) = (got.into(), want.into());
    assert!(
        tolerance.accepts(got, want),
        "{context}: got {got}, expected {want} (tolerance: abs {:e} + rel {:e})",
        tolerance.abs,
        tolerance.rel
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_close_values() {
        assert_all_close("ok", &[1.0f32, 2.0], &[1.000001f64, 2.0], Tolerance::F32);
    }

    #[test]
    #[should_panic(expected = "softmax (book section 2.4): 1 of 2 values differ; first at index 1")]
    fn names_the_context_and_the_first_mismatch() {
        assert_all_close("softmax (book section 2.4)", &[1.0f32, 2.5], &[1.0f64, 2.0], Tolerance::F32);
    }

    #[test]
    #[should_panic(expected = "differ")]
    fn nan_is_never_close() {
        assert_all_close("nan", &[f32::NAN], &[0.0f64], Tolerance::F32);
    }
}
