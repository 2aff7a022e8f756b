//! Chapter 5's figures.

use std::path::Path;

use courselib::plot::{self, Panel, Series};
use solutions::ch05_losses as ch05;

use crate::{Figure, Result};

pub const FIGURES: &[(&str, Figure)] = &[
    ("ch05/loss-shapes.png", loss_shapes),
    ("ch05/embedding-untrained.png", embedding_untrained),
    ("ch05/embedding-trained.png", embedding_trained),
    ("ch05/embedding-dimensions.png", embedding_dimensions),
];

/// The classification losses against the margin of the true class, and the regression
/// losses against the residual.
fn loss_shapes(path: &Path) -> Result {
    let grid = |lo: f64, hi: f64| (0..=200).map(move |i| lo + (hi - lo) * f64::from(i) / 200.0);
    let curve = |label: &str, xs: Vec<f64>, f: &dyn Fn(f64) -> f64| Series {
        label: label.into(),
        points: xs.into_iter().map(|x| (x, f(x))).collect(),
    };
    let margins: Vec<f64> = grid(-3.0, 3.0).collect();
    let residuals: Vec<f64> = grid(-3.0, 3.0).collect();
    let panels = [
        Panel {
            title: "two classes: loss against s_y − s_other".into(),
            x_label: "margin of the true class".into(),
            y_label: "loss".into(),
            series: vec![
                curve("cross-entropy ln(1 + e^−m)", margins.clone(), &|m| (-m).exp().ln_1p()),
                curve("hinge max(0, 1 − m)", margins.clone(), &|m| (1.0 - m).max(0.0)),
                curve("0-1 error", margins, &|m| if m < 0.0 { 1.0 } else { 0.0 }),
            ],
        },
        Panel {
            title: "regression: loss against the residual".into(),
            x_label: "residual x − y".into(),
            y_label: "loss".into(),
            series: vec![
                curve("L1 |r|", residuals.clone(), &|r| r.abs()),
                curve("L2 r²", residuals, &|r| r * r),
            ],
        },
    ];
    plot::line_charts(path, &panels, 560, 420)?;
    Ok(())
}

/// The first two principal components of the rows of `points` (power iteration on the
/// covariance matrix, deflated after the first): the 2-D coordinates of every point.
fn project_2d<const N: usize>(points: &[[f32; N]]) -> Vec<(f64, f64)> {
    let count = points.len() as f64;
    let mean: Vec<f64> =
        (0..N).map(|k| points.iter().map(|p| f64::from(p[k])).sum::<f64>() / count).collect();
    let centred: Vec<Vec<f64>> =
        points.iter().map(|p| (0..N).map(|k| f64::from(p[k]) - mean[k]).collect()).collect();
    let mut covariance = vec![vec![0.0; N]; N];
    for p in &centred {
        for i in 0..N {
            for j in 0..N {
                covariance[i][j] += p[i] * p[j] / count;
            }
        }
    }
    let mut components: Vec<Vec<f64>> = Vec::new();
    for _ in 0..2 {
        let mut v: Vec<f64> = (0..N).map(|k| 1.0 + k as f64 / N as f64).collect();
        for _ in 0..500 {
            let mut next: Vec<f64> = (0..N).map(|i| (0..N).map(|j| covariance[i][j] * v[j]).sum()).collect();
            for c in &components {
                let along: f64 = next.iter().zip(c).map(|(a, b)| a * b).sum();
                next.iter_mut().zip(c).for_each(|(a, b)| *a -= along * b);
            }
            let norm = next.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
            v = next.into_iter().map(|a| a / norm).collect();
        }
        components.push(v);
    }
    let dot = |p: &[f64], c: &[f64]| p.iter().zip(c).map(|(a, b)| a * b).sum::<f64>();
    centred.iter().map(|p| (dot(p, &components[0]), dot(p, &components[1]))).collect()
}

