//! The S4 kernel: the truncated generating function at the roots of unity,
//! evaluated with Cauchy sums and the Woodbury identity.

use std::f64::consts::PI;

use nalgebra::{Complex, DMatrix, DVector};

use super::nplr::Dplr;
use crate::error::{Result, check_positive};
use crate::support::fft::ifft;

/// The Cauchy sum at every node.
///
/// Implements Eq. (S4): $k(g_j) = \sum_n \frac{v_n}{g_j - \lambda_n}$ (`z` the
/// nodes $g_j$, `w` the poles $\lambda_n$), a product with the Cauchy matrix
/// $\big(\frac{1}{g_j - \lambda_n}\big)_{jn}$, in $O(NL)$ without forming it.
///
/// # Shapes
/// `v`, `w`: `(N,)`, `z`: `(L,)` → `(L,)`.
///
/// # Panics
/// If `v` and `w` differ in length.
// ANCHOR: cauchy
pub fn cauchy(
    v: &[Complex<f64>],
    z: &[Complex<f64>],
    w: &[Complex<f64>],
) -> Vec<Complex<f64>> {
    assert_eq!(
        v.len(),
        w.len(),
        "cauchy: v ({},) vs w ({},)",
        v.len(),
        w.len()
    );
    z.iter()
        .map(|z| v.iter().zip(w).map(|(v, w)| v / (z - w)).sum())
        .collect()
}
// ANCHOR_END: cauchy

/// Several Cauchy sums over the same nodes and poles, sharing the divisions:
/// $k_m(g_j) = \sum_n \frac{v_{m,n}}{g_j - \lambda_n}$ for every numerator $v_m$.
/// One division per (node, pole) instead of one per sum: the fast path of
/// [`cauchy`] for the S4 kernel, which needs $(r+1)^2$ sums at once.
///
/// Implements Eq. (S4) for every numerator: $k_m(g_j) = \sum_n \frac{v_{m,n}}{g_j -
/// \lambda_n}$ (`z` the nodes $g_j$, `w` the poles $\lambda_n$).
///
/// # Shapes
/// `v`: `M × (N,)`, `z`: `(L,)`, `w`: `(N,)` → `M × (L,)`.
///
/// # Panics
/// If a numerator's length differs from `w`'s.
pub fn cauchy_many(
    v: &[Vec<Complex<f64>>],
    z: &[Complex<f64>],
    w: &[Complex<f64>],
) -> Vec<Vec<Complex<f64>>> {
    for vm in v {
        assert_eq!(
            vm.len(),
            w.len(),
            "cauchy_many: numerator ({},) vs w ({},)",
            vm.len(),
            w.len()
        );
    }
    let mut out = vec![Vec::with_capacity(z.len()); v.len()];
    let mut r = vec![Complex::new(0.0, 0.0); w.len()];
    for z in z {
        for (r, w) in r.iter_mut().zip(w) {
            *r = (z - w).inv();
        }
        for (o, vm) in out.iter_mut().zip(v) {
            o.push(vm.iter().zip(&r).map(|(v, r)| v * r).sum());
        }
    }
    out
}

/// The inverse of a diagonal-plus-rank-one matrix by the Woodbury identity.
///
/// Implements Eq. (S5), $(R^{-1} + PP^*)^{-1} = R - RP\,(I + P^*RP)^{-1}P^*R$,
/// for rank one and diagonal $R$, with the second factor free: `q` stands
/// where $P$'s conjugate transpose stands (`q = p` is the chapter's form).
/// $O(N^2)$ here (the kernel only ever needs its bilinear forms, which cost
/// $O(N)$).
///
/// # Shapes
/// `r`, `p`, `q`: `(N,)` → `(N, N)`.
///
/// # Panics
/// If the lengths differ.
pub fn woodbury_rank_one(
    r: &[Complex<f64>],
    p: &[Complex<f64>],
    q: &[Complex<f64>],
) -> DMatrix<Complex<f64>> {
    assert!(
        r.len() == p.len() && p.len() == q.len(),
        "woodbury_rank_one: r ({},), p ({},), q ({},)",
        r.len(),
        p.len(),
        q.len()
    );
    let rp = DVector::from_iterator(r.len(), r.iter().zip(p).map(|(r, p)| r * p)); // R P
    let qr =
        DVector::from_iterator(r.len(), q.iter().zip(r).map(|(q, r)| q.conj() * r)); // (Q* R)ᵀ
    let denom = Complex::new(1.0, 0.0)
        + qr.iter().zip(p).map(|(a, p)| a * p).sum::<Complex<f64>>();
    DMatrix::from_diagonal(&DVector::from_vec(r.to_vec()))
        - &rp * qr.transpose() / denom
}

