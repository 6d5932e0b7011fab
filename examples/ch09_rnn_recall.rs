//! Chapter 9: chapter 1's vanishing gradient as a learning failure. The
//! Elman RNN, trained by its own BPTT, learns to output its input k steps
//! back; for growing k it stops learning. Beside it, two linear S4D layers
//! with a state of the same size (32 real numbers) trained the same way:
//! HiPPO-LegS modes (2 channels × 8 complex modes, Δ drawn as the S4D paper
//! does) and S4D-Lin, the diagonal form of HiPPO-FouT, set up as a sliding
//! window of 2/Δ = 32 steps (1 channel × 16 modes, Δ = 1/16). During
//! training each run records how much of the loss's gradient reaches the
//! state k steps back. Three seeds each. Writes
//! `measured-rnn-recall.{svg,json,md}` and
//! `measured-rnn-recall-gradients.svg` under `chapters/figures/ch09/` and
//! the trained models under `target/ch09/recall/`.
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
use ssm_lineage::support::figure::{self, LinePlot, Scale, exit_code, figure_path};
use ssm_lineage::train::checkpoint;
use ssm_lineage::train::experiment::{Spread, runs_dir};
use ssm_lineage::train::rnn::state_gradient_by_lag;
use ssm_lineage::train::s4d_mix::{S4dMix, normalised_error};
use ssm_lineage::train::tasks::Recall;
use ssm_lineage::train::{SignalExample, TrainConfig, Trainable, Trainer};
use ssm_lineage::traits::Parameters;

