//! The Mamba language model run backwards: RMSNorm's backward, the residual
//! stream, the tied embedding and head.

use nalgebra::{DMatrix, DVector};

use super::block_backward::BlockTape;
use super::model::{MambaModel, RmsNorm, check_tokens};
use crate::error::{Error, Result};
use crate::traits::Parameters;

impl RmsNorm {
    /// The backward pass of [`RmsNorm::apply_rows`]: the input's gradient
    /// and the weight's.
    ///
    /// Implements Eq. (G6): with $s = (\overline{x^2} + \epsilon)^{-1/2}$ and
    /// $g = \partial y \odot w$, $\partial x = s\,g - \frac{s^3}{d}\,(g\cdot x)\,x$,
    /// $\partial w = \sum_t s_t\, x_t \odot \partial y_t$.
    ///
    /// # Shapes
    /// `x`, `dy`: `(len, d)` → (`(len, d)`, `(d,)`).
    ///
    /// # Panics
    /// If `x` and `dy` differ in shape or do not have `d` columns.
    // ANCHOR: rms_norm_backward
    pub fn backward(
        &self,
        r: &DMatrix<f64>,
        dy: &DMatrix<f64>,
    ) -> (DMatrix<f64>, DVector<f64>) {
        let d = self.weight.len();
        assert!(
            r.shape() == dy.shape() && r.ncols() == d,
            "RmsNorm::backward: r {:?} and dy {:?} for a norm of width {d}",
            r.shape(),
            dy.shape()
        );
        let mut dr = DMatrix::zeros(r.nrows(), d);
        let mut dw = DVector::zeros(d);
        for t in 0..r.nrows() {
            let (r_t, dy_t) = (r.row(t), dy.row(t));
            let s = 1.0 / (r_t.norm_squared() / d as f64 + self.eps).sqrt();
            let g = dy_t.component_mul(&self.weight.transpose());
            let g_dot_r = g.dot(&r_t);
            dr.row_mut(t)
                .copy_from(&(g * s - r_t * (s.powi(3) / d as f64 * g_dot_r)));
            dw += (r_t.component_mul(&dy_t) * s).transpose();
        }
        (dr, dw)
    }
    // ANCHOR_END: rms_norm_backward
}

/// What the model's forward pass keeps for its backward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTape {
    /// The tokens.
    pub tokens: Vec<usize>,
    /// The residual stream before each layer, `(len, d_model)` each.
    pub residuals: Vec<DMatrix<f64>>,
    /// Each block's tape.
    pub blocks: Vec<BlockTape>,
    /// The residual stream after the last layer (the final norm's input).
    pub last: DMatrix<f64>,
    /// The final norm's output (the head's input), `(len, d_model)`.
    pub hidden: DMatrix<f64>,
}

impl MambaModel {
    /// [`MambaModel::forward`] keeping what [`MambaModel::backward`] needs;
    /// each scan keeps its state every `chunk` steps.
    ///
    /// # Errors
    /// No tokens, or a token outside the vocabulary.
    ///
    /// # Panics
    /// If `chunk` is 0.
    pub fn forward_taped(
        &self,
        tokens: &[usize],
        chunk: usize,
    ) -> Result<(DMatrix<f64>, ModelTape)> {
        if tokens.is_empty() {
            return Err(Error::invalid("tokens", 0, "at least one token"));
        }
        check_tokens(tokens, self.config.vocab_size)?;
        let mut r = DMatrix::from_fn(tokens.len(), self.config.d_model, |t, j| {
            self.embedding[(j, tokens[t])]
        });
        let (mut residuals, mut blocks) = (Vec::new(), Vec::new());
        for (norm, block) in &self.layers {
            let (out, tape) = block.forward_taped(&norm.apply_rows(&r), chunk);
            residuals.push(r.clone());
            blocks.push(tape);
            r += out;
        }
        let hidden = self.norm_f.apply_rows(&r);
        let logits = &hidden * &self.embedding;
        let tape = ModelTape {
            tokens: tokens.to_vec(),
            residuals,
            blocks,
            last: r,
            hidden,
        };
        Ok((logits, tape))
    }

    /// The model's backward pass: from the logits' gradient, every
    /// parameter's gradient, as a model of the same shapes. The embedding's
    /// gradient collects both of its uses: the head and the token lookup.
    ///
    /// Implements Eq. (G7): $\partial E = h^\top \partial Z + $ (the rows of
    /// $\partial r_0$ added to each token's column), and through the residual
    /// stream $\partial r_{i} = \partial r_{i+1} + \mathrm{norm}_i^\top(\mathrm{block}_i^\top(\partial r_{i+1}))$.
    ///
    /// # Shapes
    /// `d_logits`: `(len, vocab)`.
    ///
    /// # Panics
    /// If `d_logits` does not have the shape of the logits.
    // ANCHOR: model_backward
    pub fn backward(&self, tape: &ModelTape, d_logits: &DMatrix<f64>) -> MambaModel {
        let (len, vocab) = (tape.tokens.len(), self.config.vocab_size);
        assert_eq!(
            d_logits.shape(),
            (len, vocab),
            "MambaModel::backward: d_logits {:?}, the logits are {:?}",
            d_logits.shape(),
            (len, vocab)
        );
        let mut g = self.zeros_like();
        g.embedding = tape.hidden.tr_mul(d_logits); // the head: (d_model, vocab)
        let d_hidden = d_logits * self.embedding.transpose(); // (len, d_model)
        let (mut dr, dw) = self.norm_f.backward(&tape.last, &d_hidden);
        g.norm_f.weight = dw;
        for (i, (norm, block)) in self.layers.iter().enumerate().rev() {
            let (d_normed, block_grads) = block.backward(&tape.blocks[i], &dr);
            let (d_res, dw) = norm.backward(&tape.residuals[i], &d_normed);
            dr += d_res;
            g.layers[i] = (
                RmsNorm {
                    weight: dw,
                    eps: norm.eps,
                },
                block_grads,
            );
        }
        for (t, &token) in tape.tokens.iter().enumerate() {
            let mut column = g.embedding.column_mut(token);
            column += dr.row(t).transpose();
        }
        g
    }
    // ANCHOR_END: model_backward
}
