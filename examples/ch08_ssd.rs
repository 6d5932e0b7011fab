//! Chapter 8: the SSD matrix and what its chunks look like. (1) M = ℒ ∘ (C Bᵀ)
//! of one head (T = 64) as a heatmap, with the rank of each chunk block,
//! (2) the singular values of its
//! off-diagonal chunk blocks (chunks of 16): none beyond N, (3) the time of
//! the three forms against T on the machine that runs it (8 heads, d_h = N = 64), with
//! its numbers as a table, (4) the Mamba-2 block as a diagram. Writes
//! `chapters/figures/ch08/{matrix,chunk-ranks,chunked-steps,offdiagonal-singular-values,measured-ssd-time,block}.svg`
//! and `measured-ssd-time.md`.
//!
//! Run: `cargo run --release --example ch08_ssd`

use std::hint::black_box;
use std::process::ExitCode;

use nalgebra::DMatrix;
use rand::RngExt;
use ssm_lineage::ssd::Mamba2Config;
use ssm_lineage::ssd::diagram::{chunked_steps_diagram, mamba2_block_diagram};
use ssm_lineage::ssd::forms::ssd_matrix;
use ssm_lineage::ssd::{SsdInputs, ssd_chunked, ssd_quadratic, ssd_recurrent};
use ssm_lineage::support::figure::{
    Heatmap, Legend, LinePlot, Scale, exit_code, figure_path,
};
use ssm_lineage::support::rng::seeded;
use ssm_lineage::support::timing::best_within;
use ssm_lineage::train::experiment::machine;

fn main() -> ExitCode {
    exit_code("ch08_ssd", run())
}

/// Random SSD inputs: per-head u, log-decays a, and one group's B and C.
pub struct Inputs {
    u: Vec<DMatrix<f64>>,
    a: DMatrix<f64>,
    b: Vec<DMatrix<f64>>,
    c: Vec<DMatrix<f64>>,
}

/// `heads` heads of dimension `p`, one group of `n` states, log-decays Δ·A in
/// about (−0.5, −0.01).
fn inputs(t: usize, heads: usize, p: usize, n: usize, seed: u64) -> Inputs {
    let mut rng = seeded(seed);
    let mut m = |r: usize, c: usize| {
        DMatrix::from_fn(r, c, |_, _| rng.random_range(-1.0..1.0))
    };
    let u = (0..heads).map(|_| m(t, p)).collect();
    let a = m(t, heads).map(|v: f64| -0.255 - 0.245 * v);
    let (b, c) = (vec![m(t, n)], vec![m(t, n)]);
    Inputs { u, a, b, c }
}

fn matrix_figures() -> ssm_lineage::Result<()> {
    let (t, n, q) = (64, 4, 16);
    let Inputs { a, b, c, .. } = inputs(t, 1, 1, n, 1);
    let a: Vec<f64> = a.column(0).iter().copied().collect();
    let m = ssd_matrix(&a, &b[0], &c[0]);
    Heatmap {
        title: format!(
            "M = ℒ ∘ (C Bᵀ) of one head (T = {t}, N = {n}); chunks of {q}"
        ),
        x_label: "input step s".into(),
        y_label: "output step t".into(),
        value_label: "Mₜₛ".into(),
        data: m.clone(),
        x_range: 0.0..t as f64,
        y_range: 0.0..t as f64,
    }
    .save(&figure_path("ch08", "matrix.svg"))?;
    // The chunk decomposition: the numerical rank of every Q × Q block.
    let chunks = t / q;
    let ranks = DMatrix::from_fn(chunks, chunks, |i, j| {
        if j > i {
            return 0.0;
        }
        let block = m.view((i * q, j * q), (q, q)).into_owned();
        let sv = block.singular_values();
        let top = sv.max();
        sv.iter().filter(|s| **s > 1e-10 * top).count() as f64
    });
    Heatmap {
        title: format!(
            "Numerical rank of each {q} × {q} block of M: ≤ N = {n} off the diagonal"
        ),
        x_label: "input chunk".into(),
        y_label: "output chunk".into(),
        value_label: "rank".into(),
        data: ranks,
        x_range: 0.0..chunks as f64,
        y_range: 0.0..chunks as f64,
    }
    .save(&figure_path("ch08", "chunk-ranks.svg"))?;
    // Which step of the chunked algorithm computes each block of M.
    chunked_steps_diagram(t / q, q, n)
        .save(&figure_path("ch08", "chunked-steps.svg"))?;
    let mut plot = LinePlot::new(
        &format!("Singular values of the off-diagonal {q} × {q} blocks (N = {n})"),
        "index k",
        "σₖ / σ₁ (log scale)",
    )
    .scales(Scale::Linear, Scale::Log)
    .ranges(0.0..(q + 1) as f64, 1e-18..1e3)
    .legend(Legend::UpperRight);
    for (i, j) in [(1, 0), (2, 0), (3, 1), (3, 2)] {
        let block = m.view((i * q, j * q), (q, q)).into_owned();
        let mut sv: Vec<f64> = block.singular_values().iter().copied().collect();
        sv.sort_by(|x, y| y.total_cmp(x));
        let points = sv
            .iter()
            .enumerate()
            .map(|(k, s)| ((k + 1) as f64, (s / sv[0]).max(1e-18)))
            .collect();
        plot = plot.points(&format!("block (chunk {i}, chunk {j})"), points);
    }
    plot.dashed(
        "k = N",
        vec![(n as f64 + 0.5, 1e-18), (n as f64 + 0.5, 1.0)],
    )
    .save(&figure_path("ch08", "offdiagonal-singular-values.svg"))
}

