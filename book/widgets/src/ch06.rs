//! Chapter 6's widget: the Hillis–Steele and Blelloch scans on L = 8 to 16
//! elements, stepped one level at a time. As `examples/ch06_trees.rs` does,
//! the crate's own scans (`scan::prefix::scan_hillis_steele`,
//! `scan_blelloch`) run on traced elements that record every call of
//! `combine`; each result is a box in the column of the last input it
//! covers and in the row of the level that made it. The levels up to the
//! chosen one are drawn; the chosen level's combinations and their operand
//! arrows are drawn thick.

use std::cell::RefCell;

use ssm_lineage::scan::Associative;
use ssm_lineage::scan::prefix::{scan_blelloch, scan_hillis_steele};
use ssm_lineage::support::figure::PALETTE;
use ssm_lineage::support::pictures::{
    Edge, Kind, Node, Schedule, Svg, WIDTH, draw_schedule, hex, lighten,
    schedule_height,
};
use wasm_bindgen::prelude::wasm_bindgen;

use crate::{BrowserCase, Widget};

/// The fewest and the most elements offered.
pub const LENGTHS: std::ops::RangeInclusive<usize> = 8..=16;

/// A combination of the inputs `lo..=hi` (empty when `lo > hi`: the
/// identity), made after `depth` dependent combinations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traced {
    lo: i32,
    hi: i32,
    depth: i32,
}

impl Traced {
    fn input(t: i32) -> Self {
        Traced {
            lo: t,
            hi: t,
            depth: 0,
        }
    }

    fn is_identity(self) -> bool {
        self.lo > self.hi
    }
}

/// One call of `combine`: (earlier, later, result).
pub type Call = (Traced, Traced, Traced);

thread_local! {
    /// Every combination in call order (per thread: tests run in parallel).
    static LOG: RefCell<Vec<Call>> = const { RefCell::new(Vec::new()) };
}

impl Associative for Traced {
    fn identity() -> Self {
        Traced {
            lo: 1,
            hi: 0,
            depth: 0,
        }
    }

    fn combine(self, later: Self) -> Self {
        let result = match (self.is_identity(), later.is_identity()) {
            (true, _) => later,
            (_, true) => self,
            _ => Traced {
                lo: self.lo,
                hi: later.hi,
                depth: self.depth.max(later.depth) + 1,
            },
        };
        LOG.with(|log| log.borrow_mut().push((self, later, result)));
        result
    }
}

/// Every call of `combine` that `scan` makes on `len` traced inputs, in
/// order, and what it returns.
pub fn trace(
    scan: fn(&[Traced]) -> Vec<Traced>,
    len: usize,
) -> (Vec<Call>, Vec<Traced>) {
    let inputs: Vec<Traced> = (0..len as i32).map(Traced::input).collect();
    LOG.with(|log| log.borrow_mut().clear());
    let out = scan(&inputs);
    (LOG.with(|log| log.borrow().clone()), out)
}

/// Kinds: 0 an input, 1 a block that does not start at input 0, 2 a prefix.
fn kind_of(v: Traced) -> usize {
    match (v.lo == v.hi, v.lo == 0) {
        (true, _) => 0,
        (false, true) => 2,
        (false, false) => 1,
    }
}

fn label(v: Traced) -> String {
    const SUB: [char; 10] = ['₀', '₁', '₂', '₃', '₄', '₅', '₆', '₇', '₈', '₉'];
    if v.lo == v.hi {
        let digits = v.hi.to_string();
        let sub = digits
            .chars()
            .map(|c| SUB[c.to_digit(10).unwrap_or(0) as usize]);
        std::iter::once('x').chain(sub).collect()
    } else {
        format!("{}–{}", v.lo, v.hi)
    }
}

/// A scan laid out by level: the row labels and, for each call, the row
/// (level) it belongs to, or `None` for a call with the identity (nothing
/// is combined).
pub struct Levels {
    /// One label per row; row 0 is the inputs.
    pub rows: Vec<String>,
    /// Every call of `combine`, in order.
    pub calls: Vec<Call>,
    /// The row of each call.
    pub row_of: Vec<Option<usize>>,
    /// Whether an operand that is an input gets an arrow in each row (the
    /// final `• xₜ` of Blelloch reads the inputs, not a box above).
    pub input_arrows: Vec<bool>,
}

/// Hillis–Steele: round k (k = 1, 2, …) combines results of round k − 1 at
/// offset 2^(k−1); its results have depth k.
pub fn hillis_steele(len: usize) -> Levels {
    let (calls, _) = trace(scan_hillis_steele::<Traced>, len);
    let rounds = calls.iter().map(|c| c.2.depth).max().unwrap_or(0) as usize;
    let mut rows = vec!["inputs".to_string()];
    rows.extend((1..=rounds).map(|k| format!("round {k}: t − {}", 1 << (k - 1))));
    let row_of = calls.iter().map(|c| Some(c.2.depth as usize)).collect();
    Levels {
        input_arrows: vec![true; rows.len()],
        rows,
        calls,
        row_of,
    }
}

