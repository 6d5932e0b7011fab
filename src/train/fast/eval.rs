//! A trained language model measured on fresh data, fast: in parallel mode
//! (the `f32` forward pass, sequences in parallel), or token by token in
//! recurrent mode with a state of fixed size, however long the sequence.

use nalgebra::DMatrix;
use rayon::prelude::*;

use crate::error::Result;
use crate::mamba::fast::FastModel;
use crate::train::lm::{Example, Metrics};
use crate::train::loss::cross_entropy;

/// The loss and accuracy of `model` on `examples`, each run through the
/// parallel forward pass (in parallel over the examples).
///
/// # Errors
/// An example that does not fit the model's vocabulary.
pub fn evaluate(model: &FastModel, examples: &[Example]) -> Result<Metrics> {
    let parts = examples
        .par_iter()
        .map(|e| {
            e.check(model.config.vocab_size)?;
            let logits = model.forward(&e.tokens)?;
            Ok(score(&e.targets, |t| {
                logits.row(t).iter().map(|&v| f64::from(v)).collect()
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(total(&parts, examples))
}

/// [`evaluate`] in recurrent mode: every example is fed one token at a time
/// through [`FastModel::step`], so memory does not grow with its length.
///
/// # Errors
/// An example that does not fit the model's vocabulary.
pub fn evaluate_recurrent(
    model: &FastModel,
    examples: &[Example],
) -> Result<Metrics> {
    let parts = examples
        .par_iter()
        .map(|e| {
            e.check(model.config.vocab_size)?;
            let mut caches = model.empty_caches();
            let mut scored_rows = Vec::new();
            for (&token, target) in e.tokens.iter().zip(&e.targets) {
                let logits = model.step(token, &mut caches)?;
                if target.is_some() {
                    scored_rows.push(logits);
                }
            }
            let targets: Vec<Option<usize>> =
                e.targets.iter().flatten().map(|&y| Some(y)).collect();
            Ok(score(&targets, |i| {
                scored_rows[i].iter().map(|&v| f64::from(v)).collect()
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(total(&parts, examples))
}

/// The summed loss and the correct and scored counts of one example, from
/// the logits of row `t` (asked only for scored rows).
fn score(
    targets: &[Option<usize>],
    row: impl Fn(usize) -> Vec<f64>,
) -> (f64, usize, usize) {
    let rows: Vec<usize> = (0..targets.len())
        .filter(|&t| targets[t].is_some())
        .collect();
    if rows.is_empty() {
        return (0.0, 0, 0);
    }
    let logits: Vec<Vec<f64>> = rows.iter().map(|&t| row(t)).collect();
    let vocab = logits[0].len();
    let matrix = DMatrix::from_fn(rows.len(), vocab, |i, j| logits[i][j]);
    let kept: Vec<Option<usize>> = rows.iter().map(|&t| targets[t]).collect();
    let loss = cross_entropy(&matrix, &kept);
    (loss.loss * loss.scored as f64, loss.correct, loss.scored)
}

fn total(parts: &[(f64, usize, usize)], examples: &[Example]) -> Metrics {
    let scored: usize = parts.iter().map(|p| p.2).sum();
    Metrics {
        loss: parts.iter().map(|p| p.0).sum::<f64>() / scored.max(1) as f64,
        correct: parts.iter().map(|p| p.1).sum(),
        scored,
        tokens: examples.iter().map(|e| e.tokens.len()).sum(),
    }
}
