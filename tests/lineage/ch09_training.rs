//! Chapter 9: every backward pass against central differences in `f64`;
//! the chunked recomputation equals storing every state; AdamW, clipping and
//! the schedule; checkpoints round-trip and reject broken files; training
//! resumes bit for bit, stops at a non-finite loss, and fits a batch.
//!
//! The tolerance of a gradient check. For a smooth loss ℓ of size O(1), the
//! central difference with step ε has a truncation error ε²|ℓ'''|/6 and a
//! rounding error about 2⁻⁵³|ℓ|/ε. With ε = 1e-5 and third derivatives below
//! ~100 on these small problems, both are below 2e-9. Errors are measured
//! relative to the tensor's largest numerical gradient (at least `FLOOR`), so
//! `GRAD_TOL = 1e-6` leaves a margin of several hundred, while a wrong sign or
//! a missing term is an error of order one. The rounding term grows with
//! |ℓ|, so in `check_parameters` the floor is `FLOOR · max(1, |ℓ|)`: the
//! delay model at its random start has ℓ ≈ 26 and a tensor (C.im, one
//! channel) whose gradient is 6e-4; there rounding alone made 1.7e-6, while
//! a larger step (1e-3) confirmed the analytic gradient to 1e-10.
//!
//! A model's tensors are probed with a step proportional to their scale σ
//! (their root mean square, clamped to [0.01, 1]; the plain step for a tensor
//! that is all zero, like S4D-Real's imaginary parts, where a step of 1e-7
//! let rounding, 2⁻⁵³|ℓ|/ε, reach 1e-6): a tensor that feeds an RMSNorm
//! enters the loss nearly scale-free, so the third derivative grows like
//! σ⁻³. The embedding (σ = 0.02) probed with ε = 1e-5 showed a truncation
//! error of 1.6e-6, as ε²σ⁻³/6 predicts; with ε·σ it is 1e-9 again. The
//! delay model's loss is noisier than that derivation assumes (about 1e-13
//! where its Vandermonde sums cancel), so it is checked with a larger step
//! and Richardson's extrapolation (`check_parameters_extrapolated`).

use std::collections::HashMap;
use std::path::Path;

use nalgebra::Complex;
use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use ssm_lineage::Error;
use ssm_lineage::lssl::Rule;
use ssm_lineage::mamba::RmsNorm;
use ssm_lineage::mamba::block::causal_conv;
use ssm_lineage::mamba::config::Linear;
use ssm_lineage::mamba::{
    BRule, MambaBlock, MambaConfig, MambaModel, SelectiveScan, causal_conv_backward,
    selective_scan, selective_scan_backward, selective_scan_taped,
};
use ssm_lineage::rnn::{ElmanRnn, RnnConfig};
use ssm_lineage::s4d::learn::S4dParams;
use ssm_lineage::s4d::{S4dInit, S4dLayer};
use ssm_lineage::support::rng::seeded;
use ssm_lineage::train::checkpoint::{self, Precision};
use ssm_lineage::train::gradcheck::{central_differences, relative_error};
use ssm_lineage::train::{
    AdamW, AdamWConfig, Example, Schedule, SignalExample, TrainConfig, Trainable,
    Trainer, clip_global_norm, cross_entropy,
};
use ssm_lineage::traits::{Convolutional, Parameters};

use crate::cases;
use crate::ch07_mamba::problem;
use crate::strategies::gaussian;

/// The central differences' step.
const EPS: f64 = 1e-5;
/// The largest error allowed, relative to the tensor's gradient scale.
const GRAD_TOL: f64 = 1e-6;
/// The delay model's step, extrapolated (see `check_parameters_extrapolated`).
const DELAY_EPS: f64 = 1e-3;
/// The smallest gradient scale errors are measured against.
const FLOOR: f64 = 1e-3;

/// Checks `analytic` = ∂loss/∂m by central differences over every entry of
/// `m`, and returns the relative error.
fn check_matrix(
    m: &DMatrix<f64>,
    analytic: &DMatrix<f64>,
    loss: impl Fn(&DMatrix<f64>) -> f64,
) -> f64 {
    check_matrix_with_step(m, analytic, EPS, loss)
}

/// [`check_matrix`] with the given step.
fn check_matrix_with_step(
    m: &DMatrix<f64>,
    analytic: &DMatrix<f64>,
    step: f64,
    loss: impl Fn(&DMatrix<f64>) -> f64,
) -> f64 {
    let numeric = central_differences(m.as_slice(), step, |theta| {
        loss(&DMatrix::from_column_slice(m.nrows(), m.ncols(), theta))
    });
    relative_error(analytic.as_slice(), &numeric, FLOOR)
}

/// Checks every tensor of `grads` = ∂loss/∂(the tensor of `model`) by central
/// differences; returns the worst tensor's name and relative error.
fn check_parameters<M: Parameters + Clone>(
    model: &M,
    grads: &M,
    loss: impl Fn(&M) -> f64,
) -> (String, f64) {
    check_parameters_with(
        model,
        grads,
        loss,
        |values| {
            let rms = (values.iter().map(|v| v * v).sum::<f64>()
                / values.len() as f64)
                .sqrt();
            // An all-zero tensor has no scale: probe it with the plain step.
            let scale = if rms > 0.0 { rms.clamp(0.01, 1.0) } else { 1.0 };
            EPS * scale
        },
        false,
    )
}

