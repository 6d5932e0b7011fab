//! Online function approximation: the coefficients $c(t)$ of the history,
//! updated one sample at a time.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use super::basis::legendre;
use super::transitions::{Transition, legs};
use crate::error::{Result, check_finite, check_size};
use crate::lssl::{Rule, Ssm, discretize};

/// How the time-varying LegS system $\dot c = \frac1t (A c + B f)$ is stepped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegsRule {
    /// $\bar A_t = I + A/t$, $\bar B_t = B/t$ (HiPPO Theorem 2, Eq. (4)).
    ForwardEuler,
    /// $\bar A_t = (I - A/t)^{-1}$, $\bar B_t = (I - A/t)^{-1} B/t$.
    BackwardEuler,
    /// $\bar A_t = (I - \frac{A}{2t})^{-1}(I + \frac{A}{2t})$,
    /// $\bar B_t = (I - \frac{A}{2t})^{-1} B/t$: the rule of HiPPO's experiments.
    Bilinear,
    /// ZOH in log-time ($\frac{dc}{d\ln t} = A c + B f$ is time-invariant):
    /// $\bar A_t = e^{A(\ln(t+1) - \ln t)}$.
    Zoh,
}

/// One step of the LegS recurrence, with triangular solves: $A$ is
/// lower-triangular, so each implicit step costs $O(N^2)$, not $O(N^3)$.
///
/// Implements Eq. (H8): $c_t = \bar A_t c_{t-1} + \bar B_t f_t$ for
/// $t = 1, 2, \dots$, with $\bar A_t$, $\bar B_t$ of the [`LegsRule`] applied
/// to $A/t$ and $B/t$. It does not depend on any step size Δ.
///
/// # Shapes
/// `a`: `(n, n)` lower-triangular, `b`, `c`: `(n,)` → `(n,)`.
///
/// # Panics
/// If `t == 0` or the shapes differ.
///
/// # References
/// HiPPO Theorem 2 and App. B.3; hippo-code `HiPPO_LegS` (the 1/t-per-step
/// convention used here), which also uses triangular solves.
// ANCHOR: legs_step
pub fn legs_step(
    a: &DMatrix<f64>,
    b: &DVector<f64>,
    c: &DVector<f64>,
    f: f64,
    t: usize,
    rule: LegsRule,
) -> DVector<f64> {
    assert!(t >= 1, "legs_step: t counts from 1");
    assert_eq!(
        c.len(),
        a.nrows(),
        "legs_step: c ({},) vs A {:?}",
        c.len(),
        a.shape()
    );
    let n = a.nrows();
    let (a_t, b_t) = (a / t as f64, b / t as f64); // A/t, B/t
    let eye = DMatrix::<f64>::identity(n, n);
    let solve = |m: DMatrix<f64>, v: DVector<f64>| {
        m.solve_lower_triangular(&v)
            .unwrap_or_else(|| DVector::from_element(n, f64::NAN))
    };
    match rule {
        LegsRule::ForwardEuler => c + &a_t * c + b_t * f,
        LegsRule::BackwardEuler => solve(eye - a_t, c + b_t * f),
        LegsRule::Bilinear => solve(&eye - &a_t / 2.0, c + &a_t * c / 2.0 + b_t * f),
        LegsRule::Zoh => legs_step_zoh(a, b, c, f, t),
    }
}
// ANCHOR_END: legs_step

fn legs_step_zoh(
    a: &DMatrix<f64>,
    b: &DVector<f64>,
    c: &DVector<f64>,
    f: f64,
    t: usize,
) -> DVector<f64> {
    let ds = ((t + 1) as f64 / t as f64).ln(); // ln(t+1) − ln t
    let zero = DVector::zeros(b.len());
    let ssm = Ssm {
        a: a.clone(),
        b: b.clone(),
        c: zero,
        d: 0.0,
    };
    match discretize(&ssm, ds, Rule::Zoh) {
        Ok(z) => &z.a_bar * c + &z.b_bar * f,
        Err(_) => DVector::from_element(c.len(), f64::NAN),
    }
}

