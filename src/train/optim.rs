//! The optimizer: AdamW with decoupled weight decay, gradient clipping by
//! global norm, and a learning rate that warms up linearly, then decays
//! along a cosine.

use crate::error::{Error, Result};
use crate::traits::Parameters;

/// AdamW's hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamWConfig {
    /// The first moment's decay, β₁ (0.9).
    pub beta1: f64,
    /// The second moment's decay, β₂ (0.999).
    pub beta2: f64,
    /// Added to $\sqrt{\hat v}$, ε (1e-8).
    pub eps: f64,
    /// The decoupled weight decay ν (0.1 in the Mamba paper's language
    /// models; 0 for the synthetic tasks).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamWConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad value.
    pub fn validate(&self) -> Result<()> {
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(Error::invalid(name, beta, "in [0, 1)"));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::invalid("eps", self.eps, "finite and > 0"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::invalid(
                "weight_decay",
                self.weight_decay,
                "finite and ≥ 0",
            ));
        }
        Ok(())
    }
}

/// Whether a tensor is exempt from weight decay, as in the reference
/// training setups: $A_{\log}$, $D$, every bias (so Δ's bias) and every
/// norm's weight. Decaying $A_{\log}$ would pull $A$ towards $-1$ and $D$
/// towards 0 for no reason.
pub fn no_weight_decay(name: &str) -> bool {
    name.ends_with("A_log")
        || name.ends_with(".D")
        || name == "D"
        || name.ends_with("bias")
        || name.contains("norm")
}

/// AdamW: the hyperparameters, the moments of every tensor and the step.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW {
    /// The hyperparameters.
    pub config: AdamWConfig,
    /// The number of steps taken.
    pub step: u64,
    /// Each tensor's name and first and second moments, in the order of
    /// [`Parameters::parameters`].
    pub moments: Vec<(String, Vec<f64>, Vec<f64>)>,
}

impl AdamW {
    /// An optimizer for `model`'s tensors, its moments zero.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn new(config: AdamWConfig, model: &impl Parameters) -> Result<Self> {
        config.validate()?;
        let moments = model
            .parameters()
            .into_iter()
            .map(|p| (p.name, vec![0.0; p.values.len()], vec![0.0; p.values.len()]))
            .collect();
        Ok(AdamW {
            config,
            step: 0,
            moments,
        })
    }

    /// One update of every tensor of `model` by its gradient in `grads`.
    ///
    /// Implements Eq. (G10): $m \leftarrow \beta_1 m + (1-\beta_1) g$,
    /// $v \leftarrow \beta_2 v + (1-\beta_2) g^2$,
    /// $\theta \leftarrow \theta(1 - \eta\lambda) - \eta\,\frac{m/(1-\beta_1^t)}{\sqrt{v/(1-\beta_2^t)} + \epsilon}$.
    ///
    /// # Panics
    /// If `model` or `grads` do not have the tensors the optimizer was made
    /// for.
    ///
    /// # References
    /// Loshchilov & Hutter (2019), Algorithm 2; PyTorch `torch.optim.AdamW`.
    // ANCHOR: adamw_step
    pub fn update<M: Parameters>(&mut self, model: &mut M, grads: &M, lr: f64) {
        self.step += 1;
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.config;
        let bias1 = 1.0 - beta1.powf(self.step as f64);
        let bias2 = 1.0 - beta2.powf(self.step as f64);
        let params = model.parameters_mut();
        let grads = grads.parameters();
        assert_eq!(params.len(), self.moments.len(), "AdamW: a different model");
        for ((p, g), (name, m, v)) in
            params.into_iter().zip(grads).zip(&mut self.moments)
        {
            assert!(
                p.name == *name && g.name == *name,
                "AdamW: {} vs {name}",
                p.name
            );
            let decay = if no_weight_decay(name) {
                0.0
            } else {
                lr * weight_decay
            };
            for i in 0..p.values.len() {
                m[i] = beta1 * m[i] + (1.0 - beta1) * g.values[i];
                v[i] = beta2 * v[i] + (1.0 - beta2) * g.values[i] * g.values[i];
                let adam = (m[i] / bias1) / ((v[i] / bias2).sqrt() + eps);
                p.values[i] = p.values[i] * (1.0 - decay) - lr * adam;
            }
        }
    }
    // ANCHOR_END: adamw_step
}

/// Scales `grads` down so that their global norm is at most `max_norm`;
/// returns the norm before clipping.
///
/// Implements $g \leftarrow g \cdot \min(1, c / \|g\|_2)$ over all tensors at
/// once (PyTorch's `clip_grad_norm_`).
///
/// # Panics
/// If `max_norm` is not > 0 ([`crate::train::TrainConfig::validate`] checks
/// the clip a trainer uses).
pub fn clip_global_norm(grads: &mut impl Parameters, max_norm: f64) -> f64 {
    assert!(
        max_norm > 0.0,
        "clip_global_norm: max_norm = {max_norm}, must be > 0 (a negative one would flip the gradient)"
    );
    let norm = grads
        .parameters()
        .iter()
        .flat_map(|p| p.values.iter())
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt();
    if norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for p in grads.parameters_mut() {
            p.values.iter_mut().for_each(|v| *v *= scale);
        }
    }
    norm
}

/// A learning-rate schedule: linear warm-up from 0 to `peak` over `warmup`
/// steps, then a cosine from `peak` down to `floor` at step `total`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The peak learning rate.
    pub peak: f64,
    /// The learning rate at the end.
    pub floor: f64,
    /// Warm-up steps.
    pub warmup: u64,
    /// All steps.
    pub total: u64,
}

impl Schedule {
    /// A constant learning rate (no warm-up, no decay).
    pub fn constant(lr: f64) -> Self {
        Schedule {
            peak: lr,
            floor: lr,
            warmup: 0,
            total: 1,
        }
    }

    /// The learning rate of step `step` (counted from 0).
    ///
    /// Implements $\eta_s = \eta\,\frac{s+1}{W}$ for $s < W$, then
    /// $\eta_{min} + \frac12(\eta - \eta_{min})(1 + \cos(\pi \frac{s - W}{T - W}))$.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let progress = ((step - self.warmup) as f64 / span).min(1.0);
        self.floor
            + 0.5
                * (self.peak - self.floor)
                * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}