/// The validation images' embeddings by a network trained on the fit part for `epochs`,
/// projected to 2-D and coloured by digit; the title gives their nearest-neighbour
/// accuracy against the fit part's embeddings. (The test set is read once, by the hidden
/// test, for the network trained on the whole training part.)
fn embedding_scatter(path: &Path, epochs: usize) -> Result {
    let (fit, val, _) = datasets::digits::train_val_test()?;
    let config = ch05::TripletConfig { epochs, ..Default::default() };
    let (model, _) = ch05::train_triplet_embedding::<16>(&fit, &config);
    let labels = |set: &datasets::ImageSet| (0..set.len()).map(|i| set.label(i)).collect::<Vec<_>>();
    let (fit_embeddings, val_embeddings) = (ch05::embed(&model, &fit), ch05::embed(&model, &val));
    let accuracy =
        ch05::nearest_neighbour_accuracy(&fit_embeddings, &labels(&fit), &val_embeddings, &labels(&val));
    let pixels = |set: &datasets::ImageSet| -> Vec<[f32; 64]> {
        (0..set.len()).map(|i| std::array::from_fn(|k| f32::from(set.image(i)[k]))).collect()
    };
    let raw = ch05::nearest_neighbour_accuracy(&pixels(&fit), &labels(&fit), &pixels(&val), &labels(&val));
    println!(
        "      {epochs} epochs: validation accuracy {:.1} % ({} of {}); raw pixels {:.1} %",
        100.0 * accuracy,
        (accuracy * val.len() as f32).round(),
        val.len(),
        100.0 * raw
    );
    let projected = project_2d(&val_embeddings);
    let groups: Vec<Series> = (0..ch05::DIGIT_CLASSES)
        .map(|digit| Series {
            label: digit.to_string(),
            points: projected
                .iter()
                .zip(labels(&val))
                .filter(|(_, l)| *l == digit)
                .map(|(p, _)| *p)
                .collect(),
        })
        .collect();
    let title = format!(
        "{} epochs: validation embeddings, nearest-neighbour accuracy {:.1} %",
        epochs,
        100.0 * accuracy
    );
    plot::scatter_groups(path, &title, "first principal component", "second principal component", &groups)?;
    Ok(())
}

fn embedding_untrained(path: &Path) -> Result {
    embedding_scatter(path, 0)
}

fn embedding_trained(path: &Path) -> Result {
    embedding_scatter(path, ch05::TripletConfig::default().epochs)
}

/// What [`train_and_validate`] measures.
struct DimensionRun {
    epoch_losses: Vec<f32>,
    /// Nearest-neighbour accuracy of the validation images against the fit part.
    accuracy: f32,
    /// Mean squared distance between two validation images' embeddings: near 0 when the
    /// embedding has collapsed.
    spread: f32,
}

/// Trains an `N`-D embedding on `fit` with the default configuration and measures it on
/// `val`.
fn train_and_validate<const N: usize>(fit: &datasets::ImageSet, val: &datasets::ImageSet) -> DimensionRun {
    let (model, epoch_losses) = ch05::train_triplet_embedding::<N>(fit, &ch05::TripletConfig::default());
    let labels = |set: &datasets::ImageSet| (0..set.len()).map(|i| set.label(i)).collect::<Vec<_>>();
    let val_embeddings = ch05::embed(&model, val);
    let accuracy = ch05::nearest_neighbour_accuracy(
        &ch05::embed(&model, fit),
        &labels(fit),
        &val_embeddings,
        &labels(val),
    );
    let (mut total, mut pairs) = (0.0, 0);
    for (i, a) in val_embeddings.iter().enumerate() {
        for b in &val_embeddings[i + 1..] {
            total += a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum::<f32>();
            pairs += 1;
        }
    }
    DimensionRun { epoch_losses, accuracy, spread: total / pairs as f32 }
}

/// The loss per epoch of the embedding network trained to 2, 4, 8, 16 and 32 dimensions
/// (the default configuration, fit part), with each one's validation accuracy and spread.
fn embedding_dimensions(path: &Path) -> Result {
    let (fit, val, _) = datasets::digits::train_val_test()?;
    let runs = [
        (2, train_and_validate::<2>(&fit, &val)),
        (4, train_and_validate::<4>(&fit, &val)),
        (8, train_and_validate::<8>(&fit, &val)),
        (16, train_and_validate::<16>(&fit, &val)),
        (32, train_and_validate::<32>(&fit, &val)),
    ];
    let series = runs
        .iter()
        .map(|(dimensions, run)| {
            let label =
                format!("{dimensions}-D: validation {:.1} %, spread {:.3}", 100.0 * run.accuracy, run.spread);
            let shown: Vec<String> = run.epoch_losses.iter().map(|l| format!("{l:.3}")).collect();
            println!("      {label}; losses {}", shown.join(" "));
            let points = run.epoch_losses.iter().enumerate().map(|(e, &l)| ((e + 1) as f64, f64::from(l)));
            Series { label, points: points.collect() }
        })
        .collect();
    let panel = Panel {
        title: "batch-hard triplet loss by embedding dimension (margin 0.2)".into(),
        x_label: "epoch".into(),
        y_label: "mean batch loss".into(),
        series,
    };
    plot::line_charts_with_legend(path, &[panel], (760, 440), plot::SeriesLabelPosition::LowerLeft)?;
    Ok(())
}
