//! The FFT causal convolution against its definition, and rustfft against the
//! naive DFT.

use nalgebra::Complex;
use proptest::prelude::*;
use ssm_lineage::support::fft::{
    causal_conv_direct, causal_conv_fft, causal_conv_fft_plain, dft_naive, fft,
    ifft, irfft,
};

use crate::cases;
use crate::strategies::{gaussian, lengths};

/// FFT convolution error relative to $\lVert k\rVert_2 \lVert u\rVert_2$: the
/// FFT's round-off is about $\varepsilon \log_2 n$ per transform (n ≤ 1024 here:
/// ≈ 1.1e-15 for three transforms); 1e-13 leaves two orders of margin.
const FFT_CONV_REL_TOL: f64 = 1e-13;

/// DFT error relative to $\lVert x \rVert_1$: the naive O(n²) sum accumulates
/// about $n\varepsilon$ (n ≤ 200: 2.2e-14); rustfft is far more accurate.
const DFT_REL_TOL: f64 = 1e-12;

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn fft_convolution_equals_the_direct_sum(
        len in lengths(300), klen in lengths(300), seed in any::<u64>()
    ) {
        let u = gaussian(len, 1, seed);
        let k = gaussian(klen, 1, seed.wrapping_add(1));
        let direct = causal_conv_direct(k.as_slice(), u.as_slice());
        let fast = causal_conv_fft(k.as_slice(), u.as_slice());
        let bound = FFT_CONV_REL_TOL * norm(k.as_slice()) * norm(u.as_slice());
        for (a, b) in direct.iter().zip(&fast) {
            prop_assert!((a - b).abs() <= bound, "{a} vs {b}, bound {bound}");
        }
        prop_assert_eq!(fast.len(), len);
    }

    /// The textbook route (complex transforms, no guards) and the crate's
    /// (real transforms, scaling, channels in parallel) compute the same
    /// convolution: within the rounding of two transform pipelines,
    /// FFT_CONV_REL_TOL of ‖k‖‖u‖ as against the direct sum.
    #[test]
    fn the_plain_fft_convolution_equals_the_guarded_one(
        len in lengths(300), klen in lengths(300), seed in any::<u64>()
    ) {
        let u = gaussian(len, 1, seed);
        let k = gaussian(klen, 1, seed.wrapping_add(1));
        let plain = causal_conv_fft_plain(k.as_slice(), u.as_slice());
        let guarded = causal_conv_fft(k.as_slice(), u.as_slice());
        let bound = FFT_CONV_REL_TOL * norm(k.as_slice()) * norm(u.as_slice());
        prop_assert_eq!(plain.len(), len);
        for (a, b) in plain.iter().zip(&guarded) {
            prop_assert!((a - b).abs() <= bound, "{a} vs {b}, bound {bound}");
        }
    }

    /// The complex-to-real inverse of a half spectrum is the real part of
    /// the inverse FFT of the mirrored spectrum (rounding of two transforms:
    /// DFT_REL_TOL of Σ|X|/n, which bounds every output).
    #[test]
    fn irfft_is_the_mirrored_ifft(len in 0usize..200, seed in any::<u64>()) {
        let m = gaussian(len / 2 + 1, 2, seed);
        let half: Vec<Complex<f64>> =
            (0..(len / 2 + 1).min(len)).map(|k| Complex::new(m[(k, 0)], m[(k, 1)])).collect();
        let mut full = half.clone();
        for k in half.len()..len {
            full.push(half[len - k].conj());
        }
        let want: Vec<f64> = ifft(&full).iter().map(|z| z.re).collect();
        let got = irfft(&half, len);
        prop_assert_eq!(got.len(), len);
        let scale = full.iter().map(|v| v.norm()).sum::<f64>().max(1.0) / len.max(1) as f64;
        for (a, b) in got.iter().zip(&want) {
            prop_assert!((a - b).abs() <= DFT_REL_TOL * scale, "{a} vs {b}");
        }
    }

    #[test]
    fn rustfft_equals_the_naive_dft(len in 0usize..200, seed in any::<u64>()) {
        let m = gaussian(len, 2, seed);
        let x: Vec<Complex<f64>> =
            (0..len).map(|t| Complex::new(m[(t, 0)], m[(t, 1)])).collect();
        let scale = x.iter().map(|v| v.norm()).sum::<f64>().max(1.0);
        for (inverse, fast) in [(false, fft(&x)), (true, ifft(&x))] {
            let slow = dft_naive(&x, inverse);
            for (a, b) in slow.iter().zip(&fast) {
                prop_assert!((a - b).norm() <= DFT_REL_TOL * scale, "{a} vs {b}");
            }
        }
        for (a, b) in ifft(&fft(&x)).iter().zip(&x) {
            prop_assert!((a - b).norm() <= DFT_REL_TOL * scale);
        }
    }
}

/// Where the direct sum is finite, so is the FFT convolution: signals of
/// magnitude 1e300 and 1e-300 (whose spectra alone would overflow or lose
/// every digit) give the direct sum's values to the usual relative accuracy,
/// and NaN still propagates.
#[test]
fn fft_convolution_does_not_overflow_where_the_sum_does_not() {
    use ssm_lineage::support::fft::{causal_conv_direct, causal_conv_fft};
    let k: Vec<f64> = (0..64)
        .map(|i| 1e300 * (1.0 + (i % 5) as f64) / 8.0)
        .collect();
    let u: Vec<f64> = (0..64).map(|i| 1e-300 * ((i % 3) as f64 - 1.0)).collect();
    let direct = causal_conv_direct(&k, &u);
    let fft = causal_conv_fft(&k, &u);
    let scale = direct.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale.is_finite() && scale > 0.0);
    for (a, b) in fft.iter().zip(&direct) {
        assert!(
            a.is_finite() && (a - b).abs() <= 1e-12 * scale,
            "{a} vs {b}"
        );
    }
    let big: Vec<f64> = vec![1e307; 32]; // its spectrum alone is 3.2e308: inf
    let small: Vec<f64> = vec![1e-10; 32];
    let direct = causal_conv_direct(&big, &small);
    let fft = causal_conv_fft(&big, &small);
    for (a, b) in fft.iter().zip(&direct) {
        assert!(
            a.is_finite() && (a - b).abs() <= 1e-12 * b.abs(),
            "{a} vs {b}"
        );
    }
    let mut nan = small.clone();
    nan[3] = f64::NAN;
    assert!(causal_conv_fft(&big, &nan)[5].is_nan());
}
