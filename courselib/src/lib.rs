//! The course's shared library: what exercises, solutions, tests and figures all use,
//! written once.
//!
//! - [`device`]: the device every example and test runs on (`Cpu`, or `Cuda` with
//!   `--features cuda`) and the seeded random-number generators.
//! - [`conv`]: convolution, pooling, transposed convolution and flattening, as functions
//!   and as dfdx layers, with fast `Cpu` kernels and a device-generic path.
//! - [`data`]: batching the plain [`datasets`] into dfdx tensors of compile-time shape.
//! - [`gradcheck`]: numerical gradients by central differences, and how to compare them.
//! - [`optim`]: optimisers for any dfdx model from a per-value update rule, and
//!   learning-rate schedules.
//! - [`plot`]: figures for the book with plotters, using a bundled font.

pub mod conv;
pub mod data;
pub mod device;
pub mod gradcheck;
pub mod optim;
pub mod plot;

pub use datasets;
pub use dfdx;

/// The book's appendix B (`book/appB-dfdx-tape.md`): its code blocks run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../book/appB-dfdx-tape.md")]
pub struct DfdxTapeReference;
