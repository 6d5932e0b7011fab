//! Chapter 5: the S4D initialisations: their spectra, and the kernels they
//! start from; Δ as a timescale; S4D-LegS against S4-LegS. Writes
//! `chapters/figures/ch05/{spectra,kernels,timescale,legs-diagonal}.svg`.
//!
//! Run: `cargo run --release --example ch05_s4d`

use std::process::ExitCode;

use nalgebra::{Complex, DVector};
use ssm_lineage::hippo::transitions::legs;
use ssm_lineage::lssl::views::kernel_naive;
use ssm_lineage::lssl::{Rule, Ssm, discretize};
use ssm_lineage::s4::nplr::nplr_legs;
use ssm_lineage::s4d::S4dInit;
use ssm_lineage::s4d::init::{eigenvalues, input_vector};
use ssm_lineage::s4d::kernel::vandermonde_kernel;
use ssm_lineage::support::figure::{LinePlot, exit_code, figure_path, save_grid};

const N: usize = 64;
const INITS: [(S4dInit, &str); 4] = [
    (S4dInit::Lin, "S4D-Lin: −½ + iπn"),
    (S4dInit::Inv, "S4D-Inv: −½ + i(N/π)(N/(2n+1) − 1)"),
    (S4dInit::Real, "S4D-Real: −(n+1)"),
    (S4dInit::Legs, "S4D-LegS: spectrum of LegS's normal part"),
];

fn main() -> ExitCode {
    exit_code("ch05_s4d", run())
}

fn spectra() -> ssm_lineage::Result<()> {
    let mut plots = Vec::new();
    for (init, title) in INITS {
        let lambda = eigenvalues(init, N)?;
        let points = lambda.iter().map(|l| (l.re, l.im)).collect();
        plots.push(
            LinePlot::new(title, "Re λ", "Im λ")
                .points(&format!("{} modes (N = {N})", N / 2), points),
        );
    }
    save_grid(&figure_path("ch05", "spectra.svg"), &plots, 2)
}

/// The three steps Δ each kernel panel is drawn at, and its number of taps.
/// Every step is small enough that every mode turns by less than π per step
/// (|Im λ| Δ < π), so that no mode is aliased onto a slower one: S4D-Lin's
/// fastest mode turns at 31π ≈ 97 per time unit at N = 64, S4D-Inv's and
/// S4D-LegS's at about 1300, which needs Δ < 0.0024; S4D-Real does not turn.
/// S4D-Inv and S4D-LegS are drawn over fewer taps, so that their fastest
/// oscillations (a period of 5 to 24 steps) can be told apart.
fn steps(init: S4dInit) -> ([f64; 3], usize) {
    match init {
        S4dInit::Lin => ([0.01, 0.02, 0.03], 400),
        S4dInit::Real => ([0.01, 0.03, 0.1], 400),
        S4dInit::Inv | S4dInit::Legs => ([0.0002, 0.0005, 0.001], 120),
    }
}

fn kernels() -> ssm_lineage::Result<()> {
    let c: Vec<Complex<f64>> = (0..N / 2)
        .map(|n| Complex::new(1.0 / (1.0 + n as f64), 0.0))
        .collect();
    let mut plots = Vec::new();
    for (init, title) in INITS {
        let (dts, len) = steps(init);
        let lambda = eigenvalues(init, N)?;
        let b = input_vector(init, N)?;
        let mut plot = LinePlot::new(title, "lag s (steps)", "K̄[s] / Δ");
        let fastest = lambda.iter().map(|l| l.im.abs()).fold(0.0, f64::max);
        for dt in dts {
            if fastest * dt >= std::f64::consts::PI {
                return Err(ssm_lineage::Error::InvalidParameter {
                    name: "dt",
                    value: format!("{dt} ({title})"),
                    allowed: "a step at which every mode turns by less than π",
                });
            }
            let k = vandermonde_kernel(&lambda, &b, &c, dt, Rule::Zoh, len)?;
            plot = plot.line(
                &format!("Δ = {dt}"),
                k.iter()
                    .enumerate()
                    .map(|(l, v)| (l as f64, v / dt))
                    .collect(),
            );
        }
        plots.push(plot);
    }
    save_grid(&figure_path("ch05", "kernels.svg"), &plots, 2)
}

