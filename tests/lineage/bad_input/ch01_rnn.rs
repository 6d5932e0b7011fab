//! Chapter 1: the Elman and linear RNNs, backpropagation through time, the
//! memory curve.

use nalgebra::{DMatrix, DVector};
use ssm_lineage::rnn::bptt::{bptt, jacobian_product, squared_loss};
use ssm_lineage::rnn::memory::{memory_curve, recall_r2};
use ssm_lineage::rnn::{ElmanRnn, LinearRnn, RnnConfig};
use ssm_lineage::traits::{Convolutional, Recurrent};

use super::{NON_FINITE, panics_naming, rejects, returns};

fn config() -> RnnConfig {
    RnnConfig {
        hidden: 3,
        input: 2,
        output: 1,
        spectral_radius: 0.9,
        input_scale: 1.0,
    }
}

#[test]
fn invalid_configurations_are_errors() {
    for (field, bad) in [
        (
            "hidden",
            RnnConfig {
                hidden: 0,
                ..config()
            },
        ),
        (
            "input",
            RnnConfig {
                input: 0,
                ..config()
            },
        ),
        (
            "output",
            RnnConfig {
                output: 0,
                ..config()
            },
        ),
        (
            "spectral_radius",
            RnnConfig {
                spectral_radius: -1.0,
                ..config()
            },
        ),
        (
            "spectral_radius",
            RnnConfig {
                spectral_radius: f64::NAN,
                ..config()
            },
        ),
        (
            "input_scale",
            RnnConfig {
                input_scale: f64::INFINITY,
                ..config()
            },
        ),
    ] {
        let message = bad.validate().expect_err(field).to_string();
        assert!(message.contains(field), "{message}");
        rejects(move || ElmanRnn::random(&bad, 0), field);
    }
    rejects(|| LinearRnn::random(0, 0.5, 0), "n");
    for radius in [-0.5, f64::NAN, f64::INFINITY] {
        rejects(move || LinearRnn::random(3, radius, 0), "radius");
    }
}

#[test]
fn non_finite_weights_are_errors() {
    for bad in NON_FINITE {
        let mut a = DMatrix::identity(2, 2) * 0.5;
        a[(0, 1)] = bad;
        rejects(
            move || LinearRnn::new(a, DVector::zeros(2), DVector::zeros(2)),
            "a",
        );
        let mut w_hh = DMatrix::zeros(2, 2);
        w_hh[(1, 1)] = bad;
        rejects(
            move || {
                ElmanRnn::new(
                    w_hh,
                    DMatrix::zeros(2, 1),
                    DVector::zeros(2),
                    DMatrix::zeros(1, 2),
                    DVector::zeros(1),
                )
            },
            "w_hh",
        );
    }
}

#[test]
fn mismatched_weights_panic_naming_both_shapes() {
    panics_naming(
        || {
            LinearRnn::new(
                DMatrix::zeros(2, 3),
                DVector::zeros(2),
                DVector::zeros(2),
            )
        },
        &["LinearRnn::new", "(2, 3)"],
    );
    panics_naming(
        || {
            LinearRnn::new(
                DMatrix::zeros(2, 2),
                DVector::zeros(3),
                DVector::zeros(2),
            )
        },
        &["LinearRnn::new", "(3,)", "(2, 2)"],
    );
    panics_naming(
        || {
            ElmanRnn::new(
                DMatrix::zeros(2, 2),
                DMatrix::zeros(3, 1),
                DVector::zeros(2),
                DMatrix::zeros(1, 2),
                DVector::zeros(1),
            )
        },
        &["ElmanRnn", "(3, 1)", "(2, 2)"],
    );
}

