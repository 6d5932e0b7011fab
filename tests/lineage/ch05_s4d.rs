//! Chapter 5: the diagonal kernel equals chapter 2's dense kernel, the
//! conjugate-pair halving equals the full system, the fast kernel equals the
//! readable one, and the S4D layer's two modes agree.

use nalgebra::Complex;
use proptest::prelude::*;
use ssm_lineage::lssl::discretize::discretize_diagonal;
use ssm_lineage::lssl::views::kernel_naive;
use ssm_lineage::lssl::{Rule, discretize};
use ssm_lineage::s4d::kernel::{
    kernel_full_conjugate, real_realization, vandermonde_kernel,
    vandermonde_kernel_fast,
};
use ssm_lineage::s4d::{S4dConfig, S4dInit, S4dLayer};
use ssm_lineage::traits::{Convolutional, Recurrent};

use crate::cases;
use crate::strategies::{gaussian, lengths, log_uniform_dt};

/// A product of s complex factors errs by about 4sε relative to its size
/// (each complex multiply rounds by ≈ 2√2 ε); sums of N/2 ≤ 8 such terms and
/// the discretization's own rounding add a few ε more. 16(s + 1)ε per tap,
/// relative to 2Σ|C_n B̄_n|, covers both the Vandermonde and the dense route.
fn tap_tolerance(len: usize, scale: f64) -> f64 {
    16.0 * (len as f64 + 1.0) * f64::EPSILON * scale
}

/// The modes λ, B and C of a diagonal system (one mode of each pair).
type Diagonal = (Vec<Complex<f64>>, Vec<Complex<f64>>, Vec<Complex<f64>>);

/// Stable complex modes: Re λ ∈ [−3, −0.05], |Im λ| ≤ 50, with complex B, C.
fn diagonal_system() -> impl Strategy<Value = Diagonal> {
    (1usize..=8).prop_flat_map(|modes| {
        let c =
            || (-2.0..2.0f64, -2.0..2.0f64).prop_map(|(r, i)| Complex::new(r, i));
        (
            proptest::collection::vec(
                (-3.0..-0.05f64, -50.0..50.0f64)
                    .prop_map(|(r, i)| Complex::new(r, i)),
                modes,
            ),
            proptest::collection::vec(c(), modes),
            proptest::collection::vec(c(), modes),
        )
    })
}

fn scale(b_bar: &[Complex<f64>], c: &[Complex<f64>]) -> f64 {
    2.0 * b_bar
        .iter()
        .zip(c)
        .map(|(b, c)| (b * c).norm())
        .sum::<f64>()
}

