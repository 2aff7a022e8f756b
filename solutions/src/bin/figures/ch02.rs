//! Chapter 2's figures.

use std::path::Path;

use courselib::device::{device, Dev};
use courselib::plot::{self, Panel, Series};
use dfdx::prelude::*;
use solutions::ch02_backprop as ch02;

use crate::{Figure, Result};

pub const FIGURES: &[(&str, Figure)] =
    &[("ch02/mlp-training.png", mlp_training), ("ch02/gradient-check.png", gradient_check)];

/// The learning rates of the search in section 2.7: a factor of about 3 apart.
const LEARNING_RATES: [f32; 5] = [0.01, 0.03, 0.1, 0.3, 1.0];

/// Training loss and validation accuracy per epoch of the chapter 2 network on digits, for
/// each learning rate of the search (fit on `digits-fit`, measured on `digits-val`; the
/// test set is not read).
fn mlp_training(path: &Path) -> Result {
    let (fit, val, _) = datasets::digits::train_val_test()?;
    let default = ch02::TrainConfig::default();
    let runs: Vec<(f32, Vec<ch02::EpochStats>)> = LEARNING_RATES
        .iter()
        .map(|&learning_rate| {
            let config = ch02::TrainConfig { learning_rate, ..default.clone() };
            (learning_rate, ch02::train_mlp::<64, _>(&device(0), &fit, &val, &config).1)
        })
        .collect();
    // The accuracy panel's legend gives each rate's validation accuracy after the last epoch.
    let curves = |f: fn(&ch02::EpochStats) -> f32, with_accuracy: bool| -> Vec<Series> {
        runs.iter()
            .map(|(rate, history)| {
                let last = history.last().expect("at least one epoch");
                let accuracy = format!(": {:.1} %", 100.0 * last.val_accuracy);
                Series {
                    label: format!("η = {rate}{}", if with_accuracy { accuracy.as_str() } else { "" }),
                    points: history.iter().map(|s| (s.epoch as f64, f64::from(f(s)))).collect(),
                }
            })
            .collect()
    };
    let panels = [
        Panel {
            title: "mean training loss (NLL)".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: curves(|s| s.train_loss, false),
        },
        Panel {
            title: format!("validation accuracy ({} images)", val.len()),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: curves(|s| s.val_accuracy, true),
        },
    ];
    plot::line_charts(path, &panels, 520, 400)?;
    Ok(())
}

/// Every gradient entry of a small network: hand-written backward pass against central
/// finite differences.
fn gradient_check(path: &Path) -> Result {
    type Mlp = ch02::TwoLayerMlp<5, 7, 3, f64, Dev>;
    let dev = device(0);
    let mlp = Mlp::new(&dev, 42);
    let x: Tensor<Rank2<4, 5>, f64, Dev> = dev.sample_normal();
    let labels = [0, 2, 1, 2];
    let (_, grads) = mlp.loss_and_gradients(&x, &labels);
    let loss = |m: &Mlp| ch02::softmax_nll_loss(&m.forward(&x).logits, &labels);
    let eps = 1e-6;
    let numeric = [
        courselib::gradcheck::numerical_gradient(
            |t| loss(&Mlp { w1: t.clone(), ..mlp.clone() }),
            &mlp.w1,
            eps,
        )
        .as_vec(),
        courselib::gradcheck::numerical_gradient(
            |t| loss(&Mlp { b1: t.clone(), ..mlp.clone() }),
            &mlp.b1,
            eps,
        )
        .as_vec(),
        courselib::gradcheck::numerical_gradient(
            |t| loss(&Mlp { w2: t.clone(), ..mlp.clone() }),
            &mlp.w2,
            eps,
        )
        .as_vec(),
        courselib::gradcheck::numerical_gradient(
            |t| loss(&Mlp { b2: t.clone(), ..mlp.clone() }),
            &mlp.b2,
            eps,
        )
        .as_vec(),
    ];
    let hand = [grads.w1.as_vec(), grads.b1.as_vec(), grads.w2.as_vec(), grads.b2.as_vec()];
    let points: Vec<(f64, f64)> =
        numeric.iter().flatten().copied().zip(hand.iter().flatten().copied()).collect();
    let error = courselib::gradcheck::max_relative_error(&hand.concat(), &numeric.concat());
    plot::scatter_against_diagonal(
        path,
        &format!("{} gradient entries, max relative error {error:.1e}", points.len()),
        "finite differences (f64, eps = 1e-6)",
        "hand-written backward pass",
        &points,
    )?;
    Ok(())
}
