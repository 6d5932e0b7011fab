//! The Mamba language model: embedding, pre-norm residual blocks, a final
//! RMSNorm and a head tied to the embedding; parallel forward, prefill, and
//! recurrent decoding one token at a time.

use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, Normal};

use super::block::{
    Bf16Block, Bf16Matrix, BlockCache, MambaBlock, MambaConfig, StepWeights, Weight,
    columns_dot,
};
use crate::error::{Error, Result};
use crate::support::rng::seeded;

/// RMSNorm: every row divided by its root mean square, times a weight.
#[derive(Debug, Clone, PartialEq)]
pub struct RmsNorm {
    /// The weight, `(d,)` (initialised to 1).
    pub weight: DVector<f32>,
    /// Added to the mean square, ε.
    pub eps: f32,
}

impl RmsNorm {
    /// Implements Eq. (M8): $y = \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}} \odot w$.
    ///
    /// # Shapes
    /// `(d,)` → `(d,)`.
    ///
    /// # References
    /// Zhang & Sennrich (2019); `mamba_ssm/ops/triton/layer_norm.py::rms_norm_ref`.
    // ANCHOR: rms_norm
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mean_square = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        let scale = 1.0 / (mean_square + self.eps).sqrt();
        x.iter()
            .zip(self.weight.iter())
            .map(|(v, w)| v * scale * w)
            .collect()
    }
    // ANCHOR_END: rms_norm

    /// [`RmsNorm::apply`] on every row of a `(len, d)` sequence, computed
    /// column by column (the matrix is column-major, so rows are strided).
    pub fn apply_rows(&self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let (len, d) = x.shape();
        let mut mean_square = vec![0.0f32; len];
        for column in x.column_iter() {
            for (m, v) in mean_square.iter_mut().zip(column.iter()) {
                *m += v * v;
            }
        }
        let scale: Vec<f32> = mean_square
            .iter()
            .map(|m| 1.0 / (m / d as f32 + self.eps).sqrt())
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

/// A Mamba language model.
#[derive(Debug, Clone, PartialEq)]
pub struct MambaModel {
    /// The token embedding, one column per token, `(d_model, vocab)`; the
    /// output head is its transpose (tied).
    pub embedding: DMatrix<f32>,
    /// The blocks, each with the RMSNorm before it.
    pub layers: Vec<(RmsNorm, MambaBlock)>,
    /// The final norm.
    pub norm_f: RmsNorm,
    /// The sizes.
    pub config: MambaConfig,
}

impl MambaModel {
    /// A model with random weights, initialised as the reference does (the
    /// embedding $\mathcal N(0, 0.02^2)$, norms 1, blocks as
    /// [`MambaBlock::new`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the configuration is invalid.
    pub fn new(config: &MambaConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = seeded(seed);
        let normal = Normal::new(0.0f32, 0.02)
            .map_err(|_| Error::invalid("embedding std", 0.02, "finite and > 0"))?;
        let embedding =
            DMatrix::from_fn(config.d_model, config.vocab_size, |_, _| {
                normal.sample(&mut rng)
            });
        let norm = || RmsNorm {
            weight: DVector::from_element(config.d_model, 1.0),
            eps: config.norm_eps,
        };
        let layers = (0..config.n_layer)
            .map(|_| Ok((norm(), MambaBlock::new(config, &mut rng)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(MambaModel {
            embedding,
            layers,
            norm_f: norm(),
            config: config.clone(),
        })
    }

    /// The number of parameters (the tied head counted once).
    pub fn parameter_count(&self) -> usize {
        self.embedding.len()
            + self
                .layers
                .iter()
                .map(|(n, b)| n.weight.len() + b.parameter_count())
                .sum::<usize>()
            + self.norm_f.weight.len()
    }

    fn check_tokens(&self, tokens: &[usize]) -> Result<()> {
        match tokens.iter().find(|&&t| t >= self.config.vocab_size) {
            Some(&t) => Err(Error::invalid(
                "token",
                t,
                "below the vocabulary size (tokens are 0 … vocab_size − 1)",
            )),
            None => Ok(()),
        }
    }

    /// The hidden states after the final norm for a whole sequence, and each
    /// block's cache for continuing it.
    ///
    /// Implements Eq. (M9): $h \leftarrow h + \mathrm{Mamba}(\mathrm{RMSNorm}(h))$
    /// for every block, then $\mathrm{RMSNorm}_f(h)$.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty sequence or a token outside
    /// the vocabulary.
    ///
    /// # References
    /// `mixer_seq_simple.py::MixerModel.forward`, `block.py::Block`.
    // ANCHOR: model_hidden
    pub fn hidden(
        &self,
        tokens: &[usize],
        fast: bool,
    ) -> Result<(DMatrix<f32>, Vec<BlockCache>)> {
        if tokens.is_empty() {
            return Err(Error::invalid("tokens", 0, "at least one token"));
        }
        self.check_tokens(tokens)?;
        let mut h = DMatrix::from_fn(tokens.len(), self.config.d_model, |t, j| {
            self.embedding[(j, tokens[t])]
        });
        let mut caches = Vec::with_capacity(self.layers.len());
        for (norm, block) in &self.layers {
            let (out, cache) = block.forward(&norm.apply_rows(&h), fast);
            h += out;
            caches.push(cache);
        }
        Ok((self.norm_f.apply_rows(&h), caches))
    }
    // ANCHOR_END: model_hidden

    /// The logits at every position, `(len, vocab)`.
    ///
    /// # Errors
    /// As [`MambaModel::hidden`].
    pub fn forward(&self, tokens: &[usize], fast: bool) -> Result<DMatrix<f32>> {
        let (h, _) = self.hidden(tokens, fast)?;
        Ok(h * &self.embedding)
    }

    /// Runs the prompt in parallel mode and returns the logits of its last
    /// position with the caches to continue from: the head is applied to
    /// the last position only.
    ///
    /// # Errors
    /// As [`MambaModel::hidden`].
    pub fn prefill(&self, prompt: &[usize]) -> Result<(Vec<f32>, Vec<BlockCache>)> {
        let (h, caches) = self.hidden(prompt, true)?;
        let last: Vec<f32> = h.row(h.nrows() - 1).iter().copied().collect();
        Ok((self.head(&last), caches))
    }

    /// Empty caches: the state before the first token.
    pub fn empty_caches(&self) -> Vec<BlockCache> {
        self.layers.iter().map(|(_, b)| b.empty_cache()).collect()
    }

    /// One token through the whole model in recurrent mode, updating the
    /// caches; returns its logits. Every weight is read once.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a token outside the vocabulary.
    ///
    /// # Panics
    /// If `caches` does not have one cache per layer.
    pub fn step(&self, token: usize, caches: &mut [BlockCache]) -> Result<Vec<f32>> {
        self.step_with(token, caches, &self.embedding, |i| {
            self.layers[i].1.weights()
        })
    }

    /// [`MambaModel::step`] reading the embedding and head from `embedding`
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
        caches: &mut [BlockCache],
        embedding: &'w W,
        weights: impl Fn(usize) -> StepWeights<'w, W>,
    ) -> Result<Vec<f32>> {
        self.check_tokens(&[token])?;
        assert_eq!(
            caches.len(),
            self.layers.len(),
            "MambaModel::step: {} caches for {} layers",
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
    /// embedding, which is also the head, and each block's four matrices)
    /// rounded to bfloat16 and stored back in `f32`: what [`Bf16Decoder`]
    /// computes with, in the model's own format (for comparing the two).
    pub fn rounded_to_bf16(&self) -> MambaModel {
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

    /// The tied head: one dot product with each token's embedding.
    fn head(&self, h: &[f32]) -> Vec<f32> {
        columns_dot(&self.embedding, h)
    }

    /// Greedy generation: prefill the prompt, then take the most likely token
    /// and feed it back, `new_tokens` times.
    ///
    /// # Errors
    /// As [`MambaModel::hidden`].
    pub fn generate(
        &self,
        prompt: &[usize],
        new_tokens: usize,
    ) -> Result<Vec<usize>> {
        let (mut logits, mut caches) = self.prefill(prompt)?;
        let mut out = Vec::with_capacity(new_tokens);
        for _ in 0..new_tokens {
            let next = argmax(&logits);
            out.push(next);
            logits = self.step(next, &mut caches)?;
        }
        Ok(out)
    }
}

/// The index of the largest value (the first of equals).
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// Decoding with bfloat16 weights: the model's embedding (also its head) and
/// each block's four matrices rounded to bfloat16 (8 significant bits, a
/// relative error up to $2^{-8}$ per weight), everything else, and all
/// arithmetic, in `f32`. A decoding step reads every weight once and does
/// little else, so half the bytes take about half the time: the
/// memory-bandwidth bound on tokens per second doubles. What it costs in
/// accuracy is what rounding the weights costs: it computes exactly what
/// [`MambaModel::step`] computes on [`MambaModel::rounded_to_bf16`].
#[derive(Debug, Clone)]
pub struct Bf16Decoder<'m> {
    model: &'m MambaModel,
    embedding: Bf16Matrix,
    blocks: Vec<Bf16Block>,
}

impl<'m> Bf16Decoder<'m> {
    /// The bfloat16 copies of `model`'s large matrices (half its size again
    /// in memory, besides the model).
    pub fn new(model: &'m MambaModel) -> Self {
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

    /// [`MambaModel::step`] with the bfloat16 weights.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a token outside the vocabulary.
    ///
    /// # Panics
    /// If `caches` does not have one cache per layer.
    pub fn step(&self, token: usize, caches: &mut [BlockCache]) -> Result<Vec<f32>> {
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
