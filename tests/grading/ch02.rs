//! Hidden tests of chapter 2: neural-network basics and backprop. Gradients are checked
//! three ways: the learner's hand-written backward pass, dfdx's tape, and central finite
//! differences in f64.

use crate::support::{labels, table, uniform, SEEDS};
use course::check::{assert_all_close, assert_close, assert_close_own, Tolerance};
use courselib::device::{device, Dev};
use courselib::gradcheck::numerical_gradient;
use dfdx::prelude::*;
use subject::ch02_backprop as ch02;

/// Finite differences agree with exact gradients to about 1e-9 here; a wrong gradient is
/// off by order one.
const GRADIENT_TOLERANCE: f64 = 1e-6;

/// `max_relative_error(got, want) < GRADIENT_TOLERANCE` as a tolerance on `want`: from
/// `|g − w| < t·max(|g| + |w|, 1e-8)` and `|g| <= |w| + |g − w|` follows
/// `|g − w| < 1e-8·t + 2t/(1 − t)·|w|`, so this accepts every pair that accepted (and no NaN).
const GRADIENT: Tolerance =
    Tolerance { abs: 1e-8 * GRADIENT_TOLERANCE, rel: 2.0 * GRADIENT_TOLERANCE / (1.0 - GRADIENT_TOLERANCE) };

fn assert_gradient(context: &str, name: &str, got: &[f64], want: &[f64], reference: &str) {
    assert_all_close(format!("{context}: {name} against {reference}"), got, want, GRADIENT);
}

/// Random inputs and the weights `r` of the probe loss `L = Σ y·r`, so that `∂L/∂y = r`.
type F64<S> = Tensor<S, f64, Dev>;

mod linear_forward {
    use super::*;

    fn random_case<const B: usize, const I: usize, const O: usize>(seed: u64) {
        let dev = device(seed);
        let (x, w, b): (F64<Rank2<B, I>>, F64<Rank2<I, O>>, F64<Rank1<O>>) =
            (uniform(&dev, seed, 2.0), uniform(&dev, seed + 100, 1.0), uniform(&dev, seed + 200, 1.0));
        let (xa, wa, ba) = (x.as_vec(), w.as_vec(), b.as_vec());
        let want: Vec<f64> = (0..B * O)
            .map(|k| ba[k % O] + (0..I).map(|i| xa[(k / O) * I + i] * wa[i * O + k % O]).sum::<f64>())
            .collect();
        let y = ch02::linear_forward(&x, &w, &b);
        assert_all_close(
            format!("linear_forward (book section 2.2): B = {B}, I = {I}, O = {O}, seed {seed}"),
            &y.as_vec(),
            &want,
            Tolerance::F64,
        );
    }

    #[test]
    fn agrees_with_loops_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1, 1>(seed);
            random_case::<3, 5, 2>(seed);
            random_case::<16, 8, 10>(seed);
        }
    }

    #[test]
    fn works_in_f32_on_digit_sized_batches() {
        course::graded!();
        let dev = device(9);
        let x: Tensor<Rank2<32, 64>, f32, Dev> = uniform(&dev, 9, 1.0);
        let w: Tensor<Rank2<64, 10>, f32, Dev> = uniform(&dev, 10, 0.3);
        let b: Tensor<Rank1<10>, f32, Dev> = uniform(&dev, 11, 0.1);
        let want = x.clone().matmul(w.clone()) + b.clone().broadcast();
        let got = ch02::linear_forward(&x, &w, &b);
        assert_all_close(
            "linear_forward (book section 2.2): f32, (32, 64)·(64, 10)",
            &got.as_vec(),
            &want.as_vec(),
            Tolerance::F32,
        );
    }
}

mod linear_backward {
    use super::*;

