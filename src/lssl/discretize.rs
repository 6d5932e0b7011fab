//! From continuous to discrete time: five rules, each its own function.
//!
//! Every rule returns $\bar A$, $\bar B$ and keeps $C$, $D$ (the convention of
//! LSSL, S4 and Mamba; `scipy.signal.cont2discrete` also changes $C$ and $D$
//! for the bilinear family, which the golden test accounts for).

use nalgebra::{Complex, DMatrix, DVector};

use super::system::{DiscreteSsm, Ssm, check_dt};
use crate::error::{Error, Result};

/// A discretization rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Forward Euler, Eq. (L3): explicit, first order, unstable for large Δ.
    ForwardEuler,
    /// Backward Euler, Eq. (L4): implicit, first order, always stable.
    BackwardEuler,
    /// Bilinear (Tustin), Eq. (L5): second order, maps the left half-plane
    /// onto the unit disk. The rule of LSSL and S4.
    Bilinear,
    /// The generalized bilinear transform GBT(α), Eq. (L2), α ∈ [0, 1].
    Gbt(f64),
    /// Zero-order hold, Eqs. (L6)–(L7): exact for a piecewise-constant input.
    Zoh,
}

impl Rule {
    /// The rules drawn and compared in chapter 2.
    pub const ALL: [Rule; 4] = [
        Rule::ForwardEuler,
        Rule::BackwardEuler,
        Rule::Bilinear,
        Rule::Zoh,
    ];

    /// The rule's name, for legends and tables.
    pub fn name(self) -> String {
        match self {
            Rule::ForwardEuler => "forward Euler".into(),
            Rule::BackwardEuler => "backward Euler".into(),
            Rule::Bilinear => "bilinear".into(),
            Rule::Gbt(alpha) => format!("GBT(α = {alpha})"),
            Rule::Zoh => "ZOH".into(),
        }
    }
}

/// Discretizes `ssm` with step `dt` by `rule`.
///
/// # Errors
/// [`Error::InvalidParameter`] if `dt` is not finite and positive, if α is
/// outside [0, 1], or if the implicit rules meet a singular $I - \alpha\Delta A$.
///
/// # Examples
/// ```
/// use nalgebra::{DMatrix, DVector};
/// use ssm_lineage::lssl::{Rule, Ssm, discretize::discretize};
/// // x' = −x + u with ZOH: Ā = e^{−Δ}, B̄ = 1 − e^{−Δ}.
/// let ssm = Ssm::new(DMatrix::from_element(1, 1, -1.0), DVector::from_element(1, 1.0),
///     DVector::from_element(1, 1.0), 0.0)?;
/// let d = discretize(&ssm, 0.1, Rule::Zoh)?;
/// assert!((d.a_bar[(0, 0)] - (-0.1f64).exp()).abs() < 1e-15);
/// assert!((d.b_bar[0] - (1.0 - (-0.1f64).exp())).abs() < 1e-15);
/// # Ok::<(), ssm_lineage::Error>(())
/// ```
pub fn discretize(ssm: &Ssm, dt: f64, rule: Rule) -> Result<DiscreteSsm> {
    let discrete = match rule {
        Rule::ForwardEuler => discretize_forward_euler(ssm, dt),
        Rule::BackwardEuler => discretize_backward_euler(ssm, dt),
        Rule::Bilinear => discretize_bilinear(ssm, dt),
        Rule::Gbt(alpha) => discretize_gbt(ssm, dt, alpha),
        Rule::Zoh => discretize_zoh(ssm, dt),
    }?;
    // A finite step can still overflow (ΔA of 1e64 in a matrix exponential).
    let values = discrete.a_bar.iter().chain(discrete.b_bar.iter());
    crate::error::check_finite(
        "the discretized Ā and B̄ (the step is too large for this A)",
        values,
    )?;
    Ok(discrete)
}

fn discrete(
    ssm: &Ssm,
    a_bar: DMatrix<f64>,
    b_bar: DVector<f64>,
    dt: f64,
) -> DiscreteSsm {
    DiscreteSsm {
        a_bar,
        b_bar,
        c: ssm.c.clone(),
        d: ssm.d,
        dt,
    }
}

/// Solves $(I - s A) X = R$, or says which step made it singular.
fn implicit_solve(
    a: &DMatrix<f64>,
    s: f64,
    rhs: DMatrix<f64>,
    dt: f64,
) -> Result<DMatrix<f64>> {
    let n = a.nrows();
    (DMatrix::identity(n, n) - a * s)
        .lu()
        .solve(&rhs)
        .ok_or_else(|| {
            Error::invalid(
                "dt",
                dt,
                "a step at which I − αΔA is invertible (ΔA has no eigenvalue 1/α)",
            )
        })
}

