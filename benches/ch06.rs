//! Chapter 6: one convolution's forward and backward pass, on the problem of
//! `conv::conv2d_forward_backward` (batch 64, 8 → 16 channels, 28 × 28, 3 × 3, padding 1),
//! by the solutions' loops (`conv2d_naive` + `conv2d_naive_backward`), by matrix products
//! (`conv2d_im2col` without a tape + `conv2d_im2col_backward`), and by dfdx's tape through
//! `conv2d_im2col`.

use std::hint::black_box;

use courselib::device::{device, Dev};
use courselib::dfdx::prelude::*;
use criterion::Criterion;
use solutions::ch06_convolutions::{
    conv2d_im2col, conv2d_im2col_backward, conv2d_naive, conv2d_naive_backward,
};

type X = Tensor<Rank4<64, 8, 28, 28>, f32, Dev>;
type Filters = Tensor<Rank4<16, 8, 3, 3>, f32, Dev>;
type Y = Tensor<Rank4<64, 16, 28, 28>, f32, Dev>;

pub fn conv_backward_by_hand_vs_tape(c: &mut Criterion) {
    let dev = device(0);
    let (x, weight, bias): (X, Filters, Tensor<Rank1<16>, f32, Dev>) =
        (dev.sample_normal(), dev.sample_normal(), dev.sample_normal());
    let dy: Y = dev.sample_normal();
    let mut group = c.benchmark_group(
        "ch06 conv forward + backward by hand, (64, 8, 28, 28) → 16 channels, 3x3, padding 1",
    );
    group.sample_size(10);
    group.bench_function("loops", |b| {
        b.iter(|| {
            let y: Y = conv2d_naive(&x, &weight, &bias, Const::<1>, Const::<1>);
            black_box((y, conv2d_naive_backward(&x, &weight, &dy, Const::<1>, Const::<1>)))
        })
    });
    group.bench_function("matrix products + col2im", |b| {
        b.iter(|| {
            let y: Y = conv2d_im2col(x.clone(), &weight, &bias, Const::<1>, Const::<1>);
            black_box((y, conv2d_im2col_backward(&x, &weight, &dy, Const::<1>, Const::<1>)))
        })
    });
    group.bench_function("dfdx tape through conv2d_im2col", |b| {
        b.iter(|| {
            let y: Tensor<Rank4<64, 16, 28, 28>, f32, Dev, _> =
                conv2d_im2col(x.leaky_trace(), &weight, &bias, Const::<1>, Const::<1>);
            black_box((y * dy.clone()).sum().backward())
        })
    });
    group.finish();
}