/// Δ is a timescale: one S4D-Lin kernel (N = 8) at three steps, against
/// the lag in steps and against the time sΔ, where the three fall on one
/// curve.
fn timescale() -> ssm_lineage::Result<()> {
    let n = 8;
    let lambda = eigenvalues(S4dInit::Lin, n)?;
    let b = input_vector(S4dInit::Lin, n)?;
    let c: Vec<Complex<f64>> = (0..n / 2)
        .map(|k| Complex::new(1.0 / (1.0 + k as f64), 0.0))
        .collect();
    let mut steps = LinePlot::new("Against the lag", "lag s (steps)", "K̄[s] / Δ");
    let mut time = LinePlot::new("Against the time sΔ", "time sΔ", "K̄[s] / Δ");
    for dt in [0.01, 0.02, 0.05] {
        let len = (6.0 / dt) as usize;
        let k = vandermonde_kernel(&lambda, &b, &c, dt, Rule::Zoh, len)?;
        let scaled = |x: fn(usize, f64) -> f64| -> Vec<(f64, f64)> {
            k.iter()
                .enumerate()
                .map(|(l, v)| (x(l, dt), v / dt))
                .collect()
        };
        let name = format!("Δ = {dt}");
        steps = steps.line(&name, scaled(|l, _| l as f64));
        time = time.line(&name, scaled(|l, dt| l as f64 * dt));
    }
    save_grid(&figure_path("ch05", "timescale.svg"), &[steps, time], 1)
}

/// "Diagonal is enough": the kernel of HiPPO-LegS (dense, N = 16, 64, 256)
/// against S4D-LegS, its normal part alone with B halved, for the output
/// row C_n = 1/(1 + n), at Δ = 0.01 (ZOH), against the time sΔ.
fn legs_diagonal() -> ssm_lineage::Result<()> {
    let dt = 0.01;
    let len = 500;
    let mut plots = Vec::new();
    for n in [16, 64, 256] {
        let t = legs(n)?;
        let c = DVector::from_fn(n, |i, _| 1.0 / (1.0 + i as f64));
        let full = Ssm::new(t.a, t.b, c.clone(), 0.0)?;
        let dense = kernel_naive(&discretize(&full, dt, Rule::Zoh)?, len);
        let dplr = nplr_legs(n)?;
        let c_modes: Vec<Complex<f64>> = (0..n / 2)
            .map(|k| (0..n).map(|i| dplr.v[(i, k)] * c[i]).sum())
            .collect();
        let half_b: Vec<Complex<f64>> = dplr.b.iter().map(|b| b * 0.5).collect();
        let diagonal =
            vandermonde_kernel(&dplr.lambda, &half_b, &c_modes, dt, Rule::Zoh, len)?;
        let curve = |k: &[f64]| -> Vec<(f64, f64)> {
            k.iter()
                .enumerate()
                .map(|(l, v)| (l as f64 * dt, v / dt))
                .collect()
        };
        plots.push(
            LinePlot::new(&format!("N = {n}"), "time sΔ", "K̄[s] / Δ")
                .line("S4D-LegS (Λ alone, B/2)", curve(&diagonal))
                .line("S4-LegS (A = Λ − PP*)", curve(&dense)),
        );
    }
    save_grid(&figure_path("ch05", "legs-diagonal.svg"), &plots, 1)
}

fn run() -> ssm_lineage::Result<()> {
    spectra()?;
    kernels()?;
    timescale()?;
    legs_diagonal()
}
