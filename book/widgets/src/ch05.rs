//! Chapter 5's widget: the eigenvalues of a diagonal state space model (an
//! S4D initialisation at state size N, a random set, or one mode placed by
//! hand) and the step Δ → the eigenvalues in the complex plane, the kernel
//! (Eq. D1, `s4d::kernel::vandermonde_kernel`), the kernel's spectrum, and
//! the memory curve (chapter 1's R²_k of the diagonal recurrence's state,
//! `rnn::memory::memory_curve` with one fit for every lag).
//! For S4D-LegS, S4's dense LegS kernel at the same N and Δ is drawn beside
//! it (the computation of `examples/ch05_s4d.rs`'s legs-diagonal figure).

use nalgebra::{Complex, DMatrix, DVector};
use ssm_lineage::hippo::transitions::legs;
use ssm_lineage::lssl::discretize::discretize_diagonal;
use ssm_lineage::lssl::views::kernel_naive;
use ssm_lineage::lssl::{Rule, Ssm, discretize};
use ssm_lineage::s4::nplr::nplr_legs;
use ssm_lineage::s4d::S4dInit;
use ssm_lineage::s4d::init::{eigenvalues, input_vector};
use ssm_lineage::s4d::kernel::vandermonde_kernel;
use ssm_lineage::support::fft::fft;
use ssm_lineage::support::figure::{LinePlot, Scale, grid_to_svg};
use ssm_lineage::support::rng::{log_uniform, normal_matrix, seeded};
use wasm_bindgen::prelude::wasm_bindgen;

use crate::ch01::memory_curve_one_fit;
use crate::{BrowserCase, Widget};

/// The kernel's taps (a power of two: its spectrum is one FFT).
pub const LEN: usize = 256;
/// The largest state size offered.
pub const MAX_N: usize = 64;
/// The input samples the memory readout is fitted on.
pub const SAMPLES: usize = 2000;
/// The first states left out of the fit.
pub const WASHOUT: usize = 100;
/// The lags k = 0..MAX_LAG of the memory curve.
pub const MAX_LAG: usize = 40;

/// Where the eigenvalues come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Modes {
    /// One of the paper's initialisations, with B from `input_vector` and
    /// C_n = 1/(1 + n) (as the static kernels figure); S4D-LegS as the
    /// legs-diagonal figure (B halved, C = 1/(1 + i) in LegS's basis).
    Init(S4dInit),
    /// N/2 random modes (seed 7): Re λ = −e^u, u uniform on [ln 0.1, ln 2],
    /// Im λ log-uniform on [0.5, πN/2]; B = 1, C_n = 1/(1 + n).
    Random,
    /// One mode λ = re + i·im placed by hand (N = 2), B = C = 1.
    Placed(f64, f64),
}

impl Modes {
    /// `"lin"`, `"inv"`, `"real"`, `"legs"`, `"random"`; `"mode"` is the
    /// placed mode λ = re + i·im.
    pub fn parse(name: &str, re: f64, im: f64) -> Self {
        match name {
            "inv" => Modes::Init(S4dInit::Inv),
            "real" => Modes::Init(S4dInit::Real),
            "legs" => Modes::Init(S4dInit::Legs),
            "random" => Modes::Random,
            "mode" => Modes::Placed(re, im),
            _ => Modes::Init(S4dInit::Lin),
        }
    }

    fn name(self) -> String {
        match self {
            Modes::Init(S4dInit::Lin) => "S4D-Lin".into(),
            Modes::Init(S4dInit::Inv) => "S4D-Inv".into(),
            Modes::Init(S4dInit::Real) => "S4D-Real".into(),
            Modes::Init(S4dInit::Legs) => "S4D-LegS".into(),
            Modes::Random => "random modes".into(),
            Modes::Placed(re, im) => format!("λ = {re:.2} + {im:.2}i"),
        }
    }
}

/// One mode of each conjugate pair: (λ, B, C), each `(N/2,)`.
pub type Diagonal = (Vec<Complex<f64>>, Vec<Complex<f64>>, Vec<Complex<f64>>);

