//! The training loop: batches, loss and gradients, clipping, AdamW on a
//! schedule; a progress bar, a CSV log of the curves and a JSON summary;
//! checkpoints to stop and resume from.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::lm::{Metrics, Trainable};
use super::optim::{AdamW, AdamWConfig, Schedule, clip_global_norm};
use crate::error::{Error, Result};
mod files;

pub use files::LOG_HEADER;

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

    /// Checks every setting: the schedule's rates finite and ≥ 0, the clip
    /// finite and > 0, logging and checkpoint intervals ≥ 1, and AdamW's
    /// own ([`AdamWConfig::validate`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        for (name, lr) in [
            ("schedule.peak", self.schedule.peak),
            ("schedule.floor", self.schedule.floor),
        ] {
            if !(lr.is_finite() && lr >= 0.0) {
                return Err(Error::invalid(name, lr, "finite and ≥ 0"));
            }
        }
        if let Some(clip) = self.clip
            && !(clip.is_finite() && clip > 0.0)
        {
            return Err(Error::invalid("clip", clip, "finite and > 0, or None"));
        }
        for (name, every) in [
            ("log_every", self.log_every),
            ("checkpoint_every", self.checkpoint_every),
        ] {
            if every == 0 {
                return Err(Error::invalid(name, every, "a whole number ≥ 1"));
            }
        }
        self.adamw.validate()
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
    /// An invalid setting ([`TrainConfig::validate`]).
    pub fn new(model: M, config: TrainConfig) -> Result<Self> {
        config.validate()?;
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
            if step.is_multiple_of(self.config.log_every)
                || step + 1 == self.config.steps
            {
                self.log.push(row);
                if self.config.progress && bar.is_hidden() {
                    // Not a terminal (a log file, CI): plain lines instead.
                    let (done, total) = (step + 1, self.config.steps);
                    eprintln!("step {done}/{total} {}", bar.message());
                }
            }
            if (step + 1).is_multiple_of(self.config.checkpoint_every) {
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
}
