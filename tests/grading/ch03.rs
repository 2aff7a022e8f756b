//! Hidden tests of chapter 3: learning: optimisers.
