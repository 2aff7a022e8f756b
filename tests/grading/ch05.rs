//! Hidden tests of chapter 5: loss functions. Every loss is compared with f64 loops (or
//! dfdx's own loss), its tape gradient with central finite differences of that reference,
//! and the hand-written gradients with both; the triplet embedding is trained to the bar.

use crate::support::{labels, table, uniform, SEEDS};
use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::{device, Dev};
use courselib::gradcheck::numerical_gradient;
use dfdx::prelude::*;
use subject::ch05_losses as ch05;

/// Finite differences in f64 agree with exact gradients to about 1e-9 of the gradient's
/// largest entry here; a wrong gradient is off by order one.
const GRADIENT_TOLERANCE: f64 = 1e-6;

/// The largest difference between two gradients, relative to the largest entry of `want`
/// (entries far below the largest carry the finite differences' rounding error of about
/// 1e-10, which element-wise relative errors would blow up).
fn assert_gradient(context: &str, name: &str, got: &[f64], want: &[f64], reference: &str) {
    course::check_eq!(
        got.len(),
        want.len(),
        "{context}: {name} has {} entries, expected {}",
        got.len(),
        want.len()
    );
    let scale = want.iter().fold(1e-8, |m: f64, w| m.max(w.abs()));
    assert_all_close(
        format!("{context}: {name} against {reference} (to {GRADIENT_TOLERANCE:e} of its largest entry)"),
        got,
        want,
        Tolerance { abs: GRADIENT_TOLERANCE * scale, rel: 0.0 },
    );
}

type F64<S> = Tensor<S, f64, Dev>;

/// Random target distributions: positive rows that sum to 1.
fn random_targets<const B: usize, const C: usize>(seed: u64) -> F64<Rank2<B, C>> {
    let raw: F64<Rank2<B, C>> = uniform(&device(seed), seed + 50, 1.0);
    let values: Vec<f64> = raw.as_vec().iter().map(|v| v.exp()).collect();
    let rows: Vec<f64> =
        values.chunks(C).flat_map(|row| row.iter().map(|v| v / row.iter().sum::<f64>())).collect();
    device(seed).tensor_from_vec(rows, (Const::<B>, Const::<C>))
}

/// `log p` row by row in f64: `z − log Σ exp(z)`, with the maximum subtracted.
fn log_softmax_rows(values: &[f64], columns: usize) -> Vec<f64> {
    values
        .chunks(columns)
        .flat_map(|row| {
            let m = row.iter().copied().fold(f64::MIN, f64::max);
            let log_sum = row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            row.iter().map(move |v| v - m - log_sum)
        })
        .collect()
}

/// The cross-entropy by loops: `−(1/B) Σ_b Σ_k q log p`.
fn cross_entropy_by_loops<const B: usize, const C: usize>(z: &F64<Rank2<B, C>>, q: &F64<Rank2<B, C>>) -> f64 {
    let log_p = log_softmax_rows(&z.as_vec(), C);
    -log_p.iter().zip(q.as_vec()).map(|(l, q)| l * q).sum::<f64>() / B as f64
}

mod log_softmax {
    use super::*;

    fn random_case<const B: usize, const C: usize>(seed: u64) {
        let dev = device(seed);
        let z: F64<Rank2<B, C>> = uniform(&dev, seed, 6.0);
        let context = format!("log_softmax (book section 5.2): B = {B}, C = {C}, seed {seed}");
        let got = ch05::log_softmax(z.clone());
        assert_all_close(&context, &got.as_vec(), &log_softmax_rows(&z.as_vec(), C), Tolerance::F64);
        // Through the tape: the gradient of the probe Σ r·log_softmax(z).
        let r: F64<Rank2<B, C>> = uniform(&dev, seed + 1, 1.0);
        let tape = (ch05::log_softmax(z.leaky_trace()) * r.clone()).sum().backward();
        let fd = numerical_gradient(
            |t| log_softmax_rows(&t.as_vec(), C).iter().zip(r.as_vec()).map(|(l, r)| l * r).sum(),
            &z,
            1e-6,
        );
        assert_gradient(
            &context,
            "the tape gradient of Σ r·log p",
            &tape.get(&z).as_vec(),
            &fd.as_vec(),
            "finite differences",
        );
    }

