//! Chapter 2: the recurrence against the FFT convolution for N = 64, on this
//! machine, with and without the cost of building the kernel by powers.
//! Prints a table and the crossover length (a speed table: run by hand, not
//! part of the book build).
//!
//! Run: `cargo run --release --example ch02_speed`

use std::hint::black_box;
use std::process::ExitCode;

use ssm_lineage::lssl::views::kernel_naive;
use ssm_lineage::lssl::{Rule, Ssm, discretize};
use ssm_lineage::support::fft::{causal_conv_direct, causal_conv_fft};
use ssm_lineage::support::figure::exit_code;
use ssm_lineage::support::rng::{normal_matrix, seeded};
use ssm_lineage::support::timing::best_within;
use ssm_lineage::traits::Recurrent;

const N: usize = 64;

fn main() -> ExitCode {
    exit_code("ch02_speed", run())
}

fn run() -> ssm_lineage::Result<()> {
    let disc = discretize(&Ssm::random_stable(N, 7)?, 0.01, Rule::Bilinear)?;
    println!(
        "N = {N}; times in ms (best of repeated runs); Melem/s = million sequence elements per second"
    );
    println!(
        "{:>7} {:>11} {:>11} {:>11} {:>14} {:>12}",
        "L", "recurrence", "direct", "fft conv", "kernel powers", "fft Melem/s"
    );
    let mut crossover = None;
    for power in 4..=16 {
        let len = 1usize << power;
        let u = normal_matrix(&mut seeded(power), len, 1, 1.0);
        let k = kernel_naive(&disc, len);
        let rec = best_within(0.3, || drop(black_box(disc.scan(&u))));
        let fft =
            best_within(0.3, || drop(black_box(causal_conv_fft(&k, u.as_slice()))));
        let powers = best_within(0.3, || drop(black_box(kernel_naive(&disc, len))));
        let direct = if len <= 1 << 13 {
            format!(
                "{:>11.3}",
                1e3 * best_within(0.3, || drop(black_box(causal_conv_direct(
                    &k,
                    u.as_slice()
                ))))
            )
        } else {
            format!("{:>11}", "-")
        };
        if crossover.is_none() && fft < rec {
            crossover = Some(len);
        }
        println!(
            "{len:>7} {:>11.3} {direct} {:>11.3} {:>14.3} {:>12.1}",
            1e3 * rec,
            1e3 * fft,
            1e3 * powers,
            len as f64 / fft / 1e6
        );
    }
    match crossover {
        Some(len) => println!(
            "FFT convolution (kernel given) beats the recurrence from L = {len}"
        ),
        None => {
            println!("FFT convolution never beat the recurrence up to L = 65536")
        }
    }
    println!(
        "building the kernel by powers costs about as much as running the recurrence: both are L matrix-vector products"
    );
    Ok(())
}
