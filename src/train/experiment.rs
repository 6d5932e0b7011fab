//! What chapter 9's experiments share with its tests: a spread over seeds,
//! what Δ does inside a model, where runs are kept, the machine they ran
//! on. A saved model loads back with the `hub` module's `load_mamba`;
//! measuring one on fresh data is speed work, in [`crate::train::fast`]'s
//! `evaluate` and `evaluate_recurrent`.

use std::fmt;
use std::path::Path;

use nalgebra::DMatrix;

use crate::error::{Error, Result};
use crate::mamba::MambaModel;

/// A quantity over several seeds: its mean, smallest and largest value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The mean.
    pub mean: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (NaN for none).
    pub fn of(values: &[f64]) -> Spread {
        let n = values.len() as f64;
        Spread {
            mean: values.iter().sum::<f64>() / n,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// As JSON: `{"mean": …, "min": …, "max": …}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "mean": self.mean, "min": self.min, "max": self.max })
    }
}

impl fmt::Display for Spread {
    /// The mean with the range over seeds: `0.997 (0.994–1.000)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = f.precision().unwrap_or(3);
        write!(f, "{:.p$} ({:.p$}–{:.p$})", self.mean, self.min, self.max)
    }
}

/// Every layer's step sizes $\Delta$ over `tokens`, `(len, d_inner)` each:
/// what a trained selective model does inside (chapter 7's Eq. M1).
///
/// # Errors
/// An empty sequence or a token outside the vocabulary.
pub fn step_sizes(
    model: &MambaModel,
    tokens: &[usize],
) -> Result<Vec<DMatrix<f64>>> {
    if tokens.is_empty() {
        return Err(Error::invalid("tokens", 0, "at least one token"));
    }
    crate::mamba::model::check_tokens(tokens, model.config.vocab_size)?;
    let mut h = DMatrix::from_fn(tokens.len(), model.config.d_model, |t, j| {
        model.embedding[(j, tokens[t])]
    });
    let mut deltas = Vec::with_capacity(model.layers.len());
    for (norm, block) in &model.layers {
        let x = norm.apply_rows(&h);
        deltas.push(block.step_sizes(&block.select(&x)));
        h += block.forward(&x).0;
    }
    Ok(deltas)
}

/// Where chapter 9's experiments keep their trained models:
/// `$CARGO_TARGET_DIR/ch09` if that is set, else `target/ch09` in the crate.
pub fn runs_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        std::path::PathBuf::from,
    );
    target.join("ch09")
}

/// The processor's model name (from `/proc/cpuinfo`, else "unknown"), to
/// record beside every measured time.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    format!("{model}, {cores} threads")
}
