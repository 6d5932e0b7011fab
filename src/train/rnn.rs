//! Chapter 1's RNN trained by the same loop as the state space models, with
//! its own backward pass, backpropagation through time (Eq. R6).

use nalgebra::{DMatrix, DVector};

use super::lm::{Metrics, Trainable};
use crate::error::Result;
use crate::rnn::ElmanRnn;
use crate::rnn::bptt::{bptt, squared_loss};
use crate::traits::Parameters;

/// One training sequence for a model of real signals: the input and the
/// target, `(len, channels)` each, scored from row `from` on.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalExample {
    /// The input, `(len, inputs)`.
    pub input: DMatrix<f64>,
    /// The target, `(len, outputs)`.
    pub target: DMatrix<f64>,
    /// The first scored row (earlier rows only warm the state up).
    pub from: usize,
}

impl Trainable for ElmanRnn {
    type Batch = Vec<SignalExample>;

    /// The mean squared error over the scored rows and outputs of the batch,
    /// and its gradient by BPTT (whose loss is half the summed squares, so
    /// the gradients are scaled by 2 / (scored values)).
    fn loss_and_gradients(
        &self,
        batch: &Vec<SignalExample>,
    ) -> Result<(Metrics, Self)> {
        let outputs = self.b_y.len();
        let scored: usize = batch
            .iter()
            .map(|e| e.input.nrows().saturating_sub(e.from) * outputs)
            .sum();
        let scale = 2.0 / scored.max(1) as f64;
        let mut grads = self.zeros_like();
        let mut metrics = Metrics {
            scored,
            ..Metrics::default()
        };
        for e in batch {
            let h0 = DVector::zeros(self.hidden());
            // Unscored rows have no error: their target is the output itself.
            let target = masked_target(self, e);
            metrics.loss += squared_loss(self, &e.input, &target, &h0) * scale;
            let g = bptt(self, &e.input, &target, &h0);
            let as_model = ElmanRnn {
                w_hh: g.w_hh,
                w_uh: g.w_uh,
                b_h: g.b_h,
                w_hy: g.w_hy,
                b_y: g.b_y,
            };
            grads.add_scaled(&as_model, scale);
            metrics.tokens += e.input.nrows();
        }
        Ok((metrics, grads))
    }

    fn config_json(&self) -> serde_json::Value {
        serde_json::json!({
            "model_type": "elman_rnn",
            "hidden": self.hidden(),
            "inputs": self.w_uh.ncols(),
            "outputs": self.b_y.len(),
        })
    }
}

/// The target with the rows before `from` replaced by the model's own
/// outputs, so they add nothing to the loss or its gradient.
fn masked_target(rnn: &ElmanRnn, e: &SignalExample) -> DMatrix<f64> {
    let mut target = e.target.clone();
    if e.from > 0 {
        let hs = rnn.hidden_states(&e.input, &DVector::zeros(rnn.hidden()));
        for t in 0..e.from.min(e.input.nrows()) {
            let y = rnn.readout(&hs.row(t).transpose());
            target.row_mut(t).copy_from(&y.transpose());
        }
    }
    target
}

/// How much of the loss's gradient reaches the state $k$ steps back: for
/// $k = 0, \dots,$ `max_lag`, the mean over the scored positions $t \ge k$
/// of the batch of $\lVert \partial \ell_t / \partial h_{t-k} \rVert$, where
/// $\ell_t = \lVert y_t - y^\star_t \rVert^2$ is one position's loss.
///
/// The gradient at $h_t$ is $2 W_{hy}^\top e_t$; each step back multiplies it
/// by one transposed Jacobian of Eq. (R3), $W_{hh}^\top \operatorname{diag}(1 -
/// h^2)$, as Eq. (R6)'s recursion does, so entry $k$ measures the Jacobian
/// product of Eq. (R4) on the gradient that training actually sends. An
/// entry with no position $t \ge k$ is NaN.
///
/// # Panics
/// If an example's target does not have one row per input row and one
/// column per output.
// ANCHOR: state_gradient_by_lag
pub fn state_gradient_by_lag(
    rnn: &ElmanRnn,
    batch: &[SignalExample],
    max_lag: usize,
) -> Vec<f64> {
    let (mut sums, mut counts) = (vec![0.0; max_lag + 1], vec![0usize; max_lag + 1]);
    for e in batch {
        assert_eq!(
            (e.target.nrows(), e.target.ncols()),
            (e.input.nrows(), rnn.b_y.len()),
            "state_gradient_by_lag: target {:?} for input {:?}",
            e.target.shape(),
            e.input.shape()
        );
        let hs = rnn.hidden_states(&e.input, &DVector::zeros(rnn.hidden()));
        for t in e.from..e.input.nrows() {
            let h_t = hs.row(t).transpose();
            let e_t = rnn.readout(&h_t) - e.target.row(t).transpose();
            let mut g = rnn.w_hy.tr_mul(&e_t) * 2.0; // ∂ℓ_t/∂h_t
            for k in 0..=max_lag.min(t) {
                sums[k] += g.norm();
                counts[k] += 1;
                // ∂ℓ_t/∂h_{t−k−1} = W_hhᵀ ((1 − h_{t−k}²) ⊙ ∂ℓ_t/∂h_{t−k})
                let slope = hs.row(t - k).transpose().map(|h| 1.0 - h * h);
                g = rnn.w_hh.tr_mul(&g.component_mul(&slope));
            }
        }
    }
    sums.iter()
        .zip(&counts)
        .map(|(s, &c)| s / c as f64)
        .collect()
}
// ANCHOR_END: state_gradient_by_lag
