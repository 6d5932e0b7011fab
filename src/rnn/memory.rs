//! The compression problem: how much of an old input can still be read out of
//! the state, by the best linear readout.

use nalgebra::DMatrix;

/// The fraction of the variance of the input `lag` steps ago that the best
/// linear readout (with an intercept) of the state recovers.
///
/// Implements Eq. (R7): $R^2_k = 1 - \frac{\sum_t (u_{t-k} - \hat w^\top
/// [h_t; 1])^2}{\sum_t (u_{t-k} - \bar u)^2}$ with $\hat w$ the least-squares fit
/// over $t \ge$ `washout`.
///
/// # Shapes
/// `states`: `(len, n)` (row `t` is $h_t$), `u`: `(len,)`.
///
/// # Panics
/// If `u` does not have one entry per state row, or fewer than `n + 2` rows
/// remain after `washout` and `lag`.
///
/// # References
/// Jaeger 2001, "Short term memory in echo state networks" (memory capacity).
// ANCHOR: recall_r2
pub fn recall_r2(
    states: &DMatrix<f64>,
    u: &[f64],
    lag: usize,
    washout: usize,
) -> f64 {
    let (len, n) = states.shape();
    assert_eq!(
        u.len(),
        len,
        "recall_r2: states {:?} vs u ({},)",
        states.shape(),
        u.len()
    );
    let first = washout.max(lag);
    assert!(
        len >= first + n + 2,
        "recall_r2: {len} rows leave too few samples after washout {washout} and lag {lag}"
    );
    if !(states.iter().chain(u).all(|v| v.is_finite())) {
        return f64::NAN; // (an SVD of non-finite data would never return)
    }
    let rows = len - first;
    let features = DMatrix::from_fn(rows, n + 1, |i, j| {
        if j < n { states[(first + i, j)] } else { 1.0 }
    });
    let target = DMatrix::from_fn(rows, 1, |i, _| u[first + i - lag]);
    let w = features
        .clone()
        .svd(true, true)
        .solve(&target, 1e-12)
        .unwrap_or_else(|_| DMatrix::zeros(n + 1, 1));
    let residual = (&features * w - &target).norm_squared();
    let mean = target.mean();
    let total = target.map(|v| (v - mean).powi(2)).sum();
    if total == 0.0 {
        0.0
    } else {
        1.0 - residual / total
    }
}
// ANCHOR_END: recall_r2

/// [`recall_r2`] for every lag `0..max_lag`.
///
/// # Panics
/// As [`recall_r2`].
pub fn memory_curve(
    states: &DMatrix<f64>,
    u: &[f64],
    max_lag: usize,
    washout: usize,
) -> Vec<f64> {
    (0..max_lag)
        .map(|lag| recall_r2(states, u, lag, washout))
        .collect()
}
