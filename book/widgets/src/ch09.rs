//! Chapter 9's widget: the book's own language model writes in the browser.
//! The byte-level Mamba of `examples/book-mamba/` (its weights handed over by
//! the page, see [`load_book_model`])
//! reads the reader's prompt in parallel mode ([`MambaModel::prefill`]),
//! then writes one byte per recurrent step ([`MambaModel::step`]), each drawn
//! by [`Sampling::pick`] from a seeded generator: what
//! `cargo run --release --example ch09_sample` does, so the same settings
//! write the same text. The page asks for a few bytes at a time
//! ([`Writer::write`]) and shows the text between calls, so it never freezes.

use std::sync::OnceLock;

use nalgebra::DVector;
use rand::rngs::StdRng;
use ssm_lineage::hub::Sampling;
use ssm_lineage::mamba::MambaModel;
use ssm_lineage::mamba::block::BlockCache;
use ssm_lineage::support::figure::LinePlot;
use ssm_lineage::support::rng::seeded;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::{BrowserCase, Widget};

/// The book's model's `config.json`.
const CONFIG: &str = include_str!("../../../examples/book-mamba/config.json");

/// The book's model, once loaded.
static MODEL: OnceLock<Result<MambaModel, String>> = OnceLock::new();

/// Loads the book's model from the bytes of
/// `examples/book-mamba/model.safetensors` (`f32`, 2 MB), once: the page
/// passes them from `data-book-mamba.js`, which `cargo xtask book` writes
/// (`book/widgets/page-data.txt`) and only chapter 9's page loads, so that
/// the module every widget page loads stays small.
///
/// # Errors
/// As [`crate::ch07::load_from_bytes`].
pub fn load_book_model(weights: &[u8]) -> Result<&'static MambaModel, String> {
    MODEL
        .get_or_init(|| {
            crate::ch07::load_from_bytes(CONFIG, weights, "examples/book-mamba")
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The book's model: as loaded by [`load_book_model`]; natively, read from
/// `examples/book-mamba/` on first use.
///
/// # Errors
/// In the browser, before [`ch09_load_model`]; natively, a file that cannot
/// be read; and as [`load_book_model`].
pub fn book_model() -> Result<&'static MambaModel, String> {
    if let Some(model) = MODEL.get() {
        return model.as_ref().map_err(Clone::clone);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/book-mamba/model.safetensors"
        );
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        load_book_model(&bytes)
    }
    #[cfg(target_arch = "wasm32")]
    Err("the model is not loaded: call ch09_load_model first".into())
}

/// [`load_book_model`] for the page, with the bytes of `data-book-mamba.js`.
///
/// # Errors
/// The message to show.
#[wasm_bindgen]
pub fn ch09_load_model(weights: &[u8]) -> Result<(), String> {
    load_book_model(weights).map(|_| ())
}

/// A text being written: the model's caches after the text so far, the
/// logits of the next byte, and the sampling with its generator.
#[derive(Debug)]
pub struct Writer {
    model: &'static MambaModel,
    caches: Vec<BlockCache>,
    logits: Vec<f32>,
    sampling: Sampling,
    rng: StdRng,
    bytes: Vec<u8>,
    prompt: usize,
    surprises: Vec<f64>,
}

/// The logits as `f32`, as `ch09_sample` hands them to [`Sampling::pick`].
fn f32s(v: &DVector<f64>) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

impl Writer {
    /// Reads `prompt` (its UTF-8 bytes) in parallel mode and gets ready to
    /// sample at `temperature` from the nucleus of mass `top_p`, drawing
    /// from a generator seeded with `seed`.
    ///
    /// # Errors
    /// An empty prompt, or a temperature or `top_p` that [`Sampling::new`]
    /// rejects.
    pub fn new(
        prompt: &str,
        temperature: f64,
        top_p: f64,
        seed: u64,
    ) -> Result<Writer, String> {
        let model = book_model()?;
        let sampling =
            Sampling::new(temperature, top_p).map_err(|e| e.to_string())?;
        if prompt.is_empty() {
            return Err("type a prompt: the model continues a text".into());
        }
        let tokens: Vec<usize> = prompt.bytes().map(usize::from).collect();
        let (logits, caches) = model.prefill(&tokens).map_err(|e| e.to_string())?;
        Ok(Writer {
            model,
            caches,
            logits: f32s(&logits),
            sampling,
            rng: seeded(seed),
            bytes: prompt.as_bytes().to_vec(),
            prompt: prompt.len(),
            surprises: Vec::new(),
        })
    }

