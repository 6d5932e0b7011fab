//! Chapter 8's widget: the chunk length $Q$ over SSD's matrix $M$. The page
//! shows which step of [`ssd_chunked`] computes each block of $M$ (the
//! drawing of `chapters/figures/ch08/chunked-steps.svg`, from
//! [`chunked_steps_diagram`]) and, for random inputs from a seed the reader
//! picks, the largest difference between the quadratic form
//! ([`ssd_quadratic`]), the chunked form at that $Q$ and the scan
//! ([`ssd_recurrent`]).

use nalgebra::DMatrix;
use rand::RngExt;
use ssm_lineage::ssd::diagram::chunked_steps_diagram;
use ssm_lineage::ssd::forms::{
    SsdInputs, SsdOutput, ssd_chunked, ssd_quadratic, ssd_recurrent,
};
use ssm_lineage::support::rng::seeded;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::{BrowserCase, Widget};

/// The sequence length $T$ (that of the static figure).
pub const T: usize = 64;
/// The state size $N$ (that of the static figure).
pub const N: usize = 4;
/// Heads, and each head's dimension $d_h$.
pub const HEADS: usize = 2;
/// Each head's dimension $d_h$.
pub const HEAD_DIM: usize = 4;
/// The chunk lengths offered: divisors of [`T`], so every chunk is whole
/// and the drawing has at most 8 × 8 blocks.
pub const CHUNKS: [usize; 4] = [8, 16, 32, 64];

/// SSD's inputs `(u, a, b, c)`: per-head $u$, the log-decays $a$, and one
/// group's $B$ and $C$.
pub type Inputs = (
    Vec<DMatrix<f64>>,
    DMatrix<f64>,
    Vec<DMatrix<f64>>,
    Vec<DMatrix<f64>>,
);

/// Random inputs as chapter 8's example draws them: entries uniform in
/// (−1, 1), log-decays $\Delta A$ in about (−0.5, −0.01), one group of B, C.
/// Returns `(u, a, b, c)`.
pub fn inputs(seed: u64) -> Inputs {
    let mut rng = seeded(seed);
    let mut m = |r: usize, c: usize| {
        DMatrix::from_fn(r, c, |_, _| rng.random_range(-1.0..1.0))
    };
    let u = (0..HEADS).map(|_| m(T, HEAD_DIM)).collect();
    let a = m(T, HEADS).map(|v: f64| -0.255 - 0.245 * v);
    let (b, c) = (vec![m(T, N)], vec![m(T, N)]);
    (u, a, b, c)
}

/// The largest absolute difference between two outputs (every head's $y$).
pub fn max_difference(x: &SsdOutput, y: &SsdOutput) -> f64 {
    x.y.iter()
        .zip(&y.y)
        .map(|(p, q)| (p - q).abs().max())
        .fold(0.0, f64::max)
}

/// The widget for chunk length `q` (one of [`CHUNKS`]) and inputs from
/// `seed`: the steps drawing, and the numbers `chunks`, `quadratic_vs_chunked`,
/// `scan_vs_chunked`, `quadratic_vs_scan`.
pub fn chunks(q: usize, seed: u64) -> Widget {
    if !CHUNKS.contains(&q) {
        return Widget::message(&format!(
            "the chunk length must be one of {CHUNKS:?}"
        ));
    }
    let (u, a, b, c) = inputs(seed);
    let inputs = SsdInputs::new(&u, &a, &b, &c);
    let quadratic = ssd_quadratic(&inputs);
    let chunked = ssd_chunked(&inputs, q);
    let scan = ssd_recurrent(&inputs);
    let svg = match chunked_steps_diagram(T / q, q, N).to_svg() {
        Ok(svg) => svg,
        Err(e) => return Widget::message(&e.to_string()),
    };
    Widget {
        svg,
        numbers: vec![
            ("chunks".into(), (T / q) as f64),
            (
                "quadratic_vs_chunked".into(),
                max_difference(&quadratic, &chunked),
            ),
            ("scan_vs_chunked".into(), max_difference(&scan, &chunked)),
            (
                "quadratic_vs_scan".into(),
                max_difference(&quadratic, &scan),
            ),
        ],
    }
}

/// [`chunks`] for the page, as JSON.
#[wasm_bindgen]
pub fn ch08_chunks(q: u32, seed: u32) -> String {
    chunks(q as usize, u64::from(seed)).to_json()
}

/// The browser check's case: chunks of 8 and seed 7, as the page's
/// `data-test-value`s say. The difference is rounding (about 1e-15): the
/// tolerance allows the browser's `exp` to differ from the native one in the
/// last bits of every decay.
pub fn cases() -> Vec<BrowserCase> {
    let widget = chunks(8, 7);
    let case = |control, value: &str, number| BrowserCase {
        widget: "ch08-chunks",
        control,
        value: value.into(),
        number,
        expected: widget.number(number).unwrap_or(f64::NAN),
        tolerance: 1e-13,
    };
    vec![
        case("ch08-chunks-q", "8", "chunks"),
        case("ch08-chunks-seed", "7", "quadratic_vs_chunked"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The forms agree to rounding: a few ulps of outputs of order 10.
    const AGREE: f64 = 1e-12;

    #[test]
    fn the_numbers_are_the_forms_differences_at_that_chunk_length() {
        for (q, seed) in [(8, 7), (16, 1), (64, 3)] {
            let w = chunks(q, seed);
            let (u, a, b, c) = inputs(seed);
            let inputs = SsdInputs::new(&u, &a, &b, &c);
            let chunked = ssd_chunked(&inputs, q);
            let quadratic = ssd_quadratic(&inputs);
            let scan = ssd_recurrent(&inputs);
            assert_eq!(w.number("chunks"), Some((T / q) as f64));
            let d = max_difference(&quadratic, &chunked);
            assert_eq!(w.number("quadratic_vs_chunked"), Some(d));
            assert!(d < AGREE, "q {q}: {d}");
            let d = w.number("scan_vs_chunked").expect("shown");
            assert_eq!(d, max_difference(&scan, &chunked));
            assert!(d < AGREE, "q {q}: {d}");
            assert!(w.number("quadratic_vs_scan").expect("shown") < AGREE);
            assert!(w.svg.starts_with("<svg"));
        }
    }

    #[test]
    fn the_drawing_is_the_static_figures_at_its_chunk_length() {
        let w = chunks(16, 1);
        let figure = chunked_steps_diagram(T / 16, 16, N)
            .to_svg()
            .expect("drawn");
        assert_eq!(w.svg, figure);
        assert_ne!(chunks(8, 1).svg, w.svg);
    }

    #[test]
    fn a_chunk_length_not_offered_is_a_message_and_no_number() {
        let w = chunks(5, 1);
        assert!(w.numbers.is_empty());
        assert!(w.svg.contains("must be one of"));
    }

    #[test]
    fn the_browser_cases_are_the_widgets_numbers() {
        for case in cases() {
            let w = chunks(8, 7);
            assert_eq!(Some(case.expected), w.number(case.number));
        }
    }
}
