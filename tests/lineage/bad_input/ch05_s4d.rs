//! Chapter 5: S4D's initialisations, Vandermonde kernels and layer, and its
//! learnable form.

use nalgebra::Complex;
use nalgebra::{DMatrix, DVector};
use ssm_lineage::lssl::Rule;
use ssm_lineage::s4d::init::{eigenvalues, input_vector};
use ssm_lineage::s4d::kernel::{
    kernel_full_conjugate, real_realization, vandermonde_kernel,
};
use ssm_lineage::s4d::learn::S4dParams;
use ssm_lineage::s4d::{S4dConfig, S4dInit, S4dLayer};
use ssm_lineage::traits::{Convolutional, Recurrent};

use super::{panics_naming, rejects, returns};

const INITS: [S4dInit; 4] =
    [S4dInit::Lin, S4dInit::Inv, S4dInit::Real, S4dInit::Legs];

fn c(re: f64) -> Complex<f64> {
    Complex::new(re, 0.0)
}

#[test]
fn invalid_configurations_are_errors() {
    for init in INITS {
        rejects(move || eigenvalues(init, 0), "n");
        rejects(move || input_vector(init, 0), "n");
        let base = S4dConfig::new(2, 4, init);
        for (field, bad) in [
            (
                "channels",
                S4dConfig {
                    channels: 0,
                    ..base.clone()
                },
            ),
            (
                "n",
                S4dConfig {
                    n: 0,
                    ..base.clone()
                },
            ),
            (
                "dt_min",
                S4dConfig {
                    dt_min: 0.0,
                    ..base.clone()
                },
            ),
            (
                "dt_min",
                S4dConfig {
                    dt_min: f64::NAN,
                    ..base.clone()
                },
            ),
            (
                "dt_max",
                S4dConfig {
                    dt_max: f64::INFINITY,
                    ..base.clone()
                },
            ),
            (
                "dt_min",
                S4dConfig {
                    dt_min: 0.5,
                    dt_max: 0.1,
                    ..base.clone()
                },
            ),
            (
                "alpha",
                S4dConfig {
                    rule: Rule::Gbt(2.0),
                    ..base.clone()
                },
            ),
        ] {
            rejects(move || S4dLayer::new(&bad, 0), field);
        }
        rejects(move || S4dParams::new(0, 4, init, 0), "channels");
    }
    for dt in [0.0, -1.0, f64::NAN] {
        rejects(
            move || {
                vandermonde_kernel(
                    &[c(-0.5)],
                    &[c(1.0)],
                    &[c(1.0)],
                    dt,
                    Rule::Zoh,
                    8,
                )
            },
            "dt",
        );
    }
    rejects(
        || {
            kernel_full_conjugate(
                &[c(-0.5)],
                &[c(1.0)],
                &[c(1.0)],
                0.1,
                Rule::Zoh,
                1 << 31,
            )
        },
        "len",
    );
    rejects(
        || {
            vandermonde_kernel(
                &[c(-0.5)],
                &[c(1.0)],
                &[c(1.0)],
                0.1,
                Rule::Zoh,
                1 << 40,
            )
        },
        "2^32",
    );
    rejects(
        || real_realization(&[c(f64::NAN)], &[c(1.0)], &[c(1.0)]),
        "finite",
    );
}

