//! Hidden tests of chapter 6: convolutional networks. The convolutions and poolings are
//! checked against f64 loops written here, their gradients against central finite
//! differences of those loops; batch normalisation against dfdx's own `BatchNorm2D`;
//! dropout and the augmentations by replaying the random draws their documentation
//! prescribes and by their statistics.

use crate::support::{table, uniform, SEEDS};
use course::check::{assert_all_close, assert_all_close_own, assert_close, Tolerance};
use courselib::device::{device, rng, Dev};
use courselib::gradcheck::numerical_gradient;
use dfdx::prelude::*;
use image::{imageops, Rgb, RgbImage};
use rand::Rng;
use subject::ch06_convolutions as ch06;

type F64<S> = Tensor<S, f64, Dev>;

/// Finite differences of the f64 loops agree with exact gradients to about 1e-9 here.
const GRADIENT_TOLERANCE: f64 = 1e-6;

/// `max_relative_error(got, want) < GRADIENT_TOLERANCE` as a tolerance on `want`: from
/// `|g − w| < t·max(|g| + |w|, 1e-8)` and `|g| <= |w| + |g − w|` follows
/// `|g − w| < 1e-8·t + 2t/(1 − t)·|w|`, so this accepts every pair that accepted (and no NaN).
const GRADIENT: Tolerance =
    Tolerance { abs: 1e-8 * GRADIENT_TOLERANCE, rel: 2.0 * GRADIENT_TOLERANCE / (1.0 - GRADIENT_TOLERANCE) };

fn assert_gradient(context: &str, name: &str, got: &[f64], want: &[f64]) {
    assert_all_close(
        format!("{context}: the gradient of {name} against finite differences"),
        got,
        want,
        GRADIENT,
    );
}

/// A convolution's geometry, for the reference loops.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
    s: usize,
    p: usize,
}

impl Geometry {
    fn out(&self) -> (usize, usize) {
        ((self.h + 2 * self.p - self.k) / self.s + 1, (self.w + 2 * self.p - self.k) / self.s + 1)
    }
}

/// The convolution by its definition, in f64, with the padding as an explicit zero border.
fn reference_conv(g: Geometry, x: &[f64], weight: &[f64], bias: &[f64]) -> Vec<f64> {
    let (hp, wp) = (g.h + 2 * g.p, g.w + 2 * g.p);
    let mut padded = vec![0.0; g.b * g.c * hp * wp];
    for b in 0..g.b {
        for c in 0..g.c {
            for r in 0..g.h {
                for s in 0..g.w {
                    padded[((b * g.c + c) * hp + r + g.p) * wp + s + g.p] =
                        x[((b * g.c + c) * g.h + r) * g.w + s];
                }
            }
        }
    }
    let (oh, ow) = g.out();
    let mut y = vec![0.0; g.b * g.o * oh * ow];
    for b in 0..g.b {
        for o in 0..g.o {
            for i in 0..oh {
                for j in 0..ow {
                    let mut sum = bias[o];
                    for c in 0..g.c {
                        for u in 0..g.k {
                            for v in 0..g.k {
                                sum += padded[((b * g.c + c) * hp + i * g.s + u) * wp + j * g.s + v]
                                    * weight[((o * g.c + c) * g.k + u) * g.k + v];
                            }
                        }
                    }
                    y[((b * g.o + o) * oh + i) * ow + j] = sum;
                }
            }
        }
    }
    y
}

/// Pooling by its definition, in f64: `max` or the mean of each window.
fn reference_pool(dims: [usize; 4], k: usize, s: usize, x: &[f64], max: bool) -> Vec<f64> {
    let [b, c, h, w] = dims;
    let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
    let mut y = Vec::with_capacity(b * c * oh * ow);
    for plane in 0..b * c {
        for i in 0..oh {
            for j in 0..ow {
                let window = (0..k * k).map(|t| x[(plane * h + i * s + t / k) * w + j * s + t % k]);
                y.push(if max {
                    window.fold(f64::NEG_INFINITY, f64::max)
                } else {
                    window.sum::<f64>() / (k * k) as f64
                });
            }
        }
    }
    y
}

mod conv_output_size {
    use super::*;

    #[test]
    fn counts_the_window_positions_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            let mut rng = rng(seed);
            for _ in 0..200 {
                let (input, stride, padding) =
                    (rng.gen_range(1..40), rng.gen_range(1..5), rng.gen_range(0..4));
                let kernel = rng.gen_range(1..=input + 2 * padding);
                let positions =
                    (0..).step_by(stride).take_while(|start| start + kernel <= input + 2 * padding).count();
                course::check_eq!(
                    ch06::conv_output_size(input, kernel, stride, padding),
                    positions,
                    "conv_output_size (book section 6.2): input {input}, kernel {kernel}, stride {stride}, padding {padding}: \
                     that many windows fit into the padded input"
                );
            }
        }
    }

    #[test]
    fn pooling_and_same_padding() {
        course::graded!();
        for (input, kernel, stride, padding, want) in
            [(32, 5, 1, 2, 32), (28, 3, 2, 0, 13), (55, 3, 2, 0, 27), (7, 7, 1, 0, 1)]
        {
            course::check_eq!(
                ch06::conv_output_size(input, kernel, stride, padding),
                want,
                "conv_output_size (book section 6.2): input {input}, kernel {kernel}, stride {stride}, padding {padding}"
            );
        }
    }
}

mod conv_parameter_count {
    use super::*;

    #[test]
    fn matches_the_tensor_sizes_on_random_layers() {
        course::graded!();
        for seed in SEEDS {
            let mut rng = rng(seed);
            for _ in 0..100 {
                let (c, o, k) = (rng.gen_range(1..64), rng.gen_range(1..256), rng.gen_range(1..8));
                let weights = [o, c, k, k].iter().product::<usize>();
                for bias in [false, true] {
                    course::check_eq!(
                        ch06::conv_parameter_count(c, o, k, bias),
                        weights + if bias { o } else { 0 },
                        "conv_parameter_count (book section 6.2): {o} filters of {k}x{k}x{c}, bias {bias}: \
                         the weight tensor (O, C, K, K) plus O biases"
                    );
                }
            }
        }
    }

    #[test]
    fn alexnet_first_layer() {
        course::graded!();
        course::check_eq!(
            ch06::conv_parameter_count(3, 96, 11, true),
            34_944,
            "conv_parameter_count (book section 6.2): 96 filters of 11x11x3 with biases"
        );
    }
}

/// Random inputs of one geometry; returns the reference output with them.
fn random_conv_case<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const K: usize,
>(
    dev: &Dev,
    seed: u64,
) -> (F64<Rank4<B, C, H, W>>, F64<Rank4<O, C, K, K>>, F64<Rank1<O>>) {
    (uniform(dev, seed, 2.0), uniform(dev, seed + 100, 1.0), uniform(dev, seed + 200, 1.0))
}

/// Both convolutions of one geometry against the reference loops, in f64 and f32.
fn conv_case<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
>(
    seed: u64,
    im2col: bool,
) {
    let dev = device(seed);
    let g = Geometry { b: B, c: C, h: H, w: W, o: O, k: K, s: S, p: P };
    let (x, weight, bias) = random_conv_case::<B, C, H, W, O, K>(&dev, seed);
    let want = reference_conv(g, &x.as_vec(), &weight.as_vec(), &bias.as_vec());
    let (name, got64, got32): (_, F64<Rank4<B, O, OH, OW>>, Tensor<Rank4<B, O, OH, OW>, f32, Dev>) = if im2col
    {
        let x32 = x.clone().to_dtype::<f32>();
        (
            "conv2d_im2col",
            ch06::conv2d_im2col(x.clone(), &weight, &bias, Const::<S>, Const::<P>),
            ch06::conv2d_im2col(
                x32,
                &weight.clone().to_dtype(),
                &bias.clone().to_dtype(),
                Const::<S>,
                Const::<P>,
            ),
        )
    } else {
        (
            "conv2d_naive",
            ch06::conv2d_naive(&x, &weight, &bias, Const::<S>, Const::<P>),
            ch06::conv2d_naive(
                &x.clone().to_dtype(),
                &weight.clone().to_dtype(),
                &bias.clone().to_dtype(),
                Const::<S>,
                Const::<P>,
            ),
        )
    };
    let context = format!("{name} (book section 6.3): {g:?}, seed {seed}");
    assert_all_close(format!("{context}, f64"), &got64.as_vec(), &want, Tolerance::F64);
    assert_all_close(format!("{context}, f32"), &got32.as_vec(), &want, Tolerance::F32);
}

/// Random geometries: strides 1-2, paddings 0-2, kernels 1-5.
fn conv_cases(seed: u64, im2col: bool) {
    conv_case::<2, 3, 7, 6, 4, 3, 1, 1, 7, 6>(seed, im2col);
    conv_case::<1, 2, 8, 8, 3, 5, 2, 2, 4, 4>(seed, im2col);
    conv_case::<3, 1, 5, 7, 2, 1, 1, 0, 5, 7>(seed, im2col);
    conv_case::<2, 2, 9, 6, 2, 4, 2, 0, 3, 2>(seed, im2col);
    conv_case::<1, 4, 6, 6, 5, 2, 2, 1, 4, 4>(seed, im2col);
    conv_case::<2, 1, 4, 5, 3, 5, 1, 2, 4, 5>(seed, im2col);
    conv_case::<1, 3, 10, 9, 2, 3, 2, 0, 4, 4>(seed, im2col);
    conv_case::<2, 2, 3, 3, 2, 5, 1, 1, 1, 1>(seed, im2col);
    conv_case::<1, 1, 1, 1, 1, 1, 1, 0, 1, 1>(seed, im2col);
}

mod conv2d_naive {
    use super::*;

    #[test]
    fn agrees_with_loops_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            conv_cases(seed, false);
        }
    }

    #[test]
    fn fixed_example_snapshot() {
        course::graded!();
        let dev = device(0);
        let x: F64<Rank4<1, 2, 5, 5>> = dev
            .tensor_from_vec((0..50).map(|v| f64::from(v % 7) - 3.0).collect(), (Const, Const, Const, Const));
        let weight: F64<Rank4<2, 2, 3, 3>> = dev.tensor_from_vec(
            (0..36).map(|v| f64::from(v % 5) / 4.0 - 0.5).collect(),
            (Const, Const, Const, Const),
        );
        let bias = dev.tensor([0.25, -0.5]);
        let y: F64<Rank4<1, 2, 3, 3>> = ch06::conv2d_naive(&x, &weight, &bias, Const::<2>, Const::<1>);
        course::snapshot!(
            "ch06_naive_conv_stride2_pad1",
            format!(
                "conv2d_naive: x (1, 2, 5, 5) = (i mod 7) - 3, weight (2, 2, 3, 3) = (i mod 5)/4 - 0.5, \
                 bias (0.25, -0.5), stride 2, padding 1:\n{}",
                table(&y.as_vec(), 3, 3)
            )
        );
    }
}

/// The im2col gather table of one image by its definition: row (c, u, v), column (i, j);
/// a tap in the padding reads index C·H·W.
fn reference_im2col_indices(g: Geometry) -> Vec<usize> {
    let Geometry { c, h, w, k, s, p, .. } = g;
    let (oh, ow) = g.out();
    let mut table = Vec::new();
    for tap in 0..c * k * k {
        let (ci, u, v) = (tap / (k * k), tap / k % k, tap % k);
        for q in 0..oh * ow {
            let (r, col) = ((q / ow * s + u) as isize - p as isize, (q % ow * s + v) as isize - p as isize);
            let inside = (0..h as isize).contains(&r) && (0..w as isize).contains(&col);
            table.push(if inside { (ci * h + r as usize) * w + col as usize } else { c * h * w });
        }
    }
    table
}

mod im2col_indices {
    use super::*;