proptest! {
    #![proptest_config(cases(64))]

    /// Eq. (D1) equals the dense Krylov kernel (L10) of the real 2×2-block
    /// realization, discretized by the same rule.
    #[test]
    fn vandermonde_equals_the_dense_kernel(
        (lambda, b, c) in diagonal_system(), dt in log_uniform_dt(1e-3, 1e-1), len in lengths(256)
    ) {
        for rule in [Rule::Zoh, Rule::Bilinear] {
            let fast = vandermonde_kernel(&lambda, &b, &c, dt, rule, len).expect("valid");
            let dense = discretize(&real_realization(&lambda, &b, &c).expect("finite"), dt, rule).expect("valid");
            let naive = kernel_naive(&dense, len);
            let (_, b_bar) = discretize_diagonal(&lambda, &b, dt, rule).expect("valid");
            let tol = tap_tolerance(len, scale(&b_bar, &c)) + 1e-13 * scale(&b_bar, &c);
            for l in 0..len {
                prop_assert!((fast[l] - naive[l]).abs() <= tol, "{rule:?} s={l}: {} vs {}", fast[l], naive[l]);
            }
        }
    }

    /// Keeping one mode of each conjugate pair and taking 2·Re equals the full
    /// system of N complex modes, whose kernel is real up to rounding.
    #[test]
    fn conjugate_halving_equals_the_full_system(
        (lambda, b, c) in diagonal_system(), dt in log_uniform_dt(1e-3, 1e-1), len in lengths(200)
    ) {
        let half = vandermonde_kernel(&lambda, &b, &c, dt, Rule::Zoh, len).expect("valid");
        let full = kernel_full_conjugate(&lambda, &b, &c, dt, Rule::Zoh, len).expect("valid");
        let (_, b_bar) = discretize_diagonal(&lambda, &b, dt, Rule::Zoh).expect("valid");
        let tol = tap_tolerance(len, scale(&b_bar, &c));
        for l in 0..len {
            prop_assert!(full[l].im.abs() <= tol, "s={l}: imaginary part {}", full[l].im);
            prop_assert!((full[l].re - half[l]).abs() <= tol, "s={l}");
        }
    }

    /// The vectorised kernel performs the same operations in another order.
    #[test]
    fn fast_kernel_equals_the_readable_one(
        (lambda, b, c) in diagonal_system(), dt in log_uniform_dt(1e-3, 1e-1), len in lengths(300)
    ) {
        let readable = vandermonde_kernel(&lambda, &b, &c, dt, Rule::Zoh, len).expect("valid");
        let (a_bar, b_bar) = discretize_diagonal(&lambda, &b, dt, Rule::Zoh).expect("valid");
        let w: Vec<Complex<f64>> = c.iter().zip(&b_bar).map(|(c, b)| c * b).collect();
        let fast = vandermonde_kernel_fast(&a_bar, &w, len);
        let tol = tap_tolerance(len, scale(&b_bar, &c));
        for l in 0..len {
            prop_assert!((fast[l] - readable[l]).abs() <= tol, "s={l}");
        }
    }

    /// The S4D layer: recurrent mode (D2) equals convolution mode, for every
    /// initialisation and both rules. The recurrence errs like the kernel
    /// (s products per tap) summed over L taps: L²·16ε relative to the taps'
    /// scale times max|u|, plus the FFT's 1e-13.
    #[test]
    fn s4d_layer_recurrence_equals_convolution(
        channels in 1usize..4, pairs in 1usize..9, len in lengths(200), seed in any::<u64>(),
        init in prop_oneof![Just(S4dInit::Lin), Just(S4dInit::Inv), Just(S4dInit::Real), Just(S4dInit::Legs)],
        rule in prop_oneof![Just(Rule::Zoh), Just(Rule::Bilinear)],
    ) {
        let config = S4dConfig { rule, ..S4dConfig::new(channels, 2 * pairs, init) };
        let layer = S4dLayer::new(&config, seed).expect("valid");
        let u = gaussian(len, channels, seed ^ 5);
        let diff = (layer.scan(&u) - layer.convolve(&u)).abs().max();
        let tap_scale = (0..channels).map(|h| {
            let (_, b_bar) = layer.discretized(h);
            scale(b_bar, &layer.c[h])
        }).fold(0.0, f64::max);
        let bound = tap_tolerance(len, tap_scale) * len as f64 * u.abs().max()
            + 1e-13 * tap_scale * (len as f64).sqrt() * u.norm();
        prop_assert!(diff <= bound, "{diff} > {bound}");
    }

    /// The fused `convolve` (each channel's kernel built inside the FFT loop)
    /// equals the provided route: the kernel matrix, then
    /// `causal_conv_fft_columns`, plus the skip. The same kernel and the same
    /// FFTs in the same order: the results agree to the last bit.
    #[test]
    fn fused_convolution_equals_kernel_then_fft(
        channels in 1usize..5, pairs in 1usize..9, len in lengths(300), seed in any::<u64>(),
    ) {
        use ssm_lineage::support::fft::causal_conv_fft_columns;
        let layer = S4dLayer::new(&S4dConfig::new(channels, 2 * pairs, S4dInit::Lin), seed).expect("valid");
        let u = gaussian(len, channels, seed ^ 7);
        let mut reference = causal_conv_fft_columns(&layer.kernel(len), &u);
        for h in 0..channels {
            let d = layer.skip()[h];
            reference.column_mut(h).axpy(d, &u.column(h), 1.0);
        }
        let fused = layer.convolve(&u);
        prop_assert_eq!(fused, reference);
    }
}

