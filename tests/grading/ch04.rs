//! Hidden tests of chapter 4: activation functions. Every activation is checked against
//! its formula in f64, its derivative against dfdx's tape and central finite differences,
//! and its f32 forward pass against dfdx's own operation.

use crate::support::{table, uniform, SEEDS};
use course::check::{assert_all_close, assert_all_close_own, assert_close, Tolerance};
use courselib::device::{device, Dev};
use courselib::gradcheck::numerical_gradient;
use dfdx::nn::modules::Linear;
use dfdx::optim::{Sgd, SgdConfig};
use dfdx::prelude::*;
use subject::ch04_activations::{self as ch04, Activation};

/// Finite differences agree with exact gradients to about 1e-9 here; a wrong gradient is
/// off by order one.
const GRADIENT_TOLERANCE: f64 = 1e-6;

/// `max_relative_error(got, want) < GRADIENT_TOLERANCE` as a tolerance on `want`: from
/// `|g − w| < t·max(|g| + |w|, 1e-8)` and `|g| <= |w| + |g − w|` follows
/// `|g − w| < 1e-8·t + 2t/(1 − t)·|w|`, so this accepts every pair that accepted (and no NaN).
const GRADIENT: Tolerance =
    Tolerance { abs: 1e-8 * GRADIENT_TOLERANCE, rel: 2.0 * GRADIENT_TOLERANCE / (1.0 - GRADIENT_TOLERANCE) };

/// Checks `activation` on a random tensor of shape `S` in f64, entries in `±scale`: the
/// forward pass against the formula `f`, the derivative function, dfdx's tape gradient of
/// `Σ activation(x)` and central finite differences against the formula `df`.
fn check_against_formulas<S: ConstShape>(
    activation: Activation,
    section: &str,
    seed: u64,
    f: impl Fn(f64) -> f64,
    df: impl Fn(f64) -> f64,
) {
    let dev = device(seed);
    let x: Tensor<S, f64, Dev> = uniform(&dev, seed, 6.0);
    let values = x.as_vec();
    let context = format!("{} (book section {section}): {} values, seed {seed}", activation.name(), S::NUMEL);
    let want: Vec<f64> = values.iter().map(|&v| f(v)).collect();
    assert_all_close(
        format!("{context}, forward"),
        &activation.apply(x.clone()).as_vec(),
        &want,
        Tolerance::F64,
    );
    let slope: Vec<f64> = values.iter().map(|&v| df(v)).collect();
    assert_all_close(
        format!("{context}, derivative"),
        &activation.derivative(&x).as_vec(),
        &slope,
        Tolerance::F64,
    );
    let tape = activation.apply(x.leaky_trace()).sum::<Rank0, _>().backward();
    assert_all_close(
        format!("{context}, dfdx's tape gradient of the sum of the forward pass (use dfdx operations on the taped x)"),
        &tape.get(&x).as_vec(),
        &slope,
        Tolerance::F64,
    );
    // Rounding in the differences is about 1e-16 · |Σ f| / eps, up to 1e-9: an absolute floor.
    // Differences of the learner's own forward pass (the derivative is judged against `df` above).
    let numeric = numerical_gradient(|t| activation.apply(t.clone()).as_vec().iter().sum(), &x, 1e-6);
    assert_all_close_own(
        format!("{context}, the derivative against finite differences of the forward pass"),
        &activation.derivative(&x).as_vec(),
        &numeric.as_vec(),
        Tolerance { abs: 1e-7, rel: 1e-6 },
    );
}

/// [`check_against_formulas`] on several shapes and every seed.
fn check_random_shapes(
    activation: Activation,
    section: &str,
    f: impl Fn(f64) -> f64 + Copy,
    df: impl Fn(f64) -> f64 + Copy,
) {
    for seed in SEEDS {
        check_against_formulas::<Rank1<1>>(activation, section, seed, f, df);
        check_against_formulas::<Rank2<3, 5>>(activation, section, seed, f, df);
        check_against_formulas::<Rank3<2, 3, 4>>(activation, section, seed, f, df);
    }
}

