//! A sigmoid gate is a discretization (LSSL Lemma 3.1).

/// The logistic sigmoid $\sigma(z) = 1/(1 + e^{-z})$.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// One step of a gated (leaky) update, as in a GRU's interpolation.
///
/// Implements Eq. (L12): $x_t = (1 - \sigma(z_t))\, x_{t-1} + \sigma(z_t)\, u_t$,
/// which is backward Euler of $\dot x = -x + u$ with step $\Delta_t = e^{z_t}$:
/// $\frac{1}{1 + e^{z}} = 1 - \sigma(z)$ and $\frac{e^{z}}{1 + e^{z}} = \sigma(z)$.
///
/// # References
/// LSSL §3.2, Lemma 3.1; HiPPO §2.5 (the same with forward Euler).
// ANCHOR: gated_update
pub fn gated_update(x_prev: f64, u_t: f64, z_t: f64) -> f64 {
    let g = sigmoid(z_t);
    (1.0 - g) * x_prev + g * u_t
}
// ANCHOR_END: gated_update
