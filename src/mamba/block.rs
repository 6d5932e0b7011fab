//! The Mamba block: input projection into x and a gate z, a short causal
//! convolution, the selection projections, the selective scan, and the output
//! projection; with its configuration and the reference initialisation.

use nalgebra::{DMatrix, DVector, RealField};
use rand::RngExt;
use rand::rngs::StdRng;
use rayon::prelude::*;

use super::fast::{exp_f32, selective_scan_fast, softplus_f32};
use super::selective::{ScanOutput, SelectiveScan, selective_scan, silu, softplus};
use crate::error::{Error, Result, check_positive_range, check_size};

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
    pub norm_eps: f32,
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
        }
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
        check_size("dt_rank", self.dt_rank)?;
        check_positive_range("dt_min..dt_max", self.dt_min, self.dt_max)?;
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return Err(Error::invalid("norm_eps", self.norm_eps, "finite and > 0"));
        }
        Ok(())
    }
}

/// A linear map stored as `(in, out)`, so that a sequence `(len, in)` maps by
/// one matrix product and a single vector by dot products with contiguous
/// columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// The weight, `(in, out)`.
    pub w: DMatrix<f32>,
    /// The bias, `(out,)`, if any.
    pub bias: Option<DVector<f32>>,
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
        let bound = 1.0 / (inputs as f32).sqrt();
        let w = DMatrix::from_fn(inputs, outputs, |_, _| {
            rng.random_range(-bound..bound)
        });
        let bias = bias.then(|| {
            DVector::from_fn(outputs, |_, _| rng.random_range(-bound..bound))
        });
        Linear { w, bias }
    }

    /// The map applied to every row: `(len, in)` → `(len, out)`.
    pub fn forward(&self, x: &DMatrix<f32>) -> DMatrix<f32> {
        assert_eq!(
            x.ncols(),
            self.w.nrows(),
            "Linear: input has shape {:?} but the weight has shape {:?}",
            x.shape(),
            self.w.shape()
        );
        let mut y = parallel_matmul(x, &self.w);
        if let Some(b) = &self.bias {
            for (j, mut column) in y.column_iter_mut().enumerate() {
                column.add_scalar_mut(b[j]);
            }
        }
        y
    }
}

/// `x · w`, with the rows of `x` split into one block per rayon thread, each
/// block an ordinary (single-threaded) nalgebra matrix product: the
/// prefill's projections are most of its time.
pub fn parallel_matmul(x: &DMatrix<f32>, w: &DMatrix<f32>) -> DMatrix<f32> {
    let (rows, threads) = (x.nrows(), rayon::current_num_threads());
    if threads < 2 || rows < 64 {
        return x * w;
    }
    let block = rows.div_ceil(threads);
    let parts: Vec<(usize, DMatrix<f32>)> = (0..rows.div_ceil(block))
        .into_par_iter()
        .map(|i| {
            let start = i * block;
            let count = block.min(rows - start);
            (start, x.rows(start, count) * w)
        })
        .collect();
    let mut y = DMatrix::zeros(rows, w.ncols());
    for (start, part) in parts {
        y.rows_mut(start, part.nrows()).copy_from(&part);
    }
    y
}

/// $W^\top v$ for a column-major `(in, out)` matrix: one dot product per
/// contiguous column, blocks of columns in parallel. Reading the weights is
/// all the work, so this runs at the speed of memory.
///
/// # Panics
/// If `v` does not have one entry per row of `w`.
pub fn columns_dot(w: &DMatrix<f32>, v: &[f32]) -> Vec<f32> {
    split_columns(w.as_slice(), w.shape(), v, dots_into)
}

/// A weight matrix that a decoding step multiplies a vector by: the `f32`
/// weights themselves, or a [`Bf16Matrix`] copy of them.
pub trait Weight: Sync {
    /// $W^\top v$ (see [`columns_dot`]).
    ///
    /// # Panics
    /// If `v` does not have one entry per row.
    fn columns_dot(&self, v: &[f32]) -> Vec<f32>;
    /// Column `j` in `f32` (an embedding's row, for one token).
    ///
    /// # Panics
    /// If `j` is not below the number of columns.
    fn column_f32(&self, j: usize) -> Vec<f32>;
}

