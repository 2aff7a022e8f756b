//! Chapter 4's figures.

use std::path::Path;

use courselib::device::{device, Dev};
use courselib::plot::{self, Panel, Series};
use dfdx::prelude::*;
use solutions::ch04_activations::{self as ch04, Activation};

use crate::{Figure, Result};

pub const FIGURES: &[(&str, Figure)] = &[
    ("ch04/activations.png", activations),
    ("ch04/gradient-norms.png", gradient_norms),
    ("ch04/dying-relu.png", dying_relu),
    ("ch04/activation-statistics.png", activation_statistics),
];

/// The four activations, α = 0.1 for leaky ReLU.
const ACTIVATIONS: [Activation; 4] =
    [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::LeakyRelu(0.1)];

/// Sigmoid, tanh, ReLU and leaky ReLU on [-5, 5] (left) and their derivatives (right).
fn activations(path: &Path) -> Result {
    const POINTS: usize = 401;
    let xs: Vec<f64> = (0..POINTS).map(|i| -5.0 + 10.0 * i as f64 / (POINTS - 1) as f64).collect();
    let x = device(0).tensor_from_vec(xs.clone(), (Const::<POINTS>,));
    let curve = |values: Vec<f64>, activation: Activation| Series {
        label: activation.name(),
        points: xs.iter().copied().zip(values).collect(),
    };
    let panels = [
        Panel {
            title: "activation f(x)".into(),
            x_label: "x".into(),
            y_label: "f(x)".into(),
            series: ACTIVATIONS.iter().map(|&a| curve(a.apply(x.clone()).as_vec(), a)).collect(),
        },
        Panel {
            title: "derivative f'(x)".into(),
            x_label: "x".into(),
            y_label: "f'(x)".into(),
            series: ACTIVATIONS.iter().map(|&a| curve(a.derivative(&x).as_vec(), a)).collect(),
        },
    ];
    plot::line_charts(path, &panels, 520, 400)?;
    Ok(())
}

/// log10 of the weight-gradient norm per layer of the 10-layer network, per activation.
fn gradient_norms(path: &Path) -> Result {
    let dev = device(0);
    let net = ch04::DeepMlp::<32, f32, Dev>::new(&dev, ch04::DEPTH, 1);
    let (x, labels) = ch04::synthetic_batch::<64, 32, Dev>(&dev, 1);
    let series = [Activation::Sigmoid, Activation::Tanh, Activation::Relu]
        .iter()
        .map(|&activation| Series {
            label: activation.name(),
            points: ch04::layer_gradient_norms(&net, activation, &x, &labels)
                .iter()
                .enumerate()
                .map(|(layer, norm)| ((layer + 1) as f64, f64::from(norm.log10())))
                .collect(),
        })
        .collect();
    let panel = Panel {
        title: format!("{}-layer network, width 32, He initialisation", ch04::DEPTH),
        x_label: "layer (1 = input side)".into(),
        y_label: "log10 of the weight-gradient norm".into(),
        series,
    };
    plot::line_charts(path, &[panel], 640, 420)?;
    Ok(())
}

/// The fraction of dead hidden units per step: one step with learning rate 20, then
/// ordinary steps, for ReLU and leaky ReLU.
fn dying_relu(path: &Path) -> Result {
    let (train, _) = datasets::digits::train_test()?;
    let config = ch04::DyingConfig::default();
    let series = [Activation::Relu, Activation::LeakyRelu(0.1), Activation::LeakyRelu(0.2)]
        .iter()
        .map(|&activation| Series {
            label: activation.name(),
            points: ch04::dying_relu_experiment::<64, _>(&device(0), &train, activation, &config)
                .iter()
                .enumerate()
                .map(|(step, &fraction)| (step as f64, f64::from(fraction)))
                .collect(),
        })
        .collect();
    let panel = Panel {
        title: format!(
            "64 hidden units on digits: step 1 at learning rate {}, then {}",
            config.big_learning_rate, config.learning_rate
        ),
        x_label: "SGD step".into(),
        y_label: "fraction of dead hidden units".into(),
        series,
    };
    plot::line_charts(path, &[panel], 640, 420)?;
    Ok(())
}

/// Width, depth and batch of the activation-statistics experiment (section 4.8).
pub const STATS_WIDTH: usize = 128;
pub const STATS_DEPTH: usize = 11;
pub const STATS_BATCH: usize = 256;

/// The scales of the activation-statistics figure: too small, too large, and the two rules.
pub const STATS_INITS: [ch04::Init; 4] =
    [ch04::Init::Std(0.01), ch04::Init::Std(1.0), ch04::Init::Xavier, ch04::Init::He];

/// The standard deviation of each hidden layer's activations (log10) in a 10-hidden-layer
/// tanh network and ReLU network of width 128, for each initial scale, on 256 inputs
/// uniform in [−1, 1).
fn activation_statistics(path: &Path) -> Result {
    let dev = device(0);
    let (x, _) = ch04::synthetic_batch::<STATS_BATCH, STATS_WIDTH, Dev>(&dev, 1);
    let panel = |activation: Activation| {
        let series = STATS_INITS
            .iter()
            .map(|&init| {
                let net = ch04::DeepMlp::<STATS_WIDTH, f32, Dev>::with_init(&dev, STATS_DEPTH, init, 1);
                let stats = ch04::activation_statistics(&net, activation, &x);
                let described: Vec<String> =
                    stats.iter().map(|s| format!("{:.3}/{:.3}", s.mean, s.std)).collect();
                println!("      {} {init:?}: mean/std per layer {}", activation.name(), described.join(" "));
                let label = match init {
                    ch04::Init::Std(std) => format!("σ = {std}"),
                    other => {
                        format!("{other:?} (σ = {:.3})", ch04::init_std(other, STATS_WIDTH, STATS_WIDTH))
                    }
                };
                Series {
                    label,
                    points: stats.iter().zip(1..).map(|(s, l)| (f64::from(l), s.std.log10())).collect(),
                }
            })
            .collect();
        Panel {
            title: format!("{}: activations' standard deviation", activation.name()),
            x_label: "hidden layer".into(),
            y_label: "log10 of the standard deviation".into(),
            series,
        }
    };
    plot::line_charts(path, &[panel(Activation::Tanh), panel(Activation::Relu)], 520, 420)?;
    Ok(())
}
