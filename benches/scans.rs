//! Chapters 6–7: the scans of a linear recurrence (loop, sequential scan,
//! Blelloch, chunked) and the selective scan at Mamba's shapes (d = 1536,
//! N = 16, f32): the readable f64 scan against the fast one on one and two
//! threads.
//!
//! Run: `cargo bench --bench scans`. Throughput is in sequence elements
//! (L for the linear recurrence, L·d for the selective scan) per second.

use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use ssm_lineage::mamba::SelectiveScan;
use ssm_lineage::mamba::fast::{FastScan, selective_scan_fast};
use ssm_lineage::mamba::selective_scan;
use ssm_lineage::scan::Affine;
use ssm_lineage::scan::prefix::{
    linear_recurrence, scan_blelloch, scan_chunked, scan_sequential,
};
use ssm_lineage::support::rng::seeded;

fn linear(c: &mut Criterion) {
    let mut group = c.benchmark_group("linear_recurrence_f64");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    let mut rng = seeded(6);
    for power in [12, 16, 20] {
        let len = 1usize << power;
        let e: Vec<Affine<f64>> = (0..len)
            .map(|_| {
                Affine::new(
                    rng.random_range(0.999..1.0),
                    rng.random_range(-1.0..1.0),
                )
            })
            .collect();
        let chunk = len.div_ceil(4 * rayon::current_num_threads());
        group.throughput(Throughput::Elements(len as u64));
        group.bench_with_input(BenchmarkId::new("loop", len), &len, |b, _| {
            b.iter(|| linear_recurrence(&e, 0.0))
        });
        group.bench_with_input(
            BenchmarkId::new("sequential_scan", len),
            &len,
            |b, _| b.iter(|| scan_sequential(&e)),
        );
        group.bench_with_input(BenchmarkId::new("blelloch", len), &len, |b, _| {
            b.iter(|| scan_blelloch(&e))
        });
        group.bench_with_input(BenchmarkId::new("chunked", len), &len, |b, _| {
            b.iter(|| scan_chunked(&e, chunk))
        });
    }
    group.finish();
}

fn selective(c: &mut Criterion) {
    const D: usize = 1536;
    const N: usize = 16;
    let mut group = c.benchmark_group("selective_scan_d1536_n16_f32");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for len in [256, 1024, 4096] {
        let mut rng = seeded(len as u64);
        // The inputs are drawn in f32 (so that each f64 value is exactly its
        // f32 one and both scans see the same numbers).
        let mut m = |rows: usize, cols: usize| {
            DMatrix::from_fn(rows, cols, |_, _| {
                f64::from(rng.random_range(-1.0f32..1.0))
            })
        };
        let (u, delta, b, cm, z) =
            (m(len, D), m(len, D), m(len, N), m(len, N), m(len, D));
        let a = DMatrix::from_fn(D, N, |_, k| -((k + 1) as f64));
        let (d, bias) = (
            DVector::from_element(D, 1.0),
            DVector::from_element(D, -4.0),
        );
        let args = SelectiveScan::new(&u, &delta, &a, &b, &cm)
            .with_skip(&d)
            .with_gate(&z)
            .with_delta_bias(Some(&bias), true);
        let fast_args = FastScan::from(&args);
        group.throughput(Throughput::Elements((len * D) as u64));
        for threads in [1, 2] {
            let Ok(pool) =
                rayon::ThreadPoolBuilder::new().num_threads(threads).build()
            else {
                continue;
            };
            let id = BenchmarkId::new(format!("fast_{threads}_threads"), len);
            group.bench_with_input(id, &len, |bench, _| {
                bench.iter(|| pool.install(|| selective_scan_fast(&fast_args)))
            });
        }
        if len == 256 {
            // The readable f64 oracle, once: it is two orders of magnitude slower.
            group.bench_with_input(
                BenchmarkId::new("readable_f64", len),
                &len,
                |bench, _| bench.iter(|| selective_scan(&args)),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, linear, selective);
criterion_main!(benches);