/// A layer built from given parameters is the layer they came from; a
/// wrong length, a non-positive step or a NaN is an error that names it.
#[test]
fn layers_are_built_from_given_parameters() -> ssm_lineage::Result<()> {
    use ssm_lineage::lssl::Rule;
    use ssm_lineage::s4d::init::input_vector;
    let config = S4dConfig::new(3, 8, S4dInit::Inv);
    let layer = S4dLayer::new(&config, 4)?;
    let b = input_vector(S4dInit::Inv, 8)?;
    let parts = || (layer.lambda.clone(), b.clone());
    let rebuilt = S4dLayer::from_parameters(
        Rule::Zoh,
        parts(),
        layer.c.clone(),
        layer.d.clone(),
        layer.dt.clone(),
    )?;
    assert_eq!(rebuilt, layer);
    let mut short = layer.c.clone();
    short[1].pop();
    let err = S4dLayer::from_parameters(
        Rule::Zoh,
        parts(),
        short,
        layer.d.clone(),
        layer.dt.clone(),
    )
    .expect_err("short C");
    assert!(
        err.to_string()
            .contains("C of channel 1: expected shape (4, 1), found (3, 1)"),
        "{err}"
    );
    let err = S4dLayer::from_parameters(
        Rule::Zoh,
        parts(),
        layer.c.clone(),
        layer.d.clone(),
        vec![0.1, -1.0, 0.1],
    )
    .expect_err("negative step");
    assert!(err.to_string().contains("dt"), "{err}");
    let mut nan = layer.d.clone();
    nan[0] = f64::NAN;
    assert!(
        S4dLayer::from_parameters(
            Rule::Zoh,
            parts(),
            layer.c.clone(),
            nan,
            layer.dt.clone()
        )
        .is_err()
    );
    Ok(())
}

/// Exercise 5.1: with equal weights, the S4D-Lin kernel repeats every 2/Δ
/// steps under the common decay e^{−Δs/2}: K̄_{s+2/Δ} = e^{−1} K̄_s (ZOH).
/// Both taps are sums of 32 products of ≤ 300 factors: 1e-12 relative.
#[test]
fn exercise_5_1_s4d_lin_kernel_repeats_every_two_time_units() {
    use ssm_lineage::s4d::init::eigenvalues;
    let lambda = eigenvalues(S4dInit::Lin, 64).expect("valid");
    let ones = vec![Complex::new(1.0, 0.0); 32];
    let dt = 0.02; // period 2/Δ = 100 steps
    let k = vandermonde_kernel(&lambda, &ones, &ones, dt, Rule::Zoh, 300)
        .expect("valid");
    for l in [0, 7, 50, 133] {
        let shifted = k[l + 100];
        let expect = k[l] * (-1.0f64).exp();
        assert!(
            (shifted - expect).abs() <= 1e-12 * (1.0 + k[l].abs()),
            "s={l}: {shifted} vs {expect}"
        );
    }
}

/// Exercise 5.3: the period of S4D-Lin's kernel does not depend on N: every
/// imaginary part is a multiple of π, so at N = 8 and 16 as at 64 (exercise
/// 5.1) the kernel
/// repeats every 2/Δ steps under the decay e^{−1}.
#[test]
fn exercise_5_3_the_period_does_not_depend_on_n() {
    use ssm_lineage::s4d::init::eigenvalues;
    for n in [8, 16] {
        let lambda = eigenvalues(S4dInit::Lin, n).expect("valid");
        let ones = vec![Complex::new(1.0, 0.0); n / 2];
        let k = vandermonde_kernel(&lambda, &ones, &ones, 0.02, Rule::Zoh, 300)
            .expect("valid");
        for l in [0, 7, 50, 133] {
            let expect = k[l] * (-1.0f64).exp();
            assert!(
                (k[l + 100] - expect).abs() <= 1e-12 * (1.0 + k[l].abs()),
                "N={n}, s={l}"
            );
        }
    }
}

