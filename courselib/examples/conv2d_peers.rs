//! Our side of `cargo course bench --peers conv2d`: times the problems of
//! `courselib::conv::workloads` exactly as `course/peers/conv2d.py` times JAX and NumPy
//! (a few warm-up calls, then the median of `RUNS` timed calls, default 20) and prints
//! `WORKLOAD <name> <B,C,H,W,O,K,S,P[t]> <flops>` and `RESULT <problem> <median ms> min
//! <min ms>` lines for the course tool to read. The convolutions are the suite
//! (`workloads::SUITE`), or the one geometry in `SHAPE` (`B,C,H,W,O,K,S,P`, a `t` after it
//! for a transposed convolution).
//!
//! Run it in release mode: `cargo run --release -p courselib --example conv2d_peers`.

use std::hint::black_box;
use std::time::Instant;

use courselib::conv::workloads::{CnnStep, ShapedProblem, Workload, SUITE};

/// `(median, min)` in milliseconds of `runs` calls of `f` after `warm` untimed calls.
fn median_ms(runs: usize, warm: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..warm {
        f();
    }
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[runs / 2], times[0])
}

fn main() {
    let runs = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(20usize).max(1);
    println!(
        "# ours: dfdx 0.13 Cpu + courselib::conv fast kernels, {} rayon threads",
        rayon::current_num_threads()
    );
    let workloads = match std::env::var("SHAPE") {
        Ok(spec) => vec![Workload::parse(&spec).unwrap_or_else(|e| panic!("SHAPE: {e}"))],
        Err(_) => SUITE.to_vec(),
    };
    for w in workloads {
        println!("WORKLOAD {} {} {}", w.name, w.spec(), w.flops());
        let problem = ShapedProblem::new(w, 0);
        let (m, n) = median_ms(runs, 3, || {
            black_box(problem.fast());
        });
        println!("RESULT {} {m:.3} min {n:.3}", w.name);
    }
    let mut step = CnnStep::new(0);
    let (m, n) = median_ms(runs, 3, || {
        black_box(step.step());
    });
    println!("RESULT cnn_train_step {m:.3} min {n:.3}");
}