    #[test]
    fn agrees_with_loops_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            let mut rng = rng(seed);
            for _ in 0..50 {
                let (c, h, w, s, p) = (
                    rng.gen_range(1..4),
                    rng.gen_range(1..9),
                    rng.gen_range(1..9),
                    rng.gen_range(1..3),
                    rng.gen_range(0..3),
                );
                let k = rng.gen_range(1..=(h.min(w) + 2 * p).min(5));
                let g = Geometry { b: 1, c, h, w, o: 1, k, s, p };
                course::check_eq!(
                    ch06::im2col_indices(c, h, w, k, s, p),
                    reference_im2col_indices(g),
                    "im2col_indices (book section 6.3): {g:?}: row (c, u, v), column (i, j), padding reads C·H·W"
                );
            }
        }
    }

    #[test]
    fn one_window_over_the_whole_image_reads_every_pixel_in_order() {
        course::graded!();
        course::check_eq!(
            ch06::im2col_indices(3, 4, 4, 4, 1, 0),
            (0..48).collect::<Vec<_>>(),
            "im2col_indices (book section 6.3): a 4x4 kernel on a 4x4 image with 3 channels: one column, the flattened image"
        );
    }
}

/// The im2col convolution's gradients (dfdx tape) against finite differences of the
/// reference loops, for the probe loss `L = Σ y · r`.
fn conv_gradient_case<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
>(
    seed: u64,
) {
    let dev = device(seed);
    let g = Geometry { b: B, c: C, h: H, w: W, o: O, k: K, s: S, p: P };
    let (x, weight, bias) = random_conv_case::<B, C, H, W, O, K>(&dev, seed);
    let r: F64<Rank4<B, O, OH, OW>> = uniform(&dev, seed + 300, 1.0);
    let probe = r.as_vec();
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        reference_conv(g, x, w, b).iter().zip(&probe).map(|(y, r)| y * r).sum()
    };
    let y: Tensor<Rank4<B, O, OH, OW>, f64, Dev, _> =
        ch06::conv2d_im2col(x.leaky_trace(), &weight, &bias, Const::<S>, Const::<P>);
    let grads = (y * r.clone()).sum().backward();
    let (xs, ws, bs) = (x.as_vec(), weight.as_vec(), bias.as_vec());
    let fd_x = numerical_gradient(|t| loss(&t.as_vec(), &ws, &bs), &x, 1e-6);
    let fd_w = numerical_gradient(|t| loss(&xs, &t.as_vec(), &bs), &weight, 1e-6);
    let fd_b = numerical_gradient(|t| loss(&xs, &ws, &t.as_vec()), &bias, 1e-6);
    let context = format!("conv2d_im2col (book section 6.3): {g:?}, seed {seed}");
    assert_gradient(&context, "x", &grads.get(&x).as_vec(), &fd_x.as_vec());
    assert_gradient(
        &context,
        "the weight (is it on the tape of x?)",
        &grads.get(&weight).as_vec(),
        &fd_w.as_vec(),
    );
    assert_gradient(
        &context,
        "the bias (is it on the tape of x?)",
        &grads.get(&bias).as_vec(),
        &fd_b.as_vec(),
    );
}

mod conv2d_im2col {
    use super::*;

    #[test]
    fn agrees_with_loops_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            conv_cases(seed, true);
        }
    }

    #[test]
    fn gradients_agree_with_finite_differences() {
        course::graded!();
        for seed in SEEDS {
            conv_gradient_case::<2, 2, 5, 5, 3, 3, 1, 1, 5, 5>(seed);
            conv_gradient_case::<2, 2, 6, 5, 2, 3, 2, 1, 3, 3>(seed);
            conv_gradient_case::<1, 3, 6, 6, 2, 2, 2, 0, 3, 3>(seed);
            conv_gradient_case::<2, 1, 4, 4, 2, 5, 1, 2, 4, 4>(seed);
        }
    }
}

/// A pooling of one geometry against the reference loops, and its gradient (dfdx tape)
/// against finite differences of them.
fn pool_case<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
>(
    seed: u64,
    max: bool,
) {
    let dev = device(seed);
    let x: F64<Rank4<B, C, H, W>> = uniform(&dev, seed, 2.0);
    let r: F64<Rank4<B, C, OH, OW>> = uniform(&dev, seed + 300, 1.0);
    let dims = [B, C, H, W];
    let pool = |x: Tensor<Rank4<B, C, H, W>, f64, Dev, OwnedTape<f64, Dev>>| -> Tensor<Rank4<B, C, OH, OW>, _, _, _> {
        if max {
            ch06::max_pool2d(x, Const::<K>, Const::<S>)
        } else {
            ch06::avg_pool2d(x, Const::<K>, Const::<S>)
        }
    };
    let y = pool(x.leaky_trace());
    let name = if max { "max_pool2d" } else { "avg_pool2d" };
    let context = format!("{name} (book section 6.4): x {dims:?}, kernel {K}, stride {S}, seed {seed}");
    assert_all_close(
        &context,
        &y.retaped::<NoneTape>().as_vec(),
        &reference_pool(dims, K, S, &x.as_vec(), max),
        Tolerance::F64,
    );
    let grads = (y * r.clone()).sum().backward();
    let probe = r.as_vec();
    let fd = numerical_gradient(
        |t| reference_pool(dims, K, S, &t.as_vec(), max).iter().zip(&probe).map(|(y, r)| y * r).sum(),
        &x,
        1e-6,
    );
    assert_gradient(&context, "x", &grads.get(&x).as_vec(), &fd.as_vec());
}

fn pool_cases(seed: u64, max: bool) {
    pool_case::<2, 3, 4, 6, 2, 2, 2, 3>(seed, max);
    pool_case::<1, 2, 7, 7, 3, 2, 3, 3>(seed, max);
    pool_case::<2, 1, 6, 5, 3, 1, 4, 3>(seed, max);
    pool_case::<1, 2, 9, 8, 2, 3, 3, 3>(seed, max);
    pool_case::<1, 1, 5, 5, 5, 1, 1, 1>(seed, max);
}

mod max_pool2d {
    use super::*;

    #[test]
    fn agrees_with_loops_and_finite_differences_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            pool_cases(seed, true);
        }
    }

    #[test]
    fn overlapping_pooling_of_a_fashion_sized_batch() {
        course::graded!();
        let dev = device(6);
        let x: Tensor<Rank4<4, 8, 28, 28>, f32, Dev> = uniform(&dev, 6, 1.0);
        let y: Tensor<Rank4<4, 8, 13, 13>, f32, Dev> = ch06::max_pool2d(x.clone(), Const::<3>, Const::<2>);
        let xs: Vec<f64> = x.as_vec().into_iter().map(f64::from).collect();
        assert_all_close(
            "max_pool2d (book section 6.4): kernel 3, stride 2 on (4, 8, 28, 28)",
            &y.as_vec(),
            &reference_pool([4, 8, 28, 28], 3, 2, &xs, true),
            Tolerance::F32,
        );
    }
}

mod avg_pool2d {
    use super::*;

    #[test]
    fn agrees_with_loops_and_finite_differences_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            pool_cases(seed, false);
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        course::graded!();
        let dev = device(6);
        let x: Tensor<Rank4<2, 3, 8, 8>, f32, Dev> = dev.ones() * 0.75;
        let y: Tensor<Rank4<2, 3, 4, 4>, f32, Dev> = ch06::avg_pool2d(x, Const::<2>, Const::<2>);
        assert_all_close(
            "avg_pool2d (book section 6.4): a constant image",
            &y.as_vec(),
            &[0.75f64; 96],
            Tolerance::F32,
        );
    }
}

/// Batch normalisation of one batch in f64 loops: the output and the batch's per-channel
/// mean and biased variance.
fn reference_batch_norm(
    dims: [usize; 4],
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [b, c, h, w] = dims;
    let n = (b * h * w) as f64;
    let channel = |i: usize| i / (h * w) % c;
    let mut mean = vec![0.0; c];
    for (i, v) in x.iter().enumerate() {
        mean[channel(i)] += v / n;
    }
    let mut var = vec![0.0; c];
    for (i, v) in x.iter().enumerate() {
        var[channel(i)] += (v - mean[channel(i)]).powi(2) / n;
    }
    let y = x
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let k = channel(i);
            gamma[k] * (v - mean[k]) / (var[k] + 1e-5).sqrt() + beta[k]
        })
        .collect();
    (y, mean, var)
}

mod batch_norm_train {
    use super::*;

    fn random_case<const B: usize, const C: usize, const H: usize, const W: usize>(seed: u64) {
        let dev = device(seed);
        let mut bn = ch06::BatchNorm::<C, f64, Dev>::new(&dev);
        let context = format!("batch_norm_train (book section 6.6): x ({B}, {C}, {H}, {W}), seed {seed}");
        // γ = 1, β = 0: every channel of the output has mean 0 and variance 1 (up to ε).
        let x: F64<Rank4<B, C, H, W>> = uniform::<_, f64>(&dev, seed, 3.0) + 1.5;
        let y = bn.forward_train(x.clone()).as_vec();
        let (_, mean, var) = reference_batch_norm([B, C, H, W], &y, &[1.0; C], &[0.0; C]);
        let (_, _, x_var) = reference_batch_norm([B, C, H, W], &x.as_vec(), &[1.0; C], &[0.0; C]);
        let want_var: Vec<f64> = x_var.iter().map(|v| v / (v + 1e-5)).collect();
        assert_all_close(
            format!("{context}: per-channel mean of the output"),
            &mean,
            &[0.0; C],
            Tolerance::F64,
        );
        assert_all_close(
            format!("{context}: per-channel variance of the output"),
            &var,
            &want_var,
            Tolerance::F64,
        );
        // random γ, β
        (bn.gamma, bn.beta) = (uniform(&dev, seed + 1, 2.0), uniform(&dev, seed + 2, 2.0));
        let y = bn.forward_train(x.clone()).as_vec();
        let (want, _, _) =
            reference_batch_norm([B, C, H, W], &x.as_vec(), &bn.gamma.as_vec(), &bn.beta.as_vec());
        assert_all_close(format!("{context}: y = γ·x̂ + β"), &y, &want, Tolerance::F64);
    }

    #[test]
    fn normalises_each_channel_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<4, 3, 2, 5>(seed);
            random_case::<2, 1, 3, 3>(seed);
            random_case::<8, 5, 1, 1>(seed);
        }
    }

    #[test]
    fn running_statistics_follow_the_momentum_formula() {
        course::graded!();
        let dev = device(7);
        let mut bn = ch06::BatchNorm::<2, f64, Dev>::new(&dev);
        let (mut mean, mut var) = (vec![0.0; 2], vec![1.0; 2]);
        let n = (3 * 4 * 2) as f64;
        for step in 0..5u64 {
            let x: F64<Rank4<3, 2, 4, 2>> =
                uniform::<_, f64>(&dev, 70 + step, 1.0 + step as f64) + step as f64;
            bn.forward_train(x.clone());
            let (_, batch_mean, batch_var) =
                reference_batch_norm([3, 2, 4, 2], &x.as_vec(), &[1.0; 2], &[0.0; 2]);
            for k in 0..2 {
                mean[k] = 0.9 * mean[k] + 0.1 * batch_mean[k];
                var[k] = 0.9 * var[k] + 0.1 * batch_var[k] * n / (n - 1.0);
            }
            let context = format!("batch_norm_train (book section 6.6): after batch {}", step + 1);
            assert_all_close(
                format!("{context}: running mean = 0.9·running mean + 0.1·batch mean"),
                &bn.running_mean.as_vec(),
                &mean,
                Tolerance::F64,
            );
            assert_all_close(
                format!("{context}: running variance = 0.9·running variance + 0.1·unbiased batch variance"),
                &bn.running_var.as_vec(),
                &var,
                Tolerance::F64,
            );
        }
    }

    #[test]
    fn agrees_with_dfdx_batchnorm2d_including_gradients() {
        course::graded!();
        let dev = device(8);
        let mut bn = ch06::BatchNorm::<3, f64, Dev>::new(&dev);
        let mut theirs = dev.build_module::<dfdx::nn::builders::BatchNorm2D<3>, f64>();
        (bn.gamma, bn.beta) = (uniform(&dev, 1, 2.0), uniform(&dev, 2, 2.0));
        (theirs.scale, theirs.bias) = (bn.gamma.clone(), bn.beta.clone());
        for step in 0..3u64 {
            let context =
                format!("batch_norm_train (book section 6.6): batch {} against dfdx's BatchNorm2D", step + 1);
            let x: F64<Rank4<4, 3, 3, 2>> = uniform::<_, f64>(&dev, 80 + step, 2.0) + 0.5;
            let r: F64<Rank4<4, 3, 3, 2>> = uniform(&dev, 90 + step, 1.0);
            let mine = bn.forward_train(x.leaky_trace());
            let reference = theirs.forward_mut(x.leaky_trace());
            assert_all_close(
                format!("{context}: output"),
                &mine.retaped::<NoneTape>().as_vec(),
                &reference.retaped::<NoneTape>().as_vec(),
                Tolerance::F64,
            );
            let (g_mine, g_ref) =
                ((mine * r.clone()).sum().backward(), (reference * r.clone()).sum().backward());
            for (name, got, want) in [
                ("∂L/∂x", g_mine.get(&x).as_vec(), g_ref.get(&x).as_vec()),
                (
                    "∂L/∂γ (is γ on the tape?)",
                    g_mine.get(&bn.gamma).as_vec(),
                    g_ref.get(&theirs.scale).as_vec(),
                ),
                (
                    "∂L/∂β (is β on the tape?)",
                    g_mine.get(&bn.beta).as_vec(),
                    g_ref.get(&theirs.bias).as_vec(),
                ),
            ] {
                assert_all_close(format!("{context}: {name}"), &got, &want, Tolerance::F64);
            }
            assert_all_close(
                format!("{context}: running mean"),
                &bn.running_mean.as_vec(),
                &theirs.running_mean.as_vec(),
                Tolerance::F64,
            );
            assert_all_close(
                format!("{context}: running variance"),
                &bn.running_var.as_vec(),
                &theirs.running_var.as_vec(),
                Tolerance::F64,
            );
        }
    }
}

