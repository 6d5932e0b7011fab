//! What each layer of a trained induction-heads model does, on one sequence
//! and on many: its step sizes Δ, its state, its output, and what the answer
//! needs from it. Used by `ch09_induction_heads -- --layers DIR`.

use nalgebra::{DMatrix, DVector};

use ssm_lineage::Result;
use ssm_lineage::mamba::MambaModel;
use ssm_lineage::train::tasks::InductionHeads;

/// Everything measured of one layer on one sequence, one value per position.
pub struct Layer {
    /// Δ averaged over the channels.
    pub delta_mean: Vec<f64>,
    /// The norm of the state, all channels and states: ‖hₜ‖.
    pub state: Vec<f64>,
    /// The norm of each channel's state, `(d_inner, len)`: ‖h_{ch,t}‖ over
    /// its N states.
    pub channels: DMatrix<f64>,
    /// The norm of the layer's output (what it adds to the residual stream).
    pub output: Vec<f64>,
}

/// The residual stream after each layer (row t, position t), with the
/// outputs of the layers in `skip` left out, and each layer's measurements.
pub fn run(
    model: &MambaModel,
    tokens: &[usize],
    skip: &[usize],
) -> (Vec<DMatrix<f64>>, Vec<Layer>) {
    let len = tokens.len();
    let mut r = DMatrix::from_fn(len, model.config.d_model, |t, j| {
        model.embedding[(j, tokens[t])]
    });
    let mut streams = Vec::new();
    let mut layers = Vec::new();
    for (l, (norm, block)) in model.layers.iter().enumerate() {
        let v = norm.apply_rows(&r);
        let delta = block.step_sizes(&block.select(&v)); // (len, d_inner)
        let (out, _) = block.forward(&v);
        // The state, one token at a time (the recurrent view of the same layer).
        let mut cache = block.empty_cache();
        let mut channels = DMatrix::zeros(block.config.d_inner(), len);
        let state = (0..len)
            .map(|t| {
                block.step(&v.row(t).transpose(), &mut cache);
                for (ch, row) in cache.ssm_state.row_iter().enumerate() {
                    channels[(ch, t)] = row.norm();
                }
                cache.ssm_state.norm()
            })
            .collect();
        layers.push(Layer {
            channels,
            delta_mean: delta.row_iter().map(|row| row.mean()).collect(),
            state,
            output: out.row_iter().map(|row| row.norm()).collect(),
        });
        if !skip.contains(&l) {
            r += out;
        }
        streams.push(r.clone());
    }
    (streams, layers)
}

/// The logits at position `t` read from a residual stream (the final norm
/// and the tied head).
pub fn logits(model: &MambaModel, stream: &DMatrix<f64>, t: usize) -> DVector<f64> {
    let h = model.norm_f.apply(&stream.row(t).transpose());
    model.embedding.tr_mul(&h)
}

/// The probability of `token` at position `t` of a residual stream.
pub fn probability(
    model: &MambaModel,
    stream: &DMatrix<f64>,
    t: usize,
    token: usize,
) -> f64 {
    let z = logits(model, stream, t);
    let max = z.max();
    let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
    (z[token] - max).exp() / sum
}

/// Accuracy at the last position over `count` fresh sequences of length
/// `len`, with the outputs of the layers in `skip` left out of the
/// residual stream.
pub fn accuracy(
    model: &MambaModel,
    len: usize,
    vocab: usize,
    count: usize,
    skip: &[usize],
) -> Result<f64> {
    let task = InductionHeads::new(len, vocab)?;
    let mut right = 0;
    for e in task.batch(u64::MAX / 4 + len as u64, count) {
        let (streams, _) = run(model, &e.tokens, skip);
        let last = streams
            .last()
            .map_or(0, |s| logits(model, s, len - 1).argmax().0);
        if Some(last) == e.targets[len - 1] {
            right += 1;
        }
    }
    Ok(right as f64 / count as f64)
}

/// Over `count` fresh sequences at the task's length: where layer 1's Δ
/// (mean over channels) peaks, relative to the first special token; its
/// value there against its median over the sequence; each layer's Δ range
/// and the mean norm of its output.
pub fn statistics(
    model: &MambaModel,
    task: &InductionHeads,
    count: usize,
) -> Result<serde_json::Value> {
    let special = task.vocab - 1;
    let mut offsets = std::collections::BTreeMap::<i64, usize>::new();
    let n = model.layers.len();
    let (mut peak, mut median) = (Vec::new(), Vec::new());
    let mut lo = vec![f64::INFINITY; n];
    let mut hi = vec![0.0f64; n];
    let mut out = vec![0.0; n];
    for e in task.batch(u64::MAX / 5, count) {
        let p = e.tokens.iter().position(|&t| t == special).unwrap_or(0);
        let (_, layers) = run(model, &e.tokens, &[]);
        let d = &layers[0].delta_mean;
        let (arg, &max) = d
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap_or((0, &0.0));
        *offsets.entry(arg as i64 - p as i64).or_default() += 1;
        let mut sorted = d.clone();
        sorted.sort_by(f64::total_cmp);
        peak.push(max);
        median.push(sorted[sorted.len() / 2]);
        for (l, m) in layers.iter().enumerate() {
            for &v in &m.delta_mean {
                lo[l] = lo[l].min(v);
                hi[l] = hi[l].max(v);
            }
            out[l] += m.output.iter().sum::<f64>() / (m.output.len() * count) as f64;
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(serde_json::json!({
        "layer1_delta_peak_offset_from_p": offsets
            .iter()
            .map(|(k, v)| serde_json::json!({"offset": k, "sequences": v}))
            .collect::<Vec<_>>(),
        "layer1_delta_peak_mean": mean(&peak),
        "layer1_delta_median_mean": mean(&median),
        "delta_mean_range": (0..n).map(|l| [lo[l], hi[l]]).collect::<Vec<_>>(),
        "output_norm_mean": out,
    }))
}
