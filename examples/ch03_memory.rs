//! Chapter 3: which past a state keeps. White noise drives six systems of
//! the same state size n = 32 (HiPPO-LegT with θ = 1, HiPPO-LegS, S4D-Lin and
//! a random stable A, all discretized by the bilinear rule at Δ = 0.03; a
//! linear RNN with an orthogonal A of radius 0.99; a tanh RNN of spectral
//! radius 0.99), and a linear readout fitted by least squares recovers
//! u_{t−k} from x_t: chapter 1's memory curve. Writes
//! `chapters/figures/ch03/memory.svg` and prints each memory capacity Σ_k R²_k
//! (at most n).
//!
//! Run: `cargo run --release --example ch03_memory`

use std::process::ExitCode;

use nalgebra::{Complex, DMatrix, DVector};
use ssm_lineage::hippo::transitions::{legs, legt};
use ssm_lineage::lssl::{Rule, Ssm, discretize};
use ssm_lineage::rnn::memory::memory_curve;
use ssm_lineage::rnn::{ElmanRnn, LinearRnn, RnnConfig};
use ssm_lineage::s4d::S4dInit;
use ssm_lineage::s4d::init::{eigenvalues, input_vector};
use ssm_lineage::s4d::kernel::real_realization;
use ssm_lineage::support::figure::{Legend, LinePlot, exit_code, figure_path};
use ssm_lineage::support::rng::{normal_matrix, seeded};

const N: usize = 32;
const DT: f64 = 0.03;
const SAMPLES: usize = 8000;
const WASHOUT: usize = 300;
const MAX_LAG: usize = 150;

fn main() -> ExitCode {
    exit_code("ch03_memory", run())
}

/// The states x_t of x_t = Ā x_{t−1} + B̄ u_t from x_0 = 0, one row per step.
fn states(a_bar: &DMatrix<f64>, b_bar: &DVector<f64>, u: &[f64]) -> DMatrix<f64> {
    let mut x = DVector::zeros(a_bar.nrows());
    let rows: Vec<_> = u
        .iter()
        .map(|&u_t| {
            x = a_bar * &x + b_bar * u_t;
            x.transpose()
        })
        .collect();
    DMatrix::from_rows(&rows)
}

/// The bilinear discretization of (A, B) at Δ = `DT`, as (Ā, B̄).
fn bilinear(
    a: DMatrix<f64>,
    b: DVector<f64>,
) -> ssm_lineage::Result<(DMatrix<f64>, DVector<f64>)> {
    let n = a.nrows();
    let d =
        discretize(&Ssm::new(a, b, DVector::zeros(n), 0.0)?, DT, Rule::Bilinear)?;
    Ok((d.a_bar, d.b_bar))
}

fn run() -> ssm_lineage::Result<()> {
    let u: Vec<f64> = normal_matrix(&mut seeded(30), SAMPLES, 1, 1.0)
        .iter()
        .copied()
        .collect();
    let legt = legt(N, 1.0)?;
    let legs = legs(N)?;
    let lin = real_realization(
        &eigenvalues(S4dInit::Lin, N)?,
        &input_vector(S4dInit::Lin, N)?,
        &vec![Complex::new(1.0, 0.0); N / 2],
    )?;
    let random = Ssm::random_stable(N, 5)?;
    let orthogonal = LinearRnn::random(N, 0.99, 32)?;
    let tanh = ElmanRnn::random(
        &RnnConfig {
            hidden: N,
            input: 1,
            output: 1,
            spectral_radius: 0.99,
            input_scale: 0.3,
        },
        31,
    )?;
    let u_matrix = DMatrix::from_column_slice(SAMPLES, 1, &u);
    let systems: Vec<(&str, DMatrix<f64>)> = vec![
        ("HiPPO-LegT, θ = 1", {
            let (a, b) = bilinear(legt.a, legt.b)?;
            states(&a, &b, &u)
        }),
        ("HiPPO-LegS", {
            let (a, b) = bilinear(legs.a, legs.b)?;
            states(&a, &b, &u)
        }),
        ("S4D-Lin", {
            let (a, b) = bilinear(lin.a, lin.b)?;
            states(&a, &b, &u)
        }),
        ("random stable A", {
            let (a, b) = bilinear(random.a, random.b)?;
            states(&a, &b, &u)
        }),
        (
            "linear RNN, orthogonal, ρ = 0.99",
            states(&orthogonal.a, &orthogonal.b, &u),
        ),
        (
            "tanh RNN, ρ = 0.99",
            tanh.hidden_states(&u_matrix, &DVector::zeros(N)),
        ),
    ];
    let mut plot = LinePlot::new(
        &format!("Which past a state of n = {N} keeps (white noise, Δ = {DT})"),
        "lag k (steps)",
        "R² of the best linear readout of uₜ₋ₖ",
    );
    println!("{:<36} {:>10}", "system", "Σ_k R²_k");
    for (name, x) in &systems {
        let curve = memory_curve(x, &u, MAX_LAG, WASHOUT);
        let capacity: f64 = curve.iter().sum();
        println!("{name:<36} {capacity:>10.1}");
        plot = plot.line(
            &format!("{name} (Σ = {capacity:.0})"),
            curve
                .iter()
                .enumerate()
                .map(|(k, r)| (k as f64, *r))
                .collect(),
        );
    }
    plot.ranges(0.0..MAX_LAG as f64, 0.0..1.05)
        .legend(Legend::UpperRight)
        .save(&figure_path("ch03", "memory.svg"))
}
