//! Chapters 4–5: the S4 kernel (Algorithm 1 with folded Cauchy sums) and the
//! S4D kernel (Vandermonde as two GEMMs), each alone and with its FFT
//! convolution, for H = 256 channels of 64 complex modes (state size 128);
//! the readable per-channel Vandermonde kernel beside them at L = 1024.
//!
//! Run: `cargo bench --bench structured_kernels`. Throughput is in kernel
//! taps (L·H) per second.

use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use nalgebra::Complex;
use ssm_lineage::lssl::Rule;
use ssm_lineage::s4::S4Layer;
use ssm_lineage::s4d::kernel::vandermonde_kernel;
use ssm_lineage::s4d::{S4dConfig, S4dInit, S4dLayer};
use ssm_lineage::support::rng::{normal_matrix, seeded};
use ssm_lineage::traits::Convolutional;

const H: usize = 256;
const N: usize = 128;

fn s4d(c: &mut Criterion) {
    let layer =
        S4dLayer::new(&S4dConfig::new(H, N, S4dInit::Lin), 1).expect("valid");
    let mut group = c.benchmark_group("s4d_h256_modes64");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for len in [1024, 4096, 16384] {
        let u = normal_matrix(&mut seeded(len as u64), len, H, 1.0);
        group.throughput(Throughput::Elements((len * H) as u64));
        group.bench_with_input(BenchmarkId::new("kernel", len), &len, |b, &len| {
            b.iter(|| layer.kernel(len))
        });
        group.bench_with_input(
            BenchmarkId::new("kernel_and_conv", len),
            &len,
            |b, _| b.iter(|| layer.convolve(&u)),
        );
    }
    let ones = vec![Complex::new(1.0, 0.0); N / 2];
    let len = 1024;
    group.throughput(Throughput::Elements((len * H) as u64));
    group.bench_with_input(
        BenchmarkId::new("readable_kernel", len),
        &len,
        |b, &len| {
            b.iter(|| {
                (0..H)
                    .map(|h| {
                        vandermonde_kernel(
                            &layer.lambda,
                            &ones,
                            &layer.c[h],
                            layer.dt[h],
                            Rule::Zoh,
                            len,
                        )
                        .expect("valid")
                    })
                    .collect::<Vec<_>>()
            })
        },
    );
    group.finish();
}

fn s4(c: &mut Criterion) {
    let mut group = c.benchmark_group("s4_legs_h256_n128");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for len in [1024, 4096] {
        let layer = S4Layer::new(H, N, len, 2).expect("valid");
        group.throughput(Throughput::Elements((len * H) as u64));
        let u = normal_matrix(&mut seeded(len as u64), len, H, 1.0);
        group.bench_with_input(BenchmarkId::new("kernel", len), &len, |b, &len| {
            b.iter(|| layer.kernel(len))
        });
        group.bench_with_input(
            BenchmarkId::new("kernel_and_conv", len),
            &len,
            |b, _| b.iter(|| layer.convolve(&u)),
        );
    }
    group.finish();
}

criterion_group!(benches, s4d, s4);
criterion_main!(benches);
