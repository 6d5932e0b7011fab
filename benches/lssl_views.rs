//! Chapter 2: the recurrent and convolutional views of one system with N = 64,
//! and the cost of building the kernel by powers (O(N²L), the reason S4 exists).
//!
//! Run: `cargo bench --bench lssl_views`. Throughput is in sequence elements
//! per second. `cargo run --release --example ch02_speed` prints the same
//! comparison as a table with the crossover length.

use criterion::{
    BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use nalgebra::DMatrix;
use ssm_lineage::lssl::views::kernel_naive;
use ssm_lineage::lssl::{Rule, Ssm, discretize};
use ssm_lineage::support::fft::{causal_conv_direct, causal_conv_fft};
use ssm_lineage::support::rng::{normal_matrix, seeded};
use ssm_lineage::traits::Recurrent;

const N: usize = 64;

fn views(c: &mut Criterion) {
    let ssm = Ssm::random_stable(N, 7).expect("valid");
    let disc = discretize(&ssm, 0.01, Rule::Bilinear).expect("valid");
    let mut group = c.benchmark_group("lssl_n64");
    group.sample_size(10);
    for power in [8, 10, 12, 14, 16] {
        let len = 1usize << power;
        let u: DMatrix<f64> = normal_matrix(&mut seeded(power as u64), len, 1, 1.0);
        let k = kernel_naive(&disc, len);
        group.throughput(Throughput::Elements(len as u64));
        group.bench_with_input(BenchmarkId::new("recurrence", len), &len, |b, _| {
            b.iter(|| disc.scan(&u))
        });
        group.bench_with_input(
            BenchmarkId::new("fft_conv_given_kernel", len),
            &len,
            |b, _| b.iter(|| causal_conv_fft(&k, u.as_slice())),
        );
        group.bench_with_input(
            BenchmarkId::new("kernel_by_powers", len),
            &len,
            |b, _| b.iter(|| kernel_naive(&disc, len)),
        );
        if len <= 1 << 13 {
            group.bench_with_input(
                BenchmarkId::new("direct_conv", len),
                &len,
                |b, _| b.iter(|| causal_conv_direct(&k, u.as_slice())),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, views);
criterion_main!(benches);
