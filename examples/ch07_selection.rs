//! Chapter 7: what selection does. (1) A hand-set selective SSM (one state,
//! A = −1, exact ZOH, Δ = softplus(10·m − 5) from a marker feature m) on
//! noise with a few marked tokens: it resets on the marked ones and ignores
//! the rest. (2) A random Mamba block on random tokens: Δ relative to each
//! channel's mean, and the norm of the SSM state over time. (3) Why there is no
//! convolution any more: the input→output matrix of one selective channel
//! beside the Toeplitz matrix of a time-invariant (S4D) one. Writes
//! `chapters/figures/ch07/{selection,state-norms,delta,matrix-selective,matrix-s4d}.svg`.
//!
//! Run: `cargo run --release --example ch07_selection`

use std::process::ExitCode;

use nalgebra::DMatrix;
use rand::RngExt;
use ssm_lineage::mamba::selective::softplus;
use ssm_lineage::mamba::{
    BRule, MambaConfig, MambaModel, SelectiveScan, selective_scan, transfer_matrix,
};
use ssm_lineage::support::figure::{
    Heatmap, LinePlot, Scale, exit_code, figure_path, save_grid,
};
use ssm_lineage::support::rng::seeded;

const LEN: usize = 120;

fn main() -> ExitCode {
    exit_code("ch07_selection", run())
}

/// Noise everywhere; marked tokens (m = 1) at a few places carry a value.
fn marked_sequence() -> (Vec<f64>, Vec<f64>) {
    let mut rng = seeded(7);
    let mut u: Vec<f64> = (0..LEN)
        .map(|_| 0.3 * rng.random_range(-1.0..1.0))
        .collect();
    let mut m = vec![0.0; LEN];
    for (t, value) in [(15, 1.0), (50, -0.8), (85, 0.6)] {
        u[t] = value;
        m[t] = 1.0;
    }
    (u, m)
}

fn selection() -> ssm_lineage::Result<()> {
    let (u, m) = marked_sequence();
    let u_m = DMatrix::from_column_slice(LEN, 1, &u);
    let delta = DMatrix::from_fn(LEN, 1, |t, _| 10.0 * m[t] - 5.0);
    let (a, ones) = (
        DMatrix::from_element(1, 1, -1.0),
        DMatrix::from_element(LEN, 1, 1.0),
    );
    let args = SelectiveScan::new(&u_m, &delta, &a, &ones, &ones)
        .with_delta_bias(None, true)
        .with_b_rule(BRule::Zoh);
    let h = selective_scan(&args).y;
    let series =
        |f: &dyn Fn(usize) -> f64| (0..LEN).map(|t| (t as f64, f(t))).collect();
    let plots = [
        LinePlot::new("Input: noise and three marked tokens", "step t", "u_t")
            .line("u_t", series(&|t| u[t])),
        LinePlot::new(
            "Step size Δ_t = softplus(10·m_t − 5)",
            "step t",
            "Δ_t (log scale)",
        )
        .scales(Scale::Linear, Scale::Log)
        .line("Δ_t", series(&|t| softplus(delta[(t, 0)]))),
        LinePlot::new("State: holds the last marked value", "step t", "h_t")
            .line("h_t", series(&|t| h[(t, 0)])),
    ];
    save_grid(&figure_path("ch07", "selection.svg"), &plots, 3)
}

fn random_block() -> ssm_lineage::Result<()> {
    let config = MambaConfig::new(32, 1, 16);
    let model = MambaModel::new(&config, 3)?;
    let mut rng = seeded(8);
    let tokens: Vec<usize> = (0..LEN).map(|_| rng.random_range(0..16)).collect();
    // Recurrent mode: the state norm after every token.
    let mut caches = model.empty_caches();
    let mut norms = Vec::new();
    for (t, &token) in tokens.iter().enumerate() {
        model.step(token, &mut caches)?;
        norms.push((t as f64, caches[0].ssm_state.norm()));
    }
    LinePlot::new(
        "A random Mamba block (d_model = 32): size of the SSM state",
        "step t",
        "‖h_t‖",
    )
    .line("‖h_t‖ over 64 channels × 16 states", norms)
    .save(&figure_path("ch07", "state-norms.svg"))?;
    // Parallel mode: Δ for every channel and step.
    let (norm, block) = &model.layers[0];
    let h = DMatrix::from_fn(LEN, config.d_model, |t, j| {
        model.embedding[(j, tokens[t])]
    });
    let selection = block.select(&norm.apply_rows(&h));
    let dt = block.step_sizes(&selection);
    // Each channel's Δ is mostly its bias (its timescale); what the input
    // changes is the factor around it: Δ_t over the channel's mean Δ.
    let relative = DMatrix::from_fn(config.d_inner(), LEN, |ch, t| {
        dt[(t, ch)] / dt.column(ch).mean()
    });
    println!(
        "Δₜ / mean Δ of its channel: {:.2} to {:.2}",
        relative.min(),
        relative.max()
    );
    Heatmap {
        title: "Δₜ relative to its channel’s mean, random block".into(),
        x_label: "step t".into(),
        y_label: "channel".into(),
        value_label: "Δₜ / mean Δ".into(),
        data: relative,
        x_range: 0.0..LEN as f64,
        y_range: 0.0..config.d_inner() as f64,
    }
    .save(&figure_path("ch07", "delta.svg"))
}

fn matrices() -> ssm_lineage::Result<()> {
    let len = 60;
    let mut rng = seeded(9);
    let u = DMatrix::from_fn(len, 1, |_, _| rng.random_range(-1.0..1.0));
    let n = 4;
    let a = DMatrix::from_fn(1, n, |_, k| -((k + 1) as f64));
    let b = DMatrix::from_fn(len, n, |_, _| rng.random_range(-1.0..1.0));
    let c = DMatrix::from_fn(len, n, |_, _| rng.random_range(-1.0..1.0));
    let delta = DMatrix::from_fn(len, 1, |_, _| rng.random_range(-4.0..1.0));
    let selective =
        SelectiveScan::new(&u, &delta, &a, &b, &c).with_delta_bias(None, true);
    let (b0, c0) = (
        DMatrix::from_fn(len, n, |_, k| b[(0, k)]),
        DMatrix::from_fn(len, n, |_, k| c[(0, k)]),
    );
    let delta0 = DMatrix::from_element(len, 1, -1.5);
    let invariant =
        SelectiveScan::new(&u, &delta0, &a, &b0, &c0).with_delta_bias(None, true);
    for (name, args, title) in [
        (
            "matrix-selective.svg",
            &selective,
            "Selective: M_ts = C_t (Π Ā) B̄_s changes along every diagonal",
        ),
        (
            "matrix-s4d.svg",
            &invariant,
            "Time-invariant (S4D): M is Toeplitz, a convolution",
        ),
    ] {
        Heatmap {
            title: title.into(),
            x_label: "input step s".into(),
            y_label: "output step t".into(),
            value_label: "M_ts".into(),
            data: transfer_matrix(args, 0),
            x_range: 0.0..len as f64,
            y_range: 0.0..len as f64,
        }
        .save(&figure_path("ch07", name))?;
    }
    Ok(())
}

fn run() -> ssm_lineage::Result<()> {
    selection()?;
    random_block()?;
    matrices()
}
