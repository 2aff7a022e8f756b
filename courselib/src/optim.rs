//! Optimisers for any dfdx model, from one update rule per parameter value.
//!
//! An optimiser is an [`UpdateRule`] (what to do with one weight `w`, its gradient `g` and
//! the rule's own memory of that weight, for example its velocity) driven by an
//! [`Optimiser`], which walks every parameter tensor of a model, keeps each value's state
//! between steps and counts the steps. Chapter 3 writes the rules; every later chapter can
//! train with them, on any model dfdx can walk (`Linear`, tuples of layers, a bare tensor).
//!
//! [`Optimiser`] implements dfdx's own [`Optimizer`] trait, so it is a drop-in replacement
//! for `dfdx::optim::Sgd` or `Adam`:
//!
//! ```
//! use courselib::optim::{Optimiser, UpdateRule};
//! use dfdx::prelude::*;
//!
//! /// Plain gradient descent: `w ← w − η·g`.
//! struct Descent;
//!
//! impl UpdateRule for Descent {
//!     type State = ();
//!     fn update(&self, learning_rate: f32, _step: u32, w: &mut f32, g: f32, _state: &mut ()) {
//!         *w -= learning_rate * g;
//!     }
//! }
//!
//! let dev = Cpu::default();
//! let mut model = dev.build_module::<Linear<2, 1>, f32>();
//! let mut optimiser = Optimiser::new(Descent, 0.1);
//! let x = dev.tensor([[1.0f32, 2.0]]);
//! let loss = model.forward(x.leaky_trace()).square().sum();
//! optimiser.update(&mut model, &loss.backward()).unwrap();
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut,
};
use dfdx::optim::{Optimizer, OptimizerUpdateError, UnusedTensors};
use dfdx::prelude::*;

/// What one optimiser does to one parameter value per step.
///
/// The rule sees a single weight at a time, exactly as the update formulas are written in
/// the book; [`Optimiser`] applies it to every value of every parameter tensor.
// ANCHOR: update_rule
pub trait UpdateRule {
    /// What the rule remembers about one parameter value between steps: `()` for gradient
    /// descent, a velocity for momentum, two moment estimates for Adam.
    type State: Copy + Default;

    /// The state of a value before its first update: zeros unless the rule says otherwise.
    fn initial_state(&self) -> Self::State {
        Self::State::default()
    }

    /// Updates the weight `w` in place from its gradient `g`.
    ///
    /// - `learning_rate`: the optimiser's current learning rate `η` (a schedule may change
    ///   it between steps).
    /// - `step`: the number of this update, 1 for the first one (Adam's bias correction
    ///   needs it).
    /// - `state`: this value's state, as left by the previous step.
    fn update(&self, learning_rate: f32, step: u32, w: &mut f32, g: f32, state: &mut Self::State);
}
// ANCHOR_END: update_rule

/// Applies an [`UpdateRule`] to every parameter of a model.
///
/// The state of each parameter tensor is kept by the order in which dfdx walks the model,
/// so one optimiser belongs to one model (as in dfdx). Values travel to the host and back for the update:
/// simple and device-independent, and cheap next to the forward and backward passes of the
/// course's models.
#[derive(Clone, Debug)]
pub struct Optimiser<R: UpdateRule> {
    /// The update rule and its hyper-parameters.
    pub rule: R,
    /// The learning rate `η` passed to the rule; change it between steps to anneal.
    pub learning_rate: f32,
    /// How many updates have been applied.
    pub steps: u32,
    /// One state per value of every parameter tensor, in the order dfdx walks the model.
    states: Vec<Vec<R::State>>,
}

impl<R: UpdateRule> Optimiser<R> {
    pub fn new(rule: R, learning_rate: f32) -> Self {
        Self { rule, learning_rate, steps: 0, states: Vec::new() }
    }

    /// One update of every parameter of `model` from `gradients` (from `loss.backward()`).
    ///
    /// Every parameter needs a gradient: trace the input with the model's gradients
    /// (`x.trace(model.alloc_grads())`) when some parameter may not reach the loss.
    pub fn update<D: Device<f32>, M: TensorCollection<f32, D>>(
        &mut self,
        model: &mut M,
        gradients: &Gradients<f32, D>,
    ) -> Result<(), OptimizerUpdateError<D::Err>> {
        self.steps += 1;
        let mut visitor =
            Visitor { optimiser: self, gradients, visited: 0, unused: UnusedTensors::default() };
        match M::iter_tensors(&mut RecursiveWalker { m: model, f: &mut visitor }) {
            Ok(_) => visitor.unused.into(),
            Err(e) => Err(OptimizerUpdateError::DeviceError(e)),
        }
    }