/// The f32 forward pass of `activation` on a digit-sized batch against dfdx's `reference`.
fn check_against_dfdx(
    activation: Activation,
    section: &str,
    reference: impl Fn(Tensor<Rank2<32, 64>, f32, Dev>) -> Tensor<Rank2<32, 64>, f32, Dev>,
) {
    let dev = device(5);
    let x: Tensor<Rank2<32, 64>, f32, Dev> = uniform(&dev, 5, 10.0);
    assert_all_close(
        format!("{} (book section {section}): f32, against dfdx's own operation", activation.name()),
        &activation.apply(x.clone()).as_vec(),
        &reference(x).as_vec(),
        Tolerance::F32,
    );
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

mod sigmoid {
    use super::*;

    #[test]
    fn forward_derivative_tape_and_finite_differences_agree_on_random_shapes() {
        course::graded!();
        check_random_shapes(Activation::Sigmoid, "4.2", sigmoid, |x| sigmoid(x) * (1.0 - sigmoid(x)));
        check_against_dfdx(Activation::Sigmoid, "4.2", |x| x.sigmoid());
    }

    #[test]
    fn large_inputs_give_no_nan_in_f32() {
        course::graded!();
        let x = device(0).tensor([-100.0f32, -20.0, 0.0, 20.0, 100.0]);
        let inputs = [-100.0f64, -20.0, 0.0, 20.0, 100.0];
        let want: Vec<f64> = inputs.iter().map(|&v| sigmoid(v)).collect();
        assert_all_close(
            "sigmoid (book section 4.2): large |x| in f32 (e^x overflows for x > 88.7; compute 1 / (1 + e^(-x)))",
            &ch04::sigmoid(x.clone()).as_vec(),
            &want,
            Tolerance::F32,
        );
        let slope: Vec<f64> = want.iter().map(|s| s * (1.0 - s)).collect();
        assert_all_close(
            "sigmoid_derivative (book section 4.2): large |x| in f32",
            &ch04::sigmoid_derivative(&x).as_vec(),
            &slope,
            Tolerance::F32,
        );
    }
}

mod tanh {
    use super::*;

    #[test]
    fn forward_derivative_tape_and_finite_differences_agree_on_random_shapes() {
        course::graded!();
        check_random_shapes(Activation::Tanh, "4.3", f64::tanh, |x| 1.0 - x.tanh().powi(2));
        check_against_dfdx(Activation::Tanh, "4.3", |x| x.tanh());
    }

    #[test]
    fn large_inputs_give_no_nan_in_f32() {
        course::graded!();
        let inputs = [-100.0f64, -10.0, 0.0, 10.0, 100.0];
        let x = device(0).tensor(inputs.map(|v| v as f32));
        let want: Vec<f64> = inputs.iter().map(|v| v.tanh()).collect();
        assert_all_close(
            "tanh (book section 4.3): large |x| in f32 (avoid ∞/∞: build tanh from the sigmoid)",
            &ch04::tanh(x.clone()).as_vec(),
            &want,
            Tolerance::F32,
        );
        let slope: Vec<f64> = want.iter().map(|t| 1.0 - t * t).collect();
        assert_all_close(
            "tanh_derivative (book section 4.3): large |x| in f32",
            &ch04::tanh_derivative(&x).as_vec(),
            &slope,
            Tolerance::F32,
        );
    }
}

mod relu {
    use super::*;

    #[test]
    fn forward_derivative_tape_and_finite_differences_agree_on_random_shapes() {
        course::graded!();
        check_random_shapes(Activation::Relu, "4.4", |x| x.max(0.0), |x| if x > 0.0 { 1.0 } else { 0.0 });
        check_against_dfdx(Activation::Relu, "4.4", |x| x.relu());
    }

    #[test]
    fn derivative_and_tape_gradient_at_zero_are_zero() {
        course::graded!();
        let x = device(0).tensor([0.0f64, -0.0, 1e-300, -1e-300]);
        let context = "relu (book section 4.4): at x = 0 the derivative is taken as 0";
        assert_all_close(
            context,
            &ch04::relu_derivative(&x).as_vec(),
            &[0.0f64, 0.0, 1.0, 0.0],
            Tolerance::F64,
        );
        let tape = ch04::relu(x.leaky_trace()).sum::<Rank0, _>().backward();
        assert_all_close(
            format!("{context}, also by dfdx's tape through relu"),
            &tape.get(&x).as_vec(),
            &[0.0f64, 0.0, 1.0, 0.0],
            Tolerance::F64,
        );
        assert_all_close(
            format!("{context}; relu(x) itself"),
            &ch04::relu(x).as_vec(),
            &[0.0f64, 0.0, 1e-300, 0.0],
            Tolerance::F64,
        );
    }
}

mod leaky_relu {
    use super::*;

    #[test]
    fn forward_derivative_tape_and_finite_differences_agree_on_random_shapes() {
        course::graded!();
        for alpha in [0.01, 0.1, 0.3] {
            check_random_shapes(
                Activation::LeakyRelu(alpha),
                "4.5",
                move |x| if x > 0.0 { x } else { alpha * x },
                move |x| if x > 0.0 { 1.0 } else { alpha },
            );
            check_against_dfdx(Activation::LeakyRelu(alpha), "4.5", move |x| x.prelu(alpha as f32));
        }
    }

    #[test]
    fn alpha_is_respected_and_is_the_slope_at_zero() {
        course::graded!();
        let x = device(0).tensor([-3.0f64, -0.5, 0.0, 0.5, 3.0]);
        for alpha in [0.0, 0.2, 0.5] {
            let context = format!("leaky_relu (book section 4.5): alpha = {alpha}");
            assert_all_close(
                &context,
                &ch04::leaky_relu(x.clone(), alpha).as_vec(),
                &[-3.0 * alpha, -0.5 * alpha, 0.0, 0.5, 3.0],
                Tolerance::F64,
            );
            let slope = [alpha, alpha, alpha, 1.0, 1.0];
            assert_all_close(
                format!("{context}: the derivative, alpha for x <= 0"),
                &ch04::leaky_relu_derivative(&x, alpha).as_vec(),
                &slope,
                Tolerance::F64,
            );
            let tape = ch04::leaky_relu(x.leaky_trace(), alpha).sum::<Rank0, _>().backward();
            assert_all_close(
                format!("{context}: dfdx's tape gradient through leaky_relu"),
                &tape.get(&x).as_vec(),
                &slope,
                Tolerance::F64,
            );
        }
    }
}

mod maxout {
    use super::*;

    type Layer<const I: usize, const O: usize, const K: usize> = ch04::Maxout<I, O, K, f64, Dev>;

    fn random_layer<const I: usize, const O: usize, const K: usize>(seed: u64) -> Layer<I, O, K> {
        let dev = device(seed);
        Layer { weight: uniform(&dev, seed + 100, 1.0), bias: uniform(&dev, seed + 200, 1.0) }
    }

    fn by_loops<const B: usize, const I: usize, const O: usize, const K: usize>(
        layer: &Layer<I, O, K>,
        x: &Tensor<Rank2<B, I>, f64, Dev>,
    ) -> Vec<f64> {
        let (w, b, x) = (layer.weight.as_vec(), layer.bias.as_vec(), x.as_vec());
        let mut out = Vec::with_capacity(B * O);
        for n in 0..B {
            for o in 0..O {
                let piece = |k: usize| {
                    b[k * O + o] + (0..I).map(|i| x[n * I + i] * w[(k * I + i) * O + o]).sum::<f64>()
                };
                out.push((0..K).map(piece).fold(f64::NEG_INFINITY, f64::max));
            }
        }
        out
    }

    fn random_case<const B: usize, const I: usize, const O: usize, const K: usize>(seed: u64) {
        let layer = random_layer::<I, O, K>(seed);
        let x: Tensor<Rank2<B, I>, f64, Dev> = uniform(&device(seed), seed, 2.0);
        assert_all_close(
            format!("maxout (book section 4.6): B = {B}, I = {I}, O = {O}, K = {K}, seed {seed}: y = max over k of x·W_k + b_k"),
            &layer.forward(x.clone()).as_vec(),
            &by_loops(&layer, &x),
            Tolerance::F64,
        );
    }

    #[test]
    fn agrees_with_loops_on_random_shapes() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1, 1, 1>(seed);
            random_case::<4, 3, 5, 2>(seed);
            random_case::<7, 6, 2, 4>(seed);
        }
    }

    fn gradient_case<const B: usize, const I: usize, const O: usize, const K: usize>(seed: u64) {
        let dev = device(seed);
        let layer = random_layer::<I, O, K>(seed);
        let x: Tensor<Rank2<B, I>, f64, Dev> = uniform(&dev, seed, 2.0);
        let r: Tensor<Rank2<B, O>, f64, Dev> = uniform(&dev, seed + 300, 1.0);
        // L = Σ y·r, by the loops: an independent forward pass for the finite differences.
        let loss = |layer: &Layer<I, O, K>, x: &Tensor<Rank2<B, I>, f64, Dev>| {
            by_loops(layer, x).iter().zip(r.as_vec()).map(|(y, r)| y * r).sum::<f64>()
        };
        let tape = (layer.forward(x.leaky_trace()) * r.clone()).sum::<Rank0, _>().backward();
        let context = format!("maxout (book section 4.6): B = {B}, I = {I}, O = {O}, K = {K}, seed {seed}");
        let probes = [
            ("dL/dx", tape.get(&x).as_vec(), numerical_gradient(|t| loss(&layer, t), &x, 1e-6).as_vec()),
            (
                "dL/dW",
                tape.get(&layer.weight).as_vec(),
                numerical_gradient(
                    |t| loss(&Layer { weight: t.clone(), ..layer.clone() }, &x),
                    &layer.weight,
                    1e-6,
                )
                .as_vec(),
            ),
            (
                "dL/db",
                tape.get(&layer.bias).as_vec(),
                numerical_gradient(
                    |t| loss(&Layer { bias: t.clone(), ..layer.clone() }, &x),
                    &layer.bias,
                    1e-6,
                )
                .as_vec(),
            ),
        ];
        for (name, taped, numeric) in probes {
            assert_all_close(
                format!(
                    "{context}: {name} by dfdx's tape through forward against finite differences (record the \
                     weights and the bias on x's tape: retaped)"
                ),
                &taped,
                &numeric,
                GRADIENT,
            );
        }
    }

    #[test]
    fn tape_gradients_match_finite_differences() {
        course::graded!();
        for seed in SEEDS {
            gradient_case::<3, 4, 2, 3>(seed);
            gradient_case::<5, 2, 3, 2>(seed);
        }
    }

    #[test]
    fn a_zero_second_piece_gives_relu_on_random_inputs() {
        course::graded!();
        let dev = device(8);
        let x: Tensor<Rank2<16, 5>, f64, Dev> = uniform(&dev, 8, 3.0);
        let w: Tensor<Rank2<5, 4>, f64, Dev> = uniform(&dev, 9, 1.0);
        let b: Tensor<Rank1<4>, f64, Dev> = uniform(&dev, 10, 1.0);
        let (wv, bv) = (w.as_vec(), b.as_vec());
        let mut weight = wv.clone();
        weight.extend(vec![0.0; 20]);
        let mut bias = bv.clone();
        bias.extend(vec![0.0; 4]);
        let layer = Layer::<5, 4, 2> {
            weight: dev.tensor_from_vec(weight, (Const, Const, Const)),
            bias: dev.tensor_from_vec(bias, (Const, Const)),
        };
        let want: Vec<f64> =
            (x.clone().matmul(w) + b.broadcast()).as_vec().iter().map(|v| v.max(0.0)).collect();
        assert_all_close(
            "maxout (book section 4.6): pieces (W, b) and (0, 0) give relu(x·W + b)",
            &layer.forward(x).as_vec(),
            &want,
            Tolerance::F64,
        );
    }
    #[test]
    fn trains_with_dfdx_sgd_to_fit_a_relu_layer() {
        course::graded!();
        // A teacher relu(x·W + b) is a maxout layer with a zero second piece; dfdx's SGD
        // walks the layer's parameters (TensorCollection) and fits it.
        let dev = device(4);
        let teacher_w: Tensor<Rank2<4, 3>, f32, Dev> = uniform(&dev, 4, 1.0);
        let teacher_b: Tensor<Rank1<3>, f32, Dev> = uniform(&dev, 5, 0.5);
        let mut layer = ch04::Maxout::<4, 3, 2, f32, Dev>::new(&dev, 6);
        let mut sgd = Sgd::new(&layer, SgdConfig { lr: 0.1, momentum: None, weight_decay: None });
        let mut losses = Vec::new();
        for step in 0..300 {
            let x: Tensor<Rank2<32, 4>, f32, Dev> = uniform(&dev, 100 + step, 2.0);
            let target = (x.clone().matmul(teacher_w.clone()) + teacher_b.clone().broadcast()).relu();
            let loss = (layer.forward(x.leaky_trace()) - target).square().mean();
            losses.push(loss.array());
            sgd.update(&mut layer, &loss.backward()).expect("the weight and the bias get gradients");
        }
        let (first, last) = (losses[0], losses[losses.len() - 1]);
        course::check!(
            last < 0.05 * first,
            "maxout (book section 4.6): 300 SGD steps should fit relu(x·W + b) (mean squared error below 5 % of its \
             start), got {first} -> {last}"
        );
    }
}

