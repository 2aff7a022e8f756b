//! solutions
