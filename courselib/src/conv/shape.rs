//! Output sizes and the compile-time shape checks, written once for every op.
//!
//! On stable Rust a type cannot compute `(H + 2P − K)/S + 1`, so every op and layer
//! carries its output size `OH × OW` as const parameters, and a `const { .. }` block
//! calls one of the `check_*` functions below. The check is evaluated when the generic
//! function is instantiated with concrete numbers: a wrong size is `error[E0080]` in
//! `cargo build`, `cargo test` and `cargo run`, with the formula in the message.
//! `cargo check` and rust-analyzer do not instantiate generic code and say nothing.

use std::ops::Range;

/// Output size of a convolution or pooling window along one axis:
/// `(n + 2·p − k) / s + 1` for input size `n`, kernel `k`, stride `s`, padding `p`.
pub const fn conv_out(n: usize, k: usize, s: usize, p: usize) -> usize {
    (n + 2 * p - k) / s + 1
}

/// Output size of a pooling window (no padding) along one axis: `(n − k) / s + 1`.
pub const fn pool_out(n: usize, k: usize, s: usize) -> usize {
    conv_out(n, k, s, 0)
}

/// Output size of a transposed convolution along one axis (PyTorch, no output padding):
/// `(n − 1)·s + k − 2·p`. It is the input size of the convolution it is the adjoint of.
pub const fn conv_transpose_out(n: usize, k: usize, s: usize, p: usize) -> usize {
    (n - 1) * s + k - 2 * p
}

/// Panics (at compile time, inside `const { .. }`) unless `OH × OW` is the output size
/// of a `K × K` convolution with stride `S` and padding `P` on an `H × W` input.
#[allow(clippy::too_many_arguments)]
pub const fn check_conv2d(h: usize, w: usize, k: usize, s: usize, p: usize, oh: usize, ow: usize) {
    assert!(k > 0 && s > 0, "conv2d: the kernel size K and the stride S must be at least 1");
    assert!(k <= h + 2 * p && k <= w + 2 * p, "conv2d: the kernel K is larger than the padded input H + 2*P");
    assert!(oh == conv_out(h, k, s, p), "conv2d: OH must be (H + 2*P - K) / S + 1");
    assert!(ow == conv_out(w, k, s, p), "conv2d: OW must be (W + 2*P - K) / S + 1");
}

/// Panics (at compile time) unless `OH × OW` is the output size of a `K × K` pooling
/// window with stride `S` (no padding) on an `H × W` input.
pub const fn check_pool2d(h: usize, w: usize, k: usize, s: usize, oh: usize, ow: usize) {
    assert!(k > 0 && s > 0, "pool2d: the window size K and the stride S must be at least 1");
    assert!(k <= h && k <= w, "pool2d: the window K is larger than the input");
    assert!(oh == pool_out(h, k, s), "pool2d: OH must be (H - K) / S + 1");
    assert!(ow == pool_out(w, k, s), "pool2d: OW must be (W - K) / S + 1");
}

/// Panics (at compile time) unless `OH × OW` is the output size of a `K × K` transposed
/// convolution with stride `S` and padding `P` on an `H × W` input.
#[allow(clippy::too_many_arguments)]
pub const fn check_conv_transpose2d(h: usize, w: usize, k: usize, s: usize, p: usize, oh: usize, ow: usize) {
    assert!(k > 0 && s > 0 && h > 0 && w > 0, "conv_transpose2d: K, S, H and W must be at least 1");
    assert!(2 * p < k, "conv_transpose2d: the padding P must be less than K / 2");
    assert!(oh == conv_transpose_out(h, k, s, p), "conv_transpose2d: OH must be (H - 1) * S + K - 2*P");
    assert!(ow == conv_transpose_out(w, k, s, p), "conv_transpose2d: OW must be (W - 1) * S + K - 2*P");
}

/// The geometry of one convolution: input `h × w`, square kernel `k`, stride `s`,
/// padding `p`, output `oh × ow`. Every kernel (the gather index, the fast im2col and
/// col2im, the transposed convolution) reads positions through [`Geometry::taps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub s: usize,
    pub p: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// The geometry of a convolution (or a pool, with `p = 0`) on an `h × w` input.
    pub const fn conv(h: usize, w: usize, k: usize, s: usize, p: usize) -> Self {
        Geometry { h, w, k, s, p, oh: conv_out(h, k, s, p), ow: conv_out(w, k, s, p) }
    }

    /// Along one axis with input size `n` and output size `n_out`: the output positions
    /// `o` whose kernel tap `t` reads inside the input, i.e. `0 <= o·s + t − p < n`.
    /// Output `o` then reads input `o·s + t − p`; outside the range it reads padding.
    #[inline]
    pub fn taps(&self, n: usize, n_out: usize, t: usize) -> Range<usize> {
        let first = self.p.saturating_sub(t).div_ceil(self.s).min(n_out);
        let end = (n + self.p).saturating_sub(t).div_ceil(self.s).min(n_out);
        first..end.max(first)
    }

    /// Rows `oy` whose tap `ky` reads inside the input.
    #[inline]
    pub fn rows(&self, ky: usize) -> Range<usize> {
        self.taps(self.h, self.oh, ky)
    }

    /// Columns `ox` whose tap `kx` reads inside the input.
    #[inline]
    pub fn cols(&self, kx: usize) -> Range<usize> {
        self.taps(self.w, self.ow, kx)
    }

    /// The input position read by output position `o` with tap `t` (inside the range of
    /// [`Geometry::taps`]).
    #[inline]
    pub fn source(&self, o: usize, t: usize) -> usize {
        o * self.s + t - self.p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_are_exactly_the_positions_inside_the_input() {
        for (n, k, s, p) in [(5, 3, 1, 1), (7, 3, 2, 0), (6, 5, 3, 2), (4, 1, 1, 0), (28, 3, 2, 0)] {
            let g = Geometry::conv(n, n, k, s, p);
            for t in 0..k {
                let want: Vec<usize> = (0..g.oh).filter(|&o| (o * s + t) >= p && o * s + t - p < n).collect();
                assert_eq!(g.rows(t).collect::<Vec<_>>(), want, "n={n} k={k} s={s} p={p} t={t}");
            }
        }
    }

    #[test]
    fn output_sizes() {
        assert_eq!(conv_out(28, 3, 1, 1), 28);
        assert_eq!(pool_out(28, 3, 2), 13);
        assert_eq!(conv_transpose_out(14, 4, 2, 1), 28);
        // the transposed convolution inverts the size map of the convolution
        assert_eq!(conv_out(conv_transpose_out(9, 3, 2, 1), 3, 2, 1), 9);
    }
}
