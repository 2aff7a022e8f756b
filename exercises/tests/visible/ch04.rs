//! Visible tests of chapter 4: activation functions.

use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::{device, Dev};
use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use subject::ch04_activations as ch04;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

mod sigmoid {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let x = device(0).tensor([-2.0f32, 0.0, 2.0]);
        assert_all_close(
            "sigmoid (book section 4.2): σ(-2), σ(0), σ(2)",
            &ch04::sigmoid(x.clone()).as_vec(),
            &[sigmoid(-2.0), 0.5, sigmoid(2.0)],
            Tolerance::F32,
        );
        let s = sigmoid(2.0);
        assert_all_close(
            "sigmoid_derivative (book section 4.2): σ'(x) = σ(x)(1 - σ(x)), at most 1/4",
            &ch04::sigmoid_derivative(&x).as_vec(),
            &[s * (1.0 - s), 0.25, s * (1.0 - s)],
            Tolerance::F32,
        );
    }
}

mod tanh {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let x = device(0).tensor([-1.0f32, 0.0, 0.5]);
        let want: Vec<f64> = [-1.0f64, 0.0, 0.5].iter().map(|v| v.tanh()).collect();
        assert_all_close("tanh (book section 4.3)", &ch04::tanh(x.clone()).as_vec(), &want, Tolerance::F32);
        let slope: Vec<f64> = want.iter().map(|t| 1.0 - t * t).collect();
        assert_all_close(
            "tanh_derivative (book section 4.3): 1 - tanh(x)²",
            &ch04::tanh_derivative(&x).as_vec(),
            &slope,
            Tolerance::F32,
        );
    }
}

mod relu {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let x = device(0).tensor([-2.0f32, 0.0, 0.5, 3.0]);
        assert_all_close(
            "relu (book section 4.4)",
            &ch04::relu(x.clone()).as_vec(),
            &[0.0f64, 0.0, 0.5, 3.0],
            Tolerance::F32,
        );
        assert_all_close(
            "relu_derivative (book section 4.4): 1 for x > 0, else 0 (also at 0)",
            &ch04::relu_derivative(&x).as_vec(),
            &[0.0f64, 0.0, 1.0, 1.0],
            Tolerance::F32,
        );
    }
}

mod leaky_relu {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let x = device(0).tensor([-2.0f32, 0.0, 0.5, 3.0]);
        assert_all_close(
            "leaky_relu (book section 4.5): alpha = 0.1",
            &ch04::leaky_relu(x.clone(), 0.1).as_vec(),
            &[-0.2f64, 0.0, 0.5, 3.0],
            Tolerance::F32,
        );
        assert_all_close(
            "leaky_relu_derivative (book section 4.5): 1 for x > 0, else alpha (also at 0)",
            &ch04::leaky_relu_derivative(&x, 0.1).as_vec(),
            &[0.1f64, 0.1, 1.0, 1.0],
            Tolerance::F32,
        );
    }
}

mod maxout {
    use super::*;

    #[test]
    fn two_pieces_reproduce_relu_and_leaky_relu() {
        course::graded!();
        let dev = device(0);
        let x = dev.tensor([[-2.0f32, 0.5], [1.0, -3.0]]);
        // Piece 1 is the identity; piece 2 is zero (ReLU) or 0.1 times the identity (leaky ReLU).
        for (second, want, name) in [
            (0.0f32, [0.0f64, 0.5, 1.0, 0.0], "max(x, 0) = relu(x)"),
            (0.1, [-0.2, 0.5, 1.0, -0.3], "max(x, 0.1x) = leaky_relu(x, 0.1)"),
        ] {
            let layer = ch04::Maxout::<2, 2, 2, f32, Dev> {
                weight: dev.tensor([[[1.0, 0.0], [0.0, 1.0]], [[second, 0.0], [0.0, second]]]),
                bias: dev.zeros(),
            };
            assert_all_close(
                format!("maxout (book section 4.6): {name}"),
                &layer.forward(x.clone()).as_vec(),
                &want,
                Tolerance::F32,
            );
        }
    }
}

mod layer_gradient_norms {
    use super::*;

