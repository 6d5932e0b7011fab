//! Chapter 9's task pictures show the generators' own sequences: each
//! picture names its task, settings and seed; the test draws the same
//! sequence from `src/train/tasks.rs` and reads the drawn one back from the
//! committed SVG (`examples/ch09_tasks.rs` writes them).

use ssm_lineage::support::figure::figure_path;
use ssm_lineage::support::pictures::data_values;
use ssm_lineage::train::tasks::{Delay, InductionHeads, SelectiveCopying};

/// The delay's curves are written with 4 decimals: agreement to half a unit
/// of the last one.
const FOUR_DECIMALS: f64 = 5e-5;

fn picture(name: &str) -> String {
    let path = figure_path("ch09", name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e} (run the ch09_tasks example)", path.display())
    })
}

/// The value of the picture's own `data-<key>` setting.
fn setting(svg: &str, key: &str) -> u64 {
    let values = data_values(svg, "data-task", &format!("data-{key}"));
    values
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the picture names no {key}"))
}

/// The drawn tokens of one strip, in order (empty cells left out).
fn tokens(svg: &str, strip: &str) -> Vec<usize> {
    data_values(svg, &format!("data-strip=\"{strip}\""), "data-token")
        .iter()
        .map(|v| v.parse().expect("a token id"))
        .collect()
}

fn scored(targets: &[Option<usize>]) -> Vec<usize> {
    targets.iter().flatten().copied().collect()
}

#[test]
fn the_selective_copying_picture_is_the_generators_sequence() {
    let svg = picture("task-selective-copying.svg");
    let task = SelectiveCopying::new(
        setting(&svg, "len") as usize,
        setting(&svg, "copies") as usize,
    )
    .expect("valid");
    let e = task.batch(setting(&svg, "seed"), 1).remove(0);
    assert_eq!(tokens(&svg, "input"), e.tokens);
    assert_eq!(tokens(&svg, "target"), scored(&e.targets));
}

#[test]
fn the_induction_heads_picture_is_the_generators_sequence() {
    let svg = picture("task-induction-heads.svg");
    let task = InductionHeads::new(
        setting(&svg, "len") as usize,
        setting(&svg, "vocab") as usize,
    )
    .expect("valid");
    let e = task.batch(setting(&svg, "seed"), 1).remove(0);
    assert_eq!(tokens(&svg, "input"), e.tokens);
    assert_eq!(tokens(&svg, "target"), scored(&e.targets));
}

#[test]
fn the_delay_picture_is_the_generators_sequence() {
    let svg = picture("task-delay.svg");
    let task = Delay::new(
        setting(&svg, "len") as usize,
        setting(&svg, "delay") as usize,
        setting(&svg, "bins") as usize,
    )
    .expect("valid");
    let e = task.batch(setting(&svg, "seed"), 1).remove(0);
    for (series, want) in [("input", &e.input), ("target", &e.target)] {
        let drawn =
            data_values(&svg, &format!("data-series=\"{series}\""), "data-values");
        let drawn: Vec<f64> = drawn
            .first()
            .expect("the curve is drawn")
            .split(' ')
            .map(|v| v.parse().expect("a number"))
            .collect();
        assert_eq!(drawn.len(), want.nrows(), "{series}");
        for (t, (d, w)) in drawn.iter().zip(want.iter()).enumerate() {
            assert!(
                (d - w).abs() <= FOUR_DECIMALS,
                "{series} at {t}: {d} vs {w}"
            );
        }
    }
}