/// [`check_parameters`] for chapter 9's S4D layer and the delay model built
/// on it (no RMSNorm, so no tensor enters the loss scale-free): one step `DELAY_EPS` for every tensor, extrapolated
/// by Richardson, (4 ĝ(ε/2) − ĝ(ε))/3, which cancels the ε² truncation term.
/// Its loss is noisier than 2⁻⁵³|ℓ|: at random modes with a decay of 0.0022
/// per step (seed 601), the difference quotient of log A_real moves by 1e-8
/// between ε = 1e-5 and 1e-6 (not as 1/ε: noise of about 1e-13 in ℓ), which
/// is 1e-5 of the floor at those steps; and at imaginary parts of rms 0.007
/// (seed 445) the scaled step of [`check_parameters`], 1e-7, let rounding
/// reach 1.2e-6. At ε = 1e-3 that noise is 1e-10 (1e-7 of the floor), and
/// the truncation left after extrapolation, O(ε⁴), is below it: the same
/// analytic gradients agree with steps of 1e-4 to 1e-2 to 1e-10. The layer
/// alone failed the scaled step the same two ways over 10,000 cases: ∂C.im
/// at 2.6e-6 (one small C, S4D-Inv) and ∂log A_real at 1.2e-6 (S4D-LegS).
fn check_parameters_extrapolated<M: Parameters + Clone>(
    model: &M,
    grads: &M,
    loss: impl Fn(&M) -> f64,
) -> (String, f64) {
    check_parameters_with(model, grads, loss, |_| DELAY_EPS, true)
}

/// The worst relative error over a model's tensors, each probed with the
/// step `step(values)`, extrapolated (Richardson) if `richardson`.
fn check_parameters_with<M: Parameters + Clone>(
    model: &M,
    grads: &M,
    loss: impl Fn(&M) -> f64,
    step: impl Fn(&[f64]) -> f64,
    richardson: bool,
) -> (String, f64) {
    let mut worst = (String::new(), 0.0);
    let floor = FLOOR * loss(model).abs().max(1.0);
    for (p, g) in model.parameters().iter().zip(grads.parameters()) {
        let probe_loss = |theta: &[f64]| {
            let mut probe = model.clone();
            for q in probe.parameters_mut() {
                if q.name == p.name {
                    q.values.copy_from_slice(theta);
                }
            }
            loss(&probe)
        };
        let h = step(p.values);
        let mut numeric = central_differences(p.values, h, probe_loss);
        if richardson {
            let half = central_differences(p.values, h / 2.0, probe_loss);
            for (n, f) in numeric.iter_mut().zip(half) {
                *n = (4.0 * f - *n) / 3.0;
            }
        }
        let error = relative_error(g.values, &numeric, floor);
        if error > worst.1 {
            worst = (p.name.clone(), error);
        }
    }
    worst
}

/// Σ w ⊙ m: a loss whose gradient with respect to m is w.
fn weighted(w: &DMatrix<f64>, m: &DMatrix<f64>) -> f64 {
    w.component_mul(m).sum()
}

/// The selective scan's arguments as eight matrices (vectors as columns):
/// u, delta, A, B, C, D, z, the Δ bias.
type ScanParts = [DMatrix<f64>; 8];

/// Σ w ⊙ y of the scan of `q`, with the skip, gate and bias if `extras`.
fn scan_loss(q: &ScanParts, w: &DMatrix<f64>, rule: BRule, extras: bool) -> f64 {
    let (d, bias) = (q[5].column(0).into_owned(), q[7].column(0).into_owned());
    let args =
        SelectiveScan::new(&q[0], &q[1], &q[2], &q[3], &q[4]).with_b_rule(rule);
    let args = if extras {
        args.with_skip(&d)
            .with_gate(&q[6])
            .with_delta_bias(Some(&bias), true)
    } else {
        args
    };
    weighted(w, &selective_scan(&args).y)
}

proptest! {
    #![proptest_config(cases(24))]

    /// The selective scan's backward (Eq. G4) against central differences,
    /// for every argument, with and without skip, gate and bias, both rules
    /// for B, any chunk.
    #[test]
    fn selective_scan_gradients_match_finite_differences(
        len in 1usize..10, d in 1usize..4, n in 1usize..5, seed in any::<u64>(),
        extras in any::<bool>(), zoh in any::<bool>(), chunk in 1usize..12,
    ) {
        let p = problem(len, d, n, seed);
        let w = gaussian(len, d, seed ^ 99);
        let rule = if zoh { BRule::Zoh } else { BRule::Euler };
        let column = |v: &DVector<f64>| DMatrix::from_column_slice(v.len(), 1, v.as_slice());
        // Without softplus Δ = delta itself, so keep it positive.
        let delta = if extras { p.delta.clone() } else { p.delta.map(|v| v.abs() * 0.3 + 0.01) };
        let base: ScanParts = [p.u, delta, p.a, p.b, p.c, column(&p.d), p.z, column(&p.bias)];
        let (dv, bias) = (p.d, p.bias);
        let args = SelectiveScan::new(&base[0], &base[1], &base[2], &base[3], &base[4])
            .with_b_rule(rule);
        let args = if extras {
            args.with_skip(&dv).with_gate(&base[6]).with_delta_bias(Some(&bias), true)
        } else { args };
        let (_, tape) = selective_scan_taped(&args, chunk);
        let g = selective_scan_backward(&args, &tape, &w);
        let grads = [g.u, g.delta, g.a, g.b, g.c, column(&g.d_skip), g.z, column(&g.delta_bias)];
        let names = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"];
        let checked = if extras { 8 } else { 5 };
        for i in 0..checked {
            let error = check_matrix(&base[i], &grads[i], |m| {
                let mut q = base.clone();
                q[i] = m.clone();
                scan_loss(&q, &w, rule, extras)
            });
            prop_assert!(error < GRAD_TOL, "∂{}: relative error {error:e}", names[i]);
        }
    }
}

