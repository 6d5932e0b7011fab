//! Chapter 9: induction heads (Mamba §4.1.2, Table 2). The 2-layer Mamba
//! language model of selective copying, trained at L = 64 and at L = 128
//! (three seeds each),
//! then measured at lengths 2^6 … 2^16 in recurrent mode, one token at a
//! time with a state of fixed size: how far past its training length the
//! model still recalls. Writes the curves, the length-extrapolation figure,
//! the state over a long sequence, `measured-induction-heads-L*.{json,md}` (the
//! book's table) under `chapters/figures/ch09/`, and every trained model under
//! `target/ch09/induction-heads/`.
//!
//! Run: `cargo run --release --example ch09_induction_heads`
//! (`-- --help` for the lengths, steps and seeds; `-- --eval DIR` measures a
//! saved model at every length without training; `-- --layers DIR` measures
//! what each layer of a saved model does and writes
//! `measured-induction-layers.{svg,json}`).

#[path = "ch09/common.rs"]
mod common;
#[path = "ch09/layers.rs"]
mod layers;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nalgebra::DMatrix;
use ssm_lineage::Result;
use ssm_lineage::hub::load_mamba;
use ssm_lineage::mamba::fast::FastModel;
use ssm_lineage::mamba::{MambaConfig, MambaModel};
use ssm_lineage::support::figure::{
    Heatmap, Legend, LinePlot, Mark, Scale, exit_code, figure_path, save_grid,
};
use ssm_lineage::train::experiment::{Spread, runs_dir};
use ssm_lineage::train::fast::{FastMamba, evaluate_recurrent};
use ssm_lineage::train::tasks::InductionHeads;
use ssm_lineage::train::{Metrics, Trainer};
use ssm_lineage::traits::Parameters;

#[derive(Parser)]
#[command(
    about = "Induction heads: train at one length, recall at up to 1,024 times it"
)]
struct Args {
    /// Only rewrite the book's table(s) from the saved JSON (no training).
    #[arg(long)]
    tables: bool,
    /// Measure a saved model (a run folder under target/ch09) at every length,
    /// without training.
    #[arg(long, value_name = "DIR")]
    eval: Option<PathBuf>,
    /// Measure what each layer of a saved model does (its Δ, its state, its
    /// output, the accuracy without it) and draw it, without training.
    #[arg(long, value_name = "DIR")]
    layers: Option<PathBuf>,
    /// The training lengths L (each trained and measured in turn).
    #[arg(long, value_delimiter = ',', default_values_t = [64, 128])]
    len: Vec<usize>,
    /// Optimizer steps per run [default: 1,250 × L / 64, the calibrated
    /// budget: 1,250 at L = 64, 2,500 at L = 128].
    #[arg(long)]
    steps: Option<u64>,
    /// Seeds.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// The longest evaluation length is 2^this.
    #[arg(long, default_value_t = 16)]
    max_log2: u32,
}

/// Sequences per training batch (as the calibration).
const BATCH: usize = 8;
/// The vocabulary: 15 symbols and the special token.
const VOCAB: usize = 16;
/// The learning rate (AdamW, no weight decay).
const LR: f64 = 1e-3;
/// Gradients clipped at this global norm (the Mamba reference's 1.0).
const CLIP: Option<f64> = Some(1.0);

/// Sequences measured at each evaluation length: 128 up to 2^12, fewer
/// beyond, so every length costs about the same.
fn sequences(len: usize) -> usize {
    (128 * 4096 / len).clamp(16, 128)
}

fn main() -> ExitCode {
    exit_code("ch09_induction_heads", run(&Args::parse()))
}

/// One training length's runs, as `train` measured them.
struct Trained {
    len: usize,
    steps: u64,
    runs: Vec<(u64, Trainer<FastMamba>, Vec<Metrics>, f64)>,
}

