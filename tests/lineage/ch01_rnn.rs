//! Chapter 1: BPTT is the chain rule, gradients are bounded by ‖W_hh‖^{t−s},
//! a linear RNN is a convolution, and a state of size n remembers at most n.

use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use ssm_lineage::rnn::bptt::{bptt, jacobian_product, squared_loss};
use ssm_lineage::rnn::memory::memory_curve;
use ssm_lineage::rnn::{ElmanRnn, LinearRnn, RnnConfig};
use ssm_lineage::support::fft::causal_conv_direct;
use ssm_lineage::traits::{Convolutional, Recurrent};

use crate::cases;
use crate::strategies::{gaussian, lengths, stable_linear_rnn};

/// Step of the central finite differences.
const FD_STEP: f64 = 1e-6;
/// Central differences err by $O(h^2)$ (≈ 1e-12 here: tanh's third derivative
/// is bounded by 2) plus rounding $O(\varepsilon / h)$ ≈ 1e-10 per unit of the
/// value; 1e-7 relative to the entries' scale leaves three orders of margin.
const FD_TOL: f64 = 1e-7;
/// Rounding of one matrix-vector product with n ≤ 16 terms, plus the add:
/// $\gamma = 2 \cdot 16\,\varepsilon$.
const GAMMA: f64 = 32.0 * f64::EPSILON;
/// FFT round-off relative to $\lVert K\rVert_2 \lVert u\rVert_2$ (see support_fft).
const FFT_CONV_REL_TOL: f64 = 1e-13;

fn rnn(hidden: usize, input: usize, rho: f64, seed: u64) -> ElmanRnn {
    let config = RnnConfig {
        hidden,
        input,
        output: 2,
        spectral_radius: rho,
        input_scale: 1.0,
    };
    ElmanRnn::random(&config, seed).expect("valid config")
}

