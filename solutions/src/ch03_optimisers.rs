//! Chapter 3: learning with optimisers.
//!
//! Every optimiser of the lecture as a [`courselib::optim::UpdateRule`]: what happens to one
//! weight `w` with gradient `g` in one step. [`courselib::optim::Optimiser`] applies a rule
//! to every parameter of any dfdx model, so `Optimiser::new(Adam::default(), 1e-3)` trains
//! a `Linear` stack exactly as dfdx's own `Adam` does. Learning-rate schedules anneal the
//! step size over the epochs, and [`train_digits`] puts it all together: mini-batch SGD
//! on handwritten digits with any rule and any schedule.

use courselib::optim::{LearningRateSchedule, Optimiser, UpdateRule};
use datasets::ImageSet;
use dfdx::prelude::*;

// ANCHOR: gradient_descent
/// Gradient descent: `w ← w − η·g`.
///
/// Whether this is batch gradient descent or mini-batch SGD depends only on the gradient
/// it is given: of the loss over all training samples, or over a mini-batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct GradientDescent;

impl UpdateRule for GradientDescent {
    type State = ();

    fn update(&self, learning_rate: f32, _step: u32, w: &mut f32, g: f32, _state: &mut ()) {
        // BEGIN SOLUTION gradient_descent: step against the gradient, scaled by the learning rate
        *w -= learning_rate * g;
        // END SOLUTION
    }
}
// ANCHOR_END: gradient_descent

// ANCHOR: momentum
/// Gradient descent with momentum: the update `Δ` remembers the previous one,
/// `Δ ← μ·Δ − η·g`, then `w ← w + Δ`.
///
/// The state is `Δ`, zero before the first step.
#[derive(Clone, Copy, Debug)]
pub struct Momentum {
    /// How much of the previous update carries over, `μ`, about 0.9.
    pub mu: f32,
}

impl UpdateRule for Momentum {
    type State = f32;

    fn update(&self, learning_rate: f32, _step: u32, w: &mut f32, g: f32, delta: &mut f32) {
        // BEGIN SOLUTION momentum: decay the previous update, add the gradient step, apply it
        *delta = self.mu * *delta - learning_rate * g;
        *w += *delta;
        // END SOLUTION
    }
}
// ANCHOR_END: momentum

// ANCHOR: nesterov
/// Nesterov accelerated gradient: momentum that looks ahead.
///
/// Written for the look-ahead point `w̃ = w + μ·Δ`, which is what is stored and whose
/// gradient `g` the rule receives: `Δ ← μ·Δ − η·g`, then `w̃ ← w̃ + μ·Δ − η·g`.
/// The state is `Δ`, zero before the first step.
#[derive(Clone, Copy, Debug)]
pub struct Nesterov {
    /// The momentum `μ`, about 0.9.
    pub mu: f32,
}

impl UpdateRule for Nesterov {
    type State = f32;

    fn update(&self, learning_rate: f32, _step: u32, w: &mut f32, g: f32, delta: &mut f32) {
        // BEGIN SOLUTION nesterov: update the momentum as before, then step by μ·Δ − η·g from the look-ahead point
        *delta = self.mu * *delta - learning_rate * g;
        *w += self.mu * *delta - learning_rate * g;
        // END SOLUTION
    }
}
// ANCHOR_END: nesterov

// ANCHOR: adagrad
/// Adagrad: a learning rate per weight, shrinking with the sum of its squared gradients,
/// `G ← G + g²`, then `w ← w − η·g / √(G + ε)`.
///
/// The state is `G`, zero before the first step.
#[derive(Clone, Copy, Debug)]
pub struct Adagrad {
    /// Keeps the division finite while `G` is 0; about 1e-8.
    pub eps: f32,
}

impl Default for Adagrad {
    fn default() -> Self {
        Self { eps: 1e-8 }
    }
}

impl UpdateRule for Adagrad {
    type State = f32;

