//! The normal-plus-low-rank (NPLR) form of HiPPO-LegS, and its diagonal-plus-
//! low-rank (DPLR) form in the eigenbasis of the normal part.

use nalgebra::{Complex, DMatrix, DVector, SymmetricEigen};

use crate::error::{Error, Result, check_finite};
use crate::hippo::transitions::legs;

/// The DPLR form of a real NPLR system: $N/2$ modes (one of each conjugate
/// pair) of $\Lambda - \tilde P \tilde P^*$ in the unitary eigenbasis $V$.
#[derive(Debug, Clone, PartialEq)]
pub struct Dplr {
    /// Eigenvalues of the normal part, $-\tfrac12 + i\omega_n$, `(N/2,)`.
    pub lambda: Vec<Complex<f64>>,
    /// $\tilde P = V^* P$, `(N/2, r)`: one column per rank of the correction.
    pub p: DMatrix<Complex<f64>>,
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

/// The rank-two correction of the state-spaces/s4 LegT (window 2, i.e.
/// [`crate::hippo::transitions::legt`] with θ = 2): $P_0 = \sqrt{(2n+1)/2}$ on
/// odd $n$, $P_1 = \sqrt{(2n+1)/2}$ on even $n$, so that $A + P_0P_0^\top +
/// P_1P_1^\top$ is skew-symmetric.
pub fn rank_correction_legt(n: usize) -> DMatrix<f64> {
    DMatrix::from_fn(n, 2, |i, j| {
        let odd = i % 2 == 1;
        if (j == 0) == odd {
            ((2 * i + 1) as f64 / 2.0).sqrt()
        } else {
            0.0
        }
    })
}

/// The DPLR form of a real normal-plus-low-rank matrix: $A + PP^\top = wI + S$
/// with $S$ skew-symmetric and $w$ the mean of the diagonal. The normal part is
/// diagonalised through the Hermitian matrix $-iS$ (unitary eigenvectors: no
/// conditioning problem), and the $N/2$ eigenvalues with negative imaginary
/// part are kept, as the reference code does.
///
/// Implements Eq. (S2): $-iS = V \operatorname{diag}(\omega) V^*$, so
/// $A = V\big(\operatorname{diag}(w + i\omega) - \tilde P\tilde P^*\big)V^*$,
/// $\tilde P = V^* P$, $\tilde B = V^* B$.
///
/// # Shapes
/// `a`: `(N, N)`, `p`: `(N, r)`, `b`: `(N,)`.
///
/// # Errors
/// [`Error::InvalidParameter`] unless `N` is even and ≥ 2, or if
/// $A + PP^\top$ is not $wI$ plus a skew-symmetric matrix (then $A$ is not
/// normal plus low rank with this $P$, and no $V$ would rebuild it);
/// [`Error::NonFinite`] for a non-finite entry.
///
/// # Panics
/// If the shapes do not match.
///
/// # References
/// S4 §3.2, Theorem 1; s4 `hippo.py::nplr` (`torch.linalg.eigh(S * -1j)`).
// ANCHOR: nplr
pub fn nplr(a: &DMatrix<f64>, p: &DMatrix<f64>, b: &DVector<f64>) -> Result<Dplr> {
    let n = a.nrows();
    assert!(
        a.is_square() && p.nrows() == n && b.len() == n,
        "nplr: A {:?}, P {:?}, B ({},)",
        a.shape(),
        p.shape(),
        b.len()
    );
    if n < 2 || !n.is_multiple_of(2) {
        return Err(Error::invalid("n", n, "even and ≥ 2 (N/2 conjugate pairs)"));
    }
    check_finite("nplr: A, P and B", a.iter().chain(p.iter()).chain(b.iter()))?;
    let normal = a + p * p.transpose(); // wI + S
    let w = normal.trace() / n as f64;
    let symmetric =
        (&normal + normal.transpose()) * 0.5 - DMatrix::identity(n, n) * w;
    if symmetric.norm() > 1e-9 * normal.norm().max(1.0) {
        return Err(Error::invalid(
            "p",
            format!(
                "a symmetric part of A + PPᵀ − wI of norm {:.1e}",
                symmetric.norm()
            ),
            "a P with A + PPᵀ = wI + S, S skew-symmetric (A normal plus low rank)",
        ));
    }
    let hermitian =
        (&normal - DMatrix::identity(n, n) * w).map(|s| Complex::new(0.0, -s)); // −iS
    let eig = SymmetricEigen::new(hermitian);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[i].total_cmp(&eig.eigenvalues[j]));
    // −iS v = ω v  ⇒  S v = iω v: the eigenvalue of the normal part is w + iω.
    // Eigenvalues ω ≈ 0 have no conjugate partner of their own (FouT has two):
    // they are re-paired from a real basis of the null space of S.
    let scale = eig.eigenvalues.amax().max(1.0);
    let zero: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&k| eig.eigenvalues[k].abs() <= 1e-9 * scale)
        .collect();
    let negative: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&k| eig.eigenvalues[k] < -1e-9 * scale)
        .collect(); // the ω < 0 half
    let mut v = DMatrix::zeros(n, n / 2);
    for (j, &k) in negative.iter().enumerate() {
        v.set_column(j, &eig.eigenvectors.column(k));
    }
    for (j, pair) in zero_pairs(&eig.eigenvectors, &zero).iter().enumerate() {
        v.set_column(negative.len() + j, pair);
    }
    let lambda = negative
        .iter()
        .map(|&k| Complex::new(w, eig.eigenvalues[k]))
        .chain(std::iter::repeat_n(Complex::new(w, 0.0), zero.len() / 2))
        .collect();
    let complex = |m: &DMatrix<f64>| m.map(|r| Complex::new(r, 0.0));
    let p_tilde = v.adjoint() * complex(p); // (N/2, r)
    let b_tilde =
        v.adjoint() * complex(&DMatrix::from_column_slice(n, 1, b.as_slice()));
    Ok(Dplr {
        lambda,
        p: p_tilde,
        b: b_tilde.iter().copied().collect(),
        v,
    })
}
// ANCHOR_END: nplr

