//! Chapter 3's figures.

use std::path::Path;

use courselib::device::device;
use courselib::optim::{LearningRateSchedule, Optimiser, UpdateRule};
use courselib::plot::{self, Panel, Series};
use dfdx::prelude::*;
use solutions::ch03_optimisers::{self as ch03, RaceEntry};

use crate::{Figure, Result};

pub const FIGURES: &[(&str, Figure)] = &[
    ("ch03/ravine-paths.png", ravine_paths),
    ("ch03/digits-loss.png", digits_loss),
    ("ch03/schedules.png", schedules),
];

/// Level lines of the ravine, `f = c` for each `c` in `levels`: ellipses around the origin.
fn ravine_levels(levels: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let (sin, cos) = f64::from(ch03::RAVINE_ANGLE).sin_cos();
    let [along, across] = ch03::RAVINE_CURVATURE.map(f64::from);
    levels
        .iter()
        .map(|&c| {
            (0..=200)
                .map(|k| {
                    let t = std::f64::consts::TAU * f64::from(k) / 200.0;
                    let (u, v) = ((2.0 * c / along).sqrt() * t.cos(), (2.0 * c / across).sqrt() * t.sin());
                    (u * cos - v * sin, u * sin + v * cos)
                })
                .collect()
        })
        .collect()
}

fn path_series(entry: &RaceEntry, steps: usize) -> Series {
    let reached = entry.steps.map_or("not within 2000".into(), |s| format!("{s} steps"));
    Series {
        label: format!("{} (η = {}): {reached}", entry.optimiser, entry.learning_rate),
        points: entry.path.iter().take(steps + 1).map(|p| (f64::from(p[0]), f64::from(p[1]))).collect(),
    }
}

/// The first 60 steps of every optimiser on the ravine, each at its best learning rate.
fn ravine_paths(path: &Path) -> Result {
    let race = ch03::ravine_race(&device(0), 1e-3, 2000);
    let panel = |title: &str, names: &[&str]| Panel {
        title: title.into(),
        x_label: "x".into(),
        y_label: "y".into(),
        series: race.iter().filter(|e| names.contains(&e.optimiser)).map(|e| path_series(e, 60)).collect(),
    };
    let panels = [
        panel("gradient descent", &["gradient descent"]),
        panel("momentum methods", &["momentum 0.9", "Nesterov 0.9"]),
        panel("Adagrad and Adadelta", &["Adagrad", "Adadelta"]),
        panel("RMSProp and Adam", &["RMSProp", "Adam"]),
    ];
    let levels = ravine_levels(&[0.001, 0.01, 0.05, 0.2, 0.5, 0.8]);
    plot::paths_over_backdrop(path, &panels, &levels, 2, (620, 460))?;
    Ok(())
}

const EPOCHS: usize = 20;
const BATCH: usize = 32;

/// Mean training loss per epoch of the digit MLP, starting from the same weights.
fn epoch_losses<R: UpdateRule>(
    rule: R,
    learning_rate: f32,
    schedule: &impl LearningRateSchedule,
) -> Vec<(f64, f64)> {
    let (train, _) = datasets::digits::train_test().expect("the digits ship with the course");
    let mut model = device(3).build_module::<ch03::DigitMlpLayers, f32>();
    let mut optimiser = Optimiser::new(rule, learning_rate);
    let losses =
        ch03::train_digits::<BATCH, _, _, _>(&mut model, &train, &mut optimiser, schedule, EPOCHS, 1);
    let per_epoch = losses.len() / EPOCHS;
    losses
        .chunks(per_epoch)
        .enumerate()
        .map(|(e, chunk)| {
            ((e + 1) as f64, chunk.iter().map(|&l| f64::from(l)).sum::<f64>() / chunk.len() as f64)
        })
        .collect()
}

fn log10_series(label: &str, points: Vec<(f64, f64)>) -> Series {
    Series { label: label.into(), points: points.into_iter().map(|(x, y)| (x, y.log10())).collect() }
}

/// Training-loss curves of the chapter 2 MLP on digits with every optimiser.
fn digits_loss(path: &Path) -> Result {
    let log_series = vec![
        log10_series("gradient descent, η = 0.1", epoch_losses(ch03::GradientDescent, 0.1, &0.1)),
        log10_series("momentum 0.9, η = 0.01", epoch_losses(ch03::Momentum { mu: 0.9 }, 0.01, &0.01)),
        log10_series("Nesterov 0.9, η = 0.01", epoch_losses(ch03::Nesterov { mu: 0.9 }, 0.01, &0.01)),
        log10_series("Adagrad, η = 0.03", epoch_losses(ch03::Adagrad::default(), 0.03, &0.03)),
        log10_series("Adadelta, η = 1", epoch_losses(ch03::Adadelta::default(), 1.0, &1.0)),
        log10_series("RMSProp, η = 0.001", epoch_losses(ch03::RmsProp::default(), 1e-3, &1e-3)),
        log10_series("Adam, η = 0.001", epoch_losses(ch03::Adam::default(), 1e-3, &1e-3)),
    ];
    let panels = [Panel {
        title: "digits: mean training loss per epoch (batch 32)".into(),
        x_label: "epoch".into(),
        y_label: "log10 of the cross-entropy".into(),
        series: log_series,
    }];
    plot::line_charts(path, &panels, 760, 520)?;
    Ok(())
}

/// Step and exponential annealing: the learning rates, and what they do to training.
fn schedules(path: &Path) -> Result {
    let constant = 0.5f32;
    let step = ch03::StepDecay { initial: 0.5, factor: 0.3, every: 5 };
    let exponential = ch03::ExponentialDecay { initial: 0.5, rate: 0.15 };
    let rates = |schedule: &dyn LearningRateSchedule| {
        (0..EPOCHS).map(|e| ((e + 1) as f64, f64::from(schedule.learning_rate(e)))).collect()
    };
    let panels = [
        Panel {
            title: "learning rate per epoch".into(),
            x_label: "epoch".into(),
            y_label: "η".into(),
            series: vec![
                Series { label: "constant 0.5".into(), points: rates(&constant) },
                Series { label: "step: ×0.3 every 5 epochs".into(), points: rates(&step) },
                Series { label: "exponential: 0.5·exp(−0.15·e)".into(), points: rates(&exponential) },
            ],
        },
        Panel {
            title: "gradient descent on digits".into(),
            x_label: "epoch".into(),
            y_label: "log10 of the mean training loss".into(),
            series: vec![
                log10_series("constant", epoch_losses(ch03::GradientDescent, constant, &constant)),
                log10_series("step", epoch_losses(ch03::GradientDescent, constant, &step)),
                log10_series("exponential", epoch_losses(ch03::GradientDescent, constant, &exponential)),
            ],
        },
    ];
    plot::line_charts(path, &panels, 520, 420)?;
    Ok(())
}