    fn update(&self, learning_rate: f32, _step: u32, w: &mut f32, g: f32, sum_of_squares: &mut f32) {
        // BEGIN SOLUTION adagrad: accumulate g², then scale the step by 1/√(G + ε)
        *sum_of_squares += g * g;
        *w -= learning_rate * g / (*sum_of_squares + self.eps).sqrt();
        // END SOLUTION
    }
}
// ANCHOR_END: adagrad

/// The two running averages of [`Adadelta`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AdadeltaState {
    /// `E[g²]`: the decaying average of squared gradients.
    pub mean_square_gradient: f32,
    /// `E[Δ²]`: the decaying average of squared updates.
    pub mean_square_update: f32,
}

// ANCHOR: adadelta
/// Adadelta: Adagrad with a decaying average instead of a sum, and the units put right by
/// the average of past updates:
///
/// - `E[g²] ← ρ·E[g²] + (1 − ρ)·g²`
/// - `Δ = −√(E[Δ²] + ε) / √(E[g²] + ε) · g`
/// - `E[Δ²] ← ρ·E[Δ²] + (1 − ρ)·Δ²`
/// - `w ← w + η·Δ`
///
/// The original Adadelta has no learning rate, which is `η = 1`; like PyTorch, we keep `η`
/// as a factor on the update. The state starts at zero.
#[derive(Clone, Copy, Debug)]
pub struct Adadelta {
    /// The decay `ρ` of both averages, about 0.9 (a window of about 1/(1 − ρ) steps).
    pub rho: f32,
    /// About 1e-6; it also sets the size of the very first steps.
    pub eps: f32,
}

impl Default for Adadelta {
    fn default() -> Self {
        Self { rho: 0.9, eps: 1e-6 }
    }
}

impl UpdateRule for Adadelta {
    type State = AdadeltaState;

    fn update(&self, learning_rate: f32, _step: u32, w: &mut f32, g: f32, state: &mut AdadeltaState) {
        // BEGIN SOLUTION adadelta: update E[g²], form Δ from the two RMS values, update E[Δ²], apply η·Δ
        let rho = self.rho;
        state.mean_square_gradient = rho * state.mean_square_gradient + (1.0 - rho) * g * g;
        let delta = -((state.mean_square_update + self.eps).sqrt()
            / (state.mean_square_gradient + self.eps).sqrt())
            * g;
        state.mean_square_update = rho * state.mean_square_update + (1.0 - rho) * delta * delta;
        *w += learning_rate * delta;
        // END SOLUTION
    }
}
// ANCHOR_END: adadelta

// ANCHOR: rmsprop
/// RMSProp: divide the step by the root of a decaying average of squared gradients,
/// `s ← α·s + (1 − α)·g²`, then `w ← w − η·g / √(s + ε)`.
///
/// Frameworks disagree on the starting value of `s`: PyTorch starts at 0 (the first
/// steps are then about `η/√(1 − α)` long), dfdx and early TensorFlow at 1 (gentle first
/// steps). [`RmsProp::initial_mean_square`] says which.
#[derive(Clone, Copy, Debug)]
pub struct RmsProp {
    /// The decay `α` of the average, 0.9 in dfdx, 0.99 in PyTorch.
    pub alpha: f32,
    /// Added under the root; about 1e-8.
    pub eps: f32,
    /// The value of `s` before the first step.
    pub initial_mean_square: f32,
}

impl Default for RmsProp {
    fn default() -> Self {
        Self { alpha: 0.9, eps: 1e-8, initial_mean_square: 0.0 }
    }
}

impl UpdateRule for RmsProp {
    type State = f32;

    fn initial_state(&self) -> f32 {
        self.initial_mean_square
    }

