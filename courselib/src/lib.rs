//! Shared course library.