proptest! {
    #![proptest_config(cases(16))]

    /// Recomputing the states chunk by chunk from the kept ones gives the
    /// gradients of storing every state (chunk 1), bit for bit.
    #[test]
    fn recomputation_equals_storing_every_state(
        len in 1usize..40, d in 1usize..4, n in 1usize..5, seed in any::<u64>(),
        chunk in 1usize..50,
    ) {
        let p = problem(len, d, n, seed);
        let w = gaussian(len, d, seed ^ 7);
        let args = SelectiveScan::new(&p.u, &p.delta, &p.a, &p.b, &p.c)
            .with_skip(&p.d).with_gate(&p.z).with_delta_bias(Some(&p.bias), true);
        let (every, every_tape) = selective_scan_taped(&args, 1);
        let (kept, kept_tape) = selective_scan_taped(&args, chunk);
        prop_assert_eq!(&every, &kept);
        prop_assert_eq!(&every, &selective_scan(&args));
        prop_assert_eq!(every_tape.stored_values(), len * d * n);
        prop_assert_eq!(kept_tape.stored_values(), len.div_ceil(chunk) * d * n);
        prop_assert_eq!(
            selective_scan_backward(&args, &every_tape, &w),
            selective_scan_backward(&args, &kept_tape, &w)
        );
    }

    /// The linear map's backward (Eq. G2), with and without a bias.
    #[test]
    fn linear_gradients_match_finite_differences(
        len in 1usize..6, inputs in 1usize..5, outputs in 1usize..5,
        bias in any::<bool>(), seed in any::<u64>(),
    ) {
        let map = Linear::uniform(&mut seeded(seed), inputs, outputs, bias);
        let (x, w) = (gaussian(len, inputs, seed ^ 1), gaussian(len, outputs, seed ^ 2));
        let (dx, g) = map.backward(&x, &w);
        let error = check_matrix(&x, &dx, |m| weighted(&w, &map.forward(m)));
        prop_assert!(error < GRAD_TOL, "∂x: {error:e}");
        let error = check_matrix(&map.w, &g.w, |m| {
            weighted(&w, &Linear { w: m.clone(), ..map.clone() }.forward(&x))
        });
        prop_assert!(error < GRAD_TOL, "∂W: {error:e}");
        if let (Some(b), Some(db)) = (&map.bias, &g.bias) {
            let error = check_matrix(&DMatrix::from_column_slice(outputs, 1, b.as_slice()),
                &DMatrix::from_column_slice(outputs, 1, db.as_slice()), |m| {
                weighted(&w, &Linear { bias: Some(m.column(0).into_owned()), ..map.clone() }.forward(&x))
            });
            prop_assert!(error < GRAD_TOL, "∂b: {error:e}");
        }
    }

    /// The causal convolution's backward (Eq. G3), including sequences
    /// shorter than the kernel.
    #[test]
    fn causal_conv_gradients_match_finite_differences(
        len in 1usize..8, d in 1usize..4, taps in 1usize..6, seed in any::<u64>(),
    ) {
        let x = gaussian(len, d, seed);
        let w = gaussian(d, taps, seed ^ 1);
        let b = gaussian(d, 1, seed ^ 2).column(0).into_owned();
        let out = gaussian(len, d, seed ^ 3);
        let (dx, dw, db) = causal_conv_backward(&x, &w, &out);
        let error = check_matrix(&x, &dx, |m| weighted(&out, &causal_conv(m, &w, &b)));
        prop_assert!(error < GRAD_TOL, "∂x: {error:e}");
        let error = check_matrix(&w, &dw, |m| weighted(&out, &causal_conv(&x, m, &b)));
        prop_assert!(error < GRAD_TOL, "∂w: {error:e}");
        let column = DMatrix::from_column_slice(d, 1, b.as_slice());
        let error = check_matrix(&column, &DMatrix::from_column_slice(d, 1, db.as_slice()), |m| {
            weighted(&out, &causal_conv(&x, &w, &m.column(0).into_owned()))
        });
        prop_assert!(error < GRAD_TOL, "∂b: {error:e}");
    }

    /// RMSNorm's backward (Eq. G6), input and weight.
    #[test]
    fn rms_norm_gradients_match_finite_differences(
        len in 1usize..5, d in 1usize..6, seed in any::<u64>(),
    ) {
        let norm = RmsNorm {
            weight: gaussian(d, 1, seed).column(0).into_owned(),
            eps: 1e-5,
        };
        let (x, w) = (gaussian(len, d, seed ^ 1), gaussian(len, d, seed ^ 2));
        let (dx, dw) = norm.backward(&x, &w);
        // The row's scale σ = (mean x² + ε)^½ sets the curvature (σ⁻³): probe
        // with a step proportional to the smallest one.
        let sigma = (0..len)
            .map(|t| (x.row(t).norm_squared() / d as f64 + 1e-5).sqrt())
            .fold(f64::INFINITY, f64::min);
        let error = check_matrix_with_step(&x, &dx, EPS * sigma.min(1.0), |m| {
            weighted(&w, &norm.apply_rows(m))
        });
        prop_assert!(error < GRAD_TOL, "∂x: {error:e}");
        let as_m = DMatrix::from_column_slice(d, 1, norm.weight.as_slice());
        let error = check_matrix(&as_m, &DMatrix::from_column_slice(d, 1, dw.as_slice()), |m| {
            let probe = RmsNorm { weight: m.column(0).into_owned(), eps: 1e-5 };
            weighted(&w, &probe.apply_rows(&x))
        });
        prop_assert!(error < GRAD_TOL, "∂w: {error:e}");
    }

    /// Cross-entropy's gradient (Eq. G1), with unscored positions.
    #[test]
    fn cross_entropy_gradient_matches_finite_differences(
        len in 1usize..6, vocab in 2usize..7, seed in any::<u64>(),
    ) {
        let logits = gaussian(len, vocab, seed) * 3.0;
        let targets: Vec<Option<usize>> = (0..len)
            .map(|t| (t % 3 != 1).then_some((seed as usize + 5 * t) % vocab))
            .collect();
        let out = cross_entropy(&logits, &targets);
        let error = check_matrix(&logits, &out.grad, |m| cross_entropy(m, &targets).loss);
        prop_assert!(error < GRAD_TOL, "∂logits: {error:e}");
        prop_assert!(out.loss >= 0.0);
    }
}

