//! Chapter 8: why chunking pays. On one thread, the rate in GFLOP/s of a
//! matrix product (nalgebra's `f64` product, the crate's `f32`
//! `parallel_matmul`) at the square shapes of SSD's chunks, against the rate
//! of a scan counted in the same units (the readable `f64` selective scan,
//! the fast `f32` one); then SSD's recurrent form (a scan) and its chunked
//! form at N = 16, 64, 256 (one head of d_h = 64 channels, T = 1024, `f64`):
//! the FLOPs each does, the time it takes and the rate it reaches. Every time
//! is the fastest of many short runs, which on a shared machine is the
//! closest to its unloaded speed. A speed table: run by hand.
//!
//! Run: `cargo run --release --example ch08_hardware_speed`

use std::hint::black_box;
use std::process::ExitCode;

use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use ssm_lineage::mamba::fast::weights::parallel_matmul;
use ssm_lineage::mamba::fast::{FastScan, selective_scan_fast, to_f32};
use ssm_lineage::mamba::{SelectiveScan, selective_scan};
use ssm_lineage::ssd::{SsdInputs, ssd_chunked, ssd_recurrent};
use ssm_lineage::support::rng::{normal_matrix, seeded};
use ssm_lineage::support::timing::best_within;

/// FLOPs of one state update of the selective scan, $h \leftarrow \bar A h +
/// \bar B u$ and $y \mathrel{+}= C h$: $\Delta A$, $B (\Delta u)$ and two
/// multiply-adds. The exponential $e^{\Delta A}$ is not counted.
const SCAN_FLOPS: f64 = 6.0;

/// FLOPs of SSD's recurrent form per step, head and state entry: the decay
/// $e^{a_t} H$, the outer product $u_t B_t^\top$ added, and $H C_t$.
const SSD_STEP_FLOPS: f64 = 5.0;

fn main() -> ExitCode {
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("ch08_hardware_speed: could not start a one-thread pool: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "one thread; the best of repeated runs; 1 GFLOP/s = 1e9 FLOPs per second"
    );
    pool.install(|| {
        products();
        scans();
        ssd_forms();
    });
    ExitCode::SUCCESS
}

/// Square products `(s, s) · (s, s)`, 2s³ FLOPs, in f64 and f32.
fn products() {
    println!(
        "\nmatrix product (s, s)·(s, s), 2s³ FLOPs   f64 (nalgebra)   f32 (parallel_matmul)"
    );
    let mut rng = seeded(8);
    for s in [16, 32, 64, 128, 256] {
        let (x, w) = (
            normal_matrix(&mut rng, s, s, 1.0),
            normal_matrix(&mut rng, s, s, 1.0),
        );
        let (x32, w32) = (to_f32(&x), to_f32(&w));
        let flops = 2.0 * (s * s * s) as f64;
        let f64_time = best_within(0.3, || drop(black_box(&x * &w)));
        let f32_time =
            best_within(0.3, || drop(black_box(parallel_matmul(&x32, &w32))));
        println!(
            "{:<42} {:>10.1} GFLOP/s {:>12.1} GFLOP/s",
            format!("  s = {s}"),
            flops / f64_time / 1e9,
            flops / f32_time / 1e9
        );
    }
}

/// The selective scan at Mamba's state size (L = 1024, d = 256, N = 16).
fn scans() {
    let (len, d, n) = (1024, 256, 16);
    let mut rng = seeded(1024);
    let u = normal_matrix(&mut rng, len, d, 1.0);
    let delta = normal_matrix(&mut rng, len, d, 0.5);
    let a = DMatrix::from_fn(d, n, |_, k| -((k + 1) as f64));
    let b = normal_matrix(&mut rng, len, n, 1.0);
    let c = normal_matrix(&mut rng, len, n, 1.0);
    let bias = DVector::from_element(d, -4.0);
    let args = SelectiveScan::new(&u, &delta, &a, &b, &c)
        .with_delta_bias(Some(&bias), true);
    let flops = SCAN_FLOPS * (len * d * n) as f64;
    println!(
        "\nselective scan, L = {len}, d = {d}, N = {n}: {SCAN_FLOPS} FLOPs per state update"
    );
    let readable = best_within(1.0, || drop(black_box(selective_scan(&args))));
    println!(
        "{:<42} {:>10.2} GFLOP/s",
        "  readable (f64, selective_scan)",
        flops / readable / 1e9
    );
    let fast_args = FastScan::from(&args);
    let fast = best_within(1.0, || drop(black_box(selective_scan_fast(&fast_args))));
    println!(
        "{:<42} {:>10.2} GFLOP/s",
        "  fast (f32, selective_scan_fast)",
        flops / fast / 1e9
    );
}

