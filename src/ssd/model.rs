//! A Mamba-2 language model: chapter 7's residual stack (embedding, pre-norm
//! blocks, final norm, tied head) around chapter 8's block. This is the
//! layout of Hugging Face's `Mamba2ForCausalLM`, so real checkpoints load
//! into it (see the `hub` module).

use nalgebra::{DMatrix, DVector};

use super::block::{Mamba2Block, Mamba2Cache, Mamba2Config};
use crate::error::{Result, check_size, check_values};
use crate::mamba::RmsNorm;
use crate::mamba::model::check_tokens;
use crate::support::rng::seeded;
use crate::traits::{Param, ParamMut, Parameters};

/// A Mamba-2 language model: `n_layer` blocks of `block`'s sizes over a
/// vocabulary of `vocab_size` tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Mamba2Model {
    /// The token embedding, `(d_model, vocab)`; the head is its transpose.
    pub embedding: DMatrix<f64>,
    /// The blocks, each with the RMSNorm before it.
    pub layers: Vec<(RmsNorm, Mamba2Block)>,
    /// The final norm.
    pub norm_f: RmsNorm,
    /// The number of tokens.
    pub vocab_size: usize,
}

impl Mamba2Model {
    /// A model with random blocks (chapter 8's initialisation), unit norms and
    /// an embedding of standard deviation 0.02.
    ///
    /// # Errors
    /// An invalid block configuration, no layers or no vocabulary, or sizes
    /// too large to allocate.
    pub fn new(
        block: &Mamba2Config,
        n_layer: usize,
        vocab_size: usize,
        seed: u64,
    ) -> Result<Self> {
        let mut model = Mamba2Model::zeros(block, n_layer, vocab_size)?;
        let mut rng = seeded(seed);
        for (_, layer) in &mut model.layers {
            *layer = Mamba2Block::new(block, &mut rng)?;
        }
        model.embedding = crate::support::rng::normal_matrix(
            &mut rng,
            block.d_model,
            vocab_size,
            0.02,
        );
        Ok(model)
    }

    /// A model of these sizes with every parameter zero, to be filled by
    /// [`Parameters::set_parameters`] or a checkpoint.
    ///
    /// # Errors
    /// As [`Mamba2Model::new`].
    pub fn zeros(
        block: &Mamba2Config,
        n_layer: usize,
        vocab_size: usize,
    ) -> Result<Self> {
        check_size("n_layer", n_layer)?;
        check_size("vocab_size", vocab_size)?;
        check_values(
            "embedding (d_model × vocab_size)",
            &[block.d_model, vocab_size],
        )?;
        let layers = (0..n_layer)
            .map(|_| {
                Ok((
                    RmsNorm::new(block.d_model, block.norm_eps),
                    Mamba2Block::zeros(block)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Mamba2Model {
            embedding: DMatrix::zeros(block.d_model, vocab_size),
            layers,
            norm_f: RmsNorm::new(block.d_model, block.norm_eps),
            vocab_size,
        })
    }

    /// The blocks' sizes.
    pub fn config(&self) -> &Mamba2Config {
        &self.layers[0].1.config
    }

    /// The logits at every position, `(len, vocab)`: Eq. (M8) with Mamba-2
    /// blocks, $r \leftarrow r + \mathrm{Mamba2}(\mathrm{RMSNorm}(r))$, then
    /// the final norm and the tied head.
    ///
    /// # Errors
    /// An empty sequence or a token outside the vocabulary.
    pub fn forward(&self, tokens: &[usize]) -> Result<DMatrix<f64>> {
        Ok(self.hidden(tokens)?.0 * &self.embedding)
    }

    /// The hidden states after the final norm, and each block's cache.
    ///
    /// # Errors
    /// An empty sequence or a token outside the vocabulary.
    pub fn hidden(
        &self,
        tokens: &[usize],
    ) -> Result<(DMatrix<f64>, Vec<Mamba2Cache>)> {
        if tokens.is_empty() {
            return Err(crate::Error::invalid("tokens", 0, "at least one token"));
        }
        check_tokens(tokens, self.vocab_size)?;
        let mut r =
            DMatrix::from_fn(tokens.len(), self.embedding.nrows(), |t, j| {
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

    /// Empty caches: the state before the first token.
    pub fn empty_caches(&self) -> Vec<Mamba2Cache> {
        self.layers.iter().map(|(_, b)| b.empty_cache()).collect()
    }

    /// One token in recurrent mode, updating the caches; its logits.
    ///
    /// # Errors
    /// A token outside the vocabulary.
    ///
    /// # Panics
    /// If `caches` does not have one cache per layer, or a cache is not of
    /// its block's shape.
    pub fn step(
        &self,
        token: usize,
        caches: &mut [Mamba2Cache],
    ) -> Result<DVector<f64>> {
        check_tokens(&[token], self.vocab_size)?;
        assert_eq!(
            caches.len(),
            self.layers.len(),
            "Mamba2Model::step: {} caches for {} layers",
            caches.len(),
            self.layers.len()
        );
        let mut r = self.embedding.column(token).into_owned();
        for ((norm, block), cache) in self.layers.iter().zip(caches.iter_mut()) {
            r += block.step(&norm.apply(&r), cache);
        }
        Ok(self.embedding.tr_mul(&self.norm_f.apply(&r)))
    }

    /// Greedy generation: the prompt in parallel mode, then the most likely
    /// token fed back, `new_tokens` times.
    ///
    /// # Errors
    /// As [`Mamba2Model::hidden`].
    pub fn generate(
        &self,
        prompt: &[usize],
        new_tokens: usize,
    ) -> Result<Vec<usize>> {
        let (h, mut caches) = self.hidden(prompt)?;
        let last = h.row(h.nrows() - 1).transpose();
        let mut logits = self.embedding.tr_mul(&last);
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

impl Parameters for Mamba2Model {
    /// The Hugging Face names: `backbone.embeddings.weight`,
    /// `backbone.layers.{i}.norm.weight`, `backbone.layers.{i}.mixer.…` (as
    /// [`Mamba2Block`]'s), `backbone.norm_f.weight`.
    fn parameters(&self) -> Vec<Param<'_>> {
        let mut p = vec![Param::of("backbone.embeddings.weight", &self.embedding)];
        for (i, (norm, block)) in self.layers.iter().enumerate() {
            p.push(Param::of(
                format!("backbone.layers.{i}.norm.weight"),
                &norm.weight,
            ));
            for q in block.parameters() {
                p.push(Param {
                    name: format!("backbone.layers.{i}.mixer.{}", q.name),
                    ..q
                });
            }
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
            p.push(ParamMut::of(
                format!("backbone.layers.{i}.norm.weight"),
                &mut norm.weight,
            ));
            for q in block.parameters_mut() {
                p.push(ParamMut {
                    name: format!("backbone.layers.{i}.mixer.{}", q.name),
                    ..q
                });
            }
        }
        p.push(ParamMut::of(
            "backbone.norm_f.weight",
            &mut self.norm_f.weight,
        ));
        p
    }
}
