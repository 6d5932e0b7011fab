//! The Mamba language model: embedding, pre-norm residual blocks, a final
//! RMSNorm and a head tied to the embedding; parallel forward, prefill, and
//! recurrent decoding one token at a time.

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, Normal};

use super::block::{BlockCache, MambaBlock};
use super::config::MambaConfig;
use crate::error::{Error, Result};
use crate::support::rng::seeded;
use crate::traits::{Param, ParamMut, Parameters};

/// RMSNorm: every row divided by its root mean square, times a weight.
#[derive(Debug, Clone, PartialEq)]
pub struct RmsNorm {
    /// The weight, `(d,)` (initialised to 1).
    pub weight: DVector<f64>,
    /// Added to the mean square, ε.
    pub eps: f64,
}

impl RmsNorm {
    /// A norm of width `d` with weight 1.
    pub fn new(d: usize, eps: f64) -> Self {
        RmsNorm {
            weight: DVector::from_element(d, 1.0),
            eps,
        }
    }

    /// Implements Eq. (M7): $y = \frac{r}{\sqrt{\mathrm{mean}(r^2) + \epsilon}} \odot w$.
    ///
    /// # Shapes
    /// `(d,)` → `(d,)`.
    ///
    /// # References
    /// Zhang & Sennrich (2019); `mamba_ssm/ops/triton/layer_norm.py::rms_norm_ref`.
    ///
    /// Entries above about $10^{154}$ overflow the mean square in `f64`
    /// (the result is then 0 where the true one is about $\pm w$); no
    /// activation comes near it. The `f32` path, where $10^{19}$ suffices,
    /// rescales ([`crate::mamba::fast::model::RmsNorm32`]).
    // ANCHOR: rms_norm
    pub fn apply(&self, r: &DVector<f64>) -> DVector<f64> {
        let mean_square = r.norm_squared() / r.len() as f64;
        let scale = 1.0 / (mean_square + self.eps).sqrt();
        r.component_mul(&self.weight) * scale
    }
    // ANCHOR_END: rms_norm

    /// [`RmsNorm::apply`] on every row of a `(len, d)` sequence.
    pub fn apply_rows(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let mut y = x.clone();
        for (t, mut row) in y.row_iter_mut().enumerate() {
            row.copy_from(&self.apply(&x.row(t).transpose()).transpose());
        }
        y
    }
}