    fn three_ways<const B: usize, const I: usize, const O: usize>(seed: u64) {
        let dev = device(seed);
        let (x, w, b): (F64<Rank2<B, I>>, F64<Rank2<I, O>>, F64<Rank1<O>>) =
            (uniform(&dev, seed, 2.0), uniform(&dev, seed + 100, 1.0), uniform(&dev, seed + 200, 1.0));
        let r: F64<Rank2<B, O>> = uniform(&dev, seed + 300, 1.0);
        let loss = |x: &F64<Rank2<B, I>>, w: &F64<Rank2<I, O>>, b: &F64<Rank1<O>>| {
            ((x.clone().matmul(w.clone()) + b.clone().broadcast()) * r.clone()).sum::<Rank0, _>().array()
        };
        let hand = ch02::linear_backward(&r, &x, &w);
        // dfdx's tape
        let y = x.leaky_trace().matmul(w.clone()) + b.clone().broadcast();
        let tape = (y * r.clone()).sum().backward();
        // finite differences
        let fd_x = numerical_gradient(|t| loss(t, &w, &b), &x, 1e-6);
        let fd_w = numerical_gradient(|t| loss(&x, t, &b), &w, 1e-6);
        let fd_b = numerical_gradient(|t| loss(&x, &w, t), &b, 1e-6);
        let context = format!("linear_backward (book section 2.2): B = {B}, I = {I}, O = {O}, seed {seed}");
        for (name, got, taped, fd) in [
            ("dx", hand.dx.as_vec(), tape.get(&x).as_vec(), fd_x.as_vec()),
            ("dW", hand.dw.as_vec(), tape.get(&w).as_vec(), fd_w.as_vec()),
            ("db", hand.db.as_vec(), tape.get(&b).as_vec(), fd_b.as_vec()),
        ] {
            assert_gradient(&context, name, &got, &taped, "dfdx's tape");
            assert_gradient(&context, name, &got, &fd, "finite differences");
        }
    }

    #[test]
    fn hand_tape_and_finite_differences_agree_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            three_ways::<1, 1, 1>(seed);
            three_ways::<4, 3, 5>(seed);
            three_ways::<7, 6, 2>(seed);
        }
    }

    #[test]
    fn bias_gradient_sums_over_a_large_batch() {
        course::graded!();
        let dev = device(3);
        let dy: F64<Rank2<100, 2>> = dev.ones();
        let x: F64<Rank2<100, 3>> = uniform(&dev, 3, 1.0);
        let w: F64<Rank2<3, 2>> = uniform(&dev, 4, 1.0);
        let grads = ch02::linear_backward(&dy, &x, &w);
        assert_all_close(
            "linear_backward (book section 2.2): db sums dy over the batch",
            &grads.db.as_vec(),
            &[100.0, 100.0],
            Tolerance::F64,
        );
    }
}

mod relu_forward {
    use super::*;

    #[test]
    fn agrees_with_max_zero_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            let x: F64<Rank3<2, 3, 4>> = uniform(&device(seed), seed, 1.0);
            let want: Vec<f64> = x.as_vec().iter().map(|v| v.max(0.0)).collect();
            assert_all_close(
                format!("relu_forward (book section 2.3): seed {seed}"),
                &ch02::relu_forward(&x).as_vec(),
                &want,
                Tolerance::F64,
            );
        }
    }

    #[test]
    fn keeps_the_shape_and_the_positive_part_of_large_values() {
        course::graded!();
        let x = device(0).tensor([[1e30f32, -1e30], [f32::MIN_POSITIVE, -f32::MIN_POSITIVE]]);
        let y = ch02::relu_forward(&x);
        course::check_eq!(
            y.array(),
            [[1e30, 0.0], [f32::MIN_POSITIVE, 0.0]],
            "relu_forward (book section 2.3): extreme values"
        );
    }
}

mod relu_backward {
    use super::*;

    #[test]
    fn hand_tape_and_finite_differences_agree_on_random_inputs() {
        course::graded!();
        for seed in SEEDS {
            let dev = device(seed);
            let x: F64<Rank2<5, 6>> = uniform(&dev, seed, 1.0);
            let r: F64<Rank2<5, 6>> = uniform(&dev, seed + 1, 1.0);
            let hand = ch02::relu_backward(&r, &x);
            let tape = (x.leaky_trace().relu() * r.clone()).sum().backward();
            let fd =
                numerical_gradient(|t| (t.clone().relu() * r.clone()).sum::<Rank0, _>().array(), &x, 1e-6);
            let context = format!("relu_backward (book section 2.3): seed {seed}");
            assert_gradient(&context, "dx", &hand.as_vec(), &tape.get(&x).as_vec(), "dfdx's tape");
            assert_gradient(&context, "dx", &hand.as_vec(), &fd.as_vec(), "finite differences");
        }
    }

