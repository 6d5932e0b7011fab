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
