"""The peers' side of `cargo course bench --peers conv2d`: the problems of
courselib::conv::workloads in JAX (jit of value_and_grad, on CPU) and NumPy (im2col),
float32, timed like our side: 3 warm-up calls, then the median of RUNS (default 20).

conv2d_fwd_bwd: x (64,8,28,28), w (16,8,3,3), b (16,), stride 1, pad 1,
    L = sum((conv(x, w) + b) * R); value and dL/dx, dL/dw, dL/db.
cnn_train_step: conv 1->8 3x3 pad 1, relu, maxpool 2, conv 8->16, relu, maxpool 2,
    flatten (NCHW order), linear 784->10, mean cross-entropy with one-hot labels,
    backward and an Adam update (lr 1e-3), batch 64.
WORKLOADS (`name B,C,H,W,O,K,S,P[t]` entries separated by `;`, from our side's WORKLOAD lines):
    more convolutions, each timed in JAX as `jax_<name>` (a trailing t: transposed, the adjoint
    of the convolution from the output to the input, as courselib's conv_transpose2d).
Prints `RESULT <name> <median ms> min <min ms>` lines; `RESULT <name> n/a` if not measured.
"""
import os
import statistics
import time

# XLA on CPU uses every core of the machine, as rayon does on our side; the course tool
# reports both thread counts. Keep JAX off any accelerator.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

RUNS = int(os.environ.get("RUNS", "20"))
B, C, H, W, O, K, P = 64, 8, 28, 28, 16, 3, 1
rng = np.random.default_rng(0)
x = rng.standard_normal((B, C, H, W), dtype=np.float32)
w = rng.standard_normal((O, C, K, K), dtype=np.float32)
b = rng.standard_normal((O,), dtype=np.float32)
r = rng.standard_normal((B, O, H, W), dtype=np.float32)


def median_ms(f, warm=3):
    for _ in range(warm):
        f()
    ts = []
    for _ in range(RUNS):
        s = time.perf_counter()
        f()
        ts.append((time.perf_counter() - s) * 1e3)
    return statistics.median(ts), min(ts)


def report(name, res):
    print(f"RESULT {name} {res[0]:.3f} min {res[1]:.3f}", flush=True)


# ---------------- NumPy im2col ----------------
def np_fwd_bwd(x, w, b, r):
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    win = sliding_window_view(xp, (K, K), axis=(2, 3))  # (B,C,H,W,K,K) view
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(B * H * W, C * K * K)  # copy
    y = (cols @ w.reshape(O, -1).T).reshape(B, H, W, O).transpose(0, 3, 1, 2) + b[None, :, None, None]
    loss = float(np.sum(y * r))
    gy = r.transpose(0, 2, 3, 1).reshape(B * H * W, O)  # dL/dy = R
    gw = (gy.T @ cols).reshape(O, C, K, K)
    gb = r.sum(axis=(0, 2, 3))
    dcols = (gy @ w.reshape(O, -1)).reshape(B, H, W, C, K, K)
    gxp = np.zeros((B, C, H + 2 * P, W + 2 * P), np.float32)
    for ky in range(K):  # col2im: K*K strided adds
        for kx in range(K):
            gxp[:, :, ky:ky + H, kx:kx + W] += dcols[:, :, :, :, ky, kx].transpose(0, 3, 1, 2)
    return loss, gxp[:, :, P:P + H, P:P + W], gw, gb


WORKLOADS = [line.split() for line in os.environ.get("WORKLOADS", "").split(";") if line.strip()]
if not WORKLOADS or any(name == "conv2d_fwd_bwd" for name, _ in WORKLOADS):
    report("numpy_conv2d_fwd_bwd", median_ms(lambda: np_fwd_bwd(x, w, b, r)))
print("RESULT numpy_cnn_train_step n/a", flush=True)

# ---------------- JAX ----------------
import jax
import jax.numpy as jnp


def conv(x, w, b):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), ((P, P), (P, P)), dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + b[None, :, None, None]


def loss_fn(x, w, b, r):
    return jnp.sum(conv(x, w, b) * r)


vg = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1, 2)))
xj, wj, bj, rj = map(jnp.asarray, (x, w, b, r))


