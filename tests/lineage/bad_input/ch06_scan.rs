//! Chapter 6: the scans, the log-space scan and S5.

use nalgebra::DMatrix;
use ssm_lineage::scan::log_space::{scan_cumulative_product, scan_log_space};
use ssm_lineage::scan::operator::Affine;
use ssm_lineage::scan::prefix::{
    linear_recurrence, scan_blelloch, scan_chunked, scan_hillis_steele,
    scan_sequential,
};
use ssm_lineage::scan::s5::S5Layer;
use ssm_lineage::traits::Recurrent;

use super::{panics_naming, rejects, returns};

#[test]
fn invalid_settings_are_errors_or_named_panics() {
    rejects(|| S5Layer::new(0, 4, 0), "width");
    rejects(|| S5Layer::new(2, 0, 0), "modes");
    rejects(|| S5Layer::new(1 << 40, 4, 0), "allocated");
    panics_naming(
        || scan_chunked(&[Affine::new(0.5, 1.0); 4], 0),
        &["scan_chunked", "0"],
    );
    let layer = S5Layer::new(2, 4, 0).expect("valid");
    panics_naming(
        move || layer.scan_parallel(&DMatrix::zeros(8, 2), 0),
        &["chunk", "0"],
    );
    panics_naming(
        || scan_log_space(&[0.0; 3], &[1.0; 2]),
        &["scan_log_space", "3", "2"],
    );
    panics_naming(
        || scan_cumulative_product(&[0.5; 3], &[1.0; 2]),
        &["scan_cumulative_product", "3", "2"],
    );
    let layer = S5Layer::new(2, 4, 0).expect("valid");
    let l = layer.clone();
    panics_naming(
        move || l.scan(&DMatrix::zeros(8, 3)),
        &["S5Layer::step", "(3,)", "width 2"],
    );
    panics_naming(
        move || layer.scan_parallel(&DMatrix::zeros(5, 3), 4),
        &["(5, 3)", "width 2"],
    );
}

/// Every scan of nothing is nothing; a chunk longer than the input is one
/// chunk.
#[test]
fn empty_and_short_inputs() {
    let none: Vec<Affine<f64>> = Vec::new();
    let (a, b, c, d) = (none.clone(), none.clone(), none.clone(), none.clone());
    assert!(returns(move || scan_sequential(&a)).is_empty());
    assert!(returns(move || scan_hillis_steele(&b)).is_empty());
    assert!(returns(move || scan_blelloch(&c)).is_empty());
    assert!(returns(move || scan_chunked(&d, 4)).is_empty());
    let steps = vec![Affine::new(0.5, 1.0); 3];
    let long = returns(move || scan_chunked(&steps, 1 << 40));
    assert_eq!(long.len(), 3);
    let layer = S5Layer::new(2, 4, 0).expect("valid");
    let y = returns(move || layer.scan_parallel(&DMatrix::zeros(3, 2), 1 << 40));
    assert_eq!(y.shape(), (3, 2));
}

/// NaN entering at step t is NaN from t on, in every scan, as in the
/// recurrence.
#[test]
fn a_nan_step_is_nan_from_its_step_in_every_scan() {
    let mut steps: Vec<Affine<f64>> =
        (0..9).map(|t| Affine::new(0.9, t as f64)).collect();
    steps[5].b = f64::NAN;
    let reference = linear_recurrence(&steps, 0.0);
    assert!(reference[..5].iter().all(|v| v.is_finite()));
    assert!(reference[5..].iter().all(|v| v.is_nan()));
    for (name, scanned) in [
        ("sequential", scan_sequential(&steps)),
        ("hillis_steele", scan_hillis_steele(&steps)),
        ("blelloch", scan_blelloch(&steps)),
        ("chunked", scan_chunked(&steps, 2)),
    ] {
        for (t, e) in scanned.iter().enumerate() {
            assert_eq!(e.b.is_nan(), t >= 5, "{name} at {t}");
        }
    }
    let log_a = vec![0.0f64.ln(); 4];
    let x = returns(move || scan_log_space(&log_a, &[1.0, 2.0, f64::NAN, 3.0]));
    assert!(x[2..].iter().all(|v| v.is_nan()), "{x:?}");
}