proptest! {
    #![proptest_config(cases(12))]

    /// The learnable S4D layer's backward (Eq. G8) through the FFT
    /// convolution and the Vandermonde kernel, against central differences,
    /// for the input and every parameter, from every initialisation.
    #[test]
    fn s4d_gradients_match_finite_differences(
        len in 1usize..24, channels in 1usize..4, pairs in 1usize..4, seed in any::<u64>(),
        init in prop::sample::select(vec![S4dInit::Lin, S4dInit::Inv, S4dInit::Real, S4dInit::Legs]),
    ) {
        let layer = S4dParams::new(channels, 2 * pairs, init, seed).expect("valid");
        let u = gaussian(len, channels, seed ^ 1);
        let w = gaussian(len, channels, seed ^ 2);
        let (du, grads) = layer.backward(&u, &w);
        let error = check_matrix(&u, &du, |m| weighted(&w, &layer.forward(m)));
        prop_assert!(error < GRAD_TOL, "∂u: {error:e}");
        let (name, error) = check_parameters_extrapolated(&layer, &grads, |l| weighted(&w, &l.forward(&u)));
        prop_assert!(error < GRAD_TOL, "∂{name}: {error:e}");
    }
}

/// The S4D layer's convolution view equals chapter 5's layer built from the
/// same eigenvalues, B, C, D and Δ (channel by channel).
#[test]
fn learnable_s4d_is_chapter_5s_layer() {
    let layer = S4dParams::new(3, 8, S4dInit::Legs, 4).expect("valid");
    let u = gaussian(50, 3, 5);
    let y = layer.forward(&u);
    for h in 0..3 {
        let modes: Vec<[Complex<f64>; 3]> =
            (0..4).map(|k| layer.mode(h, k)).collect();
        let one = S4dLayer::from_parameters(
            Rule::Zoh,
            (
                modes.iter().map(|m| m[0]).collect(),
                modes.iter().map(|m| m[1]).collect(),
            ),
            vec![modes.iter().map(|m| m[2]).collect()],
            DVector::from_element(1, layer.d[h]),
            vec![layer.log_dt[h].exp()],
        )
        .expect("valid");
        let want = one.convolve(&u.columns(h, 1).into_owned());
        assert!((want - y.columns(h, 1)).amax() < 1e-12, "channel {h}");
    }
}

