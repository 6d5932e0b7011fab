//! Losses and their gradients: cross-entropy over logits for the language
//! tasks, mean squared error for the signal tasks.

use nalgebra::DMatrix;

/// A loss, its gradient with respect to the model's output, and (for
/// classification) how many of the scored positions were predicted right.
#[derive(Debug, Clone, PartialEq)]
pub struct LossGrad {
    /// The loss, averaged over the scored positions.
    pub loss: f64,
    /// ∂loss/∂output, the output's shape (zero on unscored positions).
    pub grad: DMatrix<f64>,
    /// The scored positions whose largest logit is the target.
    pub correct: usize,
    /// The number of scored positions.
    pub scored: usize,
}

/// Softmax cross-entropy over the logits of the positions that have a
/// target, averaged over them (a position without one is not scored, as
/// PyTorch's `ignore_index`).
///
/// Implements Eq. (G1): $\ell = -\frac1{|T|}\sum_{t\in T} \log \mathrm{softmax}(z_t)_{y_t}$,
/// $\partial z_t = (\mathrm{softmax}(z_t) - e_{y_t})/|T|$.
///
/// # Shapes
/// `logits`: `(len, vocab)`, `targets`: `len` entries.
///
/// # Panics
/// If `targets` does not have one entry per row, or a target is outside the
/// vocabulary.
// ANCHOR: cross_entropy
pub fn cross_entropy(logits: &DMatrix<f64>, targets: &[Option<usize>]) -> LossGrad {
    let (len, vocab) = logits.shape();
    assert_eq!(
        targets.len(),
        len,
        "cross_entropy: {} targets for logits {:?}",
        targets.len(),
        logits.shape()
    );
    let scored = targets.iter().flatten().count();
    let mut out = LossGrad {
        loss: 0.0,
        grad: DMatrix::zeros(len, vocab),
        correct: 0,
        scored,
    };
    for (t, target) in targets.iter().enumerate() {
        let Some(y) = *target else { continue };
        assert!(
            y < vocab,
            "cross_entropy: target {y} at {t}, vocabulary {vocab}"
        );
        let z = logits.row(t);
        let max = z.max(); // subtracted so that exp cannot overflow
        let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
        out.loss += (max + sum.ln() - z[y]) / scored as f64;
        for j in 0..vocab {
            let p = (z[j] - max).exp() / sum;
            out.grad[(t, j)] = (p - f64::from(j == y)) / scored as f64;
        }
        out.correct += usize::from(z.transpose().argmax().0 == y);
    }
    out
}
// ANCHOR_END: cross_entropy

/// Mean squared error over the rows from `from` on, every column.
///
/// Implements $\ell = \frac{1}{|T|\,d}\sum_{t \ge t_0} \|y_t - \hat y_t\|^2$.
///
/// # Panics
/// If the shapes differ.
pub fn mean_squared_error(
    output: &DMatrix<f64>,
    target: &DMatrix<f64>,
    from: usize,
) -> LossGrad {
    assert_eq!(
        output.shape(),
        target.shape(),
        "mean_squared_error: output {:?} vs target {:?}",
        output.shape(),
        target.shape()
    );
    let (len, d) = output.shape();
    let scored = len.saturating_sub(from) * d;
    let mut grad = DMatrix::zeros(len, d);
    let mut loss = 0.0;
    for t in from..len {
        for j in 0..d {
            let e = output[(t, j)] - target[(t, j)];
            loss += e * e / scored as f64;
            grad[(t, j)] = 2.0 * e / scored as f64;
        }
    }
    LossGrad {
        loss,
        grad,
        correct: 0,
        scored,
    }
}
