//! Chapter 2: the discretization rules and their relations, stability, the
//! three views of one system, gating as discretization, and scipy's values.

use nalgebra::{Complex, DMatrix, DVector};
use proptest::prelude::*;
use ssm_lineage::lssl::discretize::{
    discretize_backward_euler, discretize_bilinear, discretize_diagonal,
    discretize_forward_euler, discretize_gbt, discretize_zoh,
};
use ssm_lineage::lssl::gating::gated_update;
use ssm_lineage::lssl::views::{continuous_response, kernel_naive};
use ssm_lineage::lssl::{DiscreteSsm, LsslLayer, Rule, Ssm, discretize};
use ssm_lineage::support::fft::causal_conv_direct;
use ssm_lineage::traits::{Convolutional, Recurrent};

use crate::cases;
use crate::strategies::{gaussian, lengths, log_uniform_dt, stable_ssm};

/// Rounding of one step: a matrix-vector product of at most 16 terms plus the
/// input term, $\gamma = 2 \cdot 16\,\varepsilon$.
const GAMMA: f64 = 32.0 * f64::EPSILON;
/// FFT round-off relative to $\lVert K\rVert_2 \lVert u\rVert_2$ (see support_fft).
const FFT_CONV_REL_TOL: f64 = 1e-13;
/// Two formulas for the same matrices that differ only in the order of
/// operations on well-conditioned data (Δ ≤ 0.1, cond(I − αΔA) ≈ 1):
/// agreement to a few hundred ε.
const SAME_MATH_TOL: f64 = 1e-13;

fn max_abs(m: &DMatrix<f64>) -> f64 {
    m.abs().max()
}

/// $\max_{j<L} \lVert \bar A^j \rVert$, bounded by the Frobenius norm: how much
/// a rounding error can grow while it is carried through the recurrence.
fn max_power_norm(a_bar: &DMatrix<f64>, len: usize) -> f64 {
    let mut p = DMatrix::identity(a_bar.nrows(), a_bar.nrows());
    let mut worst: f64 = 1.0;
    for _ in 1..len {
        p = a_bar * p;
        worst = worst.max(p.norm());
    }
    worst
}

