//! The sizes of a Mamba model, its linear maps, the reference
//! initialisation of a block, and its parameters by name.

use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand::rngs::StdRng;

use super::block::MambaBlock;
use crate::error::{Error, Result, check_dt_range, check_size, check_values};
use crate::s4d::init::{S4dInit, eigenvalues};
use crate::traits::{Param, ParamMut, Parameters};

/// The sizes of a Mamba model (the reference's `MambaConfig` and the block's
/// defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct MambaConfig {
    /// The width of the residual stream.
    pub d_model: usize,
    /// The number of blocks.
    pub n_layer: usize,
    /// The vocabulary size (tokens are `0 … vocab_size − 1`).
    pub vocab_size: usize,
    /// States per channel, $N$ (16).
    pub d_state: usize,
    /// The width of the causal convolution (4).
    pub d_conv: usize,
    /// The expansion factor $E$: `d_inner = expand · d_model` (2).
    pub expand: usize,
    /// The rank of the Δ projection: $\lceil d_{model}/16 \rceil$ by default.
    pub dt_rank: usize,
    /// The smallest initial Δ (1e-3).
    pub dt_min: f64,
    /// The largest initial Δ (1e-1).
    pub dt_max: f64,
    /// The RMSNorm ε (1e-5).
    pub norm_eps: f64,
    /// Whether Δ, B and C depend on the input (Mamba's selective core, S6).
    /// If not, they are learned constants: `x_proj` sees no input and its
    /// bias holds $B$ and $C$, and Δ is softplus of `dt_proj`'s bias (the
    /// time-invariant core of Mamba's Table 1). See
    /// [`MambaConfig::time_invariant`].
    pub selective: bool,
}

impl MambaConfig {
    /// The reference defaults for a model of the given width, depth and
    /// vocabulary.
    pub fn new(d_model: usize, n_layer: usize, vocab_size: usize) -> Self {
        MambaConfig {
            d_model,
            n_layer,
            vocab_size,
            d_state: 16,
            d_conv: 4,
            expand: 2,
            dt_rank: d_model.div_ceil(16),
            dt_min: 1e-3,
            dt_max: 1e-1,
            norm_eps: 1e-5,
            selective: true,
        }
    }

    /// The same sizes with a time-invariant core: Δ, B and C are learned
    /// constants (`dt_rank` becomes 0: Δ has no input to project).
    pub fn time_invariant(self) -> Self {
        MambaConfig {
            selective: false,
            dt_rank: 0,
            ..self
        }
    }

    /// The width of the selection projection's input: `d_inner` for the
    /// selective core, 0 for the time-invariant one (which sees no input).
    pub fn selection_inputs(&self) -> usize {
        if self.selective { self.d_inner() } else { 0 }
    }

