//! Chapter 6: how long each scan takes on the machine that runs it, for the linear
//! recurrence x_t = a_t x_{t−1} + b_t with L from 2^8 to 2^20: the plain
//! loop, the sequential scan, Hillis–Steele, Blelloch and chunked (one chunk per rayon thread, times
//! four). Prints the table and writes
//! `chapters/figures/ch06/measured-scan-time.svg`.
//!
//! Run: `cargo run --release --example ch06_scans`

use std::hint::black_box;
use std::process::ExitCode;

use rand::RngExt;
use ssm_lineage::scan::Affine;
use ssm_lineage::scan::prefix::{
    linear_recurrence, scan_blelloch, scan_chunked, scan_hillis_steele,
    scan_sequential,
};
use ssm_lineage::support::figure::{LinePlot, Scale, exit_code, figure_path};
use ssm_lineage::support::rng::seeded;
use ssm_lineage::support::timing::best_within;

fn main() -> ExitCode {
    exit_code("ch06_scans", run())
}

fn run() -> ssm_lineage::Result<()> {
    let threads = rayon::current_num_threads();
    let mut rng = seeded(6);
    let names = [
        "loop",
        "sequential scan",
        "Hillis–Steele",
        "Blelloch",
        "chunked",
    ];
    let mut series: Vec<Vec<(f64, f64)>> = vec![Vec::new(); names.len()];
    println!(
        "linear recurrence, f64, {threads} threads; million elements per second"
    );
    println!(
        "{:>9} {:>8} {:>16} {:>14} {:>10} {:>10}",
        "L", names[0], names[1], names[2], names[3], names[4]
    );
    for power in (8..=20).step_by(2) {
        let len = 1usize << power;
        let e: Vec<Affine<f64>> = (0..len)
            // a close to 1 (long memory): the products Π a stay normal
            // numbers up to L = 2^20 (see the chapter on subnormals).
            .map(|_| {
                Affine::new(
                    rng.random_range(0.999..1.0),
                    rng.random_range(-1.0..1.0),
                )
            })
            .collect();
        let chunk = len.div_ceil(4 * threads);
        let budget = 0.15;
        let times = [
            best_within(budget, || drop(black_box(linear_recurrence(&e, 0.0)))),
            best_within(budget, || drop(black_box(scan_sequential(&e)))),
            best_within(budget, || drop(black_box(scan_hillis_steele(&e)))),
            best_within(budget, || drop(black_box(scan_blelloch(&e)))),
            best_within(budget, || drop(black_box(scan_chunked(&e, chunk)))),
        ];
        print!("{len:>9}");
        for (k, t) in times.iter().enumerate() {
            series[k].push((len as f64, t / len as f64 * 1e9));
            let width = [8, 16, 14, 10, 10][k];
            print!(" {:>width$.1}", len as f64 / t / 1e6);
        }
        println!();
    }
    let mut plot = LinePlot::new(
        &format!("Scanning x_t = a_t x_(t−1) + b_t, measured ({threads} threads)"),
        "sequence length L",
        "nanoseconds per element (log scale)",
    )
    .scales(Scale::Log, Scale::Log);
    for (name, points) in names.iter().zip(series) {
        plot = plot.line(name, points);
    }
    plot.save(&figure_path("ch06", "measured-scan-time.svg"))
}