/// A Mamba language model.
#[derive(Debug, Clone, PartialEq)]
pub struct MambaModel {
    /// The token embedding, one column per token, `(d_model, vocab)`; the
    /// output head is its transpose (tied).
    pub embedding: DMatrix<f64>,
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
    ///
    /// # Examples
    /// ```
    /// use ssm_lineage::mamba::{MambaConfig, MambaModel};
    /// let model = MambaModel::new(&MambaConfig::new(16, 2, 10), 7)?;
    /// // The parallel pass and prefill + recurrent steps give the same logits.
    /// let whole = model.forward(&[1, 2, 3])?;
    /// let (_, mut caches) = model.prefill(&[1, 2])?;
    /// let last = model.step(3, &mut caches)?;
    /// assert!((whole.row(2).transpose() - last).amax() < 1e-10);
    /// # Ok::<(), ssm_lineage::Error>(())
    /// ```
    pub fn new(config: &MambaConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = seeded(seed);
        let normal = Normal::new(0.0, 0.02)
            .map_err(|_| Error::invalid("embedding std", 0.02, "finite and > 0"))?;
        let embedding =
            DMatrix::from_fn(config.d_model, config.vocab_size, |_, _| {
                normal.sample(&mut rng)
            });
        let norm = || RmsNorm::new(config.d_model, config.norm_eps);
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

    /// A model from given tensors named as in the Hugging Face layout
    /// (`backbone.embeddings.weight`, `backbone.layers.{i}.norm.weight`,
    /// `backbone.layers.{i}.mixer.…` as [`MambaBlock::from_parameters`],
    /// `backbone.norm_f.weight`), in this crate's shapes.
    ///
    /// # Errors
    /// An invalid configuration; a missing, misshapen or non-finite tensor.
    pub fn from_parameters(
        config: &MambaConfig,
        tensors: &BTreeMap<String, DMatrix<f64>>,
    ) -> Result<Self> {
        let mut model = MambaModel::zeros(config)?;
        model.set_parameters(tensors)?;
        Ok(model)
    }

    /// A model of the configuration's shapes with every parameter zero, to be
    /// filled by [`Parameters::set_parameters`] or a checkpoint.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn zeros(config: &MambaConfig) -> Result<Self> {
        config.validate()?;
        let norm = || RmsNorm {
            weight: DVector::zeros(config.d_model),
            eps: config.norm_eps,
        };
        let layers = (0..config.n_layer)
            .map(|_| Ok((norm(), MambaBlock::zeros(config)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(MambaModel {
            embedding: DMatrix::zeros(config.d_model, config.vocab_size),
            layers,
            norm_f: norm(),
            config: config.clone(),
        })
    }

    /// The hidden states after the final norm for a whole sequence, and each
    /// block's cache for continuing it.
    ///
    /// Implements Eq. (M8): $r \leftarrow r + \mathrm{Mamba}(\mathrm{RMSNorm}(r))$
    /// for every block, then $\mathrm{RMSNorm}_f(r)$.
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
    ) -> Result<(DMatrix<f64>, Vec<BlockCache>)> {
        if tokens.is_empty() {
            return Err(Error::invalid("tokens", 0, "at least one token"));
        }
        check_tokens(tokens, self.config.vocab_size)?;
        let mut r = DMatrix::from_fn(tokens.len(), self.config.d_model, |t, j| {
            self.embedding[(j, tokens[t])]
        });
        let mut caches = Vec::with_capacity(self.layers.len());
        for (norm, block) in &self.layers {
            let (out, cache) = block.forward(&norm.apply_rows(&r));
            r += out;
            caches.push(cache);
        }
        Ok((self.norm_f.apply_rows(&r), caches))
    }
    // ANCHOR_END: model_hidden

    /// The logits at every position, `(len, vocab)`.
    ///
    /// # Errors
    /// As [`MambaModel::hidden`].
    pub fn forward(&self, tokens: &[usize]) -> Result<DMatrix<f64>> {
        let (r, _) = self.hidden(tokens)?;
        Ok(r * &self.embedding)
    }

    /// Runs the prompt in parallel mode and returns the logits of its last
    /// position with the caches to continue from.
    ///
    /// # Errors
    /// As [`MambaModel::hidden`].
    pub fn prefill(
        &self,
        prompt: &[usize],
    ) -> Result<(DVector<f64>, Vec<BlockCache>)> {
        let (r, caches) = self.hidden(prompt)?;
        let last = r.row(r.nrows() - 1).transpose();
        Ok((self.embedding.tr_mul(&last), caches))
    }

    /// Empty caches: the state before the first token.
    pub fn empty_caches(&self) -> Vec<BlockCache> {
        self.layers.iter().map(|(_, b)| b.empty_cache()).collect()
    }

    /// One token through the whole model in recurrent mode, updating the
    /// caches; returns its logits.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a token outside the vocabulary.
    ///
    /// # Panics
    /// If `caches` does not have one cache per layer.
    // ANCHOR: model_step
    pub fn step(
        &self,
        token: usize,
        caches: &mut [BlockCache],
    ) -> Result<DVector<f64>> {
        check_tokens(&[token], self.config.vocab_size)?;
        assert_eq!(
            caches.len(),
            self.layers.len(),
            "MambaModel::step: {} caches for {} layers",
            caches.len(),
            self.layers.len()
        );
        let mut r = self.embedding.column(token).into_owned();
        for ((norm, block), cache) in self.layers.iter().zip(caches.iter_mut()) {
            r += block.step(&norm.apply(&r), cache);
        }
        Ok(self.embedding.tr_mul(&self.norm_f.apply(&r)))
    }
    // ANCHOR_END: model_step

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
        crate::error::check_values("new_tokens", &[new_tokens])?;
        let mut out = Vec::new();
        for _ in 0..new_tokens {
            let next = logits.argmax().0;
            out.push(next);
            logits = self.step(next, &mut caches)?;
        }
        Ok(out)
    }
}

/// Rejects a token outside the vocabulary `0 … vocab_size − 1`.
///
/// # Errors
/// [`Error::InvalidParameter`] naming the first such token.
pub fn check_tokens(tokens: &[usize], vocab_size: usize) -> Result<()> {
    match tokens.iter().find(|&&t| t >= vocab_size) {
        Some(&t) => Err(Error::invalid(
            "token",
            t,
            "below the vocabulary size (tokens are 0 … vocab_size − 1)",
        )),
        None => Ok(()),
    }
}

impl Parameters for MambaModel {
    fn parameters(&self) -> Vec<Param<'_>> {
        let mut p = vec![Param::of("backbone.embeddings.weight", &self.embedding)];
        for (i, (norm, block)) in self.layers.iter().enumerate() {
            let layer = format!("backbone.layers.{i}");
            p.push(Param::of(format!("{layer}.norm.weight"), &norm.weight));
            p.extend(block.parameters().into_iter().map(|q| Param {
                name: format!("{layer}.mixer.{}", q.name),
                ..q
            }));
        }
        p.push(Param::of("backbone.norm_f.weight", &self.norm_f.weight));
        p
    }

    fn parameters_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut p = vec![ParamMut::of(
            "backbone.embeddings.weight",
            &mut self.embedding,
        )];
        for (i, (norm, block)) in self.layers.iter_mut().enumerate() {
            let layer = format!("backbone.layers.{i}");
            p.push(ParamMut::of(
                format!("{layer}.norm.weight"),
                &mut norm.weight,
            ));
            p.extend(block.parameters_mut().into_iter().map(|q| ParamMut {
                name: format!("{layer}.mixer.{}", q.name),
                ..q
            }));
        }
        p.push(ParamMut::of(
            "backbone.norm_f.weight",
            &mut self.norm_f.weight,
        ));
        p
    }
}
