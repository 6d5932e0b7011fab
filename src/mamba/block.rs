//! The Mamba block: input projection into x and a gate z, a short causal
//! convolution, the selection projections, the selective scan, and the output
//! projection; its parallel forward pass and its recurrent step.

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};

use super::config::{Linear, MambaConfig};
use super::selective::{ScanOutput, SelectiveScan, selective_scan, silu, softplus};
use crate::error::Result;
use crate::support::shapes::has_columns;
use crate::traits::{Parameters, Recurrent};

/// One Mamba block (the mixer; the norm and residual live in the model).
#[derive(Debug, Clone, PartialEq)]
pub struct MambaBlock {
    /// `d_model → 2·d_inner` (x then z), no bias.
    pub in_proj: Linear,
    /// The depthwise causal convolution, `(d_inner, d_conv)`: tap `k` multiplies
    /// the input `d_conv − 1 − k` steps back.
    pub conv_weight: DMatrix<f64>,
    /// The convolution's bias, `(d_inner,)`.
    pub conv_bias: DVector<f64>,
    /// `d_inner → dt_rank + 2N` (Δ's low-rank input, B, C), no bias.
    pub x_proj: Linear,
    /// `dt_rank → d_inner`; its bias is Δ's bias (added inside the scan).
    pub dt_proj: Linear,
    /// $\log(-A)$, `(d_inner, N)`: the stored parameter, as in the reference.
    pub a_log: DMatrix<f64>,
    /// The skip $D$, `(d_inner,)`.
    pub d: DVector<f64>,
    /// `d_inner → d_model`, no bias.
    pub out_proj: Linear,
    /// The sizes.
    pub config: MambaConfig,
}

/// The selection: the scan's inputs, computed from the block's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The scan's input $u$: convolved and SiLU-activated, `(len, d_inner)`
    /// (the reference code's `x`).
    pub u: DMatrix<f64>,
    /// The convolution's input (kept for the conv state), `(len, d_inner)`.
    pub u_raw: DMatrix<f64>,
    /// The gate, `(len, d_inner)`.
    pub z: DMatrix<f64>,
    /// δ = ξ W_Δ: Δ before its bias and softplus, `(len, d_inner)`.
    pub delta: DMatrix<f64>,
    /// $B_t$, `(len, N)`.
    pub b: DMatrix<f64>,
    /// $C_t$, `(len, N)`.
    pub c: DMatrix<f64>,
}

/// A block's state between tokens: what the parallel pass leaves behind and
/// the recurrent step carries.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockCache {
    /// The last `d_conv` inputs of the convolution (before it), oldest first,
    /// `(d_inner, d_conv)`; zeros before the sequence starts.
    pub conv_state: DMatrix<f64>,
    /// The SSM state, `(d_inner, N)`.
    pub ssm_state: DMatrix<f64>,
}

impl MambaBlock {
    /// A block from given tensors, named as in the reference layout
    /// (`in_proj.weight`, `conv1d.weight`, `conv1d.bias`, `x_proj.weight`,
    /// `dt_proj.weight`, `dt_proj.bias`, `A_log`, `D`, `out_proj.weight`), in
    /// this crate's shapes (see [`Parameters::parameters`]).
    ///
    /// # Errors
    /// An invalid configuration; a missing, misshapen or non-finite tensor.
    pub fn from_parameters(
        config: &MambaConfig,
        tensors: &BTreeMap<String, DMatrix<f64>>,
    ) -> Result<Self> {
        let mut block = MambaBlock::zeros(config)?;
        block.set_parameters(tensors)?;
        Ok(block)
    }

    /// $A = -e^{A_{\log}}$, `(d_inner, N)`.
    pub fn a(&self) -> DMatrix<f64> {
        self.a_log.map(|v| -v.exp())
    }

