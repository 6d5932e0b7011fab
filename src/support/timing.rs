//! Wall-clock timing for the examples that print speed tables (benchmarks
//! proper use criterion).

use std::time::Instant;

/// The fastest of `runs` calls of `f`, in seconds (at least one call).
pub fn best_of(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// The fastest call of `f` when calling it repeatedly for at least `budget`
/// seconds (at least one call): short operations get many repetitions.
pub fn best_within(budget: f64, mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut best = f64::INFINITY;
    while best.is_infinite() || started.elapsed().as_secs_f64() < budget {
        best = best.min(best_of(1, &mut f));
    }
    best
}

/// How fast the machine running it reads memory now, in bytes per second: the best of
/// `runs` parallel sums over a buffer of `bytes` bytes (far larger than the
/// caches), on the current rayon pool. A sum with 64 independent partial
/// sums keeps the arithmetic well ahead of memory, so this is the ceiling
/// for any computation that reads each byte once, such as a decoding step
/// that reads every weight. On a shared virtual machine it changes from
/// minute to minute, so measure it beside what it bounds.
pub fn read_bandwidth(bytes: usize, runs: usize) -> f64 {
    let data = vec![1.0f32; bytes / 4];
    let seconds = best_of(runs, || {
        let sum: f32 = {
            use rayon::prelude::*;
            data.par_chunks(1 << 20).map(sum_with_partials).sum()
        };
        std::hint::black_box(sum);
    });
    (data.len() * 4) as f64 / seconds
}

/// A sum with 64 independent partial sums (so that it vectorises).
fn sum_with_partials(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 64];
    let chunks = xs.chunks_exact(64);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for j in 0..64 {
            acc[j] += c[j];
        }
    }
    acc.iter().sum::<f32>() + tail
}
