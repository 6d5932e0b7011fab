//! Gradient checking: a backward pass against central finite differences.
//!
//! For a smooth loss $\ell(\theta)$, the central difference
//! $(\ell(\theta + \epsilon e_i) - \ell(\theta - \epsilon e_i)) / 2\epsilon$
//! differs from $\partial\ell/\partial\theta_i$ by a truncation error of order
//! $\epsilon^2 \ell'''/6$ and a rounding error of order
//! $2^{-53}|\ell| / \epsilon$ (the unit roundoff of `f64`); $\epsilon = 10^{-5}$
//! balances them near $10^{-10}$ relative to the loss's scale.

/// The central difference of `loss` at `theta` along every coordinate.
///
/// Implements Eq. (G9): $\hat g_i = \frac{\ell(\theta + \epsilon e_i) - \ell(\theta - \epsilon e_i)}{2\epsilon}$.
///
/// # Panics
/// If `eps` is not finite and > 0.
// ANCHOR: central_differences
pub fn central_differences(
    theta: &[f64],
    eps: f64,
    mut loss: impl FnMut(&[f64]) -> f64,
) -> Vec<f64> {
    assert!(
        eps.is_finite() && eps > 0.0,
        "central_differences: eps = {eps}, must be finite and > 0"
    );
    let mut probe = theta.to_vec();
    (0..theta.len())
        .map(|i| {
            probe[i] = theta[i] + eps;
            let plus = loss(&probe);
            probe[i] = theta[i] - eps;
            let minus = loss(&probe);
            probe[i] = theta[i];
            (plus - minus) / (2.0 * eps)
        })
        .collect()
}
// ANCHOR_END: central_differences

/// The largest difference between an analytic gradient and a numerical one,
/// relative to the larger of `scale` and the numerical gradient's largest
/// entry: $\max_i |g_i - \hat g_i| / \max(\text{scale}, \max_i|\hat g_i|)$.
///
/// # Panics
/// If the lengths differ.
pub fn relative_error(analytic: &[f64], numeric: &[f64], scale: f64) -> f64 {
    assert_eq!(
        analytic.len(),
        numeric.len(),
        "relative_error: {} analytic vs {} numeric entries",
        analytic.len(),
        numeric.len()
    );
    let largest = numeric.iter().fold(scale, |m, v| m.max(v.abs()));
    analytic
        .iter()
        .zip(numeric)
        .map(|(a, n)| (a - n).abs() / largest)
        .fold(0.0, f64::max)
}