fn run(args: &Args) -> Result<()> {
    if args.tables {
        for name in args
            .len
            .iter()
            .map(|l| format!("measured-induction-heads-L{l}"))
        {
            println!("{}", common::write_table(&name, table)?);
        }
        extrapolation(&args.len)?;
        // The state figure from the first saved model, if it is there.
        let first = args.len.first().copied().unwrap_or(64);
        let dir = runs_dir()
            .join("induction-heads")
            .join(format!("L{first}"))
            .join("seed-1");
        return match load_mamba(&dir) {
            Ok(model) => state_figure(&model, first),
            Err(e) => {
                eprintln!("the state figure is not redrawn: {e}");
                Ok(())
            }
        };
    }
    if let Some(dir) = &args.layers {
        let first = args.len.first().copied().unwrap_or(64);
        return layer_figure(&load_mamba(dir)?, first);
    }
    let lengths: Vec<usize> = (6..=args.max_log2).map(|p| 1usize << p).collect();
    if let Some(dir) = &args.eval {
        let fast = FastModel::from(&load_mamba(dir)?);
        for &len in &lengths {
            let m = measure(&fast, len, 99)?;
            println!(
                "{}: length {len}: {:.1}% of {}",
                dir.display(),
                100.0 * m.accuracy(),
                m.scored
            );
        }
        return Ok(());
    }
    let mut all = Vec::new();
    for &len in &args.len {
        let steps = args.steps.unwrap_or(1250 * len as u64 / 64);
        all.push(train(args, len, steps, &lengths)?);
    }
    extrapolation(&args.len)?;
    state_figure(&all[0].runs[0].1.model.model, all[0].len)
}

/// Trains at `train_len` for `steps` steps, every seed, measures every
/// length, writes the results and the training curves.
fn train(
    args: &Args,
    train_len: usize,
    steps: u64,
    lengths: &[usize],
) -> Result<Trained> {
    let task = InductionHeads::new(train_len, VOCAB)?;
    let config = MambaConfig::new(64, 2, VOCAB);
    let mut runs: Vec<(u64, Trainer<FastMamba>, Vec<Metrics>, f64)> = Vec::new();
    for seed in 1..=args.seeds {
        let dir = runs_dir()
            .join("induction-heads")
            .join(format!("L{train_len}"))
            .join(format!("seed-{seed}"));
        eprintln!("seed {seed} → {}", dir.display());
        let model = FastMamba {
            model: MambaModel::new(&config, seed)?,
        };
        let log_every = (steps / 60).max(1);
        let trainer = common::train(
            model,
            steps,
            LR,
            log_every,
            &dir,
            |s| task.batch(seed * 1_000_000_007 + s, BATCH),
            CLIP,
        )?;
        let seconds = trainer.log.last().map_or(0.0, |r| r.seconds);
        let fast = FastModel::from(&trainer.model.model);
        let started = std::time::Instant::now();
        let at: Vec<Metrics> = lengths
            .iter()
            .map(|&len| measure(&fast, len, seed))
            .collect::<Result<_>>()?;
        for (len, m) in lengths.iter().zip(&at) {
            println!(
                "seed {seed}: length {len:>6}: {:5.1}% of {}",
                100.0 * m.accuracy(),
                m.scored
            );
        }
        eprintln!("measured in {:.0} s", started.elapsed().as_secs_f64());
        let result = serde_json::json!({
            "task": { "name": "induction_heads", "len": train_len, "vocab": VOCAB },
            "seed": seed, "steps": steps, "seconds": seconds,
            "accuracy_at": lengths.iter().zip(&at).map(|(l, m)| serde_json::json!({"len": l, "accuracy": m.accuracy()})).collect::<Vec<_>>(),
        });
        common::write(&dir.join("result.json"), &result.to_string())?;
        runs.push((seed, trainer, at, seconds));
    }
    let summary: Vec<serde_json::Value> = lengths
        .iter()
        .enumerate()
        .map(|(i, len)| {
            let acc: Vec<f64> = runs.iter().map(|r| r.2[i].accuracy()).collect();
            serde_json::json!({ "len": len, "sequences": runs[0].2[i].scored, "accuracy": Spread::of(&acc).to_json() })
        })
        .collect();
    let name = format!("measured-induction-heads-L{train_len}");
    let results = serde_json::json!({
        "experiment": "induction heads",
        "settings": {
            "len": train_len, "steps": steps, "batch": BATCH, "lr": LR,
            "seeds": args.seeds, "vocab": VOCAB,
            "parameters": runs[0].1.model.parameter_count(),
        },
        "seconds": Spread::of(&runs.iter().map(|r| r.3).collect::<Vec<_>>()).to_json(),
        "summary": summary,
    });
    println!("{}", common::write_results(&name, results, table)?);
    let trained = Trained {
        len: train_len,
        steps,
        runs,
    };
    curves(&trained)?;
    Ok(trained)
}