mod batch_norm_eval {
    use super::*;

    #[test]
    fn uses_the_running_statistics_after_training() {
        course::graded!();
        for seed in SEEDS {
            let dev = device(seed);
            let mut bn = ch06::BatchNorm::<3, f64, Dev>::new(&dev);
            (bn.gamma, bn.beta) = (uniform(&dev, seed + 1, 2.0), uniform(&dev, seed + 2, 2.0));
            for step in 0..4 {
                let x: F64<Rank4<4, 3, 2, 2>> = uniform::<_, f64>(&dev, seed + 10 + step, 2.0) + 1.0;
                bn.forward_train(x);
            }
            let (mean, var) = (bn.running_mean.as_vec(), bn.running_var.as_vec());
            let (gamma, beta) = (bn.gamma.as_vec(), bn.beta.as_vec());
            let x: F64<Rank4<2, 3, 2, 2>> = uniform(&dev, seed + 20, 3.0);
            let want: Vec<f64> = x
                .as_vec()
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let k = i / 4 % 3;
                    gamma[k] * (v - mean[k]) / (var[k] + 1e-5).sqrt() + beta[k]
                })
                .collect();
            let y = bn.forward_eval(x.clone());
            let context = format!("batch_norm_eval (book section 6.6): seed {seed}");
            // `mean` and `var` are the learner's running statistics (judged on their own in
            // batch_norm_train), which another correct implementation rounds otherwise.
            assert_all_close_own(
                format!("{context}: y = γ·(x − μ̂)/√(σ̂² + ε) + β"),
                &y.as_vec(),
                &want,
                Tolerance::F64,
            );
            assert_all_close_own(
                format!("{context}: test mode must not change the running mean"),
                &bn.running_mean.as_vec(),
                &mean,
                Tolerance::F64,
            );
            assert_all_close_own(
                format!("{context}: test mode must not change the running variance"),
                &bn.running_var.as_vec(),
                &var,
                Tolerance::F64,
            );
        }
    }

    #[test]
    fn agrees_with_dfdx_batchnorm2d_in_inference() {
        course::graded!();
        let dev = device(9);
        let mut bn = ch06::BatchNorm::<2, f32, Dev>::new(&dev);
        let mut theirs = dev.build_module::<dfdx::nn::builders::BatchNorm2D<2>, f32>();
        (bn.gamma, bn.beta) = (uniform(&dev, 1, 2.0), uniform(&dev, 2, 2.0));
        (bn.running_mean, bn.running_var) = (uniform(&dev, 3, 2.0), uniform::<_, f32>(&dev, 4, 1.0) + 1.5);
        (theirs.scale, theirs.bias) = (bn.gamma.clone(), bn.beta.clone());
        (theirs.running_mean, theirs.running_var) = (bn.running_mean.clone(), bn.running_var.clone());
        let x: Tensor<Rank4<5, 2, 3, 3>, f32, Dev> = uniform(&dev, 5, 3.0);
        assert_all_close(
            "batch_norm_eval (book section 6.6): against dfdx's BatchNorm2D in inference",
            &bn.forward_eval(x.clone()).as_vec(),
            &theirs.forward(x).as_vec(),
            Tolerance::F32,
        );
    }
}

mod dropout {
    use super::*;

    #[test]
    fn preserves_the_expectation_and_drops_about_the_rate() {
        course::graded!();
        let dev = device(0);
        let x: Tensor<Rank1<100_000>, f64, Dev> = dev.ones();
        for seed in SEEDS {
            for rate in [0.2, 0.5, 0.8] {
                let y = ch06::dropout(x.clone(), rate, ch06::Mode::Train, &mut rng(seed)).as_vec();
                let mean = y.iter().sum::<f64>() / y.len() as f64;
                let dropped = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
                let context = format!("dropout (book section 6.7): rate {rate}, seed {seed}, 100000 ones");
                // standard errors: sqrt(rate/(1-rate)/n) <= 0.0064 and sqrt(rate(1-rate)/n) <= 0.0016
                assert_close(
                    format!("{context}: mean of the output"),
                    mean,
                    1.0,
                    Tolerance { abs: 0.03, rel: 0.0 },
                );
                assert_close(
                    format!("{context}: fraction set to 0"),
                    dropped,
                    rate,
                    Tolerance { abs: 0.01, rel: 0.0 },
                );
            }
        }
    }

    #[test]
    fn a_draw_equal_to_the_rate_keeps_the_value() {
        course::graded!();
        use rand::rngs::mock::StepRng;
        // rand's f64 draw is (u >> 11) · 2⁻⁵³ of one u64 `u`: 2⁶³ draws exactly 0.5, and
        // 2⁶³ − 2¹¹ the next f64 below it. A generator that repeats one u64 repeats one draw.
        let x: Tensor<Rank1<4>, f64, Dev> = device(0).ones();
        let context = "dropout (book section 6.7): rate 0.5, ones";
        let at_the_rate = ch06::dropout(x.clone(), 0.5, ch06::Mode::Train, &mut StepRng::new(1 << 63, 0));
        course::check_eq!(
            at_the_rate.as_vec(),
            [2.0; 4],
            "{context}: every draw is exactly 0.5, not below the rate: keep every value (times 1/(1 - rate))"
        );
        let below = ch06::dropout(x, 0.5, ch06::Mode::Train, &mut StepRng::new((1 << 63) - (1 << 11), 0));
        course::check_eq!(
            below.as_vec(),
            [0.0; 4],
            "{context}: every draw is just below 0.5: drop every value"
        );
    }

    #[test]
    fn replays_the_prescribed_draws_and_keeps_the_tape() {
        course::graded!();
        for seed in SEEDS {
            let dev = device(seed);
            let x: F64<Rank2<7, 9>> = uniform(&dev, seed, 2.0);
            let rate = 0.3;
            let mut draws = rng(seed);
            let mask: Vec<f64> =
                (0..63).map(|_| if draws.gen::<f64>() < rate { 0.0 } else { 1.0 / (1.0 - rate) }).collect();
            let mut used = rng(seed);
            let y = ch06::dropout(x.leaky_trace(), rate, ch06::Mode::Train, &mut used);
            let context = format!("dropout (book section 6.7): seed {seed}, rate 0.3");
            let want: Vec<f64> = x.as_vec().iter().zip(&mask).map(|(x, m)| x * m).collect();
            assert_all_close(
                format!("{context}: one rng.gen::<f64>() per value in order, dropped below the rate"),
                &y.retaped::<NoneTape>().as_vec(),
                &want,
                Tolerance::F64,
            );
            course::check_eq!(
                used.gen::<u64>(),
                draws.gen::<u64>(),
                "{context}: exactly one draw per value must be taken from the generator"
            );
            let grads = y.sum().backward();
            assert_all_close(
                format!("{context}: the gradient is the mask (is the tape kept?)"),
                &grads.get(&x).as_vec(),
                &mask,
                Tolerance::F64,
            );
        }
    }

    #[test]
    fn eval_is_the_identity() {
        course::graded!();
        let dev = device(3);
        let x: Tensor<Rank3<2, 3, 4>, f32, Dev> = uniform(&dev, 3, 1.0);
        let mut draws = rng(3);
        let y = ch06::dropout(x.clone(), 0.5, ch06::Mode::Eval, &mut draws);
        assert_all_close("dropout (book section 6.7): Mode::Eval", &y.as_vec(), &x.as_vec(), Tolerance::F32);
        course::check_eq!(
            draws.gen::<u64>(),
            rng(3).gen::<u64>(),
            "dropout (book section 6.7): Mode::Eval draws nothing"
        );
    }
}

/// A seeded random RGB image.
fn random_image(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut rng = rng(seed);
    RgbImage::from_fn(width, height, |_, _| Rgb([rng.gen(), rng.gen(), rng.gen()]))
}

mod flip {
    use super::*;

    #[test]
    fn twice_is_the_identity_on_random_images() {
        course::graded!();
        for seed in SEEDS {
            let image = random_image(7 + seed as u32 % 5, 4 + seed as u32 % 3, seed);
            for horizontal in [true, false] {
                course::check_eq!(
                    ch06::flip(&ch06::flip(&image, horizontal), horizontal),
                    image,
                    "flip (book section 6.8): flipping twice (horizontal: {horizontal}) must give the image back"
                );
            }
        }
    }

    #[test]
    fn mirrors_every_pixel() {
        course::graded!();
        let image = random_image(5, 3, 11);
        let (h, v) = (ch06::flip(&image, true), ch06::flip(&image, false));
        for (x, y, pixel) in image.enumerate_pixels() {
            course::check_eq!(
                h.get_pixel(4 - x, y),
                pixel,
                "flip (book section 6.8): horizontal moves (x, y) to (W − 1 − x, y)"
            );
            course::check_eq!(
                v.get_pixel(x, 2 - y),
                pixel,
                "flip (book section 6.8): vertical moves (x, y) to (x, H − 1 − y)"
            );
        }
    }
}

mod rotate {
    use super::*;

    #[test]
    fn right_angles_agree_with_imageops() {
        course::graded!();
        for (seed, size) in SEEDS.into_iter().zip([6u32, 7, 28, 9]) {
            let image = random_image(size, size, seed);
            let context = format!("rotate (book section 6.8): a random {size}x{size} image");
            course::check_eq!(ch06::rotate(&image, 0.0), image, "{context}: 0 degrees");
            course::check_eq!(ch06::rotate(&image, 360.0), image, "{context}: 360 degrees");
            course::check_eq!(
                ch06::rotate(&image, 90.0),
                imageops::rotate270(&image),
                "{context}: 90 degrees counter-clockwise"
            );
            course::check_eq!(
                ch06::rotate(&image, 180.0),
                imageops::rotate180(&image),
                "{context}: 180 degrees"
            );
            course::check_eq!(
                ch06::rotate(&image, -90.0),
                imageops::rotate90(&image),
                "{context}: 90 degrees clockwise"
            );
        }
    }

    #[test]
    fn corners_go_black_at_45_degrees() {
        course::graded!();
        let image = RgbImage::from_pixel(20, 20, Rgb([200, 100, 50]));
        let turned = ch06::rotate(&image, 45.0);
        for (x, y) in [(0, 0), (19, 0), (0, 19), (19, 19)] {
            course::check_eq!(
                turned.get_pixel(x, y).0,
                [0, 0, 0],
                "rotate (book section 6.8): corner ({x}, {y}) comes from outside"
            );
        }
        course::check_eq!(
            turned.get_pixel(10, 10).0,
            [200, 100, 50],
            "rotate (book section 6.8): the centre stays"
        );
    }
}

mod random_crop {
    use super::*;