/// The time-invariant core is time-invariant: its Δ, B and C are the same
/// at every step whatever the input, it has no selection weights, and its
/// recurrent step continues its parallel pass.
#[test]
fn the_time_invariant_core_does_not_select() {
    let config = tiny_config(2).time_invariant();
    let model = MambaModel::new(&config, 9).expect("valid");
    let block = &model.layers[0].1;
    let input = gaussian(7, 4, 3);
    let s = block.select(&input);
    for t in 1..7 {
        assert_eq!(s.b.row(t), s.b.row(0));
        assert_eq!(s.c.row(t), s.c.row(0));
    }
    assert_eq!(s.delta.amax(), 0.0, "Δ = softplus(bias) alone");
    let names: Vec<String> =
        block.parameters().into_iter().map(|p| p.name).collect();
    assert!(names.contains(&"x_proj.bias".to_string()));
    assert!(
        !names
            .iter()
            .any(|n| n == "x_proj.weight" || n == "dt_proj.weight")
    );
    let tokens = [1, 4, 2, 0, 3];
    let whole = model.forward(&tokens).expect("valid");
    let (_, mut caches) = model.prefill(&tokens[..3]).expect("valid");
    for (t, &tok) in tokens.iter().enumerate().skip(3) {
        let step = model.step(tok, &mut caches).expect("valid");
        assert!((whole.row(t).transpose() - step).amax() < 1e-12);
    }
    let sizes = MambaModel::new(&tiny_config(2), 9)
        .expect("valid")
        .parameter_count();
    assert!(model.parameter_count() < sizes);
}

/// A time-invariant configuration that keeps a rank for Δ is rejected.
#[test]
fn a_time_invariant_core_has_no_delta_rank() {
    let config = MambaConfig {
        dt_rank: 2,
        ..tiny_config(1).time_invariant()
    };
    let err = MambaModel::new(&config, 0).expect_err("rejected");
    assert!(err.to_string().contains("dt_rank"), "{err}");
}

/// A small configuration: every size different, so a transposed index shows.
fn tiny_config(n_layer: usize) -> MambaConfig {
    MambaConfig {
        d_state: 3,
        d_conv: 3,
        dt_rank: 2,
        ..MambaConfig::new(4, n_layer, 5)
    }
}

proptest! {
    #![proptest_config(cases(6))]

    /// The block's backward (Eq. G5) against central differences, for the
    /// input and every parameter.
    #[test]
    fn block_gradients_match_finite_differences(
        len in 1usize..7, seed in any::<u64>(), chunk in 1usize..8, selective in any::<bool>(),
    ) {
        let config = if selective { tiny_config(1) } else { tiny_config(1).time_invariant() };
        let block = MambaBlock::new(&config, &mut seeded(seed)).expect("valid");
        let input = gaussian(len, 4, seed ^ 1);
        let w = gaussian(len, 4, seed ^ 2);
        let (out, tape) = block.forward_taped(&input, chunk);
        prop_assert!((&out - block.forward(&input).0).amax() == 0.0);
        let (d_input, grads) = block.backward(&tape, &w);
        let error = check_matrix(&input, &d_input, |m| weighted(&w, &block.forward(m).0));
        prop_assert!(error < GRAD_TOL, "∂input: {error:e}");
        let (name, error) =
            check_parameters(&block, &grads, |b| weighted(&w, &b.forward(&input).0));
        prop_assert!(error < GRAD_TOL, "∂{name}: {error:e}");
    }

    /// The whole language model's backward (Eq. G7), every parameter, with a
    /// loss on some positions only.
    #[test]
    fn model_gradients_match_finite_differences(
        len in 1usize..6, seed in any::<u64>(), selective in any::<bool>(),
    ) {
        let config = if selective { tiny_config(2) } else { tiny_config(2).time_invariant() };
        let model = MambaModel::new(&config, seed).expect("valid");
        let tokens: Vec<usize> = (0..len).map(|t| (seed as usize / 7 + 3 * t) % 5).collect();
        let targets: Vec<Option<usize>> =
            (0..len).map(|t| (t % 2 == 0).then_some((t + 1) % 5)).collect();
        let (logits, tape) = model.forward_taped(&tokens, 2).expect("valid tokens");
        let loss = cross_entropy(&logits, &targets);
        let grads = model.backward(&tape, &loss.grad);
        let (name, error) = check_parameters(&model, &grads, |m| {
            cross_entropy(&m.forward(&tokens).expect("valid"), &targets).loss
        });
        prop_assert!(error < GRAD_TOL, "∂{name}: {error:e}");
    }
}

/// A batch for the tiny model: sequences whose every position predicts the
/// token two steps back (a copy that needs memory), from a seed.
fn copy_batch(seed: u64, size: usize, len: usize) -> Vec<Example> {
    (0..size)
        .map(|i| {
            let tokens: Vec<usize> = (0..len)
                .map(|t| ((seed % 1000) as usize * 7 + 31 * i + t * t * 3 + t) % 5)
                .collect();
            let targets = (0..len)
                .map(|t| t.checked_sub(2).map(|s| tokens[s]))
                .collect();
            Example { tokens, targets }
        })
        .collect()
}

