//! Chapter 3: the LegS coefficients c(t) over time, as a heatmap: low orders
//! follow the slow trend of the whole history, high orders its details, and
//! every coefficient settles as the history grows (the 1/t in the dynamics).
//! Writes `chapters/figures/ch03/coefficients.svg`.
//!
//! Run: `cargo run --release --example ch03_coefficients`

use std::f64::consts::PI;
use std::process::ExitCode;

use ssm_lineage::hippo::{LegsProjector, LegsRule};
use ssm_lineage::support::figure::{Heatmap, exit_code, figure_path};

const N: usize = 32;
const STEPS: usize = 4000;

fn main() -> ExitCode {
    exit_code("ch03_coefficients", run())
}

fn run() -> ssm_lineage::Result<()> {
    let f: Vec<f64> = (1..=STEPS)
        .map(|k| {
            let t = k as f64 / 1000.0;
            (2.0 * PI * 0.6 * t).sin() + 0.4 * (2.0 * PI * 2.3 * t + 1.0).sin()
        })
        .collect();
    let mut p = LegsProjector::new(N, LegsRule::Bilinear)?;
    let history = p.run(&f)?; // (STEPS, N)
    Heatmap {
        title: "LegS coefficients cₙ(t) of a two-tone signal (N = 32, bilinear)"
            .into(),
        x_label: "time t (thousands of steps)".into(),
        y_label: "coefficient index n".into(),
        value_label: "cₙ(t)".into(),
        data: history.transpose().map(|v| v.clamp(-1.5, 1.5)),
        x_range: 0.0..STEPS as f64 / 1000.0,
        y_range: 0.0..N as f64,
    }
    .save(&figure_path("ch03", "coefficients.svg"))
}
