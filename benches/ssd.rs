//! Chapter 8: chunked SSD against the scan (recurrent form) and the quadratic
//! (attention) form, 8 heads, P = N = 64, f64.
//!
//! Run: `cargo bench --bench ssd`. Throughput is in time steps per second.

use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use nalgebra::DMatrix;
use rand::RngExt;
use ssm_lineage::ssd::{SsdInputs, ssd_chunked, ssd_quadratic, ssd_recurrent};
use ssm_lineage::support::rng::seeded;

fn forms(c: &mut Criterion) {
    let (heads, p, n) = (8, 64, 64);
    let mut group = c.benchmark_group("ssd_h8_p64_n64");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for t in [1024, 4096] {
        let mut rng = seeded(t as u64);
        let mut m = |r: usize, k: usize| {
            DMatrix::from_fn(r, k, |_, _| rng.random_range(-1.0..1.0))
        };
        let u: Vec<DMatrix<f64>> = (0..heads).map(|_| m(t, p)).collect();
        let a = m(t, heads).map(|v: f64| -0.255 - 0.245 * v);
        let (b, cc) = (vec![m(t, n)], vec![m(t, n)]);
        let args = SsdInputs::new(&u, &a, &b, &cc);
        group.throughput(Throughput::Elements(t as u64));
        group.bench_with_input(BenchmarkId::new("scan", t), &t, |bench, _| {
            bench.iter(|| ssd_recurrent(&args))
        });
        for q in [32, 64] {
            group.bench_with_input(
                BenchmarkId::new(format!("chunked_q{q}"), t),
                &t,
                |bench, _| bench.iter(|| ssd_chunked(&args, q)),
            );
        }
        if t <= 1024 {
            group.bench_with_input(
                BenchmarkId::new("quadratic", t),
                &t,
                |bench, _| bench.iter(|| ssd_quadratic(&args)),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, forms);
criterion_main!(benches);