proptest! {
    #![proptest_config(cases(16))]

    /// AdamW's first step moves every value by lr · g/(|g| + ε) (the bias
    /// corrections make m̂ = g and v̂ = g²), minus the decoupled decay
    /// lr·λ·θ for every tensor outside the no-decay set.
    #[test]
    fn adamw_first_step_is_a_signed_step_with_decoupled_decay(
        seed in any::<u64>(), lr in 1e-4..1e-1f64, decay in 0.0..0.5f64,
    ) {
        let model = MambaModel::new(&tiny_config(1), seed).expect("valid");
        let (_, grads) = model.loss_and_gradients(&copy_batch(seed, 2, 5)).expect("valid");
        let config = AdamWConfig { weight_decay: decay, ..AdamWConfig::default() };
        let mut opt = AdamW::new(config.clone(), &model).expect("valid");
        let mut updated = model.clone();
        opt.update(&mut updated, &grads, lr);
        for ((p, q), g) in model.parameters().iter().zip(updated.parameters()).zip(grads.parameters()) {
            let exempt = ssm_lineage::train::optim::no_weight_decay(&p.name);
            for i in 0..p.values.len() {
                let (theta, grad) = (p.values[i], g.values[i]);
                let kept = if exempt { theta } else { theta * (1.0 - lr * decay) };
                let want = kept - lr * grad / (grad.abs() + config.eps);
                prop_assert!((q.values[i] - want).abs() <= 1e-12 * (1.0 + want.abs()),
                    "{} [{i}]: {} vs {want}", p.name, q.values[i]);
            }
        }
    }

    /// Clipping scales the gradient to the given norm and keeps its
    /// direction; a smaller gradient is unchanged.
    #[test]
    fn clipping_bounds_the_global_norm(seed in any::<u64>(), max in 1e-3..10.0f64) {
        let model = MambaModel::new(&tiny_config(1), seed).expect("valid");
        let (_, grads) = model.loss_and_gradients(&copy_batch(seed, 2, 5)).expect("valid");
        let mut clipped = grads.clone();
        let norm = clip_global_norm(&mut clipped, max);
        let after = clip_global_norm(&mut clipped.clone(), f64::INFINITY);
        prop_assert!(after <= max * (1.0 + 1e-12) && after <= norm * (1.0 + 1e-12));
        let scale = after / norm;
        for (g, c) in grads.parameters().iter().zip(clipped.parameters()) {
            for (a, b) in g.values.iter().zip(c.values) {
                prop_assert!((a * scale - b).abs() <= 1e-12 * a.abs().max(1e-300));
            }
        }
    }
}

/// The schedule warms up linearly to the peak, then decays along a cosine
/// to the floor, never rising after the warm-up.
#[test]
fn schedule_warms_up_then_decays_to_the_floor() {
    let s = Schedule {
        peak: 1e-3,
        floor: 1e-5,
        warmup: 10,
        total: 110,
    };
    assert!((s.lr(0) - 1e-4).abs() < 1e-18);
    assert!((s.lr(9) - 1e-3).abs() < 1e-18);
    assert!((s.lr(60) - (1e-5 + 0.5 * (1e-3 - 1e-5))).abs() < 1e-15);
    assert!((s.lr(110) - 1e-5).abs() < 1e-18 && (s.lr(500) - 1e-5).abs() < 1e-18);
    for step in 10..200 {
        assert!(s.lr(step + 1) <= s.lr(step), "rises at {step}");
    }
}

/// A model saved in safetensors loads back bit for bit (F64) and within f32
/// rounding (F32); the file holds the Hugging Face names and shapes.
#[test]
fn checkpoints_round_trip_with_hugging_face_names() {
    let model = MambaModel::new(&tiny_config(2), 3).expect("valid");
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes =
        checkpoint::to_bytes(&model, Precision::F64, meta.clone()).expect("written");
    let mut back = MambaModel::new(&tiny_config(2), 4).expect("valid");
    checkpoint::from_bytes(&mut back, &bytes, Path::new("mem")).expect("read");
    assert_eq!(back, model);
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("valid file");
    let (d_model, d_inner, n, r) = (4, 8, 3, 2);
    for (name, shape) in [
        ("backbone.embeddings.weight", vec![5, d_model]),
        (
            "backbone.layers.1.mixer.in_proj.weight",
            vec![2 * d_inner, d_model],
        ),
        ("backbone.layers.0.mixer.conv1d.weight", vec![d_inner, 1, 3]),
        (
            "backbone.layers.0.mixer.x_proj.weight",
            vec![r + 2 * n, d_inner],
        ),
        ("backbone.layers.0.mixer.dt_proj.weight", vec![d_inner, r]),
        ("backbone.layers.0.mixer.A_log", vec![d_inner, n]),
        (
            "backbone.layers.0.mixer.out_proj.weight",
            vec![d_model, d_inner],
        ),
        ("backbone.norm_f.weight", vec![d_model]),
    ] {
        assert_eq!(
            file.tensor(name).expect(name).shape(),
            shape.as_slice(),
            "{name}"
        );
    }
    // Row-major A_log: entry [c, k] is −log of A's (c, k), k + 1 at start.
    let a_log = file
        .tensor("backbone.layers.0.mixer.A_log")
        .expect("present");
    let second =
        f64::from_le_bytes(a_log.data()[8..16].try_into().expect("8 bytes"));
    assert_eq!(second, model.layers[0].1.a_log[(0, 1)]);
    let bytes = checkpoint::to_bytes(&model, Precision::F32, meta).expect("written");
    checkpoint::from_bytes(&mut back, &bytes, Path::new("mem")).expect("read");
    for (p, q) in model.parameters().iter().zip(back.parameters()) {
        for (a, b) in p.values.iter().zip(q.values) {
            assert!(
                (a - b).abs() <= a.abs() * f64::from(f32::EPSILON),
                "{}",
                p.name
            );
        }
    }
}