impl Weight for DMatrix<f32> {
    fn columns_dot(&self, v: &[f32]) -> Vec<f32> {
        columns_dot(self, v)
    }

    fn column_f32(&self, j: usize) -> Vec<f32> {
        self.column(j).iter().copied().collect()
    }
}

/// A weight matrix stored in bfloat16: `f32`'s sign and exponent with 7 of
/// its 23 stored mantissa bits (8 significant bits: a relative rounding
/// error up to $2^{-8}$), in half the bytes. Decoding only reads weights, so
/// halving their bytes nearly halves its time. Column-major `(in, out)`,
/// like [`Linear::w`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bf16Matrix {
    rows: usize,
    cols: usize,
    data: Vec<half::bf16>,
}

impl Bf16Matrix {
    /// `w` rounded entry by entry to the nearest bfloat16 (ties to even), by
    /// the `half` crate.
    pub fn from_f32(w: &DMatrix<f32>) -> Self {
        Bf16Matrix {
            rows: w.nrows(),
            cols: w.ncols(),
            data: w.iter().map(|&x| half::bf16::from_f32(x)).collect(),
        }
    }

    /// The matrix in `f32` (exactly: every bfloat16 is an `f32`).
    pub fn to_f32(&self) -> DMatrix<f32> {
        DMatrix::from_iterator(
            self.rows,
            self.cols,
            self.data.iter().map(|&x| widen(x)),
        )
    }

    /// `(rows, columns)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
}

impl Weight for Bf16Matrix {
    fn columns_dot(&self, v: &[f32]) -> Vec<f32> {
        split_columns(&self.data, self.shape(), v, dots_into_bf16)
    }

    fn column_f32(&self, j: usize) -> Vec<f32> {
        assert!(j < self.cols, "Bf16Matrix: column {j} of {}", self.cols);
        self.data[j * self.rows..][..self.rows]
            .iter()
            .map(|&x| widen(x))
            .collect()
    }
}

/// A bfloat16 as `f32`: its 16 bits are the top half of the `f32`'s (one
/// shift, which vectorises; `half`'s own conversion also checks for NaN).
#[inline(always)]
fn widen(x: half::bf16) -> f32 {
    f32::from_bits(u32::from(x.to_bits()) << 16)
}

/// $W^\top v$ for the column-major `(rows, cols)` matrix `data`, `dots`
/// computing the dot products of a run of columns: blocks of 64 columns in
/// parallel.
fn split_columns<T: Sync>(
    data: &[T],
    (rows, cols): (usize, usize),
    v: &[f32],
    dots: fn(&[T], &[f32], &mut [f32]),
) -> Vec<f32> {
    assert_eq!(
        v.len(),
        rows,
        "columns_dot: v ({},) vs W ({rows}, {cols})",
        v.len()
    );
    let mut out = vec![0.0; cols];
    if rows == 0 {
        return out;
    }
    if data.len() < 1 << 18 {
        // Under 2^18 weights: waking a second thread costs more than it saves.
        dots(data, v, &mut out);
        return out;
    }
    out.par_chunks_mut(64)
        .zip(data.par_chunks(64 * rows))
        .for_each(|(out, columns)| dots(columns, v, out));
    out
}

/// `out[i]` = the dot product of column `i` of `columns` (each `v.len()`
/// long, one after another) with `v`; compiled for AVX-512, AVX2 with FMA
/// and the SSE2 baseline, the best chosen at run time (`multiversion`).
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn dots_into(columns: &[f32], v: &[f32], out: &mut [f32]) {
    for (o, column) in out.iter_mut().zip(columns.chunks_exact(v.len())) {
        *o = dot(column, v);
    }
}

