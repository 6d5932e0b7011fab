//! The HiPPO transition pairs $(A, B)$, negated so that $\dot c = A c + B f$.

use nalgebra::{DMatrix, DVector};

use crate::error::{Error, Result, check_positive, check_state_size};

/// A transition pair: $\dot c = A c + B f$.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The state matrix, `(n, n)` (already negated: stable systems have
    /// eigenvalues with negative real part).
    pub a: DMatrix<f64>,
    /// The input vector, `(n,)`.
    pub b: DVector<f64>,
}

fn sqrt_odd(n: usize) -> f64 {
    ((2 * n + 1) as f64).sqrt()
}

fn sign(k: usize) -> f64 {
    if k.is_multiple_of(2) { 1.0 } else { -1.0 }
}

/// HiPPO-LegT in the LMU form of Theorem 1 (window θ), negated.
///
/// Implements Eq. (H2): $A_{nk} = -\frac{2n+1}{\theta}\,\{(-1)^{n-k}$ if
/// $n \ge k$; $1$ if $n < k\}$, $B_n = \frac{2n+1}{\theta}(-1)^n$.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for `n == 0` or θ not finite and positive.
///
/// # References
/// HiPPO Theorem 1, Eq. (1); hippo-code `transition('lmu', N)` (θ = 1).
// ANCHOR: legt_lmu
pub fn legt_lmu(n: usize, theta: f64) -> Result<Transition> {
    check_state_size(n)?;
    let theta = check_positive("theta", theta)?;
    let a = DMatrix::from_fn(n, n, |i, k| {
        let scale = (2 * i + 1) as f64 / theta;
        if i >= k { -scale * sign(i - k) } else { -scale }
    });
    let b = DVector::from_fn(n, |i, _| (2 * i + 1) as f64 / theta * sign(i));
    Ok(Transition { a, b })
}
// ANCHOR_END: legt_lmu

/// HiPPO-LegT in the normalised form ($\lambda_n = 1$), negated.
///
/// Implements Eq. (H3): $A_{nk} = -\frac{1}{\theta}\sqrt{2n+1}\sqrt{2k+1}\,
/// \{1$ if $n \ge k$; $(-1)^{n-k}$ if $n < k\}$, $B_n = \frac{1}{\theta}\sqrt{2n+1}$.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for `n == 0` or θ not finite and positive.
///
/// # References
/// HiPPO App. D.1; hippo-code `transition('legt', N)` (θ = 1). The
/// state-spaces/s4 version halves both (window 2): that is `legt(n, 2.0)`.
// ANCHOR: legt
pub fn legt(n: usize, theta: f64) -> Result<Transition> {
    check_state_size(n)?;
    let theta = check_positive("theta", theta)?;
    let a = DMatrix::from_fn(n, n, |i, k| {
        let s = sqrt_odd(i) * sqrt_odd(k) / theta;
        if i >= k { -s } else { -s * sign(k - i) }
    });
    let b = DVector::from_fn(n, |i, _| sqrt_odd(i) / theta);
    Ok(Transition { a, b })
}
// ANCHOR_END: legt

/// HiPPO-LagT as in Theorem 1 (exponentially decaying measure $e^{-(t-x)}$),
/// negated: the reconstruction basis is the Laguerre polynomials.
///
/// Implements Eq. (H4): $A_{nk} = -1$ for $n \ge k$, $0$ for $n < k$;
/// $B_n = 1$.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for `n == 0`.
///
/// # References
/// HiPPO Theorem 1, Eq. (2); equal to hippo-code `transition('tlagt', N, beta=1)`.
// ANCHOR: lagt
pub fn lagt(n: usize) -> Result<Transition> {
    lagt_tilted(n, 1.0)
}
// ANCHOR_END: lagt