/// [`legs_step`] with a dense LU solve instead of the triangular one: the
/// $O(N^3)$ baseline the benchmark compares against, and a test oracle.
///
/// # Panics
/// As [`legs_step`].
pub fn legs_step_dense(
    a: &DMatrix<f64>,
    b: &DVector<f64>,
    c: &DVector<f64>,
    f: f64,
    t: usize,
    rule: LegsRule,
) -> DVector<f64> {
    assert!(t >= 1, "legs_step_dense: t counts from 1");
    let n = a.nrows();
    let (a_t, b_t) = (a / t as f64, b / t as f64);
    let eye = DMatrix::<f64>::identity(n, n);
    let solve = |m: DMatrix<f64>, v: DVector<f64>| {
        m.lu()
            .solve(&v)
            .unwrap_or_else(|| DVector::from_element(n, f64::NAN))
    };
    match rule {
        LegsRule::ForwardEuler => c + &a_t * c + b_t * f,
        LegsRule::BackwardEuler => solve(eye - a_t, c + b_t * f),
        LegsRule::Bilinear => solve(&eye - &a_t / 2.0, c + &a_t * c / 2.0 + b_t * f),
        LegsRule::Zoh => legs_step_zoh(a, b, c, f, t),
    }
}

/// Feeds every sample to a projector and keeps the coefficients after each:
/// the shared body of both projectors' `run`.
///
/// # Shapes
/// `f`: `(len,)` → `(len, n)`.
fn record<P>(
    projector: &mut P,
    f: &[f64],
    update: fn(&mut P, f64) -> Result<()>,
    coefficients: fn(&P) -> &DVector<f64>,
) -> Result<DMatrix<f64>> {
    let n = coefficients(projector).len();
    let mut history = DMatrix::zeros(f.len(), n); // (len, n)
    for (k, &v) in f.iter().enumerate() {
        update(projector, v)?;
        history
            .row_mut(k)
            .copy_from(&coefficients(projector).transpose());
    }
    Ok(history)
}

/// The LegS projector: the coefficients of the whole history $[0, t]$ under
/// the uniform measure, updated one sample at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct LegsProjector {
    transition: Transition,
    rule: LegsRule,
    c: DVector<f64>,
    t: usize,
}

impl LegsProjector {
    /// A projector of `n` coefficients, all zero before the first sample.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for `n == 0`.
    ///
    /// # Examples
    /// ```
    /// use ssm_lineage::hippo::{LegsProjector, LegsRule};
    /// // A ramp is its mean and its slope: forward Euler keeps exactly those.
    /// let mut p = LegsProjector::new(4, LegsRule::ForwardEuler)?;
    /// p.run(&[1.0, 2.0, 3.0, 4.0, 5.0])?;
    /// let c = p.coefficients();
    /// assert!((c[0] - 3.0).abs() < 1e-12 && (c[1] - 3f64.sqrt()).abs() < 1e-12);
    /// assert!(c[2].abs() < 1e-12 && c[3].abs() < 1e-12);
    /// # Ok::<(), ssm_lineage::Error>(())
    /// ```
    pub fn new(n: usize, rule: LegsRule) -> Result<Self> {
        Ok(LegsProjector {
            transition: legs(n)?,
            rule,
            c: DVector::zeros(n),
            t: 0,
        })
    }

    /// Consumes the next sample $f_t$.
    ///
    /// # Errors
    /// [`crate::Error::NonFinite`] for a NaN or infinite sample (the state is kept).
    pub fn update(&mut self, f: f64) -> Result<()> {
        check_finite("sample f", [f].iter())?;
        self.t += 1;
        let tr = &self.transition;
        self.c = legs_step(&tr.a, &tr.b, &self.c, f, self.t, self.rule);
        Ok(())
    }

    /// Consumes every sample and returns the coefficients after each one.
    ///
    /// # Shapes
    /// `f`: `(len,)` → `(len, n)`.
    ///
    /// # Errors
    /// [`crate::Error::NonFinite`] at the first non-finite sample.
    pub fn run(&mut self, f: &[f64]) -> Result<DMatrix<f64>> {
        record(self, f, Self::update, Self::coefficients)
    }

    /// The current coefficients $c(t)$.
    pub fn coefficients(&self) -> &DVector<f64> {
        &self.c
    }
}

