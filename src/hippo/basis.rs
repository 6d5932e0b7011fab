//! Orthogonal polynomials evaluated by their three-term recurrences.

use crate::support::shapes::fits;

/// $P_0(x), \dots, P_{n-1}(x)$, the Legendre polynomials on $[-1, 1]$
/// ($P_n(1) = 1$).
///
/// Implements Eq. (H9): $(k+1) P_{k+1}(x) = (2k+1)\, x P_k(x) - k P_{k-1}(x)$,
/// $P_0 = 1$, $P_1 = x$.
///
/// # Panics
/// An `n` too large to allocate (over $2^{32}$ values) panics, naming the limit.
// ANCHOR: legendre
pub fn legendre(n: usize, x: f64) -> Vec<f64> {
    fits("legendre", n, 1);
    let mut p = Vec::with_capacity(n);
    for k in 0..n {
        p.push(match k {
            0 => 1.0,
            1 => x,
            _ => {
                let j = (k - 1) as f64;
                ((2.0 * j + 1.0) * x * p[k - 1] - j * p[k - 2]) / (j + 1.0)
            }
        });
    }
    p
}
// ANCHOR_END: legendre

/// $L_0(x), \dots, L_{n-1}(x)$, the Laguerre polynomials, orthonormal under
/// the weight $e^{-x}$ on $[0, \infty)$.
///
/// Implements Eq. (H10): $(k+1) L_{k+1}(x) = (2k+1-x) L_k(x) - k L_{k-1}(x)$,
/// $L_0 = 1$, $L_1 = 1 - x$.
///
/// # Panics
/// An `n` too large to allocate (over $2^{32}$ values) panics, naming the limit.
// ANCHOR: laguerre
pub fn laguerre(n: usize, x: f64) -> Vec<f64> {
    fits("laguerre", n, 1);
    let mut l = Vec::with_capacity(n);
    for k in 0..n {
        l.push(match k {
            0 => 1.0,
            1 => 1.0 - x,
            _ => {
                let j = (k - 1) as f64;
                ((2.0 * j + 1.0 - x) * l[k - 1] - j * l[k - 2]) / (j + 1.0)
            }
        });
    }
    l
}
// ANCHOR_END: laguerre

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms_of_low_degrees() {
        let x = 0.3;
        let p = legendre(4, x);
        assert!((p[2] - (3.0 * x * x - 1.0) / 2.0).abs() < 1e-15);
        assert!((p[3] - (5.0 * x * x * x - 3.0 * x) / 2.0).abs() < 1e-15);
        let l = laguerre(3, x);
        assert!((l[2] - (x * x - 4.0 * x + 2.0) / 2.0).abs() < 1e-15);
        assert_eq!(legendre(6, 1.0), vec![1.0; 6]);
        assert!(legendre(0, 0.5).is_empty());
    }
}
