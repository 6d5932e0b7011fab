//! The fast `f32` Mamba model, built from the readable one: the same block
//! and model with `f32` weights, the fast scan in the parallel pass, and a
//! decoding step that reads each weight once (in `f32` or bfloat16).

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::scan::{
    FastScan, FastScanOutput, exp_f32, selective_scan_fast, to_f32, to_f32_vector,
};
use super::weights::{Bf16Matrix, Linear32, Weight, columns_dot, project, ssm_step};
use crate::error::{Error, Result};
use crate::mamba::block::MambaBlock;
use crate::mamba::config::MambaConfig;
use crate::mamba::model::{MambaModel, RmsNorm, check_tokens};
use crate::mamba::selective::BRule;

/// $x\,\sigma(x)$ in `f32`, with the fast `exp`.
fn silu(x: f32) -> f32 {
    x / (1.0 + exp_f32(-x))
}

/// [`MambaBlock`] in `f32`, with $A = -e^{A_{\log}}$ computed once (decoding
/// would otherwise spend a third of its time on these `exp`s).
#[derive(Debug, Clone, PartialEq)]
pub struct FastBlock {
    /// `d_model → 2·d_inner` (x then z).
    pub in_proj: Linear32,
    /// The depthwise causal convolution, `(d_inner, d_conv)`.
    pub conv_weight: DMatrix<f32>,
    /// The convolution's bias, `(d_inner,)`.
    pub conv_bias: DVector<f32>,
    /// `d_inner → dt_rank + 2N`.
    pub x_proj: Linear32,
    /// `dt_rank → d_inner`, with Δ's bias.
    pub dt_proj: Linear32,
    /// $A$, `(d_inner, N)`.
    pub a: DMatrix<f32>,
    /// The skip $D$, `(d_inner,)`.
    pub d: DVector<f32>,
    /// `d_inner → d_model`.
    pub out_proj: Linear32,
    /// The sizes.
    pub config: MambaConfig,
}

/// [`crate::mamba::block::BlockCache`] in `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct FastCache {
    /// The last `d_conv` raw inputs of the convolution, `(d_inner, d_conv)`.
    pub conv_state: DMatrix<f32>,
    /// The SSM state, `(d_inner, N)`.
    pub ssm_state: DMatrix<f32>,
}

impl From<&MambaBlock> for FastBlock {
    /// The readable block's parameters rounded to `f32`.
    fn from(block: &MambaBlock) -> Self {
        FastBlock {
            in_proj: Linear32::from(&block.in_proj),
            conv_weight: to_f32(&block.conv_weight),
            conv_bias: to_f32_vector(&block.conv_bias),
            x_proj: Linear32::from(&block.x_proj),
            dt_proj: Linear32::from(&block.dt_proj),
            a: to_f32(&block.a()),
            d: to_f32_vector(&block.d),
            out_proj: Linear32::from(&block.out_proj),
            config: block.config.clone(),
        }
    }
}

impl FastBlock {
    /// The block on a whole sequence with the fast scan
    /// ([`MambaBlock::forward`] in `f32`).
    ///
    /// # Shapes
    /// `h`: `(len, d_model)` → `(len, d_model)`, and the cache to continue.
    ///
    /// # Panics
    /// If `h` does not have `d_model` columns.
    pub fn forward(&self, h: &DMatrix<f32>) -> (DMatrix<f32>, FastCache) {
        crate::support::shapes::has_columns(
            "FastBlock::forward",
            ("h", h.shape()),
            self.config.d_model,
        );
        let (di, n, r) = (
            self.config.d_inner(),
            self.config.d_state,
            self.config.dt_rank,
        );
        let xz = self.in_proj.forward(h); // (len, 2·d_inner)
        let x_raw = xz.columns(0, di).into_owned();
        let x = causal_conv_f32(&x_raw, &self.conv_weight, &self.conv_bias);
        // The time-invariant core's selection sees no input (its bias is B, C).
        let selection_input = match self.config.selective {
            true => x.clone(),
            false => DMatrix::zeros(x.nrows(), 0),
        };
        let x_dbl = self.x_proj.forward(&selection_input); // (len, dt_rank + 2N)
        let args = FastScan {
            delta: x_dbl.columns(0, r) * &self.dt_proj.w,
            b: x_dbl.columns(r, n).into_owned(),
            c: x_dbl.columns(r + n, n).into_owned(),
            u: x,
            a: self.a.clone(),
            d_skip: Some(self.d.clone()),
            z: Some(xz.columns(di, di).into_owned()),
            delta_bias: self.dt_proj.bias.clone(),
            delta_softplus: true,
            b_rule: BRule::Euler,
        };
        let FastScanOutput { y, last_state } = selective_scan_fast(&args);
        let cache = FastCache {
            conv_state: last_inputs_f32(&x_raw, self.config.d_conv),
            ssm_state: last_state,
        };
        (self.out_proj.forward(&y), cache)
    }