/// A projector for a time-invariant measure (LegT, LagT, FouT, or LegS used
/// as an LTI system as S4 does), discretized at a fixed step Δ.
#[derive(Debug, Clone, PartialEq)]
pub struct LtiProjector {
    a_bar: DMatrix<f64>,
    b_bar: DVector<f64>,
    c: DVector<f64>,
}

impl LtiProjector {
    /// Discretizes `transition` with step `dt` by `rule`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a step or rule that
    /// [`crate::lssl::discretize()`] rejects.
    pub fn new(transition: &Transition, dt: f64, rule: Rule) -> Result<Self> {
        let n = transition.b.len();
        let ssm = Ssm::new(
            transition.a.clone(),
            transition.b.clone(),
            DVector::zeros(n),
            0.0,
        )?;
        let disc = discretize(&ssm, dt, rule)?;
        Ok(LtiProjector {
            a_bar: disc.a_bar,
            b_bar: disc.b_bar,
            c: DVector::zeros(n),
        })
    }

    /// Consumes the next sample: $c_k = \bar A c_{k-1} + \bar B f_k$.
    ///
    /// # Errors
    /// [`crate::Error::NonFinite`] for a NaN or infinite sample (the state is kept).
    pub fn update(&mut self, f: f64) -> Result<()> {
        check_finite("sample f", [f].iter())?;
        self.c = &self.a_bar * &self.c + &self.b_bar * f;
        Ok(())
    }

    /// Consumes every sample and returns the coefficients after each one.
    ///
    /// # Errors
    /// [`crate::Error::NonFinite`] at the first non-finite sample.
    pub fn run(&mut self, f: &[f64]) -> Result<DMatrix<f64>> {
        record(self, f, Self::update, Self::coefficients)
    }

    /// The current coefficients.
    pub fn coefficients(&self) -> &DVector<f64> {
        &self.c
    }
}

/// Gauss–Legendre nodes and weights on $[0, 1]$ (Golub–Welsch: the
/// eigenvalues of the Jacobi matrix), exact for polynomials of degree
/// `< 2·points`.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for `points == 0`.
pub fn gauss_legendre(points: usize) -> Result<Vec<(f64, f64)>> {
    check_size("points", points)?;
    crate::error::check_values(
        "the points × points Jacobi matrix",
        &[points, points],
    )?;
    let jacobi = DMatrix::from_fn(points, points, |i, j| {
        let k = i.max(j) as f64;
        if i.abs_diff(j) == 1 {
            k / (4.0 * k * k - 1.0).sqrt()
        } else {
            0.0
        }
    });
    let eig = SymmetricEigen::new(jacobi);
    let mut nodes: Vec<(f64, f64)> = (0..points)
        .map(|i| {
            let w = 2.0 * eig.eigenvectors[(0, i)].powi(2);
            ((eig.eigenvalues[i] + 1.0) / 2.0, w / 2.0) // map [−1, 1] → [0, 1]
        })
        .collect();
    nodes.sort_by(|p, q| p.0.total_cmp(&q.0));
    Ok(nodes)
}

/// The optimal LegS coefficients of a function's history $[0, t]$, by
/// quadrature: the definition the recurrence approximates.
///
/// Implements Eq. (H1): $c_n(t) = \langle f_{\le t}, g_n^{(t)} \rangle_{\mu^{(t)}}
/// = \int_0^1 f(tv)\, \sqrt{2n+1}\, P_n(2v - 1)\, dv$ (uniform measure on
/// $[0, t]$).
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for `n == 0`, `points == 0` or $t \le 0$.
// ANCHOR: legs_projection_quadrature
pub fn legs_projection_quadrature(
    f: &dyn Fn(f64) -> f64,
    t: f64,
    n: usize,
    points: usize,
) -> Result<DVector<f64>> {
    check_size("n", n)?;
    crate::error::check_positive("t", t)?;
    let mut c = DVector::zeros(n);
    for (v, w) in gauss_legendre(points)? {
        let p = legendre(n, 2.0 * v - 1.0);
        for k in 0..n {
            c[k] += w * f(t * v) * ((2 * k + 1) as f64).sqrt() * p[k];
        }
    }
    Ok(c)
}
// ANCHOR_END: legs_projection_quadrature
