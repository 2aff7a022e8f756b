//! The fast `Cpu` kernels: plain slices, the `gemm` crate (the matrix multiply dfdx's
//! own `Cpu` matmul uses) and rayon over the batch, with hand-written backward passes
//! pushed on dfdx's tape with [`Tape::add_backward_op`].
//!
//! Only public dfdx API is used. There is no public `&[E]` view of a tensor, so an op
//! copies its input once ([`Tensor::copy_into`]) and moves its output into a tensor
//! ([`TensorFromVec::tensor_from_vec`]); in the backward pass it takes the output's
//! gradient out of [`Gradients`] with `mem::take` while it writes the other gradients,
//! and puts it back.

mod conv2d;
mod conv_transpose2d;
mod pool;

pub use conv2d::conv2d;
pub use conv_transpose2d::conv_transpose2d;
pub use pool::{avg_pool2d, max_pool2d};

use dfdx::prelude::*;
use rayon::prelude::*;

use super::shape::Geometry;

/// The element types of the fast kernels: `f32` and `f64`.
pub trait CpuFloat: Dtype + num_traits::Float + Send + Sync + 'static {}
impl CpuFloat for f32 {}
impl CpuFloat for f64 {}

/// The values of `t` in row-major order, one copy (dfdx has no public slice view).
pub(crate) fn values<S: Shape, E: CpuFloat, T>(t: Tensor<S, E, Cpu, T>) -> (Vec<E>, Tensor<S, E, Cpu, T>)
where
    T: Tape<E, Cpu>,
{
    // `contiguous` is free (same tensor, same id) unless `t` is a strided view
    let t = t.contiguous();
    let mut v = vec![E::zero(); t.shape().num_elements()];
    t.copy_into(&mut v);
    (v, t)
}

/// Row-major matrix operand: pointer, row stride, column stride.
type Mat<E> = (*const E, usize, usize);

/// `dst (m × n) = [dst +] lhs (m × k) · rhs (k × n)`, single-threaded: the callers
/// parallelise over the batch, which for the course's sizes keeps both cores busy
/// without gemm's own per-call thread hand-off.
///
/// # Safety
/// The pointers and strides must describe matrices inside live allocations, and `dst`
/// must not overlap `lhs` or `rhs`.
#[inline]
unsafe fn mm<E: CpuFloat>(
    (m, n, k): (usize, usize, usize),
    dst: *mut E,
    dst_rs: usize,
    accumulate: bool,
    (lhs, lhs_rs, lhs_cs): Mat<E>,
    (rhs, rhs_rs, rhs_cs): Mat<E>,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        E::one(),
        E::one(),
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

/// A convolution as matrices: `c` input channels, `o` output channels, geometry `g`.
/// The weight is the row-major `o × (c·k·k)` matrix `W`, one image `x_b` is `c × h·w`,
/// its columns `cols(x_b)` are `c·k·k × oh·ow`, and `y_b = W · cols(x_b)` is `o × oh·ow`.
///
/// The three products below are all a convolution and its transposed convolution need:
/// conv forward = [`Self::forward`], conv backward = [`Self::adjoint`] (input gradient)
/// and [`Self::weight_grad`]; a transposed convolution uses the same three with the
/// roles of input and output swapped.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvMats {
    pub g: Geometry,
    pub c: usize,
    pub o: usize,
}

impl ConvMats {
    fn ckk(&self) -> usize {
        self.c * self.g.k * self.g.k
    }
    fn x_len(&self) -> usize {
        self.c * self.g.h * self.g.w
    }
    fn y_len(&self) -> usize {
        self.o * self.g.oh * self.g.ow
    }
    fn ohw(&self) -> usize {
        self.g.oh * self.g.ow
    }
    /// A 1×1 kernel with stride 1 and no padding: `cols(x_b)` is `x_b` itself.
    fn is_pointwise(&self) -> bool {
        self.g.k == 1 && self.g.s == 1 && self.g.p == 0
    }

    /// One image: `cols (c·k·k × oh·ow) = im2col(xb (c × h·w))`, zero in the padding.
    fn im2col<E: CpuFloat>(&self, xb: &[E], cols: &mut [E]) {
        let g = self.g;
        let mut rows = cols.chunks_exact_mut(self.ohw());
        for plane in xb.chunks_exact(g.h * g.w) {
            for ky in 0..g.k {
                for kx in 0..g.k {
                    let row = rows.next().expect("c·k·k rows");
                    let (ys, xs) = (g.rows(ky), g.cols(kx));
                    // padding rows and the padding ends of each row are zero
                    row[..ys.start * g.ow].fill(E::zero());
                    row[ys.end * g.ow..].fill(E::zero());
                    for oy in ys {
                        let out = &mut row[oy * g.ow..(oy + 1) * g.ow];
                        let src = &plane[g.source(oy, ky) * g.w..][..g.w];
                        out[..xs.start].fill(E::zero());
                        out[xs.end..].fill(E::zero());
                        if g.s == 1 && !xs.is_empty() {
                            let first = g.source(xs.start, kx);
                            out[xs.clone()].copy_from_slice(&src[first..first + xs.len()]);
                        } else {
                            for ox in xs.clone() {
                                out[ox] = src[g.source(ox, kx)];
                            }
                        }
                    }
                }
            }
        }
    }