fn timing() -> ssm_lineage::Result<()> {
    let (heads, p, n, q) = (8, 64, 64, 64);
    let names = [
        "recurrent (scan)",
        "quadratic (attention)",
        "chunked, Q = 64",
    ];
    let mut series: Vec<Vec<(f64, f64)>> = vec![Vec::new(); 3];
    let mut table = format!(
        "<!-- ANCHOR: results -->\n| T | {} | {} | {} | scan / chunked |\n|---|---|---|---|---|\n",
        names[0], names[1], names[2]
    );
    println!("SSD, {heads} heads, d_h = {p}, N = {n}: milliseconds");
    println!(
        "{:>6} {:>18} {:>22} {:>16}",
        "T", names[0], names[1], names[2]
    );
    for t in [128, 256, 512, 1024, 2048] {
        let Inputs { u, a, b, c } = inputs(t, heads, p, n, t as u64);
        let args = SsdInputs::new(&u, &a, &b, &c);
        let times = [
            best_within(0.5, || drop(black_box(ssd_recurrent(&args)))),
            best_within(0.5, || drop(black_box(ssd_quadratic(&args)))),
            best_within(0.5, || drop(black_box(ssd_chunked(&args, q)))),
        ];
        println!(
            "{t:>6} {:>18.1} {:>22.1} {:>16.1}",
            times[0] * 1e3,
            times[1] * 1e3,
            times[2] * 1e3
        );
        table += &format!(
            "| {t} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} |\n",
            times[0] * 1e3,
            times[1] * 1e3,
            times[2] * 1e3,
            times[0] / times[2]
        );
        for (s, time) in series.iter_mut().zip(times) {
            s.push((t as f64, time * 1e3));
        }
    }
    let mut plot = LinePlot::new(
        &format!("SSD's three forms, measured ({heads} heads, d_h = N = {p})"),
        "sequence length T",
        "milliseconds (log scale)",
    )
    .scales(Scale::Log, Scale::Log);
    for (name, points) in names.iter().zip(series) {
        plot = plot.line(name, points);
    }
    plot.save(&figure_path("ch08", "measured-ssd-time.svg"))?;
    // The figure's numbers, from the same run, for the text to cite, and the
    // machine that ran it.
    table += &format!(
        "\n*Milliseconds, the best call within 0.5 s per point; f64, {heads} heads, \
         d_h = N = {p}. Measured on {}.*\n<!-- ANCHOR_END: results -->\n",
        machine()
    );
    let path = figure_path("ch08", "measured-ssd-time.md");
    std::fs::write(&path, table).map_err(|e| ssm_lineage::Error::Output {
        path,
        reason: e.to_string(),
    })
}

/// The Mamba-2 block at the reference `Mamba2` defaults for d_model = 768
/// (`mamba_ssm/modules/mamba2.py`: N = 128, d_h = 64, one group, chunks
/// of 256).
fn block_figure() -> ssm_lineage::Result<()> {
    let config = Mamba2Config {
        d_state: 128,
        chunk: 256,
        ..Mamba2Config::new(768, 64)
    };
    config.validate()?;
    mamba2_block_diagram(&config).save(&figure_path("ch08", "block.svg"))
}

fn run() -> ssm_lineage::Result<()> {
    block_figure()?;
    matrix_figures()?;
    timing()
}
