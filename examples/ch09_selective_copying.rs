//! Chapter 9: selective copying (Mamba §4.1.1, Table 1). The same 2-layer
//! Mamba language model with the selective core and with a time-invariant
//! core (Δ, B and C learned constants), trained for the same number of steps
//! on fresh batches, three seeds each; then measured on 1,024 fresh
//! sequences. Writes the curves, what Δ does inside the trained selective
//! model, `measured-selective-copying-L64-K4.{json,md}` (the book's table) under
//! `chapters/figures/ch09/`, and every trained model under
//! `target/ch09/selective-copying/`.
//!
//! Run: `cargo run --release --example ch09_selective_copying`
//! (`-- --help` for the task's size, the steps and seeds; `-- --eval DIR`
//! re-measures a saved model on fresh sequences without training).

#[path = "ch09/common.rs"]
mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nalgebra::DMatrix;
use ssm_lineage::Result;
use ssm_lineage::hub::load_mamba;
use ssm_lineage::mamba::fast::FastModel;
use ssm_lineage::mamba::{MambaConfig, MambaModel};
use ssm_lineage::support::figure::{
    Heatmap, LinePlot, Mark, exit_code, figure_path, save_grid,
};
use ssm_lineage::train::experiment::{Spread, runs_dir, step_sizes};
use ssm_lineage::train::fast::{FastMamba, evaluate};
use ssm_lineage::train::tasks::{BLANK, COPY_VOCAB, SelectiveCopying};
use ssm_lineage::traits::Parameters;

#[derive(Parser)]
#[command(
    about = "Selective copying: the selective core against a time-invariant one"
)]
struct Args {
    /// Only rewrite the book's table(s) from the saved JSON (no training).
    #[arg(long)]
    tables: bool,
    /// Re-measure a saved model (a run folder under target/ch09) on fresh
    /// sequences, without training.
    #[arg(long, value_name = "DIR")]
    eval: Option<PathBuf>,
    /// The positions the data tokens are scattered over, L.
    #[arg(long, default_value_t = 64)]
    len: usize,
    /// The data tokens to copy, K.
    #[arg(long, default_value_t = 4)]
    copies: usize,
    /// Optimizer steps per run (the same for both cores).
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// Seeds per core.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
}

/// Sequences per training batch (as the calibration and MAD).
const BATCH: usize = 32;
/// Sequences in the final measurement.
const EVAL: usize = 1024;
/// The learning rate (AdamW, no weight decay).
const LR: f64 = 1e-3;
/// Gradients clipped at this global norm (the Mamba reference's 1.0).
const CLIP: Option<f64> = Some(1.0);

fn main() -> ExitCode {
    exit_code("ch09_selective_copying", run(&Args::parse()))
}

fn run(args: &Args) -> Result<()> {
    if args.tables {
        let name =
            format!("measured-selective-copying-L{}-K{}", args.len, args.copies);
        println!("{}", common::write_table(&name, table)?);
        return Ok(());
    }
    let task = SelectiveCopying::new(args.len, args.copies)?;
    if let Some(dir) = &args.eval {
        return re_evaluate(dir, task);
    }
    let config = MambaConfig::new(64, 2, COPY_VOCAB);
    let cores = [
        ("selective", config.clone()),
        ("time-invariant", config.clone().time_invariant()),
    ];
    let mut runs = Vec::new();
    for (core, config) in &cores {
        for seed in 1..=args.seeds {
            let dir = runs_dir()
                .join("selective-copying")
                .join(format!("L{}-K{}", args.len, args.copies))
                .join(core)
                .join(format!("seed-{seed}"));
            eprintln!("{core} core, seed {seed} → {}", dir.display());
            let model = FastMamba {
                model: MambaModel::new(config, seed)?,
            };
            let log_every = (args.steps / 60).max(1);
            let trainer = common::train(
                model,
                args.steps,
                LR,
                log_every,
                &dir,
                |s| task.batch(seed * 1_000_000_007 + s, BATCH),
                CLIP,
            )?;
            let fast = FastModel::from(&trainer.model.model);
            let m = evaluate(&fast, &task.batch(u64::MAX / 2 + seed, EVAL))?;
            let seconds = trainer.log.last().map_or(0.0, |r| r.seconds);
            println!(
                "{core:>15} seed {seed}: accuracy {:.1}% on {EVAL} fresh sequences, {seconds:.0} s",
                100.0 * m.accuracy()
            );
            let result = serde_json::json!({
                "task": { "name": "selective_copying", "len": args.len, "copies": args.copies },
                "core": core, "seed": seed, "steps": args.steps,
                "accuracy": m.accuracy(), "loss": m.loss, "seconds": seconds,
            });
            common::write(&dir.join("result.json"), &result.to_string())?;
            runs.push((*core, seed, m, seconds, trainer));
        }
    }
    let parameters = runs[0].4.model.parameter_count();
    let summary: Vec<serde_json::Value> = cores
        .iter()
        .map(|(core, _)| {
            let of = |f: &dyn Fn(&(&str, u64, _, f64, _)) -> f64| {
                Spread::of(
                    &runs
                        .iter()
                        .filter(|r| r.0 == *core)
                        .map(f)
                        .collect::<Vec<_>>(),
                )
            };
            serde_json::json!({
                "core": core,
                "accuracy": of(&|r| r.2.accuracy()).to_json(),
                "seconds": of(&|r| r.3).to_json(),
            })
        })
        .collect();
    let results = serde_json::json!({
        "experiment": "selective copying",
        "settings": {
            "len": args.len, "copies": args.copies, "steps": args.steps,
            "batch": BATCH, "lr": LR, "seeds": args.seeds, "eval_sequences": EVAL,
            "d_model": config.d_model, "n_layer": config.n_layer,
            "d_state": config.d_state, "expand": config.expand,
            "parameters": parameters,
        },
        "summary": summary,
        "runs": runs.iter().map(|r| serde_json::json!({
            "core": r.0, "seed": r.1, "accuracy": r.2.accuracy(), "seconds": r.3,
        })).collect::<Vec<_>>(),
    });
    let suffix = format!("L{}-K{}", args.len, args.copies);
    curves(&runs, args, &suffix)?;
    let mut results = results;
    results["delta_inside_seed_1"] = inside(&runs[0].4.model.model, &task, &suffix)?;
    println!(
        "{}",
        common::write_results(
            &format!("measured-selective-copying-{suffix}"),
            results,
            table
        )?
    );
    Ok(())
}

