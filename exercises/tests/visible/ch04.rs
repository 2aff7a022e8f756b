//! Visible tests of chapter 4: activation functions.
