//! Chapter 7: the selective scan, the Mamba block and model, and the fast
//! model built from it.

use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use ssm_lineage::mamba::block::causal_conv;
use ssm_lineage::mamba::fast::FastModel;
use ssm_lineage::mamba::{
    MambaBlock, MambaConfig, MambaModel, SelectiveScan, selective_scan,
    selective_scan_chunked,
};
use ssm_lineage::support::rng::seeded;
use ssm_lineage::traits::Recurrent;

use super::{named_by, outcome, panics_naming, rejects, returns};
use crate::cases;

fn small() -> MambaConfig {
    MambaConfig {
        d_state: 4,
        ..MambaConfig::new(8, 2, 11)
    }
}

/// A configuration with one field made invalid, and that field's name.
fn invalid_config() -> impl Strategy<Value = (MambaConfig, &'static str)> {
    // A size of 0 is rejected by name; a huge one by the tensor it would
    // make too large ("at most 2^32 values").
    let size = prop_oneof![Just(0usize), Just(1usize << 62)];
    let step = prop_oneof![
        Just(0.0),
        Just(-1e-3),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(1e300)
    ];
    let eps =
        prop_oneof![Just(0.0), Just(-1.0), Just(f64::NAN), Just(f64::INFINITY)];
    prop_oneof![
        size.clone().prop_map(|v| (
            MambaConfig {
                d_model: v,
                ..small()
            },
            "d_model"
        )),
        size.clone().prop_map(|v| (
            MambaConfig {
                d_state: v,
                ..small()
            },
            "d_state"
        )),
        size.clone().prop_map(|v| (
            MambaConfig {
                d_conv: v,
                ..small()
            },
            "d_conv"
        )),
        size.clone().prop_map(|v| (
            MambaConfig {
                expand: v,
                ..small()
            },
            "expand"
        )),
        size.clone().prop_map(|v| (
            MambaConfig {
                dt_rank: v,
                ..small()
            },
            "dt_rank"
        )),
        size.clone().prop_map(|v| (
            MambaConfig {
                vocab_size: v,
                ..small()
            },
            "vocab"
        )),
        Just((
            MambaConfig {
                n_layer: 0,
                ..small()
            },
            "n_layer"
        )),
        step.clone().prop_map(|v| (
            MambaConfig {
                dt_min: v,
                ..small()
            },
            "dt"
        )),
        step.prop_map(|v| (
            MambaConfig {
                dt_max: v,
                ..small()
            },
            "dt"
        )),
        Just((
            MambaConfig {
                dt_min: 0.2,
                dt_max: 0.1,
                ..small()
            },
            "dt"
        )),
        eps.prop_map(|v| (
            MambaConfig {
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
    /// `validate`, the model, a block and the zero model alike: never a panic,
    /// an abort or a model that computes NaN.
    #[test]
    fn any_invalid_configuration_is_an_error_naming_its_field(
        (config, field) in invalid_config(),
    ) {
        let field = named_by(&config.validate().expect_err("invalid"), field);
        let c = config.clone();
        rejects(move || MambaModel::new(&c, 0), field);
        let c = config.clone();
        rejects(move || MambaModel::zeros(&c), field);
        rejects(move || MambaBlock::new(&config, &mut seeded(0)), field);
    }
}

/// `dt_min = dt_max` is allowed (every channel starts at that step): it
/// panicked sampling an empty range.
#[test]
fn equal_step_bounds_are_one_step() {
    let config = MambaConfig {
        dt_min: 0.01,
        dt_max: 0.01,
        ..small()
    };
    let block =
        returns(move || MambaBlock::new(&config, &mut seeded(0))).expect("valid");
    let bias = block.dt_proj.bias.expect("dt_proj has a bias");
    let dt = bias.map(|b| b.exp().ln_1p());
    assert!(dt.iter().all(|d| (d - 0.01).abs() < 1e-12), "{dt}");
}

#[test]
fn tokens_outside_the_vocabulary_and_empty_prompts_are_errors() {
    let model = MambaModel::new(&small(), 0).expect("valid");
    let m = model.clone();
    rejects(move || m.forward(&[1, 11]), "vocabulary");
    let m = model.clone();
    rejects(move || m.forward(&[]), "at least one");
    let m = model.clone();
    rejects(move || m.generate(&[], 3), "at least one");
    let m = model.clone();
    rejects(
        move || {
            let mut caches = m.empty_caches();
            m.step(usize::MAX, &mut caches)
        },
        "vocabulary",
    );
    let fast = FastModel::from(&model);
    let f = fast.clone();
    rejects(move || f.forward(&[11]), "vocabulary");
    rejects(move || fast.generate(&[], 3), "at least one");
}

/// Asking for more new tokens than a tensor may hold is an error at once
/// (the output was allocated up front, and such an allocation aborts).
#[test]
fn absurd_generation_lengths_are_errors() {
    let model = MambaModel::new(&small(), 0).expect("valid");
    let fast = FastModel::from(&model);
    let m = model.clone();
    rejects(move || m.generate(&[0], usize::MAX), "2^32");
    rejects(move || fast.generate(&[0], 1 << 40), "2^32");
    assert!(
        returns(move || model.generate(&[0], 0))
            .expect("valid")
            .is_empty()
    );
}

#[test]
fn caches_of_another_model_panic_naming_both_shapes() {
    let model = MambaModel::new(&small(), 0).expect("valid");
    let narrow = MambaModel::new(
        &MambaConfig {
            d_model: 4,
            ..small()
        },
        0,
    )
    .expect("valid");
    let wide = MambaModel::new(
        &MambaConfig {
            d_model: 16,
            ..small()
        },
        0,
    )
    .expect("valid");
    let shallow = MambaModel::new(
        &MambaConfig {
            n_layer: 1,
            ..small()
        },
        0,
    )
    .expect("valid");
    for (other, what) in [(narrow, "narrower"), (wide, "wider")] {
        let m = model.clone();
        let mut caches = other.empty_caches();
        let message = outcome(move || m.step(1, &mut caches)).expect_err(what);
        assert!(message.contains("MambaBlock::step"), "{what}: {message}");
        let (mine, theirs) = (model.empty_caches(), other.empty_caches());
        assert!(
            message.contains(&format!("{:?}", theirs[0].ssm_state.shape()))
                && message.contains(&format!("{:?}", mine[0].ssm_state.shape())),
            "{what}: {message}"
        );
        let fast = FastModel::from(&model);
        let mut fast_caches = FastModel::from(&other).empty_caches();
        panics_naming(move || fast.step(1, &mut fast_caches), &["step"]);
    }
    let m = model.clone();
    let mut caches = shallow.empty_caches();
    panics_naming(
        move || m.step(1, &mut caches),
        &["MambaModel::step", "1", "2"],
    );
}

#[test]
fn mismatched_scan_and_block_inputs_panic_naming_both_shapes() {
    let u = DMatrix::<f64>::zeros(5, 3);
    let delta = DMatrix::<f64>::zeros(5, 3);
    let a = DMatrix::<f64>::zeros(3, 4);
    let b = DMatrix::<f64>::zeros(5, 2);
    panics_naming(
        move || {
            let _ = SelectiveScan::new(&u, &delta, &a, &b, &b);
        },
        &["SelectiveScan", "(5, 2)", "4"],
    );
    panics_naming(
        || {
            causal_conv(
                &DMatrix::zeros(5, 3),
                &DMatrix::zeros(2, 4),
                &DVector::zeros(3),
            )
        },
        &["causal_conv", "(5, 3)", "(2, 4)"],
    );
    let block = MambaBlock::new(&small(), &mut seeded(0)).expect("valid");
    let b = block.clone();
    panics_naming(
        move || b.forward(&DMatrix::zeros(4, 9)),
        &["MambaBlock::forward", "(4, 9)", "8"],
    );
    panics_naming(
        move || block.scan(&DMatrix::zeros(4, 9)),
        &["MambaBlock", "9", "8"],
    );
}

#[test]
fn chunk_lengths() {
    let u = DMatrix::from_fn(6, 2, |t, c| (t + c) as f64 * 0.1);
    let delta = DMatrix::from_element(6, 2, 0.1);
    let a = DMatrix::from_element(2, 3, -1.0);
    let b = DMatrix::from_element(6, 3, 0.5);
    let (u2, d2, a2, b2) = (u.clone(), delta.clone(), a.clone(), b.clone());
    panics_naming(
        move || {
            selective_scan_chunked(&SelectiveScan::new(&u2, &d2, &a2, &b2, &b2), 0)
        },
        &["chunk", "0"],
    );
    let whole = returns(move || {
        let args = SelectiveScan::new(&u, &delta, &a, &b, &b);
        (
            selective_scan_chunked(&args, 1 << 40).y,
            selective_scan(&args).y,
        )
    });
    assert!((&whole.0 - &whole.1).amax() < 1e-12);
}

/// NaN in one channel's input is NaN in that channel from its step on, and
/// nowhere else (each channel has its own scan).
#[test]
fn a_nan_input_is_nan_in_its_channel_from_its_step() {
    let mut u = DMatrix::from_fn(6, 2, |t, c| (t + c) as f64 * 0.1);
    u[(3, 1)] = f64::NAN;
    let delta = DMatrix::from_element(6, 2, 0.1);
    let a = DMatrix::from_element(2, 3, -1.0);
    let b = DMatrix::from_element(6, 3, 0.5);
    let y = returns(move || {
        selective_scan(&SelectiveScan::new(&u, &delta, &a, &b, &b)).y
    });
    assert!(y.column(0).iter().all(|v| v.is_finite()), "{y}");
    assert!(y.column(1).rows(0, 3).iter().all(|v| v.is_finite()), "{y}");
    assert!(y.column(1).rows(3, 3).iter().all(|v| v.is_nan()), "{y}");
}