#[derive(Parser)]
#[command(about = "Recall k steps back: the RNN against two S4D layers")]
struct Args {
    /// Measure a saved model (a run folder under target/ch09/recall: an
    /// `rnn` or an `s4d` one) on fresh sequences, without training.
    #[arg(long, value_name = "DIR")]
    eval: Option<std::path::PathBuf>,
    /// The lag to measure a saved model at.
    #[arg(long, default_value_t = 8)]
    lag: usize,
    /// Only rewrite the book's table and figures from the saved JSON (no
    /// training).
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
/// The S4D-Lin layer's step: its 16 modes rotate by πn/16 rad per step
/// (n = 0..15), the frequencies of a 32-point DFT, a window of 2/Δ steps.
const LIN_DT: f64 = 1.0 / 16.0;
/// The state lags k at which the gradient's reach is recorded.
const REACH: [usize; 12] = [0, 1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64];
/// Sequences the gradient's reach is measured on.
const REACH_SEQUENCES: usize = 8;
/// The training lag whose gradients the figure draws.
const DRAWN_LAG: usize = 32;
/// The models, as named in the JSON, the run folders and the table.
const MODELS: [(&str, &str); 3] = [
    ("rnn", "Elman RNN"),
    ("s4d", "S4D-LegS layer"),
    ("s4d_lin", "S4D-Lin layer, Δ = 1/16"),
];

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

/// The fractions of training after which the gradient's reach is recorded
/// (step 0, a tenth of the steps, the end).
fn checkpoints(steps: u64) -> [u64; 3] {
    [0, steps / 10, steps]
}

/// Trains `model` as `common::train` does, stopping at each checkpoint to
/// record `reach(model)`; returns the model and the records.
fn train<M: Trainable<Batch = Vec<SignalExample>>>(
    model: M,
    name: &str,
    task: Recall,
    seed: u64,
    steps: u64,
    reach: impl Fn(&M) -> Vec<f64>,
) -> Result<(M, Vec<Vec<f64>>)> {
    let dir = runs_dir()
        .join("recall")
        .join(name)
        .join(format!("k{}", task.lag))
        .join(format!("seed-{seed}"));
    eprintln!("{name}, k = {}, seed {seed} → {}", task.lag, dir.display());
    let mut config = TrainConfig::new(steps, LR);
    config.clip = CLIP;
    config.log_every = (steps / 20).max(1);
    config.progress = true;
    config.checkpoint_every = steps.max(1);
    config.dir = Some(dir);
    let mut trainer = Trainer::new(model, config)?;
    let mut records = Vec::new();
    for stop in checkpoints(steps) {
        trainer.config.steps = stop;
        trainer.run(|s| task.batch(seed * 1_000_000_007 + s, BATCH))?;
        records.push(reach(&trainer.model));
    }
    Ok((trainer.model, records))
}

/// The gradient's reach at the lags of [`REACH`], from the full curve.
fn at_reach(curve: &[f64]) -> Vec<f64> {
    REACH.iter().map(|&k| curve[k]).collect()
}

/// The mean over seeds of each record, entry by entry.
fn mean_records(runs: &[Vec<Vec<f64>>]) -> Vec<Vec<f64>> {
    let n = runs.len() as f64;
    (0..runs[0].len())
        .map(|c| {
            (0..REACH.len())
                .map(|i| runs.iter().map(|r| r[c][i]).sum::<f64>() / n)
                .collect()
        })
        .collect()
}

fn run(args: &Args) -> Result<()> {
    if args.tables {
        println!("{}", common::write_table("measured-rnn-recall", table)?);
        let results =
            common::read_json(&figure_path("ch09", "measured-rnn-recall.json"))?;
        let rows = results["summary"].as_array().cloned().unwrap_or_default();
        let steps = results["settings"]["steps"].as_u64().unwrap_or(args.steps);
        draw_errors(&rows, steps)?;
        return draw_reach(&rows, steps);
    }
    if let Some(dir) = &args.eval {
        return re_evaluate(dir, args.lag);
    }
    let max_lag = *REACH.last().unwrap_or(&0);
    let mut rows = Vec::new();
    let mut parameters = [0; 3];
    for lag in LAGS {
        let task = Recall::new(LEN, lag)?;
        let fresh = task.batch(u64::MAX / 2 + lag as u64, EVAL);
        let probe = &fresh[..REACH_SEQUENCES];
        let (mut errors, mut reaches) =
            ([vec![], vec![], vec![]], [vec![], vec![], vec![]]);
        for seed in 1..=args.seeds {
            let config = RnnConfig {
                hidden: HIDDEN,
                input: 1,
                output: 1,
                spectral_radius: 0.9,
                input_scale: 1.0,
            };
            let rnn = ElmanRnn::random(&config, seed)?;
            let legs = S4dMix::new(
                S4dParams::new(2, HIDDEN / 2, S4dInit::Legs, seed)?,
                seed,
            );
            let mut lin = S4dParams::new(1, HIDDEN, S4dInit::Lin, seed)?;
            lin.log_dt.fill(LIN_DT.ln());
            let lin = S4dMix::new(lin, seed);
            parameters = [
                rnn.parameter_count(),
                legs.parameter_count(),
                lin.parameter_count(),
            ];
            let (rnn, reach) = train(rnn, "rnn", task, seed, args.steps, |m| {
                at_reach(&state_gradient_by_lag(m, probe, max_lag))
            })?;
            errors[0].push(rnn_error(&rnn, &fresh));
            reaches[0].push(reach);
            let s4d_reach =
                |m: &S4dMix| at_reach(&m.state_gradient_by_lag(probe, max_lag));
            for (i, (name, model)) in [(1, ("s4d", legs)), (2, ("s4d_lin", lin))] {
                let (model, reach) =
                    train(model, name, task, seed, args.steps, s4d_reach)?;
                errors[i].push(normalised_error(&model, &fresh));
                reaches[i].push(reach);
            }
        }
        let spreads = errors.each_ref().map(|e| Spread::of(e));
        println!(
            "k = {lag:>2}: RNN {:.3}, S4D-LegS {:.3}, S4D-Lin {:.3}",
            spreads[0], spreads[1], spreads[2]
        );
        let mut row = serde_json::json!({ "lag": lag });
        for (i, (key, _)) in MODELS.iter().enumerate() {
            row[*key] = spreads[i].to_json();
            row["reach"][*key] = mean_records(&reaches[i]).into();
        }
        rows.push(row);
    }
    let results = serde_json::json!({
        "experiment": "recall",
        "settings": {
            "len": LEN, "hidden": HIDDEN, "batch": BATCH, "lr": LR, "steps": args.steps,
            "seeds": args.seeds, "eval_sequences": EVAL,
            "rnn_parameters": parameters[0], "s4d_parameters": parameters[1],
            "s4d_lin_parameters": parameters[2], "s4d_lin_dt": LIN_DT,
            "reach_lags": REACH, "reach_steps": checkpoints(args.steps),
            "reach_sequences": REACH_SEQUENCES,
        },
        "summary": rows,
    });
    println!(
        "{}",
        common::write_results("measured-rnn-recall", results, table)?
    );
    draw_errors(&rows, args.steps)?;
    draw_reach(&rows, args.steps)
}

/// The error against the lag, one line per model.
fn draw_errors(rows: &[serde_json::Value], steps: u64) -> Result<()> {
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
        &format!("Recall of uₜ₋ₖ after {steps} training steps"),
        "lag k (steps)",
        "normalised error on fresh sequences (1 = predicting zero)",
    )
    .scales(Scale::Log, Scale::Log)
    .line(&format!("Elman RNN, n = {HIDDEN} (BPTT)"), curve("rnn"))
    .line(
        &format!("S4D-LegS, 2 channels × {} complex modes", HIDDEN / 4),
        curve("s4d"),
    )
    .line(
        &format!("S4D-Lin, 1 channel × {} modes, Δ = 1/16", HIDDEN / 2),
        curve("s4d_lin"),
    )
    .save(&figure_path("ch09", "measured-rnn-recall.svg"))
}

