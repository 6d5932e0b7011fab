//! The training loop: batches, loss and gradients, clipping, AdamW on a
//! schedule; a progress bar, a CSV log of the curves and a JSON summary;
//! checkpoints to stop and resume from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::checkpoint::{self, Precision, write_atomically};
use super::lm::{Metrics, Trainable};
use super::optim::{AdamW, AdamWConfig, Schedule, clip_global_norm};
use crate::error::{Error, Result};
use crate::traits::{Param, ParamMut, Parameters};

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// The number of optimizer steps in all.
    pub steps: u64,
    /// The learning rate at every step.
    pub schedule: Schedule,
    /// AdamW's hyperparameters.
    pub adamw: AdamWConfig,
    /// The largest global gradient norm, if clipped (1.0 in the reference).
    pub clip: Option<f64>,
    /// A row in the log every this many steps.
    pub log_every: u64,
    /// Where checkpoints and logs go, if anywhere.
    pub dir: Option<PathBuf>,
    /// A checkpoint every this many steps (and at the end), if `dir` is set.
    pub checkpoint_every: u64,
    /// Whether to draw a progress bar (plain lines when not on a terminal).
    pub progress: bool,
}

impl TrainConfig {
    /// `steps` steps at a constant learning rate `lr`, AdamW without weight
    /// decay, gradients clipped at norm 1, no files and no progress bar.
    pub fn new(steps: u64, lr: f64) -> Self {
        TrainConfig {
            steps,
            schedule: Schedule::constant(lr),
            adamw: AdamWConfig::default(),
            clip: Some(1.0),
            log_every: 10,
            dir: None,
            checkpoint_every: 500,
            progress: false,
        }
    }
}

/// One row of the training log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogRow {
    /// The step (counted from 0).
    pub step: u64,
    /// The batch's metrics before the update.
    pub metrics: Metrics,
    /// The learning rate used.
    pub lr: f64,
    /// The gradient's global norm before clipping.
    pub grad_norm: f64,
    /// Seconds since training started (this run).
    pub seconds: f64,
}

/// A model, its optimizer and the log: everything training needs to go on.
#[derive(Debug, Clone)]
pub struct Trainer<M: Trainable> {
    /// How to train.
    pub config: TrainConfig,
    /// The model being trained.
    pub model: M,
    /// The optimizer (its step counts the steps taken).
    pub optimizer: AdamW,
    /// Every logged row.
    pub log: Vec<LogRow>,
}

impl<M: Trainable> Trainer<M> {
    /// A trainer at step 0.
    ///
    /// # Errors
    /// An invalid optimizer configuration.
    pub fn new(model: M, config: TrainConfig) -> Result<Self> {
        let optimizer = AdamW::new(config.adamw.clone(), &model)?;
        Ok(Trainer {
            config,
            model,
            optimizer,
            log: Vec::new(),
        })
    }

    /// One optimizer step on `batch`; returns the batch's metrics before the
    /// update.
    ///
    /// # Errors
    /// [`Error::Training`] if the loss or the gradient's norm is not finite
    /// (the model is left unchanged); errors of the model on the batch.
    // ANCHOR: train_step
    pub fn step(&mut self, batch: &M::Batch) -> Result<LogRow> {
        let step = self.optimizer.step;
        let (metrics, mut grads) = self.model.loss_and_gradients(batch)?;
        let grad_norm = match self.config.clip {
            Some(max) => clip_global_norm(&mut grads, max),
            None => clip_global_norm(&mut grads, f64::INFINITY),
        };
        if !(metrics.loss.is_finite() && grad_norm.is_finite()) {
            return Err(Error::Training {
                step,
                reason: format!(
                    "loss {} and gradient norm {grad_norm}",
                    metrics.loss
                ),
            });
        }
        let lr = self.config.schedule.lr(step);
        self.optimizer.update(&mut self.model, &grads, lr);
        Ok(LogRow {
            step,
            metrics,
            lr,
            grad_norm,
            seconds: 0.0,
        })
    }
    // ANCHOR_END: train_step

    /// Trains until `config.steps` steps have been taken, drawing the batch of
    /// step `s` from `batch(s)` (so a resumed run sees the same batches),
    /// logging, and checkpointing into `config.dir`.
    ///
    /// # Errors
    /// [`Error::Training`] at a non-finite loss, after saying where the last
    /// good checkpoint is; errors writing the checkpoint or the log.
    pub fn run(&mut self, mut batch: impl FnMut(u64) -> M::Batch) -> Result<()> {
        let start = Instant::now();
        let bar = self.progress_bar();
        let (mut tokens, mut last) = (0usize, None);
        while self.optimizer.step < self.config.steps {
            let step = self.optimizer.step;
            let mut row = match self.step(&batch(step)) {
                Ok(row) => row,
                Err(Error::Training { step, reason }) => {
                    bar.abandon();
                    return Err(Error::Training {
                        step,
                        reason: self.kept(&reason),
                    });
                }
                Err(e) => return Err(e),
            };
            row.seconds = start.elapsed().as_secs_f64();
            tokens += row.metrics.tokens;
            bar.set_position(step + 1);
            bar.set_message(format!(
                "loss {:.4} acc {:.3} {:.0} tok/s",
                row.metrics.loss,
                row.metrics.accuracy(),
                tokens as f64 / row.seconds.max(1e-9)
            ));
            if step.is_multiple_of(self.config.log_every.max(1))
                || step + 1 == self.config.steps
            {
                self.log.push(row);
                if self.config.progress && bar.is_hidden() {
                    // Not a terminal (a log file, CI): plain lines instead.
                    let (done, total) = (step + 1, self.config.steps);
                    eprintln!("step {done}/{total} {}", bar.message());
                }
            }
            if (step + 1).is_multiple_of(self.config.checkpoint_every.max(1)) {
                self.save_if_configured()?;
            }
            last = Some(row);
        }
        bar.finish();
        if last.is_some() {
            self.save_if_configured()?;
        }
        Ok(())
    }

    fn kept(&self, reason: &str) -> String {
        match &self.config.dir {
            Some(dir) => {
                format!("{reason}; the last good checkpoint is in {}", dir.display())
            }
            None => reason.to_string(),
        }
    }

    fn progress_bar(&self) -> ProgressBar {
        if !self.config.progress {
            return ProgressBar::hidden();
        }
        let bar =
            ProgressBar::new(self.config.steps).with_position(self.optimizer.step);
        let style = ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps {msg} [{elapsed} < {eta}]",
        );
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar
    }

    fn save_if_configured(&self) -> Result<()> {
        match &self.config.dir {
            Some(dir) => self.save(dir),
            None => Ok(()),
        }
    }

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
