//! Evaluating the history back from the coefficients.
//!
//! Grids are in the units each measure is written in: `v ∈ [0, 1]` is the
//! fraction of the window (0 = its oldest point, 1 = now) for LegS and LegT;
//! `s ≥ 0` is the lag into the past, in the continuous system's time units
//! (`s = kΔ` for the sample `k` steps ago), for LagT, FouT and LegS used as an
//! LTI system.

use nalgebra::DVector;

use crate::support::shapes::fits;

use super::basis::{laguerre, legendre};

fn sqrt_odd(n: usize) -> f64 {
    ((2 * n + 1) as f64).sqrt()
}

/// LegS: the whole history $[0, t]$.
///
/// Implements Eq. (H11): $\hat f(v) = \sum_n c_n \sqrt{2n+1}\, P_n(2v - 1)$,
/// $v = x/t$.
///
/// # References
/// HiPPO App. D.3; hippo-code `HiPPO_LegS.eval_matrix` (chronological).
// ANCHOR: reconstruct_legs
pub fn reconstruct_legs(c: &DVector<f64>, grid: &[f64]) -> Vec<f64> {
    grid.iter()
        .map(|&v| {
            let p = legendre(c.len(), 2.0 * v - 1.0);
            (0..c.len()).map(|n| c[n] * sqrt_odd(n) * p[n]).sum()
        })
        .collect()
}
// ANCHOR_END: reconstruct_legs

/// LegT in the LMU form: the window $[t - \theta, t]$.
///
/// Implements Eq. (H12): $\hat f(v) = \sum_n c_n P_n(1 - 2v)$ with $v = (x - t
/// + \theta)/\theta$, i.e. $\sum_n (-1)^n c_n P_n(2v - 1)$.
///
/// # References
/// HiPPO App. D.1; hippo-code `HiPPO_LegT.eval_matrix` (chronological).
// ANCHOR: reconstruct_legt_lmu
pub fn reconstruct_legt_lmu(c: &DVector<f64>, grid: &[f64]) -> Vec<f64> {
    grid.iter()
        .map(|&v| {
            let p = legendre(c.len(), 1.0 - 2.0 * v);
            (0..c.len()).map(|n| c[n] * p[n]).sum()
        })
        .collect()
}
// ANCHOR_END: reconstruct_legt_lmu

/// LegS used as a time-invariant system (as S4 does): the history seen
/// through exponentially warped Legendre polynomials.
///
/// Implements Eq. (H15): $\hat f(t - s) = \sum_n x_n \sqrt{2n+1}\,
/// P_n(2e^{-s} - 1)$ for lags $s \ge 0$, because $e^{sA}B = [\sqrt{2n+1}\,
/// P_n(2e^{-s} - 1)\, e^{-s}]_n$.
///
/// # References
/// How to Train Your HiPPO; s4 `visualizations.py::basis('legs')`.
// ANCHOR: reconstruct_legs_lti
pub fn reconstruct_legs_lti(x: &DVector<f64>, lags: &[f64]) -> Vec<f64> {
    lags.iter()
        .map(|&s| {
            let p = legendre(x.len(), 2.0 * (-s).exp() - 1.0);
            (0..x.len()).map(|n| x[n] * sqrt_odd(n) * p[n]).sum()
        })
        .collect()
}
// ANCHOR_END: reconstruct_legs_lti

/// LagT (Theorem 1): the history under the decaying measure $e^{-s}$.
///
/// Implements Eq. (H13): $\hat f(t - s) = \sum_n c_n L_n(s)$.
// ANCHOR: reconstruct_lagt
pub fn reconstruct_lagt(c: &DVector<f64>, lags: &[f64]) -> Vec<f64> {
    lags.iter()
        .map(|&s| {
            let l = laguerre(c.len(), s);
            (0..c.len()).map(|n| c[n] * l[n]).sum()
        })
        .collect()
}
// ANCHOR_END: reconstruct_lagt

/// The FouT basis at lag `s`: $[1, 0, \sqrt2\cos(\pi s), \sqrt2\sin(\pi s),
/// \dots]$, interleaved like the state.
///
/// # Panics
/// An `n` too large to allocate (over $2^{32}$ values) panics, naming the limit.
pub fn fout_basis(n: usize, s: f64) -> Vec<f64> {
    fits("fout_basis", n, 1);
    (0..n)
        .map(|i| {
            let k = (i / 2) as f64;
            let angle = std::f64::consts::PI * k * s;
            match (i, i % 2) {
                (0, _) => 1.0,
                (1, _) => 0.0,
                (_, 0) => 2f64.sqrt() * angle.cos(),
                _ => 2f64.sqrt() * angle.sin(),
            }
        })
        .collect()
}

/// FouT: the window of the last 2 time units in a truncated Fourier basis.
///
/// Implements Eq. (H14): $\hat f(t - s) = \sum_n c_n g_n(s)$ for
/// $0 \le s < 2$, with $g$ = [`fout_basis`] (since $e^{sA}B \approx \frac12 g(s)$
/// on the window).
// ANCHOR: reconstruct_fout
pub fn reconstruct_fout(c: &DVector<f64>, lags: &[f64]) -> Vec<f64> {
    lags.iter()
        .map(|&s| {
            let g = fout_basis(c.len(), s);
            (0..c.len()).map(|n| c[n] * g[n]).sum()
        })
        .collect()
}
// ANCHOR_END: reconstruct_fout
