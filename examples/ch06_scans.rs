//! Chapter 6: how fast each scan runs on the machine that runs it, for the
//! linear recurrence x_t = a_t x_{t−1} + b_t with L from 2^8 to 2^20: the
//! plain loop, the sequential scan, Hillis–Steele, Blelloch and chunked (one
//! chunk per rayon thread, times four). One run writes both the table
//! `chapters/figures/ch06/measured-scan-time.md` (which the chapter includes)
//! and the figure `chapters/figures/ch06/measured-scan-time.svg`, in the same
//! unit (million elements per second), and prints the table. A second
//! table in the same file times the loop and the sequential scan on
//! a_t = 0.9, where the scan's running product Π a becomes subnormal.
//!
//! Run: `cargo run --release --example ch06_scans`

use std::hint::black_box;
use std::process::ExitCode;

use rand::RngExt;
use ssm_lineage::Error;
use ssm_lineage::scan::Affine;
use ssm_lineage::scan::prefix::{
    linear_recurrence, scan_blelloch, scan_chunked, scan_hillis_steele,
    scan_sequential,
};
use ssm_lineage::support::figure::{LinePlot, Scale, exit_code, figure_path};
use ssm_lineage::support::rng::seeded;
use ssm_lineage::support::timing::best_within;
use ssm_lineage::train::experiment::machine;

const NAMES: [&str; 5] = [
    "loop",
    "sequential scan",
    "Hillis–Steele",
    "Blelloch",
    "chunked",
];

fn main() -> ExitCode {
    exit_code("ch06_scans", run())
}

/// Million elements per second of each scan (in the order of `NAMES`) on
/// `len` random steps with a close to 1.
fn rates(len: usize, seed: u64) -> [f64; 5] {
    let mut rng = seeded(seed);
    let e: Vec<Affine<f64>> = (0..len)
        // a close to 1 (long memory): the products Π a stay normal
        // numbers up to L = 2^20 (see the chapter on subnormals).
        .map(|_| {
            Affine::new(rng.random_range(0.999..1.0), rng.random_range(-1.0..1.0))
        })
        .collect();
    let chunk = len.div_ceil(4 * rayon::current_num_threads());
    let budget = 0.15;
    let times = [
        best_within(budget, || drop(black_box(linear_recurrence(&e, 0.0)))),
        best_within(budget, || drop(black_box(scan_sequential(&e)))),
        best_within(budget, || drop(black_box(scan_hillis_steele(&e)))),
        best_within(budget, || drop(black_box(scan_blelloch(&e)))),
        best_within(budget, || drop(black_box(scan_chunked(&e, chunk)))),
    ];
    times.map(|t| len as f64 / t / 1e6)
}

/// Million elements per second of the loop and the sequential scan on `len`
/// steps of a = 0.9: the scan's product 0.9^t falls below the smallest
/// normal double after about 6,700 steps and stays subnormal.
fn subnormal_rates(len: usize) -> [f64; 2] {
    let mut rng = seeded(60);
    let e: Vec<Affine<f64>> = (0..len)
        .map(|_| Affine::new(0.9, rng.random_range(-1.0..1.0)))
        .collect();
    let budget = 0.15;
    [
        best_within(budget, || drop(black_box(linear_recurrence(&e, 0.0)))),
        best_within(budget, || drop(black_box(scan_sequential(&e)))),
    ]
    .map(|t| len as f64 / t / 1e6)
}

/// The table as Markdown between the anchors the chapter includes.
fn table(rows: &[(usize, [f64; 5])]) -> String {
    let mut md = String::from("<!-- ANCHOR: results -->\n| $L$ |");
    for name in NAMES {
        md += &format!(" {name} |");
    }
    md += "\n|---|---|---|---|---|---|\n";
    for (len, rate) in rows {
        md += &format!("| {len} |");
        for r in rate {
            md += &format!(" {r:.0} |");
        }
        md += "\n";
    }
    md += &format!(
        "\n*Million elements per second (more is faster), the best of repeated \
         runs for 0.15 s each; f64, a_t in [0.999, 1); chunked with {} chunks. \
         Measured on {}.*\n<!-- ANCHOR_END: results -->\n",
        4 * rayon::current_num_threads(),
        machine()
    );
    md
}

fn run() -> ssm_lineage::Result<()> {
    let threads = rayon::current_num_threads();
    let rows: Vec<(usize, [f64; 5])> = (8..=20)
        .step_by(2)
        .map(|power| (1usize << power, rates(1usize << power, 6 + power)))
        .collect();
    let [looped, scanned] = subnormal_rates(1 << 20);
    let md = format!(
        "{}\n<!-- ANCHOR: subnormal -->\n| $a_t = 0.9$, $L = 2^{{20}}$ | loop | \
         sequential scan |\n|---|---|---|\n| million elements per second | \
         {looped:.0} | {scanned:.0} |\n<!-- ANCHOR_END: subnormal -->\n",
        table(&rows)
    );
    println!("{md}");
    let path = figure_path("ch06", "measured-scan-time.md");
    std::fs::write(&path, md).map_err(|e| Error::Output {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut plot = LinePlot::new(
        &format!("Scanning x_t = a_t x_(t−1) + b_t, measured ({threads} threads)"),
        "sequence length L",
        "million elements per second (log scale)",
    )
    .scales(Scale::Log, Scale::Log);
    for (k, name) in NAMES.iter().enumerate() {
        let points = rows.iter().map(|(len, r)| (*len as f64, r[k])).collect();
        plot = plot.line(name, points);
    }
    plot.save(&figure_path("ch06", "measured-scan-time.svg"))
}