/// The tilted LagT family of the reference code (`'tlagt'`), negated.
///
/// Implements Eq. (H5): $A = \frac{1-\beta}{2} I - \operatorname{tril}(\mathbf 1)$,
/// $B = \beta\,\mathbf 1$. β = 1 is Theorem 1's LagT ([`lagt`]); the
/// reference code's plain `'lagt'` is the diagonal −½ of β = 0 with $B = \mathbf 1$
/// ([`lagt_reference_code`]).
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for `n == 0` or β not finite and positive.
///
/// # References
/// HiPPO App. D.2 Eq. (24); hippo-code `transition('tlagt')`.
pub fn lagt_tilted(n: usize, beta: f64) -> Result<Transition> {
    check_state_size(n)?;
    let beta = check_positive("beta", beta)?;
    let a = DMatrix::from_fn(n, n, |i, k| {
        let diag = if i == k { (1.0 - beta) / 2.0 } else { 0.0 };
        diag - if i >= k { 1.0 } else { 0.0 }
    });
    Ok(Transition {
        a,
        b: DVector::from_element(n, beta),
    })
}

/// The reference code's `transition('lagt', N)`: diagonal −½, $B = \mathbf 1$.
/// It is **not** Theorem 1's LagT (whose diagonal is −1); kept to compare.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for `n == 0`.
pub fn lagt_reference_code(n: usize) -> Result<Transition> {
    check_state_size(n)?;
    let a = DMatrix::from_fn(n, n, |i, k| {
        (if i == k { 0.5 } else { 0.0 }) - if i >= k { 1.0 } else { 0.0 }
    });
    Ok(Transition {
        a,
        b: DVector::from_element(n, 1.0),
    })
}

/// HiPPO-LegS (scaled Legendre, the whole history), negated. Used with a
/// $1/t$ factor it is the time-varying system of Theorem 2; S4 uses the same
/// matrices as a time-invariant system.
///
/// Implements Eq. (H6): $A_{nk} = -\sqrt{2n+1}\sqrt{2k+1}$ for $n > k$,
/// $-(n+1)$ for $n = k$, $0$ for $n < k$; $B_n = \sqrt{2n+1}$.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for `n == 0`.
///
/// # References
/// HiPPO Theorem 2, Eq. (3); S4 Eq. (2); hippo-code `transition('legs', N)`.
// ANCHOR: legs
pub fn legs(n: usize) -> Result<Transition> {
    check_state_size(n)?;
    let a = DMatrix::from_fn(n, n, |i, k| match i.cmp(&k) {
        std::cmp::Ordering::Greater => -sqrt_odd(i) * sqrt_odd(k),
        std::cmp::Ordering::Equal => -((i + 1) as f64),
        std::cmp::Ordering::Less => 0.0,
    });
    Ok(Transition {
        a,
        b: DVector::from_fn(n, |i, _| sqrt_odd(i)),
    })
}
// ANCHOR_END: legs

