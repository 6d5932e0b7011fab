//! Chapter 2: continuous systems, discretization, the layer and its views.

use nalgebra::Complex;
use nalgebra::{DMatrix, DVector};
use ssm_lineage::lssl::discretize::{discretize_diagonal, discretize_gbt};
use ssm_lineage::lssl::views::{continuous_response, kernel_naive};
use ssm_lineage::lssl::{LsslLayer, Rule, Ssm, discretize};
use ssm_lineage::traits::{Convolutional, Recurrent};

use super::{NON_FINITE, panics_naming, rejects, returns};

const RULES: [Rule; 5] = [
    Rule::ForwardEuler,
    Rule::BackwardEuler,
    Rule::Bilinear,
    Rule::Gbt(0.3),
    Rule::Zoh,
];

#[test]
fn invalid_systems_and_steps_are_errors() {
    rejects(|| Ssm::random_stable(0, 0), "n");
    for bad in NON_FINITE {
        let mut a = -DMatrix::identity(2, 2);
        a[(1, 0)] = bad;
        rejects(
            move || Ssm::new(a, DVector::zeros(2), DVector::zeros(2), 0.0),
            "A",
        );
        rejects(
            move || {
                Ssm::new(
                    -DMatrix::identity(2, 2),
                    DVector::zeros(2),
                    DVector::zeros(2),
                    bad,
                )
            },
            "D",
        );
    }
    let ssm = Ssm::random_stable(3, 1).expect("valid");
    for rule in RULES {
        for dt in [0.0, -0.1, f64::NAN, f64::INFINITY] {
            let s = ssm.clone();
            rejects(move || discretize(&s, dt, rule), "dt");
        }
    }
    for alpha in [-0.1, 1.5, f64::NAN] {
        let s = ssm.clone();
        rejects(move || discretize_gbt(&s, 0.1, alpha), "alpha");
        let s = ssm.clone();
        rejects(move || discretize(&s, 0.1, Rule::Gbt(alpha)), "alpha");
    }
    rejects(|| LsslLayer::random(0, 2, Rule::Bilinear, 0), "channels");
    rejects(|| LsslLayer::random(2, 0, Rule::Bilinear, 0), "n");
    let s = ssm.clone();
    rejects(
        move || continuous_response(&s, &[1.0, 2.0], 0.1, 0),
        "substeps",
    );
    let s = ssm.clone();
    rejects(
        move || continuous_response(&s, &[1.0, f64::NAN], 0.1, 2),
        "u",
    );
}

#[test]
fn mismatched_shapes_panic_naming_both() {
    panics_naming(
        || {
            Ssm::new(
                DMatrix::zeros(2, 2),
                DVector::zeros(3),
                DVector::zeros(2),
                0.0,
            )
        },
        &["Ssm::new", "(3,)", "(2, 2)"],
    );
    let lambda = vec![Complex::new(-1.0, 0.0); 3];
    let b = vec![Complex::new(1.0, 0.0); 2];
    panics_naming(
        move || discretize_diagonal(&lambda, &b, 0.1, Rule::Zoh),
        &["discretize_diagonal", "(3,)", "(2,)"],
    );
    let ssm = Ssm::random_stable(3, 1).expect("valid");
    let s = ssm.clone();
    panics_naming(
        move || LsslLayer::new(&[s], &[0.1, 0.2], Rule::Zoh),
        &["LsslLayer::new", "1 systems", "2 steps"],
    );
    let layer = LsslLayer::random(2, 3, Rule::Zoh, 0).expect("valid");
    let l = layer.clone();
    panics_naming(
        move || l.scan(&DMatrix::zeros(4, 3)),
        &["LsslLayer::step", "3 channels", "width 2"],
    );
    panics_naming(
        move || layer.convolve(&DMatrix::zeros(4, 3)),
        &["(4, 3)", "2"],
    );
}

/// A kernel longer than a tensor may be (2^32 values) is a panic naming the
/// function and the limit, before anything is allocated (an allocation of
/// that size aborts the process).
#[test]
fn absurd_kernel_lengths_panic_before_allocating() {
    let ssm = Ssm::random_stable(2, 1).expect("valid");
    let d = discretize(&ssm, 0.1, Rule::Zoh).expect("valid");
    let d2 = d.clone();
    panics_naming(
        move || kernel_naive(&d2, 1 << 40),
        &["kernel_naive", "2^32"],
    );
    panics_naming(move || d.kernel(1 << 62), &["kernel", "2^32"]);
    let layer = LsslLayer::random(3, 2, Rule::Zoh, 0).expect("valid");
    panics_naming(move || layer.kernel(1 << 31), &["kernel", "2^32"]);
}

/// NaN in the input is NaN in the output from its step on, in the recurrent
/// and the convolutional view alike.
#[test]
fn a_nan_input_is_nan_from_its_step_in_both_views() {
    let layer = LsslLayer::random(2, 3, Rule::Bilinear, 0).expect("valid");
    let mut u = DMatrix::from_fn(16, 2, |t, h| ((t + h) as f64).sin());
    u[(9, 1)] = f64::NAN;
    let (l, v) = (layer.clone(), u.clone());
    let scanned = returns(move || l.scan(&v));
    let convolved = returns(move || layer.convolve(&u));
    for y in [scanned, convolved] {
        assert!(y.column(0).iter().all(|v| v.is_finite()), "{y}");
        assert!(y.column(1).rows(0, 9).iter().all(|v| v.is_finite()), "{y}");
        assert!(y.column(1).rows(9, 7).iter().all(|v| v.is_nan()), "{y}");
    }
}

#[test]
fn empty_sequences_are_empty() {
    let layer = LsslLayer::random(2, 3, Rule::Bilinear, 0).expect("valid");
    let l = layer.clone();
    assert_eq!(
        returns(move || l.scan(&DMatrix::zeros(0, 2))).shape(),
        (0, 2)
    );
    assert_eq!(
        returns(move || layer.convolve(&DMatrix::zeros(0, 2))).shape(),
        (0, 2)
    );
    let ssm = Ssm::random_stable(2, 1).expect("valid");
    let r = returns(move || continuous_response(&ssm, &[], 0.1, 3)).expect("valid");
    assert!(r.is_empty());
}

/// The best causal filter (chapter 7's comparison) refuses what it cannot
/// determine, and names mismatched examples.
#[test]
fn the_least_squares_filter_refuses_what_it_cannot_determine() {
    use nalgebra::DVector;
    use ssm_lineage::lssl::fit::{apply_causal_filter, best_causal_filter};
    rejects(|| best_causal_filter(&[], 4), "examples");
    let silent = vec![(DMatrix::zeros(6, 1), DVector::from_element(6, 1.0))];
    let s = silent.clone();
    rejects(move || best_causal_filter(&s, 0), "taps");
    // An input of zeros cannot tell its taps apart: singular.
    rejects(move || best_causal_filter(&silent, 4), "singular");
    let bad = vec![(DMatrix::zeros(6, 1), DVector::zeros(5))];
    panics_naming(
        move || best_causal_filter(&bad, 2),
        &["best_causal_filter", "(6, 1)", "(5,)"],
    );
    panics_naming(
        || apply_causal_filter(&DMatrix::zeros(3, 2), &DMatrix::zeros(6, 1)),
        &["apply_causal_filter", "(3, 2)", "(6, 1)"],
    );
}
