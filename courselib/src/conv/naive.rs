//! Naive loops, written straight from the formulas: the references the tests check every
//! kernel against (in `f64`) and the baseline of the benchmarks (in `f32`).
//! All arrays are flat, row-major NCHW; `Dims` names their sizes.

use num_traits::Float;

use super::shape::{conv_out, conv_transpose_out, pool_out};

/// Sizes of a convolution: batch `b`, channels `c → o`, input `h × w`, kernel `k`,
/// stride `s`, padding `p`.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub b: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub k: usize,
    pub s: usize,
    pub p: usize,
}

impl Dims {
    /// `x[b, c, iy, ix]` read by `y[.., oy, ox]` through tap `(ky, kx)`, or `None` in the padding.
    fn input(
        &self,
        (b, c): (usize, usize),
        (oy, ox): (usize, usize),
        (ky, kx): (usize, usize),
    ) -> Option<usize> {
        let iy = (oy * self.s + ky).checked_sub(self.p).filter(|&i| i < self.h)?;
        let ix = (ox * self.s + kx).checked_sub(self.p).filter(|&i| i < self.w)?;
        Some(((b * self.c + c) * self.h + iy) * self.w + ix)
    }

    /// Every term of the convolution sum, as `(y index, x index, weight index)` with the
    /// weight `(o, c, k, k)`.
    fn conv_terms(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let (oh, ow) = (conv_out(self.h, self.k, self.s, self.p), conv_out(self.w, self.k, self.s, self.p));
        let d = *self;
        (0..d.b * d.o * oh * ow).flat_map(move |yi| {
            let (ox, oy, o, b) = (yi % ow, yi / ow % oh, yi / (ow * oh) % d.o, yi / (ow * oh * d.o));
            (0..d.c * d.k * d.k).filter_map(move |r| {
                let (c, ky, kx) = (r / (d.k * d.k), r / d.k % d.k, r % d.k);
                d.input((b, c), (oy, ox), (ky, kx))
                    .map(|xi| (yi, xi, (o * d.c + c) * d.k * d.k + ky * d.k + kx))
            })
        })
    }
}

/// conv2d: `x (b, c, h, w)`, `weight (o, c, k, k)`, `bias (o)` → `y (b, o, oh, ow)`.
pub fn conv2d<E: Float>(d: Dims, x: &[E], weight: &[E], bias: &[E]) -> Vec<E> {
    let ohw = conv_out(d.h, d.k, d.s, d.p) * conv_out(d.w, d.k, d.s, d.p);
    let mut y: Vec<E> = (0..d.b * d.o * ohw).map(|i| bias[i / ohw % d.o]).collect();
    for (yi, xi, wi) in d.conv_terms() {
        y[yi] = y[yi] + x[xi] * weight[wi];
    }
    y
}

/// The gradients of conv2d for the output gradient `gy (b, o, oh, ow)`:
/// `(gx (b, c, h, w), gweight (o, c, k, k), gbias (o))`.
pub fn conv2d_backward<E: Float>(d: Dims, x: &[E], weight: &[E], gy: &[E]) -> (Vec<E>, Vec<E>, Vec<E>) {
    let ohw = conv_out(d.h, d.k, d.s, d.p) * conv_out(d.w, d.k, d.s, d.p);
    let (mut gx, mut gw, mut gb) =
        (vec![E::zero(); x.len()], vec![E::zero(); weight.len()], vec![E::zero(); d.o]);
    for (yi, xi, wi) in d.conv_terms() {
        gx[xi] = gx[xi] + gy[yi] * weight[wi];
        gw[wi] = gw[wi] + gy[yi] * x[xi];
    }
    for (i, &g) in gy.iter().enumerate() {
        gb[i / ohw % d.o] = gb[i / ohw % d.o] + g;
    }
    (gx, gw, gb)
}

/// Transposed conv2d by its scatter definition: `x (b, c, h, w)`, `weight (c, o, k, k)`,
/// `bias (o)` → `y (b, o, oh, ow)` with `oh = (h − 1)·s + k − 2p`.
pub fn conv_transpose2d<E: Float>(d: Dims, x: &[E], weight: &[E], bias: &[E]) -> Vec<E> {
    let (oh, ow) = (conv_transpose_out(d.h, d.k, d.s, d.p), conv_transpose_out(d.w, d.k, d.s, d.p));
    let mut y: Vec<E> = (0..d.b * d.o * oh * ow).map(|i| bias[i / (oh * ow) % d.o]).collect();
    for (xi, &v) in x.iter().enumerate() {
        let (ix, iy, c, b) = (xi % d.w, xi / d.w % d.h, xi / (d.w * d.h) % d.c, xi / (d.w * d.h * d.c));
        for o in 0..d.o {
            for ky in 0..d.k {
                for kx in 0..d.k {
                    let oy = (iy * d.s + ky).checked_sub(d.p).filter(|&i| i < oh);
                    let ox = (ix * d.s + kx).checked_sub(d.p).filter(|&i| i < ow);
                    if let (Some(oy), Some(ox)) = (oy, ox) {
                        let yi = ((b * d.o + o) * oh + oy) * ow + ox;
                        y[yi] = y[yi] + v * weight[((c * d.o + o) * d.k + ky) * d.k + kx];
                    }
                }
            }
        }
    }
    y
}

/// Max pooling (`d.o`, `d.p` unused): `x (b, c, h, w)` → `(b, c, oh, ow)`.
pub fn max_pool2d<E: Float>(d: Dims, x: &[E]) -> Vec<E> {
    pool(d, x, E::neg_infinity(), |m, v| if v > m { v } else { m }, |m| m)
}

/// Average pooling (`d.o`, `d.p` unused): `x (b, c, h, w)` → `(b, c, oh, ow)`.
pub fn avg_pool2d<E: Float>(d: Dims, x: &[E]) -> Vec<E> {
    let n = E::from(d.k * d.k).expect("k² is a float");
    pool(d, x, E::zero(), |a, v| a + v, |a| a / n)
}

fn pool<E: Float>(d: Dims, x: &[E], init: E, step: impl Fn(E, E) -> E, finish: impl Fn(E) -> E) -> Vec<E> {
    let (oh, ow) = (pool_out(d.h, d.k, d.s), pool_out(d.w, d.k, d.s));
    let mut y = Vec::with_capacity(d.b * d.c * oh * ow);
    for plane in x.chunks_exact(d.h * d.w) {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = init;
                for ky in 0..d.k {
                    for kx in 0..d.k {
                        acc = step(acc, plane[(oy * d.s + ky) * d.w + ox * d.s + kx]);
                    }
                }
                y.push(finish(acc));
            }
        }
    }
    y
}