/// The parameter S4 trains, from an output row $C$ in state coordinates:
/// $\tilde C = C(I - \bar A^L)$, expressed in the kept eigenvectors $V$.
///
/// # Shapes
/// `a_bar`: `(N, N)` (the dense bilinear $\bar A$), `c`: `(N,)` → `(N/2,)`.
///
/// # Panics
/// If the shapes do not match the DPLR form's $N$, or `len` is above
/// $2^{32} - 1$.
pub fn c_tilde_from(
    dplr: &Dplr,
    a_bar: &DMatrix<f64>,
    c: &DVector<f64>,
    len: usize,
) -> Vec<Complex<f64>> {
    let n = dplr.v.nrows();
    assert!(
        a_bar.shape() == (n, n) && c.len() == n,
        "c_tilde_from: Ā {:?}, C ({},) vs N = {n}",
        a_bar.shape(),
        c.len()
    );
    assert!(
        u32::try_from(len).is_ok(),
        "c_tilde_from: len {len} is above 2^32 − 1 (the power's exponent is a u32)"
    );
    let power = a_bar.pow(len as u32);
    let row = c.transpose() * (DMatrix::identity(n, n) - power); // (1, N)
    (row.map(|x| Complex::new(x, 0.0)) * &dplr.v)
        .iter()
        .copied()
        .collect()
}

/// Whether the node $g$ sits on one of the given poles.
fn on_a_pole(g: Complex<f64>, poles: &[Complex<f64>]) -> bool {
    poles
        .iter()
        .any(|l| (g - l).norm() <= 1e-12 * (1.0 + l.norm()))
}

/// $\tilde C (gI - \Lambda + PP^*)^{-1} B$ by a dense least-squares
/// solve over all $N$ modes: the fallback at a node where the Cauchy form
/// divides by zero. The resolvent itself is finite there on the reachable
/// states; the minimum-norm solution leaves out an inert mode (FouT's
/// "sine of frequency 0", which $B$ never drives).
fn resolvent_dense(
    g: Complex<f64>,
    dplr: &Dplr,
    c_tilde: &[Complex<f64>],
) -> Complex<f64> {
    let (lambda, b, c) = (
        with_conjugates(&dplr.lambda),
        with_conjugates(&dplr.b),
        with_conjugates(c_tilde),
    );
    let n = lambda.len();
    let half = dplr.lambda.len();
    let p = DMatrix::from_fn(n, dplr.rank(), |i, j| {
        if i < half {
            dplr.p[(i, j)]
        } else {
            dplr.p[(i - half, j)].conj()
        }
    });
    let m =
        DMatrix::from_fn(n, n, |i, j| if i == j { g - lambda[i] } else { 0.0 * g })
            + &p * p.adjoint();
    let rhs = DVector::from_column_slice(&b);
    let svd = m.svd(true, true);
    let tolerance = 1e-12 * svd.singular_values.max();
    match svd.solve(&rhs, tolerance) {
        Ok(x) => c.iter().zip(x.iter()).map(|(c, x)| c * x).sum(),
        Err(_) => Complex::new(f64::NAN, f64::NAN),
    }
}

/// A vector of kept modes followed by their conjugates: the full system of
/// size $N$ from the kept half.
pub fn with_conjugates(v: &[Complex<f64>]) -> Vec<Complex<f64>> {
    v.iter()
        .copied()
        .chain(v.iter().map(|x| x.conj()))
        .collect()
}