    fn update(&self, learning_rate: f32, _step: u32, w: &mut f32, g: f32, mean_square: &mut f32) {
        // BEGIN SOLUTION rmsprop: update the decaying average of g², then scale the step by 1/√(s + ε)
        *mean_square = self.alpha * *mean_square + (1.0 - self.alpha) * g * g;
        *w -= learning_rate * g / (*mean_square + self.eps).sqrt();
        // END SOLUTION
    }
}
// ANCHOR_END: rmsprop

/// Adam's two moment estimates of one weight's gradient.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// `m`: the decaying average of the gradient (momentum).
    pub mean: f32,
    /// `v`: the decaying average of the squared gradient (as in RMSProp).
    pub mean_square: f32,
}

// ANCHOR: adam
/// Adam: momentum on the gradient and RMSProp's scaling, both corrected for starting at 0.
/// At step `t` (1 for the first):
///
/// - `m ← β₁·m + (1 − β₁)·g` and `v ← β₂·v + (1 − β₂)·g²`
/// - `m̂ = m / (1 − β₁ᵗ)` and `v̂ = v / (1 − β₂ᵗ)`
/// - `w ← w − η·m̂ / (√v̂ + ε)`
#[derive(Clone, Copy, Debug)]
pub struct Adam {
    /// The decays `β₁` (of `m`) and `β₂` (of `v`): 0.9 and 0.999.
    pub betas: [f32; 2],
    /// Added to `√v̂`; 1e-8.
    pub eps: f32,
}

impl Default for Adam {
    fn default() -> Self {
        Self { betas: [0.9, 0.999], eps: 1e-8 }
    }
}

impl UpdateRule for Adam {
    type State = Moments;

    fn update(&self, learning_rate: f32, step: u32, w: &mut f32, g: f32, moments: &mut Moments) {
        // BEGIN SOLUTION adam: update both moments, correct their bias with the step number, then step
        let [beta1, beta2] = self.betas;
        moments.mean = beta1 * moments.mean + (1.0 - beta1) * g;
        moments.mean_square = beta2 * moments.mean_square + (1.0 - beta2) * g * g;
        let t = step as i32;
        let mean = moments.mean / (1.0 - beta1.powi(t));
        let mean_square = moments.mean_square / (1.0 - beta2.powi(t));
        *w -= learning_rate * mean / (mean_square.sqrt() + self.eps);
        // END SOLUTION
    }
}
// ANCHOR_END: adam

// ANCHOR: step_decay
/// Step annealing: the learning rate is multiplied by `factor` every `every` epochs,
/// `η(e) = η₀ · factor^⌊e / every⌋` for epoch `e` (0 for the first).
#[derive(Clone, Copy, Debug)]
pub struct StepDecay {
    /// `η₀`.
    pub initial: f32,
    /// The factor applied at each step of the schedule, e.g. 0.1.
    pub factor: f32,
    /// How many epochs each learning rate lasts; at least 1.
    pub every: usize,
}

impl LearningRateSchedule for StepDecay {
    fn learning_rate(&self, epoch: usize) -> f32 {
        assert!(self.every > 0, "StepDecay: `every` must be at least one epoch");
        // BEGIN SOLUTION step_decay: count the completed periods of `every` epochs, multiply by factor that often
        self.initial * self.factor.powi((epoch / self.every) as i32)
        // END SOLUTION
    }
}
// ANCHOR_END: step_decay

// ANCHOR: exponential_decay
/// Exponential annealing: `η(e) = η₀ · exp(−k·e)` for epoch `e` (0 for the first).
#[derive(Clone, Copy, Debug)]
pub struct ExponentialDecay {
    /// `η₀`.
    pub initial: f32,
    /// `k`, per epoch: the rate halves every `ln 2 / k` epochs.
    pub rate: f32,
}

impl LearningRateSchedule for ExponentialDecay {
    fn learning_rate(&self, epoch: usize) -> f32 {
        // BEGIN SOLUTION exponential_decay: multiply the initial rate by e to the power −k·epoch
        self.initial * (-self.rate * epoch as f32).exp()
        // END SOLUTION
    }
}
// ANCHOR_END: exponential_decay