    /// The configuration from a Hugging Face `MambaConfig` JSON object (the
    /// `config.json` of a `MambaForCausalLM` checkpoint, or one this crate
    /// writes): `hidden_size`, `num_hidden_layers`, `vocab_size`, and, where
    /// present, `state_size`, `conv_kernel`, `expand`, `time_step_rank` (a
    /// number or `"auto"`), `time_step_min`, `time_step_max`,
    /// `layer_norm_epsilon`, and this crate's `selective` (true if absent).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a missing size or a value of the wrong
    /// type, and as [`MambaConfig::validate`].
    pub fn from_json(json: &serde_json::Value) -> Result<Self> {
        let size = |key: &'static str| -> Result<Option<usize>> {
            match json.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| Error::invalid(key, v, "a whole number")),
            }
        };
        let number = |key: &'static str, default: f64| -> Result<f64> {
            json.get(key).map_or(Ok(default), |v| {
                v.as_f64().ok_or_else(|| Error::invalid(key, v, "a number"))
            })
        };
        let required = |key: &'static str| -> Result<usize> {
            size(key)?
                .ok_or_else(|| Error::invalid(key, "missing", "a whole number"))
        };
        let defaults = MambaConfig::new(
            required("hidden_size")?,
            required("num_hidden_layers")?,
            required("vocab_size")?,
        );
        let selective = match json.get("selective") {
            None => true,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| Error::invalid("selective", v, "true or false"))?,
        };
        let dt_rank = match json.get("time_step_rank") {
            Some(v) if v.as_str() == Some("auto") => defaults.dt_rank,
            _ => size("time_step_rank")?.unwrap_or(defaults.dt_rank),
        };
        let config = MambaConfig {
            d_state: size("state_size")?.unwrap_or(defaults.d_state),
            d_conv: size("conv_kernel")?.unwrap_or(defaults.d_conv),
            expand: size("expand")?.unwrap_or(defaults.expand),
            dt_rank: if selective { dt_rank } else { 0 },
            dt_min: number("time_step_min", defaults.dt_min)?,
            dt_max: number("time_step_max", defaults.dt_max)?,
            norm_eps: number("layer_norm_epsilon", defaults.norm_eps)?,
            selective,
            ..defaults
        };
        config.validate()?;
        Ok(config)
    }

    /// The width inside a block, `expand · d_model`.
    pub fn d_inner(&self) -> usize {
        self.expand * self.d_model
    }

    /// Checks every size and range.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad value and what is
    /// allowed.
    pub fn validate(&self) -> Result<()> {
        check_size("d_model", self.d_model)?;
        check_size("n_layer", self.n_layer)?;
        check_size("vocab_size", self.vocab_size)?;
        check_size("d_state", self.d_state)?;
        check_size("d_conv", self.d_conv)?;
        check_size("expand", self.expand)?;
        if self.selective {
            check_size("dt_rank", self.dt_rank)?;
        } else if self.dt_rank != 0 {
            return Err(Error::invalid(
                "dt_rank",
                self.dt_rank,
                "0 for a time-invariant core (Δ is a constant)",
            ));
        }
        let d_inner = check_values(
            "d_inner = expand · d_model",
            &[self.expand, self.d_model],
        )?;
        check_values("in_proj (d_model × 2·d_inner)", &[self.d_model, 2, d_inner])?;
        check_values(
            "embedding (d_model × vocab_size)",
            &[self.d_model, self.vocab_size],
        )?;
        check_values(
            "x_proj (d_inner × (dt_rank + 2N))",
            &[
                d_inner,
                self.dt_rank.saturating_add(self.d_state.saturating_mul(2)),
            ],
        )?;
        check_values("A_log (d_inner × N)", &[d_inner, self.d_state])?;
        check_values("conv1d (d_inner × d_conv)", &[d_inner, self.d_conv])?;
        check_values(
            "all layers (n_layer × the in_proj)",
            &[self.n_layer, self.d_model, 2, d_inner],
        )?;
        check_dt_range(self.dt_min, self.dt_max)?;
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return Err(Error::invalid("norm_eps", self.norm_eps, "finite and > 0"));
        }
        Ok(())
    }
}

/// A linear map stored as `(in, out)`, so that a sequence `(len, in)` maps by
/// one matrix product, `x W + b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// The weight, `(in, out)`.
    pub w: DMatrix<f64>,
    /// The bias, `(out,)`, if any.
    pub bias: Option<DVector<f64>>,
}

impl Linear {
    /// PyTorch's default initialisation, $U(-1/\sqrt{in}, 1/\sqrt{in})$ for
    /// the weight (and the bias, if any).
    pub fn uniform(
        rng: &mut StdRng,
        inputs: usize,
        outputs: usize,
        bias: bool,
    ) -> Self {
        let bound = 1.0 / (inputs as f64).sqrt();
        let w = DMatrix::from_fn(inputs, outputs, |_, _| {
            rng.random_range(-bound..bound)
        });
        let bias = bias.then(|| {
            DVector::from_fn(outputs, |_, _| rng.random_range(-bound..bound))
        });
        Linear { w, bias }
    }