    #[test]
    fn sigmoid_gradients_vanish_and_relu_gradients_do_not() {
        course::graded!();
        let dev = device(0);
        let net = ch04::DeepMlp::<32, f32, Dev>::new(&dev, ch04::DEPTH, 1);
        let (x, labels) = ch04::synthetic_batch::<64, 32, Dev>(&dev, 1);
        let sigmoid = ch04::layer_gradient_norms(&net, ch04::Activation::Sigmoid, &x, &labels);
        let relu = ch04::layer_gradient_norms(&net, ch04::Activation::Relu, &x, &labels);
        let context = "layer_gradient_norms (book section 4.7)";
        course::check_eq!(sigmoid.len(), ch04::DEPTH, "{context}: one norm per layer");
        course::check!(
            sigmoid[0] < 1e-3 * sigmoid[ch04::DEPTH - 1],
            "{context}: with sigmoid the first layer's gradient should be over 1000 times smaller than the last's, got {sigmoid:?}"
        );
        course::check!(
            relu[0] > 0.1 * relu[ch04::DEPTH - 1],
            "{context}: with ReLU the first layer's gradient should be of the order of the last's, got {relu:?}"
        );
    }
}

mod dead_unit_fraction {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let layer = Linear::<2, 3, f32, Dev> {
            weight: dev.tensor([[1.0, 1.0], [-1.0, 0.0], [1.0, -1.0]]),
            bias: dev.tensor([-1.0, 0.0, -5.0]),
        };
        let x = dev.tensor([[0.0f32, 0.0], [1.0, 1.0], [2.0, 0.0]]);
        // Pre-activations per unit: (-1, 1, 1), (0, -1, -2), (-5, -5, -3): units 2 and 3 are dead.
        let fraction = ch04::dead_unit_fraction(&layer, &x);
        assert_close(
            "dead_unit_fraction (book section 4.7): 2 of 3 units dead",
            fraction,
            2.0 / 3.0,
            Tolerance::F32,
        );
    }
}

mod init_std {
    use super::*;

    /// Section 4.8's worked example: Xavier for 100 inputs and 300 outputs is √(2/400),
    /// He for 50 inputs √(2/50) = 0.2.
    #[test]
    fn the_worked_example() {
        course::graded!();
        assert_all_close(
            "init_std (book section 4.8): Xavier(100 → 300), He(50 → 10), Std(0.5)",
            &[
                ch04::init_std(ch04::Init::Xavier, 100, 300),
                ch04::init_std(ch04::Init::He, 50, 10),
                ch04::init_std(ch04::Init::Std(0.5), 7, 7),
            ],
            &[0.005f64.sqrt(), 0.2, 0.5],
            Tolerance::F64,
        );
    }
}

mod activation_statistics {
    use super::*;

    /// Section 4.8's worked example: identity weights, ReLU, the inputs (1, −1) and (2, 0).
    /// Both hidden layers hold 1, 0, 2, 0: mean 0.75, standard deviation √0.6875. With zero
    /// weights and the sigmoid every hidden value is σ(0) = 0.5: mean 0.5, deviation 0.
    #[test]
    fn the_worked_example() {
        course::graded!();
        let dev = device(0);
        let identity = || Linear { weight: dev.tensor([[1.0f32, 0.0], [0.0, 1.0]]), bias: dev.zeros() };
        let net = ch04::DeepMlp::<2, f32, Dev> { layers: vec![identity(), identity(), identity()] };
        let x = dev.tensor([[1.0f32, -1.0], [2.0, 0.0]]);
        let stats = ch04::activation_statistics(&net, ch04::Activation::Relu, &x);
        let flat =
            |stats: &[ch04::LayerStatistics]| stats.iter().flat_map(|s| [s.mean, s.std]).collect::<Vec<_>>();
        let deviation = 0.6875f64.sqrt();
        assert_all_close(
            "activation_statistics (book section 4.8): identity weights, ReLU, 3 layers: (mean, std) of the 2 hidden layers",
            &flat(&stats),
            &[0.75, deviation, 0.75, deviation],
            Tolerance::F32,
        );
        let zeros = ch04::DeepMlp::<2, f32, Dev>::with_init(&dev, 3, ch04::Init::Std(0.0), 1);
        let stats = ch04::activation_statistics(&zeros, ch04::Activation::Sigmoid, &x);
        assert_all_close(
            "activation_statistics (book section 4.8): zero weights, sigmoid: (mean, std) of the 2 hidden layers",
            &flat(&stats),
            &[0.5, 0.0, 0.5, 0.0],
            Tolerance::F32,
        );
    }
}
