//! Trains the `generate` example's default model: a small byte-level Mamba
//! (vocabulary 256: every byte is a token, so no tokenizer is needed) on the
//! book's own text and the crate's source, with the fast training path
//! (AdamW with weight decay 0.1, warm-up and a cosine), for a
//! fixed budget of steps (eight minutes on an idle 2-core machine). Writes
//! `examples/book-mamba/` (`config.json` and `model.safetensors` in `F32`,
//! the Hugging Face layout) and prints a sample.
//!
//! Run: `cargo run --release --example book_lm` (`-- --help` for the size
//! and budget).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use rand::RngExt;
use ssm_lineage::Result;
use ssm_lineage::error::Error;
use ssm_lineage::hub::Sampling;
use ssm_lineage::mamba::fast::FastModel;
use ssm_lineage::mamba::{MambaConfig, MambaModel};
use ssm_lineage::support::figure::exit_code;
use ssm_lineage::support::rng::seeded;
use ssm_lineage::train::checkpoint::{self, Precision, write_atomically};
use ssm_lineage::train::fast::FastMamba;
use ssm_lineage::train::{Example, Schedule, TrainConfig, Trainable, Trainer};
use ssm_lineage::traits::Parameters;

#[derive(Parser)]
#[command(about = "Train the generate example's default model on the book's text")]
struct Args {
    /// Optimizer steps (1,600 of 16 × 256 bytes: eight minutes on an idle
    /// 2-core Xeon, 11.5 with a compiler running beside it).
    #[arg(long, default_value_t = 1600)]
    steps: u64,
    /// Bytes per training sequence.
    #[arg(long, default_value_t = 256)]
    len: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// The width of the residual stream.
    #[arg(long, default_value_t = 128)]
    d_model: usize,
    /// Blocks.
    #[arg(long, default_value_t = 4)]
    layers: usize,
    /// Where to write the model.
    #[arg(long, default_value = "examples/book-mamba")]
    out: PathBuf,
}

fn main() -> ExitCode {
    exit_code("book_lm", run(&Args::parse()))
}

/// The book's own text: every chapter's Markdown (`chapters/**/*.md`) and
/// the crate's source (`src/**/*.rs`, whose documentation is most of it),
/// in sorted order, as bytes: the first nine tenths of each file to train
/// on, the last tenth held out.
fn corpus(root: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut files = Vec::new();
    let mut folders = vec![root.join("chapters"), root.join("src")];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| Error::Input {
            path: folder.clone(),
            reason: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "md" || e == "rs")
                && !path.components().any(|c| c.as_os_str() == "figures")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    let (mut train, mut held_out) = (Vec::new(), Vec::new());
    for f in files {
        let text = std::fs::read(&f).map_err(|e| Error::Input {
            path: f.clone(),
            reason: e.to_string(),
        })?;
        let split = text.len() * 9 / 10;
        train.extend_from_slice(&text[..split]);
        train.push(b'\n');
        held_out.extend_from_slice(&text[split..]);
        held_out.push(b'\n');
    }
    Ok((train, held_out))
}

fn run(args: &Args) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (train, held_out) = corpus(root)?;
    if held_out.len() <= args.len + 1 {
        return Err(Error::invalid(
            "len",
            args.len,
            "shorter than the held-out text",
        ));
    }
    let (train, held_out) = (train.as_slice(), held_out.as_slice());
    println!(
        "corpus: the book and its source, {} bytes to train on, {} held out",
        train.len(),
        held_out.len()
    );
    let window = |data: &[u8], rng: &mut rand::rngs::StdRng| {
        let start = rng.random_range(0..data.len() - args.len - 1);
        let bytes = &data[start..start + args.len + 1];
        Example {
            tokens: bytes[..args.len].iter().map(|&b| usize::from(b)).collect(),
            targets: bytes[1..].iter().map(|&b| Some(usize::from(b))).collect(),
        }
    };
    let config = MambaConfig::new(args.d_model, args.layers, 256);
    let model = FastMamba {
        model: MambaModel::new(&config, 1)?,
    };
    println!("model: {} parameters", model.parameter_count());
    let mut train_config = TrainConfig::new(args.steps, 3e-3);
    train_config.schedule = Schedule {
        peak: 3e-3,
        floor: 1e-4,
        warmup: args.steps / 20,
        total: args.steps,
    };
    train_config.adamw.weight_decay = 0.1;
    train_config.log_every = (args.steps / 30).max(1);
    train_config.progress = true;
    let mut trainer = Trainer::new(model, train_config)?;
    trainer.run(|step| {
        let mut rng = seeded(step);
        (0..args.batch).map(|_| window(train, &mut rng)).collect()
    })?;
    let held: Vec<Example> = {
        let mut rng = seeded(u64::MAX / 2);
        (0..32).map(|_| window(held_out, &mut rng)).collect()
    };
    let (metrics, _) = trainer.model.loss_and_gradients(&held)?;
    println!(
        "held-out text: {:.3} nats per byte ({:.2} bits), next byte right {:.1}% of the time",
        metrics.loss,
        metrics.loss / std::f64::consts::LN_2,
        100.0 * metrics.accuracy()
    );
    let model = &trainer.model.model;
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    checkpoint::save(
        model,
        &args.out.join("model.safetensors"),
        Precision::F32,
        meta,
    )?;
    let config_json =
        serde_json::to_string_pretty(&model.config_json()).unwrap_or_default();
    write_atomically(&args.out.join("config.json"), config_json.as_bytes())?;
    println!("wrote {}", args.out.display());
    let fast = FastModel::from(model);
    let prompt: Vec<usize> = b"The state".iter().map(|&b| usize::from(b)).collect();
    let (mut logits, mut caches) = fast.prefill(&prompt)?;
    let (mut rng, sampling) = (seeded(0), Sampling::new(0.8, 0.95)?);
    let mut out = prompt.clone();
    for _ in 0..300 {
        let next = sampling.pick(&logits, &mut rng);
        out.push(next);
        logits = fast.step(next, &mut caches)?;
    }
    let bytes: Vec<u8> = out.iter().map(|&t| t as u8).collect();
    println!("sample:\n{}", String::from_utf8_lossy(&bytes));
    Ok(())
}