proptest! {
    #![proptest_config(cases(48))]

    /// A truncated file, or one whose header length is corrupted, is an
    /// error naming the file, never a panic; a changed header byte is an
    /// error or still gives the file's own values; a file whose data bytes
    /// are corrupted either loads or is rejected for a non-finite value.
    #[test]
    fn broken_checkpoints_are_errors(cut in any::<prop::sample::Index>(),
                                     at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let model = MambaModel::new(&tiny_config(1), 3).expect("valid");
        let bytes = checkpoint::to_bytes(&model, Precision::F32, HashMap::new()).expect("written");
        let header = 8 + u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let mut into = model.clone();
        let truncated = &bytes[..cut.index(bytes.len())];
        let read = checkpoint::from_bytes(&mut into, truncated, Path::new("x.safetensors"));
        prop_assert!(matches!(read, Err(Error::Input { .. })), "{read:?}");
        prop_assert_eq!(&into, &model);
        let mut longer = bytes.clone();
        longer[..8].copy_from_slice(&((header as u64) * 1000 + 1).to_le_bytes());
        let read = checkpoint::from_bytes(&mut into, &longer, Path::new("x.safetensors"));
        prop_assert!(matches!(read, Err(Error::Input { .. })), "{read:?}");
        let mut flipped = bytes.clone();
        let i = 8 + at.index(header - 8);
        flipped[i] = byte;
        let read = checkpoint::from_bytes(&mut into, &flipped, Path::new("x.safetensors"));
        if read.is_ok() {
            // A header byte whose change still parses (in the metadata, say)
            // must still give the file's own values.
            let mut reference = model.clone();
            checkpoint::from_bytes(&mut reference, &bytes, Path::new("x")).expect("valid");
            prop_assert_eq!(&into, &reference);
        }
        let mut data = bytes.clone();
        let j = header + at.index(bytes.len() - header);
        data[j] ^= 0x7f;
        let read = checkpoint::from_bytes(&mut into, &data, Path::new("x.safetensors"));
        prop_assert!(read.is_ok() || matches!(read, Err(Error::NonFinite { .. })), "{read:?}");
    }
}

/// The loss of a tiny model on a fixed batch falls from chance to near zero:
/// the whole chain (forward, backward, clipping, AdamW) learns.
#[test]
fn a_tiny_model_fits_a_batch() {
    let model = MambaModel::new(&tiny_config(2), 1).expect("valid");
    let batch = copy_batch(0, 4, 8);
    let mut trainer =
        Trainer::new(model, TrainConfig::new(150, 3e-2)).expect("valid");
    trainer.run(|_| batch.clone()).expect("finite");
    let (first, last) = (
        trainer.log[0].metrics,
        trainer.log[trainer.log.len() - 1].metrics,
    );
    assert!(
        (first.loss - 5f64.ln()).abs() < 0.3,
        "starts near ln 5: {}",
        first.loss
    );
    assert!(
        last.loss < 0.1 && last.accuracy() == 1.0,
        "ends at {last:?}"
    );
}

/// Training 6 steps equals training 3, saving, resuming and training 3 more,
/// bit for bit: parameters, moments, step and log.
#[test]
fn resuming_from_a_checkpoint_continues_bit_for_bit() {
    let dir =
        std::env::temp_dir().join(format!("ssm-resume-{}", std::process::id()));
    let model = MambaModel::new(&tiny_config(2), 5).expect("valid");
    let config = |steps| TrainConfig {
        schedule: Schedule {
            peak: 1e-2,
            floor: 1e-3,
            warmup: 2,
            total: 6,
        },
        log_every: 1,
        checkpoint_every: 3,
        dir: Some(dir.clone()),
        adamw: AdamWConfig {
            weight_decay: 0.1,
            ..AdamWConfig::default()
        },
        ..TrainConfig::new(steps, 1e-2)
    };
    let batch = |step: u64| copy_batch(step, 3, 6);
    let mut straight = Trainer::new(
        model.clone(),
        TrainConfig {
            dir: None,
            ..config(6)
        },
    )
    .expect("valid");
    straight.run(batch).expect("finite");
    let mut first = Trainer::new(model.clone(), config(3)).expect("valid");
    first.run(batch).expect("finite");
    let mut second = Trainer::resume(model, config(6), &dir).expect("a checkpoint");
    assert_eq!(second.optimizer.step, 3);
    second.run(batch).expect("finite");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(second.model, straight.model);
    assert_eq!(second.optimizer, straight.optimizer);
    let losses = |t: &Trainer<MambaModel>| {
        t.log.iter().map(|r| r.metrics.loss).collect::<Vec<_>>()
    };
    assert_eq!(losses(&second), losses(&straight));
}

