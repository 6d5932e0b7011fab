//! The introduction's lineage map: each model, what it fixes in the one
//! before, and its two views (how it trains, how it runs). Writes
//! `chapters/figures/ch00/lineage.svg`.
//!
//! Run: `cargo run --release --example ch00_lineage`

use std::process::ExitCode;

use plotters::prelude::*;
use ssm_lineage::Error;
use ssm_lineage::support::figure::{exit_code, figure_path};

/// (chapter, model, what it fixes, training view, inference view).
const LINEAGE: [(&str, &str, &str, &str, &str); 10] = [
    (
        "0",
        "Attention",
        "—",
        "masked softmax matrix, O(L²)",
        "a cache that grows with L",
    ),
    (
        "1",
        "RNN",
        "the O(L²) cost: a fixed-size state",
        "sequential, through tanh",
        "recurrence, O(1) per token",
    ),
    (
        "2",
        "Linear SSM (LSSL)",
        "no parallel training: drop the nonlinearity",
        "convolution (FFT)",
        "recurrence",
    ),
    (
        "3",
        "HiPPO",
        "a badly compressed past: A chosen by projection",
        "convolution",
        "recurrence",
    ),
    (
        "4",
        "S4",
        "HiPPO's kernel is costly and unstable to compute",
        "convolution, kernel by Cauchy + Woodbury",
        "recurrence",
    ),
    (
        "5",
        "S4D",
        "S4's machinery: a diagonal A is enough",
        "convolution, Vandermonde kernel",
        "diagonal recurrence",
    ),
    (
        "6",
        "Parallel scans",
        "a recurrence that changes each step",
        "prefix scan, O(log L) depth",
        "recurrence",
    ),
    (
        "7",
        "Mamba",
        "fixed dynamics cannot select: Δ, B, C from the input",
        "selective scan",
        "recurrence",
    ),
    (
        "8",
        "Mamba-2",
        "the scan's small operations: a scalar decay per head",
        "chunked matrix products (SSD)",
        "recurrence",
    ),
    (
        "9",
        "Learning",
        "every view above runs forward only: gradients by hand, checked",
        "the parallel view run backwards (the adjoint is a reverse scan)",
        "recurrence: the trained model writes text",
    ),
];

const WIDTH: i32 = 720;
const BOX: i32 = 92;
const GAP: i32 = 26;

fn main() -> ExitCode {
    exit_code("ch00_lineage", run())
}

fn run() -> ssm_lineage::Result<()> {
    let path = figure_path("ch00", "lineage.svg");
    let fail = |e: String| Error::Output {
        path: path.clone(),
        reason: e,
    };
    let height = LINEAGE.len() as i32 * (BOX + GAP) + 10;
    let root =
        SVGBackend::new(&path, (WIDTH as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let font = |size: i32| ("sans-serif", size).into_font();
    for (i, (chapter, model, fixes, train, infer)) in LINEAGE.iter().enumerate() {
        let top = 10 + i as i32 * (BOX + GAP);
        let colour = if i == 0 {
            RGBColor(238, 238, 238)
        } else {
            RGBColor(226, 238, 248)
        };
        let frame = [(10, top), (WIDTH - 10, top + BOX)];
        root.draw(&Rectangle::new(frame, colour.filled()))
            .and_then(|()| root.draw(&Rectangle::new(frame, BLACK.stroke_width(1))))
            .map_err(|e| fail(e.to_string()))?;
        let lines = [
            (
                format!("{model}  ({chapter})"),
                font(19).style(FontStyle::Bold),
            ),
            (format!("fixes: {fixes}"), font(15)),
            (format!("trains by: {train}"), font(15)),
            (format!("runs by: {infer}"), font(15)),
        ];
        for (k, (text, style)) in lines.into_iter().enumerate() {
            let y = top + 8 + k as i32 * 21;
            root.draw(&Text::new(text, (22, y), style.color(&BLACK)))
                .map_err(|e| fail(e.to_string()))?;
        }
        if i + 1 < LINEAGE.len() {
            // An arrow down to the next model.
            let (x, y0, y1) = (WIDTH / 2, top + BOX, top + BOX + GAP);
            root.draw(&PathElement::new(
                vec![(x, y0), (x, y1 - 2)],
                BLACK.stroke_width(2),
            ))
            .and_then(|()| {
                root.draw(&Polygon::new(
                    vec![(x - 6, y1 - 9), (x + 6, y1 - 9), (x, y1 - 1)],
                    BLACK.filled(),
                ))
            })
            .map_err(|e| fail(e.to_string()))?;
        }
    }
    root.present().map_err(|e| fail(e.to_string()))
}