mod layer_gradient_norms {
    use super::*;

    /// The same measurement with dfdx's own activations.
    fn reference(net: &ch04::DeepMlp<32, f32, Dev>, activation: Activation, seed: u64) -> Vec<f32> {
        let (x, labels) = ch04::synthetic_batch::<64, 32, Dev>(&device(seed), seed);
        let mut h = x.clone().leaky_traced();
        for (i, layer) in net.layers.iter().enumerate() {
            h = layer.forward(h);
            if i + 1 < net.layers.len() {
                h = match activation {
                    Activation::Sigmoid => h.sigmoid(),
                    Activation::Tanh => h.tanh(),
                    Activation::Relu => h.relu(),
                    Activation::LeakyRelu(alpha) => h.prelu(alpha as f32),
                };
            }
        }
        let loss = h.log_softmax::<Axis<1>>().select(x.device().tensor(labels)).mean().negate();
        let grads = loss.backward();
        net.layers
            .iter()
            .map(|l| grads.get(&l.weight).as_vec().iter().map(|g| g * g).sum::<f32>().sqrt())
            .collect()
    }

    fn measure(activation: Activation, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let dev = device(seed);
        let net = ch04::DeepMlp::<32, f32, Dev>::new(&dev, ch04::DEPTH, seed);
        let (x, labels) = ch04::synthetic_batch::<64, 32, Dev>(&dev, seed);
        (ch04::layer_gradient_norms(&net, activation, &x, &labels), reference(&net, activation, seed))
    }