    /// An empty cache: the state before any token.
    pub fn empty_cache(&self) -> FastCache {
        FastCache {
            conv_state: DMatrix::zeros(self.config.d_inner(), self.config.d_conv),
            ssm_state: DMatrix::zeros(self.config.d_inner(), self.config.d_state),
        }
    }

    /// The block's four large matrices, as [`FastBlock::step_with`] reads them.
    pub fn weights(&self) -> StepWeights<'_, DMatrix<f32>> {
        StepWeights {
            in_proj: &self.in_proj.w,
            x_proj: &self.x_proj.w,
            dt_proj: &self.dt_proj.w,
            out_proj: &self.out_proj.w,
        }
    }

    /// One token through the block ([`MambaBlock::step`] in `f32`), with the
    /// matrices `weights` (the block's own, or copies in another precision;
    /// the biases, the convolution, $A$ and $D$ are the block's). Each
    /// projection is one dot product per contiguous column of its weight
    /// ([`Weight::columns_dot`]), and the recurrence updates the channels in
    /// vector lanes ([`ssm_step`]).
    ///
    /// # Shapes
    /// `h`: `(d_model,)` → `(d_model,)`.
    ///
    /// # Panics
    /// If `h` or the cache do not have the block's shapes.
    // ANCHOR: fast_block_step
    pub fn step_with<W: Weight>(
        &self,
        weights: StepWeights<'_, W>,
        h: &[f32],
        cache: &mut FastCache,
    ) -> Vec<f32> {
        let (di, n, r, w) = (
            self.config.d_inner(),
            self.config.d_state,
            self.config.dt_rank,
            self.config.d_conv,
        );
        check_cache(cache, (di, w), (di, n));
        let xz = project(weights.in_proj, self.in_proj.bias.as_ref(), h);
        let (x_raw, z) = xz.split_at(di);
        let mut x = vec![0.0f32; di];
        for (ch, x) in x.iter_mut().enumerate() {
            let mut window = cache.conv_state.row_mut(ch);
            for k in 0..w - 1 {
                window[k] = window[k + 1]; // roll left by one
            }
            window[w - 1] = x_raw[ch];
            let conv: f32 =
                (0..w).map(|k| self.conv_weight[(ch, k)] * window[k]).sum();
            *x = silu(conv + self.conv_bias[ch]);
        }
        let selection_input = if self.config.selective { &x[..] } else { &[] };
        let x_dbl =
            project(weights.x_proj, self.x_proj.bias.as_ref(), selection_input);
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
    // ANCHOR_END: fast_block_step
}

