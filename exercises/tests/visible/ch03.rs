//! Visible tests of chapter 3: learning with optimisers.
//!
//! Each update rule is checked on one weight for a few steps against the numbers worked
//! out in its book section.

use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::device;
use courselib::optim::{LearningRateSchedule, Optimiser, UpdateRule};
use dfdx::prelude::*;
use subject::ch03_optimisers as ch03;

/// Applies `rule` to one weight starting at `w` with the gradients `gradients`, one step
/// each; returns the weight after every step.
fn weights_after<R: UpdateRule>(rule: &R, learning_rate: f32, w: f32, gradients: &[f32]) -> Vec<f32> {
    let mut state = rule.initial_state();
    let mut w = w;
    gradients
        .iter()
        .zip(1..)
        .map(|(&g, step)| {
            rule.update(learning_rate, step, &mut w, g, &mut state);
            w
        })
        .collect()
}

mod gradient_descent {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let got = weights_after(&ch03::GradientDescent, 0.1, 1.0, &[2.0, 1.0, -4.0]);
        assert_all_close(
            "gradient_descent (book section 3.2): w = 1, η = 0.1, gradients 2, 1, −4",
            &got,
            &[0.8f64, 0.7, 1.1],
            Tolerance::F32,
        );
    }
}

mod momentum {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let got = weights_after(&ch03::Momentum { mu: 0.9 }, 0.1, 1.0, &[2.0, 1.0, -4.0]);
        assert_all_close(
            "momentum (book section 3.3): w = 1, η = 0.1, μ = 0.9, gradients 2, 1, −4",
            &got,
            &[0.8f64, 0.52, 0.668],
            Tolerance::F32,
        );
    }
}

mod nesterov {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let got = weights_after(&ch03::Nesterov { mu: 0.9 }, 0.1, 1.0, &[2.0, 1.0, -4.0]);
        assert_all_close(
            "nesterov (book section 3.4): w = 1, η = 0.1, μ = 0.9, gradients 2, 1, −4",
            &got,
            &[0.62f64, 0.268, 0.8012],
            Tolerance::F32,
        );
    }
}

mod adagrad {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let got = weights_after(&ch03::Adagrad { eps: 0.0 }, 0.1, 1.0, &[2.0, 1.0, -4.0]);
        // G = 4, 5, 21: steps 0.1·2/2, 0.1·1/√5, 0.1·(−4)/√21.
        let want = [0.9f64, 0.9 - 0.1 / 5f64.sqrt(), 0.9 - 0.1 / 5f64.sqrt() + 0.4 / 21f64.sqrt()];
        assert_all_close(
            "adagrad (book section 3.5): w = 1, η = 0.1, ε = 0, gradients 2, 1, −4",
            &got,
            &want,
            Tolerance::F32,
        );
    }
}

mod adadelta {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let rule = ch03::Adadelta { rho: 0.5, eps: 0.01 };
        let got = weights_after(&rule, 1.0, 1.0, &[2.0, 1.0]);
        // Step 1: E[g²] = 2, Δ = −√0.01/√2.01·2 = −0.141069, E[Δ²] = 0.00995027.
        // Step 2: E[g²] = 1.5, Δ = −√0.01995027/√1.51·1 = −0.114943.
        assert_all_close(
            "adadelta (book section 3.6): w = 1, η = 1, ρ = 0.5, ε = 0.01, gradients 2, 1",
            &got,
            &[0.858931f64, 0.743988],
            Tolerance::F32,
        );
    }
}

mod rmsprop {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let rule = ch03::RmsProp { alpha: 0.9, eps: 0.0, initial_mean_square: 0.0 };
        let got = weights_after(&rule, 0.1, 1.0, &[2.0, 1.0]);
        // s = 0.4 then 0.46: steps 0.1·2/√0.4 and 0.1·1/√0.46.
        let want = [1.0 - 0.2 / 0.4f64.sqrt(), 1.0 - 0.2 / 0.4f64.sqrt() - 0.1 / 0.46f64.sqrt()];
        assert_all_close(
            "rmsprop (book section 3.7): w = 1, η = 0.1, α = 0.9, ε = 0, s₀ = 0, gradients 2, 1",
            &got,
            &want,
            Tolerance::F32,
        );
    }
}

