//! Chapter 7: how fast the selective scan runs, at Mamba's shapes
//! (d = 1536 channels, N = 16 states, f32, Δ with bias and softplus, skip and
//! gate), for L = 256, 1024, 4096, with one and two threads: the readable f64
//! scan against the fast f32 one, in (len·d) elements per second and state
//! updates (len·d·N) per second; beside it, the fast scan on its portable
//! kernel (what the AVX-512 one buys, where the CPU has it). A speed table:
//! run by hand.
//!
//! Run: `cargo run --release --example ch07_scan_speed`

use std::hint::black_box;
use std::process::ExitCode;

use nalgebra::{DMatrix, DVector};
use ssm_lineage::mamba::fast::{
    FastScan, ScanKernel, selective_scan_fast, selective_scan_fast_chunked,
};
use ssm_lineage::mamba::{SelectiveScan, selective_scan};
use ssm_lineage::support::figure::exit_code;
use ssm_lineage::support::rng::{normal_matrix, seeded};
use ssm_lineage::support::timing::best_of;

const D: usize = 1536;
const N: usize = 16;

fn main() -> ExitCode {
    exit_code("ch07_scan_speed", run())
}

fn run() -> ssm_lineage::Result<()> {
    println!("selective scan, d = {D}, N = {N}; best of 3 runs");
    println!(
        "{:>6} {:>8} {:>18} {:>18} {:>22} {:>18}",
        "L",
        "threads",
        "readable (Melem/s)",
        "fast (Melem/s)",
        "fast (state updates/s)",
        "portable (Melem/s)"
    );
    for len in [256, 1024, 4096] {
        let mut rng = seeded(len as u64);
        let u = normal_matrix(&mut rng, len, D, 1.0);
        let delta = normal_matrix(&mut rng, len, D, 0.5);
        let a = DMatrix::from_fn(D, N, |_, k| -((k + 1) as f64));
        let b = normal_matrix(&mut rng, len, N, 1.0);
        let c = normal_matrix(&mut rng, len, N, 1.0);
        let z = normal_matrix(&mut rng, len, D, 1.0);
        let d = DVector::from_element(D, 1.0);
        let bias = DVector::from_element(D, -4.0);
        let args = SelectiveScan::new(&u, &delta, &a, &b, &c)
            .with_skip(&d)
            .with_gate(&z)
            .with_delta_bias(Some(&bias), true);
        let readable = if len <= 1024 {
            best_of(1, || drop(black_box(selective_scan(&args))))
        } else {
            f64::NAN
        };
        let fast_args = FastScan::from(&args);
        for threads in [1, 2] {
            let Ok(pool) =
                rayon::ThreadPoolBuilder::new().num_threads(threads).build()
            else {
                eprintln!(
                    "ch07_scan_speed: could not start {threads} threads; skipped"
                );
                continue;
            };
            let fast = pool.install(|| {
                best_of(3, || drop(black_box(selective_scan_fast(&fast_args))))
            });
            // One chunk of time: what selective_scan_fast chooses at d = 1536.
            let portable = pool.install(|| {
                best_of(3, || {
                    let out = selective_scan_fast_chunked(
                        &fast_args,
                        1,
                        ScanKernel::Portable,
                    );
                    drop(black_box(out));
                })
            });
            let elems = (len * D) as f64;
            println!(
                "{len:>6} {threads:>8} {:>18.1} {:>18.1} {:>22.3e} {:>18.1}",
                elems / readable / 1e6,
                elems / fast / 1e6,
                elems * N as f64 / fast,
                elems / portable / 1e6
            );
        }
    }
    Ok(())
}
