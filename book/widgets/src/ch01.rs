//! Chapter 1's widget: an RNN's spectral radius ρ and its nonlinearity → the
//! gradient norm ‖∂h_t/∂h_0‖ against the lag (the computation of
//! `examples/ch01_gradients.rs`) and the memory curve R²_k (that of
//! `examples/ch01_memory.rs`, through `rnn::memory::memory_curve`).
//!
//! Smaller than the static figures (n = 16, 700 samples) so that one update
//! stays within a slider's budget.

use nalgebra::{DMatrix, DVector};
use ssm_lineage::rnn::bptt::step_jacobian;
use ssm_lineage::rnn::memory::memory_curve;
use ssm_lineage::rnn::{ElmanRnn, LinearRnn, RnnConfig};
use ssm_lineage::support::figure::{LinePlot, Scale, grid_to_svg};
use ssm_lineage::support::rng::{normal_matrix, seeded};
use wasm_bindgen::prelude::wasm_bindgen;

use crate::{BrowserCase, Widget};

/// The state size n.
pub const HIDDEN: usize = 32;
/// The lags t = 1..STEPS of the gradient curve.
pub const STEPS: usize = 100;
/// The input samples the memory readout is fitted on.
pub const SAMPLES: usize = 2000;
/// The first states left out of the fit (the start from h = 0).
pub const WASHOUT: usize = 100;
/// The lags k = 0..MAX_LAG of the memory curve.
pub const MAX_LAG: usize = 40;

/// The recurrence's nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nonlinearity {
    /// h_t = tanh(W_hh h_{t−1} + W_uh u_t), Eq. (R1).
    Tanh,
    /// h_t = A h_{t−1} + b u_t, Eq. (R8).
    Linear,
}

impl Nonlinearity {
    /// `"linear"` → [`Nonlinearity::Linear`], anything else → tanh.
    pub fn parse(name: &str) -> Self {
        if name == "linear" {
            Nonlinearity::Linear
        } else {
            Nonlinearity::Tanh
        }
    }
}

/// The tanh RNN of the gradient curve (small inputs, as the static figure).
fn gradient_rnn(rho: f64) -> ssm_lineage::Result<ElmanRnn> {
    ElmanRnn::random(&config(rho, 0.02), 3)
}

/// The tanh RNN of the memory curve (inputs of scale 0.3, as the static figure).
fn memory_rnn(rho: f64) -> ssm_lineage::Result<ElmanRnn> {
    ElmanRnn::random(&config(rho, 0.3), 31)
}

fn config(rho: f64, input_scale: f64) -> RnnConfig {
    RnnConfig {
        hidden: HIDDEN,
        input: 1,
        output: 1,
        spectral_radius: rho,
        input_scale,
    }
}

/// ‖∂h_t/∂h_0‖ (spectral norm) for t = 1..STEPS, one factor of Eq. (R4) at a
/// time: diag(1 − h_k²) W_hh for tanh, A for the linear RNN (A = ρQ).
///
/// # Errors
/// An invalid ρ (negative or not finite).
pub fn gradient_norms(
    rho: f64,
    nonlinearity: Nonlinearity,
) -> ssm_lineage::Result<Vec<(f64, f64)>> {
    let x = normal_matrix(&mut seeded(10), STEPS, 1, 1.0);
    let mut product = DMatrix::identity(HIDDEN, HIDDEN);
    match nonlinearity {
        Nonlinearity::Tanh => {
            let rnn = gradient_rnn(rho)?;
            let hs = rnn.hidden_states(&x, &DVector::zeros(HIDDEN));
            Ok((1..STEPS)
                .map(|t| {
                    product = step_jacobian(&rnn, &hs.row(t).transpose()) * &product;
                    (t as f64, product.singular_values().max())
                })
                .collect())
        }
        Nonlinearity::Linear => {
            let rnn = LinearRnn::random(HIDDEN, rho, 32)?;
            Ok((1..STEPS)
                .map(|t| {
                    product = &rnn.a * &product;
                    (t as f64, product.singular_values().max())
                })
                .collect())
        }
    }
}

/// The states, row t = h_t, of the RNN driven by unit white noise `u`.
fn states(
    rho: f64,
    nonlinearity: Nonlinearity,
    u: &DMatrix<f64>,
) -> ssm_lineage::Result<DMatrix<f64>> {
    match nonlinearity {
        Nonlinearity::Tanh => {
            Ok(memory_rnn(rho)?.hidden_states(u, &DVector::zeros(HIDDEN)))
        }
        Nonlinearity::Linear => {
            let rnn = LinearRnn::random(HIDDEN, rho, 32)?;
            let mut h = DVector::zeros(HIDDEN);
            let rows: Vec<_> = u
                .iter()
                .map(|&u_t| {
                    h = &rnn.a * &h + &rnn.b * u_t;
                    h.transpose()
                })
                .collect();
            Ok(DMatrix::from_rows(&rows))
        }
    }
}

