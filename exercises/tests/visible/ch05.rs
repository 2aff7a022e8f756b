//! Visible tests of chapter 5: loss functions.