/// Accuracy at `len` on fresh sequences, in recurrent mode.
fn measure(model: &FastModel, len: usize, seed: u64) -> Result<Metrics> {
    let task = InductionHeads::new(len, VOCAB)?;
    evaluate_recurrent(
        model,
        &task.batch(u64::MAX / 2 + seed * 65_537 + len as u64, sequences(len)),
    )
}

fn table(results: &serde_json::Value) -> String {
    let s = &results["settings"];
    let mut md =
        "| length | × training length | sequences | accuracy |\n|---|---|---|---|\n"
            .to_string();
    let train = s["len"].as_f64().unwrap_or(1.0);
    for row in results["summary"].as_array().into_iter().flatten() {
        md += &format!(
            "| {} | {} | {} | {} |\n",
            row["len"],
            row["len"].as_f64().unwrap_or(0.0) / train,
            row["sequences"],
            common::spread_cell(&row["accuracy"], 1, true),
        );
    }
    md += &format!(
        "\n*Trained at L = {} for {} steps of batch {} (AdamW {}), {} s per run; {} parameters; accuracy on fresh sequences in recurrent mode, mean (range) over {} seeds. Measured on {}.*\n",
        s["len"],
        s["steps"],
        s["batch"],
        s["lr"],
        common::spread_cell(&results["seconds"], 0, false),
        s["parameters"],
        s["seeds"],
        results["machine"].as_str().unwrap_or("?"),
    );
    md
}

fn curves(t: &Trained) -> Result<()> {
    let logs: Vec<&[_]> = t.runs.iter().map(|r| r.1.log.as_slice()).collect();
    let (step, time) = common::mean_curve(&logs, |r| r.metrics.accuracy());
    let (loss, _) = common::mean_curve(&logs, |r| r.metrics.loss);
    save_grid(
        &figure_path("ch09", &format!("measured-induction-curves-L{}.svg", t.len)),
        &[
            LinePlot::new(
                &format!(
                    "Induction heads at L = {}: accuracy while training",
                    t.len
                ),
                "optimizer step",
                "accuracy on the batch (fresh data)",
            )
            .ranges(0.0..t.steps as f64, 0.0..1.0)
            .line(&format!("mean of {} seeds", t.runs.len()), step),
            LinePlot::new("The same against wall time", "seconds", "accuracy")
                .ranges(
                    0.0..t.runs.iter().map(|r| r.3).fold(1.0, f64::max),
                    0.0..1.0,
                )
                .line("mean", time),
            LinePlot::new(
                "Loss while training",
                "optimizer step",
                "cross-entropy (nats)",
            )
            .line("mean", loss),
        ],
        1,
    )
}

/// Accuracy against the sequence length, for every training length: the
/// best, the mean and the worst seed, read from the results JSON that the
/// training wrote (so `--tables` redraws it without training).
fn extrapolation(train_lens: &[usize]) -> Result<()> {
    let mut plot = LinePlot::new(
        "Trained at one length, measured in recurrent mode at many",
        "sequence length (log scale)",
        "accuracy on fresh sequences",
    )
    .scales(Scale::Log, Scale::Linear)
    .legend(Legend::UpperRight);
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for &len in train_lens {
        let json = common::read_json(&figure_path(
            "ch09",
            &format!("measured-induction-heads-L{len}.json"),
        ))?;
        let rows = json["summary"].as_array().cloned().unwrap_or_default();
        let curve = |key: &str| -> Vec<(f64, f64)> {
            rows.iter()
                .filter_map(|r| {
                    Some((r["len"].as_f64()?, r["accuracy"][key].as_f64()?))
                })
                .collect()
        };
        for (x, _) in curve("mean") {
            lo = lo.min(x);
            hi = hi.max(x);
        }
        plot = plot
            .line(
                &format!(
                    "trained at {len}, mean of {} seeds",
                    json["settings"]["seeds"]
                ),
                curve("mean"),
            )
            // The range over seeds as one outline: along the best seed, back
            // along the worst.
            .series(
                &format!("trained at {len}, range over seeds"),
                curve("max")
                    .into_iter()
                    .chain(curve("min").into_iter().rev())
                    .collect(),
                Mark::Dashed,
            );
    }
    let (lo, hi) = (lo * 0.8, hi * 1.25);
    // Headroom above 100% for the five-line legend, which then covers no
    // curve (the worst seed's runs low at the left, the best high at the right).
    plot.ranges(lo..hi, 0.0..1.55)
        .dashed("chance, 1/15", vec![(lo, 1.0 / 15.0), (hi, 1.0 / 15.0)])
        .save(&figure_path("ch09", "measured-induction-lengths.svg"))
}