    #[test]
    fn zero_input_passes_no_gradient() {
        course::graded!();
        let dev = device(0);
        let dx = ch02::relu_backward(&dev.tensor([1.0f64, 1.0, 1.0]), &dev.tensor([0.0f64, -0.0, 1e-300]));
        course::check_eq!(
            dx.array(),
            [0.0, 0.0, 1.0],
            "relu_backward (book section 2.3): derivative at 0 is taken as 0"
        );
    }
}

mod softmax {
    use super::*;

    fn random_case<const B: usize, const C: usize>(seed: u64) {
        let logits: F64<Rank2<B, C>> = uniform(&device(seed), seed, 5.0);
        let values = logits.as_vec();
        let want: Vec<f64> = values
            .chunks(C)
            .flat_map(|row| {
                let z: f64 = row.iter().map(|v| v.exp()).sum();
                row.iter().map(move |v| v.exp() / z)
            })
            .collect();
        assert_all_close(
            format!("softmax (book section 2.4): B = {B}, C = {C}, seed {seed}"),
            &ch02::softmax(&logits).as_vec(),
            &want,
            Tolerance::F64,
        );
    }

    #[test]
    fn agrees_with_the_definition_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1>(seed);
            random_case::<4, 3>(seed);
            random_case::<8, 10>(seed);
        }
    }

    #[test]
    fn large_logits_do_not_overflow() {
        course::graded!();
        let dev = device(0);
        let p = ch02::softmax(&dev.tensor([[1e4f32, 1e4 - 1.0, -1e4], [-1e4, -1e4, -1e4]]));
        let e = (-1.0f64).exp();
        assert_all_close(
            "softmax (book section 2.4): logits of 1e4 (subtract the row maximum first)",
            &p.as_vec(),
            &[1.0 / (1.0 + e), e / (1.0 + e), 0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
            Tolerance::F32,
        );
    }
}

mod softmax_nll_loss {
    use super::*;

    #[test]
    fn agrees_with_dfdx_cross_entropy_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            let dev = device(seed);
            let logits: F64<Rank2<6, 4>> = uniform(&dev, seed, 4.0);
            let labels = labels::<6, 4>(seed);
            let targets = dev.tensor_from_vec(
                (0..24).map(|k| if labels[k / 4] == k % 4 { 1.0 } else { 0.0 }).collect(),
                (Const::<6>, Const::<4>),
            );
            let want = cross_entropy_with_logits_loss(logits.clone(), targets).array();
            let got = ch02::softmax_nll_loss(&logits, &labels);
            assert_close(
                format!("softmax_nll_loss (book section 2.4): seed {seed}, labels {labels:?}"),
                got,
                want,
                Tolerance::F64,
            );
        }
    }

    #[test]
    fn stable_for_logits_of_1e4() {
        course::graded!();
        let dev = device(0);
        let loss = ch02::softmax_nll_loss(&dev.tensor([[1e4f32, 0.0, -1e4], [0.0, 0.0, 0.0]]), &[1, 2]);
        course::check!(
            loss.is_finite(),
            "softmax_nll_loss (book section 2.4): logits of 1e4 gave {loss}; use the log-sum-exp trick"
        );
        assert_close(
            "softmax_nll_loss (book section 2.4): logits of 1e4",
            loss,
            (1e4 + 3f64.ln()) / 2.0,
            Tolerance::F32,
        );
    }
}

mod softmax_nll_backward {
    use super::*;

