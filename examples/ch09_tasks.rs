//! Chapter 9: each synthetic task as a picture of one sequence, drawn from
//! the crate's own generators (`src/train/tasks.rs`) at the settings chapter
//! 9 trains on: selective copying (L = 64, K = 4), induction heads (L = 64)
//! and the delay (L = 1,024, 256 steps late). Every cell and curve carries
//! the generator's values as `data-*` attributes, and each picture names its
//! task, settings and seed, so a test regenerates the sequence and compares.
//! Writes `chapters/figures/ch09/task-{selective-copying,induction-heads,delay}.svg`.
//!
//! Run: `cargo run --release --example ch09_tasks`

use std::process::ExitCode;

use ssm_lineage::Result;
use ssm_lineage::support::figure::{PALETTE, exit_code, figure_path};
use ssm_lineage::support::pictures::{
    Cell, Kind, Strip, Svg, WIDTH, hex, lighten, token_strips,
};
use ssm_lineage::train::tasks::{
    BLANK, Delay, InductionHeads, MARKER, SelectiveCopying,
};

/// The seed each picture's sequence is drawn from (`task.batch(SEED, 1)`).
const SEED: u64 = 1;

fn main() -> ExitCode {
    exit_code("ch09_tasks", run())
}

fn kind(name: &str, colour: plotters::style::RGBColor) -> Kind {
    Kind {
        name: name.into(),
        colour,
    }
}

fn cell(text: String, kind: usize, token: usize) -> Cell {
    Cell {
        text,
        kind,
        token: Some(token),
    }
}

/// The target row: a green cell with the answer where a position is scored.
fn targets(targets: &[Option<usize>], kind: usize) -> Strip {
    Strip {
        name: "target".into(),
        cells: targets
            .iter()
            .map(|t| Cell {
                text: t.map_or(String::new(), |v| v.to_string()),
                kind,
                token: *t,
            })
            .collect(),
    }
}

fn selective_copying() -> Result<()> {
    let task = SelectiveCopying::new(64, 4)?;
    let e = task.batch(SEED, 1).remove(0);
    let kinds = [
        kind("data token", PALETTE[0]),
        kind("blank", lighten(PALETTE[6], 0.88)),
        kind("copy marker", PALETTE[1]),
        kind("scored answer", PALETTE[2]),
    ];
    let input = e
        .tokens
        .iter()
        .map(|&t| match t {
            BLANK => cell("·".into(), 1, t),
            MARKER => cell("▶".into(), 2, t),
            _ => cell(t.to_string(), 0, t),
        })
        .collect();
    let strips = [
        Strip {
            name: "input".into(),
            cells: input,
        },
        targets(&e.targets, 3),
    ];
    let mut svg = token_strips(
        "Selective copying, L = 64, K = 4: one sequence",
        "Four data tokens hide among 64 positions; after the marker the model says them again, in order.",
        &strips,
        &kinds,
        34,
    );
    svg.meta(&format!(
        r#"data-task="selective-copying" data-len="64" data-copies="4" data-seed="{SEED}""#
    ));
    svg.save(&figure_path("ch09", "task-selective-copying.svg"))
}

fn induction_heads() -> Result<()> {
    let (len, vocab) = (64, 16);
    let task = InductionHeads::new(len, vocab)?;
    let e = task.batch(SEED, 1).remove(0);
    let special = vocab - 1;
    let first = e.tokens.iter().position(|&t| t == special).unwrap_or(0);
    let kinds = [
        kind("random symbol", lighten(PALETTE[5], 0.6)),
        kind("special token ★", PALETTE[3]),
        kind("the token to recall", PALETTE[4]),
        kind("scored answer", PALETTE[2]),
    ];
    let input = e
        .tokens
        .iter()
        .enumerate()
        .map(|(t, &token)| match token {
            s if s == special => cell("★".into(), 1, token),
            _ if t == first + 1 => cell(token.to_string(), 2, token),
            _ => cell(token.to_string(), 0, token),
        })
        .collect();
    let strips = [
        Strip {
            name: "input".into(),
            cells: input,
        },
        targets(&e.targets, 3),
    ];
    let mut svg = token_strips(
        "Induction heads, L = 64: one sequence",
        &format!(
            "★ appears at position {first} and again at the end: the answer is the token that followed it, {}.",
            e.tokens[first + 1]
        ),
        &strips,
        &kinds,
        32,
    );
    svg.meta(&format!(
        r#"data-task="induction-heads" data-len="{len}" data-vocab="{vocab}" data-seed="{SEED}""#
    ));
    svg.save(&figure_path("ch09", "task-induction-heads.svg"))
}