    #[test]
    fn agrees_with_loops_and_finite_differences_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1>(seed);
            random_case::<3, 4>(seed);
            random_case::<8, 10>(seed);
        }
    }

    #[test]
    fn stable_for_logits_of_1e4_in_f32() {
        course::graded!();
        let dev = device(0);
        let z = dev.tensor([[1e4f32, 1e4 - 1.0, -1e4], [-1e4, -1e4, -1e4], [0.0, -200.0, 88.0]]);
        let got = ch05::log_softmax(z.clone()).as_vec();
        let want = log_softmax_rows(&z.as_vec().iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), 3);
        course::check!(
            got.iter().all(|v| v.is_finite()),
            "log_softmax (book section 5.2): logits of 1e4 gave {got:?}; subtract the row maximum before exp"
        );
        assert_all_close(
            "log_softmax (book section 5.2): logits of 1e4 and -200",
            &got,
            &want,
            Tolerance::F32,
        );
        let tape = ch05::log_softmax(z.leaky_trace()).select(dev.tensor([0, 1, 1])).sum().backward();
        course::check!(
            tape.get(&z).as_vec().iter().all(|g| g.is_finite()),
            "log_softmax (book section 5.2): the tape gradient for logits of 1e4 is not finite"
        );
    }
}

mod cross_entropy {
    use super::*;

    fn random_case<const B: usize, const C: usize>(seed: u64) {
        let dev = device(seed);
        let z: F64<Rank2<B, C>> = uniform(&dev, seed, 5.0);
        let q = random_targets::<B, C>(seed);
        let context = format!("cross_entropy (book section 5.2): B = {B}, C = {C}, seed {seed}");
        let got = ch05::cross_entropy(z.clone(), &q).array();
        let want = cross_entropy_with_logits_loss(z.clone(), q.clone()).array();
        assert_close(
            format!("{context}, against dfdx's cross_entropy_with_logits_loss"),
            got,
            want,
            Tolerance::F64,
        );
        assert_close(
            format!("{context}, against f64 loops"),
            got,
            cross_entropy_by_loops(&z, &q),
            Tolerance::F64,
        );
        let tape = ch05::cross_entropy(z.leaky_trace(), &q).backward();
        let fd = numerical_gradient(|t| cross_entropy_by_loops(t, &q), &z, 1e-6);
        assert_gradient(
            &context,
            "the tape gradient dL/dz",
            &tape.get(&z).as_vec(),
            &fd.as_vec(),
            "finite differences",
        );
    }

    #[test]
    fn agrees_with_dfdx_and_finite_differences_on_random_targets() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 2>(seed);
            random_case::<5, 3>(seed);
            random_case::<8, 10>(seed);
        }
    }

    #[test]
    fn stable_for_logits_of_1e4_with_hard_and_smoothed_targets() {
        course::graded!();
        let dev = device(0);
        let z = dev.tensor([[1e4f32, 0.0, -1e4], [0.0, 0.0, 0.0]]);
        let z64 = device(0).tensor([[1e4f64, 0.0, -1e4], [0.0, 0.0, 0.0]]);
        for smoothing in [0.0, 0.1] {
            let q = ch05::one_hot_targets::<2, 3, f32, Dev>(&dev, &[1, 2], smoothing);
            let loss = ch05::cross_entropy(z.clone(), &q).array();
            let want = cross_entropy_by_loops(&z64, &ch05::one_hot_targets(&device(0), &[1, 2], smoothing));
            course::check!(
                loss.is_finite(),
                "cross_entropy (book section 5.2): logits of 1e4 gave {loss}; use the stable log-softmax"
            );
            assert_close(
                format!("cross_entropy (book section 5.2): logits of 1e4, smoothing {smoothing}"),
                loss,
                want,
                Tolerance::F32,
            );
        }
    }

    #[test]
    fn snapshot_of_a_fixed_batch_at_three_scales() {
        course::graded!();
        let dev = device(42);
        let base: F64<Rank2<4, 5>> = uniform(&dev, 42, 3.0);
        let labels = labels::<4, 5>(42);
        let mut values = Vec::new();
        for scale in [1.0, 10.0, 1e4] {
            for smoothing in [0.0, 0.1, 0.5] {
                let q = ch05::one_hot_targets(&dev, &labels, smoothing);
                values.push(ch05::cross_entropy(base.clone() * scale, &q).array());
            }
        }
        let text = format!(
            "rows: logits scaled by 1, 10, 1e4; columns: label smoothing 0, 0.1, 0.5\n{}",
            table(&values, 3, 6)
        );
        course::snapshot!("ch05_cross_entropy_fixed_batch", text);
    }
}

mod cross_entropy_gradient {
    use super::*;

    fn three_ways<const B: usize, const C: usize>(seed: u64) {
        let dev = device(seed);
        let z: F64<Rank2<B, C>> = uniform(&dev, seed, 3.0);
        let q = random_targets::<B, C>(seed);
        let hand = ch05::cross_entropy_gradient(&z, &q);
        let tape = cross_entropy_with_logits_loss(z.leaky_trace(), q.clone()).backward();
        let fd = numerical_gradient(|t| cross_entropy_by_loops(t, &q), &z, 1e-6);
        let context = format!("cross_entropy_gradient (book section 5.2): B = {B}, C = {C}, seed {seed}");
        assert_gradient(&context, "dL/dz", &hand.as_vec(), &tape.get(&z).as_vec(), "dfdx's tape");
        assert_gradient(&context, "dL/dz", &hand.as_vec(), &fd.as_vec(), "finite differences");
    }

