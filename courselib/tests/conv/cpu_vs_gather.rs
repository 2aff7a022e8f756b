//! The fast `Cpu` kernels against the generic gather path in f32, at the size of the
//! benchmarks' first layer and at a strided one.

use super::*;

type T32 = OwnedTape<f32, Cpu>;

fn gradients_of<Sy: ConstShape>(
    y: Tensor<Sy, f32, Cpu, T32>,
    r: &Tensor<Sy, f32, Cpu>,
) -> Gradients<f32, Cpu> {
    (y * r.clone()).sum().backward()
}

#[test]
fn conv2d_fast_equals_gather_in_f32() {
    let dev = Cpu::default();
    let x: Tensor<Rank4<4, 8, 28, 28>, f32, _> = random(&dev, 1);
    let w: Tensor<Rank4<16, 8, 3, 3>, f32, _> = random(&dev, 2);
    let b: Tensor<Rank1<16>, f32, _> = random(&dev, 3);
    let r: Tensor<Rank4<4, 16, 28, 28>, f32, _> = random(&dev, 4);
    let fast = conv2d(x.leaky_trace(), &w, &b, Const::<1>, Const::<1>);
    let generic =
        gather::conv2d::<4, 8, 28, 28, 16, 3, 1, 1, 28, 28, _, _, _>(x.leaky_trace(), &w, &b).unwrap();
    assert_all_close("conv2d fast vs gather: y", &fast.as_vec(), &generic.as_vec(), Tolerance::F32);
    let (gf, gg) = (gradients_of(fast, &r), gradients_of(generic, &r));
    assert_all_close("conv2d fast vs gather: dx", &gf.get(&x).as_vec(), &gg.get(&x).as_vec(), Tolerance::F32);
    // dw and db sum 3136 products each: f32 rounding grows with the sum's length
    let sums = Tolerance { abs: 1e-3, rel: 1e-4 };
    assert_all_close("conv2d fast vs gather: dw", &gf.get(&w).as_vec(), &gg.get(&w).as_vec(), sums);
    assert_all_close("conv2d fast vs gather: db", &gf.get(&b).as_vec(), &gg.get(&b).as_vec(), sums);
}

#[test]
fn strided_ops_fast_equal_gather_in_f32() {
    let dev = Cpu::default();
    let x: Tensor<Rank4<3, 4, 13, 11>, f32, _> = random(&dev, 5);
    let w: Tensor<Rank4<6, 4, 5, 5>, f32, _> = random(&dev, 6);
    let b: Tensor<Rank1<6>, f32, _> = random(&dev, 7);
    let r: Tensor<Rank4<3, 6, 7, 6>, f32, _> = random(&dev, 8);
    let fast = conv2d(x.leaky_trace(), &w, &b, Const::<2>, Const::<2>);
    let generic = gather::conv2d::<3, 4, 13, 11, 6, 5, 2, 2, 7, 6, _, _, _>(x.leaky_trace(), &w, &b).unwrap();
    assert_all_close("strided conv2d: y", &fast.as_vec(), &generic.as_vec(), Tolerance::F32);
    let (gf, gg) = (gradients_of(fast, &r), gradients_of(generic, &r));
    for (what, a, b) in
        [("dx", gf.get(&x).as_vec(), gg.get(&x).as_vec()), ("dw", gf.get(&w).as_vec(), gg.get(&w).as_vec())]
    {
        assert_all_close(format!("strided conv2d: {what}"), &a, &b, Tolerance::F32);
    }

    let wt: Tensor<Rank4<4, 6, 4, 4>, f32, _> = random(&dev, 9);
    let rt: Tensor<Rank4<3, 6, 26, 22>, f32, _> = random(&dev, 10);
    let fast = conv_transpose2d(x.leaky_trace(), &wt, &b, Const::<2>, Const::<1>);
    let generic =
        gather::conv_transpose2d::<3, 4, 13, 11, 6, 4, 2, 1, 26, 22, _, _, _>(x.leaky_trace(), &wt, &b)
            .unwrap();
    assert_all_close("conv_transpose2d: y", &fast.as_vec(), &generic.as_vec(), Tolerance::F32);
    let (gf, gg) = (gradients_of(fast, &rt), gradients_of(generic, &rt));
    assert_all_close("conv_transpose2d: dx", &gf.get(&x).as_vec(), &gg.get(&x).as_vec(), Tolerance::F32);
    let sums = Tolerance { abs: 1e-3, rel: 1e-4 };
    assert_all_close("conv_transpose2d: dw", &gf.get(&wt).as_vec(), &gg.get(&wt).as_vec(), sums);

    let rp: Tensor<Rank4<3, 4, 6, 5>, f32, _> = random(&dev, 11);
    let fast = max_pool2d(x.leaky_trace(), Const::<3>, Const::<2>);
    let generic = gather::max_pool2d::<3, 4, 13, 11, 3, 2, 6, 5, _, _, _>(x.leaky_trace()).unwrap();
    assert_eq!(fast.as_vec(), generic.as_vec(), "max_pool2d k3 s2: y");
    assert_eq!(
        gradients_of(fast, &rp).get(&x).as_vec(),
        gradients_of(generic, &rp).get(&x).as_vec(),
        "max_pool2d: dx"
    );
}