/// The delay: the input and the target (the input 256 steps later) as two
/// curves on one time axis, the unscored start shaded.
fn delay() -> Result<()> {
    let (len, late, bins) = (1024, 256, 64);
    let task = Delay::new(len, late, bins)?;
    let e = task.batch(SEED, 1).remove(0);
    let (left, right, row) = (70.0, WIDTH - 16.0, 130.0);
    let x = |t: usize| left + (right - left) * t as f64 / (len - 1) as f64;
    let top = 80.0;
    let mut svg = Svg::new(WIDTH, top + 2.0 * row + 50.0);
    svg.text(
        (WIDTH / 2.0, 20.0),
        18.0,
        "middle",
        "#000000",
        "The delay, L = 1,024: one sequence and its target, 256 steps later",
    );
    svg.text((14.0, 50.0), 13.0, "start", "#333333",
        "Input: band-limited noise (the lowest 64 of 512 frequencies); target: the input 256 steps earlier, uₜ₋₂₅₆.");
    // The unscored start of the target, under its curve.
    svg.rect(
        (x(0), top + row + 4.0),
        (x(late) - x(0), row - 8.0),
        &hex(lighten(PALETTE[6], 0.9)),
        "none",
        "",
    );
    let scale = e.input.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-9);
    let series = [
        ("input", &e.input, PALETTE[0], "input"),
        ("target", &e.target, PALETTE[2], "target"),
    ];
    for (r, (name, values, colour, key)) in series.into_iter().enumerate() {
        let mid = top + row * (r as f64 + 0.5);
        svg.line((left, mid), (right, mid), "#cccccc", 1.0, false);
        svg.text((left - 8.0, mid), 13.0, "end", "#000000", name);
        let y = |v: f64| mid - 0.45 * row * v / scale;
        let points: Vec<(f64, f64)> =
            (0..len).map(|t| (x(t), y(values[(t, 0)]))).collect();
        let data: Vec<String> =
            (0..len).map(|t| format!("{:.4}", values[(t, 0)])).collect();
        svg.polyline(
            &points,
            &hex(colour),
            1.6,
            &format!(r#"data-series="{key}" data-values="{}""#, data.join(" ")),
        );
    }
    // The shift by the delay, from the input's highest peak.
    svg.text(
        (x(late / 2), top + 1.5 * row + 30.0),
        13.0,
        "middle",
        "#333333",
        "not scored",
    );
    let peak = (0..len - late)
        .max_by(|&a, &b| e.input[(a, 0)].total_cmp(&e.input[(b, 0)]))
        .unwrap_or(0);
    let y_peak =
        |r: f64| top + row * (r + 0.5) - 0.45 * row * e.input[(peak, 0)] / scale;
    svg.arrow(
        (x(peak), y_peak(0.0)),
        (x(peak + late), y_peak(1.0)),
        &hex(PALETTE[1]),
        1.8,
    );
    svg.text(
        (x(peak + late / 2) + 8.0, top + row),
        13.0,
        "start",
        &hex(PALETTE[1]),
        "256 steps",
    );
    for t in (0..=len).step_by(128) {
        let t = t.min(len - 1);
        svg.text(
            (x(t), top + 2.0 * row + 14.0),
            12.0,
            "middle",
            "#555555",
            &t.to_string(),
        );
    }
    svg.text(
        (WIDTH / 2.0, top + 2.0 * row + 36.0),
        13.0,
        "middle",
        "#000000",
        "position t",
    );
    svg.meta(&format!(
        r#"data-task="delay" data-len="{len}" data-delay="{late}" data-bins="{bins}" data-seed="{SEED}""#
    ));
    svg.save(&figure_path("ch09", "task-delay.svg"))
}

fn run() -> Result<()> {
    selective_copying()?;
    induction_heads()?;
    delay()?;
    println!("wrote the three task pictures under chapters/figures/ch09/");
    Ok(())
}