    #[test]
    fn agrees_with_dfdx_activations_for_every_seed() {
        course::graded!();
        for seed in SEEDS {
            for activation in
                [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::LeakyRelu(0.1)]
            {
                let (got, want) = measure(activation, seed);
                assert_all_close(
                    format!(
                        "layer_gradient_norms (book section 4.7): {}, seed {seed}, one L2 norm per layer, first layer first",
                        activation.name()
                    ),
                    &got,
                    &want,
                    Tolerance { abs: 0.0, rel: 1e-3 },
                );
            }
        }
    }

    #[test]
    fn sigmoid_gradients_vanish_relu_and_tanh_gradients_do_not() {
        course::graded!();
        let last = ch04::DEPTH - 1;
        let mut rows = Vec::new();
        for seed in SEEDS {
            for activation in [Activation::Sigmoid, Activation::Tanh, Activation::Relu] {
                let (norms, _) = measure(activation, seed);
                let ratio = norms[0] / norms[last];
                let context =
                    format!("layer_gradient_norms (book section 4.7): {}, seed {seed}", activation.name());
                if activation == Activation::Sigmoid {
                    course::check!(
                        ratio < 1e-3,
                        "{context}: first/last layer gradient norm should be below 1e-3, got {ratio:e}"
                    );
                } else {
                    course::check!(
                        (0.1..10.0).contains(&ratio),
                        "{context}: first/last layer gradient norm should be between 0.1 and 10, got {ratio:e}"
                    );
                }
                if seed == SEEDS[0] {
                    rows.extend(norms.iter().map(|n| f64::from(n.log10())));
                }
            }
        }
        course::snapshot!(
            "ch04_gradient_norms",
            format!(
                "log10 of the weight-gradient norm per layer (1 to 10), seed {}; rows: sigmoid, tanh, ReLU\n{}",
                SEEDS[0],
                table(&rows, ch04::DEPTH, 2)
            )
        );
    }
}

