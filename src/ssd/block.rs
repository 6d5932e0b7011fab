//! The Mamba-2 block: one input projection ordered [z, x, B, C, dt], a causal
//! convolution over xBC, SSD over heads, a gated RMSNorm, the output
//! projection; and its recurrent step.

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand::rngs::StdRng;

use super::forms::{SsdInputs, ssd_chunked};
use crate::error::{Error, Result, check_dt_range, check_size, check_values};
use crate::mamba::block::{causal_conv, last_inputs};
use crate::mamba::config::initial_dt_bias;
use crate::mamba::selective::{silu, softplus};
use crate::support::shapes::has_columns;
use crate::traits::{Param, ParamMut, Parameters, Recurrent};

/// The sizes of a Mamba-2 block (the reference `Mamba2Simple` defaults, with
/// a smaller head dimension and chunk for teaching sizes).
#[derive(Debug, Clone, PartialEq)]
pub struct Mamba2Config {
    /// The width of the residual stream.
    pub d_model: usize,
    /// States per head, $N$ (64 in the reference).
    pub d_state: usize,
    /// The width of the causal convolution (4).
    pub d_conv: usize,
    /// `d_inner = expand · d_model` (2).
    pub expand: usize,
    /// The head dimension $d_h$ (`d_inner / headdim` heads).
    pub headdim: usize,
    /// The number of groups sharing B and C (1).
    pub ngroups: usize,
    /// The chunk length of the SSD algorithm.
    pub chunk: usize,
    /// The smallest initial Δ (1e-3).
    pub dt_min: f64,
    /// The largest initial Δ (1e-1).
    pub dt_max: f64,
    /// The gated RMSNorm's ε (1e-5).
    pub norm_eps: f64,
}

impl Mamba2Config {
    /// Reference-like defaults for a block of width `d_model` and heads of
    /// dimension `headdim`.
    pub fn new(d_model: usize, headdim: usize) -> Self {
        Mamba2Config {
            d_model,
            d_state: 64,
            d_conv: 4,
            expand: 2,
            headdim,
            ngroups: 1,
            chunk: 64,
            dt_min: 1e-3,
            dt_max: 1e-1,
            norm_eps: 1e-5,
        }
    }

    /// `expand · d_model`.
    pub fn d_inner(&self) -> usize {
        self.expand * self.d_model
    }

    /// The number of heads, `d_inner / headdim`.
    pub fn nheads(&self) -> usize {
        self.d_inner() / self.headdim.max(1)
    }

    /// The width of the convolved part, x, B and C: `d_inner + 2·G·N`.
    pub fn conv_dim(&self) -> usize {
        self.d_inner() + 2 * self.ngroups * self.d_state
    }

    /// Checks every size and range.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad value and what is
    /// allowed.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("d_model", self.d_model),
            ("d_state", self.d_state),
            ("d_conv", self.d_conv),
            ("expand", self.expand),
            ("headdim", self.headdim),
            ("ngroups", self.ngroups),
            ("chunk", self.chunk),
        ] {
            check_size(name, v)?;
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return Err(Error::invalid("norm_eps", self.norm_eps, "finite and > 0"));
        }
        let d_inner = check_values(
            "d_inner = expand · d_model",
            &[self.expand, self.d_model],
        )?;
        let bc = check_values(
            "B, C (2 · ngroups · d_state)",
            &[2, self.ngroups, self.d_state],
        )?;
        let width = d_inner.saturating_mul(2).saturating_add(bc);
        check_values("in_proj (d_model × its outputs)", &[self.d_model, width])?;
        check_values(
            "conv_weight (d_inner + B, C) × d_conv",
            &[d_inner.saturating_add(bc), self.d_conv],
        )?;
        if !self.d_inner().is_multiple_of(self.headdim) {
            return Err(Error::invalid(
                "headdim",
                self.headdim,
                "a divisor of d_inner = expand · d_model",
            ));
        }
        if !self.nheads().is_multiple_of(self.ngroups) {
            return Err(Error::invalid(
                "ngroups",
                self.ngroups,
                "a divisor of the number of heads",
            ));
        }
        check_dt_range(self.dt_min, self.dt_max)?;
        Ok(())
    }
}