/// FLOPs of `ssd_chunked` per head and chunk of length `q`, and the part of
/// them in matrix products: C Bᵀ, its product with U, the chunk's own state
/// Uᵀ(decayed B), and the entering state's outputs (decayed C) Hᵀ; then the
/// mask, the decays of B and C, the sum of the two outputs and the state
/// update.
fn chunk_flops(q: usize, n: usize, p: usize) -> (f64, f64) {
    let (q, n, p) = (q as f64, n as f64, p as f64);
    let products = 2.0 * q * q * n + 2.0 * q * q * p + 4.0 * q * n * p;
    let rest = q * q + 2.0 * q * n + q * p + 2.0 * p * n;
    (products + rest, products)
}

/// SSD's recurrent form against its chunked form (best chunk length of 32,
/// 64, 128) as the state grows.
fn ssd_forms() {
    let (t, heads, p) = (1024, 1, 64);
    println!(
        "\nSSD, T = {t}, {heads} head, d_h = {p}, f64: the scan (ssd_recurrent) against \
         the chunked form (ssd_chunked)"
    );
    println!(
        "{:>5} {:>12} {:>10} {:>10} {:>6} {:>12} {:>10} {:>10} {:>9} {:>10}",
        "N",
        "scan GFLOP",
        "ms",
        "GFLOP/s",
        "Q",
        "chunk GFLOP",
        "ms",
        "GFLOP/s",
        "products",
        "scan/chunk"
    );
    let mut rng = seeded(4096);
    let u: Vec<DMatrix<f64>> = (0..heads)
        .map(|_| normal_matrix(&mut rng, t, p, 1.0))
        .collect();
    // Log-decays a_t = Δ_t A in (−0.5, −0.01), as in ch08_ssd_speed.
    let a = DMatrix::from_fn(t, heads, |_, _| rng.random_range(-0.5..-0.01));
    for n in [16, 64, 256] {
        let (b, c) = (
            vec![normal_matrix(&mut rng, t, n, 1.0)],
            vec![normal_matrix(&mut rng, t, n, 1.0)],
        );
        let args = SsdInputs::new(&u, &a, &b, &c);
        let scan_flops = SSD_STEP_FLOPS * (t * heads * p * n) as f64;
        let scan = best_within(1.0, || drop(black_box(ssd_recurrent(&args))));
        let (q, time) = [32, 64, 128]
            .into_iter()
            .map(|q| {
                (
                    q,
                    best_within(1.0, || drop(black_box(ssd_chunked(&args, q)))),
                )
            })
            .fold(
                (0, f64::INFINITY),
                |best, x| if x.1 < best.1 { x } else { best },
            );
        let (per_chunk, in_products) = chunk_flops(q, n, p);
        let chunk_flops = per_chunk * (heads * t.div_ceil(q)) as f64;
        println!(
            "{n:>5} {:>12.3} {:>10.2} {:>10.2} {q:>6} {:>12.3} {:>10.2} {:>10.2} {:>8.0}% {:>10.1}",
            scan_flops / 1e9,
            scan * 1e3,
            scan_flops / scan / 1e9,
            chunk_flops / 1e9,
            time * 1e3,
            chunk_flops / time / 1e9,
            100.0 * in_products / per_chunk,
            scan / time
        );
    }
}