    /// Writes `n` more bytes, one recurrent step each.
    ///
    /// # Errors
    /// None in practice: a byte is always in the model's vocabulary of 256.
    pub fn write(&mut self, n: usize) -> Result<(), String> {
        for _ in 0..n {
            let next = self.sampling.pick(&self.logits, &mut self.rng);
            self.surprises.push(surprise(&self.logits, next));
            self.bytes
                .push(u8::try_from(next).map_err(|e| e.to_string())?);
            let logits = self
                .model
                .step(next, &mut self.caches)
                .map_err(|e| e.to_string())?;
            self.logits = f32s(&logits);
        }
        Ok(())
    }

    /// The prompt and what was written, up to the last complete character
    /// (bytes that are not UTF-8 become U+FFFD), as `ch09_sample` prints it.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes)
            .trim_end_matches('\u{FFFD}')
            .to_string()
    }

    /// The bytes written after the prompt.
    pub fn written(&self) -> &[u8] {
        &self.bytes[self.prompt..]
    }

    /// How surprised the model is by what it wrote: the mean over the
    /// written bytes of $-\log_2 p(\text{byte})$ under its softmax at
    /// temperature 1, in bits per byte (0 before the first byte).
    pub fn bits_per_byte(&self) -> f64 {
        self.surprises.iter().sum::<f64>() / self.surprises.len().max(1) as f64
    }

    /// What the page shows: each written byte's $-\log_2 p$ against its
    /// place; numbers `written` (bytes) and `bits_per_byte`.
    pub fn widget(&self) -> Widget {
        let points: Vec<(f64, f64)> = self
            .surprises
            .iter()
            .enumerate()
            .map(|(i, &b)| (i as f64 + 1.0, b))
            .collect();
        let plot = LinePlot::new(
            "How surprised the model is by each byte it wrote",
            "byte written",
            "−log₂ p of the byte at temperature 1 (bits)",
        )
        .line("each byte", points);
        Widget {
            svg: plot
                .to_svg()
                .unwrap_or_else(|_| Widget::message("no byte written yet").svg),
            numbers: vec![
                ("written".into(), self.written().len() as f64),
                ("bits_per_byte".into(), self.bits_per_byte()),
            ],
        }
    }
}

/// $-\log_2 \mathrm{softmax}(z)_i$ of the byte `i` chosen from logits `z`.
fn surprise(logits: &[f32], i: usize) -> f64 {
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = logits.iter().map(|&z| f64::from(z - top).exp()).sum();
    (total.ln() - f64::from(logits[i] - top)) / std::f64::consts::LN_2
}

/// [`Writer`] for the page: `new Ch09Writer(prompt, temperature, top_p,
/// seed)`, then `write(16)` between frames.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Ch09Writer {
    inner: Writer,
}

#[wasm_bindgen]
impl Ch09Writer {
    /// See [`Writer::new`]; the error is the message to show.
    #[wasm_bindgen(constructor)]
    pub fn new(
        prompt: &str,
        temperature: f64,
        top_p: f64,
        seed: u32,
    ) -> Result<Ch09Writer, String> {
        Writer::new(prompt, temperature, top_p, u64::from(seed))
            .map(|inner| Ch09Writer { inner })
    }

    /// Writes `n` more bytes and returns the whole text so far.
    pub fn write(&mut self, n: u32) -> Result<String, String> {
        self.inner.write(n as usize)?;
        Ok(self.inner.text())
    }

    /// The bytes written so far (after the prompt).
    pub fn written(&self) -> u32 {
        self.inner.written().len() as u32
    }

    /// See [`Writer::bits_per_byte`].
    pub fn bits_per_byte(&self) -> f64 {
        self.inner.bits_per_byte()
    }

    /// [`Writer::widget`]'s JSON.
    pub fn widget(&self) -> String {
        self.inner.widget().to_json()
    }
}

/// The settings of the book's sample (`ch09_sample`'s defaults), the page's
/// first values: prompt, temperature, top-p, seed and bytes.
pub const BOOK_SAMPLE: (&str, f64, f64, u64, usize) =
    ("The state", 0.8, 0.95, 0, 200);

/// The bits per byte of what the model writes from the book sample's
/// settings with another `temperature`: the number the browser check reads.
///
/// # Errors
/// As [`Writer::new`].
pub fn bits_per_byte_at(temperature: f64) -> Result<f64, String> {
    let (prompt, _, top_p, seed, bytes) = BOOK_SAMPLE;
    let mut writer = Writer::new(prompt, temperature, top_p, seed)?;
    writer.write(bytes)?;
    Ok(writer.bits_per_byte())
}

