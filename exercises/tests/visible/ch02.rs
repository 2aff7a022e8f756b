//! Visible tests of chapter 2: neural-network basics and backprop.

use course::check::{assert_all_close, assert_close, assert_close_own, Tolerance};
use courselib::device::device;
use dfdx::prelude::*;
use subject::ch02_backprop as ch02;

mod linear_forward {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let x = dev.tensor([[1.0f32, 2.0], [3.0, 4.0]]);
        let w = dev.tensor([[1.0f32, 0.0, -1.0], [0.5, 1.0, 2.0]]);
        let b = dev.tensor([0.0f32, 1.0, -1.0]);
        let y = ch02::linear_forward(&x, &w, &b);
        assert_all_close(
            "linear_forward (book section 2.2): y = x·W + b",
            &y.as_vec(),
            &[2.0f64, 3.0, 2.0, 5.0, 5.0, 4.0],
            Tolerance::F32,
        );
    }
}

mod linear_backward {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let x = dev.tensor([[1.0f32, 2.0], [3.0, 4.0]]);
        let w = dev.tensor([[1.0f32, 0.0, -1.0], [0.5, 1.0, 2.0]]);
        let dy = dev.tensor([[1.0f32, 0.0, 1.0], [0.0, 2.0, -1.0]]);
        let grads = ch02::linear_backward(&dy, &x, &w);
        let context = "linear_backward (book section 2.2)";
        assert_all_close(
            format!("{context}: dx = dy·Wᵀ"),
            &grads.dx.as_vec(),
            &[0.0f64, 2.5, 1.0, 0.0],
            Tolerance::F32,
        );
        assert_all_close(
            format!("{context}: dW = xᵀ·dy"),
            &grads.dw.as_vec(),
            &[1.0f64, 6.0, -2.0, 2.0, 8.0, -2.0],
            Tolerance::F32,
        );
        assert_all_close(
            format!("{context}: db = column sums of dy"),
            &grads.db.as_vec(),
            &[1.0f64, 2.0, 0.0],
            Tolerance::F32,
        );
    }
}

mod relu_forward {
    use super::*;

    #[test]
    fn negatives_become_zero() {
        course::graded!();
        let dev = device(0);
        let y = ch02::relu_forward(&dev.tensor([-2.0f32, -0.0, 0.5, 3.0]));
        assert_all_close(
            "relu_forward (book section 2.3)",
            &y.as_vec(),
            &[0.0f64, 0.0, 0.5, 3.0],
            Tolerance::F32,
        );
    }
}

mod relu_backward {
    use super::*;

    #[test]
    fn gradient_flows_only_where_the_input_was_positive() {
        course::graded!();
        let dev = device(0);
        let x = dev.tensor([-2.0f32, 0.0, 0.5, 3.0]);
        let dy = dev.tensor([10.0f32, 20.0, 30.0, 40.0]);
        let dx = ch02::relu_backward(&dy, &x);
        assert_all_close(
            "relu_backward (book section 2.3), derivative at 0 taken as 0",
            &dx.as_vec(),
            &[0.0f64, 0.0, 30.0, 40.0],
            Tolerance::F32,
        );
    }
}

mod softmax {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let p = ch02::softmax(&dev.tensor([[1.0f32, 2.0, 3.0]]));
        let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        let want: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp() / z).collect();
        assert_all_close("softmax (book section 2.4) of [1, 2, 3]", &p.as_vec(), &want, Tolerance::F32);
    }
}

mod softmax_nll_loss {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let logits = dev.tensor([[1.0f32, 2.0, 3.0], [1.0, 2.0, 3.0]]);
        let loss = ch02::softmax_nll_loss(&logits, &[2, 0]);
        // -log p = log(e + e² + e³) - z_label; mean of label 2 (0.4076) and label 0 (2.4076).
        let log_z = (1.0f64.exp() + 2.0f64.exp() + 3.0f64.exp()).ln();
        let want = ((log_z - 3.0) + (log_z - 1.0)) / 2.0;
        assert_close("softmax_nll_loss (book section 2.4), labels [2, 0]", loss, want, Tolerance::F32);
    }
}

mod softmax_nll_backward {
    use super::*;