proptest! {
    #![proptest_config(cases(48))]

    /// The headline claim: for every rule, the recurrence (L9), the direct
    /// convolution with the Krylov kernel (L10) and the FFT convolution compute
    /// the same outputs. The bound follows the error analysis: each step adds a
    /// rounding error of γ·(‖Ā‖‖x‖ + ‖B̄‖|u|) that is carried at most P = max‖Āʲ‖
    /// for at most L steps; each kernel tap Āˢ B̄ carries s such errors, so the
    /// direct sum errs by up to L²/2 · γ·P·‖C‖‖B̄‖·max|u|; the FFT adds its own.
    #[test]
    fn recurrence_equals_direct_and_fft_convolution(
        ssm in stable_ssm(16), dt in log_uniform_dt(1e-3, 1e-1),
        len in lengths(300), seed in any::<u64>()
    ) {
        let u = gaussian(len, 1, seed);
        for rule in Rule::ALL {
            let disc = discretize(&ssm, dt, rule).expect("valid step");
            let mut x = disc.init_state();
            let mut x_max: f64 = 0.0;
            let mut by_recurrence = Vec::with_capacity(len);
            for t in 0..len {
                by_recurrence.push(disc.step(&mut x, &DVector::from_element(1, u[t]))[0]);
                x_max = x_max.max(x.norm());
            }
            let k = kernel_naive(&disc, len);
            let by_direct = causal_conv_direct(&k, u.as_slice());
            let by_fft = disc.convolve(&u);
            let (l, p, u_max) = (len as f64, max_power_norm(&disc.a_bar, len), u.abs().max());
            let (c, b) = (disc.c.norm(), disc.b_bar.norm());
            let recurrence_err = GAMMA * p * l * c * (disc.a_bar.norm() * x_max + b * u_max);
            let kernel_err = GAMMA * p * l * l / 2.0 * c * b * u_max;
            let fft_err = FFT_CONV_REL_TOL * DVector::from_vec(k.clone()).norm() * u.norm();
            let bound = recurrence_err + kernel_err + fft_err;
            for t in 0..len {
                let r = by_recurrence[t];
                prop_assert!((r - by_direct[t]).abs() <= bound,
                    "{}: t={t}: {r} vs direct {}, bound {bound}", rule.name(), by_direct[t]);
                prop_assert!((r - by_fft[(t, 0)]).abs() <= bound,
                    "{}: t={t}: {r} vs fft {}, bound {bound}", rule.name(), by_fft[(t, 0)]);
            }
        }
    }

    /// GBT(0), GBT(½), GBT(1) are forward Euler, bilinear, backward Euler.
    #[test]
    fn gbt_contains_the_three_classical_rules(
        ssm in stable_ssm(16), dt in log_uniform_dt(1e-3, 1e-1)
    ) {
        let pairs = [
            (0.0, discretize_forward_euler(&ssm, dt)),
            (0.5, discretize_bilinear(&ssm, dt)),
            (1.0, discretize_backward_euler(&ssm, dt)),
        ];
        for (alpha, rule) in pairs {
            let (g, r) = (discretize_gbt(&ssm, dt, alpha).expect("valid"), rule.expect("valid"));
            prop_assert!(max_abs(&(&g.a_bar - &r.a_bar)) <= SAME_MATH_TOL, "α = {alpha}");
            prop_assert!((&g.b_bar - &r.b_bar).amax() <= SAME_MATH_TOL * dt, "α = {alpha}");
        }
    }

    /// Bilinear = a forward-Euler half step followed by a backward-Euler half
    /// step, both with the same input.
    #[test]
    fn bilinear_is_two_euler_half_steps(
        ssm in stable_ssm(16), dt in log_uniform_dt(1e-3, 1e-1)
    ) {
        let fe = discretize_forward_euler(&ssm, dt / 2.0).expect("valid");
        let be = discretize_backward_euler(&ssm, dt / 2.0).expect("valid");
        let bl = discretize_bilinear(&ssm, dt).expect("valid");
        let a_composed = &be.a_bar * &fe.a_bar;
        let b_composed = &be.a_bar * &fe.b_bar + &be.b_bar;
        prop_assert!(max_abs(&(a_composed - &bl.a_bar)) <= SAME_MATH_TOL);
        prop_assert!((b_composed - &bl.b_bar).amax() <= SAME_MATH_TOL * dt);
    }

    /// ZOH by the augmented exponential (L7) equals the closed form (L6) when
    /// A is invertible. The closed form subtracts I from e^{ΔA} ≈ I + ΔA, which
    /// loses a relative ε/Δ, and then solves with A, which multiplies that by
    /// cond(A): the tolerance is 100·ε·cond(A)/Δ relative to ‖B̄‖.
    #[test]
    fn zoh_augmented_equals_the_closed_form(
        ssm in stable_ssm(16), dt in log_uniform_dt(1e-3, 1e-1)
    ) {
        let zoh = discretize_zoh(&ssm, dt).expect("valid");
        let e = (&ssm.a * dt).exp();
        let n = ssm.n();
        let closed_b = ssm.a.clone().lu().solve(&((&e - DMatrix::identity(n, n)) * &ssm.b)).expect("A invertible");
        let sv = ssm.a.singular_values();
        let cond = sv.max() / sv.min();
        prop_assert!(max_abs(&(&zoh.a_bar - e)) <= SAME_MATH_TOL);
        let tol = 100.0 * f64::EPSILON * cond / dt * zoh.b_bar.norm();
        prop_assert!((closed_b - &zoh.b_bar).amax() <= tol, "tol {tol}");
    }

    /// The diagonal closed forms (L8) equal the dense rules on diagonal matrices.
    #[test]
    fn diagonal_closed_forms_equal_the_dense_rules(
        lambda in proptest::collection::vec(-20.0..-0.01f64, 1..16),
        dt in log_uniform_dt(1e-3, 1e-1), seed in any::<u64>()
    ) {
        let n = lambda.len();
        let b = gaussian(n, 1, seed).column(0).into_owned();
        let ssm = Ssm::new(DMatrix::from_diagonal(&DVector::from_vec(lambda.clone())), b.clone(), b.clone(), 0.0)
            .expect("finite");
        let lc: Vec<Complex<f64>> = lambda.iter().map(|&l| Complex::new(l, 0.0)).collect();
        let bc: Vec<Complex<f64>> = b.iter().map(|&v| Complex::new(v, 0.0)).collect();
        for rule in Rule::ALL {
            let dense = discretize(&ssm, dt, rule).expect("valid");
            let (a_bar, b_bar) = discretize_diagonal(&lc, &bc, dt, rule).expect("valid");
            for i in 0..n {
                prop_assert!((a_bar[i] - dense.a_bar[(i, i)]).norm() <= SAME_MATH_TOL, "{}", rule.name());
                prop_assert!((b_bar[i] - dense.b_bar[i]).norm() <= SAME_MATH_TOL * dt * (1.0 + b[i].abs()));
            }
        }
    }

    /// Bilinear, ZOH and backward Euler map every stable A to a stable Ā, for
    /// any step, however large (Δ up to 10³ here).
    #[test]
    fn implicit_rules_and_zoh_never_leave_the_unit_disk(
        ssm in stable_ssm(16), dt in log_uniform_dt(1e-3, 1e3)
    ) {
        prop_assume!(ssm.is_hurwitz());
        for rule in [Rule::Bilinear, Rule::Zoh, Rule::BackwardEuler] {
            let disc = discretize(&ssm, dt, rule).expect("valid");
            let radius = disc.eigenvalues().iter().map(|l| l.norm()).fold(0.0, f64::max);
            prop_assert!(radius < 1.0, "{} at Δ = {dt}: spectral radius {radius}", rule.name());
        }
    }

    /// The continuous view at the end of each step is the ZOH recurrence: ZOH
    /// is exact for an input held constant over each step.
    #[test]
    fn zoh_samples_the_continuous_response_exactly(
        ssm in stable_ssm(8), dt in log_uniform_dt(1e-3, 1e-1),
        len in lengths(100), substeps in 1usize..5, seed in any::<u64>()
    ) {
        let u = gaussian(len, 1, seed);
        let curve = continuous_response(&ssm, u.as_slice(), dt, substeps).expect("valid");
        let y = discretize_zoh(&ssm, dt).expect("valid").scan(&u);
        let scale = ssm.c.norm() * ssm.b.norm() * u.abs().max();
        for t in 0..len {
            let (time, value) = curve[(t + 1) * substeps - 1];
            prop_assert!((time - (t + 1) as f64 * dt).abs() <= 1e-12 * (1.0 + time));
            // substeps·len steps of rounding, each γ relative to the state scale.
            let bound = GAMMA * (substeps * len) as f64 * scale * dt * (1.0 + (substeps * len) as f64 * dt);
            prop_assert!((value - y[(t, 0)]).abs() <= bound + 1e-15, "t={t}: {value} vs {}", y[(t, 0)]);
        }
    }

    /// LSSL Lemma 3.1: the sigmoid gate is backward Euler of ẋ = −x + u with
    /// Δ = e^z. Both are a handful of operations on O(1) numbers.
    #[test]
    fn a_sigmoid_gate_is_backward_euler(
        x in -5.0..5.0f64, u in -5.0..5.0f64, z in -8.0..8.0f64
    ) {
        let one = DVector::from_element(1, 1.0);
        let leak = Ssm::new(DMatrix::from_element(1, 1, -1.0), one.clone(), one, 0.0).expect("finite");
        let be = discretize_backward_euler(&leak, z.exp()).expect("valid");
        let stepped = be.a_bar[(0, 0)] * x + be.b_bar[0] * u;
        prop_assert!((gated_update(x, u, z) - stepped).abs() <= 1e-14 * (1.0 + x.abs() + u.abs()));
    }

    /// An LSSL layer's channels are independent: recurrence == convolution
    /// per channel (bilinear, as LSSL uses).
    #[test]
    fn layer_recurrence_equals_convolution(
        width in 1usize..5, n in 1usize..8, len in lengths(120), seed in any::<u64>()
    ) {
        let layer = LsslLayer::random(width, n, Rule::Bilinear, seed).expect("valid");
        let u = gaussian(len, width, seed ^ 11);
        let diff = max_abs(&(layer.scan(&u) - layer.convolve(&u)));
        // Δ ≤ 0.1 and a contractive Ā: taps ≤ ‖C‖‖B̄‖, so the L² bound above applies.
        let scale = layer.channels.iter().map(|c| c.c.norm() * c.b_bar.norm()).fold(0.0, f64::max);
        let bound = GAMMA * (len * len) as f64 * scale * u.abs().max() + FFT_CONV_REL_TOL * u.norm() * len as f64;
        prop_assert!(diff <= bound, "{diff} > {bound}");
    }
}