    #[test]
    fn replays_the_prescribed_draws() {
        course::graded!();
        for seed in SEEDS {
            let image = random_image(28, 24, seed);
            for (width, height) in [(20, 20), (28, 24), (1, 5)] {
                let mut draws = rng(seed);
                let left = draws.gen_range(0..=28 - width);
                let top = draws.gen_range(0..=24 - height);
                let crop = ch06::random_crop(&image, width, height, &mut rng(seed));
                let context =
                    format!("random_crop (book section 6.8): {width}x{height} of 28x24, seed {seed}");
                course::check_eq!(crop.dimensions(), (width, height), "{context}: size");
                for (x, y, pixel) in crop.enumerate_pixels() {
                    course::check_eq!(
                        pixel,
                        image.get_pixel(left + x, top + y),
                        "{context}: the window at left {left}, top {top} (left edge drawn first)"
                    );
                }
            }
        }
    }

    #[test]
    fn windows_cover_every_position() {
        course::graded!();
        let image = RgbImage::from_fn(6, 6, |x, y| Rgb([x as u8, y as u8, 0]));
        let mut rng = rng(4);
        let mut seen = [[false; 3]; 3];
        for _ in 0..200 {
            let corner = ch06::random_crop(&image, 4, 4, &mut rng).get_pixel(0, 0).0;
            seen[corner[1] as usize][corner[0] as usize] = true;
        }
        course::check!(
            seen.iter().flatten().all(|&s| s),
            "random_crop (book section 6.8): 200 crops of 4x4 from 6x6 should start at each of the 9 positions: {seen:?}"
        );
    }
}

mod gaussian_noise {
    use super::*;

    #[test]
    fn replays_box_muller() {
        course::graded!();
        for seed in SEEDS {
            let image = random_image(9, 7, seed);
            let mut draws = rng(seed + 1);
            let want: Vec<u8> = image
                .iter()
                .map(|&v| {
                    let (u1, u2) = (1.0 - draws.gen::<f64>(), draws.gen::<f64>());
                    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                    (f64::from(v) + 12.0 * z).round().clamp(0.0, 255.0) as u8
                })
                .collect();
            let noisy = ch06::gaussian_noise(&image, 12.0, &mut rng(seed + 1));
            course::check_eq!(
                noisy.into_raw(),
                want,
                "gaussian_noise (book section 6.8): seed {seed}, sigma 12: one Box-Muller pair per value, u₁ first, rounded and clipped"
            );
        }
    }

    #[test]
    fn noise_statistics_and_clipping() {
        course::graded!();
        for (seed, sigma) in SEEDS.into_iter().zip([3.0, 8.0, 20.0, 30.0]) {
            let image = RgbImage::from_pixel(100, 100, Rgb([128, 128, 128]));
            let noisy = ch06::gaussian_noise(&image, sigma, &mut rng(seed));
            let diffs: Vec<f64> = noisy.iter().map(|&v| f64::from(v) - 128.0).collect();
            let n = diffs.len() as f64;
            let mean = diffs.iter().sum::<f64>() / n;
            let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
            let context =
                format!("gaussian_noise (book section 6.8): sigma {sigma}, 30000 values, seed {seed}");
            // rounding adds variance 1/12; standard errors: sigma/173 for the mean, sigma/245 for the sd
            assert_close(format!("{context}: mean"), mean, 0.0, Tolerance { abs: 0.05 * sigma, rel: 0.0 });
            assert_close(
                format!("{context}: standard deviation"),
                sd,
                (sigma * sigma + 1.0 / 12.0).sqrt(),
                Tolerance { abs: 0.03 * sigma, rel: 0.0 },
            );
        }
        let white = RgbImage::from_pixel(50, 50, Rgb([255, 255, 255]));
        let noisy = ch06::gaussian_noise(&white, 20.0, &mut rng(5));
        let at_max = noisy.iter().filter(|&&v| v == 255).count() as f64 / 7500.0;
        assert_close(
            "gaussian_noise (book section 6.8): on white, about half the values are clipped to 255",
            at_max,
            0.5,
            Tolerance { abs: 0.05, rel: 0.0 },
        );
    }
}

mod scale_channels {
    use super::*;

    #[test]
    fn agrees_with_loops_on_random_images() {
        course::graded!();
        for seed in SEEDS {
            let image = random_image(8, 5, seed);
            let mut r = rng(seed + 7);
            let factors = [r.gen_range(0.0..2.0), r.gen_range(0.0..2.0), r.gen_range(0.0..2.0)];
            let scaled = ch06::scale_channels(&image, factors);
            for (x, y, pixel) in image.enumerate_pixels() {
                let want =
                    std::array::from_fn(|c| (f64::from(pixel.0[c]) * factors[c]).round().min(255.0) as u8);
                course::check_eq!(
                    scaled.get_pixel(x, y).0,
                    want,
                    "scale_channels (book section 6.8): pixel ({x}, {y}), factors {factors:?}, seed {seed}"
                );
            }
        }
    }

    #[test]
    fn factor_one_changes_nothing_and_zero_removes_a_channel() {
        course::graded!();
        let image = random_image(6, 6, 3);
        course::check_eq!(
            ch06::scale_channels(&image, [1.0; 3]),
            image,
            "scale_channels (book section 6.8): factors (1, 1, 1)"
        );
        let no_green = ch06::scale_channels(&image, [1.0, 0.0, 1.0]);
        course::check_eq!(
            no_green.pixels().map(|p| p.0).collect::<Vec<_>>(),
            image.pixels().map(|p| [p.0[0], 0, p.0[2]]).collect::<Vec<_>>(),
            "scale_channels (book section 6.8): factors (1, 0, 1) remove green and keep red and blue"
        );
    }
}

mod bilinear_warp {
    use super::*;

    /// The warp by its definition, in f64: interpolate along x in the rows y₀ and y₀ + 1,
    /// then between the two rows; outside is black.
    fn reference_warp(image: &RgbImage, field: &ch06::DisplacementField) -> Vec<f64> {
        let (width, height) = image.dimensions();
        let at = |x: i64, y: i64, c: usize| {
            if (0..i64::from(width)).contains(&x) && (0..i64::from(height)).contains(&y) {
                f64::from(image.get_pixel(x as u32, y as u32).0[c])
            } else {
                0.0
            }
        };
        let mut values = Vec::new();
        for y in 0..height {
            for x in 0..width {
                let i = (y * width + x) as usize;
                let (sx, sy) = (f64::from(x) + field.dx[i], f64::from(y) + field.dy[i]);
                let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
                let (a, b) = (sx - sx.floor(), sy - sy.floor());
                for c in 0..3 {
                    let top = at(x0, y0, c) + a * (at(x0 + 1, y0, c) - at(x0, y0, c));
                    let bottom = at(x0, y0 + 1, c) + a * (at(x0 + 1, y0 + 1, c) - at(x0, y0 + 1, c));
                    values.push(top + b * (bottom - top));
                }
            }
        }
        values
    }

    #[test]
    fn agrees_with_an_f64_reference_on_random_fields() {
        course::graded!();
        for seed in SEEDS {
            let mut r = rng(seed + 20);
            let (width, height) = (r.gen_range(3..12), r.gen_range(2..10));
            let image = random_image(width, height, seed);
            let n = (width * height) as usize;
            let field = ch06::DisplacementField {
                width,
                height,
                dx: (0..n).map(|_| r.gen_range(-3.0..3.0)).collect(),
                dy: (0..n).map(|_| r.gen_range(-3.0..3.0)).collect(),
            };
            let warped = ch06::bilinear_warp(&image, &field);
            course::check_eq!(
                warped.dimensions(),
                (width, height),
                "bilinear_warp (book section 6.8): a {width}x{height} image keeps its size"
            );
            let got: Vec<f64> = warped.iter().map(|&v| f64::from(v)).collect();
            // Exactly the rounded value: within half a level (either neighbour at a tie).
            assert_all_close(
                format!(
                    "bilinear_warp (book section 6.8): a random {width}x{height} image, displacements in ±3, seed {seed} (rounded to the nearest level)"
                ),
                &got,
                &reference_warp(&image, &field),
                Tolerance { abs: 0.5 + 1e-9, rel: 0.0 },
            );
        }
    }

    #[test]
    fn whole_pixel_shifts_move_the_image_and_fill_black() {
        course::graded!();
        let image = random_image(7, 5, 9);
        let field = ch06::DisplacementField { width: 7, height: 5, dx: vec![2.0; 35], dy: vec![-1.0; 35] };
        let shifted = ch06::bilinear_warp(&image, &field);
        for (x, y, pixel) in shifted.enumerate_pixels() {
            let want = if x + 2 < 7 && y >= 1 { image.get_pixel(x + 2, y - 1).0 } else { [0, 0, 0] };
            course::check_eq!(
                pixel.0,
                want,
                "bilinear_warp (book section 6.8): (dx, dy) = (2, −1) everywhere: pixel ({x}, {y}) shows input ({}, {}), black outside",
                x as i64 + 2,
                y as i64 - 1
            );
        }
    }
}

mod elastic_field {
    use super::*;

    /// The field by its definition: the draws, convolved with the cut 2-D Gaussian
    /// `g(i)·g(j)` (normalised), zeros outside, times alpha.
    fn reference_field(
        width: usize,
        height: usize,
        alpha: f64,
        sigma: f64,
        seed: u64,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut draws = rng(seed);
        let mut rough = || (0..width * height).map(|_| 2.0 * draws.gen::<f64>() - 1.0).collect::<Vec<f64>>();
        let (rough_dx, rough_dy) = (rough(), rough());
        let r = (3.0 * sigma).ceil() as i64;
        let g = |k: i64| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp();
        let total: f64 = (-r..=r).map(g).sum();
        let smooth = |map: &[f64]| {
            let mut out = Vec::with_capacity(width * height);
            for y in 0..height as i64 {
                for x in 0..width as i64 {
                    let mut sum = 0.0;
                    for i in (y - r).max(0)..=(y + r).min(height as i64 - 1) {
                        for j in (x - r).max(0)..=(x + r).min(width as i64 - 1) {
                            sum += g(i - y) * g(j - x) * map[i as usize * width + j as usize];
                        }
                    }
                    out.push(alpha * sum / (total * total));
                }
            }
            out
        };
        (smooth(&rough_dx), smooth(&rough_dy))
    }

    #[test]
    fn agrees_with_a_2d_gaussian_on_random_sizes() {
        course::graded!();
        for (seed, sigma) in SEEDS.into_iter().zip([0.7, 1.5, 2.3, 4.0]) {
            let mut r = rng(seed + 30);
            let (width, height, alpha) = (r.gen_range(4..20), r.gen_range(3..15), r.gen_range(1.0..40.0));
            let field = ch06::elastic_field(width, height, alpha, sigma, &mut rng(seed));
            let context = format!(
                "elastic_field (book section 6.8): {width}x{height}, alpha {alpha:.2}, sigma {sigma}, seed {seed}"
            );
            course::check_eq!((field.width, field.height), (width, height), "{context}: the size");
            let (dx, dy) = reference_field(width as usize, height as usize, alpha, sigma, seed);
            let tolerance = Tolerance { abs: 1e-9, rel: 1e-9 };
            assert_all_close(format!("{context}: dx (the first w·h draws)"), &field.dx, &dx, tolerance);
            assert_all_close(format!("{context}: dy (the next w·h draws)"), &field.dy, &dy, tolerance);
        }
    }

    #[test]
    fn draws_exactly_two_values_per_pixel() {
        course::graded!();
        let mut used = rng(8);
        ch06::elastic_field(6, 5, 34.0, 4.0, &mut used);
        let mut expected = rng(8);
        for _ in 0..60 {
            expected.gen::<f64>();
        }
        course::check_eq!(
            used.gen::<u64>(),
            expected.gen::<u64>(),
            "elastic_field (book section 6.8): a 6x5 field takes exactly 60 uniform draws (30 for dx, 30 for dy)"
        );
    }

    /// The mean |difference| of horizontal neighbours in dx over the mean |dx|.
    fn relative_step(field: &ch06::DisplacementField) -> f64 {
        let w = field.width as usize;
        let steps: Vec<f64> =
            field.dx.chunks(w).flat_map(|row| row.windows(2).map(|p| (p[1] - p[0]).abs())).collect();
        let mean_step = steps.iter().sum::<f64>() / steps.len() as f64;
        mean_step / (field.dx.iter().map(|v| v.abs()).sum::<f64>() / field.dx.len() as f64)
    }