/// The book's table from the results JSON.
fn table(results: &serde_json::Value) -> String {
    let s = &results["settings"];
    let mut md = format!(
        "| core | accuracy on {} fresh sequences | training time |\n|---|---|---|\n",
        s["eval_sequences"]
    );
    for row in results["summary"].as_array().into_iter().flatten() {
        md += &format!(
            "| {} | {} | {} s |\n",
            row["core"].as_str().unwrap_or("?"),
            common::spread_cell(&row["accuracy"], 1, true),
            common::spread_cell(&row["seconds"], 0, false),
        );
    }
    md += &format!(
        "\n*L = {}, K = {}, {} steps of batch {}, AdamW {}, {} parameters; {}. Measured on {}.*\n",
        s["len"],
        s["copies"],
        s["steps"],
        s["batch"],
        s["lr"],
        s["parameters"],
        match s["seeds"].as_u64() {
            Some(1) => "one seed".to_string(),
            n => format!("mean (range) over {} seeds", n.unwrap_or(0)),
        },
        results["machine"].as_str().unwrap_or("?"),
    );
    md
}

type Run = (
    &'static str,
    u64,
    ssm_lineage::train::Metrics,
    f64,
    ssm_lineage::train::Trainer<FastMamba>,
);

/// Accuracy on each training batch (fresh data) against the step and the
/// wall time, the mean over seeds for each core.
fn curves(runs: &[Run], args: &Args, suffix: &str) -> Result<()> {
    let mut by_step = LinePlot::new(
        &format!(
            "Selective copying, L = {}, K = {}: accuracy while training",
            args.len, args.copies
        ),
        "optimizer step",
        "accuracy on the batch (fresh data)",
    )
    .ranges(0.0..args.steps as f64, 0.0..1.0);
    let mut by_time =
        LinePlot::new("The same runs against wall time", "seconds", "accuracy")
            .ranges(0.0..runs.iter().map(|r| r.3).fold(1.0, f64::max), 0.0..1.0);
    let mut loss = LinePlot::new(
        "Loss while training",
        "optimizer step",
        "cross-entropy on the answers (nats)",
    );
    for core in ["selective", "time-invariant"] {
        let logs: Vec<&[_]> = runs
            .iter()
            .filter(|r| r.0 == core)
            .map(|r| r.4.log.as_slice())
            .collect();
        let (step, time) = common::mean_curve(&logs, |r| r.metrics.accuracy());
        by_step = by_step.line(&format!("{core} (mean of {})", logs.len()), step);
        by_time = by_time.line(core, time);
        loss = loss.line(core, common::mean_curve(&logs, |r| r.metrics.loss).0);
    }
    let chance = 1.0 / BLANK as f64;
    by_step = by_step.series(
        "chance, 1/14",
        vec![(0.0, chance), (args.steps as f64, chance)],
        Mark::Dashed,
    );
    save_grid(
        &figure_path("ch09", &format!("measured-copying-curves-{suffix}.svg")),
        &[by_step, by_time, loss],
        1,
    )
}

