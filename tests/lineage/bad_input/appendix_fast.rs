//! The appendix: the fast `f32` paths, built from the readable ones.

use nalgebra::{DMatrix, DVector};
use ssm_lineage::mamba::RmsNorm;
use ssm_lineage::mamba::fast::model::{RmsNorm32, causal_conv_f32};
use ssm_lineage::mamba::fast::weights::{columns_dot, dot, parallel_matmul};
use ssm_lineage::mamba::fast::{FastBlock, FastModel};

use super::{panics_naming, returns, small_model};

#[test]
fn mismatched_shapes_panic_naming_both() {
    panics_naming(
        || {
            causal_conv_f32(
                &DMatrix::zeros(5, 3),
                &DMatrix::zeros(2, 4),
                &DVector::zeros(3),
            )
        },
        &["causal_conv_f32", "(5, 3)", "(2, 4)"],
    );
    let norm = RmsNorm32::from(&RmsNorm::new(4, 1e-5));
    let n = norm.clone();
    panics_naming(move || n.apply(&[1.0; 3]), &["RmsNorm32", "3", "4"]);
    panics_naming(
        move || norm.apply_rows(&DMatrix::zeros(2, 3)),
        &["RmsNorm32", "(2, 3)", "4"],
    );
    panics_naming(
        || parallel_matmul(&DMatrix::zeros(70, 3), &DMatrix::zeros(4, 2)),
        &["parallel_matmul", "(70, 3)", "(4, 2)"],
    );
    panics_naming(
        || columns_dot(&DMatrix::zeros(4, 2), &[1.0; 3]),
        &["columns_dot", "3", "4"],
    );
    panics_naming(|| dot(&[1.0; 3], &[1.0; 2]), &["dot", "3", "2"]);
    let block = FastBlock::from(&small_model().layers[0].1);
    panics_naming(
        move || block.forward(&DMatrix::zeros(4, 9)),
        &["FastBlock", "(4, 9)", "8"],
    );
}

/// NaN in a token's embedding is NaN in the logits from that token on, in
/// the parallel pass and the recurrent one alike; the tokens before it are
/// untouched.
#[test]
fn a_nan_embedding_is_nan_from_its_token_on() {
    let mut m = small_model();
    m.embedding[(0, 3)] = f64::NAN;
    let fast = FastModel::from(&m);
    let logits = returns(move || fast.forward(&[1, 2, 3, 4, 1])).expect("valid");
    // The tied head reads every token's embedding, so the logit of token 3
    // is NaN at every position; the others are finite before token 3 enters
    // and NaN from there on (its state carries it).
    for t in 0..5 {
        for v in 0..5 {
            let expect_nan = v == 3 || t >= 2;
            assert_eq!(
                logits[(t, v)].is_nan(),
                expect_nan,
                "position {t}, logit {v}"
            );
        }
    }
}
