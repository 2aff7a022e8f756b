//! Forward against naive loops, gradients against finite differences of the naive loops,
//! for both paths, in f64.

use super::*;

/// `y = op(x)` and the tape gradients of `L = Σ y·r`.
fn run<Sy: ConstShape>(
    y: Tensor<Sy, f64, Cpu, T64>,
    r: &Tensor<Sy, f64, Cpu>,
) -> (Vec<f64>, Gradients<f64, Cpu>) {
    (y.as_vec(), (y * r.clone()).sum().backward())
}

#[allow(clippy::type_complexity)]
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
) {
    let dev = Cpu::default();
    let d = Dims { b: B, c: C, h: H, w: W, o: O, k: K, s: S, p: P };
    let case = format!("conv2d {d:?}, seed {seed}");
    let x: Tensor<Rank4<B, C, H, W>, f64, _> = random(&dev, seed);
    let w: Tensor<Rank4<O, C, K, K>, f64, _> = random(&dev, seed + 1);
    let b: Tensor<Rank1<O>, f64, _> = random(&dev, seed + 2);
    let r: Tensor<Rank4<B, O, OH, OW>, f64, _> = random(&dev, seed + 3);
    let (xv, wv, bv, rv) = (x.as_vec(), w.as_vec(), b.as_vec(), r.as_vec());
    let want = naive::conv2d(d, &xv, &wv, &bv);
    let fd_x = numerical_gradient(|t| dot(&naive::conv2d(d, &t.as_vec(), &wv, &bv), &rv), &x, 1e-6).as_vec();
    let fd_w = numerical_gradient(|t| dot(&naive::conv2d(d, &xv, &t.as_vec(), &bv), &rv), &w, 1e-6).as_vec();
    let fd_b = numerical_gradient(|t| dot(&naive::conv2d(d, &xv, &wv, &t.as_vec()), &rv), &b, 1e-6).as_vec();
    let (nx, nw, nb) = naive::conv2d_backward(d, &xv, &wv, &rv);
    assert_gradient(&format!("{case}: naive dx"), &nx, &fd_x);
    assert_gradient(&format!("{case}: naive dw"), &nw, &fd_w);
    assert_gradient(&format!("{case}: naive db"), &nb, &fd_b);

    let fast = conv2d(x.leaky_trace(), &w, &b, Const::<S>, Const::<P>);
    let generic = gather::conv2d::<B, C, H, W, O, K, S, P, OH, OW, _, _, _>(x.leaky_trace(), &w, &b).unwrap();
    for (path, (y, g)) in [("fast", run(fast, &r)), ("gather", run(generic, &r))] {
        assert_all_close(format!("{case}, {path}: y"), &y, &want, Tolerance::F64);
        assert_gradient(&format!("{case}, {path}: dx"), &g.get(&x).as_vec(), &fd_x);
        assert_gradient(&format!("{case}, {path}: dw"), &g.get(&w).as_vec(), &fd_w);
        assert_gradient(&format!("{case}, {path}: db"), &g.get(&b).as_vec(), &fd_b);
    }
}

/// `conv!(B, C, H, W, O, K, S, P; seed)` with the output size from the formula.
macro_rules! conv {
    ($b:literal, $c:literal, $h:literal, $w:literal, $o:literal, $k:literal, $s:literal, $p:literal; $seed:literal) => {
        conv_case::<$b, $c, $h, $w, $o, $k, $s, $p, { conv_out($h, $k, $s, $p) }, { conv_out($w, $k, $s, $p) }>($seed)
    };
}

#[test]
fn conv2d_matches_loops_and_finite_differences() {
    conv!(1, 1, 5, 5, 1, 1, 1, 0; 1);
    conv!(2, 3, 7, 6, 4, 3, 1, 1; 2);
    conv!(2, 2, 8, 7, 3, 3, 2, 1; 3);
    conv!(1, 2, 9, 9, 2, 5, 3, 2; 4);
    conv!(2, 3, 6, 8, 2, 2, 2, 0; 5);
    conv!(1, 2, 5, 6, 3, 4, 1, 2; 6);
    conv!(2, 1, 10, 9, 2, 3, 3, 0; 7);
    conv!(1, 3, 4, 4, 2, 5, 2, 2; 8);
    conv!(2, 2, 3, 5, 2, 1, 2, 1; 9);
}

