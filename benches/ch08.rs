//! Chapter 8: greedy NMS on growing numbers of boxes, in the two extreme cases: boxes in a
//! few tight clusters (each kept box suppresses many, about n·k IoUs for k kept) and boxes
//! that never overlap (every box is kept, n(n − 1)/2 IoUs).

use std::hint::black_box;

use courselib::device::rng;
use criterion::{BenchmarkId, Criterion};
use rand::Rng;
use solutions::ch08_detection::{nms, Corners};

/// `n` boxes around 10 centres, 8x8 pixels, moved by at most 1 pixel: IoU > 0.5 inside a
/// cluster.
fn clustered(n: usize) -> (Vec<Corners>, Vec<f32>) {
    let mut r = rng(8);
    (0..n)
        .map(|i| {
            let centre = (i % 10) as f32 * 100.0;
            let (x, y) = (centre + r.gen_range(-1.0..1.0), r.gen_range(-1.0..1.0));
            ([x, y, x + 8.0, y + 8.0], r.gen::<f32>())
        })
        .unzip()
}

/// `n` boxes side by side that do not overlap.
fn disjoint(n: usize) -> (Vec<Corners>, Vec<f32>) {
    let mut r = rng(8);
    (0..n).map(|i| ([i as f32 * 10.0, 0.0, i as f32 * 10.0 + 8.0, 8.0], r.gen::<f32>())).unzip()
}

pub fn nms_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("ch08 greedy NMS at IoU 0.5");
    for n in [100, 1000, 4000] {
        for (layout, (boxes, scores)) in [("10 clusters", clustered(n)), ("disjoint", disjoint(n))] {
            group.bench_with_input(BenchmarkId::new(layout, n), &n, |b, _| {
                b.iter(|| black_box(nms(&boxes, &scores, 0.5)))
            });
        }
    }
    group.finish();
}
