//! Chapter 6: the backward pass of one convolution (batch 16, 8 → 16 channels, 14 × 14,
//! 3 × 3, padding 1: the second conv block of the chapter's CNN) by the loops, by two
//! matrix products and col2im, and by dfdx's tape through the im2col forward pass.

use std::hint::black_box;

use courselib::device::{device, Dev};
use courselib::dfdx::prelude::*;
use criterion::Criterion;
use solutions::ch06_convolutions::{conv2d_im2col, conv2d_im2col_backward, conv2d_naive_backward};

type X = Tensor<Rank4<16, 8, 14, 14>, f32, Dev>;
type Filters = Tensor<Rank4<16, 8, 3, 3>, f32, Dev>;
type Dy = Tensor<Rank4<16, 16, 14, 14>, f32, Dev>;

pub fn conv_backward_by_hand_vs_tape(c: &mut Criterion) {
    let dev = device(0);
    let (x, weight, bias): (X, Filters, Tensor<Rank1<16>, f32, Dev>) =
        (dev.sample_normal(), dev.sample_normal(), dev.sample_normal());
    let dy: Dy = dev.sample_normal();
    let mut group = c.benchmark_group("ch06 conv backward, (16, 8, 14, 14) → 16 channels, 3x3, padding 1");
    group.bench_function("loops (conv2d_naive_backward)", |b| {
        b.iter(|| black_box(conv2d_naive_backward(&x, &weight, &dy, Const::<1>, Const::<1>)))
    });
    group.bench_function("matrix products + col2im (conv2d_im2col_backward)", |b| {
        b.iter(|| black_box(conv2d_im2col_backward(&x, &weight, &dy, Const::<1>, Const::<1>)))
    });
    group.bench_function("dfdx tape through conv2d_im2col (forward + backward)", |b| {
        b.iter(|| {
            let y: Tensor<Rank4<16, 16, 14, 14>, f32, Dev, _> =
                conv2d_im2col(x.leaky_trace(), &weight, &bias, Const::<1>, Const::<1>);
            black_box((y * dy.clone()).sum().backward())
        })
    });
    group.finish();
}