#[allow(clippy::type_complexity)]
fn conv_transpose_case<
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
    let dev = Cpu::default();
    let d = Dims { b: B, c: C, h: H, w: W, o: O, k: K, s: S, p: P };
    let case = format!("conv_transpose2d {d:?}, seed {seed}");
    let x: Tensor<Rank4<B, C, H, W>, f64, _> = random(&dev, seed);
    let w: Tensor<Rank4<C, O, K, K>, f64, _> = random(&dev, seed + 1);
    let b: Tensor<Rank1<O>, f64, _> = random(&dev, seed + 2);
    let r: Tensor<Rank4<B, O, OH, OW>, f64, _> = random(&dev, seed + 3);
    let (xv, wv, bv, rv) = (x.as_vec(), w.as_vec(), b.as_vec(), r.as_vec());
    let want = naive::conv_transpose2d(d, &xv, &wv, &bv);
    let loss = |x: &[f64], w: &[f64], b: &[f64]| dot(&naive::conv_transpose2d(d, x, w, b), &rv);
    let fd_x = numerical_gradient(|t| loss(&t.as_vec(), &wv, &bv), &x, 1e-6).as_vec();
    let fd_w = numerical_gradient(|t| loss(&xv, &t.as_vec(), &bv), &w, 1e-6).as_vec();
    let fd_b = numerical_gradient(|t| loss(&xv, &wv, &t.as_vec()), &b, 1e-6).as_vec();

    let fast = conv_transpose2d(x.leaky_trace(), &w, &b, Const::<S>, Const::<P>);
    let generic =
        gather::conv_transpose2d::<B, C, H, W, O, K, S, P, OH, OW, _, _, _>(x.leaky_trace(), &w, &b).unwrap();
    for (path, (y, g)) in [("fast", run(fast, &r)), ("gather", run(generic, &r))] {
        assert_all_close(format!("{case}, {path}: y"), &y, &want, Tolerance::F64);
        assert_gradient(&format!("{case}, {path}: dx"), &g.get(&x).as_vec(), &fd_x);
        assert_gradient(&format!("{case}, {path}: dw"), &g.get(&w).as_vec(), &fd_w);
        assert_gradient(&format!("{case}, {path}: db"), &g.get(&b).as_vec(), &fd_b);
    }
}

macro_rules! conv_transpose {
    ($b:literal, $c:literal, $h:literal, $w:literal, $o:literal, $k:literal, $s:literal, $p:literal; $seed:literal) => {
        conv_transpose_case::<
            $b,
            $c,
            $h,
            $w,
            $o,
            $k,
            $s,
            $p,
            { conv_transpose_out($h, $k, $s, $p) },
            { conv_transpose_out($w, $k, $s, $p) },
        >($seed)
    };
}

#[test]
fn conv_transpose2d_matches_loops_and_finite_differences() {
    conv_transpose!(1, 2, 3, 4, 3, 3, 2, 1; 11);
    conv_transpose!(2, 3, 4, 3, 2, 4, 2, 1; 12);
    conv_transpose!(1, 2, 3, 3, 2, 2, 1, 0; 13);
    conv_transpose!(2, 1, 4, 5, 2, 5, 3, 2; 14);
    conv_transpose!(1, 2, 5, 4, 3, 1, 1, 0; 15);
    conv_transpose!(1, 2, 3, 2, 2, 3, 3, 0; 16);
}

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
) {
    let dev = Cpu::default();
    let d = Dims { b: B, c: C, h: H, w: W, o: C, k: K, s: S, p: 0 };
    let x: Tensor<Rank4<B, C, H, W>, f64, _> = random(&dev, seed);
    let r: Tensor<Rank4<B, C, OH, OW>, f64, _> = random(&dev, seed + 1);
    let rv = r.as_vec();
    type Naive = fn(Dims, &[f64]) -> Vec<f64>;
    for (name, reference) in
        [("max_pool2d", naive::max_pool2d as Naive), ("avg_pool2d", naive::avg_pool2d as Naive)]
    {
        let case = format!("{name} {d:?}, seed {seed}");
        let want = reference(d, &x.as_vec());
        let fd_x = numerical_gradient(|t| dot(&reference(d, &t.as_vec()), &rv), &x, 1e-6).as_vec();
        let (fast, generic): (Box<dyn Fn(_) -> _>, Box<dyn Fn(_) -> _>) = if name == "max_pool2d" {
            (
                Box::new(|x| max_pool2d(x, Const::<K>, Const::<S>)),
                Box::new(|x| gather::max_pool2d::<B, C, H, W, K, S, OH, OW, _, _, _>(x).unwrap()),
            )
        } else {
            (
                Box::new(|x| avg_pool2d(x, Const::<K>, Const::<S>)),
                Box::new(|x| gather::avg_pool2d::<B, C, H, W, K, S, OH, OW, _, _, _>(x).unwrap()),
            )
        };
        for (path, op) in [("fast", &fast), ("gather", &generic)] {
            let y: Tensor<Rank4<B, C, OH, OW>, f64, Cpu, T64> = op(x.leaky_trace());
            assert_all_close(format!("{case}, {path}: y"), &y.as_vec(), &want, Tolerance::F64);
            let g = (y * r.clone()).sum().backward();
            assert_gradient(&format!("{case}, {path}: dx"), &g.get(&x).as_vec(), &fd_x);
        }
    }
}

macro_rules! pool {
    ($b:literal, $c:literal, $h:literal, $w:literal, $k:literal, $s:literal; $seed:literal) => {
        pool_case::<$b, $c, $h, $w, $k, $s, { pool_out($h, $k, $s) }, { pool_out($w, $k, $s) }>($seed)
    };
}