    #[test]
    fn hand_tape_and_finite_differences_agree_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            three_ways::<1, 2>(seed);
            three_ways::<5, 3>(seed);
            three_ways::<8, 10>(seed);
        }
    }

    #[test]
    fn rows_sum_to_zero_for_logits_of_1e4() {
        course::graded!();
        let dev = device(0);
        let z = dev.tensor([[1e4f32, 0.0, -1e4], [5.0, 5.0, 5.0]]);
        let q = ch05::one_hot_targets(&dev, &[0, 1], 0.3);
        let got = ch05::cross_entropy_gradient(&z, &q);
        let (lo, hi) = (0.1 / 2.0, 0.8 / 2.0);
        assert_all_close(
            "cross_entropy_gradient (book section 5.2): (softmax - q) / B, logits of 1e4, smoothing 0.3",
            &got.as_vec(),
            &[(1.0 - 0.8) / 2.0, -lo, -lo, 1.0 / 6.0 - lo, 1.0 / 6.0 - hi, 1.0 / 6.0 - lo],
            Tolerance::F32,
        );
    }
}

/// The multiclass hinge by loops.
fn hinge_by_loops<const B: usize, const C: usize>(
    s: &F64<Rank2<B, C>>,
    labels: &[usize; B],
    margin: f64,
) -> f64 {
    let s = s.as_vec();
    let total: f64 = (0..B)
        .map(|b| {
            (0..C)
                .filter(|&j| j != labels[b])
                .map(|j| (s[b * C + j] - s[b * C + labels[b]] + margin).max(0.0))
                .sum::<f64>()
        })
        .sum();
    total / B as f64
}

mod multiclass_hinge {
    use super::*;

    fn random_case<const B: usize, const C: usize>(seed: u64) {
        let dev = device(seed);
        let s: F64<Rank2<B, C>> = uniform(&dev, seed, 2.0);
        let labels = labels::<B, C>(seed);
        let margin = 0.5 + seed as f64 % 3.0;
        let context =
            format!("multiclass_hinge (book section 5.3): B = {B}, C = {C}, margin {margin}, seed {seed}");
        let got = ch05::multiclass_hinge(s.clone(), &labels, margin).array();
        assert_close(&context, got, hinge_by_loops(&s, &labels, margin), Tolerance::F64);
        let tape = ch05::multiclass_hinge(s.leaky_trace(), &labels, margin).backward();
        let fd = numerical_gradient(|t| hinge_by_loops(t, &labels, margin), &s, 1e-6);
        assert_gradient(
            &context,
            "the tape gradient dL/ds",
            &tape.get(&s).as_vec(),
            &fd.as_vec(),
            "finite differences",
        );
    }

    #[test]
    fn agrees_with_loops_and_finite_differences_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 2>(seed);
            random_case::<4, 3>(seed);
            random_case::<8, 10>(seed);
        }
    }

    #[test]
    fn satisfied_margins_cost_nothing_and_pass_no_gradient() {
        course::graded!();
        let dev = device(0);
        let s = dev.tensor([[2.0f64, 0.5, 1.0], [-3.0, -1.0, -5.0]]);
        let loss = ch05::multiclass_hinge(s.leaky_trace(), &[0, 1], 1.0);
        assert_close(
            "multiclass_hinge (book section 5.3): margins of 1 satisfied",
            loss.array(),
            0.0,
            Tolerance::F64,
        );
        course::check_eq!(
            loss.backward().get(&s).as_vec(),
            [0.0; 6],
            "multiclass_hinge (book section 5.3): the true class must not count, so nothing passes a gradient"
        );
        // Two classes, labels as ±1: the lecture's hinge max(0, 1 − y·x) with x = s_1 − s_0.
        let s = dev.tensor([[0.0f64, 0.3], [0.0, -2.0], [0.0, 0.7]]);
        let (x, y) = ([0.3, -2.0, 0.7], [1.0, -1.0, -1.0]);
        let want = x.iter().zip(y).map(|(x, y): (&f64, f64)| (1.0 - y * x).max(0.0)).sum::<f64>() / 3.0;
        assert_close(
            "multiclass_hinge (book section 5.3): two classes are the SVM hinge max(0, 1 - y·x)",
            ch05::multiclass_hinge(s, &[1, 0, 0], 1.0).array(),
            want,
            Tolerance::F64,
        );
    }
}

mod l1_loss {
    use super::*;

