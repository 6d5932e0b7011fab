//! The S4D kernel: a Vandermonde product, halved over conjugate pairs.

use nalgebra::{Complex, DMatrix, DVector};

use crate::error::{Error, Result};
use crate::lssl::Rule;
use crate::lssl::Ssm;
use crate::lssl::discretize::discretize_diagonal;
use crate::s4::kernel::with_conjugates;

/// The kernel of a real diagonal system from one mode of each conjugate pair.
///
/// Implements Eq. (D1): $\bar K_s = 2\,\mathrm{Re} \sum_{n < N/2} C_n \bar B_n
/// \bar\lambda_n^{s}$, with $\bar\lambda$, $\bar B$ from Eq. (L8).
///
/// # Shapes
/// `lambda`, `b`, `c`: `(N/2,)` → `(len,)`.
///
/// # Errors
/// As [`discretize_diagonal`] (a step that is not finite and positive);
/// [`crate::Error::InvalidParameter`] for a `len` above $2^{32}$.
///
/// # Panics
/// If `c` does not have one entry per mode.
///
/// # References
/// S4D §3; s4 `models/s4/s4d.py` (ZOH, `2 * K.real`); annotated S4D
/// `s4d_kernel_zoh`.
// ANCHOR: vandermonde_kernel
pub fn vandermonde_kernel(
    lambda: &[Complex<f64>],
    b: &[Complex<f64>],
    c: &[Complex<f64>],
    dt: f64,
    rule: Rule,
    len: usize,
) -> Result<Vec<f64>> {
    assert_eq!(
        c.len(),
        lambda.len(),
        "vandermonde_kernel: c ({},) vs lambda ({},)",
        c.len(),
        lambda.len()
    );
    crate::error::check_values("len", &[len])?;
    let (a_bar, b_bar) = discretize_diagonal(lambda, b, dt, rule)?;
    let weights: Vec<Complex<f64>> =
        c.iter().zip(&b_bar).map(|(c, b)| c * b).collect();
    let mut powers = vec![Complex::new(1.0, 0.0); lambda.len()]; // λ̄_n^s
    let mut k = Vec::with_capacity(len);
    for _ in 0..len {
        let sum: Complex<f64> =
            weights.iter().zip(&powers).map(|(w, p)| w * p).sum();
        k.push(2.0 * sum.re);
        for (p, a) in powers.iter_mut().zip(&a_bar) {
            *p *= a;
        }
    }
    Ok(k)
}
// ANCHOR_END: vandermonde_kernel

/// The fast path of [`vandermonde_kernel`] once discretized: the Vandermonde
/// product as two real matrix products. Writing $s = qQ + r$ (blocks of
/// $Q$ taps), $\bar\lambda^s = \bar\lambda^{qQ} \bar\lambda^{r}$, so
/// $\bar K_{qQ + r} = 2\,\mathrm{Re}\sum_n \Phi_{qn} \Psi_{nr}$ with
/// $\Phi_{qn} = w_n \bar\lambda_n^{qQ}$ and $\Psi_{nr} = \bar\lambda_n^r$, and
/// $\mathrm{Re}(\Phi\Psi) = \Phi_{re} \Psi_{re} - \Phi_{im} \Psi_{im}$: nalgebra's GEMM does the
/// $O(NL)$ work with SIMD. Each power is a product of at most $Q + L/Q$
/// factors instead of $s$, so it is also more accurate for long kernels.
///
/// # Shapes
/// `a_bar`, `weights` ($C_n \bar B_n$): `(N/2,)` → `(len,)`.
///
/// # Panics
/// If `a_bar` and `weights` differ in length, or `len` is too large to
/// allocate (over $2^{32}$ values).
// ANCHOR: vandermonde_kernel_fast
pub fn vandermonde_kernel_fast(
    a_bar: &[Complex<f64>],
    weights: &[Complex<f64>],
    len: usize,
) -> Vec<f64> {
    crate::support::shapes::fits("vandermonde_kernel_fast", len, 1);
    assert_eq!(
        a_bar.len(),
        weights.len(),
        "vandermonde_kernel_fast: a_bar ({},) vs weights ({},)",
        a_bar.len(),
        weights.len()
    );
    let modes = a_bar.len();
    let block = len.clamp(1, 64); // Q taps per block
    let rows = len.div_ceil(block); // blocks
    let (mut phi_re, mut phi_im) =
        (DMatrix::zeros(rows, modes), DMatrix::zeros(rows, modes)); // Φ, (blocks, N/2)
    let (mut psi_re, mut psi_im) =
        (DMatrix::zeros(modes, block), DMatrix::zeros(modes, block)); // Ψ, (N/2, Q)
    for (n, (a, w)) in a_bar.iter().zip(weights).enumerate() {
        let mut power = Complex::new(1.0, 0.0);
        for r in 0..block {
            (psi_re[(n, r)], psi_im[(n, r)]) = (power.re, power.im);
            power *= a;
        }
        let step = a.powu(block as u32); // λ̄^Q by repeated squaring
        let mut phi = *w;
        for q in 0..rows {
            (phi_re[(q, n)], phi_im[(q, n)]) = (phi.re, phi.im);
            phi *= step;
        }
    }
    let k = (phi_re * psi_re - phi_im * psi_im) * 2.0; // (blocks, Q): tap qQ + r at (q, r)
    (0..len).map(|s| k[(s / block, s % block)]).collect()
}
// ANCHOR_END: vandermonde_kernel_fast

