//! Making training fast (the book's appendix): the batch's forward and
//! backward passes in `f32`, every sequence's rows stacked so that each
//! projection is one large matrix product (split across threads), and the
//! selective scan's forward and backward passes with sixteen channels in
//! vector lanes, one sequence per task.
//!
//! [`FastMamba`] wraps a readable [`MambaModel`], whose `f64` weights stay
//! the master copy that AdamW updates: each step rounds them to `f32`, runs
//! the fast passes, and returns the gradients in `f64`. It is checked
//! against the readable path ([`crate::mamba::MambaModel::backward`]) by the
//! tests within `f32`'s rounding.

mod eval;
mod layers;
mod model;
pub mod rows;
pub mod scan;

pub use eval::{evaluate, evaluate_recurrent};

use crate::error::Result;
use crate::mamba::MambaModel;
use crate::traits::{Param, ParamMut, Parameters};

use super::lm::{Example, Metrics, Trainable};

/// A Mamba language model trained through the fast `f32` path; the weights
/// are the readable model's.
#[derive(Debug, Clone, PartialEq)]
pub struct FastMamba {
    /// The model (its `f64` weights are the master copy).
    pub model: MambaModel,
}

impl Parameters for FastMamba {
    fn parameters(&self) -> Vec<Param<'_>> {
        self.model.parameters()
    }

    fn parameters_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.model.parameters_mut()
    }
}

impl Trainable for FastMamba {
    type Batch = Vec<Example>;

    /// The fast path's loss and gradients: the same quantities as the
    /// readable [`MambaModel`]'s, in `f32`.
    fn loss_and_gradients(&self, batch: &Vec<Example>) -> Result<(Metrics, Self)> {
        for e in batch {
            e.check(self.model.config.vocab_size)?; // the flat targets must line up
        }
        let tokens: Vec<&[usize]> =
            batch.iter().map(|e| e.tokens.as_slice()).collect();
        let targets: Vec<&[Option<usize>]> =
            batch.iter().map(|e| e.targets.as_slice()).collect();
        let (loss, correct, scored, grads) =
            model::loss_and_gradients(&self.model, &tokens, &targets);
        let metrics = Metrics {
            loss,
            correct,
            scored,
            tokens: tokens.iter().map(|t| t.len()).sum(),
        };
        Ok((metrics, FastMamba { model: grads }))
    }

    fn config_json(&self) -> serde_json::Value {
        self.model.config_json()
    }
}