    #[test]
    fn a_wide_gaussian_makes_neighbours_move_together() {
        course::graded!();
        for seed in SEEDS {
            // Independent uniform draws: E|u − v| / E|u| = (2/3) / (1/2) = 4/3.
            let rough = ch06::elastic_field(60, 60, 1.0, 0.1, &mut rng(seed));
            assert_close(
                format!("elastic_field (book section 6.8): sigma 0.1 leaves neighbours independent (seed {seed}): mean step / mean size"),
                relative_step(&rough),
                4.0 / 3.0,
                Tolerance { abs: 0.06, rel: 0.0 },
            );
            let smooth = ch06::elastic_field(60, 60, 1.0, 4.0, &mut rng(seed));
            let relative = relative_step(&smooth);
            course::check!(
                relative < 0.3,
                "elastic_field (book section 6.8): with sigma 4 neighbours should move almost together (seed {seed}): mean step / mean size is {relative:.3}, more than 0.3"
            );
        }
    }
}

mod conv_block {
    use super::*;

    type Block = ch06::ConvBlock<2, 3, 6, 6, 3, 3, f64, Dev>;

    fn random_block(dev: &Dev, seed: u64) -> Block {
        let mut norm = ch06::BatchNorm::new(dev);
        (norm.gamma, norm.beta) = (uniform(dev, seed + 1, 2.0), uniform(dev, seed + 2, 1.0));
        let conv = courselib::conv::Conv2d {
            weight: uniform(dev, seed + 3, 0.5),
            bias: uniform(dev, seed + 4, 0.5),
        };
        ch06::ConvBlock { conv, norm }
    }

    /// dfdx's BatchNorm2D with the block's γ and β.
    fn reference_norm(dev: &Dev, block: &Block) -> dfdx::nn::modules::BatchNorm2D<3, f64, Dev> {
        let mut norm = dev.build_module::<dfdx::nn::builders::BatchNorm2D<3>, f64>();
        (norm.scale, norm.bias) = (block.norm.gamma.clone(), block.norm.beta.clone());
        norm
    }

    #[test]
    fn training_mode_agrees_with_library_layers_and_dfdx_batchnorm() {
        course::graded!();
        for seed in SEEDS {
            let dev = device(seed);
            let mut block = random_block(&dev, seed);
            let mut norm = reference_norm(&dev, &block);
            let (weight, bias) = (block.conv.weight.clone(), block.conv.bias.clone());
            for step in 0..2 {
                let context =
                    format!("conv_block (book section 6.5): training mode, seed {seed}, batch {}", step + 1);
                let x: F64<Rank4<3, 2, 6, 6>> = uniform(&dev, seed + 10 + step, 2.0);
                let r: F64<Rank4<3, 3, 3, 3>> = uniform(&dev, seed + 20 + step, 1.0);
                let mine = block.forward_train(x.leaky_trace());
                let conv: Tensor<Rank4<3, 3, 6, 6>, f64, Dev, _> =
                    courselib::conv::conv2d(x.leaky_trace(), &weight, &bias, Const::<1>, Const::<1>);
                let reference: Tensor<Rank4<3, 3, 3, 3>, f64, Dev, _> =
                    courselib::conv::max_pool2d(norm.forward_mut(conv).relu(), Const::<2>, Const::<2>);
                assert_all_close(
                    format!("{context}: output of conv → batch norm → ReLU → 2x2 max pooling"),
                    &mine.retaped::<NoneTape>().as_vec(),
                    &reference.retaped::<NoneTape>().as_vec(),
                    Tolerance::F64,
                );
                let (g_mine, g_ref) =
                    ((mine * r.clone()).sum().backward(), (reference * r.clone()).sum().backward());
                for (name, got, want) in [
                    ("∂L/∂x", g_mine.get(&x).as_vec(), g_ref.get(&x).as_vec()),
                    (
                        "∂L/∂(conv weight)",
                        g_mine.get(&block.conv.weight).as_vec(),
                        g_ref.get(&weight).as_vec(),
                    ),
                    ("∂L/∂γ", g_mine.get(&block.norm.gamma).as_vec(), g_ref.get(&norm.scale).as_vec()),
                ] {
                    assert_all_close(format!("{context}: {name}"), &got, &want, Tolerance::F64);
                }
                assert_all_close(
                    format!("{context}: the running mean of the batch norm"),
                    &block.norm.running_mean.as_vec(),
                    &norm.running_mean.as_vec(),
                    Tolerance::F64,
                );
            }
        }
    }

    #[test]
    fn test_mode_uses_the_running_statistics() {
        course::graded!();
        for seed in SEEDS {
            let dev = device(seed);
            let mut block = random_block(&dev, seed);
            (block.norm.running_mean, block.norm.running_var) =
                (uniform(&dev, seed + 5, 1.0), uniform::<_, f64>(&dev, seed + 6, 0.5) + 1.0);
            let mut norm = reference_norm(&dev, &block);
            (norm.running_mean, norm.running_var) =
                (block.norm.running_mean.clone(), block.norm.running_var.clone());
            let x: F64<Rank4<2, 2, 6, 6>> = uniform(&dev, seed + 30, 2.0);
            let conv: F64<Rank4<2, 3, 6, 6>> = courselib::conv::conv2d(
                x.clone(),
                &block.conv.weight,
                &block.conv.bias,
                Const::<1>,
                Const::<1>,
            );
            let reference: F64<Rank4<2, 3, 3, 3>> =
                courselib::conv::max_pool2d(norm.forward(conv).relu(), Const::<2>, Const::<2>);
            let context = format!("conv_block (book section 6.5): test mode, seed {seed}");
            assert_all_close(
                format!("{context}: conv → batch norm with the running statistics → ReLU → pooling"),
                &block.forward_eval(x).as_vec(),
                &reference.as_vec(),
                Tolerance::F64,
            );
            assert_all_close(
                format!("{context}: test mode must not change the running mean"),
                &block.norm.running_mean.as_vec(),
                &norm.running_mean.as_vec(),
                Tolerance::F64,
            );
        }
    }
}

mod train_fashion_cnn {
    use super::*;

    /// The fraction of `set` that `model` classifies correctly in test mode.
    fn accuracy(model: &ch06::FashionCnn<f32, Dev>, set: &datasets::ImageSet) -> f64 {
        let dev = device(0);
        let indices: Vec<usize> = (0..set.len()).collect();
        let mut correct = 0;
        for chunk in indices.chunks(500) {
            let (x, labels) = courselib::data::image_batch::<500, 1, 28, 28, Dev>(&dev, set, chunk);
            let logits = model.forward_eval(x).as_vec();
            for (row, label) in logits.chunks(10).zip(labels).take(chunk.len()) {
                correct += usize::from(courselib::data::predicts_label(row, label));
            }
        }
        correct as f64 / set.len() as f64
    }

    #[test]
    fn reaches_85_percent_on_the_fashion_test_split() {
        course::graded!();
        let train = datasets::fashion::train().expect("the shipped Fashion-MNIST train subset");
        let test = datasets::fashion::test().expect("the shipped Fashion-MNIST test split");
        let config = ch06::CnnConfig::default();
        course::budget!(
            "{} epochs x {} steps of batch {} ({} images), then {} test images",
            config.epochs,
            train.len() / ch06::CNN_BATCH,
            ch06::CNN_BATCH,
            train.len(),
            test.len()
        );
        let (model, losses) = ch06::train_fashion_cnn(&train, &config);
        course::check_eq!(
            losses.len(),
            2 * (12_000 / ch06::CNN_BATCH),
            "train_fashion_cnn (book section 6.9): one loss per full batch of 64, for 2 epochs"
        );
        let accuracy = accuracy(&model, &test);
        course::check!(
            accuracy >= 0.85,
            "train_fashion_cnn (book section 6.9): test accuracy {:.2} % on all 10,000 test images, the bar is 85 %",
            100.0 * accuracy
        );
    }

    #[test]
    fn repeats_exactly_and_trains_the_running_statistics() {
        course::graded!();
        let train = datasets::fashion::train().expect("the shipped Fashion-MNIST train subset");
        let subset = train.subset(&(0..train.len()).step_by(20).collect::<Vec<_>>()); // 600 images
        let config = ch06::CnnConfig { epochs: 1, seed: 11, ..Default::default() };
        let (model, first) = ch06::train_fashion_cnn(&subset, &config);
        let (_, second) = ch06::train_fashion_cnn(&subset, &config);
        let context = "train_fashion_cnn (book section 6.9): 600 images, 1 epoch";
        course::check_eq!(first.len(), 600 / ch06::CNN_BATCH, "{context}: one loss per full batch");
        course::check_eq_own!(
            first,
            second,
            "{context}: the same seed must give the same losses (seed the device and the batches)"
        );
        assert_close(
            format!("{context}: the first loss, of the untrained network, is about ln 10"),
            first[0],
            10f64.ln(),
            Tolerance { abs: 0.5, rel: 0.0 },
        );
        course::check!(
            model.block1.norm.running_mean.as_vec().iter().any(|&m| m != 0.0),
            "{context}: the running statistics must change in training (batch norm in training mode)"
        );
    }

    #[test]
    fn each_loss_is_taken_on_the_epochs_own_batches() {
        course::graded!();
        let train = datasets::fashion::train().expect("the shipped Fashion-MNIST train subset");
        let subset = train.subset(&(0..3 * ch06::CNN_BATCH).collect::<Vec<_>>());
        // At learning rate 0 the network stays as built, so every batch's loss can be computed
        // here: epoch e's batches come from seed + e, the cross-entropy by loops in f64.
        let config = ch06::CnnConfig { epochs: 2, learning_rate: 0.0, seed: 6 };
        let (_, losses) = ch06::train_fashion_cnn(&subset, &config);
        let dev = device(config.seed);
        let mut model = ch06::FashionCnn::<f32, Dev>::build(&dev);
        let mut want = Vec::new();
        for epoch in 1..=config.epochs as u64 {
            for batch in courselib::data::shuffled_batches(subset.len(), ch06::CNN_BATCH, config.seed + epoch)
            {
                let (x, labels) = courselib::data::image_batch::<{ ch06::CNN_BATCH }, 1, 28, 28, Dev>(
                    &dev, &subset, &batch,
                );
                let logits = model.forward_train(x).as_vec();
                let loss: f64 = logits
                    .chunks(10)
                    .zip(labels)
                    .map(|(row, label)| {
                        let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
                        let top = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        top + row.iter().map(|v| (v - top).exp()).sum::<f64>().ln() - row[label]
                    })
                    .sum();
                want.push(loss / ch06::CNN_BATCH as f64);
            }
        }
        let got: Vec<f64> = losses.iter().map(|&l| l as f64).collect();
        // `want` runs the learner's conv blocks and batch norm (f32): another correct
        // implementation rounds otherwise.
        assert_all_close_own(
            "train_fashion_cnn (book section 6.9): the loss of every batch at learning rate 0, 192 images, 2 epochs (epoch e uses shuffled_batches(len, 64, seed + e))",
            &got,
            &want,
            Tolerance::F32,
        );
    }
}

// Section 6.10: the backward passes by hand. Each is compared with dfdx's tape (through
// courselib's convolution or the course's own differentiable layers) and with central
// differences of f64 loops written here, on several geometries and seeds.

mod numerical_gradient {
    use super::*;

    /// `f(x) = Σ cᵢ·sin(xᵢ) + (Σ xᵢ)²` with its exact gradient `cᵢ·cos(xᵢ) + 2·Σ x`.
    fn case<S: ConstShape>(seed: u64) {
        let dev = device(seed);
        let x: F64<S> = uniform(&dev, seed, 2.0);
        let c: Vec<f64> = uniform::<S, f64>(&dev, seed + 1, 1.0).as_vec();
        let f = |t: &[f64]| -> f64 {
            t.iter().zip(&c).map(|(v, c)| c * v.sin()).sum::<f64>() + t.iter().sum::<f64>().powi(2)
        };
        let total: f64 = x.as_vec().iter().sum();
        let exact: Vec<f64> = x.as_vec().iter().zip(&c).map(|(v, c)| c * v.cos() + 2.0 * total).collect();
        let mut evaluations = 0;
        let got = ch06::numerical_gradient(
            |t| {
                evaluations += 1;
                f(&t.as_vec())
            },
            &x,
            1e-6,
        );
        let context =
            format!("numerical_gradient (book section 6.10): shape {:?}, seed {seed}", S::default());
        assert_gradient(&context, "Σ c·sin(x) + (Σ x)²", &got.as_vec(), &exact);
        course::check_eq!(evaluations, 2 * S::NUMEL, "{context}: two evaluations of f per element");
    }