    #[test]
    fn agrees_with_loops_and_its_gradient_is_the_sign_over_n() {
        course::graded!();
        for seed in SEEDS {
            let dev = device(seed);
            let x: F64<Rank3<2, 3, 4>> = uniform(&dev, seed, 2.0);
            let y: F64<Rank3<2, 3, 4>> = uniform(&dev, seed + 1, 2.0);
            let context = format!("l1_loss (book section 5.4): (2, 3, 4), seed {seed}");
            let residuals: Vec<f64> = x.as_vec().iter().zip(y.as_vec()).map(|(x, y)| x - y).collect();
            let want = residuals.iter().map(|r| r.abs()).sum::<f64>() / 24.0;
            assert_close(&context, ch05::l1_loss(x.clone(), &y).array(), want, Tolerance::F64);
            let tape = ch05::l1_loss(x.leaky_trace(), &y).backward();
            let sign: Vec<f64> = residuals.iter().map(|r| r.signum() / 24.0).collect();
            assert_gradient(&context, "dL/dx", &tape.get(&x).as_vec(), &sign, "sign(x - y) / N");
        }
    }

    #[test]
    fn agrees_with_dfdx_mae_loss_in_f32() {
        course::graded!();
        let dev = device(7);
        let x: Tensor<Rank2<16, 5>, f32, Dev> = uniform(&dev, 7, 10.0);
        let y: Tensor<Rank2<16, 5>, f32, Dev> = uniform(&dev, 8, 10.0);
        assert_close(
            "l1_loss (book section 5.4): against dfdx's mae_loss, (16, 5) in f32",
            ch05::l1_loss(x.clone(), &y).array(),
            mae_loss(x, y).array(),
            Tolerance::F32,
        );
    }
}

mod l2_loss {
    use super::*;

    #[test]
    fn agrees_with_loops_and_finite_differences() {
        course::graded!();
        for seed in SEEDS {
            let dev = device(seed);
            let x: F64<Rank3<2, 3, 4>> = uniform(&dev, seed, 2.0);
            let y: F64<Rank3<2, 3, 4>> = uniform(&dev, seed + 1, 2.0);
            let context = format!("l2_loss (book section 5.4): (2, 3, 4), seed {seed}");
            let loops = |x: &F64<Rank3<2, 3, 4>>| {
                x.as_vec().iter().zip(y.as_vec()).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / 24.0
            };
            assert_close(&context, ch05::l2_loss(x.clone(), &y).array(), loops(&x), Tolerance::F64);
            let tape = ch05::l2_loss(x.leaky_trace(), &y).backward();
            let fd = numerical_gradient(loops, &x, 1e-6);
            assert_gradient(&context, "dL/dx", &tape.get(&x).as_vec(), &fd.as_vec(), "finite differences");
        }
    }

    #[test]
    fn agrees_with_dfdx_mse_loss_in_f32() {
        course::graded!();
        let dev = device(7);
        let x: Tensor<Rank2<16, 5>, f32, Dev> = uniform(&dev, 7, 10.0);
        let y: Tensor<Rank2<16, 5>, f32, Dev> = uniform(&dev, 8, 10.0);
        assert_close(
            "l2_loss (book section 5.4): against dfdx's mse_loss, (16, 5) in f32",
            ch05::l2_loss(x.clone(), &y).array(),
            mse_loss(x, y).array(),
            Tolerance::F32,
        );
    }
}