    fn three_ways<const B: usize, const C: usize>(seed: u64) {
        let dev = device(seed);
        let logits: F64<Rank2<B, C>> = uniform(&dev, seed, 3.0);
        let labels = labels::<B, C>(seed);
        let hand = ch02::softmax_nll_backward(&logits, &labels);
        let loss = logits.leaky_trace().log_softmax::<Axis<1>>().select(dev.tensor(labels)).mean().negate();
        let tape = loss.backward();
        let fd = numerical_gradient(
            |z| -z.clone().log_softmax::<Axis<1>>().select(dev.tensor(labels)).mean().array(),
            &logits,
            1e-6,
        );
        let context = format!("softmax_nll_backward (book section 2.4): B = {B}, C = {C}, seed {seed}");
        assert_gradient(&context, "dL/dz", &hand.as_vec(), &tape.get(&logits).as_vec(), "dfdx's tape");
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
    fn rows_sum_to_zero_even_for_huge_logits() {
        course::graded!();
        let dev = device(0);
        let grad = ch02::softmax_nll_backward(&dev.tensor([[1e4f32, 0.0, -1e4], [5.0, 5.0, 5.0]]), &[0, 1]);
        assert_all_close(
            "softmax_nll_backward (book section 2.4): (softmax - onehot) / B with logits of 1e4",
            &grad.as_vec(),
            &[0.0, 0.0, 0.0, 1.0 / 6.0, -1.0 / 3.0, 1.0 / 6.0],
            Tolerance::F32,
        );
    }
}

type SmallMlp = ch02::TwoLayerMlp<5, 7, 3, f64, Dev>;

/// The loss of `mlp` on `(x, labels)` by dfdx's own ops, with its gradients from the tape:
/// the test's independent reference.
fn reference_tape(mlp: &SmallMlp, x: &F64<Rank2<4, 5>>, labels: [usize; 4]) -> (f64, [Vec<f64>; 4]) {
    let hidden = (x.leaky_trace().matmul(mlp.w1.clone()) + mlp.b1.clone().broadcast()).relu();
    let logits = hidden.matmul(mlp.w2.clone()) + mlp.b2.clone().broadcast();
    let loss = logits.log_softmax::<Axis<1>>().select(x.device().tensor(labels)).mean().negate();
    let value = loss.array();
    let g = loss.backward();
    (
        value,
        [g.get(&mlp.w1).as_vec(), g.get(&mlp.b1).as_vec(), g.get(&mlp.w2).as_vec(), g.get(&mlp.b2).as_vec()],
    )
}

/// Finite-difference gradients of the reference loss for every parameter.
fn reference_finite_differences(mlp: &SmallMlp, x: &F64<Rank2<4, 5>>, labels: [usize; 4]) -> [Vec<f64>; 4] {
    let loss = |m: &SmallMlp| reference_tape(m, x, labels).0;
    [
        numerical_gradient(|t| loss(&SmallMlp { w1: t.clone(), ..mlp.clone() }), &mlp.w1, 1e-6).as_vec(),
        numerical_gradient(|t| loss(&SmallMlp { b1: t.clone(), ..mlp.clone() }), &mlp.b1, 1e-6).as_vec(),
        numerical_gradient(|t| loss(&SmallMlp { w2: t.clone(), ..mlp.clone() }), &mlp.w2, 1e-6).as_vec(),
        numerical_gradient(|t| loss(&SmallMlp { b2: t.clone(), ..mlp.clone() }), &mlp.b2, 1e-6).as_vec(),
    ]
}

fn small_case(seed: u64) -> (SmallMlp, F64<Rank2<4, 5>>, [usize; 4]) {
    let dev = device(seed);
    let mut mlp = SmallMlp::new(&dev, seed);
    // Non-zero biases, so that a missing bias term shows.
    mlp.b1 = uniform(&dev, seed + 7, 0.5);
    mlp.b2 = uniform(&dev, seed + 8, 0.5);
    (mlp, uniform(&dev, seed + 9, 2.0), labels::<4, 3>(seed))
}

fn grad_vecs(g: &ch02::MlpGrads<5, 7, 3, f64, Dev>) -> [Vec<f64>; 4] {
    [g.w1.as_vec(), g.b1.as_vec(), g.w2.as_vec(), g.b2.as_vec()]
}

const PARAMETERS: [&str; 4] = ["dW1", "db1", "dW2", "db2"];

mod mlp_forward {
    use super::*;