    #[test]
    fn agrees_with_exact_gradients_on_random_shapes_and_seeds() {
        course::graded!();
        for seed in SEEDS {
            case::<Rank1<7>>(seed);
            case::<Rank2<3, 4>>(seed);
            case::<Rank3<2, 1, 5>>(seed);
            case::<Rank4<2, 2, 2, 3>>(seed);
        }
    }

    #[test]
    fn moves_one_element_by_plus_and_minus_eps() {
        course::graded!();
        let dev = device(0);
        let x: F64<Rank1<3>> = dev.tensor([0.5, -1.0, 2.0]);
        let mut seen: Vec<Vec<f64>> = Vec::new();
        let eps = 0.25;
        // The central difference of x³ is exact up to eps²: ((x+e)³ − (x−e)³) / 2e = 3x² + e².
        let got = ch06::numerical_gradient(
            |t| {
                seen.push(t.as_vec());
                t.as_vec().iter().map(|v| v * v * v).sum()
            },
            &x,
            eps,
        );
        assert_all_close(
            "numerical_gradient (book section 6.10): Σ x³ at (0.5, −1, 2) with eps 0.25 gives 3x² + eps², not a one-sided difference",
            &got.as_vec(),
            &[0.8125, 3.0625, 12.0625],
            Tolerance::F64,
        );
        // Each evaluation moves exactly one element, by +eps or −eps; each element both ways.
        let mut moves: Vec<(usize, i32)> = Vec::new();
        for point in &seen {
            let moved: Vec<(usize, f64)> = point
                .iter()
                .zip(x.as_vec())
                .enumerate()
                .filter(|(_, (p, x))| *p != x)
                .map(|(i, (p, x))| (i, p - x))
                .collect();
            course::check!(
                moved.len() == 1 && (moved[0].1.abs() - eps).abs() < 1e-12,
                "numerical_gradient (book section 6.10): an evaluation at {point:?} moves more or less than one element of (0.5, −1, 2) by eps = 0.25 (put the element back before the next one)"
            );
            moves.push((moved[0].0, moved[0].1.signum() as i32));
        }
        moves.sort();
        course::check_eq!(
            moves,
            vec![(0, -1), (0, 1), (1, -1), (1, 1), (2, -1), (2, 1)],
            "numerical_gradient (book section 6.10): every element moved once by +eps and once by −eps"
        );
    }
}

mod max_relative_error {
    use super::*;

    #[test]
    fn agrees_with_the_formula_on_random_vectors() {
        course::graded!();
        for seed in SEEDS {
            let mut rng = rng(seed);
            for len in [1, 5, 40] {
                // Some pairs nearly equal, some far apart, some both (nearly) zero.
                let a: Vec<f64> =
                    (0..len).map(|i| if i % 7 == 3 { 0.0 } else { rng.gen_range(-3.0..3.0) }).collect();
                let b: Vec<f64> = a
                    .iter()
                    .map(|&v| match rng.gen_range(0..3) {
                        0 => v * (1.0 + rng.gen_range(-1e-6..1e-6)),
                        1 => rng.gen_range(-3.0..3.0),
                        _ => v + rng.gen_range(-1e-9..1e-9),
                    })
                    .collect();
                let want = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).abs() / (x.abs() + y.abs()).max(1e-8))
                    .fold(0.0, f64::max);
                assert_close(
                    format!("max_relative_error (book section 6.10): {len} random pairs, seed {seed}"),
                    ch06::max_relative_error(&a, &b),
                    want,
                    Tolerance::F64,
                );
            }
        }
    }

    #[test]
    fn floors_tiny_entries_and_never_hides_a_nan() {
        course::graded!();
        let context = "max_relative_error (book section 6.10)";
        assert_close(
            format!("{context}: 1e-12 against −1e-12 is divided by the floor 1e-8"),
            ch06::max_relative_error(&[1e-12], &[-1e-12]),
            2e-4,
            Tolerance::F64,
        );
        assert_close(
            format!("{context}: two empty gradients"),
            ch06::max_relative_error(&[], &[]),
            0.0,
            Tolerance::F64,
        );
        for (a, b) in [([f64::NAN, 1.0, 2.0], [1.0, 1.0, 2.0]), ([1.0, 5.0, 2.0], [1.0, 1.0, f64::NAN])] {
            course::check!(
                ch06::max_relative_error(&a, &b).is_nan(),
                "{context}: {a:?} against {b:?} must give NaN (a gradient check must not pass on a NaN)"
            );
        }
    }
}

/// One convolution's hand-written gradients (naive or im2col) for `dy = r` against the tape
/// (courselib's convolution, the loss `Σ y·r`) and central differences of the reference
/// loops, in f64.
fn conv_backward_case<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
>(
    seed: u64,
    im2col: bool,
) {
    let dev = device(seed);
    let g = Geometry { b: B, c: C, h: H, w: W, o: O, k: K, s: S, p: P };
    let (x, weight, bias) = random_conv_case::<B, C, H, W, O, K>(&dev, seed);
    let dy: F64<Rank4<B, O, OH, OW>> = uniform(&dev, seed + 300, 1.0);
    let got = if im2col {
        ch06::conv2d_im2col_backward(&x, &weight, &dy, Const::<S>, Const::<P>)
    } else {
        ch06::conv2d_naive_backward(&x, &weight, &dy, Const::<S>, Const::<P>)
    };
    let name = if im2col { "conv2d_im2col_backward" } else { "conv2d_naive_backward" };
    let context = format!("{name} (book section 6.10): {g:?}, seed {seed}");

    let y = courselib::conv::conv2d(x.leaky_trace(), &weight, &bias, Const::<S>, Const::<P>);
    let tape = (y * dy.clone()).sum().backward();
    let tape_tolerance = Tolerance { abs: 1e-12, rel: 1e-10 };
    for (what, got, want) in [
        ("x", got.x.as_vec(), tape.get(&x).as_vec()),
        ("weight", got.weight.as_vec(), tape.get(&weight).as_vec()),
        ("bias", got.bias.as_vec(), tape.get(&bias).as_vec()),
    ] {
        assert_all_close(
            format!("{context}: the gradient of {what} against dfdx's tape"),
            &got,
            &want,
            tape_tolerance,
        );
    }

    let probe = dy.as_vec();
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        reference_conv(g, x, w, b).iter().zip(&probe).map(|(y, r)| y * r).sum()
    };
    let (xs, ws, bs) = (x.as_vec(), weight.as_vec(), bias.as_vec());
    let fd_x = numerical_gradient(|t| loss(&t.as_vec(), &ws, &bs), &x, 1e-6);
    let fd_w = numerical_gradient(|t| loss(&xs, &t.as_vec(), &bs), &weight, 1e-6);
    let fd_b = numerical_gradient(|t| loss(&xs, &ws, &t.as_vec()), &bias, 1e-6);
    assert_gradient(&context, "x", &got.x.as_vec(), &fd_x.as_vec());
    assert_gradient(&context, "the weight", &got.weight.as_vec(), &fd_w.as_vec());
    assert_gradient(&context, "the bias", &got.bias.as_vec(), &fd_b.as_vec());
}

fn conv_backward_cases(seed: u64, im2col: bool) {
    conv_backward_case::<2, 2, 5, 5, 3, 3, 1, 1, 5, 5>(seed, im2col);
    conv_backward_case::<2, 2, 6, 5, 2, 3, 2, 1, 3, 3>(seed, im2col);
    conv_backward_case::<1, 3, 6, 6, 2, 2, 2, 0, 3, 3>(seed, im2col);
    conv_backward_case::<2, 1, 4, 4, 2, 5, 1, 2, 4, 4>(seed, im2col);
    conv_backward_case::<1, 2, 7, 6, 3, 3, 3, 2, 3, 3>(seed, im2col);
    conv_backward_case::<3, 1, 5, 7, 2, 1, 1, 0, 5, 7>(seed, im2col);
}

/// The first layer of the chapter's CNN in f32 (a batch of 8): the hand-written gradients
/// against the tape.
fn fashion_first_layer_backward(im2col: bool) {
    let dev = device(61);
    let x: Tensor<Rank4<8, 1, 28, 28>, f32, Dev> = uniform(&dev, 61, 1.0);
    let weight: Tensor<Rank4<8, 1, 3, 3>, f32, Dev> = uniform(&dev, 62, 0.5);
    let bias: Tensor<Rank1<8>, f32, Dev> = uniform(&dev, 63, 0.5);
    let dy: Tensor<Rank4<8, 8, 28, 28>, f32, Dev> = uniform(&dev, 64, 1.0);
    let got = if im2col {
        ch06::conv2d_im2col_backward(&x, &weight, &dy, Const::<1>, Const::<1>)
    } else {
        ch06::conv2d_naive_backward(&x, &weight, &dy, Const::<1>, Const::<1>)
    };
    let y = courselib::conv::conv2d(x.leaky_trace(), &weight, &bias, Const::<1>, Const::<1>);
    let tape = (y * dy).sum().backward();
    let name = if im2col { "conv2d_im2col_backward" } else { "conv2d_naive_backward" };
    // Sums of up to 8·784 f32 products of order one: an absolute error of about 1e-3.
    let tolerance = Tolerance { abs: 2e-3, rel: 1e-4 };
    for (what, got, want) in [
        ("x", got.x.as_vec(), tape.get(&x).as_vec()),
        ("weight", got.weight.as_vec(), tape.get(&weight).as_vec()),
        ("bias", got.bias.as_vec(), tape.get(&bias).as_vec()),
    ] {
        assert_all_close(
            format!("{name} (book section 6.10): a 3x3 layer 1 → 8 channels on (8, 1, 28, 28) in f32: the gradient of {what} against the tape"),
            &got,
            &want,
            tolerance,
        );
    }
}

mod conv2d_naive_backward {
    use super::*;

    #[test]
    fn agrees_with_the_tape_and_finite_differences_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            conv_backward_cases(seed, false);
        }
    }

    #[test]
    fn fixed_example_snapshot() {
        course::graded!();
        let dev = device(0);
        let x: F64<Rank4<1, 2, 5, 5>> = dev
            .tensor_from_vec((0..50).map(|v| f64::from(v % 7) - 3.0).collect(), (Const, Const, Const, Const));
        let weight: F64<Rank4<2, 2, 3, 3>> = dev.tensor_from_vec(
            (0..36).map(|v| f64::from(v % 5) / 4.0 - 0.5).collect(),
            (Const, Const, Const, Const),
        );
        let dy: F64<Rank4<1, 2, 3, 3>> = dev
            .tensor_from_vec((0..18).map(|v| f64::from(v % 4) - 1.5).collect(), (Const, Const, Const, Const));
        let g = ch06::conv2d_naive_backward(&x, &weight, &dy, Const::<2>, Const::<1>);
        course::snapshot!(
            "ch06_naive_conv_backward_stride2_pad1",
            format!(
                "conv2d_naive_backward: x (1, 2, 5, 5) = (i mod 7) - 3, weight (2, 2, 3, 3) = (i mod 5)/4 - 0.5, \
                 dy (1, 2, 3, 3) = (i mod 4) - 1.5, stride 2, padding 1\ndx:\n{}\ndweight:\n{}\ndbias:\n{}",
                table(&g.x.as_vec(), 5, 3),
                table(&g.weight.as_vec(), 3, 3),
                table(&g.bias.as_vec(), 2, 3)
            )
        );
    }

    #[test]
    fn first_layer_of_the_fashion_cnn_in_f32() {
        course::graded!();
        fashion_first_layer_backward(false);
    }
}

mod col2im {
    use super::*;