/// The modes (λ, B, C) of a real state of size `n` (`n` is ignored for a
/// placed mode, which is one pair).
///
/// # Errors
/// An `n` that is odd, below 2 or above [`MAX_N`]; a placed mode that is
/// not finite.
pub fn diagonal(modes: Modes, n: usize) -> ssm_lineage::Result<Diagonal> {
    if n > MAX_N {
        return Err(ssm_lineage::Error::invalid("n", n, "at most 64 here"));
    }
    let one = Complex::new(1.0, 0.0);
    let falling =
        |count: usize| (0..count).map(|k| Complex::new(1.0 / (1.0 + k as f64), 0.0));
    match modes {
        Modes::Init(S4dInit::Legs) => {
            let dplr = nplr_legs(n)?;
            let c_modes = (0..n / 2)
                .map(|k| (0..n).map(|i| dplr.v[(i, k)] / (1.0 + i as f64)).sum())
                .collect();
            let half_b = dplr.b.iter().map(|b| b * 0.5).collect();
            Ok((dplr.lambda, half_b, c_modes))
        }
        Modes::Init(init) => Ok((
            eigenvalues(init, n)?,
            input_vector(init, n)?,
            falling(n / 2).collect(),
        )),
        Modes::Random => {
            let lambda = eigenvalues(S4dInit::Lin, n)?; // checks n
            let mut rng = seeded(7);
            let top = std::f64::consts::PI * n as f64 / 2.0;
            let lambda = lambda
                .iter()
                .map(|_| {
                    let re = -log_uniform(&mut rng, 0.1, 2.0);
                    Complex::new(re, log_uniform(&mut rng, 0.5, top))
                })
                .collect();
            Ok((lambda, vec![one; n / 2], falling(n / 2).collect()))
        }
        Modes::Placed(re, im) => {
            if !(re.is_finite() && im.is_finite()) {
                return Err(ssm_lineage::Error::invalid("λ", re, "finite"));
            }
            Ok((vec![Complex::new(re, im)], vec![one], vec![one]))
        }
    }
}

/// The states of the diagonal recurrence z_t = Ā z_{t−1} + B̄ u_t (ZOH) as
/// real features, row t = (Re z_t, Im z_t): the state of the real system
/// with the same kernel (`s4d::kernel::real_realization`), up to a fixed
/// invertible map, so the best linear readout recovers the same.
pub fn states(
    (lambda, b, _): &Diagonal,
    dt: f64,
    u: &[f64],
) -> ssm_lineage::Result<DMatrix<f64>> {
    let (a_bar, b_bar) = discretize_diagonal(lambda, b, dt, Rule::Zoh)?;
    let m = lambda.len();
    let mut z = vec![Complex::new(0.0, 0.0); m];
    let mut rows = DMatrix::zeros(u.len(), 2 * m);
    for (t, &u_t) in u.iter().enumerate() {
        for k in 0..m {
            z[k] = a_bar[k] * z[k] + b_bar[k] * u_t;
            rows[(t, 2 * k)] = z[k].re;
            rows[(t, 2 * k + 1)] = z[k].im;
        }
    }
    Ok(rows)
}

/// The magnitude of the kernel's discrete Fourier transform at the
/// frequencies 0..½ cycle per step (LEN/2 + 1 bins).
pub fn kernel_spectrum(k: &[f64]) -> Vec<(f64, f64)> {
    let x: Vec<Complex<f64>> = k.iter().map(|&v| Complex::new(v, 0.0)).collect();
    let spectrum = fft(&x);
    let len = k.len() as f64;
    spectrum
        .iter()
        .take(k.len() / 2 + 1)
        .enumerate()
        .map(|(j, v)| (j as f64 / len, v.norm()))
        .collect()
}

/// The widget: eigenvalues, kernel K̄[s]/Δ (with S4's dense LegS kernel for
/// S4D-LegS), its spectrum, and the memory curve. Numbers: `turn` (the
/// fastest mode's turn per step, max |Im λ|Δ/π: at 1 or more a mode is
/// aliased onto a slower one), `k0` (K̄[0]/Δ), `capacity` (Σ_k R²_k, at
/// most N), and for S4D-LegS `s4_gap` (the largest difference between the
/// two kernels over the largest |S4 kernel|).
pub fn s4d(modes: Modes, n: usize, dt: f64) -> Widget {
    match draw(modes, n, dt) {
        Ok(w) => w,
        Err(e) => Widget::message(&e.to_string()),
    }
}