/// Pixels of one 8x8 digit.
pub const DIGIT_PIXELS: usize = 64;
/// Digit classes.
pub const DIGIT_CLASSES: usize = 10;

/// The chapter 2 network in dfdx's layers: 64 → 64 (ReLU) → 10. Build it with
/// `dev.build_module::<DigitMlpLayers, f32>()`.
pub type DigitMlpLayers = (Linear<DIGIT_PIXELS, 64>, ReLU, Linear<64, DIGIT_CLASSES>);

/// A built [`DigitMlpLayers`] on device `D`.
pub type DigitMlp<D> = <DigitMlpLayers as BuildOnDevice<D, f32>>::Built;

/// The mean cross-entropy of `logits` against `labels`, on the tape.
pub fn digit_loss<const B: usize, D: Device<f32>, T: Tape<f32, D>>(
    logits: Tensor<Rank2<B, DIGIT_CLASSES>, f32, D, T>,
    labels: &[usize; B],
) -> Tensor<Rank0, f32, D, T> {
    let dev = logits.device().clone();
    let mut one_hot = vec![0.0f32; B * DIGIT_CLASSES];
    for (row, &label) in labels.iter().enumerate() {
        one_hot[row * DIGIT_CLASSES + label] = 1.0;
    }
    let targets = dev.tensor_from_vec(one_hot, (Const::<B>, Const::<DIGIT_CLASSES>));
    cross_entropy_with_logits_loss(logits, targets)
}

/// Mini-batches per epoch in [`train_digits`]: only full batches, so every step sees `B`
/// samples.
pub fn full_batches(len: usize, batch_size: usize, seed: u64) -> Vec<Vec<usize>> {
    courselib::data::shuffled_batches(len, batch_size, seed)
        .into_iter()
        .filter(|b| b.len() == batch_size)
        .collect()
}

// ANCHOR: train_digits
/// Mini-batch training of `model` on `train` (digits) with any optimiser and schedule.
///
/// Each epoch `e` (0 for the first) sets the optimiser's learning rate to
/// `schedule.learning_rate(e)`, then takes one step per mini-batch of `B` samples, in the
/// order [`full_batches`]`(train.len(), B, seed + e)` gives: forward pass, [`digit_loss`],
/// backward pass, `optimiser.update`. `B = train.len()` is batch gradient descent.
///
/// Returns the loss of every step, in order.
pub fn train_digits<const B: usize, R: UpdateRule, S: LearningRateSchedule, D: Device<f32>>(
    model: &mut DigitMlp<D>,
    train: &ImageSet,
    optimiser: &mut Optimiser<R>,
    schedule: &S,
    epochs: usize,
    seed: u64,
) -> Vec<f32> {
    // BEGIN SOLUTION train_digits: per epoch set the learning rate, then per batch: forward, loss, backward, update
    let dev = model.0.weight.device().clone();
    let mut losses = Vec::new();
    for epoch in 0..epochs {
        optimiser.learning_rate = schedule.learning_rate(epoch);
        for batch in full_batches(train.len(), B, seed + epoch as u64) {
            let (x, labels) = courselib::data::flat_batch::<B, DIGIT_PIXELS, D>(&dev, train, &batch);
            let loss = digit_loss(model.forward(x.leaky_traced()), &labels);
            losses.push(loss.as_vec()[0]);
            optimiser.update(model, &loss.backward()).expect("every parameter of the MLP has a gradient");
        }
    }
    losses
    // END SOLUTION
}
// ANCHOR_END: train_digits

/// The curvatures of [`ravine`] along its floor and across it.
pub const RAVINE_CURVATURE: [f32; 2] = [0.01, 2.0];

/// The angle of the ravine's floor against the `x` axis: 30°.
pub const RAVINE_ANGLE: f32 = std::f32::consts::PI / 6.0;

/// Where every optimiser starts on the ravine.
pub const RAVINE_START: [f32; 2] = [-8.0, -4.0];

