//! Real checkpoints: a tiny random `MambaForCausalLM` built and saved by
//! Hugging Face `transformers` (`tests/golden/hf_mamba/generate.py`, its
//! pure-PyTorch path) loads into the readable and the fast model, and both
//! give its logits and its greedy continuation, in parallel mode and in
//! prefill + step; sharded and F16/BF16 files load; bad folders are errors;
//! sampling keeps its promises.

use std::path::{Path, PathBuf};

use nalgebra::DMatrix;
use proptest::prelude::*;
use ssm_lineage::hub::{Sampling, load_mamba, read_config, weight_files};
use ssm_lineage::mamba::MambaModel;
use ssm_lineage::mamba::fast::FastModel;
use ssm_lineage::support::rng::seeded;
use ssm_lineage::train::Trainable;
use ssm_lineage::train::checkpoint::{self, Precision};
use ssm_lineage::traits::Parameters;

use crate::cases;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/hf_mamba")
}

/// The prompt, `transformers`' logits `(len, vocab)` and greedy continuation.
fn expected() -> (Vec<usize>, DMatrix<f64>, Vec<usize>) {
    let text = std::fs::read_to_string(golden().join("tiny.json"))
        .expect("the golden file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let list = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array()
            .expect("a list")
            .iter()
            .map(|t| t.as_u64().expect("a token") as usize)
            .collect()
    };
    let rows: Vec<Vec<f64>> = json["logits"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("a row")
                .iter()
                .map(|v| v.as_f64().expect("a number"))
                .collect()
        })
        .collect();
    let logits = DMatrix::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j]);
    (list(&json["prompt"]), logits, list(&json["greedy"]))
}

/// Logits agree with `transformers`' to this, absolute. Its forward runs in
/// `f32` (rounding u = 6e-8 per operation over a few hundred operations per
/// logit, on logits of order one, so errors of order 1e-6); the readable
/// model runs in `f64` and the fast one in `f32` with its own approximate
/// exp (5e-7). 1e-4 leaves a margin of a hundred while a wrong tensor
/// layout, a transposed weight or a missing skip changes logits by order one.
const LOGIT_TOL: f64 = 1e-4;

/// Asserts that `got` is within [`LOGIT_TOL`] of `want` everywhere.
fn assert_close(what: &str, got: &DMatrix<f64>, want: &DMatrix<f64>) {
    let diff = max_diff(got, want);
    assert!(diff < LOGIT_TOL, "{what}: logits differ by {diff}");
}