/// The gradient's reach for the runs trained at [`DRAWN_LAG`]: the RNN at
/// each checkpoint, the S4D layers at the first and the last.
fn draw_reach(rows: &[serde_json::Value], steps: u64) -> Result<()> {
    let Some(row) = rows.iter().find(|r| r["lag"] == DRAWN_LAG) else {
        return Ok(());
    };
    let curve = |key: &str, c: usize| -> Vec<(f64, f64)> {
        REACH
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let v = row["reach"][key][c][i].as_f64().unwrap_or(f64::NAN);
                (k as f64, v)
            })
            .collect()
    };
    let at = checkpoints(steps);
    let mut plot = LinePlot::new(
        &format!(
            "Gradient reaching the state k steps back (trained at lag {DRAWN_LAG})"
        ),
        "steps back k",
        "mean ‖∂ℓₜ / ∂(state k steps back)‖ (ℓₜ: one position's squared error)",
    )
    .scales(Scale::Linear, Scale::Log)
    .ranges(0.0..REACH[REACH.len() - 1] as f64, 1e-13..1e12)
    .legend(figure::Legend::UpperRight);
    for (c, step) in at.iter().enumerate() {
        plot = plot.line(&format!("Elman RNN, step {step}"), curve("rnn", c));
    }
    for (key, name) in [("s4d", "S4D-LegS"), ("s4d_lin", "S4D-Lin")] {
        plot = plot
            .dashed(&format!("{name}, step 0"), curve(key, 0))
            .line(&format!("{name}, step {}", at[2]), curve(key, 2));
    }
    plot.save(&figure_path("ch09", "measured-rnn-recall-gradients.svg"))
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
    let mut md = "| lag k |".to_string();
    for (_, name) in MODELS {
        md += &format!(" {name} |");
    }
    md += "\n|---|---|---|---|\n";
    for row in results["summary"].as_array().into_iter().flatten() {
        md += &format!("| {} |", row["lag"]);
        for (key, _) in MODELS {
            md += &format!(" {} |", common::spread_cell(&row[key], 3, false));
        }
        md += "\n";
    }
    md += &format!(
        "\n*Normalised squared error on {} fresh sequences of length {} (1 = predicting zero) after {} steps of batch {}, Adam {}; each model has a state of 32 real numbers; the RNN has {} parameters, the S4D-LegS layer {}, the S4D-Lin layer {}; mean (range) over {} seeds. Measured on {}.*\n",
        s["eval_sequences"],
        s["len"],
        s["steps"],
        s["batch"],
        s["lr"],
        s["rnn_parameters"],
        s["s4d_parameters"],
        s["s4d_lin_parameters"],
        s["seeds"],
        results["machine"].as_str().unwrap_or("?"),
    );
    md
}
