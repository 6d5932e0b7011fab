//! The appendix: the fast `f32` paths, built from the readable ones.

use nalgebra::{DMatrix, DVector};
use ssm_lineage::mamba::RmsNorm;
use ssm_lineage::mamba::fast::model::{RmsNorm32, causal_conv_f32};
use ssm_lineage::mamba::fast::weights::{columns_dot, dot, parallel_matmul};
use ssm_lineage::mamba::fast::{
    FastBlock, FastModel, FastScan, ScanKernel, selective_scan_fast_chunked,
};
use ssm_lineage::mamba::selective::{BRule, SelectiveScan};

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

/// A NaN Δ at one step and channel is NaN in that channel's outputs from
/// that step on, and touches nothing else, on both kernels and both B rules,
/// with time in one chunk or several. Δ reaches the state through
/// softplus, e^{ΔA} and (Euler) ΔBu; the AVX-512 kernel once clamped a NaN
/// exponent to a number, so that softplus(NaN) and e^{NaN·A} were finite and
/// the channel went on as if nothing had happened.
#[test]
fn a_nan_step_is_nan_in_its_channel_from_its_step_on() {
    let p = crate::ch07_mamba::problem(40, 20, 4, 7);
    let mut delta = p.delta.clone();
    delta[(13, 17)] = f64::NAN;
    for rule in [BRule::Euler, BRule::Zoh] {
        let args = SelectiveScan::new(&p.u, &delta, &p.a, &p.b, &p.c)
            .with_skip(&p.d)
            .with_delta_bias(Some(&p.bias), true)
            .with_b_rule(rule);
        let fast = FastScan::from(&args);
        for kernel in [ScanKernel::Auto, ScanKernel::Portable] {
            for chunks in [1, 3] {
                let y = selective_scan_fast_chunked(&fast, chunks, kernel).y;
                for ((t, ch), v) in (0..40)
                    .flat_map(|t| (0..20).map(move |ch| (t, ch)))
                    .map(|i| (i, y[i]))
                {
                    let nan = ch == 17 && t >= 13;
                    assert_eq!(
                        v.is_nan(),
                        nan,
                        "{rule:?}, {kernel:?}, {chunks} chunks: y[{t}, {ch}] = {v}"
                    );
                }
            }
        }
    }
}