/// A Mamba-2 block (weights stored `(in, out)` like chapter 7's).
#[derive(Debug, Clone, PartialEq)]
pub struct Mamba2Block {
    /// `d_model → 2·d_inner + 2GN + H`, ordered [z, x, B, C, dt].
    pub in_proj: DMatrix<f64>,
    /// The causal convolution over xBC, `(conv_dim, d_conv)`.
    pub conv_weight: DMatrix<f64>,
    /// Its bias, `(conv_dim,)`.
    pub conv_bias: DVector<f64>,
    /// Δ's bias per head, `(H,)`.
    pub dt_bias: DVector<f64>,
    /// $\log(-A_h)$ per head, `(H,)`.
    pub a_log: DVector<f64>,
    /// The skip per head, `(H,)`.
    pub d: DVector<f64>,
    /// The gated RMSNorm's weight, `(d_inner,)`.
    pub norm_weight: DVector<f64>,
    /// `d_inner → d_model`.
    pub out_proj: DMatrix<f64>,
    /// The sizes.
    pub config: Mamba2Config,
}

/// A Mamba-2 block's state between tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Mamba2Cache {
    /// The last `d_conv` raw inputs of the convolution, `(conv_dim, d_conv)`.
    pub conv_state: DMatrix<f64>,
    /// One `(d_h, N)` state per head.
    pub ssm_state: Vec<DMatrix<f64>>,
}

impl Mamba2Block {
    /// A block initialised as the reference does: uniform projections, Δ's
    /// bias the inverse softplus of a log-uniform step in [dt_min, dt_max],
    /// $A_h = -U[1, 16]$, $D = 1$, norm weight 1.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the configuration is invalid.
    ///
    /// # References
    /// `mamba_ssm/modules/mamba2_simple.py::Mamba2Simple.__init__`.
    ///
    /// # Examples
    /// ```
    /// use ssm_lineage::ssd::block::{Mamba2Block, Mamba2Config};
    /// use ssm_lineage::support::rng::{normal_matrix, seeded};
    /// use ssm_lineage::traits::Recurrent;
    /// // The chunked parallel pass equals the recurrent step, token by token.
    /// let block = Mamba2Block::new(&Mamba2Config::new(8, 4), &mut seeded(1))?;
    /// let input = normal_matrix(&mut seeded(2), 20, 8, 1.0);
    /// let (parallel, _) = block.forward(&input);
    /// assert!((parallel - block.scan(&input)).amax() < 1e-10);
    /// # Ok::<(), ssm_lineage::Error>(())
    /// ```
    pub fn new(config: &Mamba2Config, rng: &mut StdRng) -> Result<Self> {
        config.validate()?;
        let (dm, di, heads) = (config.d_model, config.d_inner(), config.nheads());
        let in_dim = 2 * di + 2 * config.ngroups * config.d_state + heads;
        let mut uniform = |rows: usize, cols: usize, bound: f64| {
            DMatrix::from_fn(rows, cols, |_, _| rng.random_range(-bound..bound))
        };
        let in_proj = uniform(dm, in_dim, 1.0 / (dm as f64).sqrt());
        let conv_weight = uniform(config.conv_dim(), config.d_conv, 0.5);
        let conv_bias = uniform(config.conv_dim(), 1, 0.5).column(0).into_owned();
        let out_proj = uniform(di, dm, 1.0 / (di as f64).sqrt());
        let dt_bias = DVector::from_fn(heads, |_, _| {
            initial_dt_bias(rng, config.dt_min, config.dt_max)
        });
        let a_log =
            DVector::from_fn(heads, |_, _| rng.random_range(1.0f64..16.0).ln());
        Ok(Mamba2Block {
            in_proj,
            conv_weight,
            conv_bias,
            dt_bias,
            a_log,
            d: DVector::from_element(heads, 1.0),
            norm_weight: DVector::from_element(di, 1.0),
            out_proj,
            config: config.clone(),
        })
    }