/// Δ is a timescale: the ZOH kernel over Δ at lag s is the continuous
/// kernel $K(t) = 2\,\mathrm{Re}\sum_n C_n B_n e^{t\lambda_n}$ at $t = s\Delta$,
/// up to each mode's factor $(e^{x} - 1)/x$ with $x = \Delta\lambda_n$, which
/// differs from 1 by at most $\tfrac{|x|}{2} e^{|x|}$ (its series, term by
/// term). So at every step the three curves of the timescale figure lie
/// within $\sum_n |C_n B_n|\,|x_n| e^{|x_n|}$ of one curve.
#[test]
fn the_kernel_over_delta_samples_one_continuous_kernel() {
    use ssm_lineage::s4d::init::{eigenvalues, input_vector};
    let n = 8;
    let lambda = eigenvalues(S4dInit::Lin, n).expect("valid");
    let b = input_vector(S4dInit::Lin, n).expect("valid");
    let c: Vec<Complex<f64>> = (0..n / 2)
        .map(|k| Complex::new(1.0 / (1.0 + k as f64), 0.0))
        .collect();
    let continuous = |t: f64| -> f64 {
        (0..n / 2)
            .map(|k| 2.0 * (c[k] * b[k] * (lambda[k] * t).exp()).re)
            .sum()
    };
    for dt in [0.01, 0.02, 0.05] {
        let len = (6.0 / dt) as usize;
        let k =
            vandermonde_kernel(&lambda, &b, &c, dt, Rule::Zoh, len).expect("valid");
        let bound: f64 = (0..n / 2)
            .map(|m| {
                let x = (lambda[m] * dt).norm();
                2.0 * (c[m] * b[m]).norm() * x / 2.0 * x.exp()
            })
            .sum();
        for (l, tap) in k.iter().enumerate() {
            let gap = (tap / dt - continuous(l as f64 * dt)).abs();
            assert!(gap <= bound, "Δ={dt}, s={l}: {gap} > {bound}");
        }
    }
}

/// "Diagonal is enough" (S4D §4, the S4D-LegS theorem): the normal part of
/// HiPPO-LegS alone, with B halved, has a kernel that approaches LegS's as
/// N grows (relative L2 gap over 5 time units at Δ = 0.01, output row
/// C_n = 1/(1 + n), falling from N = 16 to 64 to 256), and without the
/// halving it does not approach it (about twice the kernel).
#[test]
fn s4d_legs_kernel_approaches_s4_legs_as_n_grows() {
    use nalgebra::DVector;
    use ssm_lineage::hippo::transitions::legs;
    use ssm_lineage::lssl::Ssm;
    use ssm_lineage::s4::nplr::nplr_legs;
    let (dt, len) = (0.01, 500);
    let gap = |n: usize, scale: f64| -> f64 {
        let t = legs(n).expect("valid");
        let c = DVector::from_fn(n, |i, _| 1.0 / (1.0 + i as f64));
        let full = Ssm::new(t.a, t.b, c.clone(), 0.0).expect("finite");
        let dense =
            kernel_naive(&discretize(&full, dt, Rule::Zoh).expect("valid"), len);
        let dplr = nplr_legs(n).expect("valid");
        let c_modes: Vec<Complex<f64>> = (0..n / 2)
            .map(|k| (0..n).map(|i| dplr.v[(i, k)] * c[i]).sum())
            .collect();
        let b: Vec<Complex<f64>> = dplr.b.iter().map(|b| b * scale).collect();
        let diagonal =
            vandermonde_kernel(&dplr.lambda, &b, &c_modes, dt, Rule::Zoh, len)
                .expect("valid");
        let norm = dense.iter().map(|v| v * v).sum::<f64>().sqrt();
        let diff = dense
            .iter()
            .zip(&diagonal)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
        diff.sqrt() / norm
    };
    let halved: Vec<f64> = [16, 64, 256].iter().map(|&n| gap(n, 0.5)).collect();
    assert!(halved[0] > halved[1] && halved[1] > halved[2], "{halved:?}");
    assert!(halved[2] < 0.5, "{halved:?}");
    let whole = gap(256, 1.0);
    assert!(whole > 0.9, "unhalved B at N = 256: {whole}");
}