/// The trained model's state over a long sequence, one token at a time: its
/// size per layer (what recurrent mode keeps, whatever the length).
fn state_figure(model: &MambaModel, train_len: usize) -> Result<()> {
    let len = 4096;
    let task = InductionHeads::new(len, VOCAB)?;
    let example = task.batch(5, 1).remove(0);
    let special = VOCAB - 1;
    let trigger = example
        .tokens
        .iter()
        .position(|&t| t == special)
        .unwrap_or(0);
    let mut caches = model.empty_caches();
    let mut norms = vec![Vec::new(); model.layers.len()];
    let mut answer = None;
    for (t, &token) in example.tokens.iter().enumerate() {
        let logits = model.step(token, &mut caches)?;
        for (l, cache) in caches.iter().enumerate() {
            norms[l].push((t as f64, cache.ssm_state.norm()));
        }
        if t + 1 == len {
            answer = Some(logits.argmax().0);
        }
    }
    println!(
        "state figure: trigger at {trigger}, answer {:?}, expected {:?}",
        answer,
        example.targets[len - 1]
    );
    let mut plot = LinePlot::new(
        &format!(
            "Trained at L = {train_len}: the state over a sequence of {len} tokens"
        ),
        "position t",
        "‖hₜ‖ (all channels and states of the layer)",
    );
    let top = norms.iter().flatten().map(|p| p.1).fold(0.0, f64::max);
    for (l, points) in norms.into_iter().enumerate() {
        plot = plot.line(&format!("layer {}", l + 1), points);
    }
    plot.dashed(
        "first special token",
        vec![(trigger as f64, 0.0), (trigger as f64, top)],
    )
    .save(&figure_path("ch09", "measured-induction-state.svg"))
}

/// Sequences measured per length by `--layers`.
const LAYER_SEQUENCES: usize = 128;