    /// A block from given tensors named as in the reference layout
    /// (`in_proj.weight`, `conv1d.weight`, `conv1d.bias`, `dt_bias`, `A_log`,
    /// `D`, `norm.weight`, `out_proj.weight`), in this crate's shapes (see
    /// [`Parameters::parameters`]).
    ///
    /// # Errors
    /// An invalid configuration; a missing, misshapen or non-finite tensor.
    pub fn from_parameters(
        config: &Mamba2Config,
        tensors: &BTreeMap<String, DMatrix<f64>>,
    ) -> Result<Self> {
        let mut block = Mamba2Block::zeros(config)?;
        block.set_parameters(tensors)?;
        Ok(block)
    }

    /// A block of the configuration's shapes with every parameter zero, to be
    /// filled by [`Parameters::set_parameters`] or a checkpoint.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn zeros(config: &Mamba2Config) -> Result<Self> {
        config.validate()?;
        let (dm, di, heads) = (config.d_model, config.d_inner(), config.nheads());
        let in_dim = 2 * di + 2 * config.ngroups * config.d_state + heads;
        Ok(Mamba2Block {
            in_proj: DMatrix::zeros(dm, in_dim),
            conv_weight: DMatrix::zeros(config.conv_dim(), config.d_conv),
            conv_bias: DVector::zeros(config.conv_dim()),
            dt_bias: DVector::zeros(heads),
            a_log: DVector::zeros(heads),
            d: DVector::zeros(heads),
            norm_weight: DVector::zeros(di),
            out_proj: DMatrix::zeros(di, dm),
            config: config.clone(),
        })
    }

    /// The gated RMSNorm of one row: $\mathrm{RMSNorm}(y \odot \mathrm{SiLU}(z))$
    /// (the reference's `norm_before_gate=False`), over each group's
    /// `d_inner / ngroups` channels separately, as the reference's
    /// `RMSNormGated(…, group_size=d_ssm // ngroups)` does.
    fn gated_norm(&self, y: &[f64], z: &[f64]) -> Vec<f64> {
        let gated: Vec<f64> = y.iter().zip(z).map(|(y, z)| y * silu(*z)).collect();
        let group = gated.len() / self.config.ngroups.max(1);
        let mut out = Vec::with_capacity(gated.len());
        for part in gated.chunks(group.max(1)) {
            let mean_square =
                part.iter().map(|v| v * v).sum::<f64>() / part.len() as f64;
            let scale = 1.0 / (mean_square + self.config.norm_eps).sqrt();
            out.extend(part.iter().map(|g| g * scale));
        }
        out.iter()
            .zip(self.norm_weight.iter())
            .map(|(g, w)| g * w)
            .collect()
    }

    /// The block on a whole sequence, SSD in chunks.
    ///
    /// Implements Eq. (X6): $(z, xBC, \delta) = v W_{in}$,
    /// $xBC \leftarrow \mathrm{SiLU}(\mathrm{conv}(xBC))$, $\Delta = \mathrm{softplus}(\delta + b)$,
    /// $y = \mathrm{SSD}(\Delta x, \Delta A, B, C) + D x$,
    /// $\mathrm{out} = \mathrm{RMSNorm}(y \odot \mathrm{SiLU}(z)) W_{out}$.
    ///
    /// # Shapes
    /// `input`: `(len, d_model)` → `(len, d_model)`, and the cache to continue.
    ///
    /// # Panics
    /// If `input` does not have `d_model` columns.
    ///
    /// # References
    /// Mamba-2 §7, Fig. 6; `mamba2_simple.py::Mamba2Simple.forward` (unfused path).
    // ANCHOR: mamba2_forward
    pub fn forward(&self, input: &DMatrix<f64>) -> (DMatrix<f64>, Mamba2Cache) {
        let c = &self.config;
        assert_eq!(
            input.ncols(),
            c.d_model,
            "Mamba2Block: input has shape {:?} but d_model = {}",
            input.shape(),
            c.d_model
        );
        let (di, gn, heads, p, n) = (
            c.d_inner(),
            c.ngroups * c.d_state,
            c.nheads(),
            c.headdim,
            c.d_state,
        );
        if input.nrows() == 0 {
            return (DMatrix::zeros(0, c.d_model), self.empty_cache());
        }
        let zxbcdt = input * &self.in_proj;
        let z = zxbcdt.columns(0, di);
        let xbc_raw = zxbcdt.columns(di, c.conv_dim()).into_owned();
        let dt_raw = zxbcdt.columns(di + c.conv_dim(), heads);
        let xbc =
            causal_conv(&xbc_raw, &self.conv_weight, &self.conv_bias).map(silu);
        let len = input.nrows();
        let dt = DMatrix::from_fn(len, heads, |t, k| {
            softplus(dt_raw[(t, k)] + self.dt_bias[k])
        });
        let x_heads: Vec<DMatrix<f64>> = (0..heads)
            .map(|k| {
                DMatrix::from_fn(len, p, |t, j| dt[(t, k)] * xbc[(t, k * p + j)])
            })
            .collect();
        let a =
            DMatrix::from_fn(len, heads, |t, k| -dt[(t, k)] * self.a_log[k].exp());
        let group = |offset: usize| -> Vec<DMatrix<f64>> {
            (0..c.ngroups)
                .map(|g| xbc.columns(offset + g * n, n).into_owned())
                .collect()
        };
        let (b, cc) = (group(di), group(di + gn));
        let ssd = ssd_chunked(&SsdInputs::new(&x_heads, &a, &b, &cc), c.chunk);
        let mut out = DMatrix::zeros(len, di);
        for t in 0..len {
            let y: Vec<f64> = (0..di)
                .map(|j| ssd.y[j / p][(t, j % p)] + self.d[j / p] * xbc[(t, j)])
                .collect();
            let zt: Vec<f64> = z.row(t).iter().copied().collect();
            out.set_row(t, &DVector::from_vec(self.gated_norm(&y, &zt)).transpose());
        }
        let cache = Mamba2Cache {
            conv_state: last_inputs(&xbc_raw, c.d_conv),
            ssm_state: ssd.final_state,
        };
        (out * &self.out_proj, cache)
    }
    // ANCHOR_END: mamba2_forward

    /// An empty cache.
    pub fn empty_cache(&self) -> Mamba2Cache {
        let c = &self.config;
        Mamba2Cache {
            conv_state: DMatrix::zeros(c.conv_dim(), c.d_conv),
            ssm_state: vec![DMatrix::zeros(c.headdim, c.d_state); c.nheads()],
        }
    }

    /// One token: roll the convolution window, one SSD step per head
    /// ($H \leftarrow e^{\Delta A} H + \Delta x B^\top$, $y = H C + D x$), the
    /// gated norm and the output projection.
    ///
    /// # Shapes
    /// `input`: `(d_model,)` → `(d_model,)`.
    ///
    /// # References
    /// `mamba2_simple.py` / `mamba2.py::Mamba2.step`.
    pub fn step(
        &self,
        input: &DVector<f64>,
        cache: &mut Mamba2Cache,
    ) -> DVector<f64> {
        let c = &self.config;
        has_columns("Mamba2Block::step", ("input", (1, input.len())), c.d_model);
        let want = self.empty_cache();
        assert!(
            cache.conv_state.shape() == want.conv_state.shape()
                && cache.ssm_state.len() == want.ssm_state.len()
                && cache
                    .ssm_state
                    .iter()
                    .all(|s| s.shape() == want.ssm_state[0].shape()),
            "Mamba2Block::step: cache conv {:?} and {} states, the block needs {:?} and {} of {:?}",
            cache.conv_state.shape(),
            cache.ssm_state.len(),
            want.conv_state.shape(),
            want.ssm_state.len(),
            want.ssm_state[0].shape()
        );
        let (di, gn, heads, p, n, w) = (
            c.d_inner(),
            c.ngroups * c.d_state,
            c.nheads(),
            c.headdim,
            c.d_state,
            c.d_conv,
        );
        let zxbcdt = self.in_proj.tr_mul(input);
        let mut xbc = vec![0.0; c.conv_dim()];
        for (ch, v) in xbc.iter_mut().enumerate() {
            let mut window = cache.conv_state.row_mut(ch);
            for k in 0..w - 1 {
                window[k] = window[k + 1];
            }
            window[w - 1] = zxbcdt[di + ch];
            let conv: f64 =
                (0..w).map(|k| self.conv_weight[(ch, k)] * window[k]).sum();
            *v = silu(conv + self.conv_bias[ch]);
        }
        let heads_per_group = heads / c.ngroups;
        let mut y = vec![0.0; di];
        for k in 0..heads {
            let dt = softplus(zxbcdt[di + c.conv_dim() + k] + self.dt_bias[k]);
            let decay = (-dt * self.a_log[k].exp()).exp();
            let g = k / heads_per_group;
            let (b, cv) = (&xbc[di + g * n..][..n], &xbc[di + gn + g * n..][..n]);
            let state = &mut cache.ssm_state[k];
            for i in 0..p {
                let x = xbc[k * p + i];
                let mut out = self.d[k] * x;
                for j in 0..n {
                    state[(i, j)] = decay * state[(i, j)] + dt * x * b[j];
                    out += state[(i, j)] * cv[j];
                }
                y[k * p + i] = out;
            }
        }
        let z: Vec<f64> = zxbcdt.rows(0, di).iter().copied().collect();
        self.out_proj
            .tr_mul(&DVector::from_vec(self.gated_norm(&y, &z)))
    }
}