proptest! {
    #![proptest_config(cases(64))]

    /// Eq. (R4) against central differences of the forward pass.
    #[test]
    fn jacobian_product_equals_finite_differences(
        n in 1usize..8, len in 2usize..20, rho in 0.3..1.5f64, seed in any::<u64>()
    ) {
        let rnn = rnn(n, 2, rho, seed);
        let x = gaussian(len, 2, seed ^ 7);
        let hs = rnn.hidden_states(&x, &DVector::zeros(n));
        let (s, t) = (len / 3, len - 1);
        let analytic = jacobian_product(&rnn, &hs, s, t);
        let rest = x.rows(s + 1, t - s).into_owned();
        for j in 0..n {
            let mut plus = hs.row(s).transpose();
            let mut minus = plus.clone();
            plus[j] += FD_STEP;
            minus[j] -= FD_STEP;
            let h_plus = rnn.hidden_states(&rest, &plus).row(t - s - 1).transpose();
            let h_minus = rnn.hidden_states(&rest, &minus).row(t - s - 1).transpose();
            let numeric = (h_plus - h_minus) / (2.0 * FD_STEP);
            let err = (numeric - analytic.column(j)).abs().max();
            prop_assert!(err <= FD_TOL * (1.0 + analytic.abs().max()), "column {j}: {err}");
        }
    }

    /// Eq. (R6): every weight gradient against central differences of the loss.
    #[test]
    fn bptt_equals_finite_differences(
        n in 1usize..6, len in 1usize..12, seed in any::<u64>()
    ) {
        let model = rnn(n, 2, 0.9, seed);
        let x = gaussian(len, 2, seed ^ 3);
        let target = gaussian(len, 2, seed ^ 5);
        let h0 = gaussian(n, 1, seed ^ 9).column(0) * 0.5;
        let grads = bptt(&model, &x, &target, &h0);
        let analytic = [&grads.w_hh, &grads.w_uh, &grads.w_hy];
        for (which, g) in analytic.iter().enumerate() {
            for idx in 0..g.len() {
                let loss_at = |delta: f64| {
                    let mut m = model.clone();
                    [&mut m.w_hh, &mut m.w_uh, &mut m.w_hy][which][idx] += delta;
                    squared_loss(&m, &x, &target, &h0)
                };
                let numeric = (loss_at(FD_STEP) - loss_at(-FD_STEP)) / (2.0 * FD_STEP);
                let scale = 1.0 + squared_loss(&model, &x, &target, &h0);
                prop_assert!((numeric - g[idx]).abs() <= FD_TOL * scale,
                    "weight {which}[{idx}]: {numeric} vs {}", g[idx]);
            }
        }
        for (g, bias) in [(&grads.b_h, 0), (&grads.b_y, 1)] {
            for idx in 0..g.len() {
                let loss_at = |delta: f64| {
                    let mut m = model.clone();
                    [&mut m.b_h, &mut m.b_y][bias][idx] += delta;
                    squared_loss(&m, &x, &target, &h0)
                };
                let numeric = (loss_at(FD_STEP) - loss_at(-FD_STEP)) / (2.0 * FD_STEP);
                let scale = 1.0 + squared_loss(&model, &x, &target, &h0);
                prop_assert!((numeric - g[idx]).abs() <= FD_TOL * scale);
            }
        }
    }

    /// Eq. (R5): since 0 < tanh' ≤ 1, ‖∂h_t/∂h_s‖ ≤ ‖W_hh‖^{t−s}, for any
    /// (not only orthogonal) recurrent weights.
    #[test]
    fn jacobian_norm_is_bounded_by_the_weight_norm(
        n in 1usize..10, len in 2usize..40, scale in 0.1..3.0f64, seed in any::<u64>()
    ) {
        let w_hh = gaussian(n, n, seed) * (scale / (n as f64).sqrt());
        let model = ElmanRnn::new(
            w_hh, gaussian(n, 1, seed ^ 1), DVector::zeros(n),
            DMatrix::zeros(1, n), DVector::zeros(1),
        ).expect("finite");
        let norm = model.w_hh.singular_values().max();
        let hs = model.hidden_states(&gaussian(len, 1, seed ^ 2), &DVector::zeros(n));
        for t in 1..len {
            let jn = jacobian_product(&model, &hs, 0, t).singular_values().max();
            // Rounding: one relative ε-sized error per factor, so (1 + 4nε)^t.
            let slack = (1.0 + 4.0 * n as f64 * f64::EPSILON).powi(t as i32);
            prop_assert!(jn <= norm.powi(t as i32) * slack, "t={t}: {jn} > {norm}^{t}");
        }
    }

    /// Eq. (R9): the recurrence, the direct convolution with the unrolled
    /// kernel, and the FFT convolution agree. The bound follows the error
    /// analysis: the state's rounding errors decay like ρ^j, so they add up to
    /// at most γ·‖c‖‖b‖·max|u|/(1−ρ)² in the recurrence and as much again in the
    /// Krylov kernel, plus the FFT's round-off.
    #[test]
    fn linear_rnn_recurrence_equals_its_convolution(
        (model, rho) in stable_linear_rnn(), len in lengths(300), seed in any::<u64>()
    ) {
        let u = gaussian(len, 1, seed);
        let by_recurrence = model.scan(&u);
        let by_fft = model.convolve(&u);
        let k = model.kernel(len);
        let by_direct = causal_conv_direct(k.as_slice(), u.as_slice());
        let umax = u.abs().max();
        let scale = model.c.norm() * model.b.norm() * umax / (1.0 - rho).powi(2);
        let fft_part = FFT_CONV_REL_TOL * k.norm() * u.norm();
        let bound = 3.0 * GAMMA * scale + fft_part;
        for t in 0..len {
            let r = by_recurrence[(t, 0)];
            prop_assert!((r - by_direct[t]).abs() <= bound, "t={t}: {r} vs {}", by_direct[t]);
            prop_assert!((r - by_fft[(t, 0)]).abs() <= bound, "t={t}: {r} vs {}", by_fft[(t, 0)]);
        }
    }

    /// Prefill then continue equals one scan: the state is all that carries over.
    #[test]
    fn a_scan_can_be_split_anywhere(
        (model, _) in stable_linear_rnn(), len in lengths(60), cut in 0.0..1.0f64, seed in any::<u64>()
    ) {
        let u = gaussian(len, 1, seed);
        let whole = model.scan(&u);
        let split = ((len as f64) * cut) as usize;
        let mut state = model.init_state();
        let first = model.scan_from(&mut state, &u.rows(0, split).into_owned());
        let second = model.scan_from(&mut state, &u.rows(split, len - split).into_owned());
        prop_assert_eq!(whole.rows(0, split).into_owned(), first);
        prop_assert_eq!(whole.rows(split, len - split).into_owned(), second);
    }
}

/// Jaeger's memory-capacity bound: for any linear RNN with state size n and
/// i.i.d. input, the R² of recovering u_{t−k} from h_t sums over k to at most n.
/// A finite-sample fit overstates each R² by about n/m (m samples, n + 1
/// regressors: the expected R² of pure noise), so the bound is n plus three
/// times that bias over all lags.
#[test]
fn memory_capacity_is_at_most_the_state_size() {
    let samples = 4000;
    let washout = 100;
    for (seed, n, rho) in [(1, 2, 0.9), (2, 4, 0.95), (3, 8, 0.99)] {
        let model = LinearRnn::random(n, rho, seed).expect("valid");
        let u = gaussian(samples, 1, seed + 100);
        let mut h = DVector::zeros(n);
        let rows: Vec<_> = u
            .iter()
            .map(|&u_t| {
                h = &model.a * &h + &model.b * u_t;
                h.transpose()
            })
            .collect();
        let states = DMatrix::from_rows(&rows);
        let max_lag = 6 * n;
        let r2 = memory_curve(&states, u.as_slice(), max_lag, washout);
        let capacity: f64 = r2.iter().sum();
        let m = (samples - washout - max_lag) as f64;
        let bias = 3.0 * max_lag as f64 * n as f64 / m;
        assert!(
            capacity <= n as f64 + bias,
            "n={n}: capacity {capacity} > {n} + {bias}"
        );
    }
}

#[test]
fn exercise_1_2_steps_until_the_gradient_vanishes() {
    let first = (0..1000).find(|&t| 0.9f64.powi(t) <= 1e-3).expect("found");
    assert_eq!(first, 66);
}