/// The ravine's coordinates `(u, v)` of a point `(x, y)`: along the floor and across it.
fn ravine_axes() -> [[f32; 2]; 2] {
    let (sin, cos) = RAVINE_ANGLE.sin_cos();
    // Columns are the floor direction (cos, sin) and the direction across it (−sin, cos).
    [[cos, -sin], [sin, cos]]
}

/// A ravine: `f = (0.01·u² + 2·v²) / 2` in coordinates `u` along its floor and `v` across
/// it, the floor at 30° to the `x` axis: 200 times steeper across than along, not aligned
/// with the axes, and with its minimum 0 at the origin.
pub fn ravine<D: Device<f32>, T: Tape<f32, D>>(
    point: Tensor<Rank1<2>, f32, D, T>,
) -> Tensor<Rank0, f32, D, T> {
    let dev = point.device().clone();
    let along_and_across = point.matmul(dev.tensor(ravine_axes()));
    (along_and_across.square() * dev.tensor(RAVINE_CURVATURE)).sum() * 0.5
}

/// The points an optimiser visits on the [`ravine`] from `start`: `start` and one point per
/// step, `steps + 1` in all.
pub fn ravine_path<R: UpdateRule, D: Device<f32>>(
    dev: &D,
    optimiser: &mut Optimiser<R>,
    start: [f32; 2],
    steps: usize,
) -> Vec<[f32; 2]> {
    let mut point = dev.tensor(start);
    let mut path = vec![start];
    for _ in 0..steps {
        let gradients = ravine(point.leaky_trace()).backward();
        optimiser.update(&mut point, &gradients).expect("the point has a gradient");
        let values = point.as_vec();
        path.push([values[0], values[1]]);
    }
    path
}

/// The value of the [`ravine`] at `point`, in f64 (for reporting).
pub fn ravine_value(point: [f32; 2]) -> f64 {
    let axes = ravine_axes();
    (0..2)
        .map(|k| {
            let coordinate =
                f64::from(point[0]) * f64::from(axes[0][k]) + f64::from(point[1]) * f64::from(axes[1][k]);
            0.5 * f64::from(RAVINE_CURVATURE[k]) * coordinate * coordinate
        })
        .sum()
}

/// The learning rates [`ravine_race`] tries for every optimiser.
pub const LEARNING_RATE_GRID: [f32; 10] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0];

/// One optimiser's result in [`ravine_race`].
#[derive(Clone, Debug, PartialEq)]
pub struct RaceEntry {
    pub optimiser: &'static str,
    /// The learning rate of the grid that reached the target in the fewest steps (the
    /// smallest one if none reached it).
    pub learning_rate: f32,
    /// The steps it took, `None` if it did not get there within the budget.
    pub steps: Option<usize>,
    /// The path with that learning rate, from the start.
    pub path: Vec<[f32; 2]>,
}

/// Steps from [`RAVINE_START`] until the [`ravine`] is below `target`, with `rule` at its
/// best learning rate of [`LEARNING_RATE_GRID`], `max_steps` at most.
pub fn race_one<R: UpdateRule + Clone, D: Device<f32>>(
    dev: &D,
    optimiser: &'static str,
    rule: R,
    target: f64,
    max_steps: usize,
) -> RaceEntry {
    let mut best: Option<RaceEntry> = None;
    for learning_rate in LEARNING_RATE_GRID {
        let path =
            ravine_path(dev, &mut Optimiser::new(rule.clone(), learning_rate), RAVINE_START, max_steps);
        let steps = path.iter().position(|&p| ravine_value(p) < target);
        let faster = match (&best, steps) {
            (None, _) => true,
            (Some(b), Some(s)) => b.steps.is_none_or(|bs| s < bs),
            (Some(_), None) => false,
        };
        if faster {
            best = Some(RaceEntry { optimiser, learning_rate, steps, path });
        }
    }
    best.expect("the grid is not empty")
}

