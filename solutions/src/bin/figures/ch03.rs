//! Chapter 3's figures.

use crate::Figure;

pub const FIGURES: &[(&str, Figure)] = &[];
