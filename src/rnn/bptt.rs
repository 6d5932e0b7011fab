//! Backpropagation through time: the Jacobian product that vanishes or explodes.

use nalgebra::{DMatrix, DVector};

use super::elman::ElmanRnn;

/// The Jacobian of one step with respect to the previous state.
///
/// Implements Eq. (R3): $\frac{\partial h_k}{\partial h_{k-1}} =
/// \operatorname{diag}(1 - h_k^2)  W_{hh}$ (since $\tanh' = 1 - \tanh^2$).
///
/// # Shapes
/// `h_k`: `(n,)` → `(n, n)`.
// ANCHOR: step_jacobian
pub fn step_jacobian(rnn: &ElmanRnn, h_k: &DVector<f64>) -> DMatrix<f64> {
    let slope = h_k.map(|h| 1.0 - h * h); // tanh'(a_k), from h_k = tanh(a_k)
    DMatrix::from_diagonal(&slope) * &rnn.w_hh
}
// ANCHOR_END: step_jacobian

/// The Jacobian of a later state with respect to an earlier one.
///
/// Implements Eq. (R4): $\frac{\partial h_t}{\partial h_s} = \prod_{k=s+1}^{t}
/// \operatorname{diag}(1 - h_k^2)  W_{hh}$, the latest factor on the left.
///
/// `hs` holds the states of [`ElmanRnn::hidden_states`] (row `k` is $h_k$);
/// `s == t` gives the identity.
///
/// # Shapes
/// `hs`: `(len, n)` → `(n, n)`.
///
/// # Panics
/// Unless `s ≤ t < len`.
// ANCHOR: jacobian_product
pub fn jacobian_product(
    rnn: &ElmanRnn,
    hs: &DMatrix<f64>,
    s: usize,
    t: usize,
) -> DMatrix<f64> {
    assert!(
        s <= t && t < hs.nrows(),
        "jacobian_product: need s <= t < len, got s={s}, t={t}, len={}",
        hs.nrows()
    );
    let n = rnn.hidden();
    (s + 1..=t).fold(DMatrix::identity(n, n), |product, k| {
        step_jacobian(rnn, &hs.row(k).transpose()) * product
    })
}
// ANCHOR_END: jacobian_product

/// Gradients of a loss with respect to every weight of an [`ElmanRnn`].
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    /// $\partial \ell / \partial W_{hh}$, `(n, n)`.
    pub w_hh: DMatrix<f64>,
    /// $\partial \ell / \partial W_{uh}$, `(n, input)`.
    pub w_uh: DMatrix<f64>,
    /// $\partial \ell / \partial b_h$, `(n,)`.
    pub b_h: DVector<f64>,
    /// $\partial \ell / \partial W_{hy}$, `(output, n)`.
    pub w_hy: DMatrix<f64>,
    /// $\partial \ell / \partial b_y$, `(output,)`.
    pub b_y: DVector<f64>,
}

/// The squared-error loss $\ell = \tfrac12 \sum_t \lVert y_t - y^\star_t
/// \rVert^2$ of a forward pass from `h0`.
///
/// # Shapes
/// `u`: `(len, input)`, `target`: `(len, output)`, `h0`: `(n,)`.
///
/// # Panics
/// If `target` does not have one row per input row and one column per output.
pub fn squared_loss(
    rnn: &ElmanRnn,
    u: &DMatrix<f64>,
    target: &DMatrix<f64>,
    h0: &DVector<f64>,
) -> f64 {
    let hs = rnn.hidden_states(u, h0);
    let y = &hs * rnn.w_hy.transpose()
        + DMatrix::from_fn(u.nrows(), rnn.b_y.len(), |_, o| rnn.b_y[o]);
    assert_eq!(
        y.shape(),
        target.shape(),
        "squared_loss: output {:?} vs target {:?}",
        y.shape(),
        target.shape()
    );
    0.5 * (y - target).norm_squared()
}

/// Backpropagation through time for [`squared_loss`].
///
/// Implements Eq. (R6): with $\partial y_t = y_t - y^\star_t$ and the
/// pre-activation $\tilde h_t$ ($h_t = \tanh \tilde h_t$), the gradient reaching
/// $h_t$ is $\partial h_t = W_{hy}^\top \partial y_t + W_{hh}^\top
/// \partial \tilde h_{t+1}$ and $\partial \tilde h_t = (1 - h_t^2) \odot
/// \partial h_t$; the weight gradients sum $\partial \tilde h_t\, h_{t-1}^\top$,
/// $\partial \tilde h_t\, u_t^\top$, $\partial y_t\, h_t^\top$ over time
/// (`e_t`, `g_t`, `delta` below are $\partial y_t$, $\partial h_t$,
/// $\partial \tilde h_t$).
///
/// # Shapes
/// `u`: `(len, input)`, `target`: `(len, output)`, `h0`: `(n,)`.
///
/// # Panics
/// As [`squared_loss`].
// ANCHOR: bptt
pub fn bptt(
    rnn: &ElmanRnn,
    u: &DMatrix<f64>,
    target: &DMatrix<f64>,
    h0: &DVector<f64>,
) -> Gradients {
    let hs = rnn.hidden_states(u, h0); // (len, n)
    assert_eq!(
        target.nrows(),
        u.nrows(),
        "bptt: target {:?} vs u {:?}",
        target.shape(),
        u.shape()
    );
    let n = rnn.hidden();
    let mut g = Gradients {
        w_hh: DMatrix::zeros(n, n),
        w_uh: DMatrix::zeros(n, u.ncols()),
        b_h: DVector::zeros(n),
        w_hy: DMatrix::zeros(rnn.w_hy.nrows(), n),
        b_y: DVector::zeros(rnn.b_y.len()),
    };
    let mut delta_next = DVector::zeros(n); // ∂h̃_{t+1}, zero past the end
    for t in (0..u.nrows()).rev() {
        let h_t = hs.row(t).transpose();
        let h_prev = if t == 0 {
            h0.clone()
        } else {
            hs.row(t - 1).transpose()
        };
        let e_t = rnn.readout(&h_t) - target.row(t).transpose();
        let g_t = rnn.w_hy.transpose() * &e_t + rnn.w_hh.transpose() * &delta_next;
        let delta = g_t.component_mul(&h_t.map(|h| 1.0 - h * h));
        g.w_hy += &e_t * h_t.transpose();
        g.b_y += &e_t;
        g.w_hh += &delta * h_prev.transpose();
        g.w_uh += &delta * u.row(t);
        g.b_h += &delta;
        delta_next = delta;
    }
    g
}
// ANCHOR_END: bptt

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::elman::RnnConfig;

    #[test]
    fn jacobian_of_a_state_on_itself_is_the_identity() {
        let cfg = RnnConfig {
            hidden: 3,
            input: 1,
            output: 1,
            spectral_radius: 1.0,
            input_scale: 1.0,
        };
        let rnn = ElmanRnn::random(&cfg, 2).unwrap();
        let hs =
            rnn.hidden_states(&DMatrix::from_element(4, 1, 0.3), &DVector::zeros(3));
        assert_eq!(jacobian_product(&rnn, &hs, 2, 2), DMatrix::identity(3, 3));
    }

    #[test]
    fn a_zero_state_has_jacobian_w_hh() {
        let cfg = RnnConfig {
            hidden: 3,
            input: 1,
            output: 1,
            spectral_radius: 0.7,
            input_scale: 1.0,
        };
        let rnn = ElmanRnn::random(&cfg, 3).unwrap();
        assert_eq!(step_jacobian(&rnn, &DVector::zeros(3)), rnn.w_hh);
    }
}