/// The memory curve R²_k, k = 0..MAX_LAG, Eq. (R7), of the RNN driven by
/// unit white noise.
///
/// # Errors
/// An invalid ρ (negative or not finite).
pub fn memory(
    rho: f64,
    nonlinearity: Nonlinearity,
) -> ssm_lineage::Result<Vec<f64>> {
    let u = normal_matrix(&mut seeded(30), SAMPLES, 1, 1.0);
    let hs = states(rho, nonlinearity, &u)?;
    Ok(memory_curve_one_fit(&hs, u.as_slice(), MAX_LAG, WASHOUT))
}

/// [`memory_curve`] with one least-squares fit for every lag: when
/// `washout ≥ max_lag`, every lag's readout is fitted on the same rows
/// t ≥ washout of the same features [h_t; 1], so one SVD serves all the
/// lags (the crate's function, written for any washout, factors them once
/// per lag). Same numbers (tested), a fraction of the time; falls back to
/// [`memory_curve`] when `washout < max_lag`.
///
/// # Panics
/// As [`memory_curve`].
pub fn memory_curve_one_fit(
    states: &DMatrix<f64>,
    u: &[f64],
    max_lag: usize,
    washout: usize,
) -> Vec<f64> {
    let (len, n) = states.shape();
    let finite = states.iter().chain(u).all(|v| v.is_finite());
    if washout < max_lag || u.len() != len || len < washout + n + 2 || !finite {
        return memory_curve(states, u, max_lag, washout);
    }
    let rows = len - washout;
    let features = DMatrix::from_fn(rows, n + 1, |i, j| {
        if j < n { states[(washout + i, j)] } else { 1.0 }
    });
    // Column k: u_{t−k} for the rows t ≥ washout.
    let targets = DMatrix::from_fn(rows, max_lag, |i, k| u[washout + i - k]);
    let w = features
        .clone()
        .svd(true, true)
        .solve(&targets, 1e-12)
        .unwrap_or_else(|_| DMatrix::zeros(n + 1, max_lag));
    let residuals = &features * w - &targets;
    (0..max_lag)
        .map(|k| {
            let target = targets.column(k);
            let mean = target.mean();
            let total: f64 = target.iter().map(|v| (v - mean).powi(2)).sum();
            if total == 0.0 {
                0.0
            } else {
                1.0 - residuals.column(k).norm_squared() / total
            }
        })
        .collect()
}

/// The widget: the gradient norm against the lag beside the bound ρᵗ, and
/// the memory curve. Numbers: `grad50` (‖∂h₅₀/∂h₀‖), `capacity` (Σ_k R²_k,
/// at most n) and `n`.
pub fn rnn(rho: f64, nonlinearity: Nonlinearity) -> Widget {
    match draw(rho, nonlinearity) {
        Ok(w) => w,
        Err(e) => Widget::message(&e.to_string()),
    }
}

fn draw(rho: f64, nonlinearity: Nonlinearity) -> ssm_lineage::Result<Widget> {
    let name = match nonlinearity {
        Nonlinearity::Tanh => "tanh RNN",
        Nonlinearity::Linear => "linear RNN",
    };
    let norms = gradient_norms(rho, nonlinearity)?;
    let bound = (1..STEPS).map(|t| (t as f64, rho.powi(t as i32))).collect();
    let gradients = LinePlot::new(
        &format!("Gradient norm, {name}, ρ = {rho:.2} (n = {HIDDEN})"),
        "lag t (steps)",
        "spectral norm of ∂hₜ/∂h₀",
    )
    .scales(Scale::Linear, Scale::Log)
    .line(name, norms.clone())
    .dashed("bound ρᵗ", bound);
    let r2 = memory(rho, nonlinearity)?;
    let capacity: f64 = r2.iter().sum();
    let recall = LinePlot::new(
        &format!("Memory curve, Σ R² = {capacity:.2} (n = {HIDDEN})"),
        "lag k (steps)",
        "R² of the best linear readout",
    )
    .ranges(0.0..MAX_LAG as f64, -0.05..1.25)
    .line(
        name,
        r2.iter()
            .enumerate()
            .filter(|(_, r)| r.is_finite())
            .map(|(k, &r)| (k as f64, r))
            .collect(),
    );
    let grad50 = norms.get(49).map_or(f64::NAN, |p| p.1);
    Ok(Widget {
        svg: grid_to_svg(&[gradients, recall], 1)?,
        numbers: vec![
            ("grad50".into(), grad50),
            ("capacity".into(), capacity),
            ("n".into(), HIDDEN as f64),
        ],
    })
}

/// The page's call: `ch01_rnn(ρ, "tanh" | "linear")` → the widget as JSON.
#[wasm_bindgen]
pub fn ch01_rnn(rho: f64, nonlinearity: &str) -> String {
    rnn(rho, Nonlinearity::parse(nonlinearity)).to_json()
}

/// The page reads the number at full precision; the wasm build's libm
/// (exp, tanh, sin) may differ from the native one in the last bit, which
/// these computations amplify far less than a millionfold.
const PLATFORM: f64 = 1e-6;

