//! Chapter 4: activation functions.