/// Squared Euclidean distance of two rows.
fn squared(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The triplet loss by loops.
fn triplet_by_loops<const B: usize, const N: usize>(
    a: &F64<Rank2<B, N>>,
    p: &F64<Rank2<B, N>>,
    n: &F64<Rank2<B, N>>,
    margin: f64,
) -> f64 {
    let (a, p, n) = (a.as_vec(), p.as_vec(), n.as_vec());
    (0..B)
        .map(|b| {
            let r = b * N..(b + 1) * N;
            (squared(&a[r.clone()], &p[r.clone()]) - squared(&a[r.clone()], &n[r]) + margin).max(0.0)
        })
        .sum::<f64>()
        / B as f64
}

fn random_triplets<const B: usize, const N: usize>(
    seed: u64,
) -> (F64<Rank2<B, N>>, F64<Rank2<B, N>>, F64<Rank2<B, N>>) {
    let dev = device(seed);
    (uniform(&dev, seed, 1.0), uniform(&dev, seed + 1, 1.0), uniform(&dev, seed + 2, 1.0))
}

mod triplet_loss {
    use super::*;

    fn random_case<const B: usize, const N: usize>(seed: u64) {
        let (a, p, n) = random_triplets::<B, N>(seed);
        let margin = 0.2 * seed as f64 % 1.0 + 0.1;
        let context =
            format!("triplet_loss (book section 5.5): B = {B}, N = {N}, margin {margin}, seed {seed}");
        let got = ch05::triplet_loss(a.clone(), p.clone(), n.clone(), margin).array();
        assert_close(&context, got, triplet_by_loops(&a, &p, &n, margin), Tolerance::F64);
        let tape = ch05::triplet_loss(a.leaky_trace(), p.leaky_trace(), n.leaky_trace(), margin).backward();
        for (name, x, fd) in [
            ("dL/da", &a, numerical_gradient(|t| triplet_by_loops(t, &p, &n, margin), &a, 1e-6)),
            ("dL/dp", &p, numerical_gradient(|t| triplet_by_loops(&a, t, &n, margin), &p, 1e-6)),
            ("dL/dn", &n, numerical_gradient(|t| triplet_by_loops(&a, &p, t, margin), &n, 1e-6)),
        ] {
            assert_gradient(&context, name, &tape.get(x).as_vec(), &fd.as_vec(), "finite differences");
        }
    }

    #[test]
    fn agrees_with_loops_and_finite_differences_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1>(seed);
            random_case::<4, 3>(seed);
            random_case::<16, 8>(seed);
        }
    }

    #[test]
    fn zero_once_every_negative_is_beyond_the_margin() {
        course::graded!();
        let dev = device(0);
        let a = dev.tensor([[0.0f64, 0.0], [1.0, 1.0]]);
        let p = dev.tensor([[0.5f64, 0.0], [1.0, 1.0]]);
        let n = dev.tensor([[0.0f64, 1.0], [1.0, 2.0]]);
        // ‖a − p‖² − ‖a − n‖² = 0.25 − 1 and 0 − 1: both beyond a margin of 0.5.
        assert_close(
            "triplet_loss (book section 5.5): margin 0.5 satisfied by both triplets",
            ch05::triplet_loss(a.clone(), p.clone(), n.clone(), 0.5).array(),
            0.0,
            Tolerance::F64,
        );
        // A margin of 0.9 is satisfied by the second triplet only: (0.25 − 1 + 0.9) / 2.
        assert_close(
            "triplet_loss (book section 5.5): margin 0.9, squared distances (not distances)",
            ch05::triplet_loss(a, p, n, 0.9).array(),
            0.075,
            Tolerance::F64,
        );
    }
}

mod triplet_gradient {
    use super::*;

    fn three_ways<const B: usize, const N: usize>(seed: u64) {
        let (a, p, n) = random_triplets::<B, N>(seed);
        let margin = 0.3;
        let hand = ch05::triplet_gradient(&a, &p, &n, margin);
        let tape = {
            let d_ap = (a.leaky_trace() - p.leaky_trace()).square().sum::<Rank1<B>, _>();
            let d_an = (a.leaky_trace() - n.leaky_trace()).square().sum::<Rank1<B>, _>();
            (d_ap - d_an + margin).relu().mean().backward()
        };
        let context = format!("triplet_gradient (book section 5.5): B = {B}, N = {N}, seed {seed}");
        for (name, got, x, fd) in [
            (
                "dL/da",
                &hand.anchor,
                &a,
                numerical_gradient(|t| triplet_by_loops(t, &p, &n, margin), &a, 1e-6),
            ),
            (
                "dL/dp",
                &hand.positive,
                &p,
                numerical_gradient(|t| triplet_by_loops(&a, t, &n, margin), &p, 1e-6),
            ),
            (
                "dL/dn",
                &hand.negative,
                &n,
                numerical_gradient(|t| triplet_by_loops(&a, &p, t, margin), &n, 1e-6),
            ),
        ] {
            assert_gradient(&context, name, &got.as_vec(), &tape.get(x).as_vec(), "dfdx's tape");
            assert_gradient(&context, name, &got.as_vec(), &fd.as_vec(), "finite differences");
        }
    }

    #[test]
    fn hand_tape_and_finite_differences_agree_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            three_ways::<1, 1>(seed);
            three_ways::<4, 3>(seed);
            three_ways::<16, 8>(seed);
        }
    }

    #[test]
    fn pulls_the_positive_in_and_pushes_the_negative_out() {
        course::graded!();
        let dev = device(0);
        let (a, p, n) =
            (dev.tensor([[0.0f64, 0.0]]), dev.tensor([[3.0f64, 0.0]]), dev.tensor([[0.0f64, 1.0]]));
        let grads = ch05::triplet_gradient(&a, &p, &n, 0.1);
        let context = "triplet_gradient (book section 5.5): one active triplet, B = 1";
        assert_all_close(
            format!("{context}: dL/da = 2(n - p)"),
            &grads.anchor.as_vec(),
            &[-6.0, 2.0],
            Tolerance::F64,
        );
        assert_all_close(
            format!("{context}: dL/dp = 2(p - a)"),
            &grads.positive.as_vec(),
            &[6.0, 0.0],
            Tolerance::F64,
        );
        assert_all_close(
            format!("{context}: dL/dn = 2(a - n)"),
            &grads.negative.as_vec(),
            &[0.0, -2.0],
            Tolerance::F64,
        );
        let values = |g: ch05::TripletGrads<1, 2, f64, Dev>| {
            [g.anchor.as_vec(), g.positive.as_vec(), g.negative.as_vec()].concat()
        };
        course::check_eq!(
            values(ch05::triplet_gradient(&a, &n, &p, 0.1)),
            [0.0; 6],
            "{context}: a triplet beyond its margin must get no gradient"
        );
        // |a - p|² = 1, |a - n|² = 4, margin 3: the hinge is exactly 0 (exact in f64), where
        // the book takes the derivative to be 0, as for ReLU.
        let (p, n) = (dev.tensor([[1.0f64, 0.0]]), dev.tensor([[0.0f64, 2.0]]));
        course::check_eq!(
            values(ch05::triplet_gradient(&a, &p, &n, 3.0)),
            [0.0; 6],
            "{context}: a triplet exactly at its margin (hinge 0) must get no gradient"
        );
    }
}

