//! Chapter 3: what each HiPPO measure remembers: the impulse response
//! e^{sA}B of LegT, LagT, LegS (used as an LTI system, as S4 does) and FouT,
//! whose components are the basis functions times the measure; and a
//! history projected onto N = 4, 8, 16 Legendre polynomials under LegS's
//! measure at two times. Writes `chapters/figures/ch03/bases.svg` and
//! `chapters/figures/ch03/projection.svg`.
//!
//! Run: `cargo run --release --example ch03_bases`

use std::process::ExitCode;

use nalgebra::DVector;
use ssm_lineage::hippo::Transition;
use ssm_lineage::hippo::projection::legs_projection_quadrature;
use ssm_lineage::hippo::reconstruct::reconstruct_legs;
use ssm_lineage::hippo::transitions::{fout, lagt, legs, legt};
use ssm_lineage::lssl::{Rule, Ssm, discretize};
use ssm_lineage::support::figure::{LinePlot, exit_code, figure_path, save_grid};

const N: usize = 32;
const SHOWN: usize = 4;
const DS: f64 = 0.01;

fn main() -> ExitCode {
    exit_code("ch03_bases", run())
}

/// e^{sA}B at s = 0, DS, 2·DS, …, stepping the exact (ZOH) propagator.
fn impulse_response(
    t: &Transition,
    until: f64,
) -> ssm_lineage::Result<Vec<(f64, DVector<f64>)>> {
    let ssm = Ssm::new(t.a.clone(), t.b.clone(), DVector::zeros(t.b.len()), 0.0)?;
    let step = discretize(&ssm, DS, Rule::Zoh)?.a_bar;
    let mut x = t.b.clone();
    let mut out = Vec::new();
    for k in 0..=(until / DS).round() as usize {
        out.push((k as f64 * DS, x.clone()));
        x = &step * x;
    }
    Ok(out)
}

fn panel(
    title: &str,
    t: &Transition,
    until: f64,
    components: &[usize],
) -> ssm_lineage::Result<LinePlot> {
    let response = impulse_response(t, until)?;
    let mut plot = LinePlot::new(title, "lag s (time units)", "component of eˢᴬB");
    for &n in components {
        plot = plot.line(
            &format!("n = {n}"),
            response.iter().map(|(s, x)| (*s, x[n])).collect(),
        );
    }
    Ok(plot)
}

/// HiPPO's core picture: a history f on [0, t] projected onto the first N
/// normalised Legendre polynomials under LegS's uniform measure on [0, t],
/// N = 4, 8, 16, at t = 1 and at t = 2 (the measure stretches with t).
fn projection() -> ssm_lineage::Result<()> {
    let f = |s: f64| (4.0 * s).sin() + 0.5 * (9.0 * s).cos();
    let mut plots = Vec::new();
    for t in [1.0, 2.0] {
        let grid: Vec<f64> = (0..=200).map(|i| i as f64 / 200.0).collect();
        let mut plot = LinePlot::new(
            &format!(
                "LegS at t = {t}: the history on [0, t] onto N Legendre polynomials"
            ),
            "time s",
            "f(s)",
        )
        .band(
            &format!("measure: uniform on [0, {t}]"),
            vec![(0.0, -2.2), (t, -2.2), (t, 2.2), (0.0, 2.2)],
        )
        .line(
            "the history f(s) = sin 4s + ½ cos 9s, s ≤ t",
            (0..=400)
                .map(|i| {
                    let s = t * i as f64 / 400.0;
                    (s, f(s))
                })
                .collect(),
        );
        for n in [4, 8, 16] {
            let c = legs_projection_quadrature(&f, t, n, 64)?;
            let values = reconstruct_legs(&c, &grid);
            plot = plot.dashed(
                &format!("projection, N = {n}"),
                grid.iter().zip(values).map(|(v, y)| (v * t, y)).collect(),
            );
        }
        plots.push(plot.ranges(0.0..2.0, -2.2..4.8));
    }
    save_grid(&figure_path("ch03", "projection.svg"), &plots, 1)
}

fn run() -> ssm_lineage::Result<()> {
    projection()?;
    let first: Vec<usize> = (0..SHOWN).collect();
    let plots = vec![
        panel(
            "LegT (θ = 1): Legendre on a sliding window",
            &legt(N, 1.0)?,
            1.5,
            &first,
        )?,
        panel(
            "LagT: Laguerre functions, decay e⁻ˢ",
            &lagt(N)?,
            8.0,
            &first,
        )?,
        panel("LegS as LTI (S4): warped Legendre", &legs(N)?, 5.0, &first)?,
        panel(
            "FouT: Fourier on a window of 2",
            &fout(N)?,
            3.0,
            &[0, 2, 3, 4],
        )?,
    ];
    save_grid(&figure_path("ch03", "bases.svg"), &plots, 2)
}