def workload(spec):
    """The value-and-gradient function and its inputs for `B,C,H,W,O,K,S,P[t]` (as ours)."""
    transposed = spec.endswith("t")
    b_, c_, h_, w_, o_, k_, s_, p_ = map(int, spec.rstrip("t").split(","))
    if transposed:
        oh, ow = (h_ - 1) * s_ + k_ - 2 * p_, (w_ - 1) * s_ + k_ - 2 * p_
        wshape = (c_, o_, k_, k_)

        def f(x, w, b):  # the adjoint of the convolution from (O, OH, OW) to (C, H, W)
            y = jax.lax.conv_transpose(x, w, (s_, s_), [(k_ - 1 - p_, k_ - 1 - p_)] * 2,
                                       dimension_numbers=("NCHW", "OIHW", "NCHW"), transpose_kernel=True)
            return y + b[None, :, None, None]
    else:
        oh, ow = (h_ + 2 * p_ - k_) // s_ + 1, (w_ + 2 * p_ - k_) // s_ + 1
        wshape = (o_, c_, k_, k_)

        def f(x, w, b):
            y = jax.lax.conv_general_dilated(x, w, (s_, s_), ((p_, p_), (p_, p_)),
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return y + b[None, :, None, None]
    g = np.random.default_rng(0)
    args = [jnp.asarray(g.standard_normal(sh, dtype=np.float32))
            for sh in ((b_, c_, h_, w_), wshape, (o_,), (b_, o_, oh, ow))]
    assert f(*args[:3]).shape == (b_, o_, oh, ow), f"{spec}: JAX's output shape differs from ours"
    return jax.jit(jax.value_and_grad(lambda x, w, b, r: jnp.sum(f(x, w, b) * r), argnums=(0, 1, 2))), args


for name, spec in WORKLOADS or [("conv2d_fwd_bwd", "64,8,28,28,16,3,1,1")]:
    fn, args = (vg, (xj, wj, bj, rj)) if name == "conv2d_fwd_bwd" else workload(spec)
    report(f"jax_{name}", median_ms(lambda: jax.block_until_ready(fn(*args))))

# the two agree
l_np, gx_np, gw_np, gb_np = np_fwd_bwd(x, w, b, r)
l_j, (gx_j, gw_j, gb_j) = vg(xj, wj, bj, rj)
rel = lambda a, c: float(np.max(np.abs(np.asarray(a) - c)) / np.max(np.abs(c)))
print(f"# numpy vs jax, relative: loss {abs(l_np - float(l_j)) / abs(l_np):.1e}, dx {rel(gx_j, gx_np):.1e}, "
      f"dw {rel(gw_j, gw_np):.1e}, db {rel(gb_j, gb_np):.1e}")


def uniform(key, shape, fan_in):
    bound = 1.0 / np.sqrt(fan_in)
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


keys = jax.random.split(jax.random.PRNGKey(0), 6)
params = {
    "w1": uniform(keys[0], (8, 1, 3, 3), 9), "b1": uniform(keys[1], (8,), 9),
    "w2": uniform(keys[2], (16, 8, 3, 3), 72), "b2": uniform(keys[3], (16,), 72),
    "w3": uniform(keys[4], (10, 784), 784), "b3": uniform(keys[5], (10,), 784),
}


def maxpool2(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def cnn(p, x):
    h = maxpool2(jax.nn.relu(conv(x, p["w1"], p["b1"])))
    h = maxpool2(jax.nn.relu(conv(h, p["w2"], p["b2"])))
    return h.reshape(x.shape[0], 784) @ p["w3"].T + p["b3"]


def ce_loss(p, x, y):
    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(cnn(p, x)), axis=-1))


@jax.jit
def train_step(p, m, v, t, x, y):
    loss, g = jax.value_and_grad(ce_loss)(p, x, y)
    t = t + 1
    m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
    v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
    c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
    p = jax.tree_util.tree_map(lambda p, m, v: p - 1e-3 * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), p, m, v)
    return p, m, v, t, loss


xs = jnp.asarray(rng.uniform(size=(B, 1, 28, 28)).astype(np.float32))
ys = jax.nn.one_hot(jnp.asarray((np.arange(B) * 7) % 10), 10, dtype=jnp.float32)
state = [params, jax.tree_util.tree_map(jnp.zeros_like, params), jax.tree_util.tree_map(jnp.zeros_like, params),
         jnp.float32(0.0)]


def one_step():
    p, m, v, t, loss = train_step(*state, xs, ys)
    jax.block_until_ready(loss)
    state[:] = [p, m, v, t]


report("jax_cnn_train_step", median_ms(one_step))
print(f"# numpy {np.__version__}, jax {jax.__version__} on {jax.devices()[0].platform}, "
      f"{os.cpu_count()} CPUs, median of {RUNS}")
