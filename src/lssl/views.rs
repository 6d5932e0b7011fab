//! The three views of one linear system: continuous, recurrent, convolutional.

use nalgebra::{DMatrix, DVector};

use super::discretize::discretize_zoh;
use super::system::{DiscreteSsm, Ssm};
use crate::error::{Error, Result, check_finite};
use crate::support::shapes::fits;
use crate::traits::{Convolutional, Recurrent};

impl Recurrent for DiscreteSsm {
    type State = DVector<f64>;

    fn init_state(&self) -> DVector<f64> {
        DVector::zeros(self.n())
    }

    /// Implements Eq. (L9): $x_k = \bar A x_{k-1} + \bar B u_k$, $y_k = C x_k + D u_k$.
    // ANCHOR: ssm_step
    fn step(&self, x: &mut DVector<f64>, u_t: &DVector<f64>) -> DVector<f64> {
        assert_eq!(
            u_t.len(),
            1,
            "DiscreteSsm::step: u_t ({},) vs one channel",
            u_t.len()
        );
        *x = &self.a_bar * &*x + &self.b_bar * u_t[0];
        DVector::from_element(1, self.c.dot(x) + self.d * u_t[0])
    }
    // ANCHOR_END: ssm_step
}

/// The convolution kernel by repeated products (the Krylov sequence), in
/// O(N²L): the definition every faster kernel in the book is checked against.
///
/// Implements Eq. (L10): $\bar K = (C\bar B,\ C\bar A\bar B,\ \dots,\
/// C\bar A^{L-1}\bar B)$, so that $y = \bar K * u + D u$.
///
/// # Shapes
/// `(len,)`.
///
/// # References
/// LSSL Eqs. (6)–(7) (the "Krylov function"); S4 Eqs. (4)–(5).
///
/// # Panics
/// A `len` too large to allocate (over $2^{32}$ values) panics, naming the limit.
// ANCHOR: kernel_naive
pub fn kernel_naive(ssm: &DiscreteSsm, len: usize) -> Vec<f64> {
    fits("kernel_naive", len, 1);
    let mut a_pow_b = ssm.b_bar.clone(); // Ā^k B̄
    let mut k = Vec::with_capacity(len);
    for _ in 0..len {
        k.push(ssm.c.dot(&a_pow_b));
        a_pow_b = &ssm.a_bar * a_pow_b;
    }
    k
}
// ANCHOR_END: kernel_naive

impl Convolutional for DiscreteSsm {
    fn kernel(&self, len: usize) -> DMatrix<f64> {
        DMatrix::from_vec(len, 1, kernel_naive(self, len))
    }

    fn skip(&self) -> DVector<f64> {
        DVector::from_element(1, self.d)
    }
}

/// The exact output of the continuous system for an input held constant over
/// each step: input `u[k]` is held on $[k\Delta, (k+1)\Delta)$, starting from
/// $x(0) = 0$. Returns `(t, y(t))` at `substeps` points per step, the last of
/// each step at $t = (k+1)\Delta$, where it equals the ZOH recurrence's $y_k$.
///
/// Implements Eq. (L11): $x(t + \tau) = e^{\tau A} x(t) +
/// \big(\int_0^\tau e^{sA} ds\big) B u_k$ for $0 \le \tau \le \Delta$.
///
/// # Shapes
/// `u`: `(len,)` → `len · substeps` points.
///
/// # Errors
/// [`Error::InvalidParameter`] if `dt` is not finite and positive or
/// `substeps == 0`; [`Error::NonFinite`] for a non-finite input.
// ANCHOR: continuous_response
pub fn continuous_response(
    ssm: &Ssm,
    u: &[f64],
    dt: f64,
    substeps: usize,
) -> Result<Vec<(f64, f64)>> {
    if substeps == 0 {
        return Err(Error::invalid("substeps", substeps, "a whole number ≥ 1"));
    }
    check_finite("u", u)?;
    let tau = dt / substeps as f64;
    let exact = discretize_zoh(ssm, tau)?; // e^{τA} and ∫_0^τ e^{sA}ds·B
    let mut x = DVector::zeros(ssm.n());
    let mut points = Vec::with_capacity(u.len() * substeps);
    for (k, &u_k) in u.iter().enumerate() {
        for j in 1..=substeps {
            x = &exact.a_bar * &x + &exact.b_bar * u_k;
            let t = k as f64 * dt + j as f64 * tau;
            points.push((t, ssm.c.dot(&x) + ssm.d * u_k));
        }
    }
    Ok(points)
}
// ANCHOR_END: continuous_response
