//! Checks for graded tests. A failure says what was compared, where the first and the
//! largest mismatch are, and which book section explains the exercise; under the grader,
//! each check also writes a [`Record`] to the test's [`transcript`](crate::transcript), which
//! the grader judges outside the test process.
//!
//! Two families:
//! - [`assert_close`], [`assert_all_close`], [`check_eq!`](crate::check_eq): the expected value
//!   is fixed by the test (a formula, loops, dfdx, a literal). The grader compares the
//!   learner's value with the expected value *of the reference run*.
//! - [`assert_close_own`], [`assert_all_close_own`], [`check_eq_own!`](crate::check_eq_own):
//!   the expected value derives from the learner's own outputs (finite differences of the
//!   learner's forward pass, a second run of the learner's code), so another correct
//!   implementation expects something else. The grader compares within this run.
//!
//! [`check!`](crate::check) and [`check_ne!`](crate::check_ne) record whether a condition held.

use crate::transcript::{record, Record};
use std::fmt::{Debug, Display};

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

    /// `accepts` element-wise, where NaN agrees only with NaN: `Err` names the first and the
    /// largest mismatch.
    pub fn compare(&self, got: &[f64], want: &[f64]) -> Result<(), String> {
        if got.len() != want.len() {
            return Err(format!("got {} values, expected {}", got.len(), want.len()));
        }
        let mut first_bad = None;
        let mut worst: Option<(usize, f64)> = None;
        let mut bad_count = 0;
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let both_nan = g.is_nan() && w.is_nan();
            if !both_nan && (!self.accepts(g, w) || g.is_nan() != w.is_nan()) {
                bad_count += 1;
                first_bad.get_or_insert((i, g, w));
                let err = if g.is_nan() || w.is_nan() { f64::INFINITY } else { (g - w).abs() };
                if worst.is_none_or(|(_, e)| err > e) {
                    worst = Some((i, err));
                }
            }
        }
        match (first_bad, worst) {
            (Some((_, g, w)), Some(_)) if got.len() == 1 => {
                Err(format!("got {g}, expected {w} (tolerance: abs {:e} + rel {:e})", self.abs, self.rel))
            }
            (Some((i, g, w)), Some((j, err))) => Err(format!(
                "{bad_count} of {} values differ; first at index {i}: got {g}, expected {w}; \
                 largest error {err:.3e} at index {j} (tolerance: abs {:e} + rel {:e})",
                got.len(),
                self.abs,
                self.rel
            )),
            _ => Ok(()),
        }
    }
}

fn close(context: String, got: Vec<f64>, want: Vec<f64>, tolerance: Tolerance, own: bool) {
    let verdict = tolerance.compare(&got, &want);
    record(&Record::Close {
        context: context.clone(),
        got,
        want,
        abs: tolerance.abs,
        rel: tolerance.rel,
        own,
    });
    if let Err(why) = verdict {
        panic!("{context}: {why}");
    }
}

fn widen<T: Copy + Into<f64>>(values: &[T]) -> Vec<f64> {
    values.iter().map(|&v| v.into()).collect()
}

/// Panics unless `got` and `want` have the same length and agree element-wise within
/// `tolerance`; `want` is fixed by the test. `context` names the exercise and its book
/// section, e.g. `"softmax (book section 2.4): rows of a 3x4 batch"`.
pub fn assert_all_close<G, W>(context: impl Display, got: &[G], want: &[W], tolerance: Tolerance)
where
    G: Copy + Into<f64>,
    W: Copy + Into<f64>,
{
    close(context.to_string(), widen(got), widen(want), tolerance, false);
}

/// Panics unless `got` is within `tolerance` of `want` (fixed by the test).
pub fn assert_close(context: impl Display, got: impl Into<f64>, want: impl Into<f64>, tolerance: Tolerance) {
    close(context.to_string(), vec![got.into()], vec![want.into()], tolerance, false);
}

/// [`assert_all_close`] where `want` derives from the learner's own outputs.
pub fn assert_all_close_own<G, W>(context: impl Display, got: &[G], want: &[W], tolerance: Tolerance)
where
    G: Copy + Into<f64>,
    W: Copy + Into<f64>,
{
    close(context.to_string(), widen(got), widen(want), tolerance, true);
}

/// [`assert_close`] where `want` derives from the learner's own outputs.
pub fn assert_close_own(
    context: impl Display,
    got: impl Into<f64>,
    want: impl Into<f64>,
    tolerance: Tolerance,
) {
    close(context.to_string(), vec![got.into()], vec![want.into()], tolerance, true);
}

/// Records and returns whether `got == want` (by [`check_eq!`](crate::check_eq)).
pub fn equal<G: PartialEq<W> + Debug, W: Debug>(context: &str, got: &G, want: &W, own: bool) -> bool {
    let holds = got == want;
    record(&Record::Equal {
        context: context.into(),
        got: format!("{got:?}"),
        want: format!("{want:?}"),
        own,
    });
    holds
}

