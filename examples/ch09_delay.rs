//! Chapter 9: what HiPPO's initialisation buys (S4 §4.4 and its delay task,
//! scaled down). One linear S4D layer, 8 channels × 32 complex modes, learns
//! to output its input 256 steps late; its eigenvalues start as S4D-LegS,
//! S4D-Lin, S4D-Inv, or the eigenvalues of a random matrix; then the same
//! with a single channel (one Δ). Three seeds each. Writes the curves, the
//! eigenvalues before and after training, `measured-delay.{json,md}` (the
//! book's table) under `chapters/figures/ch09/`, and the trained layers under
//! `target/ch09/delay/`.
//!
//! Run: `cargo run --release --example ch09_delay` (`-- --help` for steps,
//! seeds and the learning rate; `-- --eval DIR` measures a saved layer).

#[path = "ch09/common.rs"]
mod common;

use std::process::ExitCode;

use clap::Parser;
use nalgebra::Complex;
use ssm_lineage::Result;
use ssm_lineage::s4d::S4dInit;
use ssm_lineage::s4d::learn::S4dParams;
use ssm_lineage::support::figure::{
    Legend, LinePlot, Scale, exit_code, figure_path, save_grid,
};
use ssm_lineage::train::checkpoint;
use ssm_lineage::train::experiment::{Spread, runs_dir};
use ssm_lineage::train::s4d_mix::{S4dMix, normalised_error, random_modes};
use ssm_lineage::train::tasks::Delay;
use ssm_lineage::train::{LogRow, Trainer};

#[derive(Parser)]
#[command(
    about = "The delay task: HiPPO-based initialisations against a random one"
)]
struct Args {
    /// Measure a saved layer (a run folder under target/ch09/delay) on fresh
    /// sequences, without training.
    #[arg(long, value_name = "DIR")]
    eval: Option<std::path::PathBuf>,
    /// Only rewrite the book's table(s) from the saved JSON (no training).
    #[arg(long)]
    tables: bool,
    /// Optimizer steps per run.
    #[arg(long, default_value_t = 1000)]
    steps: u64,
    /// Adam's learning rate (AdamW without weight decay).
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Seeds per initialisation.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
}

/// The sequence length, the delay and the nonzero frequency bins.
const LEN: usize = 1024;
const DELAY: usize = 256;
const BINS: usize = 64;
/// The state size per channel (32 complex modes).
const N: usize = 64;
/// Sequences per batch, and in the final measurement.
const BATCH: usize = 16;
const EVAL: usize = 64;

const INITS: [&str; 4] = ["S4D-LegS", "S4D-Lin", "S4D-Inv", "random"];

fn main() -> ExitCode {
    exit_code("ch09_delay", run(&Args::parse()))
}

/// A layer of `channels` channels initialised as `init`.
fn layer(init: &str, channels: usize, seed: u64) -> Result<S4dParams> {
    match init {
        "S4D-LegS" => S4dParams::new(channels, N, S4dInit::Legs, seed),
        "S4D-Lin" => S4dParams::new(channels, N, S4dInit::Lin, seed),
        "S4D-Inv" => S4dParams::new(channels, N, S4dInit::Inv, seed),
        _ => {
            let (lambda, b) = random_modes(N, seed)?;
            S4dParams::from_modes(channels, &lambda, &b, seed)
        }
    }
}

struct Run {
    init: &'static str,
    channels: usize,
    error: f64,
    before: S4dParams,
    trainer: Trainer<S4dMix>,
}

fn run(args: &Args) -> Result<()> {
    if args.tables {
        println!("{}", common::write_table("measured-delay", table)?);
        return Ok(());
    }
    let task = Delay::new(LEN, DELAY, BINS)?;
    if let Some(dir) = &args.eval {
        let config = common::read_config(dir)?;
        let (channels, modes) = (
            common::config_size(&config, "channels")?,
            common::config_size(&config, "modes")?,
        );
        let mut model =
            S4dMix::new(S4dParams::new(channels, 2 * modes, S4dInit::Lin, 0)?, 0);
        checkpoint::load(&mut model, &dir.join("model.safetensors"))?;
        for seed in 1..=3u64 {
            let error =
                normalised_error(&model, &task.batch(u64::MAX / 3 + seed, EVAL));
            println!(
                "{}: fresh seed {seed}: normalised error {error:.2e}",
                dir.display()
            );
        }
        return Ok(());
    }
    let fresh = task.batch(u64::MAX / 2, EVAL);
    let mut runs = Vec::new();
    for channels in [8, 1] {
        for init in INITS {
            for seed in 1..=args.seeds {
                let s4d = layer(init, channels, seed)?;
                let model = S4dMix::new(s4d.clone(), seed);
                let dir = runs_dir()
                    .join("delay")
                    .join(format!("H{channels}"))
                    .join(init)
                    .join(format!("seed-{seed}"));
                eprintln!(
                    "{init}, {channels} channel(s), seed {seed} → {}",
                    dir.display()
                );
                let log_every = (args.steps / 50).max(1);
                let trainer = common::train(
                    model,
                    args.steps,
                    args.lr,
                    log_every,
                    &dir,
                    |s| task.batch(seed * 1_000_000_007 + s, BATCH),
                    None,
                )?;
                let error = normalised_error(&trainer.model, &fresh);
                println!(
                    "{init:>9}, H = {channels}, seed {seed}: normalised error {error:.2e}"
                );
                runs.push(Run {
                    init,
                    channels,
                    error,
                    before: s4d,
                    trainer,
                });
            }
        }
    }
    let summary: Vec<serde_json::Value> = [8, 1]
        .iter()
        .flat_map(|&h| INITS.iter().map(move |&i| (h, i)))
        .map(|(h, init)| {
            let errors: Vec<f64> = runs.iter().filter(|r| r.init == init && r.channels == h).map(|r| r.error).collect();
            serde_json::json!({ "init": init, "channels": h, "error": Spread::of(&errors).to_json(), "errors": errors })
        })
        .collect();
    let results = serde_json::json!({
        "experiment": "delay",
        "settings": {
            "len": LEN, "delay": DELAY, "bins": BINS, "modes": N / 2, "batch": BATCH,
            "lr": args.lr, "steps": args.steps, "seeds": args.seeds, "eval_sequences": EVAL,
        },
        "summary": summary,
    });
    println!(
        "{}",
        common::write_results("measured-delay", results, table)?
    );
    curves(&runs, args)?;
    spectra(&runs)
}

