//! The speed suite's run-time-shaped problems compute the layers' op: today's benchmark
//! gives the compile-time problem's gradients bit for bit, and every workload (at batch 2)
//! agrees with the naive loops.

use super::*;
use courselib::conv::workloads::{ConvProblem, ShapedProblem, Workload, SUITE};

#[test]
fn the_shaped_benchmark_is_the_compile_time_one_bit_for_bit() {
    let (shaped, fixed) = (ShapedProblem::new(SUITE[0], 0), ConvProblem::new(0));
    let (gs, gf) = (shaped.fast(), fixed.fast());
    assert_eq!(gs.get(&shaped.x).as_vec(), gf.get(&fixed.x).as_vec(), "dL/dx");
    assert_eq!(gs.get(&shaped.weight).as_vec(), gf.get(&fixed.weight).as_vec(), "dL/dW");
    assert_eq!(gs.get(&shaped.bias).as_vec(), gf.get(&fixed.bias).as_vec(), "dL/db");
}

#[test]
fn every_suite_workload_agrees_with_the_loops() {
    for mut w in SUITE {
        w.dims.b = 2;
        let p = ShapedProblem::new(w, 1);
        let (x, weight, r) = (p.x.as_vec(), p.weight.as_vec(), p.r.as_vec());
        let g = p.fast();
        let name = w.name;
        if w.transposed {
            // L = Σ R·(bias + convᵀ(x)): dL/dx = conv(R) without bias, the weight read as
            // the (C, O, K, K) weight of that convolution
            let d = w.dims;
            let (_, oh, ow) = w.output();
            let conv = Dims { b: d.b, c: d.o, h: oh, w: ow, o: d.c, k: d.k, s: d.s, p: d.p };
            let gx = naive::conv2d(conv, &r, &weight, &vec![0.0; d.c]);
            assert_all_close(
                format!("{name}: dL/dx"),
                &g.get(&p.x).as_vec(),
                &gx,
                Tolerance { abs: 1e-3, rel: 1e-4 },
            );
        } else {
            let (gx, gw, gb) = naive::conv2d_backward(w.dims, &x, &weight, &r);
            let sums = Tolerance { abs: 1e-3, rel: 1e-4 };
            assert_all_close(format!("{name}: dL/dx"), &g.get(&p.x).as_vec(), &gx, sums);
            assert_all_close(format!("{name}: dL/dW"), &g.get(&p.weight).as_vec(), &gw, sums);
            assert_all_close(format!("{name}: dL/db"), &g.get(&p.bias).as_vec(), &gb, sums);
        }
    }
}

#[test]
fn shapes_parse_and_print_back() {
    let w = Workload::parse("32,32,14,14,16,4,2,1t").unwrap();
    assert!(w.transposed);
    assert_eq!(w.output(), (16, 28, 28));
    assert_eq!(w.spec(), "32,32,14,14,16,4,2,1t");
    assert_eq!(Workload::parse(&SUITE[0].spec()).unwrap().output(), (16, 28, 28));
    // today's benchmark: 3 products of 2·64·784·8·16·9 flops, about 347 MFLOP
    assert_eq!(SUITE[0].flops(), 3.0 * 2.0 * (64 * 784 * 8 * 16 * 9) as f64);
    assert!(Workload::parse("1,2,3").is_err());
    assert!(Workload::parse("1,1,2,2,1,5,1,0").is_err(), "a 5x5 kernel does not fit 2x2");
    assert!(Workload::parse("1,1,1,1,1,1,1,1t").is_err(), "a transposed 1x1 output cropped by 2");
}