fn max_diff(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn transformers_mamba_loads_and_gives_its_logits() {
    let (prompt, want, greedy) = expected();
    let model = load_mamba(&golden().join("tiny")).expect("the tiny checkpoint");
    assert_eq!(
        model.parameter_count(),
        26_464,
        "the count the generator script printed"
    );
    let parallel = model.forward(&prompt).expect("valid tokens");
    assert_close("parallel", &parallel, &want);
    // Recurrent mode: the prompt's first token, then one step per token.
    let mut caches = model.empty_caches();
    let recurrent = stepped(&prompt, want.ncols(), |t| {
        model.step(t, &mut caches).expect("valid token")
    });
    assert_close("recurrent", &recurrent, &want);
    assert_eq!(
        model.generate(&prompt, greedy.len()).expect("valid"),
        greedy
    );
}

/// The logits of every position in recurrent mode, `(len, vocab)`: one
/// `step` per token.
fn stepped(
    tokens: &[usize],
    vocab: usize,
    mut step: impl FnMut(usize) -> nalgebra::DVector<f64>,
) -> DMatrix<f64> {
    let mut logits = DMatrix::zeros(tokens.len(), vocab);
    for (t, &token) in tokens.iter().enumerate() {
        logits.set_row(t, &step(token).transpose());
    }
    logits
}

#[test]
fn transformers_mamba_runs_in_the_fast_model() {
    let (prompt, want, greedy) = expected();
    let fast = FastModel::from(
        &load_mamba(&golden().join("tiny")).expect("the tiny checkpoint"),
    );
    let parallel = fast.forward(&prompt).expect("valid").map(f64::from);
    assert_close("parallel", &parallel, &want);
    // Prefill all but the last token, then step: the last row's logits and
    // the greedy continuation.
    let (_, mut caches) = fast.prefill(&prompt[..prompt.len() - 1]).expect("valid");
    let mut logits = fast
        .step(prompt[prompt.len() - 1], &mut caches)
        .expect("valid");
    let last = want.row(want.nrows() - 1);
    let err = logits
        .iter()
        .zip(last.iter())
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    assert!(err < LOGIT_TOL, "prefill + step: {err}");
    let mut tokens = Vec::new();
    for _ in 0..greedy.len() {
        let next = Sampling::GREEDY.pick(&logits, &mut seeded(0));
        tokens.push(next);
        logits = fast.step(next, &mut caches).expect("valid");
    }
    assert_eq!(tokens, greedy);
}

#[test]
fn shards_and_half_precision_files_load() {
    let tiny = load_mamba(&golden().join("tiny")).expect("the tiny checkpoint");
    let shards = weight_files(&golden().join("tiny-sharded")).expect("an index");
    assert_eq!(shards.len(), 3);
    assert_eq!(
        load_mamba(&golden().join("tiny-sharded")).expect("the shards"),
        tiny
    );
    // The script converted the float32 weights, so round from f32 as
    // PyTorch does (half's f64 → bf16 conversion can land one unit away).
    for (name, round) in [
        (
            "tiny-f16.safetensors",
            (|v: f64| half::f16::from_f32(v as f32).to_f64()) as fn(f64) -> f64,
        ),
        ("tiny-bf16.safetensors", |v: f64| {
            half::bf16::from_f32(v as f32).to_f64()
        }),
    ] {
        let mut model = MambaModel::zeros(&tiny.config).expect("valid");
        checkpoint::load(&mut model, &golden().join(name))
            .expect("a half-precision file");
        for (p, q) in tiny.parameters().iter().zip(model.parameters()) {
            for (a, b) in p.values.iter().zip(q.values.iter()) {
                assert_eq!(round(*a), *b, "{name}: {}", p.name);
            }
        }
    }
}

/// A model saved by this crate loads back; `write_crate_model` (ignored)
/// writes the fixture that the generator script loads in `transformers`.
#[test]
fn crate_models_load_back() {
    let dir =
        std::env::temp_dir().join(format!("ssm-lineage-hub-{}", std::process::id()));
    let model = load_mamba(&golden().join("tiny")).expect("the tiny checkpoint");
    save(&model, &dir);
    assert_eq!(load_mamba(&dir).expect("its own folder"), model);
    std::fs::remove_dir_all(&dir).ok();
}

fn save(model: &MambaModel, dir: &Path) {
    std::fs::create_dir_all(dir).expect("a folder");
    checkpoint::save(
        model,
        &dir.join("model.safetensors"),
        Precision::F64,
        Default::default(),
    )
    .expect("written");
    let config = serde_json::to_string_pretty(&model.config_json()).expect("JSON");
    std::fs::write(dir.join("config.json"), config).expect("written");
}

/// Writes `tests/golden/hf_mamba/from_crate/`: a model of this crate (the
/// tiny one, its weights nudged), its config and the logits it gives, for
/// the generator script to load in `transformers` and compare.
#[test]
#[ignore = "writes a fixture: run by hand before the generator script"]
fn write_crate_model() {
    let mut model = load_mamba(&golden().join("tiny")).expect("the tiny checkpoint");
    for p in model.parameters_mut() {
        for (i, v) in p.values.iter_mut().enumerate() {
            *v += 0.01 * ((i % 7) as f64 - 3.0);
        }
    }
    let dir = golden().join("from_crate");
    save(&model, &dir);
    let (prompt, _, _) = expected();
    let logits = model.forward(&prompt).expect("valid");
    let rows: Vec<Vec<f64>> = logits
        .row_iter()
        .map(|r| r.iter().copied().collect())
        .collect();
    let json = serde_json::json!({ "prompt": prompt, "logits": rows });
    std::fs::write(dir.join("expected.json"), json.to_string()).expect("written");
}

/// The committed `from_crate/` fixture still gives the logits written beside
/// it (so the generator script's check of it in `transformers` still holds).
#[test]
fn the_crate_fixture_is_current() {
    let dir = golden().join("from_crate");
    let model = load_mamba(&dir).expect("the fixture");
    let text =
        std::fs::read_to_string(dir.join("expected.json")).expect("its logits");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let prompt: Vec<usize> = json["prompt"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t.as_u64().expect("a token") as usize)
        .collect();
    let logits = model.forward(&prompt).expect("valid");
    for (i, row) in json["logits"].as_array().expect("rows").iter().enumerate() {
        for (j, v) in row.as_array().expect("a row").iter().enumerate() {
            // serde_json's default float parsing may miss by one unit in
            // the last place (it trades exactness for speed), hence 1e-14.
            let want = v.as_f64().expect("a number");
            assert!(
                (logits[(i, j)] - want).abs() <= 1e-14 * want.abs().max(1.0),
                "{i},{j}"
            );
        }
    }
}

#[test]
fn bad_folders_are_errors() {
    let dir = std::env::temp_dir()
        .join(format!("ssm-lineage-hub-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let message = |d: &Path| load_mamba(d).expect_err("a bad folder").to_string();
    assert!(message(&dir).contains("config.json"), "{}", message(&dir));
    let config = std::fs::read_to_string(golden().join("tiny/config.json"))
        .expect("the config");
    std::fs::write(dir.join("config.json"), &config).expect("written");
    assert!(
        message(&dir).contains("model.safetensors"),
        "{}",
        message(&dir)
    );
    std::fs::write(
        dir.join("config.json"),
        config.replace("\"use_bias\": false", "\"use_bias\": true"),
    )
    .expect("written");
    assert!(message(&dir).contains("use_bias"), "{}", message(&dir));
    std::fs::write(dir.join("config.json"), "{\"hidden_size\": 32, \"time_step_limit\": [0.0, Infinity], \"note\": \"NaN\"}")
        .expect("written");
    let json = read_config(&dir).expect("Infinity is accepted");
    assert!(json["time_step_limit"][1].is_null());
    assert_eq!(json["note"], "NaN");
    assert!(
        message(&dir).contains("num_hidden_layers"),
        "{}",
        message(&dir)
    );
    std::fs::remove_dir_all(&dir).ok();
}

proptest! {
    #![proptest_config(cases(32))]

    /// Greedy and a vanishing nucleus take the largest logit; any sampled
    /// token lies in the nucleus (the most likely tokens holding `top_p`).
    #[test]
    fn sampling_stays_in_the_nucleus(
        logits in prop::collection::vec(-5.0f32..5.0, 2..20),
        temperature in 0.1f64..3.0,
        top_p in 0.05f64..1.0,
        seed in any::<u64>(),
    ) {
        let best = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).expect("nonempty");
        prop_assert_eq!(Sampling::GREEDY.pick(&logits, &mut seeded(seed)), best);
        let tiny = Sampling::new(temperature, 1e-9).expect("valid");
        prop_assert_eq!(tiny.pick(&logits, &mut seeded(seed)), best);
        let s = Sampling::new(temperature, top_p).expect("valid");
        let picked = s.pick(&logits, &mut seeded(seed));
        let p = |i: usize| (f64::from(logits[i]) / temperature).exp();
        let total: f64 = (0..logits.len()).map(p).sum();
        // Everything more likely than the pick holds less than top_p.
        let above: f64 = (0..logits.len()).filter(|&i| p(i) > p(picked)).map(p).sum();
        prop_assert!(above < top_p * total + 1e-12, "{above} of {total}");
    }
}

/// Sampling at temperature 1 with the full nucleus draws each token as
/// often as its softmax probability: within four standard deviations over
/// 20,000 draws.
#[test]
fn sampling_follows_the_softmax() {
    let logits = [1.0f32, 0.0, -1.0, 2.0];
    let s = Sampling::new(1.0, 1.0).expect("valid");
    let mut rng = seeded(11);
    let n = 20_000;
    let mut counts = [0usize; 4];
    for _ in 0..n {
        counts[s.pick(&logits, &mut rng)] += 1;
    }
    let z: f64 = logits.iter().map(|&l| f64::from(l).exp()).sum();
    for (i, &c) in counts.iter().enumerate() {
        let p = f64::from(logits[i]).exp() / z;
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (c as f64 - n as f64 * p).abs() < 4.0 * sd,
            "token {i}: {c} of {n}, p = {p}"
        );
    }
    assert!(Sampling::new(-1.0, 0.5).is_err());
    assert!(Sampling::new(1.0, 0.0).is_err());
    assert!(Sampling::new(f64::NAN, 0.5).is_err());
}

/// The tokenizer fixture (a byte-level BPE of the GPT-NeoX kind, trained by
/// the generator script) gives the ids Python's `tokenizers` gave, and
/// decodes them back to the text. Built with `--features tokenizer` (the
/// full check, `cargo xtask ci`, runs it).
#[cfg(feature = "tokenizer")]
#[test]
fn the_tokenizer_gives_the_reference_ids() {
    let tokenizer =
        tokenizers::Tokenizer::from_file(golden().join("tokenizer.json"))
            .expect("the fixture");
    let text = std::fs::read_to_string(golden().join("tokenizer-expected.json"))
        .expect("ids");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let want: Vec<u32> = json["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_u64().expect("an id") as u32)
        .collect();
    let input = json["text"].as_str().expect("the text");
    let ids = tokenizer
        .encode(input, false)
        .expect("encodable")
        .get_ids()
        .to_vec();
    assert_eq!(ids, want);
    assert_eq!(tokenizer.decode(&ids, true).expect("decodable"), input);
}

/// The Mamba-2 golden: a tiny `Mamba2ForCausalLM` (two groups of heads,
/// chunks of 8 over a prompt of 20) from `transformers`
/// (`tests/golden/hf_mamba2/generate.py`) loads into chapter 8's block in
/// chapter 7's stack and gives its logits and greedy continuation, in
/// parallel mode (the chunked SSD) and token by token (the recurrent step).
/// The tolerance is [`LOGIT_TOL`], for the same reasons.
#[test]
fn transformers_mamba2_loads_and_gives_its_logits() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/hf_mamba2");
    let model =
        ssm_lineage::hub::load_mamba2(&dir.join("tiny")).expect("the tiny Mamba-2");
    assert_eq!(
        model.parameter_count(),
        18_128,
        "the count the generator script printed"
    );
    let text =
        std::fs::read_to_string(dir.join("tiny.json")).expect("the golden file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let tokens = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array()
            .expect("a list")
            .iter()
            .map(|t| t.as_u64().expect("a token") as usize)
            .collect()
    };
    let (prompt, greedy) = (tokens(&json["prompt"]), tokens(&json["greedy"]));
    let rows = json["logits"].as_array().expect("rows");
    let want = DMatrix::from_fn(rows.len(), model.vocab_size, |i, j| {
        rows[i][j].as_f64().expect("a number")
    });
    let parallel = model.forward(&prompt).expect("valid");
    assert_close("parallel", &parallel, &want);
    let mut caches = model.empty_caches();
    let recurrent = stepped(&prompt, model.vocab_size, |t| {
        model.step(t, &mut caches).expect("valid token")
    });
    assert_close("recurrent", &recurrent, &want);
    assert_eq!(
        model.generate(&prompt, greedy.len()).expect("valid"),
        greedy
    );
}

/// A Mamba-2 configuration the block cannot compute is an error naming it.
#[test]
fn unsupported_mamba2_configurations_are_errors() {
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/hf_mamba2/tiny");
    let config =
        std::fs::read_to_string(golden.join("config.json")).expect("the config");
    let dir = std::env::temp_dir()
        .join(format!("ssm-lineage-hub2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    std::fs::copy(
        golden.join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .expect("copied");
    for (from, to, key) in [
        ("\"num_heads\": 8", "\"num_heads\": 4", "num_heads"),
        ("\"use_bias\": false", "\"use_bias\": true", "use_bias"),
        (
            "\"__float__\": \"Infinity\"",
            "\"__float__\": \"1.0\"",
            "time_step_limit",
        ),
    ] {
        assert!(config.contains(from), "{from}");
        std::fs::write(dir.join("config.json"), config.replace(from, to))
            .expect("written");
        let error = ssm_lineage::hub::load_mamba2(&dir)
            .expect_err("unsupported")
            .to_string();
        assert!(error.contains(key), "{key}: {error}");
    }
    // A bare Infinity, as older checkpoints write it, is accepted.
    let bare =
        config.replace("{\n      \"__float__\": \"Infinity\"\n    }", "Infinity");
    assert!(bare.contains("Infinity\n"), "{bare}");
    std::fs::write(dir.join("config.json"), bare).expect("written");
    ssm_lineage::hub::load_mamba2(&dir).expect("a bare Infinity");
    std::fs::remove_dir_all(&dir).ok();
}

proptest! {
    #![proptest_config(cases(24))]

    /// A damaged weight file is an error, never a panic or a read out of
    /// bounds: cut anywhere, or with its header's length (the first eight
    /// bytes) changed; a flipped byte anywhere either still parses (into a
    /// model that loads or an error naming the tensor) or is an error.
    #[test]
    fn damaged_weight_files_are_errors(cut in 0.0f64..1.0, at in 0.0f64..1.0, flip in 1u8..=255, length in any::<u64>()) {
        let dir = std::env::temp_dir().join(format!("ssm-lineage-damaged-{}-{}", std::process::id(), (cut * 1e9) as u64));
        std::fs::create_dir_all(&dir).expect("a folder");
        std::fs::copy(golden().join("tiny/config.json"), dir.join("config.json")).expect("copied");
        let bytes = std::fs::read(golden().join("tiny/model.safetensors")).expect("the fixture");
        let write = |b: &[u8]| std::fs::write(dir.join("model.safetensors"), b).expect("written");
        write(&bytes[..(cut * bytes.len() as f64) as usize]);
        prop_assert!(load_mamba(&dir).is_err(), "cut at {cut}");
        let mut header = bytes.clone();
        let original = u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"));
        prop_assume!(length != original);
        header[..8].copy_from_slice(&length.to_le_bytes());
        write(&header);
        prop_assert!(load_mamba(&dir).is_err(), "header length {length}");
        let mut flipped = bytes.clone();
        let i = ((at * bytes.len() as f64) as usize).min(bytes.len() - 1);
        flipped[i] ^= flip;
        write(&flipped);
        let _ = load_mamba(&dir); // must return, Ok or Err
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// A folder of another architecture is an error naming it.
#[test]
fn other_architectures_are_errors() {
    let config = std::fs::read_to_string(golden().join("tiny/config.json"))
        .expect("the config");
    let dir = std::env::temp_dir()
        .join(format!("ssm-lineage-arch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    std::fs::copy(
        golden().join("tiny/model.safetensors"),
        dir.join("model.safetensors"),
    )
    .expect("copied");
    std::fs::write(
        dir.join("config.json"),
        config.replace("\"model_type\": \"mamba\"", "\"model_type\": \"llama\""),
    )
    .expect("written");
    let error = load_mamba(&dir).expect_err("a llama").to_string();
    assert!(
        error.contains("model_type") && error.contains("llama"),
        "{error}"
    );
    let error = ssm_lineage::hub::load_mamba2(&golden().join("tiny"))
        .expect_err("a Mamba-1 folder")
        .to_string();
    assert!(error.contains("model_type"), "{error}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Chapter 9's sample (`chapters/figures/ch09/sample.md`) is what the book's
/// model writes: `examples/book-mamba/` in recurrent mode (the readable
/// model's `prefill`, then `step` once per byte), the bytes drawn by
/// [`Sampling::pick`] from a generator seeded as the file's command says.
/// The readable model runs in `f64`, so its logits do not depend on the
/// machine's vector width beyond the last bits, far below what moves a draw.
#[test]
fn the_book_sample_is_what_the_model_writes() {
    // The settings of `cargo run --release --example ch09_sample -- --seed 0`
    // (the example's defaults).
    let (prompt, bytes, temperature, top_p, seed) = ("The state", 200, 0.8, 0.95, 0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = load_mamba(&root.join("examples/book-mamba")).expect("the model");
    let f32s = |v: nalgebra::DVector<f64>| -> Vec<f32> {
        v.iter().map(|&x| x as f32).collect()
    };
    let tokens: Vec<usize> = prompt.bytes().map(usize::from).collect();
    let (logits, mut caches) = model.prefill(&tokens).expect("prefill");
    let mut logits = f32s(logits);
    let sampling = Sampling::new(temperature, top_p).expect("valid sampling");
    let mut rng = seeded(seed);
    let mut text: Vec<u8> = prompt.bytes().collect();
    for _ in 0..bytes {
        let next = sampling.pick(&logits, &mut rng);
        text.push(u8::try_from(next).expect("a byte"));
        logits = f32s(model.step(next, &mut caches).expect("a step"));
    }
    let text = String::from_utf8_lossy(&text);
    let text = text.trim_end_matches('\u{FFFD}');
    let file = std::fs::read_to_string(root.join("chapters/figures/ch09/sample.md"))
        .expect("chapters/figures/ch09/sample.md");
    assert!(
        file.contains(&format!("```text\n{text}\n```")),
        "the committed sample is not what the model writes; rerun the \
         example. The model writes:\n{text}"
    );
    assert!(file.contains(&format!("-- --seed {seed}`")), "{file}");
}