    #[test]
    fn agrees_with_dfdx_ops_on_random_networks() {
        course::graded!();
        for seed in SEEDS {
            let (mlp, x, _) = small_case(seed);
            let hidden_pre = x.clone().matmul(mlp.w1.clone()) + mlp.b1.clone().broadcast();
            let hidden = hidden_pre.clone().relu();
            let logits = hidden.clone().matmul(mlp.w2.clone()) + mlp.b2.clone().broadcast();
            let cache = mlp.forward(&x);
            let context = format!("mlp_forward (book section 2.5): seed {seed}");
            assert_all_close(
                format!("{context}: hidden_pre"),
                &cache.hidden_pre.as_vec(),
                &hidden_pre.as_vec(),
                Tolerance::F64,
            );
            assert_all_close(
                format!("{context}: hidden"),
                &cache.hidden.as_vec(),
                &hidden.as_vec(),
                Tolerance::F64,
            );
            assert_all_close(
                format!("{context}: logits"),
                &cache.logits.as_vec(),
                &logits.as_vec(),
                Tolerance::F64,
            );
        }
    }

    #[test]
    fn he_initialised_digit_network_gives_moderate_logits() {
        course::graded!();
        let dev = device(0);
        let mlp = ch02::DigitMlp::<64, Dev>::new(&dev, 3);
        let set = datasets::digits::load().expect("the digits dataset loads");
        let (x, _) = courselib::data::flat_batch::<32, 64, Dev>(&dev, &set, &(0..32).collect::<Vec<_>>());
        let logits = mlp.forward(&x).logits.as_vec();
        let rms = (logits.iter().map(|v| v * v).sum::<f32>() / logits.len() as f32).sqrt();
        course::check!(
            (0.1..10.0).contains(&rms),
            "mlp_forward (book section 2.5): logits of a fresh network have rms {rms}"
        );
    }
}

mod mlp_backward {
    use super::*;

    #[test]
    fn hand_tape_and_finite_differences_agree_on_random_networks() {
        course::graded!();
        for seed in SEEDS {
            let (mlp, x, labels) = small_case(seed);
            let hand = grad_vecs(&mlp.backward(&x, &labels, &mlp.forward(&x)));
            let (_, tape) = reference_tape(&mlp, &x, labels);
            let fd = reference_finite_differences(&mlp, &x, labels);
            let context = format!("mlp_backward (book section 2.5): seed {seed}");
            for p in 0..4 {
                assert_gradient(&context, PARAMETERS[p], &hand[p], &tape[p], "dfdx's tape");
                assert_gradient(&context, PARAMETERS[p], &hand[p], &fd[p], "finite differences");
            }
        }
    }

    #[test]
    fn gradient_snapshot_of_a_fixed_network() {
        course::graded!();
        let (mlp, x, labels) = small_case(42);
        let grads = mlp.backward(&x, &labels, &mlp.forward(&x));
        let text = PARAMETERS
            .iter()
            .zip(grad_vecs(&grads))
            .zip([7, 7, 3, 3])
            .map(|((name, g), columns)| format!("{name}:\n{}", table(&g, columns, 6)))
            .collect::<Vec<_>>()
            .join("\n");
        course::snapshot!("ch02_small_mlp_gradients", text);
    }
}

mod tape_gradients {
    use super::*;

    #[test]
    fn agrees_with_a_reference_tape_and_finite_differences() {
        course::graded!();
        for seed in SEEDS {
            let (mlp, x, labels) = small_case(seed);
            let (loss, grads) = ch02::tape_gradients(&mlp, &x, &labels);
            let (want_loss, tape) = reference_tape(&mlp, &x, labels);
            let fd = reference_finite_differences(&mlp, &x, labels);
            let context = format!("tape_gradients (book section 2.6): seed {seed}");
            assert_close(format!("{context}: loss"), loss, want_loss, Tolerance::F64);
            let got = grad_vecs(&grads);
            for p in 0..4 {
                assert_gradient(&context, PARAMETERS[p], &got[p], &tape[p], "a reference tape");
                assert_gradient(&context, PARAMETERS[p], &got[p], &fd[p], "finite differences");
            }
        }
    }