fn table(results: &serde_json::Value) -> String {
    let s = &results["settings"];
    let mut md = "| A initialised as | 8 channels | 1 channel (one Δ): each seed |\n|---|---|---|\n".to_string();
    let rows = results["summary"].as_array().cloned().unwrap_or_default();
    for init in INITS {
        let find = |h: u64| {
            rows.iter()
                .find(|r| r["init"] == init && r["channels"] == h)
        };
        let eight = find(8).map_or("–".into(), |r| {
            format!(
                "{:.1e} ({:.1e}–{:.1e})",
                r["error"]["mean"].as_f64().unwrap_or(f64::NAN),
                r["error"]["min"].as_f64().unwrap_or(f64::NAN),
                r["error"]["max"].as_f64().unwrap_or(f64::NAN)
            )
        });
        let one = find(1).map_or("–".into(), |r| {
            r["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| format!("{:.1e}", e.as_f64().unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
                .join(", ")
        });
        md += &format!("| {init} | {eight} | {one} |\n");
    }
    md += &format!(
        "\n*Normalised squared error on {} fresh sequences (1 = predicting zero) after {} steps of batch {}, Adam {}; L = {}, delay {}, {} of {} frequency bins, {} complex modes per channel; mean (range) over {} seeds. Measured on {}.*\n",
        s["eval_sequences"],
        s["steps"],
        s["batch"],
        s["lr"],
        s["len"],
        s["delay"],
        s["bins"],
        s["len"].as_u64().unwrap_or(0) / 2,
        s["modes"],
        s["seeds"],
        results["machine"].as_str().unwrap_or("?"),
    );
    md
}

fn curves(runs: &[Run], args: &Args) -> Result<()> {
    let plot = |h: usize| {
        let mut p = LinePlot::new(
            &format!(
                "Delay by 256 steps, {h} channel{}: training error",
                if h == 1 { "" } else { "s" }
            ),
            "optimizer step",
            "mean squared error on the batch (1 = zero)",
        )
        .scales(Scale::Linear, Scale::Log)
        .ranges(0.0..args.steps as f64, 1e-4..2.0);
        for init in INITS {
            let logs: Vec<&[LogRow]> = runs
                .iter()
                .filter(|r| r.init == init && r.channels == h)
                .map(|r| r.trainer.log.as_slice())
                .collect();
            let (by_step, _) = common::mean_curve(&logs, |r| r.metrics.loss);
            p = p.line(init, by_step);
        }
        p
    };
    save_grid(
        &figure_path("ch09", "measured-delay-curves.svg"),
        &[plot(8), plot(1)],
        1,
    )
}

/// Every mode's $\Delta\lambda$ before and after training: frequency per step
/// against decay per step (both log scales; a real mode is drawn at a
/// frequency of 10⁻⁴), for the first seed of LegS and of random, with the
/// input's band and the delay's timescale marked.
fn spectra(runs: &[Run]) -> Result<()> {
    let points = |p: &S4dParams| -> Vec<(f64, f64)> {
        let mut v = Vec::new();
        for h in 0..p.channels() {
            let dt = p.log_dt[h].exp();
            for m in 0..p.log_a_real.ncols() {
                let z: Complex<f64> = p.mode(h, m)[0] * dt;
                v.push((z.im.abs().max(1e-4), -z.re));
            }
        }
        v
    };
    let band = 2.0 * std::f64::consts::PI * BINS as f64 / LEN as f64;
    let plots: Vec<LinePlot> = ["S4D-LegS", "random"]
        .iter()
        .filter_map(|&init| runs.iter().find(|r| r.init == init && r.channels == 8))
        .map(|r| {
            LinePlot::new(
                &format!("{}: the modes Δλ of 8 channels, before and after", r.init),
                "|Im Δλ| (radians per step)",
                "−Re Δλ (decay per step)",
            )
            .scales(Scale::Log, Scale::Log)
            .ranges(5e-5..200.0, 1e-5..1.0)
            .legend(Legend::LowerRight)
            .points("before", points(&r.before))
            .points("after training", points(&r.trainer.model.s4d))
            .dashed(
                "decay 1/256 per step",
                vec![(5e-5, 1.0 / 256.0), (200.0, 1.0 / 256.0)],
            )
            .dashed("the input's band", vec![(band, 1e-5), (band, 1.0)])
        })
        .collect();
    save_grid(
        &figure_path("ch09", "measured-delay-spectra.svg"),
        &plots,
        1,
    )
}
