//! Chapter 7: how fast a Mamba language model runs where the example runs, at the
//! shapes of mamba-130m (24 layers, d_model = 768, N = 16, a 50 280-token
//! tied head; random weights): prefill of a 1024-token prompt (parallel mode,
//! the fast scan, logits for the last position) and greedy decoding (one token
//! at a time, recurrent mode), in tokens per second, beside the bound that
//! memory bandwidth (measured in the same run) puts on decoding; then
//! decoding again with bfloat16 weights (half the bytes). A speed table: run
//! by hand.
//!
//! Run: `cargo run --release --example ch07_model_speed`

use std::process::ExitCode;
use std::time::Instant;

use rand::RngExt;
use ssm_lineage::mamba::fast::{Bf16Decoder, FastCache, FastModel};
use ssm_lineage::mamba::{MambaConfig, MambaModel};
use ssm_lineage::support::figure::exit_code;
use ssm_lineage::support::rng::seeded;
use ssm_lineage::support::timing::read_bandwidth;
use ssm_lineage::traits::Parameters;

fn main() -> ExitCode {
    exit_code("ch07_model_speed", run())
}

fn run() -> ssm_lineage::Result<()> {
    let config = MambaConfig::new(768, 24, 50_280);
    let started = Instant::now();
    let readable = MambaModel::new(&config, 130)?;
    let parameters = readable.parameter_count();
    let model = FastModel::from(&readable);
    drop(readable);
    println!(
        "mamba-130m shapes: {} parameters ({:.2} GB in f32), built in {:.1} s; {} threads",
        parameters,
        parameters as f64 * 4e-9,
        started.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    let mut rng = seeded(1);
    let prompt: Vec<usize> =
        (0..1024).map(|_| rng.random_range(0..50_280)).collect();
    let started = Instant::now();
    let (mut logits, mut caches) = model.prefill(&prompt)?;
    let prefill = started.elapsed().as_secs_f64();
    println!(
        "prefill 1024 tokens: {:.2} s, {:.0} tokens/s",
        prefill,
        1024.0 / prefill
    );
    // Decoding reads every weight once per token: it is bounded by how fast
    // memory can be read, measured now, beside it (on a shared machine it
    // changes from minute to minute).
    let bandwidth = read_bandwidth(1 << 29, 5);
    let decode = seconds_per_token(
        |token, caches| model.step(token, caches),
        &mut logits,
        &mut caches,
    )?;
    report("f32", decode, bandwidth, parameters as f64 * 4.0);
    let bf16 = Bf16Decoder::new(&model);
    let decode = seconds_per_token(
        |token, caches| bf16.step(token, caches),
        &mut logits,
        &mut caches,
    )?;
    // The small parameters (norms, convolution, A, D, biases) stay in f32.
    let small = (parameters - bf16.weight_bytes() / 2) as f64 * 4.0;
    report(
        "bf16",
        decode,
        bandwidth,
        bf16.weight_bytes() as f64 + small,
    );
    Ok(())
}

/// The best of 4 runs of 16 greedy decoding steps by `step`, in seconds per
/// token, continuing from `logits` and `caches`.
fn seconds_per_token(
    step: impl Fn(usize, &mut [FastCache]) -> ssm_lineage::Result<Vec<f32>>,
    logits: &mut Vec<f32>,
    caches: &mut [FastCache],
) -> ssm_lineage::Result<f64> {
    let steps = 16;
    let mut best = f64::INFINITY;
    for _ in 0..4 {
        let started = Instant::now();
        for _ in 0..steps {
            let next = ssm_lineage::mamba::fast::model::argmax(logits);
            *logits = step(next, caches)?;
        }
        best = best.min(started.elapsed().as_secs_f64() / steps as f64);
    }
    Ok(best)
}

/// Prints decoding speed against the bound of reading `bytes` per token at
/// `bandwidth` bytes per second.
fn report(precision: &str, seconds: f64, bandwidth: f64, bytes: f64) {
    let bound = bandwidth / bytes;
    println!(
        "decode, {precision} weights: {:.1} tokens/s (best of 4 runs of 16); memory reads \
         at {:.1} GB/s now, so reading {:.2} GB of weights bounds it at {:.1} tokens/s: \
         {:.2}x the bound",
        1.0 / seconds,
        bandwidth / 1e9,
        bytes / 1e9,
        bound,
        bound * seconds
    );
}
