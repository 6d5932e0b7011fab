//! Chapter 8: the SSD forms, the Mamba-2 block and model.

use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use ssm_lineage::ssd::{
    Mamba2Block, Mamba2Config, Mamba2Model, SsdInputs, ssd_chunked, ssd_recurrent,
};
use ssm_lineage::support::rng::seeded;

use super::{named_by, outcome, panics_naming, rejects, returns};
use crate::cases;
use crate::ch08_ssd::problem;

fn small() -> Mamba2Config {
    Mamba2Config::new(8, 4)
}

fn invalid_config() -> impl Strategy<Value = (Mamba2Config, &'static str)> {
    let size = prop_oneof![Just(0usize), Just(1usize << 62)];
    let step = prop_oneof![Just(0.0), Just(-1.0), Just(f64::NAN), Just(1e300)];
    prop_oneof![
        size.clone().prop_map(|v| (
            Mamba2Config {
                d_model: v,
                ..small()
            },
            "d_model"
        )),
        size.clone().prop_map(|v| (
            Mamba2Config {
                d_state: v,
                ..small()
            },
            "d_state"
        )),
        size.clone().prop_map(|v| (
            Mamba2Config {
                d_conv: v,
                ..small()
            },
            "d_conv"
        )),
        size.clone().prop_map(|v| (
            Mamba2Config {
                expand: v,
                ..small()
            },
            "expand"
        )),
        size.clone().prop_map(|v| (
            Mamba2Config {
                headdim: v,
                ..small()
            },
            "headdim"
        )),
        size.prop_map(|v| (
            Mamba2Config {
                ngroups: v,
                ..small()
            },
            "ngroups"
        )),
        Just((
            Mamba2Config {
                chunk: 0,
                ..small()
            },
            "chunk"
        )),
        step.clone().prop_map(|v| (
            Mamba2Config {
                dt_min: v,
                ..small()
            },
            "dt"
        )),
        step.prop_map(|v| (
            Mamba2Config {
                dt_max: v,
                ..small()
            },
            "dt"
        )),
        prop_oneof![Just(0.0), Just(-1.0), Just(f64::NAN)].prop_map(|v| (
            Mamba2Config {
                norm_eps: v,
                ..small()
            },
            "norm_eps"
        )),
    ]
}

proptest! {
    #![proptest_config(cases(32))]

    /// Any configuration with an invalid field is an error naming it, from
    /// `validate`, a block, the model and the zero model alike.
    #[test]
    fn any_invalid_configuration_is_an_error_naming_its_field(
        (config, field) in invalid_config(),
    ) {
        let field = named_by(&config.validate().expect_err("invalid"), field);
        let c = config.clone();
        rejects(move || Mamba2Block::new(&c, &mut seeded(0)), field);
        let c = config.clone();
        rejects(move || Mamba2Model::new(&c, 1, 5, 0), field);
        rejects(move || Mamba2Model::zeros(&config, 1, 5), field);
    }
}

/// `dt_min = dt_max` is allowed (every head starts at that step): it
/// panicked sampling an empty range.
#[test]
fn equal_step_bounds_are_one_step() {
    let config = Mamba2Config {
        dt_min: 0.01,
        dt_max: 0.01,
        ..small()
    };
    let block =
        returns(move || Mamba2Block::new(&config, &mut seeded(0))).expect("valid");
    let dt = block.dt_bias.map(|b| b.exp().ln_1p());
    assert!(dt.iter().all(|d| (d - 0.01).abs() < 1e-12), "{dt}");
}

#[test]
fn model_sizes_tokens_and_caches() {
    rejects(|| Mamba2Model::new(&small(), 0, 5, 0), "n_layer");
    let m = Mamba2Model::new(&small(), 1, 5, 0).expect("valid");
    rejects(move || m.generate(&[1], 1 << 40), "2^32");
    rejects(|| Mamba2Model::new(&small(), 1, 0, 0), "vocab");
    let model = Mamba2Model::new(&small(), 2, 5, 0).expect("valid");
    let m = model.clone();
    rejects(move || m.forward(&[1, 5]), "vocabulary");
    let m = model.clone();
    rejects(move || m.forward(&[]), "at least one");
    let m = model.clone();
    rejects(move || m.generate(&[], 2), "at least one");
    for width in [4, 16] {
        let other =
            Mamba2Model::new(&Mamba2Config::new(width, 4), 2, 5, 0).expect("valid");
        let m = model.clone();
        let mut caches = other.empty_caches();
        let message =
            outcome(move || m.step(1, &mut caches)).expect_err("other caches");
        assert!(message.contains("Mamba2Block::step"), "{width}: {message}");
    }
    let shallow = Mamba2Model::new(&small(), 1, 5, 0).expect("valid");
    let mut caches = shallow.empty_caches();
    panics_naming(move || model.step(1, &mut caches), &["step", "1", "2"]);
}