    /// `⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩` for every x and c: col2im is the adjoint (the
    /// transpose) of the gather.
    #[test]
    fn is_the_adjoint_of_im2col_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            let mut rng = rng(seed);
            for _ in 0..6 {
                let (channels, height, width) =
                    (rng.gen_range(1..4), rng.gen_range(1..9), rng.gen_range(1..9));
                let padding = rng.gen_range(0..3);
                let kernel = rng.gen_range(1..=(height.min(width) + 2 * padding).min(5));
                let stride = rng.gen_range(1..4);
                let table = reference_im2col_indices(Geometry {
                    b: 1,
                    c: channels,
                    h: height,
                    w: width,
                    o: 1,
                    k: kernel,
                    s: stride,
                    p: padding,
                });
                let image: Vec<f64> =
                    (0..channels * height * width).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let columns: Vec<f64> = (0..table.len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let got = ch06::col2im(&columns, channels, height, width, kernel, stride, padding);
                let context = format!(
                    "col2im (book section 6.10): {channels} channels of {height}x{width}, kernel {kernel}, stride {stride}, padding {padding}, seed {seed}"
                );
                course::check_eq!(got.len(), image.len(), "{context}: one value per pixel");
                let mut want = vec![0.0; image.len()];
                for (e, &index) in table.iter().enumerate() {
                    if index < image.len() {
                        want[index] += columns[e];
                    }
                }
                assert_all_close(&context, &got, &want, Tolerance::F64);
                // The adjoint identity, which any scatter that puts values on the wrong
                // pixels breaks.
                let gathered: f64 = table
                    .iter()
                    .zip(&columns)
                    .map(|(&i, c)| if i < image.len() { image[i] * c } else { 0.0 })
                    .sum();
                let scattered: f64 = image.iter().zip(&got).map(|(x, g)| x * g).sum();
                assert_close(
                    format!("{context}: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩"),
                    scattered,
                    gathered,
                    Tolerance::F64,
                );
            }
        }
    }

    #[test]
    fn counts_how_many_windows_see_each_pixel() {
        course::graded!();
        // col2im of all ones: how many windows read each pixel. 3x3 windows, stride 1,
        // padding 1 on a 4x4 image: 4 at the corners, 6 on the edges, 9 inside.
        let got = ch06::col2im(&[1.0f64; 9 * 16], 1, 4, 4, 3, 1, 1);
        assert_all_close(
            "col2im (book section 6.10): ones from 3x3 windows, stride 1, padding 1, on a 4x4 image",
            &got,
            &[4.0, 6.0, 6.0, 4.0, 6.0, 9.0, 9.0, 6.0, 6.0, 9.0, 9.0, 6.0, 4.0, 6.0, 6.0, 4.0],
            Tolerance::F64,
        );
        // Stride 2 without padding on 5x5: row and column 2 are shared by two windows each.
        let got = ch06::col2im(&[1.0f64; 9 * 4], 1, 5, 5, 3, 2, 0);
        let want: Vec<f64> = (0..25)
            .map(|i| {
                let count = |r: usize| if r == 2 { 2.0 } else { 1.0 };
                count(i / 5) * count(i % 5)
            })
            .collect();
        assert_all_close(
            "col2im (book section 6.10): ones from 3x3 windows, stride 2, on a 5x5 image",
            &got,
            &want,
            Tolerance::F64,
        );
    }
}

mod conv2d_im2col_backward {
    use super::*;

    #[test]
    fn agrees_with_the_tape_and_finite_differences_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            conv_backward_cases(seed, true);
        }
    }

    #[test]
    fn first_layer_of_the_fashion_cnn_in_f32() {
        course::graded!();
        fashion_first_layer_backward(true);
    }
}

/// One pooling's hand-written backward pass for `dy = r` against the tape (courselib's
/// pooling, the loss `Σ y·r`) and central differences of the reference loops, in f64.
fn pool_backward_case<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
>(
    seed: u64,
    max: bool,
) {
    let dev = device(seed);
    let x: F64<Rank4<B, C, H, W>> = uniform(&dev, seed, 2.0);
    let dy: F64<Rank4<B, C, OH, OW>> = uniform(&dev, seed + 300, 1.0);
    let dims = [B, C, H, W];
    let (name, got, y) = if max {
        (
            "max_pool2d_backward",
            ch06::max_pool2d_backward(&x, &dy, Const::<K>, Const::<S>),
            courselib::conv::max_pool2d(x.leaky_trace(), Const::<K>, Const::<S>),
        )
    } else {
        (
            "avg_pool2d_backward",
            ch06::avg_pool2d_backward(&dy, Const::<K>, Const::<S>),
            courselib::conv::avg_pool2d(x.leaky_trace(), Const::<K>, Const::<S>),
        )
    };
    let context = format!("{name} (book section 6.10): x {dims:?}, kernel {K}, stride {S}, seed {seed}");
    let tape = (y * dy.clone()).sum().backward();
    assert_all_close(
        format!("{context}: against dfdx's tape"),
        &got.as_vec(),
        &tape.get(&x).as_vec(),
        Tolerance { abs: 1e-12, rel: 1e-10 },
    );
    let probe = dy.as_vec();
    let fd = numerical_gradient(
        |t| reference_pool(dims, K, S, &t.as_vec(), max).iter().zip(&probe).map(|(y, r)| y * r).sum(),
        &x,
        1e-6,
    );
    assert_gradient(&context, "x", &got.as_vec(), &fd.as_vec());
}

fn pool_backward_cases(seed: u64, max: bool) {
    pool_backward_case::<2, 3, 4, 6, 2, 2, 2, 3>(seed, max);
    pool_backward_case::<1, 2, 7, 7, 3, 2, 3, 3>(seed, max);
    pool_backward_case::<2, 1, 6, 5, 3, 1, 4, 3>(seed, max);
    pool_backward_case::<1, 2, 9, 8, 2, 3, 3, 3>(seed, max);
    pool_backward_case::<1, 1, 5, 5, 5, 1, 1, 1>(seed, max);
}

mod max_pool2d_backward {
    use super::*;

    #[test]
    fn agrees_with_the_tape_and_finite_differences_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            pool_backward_cases(seed, true);
        }
    }

    #[test]
    fn ties_and_overlapping_windows() {
        course::graded!();
        let dev = device(0);
        // A constant image: every window's maximum is a tie, and the first value of each
        // window (its top-left corner) takes the whole gradient.
        let x: F64<Rank4<1, 1, 4, 4>> = dev.ones();
        let dy: F64<Rank4<1, 1, 2, 2>> = dev.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]);
        let got = ch06::max_pool2d_backward(&x, &dy, Const::<2>, Const::<2>);
        assert_all_close(
            "max_pool2d_backward (book section 6.10): 2x2 windows of a constant 4x4 image, dy (1, 2; 3, 4): a tie goes to the window's first value",
            &got.as_vec(),
            &[1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Tolerance::F64,
        );
        // Overlapping 3x3 windows with stride 1 on a 4x4 image whose largest value (9) is
        // inside all four windows: it collects all four gradients.
        let x: F64<Rank4<1, 1, 4, 4>> = dev.tensor([[[
            [0.0, 1.0, 2.0, 0.0],
            [1.0, 9.0, 3.0, 1.0],
            [2.0, 3.0, 4.0, 2.0],
            [0.0, 1.0, 2.0, 8.0],
        ]]]);
        let got = ch06::max_pool2d_backward(&x, &dy, Const::<3>, Const::<1>);
        let mut want = [0.0; 16];
        want[5] = 10.0;
        assert_all_close(
            "max_pool2d_backward (book section 6.10): overlapping 3x3 windows that share their maximum add up its gradients",
            &got.as_vec(),
            &want,
            Tolerance::F64,
        );
    }
}

mod avg_pool2d_backward {
    use super::*;

    #[test]
    fn agrees_with_the_tape_and_finite_differences_on_random_geometries() {
        course::graded!();
        for seed in SEEDS {
            pool_backward_cases(seed, false);
        }
    }

    #[test]
    fn spreads_each_gradient_over_its_window() {
        course::graded!();
        let dev = device(0);
        let dy: F64<Rank4<1, 1, 2, 2>> = dev.tensor([[[[4.0, 8.0], [-4.0, 2.0]]]]);
        // 2x2 windows with stride 3 on a 5x5 image: row and column 2 are in no window.
        let got: F64<Rank4<1, 1, 5, 5>> = ch06::avg_pool2d_backward(&dy, Const::<2>, Const::<3>);
        #[rustfmt::skip]
        let want = [
            1.0, 1.0, 0.0, 2.0, 2.0,
            1.0, 1.0, 0.0, 2.0, 2.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
            -1.0, -1.0, 0.0, 0.5, 0.5,
            -1.0, -1.0, 0.0, 0.5, 0.5,
        ];
        assert_all_close(
            "avg_pool2d_backward (book section 6.10): 2x2 windows, stride 3, on 5x5: dy/4 to each value of a window, 0 outside every window",
            &got.as_vec(),
            &want,
            Tolerance::F64,
        );
        // Overlapping windows (3x3, stride 1, on 4x4): the centre pixels are in all four.
        let ones: F64<Rank4<1, 1, 2, 2>> = dev.ones();
        let got: F64<Rank4<1, 1, 4, 4>> = ch06::avg_pool2d_backward(&ones, Const::<3>, Const::<1>);
        let counts = [1.0, 2.0, 2.0, 1.0, 2.0, 4.0, 4.0, 2.0, 2.0, 4.0, 4.0, 2.0, 1.0, 2.0, 2.0, 1.0];
        let want: Vec<f64> = counts.iter().map(|c| c / 9.0).collect();
        assert_all_close(
            "avg_pool2d_backward (book section 6.10): overlapping 3x3 windows: a value collects 1/9 from each window it is in",
            &got.as_vec(),
            &want,
            Tolerance::F64,
        );
    }
}

/// Both batch-norm backward passes on one shape against dfdx's `BatchNorm2D` on the tape
/// and central differences of the reference loops, in f64, with the loss `Σ y·r`.
fn batch_norm_backward_case<const B: usize, const C: usize, const H: usize, const W: usize>(
    seed: u64,
    closed_form: bool,
) {
    let dev = device(seed);
    let x: F64<Rank4<B, C, H, W>> = uniform::<_, f64>(&dev, seed, 2.0) + 0.5;
    let gamma: F64<Rank1<C>> = uniform(&dev, seed + 1, 2.0);
    let beta: F64<Rank1<C>> = uniform(&dev, seed + 2, 2.0);
    let dy: F64<Rank4<B, C, H, W>> = uniform(&dev, seed + 3, 1.0);
    let (name, got) = if closed_form {
        ("batch_norm_backward", ch06::batch_norm_backward(&x, &gamma, &dy, 1e-5))
    } else {
        ("batch_norm_backward_steps", ch06::batch_norm_backward_steps(&x, &gamma, &dy, 1e-5))
    };
    let dims = [B, C, H, W];
    let context = format!("{name} (book section 6.10): x {dims:?}, seed {seed}");

    let mut theirs = dev.build_module::<dfdx::nn::builders::BatchNorm2D<C>, f64>();
    (theirs.scale, theirs.bias) = (gamma.clone(), beta.clone());
    let tape = (theirs.forward_mut(x.leaky_trace()) * dy.clone()).sum().backward();
    let tape_tolerance = Tolerance { abs: 1e-11, rel: 1e-9 };
    for (what, got, want) in [
        ("x", got.x.as_vec(), tape.get(&x).as_vec()),
        ("γ", got.gamma.as_vec(), tape.get(&theirs.scale).as_vec()),
        ("β", got.beta.as_vec(), tape.get(&theirs.bias).as_vec()),
    ] {
        assert_all_close(
            format!("{context}: the gradient of {what} against the tape of dfdx's BatchNorm2D"),
            &got,
            &want,
            tape_tolerance,
        );
    }

    let probe = dy.as_vec();
    let loss = |x: &[f64], g: &[f64], b: &[f64]| -> f64 {
        reference_batch_norm(dims, x, g, b).0.iter().zip(&probe).map(|(y, r)| y * r).sum()
    };
    let (xs, gs, bs) = (x.as_vec(), gamma.as_vec(), beta.as_vec());
    let fd_x = numerical_gradient(|t| loss(&t.as_vec(), &gs, &bs), &x, 1e-6);
    let fd_g = numerical_gradient(|t| loss(&xs, &t.as_vec(), &bs), &gamma, 1e-6);
    let fd_b = numerical_gradient(|t| loss(&xs, &gs, &t.as_vec()), &beta, 1e-6);
    // The loss sums up to 72 products of order one: its rounding error, about 1e-15,
    // divided by 2·eps leaves about 1e-9 on every entry of the finite differences, and
    // batch norm's gradients of x are often far smaller than one (they nearly cancel). So
    // an absolute floor here; the tape above is the tight check.
    let fd_tolerance = Tolerance { abs: 1e-8, rel: 1e-6 };
    for (what, got, want) in [
        ("x", got.x.as_vec(), fd_x.as_vec()),
        ("γ", got.gamma.as_vec(), fd_g.as_vec()),
        ("β", got.beta.as_vec(), fd_b.as_vec()),
    ] {
        assert_all_close(
            format!("{context}: the gradient of {what} against finite differences"),
            &got,
            &want,
            fd_tolerance,
        );
    }
}

