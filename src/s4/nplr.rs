//! The normal-plus-low-rank (NPLR) form of HiPPO-LegS, and its diagonal-plus-
//! low-rank (DPLR) form in the eigenbasis of the normal part.

use nalgebra::{Complex, DMatrix, DVector, SymmetricEigen};

use crate::error::{Error, Result};
use crate::hippo::transitions::legs;

/// The DPLR form of a real NPLR system: $N/2$ modes (one of each conjugate
/// pair) of $\Lambda - \tilde P \tilde P^*$ in the unitary eigenbasis $V$.
#[derive(Debug, Clone, PartialEq)]
pub struct Dplr {
    /// Eigenvalues of the normal part, $-\tfrac12 + i\omega_n$, `(N/2,)`.
    pub lambda: Vec<Complex<f64>>,
    /// $\tilde P = V^* P$, `(N/2,)`.
    pub p: Vec<Complex<f64>>,
    /// $\tilde B = V^* B$, `(N/2,)`.
    pub b: Vec<Complex<f64>>,
    /// The kept eigenvectors, `(N, N/2)` (the other half are their conjugates).
    pub v: DMatrix<Complex<f64>>,
}

/// The rank-one correction of LegS: $P_n = \sqrt{n + \tfrac12}$, which makes
/// $A + PP^\top = -\tfrac12 I + S$ with $S$ skew-symmetric.
///
/// Implements Eq. (S1): $A = (-\tfrac12 I + S) - P P^\top$.
///
/// # References
/// S4 Theorem 1, App. C.1; s4 `hippo.py::rank_correction('legs')`.
// ANCHOR: rank_correction_legs
pub fn rank_correction_legs(n: usize) -> DVector<f64> {
    DVector::from_fn(n, |i, _| (i as f64 + 0.5).sqrt())
}
// ANCHOR_END: rank_correction_legs

/// The DPLR form of HiPPO-LegS of size `n`: the normal part $-\tfrac12 I + S$ is
/// diagonalised through the Hermitian matrix $-iS$ (whose eigenvectors are
/// unitary: no conditioning problem), and the $N/2$ eigenvalues with negative
/// imaginary part are kept, as the reference code does.
///
/// Implements Eq. (S2): $-iS = V \operatorname{diag}(\omega) V^*$, so
/// $A = V\big(\operatorname{diag}(-\tfrac12 + i\omega) - \tilde P\tilde P^*\big)V^*$,
/// $\tilde P = V^* P$, $\tilde B = V^* B$.
///
/// # Errors
/// [`Error::InvalidParameter`] unless `n` is even and ≥ 2.
///
/// # References
/// S4 §3.2, Theorem 1; s4 `hippo.py::nplr` (`torch.linalg.eigh(S * -1j)`).
// ANCHOR: nplr_legs
pub fn nplr_legs(n: usize) -> Result<Dplr> {
    if n < 2 || !n.is_multiple_of(2) {
        return Err(Error::invalid("n", n, "even and ≥ 2 (N/2 conjugate pairs)"));
    }
    let t = legs(n)?;
    let p = rank_correction_legs(n);
    let normal = &t.a + &p * p.transpose(); // −½I + S
    let skew = &normal + DMatrix::identity(n, n) * 0.5; // S
    let hermitian = skew.map(|s| Complex::new(0.0, -s)); // −iS
    let eig = SymmetricEigen::new(hermitian);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[i].total_cmp(&eig.eigenvalues[j]));
    // −iS v = ω v  ⇒  S v = iω v: the eigenvalue of the normal part is −½ + iω.
    let kept: Vec<usize> = order[..n / 2].to_vec(); // the ω < 0 half
    let v = DMatrix::from_fn(n, n / 2, |i, j| eig.eigenvectors[(i, kept[j])]);
    let lambda = kept
        .iter()
        .map(|&k| Complex::new(-0.5, eig.eigenvalues[k]))
        .collect();
    let project = |x: &DVector<f64>| -> Vec<Complex<f64>> {
        let x = x.map(|r| Complex::new(r, 0.0));
        (v.adjoint() * x).iter().copied().collect()
    };
    Ok(Dplr {
        lambda,
        p: project(&p),
        b: project(&t.b),
        v,
    })
}
// ANCHOR_END: nplr_legs

impl Dplr {
    /// Rebuilds the real matrix $A$ from the kept half:
    /// $A = 2\,\mathrm{Re}\big(V (\Lambda - \tilde P\tilde P^*_{\text{full}}) V^*\big)$,
    /// written as the normal part $2\,\mathrm{Re}(V\Lambda V^*)$ minus $PP^\top$
    /// with $P = 2\,\mathrm{Re}(V\tilde P)$.
    pub fn reconstruct_a(&self) -> DMatrix<f64> {
        let lam = DMatrix::from_diagonal(&DVector::from_vec(self.lambda.clone()));
        let normal = (&self.v * lam * self.v.adjoint()).map(|z| 2.0 * z.re);
        let p = (&self.v * DVector::from_vec(self.p.clone())).map(|z| 2.0 * z.re);
        normal - &p * p.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legs_normal_part_has_constant_diagonal_minus_half() {
        let t = legs(8).unwrap();
        let p = rank_correction_legs(8);
        let normal = &t.a + &p * p.transpose();
        let skew = &normal + DMatrix::identity(8, 8) * 0.5;
        assert!((&skew + skew.transpose()).abs().max() < 1e-14);
    }

    #[test]
    fn spectrum_of_the_legs_normal_part() {
        // math.md §2.7 (N = 8): −½ ± i{0.42749, 1.95779, 5.35421, 19.85741}.
        let d = nplr_legs(8).unwrap();
        let mut omega: Vec<f64> = d.lambda.iter().map(|l| -l.im).collect();
        omega.sort_by(f64::total_cmp);
        for (got, want) in omega.iter().zip([0.42749, 1.95779, 5.35421, 19.85741]) {
            assert!((got - want).abs() < 5e-6, "{got} vs {want}");
        }
        assert!(d.lambda.iter().all(|l| l.re == -0.5 && l.im < 0.0));
        assert!(nplr_legs(7).is_err());
    }
}