/// Every optimiser of the chapter on the [`ravine`], each at its best learning rate: steps
/// until the value is below `target` (the book uses 1e-3 and 2000 steps).
pub fn ravine_race<D: Device<f32>>(dev: &D, target: f64, max_steps: usize) -> Vec<RaceEntry> {
    vec![
        race_one(dev, "gradient descent", GradientDescent, target, max_steps),
        race_one(dev, "momentum 0.9", Momentum { mu: 0.9 }, target, max_steps),
        race_one(dev, "Nesterov 0.9", Nesterov { mu: 0.9 }, target, max_steps),
        race_one(dev, "Adagrad", Adagrad::default(), target, max_steps),
        race_one(dev, "Adadelta", Adadelta::default(), target, max_steps),
        race_one(dev, "RMSProp", RmsProp::default(), target, max_steps),
        race_one(dev, "Adam", Adam::default(), target, max_steps),
    ]
}

/// The fraction of `set` that `model` classifies correctly
/// ([`courselib::data::predicts_label`]: a tie counts as wrong).
pub fn digit_accuracy<D: Device<f32>>(model: &DigitMlp<D>, set: &ImageSet) -> f32 {
    digit_evaluation(model, set).accuracy
}

/// How a model does on a whole set: the mean cross-entropy and the accuracy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// The mean over the set of `−ln softmax(logits)[label]`.
    pub loss: f32,
    /// The fraction classified correctly (a tie counts as wrong).
    pub accuracy: f32,
}

/// The mean cross-entropy and the accuracy of `model` on `set`, without a tape.
pub fn digit_evaluation<D: Device<f32>>(model: &DigitMlp<D>, set: &ImageSet) -> Evaluation {
    const CHUNK: usize = 64;
    let dev = model.0.weight.device().clone();
    let indices: Vec<usize> = (0..set.len()).collect();
    let (mut correct, mut loss) = (0, 0.0f64);
    for chunk in indices.chunks(CHUNK) {
        let (x, labels) = courselib::data::flat_batch::<CHUNK, DIGIT_PIXELS, D>(&dev, set, chunk);
        let logits = model.forward(x).as_vec();
        // The padding rows of a short last chunk are not zipped with a label.
        for (row, &label) in logits.chunks(DIGIT_CLASSES).zip(&labels[..chunk.len()]) {
            correct += usize::from(courselib::data::predicts_label(row, label));
            // −ln softmax = logsumexp − the label's logit, with the largest logit factored out.
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|&z| f64::from(z - max).exp()).sum();
            loss += sum.ln() + f64::from(max - row[label]);
        }
    }
    Evaluation { loss: (loss / set.len() as f64) as f32, accuracy: correct as f32 / set.len() as f32 }
}

// ANCHOR: l2_penalty
/// L2 regularisation as a term of the loss: training minimises `L(w) + λ/2·Σ w²`, whose
/// gradient is `g + λ·w`; that gradient is handed to the wrapped `rule`.
///
/// With plain gradient descent this is the classic weight decay, `w ← (1 − ηλ)·w − η·g`.
/// With an adaptive rule such as Adam the penalty's gradient `λ·w` is divided by `√v̂`
/// like every other gradient, so it is not a decay by a fixed fraction.
#[derive(Clone, Copy, Debug)]
pub struct L2Penalty<R> {
    /// The rule that takes the step.
    pub rule: R,
    /// The strength `λ` of the penalty.
    pub lambda: f32,
}

impl<R: UpdateRule> UpdateRule for L2Penalty<R> {
    type State = R::State;

    fn initial_state(&self) -> R::State {
        self.rule.initial_state()
    }

    fn update(&self, learning_rate: f32, step: u32, w: &mut f32, g: f32, state: &mut R::State) {
        // BEGIN SOLUTION l2_penalty: add the penalty's gradient λ·w to g, then let the wrapped rule step
        let penalised = g + self.lambda * *w;
        self.rule.update(learning_rate, step, w, penalised, state);
        // END SOLUTION
    }
}
// ANCHOR_END: l2_penalty