fn draw(modes: Modes, n: usize, dt: f64) -> ssm_lineage::Result<Widget> {
    let d = diagonal(modes, n)?;
    let (lambda, b, c) = &d;
    let n = 2 * lambda.len();
    let name = modes.name();
    let k = vandermonde_kernel(lambda, b, c, dt, Rule::Zoh, LEN)?;
    let per_dt = |k: &[f64]| -> Vec<(f64, f64)> {
        k.iter()
            .enumerate()
            .map(|(s, v)| (s as f64, v / dt))
            .collect()
    };
    let mut kernel =
        LinePlot::new(&format!("Kernel, Δ = {dt:.4}"), "lag s (steps)", "K̄[s] / Δ")
            .line(&name, per_dt(&k));
    let mut numbers = Vec::new();
    if modes == Modes::Init(S4dInit::Legs) {
        let t = legs(n)?;
        let c_dense = DVector::from_fn(n, |i, _| 1.0 / (1.0 + i as f64));
        let full = Ssm::new(t.a, t.b, c_dense, 0.0)?;
        let dense = kernel_naive(&discretize(&full, dt, Rule::Zoh)?, LEN);
        let scale = dense.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let gap = k
            .iter()
            .zip(&dense)
            .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
        numbers.push(("s4_gap".to_string(), gap / scale));
        kernel = kernel.dashed("S4-LegS (dense A)", per_dt(&dense));
    }
    let eig =
        LinePlot::new(&format!("Eigenvalues, {name} (N = {n})"), "Re λ", "Im λ")
            .points(
                &format!("{} modes", lambda.len()),
                lambda.iter().map(|l| (l.re, l.im)).collect(),
            );
    let spectrum = LinePlot::new(
        "Spectrum of the kernel",
        "frequency (cycles per step)",
        "|DFT of K̄|",
    )
    .scales(Scale::Linear, Scale::Log)
    .line(&name, kernel_spectrum(&k));
    let u = normal_matrix(&mut seeded(30), SAMPLES, 1, 1.0);
    let r2 = memory_curve_one_fit(
        &states(&d, dt, u.as_slice())?,
        u.as_slice(),
        MAX_LAG,
        WASHOUT,
    );
    let capacity: f64 = r2.iter().sum();
    let memory = LinePlot::new(
        &format!("Memory curve, Σ R² = {capacity:.2}"),
        "lag k (steps)",
        "R² of the best linear readout",
    )
    .ranges(0.0..MAX_LAG as f64, -0.05..1.25)
    .line(
        &name,
        r2.iter()
            .enumerate()
            .filter(|(_, r)| r.is_finite())
            .map(|(k, &r)| (k as f64, r))
            .collect(),
    );
    let fastest = lambda.iter().map(|l| l.im.abs()).fold(0.0, f64::max);
    numbers.splice(
        0..0,
        [
            ("turn".to_string(), fastest * dt / std::f64::consts::PI),
            ("k0".to_string(), k[0] / dt),
            ("capacity".to_string(), capacity),
        ],
    );
    Ok(Widget {
        svg: grid_to_svg(&[eig, kernel, spectrum, memory], 2)?,
        numbers,
    })
}

/// The page's call: `ch05_s4d(init, N, log10 Δ, Re λ, Im λ)` with init one
/// of `"lin"`, `"inv"`, `"real"`, `"legs"`, `"random"`, `"mode"` (the last
/// uses Re λ and Im λ) → the widget as JSON.
#[wasm_bindgen]
pub fn ch05_s4d(init: &str, n: usize, log_dt: f64, re: f64, im: f64) -> String {
    s4d(Modes::parse(init, re, im), n, 10f64.powf(log_dt)).to_json()
}

/// The page reads the number at full precision; the wasm build's libm
/// (exp, tanh, sin) may differ from the native one in the last bit, which
/// these computations amplify far less than a millionfold.
const PLATFORM: f64 = 1e-6;

