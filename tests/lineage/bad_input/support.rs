//! The support code every chapter uses: the FFT convolution.

use nalgebra::Complex;
use proptest::prelude::*;
use ssm_lineage::support::fft::{
    causal_conv_direct, causal_conv_fft, fft, ifft, irfft,
};

use super::{panics_naming, returns};
use crate::cases;

proptest! {
    #![proptest_config(cases(64))]

    /// A non-finite input at step `t` makes the FFT convolution NaN from `t`
    /// on and leaves the outputs before `t` as they were (the transform mixes
    /// every step, so without a cut it would poison the whole sequence):
    /// the direct sum's pattern.
    #[test]
    fn a_non_finite_input_poisons_only_the_outputs_after_it(
        len in 2usize..64,
        at in any::<prop::sample::Index>(),
        which in 0usize..3,
        seed in any::<u64>(),
    ) {
        let bad = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][which];
        let t = at.index(len);
        let k = crate::strategies::gaussian(len, 1, seed).as_slice().to_vec();
        let mut u = crate::strategies::gaussian(len, 1, seed ^ 1).as_slice().to_vec();
        u[t] = bad;
        let fast = causal_conv_fft(&k, &u);
        let direct = causal_conv_direct(&k, &u);
        let clean: Vec<f64> = u[..t].to_vec();
        let prefix = causal_conv_direct(&k, &clean);
        for s in 0..t {
            // Rounding of an O(len)-term sum of unit-size products.
            prop_assert!((fast[s] - prefix[s]).abs() <= 1e-12 * len as f64, "{s}");
        }
        prop_assert!(fast[t..].iter().all(|v| v.is_nan()));
        prop_assert!(direct[t..].iter().all(|v| !v.is_finite()));
    }
}

/// A non-finite kernel tap `s` makes every output from `s` on NaN.
#[test]
fn a_non_finite_tap_poisons_the_outputs_from_its_lag() {
    let mut k = vec![0.5; 8];
    k[3] = f64::NAN;
    let y = returns(move || causal_conv_fft(&k, &[1.0; 8]));
    assert!(y[..3].iter().all(|v| v.is_finite()), "{y:?}");
    assert!(y[3..].iter().all(|v| v.is_nan()), "{y:?}");
}

#[test]
fn empty_and_absurd_transforms() {
    assert!(returns(|| causal_conv_fft(&[1.0], &[])).is_empty());
    assert!(returns(|| fft(&[])).is_empty());
    assert!(returns(|| ifft(&[])).is_empty());
    assert!(returns(|| irfft(&[], 0)).is_empty());
    panics_naming(
        || irfft(&[Complex::new(1.0, 0.0)], 1 << 40),
        &["irfft", "2^32"],
    );
    panics_naming(
        || irfft(&[Complex::new(1.0, 0.0); 2], 8),
        &["irfft", "2 bins", "8"],
    );
}