/// The batch-hard loss by loops: the farthest positive and the closest negative of every
/// anchor, averaged over the anchors that have both.
fn batch_hard_by_loops<const B: usize, const N: usize>(
    x: &F64<Rank2<B, N>>,
    labels: &[usize; B],
    margin: f64,
) -> f64 {
    let x = x.as_vec();
    let row = |i: usize| &x[i * N..(i + 1) * N];
    let mut total = 0.0;
    let mut valid = 0;
    for i in 0..B {
        let positive = (0..B).filter(|&j| j != i && labels[j] == labels[i]).map(|j| squared(row(i), row(j)));
        let negative = (0..B).filter(|&j| labels[j] != labels[i]).map(|j| squared(row(i), row(j)));
        let (hardest_positive, hardest_negative) =
            (positive.fold(f64::NAN, f64::max), negative.fold(f64::NAN, f64::min));
        if !hardest_positive.is_nan() && !hardest_negative.is_nan() {
            total += (hardest_positive - hardest_negative + margin).max(0.0);
            valid += 1;
        }
    }
    if valid == 0 {
        0.0
    } else {
        total / valid as f64
    }
}

mod batch_hard_triplet_loss {
    use super::*;

    fn random_case<const B: usize, const N: usize, const K: usize>(seed: u64) {
        let x: F64<Rank2<B, N>> = uniform(&device(seed), seed, 1.0);
        let labels = labels::<B, K>(seed);
        let margin = 0.5;
        let context = format!(
            "batch_hard_triplet_loss (book section 5.6): B = {B}, N = {N}, labels {labels:?}, seed {seed}"
        );
        let got = ch05::batch_hard_triplet_loss(x.clone(), &labels, margin).array();
        assert_close(&context, got, batch_hard_by_loops(&x, &labels, margin), Tolerance::F64);
        let tape = ch05::batch_hard_triplet_loss(x.leaky_trace(), &labels, margin).backward();
        let fd = numerical_gradient(|t| batch_hard_by_loops(t, &labels, margin), &x, 1e-6);
        assert_gradient(
            &context,
            "the tape gradient dL/dx",
            &tape.get(&x).as_vec(),
            &fd.as_vec(),
            "finite differences",
        );
    }

    #[test]
    fn agrees_with_loops_and_finite_differences_on_random_batches() {
        course::graded!();
        for seed in SEEDS {
            random_case::<2, 1, 2>(seed);
            random_case::<6, 3, 2>(seed);
            random_case::<12, 4, 5>(seed);
            random_case::<20, 2, 3>(seed);
        }
    }

    #[test]
    fn anchors_without_a_triplet_are_left_out() {
        course::graded!();
        let dev = device(0);
        let context = "batch_hard_triplet_loss (book section 5.6)";
        // One class only: no negatives, no triplets, no loss (and no NaN).
        let x = dev.tensor([[0.0f64, 0.0], [1.0, 0.0], [0.0, 3.0]]);
        let loss = ch05::batch_hard_triplet_loss(x.clone(), &[4, 4, 4], 1.0).array();
        assert_close(format!("{context}: a batch of one class"), loss, 0.0, Tolerance::F64);
        // Every label once: no positives.
        let loss = ch05::batch_hard_triplet_loss(x.clone(), &[0, 1, 2], 1.0).array();
        assert_close(format!("{context}: every class once"), loss, 0.0, Tolerance::F64);
        // Anchors 0 and 1 have each other; anchor 2 has no positive and must not count:
        // (max(0, 1 - 9 + 10) + max(0, 1 - 10 + 10)) / 2 = 1.5, not 1.5·2/3 or more.
        let loss = ch05::batch_hard_triplet_loss(x, &[0, 0, 1], 10.0).array();
        assert_close(format!("{context}: anchor 2 has no positive in the batch"), loss, 1.5, Tolerance::F64);
    }

