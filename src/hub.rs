//! Pretrained models in the Hugging Face layout, from a local folder, and the
//! choice of the next token when they write text. A folder holds the
//! `config.json` and the weights (`model.safetensors`, or the shards listed
//! in `model.safetensors.index.json`) of a `MambaForCausalLM` checkpoint
//! (`state-spaces/mamba-130m-hf` … `mamba-2.8b-hf`) or a `Mamba2ForCausalLM`
//! one, or a model this crate saved. Their tensor names and shapes are those of
//! [`crate::train::checkpoint`]; F32, F16 and BF16 weights are converted on
//! the way in.
//!
//! Loading reads files a user gives, so everything wrong with them is an
//! [`Error`], never a panic: a missing file, JSON that does not parse, a
//! configuration this crate cannot build (`use_bias: true`), a missing or
//! misshapen tensor.

use std::path::{Path, PathBuf};

use rand::RngExt;
use rand::rngs::StdRng;

use crate::error::{Error, Result};
use crate::mamba::{MambaConfig, MambaModel};
use crate::ssd::{Mamba2Config, Mamba2Model};
use crate::train::checkpoint;

/// A checkpoint's `config.json`. Mamba-2 configurations written by older
/// `transformers` contain a bare `Infinity` (`"time_step_limit": [0.0,
/// Infinity]`; newer ones write `{"__float__": "Infinity"}`), which is not
/// JSON: `Infinity`, `-Infinity` and `NaN` outside strings are read as
/// `null`.
///
/// # Errors
/// [`Error::Input`] if the file cannot be read or does not parse.
pub fn read_config(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join("config.json");
    let bad = |reason: String| Error::Input {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&without_non_finite(&text)).map_err(|e| bad(e.to_string()))
}