    #[test]
    fn works_in_f32_on_a_digit_batch() {
        course::graded!();
        let dev = device(0);
        let mlp = ch02::DigitMlp::<16, Dev>::new(&dev, 5);
        let set = datasets::digits::load().expect("the digits dataset loads");
        let (x, labels) = courselib::data::flat_batch::<8, 64, Dev>(&dev, &set, &(0..8).collect::<Vec<_>>());
        let (loss, grads) = ch02::tape_gradients(&mlp, &x, &labels);
        let logits = mlp.forward(&x).logits;
        let want = logits.log_softmax::<Axis<1>>().select(dev.tensor(labels)).mean().negate().array();
        // `want` is the loss of the learner's own forward pass.
        assert_close_own(
            "tape_gradients (book section 2.6): f32 loss on 8 digits",
            loss,
            want,
            Tolerance::F32,
        );
        course::check!(
            grads.w1.as_vec().iter().any(|&g| g != 0.0),
            "tape_gradients (book section 2.6): dW1 is all zeros"
        );
    }
}

mod train_mlp {
    use super::*;

    #[test]
    fn reaches_95_percent_test_accuracy_on_digits() {
        course::graded!();
        let (fit, val, test) = datasets::digits::train_val_test().expect("the digits dataset loads");
        let (mlp, history) = ch02::train_mlp::<64, _>(&device(0), &fit, &val, &ch02::TrainConfig::default());
        let last = history.last().expect("train_mlp (book section 2.7): no epochs recorded");
        // The accuracy of the learner's trained network: another correct run trains another one.
        assert_close_own(
            "train_mlp (book section 2.7): the last EpochStats reports the validation accuracy of the final network",
            last.val_accuracy,
            ch02::accuracy(&mlp, &val),
            Tolerance::F32,
        );
        // The settings were chosen on `val`; the test set is read once, here.
        let accuracy = ch02::accuracy(&mlp, &test);
        course::check!(
            accuracy >= 0.95,
            "train_mlp (book section 2.7): test accuracy {:.1} % is below the bar of 95 %; history: {history:?}",
            100.0 * accuracy
        );
    }

    type Digits = ch02::DigitMlp<16, Dev>;

    /// The logits of `mlp` by dfdx's own ops.
    fn logits_by_dfdx<const B: usize>(mlp: &Digits, x: &Tensor<Rank2<B, 64>, f32, Dev>) -> Vec<f32> {
        let hidden = (x.clone().matmul(mlp.w1.clone()) + mlp.b1.clone().broadcast()).relu();
        (hidden.matmul(mlp.w2.clone()) + mlp.b2.clone().broadcast()).as_vec()
    }

    /// The fraction of `set` whose label has the largest logit (by dfdx's ops, one image at a
    /// time; a tie counts as wrong).
    fn accuracy_by_dfdx(mlp: &Digits, set: &datasets::ImageSet) -> f64 {
        let dev = mlp.w1.device();
        let correct = (0..set.len())
            .filter(|&i| {
                let (x, labels) = courselib::data::flat_batch::<1, 64, Dev>(dev, set, &[i]);
                courselib::data::predicts_label(&logits_by_dfdx(mlp, &x), labels[0])
            })
            .count();
        correct as f64 / set.len() as f64
    }

    /// Mini-batch SGD written out with dfdx's tape gradients: the network after each epoch's
    /// steps, the mean batch loss of each epoch.
    fn sgd_by_dfdx(train: &datasets::ImageSet, config: &ch02::TrainConfig) -> (Digits, Vec<f64>) {
        let dev = device(0);
        let mut mlp = Digits::new(&dev, config.seed);
        let mut losses = Vec::new();
        for epoch in 1..=config.epochs {
            let batches =
                courselib::data::shuffled_batches(train.len(), ch02::BATCH, config.seed + epoch as u64);
            let mut sum = 0.0f64;
            for batch in &batches {
                let (x, labels) = courselib::data::flat_batch::<32, 64, Dev>(&dev, train, batch);
                let hidden = (x.leaky_trace().matmul(mlp.w1.clone()) + mlp.b1.clone().broadcast()).relu();
                let logits = hidden.matmul(mlp.w2.clone()) + mlp.b2.clone().broadcast();
                let loss = logits.log_softmax::<Axis<1>>().select(dev.tensor(labels)).mean().negate();
                sum += f64::from(loss.array());
                let g = loss.backward();
                let lr = config.learning_rate;
                mlp = Digits {
                    w1: mlp.w1.clone() - g.get(&mlp.w1) * lr,
                    b1: mlp.b1.clone() - g.get(&mlp.b1) * lr,
                    w2: mlp.w2.clone() - g.get(&mlp.w2) * lr,
                    b2: mlp.b2.clone() - g.get(&mlp.b2) * lr,
                };
            }
            losses.push(sum / batches.len() as f64);
        }
        (mlp, losses)
    }