/// This chapter's browser-check cases: ρ set to 1.1 (tanh) must show the
/// native gradient norm at lag 50.
pub fn cases() -> Vec<BrowserCase> {
    let w = rnn(1.1, Nonlinearity::Tanh);
    let grad50 = w.number("grad50").unwrap_or(f64::NAN);
    vec![BrowserCase {
        widget: "ch01-rnn",
        control: "ch01-rnn-rho",
        value: "1.1".into(),
        number: "grad50",
        expected: grad50,
        tolerance: PLATFORM * grad50.abs(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssm_lineage::rnn::bptt::jacobian_product;

    /// Products of up to 100 16 × 16 factors: a few hundred roundings.
    const PRODUCT_TOL: f64 = 1e-10;

    #[test]
    fn the_tanh_gradient_is_chapter_1s_jacobian_product() {
        for rho in [0.8, 1.0, 1.2] {
            let w = rnn(rho, Nonlinearity::Tanh);
            let rnn = gradient_rnn(rho).unwrap();
            let x = normal_matrix(&mut seeded(10), STEPS, 1, 1.0);
            let hs = rnn.hidden_states(&x, &DVector::zeros(HIDDEN));
            let want = jacobian_product(&rnn, &hs, 0, 50).singular_values().max();
            let got = w.number("grad50").unwrap();
            assert!((got - want).abs() <= PRODUCT_TOL * want, "{got} vs {want}");
        }
    }

    #[test]
    fn tanh_stays_under_the_bound_and_linear_meets_it() {
        for rho in [0.7, 0.95, 1.15] {
            for (t, g) in gradient_norms(rho, Nonlinearity::Tanh).unwrap() {
                let bound = rho.powi(t as i32);
                assert!(g <= bound * (1.0 + PRODUCT_TOL), "t {t}: {g} > {bound}");
            }
            // A = ρQ with Q orthogonal: ‖Aᵗ‖ = ρᵗ exactly.
            for (t, g) in gradient_norms(rho, Nonlinearity::Linear).unwrap() {
                let bound = rho.powi(t as i32);
                assert!((g - bound).abs() <= PRODUCT_TOL * bound, "t {t}");
            }
        }
    }

    /// The capacity is at most n for the population R²; a readout fitted on
    /// the same m rows gains about (n + 1)/m per lag by chance (m ≥ 560 here).
    const OPTIMISM: f64 = MAX_LAG as f64 * (HIDDEN as f64 + 1.0)
        / (SAMPLES - WASHOUT - MAX_LAG) as f64;

    /// One SVD or one per lag of the same least-squares problem: each R²
    /// agrees to well-conditioned roundings.
    const ONE_FIT: f64 = 1e-9;

    #[test]
    fn one_fit_for_every_lag_is_the_crates_memory_curve() {
        let u = normal_matrix(&mut seeded(30), SAMPLES, 1, 1.0);
        for (rho, nl) in [(0.5, Nonlinearity::Tanh), (0.99, Nonlinearity::Linear)] {
            let hs = states(rho, nl, &u).unwrap();
            let fast = memory_curve_one_fit(&hs, u.as_slice(), MAX_LAG, WASHOUT);
            let slow = memory_curve(&hs, u.as_slice(), MAX_LAG, WASHOUT);
            for (k, (a, b)) in fast.iter().zip(&slow).enumerate() {
                assert!((a - b).abs() < ONE_FIT, "lag {k}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn the_capacity_is_the_crates_memory_curve_and_at_most_n() {
        for nl in [Nonlinearity::Tanh, Nonlinearity::Linear] {
            let w = rnn(0.9, nl);
            let u = normal_matrix(&mut seeded(30), SAMPLES, 1, 1.0);
            let want: f64 = memory_curve(
                &states(0.9, nl, &u).unwrap(),
                u.as_slice(),
                MAX_LAG,
                WASHOUT,
            )
            .iter()
            .sum();
            let got = w.number("capacity").unwrap();
            assert!(
                (got - want).abs() < ONE_FIT * MAX_LAG as f64,
                "{got} vs {want}"
            );
            assert!(
                got > 1.0 && got <= HIDDEN as f64 + OPTIMISM,
                "{nl:?}: {got}"
            );
        }
    }

    #[test]
    fn an_exploding_linear_state_still_draws() {
        // At ρ = 1.3 the state grows like 1.3ᵗ (about 10²²⁸ after 2000
        // steps); the gradient norm is still ρ⁵⁰.
        let w = rnn(1.3, Nonlinearity::Linear);
        assert!(w.svg.contains("<svg") && w.number("capacity").is_some());
        let grad50 = w.number("grad50").unwrap();
        assert!((grad50 / 1.3f64.powi(50) - 1.0).abs() < PRODUCT_TOL);
    }

    #[test]
    fn a_negative_radius_shows_a_message_and_the_case_its_number() {
        let w = rnn(-1.0, Nonlinearity::Tanh);
        assert!(w.numbers.is_empty() && w.svg.contains("spectral_radius"));
        let case = &cases()[0];
        assert!(case.expected.is_finite() && case.expected > 0.0);
        let json = ch01_rnn(1.1, "tanh");
        assert!(json.contains("\"grad50\""));
    }
}