    /// Zero weights (and bias), for filling from given tensors.
    pub fn zeros(inputs: usize, outputs: usize, bias: bool) -> Self {
        Linear {
            w: DMatrix::zeros(inputs, outputs),
            bias: bias.then(|| DVector::zeros(outputs)),
        }
    }

    /// The map applied to every row: `(len, in)` → `(len, out)`.
    ///
    /// # Panics
    /// If `x` does not have `in` columns (the message names both shapes).
    pub fn forward(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        assert_eq!(
            x.ncols(),
            self.w.nrows(),
            "Linear::forward: input {:?} vs weight {:?}",
            x.shape(),
            self.w.shape()
        );
        let mut y = x * &self.w;
        if let Some(b) = &self.bias {
            for (j, mut column) in y.column_iter_mut().enumerate() {
                column.add_scalar_mut(b[j]);
            }
        }
        y
    }

    /// The map applied to one vector: $W^\top v + b$, `(in,)` → `(out,)`.
    ///
    /// # Panics
    /// If `v` does not have `in` entries.
    pub fn forward_one(&self, v: &DVector<f64>) -> DVector<f64> {
        assert_eq!(
            v.len(),
            self.w.nrows(),
            "Linear::forward_one: input ({},) vs weight {:?}",
            v.len(),
            self.w.shape()
        );
        let y = self.w.tr_mul(v);
        match &self.bias {
            Some(b) => y + b,
            None => y,
        }
    }
}

/// The inverse of softplus, $y + \log(1 - e^{-y})$: the bias that makes
/// $\mathrm{softplus}(b) = y$.
pub fn inverse_softplus(y: f64) -> f64 {
    y + (-(-y).exp_m1()).ln()
}

/// One initial Δ bias as the reference draws it: Δ log-uniform in
/// `[dt_min, dt_max]`, at least 1e-4, through [`inverse_softplus`] (so that
/// the block starts with Δ in S4's range).
pub fn initial_dt_bias(rng: &mut StdRng, dt_min: f64, dt_max: f64) -> f64 {
    let dt = if dt_min < dt_max {
        rng.random_range(dt_min.ln()..dt_max.ln()).exp()
    } else {
        dt_min
    };
    inverse_softplus(dt.max(1e-4))
}

impl MambaBlock {
    /// A block initialised as the reference does: PyTorch defaults for the
    /// projections and the convolution; `dt_proj`'s weight
    /// $U(\pm \text{dt\_rank}^{-1/2})$ and its bias the inverse softplus of a
    /// log-uniform Δ in [dt_min, dt_max] (at least 1e-4); $A = -(1, \dots, N)$
    /// in every channel, chapter 5's S4D-Real; $D = 1$; `out_proj` divided
    /// by $\sqrt{n_{layer}}$.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the configuration is invalid.
    ///
    /// # References
    /// `mamba_simple.py::Mamba.__init__`; `mixer_seq_simple.py::_init_weights`.
    pub fn new(config: &MambaConfig, rng: &mut StdRng) -> Result<Self> {
        config.validate()?;
        let (dm, di, n, r) = (
            config.d_model,
            config.d_inner(),
            config.d_state,
            config.dt_rank,
        );
        let in_proj = Linear::uniform(rng, dm, 2 * di, false);
        let conv = 1.0 / (config.d_conv as f64).sqrt();
        let conv_weight = DMatrix::from_fn(di, config.d_conv, |_, _| {
            rng.random_range(-conv..conv)
        });
        let conv_bias = DVector::from_fn(di, |_, _| rng.random_range(-conv..conv));
        let x_proj = if config.selective {
            Linear::uniform(rng, di, r + 2 * n, false)
        } else {
            // No input: B and C are the bias, drawn as PyTorch draws a
            // bias for an input of width one, U(−1, 1).
            Linear {
                w: DMatrix::zeros(0, 2 * n),
                bias: Some(DVector::from_fn(2 * n, |_, _| {
                    rng.random_range(-1.0..1.0)
                })),
            }
        };
        let dt_std = 1.0 / (r as f64).sqrt();
        let dt_proj = Linear {
            w: DMatrix::from_fn(r, di, |_, _| rng.random_range(-dt_std..dt_std)),
            bias: Some(DVector::from_fn(di, |_, _| {
                initial_dt_bias(rng, config.dt_min, config.dt_max)
            })),
        };
        // S4D-Real counts real dimensions: 2N of them give the N modes −(k+1).
        let real = eigenvalues(S4dInit::Real, 2 * n)?;
        let a_log = DMatrix::from_fn(di, n, |_, k| (-real[k].re).ln());
        let mut out_proj = Linear::uniform(rng, di, dm, false);
        out_proj.w /= (config.n_layer as f64).sqrt();
        Ok(MambaBlock {
            in_proj,
            conv_weight,
            conv_bias,
            x_proj,
            dt_proj,
            a_log,
            d: DVector::from_element(di, 1.0),
            out_proj,
            config: config.clone(),
        })
    }