    #[test]
    fn works_in_f32_on_a_digit_sized_batch() {
        course::graded!();
        let dev = device(3);
        let x: Tensor<Rank2<80, 16>, f32, Dev> = uniform(&dev, 3, 1.0);
        let x64 = device(3)
            .tensor_from_vec(x.as_vec().iter().map(|&v| f64::from(v)).collect(), (Const::<80>, Const::<16>));
        let labels: [usize; 80] = std::array::from_fn(|i| i / 8);
        assert_close(
            "batch_hard_triplet_loss (book section 5.6): (80, 16) in f32, 8 images of each of 10 classes",
            ch05::batch_hard_triplet_loss(x, &labels, 0.2).array(),
            batch_hard_by_loops(&x64, &labels, 0.2),
            Tolerance::F32,
        );
    }
}

/// The 1-nearest-neighbour accuracy by brute force, ties to the first reference.
fn nearest_neighbour_by_loops<const N: usize>(
    references: &[[f32; N]],
    reference_labels: &[usize],
    queries: &[[f32; N]],
    query_labels: &[usize],
) -> f64 {
    let as_f64 = |v: &[f32; N]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    let correct = queries
        .iter()
        .zip(query_labels)
        .filter(|(q, &label)| {
            let q = as_f64(q);
            let mut best = 0;
            for r in 1..references.len() {
                if squared(&q, &as_f64(&references[r])) < squared(&q, &as_f64(&references[best])) {
                    best = r;
                }
            }
            reference_labels[best] == label
        })
        .count();
    correct as f64 / queries.len() as f64
}

fn set_labels(set: &datasets::ImageSet) -> Vec<usize> {
    (0..set.len()).map(|i| set.label(i)).collect()
}

mod nearest_neighbour_accuracy {
    use super::*;
    use rand::Rng;

    #[test]
    fn agrees_with_brute_force_on_random_points() {
        course::graded!();
        for seed in SEEDS {
            let mut rng = courselib::device::rng(seed);
            let mut points = |count: usize| -> Vec<[f32; 3]> {
                (0..count).map(|_| std::array::from_fn(|_| rng.gen_range(-1.0..1.0))).collect()
            };
            let (references, queries) = (points(50), points(30));
            let reference_labels: Vec<usize> = (0..50).map(|i| (i * 7 + seed as usize) % 4).collect();
            let query_labels: Vec<usize> = (0..30).map(|i| (i * 3) % 4).collect();
            let got =
                ch05::nearest_neighbour_accuracy(&references, &reference_labels, &queries, &query_labels);
            let want = nearest_neighbour_by_loops(&references, &reference_labels, &queries, &query_labels);
            assert_close(
                format!("nearest_neighbour_accuracy (book section 5.7): 30 queries, 50 references in 3-D, seed {seed}"),
                got,
                want,
                Tolerance::F32,
            );
        }
    }

    #[test]
    fn raw_digit_pixels_as_embeddings() {
        course::graded!();
        let (fit, val, _) = datasets::digits::train_val_test().expect("the digits dataset loads");
        let pixels = |set: &datasets::ImageSet| -> Vec<[f32; 64]> {
            (0..set.len()).map(|i| std::array::from_fn(|k| f32::from(set.image(i)[k]))).collect()
        };
        let (references, queries) = (pixels(&fit), pixels(&val));
        let got =
            ch05::nearest_neighbour_accuracy(&references, &set_labels(&fit), &queries, &set_labels(&val));
        let want = nearest_neighbour_by_loops(&references, &set_labels(&fit), &queries, &set_labels(&val));
        assert_close(
            "nearest_neighbour_accuracy (book section 5.7): raw pixels of the digits' validation part against the fit part",
            got,
            want,
            Tolerance { abs: 0.5 / val.len() as f64, rel: 0.0 },
        );
    }
}

mod train_triplet_embedding {
    use super::*;

    /// The nearest-neighbour accuracy of `model`'s test embeddings against its training
    /// embeddings, by the test's own forward pass and brute force.
    fn accuracy(model: &ch05::Embedder<16>, train: &datasets::ImageSet, test: &datasets::ImageSet) -> f64 {
        let embed = |set: &datasets::ImageSet| -> Vec<[f32; 16]> {
            (0..set.len())
                .map(|i| {
                    let (x, _) =
                        courselib::data::flat_batch::<1, 64, Dev>(model.0.weight.device(), set, &[i]);
                    let hidden = model.0.forward(x).relu();
                    let e = model.2.forward(hidden).as_vec();
                    std::array::from_fn(|k| e[k])
                })
                .collect()
        };
        nearest_neighbour_by_loops(&embed(train), &set_labels(train), &embed(test), &set_labels(test))
    }

