//! What a training run writes and reads back: the checkpoint folder
//! (model, config, optimizer state, step) and the log of its curves.

use std::collections::HashMap;
use std::path::Path;

use super::{LogRow, TrainConfig, Trainer};
use crate::error::{Error, Result};
use crate::train::checkpoint::{self, Precision, write_atomically};
use crate::train::lm::{Metrics, Trainable};
use crate::train::optim::AdamW;
use crate::traits::{Param, ParamMut, Parameters};

impl<M: Trainable> Trainer<M> {
    /// Writes a checkpoint into `dir`: `model.safetensors` (`F64`, Hugging
    /// Face names and shapes), `config.json`, `optimizer.safetensors` (the
    /// moments, under the tensors' names prefixed `m.` and `v.`),
    /// `trainer.json` (the step), and the log as `log.csv` and
    /// `summary.json`.
    ///
    /// # Errors
    /// [`Error::Output`] if a file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        checkpoint::save(
            &self.model,
            &dir.join("model.safetensors"),
            Precision::F64,
            meta,
        )?;
        let config = serde_json::to_string_pretty(&self.model.config_json())
            .unwrap_or_default();
        write_atomically(&dir.join("config.json"), config.as_bytes())?;
        let moments = Moments(&self.optimizer);
        checkpoint::save(
            &moments,
            &dir.join("optimizer.safetensors"),
            Precision::F64,
            HashMap::new(),
        )?;
        let state = serde_json::json!({ "step": self.optimizer.step });
        write_atomically(&dir.join("trainer.json"), state.to_string().as_bytes())?;
        write_atomically(&dir.join("log.csv"), self.log_csv().as_bytes())?;
        write_atomically(
            &dir.join("summary.json"),
            self.summary().to_string().as_bytes(),
        )
    }

    /// Continues from a checkpoint written by [`Trainer::save`]: `model` gives
    /// the shapes and is overwritten by the saved tensors, the optimizer's
    /// moments and step are restored, and the log is read back.
    ///
    /// # Errors
    /// [`Error::Input`] for a missing or corrupted file, [`Error::Tensor`] for
    /// a tensor that does not fit `model`.
    pub fn resume(model: M, config: TrainConfig, dir: &Path) -> Result<Self> {
        let mut trainer = Trainer::new(model, config)?;
        checkpoint::load(&mut trainer.model, &dir.join("model.safetensors"))?;
        let mut optimizer = trainer.optimizer.clone();
        checkpoint::load(
            &mut MomentsMut(&mut optimizer),
            &dir.join("optimizer.safetensors"),
        )?;
        let path = dir.join("trainer.json");
        let bad = |reason: String| Error::Input {
            path: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        let state: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        optimizer.step = state["step"]
            .as_u64()
            .ok_or_else(|| bad("no step".into()))?;
        trainer.optimizer = optimizer;
        trainer.log = read_log(&dir.join("log.csv"))?;
        Ok(trainer)
    }

    /// The log as CSV: `step,loss,accuracy,correct,scored,lr,grad_norm,tokens,seconds`.
    pub fn log_csv(&self) -> String {
        let mut csv = format!("{LOG_HEADER}\n");
        for r in &self.log {
            csv += &format!(
                "{},{:e},{:e},{},{},{:e},{:e},{},{:e}\n",
                r.step,
                r.metrics.loss,
                r.metrics.accuracy(),
                r.metrics.correct,
                r.metrics.scored,
                r.lr,
                r.grad_norm,
                r.metrics.tokens,
                r.seconds
            );
        }
        csv
    }

    /// The run in one JSON object: steps, the last logged loss and accuracy,
    /// and the parameter count.
    pub fn summary(&self) -> serde_json::Value {
        let last = self.log.last();
        serde_json::json!({
            "steps": self.optimizer.step,
            "parameters": self.model.parameter_count(),
            "loss": last.map(|r| r.metrics.loss),
            "accuracy": last.map(|r| r.metrics.accuracy()),
        })
    }
}

/// The columns of `log.csv`.
pub const LOG_HEADER: &str =
    "step,loss,accuracy,correct,scored,lr,grad_norm,tokens,seconds";

/// Reads a `log.csv` back (a missing file is an empty log).
fn read_log(path: &Path) -> Result<Vec<LogRow>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let bad = |line: usize| Error::Input {
        path: path.to_path_buf(),
        reason: format!("line {} does not have the columns {LOG_HEADER}", line + 1),
    };
    text.lines()
        .enumerate()
        .skip(1)
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |k: usize| {
                f.get(k)
                    .and_then(|v| v.parse::<f64>().ok())
                    .ok_or_else(|| bad(i))
            };
            Ok(LogRow {
                step: num(0)? as u64,
                metrics: Metrics {
                    loss: num(1)?,
                    correct: num(3)? as usize,
                    scored: num(4)? as usize,
                    tokens: num(7)? as usize,
                },
                lr: num(5)?,
                grad_norm: num(6)?,
                seconds: num(8)?,
            })
        })
        .collect()
}

/// The optimizer's moments as named tensors (`m.<name>`, `v.<name>`).
fn moment_params(optimizer: &AdamW) -> Vec<Param<'_>> {
    let mut params = Vec::new();
    for (name, m, v) in &optimizer.moments {
        for (prefix, values) in [("m", m), ("v", v)] {
            let shape = (values.len(), 1);
            params.push(Param {
                name: format!("{prefix}.{name}"),
                shape,
                values,
            });
        }
    }
    params
}

/// The optimizer's moments seen as named tensors, to save them.
struct Moments<'a>(&'a AdamW);

/// The optimizer's moments seen as named tensors, to load them.
struct MomentsMut<'a>(&'a mut AdamW);

impl Parameters for Moments<'_> {
    fn parameters(&self) -> Vec<Param<'_>> {
        moment_params(self.0)
    }

    fn parameters_mut(&mut self) -> Vec<ParamMut<'_>> {
        Vec::new() // saving only
    }
}

impl Parameters for MomentsMut<'_> {
    fn parameters(&self) -> Vec<Param<'_>> {
        moment_params(self.0)
    }

    fn parameters_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut params = Vec::new();
        for (name, m, v) in &mut self.0.moments {
            for (prefix, values) in [("m", m), ("v", v)] {
                let shape = (values.len(), 1);
                let values = values.as_mut_slice();
                params.push(ParamMut {
                    name: format!("{prefix}.{name}"),
                    shape,
                    values,
                });
            }
        }
        params
    }
}
