//! The continuous state space model and its discretized form.

use nalgebra::{Complex, DMatrix, DVector};

use crate::error::{Error, Result, check_finite, check_size, check_state_size};
use crate::support::rng::{normal_matrix, normal_vector, seeded};

/// A single-input single-output continuous state space model.
///
/// Implements Eq. (L1): $\dot x(t) = A x(t) + B u(t)$, $y(t) = C x(t) + D u(t)$.
#[derive(Debug, Clone, PartialEq)]
pub struct Ssm {
    /// State matrix $A$, `(n, n)`.
    pub a: DMatrix<f64>,
    /// Input vector $B$, `(n,)`.
    pub b: DVector<f64>,
    /// Output vector $C$, `(n,)`.
    pub c: DVector<f64>,
    /// Feed-through $D$.
    pub d: f64,
}

/// Panics unless `a` is square and `b`, `c` match its size, naming the shapes.
pub(crate) fn assert_shapes(
    what: &str,
    a: &DMatrix<f64>,
    b: &DVector<f64>,
    c: &DVector<f64>,
) {
    assert!(a.is_square(), "{what}: A {:?} is not square", a.shape());
    assert_eq!(
        b.len(),
        a.nrows(),
        "{what}: B ({},) vs A {:?}",
        b.len(),
        a.shape()
    );
    assert_eq!(
        c.len(),
        a.nrows(),
        "{what}: C ({},) vs A {:?}",
        c.len(),
        a.shape()
    );
}

impl Ssm {
    /// A continuous system from its matrices.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a state size of 0; [`Error::NonFinite`]
    /// if an entry is NaN or infinite.
    ///
    /// # Panics
    /// If `a` is not square or `b`, `c` do not match it (naming the shapes).
    pub fn new(
        a: DMatrix<f64>,
        b: DVector<f64>,
        c: DVector<f64>,
        d: f64,
    ) -> Result<Self> {
        assert_shapes("Ssm::new", &a, &b, &c);
        check_size("n", a.nrows())?;
        check_finite("A", a.iter())?;
        check_finite("B", b.iter())?;
        check_finite("C", c.iter())?;
        check_finite("D", [d].iter())?;
        Ok(Ssm { a, b, c, d })
    }

    /// A random stable (Hurwitz) system: $A = S - (G G^\top/n + \epsilon I)$ with
    /// $S$ skew-symmetric, so $A + A^\top$ is negative definite and every
    /// eigenvalue of $A$ has a negative real part; Gaussian $B$, $C$ with
    /// variance $1/n$ and $D = 0$.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `n == 0`.
    pub fn random_stable(n: usize, seed: u64) -> Result<Self> {
        check_state_size(n)?;
        let mut rng = seeded(seed);
        let g = normal_matrix(&mut rng, n, n, 1.0);
        let s = normal_matrix(&mut rng, n, n, 1.0);
        let skew = (&s - s.transpose()) * 0.5;
        let damping = &g * g.transpose() / n as f64 + DMatrix::identity(n, n) * 0.1;
        let scale = 1.0 / (n as f64).sqrt();
        let b = normal_vector(&mut rng, n, scale);
        let c = normal_vector(&mut rng, n, scale);
        Ssm::new(skew - damping, b, c, 0.0)
    }

    /// The state size $n$.
    pub fn n(&self) -> usize {
        self.a.nrows()
    }

    /// The eigenvalues of $A$.
    pub fn eigenvalues(&self) -> Vec<Complex<f64>> {
        self.a.complex_eigenvalues().iter().copied().collect()
    }

    /// Whether every eigenvalue of $A$ has a negative real part (the free
    /// response decays).
    pub fn is_hurwitz(&self) -> bool {
        self.eigenvalues().iter().all(|l| l.re < 0.0)
    }
}

/// A discretized system: $\bar A$, $\bar B$ from a rule and a step Δ, with
/// $C$ and $D$ unchanged.
///
/// Implements Eq. (L9): $x_k = \bar A x_{k-1} + \bar B u_k$,
/// $y_k = C x_k + D u_k$.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscreteSsm {
    /// $\bar A$, `(n, n)`.
    pub a_bar: DMatrix<f64>,
    /// $\bar B$, `(n,)`.
    pub b_bar: DVector<f64>,
    /// $C$, `(n,)`.
    pub c: DVector<f64>,
    /// $D$.
    pub d: f64,
    /// The step Δ it was discretized with.
    pub dt: f64,
}

impl DiscreteSsm {
    /// The state size $n$.
    pub fn n(&self) -> usize {
        self.a_bar.nrows()
    }

    /// The eigenvalues of $\bar A$ (inside the unit disk: the recurrence is
    /// stable); NaN for each if $\bar A$ has a non-finite entry (an eigenvalue
    /// iteration on it would never end).
    pub fn eigenvalues(&self) -> Vec<Complex<f64>> {
        if !self.a_bar.iter().all(|v| v.is_finite()) {
            return vec![Complex::new(f64::NAN, f64::NAN); self.n()];
        }
        self.a_bar.complex_eigenvalues().iter().copied().collect()
    }
}

/// Rejects a step that is not finite and positive.
pub(crate) fn check_dt(dt: f64) -> Result<f64> {
    if dt.is_finite() && dt > 0.0 {
        Ok(dt)
    } else {
        Err(Error::invalid("dt", dt, "finite and > 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_stable_systems_are_hurwitz() {
        for seed in 0..20 {
            assert!(
                Ssm::random_stable(1 + seed as usize % 9, seed)
                    .unwrap()
                    .is_hurwitz()
            );
        }
    }

    #[test]
    fn bad_input_is_rejected() {
        let (a, v) = (DMatrix::from_element(1, 1, f64::NAN), DVector::zeros(1));
        let e = Ssm::new(a, v.clone(), v, 0.0).unwrap_err();
        assert!(e.to_string().contains("A has a NaN"), "{e}");
        assert!(check_dt(0.0).is_err() && check_dt(f64::INFINITY).is_err());
        let e = Ssm::new(
            DMatrix::zeros(0, 0),
            DVector::zeros(0),
            DVector::zeros(0),
            0.0,
        );
        assert!(e.unwrap_err().to_string().contains("n = 0"));
    }

    #[test]
    #[should_panic(expected = "B (3,) vs A (2, 2)")]
    fn mismatched_sizes_panic_naming_both() {
        let _ = Ssm::new(
            DMatrix::zeros(2, 2),
            DVector::zeros(3),
            DVector::zeros(2),
            0.0,
        );
    }
}