    /// The selection mechanism on a whole sequence: everything the scan
    /// needs, computed from the input.
    ///
    /// Implements Eq. (M1): $(u, z) = v W_{in}$, $u \leftarrow \mathrm{SiLU}(\mathrm{conv}(u))$,
    /// $(\xi, B, C) = u W_x$ split as (dt_rank, N, N), $\delta = \xi W_\Delta$,
    /// $\Delta = \mathrm{softplus}(\delta + b_\Delta)$.
    ///
    /// # Shapes
    /// `input`: `(len, d_model)`.
    ///
    /// # References
    /// Mamba Algorithm 2, §3.6 (Δ through a rank-`dt_rank` projection);
    /// `mamba_simple.py::Mamba.forward`.
    // ANCHOR: select
    pub fn select(&self, input: &DMatrix<f64>) -> Selection {
        let (di, n, r) = (
            self.config.d_inner(),
            self.config.d_state,
            self.config.dt_rank,
        );
        let xz = self.in_proj.forward(input); // (len, 2·d_inner)
        let u_raw = xz.columns(0, di).into_owned();
        let z = xz.columns(di, di).into_owned();
        let u = causal_conv(&u_raw, &self.conv_weight, &self.conv_bias).map(silu);
        let x_dbl = self.x_proj.forward(&self.selection_input(&u)); // (len, dt_rank + 2N)
        Selection {
            delta: x_dbl.columns(0, r) * &self.dt_proj.w, // bias added in the scan
            b: x_dbl.columns(r, n).into_owned(),
            c: x_dbl.columns(r + n, n).into_owned(),
            u,
            u_raw,
            z,
        }
    }
    // ANCHOR_END: select

    /// What the selection projection sees: `x` for the selective core, no
    /// columns for the time-invariant one (so B, C and Δ are its biases).
    pub fn selection_input(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        if self.config.selective {
            x.clone()
        } else {
            DMatrix::zeros(x.nrows(), 0)
        }
    }

    /// Δ itself, $\mathrm{softplus}(\delta + b_\Delta)$, `(len, d_inner)`.
    pub fn step_sizes(&self, selection: &Selection) -> DMatrix<f64> {
        let bias = self.dt_proj.bias.as_ref();
        DMatrix::from_fn(
            selection.delta.nrows(),
            selection.delta.ncols(),
            |t, ch| softplus(selection.delta[(t, ch)] + bias.map_or(0.0, |b| b[ch])),
        )
    }

    /// The block on a whole sequence: the selection, the selective scan with
    /// skip and gate, the output projection.
    ///
    /// Implements Eq. (M6): $y = \mathrm{S6}(u, \Delta, A, B, C, D)\cdot\mathrm{SiLU}(z)$,
    /// then $y W_{out}$, with the selection of Eq. (M1).
    ///
    /// # Shapes
    /// `input`: `(len, d_model)` → `(len, d_model)`, and the cache that
    /// [`MambaBlock::step`] continues from.
    ///
    /// # References
    /// Mamba §3.4, Fig. 3; `mamba_simple.py::Mamba.forward` (the slow path).
    // ANCHOR: block_forward
    pub fn forward(&self, input: &DMatrix<f64>) -> (DMatrix<f64>, BlockCache) {
        has_columns(
            "MambaBlock::forward",
            ("input", input.shape()),
            self.config.d_model,
        );
        let s = self.select(input);
        let a = self.a();
        let args = SelectiveScan::new(&s.u, &s.delta, &a, &s.b, &s.c)
            .with_skip(&self.d)
            .with_gate(&s.z)
            .with_delta_bias(self.dt_proj.bias.as_ref(), true);
        let ScanOutput { y, last_state } = selective_scan(&args);
        let cache = BlockCache {
            conv_state: last_inputs(&s.u_raw, self.config.d_conv),
            ssm_state: last_state,
        };
        (self.out_proj.forward(&y), cache)
    }
    // ANCHOR_END: block_forward

    /// An empty cache: the state before any token.
    pub fn empty_cache(&self) -> BlockCache {
        BlockCache {
            conv_state: DMatrix::zeros(self.config.d_inner(), self.config.d_conv),
            ssm_state: DMatrix::zeros(self.config.d_inner(), self.config.d_state),
        }
    }

    /// One token through the block, updating the cache: the convolution's
    /// window rolls left by one and takes the new raw input; the SSM takes
    /// one step of the recurrence, channel by channel.
    ///
    /// Implements Eq. (M9): $h_t = e^{\Delta_t A} \odot h_{t-1} + \Delta_t B_t u_t$,
    /// $y_t = (h_t C_t + D u_t)\,\mathrm{SiLU}(z_t)$.
    ///
    /// # Shapes
    /// `v`: `(d_model,)` → `(d_model,)`.
    ///
    /// # Panics
    /// If `v` or the cache do not have the block's shapes.
    ///
    /// # References
    /// `mamba_simple.py::Mamba.step`.
    // ANCHOR: block_step
    pub fn step(&self, v: &DVector<f64>, cache: &mut BlockCache) -> DVector<f64> {
        has_columns("MambaBlock::step", ("v", (1, v.len())), self.config.d_model);
        self.check_cache(cache);
        let (di, n, r) = (
            self.config.d_inner(),
            self.config.d_state,
            self.config.dt_rank,
        );
        let xz = self.in_proj.forward_one(v);
        let u = DVector::from_fn(di, |ch, _| {
            let conv = roll_in(&mut cache.conv_state, ch, xz[ch]);
            silu(
                self.conv_weight.row(ch).transpose().dot(&conv) + self.conv_bias[ch],
            )
        });
        let x_dbl = match self.config.selective {
            true => self.x_proj.forward_one(&u),
            false => self.x_proj.forward_one(&DVector::zeros(0)),
        };
        let (b, c) = (x_dbl.rows(r, n), x_dbl.rows(r + n, n));
        let dt = self.dt_proj.forward_one(&x_dbl.rows(0, r).into_owned());
        let a = self.a();
        let y = DVector::from_fn(di, |ch, _| {
            let dt = softplus(dt[ch]);
            let mut y = self.d[ch] * u[ch];
            for k in 0..n {
                let h = &mut cache.ssm_state[(ch, k)];
                *h = (dt * a[(ch, k)]).exp() * *h + dt * b[k] * u[ch];
                y += c[k] * *h;
            }
            y * silu(xz[di + ch])
        });
        self.out_proj.forward_one(&y)
    }
    // ANCHOR_END: block_step

