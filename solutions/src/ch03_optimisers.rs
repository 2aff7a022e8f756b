//! Chapter 3: learning with optimisers.