/// Blelloch on L padded to 2^m: the up-sweep's m levels (d = 1, …, 2^(m−1);
/// 2^m/(2d) calls each), the root reset, the down-sweep's levels
/// (d = 2^(m−1), …, 1; the first combines only the identity), then the L
/// calls • xₜ that make the prefixes inclusive. Rows by call order.
pub fn blelloch(len: usize) -> Levels {
    let (calls, _) = trace(scan_blelloch::<Traced>, len);
    let size = len.next_power_of_two();
    let m = size.trailing_zeros() as usize;
    let mut rows = vec!["inputs".to_string()];
    let mut row_of = Vec::with_capacity(calls.len());
    // Up-sweep: level j (d = 2^(j−1)) has size / 2^j calls.
    for j in 1..=m {
        rows.push(format!("up, d = {}", 1 << (j - 1)));
        row_of.extend(std::iter::repeat_n(Some(j), size >> j));
    }
    // Down-sweep: d = size/2 (one call, with the identity), then size/4 … 1.
    row_of.push(None);
    for i in 1..m {
        rows.push(format!("down, d = {}", size >> (i + 1)));
        row_of.extend(std::iter::repeat_n(Some(m + i), 1 << i));
    }
    rows.push("• xₜ: inclusive".into());
    row_of.extend(std::iter::repeat_n(Some(2 * m), len));
    let last = rows.len() - 1;
    // Calls with the identity combine nothing.
    for (r, c) in row_of.iter_mut().zip(&calls) {
        if c.0.is_identity() || c.1.is_identity() {
            *r = None;
        }
    }
    Levels {
        input_arrows: (0..rows.len()).map(|r| r < last).collect(),
        rows,
        calls,
        row_of,
    }
}

/// The boxes and arrows of the levels up to `level`; the boxes made at
/// `level` and their operand arrows lit.
pub fn schedule(
    title: &str,
    levels: &Levels,
    columns: usize,
    level: usize,
) -> Schedule {
    let mut nodes: Vec<(Traced, Node)> = (0..columns as i32)
        .map(|t| {
            let v = Traced::input(t);
            let node = Node {
                col: t as usize,
                row: 0,
                label: label(v),
                kind: kind_of(v),
                lit: level == 0,
            };
            (v, node)
        })
        .collect();
    let mut edges = Vec::new();
    for (&(a, b, r), row) in levels.calls.iter().zip(&levels.row_of) {
        let Some(at) = *row else { continue };
        if at > level {
            continue;
        }
        let to = nodes.len();
        for operand in [a, b] {
            let from = nodes.iter().rposition(|(v, n)| {
                v.lo == operand.lo && v.hi == operand.hi && n.row < at
            });
            let input = operand.lo == operand.hi;
            let arrow =
                !input || levels.input_arrows.get(at).copied().unwrap_or(true);
            if let Some(from) = from.filter(|_| arrow) {
                edges.push(Edge {
                    from,
                    to,
                    lit: at == level,
                });
            }
        }
        let node = Node {
            col: r.hi as usize,
            row: at,
            label: label(r),
            kind: kind_of(r),
            lit: at == level,
        };
        nodes.push((r, node));
    }
    let shown = level.min(levels.rows.len() - 1);
    Schedule {
        title: title.into(),
        columns,
        rows: levels.rows[..=shown].to_vec(),
        nodes: nodes.into_iter().map(|(_, n)| n).collect(),
        edges,
    }
}

/// The combinations (calls without the identity) in rows 1..=`level`.
pub fn combinations(levels: &Levels, level: usize) -> usize {
    levels
        .row_of
        .iter()
        .filter(|r| r.is_some_and(|r| r <= level))
        .count()
}

/// The widget: both scans on `len` elements, drawn up to `level`. Numbers:
/// `hs_combinations`, `blelloch_combinations` (made up to this level),
/// `hs_levels`, `blelloch_levels` (each scan's number of levels).
pub fn trees(len: usize, level: usize) -> Widget {
    if !LENGTHS.contains(&len) {
        return Widget::message(&format!("L = {len}: choose 8 to 16 elements"));
    }
    let hs = hillis_steele(len);
    let bl = blelloch(len);
    let (hs_levels, bl_levels) = (hs.rows.len() - 1, bl.rows.len() - 1);
    let (hs_count, bl_count) = (combinations(&hs, level), combinations(&bl, level));
    let panels = [
        schedule(
            &format!(
                "Hillis–Steele, level {} of {hs_levels}: {hs_count} of {} combinations",
                level.min(hs_levels),
                combinations(&hs, hs_levels)
            ),
            &hs,
            len,
            level,
        ),
        schedule(
            &format!(
                "Blelloch, level {} of {bl_levels}: {bl_count} of {} combinations",
                level.min(bl_levels),
                combinations(&bl, bl_levels)
            ),
            &bl,
            len,
            level,
        ),
    ];
    let kinds = [
        Kind {
            name: "an input xₜ".into(),
            colour: lighten(PALETTE[6], 0.85),
        },
        Kind {
            name: "a block a–b (a > 0)".into(),
            colour: lighten(PALETTE[5], 0.45),
        },
        Kind {
            name: "a prefix 0–b".into(),
            colour: PALETTE[3],
        },
    ];
    let top = 40.0;
    let height: f64 = panels.iter().map(schedule_height).sum();
    let mut svg = Svg::new(WIDTH, top + height + 10.0);
    let mut entries: Vec<_> = kinds
        .iter()
        .map(|k| (k.name.clone(), hex(k.colour), "#777777".to_string()))
        .collect();
    entries.push((
        format!("made at level {level}"),
        "#ffffff".into(),
        "#000000".into(),
    ));
    svg.legend((14.0, 18.0), &entries);
    let mut y = top;
    for panel in &panels {
        draw_schedule(&mut svg, y, panel, &kinds);
        y += schedule_height(panel);
    }
    Widget {
        svg: svg.to_svg(),
        numbers: vec![
            ("hs_combinations".into(), hs_count as f64),
            ("blelloch_combinations".into(), bl_count as f64),
            ("hs_levels".into(), hs_levels as f64),
            ("blelloch_levels".into(), bl_levels as f64),
        ],
    }
}