// ANCHOR: decoupled_weight_decay
/// Decoupled weight decay (Loshchilov and Hutter's AdamW): the wrapped `rule` steps on the
/// loss gradient `g` alone, and the weight as it was before the step shrinks by the
/// fraction `η·λ`: `w ← w − step(g) − η·λ·w`.
///
/// With plain gradient descent this equals [`L2Penalty`]; with Adam it does not: every
/// weight decays by the same fraction, whatever its gradients' history.
#[derive(Clone, Copy, Debug)]
pub struct DecoupledDecay<R> {
    /// The rule that takes the step.
    pub rule: R,
    /// The decay `λ` per unit of learning rate.
    pub lambda: f32,
}

impl<R: UpdateRule> UpdateRule for DecoupledDecay<R> {
    type State = R::State;

    fn initial_state(&self) -> R::State {
        self.rule.initial_state()
    }

    fn update(&self, learning_rate: f32, step: u32, w: &mut f32, g: f32, state: &mut R::State) {
        // BEGIN SOLUTION decoupled_weight_decay: remember w, let the wrapped rule step on g, then subtract η·λ times the remembered w
        let before = *w;
        self.rule.update(learning_rate, step, w, g, state);
        *w -= learning_rate * self.lambda * before;
        // END SOLUTION
    }
}
// ANCHOR_END: decoupled_weight_decay

// ANCHOR: early_stopping
/// Early stopping on the validation loss: remembers the best (lowest) loss and its epoch,
/// and says stop once `patience` epochs in a row brought no new best.
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    /// How many epochs without a new best are tolerated.
    pub patience: usize,
    /// The epochs observed so far.
    epochs: usize,
    /// The best loss and its epoch (1 for the first), `None` before a finite loss was seen.
    best: Option<(f32, usize)>,
}

impl EarlyStopping {
    /// A fresh tracker that has seen no epoch.
    pub fn new(patience: usize) -> Self {
        Self { patience, epochs: 0, best: None }
    }

    /// The lowest validation loss seen and the epoch it was seen after (epochs count from
    /// 1), or `None` if no finite loss was observed.
    pub fn best(&self) -> Option<(f32, usize)> {
        self.best
    }

    /// Records the validation loss after the next epoch. A loss is a new best only when it
    /// is strictly lower than every earlier one; NaN and infinity never are. Returns `true`
    /// when training should stop: the last `patience` epochs brought no new best (or no
    /// finite loss was ever seen in `patience` epochs).
    pub fn observe(&mut self, val_loss: f32) -> bool {
        // BEGIN SOLUTION early_stopping: count the epoch, keep a strictly lower finite loss as the new best, stop when the best is `patience` epochs old
        self.epochs += 1;
        let improved = val_loss.is_finite() && self.best.is_none_or(|(best, _)| val_loss < best);
        if improved {
            self.best = Some((val_loss, self.epochs));
        }
        let best_epoch = self.best.map_or(0, |(_, epoch)| epoch);
        self.epochs - best_epoch >= self.patience
        // END SOLUTION
    }
}
// ANCHOR_END: early_stopping

/// One setting of the search of section 3.11: Adam's learning rate and the decoupled
/// weight decay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setting {
    pub learning_rate: f32,
    pub weight_decay: f32,
}

/// What the search measured for one setting: the epoch with the lowest validation loss
/// and the validation loss and accuracy after it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchRow {
    pub setting: Setting,
    /// The epoch (1 for the first) after which the validation loss was lowest.
    pub best_epoch: usize,
    /// The validation loss and accuracy after `best_epoch`.
    pub val: Evaluation,
    /// How many epochs were trained before early stopping ended the run.
    pub epochs_run: usize,
}

