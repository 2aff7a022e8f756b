//! Numerical gradients by central differences, the ground truth every hand-written or
//! tape-computed gradient in the course is checked against.
//!
//! Work in `f64`: with `eps = 1e-6` the truncation error of the central difference is
//! about `eps² · |f'''|` and the rounding error about `1e-16 · |f| / eps`, both far below
//! the `1e-6` relative error we accept. In `f32` the rounding term alone is about `1e-1`
//! for the same `eps`, which hides real bugs.

use dfdx::prelude::*;

// ANCHOR: numerical_gradient
/// The gradient of the scalar function `f` at `x`, by central differences:
/// `∂f/∂xᵢ ≈ (f(x + eps·eᵢ) − f(x − eps·eᵢ)) / (2·eps)`, one pair of evaluations of `f`
/// per element of `x`. Input and output have the same shape `S`.
pub fn numerical_gradient<S, D, F>(mut f: F, x: &Tensor<S, f64, D>, eps: f64) -> Tensor<S, f64, D>
where
    S: Shape,
    D: Device<f64>,
    F: FnMut(&Tensor<S, f64, D>) -> f64,
{
    let dev = x.device().clone();
    let mut values = x.as_vec();
    let mut gradient = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        let original = values[i];
        values[i] = original + eps;
        let f_plus = f(&dev.tensor_from_vec(values.clone(), *x.shape()));
        values[i] = original - eps;
        let f_minus = f(&dev.tensor_from_vec(values.clone(), *x.shape()));
        values[i] = original;
        gradient.push((f_plus - f_minus) / (2.0 * eps));
    }
    dev.tensor_from_vec(gradient, *x.shape())
}
// ANCHOR_END: numerical_gradient

// ANCHOR: relative_error
/// The largest element-wise relative error `|a − b| / max(|a| + |b|, floor)` between two
/// gradients of the same length. The floor keeps entries that are both near zero from
/// dividing by zero; `1e-8` suits gradients of order one.
pub fn max_relative_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "gradients of different lengths");
    const FLOOR: f64 = 1e-8;
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / (x.abs() + y.abs()).max(FLOOR)).fold(0.0, f64::max)
}
// ANCHOR_END: relative_error

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_of_sum_of_cubes_is_three_x_squared() {
        let dev: Cpu = Default::default();
        let x = dev.tensor([[0.5f64, -1.0, 2.0], [3.0, 0.0, -0.25]]);
        let numeric = numerical_gradient(|t| t.as_vec().iter().map(|v| v * v * v).sum(), &x, 1e-6);
        let exact: Vec<f64> = x.as_vec().iter().map(|v| 3.0 * v * v).collect();
        assert!(max_relative_error(&numeric.as_vec(), &exact) < 1e-8);
    }

    #[test]
    fn relative_error_sees_a_flipped_sign() {
        assert!(max_relative_error(&[1.0, -2.0], &[1.0, 2.0]) > 0.99);
        assert_eq!(max_relative_error(&[0.0, 0.0], &[0.0, 0.0]), 0.0);
    }
}
