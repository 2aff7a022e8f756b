//! Chapter 2's figures.

use std::path::Path;

use courselib::device::{device, Dev};
use courselib::plot::{self, Panel, Series};
use dfdx::prelude::*;
use solutions::ch02_backprop as ch02;

use crate::{Figure, Result};

pub const FIGURES: &[(&str, Figure)] =
    &[("ch02/mlp-training.png", mlp_training), ("ch02/gradient-check.png", gradient_check)];

/// Training loss and test accuracy per epoch of the chapter 2 network on digits.
fn mlp_training(path: &Path) -> Result {
    let (train, test) = datasets::digits::train_test()?;
    let config = ch02::TrainConfig::default();
    let (_, history) = ch02::train_mlp::<64, _>(&device(0), &train, &test, &config);
    let points =
        |f: fn(&ch02::EpochStats) -> f32| history.iter().map(|s| (s.epoch as f64, f64::from(f(s)))).collect();
    let panels = [
        Panel {
            title: "mean training loss (NLL)".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![Series { label: String::new(), points: points(|s| s.train_loss) }],
        },
        Panel {
            title: "test accuracy".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: vec![
                Series { label: "64 hidden units".into(), points: points(|s| s.test_accuracy) },
                Series { label: "bar: 95 %".into(), points: vec![(1.0, 0.95), (config.epochs as f64, 0.95)] },
            ],
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