/// A non-finite loss stops training with an error naming the step, and the
/// model is left as it was before that step.
#[test]
fn a_non_finite_loss_stops_training_at_its_step() {
    let mut model = MambaModel::new(&tiny_config(1), 2).expect("valid");
    model.layers[0].1.d[0] = f64::INFINITY;
    let mut trainer =
        Trainer::new(model.clone(), TrainConfig::new(5, 1e-2)).expect("valid");
    let err = trainer.run(|s| copy_batch(s, 2, 5)).expect_err("stops");
    assert!(matches!(err, Error::Training { step: 0, .. }), "{err}");
    assert!(err.to_string().contains("step 0"), "{err}");
    assert_eq!(trainer.model, model);
}

/// A batch of recall sequences for chapter 1's RNN: the target at t is the
/// input at t − lag, scored from `lag` on.
fn recall_batch(
    seed: u64,
    size: usize,
    len: usize,
    lag: usize,
) -> Vec<SignalExample> {
    (0..size)
        .map(|i| {
            let input = gaussian(len, 1, seed ^ (i as u64 + 1));
            let target = DMatrix::from_fn(len, 1, |t, _| {
                t.checked_sub(lag).map_or(0.0, |s| input[(s, 0)])
            });
            SignalExample {
                input,
                target,
                from: lag,
            }
        })
        .collect()
}

fn small_rnn(seed: u64) -> ElmanRnn {
    let config = RnnConfig {
        hidden: 6,
        input: 1,
        output: 1,
        spectral_radius: 0.9,
        input_scale: 1.0,
    };
    ElmanRnn::random(&config, seed).expect("valid")
}

proptest! {
    #![proptest_config(cases(12))]

    /// Chapter 1's RNN in the training loop: its batch loss's gradient (BPTT,
    /// Eq. R6, scaled to the mean over scored values, unscored rows masked)
    /// against central differences.
    #[test]
    fn rnn_batch_gradients_match_finite_differences(
        seed in any::<u64>(), len in 2usize..12, lag in 0usize..3,
    ) {
        let rnn = small_rnn(seed);
        let batch = recall_batch(seed, 3, len, lag.min(len - 1));
        let (_, grads) = rnn.loss_and_gradients(&batch).expect("valid");
        let (name, error) = check_parameters(&rnn, &grads, |r| {
            r.loss_and_gradients(&batch).expect("valid").0.loss
        });
        prop_assert!(error < GRAD_TOL, "∂{name}: {error:e}");
    }
}

/// The RNN learns to recall the previous input with AdamW.
#[test]
fn the_rnn_learns_to_recall_the_last_input() {
    let mut trainer =
        Trainer::new(small_rnn(3), TrainConfig::new(300, 1e-2)).expect("valid");
    trainer.run(|s| recall_batch(s, 8, 20, 1)).expect("finite");
    let (first, last) = (
        trainer.log[0].metrics.loss,
        trainer.log[trainer.log.len() - 1].metrics.loss,
    );
    assert!(first > 0.5 && last < 0.05 * first, "{first} → {last}");
}

/// A token or target outside the vocabulary, or a target list of another
/// length, is an error naming it, on both paths, never a panic.
#[test]
fn tokens_outside_the_vocabulary_are_errors() {
    let model = MambaModel::new(&tiny_config(1), 1).expect("valid");
    let bad_target = vec![Example {
        tokens: vec![1, 2],
        targets: vec![None, Some(5)],
    }];
    let bad_token = vec![Example {
        tokens: vec![1, 9],
        targets: vec![None, Some(0)],
    }];
    // Fewer targets than tokens would misalign the fast path's flat targets.
    let short = vec![Example {
        tokens: vec![1, 2, 3],
        targets: vec![None, Some(0)],
    }];
    for batch in [&bad_target, &bad_token, &short] {
        let err = model.loss_and_gradients(batch).expect_err("rejected");
        assert!(err.to_string().contains("token"), "{err}");
        let fast = ssm_lineage::train::fast::FastMamba {
            model: model.clone(),
        };
        assert!(fast.loss_and_gradients(batch).is_err());
    }
}

proptest! {
    #![proptest_config(cases(12))]

    /// The delay experiment's model (chapter 9): the gradient through the
    /// output mix and the S4D layer's batched backward, for every
    /// initialisation the experiment compares.
    #[test]
    fn delay_model_gradient_is_checked(seed in 0u64..1000, init in 0usize..4, channels in 1usize..3) {
        use ssm_lineage::train::s4d_mix::{S4dMix, random_modes};
        let s4d = match init {
            0 => S4dParams::new(channels, 4, S4dInit::Legs, seed),
            1 => S4dParams::new(channels, 4, S4dInit::Lin, seed),
            2 => S4dParams::new(channels, 4, S4dInit::Inv, seed),
            _ => {
                let (lambda, b) = random_modes(4, seed).expect("valid");
                S4dParams::from_modes(channels, &lambda, &b, seed)
            }
        }
        .expect("valid");
        let model = S4dMix::new(s4d, seed);
        let batch = ssm_lineage::train::tasks::Delay::new(16, 3, 4).expect("valid").batch(seed, 3);
        let (_, grads) = model.loss_and_gradients(&batch).expect("one length");
        let (name, error) = check_parameters_extrapolated(&model, &grads, |m| {
            m.loss_and_gradients(&batch).expect("one length").0.loss
        });
        prop_assert!(error < GRAD_TOL, "{name}: relative error {error:e}");
    }
}