    /// A block of the configuration's shapes with every parameter zero, to be
    /// filled by [`crate::traits::Parameters::set_parameters`] (see
    /// [`MambaBlock::from_parameters`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the configuration is invalid.
    pub fn zeros(config: &MambaConfig) -> Result<Self> {
        config.validate()?;
        let (dm, di, n, r) = (
            config.d_model,
            config.d_inner(),
            config.d_state,
            config.dt_rank,
        );
        Ok(MambaBlock {
            in_proj: Linear::zeros(dm, 2 * di, false),
            conv_weight: DMatrix::zeros(di, config.d_conv),
            conv_bias: DVector::zeros(di),
            x_proj: Linear::zeros(
                config.selection_inputs(),
                r + 2 * n,
                !config.selective,
            ),
            dt_proj: Linear::zeros(r, di, true),
            a_log: DMatrix::zeros(di, n),
            d: DVector::zeros(di),
            out_proj: Linear::zeros(di, dm, false),
            config: config.clone(),
        })
    }
}

impl Parameters for MambaBlock {
    fn parameters(&self) -> Vec<Param<'_>> {
        let mut p = vec![
            Param::of("in_proj.weight", &self.in_proj.w),
            Param::of("conv1d.weight", &self.conv_weight),
            Param::of("conv1d.bias", &self.conv_bias),
        ];
        if self.config.selective {
            p.push(Param::of("x_proj.weight", &self.x_proj.w));
            p.push(Param::of("dt_proj.weight", &self.dt_proj.w));
        } else if let Some(b) = &self.x_proj.bias {
            p.push(Param::of("x_proj.bias", b));
        }
        if let Some(b) = &self.dt_proj.bias {
            p.push(Param::of("dt_proj.bias", b));
        }
        p.push(Param::of("A_log", &self.a_log));
        p.push(Param::of("D", &self.d));
        p.push(Param::of("out_proj.weight", &self.out_proj.w));
        p
    }

    fn parameters_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut p = vec![
            ParamMut::of("in_proj.weight", &mut self.in_proj.w),
            ParamMut::of("conv1d.weight", &mut self.conv_weight),
            ParamMut::of("conv1d.bias", &mut self.conv_bias),
        ];
        if self.config.selective {
            p.push(ParamMut::of("x_proj.weight", &mut self.x_proj.w));
            p.push(ParamMut::of("dt_proj.weight", &mut self.dt_proj.w));
        } else if let Some(b) = &mut self.x_proj.bias {
            p.push(ParamMut::of("x_proj.bias", b));
        }
        if let Some(b) = &mut self.dt_proj.bias {
            p.push(ParamMut::of("dt_proj.bias", b));
        }
        p.push(ParamMut::of("A_log", &mut self.a_log));
        p.push(ParamMut::of("D", &mut self.d));
        p.push(ParamMut::of("out_proj.weight", &mut self.out_proj.w));
        p
    }
}