impl Recurrent for Mamba2Block {
    /// The convolution window and one `(d_h, N)` state per head.
    type State = Mamba2Cache;

    fn init_state(&self) -> Mamba2Cache {
        self.empty_cache()
    }

    fn step(&self, state: &mut Mamba2Cache, u_t: &DVector<f64>) -> DVector<f64> {
        Mamba2Block::step(self, u_t, state)
    }
}

impl Parameters for Mamba2Block {
    fn parameters(&self) -> Vec<Param<'_>> {
        vec![
            Param::of("in_proj.weight", &self.in_proj),
            Param::of("conv1d.weight", &self.conv_weight),
            Param::of("conv1d.bias", &self.conv_bias),
            Param::of("dt_bias", &self.dt_bias),
            Param::of("A_log", &self.a_log),
            Param::of("D", &self.d),
            Param::of("norm.weight", &self.norm_weight),
            Param::of("out_proj.weight", &self.out_proj),
        ]
    }

    fn parameters_mut(&mut self) -> Vec<ParamMut<'_>> {
        vec![
            ParamMut::of("in_proj.weight", &mut self.in_proj),
            ParamMut::of("conv1d.weight", &mut self.conv_weight),
            ParamMut::of("conv1d.bias", &mut self.conv_bias),
            ParamMut::of("dt_bias", &mut self.dt_bias),
            ParamMut::of("A_log", &mut self.a_log),
            ParamMut::of("D", &mut self.d),
            ParamMut::of("norm.weight", &mut self.norm_weight),
            ParamMut::of("out_proj.weight", &mut self.out_proj),
        ]
    }
}
