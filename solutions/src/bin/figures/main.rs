//! Draws the book's figures from the reference solutions: `cargo course figures`.
//!
//! Writes `book/figures/chNN/*.png`, one module per chapter. Every figure is deterministic
//! (seeded), so a run that changes a committed figure means the solution changed.

use std::path::{Path, PathBuf};

mod ch01;
mod ch02;
mod ch03;
mod ch04;
mod ch05;
mod ch06;
mod ch07;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;
type Figure = fn(&Path) -> Result;

fn main() -> Result {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/figures"));
    let chapters = [
        ch01::FIGURES,
        ch02::FIGURES,
        ch03::FIGURES,
        ch04::FIGURES,
        ch05::FIGURES,
        ch06::FIGURES,
        ch07::FIGURES,
    ];
    for &(name, draw) in chapters.iter().copied().flatten() {
        let path = root.join(name);
        draw(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