/// Forward Euler sends a stiff eigenvalue out of the unit disk: with λ = −100
/// and Δ = 0.05, 1 + Δλ = −4.
#[test]
fn forward_euler_is_unstable_on_a_stiff_system() {
    let a = DMatrix::from_diagonal(&DVector::from_vec(vec![-1.0, -100.0]));
    let v = DVector::from_element(2, 1.0);
    let ssm = Ssm::new(a, v.clone(), v, 0.0).expect("finite");
    let fe = discretize_forward_euler(&ssm, 0.05).expect("valid");
    let radius = fe
        .eigenvalues()
        .iter()
        .map(|l| l.norm())
        .fold(0.0, f64::max);
    assert!((radius - 4.0).abs() < 1e-12, "{radius}");
    for rule in [Rule::BackwardEuler, Rule::Bilinear, Rule::Zoh] {
        let r = discretize(&ssm, 0.05, rule).expect("valid").eigenvalues();
        assert!(r.iter().all(|l| l.norm() < 1.0), "{}", rule.name());
    }
}

/// The golden system of `tests/golden/cont2discrete.py`.
fn golden_system() -> Ssm {
    #[rustfmt::skip]
    let a = DMatrix::from_row_slice(4, 4, &[
        0.0, 1.0, 0.0, 0.0,
        -4.0, -0.4, 0.5, 0.0,
        0.0, 0.0, -1.0, 0.3,
        0.2, 0.0, -0.3, -2.5,
    ]);
    let b = DVector::from_vec(vec![0.0, 1.0, 0.5, -1.0]);
    let c = DVector::from_vec(vec![1.0, 0.0, 0.2, 0.1]);
    Ssm::new(a, b, c, 0.0).expect("finite")
}