/// Pairs a null space of $S$ into conjugate modes: a real orthonormal basis
/// $u_1, \dots, u_{2m}$ of the span of the given eigenvectors (the span is
/// closed under conjugation because $S$ is real), then
/// $v_j = (u_{2j-1} + i u_{2j})/\sqrt 2$, whose conjugates are the other half.
/// This is the general form of s4's FouT special case
/// $v = (e_0 + i e_1)/\sqrt 2$.
fn zero_pairs(
    eigenvectors: &DMatrix<Complex<f64>>,
    zero: &[usize],
) -> Vec<DVector<Complex<f64>>> {
    let n = eigenvectors.nrows();
    if zero.is_empty() {
        return Vec::new();
    }
    // Real and imaginary parts span the same real subspace of dimension 2m.
    let parts = DMatrix::from_fn(n, 2 * zero.len(), |i, j| {
        let z = eigenvectors[(i, zero[j / 2])];
        if j % 2 == 0 { z.re } else { z.im }
    });
    let svd = parts.svd(true, false);
    let Some(u) = svd.u else {
        return Vec::new();
    };
    let mut basis: Vec<usize> = (0..svd.singular_values.len()).collect();
    basis
        .sort_by(|&i, &j| svd.singular_values[j].total_cmp(&svd.singular_values[i]));
    let root_half = 0.5f64.sqrt();
    basis[..zero.len()]
        .chunks_exact(2)
        .map(|ij| {
            DVector::from_fn(n, |i, _| {
                Complex::new(u[(i, ij[0])], u[(i, ij[1])]) * root_half
            })
        })
        .collect()
}

/// The DPLR form of HiPPO-LegS (rank one, normal part $-\tfrac12 I + S$).
///
/// # Errors
/// [`Error::InvalidParameter`] unless `n` is even and ≥ 2.
pub fn nplr_legs(n: usize) -> Result<Dplr> {
    let t = legs(n.max(1))?;
    let p = rank_correction_legs(t.b.len());
    nplr(
        &t.a,
        &DMatrix::from_column_slice(p.len(), 1, p.as_slice()),
        &t.b,
    )
}