/// The search's table, one row per setting in the grid's order, and the index of the
/// chosen row.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchResult {
    pub rows: Vec<SearchRow>,
    /// The row with the lowest validation loss (the first of equals).
    pub best: usize,
}

/// How [`search_settings`] trains each setting.
#[derive(Clone, Copy, Debug)]
pub struct SearchConfig {
    /// The most epochs a setting is trained.
    pub max_epochs: usize,
    /// [`EarlyStopping::patience`].
    pub patience: usize,
    /// Seeds the initial weights (the same for every setting) and the batch order.
    pub seed: u64,
}

impl SearchConfig {
    /// The book's search (section 3.11): up to 30 epochs, patience 3, seed 1.
    pub const BOOK: SearchConfig = SearchConfig { max_epochs: 30, patience: 3, seed: 1 };
}

/// The book's grid (section 3.11): Adam's learning rate η ∈ {0.001, 0.003, 0.01, 0.03}
/// (a factor of about 3 apart) times the decoupled weight decay λ ∈ {0, 0.1, 0.3, 1, 3}.
pub fn book_grid() -> Vec<Setting> {
    let decays = [0.0, 0.1, 0.3, 1.0, 3.0];
    [1e-3, 3e-3, 1e-2, 3e-2]
        .into_iter()
        .flat_map(|learning_rate| decays.map(|weight_decay| Setting { learning_rate, weight_decay }))
        .collect()
}

// ANCHOR: search_settings
/// Grid search on the validation set. For each setting of `grid`, in order: build a fresh
/// [`DigitMlpLayers`] on `device(config.seed)` (so every setting starts from the same
/// weights), and train it on `fit` with `Optimiser::new(DecoupledDecay { rule:
/// Adam::default(), lambda: weight_decay }, learning_rate)`, one epoch at a time:
/// epoch `e` (0 for the first) is `train_digits::<32, ..>(.., &learning_rate, 1,
/// config.seed + e)`. After each epoch, [`digit_evaluation`] on `val` goes to an
/// [`EarlyStopping`] with `config.patience`; stop when it says so or after
/// `config.max_epochs`. The row records the best epoch and its evaluation.
///
/// The test set is not an argument: it is read once, after the search, for the chosen
/// setting.
pub fn search_settings(
    fit: &ImageSet,
    val: &ImageSet,
    grid: &[Setting],
    config: &SearchConfig,
) -> SearchResult {
    // BEGIN SOLUTION search_settings: per setting, same initial weights, train epoch by epoch with AdamW, evaluate on val, stop early, keep the best epoch; choose the lowest validation loss
    let mut rows = Vec::with_capacity(grid.len());
    for &setting in grid {
        let mut model = courselib::device::device(config.seed).build_module::<DigitMlpLayers, f32>();
        let rule = DecoupledDecay { rule: Adam::default(), lambda: setting.weight_decay };
        let mut optimiser = Optimiser::new(rule, setting.learning_rate);
        let mut stopping = EarlyStopping::new(config.patience);
        let mut evaluations = Vec::new();
        for epoch in 0..config.max_epochs {
            train_digits::<32, _, _, _>(
                &mut model,
                fit,
                &mut optimiser,
                &setting.learning_rate,
                1,
                config.seed + epoch as u64,
            );
            evaluations.push(digit_evaluation(&model, val));
            if stopping.observe(evaluations[epoch].loss) {
                break;
            }
        }
        // A run whose loss was never finite keeps epoch 1 as its "best", with that loss.
        let best_epoch = stopping.best().map_or(1, |(_, epoch)| epoch);
        rows.push(SearchRow {
            setting,
            best_epoch,
            val: evaluations[best_epoch - 1],
            epochs_run: evaluations.len(),
        });
    }
    let mut best = 0;
    for (i, row) in rows.iter().enumerate() {
        if row.val.loss < rows[best].val.loss {
            best = i;
        }
    }
    SearchResult { rows, best }
    // END SOLUTION
}
// ANCHOR_END: search_settings
