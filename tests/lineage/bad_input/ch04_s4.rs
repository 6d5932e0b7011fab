//! Chapter 4: S4's NPLR form, Cauchy sums, Woodbury and the kernel.

use nalgebra::Complex;
use nalgebra::DMatrix;
use ssm_lineage::s4::S4Layer;
use ssm_lineage::s4::kernel::{
    bilinear_nodes, cauchy, kernel_dplr, kernel_from_half_spectrum,
    woodbury_rank_one,
};
use ssm_lineage::s4::nplr::nplr_legs;
use ssm_lineage::traits::{Convolutional, Recurrent};

use super::{panics_naming, rejects, returns};

fn c(re: f64) -> Complex<f64> {
    Complex::new(re, 0.0)
}

#[test]
fn invalid_layers_and_steps_are_errors() {
    rejects(|| S4Layer::new(0, 4, 8, 1), "channels");
    rejects(|| S4Layer::new(2, 5, 8, 1), "even");
    rejects(|| S4Layer::new(2, 4, 0, 1), "len");
    rejects(|| S4Layer::new(1, 4, (1 << 32) + 16, 1), "2^32");
    rejects(|| S4Layer::new(1 << 40, 4, 16, 1), "allocated");
    for n in [0, 7] {
        rejects(move || nplr_legs(n), "even");
    }
    let dplr = nplr_legs(4).expect("valid");
    for dt in [0.0, -1e-2, f64::NAN, f64::INFINITY] {
        let d = dplr.clone();
        rejects(move || kernel_dplr(&d, &[c(1.0); 2], dt, 8), "dt");
    }
    rejects(
        move || kernel_dplr(&dplr, &[c(1.0); 2], 0.1, 1 << 40),
        "2^32",
    );
}

#[test]
fn mismatched_shapes_panic_naming_both() {
    panics_naming(
        || cauchy(&[c(1.0); 3], &[c(0.5); 2], &[c(-1.0); 2]),
        &["cauchy", "3", "2"],
    );
    panics_naming(
        || woodbury_rank_one(&[c(1.0); 3], &[c(0.5); 2], &[c(0.5); 3]),
        &["woodbury_rank_one", "3", "2"],
    );
    let dplr = nplr_legs(4).expect("valid");
    panics_naming(
        move || kernel_dplr(&dplr, &[c(1.0); 3], 0.1, 8),
        &["kernel_dplr", "3", "2"],
    );
    let layer = S4Layer::new(2, 4, 8, 1).expect("valid");
    let l = layer.clone();
    panics_naming(
        move || l.scan(&DMatrix::zeros(8, 3)),
        &["S4Layer::step", "(3,)", "2 channels"],
    );
    panics_naming(
        move || layer.convolve(&DMatrix::zeros(8, 3)),
        &["(8, 3)", "2"],
    );
}

/// Views asked for more taps than a tensor may hold panic naming the limit
/// before allocating.
#[test]
fn absurd_lengths_panic_before_allocating() {
    panics_naming(|| bilinear_nodes(0.1, 1 << 40), &["bilinear_nodes", "2^32"]);
    panics_naming(
        || kernel_from_half_spectrum(&[c(1.0); 3], 1 << 40),
        &["kernel_from_half_spectrum", "2^32"],
    );
    let layer = S4Layer::new(2, 4, 8, 1).expect("valid");
    panics_naming(move || layer.kernel(1 << 40), &["S4Layer::kernel", "L = 8"]);
}

/// An S4 layer runs at the length it was built for; a shorter input uses
/// the kernel's first taps; longer input than `len` is a named panic.
#[test]
fn an_input_longer_than_the_layer_panics_naming_both() {
    let layer = S4Layer::new(1, 4, 8, 1).expect("valid");
    let l = layer.clone();
    let y = returns(move || l.convolve(&DMatrix::from_element(5, 1, 1.0)));
    assert_eq!(y.shape(), (5, 1));
    let l = layer.clone();
    assert_eq!(
        returns(move || l.convolve(&DMatrix::zeros(0, 1))).shape(),
        (0, 1)
    );
    let mut u = DMatrix::from_fn(8, 1, |t, _| t as f64);
    u[(3, 0)] = f64::NAN;
    let y = returns(move || layer.convolve(&u));
    assert!(y.rows(3, 5).iter().all(|v| v.is_nan()), "{y}");
    assert!(y.rows(0, 3).iter().all(|v| v.is_finite()), "{y}");
}

/// `nplr` refuses what it cannot decompose: a matrix that is not normal plus
/// low rank with the given P (the rebuilt A would be wrong), and non-finite
/// entries; the HiPPO matrices with their corrections pass (the other tests).
#[test]
fn nplr_rejects_a_matrix_that_is_not_normal_plus_low_rank() {
    use ssm_lineage::s4::nplr::nplr;
    let n = 6;
    let a =
        nalgebra::DMatrix::from_fn(n, n, |i, j| ((i * 7 + j * 3) % 5) as f64 - 2.0);
    let p = nalgebra::DMatrix::from_element(n, 1, 0.5);
    let b = nalgebra::DVector::from_element(n, 1.0);
    let error = nplr(&a, &p, &b)
        .expect_err("not normal plus low rank")
        .to_string();
    assert!(error.contains("skew-symmetric"), "{error}");
    let legs = ssm_lineage::hippo::transitions::legs(n).expect("valid");
    let mut bad = legs.a.clone();
    bad[(1, 1)] = f64::NAN;
    let p = ssm_lineage::s4::nplr::rank_correction_legs(n);
    let p = nalgebra::DMatrix::from_column_slice(n, 1, p.as_slice());
    assert!(nplr(&bad, &p, &legs.b).is_err());
    assert!(nplr(&legs.a, &p, &legs.b).is_ok());
}
