//! Chapter 2: one linear system, three views.
//!
//! A damped mass on a spring (mass 1, stiffness 4, damping 0.4) pushed by a
//! piecewise-constant force: its exact continuous response, the ZOH
//! recurrence and the convolution with the ZOH kernel, overlaid. Writes
//! `chapters/figures/ch02/three-views.svg` and `chapters/figures/ch02/kernels.svg`
//! (the kernels of a few systems) and prints how far the views differ.
//!
//! Run: `cargo run --release --example ch02_three_views`

use std::process::ExitCode;

use nalgebra::{DMatrix, DVector};
use ssm_lineage::lssl::views::{continuous_response, kernel_naive};
use ssm_lineage::lssl::{Rule, Ssm, discretize};
use ssm_lineage::support::figure::{LinePlot, exit_code, figure_path};
use ssm_lineage::traits::{Convolutional, Recurrent};

const DT: f64 = 0.1;
const LEN: usize = 150;

fn main() -> ExitCode {
    exit_code("ch02_three_views", run())
}

/// ẍ = −4x − 0.4ẋ + u, observed through its position.
fn mass_spring() -> ssm_lineage::Result<Ssm> {
    #[rustfmt::skip]
    let a = DMatrix::from_row_slice(2, 2, &[
        0.0, 1.0,
        -4.0, -0.4,
    ]);
    Ssm::new(
        a,
        DVector::from_vec(vec![0.0, 1.0]),
        DVector::from_vec(vec![1.0, 0.0]),
        0.0,
    )
}

/// A push, a pull, then a constant force.
fn force(t: f64) -> f64 {
    match t {
        t if (1.0..2.0).contains(&t) => 1.0,
        t if (6.0..7.0).contains(&t) => -0.5,
        t if t >= 10.0 => 0.3,
        _ => 0.0,
    }
}

fn three_views() -> ssm_lineage::Result<()> {
    let ssm = mass_spring()?;
    let u: Vec<f64> = (0..LEN).map(|k| force(k as f64 * DT)).collect();
    let curve = continuous_response(&ssm, &u, DT, 10)?;
    let disc = discretize(&ssm, DT, Rule::Zoh)?;
    let u_col = DMatrix::from_vec(LEN, 1, u.clone());
    let rec = disc.scan(&u_col);
    let conv = disc.convolve(&u_col);
    let at_ends = |m: &DMatrix<f64>| -> Vec<(f64, f64)> {
        (0..LEN).map(|k| ((k + 1) as f64 * DT, m[(k, 0)])).collect()
    };
    let worst = (0..LEN)
        .map(|k| {
            (curve[k * 10 + 9].1 - rec[(k, 0)])
                .abs()
                .max((rec[(k, 0)] - conv[(k, 0)]).abs())
        })
        .fold(0.0, f64::max);
    println!(
        "mass-spring, Δ = {DT}, L = {LEN}: largest gap between the three views {worst:.2e}"
    );
    let force_curve = (0..=LEN * 4).map(|j| {
        let t = j as f64 * DT / 4.0;
        (t, force(t - 1e-9))
    });
    LinePlot::new(
        "One system, three views (damped mass-spring, ZOH, Δ = 0.1)",
        "time t (s)",
        "position y(t)",
    )
    .line("continuous: exact response", curve)
    .points(
        "recurrent: xₖ = Ā xₖ₋₁ + B̄ uₖ",
        at_ends(&rec).into_iter().step_by(2).collect(),
    )
    .series(
        "convolutional: y = K̄ ∗ u",
        at_ends(&conv).into_iter().skip(1).step_by(2).collect(),
        ssm_lineage::support::figure::Mark::Points,
    )
    .dashed("input force u(t)", force_curve.collect())
    .save(&figure_path("ch02", "three-views.svg"))
}

fn kernels() -> ssm_lineage::Result<()> {
    let one = DVector::from_element(1, 1.0);
    let leaky = Ssm::new(DMatrix::from_element(1, 1, -0.5), one.clone(), one, 0.0)?;
    #[rustfmt::skip]
    let lightly_damped = Ssm::new(
        DMatrix::from_row_slice(2, 2, &[-0.05, 3.0, -3.0, -0.05]),
        DVector::from_vec(vec![1.0, 0.0]),
        DVector::from_vec(vec![1.0, 0.0]),
        0.0,
    )?;
    let systems = [
        ("mass-spring (ẍ = −4x − 0.4ẋ + u)", mass_spring()?),
        ("leaky integrator (ẋ = −0.5x + u)", leaky),
        (
            "lightly damped rotation (decay 0.05, ω = 3)",
            lightly_damped,
        ),
        ("random stable system, N = 8", Ssm::random_stable(8, 4)?),
    ];
    let mut plot = LinePlot::new(
        "Convolution kernels K̄_k = C Ā^k B̄ (ZOH, Δ = 0.1)",
        "lag kΔ (s)",
        "K̄_k / Δ",
    );
    for (name, ssm) in systems {
        let k = kernel_naive(&discretize(&ssm, DT, Rule::Zoh)?, LEN);
        plot = plot.line(
            name,
            k.iter()
                .enumerate()
                .map(|(i, v)| (i as f64 * DT, v / DT))
                .collect(),
        );
    }
    plot.save(&figure_path("ch02", "kernels.svg"))
}

fn run() -> ssm_lineage::Result<()> {
    three_views()?;
    kernels()
}
