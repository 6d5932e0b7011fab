//! Chapter 0: a small causal softmax attention, kept only to compare costs.
//!
//! Attention looks at every earlier position for every position: its time grows
//! as $L^2$ and, at inference, its memory (the key/value cache) grows as $L$. The
//! rest of the book is about models whose step costs the same at every position.

use nalgebra::DMatrix;

use crate::support::shapes::{same_rows, same_shape};

/// Causal (masked) softmax attention of one head.
///
/// Implements Eq. (I1): $y_i = \sum_{j \le i}
/// \operatorname{softmax}_j\big(q_i^\top k_j / \sqrt{d}\big)  v_j$.
///
/// Each row's scores are shifted by their maximum before `exp`, so large
/// scores cannot overflow.
///
/// # Shapes
/// `q`, `k`: `(len, d)`; `v`: `(len, d_v)` → `(len, d_v)`.
///
/// # Panics
/// If `q` and `k` differ in shape or `v` has a different length.
///
/// # References
/// Vaswani et al. 2017, Eq. (1), with the causal mask of the decoder.
///
/// # Examples
/// ```
/// use nalgebra::DMatrix;
/// use ssm_lineage::attention::causal_attention;
/// // Position 0 sees only itself: its output is its own value.
/// let q = DMatrix::from_row_slice(2, 1, &[1.0, 2.0]);
/// let v = DMatrix::from_row_slice(2, 1, &[5.0, -1.0]);
/// let y = causal_attention(&q, &q, &v);
/// assert_eq!(y[(0, 0)], 5.0);
/// assert!(y[(1, 0)] < 5.0 && y[(1, 0)] > -1.0); // a weighted mean of both
/// ```
// ANCHOR: causal_attention
pub fn causal_attention(
    q: &DMatrix<f64>,
    k: &DMatrix<f64>,
    v: &DMatrix<f64>,
) -> DMatrix<f64> {
    same_shape("causal_attention", ("q", q.shape()), ("k", k.shape()));
    same_rows("causal_attention", ("q", q.shape()), ("v", v.shape()));
    let (len, d) = q.shape();
    let scale = 1.0 / (d as f64).sqrt();
    let mut y = DMatrix::zeros(len, v.ncols()); // (len, d_v)
    for i in 0..len {
        // Scores against positions 0..=i only: the causal mask.
        let scores: Vec<f64> =
            (0..=i).map(|j| q.row(i).dot(&k.row(j)) * scale).collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        for (j, w) in weights.iter().enumerate() {
            let mut row = y.row_mut(i);
            row += v.row(j) * (w / total);
        }
    }
    y
}
// ANCHOR_END: causal_attention

/// Multiply-adds of [`causal_attention`] with `d_v = d`: each of the
/// $L(L+1)/2$ (query, key) pairs costs $d$ for the score, one `exp`, and $d$ for
/// the weighted value, so $\tfrac{L(L+1)}{2}(2d+1)$.
pub fn causal_attention_ops(len: usize, d: usize) -> f64 {
    let pairs = len as f64 * (len as f64 + 1.0) / 2.0;
    pairs * (2.0 * d as f64 + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::rng::{normal_matrix, seeded};

    #[test]
    fn the_first_output_is_the_first_value() {
        let mut rng = seeded(0);
        let (q, k, v) = (
            normal_matrix(&mut rng, 5, 3, 1.0),
            normal_matrix(&mut rng, 5, 3, 1.0),
            normal_matrix(&mut rng, 5, 2, 1.0),
        );
        let y = causal_attention(&q, &k, &v);
        assert!((y.row(0) - v.row(0)).abs().max() < 1e-15);
    }

    #[test]
    fn future_inputs_do_not_change_the_past() {
        let mut rng = seeded(1);
        let (q, k, mut v) = (
            normal_matrix(&mut rng, 6, 4, 1.0),
            normal_matrix(&mut rng, 6, 4, 1.0),
            normal_matrix(&mut rng, 6, 4, 1.0),
        );
        let before = causal_attention(&q, &k, &v);
        v.row_mut(5).fill(100.0);
        let after = causal_attention(&q, &k, &v);
        assert_eq!(before.rows(0, 5), after.rows(0, 5));
    }

    #[test]
    fn equal_scores_average_the_values() {
        let q = DMatrix::zeros(3, 2);
        let v = DMatrix::from_row_slice(3, 1, &[3.0, 6.0, 9.0]);
        let y = causal_attention(&q, &q, &v);
        assert_eq!(y.as_slice(), &[3.0, 4.5, 6.0]);
    }
}