/// [`dots_into`] for bfloat16 columns, each widened to `f32` as it is read.
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn dots_into_bf16(columns: &[half::bf16], v: &[f32], out: &mut [f32]) {
    for (o, column) in out.iter_mut().zip(columns.chunks_exact(v.len())) {
        *o = dot_by(column, v, widen);
    }
}

/// A dot product with 64 independent partial sums (16 in the last stretch
/// under 64 long), so that it vectorises (float addition is not associative,
/// so the compiler will not reorder one running sum): four AVX-512
/// registers, whose additions overlap, so that the arithmetic outpaces
/// memory even on bfloat16 weights (one addition per 32 bytes read). The
/// 48-long columns of `dt_proj` need no scalar tail.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_by(a, b, |x| x)
}

/// [`dot`] with each entry of `a` read through `f`.
#[inline(always)]
fn dot_by<T: Copy>(a: &[T], b: &[f32], f: impl Fn(T) -> f32) -> f32 {
    const K: usize = 16;
    let mut wide = [[0.0f32; K]; 4];
    let (a4, b4) = (a.chunks_exact(4 * K), b.chunks_exact(4 * K));
    let (a_rest, b_rest) = (a4.remainder(), b4.remainder());
    for (x, y) in a4.zip(b4) {
        for (i, acc) in wide.iter_mut().enumerate() {
            for j in 0..K {
                acc[j] += f(x[i * K + j]) * y[i * K + j];
            }
        }
    }
    let mut acc = [0.0f32; K];
    for partial in wide {
        for j in 0..K {
            acc[j] += partial[j];
        }
    }
    let (ak, bk) = (a_rest.chunks_exact(K), b_rest.chunks_exact(K));
    let tail: f32 = ak
        .remainder()
        .iter()
        .zip(bk.remainder())
        .map(|(&x, y)| f(x) * y)
        .sum();
    for (x, y) in ak.zip(bk) {
        for j in 0..K {
            acc[j] += f(x[j]) * y[j];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// One step of the selective SSM for every channel at once (Eq. (M7)
/// without skip and gate): $\Delta = \mathrm{softplus}(\delta)$, then for each
/// state $k$, $h_{:,k} \leftarrow e^{\Delta A_{:,k}} \odot h_{:,k} + \Delta B_k x$
/// and $y \mathrel{+}= C_k h_{:,k}$. Column $k$ of `a` and of `state` is
/// contiguous over channels, so each update vectorises across channels;
/// compiled like [`columns_dot`]'s kernel.
///
/// # Shapes
/// `a`, `state`: `(d_inner, N)`; `delta`, `x`, `y`: `(d_inner,)`;
/// `b`, `c`: `(N,)`.
// ANCHOR: ssm_step
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
pub fn ssm_step(
    a: &DMatrix<f32>,
    state: &mut DMatrix<f32>,
    delta: &[f32],
    x: &[f32],
    (b, c): (&[f32], &[f32]),
    y: &mut [f32],
) {
    let di = x.len();
    let dt: Vec<f32> = delta.iter().map(|&v| softplus_f32(v)).collect();
    let dt_x: Vec<f32> = dt.iter().zip(x).map(|(dt, x)| dt * x).collect();
    for (k, (&b, &c)) in b.iter().zip(c).enumerate() {
        let a = &a.as_slice()[k * di..][..di];
        let h = &mut state.as_mut_slice()[k * di..][..di];
        for ((((h, a), dt), dt_x), y) in
            h.iter_mut().zip(a).zip(&dt).zip(&dt_x).zip(y.iter_mut())
        {
            *h = exp_f32(dt * a) * *h + dt_x * b;
            *y += c * *h;
        }
    }
}
// ANCHOR_END: ssm_step

/// One Mamba block (the mixer; the norm and residual live in the model).
#[derive(Debug, Clone, PartialEq)]
pub struct MambaBlock {
    /// `d_model → 2·d_inner` (x then z), no bias.
    pub in_proj: Linear,
    /// The depthwise causal convolution, `(d_inner, d_conv)`: tap `k` multiplies
    /// the input `d_conv − 1 − k` steps back.
    pub conv_weight: DMatrix<f32>,
    /// The convolution's bias, `(d_inner,)`.
    pub conv_bias: DVector<f32>,
    /// `d_inner → dt_rank + 2N` (Δ's low-rank input, B, C), no bias.
    pub x_proj: Linear,
    /// `dt_rank → d_inner`; its bias is Δ's bias (added inside the scan).
    pub dt_proj: Linear,
    /// $\log(-A)$, `(d_inner, N)`: the stored parameter, as in the reference.
    pub a_log: DMatrix<f32>,
    /// $A = -e^{A_{\log}}$, `(d_inner, N)`, computed once by the constructor
    /// (decoding would otherwise spend a third of its time on these `exp`s);
    /// call [`MambaBlock::refresh`] after changing `a_log`.
    pub a: DMatrix<f32>,
    /// The skip $D$, `(d_inner,)`.
    pub d: DVector<f32>,
    /// `d_inner → d_model`, no bias.
    pub out_proj: Linear,
    /// The sizes.
    pub config: MambaConfig,
}

/// The selection: the scan's inputs, computed from the block's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The scan's input: convolved and SiLU-activated, `(len, d_inner)`.
    pub x: DMatrix<f32>,
    /// The convolution's input (kept for the conv state), `(len, d_inner)`.
    pub x_raw: DMatrix<f32>,
    /// The gate, `(len, d_inner)`.
    pub z: DMatrix<f32>,
    /// Δ before its bias and softplus, `(len, d_inner)`.
    pub delta: DMatrix<f32>,
    /// $B_t$, `(len, N)`.
    pub b: DMatrix<f32>,
    /// $C_t$, `(len, N)`.
    pub c: DMatrix<f32>,
}

/// What a block's forward pass leaves behind for recurrent inference.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockCache {
    /// The last `d_conv` inputs of the convolution (before it), oldest first,
    /// `(d_inner, d_conv)`; zeros before the sequence starts.
    pub conv_state: DMatrix<f32>,
    /// The SSM state, `(d_inner, N)`.
    pub ssm_state: DMatrix<f32>,
}

impl MambaBlock {
    /// A block initialised as the reference does: PyTorch defaults for the
    /// projections and the convolution; `dt_proj`'s weight
    /// $U(\pm \text{dt\_rank}^{-1/2})$ and its bias the inverse softplus of a
    /// log-uniform Δ in [dt_min, dt_max] (at least 1e-4); $A = -(1, \dots, N)$
    /// in every channel (S4D-Real); $D = 1$; `out_proj` divided by
    /// $\sqrt{n_{layer}}$.
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
        let conv_bound = 1.0 / (config.d_conv as f32).sqrt();
        let conv_weight = DMatrix::from_fn(di, config.d_conv, |_, _| {
            rng.random_range(-conv_bound..conv_bound)
        });
        let conv_bias =
            DVector::from_fn(di, |_, _| rng.random_range(-conv_bound..conv_bound));
        let x_proj = Linear::uniform(rng, di, r + 2 * n, false);
        let dt_std = 1.0 / (r as f32).sqrt();
        let dt_bias = DVector::from_fn(di, |_, _| {
            initial_dt_bias(rng, config.dt_min, config.dt_max) as f32
        });
        let dt_proj = Linear {
            w: DMatrix::from_fn(r, di, |_, _| rng.random_range(-dt_std..dt_std)),
            bias: Some(dt_bias),
        };
        let a_log = DMatrix::from_fn(di, n, |_, k| ((k + 1) as f32).ln());
        let mut out_proj = Linear::uniform(rng, di, dm, false);
        out_proj.w /= (config.n_layer as f32).sqrt();
        Ok(MambaBlock {
            in_proj,
            conv_weight,
            conv_bias,
            x_proj,
            dt_proj,
            a: a_log.map(|v| -v.exp()),
            a_log,
            d: DVector::from_element(di, 1.0),
            out_proj,
            config: config.clone(),
        })
    }

    /// The number of parameters.
    pub fn parameter_count(&self) -> usize {
        let linear = |l: &Linear| l.w.len() + l.bias.as_ref().map_or(0, |b| b.len());
        linear(&self.in_proj)
            + self.conv_weight.len()
            + self.conv_bias.len()
            + linear(&self.x_proj)
            + linear(&self.dt_proj)
            + self.a_log.len()
            + self.d.len()
            + linear(&self.out_proj)
    }

    /// Recomputes $A = -e^{A_{\log}}$ after `a_log` has changed.
    pub fn refresh(&mut self) {
        self.a = self.a_log.map(|v| -v.exp());
    }

    /// The selection mechanism on a whole sequence: everything the scan
    /// needs, computed from the input.
    ///
    /// Implements Eq. (M1): $(x, z) = h W_{in}$, $x \leftarrow \mathrm{SiLU}(\mathrm{conv}(x))$,
    /// $(\delta, B, C) = x W_{x}$ split as (dt_rank, N, N),
    /// $\Delta = \mathrm{softplus}(\delta W_{dt} + b_{dt})$.
    ///
    /// # Shapes
    /// `h`: `(len, d_model)`.
    ///
    /// # References
    /// Mamba Algorithm 2, §3.6 (Δ through a rank-`dt_rank` projection);
    /// `mamba_simple.py::Mamba.forward`.
    // ANCHOR: select
    pub fn select(&self, h: &DMatrix<f32>) -> Selection {
        let (di, n, r) = (
            self.config.d_inner(),
            self.config.d_state,
            self.config.dt_rank,
        );
        let xz = self.in_proj.forward(h); // (len, 2·d_inner)
        let x_raw = xz.columns(0, di).into_owned();
        let z = xz.columns(di, di).into_owned();
        let x = causal_conv(&x_raw, &self.conv_weight, &self.conv_bias)
            .map(|v| v / (1.0 + exp_f32(-v))); // SiLU
        let x_dbl = self.x_proj.forward(&x); // (len, dt_rank + 2N)
        Selection {
            delta: x_dbl.columns(0, r) * &self.dt_proj.w, // bias added in the scan
            b: x_dbl.columns(r, n).into_owned(),
            c: x_dbl.columns(r + n, n).into_owned(),
            x,
            x_raw,
            z,
        }
    }
    // ANCHOR_END: select

    /// Δ itself, `softplus(delta + bias)`, `(len, d_inner)`.
    pub fn step_sizes(&self, selection: &Selection) -> DMatrix<f32> {
        let bias = self.dt_proj.bias.as_ref();
        DMatrix::from_fn(
            selection.delta.nrows(),
            selection.delta.ncols(),
            |t, ch| softplus(selection.delta[(t, ch)] + bias.map_or(0.0, |b| b[ch])),
        )
    }

    /// The block on a whole sequence, with the fast scan or the readable one.
    ///
    /// Implements Eq. (M5): $y = \mathrm{S6}(x, \Delta, A, B, C, D)\cdot\mathrm{SiLU}(z)$,
    /// then $y W_{out}$, with the selection of Eq. (M1).
    ///
    /// # Shapes
    /// `h`: `(len, d_model)` → `(len, d_model)`, and the cache that
    /// [`MambaBlock::step`] continues from.
    ///
    /// # References
    /// Mamba §3.4, Fig. 3; `mamba_simple.py::Mamba.forward` (the slow path).
    // ANCHOR: block_forward
    pub fn forward(
        &self,
        h: &DMatrix<f32>,
        fast: bool,
    ) -> (DMatrix<f32>, BlockCache) {
        let s = self.select(h);
        let args = SelectiveScan::new(&s.x, &s.delta, &self.a, &s.b, &s.c)
            .with_skip(&self.d)
            .with_gate(&s.z)
            .with_delta_bias(self.dt_proj.bias.as_ref(), true);
        let ScanOutput { y, last_state } = if fast {
            selective_scan_fast(&args)
        } else {
            selective_scan(&args)
        };
        let cache = BlockCache {
            conv_state: last_inputs(&s.x_raw, self.config.d_conv),
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

    /// One token through the block, updating the cache (see
    /// [`MambaBlock::step_with`]), with the block's own `f32` weights.
    ///
    /// # Shapes
    /// `h`: `(d_model,)` → `(d_model,)`.
    pub fn step(&self, h: &[f32], cache: &mut BlockCache) -> Vec<f32> {
        self.step_with(self.weights(), h, cache)
    }

    /// The block's four matrices, as [`MambaBlock::step_with`] reads them.
    pub fn weights(&self) -> StepWeights<'_, DMatrix<f32>> {
        StepWeights {
            in_proj: &self.in_proj.w,
            x_proj: &self.x_proj.w,
            dt_proj: &self.dt_proj.w,
            out_proj: &self.out_proj.w,
        }
    }

    /// One token through the block, updating the cache, with the matrices
    /// `weights` (the block's own, or copies in another precision; the
    /// biases, the convolution, $A$ and $D$ are the block's): the
    /// convolution's window rolls left by one and takes the new raw input;
    /// the SSM takes one step of the recurrence.
    ///
    /// Implements Eq. (M7): $h_t = e^{\Delta_t A} \odot h_{t-1} + \Delta_t B_t x_t$,
    /// $y_t = (h_t C_t + D x_t)\,\mathrm{SiLU}(z_t)$.
    ///
    /// # Shapes
    /// `h`: `(d_model,)` → `(d_model,)`.
    ///
    /// # References
    /// `mamba_simple.py::Mamba.step`.
    // ANCHOR: block_step
    pub fn step_with<W: Weight>(
        &self,
        weights: StepWeights<'_, W>,
        h: &[f32],
        cache: &mut BlockCache,
    ) -> Vec<f32> {
        let (di, n, r, w) = (
            self.config.d_inner(),
            self.config.d_state,
            self.config.dt_rank,
            self.config.d_conv,
        );
        let xz = project(weights.in_proj, self.in_proj.bias.as_ref(), h);
        let (x_raw, z) = xz.split_at(di);
        let mut x = vec![0.0f32; di];
        for (ch, x) in x.iter_mut().enumerate() {
            let mut window = cache.conv_state.row_mut(ch);
            for k in 0..w - 1 {
                window[k] = window[k + 1]; // roll left by one
            }
            window[w - 1] = x_raw[ch];
            let conv: f32 = (0..w)
                .map(|k| self.conv_weight[(ch, k)] * window[k])
                .sum::<f32>();
            *x = silu(conv + self.conv_bias[ch]);
        }
        let x_dbl = project(weights.x_proj, self.x_proj.bias.as_ref(), &x);
        let (dt_low, bc) = x_dbl.split_at(r);
        let (b, c) = bc.split_at(n);
        let delta = project(weights.dt_proj, self.dt_proj.bias.as_ref(), dt_low);
        let mut y = vec![0.0f32; di];
        ssm_step(&self.a, &mut cache.ssm_state, &delta, &x, (b, c), &mut y);
        for (ch, y) in y.iter_mut().enumerate() {
            *y = (*y + self.d[ch] * x[ch]) * silu(z[ch]);
        }
        project(weights.out_proj, self.out_proj.bias.as_ref(), &y)
    }
    // ANCHOR_END: block_step
}

/// The four matrices that a decoding step of one block reads (every other
/// parameter is small), in whatever precision they are stored.
#[derive(Debug)]
pub struct StepWeights<'a, W> {
    /// `d_model → 2·d_inner`.
    pub in_proj: &'a W,
    /// `d_inner → dt_rank + 2N`.
    pub x_proj: &'a W,
    /// `dt_rank → d_inner`.
    pub dt_proj: &'a W,
    /// `d_inner → d_model`.
    pub out_proj: &'a W,
}