/// The truncated generating function evaluated densely at the roots of
/// unity, then inverted: the step between the naive kernel and S4's
/// algorithm. With $\tilde C = C(I - \bar A^L)$, the generating function of
/// the first $L$ taps at $\omega_k = e^{-2\pi i k/L}$ is one linear solve per
/// node, in $O(N^3)$ each: correct for any $\bar A$, but no faster than
/// powers until $\bar A$ has structure.
///
/// Implements Eq. (S3): $\hat K(\omega) = \sum_{s < L} C\bar A^s \bar B\,\omega^s = \tilde C (I - \bar A\omega)^{-1} \bar B$.
///
/// # Shapes
/// `a_bar`: `(N, N)`, `b_bar`, `c_tilde`: `(N,)` → `(len,)`.
///
/// # Panics
/// If the shapes disagree.
///
/// # References
/// S4 §3.2 and Lemma C.3 (the truncated generating function).
// ANCHOR: kernel_generating_function
pub fn kernel_generating_function(
    a_bar: &DMatrix<f64>,
    b_bar: &DVector<f64>,
    c_tilde: &DVector<f64>,
    len: usize,
) -> Vec<f64> {
    let n = b_bar.len();
    assert!(
        a_bar.shape() == (n, n) && c_tilde.len() == n,
        "kernel_generating_function: Ā {:?}, B̄ ({n},), C̃ ({},)",
        a_bar.shape(),
        c_tilde.len()
    );
    let complex = |m: &DMatrix<f64>| m.map(|x| Complex::new(x, 0.0));
    let (a, b) = (
        complex(a_bar),
        complex(&DMatrix::from_column_slice(n, 1, b_bar.as_slice())),
    );
    let spectrum: Vec<Complex<f64>> = (0..len)
        .map(|k| {
            let omega = Complex::from_polar(1.0, -2.0 * PI * k as f64 / len as f64);
            let m = DMatrix::identity(n, n) - &a * omega; // I − Āω
            let x = m
                .lu()
                .solve(&b)
                .unwrap_or_else(|| b.map(|_| Complex::new(f64::NAN, 0.0)));
            c_tilde.iter().zip(x.iter()).map(|(c, x)| x * *c).sum()
        })
        .collect();
    ifft(&spectrum).iter().map(|z| z.re).collect()
}
// ANCHOR_END: kernel_generating_function

/// The nodes of S4's Algorithm 1 for a kernel of `len` taps: the roots of
/// unity $\omega_k = e^{-2\pi i k/L}$ for $k = 0, \dots, \lfloor L/2 \rfloor$
/// (the `rfft` half: $\bar K$ is real, so the other half mirrors these) and
/// their bilinear images $g_k = \frac{2}{\Delta}\frac{1 - \omega_k}{1 + \omega_k}$.
///
/// # Shapes
/// → `(⌊len/2⌋ + 1,)` twice (none for `len = 0`).
///
/// # Panics
/// A `len` too large to allocate (over $2^{32}$ values) panics, naming the limit.
pub fn bilinear_nodes(
    dt: f64,
    len: usize,
) -> (Vec<Complex<f64>>, Vec<Complex<f64>>) {
    crate::support::shapes::fits("bilinear_nodes", len, 1);
    let one = Complex::new(1.0, 0.0);
    let omega: Vec<Complex<f64>> = (0..(len / 2 + 1).min(len))
        .map(|k| Complex::from_polar(1.0, -2.0 * PI * k as f64 / len as f64))
        .collect();
    let g = omega
        .iter()
        .map(|w| (one - w) / (one + w) * (2.0 / dt))
        .collect();
    (omega, g)
}

/// The $(r+1)^2$ Cauchy sums of S4's Algorithm 1 at every node: with
/// $R = (g - \Lambda)^{-1}$ over both halves of each conjugate pair,
/// $k_{00} = \tilde C R B$, $k_{01} = \tilde C R P$, $k_{10} = P^* R B$,
/// $k_{11} = P^* R P$ (the last three with one entry per column of $P$).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolventSums {
    /// The rank $r$ of the correction.
    pub rank: usize,
    /// The sums at every node, in order: $k_{00}$; $k_{01}$ (r); $k_{10}$ (r);
    /// $k_{11}$ (r², row by row).
    pub sums: Vec<Vec<Complex<f64>>>,
}

