//! Chapter 5: the S4D initialisations: their spectra, and the kernels they
//! start from. Writes `chapters/figures/ch05/spectra.svg` and
//! `chapters/figures/ch05/kernels.svg`.
//!
//! Run: `cargo run --release --example ch05_s4d`

use std::process::ExitCode;

use nalgebra::Complex;
use ssm_lineage::lssl::Rule;
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

fn kernels() -> ssm_lineage::Result<()> {
    let c: Vec<Complex<f64>> = (0..N / 2)
        .map(|n| Complex::new(1.0 / (1.0 + n as f64), 0.0))
        .collect();
    let len = 400;
    let mut plots = Vec::new();
    for (init, title) in INITS {
        let lambda = eigenvalues(init, N)?;
        let b = input_vector(init, N)?;
        let mut plot = LinePlot::new(title, "lag ℓ (steps)", "K̄_ℓ / Δ");
        for dt in [0.01, 0.03, 0.1] {
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

fn run() -> ssm_lineage::Result<()> {
    spectra()?;
    kernels()
}
