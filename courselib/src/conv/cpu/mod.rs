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
mod dot;
mod pool;

pub use conv2d::conv2d;
pub use conv_transpose2d::conv_transpose2d;
pub use dot::dot;
pub use pool::{avg_pool2d, max_pool2d};

use dfdx::prelude::*;
use rayon::prelude::*;

use super::shape::Geometry;

/// The element types of the fast kernels: `f32` and `f64`.
pub trait CpuFloat: Dtype + num_traits::Float + Send + Sync + 'static {}
impl CpuFloat for f32 {}
impl CpuFloat for f64 {}

/// Keeps freed multi-megabyte buffers in the process's heap for the next allocation,
/// instead of handing them back to the kernel. Every fast op calls it first; it acts once.
///
/// glibc's `malloc` serves a block above its mmap threshold (128 KiB to start) with fresh
/// pages from the kernel and unmaps it when freed, so each call's buffers (inputs, outputs,
/// columns, gradients: a few MiB each) fault in their pages again, and each unmap flushes
/// the other cores' TLBs. Measured with `perf` on conv2d forward + backward (batch 64,
/// 8 → 16, 28 × 28, 2 cores): 42 % of the time was in the kernel, mostly page faults and
/// those flushes; with the threshold at 32 MiB the call takes 5.5 ms instead of 16. XLA and
/// PyTorch keep their buffers in their own caching allocators for the same reason. The
/// setting is process-wide and changes no result.
pub(crate) fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only sets malloc's parameters; 32 MiB is glibc's maximum
            // threshold on 64-bit, and trimming above 256 MiB keeps the freed blocks.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
            }
        });
    }
}

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

/// A matrix operand: pointer, row stride, column stride.
type Mat<E> = (*const E, usize, usize);

/// `dst (m × n) = [dst +] lhs (m × k) · rhs (k × n)`, single-threaded: the callers
/// parallelise over the batch, which for the course's sizes keeps both cores busy
/// without gemm's own per-call thread hand-off. Every operand has explicit strides, so a
/// transposed operand costs nothing.
///
/// # Safety
/// The pointers and strides must describe matrices inside live allocations, and `dst`
/// must not overlap `lhs` or `rhs`.
#[inline]
unsafe fn mm<E: CpuFloat>(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs, dst_cs): (*mut E, usize, usize),
    accumulate: bool,
    (lhs, lhs_rs, lhs_cs): Mat<E>,
    (rhs, rhs_rs, rhs_cs): Mat<E>,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs as isize,
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
/// A convolution needs three products per image: `W · cols(x_b)` (forward), `Wᵀ · gy_b`
/// then col2im (input gradient) and `gy_b · cols(x_b)ᵀ` (weight gradient). A transposed
/// convolution is made of the same three with input and output swapped.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvMats {
    pub g: Geometry,
    pub c: usize,
    pub o: usize,
}

impl ConvMats {
    /// The convolution `c → o` channels with a `k × k` kernel, stride `s` and padding `p`
    /// on an `h × w` input.
    pub fn conv(c: usize, o: usize, (h, w): (usize, usize), (k, s, p): (usize, usize, usize)) -> Self {
        ConvMats { g: Geometry::conv(h, w, k, s, p), c, o }
    }

    /// The convolution a transposed convolution `c → o` with output `oh × ow` is the
    /// transpose of: from `oh × ow` with `o` channels to the input's size with `c`.
    pub fn transposed(
        c: usize,
        o: usize,
        (oh, ow): (usize, usize),
        (k, s, p): (usize, usize, usize),
    ) -> Self {
        ConvMats { g: Geometry::conv(oh, ow, k, s, p), c: o, o: c }
    }

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

    /// A per-thread buffer for the columns of one image (none for a pointwise kernel).
    fn cols_buffer<E: CpuFloat>(&self) -> Vec<E> {
        vec![E::zero(); if self.is_pointwise() { 0 } else { self.ckk() * self.ohw() }]
    }