mod dead_unit_fraction {
    use super::*;

    fn random_case<const N: usize, const I: usize, const H: usize>(seed: u64) {
        let dev = device(seed);
        let weight: Tensor<Rank2<H, I>, f32, Dev> = uniform(&dev, seed, 1.0);
        // Biases from -3 to 1: some units dead, some alive.
        let bias: Tensor<Rank1<H>, f32, Dev> = uniform::<Rank1<H>, f32>(&dev, seed + 1, 2.0) - 1.0;
        let x: Tensor<Rank2<N, I>, f32, Dev> = uniform::<Rank2<N, I>, f32>(&dev, seed + 2, 0.5) + 0.5;
        let (w, b, xs) = (weight.as_vec(), bias.as_vec(), x.as_vec());
        let dead = (0..H)
            .filter(|&h| {
                (0..N).all(|n| {
                    f64::from(b[h])
                        + (0..I).map(|i| f64::from(xs[n * I + i]) * f64::from(w[h * I + i])).sum::<f64>()
                        <= 0.0
                })
            })
            .count();
        let layer = Linear { weight, bias };
        assert_close(
            format!(
                "dead_unit_fraction (book section 4.7): N = {N}, I = {I}, H = {H}, seed {seed}: units with x·Wᵀ + b <= 0 on all inputs"
            ),
            ch04::dead_unit_fraction(&layer, &x),
            dead as f64 / H as f64,
            Tolerance::F32,
        );
    }

