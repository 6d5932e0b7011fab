//! Chapter 3: HiPPO's transitions, projections and reconstructions.

use nalgebra::DVector;
use ssm_lineage::hippo::basis::{laguerre, legendre};
use ssm_lineage::hippo::projection::{
    LegsProjector, LegsRule, LtiProjector, gauss_legendre,
    legs_projection_quadrature,
};
use ssm_lineage::hippo::reconstruct::{fout_basis, reconstruct_legs};
use ssm_lineage::hippo::transitions::{
    fout, lagt, lagt_reference_code, lagt_tilted, legs, legt, legt_lmu,
};
use ssm_lineage::lssl::Rule;

use super::{NON_FINITE, panics_naming, rejects, returns};

#[test]
fn invalid_sizes_and_timescales_are_errors() {
    rejects(|| legs(0), "n");
    rejects(|| lagt(0), "n");
    rejects(|| lagt_reference_code(0), "n");
    rejects(|| fout(0), "n");
    rejects(|| fout(3), "even");
    for theta in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        rejects(move || legt(4, theta), "theta");
        rejects(move || legt_lmu(4, theta), "theta");
    }
    for beta in [-0.5, f64::NAN, f64::INFINITY] {
        rejects(move || lagt_tilted(4, beta), "beta");
    }
    rejects(|| gauss_legendre(0), "points");
    rejects(|| LegsProjector::new(0, LegsRule::Bilinear), "n");
    let t = legs(4).expect("valid");
    for dt in [0.0, -1.0, f64::NAN] {
        let t = t.clone();
        rejects(move || LtiProjector::new(&t, dt, Rule::Bilinear), "dt");
    }
    rejects(|| legs_projection_quadrature(&|s| s, -1.0, 4, 8), "t");
    rejects(|| legs_projection_quadrature(&|s| s, 1.0, 0, 8), "n");
    rejects(|| legs_projection_quadrature(&|s| s, 1.0, 4, 0), "points");
}

/// A rejected sample changes nothing: the projection can go on.
#[test]
fn a_non_finite_sample_is_an_error_that_keeps_the_state() {
    for bad in NON_FINITE {
        let mut p = LegsProjector::new(4, LegsRule::Bilinear).expect("valid");
        p.update(1.0).expect("finite");
        let before = p.coefficients().clone();
        let error = p.update(bad).expect_err("non-finite").to_string();
        assert!(error.contains("sample f"), "{error}");
        assert_eq!(p.coefficients(), &before);
        let mut q = LtiProjector::new(&legs(4).expect("valid"), 0.1, Rule::Zoh)
            .expect("valid");
        assert!(q.run(&[1.0, bad, 2.0]).is_err());
    }
}

/// A basis of absurd size is a panic naming the limit, not an aborted
/// allocation; a basis of size 0 is empty.
#[test]
fn absurd_basis_sizes_panic_before_allocating() {
    panics_naming(|| legendre(1 << 40, 0.5), &["legendre", "2^32"]);
    panics_naming(|| laguerre(1 << 40, 0.5), &["laguerre", "2^32"]);
    panics_naming(|| fout_basis(1 << 40, 0.5), &["fout_basis", "2^32"]);
    assert!(returns(|| legendre(0, 0.5)).is_empty());
    rejects(|| gauss_legendre(1 << 40), "2^32");
}

/// Reconstruction is a sum of basis functions: NaN coefficients give NaN.
#[test]
fn non_finite_coefficients_reconstruct_as_nan() {
    let c = DVector::from_vec(vec![1.0, f64::NAN, 0.5]);
    let r = returns(move || reconstruct_legs(&c, &[0.0, 0.5, 1.0]));
    assert!(r.iter().all(|v| v.is_nan()), "{r:?}");
}