/// # Panics
/// If the cache's shapes are not the block's, naming both.
fn check_cache(cache: &FastCache, conv: (usize, usize), ssm: (usize, usize)) {
    assert!(
        cache.conv_state.shape() == conv && cache.ssm_state.shape() == ssm,
        "FastBlock::step: cache conv {:?} and ssm {:?}, the block needs {conv:?} and {ssm:?}",
        cache.conv_state.shape(),
        cache.ssm_state.shape(),
    );
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

/// The depthwise causal convolution followed by SiLU (Eq. (M2), then the
/// activation), in `f32`, channel by channel over contiguous columns, the
/// channels in parallel.
///
/// # Shapes
/// `x`: `(len, d)`, `w`: `(d, K)`, `b`: `(d,)` → `(len, d)`.
///
/// # Panics
/// If `w` or `b` does not have one row or entry per channel of `x`.
pub fn causal_conv_f32(
    x: &DMatrix<f32>,
    w: &DMatrix<f32>,
    b: &DVector<f32>,
) -> DMatrix<f32> {
    assert!(
        w.nrows() == x.ncols() && b.len() == x.ncols(),
        "causal_conv_f32: x {:?}, w {:?} and b ({},) need one row of w and one bias per channel",
        x.shape(),
        w.shape(),
        b.len()
    );
    let (len, taps) = (x.nrows(), w.ncols());
    let mut y = DMatrix::zeros(len, x.ncols());
    y.as_mut_slice()
        .par_chunks_mut(len.max(1))
        .zip(x.as_slice().par_chunks(len.max(1)))
        .enumerate()
        .for_each(|(c, (out, input))| {
            out.fill(b[c]);
            for k in 0..taps {
                let lag = taps - 1 - k; // tap k reads the input `lag` steps back
                for t in lag..len {
                    out[t] += w[(c, k)] * input[t - lag];
                }
            }
            for v in out.iter_mut() {
                *v = silu(*v);
            }
        });
    y
}

/// [`crate::mamba::block::last_inputs`] in `f32`.
fn last_inputs_f32(x: &DMatrix<f32>, width: usize) -> DMatrix<f32> {
    let len = x.nrows();
    DMatrix::from_fn(x.ncols(), width, |c, k| {
        (len + k).checked_sub(width).map_or(0.0, |t| x[(t, c)])
    })
}

/// [`RmsNorm`] in `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct RmsNorm32 {
    /// The weight, `(d,)`.
    pub weight: DVector<f32>,
    /// Added to the mean square, ε.
    pub eps: f32,
}

impl From<&RmsNorm> for RmsNorm32 {
    fn from(norm: &RmsNorm) -> Self {
        RmsNorm32 {
            weight: to_f32_vector(&norm.weight),
            eps: norm.eps as f32,
        }
    }
}

impl RmsNorm32 {
    /// Eq. (M7) on one vector.
    ///
    /// # Panics
    /// If `x` does not have one entry per weight.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        assert_eq!(
            x.len(),
            self.weight.len(),
            "RmsNorm32::apply: x ({},) vs weight ({},)",
            x.len(),
            self.weight.len()
        );
        let mean_square = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        let scale = inverse_rms(x.iter().copied(), mean_square, self.eps);
        x.iter()
            .zip(self.weight.iter())
            .map(|(v, w)| v * scale * w)
            .collect()
    }

    /// Eq. (M7) on every row of a `(len, d)` sequence, computed column by
    /// column (the matrix is column-major, so rows are strided).
    ///
    /// # Panics
    /// If `x` does not have one column per weight.
    pub fn apply_rows(&self, x: &DMatrix<f32>) -> DMatrix<f32> {
        crate::support::shapes::has_columns(
            "RmsNorm32::apply_rows",
            ("x", x.shape()),
            self.weight.len(),
        );
        let (len, d) = x.shape();
        let mut mean_square = vec![0.0f32; len];
        for column in x.column_iter() {
            for (m, v) in mean_square.iter_mut().zip(column.iter()) {
                *m += v * v;
            }
        }
        let scale: Vec<f32> = mean_square
            .iter()
            .enumerate()
            .map(|(t, m)| {
                inverse_rms(x.row(t).iter().copied(), m / d as f32, self.eps)
            })
            .collect();
        let mut y = x.clone();
        for (mut column, w) in y.column_iter_mut().zip(self.weight.iter()) {
            for (v, s) in column.iter_mut().zip(&scale) {
                *v *= s * w;
            }
        }
        y
    }
}

/// $1/\sqrt{\overline{x^2} + \epsilon}$ from the mean square, or, where the
/// squares overflow `f32` (entries above about $10^{19}$) although the norm's
/// result does not, from the entries scaled by their largest magnitude $m$:
/// $1 / (m\sqrt{\overline{(x/m)^2}})$ (ε is negligible there).
fn inverse_rms(
    x: impl Iterator<Item = f32> + Clone,
    mean_square: f32,
    eps: f32,
) -> f32 {
    if mean_square.is_finite() {
        return 1.0 / (mean_square + eps).sqrt();
    }
    let m = x.clone().fold(0.0f32, |m, v| m.max(v.abs()));
    let count = x.clone().count() as f32;
    let scaled = x.map(|v| (v / m) * (v / m)).sum::<f32>() / count;
    1.0 / (m * scaled.sqrt())
}

