//! The introduction: causal attention.

use nalgebra::DMatrix;
use ssm_lineage::attention::causal_attention;

use super::{NON_FINITE, panics_naming, returns};

#[test]
fn mismatched_shapes_panic_naming_both() {
    panics_naming(
        || {
            causal_attention(
                &DMatrix::zeros(4, 2),
                &DMatrix::zeros(4, 3),
                &DMatrix::zeros(4, 2),
            )
        },
        &["causal_attention", "(4, 2)", "(4, 3)"],
    );
    panics_naming(
        || {
            causal_attention(
                &DMatrix::zeros(4, 2),
                &DMatrix::zeros(4, 2),
                &DMatrix::zeros(5, 2),
            )
        },
        &["causal_attention", "(4, 2)", "(5, 2)"],
    );
}

#[test]
fn an_empty_sequence_is_an_empty_output() {
    let y = returns(|| {
        causal_attention(
            &DMatrix::zeros(0, 2),
            &DMatrix::zeros(0, 2),
            &DMatrix::zeros(0, 3),
        )
    });
    assert_eq!(y.shape(), (0, 3));
}

/// Scores far beyond `exp`'s range (1000: e^1000 overflows) are exact, because
/// the softmax subtracts the row's largest score before `exp` (log-sum-exp):
/// the largest score takes all the weight.
#[test]
fn huge_scores_are_a_hard_maximum_not_nan() {
    let q = DMatrix::from_row_slice(2, 1, &[40.0, 40.0]);
    let k = DMatrix::from_row_slice(2, 1, &[25.0, -25.0]); // scores ±1000
    let v = DMatrix::from_row_slice(2, 1, &[3.0, 7.0]);
    let y = returns(move || causal_attention(&q, &k, &v));
    assert_eq!(y[(1, 0)], 3.0);
}

/// A non-finite query poisons its own row only: later rows attend through
/// their own queries and keep finite outputs unless they read a NaN value.
#[test]
fn non_finite_input_is_nan_where_it_enters() {
    for bad in NON_FINITE {
        let mut q = DMatrix::from_fn(3, 2, |t, j| (t + j) as f64 * 0.1);
        q[(1, 0)] = bad;
        let k = DMatrix::from_fn(3, 2, |t, j| (t * j) as f64 * 0.1);
        let v = DMatrix::from_fn(3, 2, |t, j| (t + 2 * j) as f64);
        let y = returns(move || causal_attention(&q, &k, &v));
        assert!(y.row(0).iter().all(|v| v.is_finite()), "{y}");
        assert!(y.row(1).iter().any(|v| v.is_nan()), "{bad}: {y}");
        assert!(y.row(2).iter().all(|v| v.is_finite()), "{y}");
    }
}