#[test]
fn mismatched_shapes_panic_naming_both() {
    panics_naming(
        || {
            vandermonde_kernel(
                &[c(-0.5); 2],
                &[c(1.0); 2],
                &[c(1.0); 3],
                0.1,
                Rule::Zoh,
                8,
            )
        },
        &["vandermonde_kernel", "c (3,)", "lambda (2,)"],
    );
    panics_naming(
        || {
            vandermonde_kernel(
                &[c(-0.5); 2],
                &[c(1.0); 3],
                &[c(1.0); 2],
                0.1,
                Rule::Zoh,
                8,
            )
        },
        &["lambda (2,)", "b (3,)"],
    );
    rejects(
        || {
            S4dLayer::from_parameters(
                Rule::Zoh,
                (vec![c(-0.5); 2], vec![c(1.0); 2]),
                vec![vec![c(1.0); 3]],
                DVector::zeros(1),
                vec![0.1],
            )
        },
        "C",
    );
    let layer =
        S4dLayer::new(&S4dConfig::new(2, 4, S4dInit::Lin), 0).expect("valid");
    let l = layer.clone();
    panics_naming(
        move || l.scan(&DMatrix::zeros(5, 3)),
        &["S4dLayer::step", "(3,)", "2 channels"],
    );
    panics_naming(
        move || layer.convolve(&DMatrix::zeros(5, 3)),
        &["(5, 3)", "2"],
    );
    let params = S4dParams::new(2, 4, S4dInit::Lin, 0).expect("valid");
    let p = params.clone();
    panics_naming(
        move || p.forward(&DMatrix::zeros(5, 3)),
        &["S4dParams", "(5, 3)", "2"],
    );
    panics_naming(
        move || params.backward(&DMatrix::zeros(5, 2), &DMatrix::zeros(4, 2)),
        &["S4dParams::backward", "(5, 2)", "(4, 2)"],
    );
}

#[test]
fn absurd_lengths_panic_before_allocating() {
    let layer =
        S4dLayer::new(&S4dConfig::new(2, 4, S4dInit::Lin), 0).expect("valid");
    panics_naming(move || layer.kernel(1 << 40), &["kernel", "2^32"]);
    let params = S4dParams::new(2, 4, S4dInit::Lin, 0).expect("valid");
    panics_naming(move || params.kernel(1 << 40), &["kernel", "2^32"]);
}

#[test]
fn a_nan_input_is_nan_from_its_step_and_empty_is_empty() {
    let layer =
        S4dLayer::new(&S4dConfig::new(1, 4, S4dInit::Inv), 0).expect("valid");
    let mut u = DMatrix::from_fn(10, 1, |t, _| (t as f64).cos());
    u[(6, 0)] = f64::NAN;
    let (l, v) = (layer.clone(), u.clone());
    for y in [
        returns(move || l.scan(&v)),
        returns(move || layer.convolve(&u)),
    ] {
        assert!(y.rows(0, 6).iter().all(|v| v.is_finite()), "{y}");
        assert!(y.rows(6, 4).iter().all(|v| v.is_nan()), "{y}");
    }
    let params = S4dParams::new(2, 4, S4dInit::Lin, 0).expect("valid");
    assert_eq!(
        returns(move || params.forward(&DMatrix::zeros(0, 2))).shape(),
        (0, 2)
    );
}

#[test]
fn bad_configurations_are_rejected_with_a_reason() {
    // A kernel longer than i32 powers can index is an error, not zero taps.
    let one = [Complex::new(-0.5, 1.0)];
    let err = ssm_lineage::s4d::kernel::kernel_full_conjugate(
        &one,
        &one,
        &one,
        0.1,
        ssm_lineage::lssl::Rule::Zoh,
        1usize << 31,
    )
    .expect_err("len");
    assert!(err.to_string().contains("2^31"), "{err}");
    let ok = S4dConfig::new(4, 8, S4dInit::Lin);
    assert!(ok.validate().is_ok());
    let cases = [
        (S4dConfig { n: 7, ..ok.clone() }, "even and ≥ 2"),
        (
            S4dConfig {
                channels: 0,
                ..ok.clone()
            },
            "channels",
        ),
        (
            S4dConfig {
                dt_min: 0.0,
                ..ok.clone()
            },
            "dt_min must be finite and > 0",
        ),
        (
            S4dConfig {
                dt_min: 0.5,
                dt_max: 0.1,
                ..ok.clone()
            },
            "≤ dt_max",
        ),
    ];
    for (config, message) in cases {
        let e = S4dLayer::new(&config, 0).unwrap_err().to_string();
        assert!(e.contains(message), "{e}");
    }
}

/// The fast Vandermonde kernel (the layer's route) refuses an absurd length
/// by name as the readable one does.
#[test]
fn the_fast_kernel_refuses_absurd_lengths() {
    use ssm_lineage::s4d::kernel::vandermonde_kernel_fast;
    panics_naming(
        || vandermonde_kernel_fast(&[c(0.5)], &[c(1.0)], 1 << 40),
        &["vandermonde_kernel_fast", "2^32"],
    );
}