impl ResolventSums {
    /// Every sum at the nodes `g`, by Eq. (S4) with the divisions shared
    /// ([`cauchy_many`]).
    pub fn new(dplr: &Dplr, c_tilde: &[Complex<f64>], g: &[Complex<f64>]) -> Self {
        let (lambda, b, c) = (
            with_conjugates(&dplr.lambda),
            with_conjugates(&dplr.b),
            with_conjugates(c_tilde),
        );
        let p: Vec<Vec<Complex<f64>>> = // the r columns of P, both halves
            dplr.p.column_iter().map(|col| with_conjugates(col.as_slice())).collect();
        let times = |u: &[Complex<f64>], v: &[Complex<f64>]| -> Vec<Complex<f64>> {
            u.iter().zip(v).map(|(u, v)| u * v).collect()
        };
        let star = |u: &[Complex<f64>]| -> Vec<Complex<f64>> {
            u.iter().map(|u| u.conj()).collect()
        };
        let mut numerators = vec![times(&c, &b)]; // C̃B
        numerators.extend(p.iter().map(|pj| times(&c, pj))); // C̃P_j
        numerators.extend(p.iter().map(|pi| times(&star(pi), &b))); // P_i*B
        for pi in &p {
            numerators.extend(p.iter().map(|pj| times(&star(pi), pj))); // P_i*P_j
        }
        ResolventSums {
            rank: p.len(),
            sums: cauchy_many(&numerators, g, &lambda),
        }
    }

    /// The Woodbury identity at node `k`: $k_{00} - k_{01}(I + k_{11})^{-1}k_{10}$,
    /// an $r \times r$ solve.
    ///
    /// Implements Eq. (S5) through its bilinear forms:
    /// $\tilde C (R^{-1} + PP^*)^{-1} B = k_{00} - k_{01}(I + k_{11})^{-1}k_{10}$.
    // ANCHOR: woodbury
    pub fn woodbury(&self, k: usize) -> Complex<f64> {
        let r = self.rank;
        let one = Complex::new(1.0, 0.0);
        let m = DMatrix::from_fn(r, r, |i, j| {
            self.sums[1 + 2 * r + i * r + j][k]
                + if i == j { one } else { 0.0 * one }
        });
        let rhs = DVector::from_fn(r, |i, _| self.sums[1 + r + i][k]);
        let x = m
            .lu()
            .solve(&rhs)
            .unwrap_or_else(|| rhs.map(|_| one * f64::NAN));
        let correction: Complex<f64> =
            (0..r).map(|j| self.sums[1 + j][k] * x[j]).sum();
        self.sums[0][k] - correction
    }
    // ANCHOR_END: woodbury
}

/// The real kernel from the spectrum at the nodes $k = 0, \dots, \lfloor L/2
/// \rfloor$: the other half is the mirror image, $\hat K(\bar\omega) =
/// \overline{\hat K(\omega)}$, then the inverse FFT.
///
/// # Shapes
/// `half`: `(⌊len/2⌋ + 1,)` → `(len,)`.
///
/// # Panics
/// A `len` too large to allocate (over $2^{32}$ values) panics, naming the limit.
pub fn kernel_from_half_spectrum(half: &[Complex<f64>], len: usize) -> Vec<f64> {
    crate::support::shapes::fits("kernel_from_half_spectrum", len, 1);
    assert_eq!(
        half.len(),
        (len / 2 + 1).min(len),
        "kernel_from_half_spectrum: {} bins for a kernel of length {len}",
        half.len()
    );
    let mut spectrum = half.to_vec();
    for k in half.len()..len {
        spectrum.push(half[len - k].conj());
    }
    ifft(&spectrum).iter().map(|z| z.re).collect()
}

