//! Visible tests of chapter 5: loss functions.

use course::check::{assert_all_close, assert_close, Tolerance};
use courselib::device::{device, Dev};
use dfdx::prelude::*;
use subject::ch05_losses as ch05;

/// The worked example's logits `(1, 2, 3)` as probabilities: `(0.0900, 0.2447, 0.6652)`.
fn softmax_123() -> [f64; 3] {
    let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).sum();
    [1.0f64.exp() / z, 2.0f64.exp() / z, 3.0f64.exp() / z]
}

mod log_softmax {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let got = ch05::log_softmax(dev.tensor([[1.0f32, 2.0, 3.0], [1e4, 0.0, -1e4]]));
        let want: Vec<f64> = softmax_123().iter().map(|p| p.ln()).chain([0.0, -1e4, -2e4]).collect();
        assert_all_close(
            "log_softmax (book section 5.2): rows (1, 2, 3) and (1e4, 0, -1e4)",
            &got.as_vec(),
            &want,
            Tolerance::F32,
        );
    }
}

mod cross_entropy {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let logits = dev.tensor([[1.0f32, 2.0, 3.0], [1.0, 2.0, 3.0]]);
        let one_hot = ch05::one_hot_targets(&dev, &[2, 0], 0.0);
        let loss = ch05::cross_entropy(logits.clone(), &one_hot).array();
        // The same numbers as section 2.4: the mean of 0.4076 and 2.4076.
        assert_close(
            "cross_entropy (book section 5.2): one-hot labels 2 and 0",
            loss,
            1.4076059644,
            Tolerance::F32,
        );
        let smoothed = ch05::one_hot_targets(&dev, &[2, 2], 0.1);
        let loss = ch05::cross_entropy(logits, &smoothed).array();
        assert_close(
            "cross_entropy (book section 5.2): label 2 smoothed by 0.1, q = (1/30, 1/30, 28/30)",
            loss,
            0.5076059644,
            Tolerance::F32,
        );
    }

    #[test]
    fn logits_of_1e4_give_a_finite_loss() {
        course::graded!();
        let dev = device(0);
        let logits = dev.tensor([[1e4f32, 0.0, -1e4]]);
        let loss = ch05::cross_entropy(logits, &ch05::one_hot_targets(&dev, &[1], 0.0)).array();
        assert_close(
            "cross_entropy (book section 5.2): logits (1e4, 0, -1e4), label 1",
            loss,
            1e4,
            Tolerance::F32,
        );
    }
}

mod cross_entropy_gradient {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let logits = dev.tensor([[1.0f64, 2.0, 3.0]]);
        let targets = ch05::one_hot_targets(&dev, &[2], 0.1);
        let got = ch05::cross_entropy_gradient(&logits, &targets);
        let q = [0.1 / 3.0, 0.1 / 3.0, 0.9 + 0.1 / 3.0];
        let want: Vec<f64> = softmax_123().iter().zip(q).map(|(p, q)| p - q).collect();
        assert_all_close(
            "cross_entropy_gradient (book section 5.2): p - q for logits (1, 2, 3), label 2 smoothed by 0.1",
            &got.as_vec(),
            &want,
            Tolerance::F64,
        );
    }
}

mod multiclass_hinge {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let dev = device(0);
        let scores = dev.tensor([[3.2f32, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]);
        let loss = ch05::multiclass_hinge(scores, &[0, 1, 2], 1.0).array();
        assert_close(
            "multiclass_hinge (book section 5.3): per-sample losses 2.9, 0 and 12.9, mean 5.2667",
            loss,
            15.8 / 3.0,
            Tolerance::F32,
        );
    }

    #[test]
    fn zero_when_the_true_score_wins_by_the_margin() {
        course::graded!();
        let dev = device(0);
        let scores = dev.tensor([[5.0f32, 3.0, 4.0], [0.0, -1.0, 1.0]]);
        let loss = ch05::multiclass_hinge(scores, &[0, 2], 1.0).array();
        assert_close(
            "multiclass_hinge (book section 5.3): every true score is ahead by at least the margin 1",
            loss,
            0.0,
            Tolerance::F32,
        );
    }
}

/// The worked example of section 5.4: one outlier among four residuals.
fn regression_example() -> (Tensor<Rank1<4>, f32, Dev>, Tensor<Rank1<4>, f32, Dev>) {
    let dev = device(0);
    (dev.tensor([1.0f32, 2.0, 3.0, 10.0]), dev.tensor([1.5f32, 2.0, 2.0, 4.0]))
}