/// Forward Euler.
///
/// Implements Eq. (L3): $\bar A = I + \Delta A$, $\bar B = \Delta B$.
///
/// # Errors
/// [`Error::InvalidParameter`] if `dt` is not finite and positive.
// ANCHOR: discretize_forward_euler
pub fn discretize_forward_euler(ssm: &Ssm, dt: f64) -> Result<DiscreteSsm> {
    let dt = check_dt(dt)?;
    let n = ssm.n();
    let a_bar = DMatrix::identity(n, n) + &ssm.a * dt;
    Ok(discrete(ssm, a_bar, &ssm.b * dt, dt))
}
// ANCHOR_END: discretize_forward_euler

/// Backward Euler.
///
/// Implements Eq. (L4): $\bar A = (I - \Delta A)^{-1}$,
/// $\bar B = (I - \Delta A)^{-1} \Delta B$.
///
/// # Errors
/// [`Error::InvalidParameter`] if `dt` is not finite and positive or
/// $I - \Delta A$ is singular.
// ANCHOR: discretize_backward_euler
pub fn discretize_backward_euler(ssm: &Ssm, dt: f64) -> Result<DiscreteSsm> {
    let dt = check_dt(dt)?;
    let n = ssm.n();
    let mut rhs = DMatrix::identity(n, n + 1); // [I | ΔB], solved at once
    rhs.set_column(n, &(&ssm.b * dt));
    let solved = implicit_solve(&ssm.a, dt, rhs, dt)?;
    let a_bar = solved.columns(0, n).into_owned();
    Ok(discrete(ssm, a_bar, solved.column(n).into_owned(), dt))
}
// ANCHOR_END: discretize_backward_euler

/// The bilinear (Tustin) transform.
///
/// Implements Eq. (L5): $\bar A = (I - \tfrac{\Delta}{2} A)^{-1}
/// (I + \tfrac{\Delta}{2} A)$, $\bar B = (I - \tfrac{\Delta}{2} A)^{-1} \Delta B$.
///
/// # Errors
/// [`Error::InvalidParameter`] if `dt` is not finite and positive or
/// $I - \tfrac{\Delta}{2} A$ is singular.
///
/// # References
/// LSSL §2 Eq. (3); S4 Eq. (3); s4 `SSMKernelDense.bilinear`.
// ANCHOR: discretize_bilinear
pub fn discretize_bilinear(ssm: &Ssm, dt: f64) -> Result<DiscreteSsm> {
    let dt = check_dt(dt)?;
    let n = ssm.n();
    let mut rhs = DMatrix::identity(n, n + 1)
        + ssm.a.clone().insert_column(n, 0.0) * (dt / 2.0);
    rhs.set_column(n, &(&ssm.b * dt)); // [I + Δ/2·A | ΔB]
    let solved = implicit_solve(&ssm.a, dt / 2.0, rhs, dt)?;
    let a_bar = solved.columns(0, n).into_owned();
    Ok(discrete(ssm, a_bar, solved.column(n).into_owned(), dt))
}
// ANCHOR_END: discretize_bilinear

/// The generalized bilinear transform: forward Euler at α = 0, bilinear at
/// α = ½, backward Euler at α = 1.
///
/// Implements Eq. (L2): $\bar A = (I - \alpha\Delta A)^{-1}(I + (1-\alpha)\Delta A)$,
/// $\bar B = (I - \alpha\Delta A)^{-1} \Delta B$.
///
/// # Errors
/// [`Error::InvalidParameter`] if `dt` is not finite and positive, `alpha`
/// is outside [0, 1], or $I - \alpha\Delta A$ is singular.
///
/// # References
/// HiPPO App. B.3; LSSL §2 Eq. (3); s4 `transition.gbt_A`, `gbt_B`.
// ANCHOR: discretize_gbt
pub fn discretize_gbt(ssm: &Ssm, dt: f64, alpha: f64) -> Result<DiscreteSsm> {
    let dt = check_dt(dt)?;
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::invalid("alpha", alpha, "in [0, 1]"));
    }
    let n = ssm.n();
    let explicit = ssm.a.clone().insert_column(n, 0.0) * ((1.0 - alpha) * dt);
    let mut rhs = DMatrix::identity(n, n + 1) + explicit;
    rhs.set_column(n, &(&ssm.b * dt)); // [I + (1−α)ΔA | ΔB]
    let solved = implicit_solve(&ssm.a, alpha * dt, rhs, dt)?;
    let a_bar = solved.columns(0, n).into_owned();
    Ok(discrete(ssm, a_bar, solved.column(n).into_owned(), dt))
}
// ANCHOR_END: discretize_gbt

