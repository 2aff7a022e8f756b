//! Draws the book's figures from the reference solutions: `cargo course figures`.
//!
//! Writes `book/figures/chNN/*.png`, one module per chapter. Every figure is deterministic
//! (seeded), so a run that changes a committed figure means the solution changed.
//! Arguments: `[OUTDIR] [NAME]`; with NAME only the figures whose path contains it, e.g.
//! `cargo run -p solutions --bin figures -- book/figures ch02/`.

use std::path::{Path, PathBuf};

mod ch01;
mod ch02;
mod ch03;
mod ch04;
mod ch05;
mod ch06;
mod ch07;
mod ch08;

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
        ch08::FIGURES,
    ];
    // A second argument draws only the figures whose name contains it (`ch02/`, `dying`).
    let only = std::env::args().nth(2).unwrap_or_default();
    let figures: Vec<(&str, Figure)> =
        chapters.iter().copied().flatten().copied().filter(|(name, _)| name.contains(&only)).collect();
    for (k, &(name, draw)) in figures.iter().enumerate() {
        let path = root.join(name);
        // Some figures train a model first: say what runs, so that no minute passes in silence.
        println!("[{}/{}] drawing {name} ...", k + 1, figures.len());
        let start = std::time::Instant::now();
        draw(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("      wrote {} ({:.1} s)", path.display(), start.elapsed().as_secs_f64());
    }
    Ok(())
}