/// scipy's `cont2discrete` (zoh, bilinear, euler, backward_diff) at Δ = 0.1.
/// scipy's zoh uses a Padé `expm` like nalgebra's; both are accurate to a few
/// ε on this well-scaled matrix, so 1e-13 is a real check of the formulas.
#[test]
fn golden_values_from_scipy_cont2discrete() {
    let text = include_str!("../golden/cont2discrete.txt");
    let ssm = golden_system();
    let mut checked = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut fields = line.split_whitespace();
        let method = fields.next().expect("a method name");
        let values: Vec<f64> =
            fields.map(|v| v.parse().expect("a number")).collect();
        assert_eq!(values.len(), 20, "{method}: 16 + 4 values");
        let rule = match method {
            "zoh" => Rule::Zoh,
            "bilinear" => Rule::Bilinear,
            "euler" => Rule::ForwardEuler,
            "backward_diff" => Rule::BackwardEuler,
            other => panic!("unknown method {other}"),
        };
        let disc: DiscreteSsm = discretize(&ssm, 0.1, rule).expect("valid");
        let a_ref = DMatrix::from_row_slice(4, 4, &values[..16]);
        let b_ref = DVector::from_column_slice(&values[16..]);
        assert!(max_abs(&(&disc.a_bar - a_ref)) < 1e-13, "{method}: Ā");
        assert!((&disc.b_bar - b_ref).amax() < 1e-13, "{method}: B̄");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

/// Exercise 2.2: forward Euler keeps λ = −100 stable while |1 − 100Δ| ≤ 1,
/// i.e. up to Δ = 0.02.
#[test]
fn exercise_2_2_largest_stable_forward_euler_step() {
    let one = DVector::from_element(1, 1.0);
    let ssm = Ssm::new(DMatrix::from_element(1, 1, -100.0), one.clone(), one, 0.0)
        .expect("finite");
    let radius = |dt: f64| {
        discretize_forward_euler(&ssm, dt).expect("valid").a_bar[(0, 0)].abs()
    };
    assert!(radius(0.0199) < 1.0);
    assert!(radius(0.0201) > 1.0);
}

/// Exercise 2.3: z = 0 means Δ = e⁰ = 1 and the gate σ(0) = ½ averages.
#[test]
fn exercise_2_3_a_zero_gate_logit_averages() {
    assert_eq!(gated_update(2.0, 4.0, 0.0), 3.0);
}

/// Exercise 2.4: at Δ = 1 the stiff system of the stability figure
/// (eigenvalues −0.5 ± 3i, −2, −8, −20 ± 5i) has forward Euler's spectral
/// radius |1 + (−20 + 5i)| = √386 ≈ 19.65, while backward Euler, the
/// bilinear rule and ZOH keep every eigenvalue inside the unit circle.
#[test]
fn exercise_2_4_a_step_of_one_on_the_stiff_system() {
    let mut a = DMatrix::zeros(6, 6);
    for (i, (re, im)) in [(0, (-0.5, 3.0)), (4, (-20.0, 5.0))] {
        a[(i, i)] = re;
        a[(i + 1, i + 1)] = re;
        a[(i, i + 1)] = im;
        a[(i + 1, i)] = -im;
    }
    a[(2, 2)] = -2.0;
    a[(3, 3)] = -8.0;
    let v = DVector::from_element(6, 1.0);
    let ssm = Ssm::new(a, v.clone(), v, 0.0).expect("finite");
    let radius = |rule| {
        discretize(&ssm, 1.0, rule)
            .expect("valid")
            .eigenvalues()
            .iter()
            .map(|l| l.norm())
            .fold(0.0, f64::max)
    };
    assert!((radius(Rule::ForwardEuler) - 386f64.sqrt()).abs() < 1e-9);
    for rule in [Rule::BackwardEuler, Rule::Bilinear, Rule::Zoh] {
        assert!(radius(rule) < 1.0, "{}", rule.name());
    }
}