/// What each layer does: on the sequence of the task picture (seed 1 at the
/// training length) drawn as `measured-induction-layers.svg`, and over
/// fresh sequences: where layer 1's Δ spikes relative to the first special
/// token, how large each layer's output is, and the accuracy with each
/// layer's output left out of the residual stream
/// (`measured-induction-layers.json`).
fn layer_figure(model: &MambaModel, train_len: usize) -> Result<()> {
    let task = InductionHeads::new(train_len, VOCAB)?;
    let e = task.batch(1, 1).remove(0);
    let special = VOCAB - 1;
    let p = e.tokens.iter().position(|&t| t == special).unwrap_or(0);
    let answer = e.targets[train_len - 1].unwrap_or(0);
    let (streams, measured) = layers::run(model, &e.tokens, &[]);
    let stats = layers::statistics(model, &task, LAYER_SEQUENCES)?;
    let mut accuracy = Vec::new();
    let mut curves = vec![Vec::new(); 3];
    let ablations = [
        ("both layers", vec![]),
        ("layer 1 alone (layer 2's output left out)", vec![1]),
        ("layer 2 alone (layer 1's output left out)", vec![0]),
    ];
    for len in [train_len, 4 * train_len, 16 * train_len] {
        for ((name, skip), curve) in ablations.iter().zip(&mut curves) {
            let a = layers::accuracy(model, len, VOCAB, LAYER_SEQUENCES, skip)?;
            println!("length {len}, {name}: {:.1}%", 100.0 * a);
            accuracy.push(
                serde_json::json!({"len": len, "layers": name, "accuracy": a}),
            );
            curve.push((len as f64, a));
        }
    }
    // Per channel: the state's norm in both layers (log₁₀), and how many of
    // layer 1's channels grow tenfold at p + 3.
    let (di, len) = measured[0].channels.shape();
    let stacked = DMatrix::from_fn(2 * di, len, |i, t| {
        measured[i / di].channels[(i % di, t)].max(1e-6).log10()
    });
    let jumped = (0..di)
        .filter(|&ch| {
            let c = &measured[0].channels;
            p + 3 < len && c[(ch, p + 3)] > 10.0 * c[(ch, p + 2)]
        })
        .count();
    println!(
        "layer 1 channels whose state grows tenfold at p + 3: {jumped} of {di}"
    );
    Heatmap {
        title: "‖h‖ per channel on the pictured sequence".into(),
        x_label: "position t".into(),
        y_label: format!(
            "channel: layer 1 (0–{}), layer 2 ({}–{})",
            di - 1,
            di,
            2 * di - 1
        ),
        value_label: "log₁₀ ‖h_ch,t‖".into(),
        data: stacked,
        x_range: 0.0..len as f64,
        y_range: 0.0..(2 * di) as f64,
    }
    .save(&figure_path(
        "ch09",
        "measured-induction-layers-channels.svg",
    ))?;
    let read: Vec<f64> = streams
        .iter()
        .map(|s| layers::probability(model, s, train_len - 1, answer))
        .collect();
    println!(
        "{stats}\np(answer {answer}) at the end, read after each layer: {read:?}"
    );
    let results = serde_json::json!({
        "experiment": "induction heads, per layer",
        "settings": {"train_len": train_len, "vocab": VOCAB, "sequences": LAYER_SEQUENCES, "picture_seed": 1},
        "accuracy": accuracy,
        "per_layer": stats,
        "picture_sequence": {"p": p, "answer": answer, "p_answer_after_layer": read, "layer1_channels_tenfold_at_p_plus_3": jumped, "channels": di},
    });
    common::write(
        &figure_path("ch09", "measured-induction-layers.json"),
        &(serde_json::to_string_pretty(&results).unwrap_or_default() + "\n"),
    )?;
    let at = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter().enumerate().map(|(t, &y)| (t as f64, y)).collect()
    };
    let marks = |plot: LinePlot, top: f64, bottom: f64| {
        plot.dashed("first ★ (p)", vec![(p as f64, bottom), (p as f64, top)])
    };
    let top = |f: &dyn Fn(&layers::Layer) -> &Vec<f64>| {
        measured
            .iter()
            .flat_map(|m| f(m).iter().copied())
            .fold(0.0, f64::max)
    };
    let low = |f: &dyn Fn(&layers::Layer) -> &Vec<f64>| {
        let positive = measured.iter().flat_map(|m| f(m).iter().copied());
        positive.filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min)
    };
    let mut delta = LinePlot::new(
        &format!("Δ, mean over channels (★ at p = {p})"),
        "position t",
        "Δₜ (log)",
    )
    .scales(Scale::Linear, Scale::Log)
    .legend(Legend::UpperRight);
    let mut state = LinePlot::new("The state ‖hₜ‖", "position t", "‖hₜ‖ (log)")
        .scales(Scale::Linear, Scale::Log)
        .legend(Legend::LowerRight);
    let mut output = LinePlot::new(
        "What each layer adds to the stream",
        "position t",
        "‖layer output‖ (log)",
    )
    .scales(Scale::Linear, Scale::Log)
    .legend(Legend::LowerRight);
    for (l, m) in measured.iter().enumerate() {
        let name = format!("layer {}", l + 1);
        delta = delta.line(&name, at(&m.delta_mean));
        state = state.line(&name, at(&m.state));
        output = output.line(&name, at(&m.output));
    }
    let mut ablation = LinePlot::new(
        "Accuracy with a layer's output left out",
        "sequence length (log)",
        "accuracy (fresh sequences)",
    )
    .scales(Scale::Log, Scale::Linear)
    .ranges(0.8 * train_len as f64..20.0 * train_len as f64, -0.05..1.6);
    for (i, ((name, _), curve)) in ablations.iter().zip(curves).enumerate() {
        // Both layers as a line: layer 1 alone lands on the same points.
        let mark = if i == 0 { Mark::Line } else { Mark::Points };
        ablation = ablation.series(name, curve, mark);
    }
    let (d_top, s_top) = (top(&|m| &m.delta_mean), top(&|m| &m.state));
    let (d_low, s_low) = (low(&|m| &m.delta_mean), low(&|m| &m.state));
    save_grid(
        &figure_path("ch09", "measured-induction-layers.svg"),
        &[
            marks(delta, d_top, d_low),
            marks(state, s_top, s_low),
            output,
            ablation,
        ],
        2,
    )
}
