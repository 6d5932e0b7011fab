//! Language-model training: a batch of token sequences with targets, and the
//! loss and gradients of a model on it.

use rayon::prelude::*;

use super::loss::cross_entropy;
use crate::error::Result;
use crate::mamba::MambaModel;
use crate::mamba::model::check_tokens;
use crate::traits::Parameters;

/// One training sequence: the input tokens and, for each position, the token
/// it should predict (or `None` where it is not scored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The input tokens.
    pub tokens: Vec<usize>,
    /// One target per token, `None` where the loss ignores the position.
    pub targets: Vec<Option<usize>>,
}

impl Example {
    /// Checks the example against a vocabulary: one target per token, every
    /// token and target inside it.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a target list of another
    /// length, or a token or target outside `0 … vocab_size − 1`.
    pub fn check(&self, vocab_size: usize) -> Result<()> {
        if self.targets.len() != self.tokens.len() {
            return Err(crate::Error::invalid(
                "targets",
                self.targets.len(),
                "one per token (as many as the example's tokens)",
            ));
        }
        check_tokens(&self.tokens, vocab_size)?;
        let targets: Vec<usize> = self.targets.iter().flatten().copied().collect();
        check_tokens(&targets, vocab_size)
    }
}

/// What a batch's forward pass measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// The loss, averaged over the scored positions of the batch.
    pub loss: f64,
    /// The scored positions predicted right (0 for a regression task).
    pub correct: usize,
    /// The scored positions.
    pub scored: usize,
    /// The input tokens (or time steps) processed.
    pub tokens: usize,
}

impl Metrics {
    /// The fraction of scored positions predicted right.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.scored.max(1) as f64
    }
}

/// A model that can be trained by [`super::Trainer`]: its loss and gradients
/// on a batch, and its configuration for the checkpoint's `config.json`.
pub trait Trainable: Parameters + Clone + Sync {
    /// The batch it is trained on.
    type Batch;

    /// The loss on `batch` and the gradient of every parameter, as a model of
    /// the same shapes.
    ///
    /// # Errors
    /// A batch the model cannot take (a token outside the vocabulary).
    fn loss_and_gradients(&self, batch: &Self::Batch) -> Result<(Metrics, Self)>;

    /// The configuration, as the JSON a loader needs to rebuild the model.
    fn config_json(&self) -> serde_json::Value;
}

/// How many steps the selective scans keep between stored states during
/// training (see [`crate::mamba::ScanTape`]): a few stored states per
/// sequence and a short recomputation per chunk.
pub const SCAN_CHUNK: usize = 64;

impl Trainable for MambaModel {
    type Batch = Vec<Example>;

    /// Each sequence's forward and backward pass (in parallel over the
    /// batch), the cross-entropy averaged over every scored position of the
    /// batch, as one long sequence would be.
    // ANCHOR: lm_loss_and_gradients
    fn loss_and_gradients(&self, batch: &Vec<Example>) -> Result<(Metrics, Self)> {
        for e in batch {
            e.check(self.config.vocab_size)?;
        }
        let scored: usize = batch
            .iter()
            .map(|e| e.targets.iter().flatten().count())
            .sum();
        let per_example = batch
            .par_iter()
            .map(|e| {
                let (logits, tape) = self.forward_taped(&e.tokens, SCAN_CHUNK)?;
                let loss = cross_entropy(&logits, &e.targets);
                let weight = loss.scored as f64 / scored.max(1) as f64;
                let grads = self.backward(&tape, &(loss.grad * weight));
                Ok((loss.loss * weight, loss.correct, grads))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut total = Metrics {
            scored,
            ..Metrics::default()
        };
        let mut grads = self.zeros_like();
        for (loss, correct, g) in per_example {
            total.loss += loss;
            total.correct += correct;
            grads.add_scaled(&g, 1.0);
        }
        total.tokens = batch.iter().map(|e| e.tokens.len()).sum();
        Ok((total, grads))
    }
    // ANCHOR_END: lm_loss_and_gradients

    fn config_json(&self) -> serde_json::Value {
        let c = &self.config;
        serde_json::json!({
            "architectures": ["MambaForCausalLM"],
            "model_type": "mamba",
            "hidden_size": c.d_model,
            "num_hidden_layers": c.n_layer,
            "vocab_size": c.vocab_size,
            "state_size": c.d_state,
            "conv_kernel": c.d_conv,
            "expand": c.expand,
            "intermediate_size": c.d_inner(),
            "time_step_rank": c.dt_rank,
            "time_step_min": c.dt_min,
            "time_step_max": c.dt_max,
            "layer_norm_epsilon": c.norm_eps,
            "use_bias": false,
            "use_conv_bias": true,
            "tie_word_embeddings": true,
            "residual_in_fp32": true,
            "selective": c.selective,
        })
    }
}