/// `text` with the bare words `-Infinity`, `Infinity` and `NaN` outside
/// strings replaced by `null`.
fn without_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if let Some(word) = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|w| rest.starts_with(w))
        {
            out.push_str("null");
            rest = &rest[word.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The weight files of a checkpoint folder: `model.safetensors`, or every
/// shard named in `model.safetensors.index.json`'s `weight_map`.
///
/// # Errors
/// [`Error::Input`] if there is neither, or the index does not parse.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    let bad = |reason: String| Error::Input {
        path: index.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&index).map_err(|_| {
        bad(format!(
            "no model.safetensors and no model.safetensors.index.json in {}",
            dir.display()
        ))
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let map = json["weight_map"]
        .as_object()
        .ok_or_else(|| bad("no weight_map".into()))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for file in map.values() {
        let name = file
            .as_str()
            .filter(|n| !n.contains(['/', '\\']))
            .ok_or_else(|| {
                bad(format!("weight_map entry {file} is not a file name"))
            })?;
        let path = dir.join(name);
        if !files.contains(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A `MambaForCausalLM` checkpoint (or one this crate saved) as the readable
/// [`MambaModel`]: its configuration from `config.json`
/// ([`MambaConfig::from_json`]), every tensor from the weight files.
///
/// # Errors
/// As [`read_config`], [`weight_files`], [`MambaConfig::from_json`] and
/// [`checkpoint::load_files`]; [`Error::InvalidParameter`] for a
/// configuration with biases on the projections (`use_bias`), an untied
/// head, or a convolution without bias, which this crate's block does not
/// have.
pub fn load_mamba(dir: &Path) -> Result<MambaModel> {
    let json = read_config(dir)?;
    require_model_type(&json, "mamba")?;
    require_flags(&json, &BLOCK_LAYOUT)?;
    let config = MambaConfig::from_json(&json)?;
    let mut model = MambaModel::zeros(&config)?;
    checkpoint::load_files(&mut model, &weight_files(dir)?)?;
    Ok(model)
}

/// The layout flags every block of this crate has: no biases on the
/// projections, a bias on the convolution, the head tied to the embedding.
const BLOCK_LAYOUT: [(&str, bool); 3] = [
    ("use_bias", false),
    ("use_conv_bias", true),
    ("tie_word_embeddings", true),
];

/// Rejects a configuration of another architecture (`model_type`, where
/// present, must be `expected`).
fn require_model_type(
    json: &serde_json::Value,
    expected: &'static str,
) -> Result<()> {
    match json.get("model_type").and_then(serde_json::Value::as_str) {
        Some(found) if found != expected => Err(Error::invalid(
            "model_type",
            found,
            if expected == "mamba" {
                "\"mamba\" (load_mamba2 reads \"mamba2\")"
            } else {
                "\"mamba2\" (load_mamba reads \"mamba\")"
            },
        )),
        _ => Ok(()),
    }
}

/// Rejects a configuration flag this crate's blocks do not have.
fn require_flags(
    json: &serde_json::Value,
    flags: &[(&'static str, bool)],
) -> Result<()> {
    for &(key, supported) in flags {
        if let Some(v) = json.get(key).and_then(serde_json::Value::as_bool)
            && v != supported
        {
            return Err(Error::invalid(
                key,
                v,
                if supported {
                    "true (the only layout this crate builds)"
                } else {
                    "false (the only layout this crate builds)"
                },
            ));
        }
    }
    Ok(())
}

/// A whole number from the configuration, `default` if absent.
fn size_or(
    json: &serde_json::Value,
    key: &'static str,
    default: Option<usize>,
) -> Result<usize> {
    match json.get(key) {
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| Error::invalid(key, v, "a whole number")),
        None => {
            default.ok_or_else(|| Error::invalid(key, "missing", "a whole number"))
        }
    }
}

/// Whether a JSON value stands for +∞: `null` (a bare `Infinity` read by
/// [`read_config`]), `{"__float__": "Infinity"}` (as `transformers` writes
/// it), or a number too large to be finite.
fn is_infinite(v: &serde_json::Value) -> bool {
    v.is_null()
        || v["__float__"] == "Infinity"
        || v.as_f64().is_some_and(|x| x >= f64::MAX)
}

/// A `Mamba2ForCausalLM` checkpoint as the readable [`Mamba2Model`]
/// (chapter 8's block): `hidden_size`, `num_hidden_layers`, `vocab_size`,
/// `state_size`, `expand`, `head_dim`, `num_heads` (which must be
/// `expand · hidden_size / head_dim`), `n_groups`, `conv_kernel`,
/// `chunk_size`, `layer_norm_epsilon`, `time_step_min` and `time_step_max`.
///
/// # Errors
/// As [`load_mamba`]; also a `time_step_limit` other than $(0, \infty)$ (the
/// block does not clamp Δ), or a gated norm the block does not compute
/// (`rms_norm: false`, `norm_before_gate: true`).
pub fn load_mamba2(dir: &Path) -> Result<Mamba2Model> {
    let json = read_config(dir)?;
    require_model_type(&json, "mamba2")?;
    require_flags(&json, &BLOCK_LAYOUT)?;
    require_flags(&json, &[("rms_norm", true), ("norm_before_gate", false)])?;
    if let Some(limit) = json.get("time_step_limit") {
        let unclamped = limit[0].as_f64() == Some(0.0) && is_infinite(&limit[1]);
        if !unclamped {
            return Err(Error::invalid(
                "time_step_limit",
                limit,
                "[0.0, Infinity] (this crate does not clamp Δ)",
            ));
        }
    }
    let number = |key: &'static str, default: f64| -> Result<f64> {
        json.get(key).map_or(Ok(default), |v| {
            v.as_f64().ok_or_else(|| Error::invalid(key, v, "a number"))
        })
    };
    let d_model = size_or(&json, "hidden_size", None)?;
    let config = Mamba2Config {
        d_model,
        d_state: size_or(&json, "state_size", Some(128))?,
        d_conv: size_or(&json, "conv_kernel", Some(4))?,
        expand: size_or(&json, "expand", Some(2))?,
        headdim: size_or(&json, "head_dim", Some(64))?,
        ngroups: size_or(&json, "n_groups", Some(1))?,
        chunk: size_or(&json, "chunk_size", Some(256))?,
        dt_min: number("time_step_min", 1e-3)?,
        dt_max: number("time_step_max", 1e-1)?,
        norm_eps: number("layer_norm_epsilon", 1e-5)?,
    };
    config.validate()?;
    let heads = size_or(&json, "num_heads", Some(config.nheads()))?;
    if heads != config.nheads() {
        return Err(Error::invalid(
            "num_heads",
            heads,
            "expand · hidden_size / head_dim (every channel in one head)",
        ));
    }
    let mut model = Mamba2Model::zeros(
        &config,
        size_or(&json, "num_hidden_layers", None)?,
        size_or(&json, "vocab_size", None)?,
    )?;
    checkpoint::load_files(&mut model, &weight_files(dir)?)?;
    Ok(model)
}

/// How the next token is chosen from the logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// The softmax temperature $T$; 0 takes the most likely token (greedy).
    pub temperature: f64,
    /// Nucleus sampling: draw only from the most likely tokens whose
    /// probabilities sum to at least this (1 keeps every token).
    pub top_p: f64,
}

impl Sampling {
    /// Greedy decoding: always the most likely token.
    pub const GREEDY: Sampling = Sampling {
        temperature: 0.0,
        top_p: 1.0,
    };

    /// Sampling at `temperature` from the nucleus of mass `top_p`.
    ///
    /// # Errors
    /// A temperature that is negative or not finite, or a `top_p` outside
    /// $(0, 1]$.
    pub fn new(temperature: f64, top_p: f64) -> Result<Self> {
        if !(temperature.is_finite() && temperature >= 0.0) {
            return Err(Error::invalid(
                "temperature",
                temperature,
                "finite and ≥ 0",
            ));
        }
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(Error::invalid("top_p", top_p, "in (0, 1]"));
        }
        Ok(Sampling { temperature, top_p })
    }

    /// The next token: the largest logit if the temperature is 0, else a
    /// draw from $\mathrm{softmax}(z/T)$ restricted to the smallest set of most
    /// likely tokens whose probability reaches `top_p`, renormalised
    /// (Holtzman et al., *The Curious Case of Neural Text Degeneration*,
    /// 2020). Non-finite logits are never chosen.
    ///
    /// # Panics
    /// If `logits` has no finite entry.
    pub fn pick(&self, logits: &[f32], rng: &mut StdRng) -> usize {
        let finite = |i: &usize| logits[*i].is_finite();
        let best = (0..logits.len())
            .filter(finite)
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .expect("Sampling::pick: no finite logit");
        if self.temperature == 0.0 {
            return best;
        }
        let top = f64::from(logits[best]);
        let mut order: Vec<(usize, f64)> = (0..logits.len())
            .filter(finite)
            .map(|i| (i, ((f64::from(logits[i]) - top) / self.temperature).exp()))
            .collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = order.iter().map(|p| p.1).sum();
        let mut kept = 0.0;
        let mut nucleus = 0;
        for (_, p) in &order {
            kept += p;
            nucleus += 1;
            if kept >= self.top_p * total {
                break;
            }
        }
        let mut u = rng.random::<f64>() * kept;
        for &(i, p) in &order[..nucleus] {
            if u < p {
                return i;
            }
            u -= p;
        }
        order[nucleus - 1].0
    }
}
