//! Chapter 5: loss functions.