/// [`MambaModel`] in `f32`, converted from it: the fast scan in the parallel
/// pass, memory-bound dot products in the decoding step.
#[derive(Debug, Clone, PartialEq)]
pub struct FastModel {
    /// The token embedding, `(d_model, vocab)`; the head is its transpose.
    pub embedding: DMatrix<f32>,
    /// The blocks, each with the RMSNorm before it.
    pub layers: Vec<(RmsNorm32, FastBlock)>,
    /// The final norm.
    pub norm_f: RmsNorm32,
    /// The sizes.
    pub config: MambaConfig,
}

impl From<&MambaModel> for FastModel {
    /// The readable model's parameters rounded to `f32`.
    fn from(model: &MambaModel) -> Self {
        FastModel {
            embedding: to_f32(&model.embedding),
            layers: model
                .layers
                .iter()
                .map(|(norm, block)| (RmsNorm32::from(norm), FastBlock::from(block)))
                .collect(),
            norm_f: RmsNorm32::from(&model.norm_f),
            config: model.config.clone(),
        }
    }
}

impl FastModel {
    /// [`MambaModel::hidden`] with the fast blocks.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty sequence or a token outside
    /// the vocabulary.
    pub fn hidden(
        &self,
        tokens: &[usize],
    ) -> Result<(DMatrix<f32>, Vec<FastCache>)> {
        if tokens.is_empty() {
            return Err(Error::invalid("tokens", 0, "at least one token"));
        }
        check_tokens(tokens, self.config.vocab_size)?;
        let mut h = DMatrix::from_fn(tokens.len(), self.config.d_model, |t, j| {
            self.embedding[(j, tokens[t])]
        });
        let mut caches = Vec::with_capacity(self.layers.len());
        for (norm, block) in &self.layers {
            let (out, cache) = block.forward(&norm.apply_rows(&h));
            h += out;
            caches.push(cache);
        }
        Ok((self.norm_f.apply_rows(&h), caches))
    }

    /// The logits at every position, `(len, vocab)`.
    ///
    /// # Errors
    /// As [`FastModel::hidden`].
    pub fn forward(&self, tokens: &[usize]) -> Result<DMatrix<f32>> {
        let (h, _) = self.hidden(tokens)?;
        Ok(h * &self.embedding)
    }

    /// The prompt in parallel mode: the logits of its last position (the head
    /// applied there only) and the caches to continue from.
    ///
    /// # Errors
    /// As [`FastModel::hidden`].
    pub fn prefill(&self, prompt: &[usize]) -> Result<(Vec<f32>, Vec<FastCache>)> {
        let (h, caches) = self.hidden(prompt)?;
        let last: Vec<f32> = h.row(h.nrows() - 1).iter().copied().collect();
        Ok((columns_dot(&self.embedding, &last), caches))
    }

    /// Empty caches: the state before the first token.
    pub fn empty_caches(&self) -> Vec<FastCache> {
        self.layers.iter().map(|(_, b)| b.empty_cache()).collect()
    }

    /// One token in recurrent mode with the model's own `f32` weights.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a token outside the vocabulary.
    ///
    /// # Panics
    /// If `caches` does not have one cache per layer.
    pub fn step(&self, token: usize, caches: &mut [FastCache]) -> Result<Vec<f32>> {
        self.step_with(token, caches, &self.embedding, |i| {
            self.layers[i].1.weights()
        })
    }

    /// [`FastModel::step`] reading the embedding and head from `embedding`
    /// and each block's matrices from `weights(layer)`: the model's own, or
    /// copies in another precision.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a token outside the vocabulary.
    ///
    /// # Panics
    /// If `caches` does not have one cache per layer.
    pub fn step_with<'w, W: Weight + 'w>(
        &self,
        token: usize,
        caches: &mut [FastCache],
        embedding: &'w W,
        weights: impl Fn(usize) -> StepWeights<'w, W>,
    ) -> Result<Vec<f32>> {
        check_tokens(&[token], self.config.vocab_size)?;
        assert_eq!(
            caches.len(),
            self.layers.len(),
            "FastModel::step: {} caches for {} layers",
            caches.len(),
            self.layers.len()
        );
        let mut h = embedding.column_f32(token);
        for (i, ((norm, block), cache)) in
            self.layers.iter().zip(caches.iter_mut()).enumerate()
        {
            let out = block.step_with(weights(i), &norm.apply(&h), cache);
            for (h, o) in h.iter_mut().zip(out) {
                *h += o;
            }
        }
        Ok(embedding.columns_dot(&self.norm_f.apply(&h)))
    }