    #[test]
    fn agrees_with_loops_on_random_layers() {
        course::graded!();
        for seed in SEEDS {
            random_case::<1, 1, 1>(seed);
            random_case::<5, 3, 8>(seed);
            random_case::<50, 6, 40>(seed);
        }
    }

    #[test]
    fn relu_units_stay_dead_after_a_huge_step_and_leaky_units_recover() {
        course::graded!();
        let (train, _) = datasets::digits::train_test().expect("the digits dataset loads");
        let config = ch04::DyingConfig::default();
        let dev = device(0);
        let relu = ch04::dying_relu_experiment::<64, _>(&dev, &train, Activation::Relu, &config);
        let leaky = ch04::dying_relu_experiment::<64, _>(&dev, &train, Activation::LeakyRelu(0.2), &config);
        let context = "dead_unit_fraction (book section 4.7): the dying-ReLU experiment";
        course::check_eq!(
            relu.len(),
            config.steps + 2,
            "{context}: one fraction before the big step, after it and after every step"
        );
        course::check!(
            relu[0] <= 0.05,
            "{context}: the fresh network has hardly any dead units, got {}",
            relu[0]
        );
        course::check!(
            relu[1] >= 0.3,
            "{context}: the step with learning rate 20 should kill at least 30 % of the ReLU units, got {}",
            relu[1]
        );
        for step in 2..relu.len() {
            course::check!(
                relu[step] >= relu[step - 1],
                "{context}: a dead ReLU unit gets no gradient and can never come back, but the fraction fell from {} to {} at step {step}",
                relu[step - 1],
                relu[step]
            );
        }
        course::check!(
            relu[relu.len() - 1] >= 0.8,
            "{context}: ReLU should end with at least 80 % dead units, got {}",
            relu[relu.len() - 1]
        );
        let end = leaky[leaky.len() - 1];
        course::check!(
            leaky[1] >= 0.3 && end <= 0.15,
            "{context}: leaky ReLU (0.2) units should die in the big step (>= 30 %, got {}) and recover (<= 15 % at the end, got {end})",
            leaky[1]
        );
    }
}