/// Records and returns `holds` (by [`check!`](crate::check)).
pub fn holds(context: &str, holds: bool) -> bool {
    record(&Record::Holds { context: context.into(), holds });
    holds
}

/// `check!(condition)` or `check!(condition, "format", args..)`: `assert!` that the grader
/// records.
#[macro_export]
macro_rules! check {
    ($cond:expr $(,)?) => {
        if !$crate::check::holds(::std::stringify!($cond), $cond) {
            ::std::panic!("check failed: {}", ::std::stringify!($cond));
        }
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$crate::check::holds(::std::stringify!($cond), $cond) {
            ::std::panic!($($arg)+);
        }
    };
}

/// `check_eq!(got, want)` (optionally with a message): `assert_eq!` that the grader records
/// and judges against the reference run's expected value.
#[macro_export]
macro_rules! check_eq {
    ($got:expr, $want:expr $(,)?) => {
        $crate::check_eq!(@ false, $got, $want, "")
    };
    ($got:expr, $want:expr, $($arg:tt)+) => {
        $crate::check_eq!(@ false, $got, $want, $($arg)+)
    };
    (@ $own:expr, $got:expr, $want:expr, $($arg:tt)+) => {
        match (&$got, &$want) {
            (got, want) => {
                let context = ::std::concat!(::std::stringify!($got), " == ", ::std::stringify!($want));
                if !$crate::check::equal(context, got, want, $own) {
                    ::std::panic!(
                        "check failed: {context}\n  got: {got:?}\n want: {want:?}\n{}",
                        ::std::format_args!($($arg)+)
                    );
                }
            }
        }
    };
}

/// [`check_eq!`](crate::check_eq) where `want` derives from the learner's own outputs.
#[macro_export]
macro_rules! check_eq_own {
    ($got:expr, $want:expr $(,)?) => {
        $crate::check_eq!(@ true, $got, $want, "")
    };
    ($got:expr, $want:expr, $($arg:tt)+) => {
        $crate::check_eq!(@ true, $got, $want, $($arg)+)
    };
}

/// `check_ne!(a, b)` (optionally with a message): `assert_ne!` that the grader records.
#[macro_export]
macro_rules! check_ne {
    ($a:expr, $b:expr $(,)?) => {
        $crate::check_ne!($a, $b, "")
    };
    ($a:expr, $b:expr, $($arg:tt)+) => {
        match (&$a, &$b) {
            (a, b) => {
                let context = ::std::concat!(::std::stringify!($a), " != ", ::std::stringify!($b));
                if !$crate::check::holds(context, a != b) {
                    ::std::panic!("check failed: {context}: both are {a:?}\n{}", ::std::format_args!($($arg)+));
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_close_values() {
        assert_all_close("ok", &[1.0f32, 2.0], &[1.000001f64, 2.0], Tolerance::F32);
        assert_all_close("nan agrees with nan", &[f64::NAN], &[f64::NAN], Tolerance::F32);
    }

    #[test]
    #[should_panic(expected = "softmax (book section 2.4): 1 of 2 values differ; first at index 1")]
    fn names_the_context_and_the_first_mismatch() {
        assert_all_close("softmax (book section 2.4)", &[1.0f32, 2.5], &[1.0f64, 2.0], Tolerance::F32);
    }

    #[test]
    #[should_panic(expected = "got NaN, expected 0")]
    fn nan_is_never_close_to_a_number() {
        assert_all_close("nan", &[f32::NAN], &[0.0f64], Tolerance::F32);
    }

    #[test]
    #[should_panic(expected = "got 3 values, expected 2")]
    fn lengths_must_agree() {
        assert_all_close_own("lengths", &[1.0f32, 2.0, 3.0], &[1.0f32, 2.0], Tolerance::F32);
    }

    #[test]
    fn macros_pass_on_what_holds() {
        crate::check!(1 + 1 == 2);
        crate::check_eq!(vec![1, 2], [1, 2]);
        crate::check_eq_own!(2.5f32, 2.5f32, "with a message {}", 1);
        crate::check_ne!(1, 2);
    }

    #[test]
    #[should_panic(expected = "check failed: 1 + 1 == 3")]
    fn check_names_the_condition() {
        crate::check!(1 + 1 == 3);
    }

    #[test]
    #[should_panic(expected = "the sum (book section 1.2)")]
    fn check_eq_shows_the_message() {
        crate::check_eq!(1 + 1, 3, "the sum (book section {})", "1.2");
    }

    #[test]
    #[should_panic(expected = "both are 2")]
    fn check_ne_shows_the_value() {
        crate::check_ne!(1 + 1, 2);
    }
}