/// Zero-order hold, by the exponential of the augmented matrix, so it works
/// for a singular $A$ too (an integrator, $A = 0$, gives $\bar B = \Delta B$).
///
/// Implements Eq. (L7): $\exp\!\Big(\Delta \begin{bmatrix} A & B \\ 0 & 0
/// \end{bmatrix}\Big) = \begin{bmatrix} \bar A & \bar B \\ 0 & 1 \end{bmatrix}$,
/// which equals Eq. (L6), $\bar A = e^{\Delta A}$,
/// $\bar B = A^{-1}(e^{\Delta A} - I) B$, when $A$ is invertible.
///
/// # Errors
/// [`Error::InvalidParameter`] if `dt` is not finite and positive.
///
/// # References
/// HiPPO App. B.3 (derivation); `scipy.signal.cont2discrete(method='zoh')`
/// uses the same augmented exponential.
// ANCHOR: discretize_zoh
pub fn discretize_zoh(ssm: &Ssm, dt: f64) -> Result<DiscreteSsm> {
    let dt = check_dt(dt)?;
    let n = ssm.n();
    let mut m = DMatrix::zeros(n + 1, n + 1); // (n+1, n+1): [[A, B], [0, 0]]
    m.view_mut((0, 0), (n, n)).copy_from(&ssm.a);
    m.view_mut((0, n), (n, 1)).copy_from(&ssm.b);
    let e = exp_any_size(m * dt);
    let a_bar = e.view((0, 0), (n, n)).into_owned();
    let b_bar = e.view((0, n), (n, 1)).column(0).into_owned();
    Ok(discrete(ssm, a_bar, b_bar, dt))
}
// ANCHOR_END: discretize_zoh

/// $e^{M}$ by nalgebra's `exp`, first scaled down by $2^s$ and squared back
/// $s$ times when $M$ is huge (entries summing past $10^{10}$): nalgebra's own
/// scaling never finishes on some matrices near $10^{60}$, while for a stable
/// system the true exponential is tiny and perfectly representable. A
/// non-finite $M$ gives NaN (which `discretize` then rejects).
fn exp_any_size(m: DMatrix<f64>) -> DMatrix<f64> {
    let size: f64 = m.iter().map(|v| v.abs()).sum();
    if size <= 1e10 {
        return m.exp();
    }
    if !size.is_finite() {
        return m.map(|_| f64::NAN);
    }
    let s = size.log2().ceil() as i32; // at most 1024 for a finite sum
    let mut e = (m / 2f64.powi(s)).exp();
    for _ in 0..s {
        e = &e * &e;
    }
    e
}

/// The diagonal of $\bar A$ and the vector $\bar B$ of a diagonal system.
pub type DiagonalPair = (Vec<Complex<f64>>, Vec<Complex<f64>>);

/// $(e^{z} - 1)/z$ without cancellation for small $|z|$ (and its limit 1 at 0).
fn phi1(z: Complex<f64>) -> Complex<f64> {
    if z.norm() < 1e-8 {
        return Complex::new(1.0, 0.0) + z / 2.0;
    }
    // e^z − 1 = expm1(x)·cos y − 2 sin²(y/2) + i·e^x sin y: no cancellation.
    let (x, y) = (z.re, z.im);
    let half = (y / 2.0).sin();
    let em1 =
        Complex::new(x.exp_m1() * y.cos() - 2.0 * half * half, x.exp() * y.sin());
    em1 / z
}

/// ZOH for a diagonal system: $e^{\Delta\lambda}$ and
/// $\Delta\,\varphi_1(\Delta\lambda)\, b = \frac{e^{\Delta\lambda} - 1}{\lambda} b$.
fn zoh_diagonal(
    lambda: &[Complex<f64>],
    b: &[Complex<f64>],
    dt: f64,
) -> DiagonalPair {
    let a_bar = lambda.iter().map(|l| (l * dt).exp()).collect();
    let b_bar = lambda
        .iter()
        .zip(b)
        .map(|(l, b)| phi1(l * dt) * dt * b)
        .collect();
    (a_bar, b_bar)
}