mod init_std {
    use super::*;
    use rand::Rng;

    /// A first layer on MNIST-sized inputs and a 3x3 convolution's fan-in of 576.
    #[test]
    fn known_layers() {
        course::graded!();
        assert_all_close(
            "init_std (book section 4.8): Xavier(784 → 10), He(576 → 64), Xavier(64 → 64), Std(0.01)",
            &[
                ch04::init_std(ch04::Init::Xavier, 784, 10),
                ch04::init_std(ch04::Init::He, 576, 64),
                ch04::init_std(ch04::Init::Xavier, 64, 64),
                ch04::init_std(ch04::Init::Std(0.01), 3, 900),
            ],
            &[(2.0f64 / 794.0).sqrt(), (2.0f64 / 576.0).sqrt(), 0.125, 0.01],
            Tolerance::F64,
        );
    }

    /// Over random sizes: the variances are 2/(fan_in + fan_out) and 2/fan_in; Xavier of a
    /// square layer is He divided by √2.
    #[test]
    fn the_variances_over_random_sizes() {
        course::graded!();
        let mut random = courselib::device::rng(41);
        for _ in 0..200 {
            let (fan_in, fan_out) = (random.gen_range(1..5000), random.gen_range(1..5000));
            let context = format!("init_std (book section 4.8): fan_in {fan_in}, fan_out {fan_out}");
            let (xavier, he) = (
                ch04::init_std(ch04::Init::Xavier, fan_in, fan_out),
                ch04::init_std(ch04::Init::He, fan_in, fan_out),
            );
            assert_close(
                format!("{context}: Xavier's variance"),
                xavier * xavier,
                2.0 / (fan_in + fan_out) as f64,
                Tolerance::F64,
            );
            assert_close(format!("{context}: He's variance"), he * he, 2.0 / fan_in as f64, Tolerance::F64);
            course::check!(xavier > 0.0 && he > 0.0, "{context}: standard deviations are positive");
        }
    }
}

mod activation_statistics {
    use super::*;

    /// The statistics computed here with dfdx's own activations, in f64 from f32 values.
    fn reference<const B: usize, const W: usize>(
        net: &ch04::DeepMlp<W, f32, Dev>,
        activation: Activation,
        x: &Tensor<Rank2<B, W>, f32, Dev>,
    ) -> Vec<f64> {
        let mut h = x.clone();
        let mut out = Vec::new();
        for layer in &net.layers[..net.layers.len() - 1] {
            let z = h.matmul(layer.weight.clone().permute()) + layer.bias.clone().broadcast();
            h = match activation {
                Activation::Sigmoid => z.sigmoid(),
                Activation::Tanh => z.tanh(),
                Activation::Relu => z.relu(),
                Activation::LeakyRelu(alpha) => z.prelu(alpha as f32),
            };
            let values: Vec<f64> = h.as_vec().into_iter().map(f64::from).collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            out.extend([mean, variance.sqrt()]);
        }
        out
    }

    fn check<const B: usize, const W: usize>(
        depth: usize,
        init: ch04::Init,
        activation: Activation,
        seed: u64,
    ) {
        let dev = device(seed);
        let net = ch04::DeepMlp::<W, f32, Dev>::with_init(&dev, depth, init, seed);
        let x: Tensor<Rank2<B, W>, f32, Dev> = uniform(&dev, seed + 1, 1.0);
        let got: Vec<f64> =
            ch04::activation_statistics(&net, activation, &x).iter().flat_map(|s| [s.mean, s.std]).collect();
        assert_all_close(
            format!(
                "activation_statistics (book section 4.8): {} layers of width {W}, batch {B}, {init:?}, {}, seed {seed}: \
                 (mean, std) per hidden layer",
                depth,
                activation.name()
            ),
            &got,
            &reference(&net, activation, &x),
            // f32 forward passes in two orders of summation, statistics in f64.
            Tolerance { abs: 1e-6, rel: 1e-4 },
        );
    }

