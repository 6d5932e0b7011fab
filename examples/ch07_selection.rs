//! Chapter 7: what selection does. (1) A hand-set selective SSM (one state,
//! A = −1, exact ZOH, Δ = softplus(10·m − 5) from a marker feature m) on
//! noise with a few marked tokens: it resets on the marked ones and ignores
//! the rest, beside the best time-invariant filter fitted by least squares.
//! (2) A random Mamba block on random tokens: Δ relative to each channel's
//! mean. (3) Why there is no
//! convolution any more: the input→output matrix of one selective channel
//! beside the Toeplitz matrix of a time-invariant (S4D) one. Writes
//! `chapters/figures/ch07/{selection,selection-vs-lti,delta,matrix-selective,matrix-s4d}.svg`.
//!
//! Run: `cargo run --release --example ch07_selection`

use std::process::ExitCode;

use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use ssm_lineage::lssl::fit::{apply_causal_filter, best_causal_filter};
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

/// Noise everywhere; marked tokens (m = 1) at `marks` carry a value.
fn marked(seed: u64, marks: &[(usize, f64)]) -> (Vec<f64>, Vec<f64>) {
    let mut rng = seeded(seed);
    let mut u: Vec<f64> = (0..LEN)
        .map(|_| 0.3 * rng.random_range(-1.0..1.0))
        .collect();
    let mut m = vec![0.0; LEN];
    for &(t, value) in marks {
        u[t] = value;
        m[t] = 1.0;
    }
    (u, m)
}

/// The sequence the figures show: three marked tokens.
fn marked_sequence() -> (Vec<f64>, Vec<f64>) {
    marked(7, &[(15, 1.0), (50, -0.8), (85, 0.6)])
}

/// A training sequence: three marks at random places with random values.
fn random_marked(seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = seeded(seed ^ 0x5eed);
    let marks: Vec<(usize, f64)> = (0..3)
        .map(|_| (rng.random_range(0..LEN), rng.random_range(-1.0..1.0)))
        .collect();
    marked(seed, &marks)
}

/// The hand-set selective SSM: one state, A = −1, exact ZOH,
/// Δ = softplus(10·m − 5). Returns Δ before softplus and the state.
fn selective_state(u: &[f64], m: &[f64]) -> (DMatrix<f64>, Vec<f64>) {
    let u_m = DMatrix::from_column_slice(LEN, 1, u);
    let delta = DMatrix::from_fn(LEN, 1, |t, _| 10.0 * m[t] - 5.0);
    let (a, ones) = (
        DMatrix::from_element(1, 1, -1.0),
        DMatrix::from_element(LEN, 1, 1.0),
    );
    let args = SelectiveScan::new(&u_m, &delta, &a, &ones, &ones)
        .with_delta_bias(None, true)
        .with_b_rule(BRule::Zoh);
    let h = selective_scan(&args).y.column(0).iter().copied().collect();
    (delta, h)
}

/// Both inputs, u and the marker m, as the two channels a time-invariant
/// system may read.
fn channels(u: &[f64], m: &[f64]) -> DMatrix<f64> {
    DMatrix::from_fn(LEN, 2, |t, c| if c == 0 { u[t] } else { m[t] })
}

fn selection() -> ssm_lineage::Result<()> {
    let (u, m) = marked_sequence();
    let (delta, h) = selective_state(&u, &m);
    let series =
        |f: &dyn Fn(usize) -> f64| (0..LEN).map(|t| (t as f64, f(t))).collect();
    let plots = [
        LinePlot::new("Input: noise and three marked tokens", "step t", "uₜ")
            .line("uₜ", series(&|t| u[t])),
        LinePlot::new(
            "Step size Δₜ = softplus(10·mₜ − 5)",
            "step t",
            "Δₜ (log scale)",
        )
        .scales(Scale::Linear, Scale::Log)
        .line("Δₜ", series(&|t| softplus(delta[(t, 0)]))),
        LinePlot::new("State: holds the last marked value", "step t", "hₜ")
            .line("hₜ", series(&|t| h[t])),
    ];
    save_grid(&figure_path("ch07", "selection.svg"), &plots, 1)?;
    // The best time-invariant system of any size: a least-squares causal
    // filter over all LEN taps of both channels, fitted on 400 sequences.
    let examples: Vec<(DMatrix<f64>, DVector<f64>)> = (0..400)
        .map(|seed| {
            let (u, m) = random_marked(seed);
            (
                channels(&u, &m),
                DVector::from_vec(selective_state(&u, &m).1),
            )
        })
        .collect();
    let k = best_causal_filter(&examples, LEN)?;
    let held_out: Vec<(DMatrix<f64>, DVector<f64>)> = (1000..1200)
        .map(|seed| {
            let (u, m) = random_marked(seed);
            (
                channels(&u, &m),
                DVector::from_vec(selective_state(&u, &m).1),
            )
        })
        .collect();
    let (mut residual, mut total) = (0.0, 0.0);
    for (x, y) in &held_out {
        residual += (apply_causal_filter(&k, x) - y).norm_squared();
        total += y.map(|v| v * v).sum();
    }
    println!(
        "best time-invariant filter: {:.0}% of the selective state's energy unexplained on 200 held-out sequences",
        100.0 * residual / total
    );
    let lti = apply_causal_filter(&k, &channels(&u, &m));
    LinePlot::new(
        "The selective state and the best time-invariant fit",
        "step t",
        "hₜ",
    )
    .line("selective SSM (Δ from the marker)", series(&|t| h[t]))
    .line("best time-invariant filter (fitted)", series(&|t| lti[t]))
    .save(&figure_path("ch07", "selection-vs-lti.svg"))
}

fn random_block() -> ssm_lineage::Result<()> {
    let config = MambaConfig::new(32, 1, 16);
    let model = MambaModel::new(&config, 3)?;
    let mut rng = seeded(8);
    let tokens: Vec<usize> = (0..LEN).map(|_| rng.random_range(0..16)).collect();
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
