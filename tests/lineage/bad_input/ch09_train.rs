//! Chapter 9: losses, the optimizer, the trainer, the learnable S4D layer
//! and its mix, checkpoints.

use nalgebra::{Complex, DMatrix};
use ssm_lineage::s4d::S4dInit;
use ssm_lineage::s4d::learn::S4dParams;
use ssm_lineage::train::gradcheck::central_differences;
use ssm_lineage::train::s4d_mix::{S4dMix, normalised_error, random_modes};
use ssm_lineage::train::{
    AdamW, AdamWConfig, Schedule, TrainConfig, Trainer, clip_global_norm,
    cross_entropy, mean_squared_error,
};

use super::{panics_naming, rejects, returns, small_model};

#[test]
fn invalid_training_settings_are_errors_naming_them() {
    let base = || TrainConfig::new(10, 1e-3);
    for (field, config) in [
        (
            "schedule.peak",
            TrainConfig {
                schedule: Schedule::constant(f64::NAN),
                ..base()
            },
        ),
        (
            "schedule.peak",
            TrainConfig {
                schedule: Schedule::constant(-1e-3),
                ..base()
            },
        ),
        (
            "clip",
            TrainConfig {
                clip: Some(0.0),
                ..base()
            },
        ),
        (
            "clip",
            TrainConfig {
                clip: Some(-1.0),
                ..base()
            },
        ),
        (
            "clip",
            TrainConfig {
                clip: Some(f64::NAN),
                ..base()
            },
        ),
        (
            "log_every",
            TrainConfig {
                log_every: 0,
                ..base()
            },
        ),
        (
            "checkpoint_every",
            TrainConfig {
                checkpoint_every: 0,
                ..base()
            },
        ),
        (
            "beta1",
            TrainConfig {
                adamw: AdamWConfig {
                    beta1: 1.0,
                    ..AdamWConfig::default()
                },
                ..base()
            },
        ),
        (
            "beta2",
            TrainConfig {
                adamw: AdamWConfig {
                    beta2: f64::NAN,
                    ..AdamWConfig::default()
                },
                ..base()
            },
        ),
        (
            "eps",
            TrainConfig {
                adamw: AdamWConfig {
                    eps: 0.0,
                    ..AdamWConfig::default()
                },
                ..base()
            },
        ),
        (
            "weight_decay",
            TrainConfig {
                adamw: AdamWConfig {
                    weight_decay: -0.1,
                    ..AdamWConfig::default()
                },
                ..base()
            },
        ),
    ] {
        let message = config.validate().expect_err(field).to_string();
        assert!(message.contains(field), "{message}");
        rejects(move || Trainer::new(small_model(), config), field);
    }
    let adamw = AdamWConfig {
        eps: f64::INFINITY,
        ..AdamWConfig::default()
    };
    rejects(move || AdamW::new(adamw, &small_model()), "eps");
}

#[test]
fn misused_training_tools_panic_naming_what_is_wrong() {
    panics_naming(
        || {
            let mut grads = small_model();
            clip_global_norm(&mut grads, -1.0)
        },
        &["clip_global_norm", "-1"],
    );
    panics_naming(
        || central_differences(&[1.0], 0.0, |t| t[0]),
        &["central_differences", "eps"],
    );
    panics_naming(
        || cross_entropy(&DMatrix::zeros(3, 4), &[Some(1), None]),
        &["cross_entropy", "2 targets", "(3, 4)"],
    );
    panics_naming(
        || cross_entropy(&DMatrix::zeros(2, 4), &[Some(1), Some(4)]),
        &["cross_entropy", "target 4", "vocabulary 4"],
    );
    panics_naming(
        || mean_squared_error(&DMatrix::zeros(3, 1), &DMatrix::zeros(3, 2), 0),
        &["mean_squared_error", "(3, 1)", "(3, 2)"],
    );
}

/// A loss with nothing scored is zero with a zero gradient, not NaN. A NaN
/// or +∞ logit makes the loss non-finite (the trainer stops on it with an
/// error naming the step, tested in `ch09_training`); a −∞ logit is a
/// probability of exactly zero, which is finite unless it is the target's.
#[test]
fn degenerate_losses() {
    let none = returns(|| cross_entropy(&DMatrix::zeros(3, 4), &[None, None, None]));
    assert_eq!((none.loss, none.grad.amax()), (0.0, 0.0));
    let past_the_end = returns(|| {
        mean_squared_error(&DMatrix::zeros(3, 1), &DMatrix::zeros(3, 1), 5)
    });
    assert_eq!(past_the_end.loss, 0.0);
    for (bad, target, finite) in [
        (f64::NAN, 1, false),
        (f64::INFINITY, 1, false),
        (f64::NEG_INFINITY, 1, true),
        (f64::NEG_INFINITY, 2, false),
    ] {
        let mut logits = DMatrix::zeros(2, 3);
        logits[(1, 2)] = bad;
        let l = returns(move || cross_entropy(&logits, &[Some(0), Some(target)]));
        assert_eq!(
            l.loss.is_finite(),
            finite,
            "{bad} at target {target}: {}",
            l.loss
        );
    }
}

#[test]
fn invalid_learnable_layers_are_errors() {
    rejects(|| S4dParams::new(2, 0, S4dInit::Lin, 0), "n");
    rejects(|| random_modes(0, 0), "n");
    let b = vec![Complex::new(1.0, 0.0); 2];
    for (lambda, what) in [
        (vec![Complex::new(0.5, 0.0); 2], "lambda"),
        (vec![Complex::new(f64::NEG_INFINITY, 0.0); 2], "lambda"),
        (vec![Complex::new(-0.5, f64::NAN); 2], "lambda"),
    ] {
        let b = b.clone();
        rejects(move || S4dParams::from_modes(2, &lambda, &b, 0), what);
    }
    let lambda = vec![Complex::new(-0.5, 1.0); 2];
    let (l, short) = (lambda.clone(), b[..1].to_vec());
    rejects(move || S4dParams::from_modes(2, &l, &short, 0), "b");
    let nan_b = vec![Complex::new(f64::NAN, 0.0); 2];
    rejects(move || S4dParams::from_modes(2, &lambda, &nan_b, 0), "b");
    let mix = S4dMix::new(S4dParams::new(2, 4, S4dInit::Lin, 0).expect("valid"), 0);
    let m = mix.clone();
    panics_naming(move || m.forward(&DMatrix::zeros(5, 2)), &["(5, 2)"]);
    assert!(returns(move || normalised_error(&mix, &[])).is_nan());
}
