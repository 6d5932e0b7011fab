//! Chapter 9: chapter 1's vanishing gradient as a learning failure. The
//! Elman RNN, trained by its own BPTT, learns to output its input k steps
//! back; for growing k it stops learning. Beside it, one linear S4D layer
//! (HiPPO-LegS modes) with a state of the same size (2 channels × 8 complex
//! modes = 32 real numbers) trained the same way. Three seeds
//! each. Writes `measured-rnn-recall.{svg,json,md}` under
//! `chapters/figures/ch09/` and the trained models under
//! `target/ch09/recall/`.
//!
//! Run: `cargo run --release --example ch09_rnn_recall` (`-- --help` for
//! steps and seeds; `-- --eval DIR --lag K` measures a saved model).

#[path = "ch09/common.rs"]
mod common;

use std::process::ExitCode;

use clap::Parser;
use ssm_lineage::Result;
use ssm_lineage::rnn::{ElmanRnn, RnnConfig};
use ssm_lineage::s4d::S4dInit;
use ssm_lineage::s4d::learn::S4dParams;
use ssm_lineage::support::figure::{LinePlot, Scale, exit_code, figure_path};
use ssm_lineage::train::checkpoint;
use ssm_lineage::train::experiment::{Spread, runs_dir};
use ssm_lineage::train::s4d_mix::{S4dMix, normalised_error};
use ssm_lineage::train::tasks::Recall;
use ssm_lineage::train::{SignalExample, Trainable};
use ssm_lineage::traits::Parameters;

#[derive(Parser)]
#[command(about = "Recall k steps back: the RNN against one S4D layer")]
struct Args {
    /// Measure a saved model (a run folder under target/ch09/recall: an
    /// `rnn` or an `s4d` one) on fresh sequences, without training.
    #[arg(long, value_name = "DIR")]
    eval: Option<std::path::PathBuf>,
    /// The lag to measure a saved model at.
    #[arg(long, default_value_t = 8)]
    lag: usize,
    /// Only rewrite the book's table(s) from the saved JSON (no training).
    #[arg(long)]
    tables: bool,
    /// Optimizer steps per run.
    #[arg(long, default_value_t = 1000)]
    steps: u64,
    /// Seeds per model and lag.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
}

/// The sequence length (the first k steps only warm the state up).
const LEN: usize = 128;
const LAGS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];
/// The RNN's hidden size.
const HIDDEN: usize = 32;
/// Sequences per batch and in the final measurement.
const BATCH: usize = 16;
const EVAL: usize = 64;
/// Adam's learning rate (AdamW without weight decay), clipping at norm 1.
const LR: f64 = 3e-3;
const CLIP: Option<f64> = Some(1.0);

fn main() -> ExitCode {
    exit_code("ch09_rnn_recall", run(&Args::parse()))
}

/// The normalised error of the RNN's outputs on `examples`.
fn rnn_error(rnn: &ElmanRnn, examples: &[SignalExample]) -> f64 {
    let (mut err, mut norm) = (0.0, 0.0);
    for e in examples {
        let h0 = nalgebra::DVector::zeros(rnn.hidden());
        let hs = rnn.hidden_states(&e.input, &h0);
        for t in e.from..e.input.nrows() {
            let y = rnn.readout(&hs.row(t).transpose());
            err += (y[0] - e.target[(t, 0)]).powi(2);
            norm += e.target[(t, 0)].powi(2);
        }
    }
    err / norm
}

fn train<M: Trainable<Batch = Vec<SignalExample>>>(
    model: M,
    name: &str,
    task: Recall,
    seed: u64,
    steps: u64,
) -> Result<M> {
    let dir = runs_dir()
        .join("recall")
        .join(name)
        .join(format!("k{}", task.lag))
        .join(format!("seed-{seed}"));
    eprintln!("{name}, k = {}, seed {seed} → {}", task.lag, dir.display());
    let trainer = common::train(
        model,
        steps,
        LR,
        (steps / 20).max(1),
        &dir,
        |s| task.batch(seed * 1_000_000_007 + s, BATCH),
        CLIP,
    )?;
    Ok(trainer.model)
}

