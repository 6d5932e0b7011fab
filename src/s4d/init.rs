//! The diagonal initialisations of the S4D paper, as N/2 complex modes of a
//! real state of size N (one mode of each conjugate pair).

use std::f64::consts::PI;

use nalgebra::Complex;

use crate::error::{Error, Result};
use crate::s4::nplr::nplr_legs;

/// An initialisation of the diagonal $A$.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S4dInit {
    /// S4D-Lin, Eq. (D3): $-\tfrac12 + i\pi n$ (an approximation of S4-FouT).
    Lin,
    /// S4D-Inv, Eq. (D4): $-\tfrac12 + i\frac{N}{\pi}\big(\frac{N}{2n+1} - 1\big)$.
    Inv,
    /// S4D-Real, Eq. (D5): $-(n+1)$, the eigenvalues of HiPPO-LegS.
    Real,
    /// S4D-LegS, Eq. (D6): the eigenvalues $-\tfrac12 + i\omega_n$ of the normal
    /// part of HiPPO-LegS (chapter 4's DPLR $\Lambda$), with $B = V^*B$.
    Legs,
}

/// Rejects a state size that cannot be split into conjugate pairs.
pub(crate) fn check_pairs(n: usize) -> Result<usize> {
    if n < 2 || !n.is_multiple_of(2) {
        return Err(Error::invalid(
            "n",
            n,
            "even and ≥ 2 (N/2 conjugate pairs of complex modes)",
        ));
    }
    Ok(n / 2)
}

/// The $N/2$ eigenvalues $\lambda_n$ of an initialisation, for a real state
/// of size `n` (the conjugates are implied).
///
/// Implements Eqs. (D3)–(D5).
///
/// # Errors
/// [`crate::Error::InvalidParameter`] unless `n` is even and ≥ 2.
///
/// # References
/// S4D §4; s4 `dplr.py::dplr` (`init='lin'`, `'inv'`, `'real'`). The Mamba
/// paper's "−½ + ni" for S4D-Lin (its §3.6) drops the π that the S4D paper and
/// `dplr.py` keep.
// ANCHOR: s4d_init
pub fn eigenvalues(init: S4dInit, n: usize) -> Result<Vec<Complex<f64>>> {
    let modes = check_pairs(n)?;
    if init == S4dInit::Legs {
        return Ok(nplr_legs(n)?.lambda);
    }
    let big_n = n as f64; // the paper's N counts real dimensions
    Ok((0..modes)
        .map(|k| {
            let k = k as f64;
            match init {
                S4dInit::Lin => Complex::new(-0.5, PI * k),
                S4dInit::Inv => {
                    Complex::new(-0.5, big_n / PI * (big_n / (2.0 * k + 1.0) - 1.0))
                }
                S4dInit::Real | S4dInit::Legs => Complex::new(-(k + 1.0), 0.0),
            }
        })
        .collect())
}
// ANCHOR_END: s4d_init

/// The input vector $B$ each initialisation starts from: all ones, except
/// S4D-LegS, which keeps LegS's $B$ in the eigenbasis, $\tilde B = V^* B$.
///
/// Implements Eq. (D6) for $B$ (the S4D paper halves it; the reference code,
/// and this crate, do not).
///
/// # Errors
/// [`crate::Error::InvalidParameter`] unless `n` is even and ≥ 2.
pub fn input_vector(init: S4dInit, n: usize) -> Result<Vec<Complex<f64>>> {
    let modes = check_pairs(n)?;
    match init {
        S4dInit::Legs => Ok(nplr_legs(n)?.b),
        _ => Ok(vec![Complex::new(1.0, 0.0); modes]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_the_reference_code() {
        let lin = eigenvalues(S4dInit::Lin, 16).unwrap();
        assert_eq!(lin.len(), 8);
        assert!((lin[3] - Complex::new(-0.5, 3.0 * PI)).norm() < 1e-15);
        let real = eigenvalues(S4dInit::Real, 6).unwrap();
        assert_eq!(
            real.iter().map(|l| l.re).collect::<Vec<_>>(),
            vec![-1.0, -2.0, -3.0]
        );
        // S4D-Inv at N = 64 (s4 `dplr.py::dplr(init='inv')`): 1283.43, 414.23,
        // 240.39, 165.88, …, and last (64/π)(64/63 − 1) = 0.323362.
        let inv = eigenvalues(S4dInit::Inv, 64).unwrap();
        for (k, want) in [(0, 1283.43), (1, 414.23), (2, 240.39), (3, 165.88)] {
            assert!((inv[k].im - want).abs() < 0.005, "{k}: {}", inv[k].im);
        }
        assert!((inv[31].im - 0.323362).abs() < 5e-7);
    }

    #[test]
    fn s4d_legs_is_the_legs_normal_spectrum() {
        // s4 `hippo.py::nplr('legs', 8)`: −½ ± i{0.42749, 1.95779, 5.35421, 19.85741}.
        let mut omega: Vec<f64> = eigenvalues(S4dInit::Legs, 8)
            .unwrap()
            .iter()
            .map(|l| l.im.abs())
            .collect();
        omega.sort_by(f64::total_cmp);
        for (got, want) in omega.iter().zip([0.42749, 1.95779, 5.35421, 19.85741]) {
            assert!((got - want).abs() < 5e-6, "{got} vs {want}");
        }
        assert_eq!(input_vector(S4dInit::Legs, 8).unwrap().len(), 4);
    }

    #[test]
    fn odd_or_tiny_state_sizes_are_rejected() {
        for n in [0, 1, 7] {
            let e = eigenvalues(S4dInit::Lin, n).unwrap_err().to_string();
            assert!(e.contains("even and ≥ 2"), "{e}");
        }
    }
}