/// The DPLR form of the state-spaces/s4 LegT (window 2, rank two).
///
/// # Errors
/// [`Error::InvalidParameter`] unless `n` is even and ≥ 2.
pub fn nplr_legt(n: usize) -> Result<Dplr> {
    let t = crate::hippo::transitions::legt(n.max(1), 2.0)?;
    nplr(&t.a, &rank_correction_legt(t.b.len()), &t.b)
}

/// The rank-one correction of S4-FouT: $P = B$ ($P_0 = 1$, $P_{2k} = \sqrt 2$),
/// so that $A + PP^\top$ is skew-symmetric (the rotations alone).
pub fn rank_correction_fout(n: usize) -> DVector<f64> {
    DVector::from_fn(n, |i, _| match i {
        0 => 1.0,
        i if i.is_multiple_of(2) => 2f64.sqrt(),
        _ => 0.0,
    })
}

/// The DPLR form of S4-FouT (rank one, normal part skew-symmetric). Its
/// normal part has a double zero eigenvalue (the constant and the inert
/// "sine of frequency 0"), paired into one conjugate mode with
/// $\lambda = 0$.
///
/// # Errors
/// [`Error::InvalidParameter`] unless `n` is even and ≥ 2.
pub fn nplr_fout(n: usize) -> Result<Dplr> {
    let t = crate::hippo::transitions::fout(n)?;
    let p = rank_correction_fout(n);
    nplr(
        &t.a,
        &DMatrix::from_column_slice(p.len(), 1, p.as_slice()),
        &t.b,
    )
}

impl Dplr {
    /// Rebuilds the real matrix $A$ from the kept half: the normal part is
    /// $2\,\mathrm{Re}(V\Lambda V^*)$ and the real correction is $PP^\top$ with
    /// $P = 2\,\mathrm{Re}(V\tilde P)$ (each conjugate half contributes its half).
    pub fn reconstruct_a(&self) -> DMatrix<f64> {
        let lam = DMatrix::from_diagonal(&DVector::from_vec(self.lambda.clone()));
        let normal = (&self.v * lam * self.v.adjoint()).map(|z| 2.0 * z.re);
        let p = (&self.v * &self.p).map(|z| 2.0 * z.re); // (N, r)
        normal - &p * p.transpose()
    }

    /// The rank $r$ of the low-rank correction.
    pub fn rank(&self) -> usize {
        self.p.ncols()
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
        // s4 `hippo.py::nplr('legs', 8)`: −½ ± i{0.42749, 1.95779, 5.35421, 19.85741}.
        let d = nplr_legs(8).unwrap();
        let mut omega: Vec<f64> = d.lambda.iter().map(|l| -l.im).collect();
        omega.sort_by(f64::total_cmp);
        for (got, want) in omega.iter().zip([0.42749, 1.95779, 5.35421, 19.85741]) {
            assert!((got - want).abs() < 5e-6, "{got} vs {want}");
        }
        // w is the mean of the diagonal of A + PPᵀ, −½ up to the rounding of √(n+½)².
        assert!(
            d.lambda
                .iter()
                .all(|l| (l.re + 0.5).abs() < 1e-14 && l.im < 0.0)
        );
        assert!(nplr_legs(7).is_err());
    }

    #[test]
    fn fout_pairs_its_double_zero_into_one_mode() {
        // The normal part of FouT is the rotations alone: ±iπk for k ≥ 1, and
        // a double 0 (the constant and the inert sine of frequency 0).
        let d = nplr_fout(8).unwrap();
        let mut omega: Vec<f64> = d.lambda.iter().map(|l| l.im).collect();
        omega.sort_by(f64::total_cmp);
        let pi = std::f64::consts::PI;
        for (got, want) in omega.iter().zip([-3.0 * pi, -2.0 * pi, -pi, 0.0]) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let a = crate::hippo::transitions::fout(8).unwrap().a;
        assert!((d.reconstruct_a() - a).abs().max() < 1e-12);
    }
}
