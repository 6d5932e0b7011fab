//! A Mamba language model writes text, one token at a time in recurrent
//! mode: the prompt in parallel mode (prefill), then one step per token with
//! a state of fixed size, streamed as it is decoded; at the end, the prefill
//! and decode speeds.
//!
//! With `--model DIR` it runs a Hugging Face `MambaForCausalLM` checkpoint
//! (`config.json`, `model.safetensors` or its shards, `tokenizer.json`), such
//! as `state-spaces/mamba-130m-hf`, with the fast `f32` model, or a
//! `Mamba2ForCausalLM` one with chapter 8's readable model; reading `tokenizer.json` needs the
//! `tokenizer` feature. Without it, it runs the small byte-level model in
//! `examples/book-mamba/`, trained by `cargo run --release --example book_lm`
//! on this book's text.
//!
//! Run: `cargo run --release --example generate -- --prompt "The state"`
//! (`-- --help` for the options;
//! `cargo run --release --features tokenizer --example generate -- --model DIR`
//! for a downloaded checkpoint).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use ssm_lineage::Result;
use ssm_lineage::error::Error;
use ssm_lineage::hub::{Sampling, load_mamba, load_mamba2, read_config};
use ssm_lineage::mamba::fast::{Bf16Decoder, FastModel};
use ssm_lineage::support::figure::exit_code;
use ssm_lineage::support::rng::seeded;

#[derive(Parser)]
#[command(about = "Generate text with a Mamba model in recurrent mode")]
struct Args {
    /// A Hugging Face checkpoint folder [default: the byte-level model trained
    /// on the book, examples/book-mamba].
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// The text to continue.
    #[arg(long, default_value = "The state")]
    prompt: String,
    /// Tokens to generate.
    #[arg(long, default_value_t = 200)]
    max_tokens: usize,
    /// Softmax temperature (0: always the most likely token).
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Draw from the most likely tokens holding this much probability.
    #[arg(long, default_value_t = 0.95)]
    top_p: f64,
    /// The sampling seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Decode with the weight matrices in bfloat16 (half the memory traffic).
    #[arg(long)]
    bf16: bool,
}

fn main() -> ExitCode {
    exit_code("generate", run(&Args::parse()))
}

/// Text to tokens and back: bytes for the book's model, the checkpoint's
/// `tokenizer.json` otherwise.
enum Codec {
    Bytes,
    #[cfg(feature = "tokenizer")]
    Hf(Box<tokenizers::Tokenizer>),
}

impl Codec {
    fn for_model(dir: &Path, byte_level: bool) -> Result<Codec> {
        if byte_level {
            return Ok(Codec::Bytes);
        }
        let path = dir.join("tokenizer.json");
        #[cfg(feature = "tokenizer")]
        {
            let tokenizer =
                tokenizers::Tokenizer::from_file(&path).map_err(|e| {
                    Error::Input {
                        path: path.clone(),
                        reason: e.to_string(),
                    }
                })?;
            Ok(Codec::Hf(Box::new(tokenizer)))
        }
        #[cfg(not(feature = "tokenizer"))]
        Err(Error::Input {
            path,
            reason: "reading a tokenizer needs the `tokenizer` feature: cargo run --release --features tokenizer --example generate -- …".into(),
        })
    }

    fn encode(&self, text: &str) -> Result<Vec<usize>> {
        match self {
            Codec::Bytes => Ok(text.bytes().map(usize::from).collect()),
            #[cfg(feature = "tokenizer")]
            Codec::Hf(t) => {
                let encoding = t.encode(text, false).map_err(|e| {
                    Error::invalid("prompt", e, "text the tokenizer can encode")
                })?;
                Ok(encoding.get_ids().iter().map(|&i| i as usize).collect())
            }
        }
    }

