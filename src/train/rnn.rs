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