    fn check_cache(&self, cache: &BlockCache) {
        let (di, n, w) = (
            self.config.d_inner(),
            self.config.d_state,
            self.config.d_conv,
        );
        assert!(
            cache.conv_state.shape() == (di, w)
                && cache.ssm_state.shape() == (di, n),
            "MambaBlock::step: cache conv {:?} and ssm {:?}, the block needs {:?} and {:?}",
            cache.conv_state.shape(),
            cache.ssm_state.shape(),
            (di, w),
            (di, n)
        );
    }
}

/// Rolls row `ch` of a convolution window left by one, writes `new` in the
/// last slot, and returns the window (oldest first).
fn roll_in(window: &mut DMatrix<f64>, ch: usize, new: f64) -> DVector<f64> {
    let w = window.ncols();
    for k in 0..w - 1 {
        window[(ch, k)] = window[(ch, k + 1)];
    }
    window[(ch, w - 1)] = new;
    window.row(ch).transpose()
}

impl Recurrent for MambaBlock {
    /// The convolution window and the SSM state.
    type State = BlockCache;

    fn init_state(&self) -> BlockCache {
        self.empty_cache()
    }

    fn step(&self, state: &mut BlockCache, u_t: &DVector<f64>) -> DVector<f64> {
        MambaBlock::step(self, u_t, state)
    }
}

/// The depthwise causal convolution: channel $c$'s output at $t$ is
/// $\sum_{k} w_{c,k}\, x_{t-(d_{conv}-1)+k, c} + b_c$, with zeros before the
/// start.
///
/// Implements Eq. (M2): $y_{t,c} = b_c + \sum_{k=0}^{d_{conv}-1} w_{c,k}\,
/// u_{t-d_{conv}+1+k,\,c}$.
///
/// # Shapes
/// `x`: `(len, d)`, `w`: `(d, d_conv)`, `b`: `(d,)` → `(len, d)`.
///
/// # Panics
/// If `w` or `b` do not have one row per channel of `x`.
///
/// # References
/// `mamba_simple.py` (`nn.Conv1d(groups=d_inner, padding=d_conv − 1)`, first
/// `len` outputs kept).
// ANCHOR: causal_conv
pub fn causal_conv(
    x: &DMatrix<f64>,
    w: &DMatrix<f64>,
    b: &DVector<f64>,
) -> DMatrix<f64> {
    assert!(
        w.nrows() == x.ncols() && b.len() == x.ncols(),
        "causal_conv: x {:?}, w {:?}, b ({},)",
        x.shape(),
        w.shape(),
        b.len()
    );
    let (len, taps) = (x.nrows(), w.ncols());
    DMatrix::from_fn(len, x.ncols(), |t, c| {
        // tap k reads the input taps − 1 − k steps back (zero before t = 0)
        (0..taps)
            .filter(|k| t + k + 1 >= taps)
            .map(|k| w[(c, k)] * x[(t + k + 1 - taps, c)])
            .sum::<f64>()
            + b[c]
    })
}
// ANCHOR_END: causal_conv

/// The last `width` rows of `x` as columns, oldest first, zero-padded on the
/// left: the convolution's state after the sequence. `(len, d)` → `(d, width)`.
pub fn last_inputs(x: &DMatrix<f64>, width: usize) -> DMatrix<f64> {
    let len = x.nrows();
    DMatrix::from_fn(x.ncols(), width, |c, k| {
        (len + k).checked_sub(width).map_or(0.0, |t| x[(t, c)])
    })
}