    /// The text of `tokens`, up to the last complete character.
    fn decode(&self, tokens: &[usize]) -> String {
        match self {
            Codec::Bytes => {
                let bytes: Vec<u8> = tokens.iter().map(|&t| t as u8).collect();
                match std::str::from_utf8(&bytes) {
                    Ok(s) => s.to_string(),
                    Err(e) => String::from_utf8_lossy(&bytes[..e.valid_up_to()])
                        .into_owned(),
                }
            }
            #[cfg(feature = "tokenizer")]
            Codec::Hf(t) => {
                let ids: Vec<u32> = tokens.iter().map(|&i| i as u32).collect();
                let text = t.decode(&ids, true).unwrap_or_default();
                text.trim_end_matches('\u{FFFD}').to_string()
            }
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let sampling = Sampling::new(args.temperature, args.top_p)?;
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/book-mamba");
    let dir = args.model.clone().unwrap_or(default);
    let codec = Codec::for_model(&dir, args.model.is_none())?;
    let prompt = codec.encode(&args.prompt)?;
    if prompt.is_empty() {
        return Err(Error::invalid(
            "prompt",
            "an empty text",
            "at least one token",
        ));
    }
    let started = Instant::now();
    let loaded = |what: String| {
        eprintln!(
            "{}: {what}, loaded in {:.1} s",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    };
    if read_config(&dir)?["model_type"] == "mamba2" {
        // Chapter 8's readable model: there is no fast Mamba-2 yet.
        if args.bf16 {
            return Err(Error::invalid(
                "bf16",
                true,
                "false for a Mamba-2 model (the f64 model runs it)",
            ));
        }
        let model = load_mamba2(&dir)?;
        loaded(format!(
            "Mamba-2, {} layers, d_model {}",
            model.layers.len(),
            model.config().d_model
        ));
        let f32s = |v: nalgebra::DVector<f64>| {
            v.iter().map(|&x| x as f32).collect::<Vec<f32>>()
        };
        let prefill_start = Instant::now();
        let (h, mut caches) = model.hidden(&prompt)?;
        let prefilled =
            f32s(model.embedding.tr_mul(&h.row(h.nrows() - 1).transpose()));
        let prefill = prefill_start.elapsed().as_secs_f64();
        return decode(args, &codec, &sampling, &prompt, prefilled, prefill, |t| {
            model.step(t, &mut caches).map(f32s)
        });
    }
    let model = load_mamba(&dir)?;
    let fast = FastModel::from(&model);
    drop(model);
    loaded(format!(
        "{} layers, d_model {}, vocabulary {}",
        fast.config.n_layer, fast.config.d_model, fast.config.vocab_size
    ));
    let bf16 = args.bf16.then(|| Bf16Decoder::new(&fast));
    let prefill_start = Instant::now();
    let (logits, mut caches) = fast.prefill(&prompt)?;
    let prefill = prefill_start.elapsed().as_secs_f64();
    decode(
        args,
        &codec,
        &sampling,
        &prompt,
        logits,
        prefill,
        |next| match &bf16 {
            Some(decoder) => decoder.step(next, &mut caches),
            None => fast.step(next, &mut caches),
        },
    )
}

/// The decoding loop: pick a token from `logits`, feed it to `step`, print
/// the text it adds; then the speeds.
fn decode(
    args: &Args,
    codec: &Codec,
    sampling: &Sampling,
    prompt: &[usize],
    mut logits: Vec<f32>,
    prefill: f64,
    mut step: impl FnMut(usize) -> Result<Vec<f32>>,
) -> Result<()> {
    let mut stdout = std::io::stdout();
    let mut shown = codec.decode(prompt);
    print!("{shown}");
    let mut tokens = prompt.to_vec();
    let (mut rng, decode_start) = (seeded(args.seed), Instant::now());
    for _ in 0..args.max_tokens {
        let next = sampling.pick(&logits, &mut rng);
        tokens.push(next);
        logits = step(next)?;
        let text = codec.decode(&tokens);
        if let Some(new) = text.strip_prefix(shown.as_str()) {
            print!("{new}");
            stdout.flush().ok();
            shown = text;
        }
    }
    let decode = decode_start.elapsed().as_secs_f64();
    println!();
    eprintln!(
        "prefill: {} tokens in {:.3} s ({:.0} tokens/s); decode: {} tokens in {:.2} s ({:.0} tokens/s){}",
        prompt.len(),
        prefill,
        prompt.len() as f64 / prefill.max(1e-9),
        args.max_tokens,
        decode,
        args.max_tokens as f64 / decode.max(1e-9),
        if args.bf16 { ", bf16 weights" } else { "" }
    );
    Ok(())
}