    /// `cols(xb)`, written into `buf` unless `xb` is its own columns.
    fn columns<'a, E: CpuFloat>(&self, xb: &'a [E], buf: &'a mut [E]) -> &'a [E] {
        if self.is_pointwise() {
            xb
        } else {
            self.im2col(xb, buf);
            buf
        }
    }

    /// One image: `yb (o × oh·ow) += W · cols`.
    fn image_forward<E: CpuFloat>(&self, w: &[E], cols: &[E], yb: &mut [E]) {
        let (ckk, ohw) = (self.ckk(), self.ohw());
        // SAFETY: yb is o × ohw, w is o × ckk, cols is ckk × ohw, all row-major
        unsafe {
            mm(
                (self.o, ohw, ckk),
                (yb.as_mut_ptr(), ohw, 1),
                true,
                (w.as_ptr(), ckk, 1),
                (cols.as_ptr(), ohw, 1),
            )
        }
    }

    /// One image: `xb (c × h·w) += col2im(Wᵀ · yb)`; `buf` holds the columns.
    ///
    /// Computed as `(Wᵀ·yb)ᵀ = ybᵀ · W` (`oh·ow × c·k·k`, written transposed): gemm is
    /// about 1.5× faster with the long dimension as its `m` (measured, f32, 3×3, 8 → 16).
    fn image_adjoint<E: CpuFloat>(&self, w: &[E], yb: &[E], buf: &mut [E], xb: &mut [E]) {
        let (ckk, ohw) = (self.ckk(), self.ohw());
        let (lhs, rhs) = ((yb.as_ptr(), 1, ohw), (w.as_ptr(), ckk, 1)); // ybᵀ (ohw × o), W (o × ckk)
        if self.is_pointwise() {
            // SAFETY: xbᵀ is ohw × c, ybᵀ is ohw × o, W is o × c
            unsafe { mm((ohw, ckk, self.o), (xb.as_mut_ptr(), 1, ohw), true, lhs, rhs) }
        } else {
            // SAFETY: bufᵀ is ohw × ckk, ybᵀ is ohw × o, W is o × ckk
            unsafe { mm((ohw, ckk, self.o), (buf.as_mut_ptr(), 1, ohw), false, lhs, rhs) }
            self.col2im_add(buf, xb);
        }
    }

    /// One image: `gw (o × c·k·k) += gyb (o × oh·ow) · colsᵀ`, computed as
    /// `gwᵀ += cols · gybᵀ` (written transposed), which gemm runs about 1.3× faster.
    fn image_weight_grad<E: CpuFloat>(&self, cols: &[E], gyb: &[E], gw: &mut [E]) {
        let (ckk, ohw) = (self.ckk(), self.ohw());
        // SAFETY: gwᵀ is ckk × o, cols is ckk × ohw, gybᵀ is ohw × o
        unsafe {
            mm(
                (ckk, self.o, ohw),
                (gw.as_mut_ptr(), 1, ckk),
                true,
                (cols.as_ptr(), ohw, 1),
                (gyb.as_ptr(), 1, ohw),
            )
        }
    }

    /// Batch: `y_b (o × oh·ow) += W · cols(x_b)` for every image, in parallel over the
    /// batch. `x` is `B × c × h × w`, `y` is `B × o × oh × ow`, `w` is `o × c·k·k`.
    pub fn forward<E: CpuFloat>(&self, w: &[E], x: &[E], y: &mut [E]) {
        y.par_chunks_exact_mut(self.y_len()).zip(x.par_chunks_exact(self.x_len())).for_each_init(
            || self.cols_buffer(),
            |buf, (yb, xb)| self.image_forward(w, self.columns(xb, buf), yb),
        );
    }

    /// Batch: `x_b (c × h·w) += col2im(Wᵀ · y_b)` for every image, the adjoint of
    /// [`Self::forward`]: the forward pass of a transposed convolution.
    pub fn adjoint<E: CpuFloat>(&self, w: &[E], y: &[E], x: &mut [E]) {
        x.par_chunks_exact_mut(self.x_len()).zip(y.par_chunks_exact(self.y_len())).for_each_init(
            || vec![E::zero(); self.ckk() * self.ohw()],
            |buf, (xb, yb)| self.image_adjoint(w, yb, buf, xb),
        );
    }

