//! Chapter 2: where each rule sends the eigenvalues of a stable A.
//!
//! A stable system with eigenvalues −0.5 ± 3i, −2, −8 and −20 ± 5i, discretized
//! by each rule at Δ = 0.02, 0.1 and 0.3: the eigenvalues of Ā against the unit
//! circle (inside: the recurrence decays; outside: it blows up). Writes
//! `chapters/figures/ch02/stability.svg` and prints each spectral radius.
//!
//! Run: `cargo run --release --example ch02_stability`

use std::f64::consts::PI;
use std::process::ExitCode;

use nalgebra::{DMatrix, DVector};
use ssm_lineage::lssl::{Rule, Ssm, discretize};
use ssm_lineage::support::figure::{LinePlot, exit_code, figure_path, save_grid};

const STEPS: [f64; 3] = [0.02, 0.1, 0.3];

fn main() -> ExitCode {
    exit_code("ch02_stability", run())
}

/// A real block-diagonal A with the eigenvalues above (2×2 rotation blocks
/// for the complex pairs).
fn stiff_system() -> ssm_lineage::Result<Ssm> {
    let mut a = DMatrix::zeros(6, 6); // (6, 6)
    for (i, (re, im)) in [(0, (-0.5, 3.0)), (4, (-20.0, 5.0))] {
        a[(i, i)] = re;
        a[(i + 1, i + 1)] = re;
        a[(i, i + 1)] = im;
        a[(i + 1, i)] = -im;
    }
    a[(2, 2)] = -2.0;
    a[(3, 3)] = -8.0;
    let ones = DVector::from_element(6, 1.0);
    Ssm::new(a, ones.clone(), ones, 0.0)
}

fn run() -> ssm_lineage::Result<()> {
    let ssm = stiff_system()?;
    let circle: Vec<(f64, f64)> = (0..=200)
        .map(|k| {
            let t = 2.0 * PI * k as f64 / 200.0;
            (t.cos(), t.sin())
        })
        .collect();
    println!(
        "{:<16} {}",
        "spectral radius",
        STEPS
            .map(|dt| format!("{:>10}", format!("Δ = {dt}")))
            .join("")
    );
    let mut plots = Vec::new();
    for rule in Rule::ALL {
        let mut plot = LinePlot::new(&rule.name(), "Re λ(Ā)", "Im λ(Ā)")
            .ranges(-5.5..1.5, -2.0..2.0)
            .dashed("unit circle", circle.clone());
        let mut radii = String::new();
        for dt in STEPS {
            let eig = discretize(&ssm, dt, rule)?.eigenvalues();
            let radius = eig.iter().map(|l| l.norm()).fold(0.0, f64::max);
            radii += &format!("{radius:>10.3}");
            plot = plot.points(
                &format!("Δ = {dt}"),
                eig.iter().map(|l| (l.re, l.im)).collect(),
            );
        }
        println!("{:<16} {radii}", rule.name());
        plots.push(plot);
    }
    save_grid(&figure_path("ch02", "stability.svg"), &plots, 2)
}