    #[test]
    fn agrees_with_sgd_on_dfdx_tape_gradients() {
        course::graded!();
        let (train, val, _) = datasets::digits::train_val_test().expect("the digits dataset loads");
        let config = ch02::TrainConfig { epochs: 2, learning_rate: 0.1, seed: 5 };
        let (mlp, history) = ch02::train_mlp::<16, _>(&device(0), &train, &val, &config);
        let (want, want_losses) = sgd_by_dfdx(&train, &config);
        let context = "train_mlp (book section 2.7): 2 epochs, seed 5, against SGD on dfdx's tape gradients";
        // Hand-written and taped f32 gradients differ in rounding only.
        let close = Tolerance { abs: 1e-4, rel: 1e-3 };
        for (name, got, want) in [
            ("W1", mlp.w1.as_vec(), want.w1.as_vec()),
            ("b1", mlp.b1.as_vec(), want.b1.as_vec()),
            ("W2", mlp.w2.as_vec(), want.w2.as_vec()),
            ("b2", mlp.b2.as_vec(), want.b2.as_vec()),
        ] {
            assert_all_close(
                format!("{context}: {name} (one SGD step per shuffled batch of epoch seed + epoch)"),
                &got,
                &want,
                close,
            );
        }
        course::check_eq!(history.len(), 2, "{context}: one EpochStats per epoch");
        for (stats, (epoch, want_loss)) in history.iter().zip(want_losses.into_iter().enumerate()) {
            course::check_eq!(stats.epoch, epoch + 1, "{context}: epochs count from 1");
            assert_close(
                format!("{context}: train_loss of epoch {} (the mean of the batch losses)", epoch + 1),
                stats.train_loss,
                want_loss,
                close,
            );
        }
        // One validation image more or less, should a logit differ in the last bit.
        let slack = Tolerance { abs: 1.5 / val.len() as f64, rel: 0.0 };
        // Of the learner's trained network (its weights are judged above): another correct
        // implementation trains slightly different weights, which may classify one image otherwise.
        let want_accuracy = accuracy_by_dfdx(&mlp, &val);
        assert_close_own(
            format!(
                "{context}: val_accuracy of the last epoch (fraction of the validation set classified right)"
            ),
            history[1].val_accuracy,
            want_accuracy,
            slack,
        );
        assert_close_own(
            "train_mlp (book section 2.7): ch02::accuracy of the trained network",
            ch02::accuracy(&mlp, &val),
            want_accuracy,
            slack,
        );
    }

    #[test]
    fn the_same_seed_trains_the_same_network() {
        course::graded!();
        let (train, val, _) = datasets::digits::train_val_test().expect("the digits dataset loads");
        let config = ch02::TrainConfig { epochs: 2, seed: 99, ..Default::default() };
        let (a, history_a) = ch02::train_mlp::<16, _>(&device(0), &train, &val, &config);
        let (b, history_b) = ch02::train_mlp::<16, _>(&device(1), &train, &val, &config);
        course::check_eq_own!(
            history_a,
            history_b,
            "train_mlp (book section 2.7): two runs with seed 99 differ"
        );
        course::check_eq_own!(
            a.w2.as_vec(),
            b.w2.as_vec(),
            "train_mlp (book section 2.7): two runs with seed 99 give different weights"
        );
        let other =
            ch02::train_mlp::<16, _>(&device(0), &train, &val, &ch02::TrainConfig { seed: 100, ..config }).1;
        course::check_ne!(
            history_a,
            other,
            "train_mlp (book section 2.7): the seed must change the initialisation and the order"
        );
    }
}
