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
    ("ch03/weight-decay.png", weight_decay),
    ("ch03/search.png", search),
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

/// The decay strengths of the weight-decay figure.
const DECAYS: [f32; 5] = [0.0, 0.01, 0.1, 0.3, 1.0];

/// Adam's rate in the weight-decay figure.
const DECAY_RATE: f32 = 3e-3;

/// `rule` at η = 0.003 for 20 epochs on `fit` from device(1)'s weights: the first layer's
/// weight norm and the accuracy on `val`.
fn decay_run<R: UpdateRule>(rule: R, fit: &datasets::ImageSet, val: &datasets::ImageSet) -> (f64, f64) {
    let mut model = device(1).build_module::<ch03::DigitMlpLayers, f32>();
    let mut optimiser = Optimiser::new(rule, DECAY_RATE);
    ch03::train_digits::<BATCH, _, _, _>(&mut model, fit, &mut optimiser, &DECAY_RATE, EPOCHS, 1);
    let norm = model.0.weight.as_vec().iter().map(|w| f64::from(w * w)).sum::<f64>().sqrt();
    (norm, f64::from(ch03::digit_accuracy(&model, val)))
}

/// The L2 penalty and decoupled weight decay around Adam (η = 0.003, 20 epochs on the fit
/// part, the same start): the first layer's weight norm and the validation accuracy
/// against λ.
fn weight_decay(path: &Path) -> Result {
    let (fit, val, _) = datasets::digits::train_val_test()?;
    let adam = ch03::Adam::default();
    let runs = DECAYS.map(|lambda| {
        let l2 = decay_run(ch03::L2Penalty { rule: adam, lambda }, &fit, &val);
        let decoupled = decay_run(ch03::DecoupledDecay { rule: adam, lambda }, &fit, &val);
        println!(
            "      λ = {lambda}: L2 ‖W1‖ {:.2}, val {:.1} %; decoupled ‖W1‖ {:.2}, val {:.1} %",
            l2.0,
            100.0 * l2.1,
            decoupled.0,
            100.0 * decoupled.1
        );
        (f64::from(lambda), l2, decoupled)
    });
    // λ = 0 has no logarithm: it is drawn at 10^-2.5, left of the smallest λ.
    let x = |lambda: f64| if lambda == 0.0 { -2.5 } else { lambda.log10() };
    let series = |pick: fn(&(f64, f64)) -> f64| -> Vec<Series> {
        vec![
            Series {
                label: "L2 penalty (Adam)".into(),
                points: runs.iter().map(|r| (x(r.0), pick(&r.1))).collect(),
            },
            Series {
                label: "decoupled decay (AdamW)".into(),
                points: runs.iter().map(|r| (x(r.0), pick(&r.2))).collect(),
            },
        ]
    };
    let panels = [
        Panel {
            title: "first layer's weight norm after 20 epochs".into(),
            x_label: "log10 λ (λ = 0 at −2.5)".into(),
            y_label: "‖W1‖".into(),
            series: series(|r| r.0),
        },
        Panel {
            title: "validation accuracy after 20 epochs".into(),
            x_label: "log10 λ (λ = 0 at −2.5)".into(),
            y_label: "accuracy".into(),
            series: series(|r| r.1),
        },
    ];
    plot::line_charts(path, &panels, 520, 400)?;
    Ok(())
}

/// Section 3.11's search on the validation set: the validation loss and accuracy at each
/// setting's best epoch, against log10 η, one line per weight decay.
fn search(path: &Path) -> Result {
    let (fit, val, _) = datasets::digits::train_val_test()?;
    let result = ch03::search_settings(&fit, &val, &ch03::book_grid(), &ch03::SearchConfig::BOOK);
    let mut decays: Vec<f32> = result.rows.iter().map(|r| r.setting.weight_decay).collect();
    decays.sort_by(f32::total_cmp);
    decays.dedup();
    let series = |pick: fn(&ch03::SearchRow) -> f64| {
        decays
            .iter()
            .map(|&lambda| Series {
                label: format!("λ = {lambda}"),
                points: result
                    .rows
                    .iter()
                    .filter(|r| r.setting.weight_decay == lambda)
                    .map(|r| (f64::from(r.setting.learning_rate).log10(), pick(r)))
                    .collect(),
            })
            .collect()
    };
    let panels = [
        Panel {
            title: "validation loss at the best epoch".into(),
            x_label: "log10 η".into(),
            y_label: "cross-entropy".into(),
            series: series(|r| f64::from(r.val.loss)),
        },
        Panel {
            title: "validation accuracy at the best epoch".into(),
            x_label: "log10 η".into(),
            y_label: "accuracy".into(),
            series: series(|r| f64::from(r.val.accuracy)),
        },
    ];
    for (k, row) in result.rows.iter().enumerate() {
        let chosen = if k == result.best { "  <- chosen" } else { "" };
        println!(
            "      η = {}, λ = {}: best epoch {} of {}, loss {:.4}, accuracy {:.1} %{chosen}",
            row.setting.learning_rate,
            row.setting.weight_decay,
            row.best_epoch,
            row.epochs_run,
            row.val.loss,
            100.0 * row.val.accuracy
        );
    }
    plot::line_charts(path, &panels, 520, 400)?;
    Ok(())
}
