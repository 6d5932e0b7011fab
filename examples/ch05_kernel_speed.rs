//! Chapter 5: how fast the S4D kernel and its FFT convolution are, for
//! H = 256 channels of 64 complex modes (state size 128), ZOH, against the
//! readable route (per-channel `vandermonde_kernel`, sequential), and the S4
//! kernel (Cauchy sums and Woodbury) at the same sizes. A speed
//! table: run by hand, not part of the book build.
//!
//! Run: `cargo run --release --example ch05_kernel_speed`

use std::hint::black_box;
use std::process::ExitCode;

use nalgebra::Complex;
use ssm_lineage::s4::S4Layer;
use ssm_lineage::s4d::kernel::vandermonde_kernel;
use ssm_lineage::s4d::{S4dConfig, S4dInit, S4dLayer};
use ssm_lineage::support::figure::exit_code;
use ssm_lineage::support::rng::{normal_matrix, seeded};
use ssm_lineage::support::timing::best_of;
use ssm_lineage::traits::Convolutional;

const H: usize = 256;
const N: usize = 128;

fn main() -> ExitCode {
    exit_code("ch05_kernel_speed", run())
}

fn run() -> ssm_lineage::Result<()> {
    let layer = S4dLayer::new(&S4dConfig::new(H, N, S4dInit::Lin), 1)?;
    let ones = vec![Complex::new(1.0, 0.0); N / 2];
    println!(
        "S4D, H = {H} channels, {} complex modes, ZOH; best of 5 runs, {} threads",
        N / 2,
        rayon::current_num_threads()
    );
    println!(
        "{:>7} {:>14} {:>14} {:>14} {:>16}",
        "L", "kernel (ms)", "conv (ms)", "total (ms)", "readable kernel"
    );
    for len in [1024, 4096, 16384] {
        let u = normal_matrix(&mut seeded(len as u64), len, H, 1.0);
        let kernel = best_of(5, || drop(black_box(layer.kernel(len))));
        let total = best_of(5, || drop(black_box(layer.convolve(&u))));
        let readable = best_of(1, || {
            for h in 0..H {
                let k = vandermonde_kernel(
                    &layer.lambda,
                    &ones,
                    &layer.c[h],
                    layer.dt[h],
                    ssm_lineage::lssl::Rule::Zoh,
                    len,
                );
                drop(black_box(k));
            }
        });
        println!(
            "{len:>7} {:>14.1} {:>14.1} {:>14.1} {:>13.1} ms",
            1e3 * kernel,
            1e3 * (total - kernel),
            1e3 * total,
            1e3 * readable
        );
    }
    println!();
    println!(
        "S4 (DPLR LegS, rank 1), H = {H} channels, N = {N} (all {N} modes in the Cauchy sums); best of 3 runs (1 at L = 16384)"
    );
    println!("{:>7} {:>14} {:>14}", "L", "kernel (ms)", "total (ms)");
    for len in [1024, 4096, 16384] {
        let layer = S4Layer::new(H, N, len, 2)?;
        let u = normal_matrix(&mut seeded(len as u64), len, H, 1.0);
        let runs = if len > 4096 { 1 } else { 3 };
        let kernel = best_of(runs, || drop(black_box(layer.kernel(len))));
        let total = best_of(runs, || drop(black_box(layer.convolve(&u))));
        println!("{len:>7} {:>14.1} {:>14.1}", 1e3 * kernel, 1e3 * total);
    }
    Ok(())
}