mod adam {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let rule = ch03::Adam { betas: [0.9, 0.999], eps: 0.0 };
        let got = weights_after(&rule, 0.1, 1.0, &[2.0, 1.0]);
        // Step 1: m̂ = 2, v̂ = 4: the step is η·sign(g) = 0.1.
        // Step 2: m = 0.28, v = 0.004996; m̂ = 0.28/0.19, v̂ = 0.004996/0.001999.
        let second = 0.1 * (0.28 / 0.19) / (0.004996f64 / 0.001999).sqrt();
        assert_all_close(
            "adam (book section 3.8): w = 1, η = 0.1, β = (0.9, 0.999), ε = 0, gradients 2, 1",
            &got,
            &[0.9f64, 0.9 - second],
            Tolerance::F32,
        );
    }
}

mod step_decay {
    use super::*;

    #[test]
    fn the_lecture_schedule() {
        course::graded!();
        let schedule = ch03::StepDecay { initial: 0.1, factor: 0.1, every: 100 };
        let got: Vec<f32> = [0, 99, 100, 199, 200, 250].map(|e| schedule.learning_rate(e)).to_vec();
        assert_all_close(
            "step_decay (book section 3.9): 0.1, ×0.1 every 100 epochs, at epochs 0, 99, 100, 199, 200, 250",
            &got,
            &[0.1f64, 0.1, 0.01, 0.01, 0.001, 0.001],
            Tolerance::F32,
        );
    }
}

mod exponential_decay {
    use super::*;

    #[test]
    fn halves_every_ln2_over_k_epochs() {
        course::graded!();
        let schedule = ch03::ExponentialDecay { initial: 0.2, rate: std::f32::consts::LN_2 / 10.0 };
        let got: Vec<f32> = [0, 10, 20, 5].map(|e| schedule.learning_rate(e)).to_vec();
        assert_all_close(
            "exponential_decay (book section 3.9): 0.2·exp(−k·e) with k = ln 2 / 10, at epochs 0, 10, 20, 5",
            &got,
            &[0.2f64, 0.1, 0.05, 0.2 / 2f64.sqrt()],
            Tolerance::F32,
        );
    }
}

mod train_digits {
    use super::*;

    #[test]
    fn two_epochs_of_gradient_descent_lower_the_loss() {
        course::graded!();
        let (train, _) = datasets::digits::train_test().expect("the digits ship with the course");
        let mut model = device(3).build_module::<ch03::DigitMlpLayers, f32>();
        let mut optimiser = Optimiser::new(ch03::GradientDescent, 0.1);
        let losses = ch03::train_digits::<32, _, _, _>(&mut model, &train, &mut optimiser, &0.1, 2, 1);
        let context = "train_digits (book section 3.10): 2 epochs, batch 32, gradient descent η = 0.1";
        course::check_eq!(
            losses.len(),
            2 * (train.len() / 32),
            "{context}: expected one loss per full mini-batch ({} per epoch)",
            train.len() / 32
        );
        course::check_eq!(
            optimiser.steps as usize,
            losses.len(),
            "{context}: expected one optimiser step per loss"
        );
        let mean = |values: &[f32]| values.iter().sum::<f32>() / values.len() as f32;
        let (first, last) = (mean(&losses[..10]), mean(&losses[losses.len() - 10..]));
        course::check!(
            first > 2.0,
            "{context}: the first losses average {first}, but an untrained network is near ln 10 = 2.3"
        );
        course::check!(
            last < 0.8 * first,
            "{context}: the loss fell only from {first} to {last} (expected below 80 %)"
        );
        assert_close(
            format!("{context}: learning rate left by the schedule"),
            optimiser.learning_rate,
            0.1,
            Tolerance::F32,
        );
    }
}

mod l2_penalty {
    use super::*;

    /// Section 3.11's worked example: with gradient descent the penalty is a decay,
    /// w = 1, g = 0.5, λ = 0.1, η = 0.1 → 1 − 0.1·(0.5 + 0.1) = 0.94; with Adam a weight
    /// whose loss gradient is 0 still moves by about η: 1 → 0.9.
    #[test]
    fn the_worked_example() {
        course::graded!();
        let descent = ch03::L2Penalty { rule: ch03::GradientDescent, lambda: 0.1 };
        let mut w = 1.0f32;
        descent.update(0.1, 1, &mut w, 0.5, &mut ());
        assert_close(
            "l2_penalty (book section 3.11): gradient descent, w = 1, g = 0.5",
            w,
            0.94,
            Tolerance::F32,
        );
        let adam = ch03::L2Penalty { rule: ch03::Adam::default(), lambda: 0.1 };
        let (mut w, mut state) = (1.0f32, adam.initial_state());
        adam.update(0.1, 1, &mut w, 0.0, &mut state);
        assert_close("l2_penalty (book section 3.11): Adam, w = 1, g = 0", w, 0.9, Tolerance::F32);
    }
}

