//! Chapter 6: the Hillis–Steele and Blelloch scans on 8 elements, drawn from
//! the combinations the crate's own scans perform. Each element of the
//! traced scan knows which inputs it covers and after how many dependent
//! combinations it was made; every call of `combine` is recorded, in order.
//! Each result is a box in the column of the last input it covers and in
//! the row of the round that made it; arrows run from its two operands:
//! the later one straight down its own column, the earlier one down its
//! column and then into the box. One prefix, element 5's, is highlighted
//! with everything it is made from. Writes `chapters/figures/ch06/trees.svg`.
//!
//! Run: `cargo run --release --example ch06_trees`

use std::process::ExitCode;
use std::sync::Mutex;

use ssm_lineage::Result;
use ssm_lineage::scan::Associative;
use ssm_lineage::scan::prefix::{scan_blelloch, scan_hillis_steele};
use ssm_lineage::support::figure::{PALETTE, exit_code, figure_path};
use ssm_lineage::support::pictures::{
    Edge, Kind, Node, Schedule, Svg, WIDTH, draw_schedule, hex, lighten,
    schedule_height,
};

/// A combination of the inputs `lo..=hi` (empty when `lo > hi`, the
/// identity), made after `depth` dependent combinations.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Traced {
    lo: i32,
    hi: i32,
    depth: i32,
}

impl Traced {
    fn is_identity(self) -> bool {
        self.lo > self.hi
    }
}

/// Every combination in call order: (earlier, later, result).
static LOG: Mutex<Vec<(Traced, Traced, Traced)>> = Mutex::new(Vec::new());

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
        if let Ok(mut log) = LOG.lock() {
            log.push((self, later, result));
        }
        result
    }
}

const L: i32 = 8;
/// The element whose prefix is highlighted.
const FOLLOWED: i32 = 5;

fn main() -> ExitCode {
    exit_code("ch06_trees", run())
}

