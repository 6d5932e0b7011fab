//! Chapter 6: the Hillis–Steele and Blelloch scans on 8 elements, drawn from
//! the combinations the crate's own scans perform. Each element of the
//! traced scan knows which inputs it covers and after how many dependent
//! combinations it was made; every call of `combine` is recorded. A dot is a
//! partial combination of inputs lo…hi, drawn at hi and at its depth; a line
//! joins it to each operand. Writes `chapters/figures/ch06/trees.svg`.
//!
//! Run: `cargo run --release --example ch06_trees`

use std::process::ExitCode;
use std::sync::Mutex;

use plotters::prelude::*;
use ssm_lineage::Error;
use ssm_lineage::scan::Associative;
use ssm_lineage::scan::prefix::{scan_blelloch, scan_hillis_steele};
use ssm_lineage::support::figure::{exit_code, figure_path};

/// A combination of the inputs `lo..=hi` (empty when `lo > hi`, the
/// identity), made after `depth` dependent combinations.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Traced {
    lo: i32,
    hi: i32,
    depth: i32,
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
        let result = match (self.lo > self.hi, later.lo > later.hi) {
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

fn main() -> ExitCode {
    exit_code("ch06_trees", run())
}

/// The combinations `scan` performs on L inputs, without those with the
/// identity (which move a value and compute nothing).
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
    let log = LOG.lock().map(|l| l.clone()).unwrap_or_default();
    log.into_iter()
        .filter(|(a, b, _)| a.lo <= a.hi && b.lo <= b.hi)
        .collect()
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    events: &[(Traced, Traced, Traced)],
) -> Result<(), String> {
    let depth = events.iter().map(|e| e.2.depth).max().unwrap_or(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..(L as f64 - 0.5), (depth as f64 + 0.5)..-0.5)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(L as usize)
        .y_labels(depth as usize + 1)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("position (last input covered)")
        .y_desc("depth (dependent combinations)")
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())?;
    let at = |n: &Traced| (n.hi as f64, n.depth as f64);
    for (a, b, r) in events {
        for operand in [a, b] {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![at(operand), at(r)],
                    RGBColor(0, 114, 178).stroke_width(2),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    let mut nodes: Vec<Traced> =
        events.iter().flat_map(|(a, b, r)| [*a, *b, *r]).collect();
    nodes.dedup();
    chart
        .draw_series(nodes.iter().map(|n| {
            let colour = if n.lo == 0 {
                RGBColor(213, 94, 0)
            } else {
                RGBColor(0, 0, 0)
            };
            Circle::new(at(n), 5, colour.filled())
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn run() -> ssm_lineage::Result<()> {
    let path = figure_path("ch06", "trees.svg");
    let fail = |e: String| Error::Output {
        path: path.clone(),
        reason: e,
    };
    let hillis = trace(scan_hillis_steele::<Traced>);
    let blelloch = trace(scan_blelloch::<Traced>);
    println!(
        "L = {L}: Hillis–Steele {} combinations, Blelloch {} (without those with the identity)",
        hillis.len(),
        blelloch.len()
    );
    let root = SVGBackend::new(&path, (570, 820)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let (top, bottom) = root.split_vertically(360);
    panel(&top, "Hillis–Steele: every position, every round", &hillis)
        .map_err(fail)?;
    panel(&bottom, "Blelloch: a tree up, a tree down", &blelloch).map_err(fail)?;
    root.present().map_err(|e| fail(e.to_string()))
}