    /// The backward pass of a convolution `y = W·cols(x) + bias`, in one pass over the
    /// batch: `gx += col2im(Wᵀ·gy_b)`, `gw += Σ_b gy_b·cols(x_b)ᵀ`, `gb += Σ gy`. One pass
    /// keeps each image's `x_b`, `gy_b` and columns in cache for all three; each task
    /// sums its images' share of `gw` and `gb` in its own buffers.
    pub fn backward<E: CpuFloat>(
        &self,
        w: &[E],
        x: &[E],
        gy: &[E],
        gx: &mut [E],
        gw: &mut [E],
        gb: &mut [E],
    ) {
        let (ohw, group) = (self.ohw(), images_per_task(x.len() / self.x_len()));
        let partials = gx
            .par_chunks_mut(group * self.x_len())
            .zip(x.par_chunks(group * self.x_len()))
            .zip(gy.par_chunks(group * self.y_len()))
            .map_init(
                || (self.cols_buffer(), vec![E::zero(); self.ckk() * ohw]),
                |(buf, dcols), ((gxg, xg), gyg)| {
                    let (mut pw, mut pb) = (vec![E::zero(); gw.len()], vec![E::zero(); self.o]);
                    let images = gxg.chunks_exact_mut(self.x_len()).zip(xg.chunks_exact(self.x_len()));
                    for ((gxb, xb), gyb) in images.zip(gyg.chunks_exact(self.y_len())) {
                        self.image_weight_grad(self.columns(xb, buf), gyb, &mut pw);
                        for (g, row) in pb.iter_mut().zip(gyb.chunks_exact(ohw)) {
                            *g += sum(row);
                        }
                        self.image_adjoint(w, gyb, dcols, gxb);
                    }
                    (pw, pb)
                },
            )
            .collect::<Vec<_>>();
        add_in_order(partials, gw, gb);
    }

    /// The backward pass of the transposed convolution `y = adjoint(x) + bias` (see
    /// [`Self::adjoint`]), in one pass over the batch: with `cols = cols(gy_b)`,
    /// `gx_b += W·cols`, `gw += Σ_b x_b·colsᵀ`, `gb += Σ gy`.
    pub fn transpose_backward<E: CpuFloat>(
        &self,
        w: &[E],
        x: &[E],
        gy: &[E],
        gx: &mut [E],
        gw: &mut [E],
        gb: &mut [E],
    ) {
        let n = self.g.h * self.g.w; // positions of the transposed convolution's output
        let group = images_per_task(x.len() / self.y_len());
        let partials = gx
            .par_chunks_mut(group * self.y_len())
            .zip(x.par_chunks(group * self.y_len()))
            .zip(gy.par_chunks(group * self.x_len()))
            .map_init(
                || self.cols_buffer(),
                |buf, ((gxg, xg), gyg)| {
                    let (mut pw, mut pb) = (vec![E::zero(); gw.len()], vec![E::zero(); self.c]);
                    let images = gxg.chunks_exact_mut(self.y_len()).zip(xg.chunks_exact(self.y_len()));
                    for ((gxb, xb), gyb) in images.zip(gyg.chunks_exact(self.x_len())) {
                        let cols = self.columns(gyb, buf);
                        self.image_forward(w, cols, gxb);
                        self.image_weight_grad(cols, xb, &mut pw);
                        for (g, row) in pb.iter_mut().zip(gyb.chunks_exact(n)) {
                            *g += sum(row);
                        }
                    }
                    (pw, pb)
                },
            )
            .collect::<Vec<_>>();
        add_in_order(partials, gw, gb);
    }
}

