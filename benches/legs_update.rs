//! Chapter 3: one bilinear LegS update, with triangular solves (O(N²): A is
//! lower-triangular) against a dense LU solve (O(N³)), for N = 64 … 1024.
//!
//! Run: `cargo bench --bench legs_update`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nalgebra::DVector;
use ssm_lineage::hippo::LegsRule;
use ssm_lineage::hippo::projection::{legs_step, legs_step_dense};
use ssm_lineage::hippo::transitions::legs;

fn update(c: &mut Criterion) {
    let mut group = c.benchmark_group("legs_bilinear_update");
    group.sample_size(10);
    for n in [64, 128, 256, 512, 1024] {
        let t = legs(n).expect("valid size");
        let state = DVector::from_fn(n, |i, _| (i as f64).sin());
        group.bench_with_input(BenchmarkId::new("triangular", n), &n, |b, _| {
            b.iter(|| legs_step(&t.a, &t.b, &state, 0.5, 100, LegsRule::Bilinear))
        });
        group.bench_with_input(BenchmarkId::new("dense_lu", n), &n, |b, _| {
            b.iter(|| {
                legs_step_dense(&t.a, &t.b, &state, 0.5, 100, LegsRule::Bilinear)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, update);
criterion_main!(benches);
