//! Chapter 1: the state of an RNN over time, and how much of the past a linear
//! readout can recover from it (the compression problem).
//!
//! Writes `chapters/figures/ch01/hidden-states.svg` (a heatmap of h_t) and
//! `chapters/figures/ch01/recall.svg` (R² of recovering u_{t−k} from h_t
//! against the lag k), and prints each network's memory capacity Σ_k R²_k,
//! which can never exceed the state size n.
//!
//! Run: `cargo run --release --example ch01_memory`

use std::process::ExitCode;

use nalgebra::{DMatrix, DVector};
use ssm_lineage::rnn::memory::memory_curve;
use ssm_lineage::rnn::{ElmanRnn, LinearRnn, RnnConfig};
use ssm_lineage::support::figure::{Heatmap, LinePlot, exit_code, figure_path};
use ssm_lineage::support::rng::{normal_matrix, seeded};

const HIDDEN: usize = 32;
const SAMPLES: usize = 6000;
const WASHOUT: usize = 200;
const MAX_LAG: usize = 60;

fn main() -> ExitCode {
    exit_code("ch01_memory", run())
}

fn config(rho: f64) -> RnnConfig {
    RnnConfig {
        hidden: HIDDEN,
        input: 1,
        output: 1,
        spectral_radius: rho,
        input_scale: 0.3,
    }
}

fn heatmap() -> ssm_lineage::Result<()> {
    let len = 110;
    // Noise with three strong pulses: watch them spread through the units and fade.
    let mut u = normal_matrix(&mut seeded(20), len, 1, 0.2);
    for t in [10, 45, 80] {
        u[(t, 0)] = 4.0;
    }
    let rnn = ElmanRnn::random(&config(0.95), 21)?;
    let hs = rnn.hidden_states(&u, &DVector::zeros(HIDDEN)); // (len, n)
    Heatmap {
        title: "Hidden state hₜ of a tanh RNN (ρ = 0.95), pulses at t = 10, 45, 80"
            .into(),
        x_label: "time t (steps)".into(),
        y_label: "hidden unit".into(),
        value_label: "activation hₜ".into(),
        data: hs.transpose(),
        x_range: 0.0..len as f64,
        y_range: 0.0..HIDDEN as f64,
    }
    .save(&figure_path("ch01", "hidden-states.svg"))
}

fn run() -> ssm_lineage::Result<()> {
    heatmap()?;
    let u = normal_matrix(&mut seeded(30), SAMPLES, 1, 1.0);
    let mut curves: Vec<(String, DMatrix<f64>)> = [0.5, 0.9, 0.99]
        .into_iter()
        .map(|rho| {
            let rnn = ElmanRnn::random(&config(rho), 31)?;
            let name = format!("tanh RNN, ρ = {rho}");
            Ok((name, rnn.hidden_states(&u, &DVector::zeros(HIDDEN))))
        })
        .collect::<ssm_lineage::Result<_>>()?;
    let linear = LinearRnn::random(HIDDEN, 0.99, 32)?;
    curves.push((
        "linear RNN, ρ = 0.99".into(),
        linear_states(&linear, u.as_slice()),
    ));
    let mut plot = LinePlot::new(
        "How much of uₜ₋ₖ a linear readout recovers from hₜ (n = 32)",
        "lag k (steps)",
        "R² of the best linear readout",
    );
    for (name, states) in &curves {
        let r2 = memory_curve(states, u.as_slice(), MAX_LAG, WASHOUT);
        let capacity: f64 = r2.iter().sum();
        println!(
            "{name:<24} memory capacity Σ R² = {capacity:6.2}  (bound n = {HIDDEN})"
        );
        plot = plot.line(
            name,
            r2.iter().enumerate().map(|(k, &r)| (k as f64, r)).collect(),
        );
    }
    plot.save(&figure_path("ch01", "recall.svg"))
}

/// The states of a linear RNN, row t = h_t.
fn linear_states(rnn: &LinearRnn, u: &[f64]) -> DMatrix<f64> {
    let mut h = DVector::zeros(rnn.n());
    let rows: Vec<_> = u
        .iter()
        .map(|&u_t| {
            h = &rnn.a * &h + &rnn.b * u_t;
            h.transpose()
        })
        .collect();
    DMatrix::from_rows(&rows)
}