/// This chapter's browser-check cases: with the temperature set to 0 the
/// page writes greedily, and the bits per byte of its 200 bytes are the
/// native run's.
pub fn cases() -> Vec<BrowserCase> {
    bits_per_byte_at(0.0)
        .ok()
        .map(|expected| BrowserCase {
            widget: "ch09-generate",
            control: "ch09-generate-temperature",
            value: "0".into(),
            number: "bits_per_byte",
            expected,
            // The same f64 arithmetic; wasm's exp and ln (Rust's libm) may
            // differ from the native ones in the last bit.
            tolerance: 1e-9,
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
    }

    #[test]
    fn the_loaded_model_is_the_books_model_folder() {
        let folder =
            ssm_lineage::hub::load_mamba(&root().join("examples/book-mamba"))
                .expect("the folder loads");
        assert_eq!(&folder, book_model().expect("the model loads"));
    }

    /// The book's sample settings write, in chunks of 16 bytes, exactly the
    /// sample chapter 9 includes.
    #[test]
    fn the_widget_writes_the_books_sample() {
        let (prompt, temperature, top_p, seed, bytes) = BOOK_SAMPLE;
        let mut w = Writer::new(prompt, temperature, top_p, seed).expect("valid");
        while w.written().len() < bytes {
            let n = (bytes - w.written().len()).min(16);
            w.write(n).expect("writes");
        }
        let file =
            std::fs::read_to_string(root().join("chapters/figures/ch09/sample.md"))
                .expect("chapters/figures/ch09/sample.md");
        let text = w.text();
        assert!(file.contains(&format!("```text\n{text}\n```")), "{text}");
        assert!(file.contains(&format!("--seed {seed}`")), "{file}");
    }

    /// At temperature 0 the widget writes the model's greedy bytes
    /// ([`MambaModel::generate`]), whatever the seed.
    #[test]
    fn at_temperature_zero_the_widget_writes_the_greedy_bytes() {
        let prompt = "The state";
        let tokens: Vec<usize> = prompt.bytes().map(usize::from).collect();
        let model = book_model().expect("loads");
        let greedy = model.generate(&tokens, 48).expect("generates");
        for seed in [0, 7] {
            let mut w = Writer::new(prompt, 0.0, 0.95, seed).expect("valid");
            w.write(16).expect("writes");
            w.write(32).expect("writes");
            let written: Vec<usize> =
                w.written().iter().map(|&b| usize::from(b)).collect();
            assert_eq!(written, greedy);
        }
    }

    /// The bits per byte are the mean of $-\log_2 p$ of each written byte
    /// under the parallel forward pass's softmax (f32 logits: a relative
    /// error of about 1e-7 per logit).
    const BITS_AGREE: f64 = 1e-4;

    #[test]
    fn bits_per_byte_are_the_forward_passs_log_probabilities() {
        let mut w = Writer::new("fn main", 1.0, 1.0, 3).expect("valid");
        w.write(24).expect("writes");
        let tokens: Vec<usize> = w.bytes.iter().map(|&b| usize::from(b)).collect();
        let logits = book_model()
            .expect("loads")
            .forward(&tokens[..tokens.len() - 1])
            .expect("runs");
        let start = w.prompt - 1;
        let bits: f64 = (start..tokens.len() - 1)
            .map(|t| {
                let row = logits.row(t);
                let top = row.max();
                let total: f64 = row.iter().map(|&z| (z - top).exp()).sum();
                (total.ln() - (row[tokens[t + 1]] - top)) / std::f64::consts::LN_2
            })
            .sum::<f64>()
            / 24.0;
        assert!((bits - w.bits_per_byte()).abs() < BITS_AGREE, "{bits}");
        assert!(w.bits_per_byte() > 0.0);
    }

    #[test]
    fn the_widget_plots_each_bytes_surprise_and_shows_the_counts() {
        let mut w = Writer::new("The state", 0.8, 0.95, 0).expect("valid");
        let before = w.widget();
        assert!(before.svg.starts_with("<svg"));
        w.write(32).expect("writes");
        let after = w.widget();
        assert_ne!(before.svg, after.svg);
        assert_eq!(after.number("written"), Some(32.0));
        assert_eq!(after.number("bits_per_byte"), Some(w.bits_per_byte()));
        assert_eq!(w.surprises.len(), 32);
    }

    #[test]
    fn bad_settings_are_messages() {
        assert!(Writer::new("", 0.8, 0.95, 0).is_err());
        assert!(Writer::new("a", -1.0, 0.95, 0).is_err());
        assert!(Writer::new("a", 0.8, 0.0, 0).is_err());
    }

    #[test]
    fn the_case_is_the_greedy_runs_bits_per_byte() {
        let cases = cases();
        assert_eq!(cases.len(), 1);
        let mut w = Writer::new("The state", 0.0, 0.95, 0).expect("valid");
        w.write(200).expect("writes");
        assert_eq!(cases[0].expected, w.bits_per_byte());
    }
}