fn batch_norm_backward_cases(seed: u64, closed_form: bool) {
    batch_norm_backward_case::<4, 3, 3, 2>(seed, closed_form);
    batch_norm_backward_case::<3, 1, 1, 1>(seed, closed_form);
    batch_norm_backward_case::<1, 2, 3, 3>(seed, closed_form);
    batch_norm_backward_case::<5, 2, 1, 1>(seed, closed_form);
}

/// A batch of two values in one channel, `x = (1, 3)`, `γ = 2`, `dy = (1, 0)`: `μ = 2`,
/// `σ² = 1`, `x̂ = (−1, 1)` (up to ε). Then `∂L/∂β = 1`, `∂L/∂γ = −1`, and
/// `∂L/∂x = γ/(n·s)·(n·dy − Σdy − x̂·Σdy·x̂) = 2/2·((2, 0) − 1 − (−1, 1)·(−1)) = (0, 0)`:
/// with two values, y does not depend on x at all. With three, `x = (0, 1, 5)`: checked
/// against the closed form in f64 here.
fn batch_norm_known_values(closed_form: bool) {
    let dev = device(0);
    let run = |x: &F64<Rank4<1, 1, 1, 3>>, gamma: &F64<Rank1<1>>, dy: &F64<Rank4<1, 1, 1, 3>>| {
        if closed_form {
            ch06::batch_norm_backward(x, gamma, dy, 0.0)
        } else {
            ch06::batch_norm_backward_steps(x, gamma, dy, 0.0)
        }
    };
    let name = if closed_form { "batch_norm_backward" } else { "batch_norm_backward_steps" };
    // Two values: a batch norm of two values outputs (−γ, γ) + β whatever they are.
    let x2: F64<Rank4<2, 1, 1, 1>> = dev.tensor([[[[1.0]]], [[[3.0]]]]);
    let dy2: F64<Rank4<2, 1, 1, 1>> = dev.tensor([[[[1.0]]], [[[0.0]]]]);
    let gamma: F64<Rank1<1>> = dev.tensor([2.0]);
    let g = if closed_form {
        ch06::batch_norm_backward(&x2, &gamma, &dy2, 0.0)
    } else {
        ch06::batch_norm_backward_steps(&x2, &gamma, &dy2, 0.0)
    };
    let context = format!("{name} (book section 6.10): x = (1, 3), γ = 2, dy = (1, 0), ε = 0");
    assert_all_close(
        format!("{context}: ∂L/∂x (two values normalise to ∓1 whatever x is)"),
        &g.x.as_vec(),
        &[0.0, 0.0],
        Tolerance::F64,
    );
    assert_all_close(format!("{context}: ∂L/∂γ = Σ dy·x̂"), &g.gamma.as_vec(), &[-1.0], Tolerance::F64);
    assert_all_close(format!("{context}: ∂L/∂β = Σ dy"), &g.beta.as_vec(), &[1.0], Tolerance::F64);
    // Three values: x = (0, 1, 5): μ = 2, σ² = 14/3, x̂ = (−2, −1, 3)/√(14/3).
    let x3: F64<Rank4<1, 1, 1, 3>> = dev.tensor([[[[0.0, 1.0, 5.0]]]]);
    let dy3: F64<Rank4<1, 1, 1, 3>> = dev.tensor([[[[1.0, 0.0, 0.0]]]]);
    let g = run(&x3, &gamma, &dy3);
    let s = (14.0f64 / 3.0).sqrt();
    let xhat = [-2.0 / s, -1.0 / s, 3.0 / s];
    let dx: Vec<f64> =
        (0..3).map(|i| 2.0 / (3.0 * s) * (3.0 * [1.0, 0.0, 0.0][i] - 1.0 - xhat[i] * xhat[0])).collect();
    let context = format!("{name} (book section 6.10): x = (0, 1, 5), γ = 2, dy = (1, 0, 0), ε = 0");
    assert_all_close(format!("{context}: ∂L/∂x"), &g.x.as_vec(), &dx, Tolerance::F64);
    assert_all_close(format!("{context}: ∂L/∂γ"), &g.gamma.as_vec(), &[xhat[0]], Tolerance::F64);
}

mod batch_norm_backward_steps {
    use super::*;

    #[test]
    fn agrees_with_the_tape_and_finite_differences_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            batch_norm_backward_cases(seed, false);
        }
    }

    #[test]
    fn known_values_of_two_and_three_element_batches() {
        course::graded!();
        batch_norm_known_values(false);
    }
}

mod batch_norm_backward {
    use super::*;

    #[test]
    fn agrees_with_the_tape_and_finite_differences_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            batch_norm_backward_cases(seed, true);
        }
    }

    #[test]
    fn known_values_of_two_and_three_element_batches() {
        course::graded!();
        batch_norm_known_values(true);
    }
}

mod dropout_backward {
    use super::*;

    /// The gradient of the learner's forward pass cannot be the reference (it may be wrong):
    /// the mask is rebuilt here from the draws `dropout`'s documentation prescribes.
    fn case<S: ConstShape>(seed: u64, rate: f64) {
        let dev = device(seed);
        let dy: F64<S> = uniform(&dev, seed, 1.0);
        let got = ch06::dropout_backward(&dy, rate, ch06::Mode::Train, &mut rng(seed + 7));
        let mut draws = rng(seed + 7);
        let want: Vec<f64> = dy
            .as_vec()
            .iter()
            .map(|g| if draws.gen::<f64>() < rate { 0.0 } else { g / (1.0 - rate) })
            .collect();
        assert_all_close(
            format!("dropout_backward (book section 6.10): shape {:?}, rate {rate}, seed {seed}: dy times the forward pass's mask", S::default()),
            &got.as_vec(),
            &want,
            Tolerance::F64,
        );
    }

    #[test]
    fn replays_the_forward_mask_on_random_shapes_and_rates() {
        course::graded!();
        for seed in SEEDS {
            case::<Rank1<50>>(seed, 0.5);
            case::<Rank2<7, 9>>(seed, 0.2);
            case::<Rank4<2, 3, 4, 5>>(seed, 0.8);
        }
    }

    #[test]
    fn matches_the_tape_of_the_forward_pass_and_eval_passes_through() {
        course::graded!();
        let dev = device(3);
        let x: F64<Rank2<4, 6>> = uniform(&dev, 3, 1.0);
        let dy: F64<Rank2<4, 6>> = uniform(&dev, 4, 1.0);
        // The tape of dfdx through a multiplication by the mask rebuilt from the draws.
        let mut draws = rng(11);
        let mask: Vec<f64> =
            (0..24).map(|_| if draws.gen::<f64>() < 0.25 { 0.0 } else { 1.0 / 0.75 }).collect();
        let mask: F64<Rank2<4, 6>> = dev.tensor_from_vec(mask, (Const, Const));
        let tape = ((x.leaky_trace() * mask) * dy.clone()).sum().backward();
        let got = ch06::dropout_backward(&dy, 0.25, ch06::Mode::Train, &mut rng(11));
        assert_all_close(
            "dropout_backward (book section 6.10): rate 0.25 against the tape of x · mask",
            &got.as_vec(),
            &tape.get(&x).as_vec(),
            Tolerance::F64,
        );
        let got = ch06::dropout_backward(&dy, 0.25, ch06::Mode::Eval, &mut rng(11));
        assert_all_close(
            "dropout_backward (book section 6.10): in Mode::Eval the gradient passes unchanged",
            &got.as_vec(),
            &dy.as_vec(),
            Tolerance::F64,
        );
    }
}

mod overfit_tiny_set {
    use super::*;

    /// The first two images of each class, in file order.
    fn tiny_indices(train: &datasets::ImageSet) -> Vec<usize> {
        let mut taken = [0; 10];
        (0..train.len())
            .filter(|&i| {
                taken[train.label(i)] += 1;
                taken[train.label(i)] <= 2
            })
            .collect()
    }

    /// The mean cross-entropy (f64) and the number right of `model` on the tiny set,
    /// computed here: training mode for the untrained network, test mode for a trained one.
    fn loss_and_right(
        model: &mut ch06::FashionCnn<f32, Dev>,
        train: &datasets::ImageSet,
        train_mode: bool,
    ) -> (f64, usize) {
        let dev = device(0);
        let (x, labels) =
            courselib::data::image_batch::<20, 1, 28, 28, Dev>(&dev, train, &tiny_indices(train));
        let logits = if train_mode { model.forward_train(x) } else { model.forward_eval(x) }.as_vec();
        let mut right = 0;
        let loss = logits
            .chunks(10)
            .zip(labels)
            .map(|(row, label)| {
                right += usize::from(courselib::data::predicts_label(row, label));
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f64 = row.iter().map(|&z| f64::from(z - max).exp()).sum();
                sum.ln() + f64::from(max - row[label])
            })
            .sum::<f64>()
            / 20.0;
        (loss, right)
    }

    /// Checks the report against the returned network, measured here: a report can only say
    /// what the network does.
    fn check_report(
        context: &str,
        train: &datasets::ImageSet,
        seed: u64,
        model: &mut ch06::FashionCnn<f32, Dev>,
        report: &ch06::SanityReport,
    ) {
        let mut untrained = ch06::FashionCnn::<f32, Dev>::build(&device(seed));
        assert_close(
            format!("{context}: initial_loss (the untrained network, training mode, on the first 2 images of each class)"),
            report.initial_loss,
            loss_and_right(&mut untrained, train, true).0,
            Tolerance { abs: 1e-5, rel: 1e-5 },
        );
        let (loss, right) = loss_and_right(model, train, false);
        assert_close(
            format!("{context}: final_loss (the returned network, test mode)"),
            report.final_loss,
            loss,
            Tolerance { abs: 1e-5, rel: 1e-4 },
        );
        course::check_eq!(
            (report.accuracy * 20.0).round() as usize,
            right,
            "{context}: accuracy (images of 20 that the returned network gets right, test mode)"
        );
    }

    /// Over seeds: the report is the returned network's, the untrained loss is near ln 10,
    /// and 100 steps learn all 20 images and cut the loss tenfold.
    #[test]
    fn both_checks_over_seeds() {
        course::graded!();
        let train = datasets::fashion::train().expect("the shipped Fashion-MNIST train subset");
        for seed in SEEDS {
            let (mut model, report) = ch06::overfit_tiny_set(&train, 100, 1e-2, seed);
            let context =
                format!("overfit_tiny_set (book section 6.9): 100 steps, η = 0.01, seed {seed}: {report:?}");
            check_report(&context, &train, seed, &mut model, &report);
            course::check!(
                (f64::from(report.initial_loss) - 10f64.ln()).abs() < 0.5,
                "{context}: the untrained loss is near ln 10"
            );
            course::check!(report.accuracy == 1.0, "{context}: all 20 images should be learnt");
            course::check!(
                report.final_loss < 0.1 * report.initial_loss,
                "{context}: the loss should fall tenfold"
            );
        }
    }

    /// With a learning rate of 0, and of 1e-9 (which no check for 0 catches), nothing is
    /// learnt, and the report, checked against the network, must say so.
    #[test]
    fn a_network_that_does_not_learn_fails_the_check() {
        course::graded!();
        let train = datasets::fashion::train().expect("the shipped Fashion-MNIST train subset");
        for learning_rate in [0.0, 1e-9] {
            let (mut model, report) = ch06::overfit_tiny_set(&train, 30, learning_rate, 4);
            let context = format!(
                "overfit_tiny_set (book section 6.9): 30 steps at η = {learning_rate}, seed 4: {report:?}"
            );
            check_report(&context, &train, 4, &mut model, &report);
            course::check!(report.accuracy < 0.5, "{context}: an untrained network cannot know 20 images");
            course::check!(
                report.final_loss > 1.5,
                "{context}: an untrained network's loss stays near ln 10"
            );
        }
    }
}