    /// One image: `xb (c × h·w) += col2im(cols (c·k·k × oh·ow))`, the adjoint of
    /// [`Self::im2col`] (padding entries are dropped).
    fn col2im_add<E: CpuFloat>(&self, cols: &[E], xb: &mut [E]) {
        let g = self.g;
        let mut rows = cols.chunks_exact(self.ohw());
        for plane in xb.chunks_exact_mut(g.h * g.w) {
            for ky in 0..g.k {
                for kx in 0..g.k {
                    let row = rows.next().expect("c·k·k rows");
                    let xs = g.cols(kx);
                    for oy in g.rows(ky) {
                        let src = &row[oy * g.ow..(oy + 1) * g.ow];
                        let dst = &mut plane[g.source(oy, ky) * g.w..][..g.w];
                        if g.s == 1 && !xs.is_empty() {
                            let first = g.source(xs.start, kx);
                            for (d, v) in dst[first..first + xs.len()].iter_mut().zip(&src[xs.clone()]) {
                                *d += *v;
                            }
                        } else {
                            for ox in xs.clone() {
                                dst[g.source(ox, kx)] += src[ox];
                            }
                        }
                    }
                }
            }
        }
    }

    /// Batch: `y_b (o × oh·ow) += W · cols(x_b)` for every image, in parallel over the
    /// batch. `x` is `B × c × h × w`, `y` is `B × o × oh × ow`, `w` is `o × c·k·k`.
    pub fn forward<E: CpuFloat>(&self, w: &[E], x: &[E], y: &mut [E]) {
        let (ckk, ohw) = (self.ckk(), self.ohw());
        y.par_chunks_exact_mut(self.y_len()).zip(x.par_chunks_exact(self.x_len())).for_each_init(
            || if self.is_pointwise() { Vec::new() } else { vec![E::zero(); ckk * ohw] },
            |cols, (yb, xb)| {
                let rhs = if self.is_pointwise() {
                    xb
                } else {
                    self.im2col(xb, cols);
                    &cols[..]
                };
                let lhs = (w.as_ptr(), ckk, 1);
                // SAFETY: yb is o × ohw, w is o × ckk, rhs is ckk × ohw, all row-major
                unsafe { mm((self.o, ohw, ckk), yb.as_mut_ptr(), ohw, true, lhs, (rhs.as_ptr(), ohw, 1)) }
            },
        );
    }

    /// Batch: `x_b (c × h·w) += col2im(Wᵀ · y_b)` for every image, the adjoint of
    /// [`Self::forward`]: the input gradient of a convolution, the forward pass of a
    /// transposed convolution.
    pub fn adjoint<E: CpuFloat>(&self, w: &[E], y: &[E], x: &mut [E]) {
        let (ckk, ohw) = (self.ckk(), self.ohw());
        x.par_chunks_exact_mut(self.x_len()).zip(y.par_chunks_exact(self.y_len())).for_each_init(
            || if self.is_pointwise() { Vec::new() } else { vec![E::zero(); ckk * ohw] },
            |cols, (xb, yb)| {
                let (lhs, rhs) = ((w.as_ptr(), 1, ckk), (yb.as_ptr(), ohw, 1)); // Wᵀ: swapped strides
                if self.is_pointwise() {
                    // SAFETY: xb is c × ohw, Wᵀ is c × o, yb is o × ohw
                    unsafe { mm((ckk, ohw, self.o), xb.as_mut_ptr(), ohw, true, lhs, rhs) }
                } else {
                    // SAFETY: cols is ckk × ohw, Wᵀ is ckk × o, yb is o × ohw
                    unsafe { mm((ckk, ohw, self.o), cols.as_mut_ptr(), ohw, false, lhs, rhs) }
                    self.col2im_add(cols, xb);
                }
            },
        );
    }

    /// Batch: `gw (o × c·k·k) += Σ_b gy_b (o × oh·ow) · cols(x_b)ᵀ`, the weight gradient
    /// of a convolution. Each thread sums its share of the batch in its own buffer.
    pub fn weight_grad<E: CpuFloat>(&self, x: &[E], gy: &[E], gw: &mut [E]) {
        let (ckk, ohw) = (self.ckk(), self.ohw());
        let partial = x
            .par_chunks_exact(self.x_len())
            .zip(gy.par_chunks_exact(self.y_len()))
            .fold(
                || (vec![E::zero(); self.o * ckk], vec![E::zero(); if self.is_pointwise() { 0 } else { ckk * ohw }]),
                |(mut acc, mut cols), (xb, gyb)| {
                    let colsb = if self.is_pointwise() {
                        xb
                    } else {
                        self.im2col(xb, &mut cols);
                        &cols[..]
                    };
                    // SAFETY: acc is o × ckk, gyb is o × ohw, colsᵀ is ohw × ckk
                    unsafe {
                        mm(
                            (self.o, ckk, ohw),
                            acc.as_mut_ptr(),
                            ckk,
                            true,
                            (gyb.as_ptr(), ohw, 1),
                            (colsb.as_ptr(), 1, ohw),
                        )
                    }
                    (acc, cols)
                },
            )
            .map(|(acc, _)| acc)
            .collect::<Vec<_>>();
        for part in partial {
            gw.iter_mut().zip(part).for_each(|(g, v)| *g += v);
        }
    }
}

/// `y (B × o × n)`: every value of channel `j` set to `bias[j]`.
pub(crate) fn fill_bias<E: CpuFloat>(y: &mut [E], bias: &[E], n: usize) {
    for (yo, &b) in y.chunks_exact_mut(n).zip(bias.iter().cycle()) {
        yo.fill(b);
    }
}

/// `gb (o) += Σ over batch and positions of gy (B × o × n)`.
pub(crate) fn bias_grad<E: CpuFloat>(gy: &[E], gb: &mut [E], n: usize) {
    for (go, g) in gy.chunks_exact(n).zip((0..gb.len()).cycle()) {
        gb[g] += go.iter().fold(E::zero(), |a, &v| a + v);
    }
}