/// The page's call: `ch06_trees(L, level)` → the widget as JSON.
#[wasm_bindgen]
pub fn ch06_trees(len: usize, level: usize) -> String {
    trees(len, level).to_json()
}

/// This chapter's browser-check cases: the level set to 2 (L = 8, the
/// page's default) must show Hillis–Steele's combinations so far (exact: a
/// count).
pub fn cases() -> Vec<BrowserCase> {
    let w = trees(8, 2);
    vec![BrowserCase {
        widget: "ch06-trees",
        control: "ch06-trees-level",
        value: "2".into(),
        number: "hs_combinations",
        expected: w.number("hs_combinations").unwrap_or(f64::NAN),
        tolerance: 0.0,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counts_are_the_scans_work() {
        for len in LENGTHS {
            let w = trees(len, usize::MAX);
            let l = len as f64;
            let rounds = l.log2().ceil();
            // Hillis–Steele: round k combines L − 2^(k−1) pairs.
            let hs: f64 = (0..rounds as i32).map(|k| l - 2f64.powi(k)).sum();
            assert_eq!(w.number("hs_combinations"), Some(hs), "L = {len}");
            assert_eq!(w.number("hs_levels"), Some(rounds));
            // Blelloch on a power of two: 2(L − 1) − (log₂ L − 1) tree
            // combinations without the identity, plus L − 1 final • xₜ
            // (x₀'s is with the identity).
            if len.is_power_of_two() {
                let m = l.log2();
                let want = (l - 1.0) + (l - 1.0 - m) + (l - 1.0);
                assert_eq!(w.number("blelloch_combinations"), Some(want));
            }
            assert_eq!(w.number("blelloch_levels"), Some(2.0 * rounds));
        }
    }

    #[test]
    fn every_level_adds_its_boxes_and_the_last_ends_in_the_prefixes() {
        for len in [8, 11, 16] {
            for levels in [hillis_steele(len), blelloch(len)] {
                assert_eq!(levels.row_of.len(), levels.calls.len(), "L = {len}");
                let last = levels.rows.len() - 1;
                let mut before = 0;
                for level in 1..=last {
                    let now = combinations(&levels, level);
                    assert!(now > before, "L = {len}, level {level}");
                    before = now;
                }
                // The last boxes of each column are the prefixes 0..=t.
                let s = schedule("", &levels, len, last);
                for t in 0..len {
                    let top =
                        s.nodes.iter().filter(|n| n.col == t).max_by_key(|n| n.row);
                    let want = if t == 0 {
                        "x₀".to_string()
                    } else {
                        format!("0–{t}")
                    };
                    assert_eq!(top.map(|n| n.label.clone()), Some(want));
                }
            }
        }
    }

    #[test]
    fn the_traced_scans_return_the_prefixes() {
        for len in LENGTHS {
            for scan in [scan_hillis_steele::<Traced>, scan_blelloch::<Traced>] {
                let (_, out) = trace(scan, len);
                for (t, v) in out.iter().enumerate() {
                    assert_eq!((v.lo, v.hi), (0, t as i32));
                }
            }
        }
    }

    #[test]
    fn only_the_chosen_level_is_lit_and_a_bad_length_shows_a_message() {
        let levels = blelloch(8);
        let s = schedule("", &levels, 8, 4);
        assert!(s.nodes.iter().all(|n| n.lit == (n.row == 4)));
        assert!(s.nodes.iter().all(|n| n.row <= 4));
        assert!(s.edges.iter().any(|e| e.lit));
        assert!(trees(20, 1).numbers.is_empty());
        assert_eq!(cases()[0].expected, 13.0); // rounds 1 and 2: 7 + 6
        assert!(ch06_trees(9, 3).contains("blelloch_levels"));
    }
}