#[test]
fn pools_match_loops_and_finite_differences() {
    pool!(2, 3, 6, 7, 2, 2; 21);
    pool!(1, 2, 9, 9, 3, 2; 22);
    pool!(2, 2, 7, 8, 3, 1; 23);
    pool!(2, 2, 5, 7, 1, 1; 24);
    pool!(1, 1, 10, 11, 4, 3; 25);
    pool!(1, 1, 28, 28, 3, 2; 26); // overlapping pooling as in AlexNet: 28 → 13
}

#[test]
fn max_pool_ties_first_in_window_on_cpu_every_tie_on_the_generic_path() {
    let dev = Cpu::default();
    let x: Tensor<Rank4<1, 1, 2, 2>, f64, _> = dev.ones();
    let fast = max_pool2d::<1, 1, 2, 2, 2, 2, 1, 1, _, _, _>(x.leaky_trace(), Const, Const);
    assert_eq!(fast.sum().backward().get(&x).as_vec(), [1.0, 0.0, 0.0, 0.0]);
    let generic = gather::max_pool2d::<1, 1, 2, 2, 2, 2, 1, 1, _, _, _>(x.leaky_trace()).unwrap();
    assert_eq!(generic.sum().backward().get(&x).as_vec(), [1.0, 1.0, 1.0, 1.0]);
}

/// ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩ for the same weight, without bias: the transposed
/// convolution is the adjoint, on both paths.
fn adjoint_case<
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
    let dev = Cpu::default();
    let x: Tensor<Rank4<B, C, H, W>, f64, _> = random(&dev, seed);
    let y: Tensor<Rank4<B, O, OH, OW>, f64, _> = random(&dev, seed + 1);
    let w: Tensor<Rank4<O, C, K, K>, f64, _> = random(&dev, seed + 2);
    let (zc, zt) = (dev.zeros::<Rank1<O>>(), dev.zeros::<Rank1<C>>());
    let cx: Tensor<Rank4<B, O, OH, OW>, f64, _> = conv2d(x.clone(), &w, &zc, Const::<S>, Const::<P>);
    let lhs = dot(&cx.as_vec(), &y.as_vec());
    let fast = conv_transpose2d(y.clone(), &w, &zt, Const::<S>, Const::<P>);
    let generic =
        gather::conv_transpose2d::<B, O, OH, OW, C, K, S, P, H, W, _, _, _>(y.clone(), &w, &zt).unwrap();
    for (path, t) in [("fast", fast), ("gather", generic)] {
        let rhs = dot(&x.as_vec(), &t.as_vec());
        assert!(
            (lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0),
            "{path}, seed {seed}: <conv x, y> = {lhs}, <x, convT y> = {rhs}"
        );
    }
}

macro_rules! adjoint {
    ($b:literal, $c:literal, $h:literal, $w:literal, $o:literal, $k:literal, $s:literal, $p:literal; $seed:expr) => {
        adjoint_case::<
            $b,
            $c,
            $h,
            $w,
            $o,
            $k,
            $s,
            $p,
            { conv_out($h, $k, $s, $p) },
            { conv_out($w, $k, $s, $p) },
        >($seed)
    };
}

#[test]
fn conv_transpose2d_is_the_adjoint_of_conv2d() {
    for seed in 0..5 {
        adjoint!(2, 3, 7, 7, 4, 3, 2, 1; 100 + seed); // (7 + 2 − 3) divisible by 2
        adjoint!(1, 2, 6, 8, 3, 4, 2, 1; 200 + seed);
        adjoint!(2, 1, 10, 7, 2, 4, 3, 0; 300 + seed);
        adjoint!(1, 4, 5, 5, 2, 5, 1, 2; 400 + seed);
        adjoint!(2, 3, 4, 6, 5, 1, 1, 0; 500 + seed);
    }
}

#[test]
fn dot_is_the_sum_of_products_and_its_gradients_are_the_other_factor() {
    let dev = Cpu::default();
    // longer than one parallel chunk of the Cpu kernel
    let a: Tensor<Rank2<300, 70>, f64, _> = random(&dev, 31);
    let b: Tensor<Rank2<300, 70>, f64, _> = random(&dev, 32);
    let want = dot(&a.as_vec(), &b.as_vec());
    for (path, l) in [
        ("fast", courselib::conv::dot(a.leaky_trace(), &b)),
        ("gather", gather::dot(a.leaky_trace(), &b).unwrap()),
    ] {
        assert_all_close(format!("dot, {path}"), &[l.array()], &[want], Tolerance::F64);
        let g = l.backward();
        assert_eq!(g.get(&a).as_vec(), b.as_vec(), "dot, {path}: dL/da = b");
        assert_eq!(g.get(&b).as_vec(), a.as_vec(), "dot, {path}: dL/db = a");
    }
}