/// The same system written with every mode and its conjugate (the full
/// complex diagonal system of size N): the oracle of the halving. Returns the
/// complex kernel, whose imaginary part is rounding.
///
/// # Errors
/// As [`discretize_diagonal`]; [`Error::InvalidParameter`] for a `len`
/// above $2^{31} - 1$.
pub fn kernel_full_conjugate(
    lambda: &[Complex<f64>],
    b: &[Complex<f64>],
    c: &[Complex<f64>],
    dt: f64,
    rule: Rule,
    len: usize,
) -> Result<Vec<Complex<f64>>> {
    let (a_bar, b_bar) = discretize_diagonal(
        &with_conjugates(lambda),
        &with_conjugates(b),
        dt,
        rule,
    )?;
    let c = with_conjugates(c);
    let len = i32::try_from(len).map_err(|_| {
        Error::invalid("len", len, "at most 2^31 − 1 (powers use i32)")
    })?;
    Ok((0..len)
        .map(|l| {
            (0..a_bar.len())
                .map(|n| c[n] * b_bar[n] * a_bar[n].powi(l))
                .sum()
        })
        .collect())
}

/// A real dense system with the same kernel: each complex mode $\lambda =
/// \alpha + i\omega$ becomes the rotation block $\begin{bmatrix} \alpha & -\omega \\
/// \omega & \alpha \end{bmatrix}$ acting on $(\mathrm{Re}\,z, \mathrm{Im}\,z)$, with
/// $B = (\mathrm{Re}\,b, \mathrm{Im}\,b)$ and $C = (2\,\mathrm{Re}\,c, -2\,\mathrm{Im}\,c)$.
/// The oracle that ties chapter 5 to chapter 2's dense kernel.
///
/// # Errors
/// [`crate::Error::NonFinite`] for non-finite entries.
///
/// # Panics
/// If the three slices differ in length.
pub fn real_realization(
    lambda: &[Complex<f64>],
    b: &[Complex<f64>],
    c: &[Complex<f64>],
) -> Result<Ssm> {
    assert!(
        b.len() == lambda.len() && c.len() == lambda.len(),
        "real_realization: lambda ({},), b ({},), c ({},)",
        lambda.len(),
        b.len(),
        c.len()
    );
    let n = 2 * lambda.len();
    let mut a = DMatrix::zeros(n, n); // (N, N), 2×2 blocks
    let (mut bv, mut cv) = (DVector::zeros(n), DVector::zeros(n));
    for (k, l) in lambda.iter().enumerate() {
        let (p, q) = (2 * k, 2 * k + 1);
        a[(p, p)] = l.re;
        a[(q, q)] = l.re;
        a[(p, q)] = -l.im;
        a[(q, p)] = l.im;
        bv[p] = b[k].re;
        bv[q] = b[k].im;
        cv[p] = 2.0 * c[k].re;
        cv[q] = -2.0 * c[k].im;
    }
    Ssm::new(a, bv, cv, 0.0)
}