/// The one shape of the fast convolutions: `y = bias + m(x)` for a convolution, or
/// `y = bias + mᵀ(x)` for a transposed one (`transposed`), with the hand-written backward
/// pass pushed on `x`'s tape. The tensors' shape types are free (compile-time for the
/// layers, run-time for the benchmarks' workloads); `y_shape` must hold `m`'s output
/// (`B × o × oh·ow`, or `B × c × h·w` transposed).
pub(crate) fn conv_op<SX: Shape, SW: Shape, SB: Shape, SY: Shape, E: CpuFloat, T: Tape<E, Cpu>>(
    m: ConvMats,
    transposed: bool,
    x: Tensor<SX, E, Cpu, T>,
    weight: &Tensor<SW, E, Cpu>,
    bias: &Tensor<SB, E, Cpu>,
    y_shape: SY,
) -> Result<Tensor<SY, E, Cpu, T>, CpuError> {
    keep_freed_buffers();
    let (x, mut tape) = x.split_tape();
    let (xs, x) = values(x);
    let ws = weight.as_vec();
    let mut ys = vec![E::zero(); y_shape.num_elements()];
    let positions = if transposed { m.g.h * m.g.w } else { m.ohw() };
    fill_bias(&mut ys, &bias.as_vec(), positions);
    if transposed {
        m.adjoint(&ws, &xs, &mut ys);
    } else {
        m.forward(&ws, &xs, &mut ys);
    }
    let out = x.device().try_tensor_from_vec(ys, y_shape)?;
    if T::OWNS_TAPE {
        let (x_g, w_g, b_g, out_g) = (x.ghost(), weight.ghost(), bias.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_g)?);
            // the three gradients are distinct buffers in `grads`, but dfdx lends one at a time
            let mut gw = std::mem::take(&mut **grads.get_or_alloc_mut(&w_g)?);
            let mut gb = std::mem::take(&mut **grads.get_or_alloc_mut(&b_g)?);
            let gx = grads.get_or_alloc_mut(&x_g)?;
            if transposed {
                m.transpose_backward(&ws, &xs, &gy, gx, &mut gw, &mut gb);
            } else {
                m.backward(&ws, &xs, &gy, gx, &mut gw, &mut gb);
            }
            **grads.get_or_alloc_mut(&w_g)? = gw;
            **grads.get_or_alloc_mut(&b_g)? = gb;
            **grads.get_or_alloc_mut(&out_g)? = gy;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// How many images one parallel task takes: a function of the batch size only, so the
/// partial sums of the weight and bias gradients, and their rounding, are the same
/// however rayon schedules the tasks (and on any number of threads). About 16 tasks keep
/// both cores busy without many small `gemm` calls per task.
fn images_per_task(batch: usize) -> usize {
    batch.div_ceil(16).max(1)
}

/// `gw += Σ pw`, `gb += Σ pb` over the per-task partial sums, in task order.
fn add_in_order<E: CpuFloat>(partials: Vec<(Vec<E>, Vec<E>)>, gw: &mut [E], gb: &mut [E]) {
    for (pw, pb) in partials {
        gw.iter_mut().zip(pw).for_each(|(g, v)| *g += v);
        gb.iter_mut().zip(pb).for_each(|(g, v)| *g += v);
    }
}

/// `Σ a_i·b_i` in 16 independent partial sums: a single running sum is one long chain
/// of dependent additions, which the compiler may not reorder and so cannot vectorise
/// (measured: the reductions were ~10% of the benchmark's time). Deterministic: the
/// order depends only on the length.
pub(crate) fn sum_of_products<E: CpuFloat>(a: &[E], b: &[E]) -> E {
    const LANES: usize = 16;
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = ca.remainder().iter().zip(cb.remainder()).fold(E::zero(), |s, (&p, &q)| s + p * q);
    let mut acc = [E::zero(); LANES];
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// `Σ a_i`, vectorised as [`sum_of_products`].
pub(crate) fn sum<E: CpuFloat>(a: &[E]) -> E {
    const LANES: usize = 16;
    let chunks = a.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(E::zero(), |s, &v| s + v);
    let mut acc = [E::zero(); LANES];
    for x in chunks {
        for i in 0..LANES {
            acc[i] += x[i];
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// `y (B × o × n)`: every value of channel `j` set to `bias[j]`.
pub(crate) fn fill_bias<E: CpuFloat>(y: &mut [E], bias: &[E], n: usize) {
    for (yo, &b) in y.chunks_exact_mut(n).zip(bias.iter().cycle()) {
        yo.fill(b);
    }
}