#[test]
fn mismatched_inputs_panic_naming_both_shapes() {
    let rnn = ElmanRnn::random(&config(), 0).expect("valid");
    let r = rnn.clone();
    panics_naming(
        move || r.scan(&DMatrix::zeros(5, 3)),
        &["ElmanRnn", "3", "2"],
    );
    let r = rnn.clone();
    panics_naming(
        move || r.hidden_states(&DMatrix::zeros(5, 2), &DVector::zeros(4)),
        &["ElmanRnn", "h0", "4", "3"],
    );
    let r = rnn.clone();
    panics_naming(
        move || {
            bptt(
                &r,
                &DMatrix::zeros(5, 2),
                &DMatrix::zeros(4, 1),
                &DVector::zeros(3),
            )
        },
        &["bptt", "5", "4"],
    );
    let r = rnn.clone();
    panics_naming(
        move || {
            squared_loss(
                &r,
                &DMatrix::zeros(5, 2),
                &DMatrix::zeros(5, 2),
                &DVector::zeros(3),
            )
        },
        &["squared_loss", "(5, 2)", "(5, 1)"],
    );
    let r = rnn.clone();
    panics_naming(
        move || jacobian_product(&r, &DMatrix::zeros(5, 3), 3, 1),
        &["jacobian_product", "s=3", "t=1"],
    );
    let linear = LinearRnn::random(3, 0.5, 0).expect("valid");
    let l = linear.clone();
    panics_naming(
        move || l.scan(&DMatrix::zeros(5, 2)),
        &["LinearRnn::step", "(2,)"],
    );
    panics_naming(
        move || linear.convolve(&DMatrix::zeros(5, 2)),
        &["convolve", "(5, 2)"],
    );
}

#[test]
fn empty_sequences_are_empty() {
    let rnn = ElmanRnn::random(&config(), 0).expect("valid");
    let y = returns(move || rnn.scan(&DMatrix::zeros(0, 2)));
    assert_eq!(y.shape(), (0, 1));
    let linear = LinearRnn::random(3, 0.5, 0).expect("valid");
    let l = linear.clone();
    assert_eq!(
        returns(move || l.scan(&DMatrix::zeros(0, 1))).shape(),
        (0, 1)
    );
    assert_eq!(
        returns(move || linear.convolve(&DMatrix::zeros(0, 1))).shape(),
        (0, 1)
    );
}

/// NaN in the input is NaN in the state from its step on, in both views of
/// the linear RNN and in the Elman RNN; the memory curve of NaN data is NaN
/// (an SVD of it would never return).
#[test]
fn non_finite_input_propagates_and_never_hangs() {
    let linear = LinearRnn::random(3, 0.5, 0).expect("valid");
    let mut u = DMatrix::from_fn(8, 1, |t, _| (t as f64).sin());
    u[(4, 0)] = f64::NAN;
    let (l, v) = (linear.clone(), u.clone());
    let y = returns(move || l.scan(&v));
    assert!(y.rows(0, 4).iter().all(|v| v.is_finite()));
    assert!(y.rows(4, 4).iter().all(|v| v.is_nan()));
    let y = returns(move || linear.convolve(&u));
    assert!(y.rows(4, 4).iter().all(|v| v.is_nan()), "{y}");
    let states = DMatrix::from_fn(40, 2, |t, j| ((t + j) as f64).cos());
    let mut signal: Vec<f64> = (0..40).map(|t| (t as f64).sin()).collect();
    signal[7] = f64::INFINITY;
    let curve = returns(move || memory_curve(&states, &signal, 3, 5));
    assert!(curve.iter().all(|r| r.is_nan()), "{curve:?}");
}

#[test]
fn too_few_samples_for_a_recall_fit_panic_saying_so() {
    let states = DMatrix::from_fn(10, 4, |t, j| (t * j) as f64);
    let u = vec![0.0; 10];
    panics_naming(
        move || recall_r2(&states, &u, 5, 2),
        &["recall_r2", "too few"],
    );
    let states = DMatrix::zeros(10, 2);
    panics_naming(
        move || recall_r2(&states, &[0.0; 9], 0, 0),
        &["recall_r2", "(10, 2)", "(9,)"],
    );
}

/// A state of size 0 is an invalid hyperparameter, not a model: both RNNs
/// built from given weights reject it with a reason.
#[test]
fn a_state_of_size_zero_is_rejected() {
    use nalgebra::{DMatrix, DVector};
    use ssm_lineage::rnn::LinearRnn;
    let empty = || DMatrix::<f64>::zeros(0, 0);
    let err = LinearRnn::new(empty(), DVector::zeros(0), DVector::zeros(0))
        .expect_err("n = 0");
    assert!(err.to_string().contains("state size"), "{err}");
    let err = ElmanRnn::new(
        empty(),
        DMatrix::zeros(0, 1),
        DVector::zeros(0),
        DMatrix::zeros(1, 0),
        DVector::zeros(1),
    )
    .expect_err("n = 0");
    assert!(err.to_string().contains("state size"), "{err}");
}