/// Δ inside the trained selective model on one fresh sequence: each
/// channel's Δₜ over its mean. Δ is computed from the causal convolution's
/// output, which still holds a token three steps later, so the response to a
/// data token can peak a step or two after it: the lag is measured.
fn inside(
    model: &MambaModel,
    task: &SelectiveCopying,
    suffix: &str,
) -> Result<serde_json::Value> {
    let example = task.batch(77, 1).remove(0);
    let tokens = &example.tokens;
    let len = tokens.len();
    let data: Vec<usize> = (0..task.len).filter(|&t| tokens[t] != BLANK).collect();
    let deltas = step_sizes(model, tokens)?;
    // Each channel's Δₜ / mean Δ, averaged over the channels, per position.
    let ratios: Vec<Vec<f64>> = deltas
        .iter()
        .map(|dt| {
            (0..len)
                .map(|t| {
                    (0..dt.ncols())
                        .map(|ch| dt[(t, ch)] / dt.column(ch).mean())
                        .sum::<f64>()
                        / dt.ncols() as f64
                })
                .collect()
        })
        .collect();
    let blank_mean = |r: &[f64]| {
        let blanks: Vec<f64> = (0..task.len)
            .filter(|&t| data.iter().all(|&d| t < d || t > d + 3))
            .map(|t| r[t])
            .collect();
        blanks.iter().sum::<f64>() / blanks.len().max(1) as f64
    };
    let mut layers = Vec::new();
    for (l, r) in ratios.iter().enumerate() {
        // The lag after a data token at which the layer's Δ is largest.
        let at = |lag: usize| {
            data.iter().map(|&d| r[(d + lag).min(len - 1)]).sum::<f64>()
                / data.len().max(1) as f64
        };
        let lag = (0..4).max_by(|&a, &b| at(a).total_cmp(&at(b))).unwrap_or(0);
        let peak = at(lag) / blank_mean(r);
        println!(
            "layer {}: Δ peaks {lag} step(s) after a data token, at {peak:.1} × its value on blanks",
            l + 1
        );
        layers.push(serde_json::json!({ "layer": l + 1, "lag": lag, "peak_over_blanks": peak }));
    }
    let peak_of =
        |v: &serde_json::Value| v["peak_over_blanks"].as_f64().unwrap_or(0.0);
    let layer = (0..layers.len())
        .max_by(|&a, &b| peak_of(&layers[a]).total_cmp(&peak_of(&layers[b])))
        .unwrap_or(0);
    let dt = &deltas[layer];
    Heatmap {
        title: format!(
            "Trained selective model, layer {}: Δₜ / mean Δ of each channel",
            layer + 1
        ),
        x_label: "position t".into(),
        y_label: "channel".into(),
        value_label: "Δₜ / mean Δ".into(),
        data: DMatrix::from_fn(dt.ncols(), len, |ch, t| {
            dt[(t, ch)] / dt.column(ch).mean()
        }),
        x_range: 0.0..len as f64,
        y_range: 0.0..dt.ncols() as f64,
    }
    .save(&figure_path(
        "ch09",
        &format!("measured-copying-delta-{suffix}.svg"),
    ))?;
    let mut plot = LinePlot::new(
        "Δₜ / mean Δ, averaged over each layer’s channels",
        "position t (the marker at L, then the answers)",
        "mean over channels of Δₜ / mean Δ",
    );
    for (l, r) in ratios.iter().enumerate() {
        plot = plot.line(
            &format!("layer {}", l + 1),
            r.iter().enumerate().map(|(t, &v)| (t as f64, v)).collect(),
        );
    }
    plot.points(
        "a data token",
        data.iter().map(|&t| (t as f64, 0.0)).collect(),
    )
    .save(&figure_path(
        "ch09",
        &format!("measured-copying-delta-mean-{suffix}.svg"),
    ))?;
    Ok(serde_json::Value::Array(layers))
}

/// `--eval DIR`: the saved model on 1,024 fresh sequences.
fn re_evaluate(dir: &std::path::Path, task: SelectiveCopying) -> Result<()> {
    let model = load_mamba(dir)?;
    let fast = FastModel::from(&model);
    for seed in [1u64, 2, 3] {
        let m = evaluate(&fast, &task.batch(u64::MAX / 3 + seed, EVAL))?;
        println!(
            "{}: L = {}, K = {}, fresh seed {seed}: accuracy {:.1}%, loss {:.4}",
            dir.display(),
            task.len,
            task.copies,
            100.0 * m.accuracy(),
            m.loss
        );
    }
    Ok(())
}