fn run(args: &Args) -> Result<()> {
    if args.tables {
        println!("{}", common::write_table("measured-rnn-recall", table)?);
        return Ok(());
    }
    if let Some(dir) = &args.eval {
        return re_evaluate(dir, args.lag);
    }
    let mut rows = Vec::new();
    let mut parameters = (0, 0);
    for lag in LAGS {
        let task = Recall::new(LEN, lag)?;
        let fresh = task.batch(u64::MAX / 2 + lag as u64, EVAL);
        let (mut rnn_errors, mut s4d_errors) = (Vec::new(), Vec::new());
        for seed in 1..=args.seeds {
            let config = RnnConfig {
                hidden: HIDDEN,
                input: 1,
                output: 1,
                spectral_radius: 0.9,
                input_scale: 1.0,
            };
            let rnn = ElmanRnn::random(&config, seed)?;
            let s4d = S4dMix::new(
                S4dParams::new(2, HIDDEN / 2, S4dInit::Legs, seed)?,
                seed,
            );
            parameters = (rnn.parameter_count(), s4d.parameter_count());
            rnn_errors.push(rnn_error(
                &train(rnn, "rnn", task, seed, args.steps)?,
                &fresh,
            ));
            s4d_errors.push(normalised_error(
                &train(s4d, "s4d", task, seed, args.steps)?,
                &fresh,
            ));
        }
        let (r, s) = (Spread::of(&rnn_errors), Spread::of(&s4d_errors));
        println!("k = {lag:>2}: RNN {r:.3}, S4D {s:.3}");
        rows.push(serde_json::json!({ "lag": lag, "rnn": r.to_json(), "s4d": s.to_json() }));
    }
    let results = serde_json::json!({
        "experiment": "recall",
        "settings": {
            "len": LEN, "hidden": HIDDEN, "batch": BATCH, "lr": LR, "steps": args.steps,
            "seeds": args.seeds, "eval_sequences": EVAL,
            "rnn_parameters": parameters.0, "s4d_parameters": parameters.1,
        },
        "summary": rows,
    });
    println!(
        "{}",
        common::write_results("measured-rnn-recall", results, table)?
    );
    let curve = |key: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .map(|r| {
                (
                    r["lag"].as_f64().unwrap_or(0.0),
                    r[key]["mean"].as_f64().unwrap_or(f64::NAN),
                )
            })
            .collect()
    };
    LinePlot::new(
        &format!("Recall of uₜ₋ₖ after {} training steps", args.steps),
        "lag k (steps)",
        "normalised error on fresh sequences (1 = predicting zero)",
    )
    .scales(Scale::Log, Scale::Log)
    .line(&format!("Elman RNN, n = {HIDDEN} (BPTT)"), curve("rnn"))
    .line(
        &format!("S4D-LegS, 2 channels × {} complex modes", HIDDEN / 4),
        curve("s4d"),
    )
    .save(&figure_path("ch09", "measured-rnn-recall.svg"))
}

/// `--eval DIR`: a saved RNN or S4D layer on fresh sequences at `lag`.
fn re_evaluate(dir: &std::path::Path, lag: usize) -> Result<()> {
    let config = common::read_config(dir)?;
    let task = Recall::new(LEN, lag)?;
    let weights = dir.join("model.safetensors");
    for seed in 1..=3u64 {
        let fresh = task.batch(u64::MAX / 3 + seed, EVAL);
        let error = if config["model_type"] == "elman_rnn" {
            let rnn_config = RnnConfig {
                hidden: common::config_size(&config, "hidden")?,
                input: common::config_size(&config, "inputs")?,
                output: common::config_size(&config, "outputs")?,
                spectral_radius: 0.9,
                input_scale: 1.0,
            };
            let mut rnn = ElmanRnn::random(&rnn_config, 0)?;
            checkpoint::load(&mut rnn, &weights)?;
            rnn_error(&rnn, &fresh)
        } else {
            let (channels, modes) = (
                common::config_size(&config, "channels")?,
                common::config_size(&config, "modes")?,
            );
            let mut s4d = S4dMix::new(
                S4dParams::new(channels, 2 * modes, S4dInit::Lin, 0)?,
                0,
            );
            checkpoint::load(&mut s4d, &weights)?;
            normalised_error(&s4d, &fresh)
        };
        println!(
            "{}: k = {lag}, fresh seed {seed}: normalised error {error:.3}",
            dir.display()
        );
    }
    Ok(())
}

fn table(results: &serde_json::Value) -> String {
    let s = &results["settings"];
    let mut md =
        "| lag k | Elman RNN | S4D-LegS layer |\n|---|---|---|\n".to_string();
    for row in results["summary"].as_array().into_iter().flatten() {
        md += &format!(
            "| {} | {} | {} |\n",
            row["lag"],
            common::spread_cell(&row["rnn"], 3, false),
            common::spread_cell(&row["s4d"], 3, false)
        );
    }
    md += &format!(
        "\n*Normalised squared error on {} fresh sequences of length {} (1 = predicting zero) after {} steps of batch {}, Adam {}; the RNN has {} parameters, the S4D layer {}; mean (range) over {} seeds. Measured on {}.*\n",
        s["eval_sequences"],
        s["len"],
        s["steps"],
        s["batch"],
        s["lr"],
        s["rnn_parameters"],
        s["s4d_parameters"],
        s["seeds"],
        results["machine"].as_str().unwrap_or("?"),
    );
    md
}
