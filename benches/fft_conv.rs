//! The fast path of chapter 1: causal convolution by FFT against its O(L²)
//! definition, beside the linear recurrence that computes the same outputs.
//!
//! Run: `cargo bench --bench fft_conv`. Throughput is in sequence elements
//! per second, so the three routes compare directly.

use criterion::{
    BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use ssm_lineage::rnn::LinearRnn;
use ssm_lineage::support::fft::{causal_conv_direct, causal_conv_fft};
use ssm_lineage::support::rng::{normal_matrix, seeded};
use ssm_lineage::traits::{Convolutional, Recurrent};

/// State size of the linear recurrence.
const N: usize = 16;

fn convolution(c: &mut Criterion) {
    let rnn = LinearRnn::random(N, 0.99, 1).expect("valid system");
    let mut group = c.benchmark_group("causal_convolution");
    for power in [8, 10, 12, 14] {
        let len = 1usize << power;
        let u = normal_matrix(&mut seeded(power as u64), len, 1, 1.0);
        let k = rnn.kernel(len);
        group.throughput(Throughput::Elements(len as u64));
        group.bench_with_input(BenchmarkId::new("fft", len), &len, |b, _| {
            b.iter(|| causal_conv_fft(k.as_slice(), u.as_slice()))
        });
        group.bench_with_input(
            BenchmarkId::new("recurrence_n16", len),
            &len,
            |b, _| b.iter(|| rnn.scan(&u)),
        );
        if len <= 1 << 12 {
            group.bench_with_input(BenchmarkId::new("direct", len), &len, |b, _| {
                b.iter(|| causal_conv_direct(k.as_slice(), u.as_slice()))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, convolution);
criterion_main!(benches);