    #[test]
    fn reaches_90_percent_nearest_neighbour_accuracy_on_digits() {
        course::graded!();
        let config = ch05::TripletConfig::default();
        let context = "train_triplet_embedding (book section 5.7): TripletConfig::default()";
        // Trained against untrained, compared on the validation part: both fitted on the fit part.
        let (fit, val, _) = datasets::digits::train_val_test().expect("the digits dataset loads");
        let (fitted, _) = ch05::train_triplet_embedding::<16>(&fit, &config);
        let (untrained, _) =
            ch05::train_triplet_embedding::<16>(&fit, &ch05::TripletConfig { epochs: 0, ..config });
        let (trained_val, before_val) = (accuracy(&fitted, &fit, &val), accuracy(&untrained, &fit, &val));
        course::check!(
            trained_val >= before_val + 0.03,
            "{context}: on the validation part, training should lift the untrained network's nearest-neighbour \
             accuracy ({:.1} %) by at least 3 points, got {:.1} %",
            100.0 * before_val,
            100.0 * trained_val
        );
        // The final network, on the whole training part; the test set is read once.
        let (train, test) = datasets::digits::train_test().expect("the digits dataset loads");
        let (model, losses) = ch05::train_triplet_embedding::<16>(&train, &config);
        course::check_eq!(losses.len(), config.epochs, "{context}: one mean loss per epoch");
        course::check!(
            losses[losses.len() - 1] < 0.5 * losses[0],
            "{context}: the last epoch's loss should be below half the first's: {losses:?}"
        );
        let trained = accuracy(&model, &train, &test);
        course::check!(
            trained >= 0.90,
            "{context}: nearest-neighbour test accuracy {:.1} % is below the bar of 90 %; losses {losses:?}",
            100.0 * trained
        );
    }

    #[test]
    fn the_same_seed_trains_the_same_network() {
        course::graded!();
        let (train, _) = datasets::digits::train_test().expect("the digits dataset loads");
        let config = ch05::TripletConfig { epochs: 2, seed: 11, ..Default::default() };
        let (a, losses_a) = ch05::train_triplet_embedding::<8>(&train, &config);
        let (b, losses_b) = ch05::train_triplet_embedding::<8>(&train, &config);
        let context = "train_triplet_embedding (book section 5.7)";
        course::check_eq_own!(losses_a, losses_b, "{context}: two runs with seed 11 give different losses");
        course::check_eq_own!(
            a.2.weight.as_vec(),
            b.2.weight.as_vec(),
            "{context}: two runs with seed 11 give different weights"
        );
        let (_, other) =
            ch05::train_triplet_embedding::<8>(&train, &ch05::TripletConfig { seed: 12, ..config });
        course::check_ne!(
            losses_a,
            other,
            "{context}: the seed must change the initialisation and the batches"
        );
    }

    #[test]
    fn each_epoch_reports_the_mean_batch_loss_of_its_own_batches() {
        course::graded!();
        let (train, _) = datasets::digits::train_test().expect("the digits dataset loads");
        // At learning rate 0 the network stays as built, so every epoch's mean loss can be
        // computed here: epoch e's batches come from seed + e, the loss by loops in f64.
        let config = ch05::TripletConfig { epochs: 2, learning_rate: 0.0, seed: 5, ..Default::default() };
        let (_, losses) = ch05::train_triplet_embedding::<8>(&train, &config);
        let dev = device(config.seed);
        let model = dev.build_module::<ch05::EmbeddingNet<8>, f32>();
        let labels = set_labels(&train);
        let f64_dev = device(0);
        let want: Vec<f64> = (1..=config.epochs as u64)
            .map(|epoch| {
                let batches = ch05::class_balanced_batches(&labels, config.seed + epoch);
                let sum: f64 =
                    batches
                        .iter()
                        .map(|batch| {
                            let (x, batch_labels) =
                                courselib::data::flat_batch::<{ ch05::TRIPLET_BATCH }, 64, Dev>(
                                    &dev, &train, batch,
                                );
                            let embedded = model.forward(x).as_vec().iter().map(|&v| v as f64).collect();
                            let embedded: F64<Rank2<{ ch05::TRIPLET_BATCH }, 8>> =
                                f64_dev.tensor_from_vec(embedded, (Const, Const));
                            batch_hard_by_loops(&embedded, &batch_labels, config.margin as f64)
                        })
                        .sum();
                sum / batches.len() as f64
            })
            .collect();
        let got: Vec<f64> = losses.iter().map(|&l| l as f64).collect();
        assert_all_close(
            "train_triplet_embedding (book section 5.7): the mean batch loss of each epoch at learning rate 0 (epoch e uses class_balanced_batches(labels, seed + e))",
            &got,
            &want,
            Tolerance::F32,
        );
    }
}
