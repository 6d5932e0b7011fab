//! Chapter 8: chunked SSD against the scan and the quadratic form at
//! T = 2048, 8 heads, d_h = N = 64 (f64), for chunk lengths 16 … 512: the
//! ratio to the scan and the chunk length that is fastest on the machine that runs it.
//! Each time is the fastest of repeated runs over a second (the quadratic
//! form's: of one run), which on a shared machine is the closest to its
//! unloaded speed. A speed table: run by hand.
//!
//! Run: `cargo run --release --example ch08_ssd_speed`

use std::hint::black_box;
use std::process::ExitCode;

use nalgebra::DMatrix;
use rand::RngExt;
use ssm_lineage::ssd::{SsdInputs, ssd_chunked, ssd_quadratic, ssd_recurrent};
use ssm_lineage::support::figure::exit_code;
use ssm_lineage::support::rng::seeded;
use ssm_lineage::support::timing::{best_of, best_within};

fn main() -> ExitCode {
    exit_code("ch08_ssd_speed", run())
}

fn run() -> ssm_lineage::Result<()> {
    let (t, heads, p, n) = (2048, 8, 64, 64);
    let mut rng = seeded(4096);
    let mut m = |r: usize, c: usize| {
        DMatrix::from_fn(r, c, |_, _| rng.random_range(-1.0..1.0))
    };
    let u: Vec<DMatrix<f64>> = (0..heads).map(|_| m(t, p)).collect();
    let a = m(t, heads).map(|v: f64| -0.255 - 0.245 * v);
    let (b, c) = (vec![m(t, n)], vec![m(t, n)]);
    let args = SsdInputs::new(&u, &a, &b, &c);
    println!(
        "SSD, T = {t}, {heads} heads, P = {p}, N = {n}, f64, {} threads; fastest run",
        rayon::current_num_threads()
    );
    let scan = best_within(1.0, || drop(black_box(ssd_recurrent(&args))));
    println!("{:<24} {:>10.1} ms", "recurrent (scan)", scan * 1e3);
    let quadratic = best_of(1, || drop(black_box(ssd_quadratic(&args))));
    println!(
        "{:<24} {:>10.1} ms   scan / quadratic = {:.2}",
        "quadratic (attention)",
        quadratic * 1e3,
        scan / quadratic
    );
    let mut best = (0, f64::INFINITY);
    for q in [16, 32, 64, 128, 256, 512] {
        let time = best_within(1.0, || drop(black_box(ssd_chunked(&args, q))));
        println!(
            "{:<24} {:>10.1} ms   scan / chunked = {:.2}",
            format!("chunked, Q = {q}"),
            time * 1e3,
            scan / time
        );
        if time < best.1 {
            best = (q, time);
        }
    }
    println!(
        "fastest chunk length: Q = {} ({:.1}× the scan)",
        best.0,
        scan / best.1
    );
    Ok(())
}