/// This chapter's browser-check cases: Δ set to 10^−1.5 (S4D-Lin, N = 16,
/// the page's defaults otherwise) must show the native fastest turn.
pub fn cases() -> Vec<BrowserCase> {
    let w = s4d(Modes::Init(S4dInit::Lin), 16, 10f64.powf(-1.5));
    let turn = w.number("turn").unwrap_or(f64::NAN);
    vec![BrowserCase {
        widget: "ch05-s4d",
        control: "ch05-s4d-logdt",
        value: "-1.5".into(),
        number: "turn",
        expected: turn,
        tolerance: PLATFORM * turn.abs(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssm_lineage::s4d::kernel::real_realization;

    /// Two exact paths to one kernel of at most 256 taps: a few hundred
    /// roundings of values of order 1.
    const SAME_KERNEL: f64 = 1e-10;

    #[test]
    fn the_kernel_is_the_real_systems_kernel() {
        for (modes, n, dt) in [
            (Modes::Init(S4dInit::Lin), 8, 0.05),
            (Modes::Init(S4dInit::Inv), 16, 0.001),
            (Modes::Random, 8, 0.01),
            (Modes::Placed(-0.3, 4.0), 2, 0.1),
        ] {
            let (l, b, c) = diagonal(modes, n).unwrap();
            let dense = real_realization(&l, &b, &c).unwrap();
            let want =
                kernel_naive(&discretize(&dense, dt, Rule::Zoh).unwrap(), LEN);
            let w = s4d(modes, n, dt);
            let k0 = w.number("k0").unwrap();
            assert!((k0 - want[0] / dt).abs() < SAME_KERNEL * (1.0 + k0.abs()));
            let got = vandermonde_kernel(&l, &b, &c, dt, Rule::Zoh, LEN).unwrap();
            for (g, h) in got.iter().zip(&want) {
                assert!((g - h).abs() < SAME_KERNEL, "{modes:?}: {g} vs {h}");
            }
        }
    }

    #[test]
    fn the_spectrum_of_one_mode_peaks_at_its_frequency() {
        // λ = −0.05 + 2π·0.125/Δ i turns an eighth of a cycle per step.
        let dt = 0.1;
        let im = 2.0 * std::f64::consts::PI * 0.125 / dt;
        let (l, b, c) = diagonal(Modes::Placed(-0.05, im), 2).unwrap();
        let k = vandermonde_kernel(&l, &b, &c, dt, Rule::Zoh, LEN).unwrap();
        let spectrum = kernel_spectrum(&k);
        let peak = spectrum
            .iter()
            .fold((0.0, 0.0), |m, p| if p.1 > m.1 { *p } else { m });
        assert_eq!(peak.0, 0.125);
        let w = s4d(Modes::Placed(-0.05, im), 2, dt);
        assert!((w.number("turn").unwrap() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn s4d_legs_follows_s4_legs_closer_at_larger_n() {
        // Chapter 5's "diagonal is enough": the gap shrinks with N.
        let gap = |n| {
            s4d(Modes::Init(S4dInit::Legs), n, 0.01)
                .number("s4_gap")
                .unwrap()
        };
        let (small, large) = (gap(8), gap(64));
        assert!(large < small, "N = 64: {large}, N = 8: {small}");
    }

    #[test]
    fn the_capacity_is_at_most_n_and_larger_for_slower_modes() {
        // Population bound N; a fit on m rows gains about (N + 1)/m per lag.
        let optimism = |n: usize| {
            MAX_LAG as f64 * (n as f64 + 1.0) / (SAMPLES - WASHOUT - MAX_LAG) as f64
        };
        for n in [4, 16] {
            let w = s4d(Modes::Init(S4dInit::Lin), n, 0.05);
            let cap = w.number("capacity").unwrap();
            assert!(cap > 0.5 && cap <= n as f64 + optimism(n), "N = {n}: {cap}");
        }
        // One real mode: decay e^{ΔRe λ} per step; slower decay, more memory.
        let cap = |re| {
            s4d(Modes::Placed(re, 0.0), 2, 0.1)
                .number("capacity")
                .unwrap()
        };
        assert!(cap(-0.5) > cap(-5.0));
    }

    #[test]
    fn the_slider_corners_draw() {
        for (re, im) in [(0.0, 0.0), (0.0, 60.0), (-3.0, 0.0)] {
            for log_dt in [-3.5, -0.5] {
                let w = s4d(Modes::Placed(re, im), 2, 10f64.powf(log_dt));
                assert!(
                    w.number("k0").is_some_and(f64::is_finite),
                    "{re} {im} {log_dt}"
                );
            }
        }
        for init in ["lin", "inv", "real", "legs", "random"] {
            for n in [2, 64] {
                let w = s4d(Modes::parse(init, 0.0, 0.0), n, 10f64.powf(-0.5));
                assert!(w.number("turn").is_some(), "{init} {n}");
            }
        }
    }

    #[test]
    fn bad_parameters_show_a_message_and_the_case_a_number() {
        assert!(s4d(Modes::Init(S4dInit::Lin), 3, 0.01).numbers.is_empty());
        assert!(s4d(Modes::Init(S4dInit::Lin), 8, -1.0).numbers.is_empty());
        assert!(s4d(Modes::Init(S4dInit::Lin), 128, 0.01).numbers.is_empty());
        let case = &cases()[0];
        assert!(case.expected.is_finite() && case.expected > 0.0);
        assert!(ch05_s4d("mode", 8, -1.0, -0.5, 3.0).contains("\"turn\""));
    }
}
