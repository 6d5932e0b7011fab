//! Seeded randomness, so every figure and every example is reproducible.

use nalgebra::{DMatrix, DVector};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// A deterministic generator from a seed.
pub fn seeded(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A `(rows, cols)` matrix of independent $\mathcal{N}(0, \text{std}^2)$ entries.
pub fn normal_matrix(
    rng: &mut StdRng,
    rows: usize,
    cols: usize,
    std: f64,
) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| {
        std * rng.sample::<f64, _>(StandardNormal)
    })
}

/// A vector of `len` independent $\mathcal{N}(0, \text{std}^2)$ entries.
pub fn normal_vector(rng: &mut StdRng, len: usize, std: f64) -> DVector<f64> {
    DVector::from_fn(len, |_, _| std * rng.sample::<f64, _>(StandardNormal))
}

/// A sample of $\log x \sim U[\log lo, \log hi]$: the papers' distribution for
/// timescales Δ (S4, LSSL and S5 use `lo = 1e-3`, `hi = 1e-1`).
///
/// # Panics
/// Unless `0 < lo ≤ hi`.
pub fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    assert!(
        0.0 < lo && lo <= hi,
        "log_uniform: need 0 < lo <= hi, got {lo}, {hi}"
    );
    if lo == hi {
        return lo;
    }
    rng.random_range(lo.ln()..hi.ln()).exp()
}

/// A random orthogonal `(n, n)` matrix (the Q factor of a Gaussian matrix, with
/// the signs fixed so that it is Haar-distributed).
pub fn orthogonal(rng: &mut StdRng, n: usize) -> DMatrix<f64> {
    let qr = normal_matrix(rng, n, n, 1.0).qr();
    let (mut q, r) = qr.unpack();
    for j in 0..n {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    q
}

/// A random band-limited signal: `parts` sinusoids of frequency drawn
/// uniformly below `max_cycles` cycles per time unit and random phase,
/// scaled to an RMS of about 0.5 (each sinusoid has mean square ½).
pub fn band_limited_signal(
    seed: u64,
    parts: usize,
    max_cycles: f64,
) -> impl Fn(f64) -> f64 {
    let mut rng = seeded(seed);
    let waves: Vec<(f64, f64)> = (0..parts)
        .map(|_| {
            let cycles = rng.random_range(0.0..max_cycles);
            (cycles, rng.random_range(0.0..2.0 * std::f64::consts::PI))
        })
        .collect();
    let norm = (parts as f64 / 2.0).sqrt();
    move |t| {
        waves
            .iter()
            .map(|(w, p)| (2.0 * std::f64::consts::PI * w * t + p).sin())
            .sum::<f64>()
            * 0.5
            / norm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers() {
        let a = normal_matrix(&mut seeded(7), 3, 2, 1.0);
        let b = normal_matrix(&mut seeded(7), 3, 2, 1.0);
        assert_eq!(a, b);
    }

    #[test]
    fn orthogonal_is_orthogonal() {
        let q = orthogonal(&mut seeded(1), 6);
        let err = (q.transpose() * &q - DMatrix::identity(6, 6)).abs().max();
        assert!(err < 1e-12, "QᵀQ − I = {err}");
    }

    #[test]
    fn log_uniform_stays_in_range() {
        let mut rng = seeded(3);
        for _ in 0..100 {
            let dt = log_uniform(&mut rng, 1e-3, 1e-1);
            assert!((1e-3..=1e-1).contains(&dt));
        }
    }
}