impl<W> Clone for StepWeights<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<W> Copy for StepWeights<'_, W> {}

/// A block's four matrices in bfloat16 (see [`Bf16Matrix`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Bf16Block {
    /// `in_proj`'s weight.
    pub in_proj: Bf16Matrix,
    /// `x_proj`'s weight.
    pub x_proj: Bf16Matrix,
    /// `dt_proj`'s weight.
    pub dt_proj: Bf16Matrix,
    /// `out_proj`'s weight.
    pub out_proj: Bf16Matrix,
}

impl Bf16Block {
    /// The block's matrices rounded to bfloat16.
    pub fn new(block: &MambaBlock) -> Self {
        Bf16Block {
            in_proj: Bf16Matrix::from_f32(&block.in_proj.w),
            x_proj: Bf16Matrix::from_f32(&block.x_proj.w),
            dt_proj: Bf16Matrix::from_f32(&block.dt_proj.w),
            out_proj: Bf16Matrix::from_f32(&block.out_proj.w),
        }
    }

    /// The matrices, as [`MambaBlock::step_with`] reads them.
    pub fn weights(&self) -> StepWeights<'_, Bf16Matrix> {
        StepWeights {
            in_proj: &self.in_proj,
            x_proj: &self.x_proj,
            dt_proj: &self.dt_proj,
            out_proj: &self.out_proj,
        }
    }
}