    /// The model with every weight that a decoding step streams (the
    /// embedding and each block's four matrices) rounded to bfloat16 and
    /// stored back in `f32`: what [`Bf16Decoder`] computes with.
    pub fn rounded_to_bf16(&self) -> FastModel {
        let round = |w: &DMatrix<f32>| Bf16Matrix::from_f32(w).to_f32();
        let mut model = self.clone();
        model.embedding = round(&model.embedding);
        for (_, block) in &mut model.layers {
            for linear in [
                &mut block.in_proj,
                &mut block.x_proj,
                &mut block.dt_proj,
                &mut block.out_proj,
            ] {
                linear.w = round(&linear.w);
            }
        }
        model
    }

    /// Greedy generation: prefill, then the most likely token fed back.
    ///
    /// # Errors
    /// As [`FastModel::hidden`].
    pub fn generate(
        &self,
        prompt: &[usize],
        new_tokens: usize,
    ) -> Result<Vec<usize>> {
        let (mut logits, mut caches) = self.prefill(prompt)?;
        crate::error::check_values("new_tokens", &[new_tokens])?;
        let mut out = Vec::new();
        for _ in 0..new_tokens {
            let next = argmax(&logits);
            out.push(next);
            logits = self.step(next, &mut caches)?;
        }
        Ok(out)
    }
}

/// The index of the largest value (the first of equals; NaN is never the
/// largest).
///
/// # Panics
/// If `values` is empty: there is no index to return.
pub fn argmax(values: &[f32]) -> usize {
    assert!(
        !values.is_empty(),
        "argmax: no values (an empty vocabulary?)"
    );
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

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
    pub fn new(block: &FastBlock) -> Self {
        Bf16Block {
            in_proj: Bf16Matrix::from_f32(&block.in_proj.w),
            x_proj: Bf16Matrix::from_f32(&block.x_proj.w),
            dt_proj: Bf16Matrix::from_f32(&block.dt_proj.w),
            out_proj: Bf16Matrix::from_f32(&block.out_proj.w),
        }
    }

    /// The matrices, as [`FastBlock::step_with`] reads them.
    pub fn weights(&self) -> StepWeights<'_, Bf16Matrix> {
        StepWeights {
            in_proj: &self.in_proj,
            x_proj: &self.x_proj,
            dt_proj: &self.dt_proj,
            out_proj: &self.out_proj,
        }
    }
}

/// Decoding with bfloat16 weights: the model's embedding (also its head) and
/// each block's four matrices rounded to bfloat16 (8 significant bits, a
/// relative error up to $2^{-8}$ per weight), everything else, and all
/// arithmetic, in `f32`. A decoding step reads every weight once and does
/// little else, so half the bytes take about half the time. It computes
/// exactly what [`FastModel::step`] computes on
/// [`FastModel::rounded_to_bf16`].
#[derive(Debug, Clone)]
pub struct Bf16Decoder<'m> {
    model: &'m FastModel,
    embedding: Bf16Matrix,
    blocks: Vec<Bf16Block>,
}

impl<'m> Bf16Decoder<'m> {
    /// The bfloat16 copies of `model`'s large matrices.
    pub fn new(model: &'m FastModel) -> Self {
        Bf16Decoder {
            model,
            embedding: Bf16Matrix::from_f32(&model.embedding),
            blocks: model
                .layers
                .iter()
                .map(|(_, b)| Bf16Block::new(b))
                .collect(),
        }
    }

    /// [`FastModel::step`] with the bfloat16 weights.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a token outside the vocabulary.
    ///
    /// # Panics
    /// If `caches` does not have one cache per layer.
    pub fn step(&self, token: usize, caches: &mut [FastCache]) -> Result<Vec<f32>> {
        self.model
            .step_with(token, caches, &self.embedding, |i| self.blocks[i].weights())
    }

    /// The bytes a step reads from its weight copies: two per weight.
    pub fn weight_bytes(&self) -> usize {
        let (r, c) = self.embedding.shape();
        let blocks: usize = self
            .blocks
            .iter()
            .flat_map(|b| [&b.in_proj, &b.x_proj, &b.dt_proj, &b.out_proj])
            .map(|m| m.shape().0 * m.shape().1)
            .sum();
        2 * (r * c + blocks)
    }
}
