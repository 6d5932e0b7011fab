//! Chapter 4: S4's kernels and spectra. For HiPPO-LegS, the s4 LegT and
//! S4-FouT (N = 64): the convolution kernel at a few Δ (output row
//! C_n = 1/(1 + n) in state coordinates), the spectrum Λ of the normal part
//! in the complex plane, and the time to build one kernel against L for the
//! naive route (powers of the dense Ā), the Cauchy route (S4) and the
//! Vandermonde route (S4D, same number of modes) at N = 256. Writes
//! `chapters/figures/ch04/kernels.svg`, `chapters/figures/ch04/spectra.svg`
//! and `chapters/figures/ch04/measured-kernel-time.svg`.
//!
//! Run: `cargo run --release --example ch04_s4_kernels`

use std::hint::black_box;
use std::process::ExitCode;

use nalgebra::DVector;
use ssm_lineage::hippo::Transition;
use ssm_lineage::hippo::transitions::{fout, legs, legt};
use ssm_lineage::lssl::Rule;
use ssm_lineage::lssl::Ssm;
use ssm_lineage::lssl::discretize::{discretize_bilinear, discretize_diagonal};
use ssm_lineage::lssl::views::kernel_naive;
use ssm_lineage::s4::Dplr;
use ssm_lineage::s4::kernel::{c_tilde_from, kernel_dplr};
use ssm_lineage::s4::nplr::{nplr_fout, nplr_legs, nplr_legt};
use ssm_lineage::s4d::kernel::vandermonde_kernel_fast;
use ssm_lineage::support::figure::{
    LinePlot, Scale, exit_code, figure_path, save_grid,
};
use ssm_lineage::support::timing::best_within;

const N: usize = 64;
/// The state size of the timing figure: large enough that the naive route's
/// O(N²) per tap shows against the Cauchy route's O(N).
const TIMING_N: usize = 256;

fn main() -> ExitCode {
    exit_code("ch04_s4_kernels", run())
}

type Build = fn(usize) -> ssm_lineage::Result<(Transition, Dplr)>;

fn measures() -> [(&'static str, Build); 3] {
    [
        ("S4-LegS (rank 1)", |n| Ok((legs(n)?, nplr_legs(n)?))),
        ("S4-LegT (rank 2, window 2/Δ)", |n| {
            Ok((legt(n, 2.0)?, nplr_legt(n)?))
        }),
        ("S4-FouT (rank 1, window 2/Δ)", |n| {
            Ok((fout(n)?, nplr_fout(n)?))
        }),
    ]
}

fn output_row() -> DVector<f64> {
    DVector::from_fn(N, |n, _| 1.0 / (1.0 + n as f64))
}

fn kernels() -> ssm_lineage::Result<()> {
    let len = 400;
    let c = output_row();
    let mut plots = Vec::new();
    for (title, build) in measures() {
        let (t, dplr) = build(N)?;
        let mut plot = LinePlot::new(title, "lag s (steps)", "K̄[s] / Δ");
        for dt in [0.01, 0.03, 0.1] {
            let ssm = Ssm::new(t.a.clone(), t.b.clone(), c.clone(), 0.0)?;
            let a_bar = discretize_bilinear(&ssm, dt)?.a_bar;
            let k =
                kernel_dplr(&dplr, &c_tilde_from(&dplr, &a_bar, &c, len), dt, len)?;
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
    save_grid(&figure_path("ch04", "kernels.svg"), &plots, 1)
}

fn spectra() -> ssm_lineage::Result<()> {
    let mut plots = Vec::new();
    for (title, build) in measures() {
        let (_, dplr) = build(N)?;
        let points = dplr.lambda.iter().map(|l| (l.re, l.im)).collect();
        plots.push(
            LinePlot::new(title, "Re λ", "Im λ (kept half)")
                .points(&format!("{} modes (N = {N})", N / 2), points),
        );
    }
    save_grid(&figure_path("ch04", "spectra.svg"), &plots, 1)
}

fn timing() -> ssm_lineage::Result<()> {
    let (t, dplr) = (legs(TIMING_N)?, nplr_legs(TIMING_N)?);
    let c = DVector::from_fn(TIMING_N, |n, _| 1.0 / (1.0 + n as f64));
    let dt = 0.01;
    let ssm = Ssm::new(t.a.clone(), t.b.clone(), c.clone(), 0.0)?;
    let disc = discretize_bilinear(&ssm, dt)?;
    // A diagonal system with the same number of modes for the Vandermonde route.
    let (a_bar, weights) =
        discretize_diagonal(&dplr.lambda, &dplr.b, dt, Rule::Bilinear)?;
    let (mut naive, mut cauchy, mut vandermonde) = (vec![], vec![], vec![]);
    println!(
        "one kernel, N = {TIMING_N}: {:>7} {:>12} {:>12} {:>12}",
        "L", "naive (ms)", "Cauchy (ms)", "Vandermonde"
    );
    for len in [64, 256, 1024, 4096, 16384] {
        let c_tilde = c_tilde_from(&dplr, &disc.a_bar, &c, len);
        let budget = 0.2;
        let t_naive =
            best_within(budget, || drop(black_box(kernel_naive(&disc, len))));
        let mut failed = None;
        let t_cauchy = best_within(budget, || {
            if let Err(e) = kernel_dplr(&dplr, &c_tilde, dt, len) {
                failed = Some(e);
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let t_vandermonde = best_within(budget, || {
            drop(black_box(vandermonde_kernel_fast(&a_bar, &weights, len)));
        });
        println!(
            "                   {len:>7} {:>12.3} {:>12.3} {:>12.3}",
            1e3 * t_naive,
            1e3 * t_cauchy,
            1e3 * t_vandermonde
        );
        naive.push((len as f64, t_naive));
        cauchy.push((len as f64, t_cauchy));
        vandermonde.push((len as f64, t_vandermonde));
    }
    LinePlot::new(
        &format!("Time to build one kernel (N = {TIMING_N}, measured)"),
        "kernel length L",
        "seconds (log scale)",
    )
    .scales(Scale::Log, Scale::Log)
    .line("naive: powers of the dense Ā, O(N²L)", naive)
    .line("S4: Cauchy sums + Woodbury + FFT, O(NL + L log L)", cauchy)
    .line("S4D: Vandermonde (two real GEMMs), O(NL)", vandermonde)
    .save(&figure_path("ch04", "measured-kernel-time.svg"))
}

fn run() -> ssm_lineage::Result<()> {
    kernels()?;
    spectra()?;
    timing()
}