/// $W^\top v + b$.
fn project<W: Weight>(w: &W, bias: Option<&DVector<f32>>, v: &[f32]) -> Vec<f32> {
    let mut out = w.columns_dot(v);
    if let Some(b) = bias {
        for (o, b) in out.iter_mut().zip(b.iter()) {
            *o += b;
        }
    }
    out
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
    let dt = rng.random_range(dt_min.ln()..dt_max.ln()).exp().max(1e-4);
    inverse_softplus(dt)
}

/// The depthwise causal convolution: channel $c$'s output at $t$ is
/// $\sum_{k} w_{c,k}\, x_{t-(K-1)+k, c} + b_c$, with zeros before the start.
///
/// Implements Eq. (M6): $y_{t,c} = b_c + \sum_{k=0}^{K-1} w_{c,k}\, x_{t-K+1+k,\,c}$.
///
/// # Shapes
/// `x`: `(len, d)`, `w`: `(d, K)`, `b`: `(d,)` → `(len, d)`.
///
/// # References
/// `mamba_simple.py` (`nn.Conv1d(groups=d_inner, padding=d_conv − 1)`, first
/// `len` outputs kept).
// ANCHOR: causal_conv
pub fn causal_conv<T: RealField + Copy>(
    x: &DMatrix<T>,
    w: &DMatrix<T>,
    b: &DVector<T>,
) -> DMatrix<T> {
    assert!(
        w.nrows() == x.ncols() && b.len() == x.ncols(),
        "causal_conv: x {:?}, w {:?}, b ({},)",
        x.shape(),
        w.shape(),
        b.len()
    );
    let (len, taps) = (x.nrows(), w.ncols());
    let mut y = DMatrix::zeros(len, x.ncols());
    // Channel by channel (contiguous columns): y_t = b + Σ_k w_k x_{t−K+1+k}.
    for (c, (mut out, input)) in y.column_iter_mut().zip(x.column_iter()).enumerate()
    {
        out.fill(b[c]);
        for k in 0..taps {
            let lag = taps - 1 - k; // tap k reads the input `lag` steps back
            for t in lag..len {
                out[t] += w[(c, k)] * input[t - lag];
            }
        }
    }
    y
}
// ANCHOR_END: causal_conv

/// The last `width` rows of `x` as columns, oldest first, zero-padded on the
/// left: the convolution's state after the sequence. `(len, d)` → `(d, width)`.
pub fn last_inputs<T: RealField + Copy>(x: &DMatrix<T>, width: usize) -> DMatrix<T> {
    let len = x.nrows();
    DMatrix::from_fn(x.ncols(), width, |c, k| {
        (len + k)
            .checked_sub(width)
            .map_or(T::zero(), |t| x[(t, c)])
    })
}