    /// Updates the `index`-th parameter tensor of the model.
    fn update_tensor<S: Shape, D: Device<f32>>(
        &mut self,
        index: usize,
        parameter: &mut Tensor<S, f32, D>,
        gradient: &Tensor<S, f32, D>,
    ) -> Result<(), D::Err> {
        let mut values = parameter.as_vec();
        let gradient = gradient.as_vec();
        if index == self.states.len() {
            self.states.push(vec![self.rule.initial_state(); values.len()]);
        }
        let states = &mut self.states[index];
        assert_eq!(
            states.len(),
            values.len(),
            "optimiser: parameter {index} has {} values but had {} at the previous step; \
             use one optimiser per model",
            values.len(),
            states.len()
        );
        for ((w, &g), state) in values.iter_mut().zip(&gradient).zip(states.iter_mut()) {
            self.rule.update(self.learning_rate, self.steps, w, g, state);
        }
        parameter.copy_from(&values);
        Ok(())
    }
}

struct Visitor<'a, R: UpdateRule, D: Device<f32>> {
    optimiser: &'a mut Optimiser<R>,
    gradients: &'a Gradients<f32, D>,
    visited: usize,
    unused: UnusedTensors,
}

impl<R: UpdateRule, D: Device<f32>> TensorVisitor<f32, D> for Visitor<'_, R, D> {
    type Viewer = ViewTensorMut;
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        options: TensorOptions<S, f32, D>,
        parameter: &mut Tensor<S, f32, D>,
    ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
        if !options.do_gradient_update {
            return Ok(None);
        }
        // dfdx has no public "has a gradient?" query, and `get` unwraps.
        match catch_unwind(AssertUnwindSafe(|| self.gradients.get(parameter))) {
            Ok(gradient) => self.optimiser.update_tensor(self.visited, parameter, &gradient)?,
            Err(_) => self.unused.add(parameter),
        }
        self.visited += 1;
        Ok(None)
    }
}

impl<R: UpdateRule, D: Device<f32>, M: TensorCollection<f32, D>> Optimizer<M, D, f32> for Optimiser<R> {
    fn update(
        &mut self,
        module: &mut M,
        gradients: &Gradients<f32, D>,
    ) -> Result<(), OptimizerUpdateError<D::Err>> {
        Optimiser::update(self, module, gradients)
    }
}

/// A learning rate that changes with the epoch (annealing).
// ANCHOR: learning_rate_schedule
pub trait LearningRateSchedule {
    /// The learning rate for epoch `epoch` (0 for the first).
    fn learning_rate(&self, epoch: usize) -> f32;
}
// ANCHOR_END: learning_rate_schedule

/// A constant learning rate: no annealing.
impl LearningRateSchedule for f32 {
    fn learning_rate(&self, _epoch: usize) -> f32 {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Descent;

    impl UpdateRule for Descent {
        type State = u32;
        fn update(&self, learning_rate: f32, step: u32, w: &mut f32, g: f32, calls: &mut u32) {
            *calls += 1;
            assert_eq!(*calls, step, "the state of a value persists between steps");
            *w -= learning_rate * g;
        }
    }

    #[test]
    fn updates_every_parameter_of_a_model_and_keeps_state_per_value() {
        let dev = Cpu::default();
        let mut model = dev.build_module::<(Linear<3, 4>, ReLU, Linear<4, 2>), f32>();
        let mut optimiser = Optimiser::new(Descent, 0.5);
        for _ in 0..3 {
            let before = model.clone();
            let x = dev.tensor([[1.0f32, -2.0, 0.5]]);
            let gradients = model.forward(x.leaky_trace()).square().sum().backward();
            optimiser.update(&mut model, &gradients).unwrap();
            let want = before.0.weight.clone() - gradients.get(&before.0.weight) * 0.5;
            assert_eq!(model.0.weight.as_vec(), want.as_vec());
            let want = before.2.bias.clone() - gradients.get(&before.2.bias) * 0.5;
            assert_eq!(model.2.bias.as_vec(), want.as_vec());
        }
        assert_eq!(optimiser.steps, 3);
    }

    #[test]
    fn a_parameter_without_gradient_is_reported_not_updated() {
        let dev = Cpu::default();
        let mut used: Tensor<Rank1<2>, f32, Cpu> = dev.ones();
        let mut unused: Tensor<Rank1<2>, f32, Cpu> = dev.ones();
        let gradients = used.leaky_trace().square().sum().backward();
        let mut optimiser = Optimiser::new(Descent, 0.5);
        assert!(optimiser.update(&mut used, &gradients).is_ok());
        assert!(matches!(
            optimiser.update(&mut unused, &gradients),
            Err(OptimizerUpdateError::UnusedParams(_))
        ));
        assert_eq!(unused.as_vec(), [1.0, 1.0]);
    }
}