mod l1_loss {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let (prediction, target) = regression_example();
        let loss = ch05::l1_loss(prediction, &target).array();
        assert_close("l1_loss (book section 5.4): residuals -0.5, 0, 1, 6", loss, 1.875, Tolerance::F32);
    }
}

mod l2_loss {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let (prediction, target) = regression_example();
        let loss = ch05::l2_loss(prediction, &target).array();
        assert_close("l2_loss (book section 5.4): residuals -0.5, 0, 1, 6", loss, 9.3125, Tolerance::F32);
    }
}

/// The worked example of section 5.5: two triplets in the plane.
type Plane = Tensor<Rank2<2, 2>, f64, Dev>;
fn triplet_example() -> (Plane, Plane, Plane) {
    let dev = device(0);
    (
        dev.tensor([[0.0, 0.0], [0.0, 0.0]]),
        dev.tensor([[1.0, 0.0], [2.0, 0.0]]),
        dev.tensor([[0.0, 2.0], [1.0, 1.0]]),
    )
}

mod triplet_loss {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let (a, p, n) = triplet_example();
        let loss = ch05::triplet_loss(a, p, n, 0.2).array();
        assert_close(
            "triplet_loss (book section 5.5): hinges max(0, 1 - 4 + 0.2) = 0 and max(0, 4 - 2 + 0.2) = 2.2",
            loss,
            1.1,
            Tolerance::F64,
        );
    }
}

mod triplet_gradient {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let (a, p, n) = triplet_example();
        let grads = ch05::triplet_gradient(&a, &p, &n, 0.2);
        let context = "triplet_gradient (book section 5.5): the first triplet is inactive, the second active";
        for (name, got, want) in [
            ("dL/da", grads.anchor.as_vec(), [0.0, 0.0, -1.0, 1.0]),
            ("dL/dp", grads.positive.as_vec(), [0.0, 0.0, 2.0, 0.0]),
            ("dL/dn", grads.negative.as_vec(), [0.0, 0.0, -1.0, -1.0]),
        ] {
            assert_all_close(format!("{context}: {name}"), &got, &want, Tolerance::F64);
        }
    }
}

mod batch_hard_triplet_loss {
    use super::*;

    #[test]
    fn picks_the_hardest_pairs_of_the_book_example() {
        course::graded!();
        let dev = device(0);
        let x = dev.tensor([[0.0f64, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [4.0, 0.0], [10.0, 10.0]]);
        let loss = ch05::batch_hard_triplet_loss(x, &[0, 0, 0, 1, 1, 2], 1.0).array();
        assert_close(
            "batch_hard_triplet_loss (book section 5.6): hinges 6, 0, 9, 17, 20 for anchors 0-4; \
             anchor 5 has no positive and is left out",
            loss,
            10.4,
            Tolerance::F64,
        );
    }
}

mod nearest_neighbour_accuracy {
    use super::*;

    #[test]
    fn worked_example_of_the_book() {
        course::graded!();
        let references = [[0.0f32], [1.0], [5.0]];
        let queries = [[0.4f32], [4.0], [3.0], [3.1]];
        let accuracy = ch05::nearest_neighbour_accuracy(&references, &[0, 0, 1], &queries, &[0, 1, 0, 0]);
        assert_close(
            "nearest_neighbour_accuracy (book section 5.7): 3 of 4 right (3.0 is as near to 1 as to 5: the first counts)",
            accuracy,
            0.75,
            Tolerance::F32,
        );
    }
}

mod train_triplet_embedding {
    use super::*;

    #[test]
    fn three_epochs_lower_the_loss() {
        course::graded!();
        let (train, _) = datasets::digits::train_test().expect("the digits dataset loads");
        let config = ch05::TripletConfig { epochs: 3, ..Default::default() };
        let (_, losses) = ch05::train_triplet_embedding::<16>(&train, &config);
        let context = "train_triplet_embedding (book section 5.7): 3 epochs";
        course::check_eq!(losses.len(), 3, "{context}: one mean loss per epoch, got {losses:?}");
        course::check!(
            losses.iter().all(|l| l.is_finite()) && losses[2] < 0.9 * losses[0],
            "{context}: the third epoch's loss should be below 90 % of the first's, got {losses:?}"
        );
    }
}