mod decoupled_weight_decay {
    use super::*;

    /// Section 3.11's worked example: the same two steps with decoupled decay. Gradient
    /// descent gives 0.94 as with the penalty; Adam leaves the step at 0 and decays w by
    /// η·λ = 1 %: 0.99.
    #[test]
    fn the_worked_example() {
        course::graded!();
        let descent = ch03::DecoupledDecay { rule: ch03::GradientDescent, lambda: 0.1 };
        let mut w = 1.0f32;
        descent.update(0.1, 1, &mut w, 0.5, &mut ());
        assert_close(
            "decoupled_weight_decay (book section 3.11): gradient descent, w = 1, g = 0.5",
            w,
            0.94,
            Tolerance::F32,
        );
        let adam = ch03::DecoupledDecay { rule: ch03::Adam::default(), lambda: 0.1 };
        let (mut w, mut state) = (1.0f32, adam.initial_state());
        adam.update(0.1, 1, &mut w, 0.0, &mut state);
        assert_close(
            "decoupled_weight_decay (book section 3.11): Adam, w = 1, g = 0",
            w,
            0.99,
            Tolerance::F32,
        );
    }
}

mod early_stopping {
    use super::*;

    /// Section 3.11's worked example: patience 2 on the validation losses 0.9, 0.7, 0.72,
    /// 0.69, 0.71, 0.70 stops after epoch 6, with the best loss 0.69 after epoch 4.
    #[test]
    fn the_worked_example() {
        course::graded!();
        let mut stopping = ch03::EarlyStopping::new(2);
        let decisions: Vec<bool> =
            [0.9, 0.7, 0.72, 0.69, 0.71, 0.70].iter().map(|&l| stopping.observe(l)).collect();
        course::check_eq!(
            decisions,
            [false, false, false, false, false, true],
            "early_stopping (book section 3.11): patience 2, losses 0.9, 0.7, 0.72, 0.69, 0.71, 0.70"
        );
        course::check_eq!(
            stopping.best(),
            Some((0.69, 4)),
            "early_stopping (book section 3.11): the best epoch"
        );
    }
}

mod search_settings {
    use super::*;

    /// A learning rate of 0 learns nothing, so its validation loss never improves on its
    /// first epoch: early stopping (patience 2) ends it after epoch 3. Adam at 0.01 keeps
    /// improving for 3 epochs and is chosen.
    #[test]
    fn a_rate_of_zero_loses() {
        course::graded!();
        let (fit, val, _) = datasets::digits::train_val_test().expect("the digits ship with the course");
        let grid = [
            ch03::Setting { learning_rate: 0.0, weight_decay: 0.0 },
            ch03::Setting { learning_rate: 0.01, weight_decay: 0.0 },
        ];
        let config = ch03::SearchConfig { max_epochs: 3, patience: 2, seed: 1 };
        let result = ch03::search_settings(&fit, &val, &grid, &config);
        let context = "search_settings (book section 3.11): η = 0 and η = 0.01, 3 epochs, patience 2";
        course::check_eq!(result.rows.len(), 2, "{context}: one row per setting");
        course::check_eq!(result.best, 1, "{context}: the chosen row");
        let (zero, adam) = (result.rows[0], result.rows[1]);
        course::check_eq!(
            (zero.best_epoch, zero.epochs_run),
            (1, 3),
            "{context}: η = 0's (best_epoch, epochs_run)"
        );
        course::check_eq!(
            (adam.best_epoch, adam.epochs_run),
            (3, 3),
            "{context}: η = 0.01's (best_epoch, epochs_run)"
        );
        course::check!(
            adam.val.accuracy > 0.9 && zero.val.accuracy < 0.3,
            "{context}: validation accuracies {} (η = 0) and {} (η = 0.01)",
            zero.val.accuracy,
            adam.val.accuracy
        );
    }
}
