//! Chapter 1: vanishing and exploding gradients through time.
//!
//! For Elman RNNs whose recurrent matrix has spectral radius ρ below, at and
//! above 1, draws the spectral norm of ∂h_t/∂h_0 against the lag t, beside the
//! bound ρ^t of Eq. (R5). Writes `chapters/figures/ch01/gradient-norms.svg`.
//!
//! Run: `cargo run --release --example ch01_gradients`

use std::process::ExitCode;

use nalgebra::{DMatrix, DVector};
use ssm_lineage::rnn::bptt::step_jacobian;
use ssm_lineage::rnn::{ElmanRnn, RnnConfig};
use ssm_lineage::support::figure::{LinePlot, Scale, exit_code, figure_path};
use ssm_lineage::support::rng::{normal_matrix, seeded};

const HIDDEN: usize = 32;
const STEPS: usize = 120;

fn main() -> ExitCode {
    exit_code("ch01_gradients", run())
}

/// ‖∂h_t/∂h_0‖ for t = 1..STEPS, accumulating Eq. (R4) one factor at a time.
fn norms(rnn: &ElmanRnn, x: &DMatrix<f64>) -> Vec<(f64, f64)> {
    let hs = rnn.hidden_states(x, &DVector::zeros(HIDDEN));
    let mut product = DMatrix::identity(HIDDEN, HIDDEN);
    (1..STEPS)
        .map(|t| {
            product = step_jacobian(rnn, &hs.row(t).transpose()) * &product;
            (t as f64, product.singular_values().max())
        })
        .collect()
}

fn run() -> ssm_lineage::Result<()> {
    let x = normal_matrix(&mut seeded(10), STEPS, 1, 1.0);
    let mut plot = LinePlot::new(
        "Gradient norm through time, tanh RNN (n = 32)",
        "lag t (steps)",
        "spectral norm of ∂hₜ/∂h₀",
    )
    .scales(Scale::Linear, Scale::Log);
    println!(
        "{:>6} {:>14} {:>14} {:>14}",
        "rho", "t = 10", "t = 50", "t = 100"
    );
    for rho in [0.9, 1.0, 1.1] {
        let config = RnnConfig {
            hidden: HIDDEN,
            input: 1,
            output: 1,
            spectral_radius: rho,
            input_scale: 0.02,
        };
        let curve = norms(&ElmanRnn::random(&config, 3)?, &x);
        println!(
            "{rho:>6} {:>14.3e} {:>14.3e} {:>14.3e}",
            curve[9].1, curve[49].1, curve[99].1
        );
        plot = plot.line(&format!("tanh RNN, ρ = {rho}"), curve);
    }
    for rho in [0.9, 1.1] {
        let bound = (1..STEPS)
            .map(|t| (t as f64, f64::powi(rho, t as i32)))
            .collect();
        plot = plot.dashed(&format!("bound ρᵗ, ρ = {rho}"), bound);
    }
    plot.save(&figure_path("ch01", "gradient-norms.svg"))
}