/// Every call of `combine` that `scan` makes on L inputs, in order.
fn trace(scan: fn(&[Traced]) -> Vec<Traced>) -> Vec<(Traced, Traced, Traced)> {
    let inputs: Vec<Traced> = (0..L)
        .map(|t| Traced {
            lo: t,
            hi: t,
            depth: 0,
        })
        .collect();
    if let Ok(mut log) = LOG.lock() {
        log.clear();
    }
    let _ = scan(&inputs);
    LOG.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Kinds: 0 an input, 1 a block that does not start at input 0, 2 a prefix.
fn kind_of(v: Traced) -> usize {
    match (v.lo == v.hi, v.lo == 0) {
        (true, false) => 0,
        (_, true) if v.hi > 0 => 2,
        (true, true) => 0,
        _ => 1,
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

/// Lays the traced combinations out: a row of inputs, then each combination
/// in the row `row(i, call)` gives it (`None`: not drawn), in the column of
/// the last input it covers. An operand is the latest box of the same
/// inputs in its column above the row; `arrow_from_input(row)` says whether
/// an input operand in that row gets an arrow.
fn layout(
    title: &str,
    rows: Vec<String>,
    calls: &[(Traced, Traced, Traced)],
    row: impl Fn(usize, &(Traced, Traced, Traced)) -> Option<usize>,
    arrow_from_input: impl Fn(usize) -> bool,
) -> Schedule {
    let mut nodes: Vec<(Traced, Node)> = (0..L)
        .map(|t| {
            let v = Traced {
                lo: t,
                hi: t,
                depth: 0,
            };
            let node = Node {
                col: t as usize,
                row: 0,
                label: label(v),
                kind: kind_of(v),
                lit: false,
            };
            (v, node)
        })
        .collect();
    let mut edges = Vec::new();
    // (result, input) pairs drawn without an arrow.
    let mut unlinked = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let (a, b, r) = *call;
        let Some(at) = row(i, call) else { continue };
        if a.is_identity() || b.is_identity() {
            continue;
        }
        let to = nodes.len();
        for operand in [a, b] {
            let from = nodes.iter().rposition(|(v, n)| {
                v.lo == operand.lo && v.hi == operand.hi && n.row < at
            });
            let input = operand.lo == operand.hi;
            match from {
                Some(from) if !input || arrow_from_input(at) => edges.push(Edge {
                    from,
                    to,
                    lit: false,
                }),
                Some(from) => unlinked.push((to, from)),
                None => {}
            }
        }
        let node = Node {
            col: r.hi as usize,
            row: at,
            label: label(r),
            kind: kind_of(r),
            lit: false,
        };
        nodes.push((r, node));
    }
    let mut nodes: Vec<Node> = nodes.into_iter().map(|(_, n)| n).collect();
    // Light the followed prefix (its last box) and everything it is made of.
    let last = nodes.iter().rposition(|n| {
        n.label
            == label(Traced {
                lo: 0,
                hi: FOLLOWED,
                depth: 0,
            })
    });
    let mut stack: Vec<usize> = last.into_iter().collect();
    while let Some(k) = stack.pop() {
        nodes[k].lit = true;
        for e in edges.iter_mut().filter(|e| e.to == k) {
            e.lit = true;
            stack.push(e.from);
        }
    }
    for &(result, input) in &unlinked {
        if nodes[result].lit {
            nodes[input].lit = true;
        }
    }
    Schedule {
        title: title.into(),
        columns: L as usize,
        rows,
        nodes,
        edges,
    }
}

fn hillis_steele() -> Schedule {
    let calls = trace(scan_hillis_steele::<Traced>);
    // Round k combines values made in round k − 1: its results have depth k.
    let rows = [
        "inputs",
        "round 1: t − 1",
        "round 2: t − 2",
        "round 3: t − 4",
    ];
    layout(
        "Hillis–Steele: every position, every round (17 combinations)",
        rows.map(String::from).to_vec(),
        &calls,
        |_, (_, _, r)| Some(r.depth as usize),
        |_| true,
    )
}

fn blelloch() -> Schedule {
    let calls = trace(scan_blelloch::<Traced>);
    // The up-sweep ends at the first call with the identity (the root reset);
    // the last L calls make the exclusive prefixes inclusive.
    let down = calls
        .iter()
        .position(|(a, b, _)| a.is_identity() || b.is_identity())
        .unwrap_or(calls.len());
    let last = calls.len().saturating_sub(L as usize);
    let rows = [
        "inputs",
        "up, d = 1",
        "up, d = 2",
        "up, d = 4",
        "down, d = 2",
        "down, d = 1",
        "• xₜ: inclusive",
    ];
    layout(
        "Blelloch: a tree up, a tree down, then • xₜ (18 combinations)",
        rows.map(String::from).to_vec(),
        &calls,
        |i, (_, b, r)| match i {
            i if i < down => Some(r.depth as usize),
            i if i >= last => Some(6),
            // The down-sweep's p • l at level d has l of width d.
            _ => match b.hi - b.lo + 1 {
                2 => Some(4),
                1 => Some(5),
                _ => None,
            },
        },
        // The final xₜ comes from the input array, not from a box above.
        |row| row < 6,
    )
}

fn run() -> Result<()> {
    let panels = [hillis_steele(), blelloch()];
    let count = |s: &Schedule| s.nodes.len() - L as usize;
    println!(
        "L = {L}: Hillis–Steele {} combinations, Blelloch {} (without those with the identity)",
        count(&panels[0]),
        count(&panels[1])
    );
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
    let top = 64.0;
    let height: f64 = panels.iter().map(schedule_height).sum();
    let mut svg = Svg::new(WIDTH, top + height + 10.0);
    let mut entries: Vec<_> = kinds
        .iter()
        .map(|k| (k.name.clone(), hex(k.colour), "#777777".to_string()))
        .collect();
    entries.push((
        format!("on the way to s{}", '₅'),
        "#ffffff".into(),
        "#000000".into(),
    ));
    svg.legend((14.0, 18.0), &entries);
    svg.text(
        (14.0, 44.0),
        13.0,
        "start",
        "#333333",
        "A box: the inputs a result covers, in the column of the last one; arrows: its two operands.",
    );
    let mut y = top;
    for panel in &panels {
        draw_schedule(&mut svg, y, panel, &kinds);
        y += schedule_height(panel);
    }
    svg.save(&figure_path("ch06", "trees.svg"))
}