/// A chunk longer than the sequence is one chunk (it was not clamped, and a
/// chunk of 16,384 on 10 steps allocated its (Q, Q) matrices and aborted).
#[test]
fn a_chunk_longer_than_the_sequence_is_one_chunk() {
    let x = vec![DMatrix::from_fn(10, 2, |t, p| (t + p) as f64 * 0.1)];
    let a = DMatrix::from_element(10, 1, -0.3);
    let b = vec![DMatrix::from_fn(10, 3, |t, n| ((t * n) as f64).cos())];
    let (chunked, recurrent) = returns(move || {
        let inputs = SsdInputs::new(&x, &a, &b, &b);
        (ssd_chunked(&inputs, 1 << 40), ssd_recurrent(&inputs))
    });
    assert!((&chunked.y[0] - &recurrent.y[0]).amax() < 1e-12);
    let config = Mamba2Config {
        chunk: 1 << 40,
        ..small()
    };
    let block = Mamba2Block::new(&config, &mut seeded(0)).expect("valid");
    let (y, _) = returns(move || block.forward(&DMatrix::from_element(10, 8, 0.1)));
    assert!(y.iter().all(|v| v.is_finite()));
}

#[test]
fn mismatched_block_inputs_panic_naming_both_shapes() {
    let block = Mamba2Block::new(&small(), &mut seeded(0)).expect("valid");
    let b = block.clone();
    panics_naming(
        move || b.forward(&DMatrix::zeros(4, 9)),
        &["Mamba2Block", "9", "8"],
    );
    let mut cache = block.empty_cache();
    panics_naming(
        move || block.step(&DVector::zeros(9), &mut cache),
        &["Mamba2Block", "9", "8"],
    );
}

/// NaN in one head's input is NaN in that head from its step on, in the
/// chunked form as in the recurrence.
#[test]
fn a_nan_input_is_nan_in_its_head_from_its_step() {
    let mut x: Vec<DMatrix<f64>> = (0..2)
        .map(|h| DMatrix::from_fn(9, 2, |t, p| (t + p + h) as f64 * 0.1))
        .collect();
    x[1][(4, 0)] = f64::NAN;
    let a = DMatrix::from_element(9, 2, -0.3);
    let b = vec![DMatrix::from_fn(9, 3, |t, n| ((t * n) as f64).cos())];
    let out = returns(move || {
        let inputs = SsdInputs::new(&x, &a, &b, &b);
        (ssd_chunked(&inputs, 4), ssd_recurrent(&inputs))
    });
    for y in [&out.0.y, &out.1.y] {
        assert!(y[0].iter().all(|v| v.is_finite()));
        assert!(y[1].rows(0, 4).iter().all(|v| v.is_finite()), "{}", y[1]);
        assert!(
            y[1].column(0).rows(4, 5).iter().all(|v| v.is_nan()),
            "{}",
            y[1]
        );
    }
}

#[test]
fn bad_input_panics_naming_shapes() {
    let message = |f: &(dyn Fn() + std::panic::RefUnwindSafe)| {
        let panic = std::panic::catch_unwind(f).expect_err("should panic");
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    };
    let pr = problem(10, 2, 1, 3, 4, 1);
    let m = message(&|| {
        let inputs = SsdInputs::new(&pr.u, &pr.a, &pr.b, &pr.c);
        let _ = ssd_chunked(&inputs, 0);
    });
    assert!(m.contains("chunk length must be ≥ 1"), "{m}");
    let wrong_a = DMatrix::<f64>::zeros(10, 3);
    let m = message(&|| {
        let _ = SsdInputs::new(&pr.u, &wrong_a, &pr.b, &pr.c);
    });
    assert!(m.contains("(10, 3)") && m.contains("(10, 2)"), "{m}");
    let three_groups = vec![pr.b[0].clone(); 3];
    let m = message(&|| {
        let _ = SsdInputs::new(&pr.u, &pr.a, &three_groups, &three_groups);
    });
    assert!(
        m.contains("2 heads do not split evenly into 3 groups"),
        "{m}"
    );
}

#[test]
fn invalid_configurations_are_rejected() {
    for (config, word) in [
        (
            Mamba2Config {
                chunk: 0,
                ..Mamba2Config::new(8, 4)
            },
            "chunk",
        ),
        (Mamba2Config::new(8, 3), "headdim"),
        (
            Mamba2Config {
                ngroups: 3,
                ..Mamba2Config::new(8, 4)
            },
            "ngroups",
        ),
        (
            Mamba2Config {
                d_state: 0,
                ..Mamba2Config::new(8, 4)
            },
            "d_state",
        ),
        (
            Mamba2Config {
                dt_min: -1.0,
                ..Mamba2Config::new(8, 4)
            },
            "dt_min",
        ),
    ] {
        let err = Mamba2Block::new(&config, &mut seeded(1)).expect_err("invalid");
        assert!(err.to_string().contains(word), "{word}: {err}");
    }
}