    #[test]
    fn agrees_with_dfdx_over_random_depths_and_seeds() {
        course::graded!();
        let activations =
            [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::LeakyRelu(0.2)];
        let inits = [ch04::Init::Xavier, ch04::Init::He, ch04::Init::Std(0.3)];
        for seed in SEEDS {
            let depth = 2 + seed as usize % 5;
            let (activation, init) = (activations[seed as usize % 4], inits[seed as usize % 3]);
            check::<16, 8>(depth, init, activation, seed);
            check::<5, 32>(depth + 1, init, activation, seed + 100);
        }
        // One hidden layer less than layers; a single layer has no hidden layer at all.
        let dev = device(0);
        let single = ch04::DeepMlp::<4, f32, Dev>::with_init(&dev, 1, ch04::Init::He, 0);
        let x: Tensor<Rank2<3, 4>, f32, Dev> = uniform(&dev, 0, 1.0);
        course::check!(
            ch04::activation_statistics(&single, Activation::Relu, &x).is_empty(),
            "activation_statistics (book section 4.8): a network of one layer has no hidden layer"
        );
    }

    /// The experiment of section 4.8 (width 128, 10 hidden layers): too small a scale makes
    /// the activations vanish, too large saturates tanh and blows up ReLU, Xavier keeps
    /// tanh alive and He keeps ReLU's scale.
    #[test]
    fn the_experiment_of_the_book() {
        course::graded!();
        const W: usize = 128;
        let dev = device(0);
        let (x, _) = ch04::synthetic_batch::<256, W, Dev>(&dev, 1);
        let stds = |init: ch04::Init, activation: Activation| -> Vec<f64> {
            let net = ch04::DeepMlp::<W, f32, Dev>::with_init(&dev, 11, init, 1);
            ch04::activation_statistics(&net, activation, &x).iter().map(|s| s.std).collect()
        };
        let context = "activation_statistics (book section 4.8): width 128, 10 hidden layers";
        let (tanh_small, tanh_large, tanh_xavier) = (
            stds(ch04::Init::Std(0.01), Activation::Tanh),
            stds(ch04::Init::Std(1.0), Activation::Tanh),
            stds(ch04::Init::Xavier, Activation::Tanh),
        );
        let (relu_large, relu_he) =
            (stds(ch04::Init::Std(1.0), Activation::Relu), stds(ch04::Init::He, Activation::Relu));
        course::check!(
            tanh_small[9] < 1e-8,
            "{context}: tanh, σ = 0.01: the last layer's std should vanish, got {:e}",
            tanh_small[9]
        );
        course::check!(
            tanh_large[9] > 0.9,
            "{context}: tanh, σ = 1: saturated units give a std near 1, got {}",
            tanh_large[9]
        );
        course::check!(
            tanh_xavier[9] > 0.05 && tanh_xavier[9] < tanh_xavier[0],
            "{context}: tanh, Xavier: the std shrinks slowly, {} → {}",
            tanh_xavier[0],
            tanh_xavier[9]
        );
        course::check!(
            relu_large[9] > 1e6,
            "{context}: ReLU, σ = 1: the std should explode, got {:e}",
            relu_large[9]
        );
        let ratio = relu_he[9] / relu_he[0];
        course::check!(
            (0.5..2.0).contains(&ratio),
            "{context}: ReLU, He: last/first std should be near 1, got {ratio}"
        );
        let rows: Vec<f64> = [tanh_small, tanh_large, tanh_xavier, relu_large, relu_he]
            .iter()
            // Below about 1e-4 the digits depend on how tanh is rounded in f32 (2σ(2x) − 1
            // cancels), and from 1e-8 on the activations underflow to zero: floored at 1e-4.
            .flat_map(|row| row.iter().map(|s| s.max(1e-4).log10()))
            .collect();
        course::snapshot!(
            "ch04_activation_statistics",
            format!(
                "log10 of the activations' std per hidden layer (1 to 10, floored at -4), seed 1; rows: tanh σ=0.01, tanh σ=1, \
                 tanh Xavier, ReLU σ=1, ReLU He\n{}",
                table(&rows, 10, 2)
            )
        );
    }
}
