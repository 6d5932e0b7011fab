//! Chapter 3: online reconstruction of the history.
//!
//! A band-limited random signal is fed, sample by sample, to LegS (the whole
//! past), LegT (a window of 1), LagT (exponential decay) and FouT (a window of
//! 2); at t = 2 and t = 4 each state is turned back into the history it
//! remembers. Writes `chapters/figures/ch03/reconstruction.svg`, then
//! `chapters/figures/ch03/error-vs-n.svg`: the reconstruction MSE of the whole
//! history of the reference signal of `tests/golden/hippo_reference.py` against
//! N, printed as a table.
//!
//! Run: `cargo run --release --example ch03_reconstruction`

use std::f64::consts::PI;
use std::process::ExitCode;

use ssm_lineage::hippo::reconstruct::{
    reconstruct_fout, reconstruct_lagt, reconstruct_legs, reconstruct_legt_lmu,
};
use ssm_lineage::hippo::transitions::{fout, lagt, legt_lmu};
use ssm_lineage::hippo::{LegsProjector, LegsRule, LtiProjector};
use ssm_lineage::lssl::Rule;
use ssm_lineage::support::figure::{
    LinePlot, Scale, exit_code, figure_path, save_grid,
};
use ssm_lineage::support::rng::band_limited_signal;

const DT: f64 = 1e-3;
const N: usize = 64;
const MOMENTS: [f64; 2] = [2.0, 4.0];

fn main() -> ExitCode {
    exit_code("ch03_reconstruction", run())
}

/// A band-limited random signal: 12 sinusoids of random frequency below 1.5
/// cycles per time unit and random phase, scaled to an RMS of about 0.5.
fn signal(seed: u64) -> impl Fn(f64) -> f64 {
    band_limited_signal(seed, 12, 1.5)
}

/// (true history, reconstruction) at one moment, as (time, value) points.
type Pair = (Vec<(f64, f64)>, Vec<(f64, f64)>);

fn at_moment(
    name: &str,
    f: &dyn Fn(f64) -> f64,
    now: f64,
) -> ssm_lineage::Result<Pair> {
    let steps = (now / DT).round() as usize;
    let samples: Vec<f64> = (1..=steps).map(|k| f(k as f64 * DT)).collect();
    let (times, values): (Vec<f64>, Vec<f64>) = match name {
        "LegS" => {
            let mut p = LegsProjector::new(N, LegsRule::Bilinear)?;
            p.run(&samples)?;
            let grid: Vec<f64> = (0..=400).map(|j| j as f64 / 400.0).collect();
            let rec = reconstruct_legs(p.coefficients(), &grid);
            (grid.iter().map(|v| v * now).collect(), rec)
        }
        "LegT" => {
            let mut p = LtiProjector::new(&legt_lmu(N, 1.0)?, DT, Rule::Bilinear)?;
            p.run(&samples)?;
            let grid: Vec<f64> = (0..=200).map(|j| j as f64 / 200.0).collect();
            let rec = reconstruct_legt_lmu(p.coefficients(), &grid);
            (grid.iter().map(|v| now - 1.0 + v).collect(), rec)
        }
        "LagT" => {
            let mut p = LtiProjector::new(&lagt(N)?, DT, Rule::Bilinear)?;
            p.run(&samples)?;
            let lags: Vec<f64> =
                (0..=300).map(|j| j as f64 * now.min(3.0) / 300.0).collect();
            let rec = reconstruct_lagt(p.coefficients(), &lags);
            (lags.iter().map(|s| now - s).collect(), rec)
        }
        _ => {
            let mut p = LtiProjector::new(&fout(N)?, DT, Rule::Bilinear)?;
            p.run(&samples)?;
            let lags: Vec<f64> = (0..200).map(|j| j as f64 * 2.0 / 200.0).collect();
            let rec = reconstruct_fout(p.coefficients(), &lags);
            (lags.iter().map(|s| now - s).collect(), rec)
        }
    };
    let truth = times.iter().map(|&t| (t, f(t))).collect();
    Ok((truth, times.into_iter().zip(values).collect()))
}

fn reconstructions() -> ssm_lineage::Result<()> {
    let f = signal(3);
    let titles = [
        ("LegS", "LegS: the whole past [0, t]"),
        ("LegT", "LegT: the window [t − 1, t]"),
        ("LagT", "LagT: the past, weighted e⁻ˢ"),
        ("FouT", "FouT: the window [t − 2, t]"),
    ];
    let mut plots = Vec::new();
    for (name, title) in titles {
        let full: Vec<(f64, f64)> = (0..=400)
            .map(|j| (j as f64 * 0.01, f(j as f64 * 0.01)))
            .collect();
        let mut plot =
            LinePlot::new(title, "time (time units)", "signal").line("signal", full);
        for now in MOMENTS {
            let (_, rec) = at_moment(name, &f, now)?;
            plot = plot.dashed(&format!("remembered at t = {now}"), rec);
        }
        plots.push(plot);
    }
    save_grid(&figure_path("ch03", "reconstruction.svg"), &plots, 2)
}

fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

fn error_vs_n() -> ssm_lineage::Result<()> {
    let len = 1000;
    let f: Vec<f64> = (0..len)
        .map(|k| {
            let x = k as f64 / len as f64;
            (4.0 * PI * x).sin() + 0.5 * (10.0 * PI * x).cos()
        })
        .collect();
    let legs_grid: Vec<f64> =
        (0..len).map(|j| j as f64 / (len - 1) as f64).collect();
    let legt_grid: Vec<f64> = (0..len).map(|j| j as f64 / len as f64).collect();
    let ns = [4, 8, 16, 32, 64, 128];
    let mut curves = vec![Vec::new(); 3];
    println!(
        "reconstruction MSE of the whole history, L = {len} (the reference signal)"
    );
    println!(
        "{:>5} {:>16} {:>16} {:>16}",
        "N", "LegS bilinear", "LegS forward", "LegT (LMU)"
    );
    for n in ns {
        let mut row = Vec::new();
        for rule in [LegsRule::Bilinear, LegsRule::ForwardEuler] {
            let mut p = LegsProjector::new(n, rule)?;
            p.run(&f)?;
            row.push(mse(&reconstruct_legs(p.coefficients(), &legs_grid), &f));
        }
        let mut q =
            LtiProjector::new(&legt_lmu(n, 1.0)?, 1.0 / len as f64, Rule::Bilinear)?;
        q.run(&f)?;
        row.push(mse(&reconstruct_legt_lmu(q.coefficients(), &legt_grid), &f));
        println!(
            "{n:>5} {:>16.3e} {:>16.3e} {:>16.3e}",
            row[0], row[1], row[2]
        );
        for (curve, v) in curves.iter_mut().zip(&row) {
            curve.push((n as f64, *v));
        }
    }
    let names = [
        "LegS, bilinear",
        "LegS, forward Euler",
        "LegT (LMU), bilinear, Δ = 1/L",
    ];
    let mut plot = LinePlot::new(
        "Reconstruction error of the whole history against N (L = 1000)",
        "state size N",
        "mean squared error",
    )
    .scales(Scale::Log, Scale::Log);
    for (name, curve) in names.iter().zip(curves) {
        plot = plot.line(name, curve);
    }
    plot.save(&figure_path("ch03", "error-vs-n.svg"))
}

fn run() -> ssm_lineage::Result<()> {
    reconstructions()?;
    error_vs_n()
}