/// The S4 convolution kernel of a DPLR system discretized by the bilinear
/// rule, from $\tilde C = C(I - \bar A^L)$ (the parameter S4 trains): S4's
/// Algorithm 1 in four steps, nodes, Cauchy sums, Woodbury, inverse FFT.
///
/// Implements Eq. (S6): $\hat K(\omega) = \frac{2}{1+\omega}\big(k_{00} - k_{01}(I + k_{11})^{-1} k_{10}\big)$,
/// $\bar K = \mathcal{F}^{-1}(\hat K)$. At $\omega = -1$ (even $L$) the limit
/// $\hat K = \frac{\Delta}{2}\tilde C B$ is used. At a node that falls
/// exactly on a pole (S4-FouT's $\lambda = 0$ at $\omega = 1$) the Cauchy
/// form is a removable $0/0$; that one node is solved densely.
///
/// # Shapes
/// `c_tilde`: `(N/2,)` → `(len,)`.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] if `dt` is not finite and positive or
/// `len` is above $2^{32}$.
///
/// # Panics
/// If `c_tilde` does not have one entry per mode.
///
/// # References
/// S4 Algorithm 1 and App. C.3; annotated-s4 `kernel_DPLR`; s4
/// `SSMKernelDPLR.forward` (which also evaluates only the `rfft` half of the
/// nodes).
// ANCHOR: kernel_dplr
pub fn kernel_dplr(
    dplr: &Dplr,
    c_tilde: &[Complex<f64>],
    dt: f64,
    len: usize,
) -> Result<Vec<f64>> {
    let dt = check_positive("dt", dt)?;
    crate::error::check_values("len", &[len])?;
    assert_eq!(
        c_tilde.len(),
        dplr.lambda.len(),
        "kernel_dplr: c_tilde ({},) vs {} modes",
        c_tilde.len(),
        dplr.lambda.len()
    );
    let (omega, g) = bilinear_nodes(dt, len); // 1. the nodes
    let sums = ResolventSums::new(dplr, c_tilde, &g); // 2. the Cauchy sums
    let on_axis = poles_on_the_imaginary_axis(&dplr.lambda);
    let half: Vec<Complex<f64>> = (0..omega.len())
        .map(|k| {
            let one_plus = Complex::new(1.0, 0.0) + omega[k];
            if one_plus.norm() < 1e-9 {
                return limit_at_minus_one(&dplr.b, c_tilde, dt); // ω = −1
            }
            let resolvent = if on_a_pole(g[k], &on_axis) {
                resolvent_dense(g[k], dplr, c_tilde) // a removable 0/0
            } else {
                sums.woodbury(k) // 3. Woodbury
            };
            resolvent * (2.0 / one_plus)
        })
        .collect();
    Ok(kernel_from_half_spectrum(&half, len)) // 4. the inverse FFT
}
// ANCHOR_END: kernel_dplr

/// The generating function at the node $\omega = -1$ (even $L$), where the
/// bilinear node $g = \frac{2}{\Delta}\frac{1-\omega}{1+\omega}$ is infinite:
/// the limit of the bilinear factor $\frac{2}{1+\omega}$ times the resolvent,
/// $\frac{2}{1+\omega}(g - A)^{-1} \to \frac{\Delta}{2}$ as $g \to \infty$,
/// summed over both halves of each conjugate pair.
///
/// Implements Eq. (S6) at $\omega = -1$: $\hat K(-1) = \frac{\Delta}{2}\tilde C B = \Delta\,\mathrm{Re}\sum_{n < N/2} \tilde C_n B_n$.
///
/// # Shapes
/// `b`, `c_tilde`: `(N/2,)` (the kept half) → a scalar (real).
///
/// # Panics
/// If `b` and `c_tilde` differ in length.
///
/// # References
/// S4 Algorithm 1 (the bilinear factor); s4 `SSMKernelDPLR.forward` avoids
/// the exact node by computing $\omega$ in floating point.
// ANCHOR: limit_at_minus_one
pub fn limit_at_minus_one(
    b: &[Complex<f64>],
    c_tilde: &[Complex<f64>],
    dt: f64,
) -> Complex<f64> {
    assert_eq!(
        b.len(),
        c_tilde.len(),
        "limit_at_minus_one: b ({},) vs c_tilde ({},)",
        b.len(),
        c_tilde.len()
    );
    let half: Complex<f64> = c_tilde.iter().zip(b).map(|(c, b)| c * b).sum();
    Complex::new(dt * half.re, 0.0) // (Δ/2)·2 Re
}
// ANCHOR_END: limit_at_minus_one

/// The poles that bilinear nodes can hit: $g$ lies on the imaginary axis, so
/// only LegT's and FouT's (skew normal parts) can be hit, never LegS's
/// ($\mathrm{Re}\,\lambda = -\frac12$), which then skips the check.
fn poles_on_the_imaginary_axis(lambda: &[Complex<f64>]) -> Vec<Complex<f64>> {
    with_conjugates(lambda)
        .into_iter()
        .filter(|l| l.re.abs() <= 1e-12 * (1.0 + l.norm()))
        .collect()
}