/// S4-FouT: a truncated Fourier basis over a window of 2 time units, state
/// interleaved as $[\cos_0, \sin_0, \cos_1, \sin_1, \dots]$.
///
/// Implements Eq. (H7): $A = \pi(-\operatorname{diag}(d, +1) +
/// \operatorname{diag}(d, -1)) - B B^\top$ with $d = (0, 0, 1, 0, 2, 0, \dots)$,
/// $B_0 = 1$, $B_{2k} = \sqrt 2$ for $k \ge 1$, $B_{2k+1} = 0$.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] unless `n` is even and ≥ 2.
///
/// # References
/// How to Train Your HiPPO; state-spaces/s4 `transition('fout')`.
// ANCHOR: fout
pub fn fout(n: usize) -> Result<Transition> {
    if n < 2 || !n.is_multiple_of(2) {
        return Err(Error::invalid(
            "n",
            n,
            "even and ≥ 2 (cosine and sine pairs)",
        ));
    }
    check_state_size(n)?;
    let b = DVector::from_fn(n, |i, _| match i {
        0 => 1.0,
        i if i.is_multiple_of(2) => 2f64.sqrt(),
        _ => 0.0,
    });
    let mut a = -(&b * b.transpose()); // (n, n)
    for k in 1..n / 2 {
        let w = std::f64::consts::PI * k as f64; // pair (2k, 2k+1) rotates at πk
        a[(2 * k, 2 * k + 1)] -= w;
        a[(2 * k + 1, 2 * k)] += w;
    }
    Ok(Transition { a, b })
}
// ANCHOR_END: fout

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn n4_matrices_match_the_reference_code() {
        let lmu = legt_lmu(4, 1.0).unwrap();
        let expect = DMatrix::from_row_slice(4, 4, &[
            -1.0, -1.0, -1.0, -1.0,
             3.0, -3.0, -3.0, -3.0,
            -5.0,  5.0, -5.0, -5.0,
             7.0, -7.0,  7.0, -7.0,
        ]);
        assert_eq!(lmu.a, expect);
        assert_eq!(lmu.b.as_slice(), &[1.0, -3.0, 5.0, -7.0]);
        let s = legs(4).unwrap();
        let expect = [
            -1.0, 0.0, 0.0, 0.0,
            -1.732, -2.0, 0.0, 0.0,
            -2.236, -3.873, -3.0, 0.0,
            -2.646, -4.583, -5.916, -4.0,
        ];
        for (i, e) in expect.iter().enumerate() {
            assert!((s.a[(i / 4, i % 4)] - e).abs() < 1e-3, "legs[{i}]");
        }
        let halved = legt(4, 2.0).unwrap();
        let expect = [
            -0.5, 0.866, -1.118, 1.323,
            -0.866, -1.5, 1.936, -2.291,
            -1.118, -1.936, -2.5, 2.958,
            -1.323, -2.291, -2.958, -3.5,
        ];
        for (i, e) in expect.iter().enumerate() {
            assert!((halved.a[(i / 4, i % 4)] - e).abs() < 1e-3, "legt/2[{i}]");
        }
        let code = lagt_reference_code(4).unwrap();
        assert_eq!(code.a.diagonal().as_slice(), &[-0.5; 4]);
        assert_eq!(code.a[(3, 0)], -1.0);
        assert_eq!(lagt(4).unwrap().a.diagonal().as_slice(), &[-1.0; 4]);
    }

    #[test]
    fn legs_eigenvalues_are_minus_one_to_minus_n() {
        // A is lower-triangular: its eigenvalues are its diagonal, −(n+1).
        let a = legs(16).unwrap().a;
        for i in 0..16 {
            assert_eq!(a[(i, i)], -((i + 1) as f64));
            assert!((i + 1..16).all(|k| a[(i, k)] == 0.0));
        }
        // Checked numerically without an eigensolver (nalgebra's unbalanced
        // Schur iteration loses ~1e-6 on this non-normal matrix): A + (k+1)I is
        // singular for every k, so its smallest singular value is rounding.
        for k in 0..16 {
            let shifted = &a + DMatrix::identity(16, 16) * (k + 1) as f64;
            let smallest = shifted.singular_values().min();
            assert!(smallest < 1e-12 * a.norm(), "k = {k}: σ_min = {smallest}");
        }
    }

    #[test]
    fn fout_plus_bbt_is_skew() {
        let t = fout(8).unwrap();
        let normal = &t.a + &t.b * t.b.transpose();
        assert!((&normal + normal.transpose()).abs().max() < 1e-15);
        assert!(fout(7).is_err() && fout(0).is_err());
    }

    #[test]
    fn bad_sizes_and_windows_are_rejected() {
        assert!(
            legs(0)
                .unwrap_err()
                .to_string()
                .contains("n must be a whole number ≥ 1")
        );
        assert!(
            legt(4, 0.0)
                .unwrap_err()
                .to_string()
                .contains("theta must be finite and > 0")
        );
        assert!(legt_lmu(4, f64::NAN).is_err());
        assert!(lagt_tilted(4, -1.0).is_err());
    }
}