/// The closed forms of every rule for a diagonal $A = \operatorname{diag}(\lambda)$,
/// elementwise and over complex numbers (the form chapter 5 uses).
///
/// Implements Eq. (L8): forward Euler $1 + \Delta\lambda$, $\Delta b$;
/// backward Euler $\frac{1}{1 - \Delta\lambda}$, $\frac{\Delta b}{1 - \Delta\lambda}$;
/// bilinear $\frac{1 + \Delta\lambda/2}{1 - \Delta\lambda/2}$,
/// $\frac{\Delta b}{1 - \Delta\lambda/2}$; ZOH $e^{\Delta\lambda}$,
/// $\frac{e^{\Delta\lambda} - 1}{\lambda} b$.
///
/// # Shapes
/// `lambda`, `b`: `(n,)` → `(a_bar, b_bar)`, each `(n,)`.
///
/// # Errors
/// As [`discretize`].
///
/// # Panics
/// If `lambda` and `b` differ in length.
// ANCHOR: discretize_diagonal
pub fn discretize_diagonal(
    lambda: &[Complex<f64>],
    b: &[Complex<f64>],
    dt: f64,
    rule: Rule,
) -> Result<DiagonalPair> {
    assert_eq!(
        lambda.len(),
        b.len(),
        "discretize_diagonal: lambda ({},) vs b ({},)",
        lambda.len(),
        b.len()
    );
    let dt = check_dt(dt)?;
    let alpha = match rule {
        Rule::ForwardEuler => 0.0,
        Rule::BackwardEuler => 1.0,
        Rule::Bilinear => 0.5,
        Rule::Gbt(alpha) if (0.0..=1.0).contains(&alpha) => alpha,
        Rule::Gbt(alpha) => return Err(Error::invalid("alpha", alpha, "in [0, 1]")),
        Rule::Zoh => return Ok(zoh_diagonal(lambda, b, dt)),
    };
    let one = Complex::new(1.0, 0.0);
    let mut a_bar = Vec::with_capacity(lambda.len());
    let mut b_bar = Vec::with_capacity(lambda.len());
    for (l, b) in lambda.iter().zip(b) {
        let implicit = one - l * (alpha * dt);
        if implicit.norm() == 0.0 {
            return Err(Error::invalid("dt", dt, "a step at which 1 − αΔλ ≠ 0"));
        }
        a_bar.push((one + l * ((1.0 - alpha) * dt)) / implicit);
        b_bar.push(b * dt / implicit);
    }
    Ok((a_bar, b_bar))
}
// ANCHOR_END: discretize_diagonal

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(a: f64) -> Ssm {
        let v = DVector::from_element(1, 1.0);
        Ssm::new(DMatrix::from_element(1, 1, a), v.clone(), v, 0.0).unwrap()
    }

    #[test]
    fn scalar_closed_forms() {
        let (a, dt) = (-2.0, 0.1);
        let fe = discretize_forward_euler(&scalar(a), dt).unwrap();
        assert!((fe.a_bar[(0, 0)] - 0.8).abs() < 1e-15);
        let be = discretize_backward_euler(&scalar(a), dt).unwrap();
        assert!((be.a_bar[(0, 0)] - 1.0 / 1.2).abs() < 1e-15);
        let bl = discretize_bilinear(&scalar(a), dt).unwrap();
        assert!((bl.a_bar[(0, 0)] - 0.9 / 1.1).abs() < 1e-15);
        assert!((bl.b_bar[0] - 0.1 / 1.1).abs() < 1e-15);
        let zoh = discretize_zoh(&scalar(a), dt).unwrap();
        assert!((zoh.a_bar[(0, 0)] - (-0.2f64).exp()).abs() < 1e-15);
        assert!((zoh.b_bar[0] - (1.0 - (-0.2f64).exp()) / 2.0).abs() < 1e-15);
    }

    #[test]
    fn zoh_of_an_integrator_holds_the_input() {
        let zoh = discretize_zoh(&scalar(0.0), 0.25).unwrap();
        assert_eq!(zoh.a_bar[(0, 0)], 1.0);
        assert!((zoh.b_bar[0] - 0.25).abs() < 1e-15);
    }

    #[test]
    fn bad_steps_and_alphas_are_rejected() {
        for dt in [0.0, -1.0, f64::NAN] {
            for rule in Rule::ALL {
                let e = discretize(&scalar(-1.0), dt, rule).unwrap_err();
                assert!(e.to_string().contains("dt must be finite and > 0"), "{e}");
            }
        }
        let e = discretize(&scalar(-1.0), 0.1, Rule::Gbt(1.5)).unwrap_err();
        assert!(e.to_string().contains("alpha must be in [0, 1]"), "{e}");
        // Backward Euler of ẋ = x at Δ = 1 divides by 1 − Δ·1 = 0.
        let e = discretize(&scalar(1.0), 1.0, Rule::BackwardEuler).unwrap_err();
        assert!(e.to_string().contains("invertible"), "{e}");
    }

    #[test]
    fn phi1_is_accurate_near_zero() {
        // φ1(z) = 1 + z/2 + z²/6 + …: at z = 1e-10 that is 1 + 5e-11 to 1e-21.
        let z = Complex::new(1e-10, 0.0);
        assert!((phi1(z).re - (1.0 + 5e-11)).abs() < 1e-16);
        // Just above the series cut-off the closed form must not cancel.
        let z = Complex::new(2e-8, 0.0);
        assert!((phi1(z).re - (1.0 + 1e-8)).abs() < 1e-15);
        let z = Complex::new(-0.3, 2.0);
        let direct = (z.exp() - 1.0) / z;
        assert!((phi1(z) - direct).norm() < 1e-15);
    }
}