    #[test]
    fn softmax_minus_one_hot_over_batch_size() {
        course::graded!();
        let dev = device(0);
        let logits = dev.tensor([[1.0f32, 2.0, 3.0], [0.0, 0.0, 0.0]]);
        let grad = ch02::softmax_nll_backward(&logits, &[2, 0]);
        let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        let p: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp() / z).collect();
        let third = 1.0 / 3.0;
        let want =
            [p[0] / 2.0, p[1] / 2.0, (p[2] - 1.0) / 2.0, (third - 1.0) / 2.0, third / 2.0, third / 2.0];
        assert_all_close(
            "softmax_nll_backward (book section 2.4), labels [2, 0]",
            &grad.as_vec(),
            &want,
            Tolerance::F32,
        );
    }
}

/// A small fixed network: 3 inputs, 4 hidden units, 2 classes.
fn small_mlp() -> ch02::TwoLayerMlp<3, 4, 2, f64, courselib::device::Dev> {
    ch02::TwoLayerMlp::new(&device(0), 11)
}

mod mlp_forward {
    use super::*;

    #[test]
    fn logits_are_the_two_layers_composed() {
        course::graded!();
        let mlp = small_mlp();
        let x = device(0).tensor([[0.5f64, -1.0, 2.0], [1.0, 1.0, -1.0]]);
        let cache = mlp.forward(&x);
        // The same network by explicit loops.
        let (w1, b1, w2, b2) = (mlp.w1.array(), mlp.b1.array(), mlp.w2.array(), mlp.b2.array());
        let mut want = Vec::new();
        for row in x.array() {
            let hidden: Vec<f64> =
                (0..4).map(|h| (b1[h] + (0..3).map(|i| row[i] * w1[i][h]).sum::<f64>()).max(0.0)).collect();
            want.extend((0..2).map(|o| b2[o] + (0..4).map(|h| hidden[h] * w2[h][o]).sum::<f64>()));
        }
        assert_all_close(
            "mlp_forward (book section 2.5): logits",
            &cache.logits.as_vec(),
            &want,
            Tolerance::F64,
        );
    }
}

mod mlp_backward {
    use super::*;
    use courselib::gradcheck::{max_relative_error, numerical_gradient};

    #[test]
    fn matches_finite_differences_for_w1() {
        course::graded!();
        let mlp = small_mlp();
        let x = device(0).tensor([[0.5f64, -1.0, 2.0], [1.0, 1.0, -1.0]]);
        let labels = [1, 0];
        let (_, grads) = mlp.loss_and_gradients(&x, &labels);
        let numeric = numerical_gradient(
            |w1| {
                let probe = ch02::TwoLayerMlp { w1: w1.clone(), ..mlp.clone() };
                ch02::softmax_nll_loss(&probe.forward(&x).logits, &labels)
            },
            &mlp.w1,
            1e-6,
        );
        let error = max_relative_error(&grads.w1.as_vec(), &numeric.as_vec());
        course::check!(
            error < 1e-6,
            "mlp_backward (book section 2.5): dL/dW1 differs from finite differences, max relative error {error:e}\n\
             hand-written: {:?}\nnumerical: {:?}",
            grads.w1.array(),
            numeric.array()
        );
    }
}

mod tape_gradients {
    use super::*;

    #[test]
    fn loss_matches_the_hand_written_forward_pass() {
        course::graded!();
        let mlp = small_mlp();
        let x = device(0).tensor([[0.5f64, -1.0, 2.0], [1.0, 1.0, -1.0]]);
        let (tape_loss, _) = ch02::tape_gradients(&mlp, &x, &[1, 0]);
        let hand_loss = ch02::softmax_nll_loss(&mlp.forward(&x).logits, &[1, 0]);
        assert_close_own("tape_gradients (book section 2.6): loss", tape_loss, hand_loss, Tolerance::F64);
    }
}

mod train_mlp {
    use super::*;

    #[test]
    fn loss_falls_in_the_first_epochs() {
        course::graded!();
        let (train, val, _) = datasets::digits::train_val_test().expect("the digits dataset loads");
        let config = ch02::TrainConfig { epochs: 3, ..Default::default() };
        let (_, history) = ch02::train_mlp::<32, _>(&device(0), &train, &val, &config);
        course::check_eq!(history.len(), 3, "train_mlp (book section 2.7): one EpochStats per epoch");
        course::check!(
            history[2].train_loss < 0.8 * history[0].train_loss,
            "train_mlp (book section 2.7): the training loss should fall, got {history:?}"
        );
    }
}
