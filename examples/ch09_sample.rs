//! The book's own language model writes text: the byte-level Mamba in
//! `examples/book-mamba/` (trained by `cargo run --release --example book_lm`
//! on this book's text and the crate's source) continues a prompt in
//! recurrent mode, with the readable `f64` model of chapter 7
//! (`MambaModel::prefill`, then `MambaModel::step` once per byte) and the
//! sampling of `hub::Sampling` drawn from a seeded generator. It writes the
//! sample, with the command that made it, to
//! `chapters/figures/ch09/sample.md`, which chapter 9 includes; the test
//! `hub::the_book_sample_is_what_the_model_writes` regenerates it.
//!
//! Run: `cargo run --release --example ch09_sample` (`-- --help` for the
//! options; `--print` only prints the sample).

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use ssm_lineage::Result;
use ssm_lineage::error::Error;
use ssm_lineage::hub::{Sampling, load_mamba};
use ssm_lineage::support::figure::exit_code;
use ssm_lineage::support::rng::seeded;
use ssm_lineage::traits::Parameters;

#[derive(Parser)]
#[command(about = "The book's model writes a sample for chapter 9")]
struct Args {
    /// The text to continue.
    #[arg(long, default_value = "The state")]
    prompt: String,
    /// Bytes to generate.
    #[arg(long, default_value_t = 200)]
    max_tokens: usize,
    /// Softmax temperature (0: always the most likely byte).
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Draw from the most likely bytes holding this much probability.
    #[arg(long, default_value_t = 0.95)]
    top_p: f64,
    /// The sampling seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the sample without writing chapters/figures/ch09/sample.md.
    #[arg(long)]
    print: bool,
}

fn main() -> ExitCode {
    exit_code("ch09_sample", run(&Args::parse()))
}

fn run(args: &Args) -> Result<()> {
    let sampling = Sampling::new(args.temperature, args.top_p)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("examples/book-mamba");
    let model = load_mamba(&dir)?;
    let prompt: Vec<usize> = args.prompt.bytes().map(usize::from).collect();
    if prompt.is_empty() {
        return Err(Error::invalid(
            "prompt",
            "an empty text",
            "at least one byte",
        ));
    }
    let f32s = |v: nalgebra::DVector<f64>| -> Vec<f32> {
        v.iter().map(|&x| x as f32).collect()
    };
    let (logits, mut caches) = model.prefill(&prompt)?;
    let mut logits = f32s(logits);
    let mut rng = seeded(args.seed);
    let mut bytes: Vec<u8> = args.prompt.bytes().collect();
    for _ in 0..args.max_tokens {
        let next = sampling.pick(&logits, &mut rng);
        bytes.push(next as u8);
        logits = f32s(model.step(next, &mut caches)?);
    }
    let text = complete_characters(&bytes);
    println!("{text}");
    if args.print {
        return Ok(());
    }
    let markdown = format!(
        "<!-- ANCHOR: sample -->\n```text\n{text}\n```\n\n*Written by `cargo run \
         --release --example ch09_sample -- --seed {seed}`: the model of \
         `examples/book-mamba/` ({params} parameters) in recurrent mode, the \
         prompt \"{prompt}\" and {n} bytes drawn at temperature {t} from the \
         nucleus of probability {p}.*\n<!-- ANCHOR_END: sample -->\n",
        seed = args.seed,
        params = thousands(model.parameter_count()),
        prompt = args.prompt,
        n = args.max_tokens,
        t = args.temperature,
        p = args.top_p,
    );
    let path = root.join("chapters/figures/ch09/sample.md");
    std::fs::write(&path, markdown).map_err(|e| Error::Input {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The text of `bytes`: a byte sequence that is not UTF-8 becomes U+FFFD,
/// and a character cut off at the end (a sample may stop inside one) is
/// dropped.
fn complete_characters(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches('\u{FFFD}')
        .to_string()
}

/// `n` with a comma between groups of three digits, as the book writes counts.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
