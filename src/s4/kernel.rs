//! The S4 kernel: the truncated generating function at the roots of unity,
//! evaluated with Cauchy sums and the Woodbury identity.

use std::f64::consts::PI;

use nalgebra::{Complex, DMatrix, DVector};

use super::nplr::Dplr;
use crate::error::{Result, check_positive};
use crate::support::fft::ifft;

/// The Cauchy sum at every node.
///
/// Implements Eq. (S3): $k(z_j) = \sum_n \frac{v_n}{z_j - w_n}$, a product with the
/// Cauchy matrix $\big(\frac{1}{z_j - w_n}\big)_{jn}$, in $O(NL)$ without forming it.
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
/// $k_m(z_j) = \sum_n \frac{v_{m,n}}{z_j - w_n}$ for every numerator $v_m$.
/// One division per (node, pole) instead of one per sum: the fast path of
/// [`cauchy`] for the S4 kernel, which needs $(r+1)^2$ sums at once.
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
/// Implements Eq. (S4): $(R^{-1} + P Q^*)^{-1} = R - R P\,(1 + Q^* R P)^{-1} Q^* R$
/// for diagonal $R$, in $O(N^2)$ here (the kernel only ever needs its
/// bilinear forms, which cost $O(N)$).
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
/// If the shapes do not match the DPLR form's $N$.
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

/// $\tilde C (gI - \Lambda + PP^*)^{-1} \tilde B$ by a dense least-squares
/// solve over all $N$ modes: the fallback at a node where the Cauchy form
/// divides by zero. The resolvent itself is finite there on the reachable
/// states; the minimum-norm solution leaves out an inert mode (FouT's
/// "sine of frequency 0", which $B$ never drives).
fn resolvent_dense(
    g: Complex<f64>,
    lambda: &[Complex<f64>],
    p: &[Vec<Complex<f64>>],
    b: &[Complex<f64>],
    c: &[Complex<f64>],
) -> Complex<f64> {
    let n = lambda.len();
    let p = DMatrix::from_fn(n, p.len(), |i, j| p[j][i]);
    let m =
        DMatrix::from_fn(n, n, |i, j| if i == j { g - lambda[i] } else { 0.0 * g })
            + &p * p.adjoint();
    let rhs = DVector::from_column_slice(b);
    let svd = m.svd(true, true);
    let tolerance = 1e-12 * svd.singular_values.max();
    match svd.solve(&rhs, tolerance) {
        Ok(x) => c.iter().zip(x.iter()).map(|(c, x)| c * x).sum(),
        Err(_) => Complex::new(f64::NAN, f64::NAN),
    }
}

fn with_conjugates(v: &[Complex<f64>]) -> Vec<Complex<f64>> {
    v.iter()
        .copied()
        .chain(v.iter().map(|x| x.conj()))
        .collect()
}

/// The S4 convolution kernel of a DPLR system discretized by the bilinear
/// rule, from $\tilde C = C(I - \bar A^L)$ (the parameter S4 trains).
///
/// Implements Eq. (S5): at $\omega_k = e^{-2\pi i k/L}$, with
/// $g = \frac{2}{\Delta}\frac{1-\omega}{1+\omega}$ and the Cauchy sums
/// $k_{ab} = \sum_n \frac{u_n v_n}{g - \lambda_n}$ over both halves of each
/// conjugate pair (blocks of size 1 and $r$ for a rank-$r$ correction),
/// $\hat K(\omega) = \frac{2}{1+\omega}\big(k_{00} - k_{01}(I + k_{11})^{-1} k_{10}\big)$,
/// and $\bar K = \mathcal{F}^{-1}(\hat K)$. At $\omega = -1$ (even $L$) the
/// limit $\hat K = \frac{\Delta}{2}\tilde C B$ is used. At a node that falls
/// exactly on a pole (S4-FouT's $\lambda = 0$ at $\omega = 1$) the Cauchy
/// form is a removable $0/0$; that one node is solved densely.
///
/// # Shapes
/// `c_tilde`: `(N/2,)` → `(len,)`.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] if `dt` is not finite and positive.
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
    assert_eq!(
        c_tilde.len(),
        dplr.lambda.len(),
        "kernel_dplr: c_tilde ({},) vs {} modes",
        c_tilde.len(),
        dplr.lambda.len()
    );
    let (lambda, b, c) = (
        with_conjugates(&dplr.lambda),
        with_conjugates(&dplr.b),
        with_conjugates(c_tilde),
    );
    let p: Vec<Vec<Complex<f64>>> = // the r columns of P, both halves
        dplr.p.column_iter().map(|col| with_conjugates(col.as_slice())).collect();
    let one = Complex::new(1.0, 0.0);
    // K̄ is real, so K̂ at ω̄ is the conjugate of K̂ at ω: only the nodes
    // k = 0 … L/2 are evaluated (the `rfft` half), the rest are mirrored.
    let half = len / 2 + 1;
    let omega: Vec<Complex<f64>> = (0..half.min(len))
        .map(|k| Complex::from_polar(1.0, -2.0 * PI * k as f64 / len as f64))
        .collect();
    let g: Vec<Complex<f64>> = omega
        .iter()
        .map(|w| (one - w) / (one + w) * (2.0 / dt))
        .collect();
    let product = |u: &[Complex<f64>],
                   v: &[Complex<f64>],
                   conj_u: bool|
     -> Vec<Complex<f64>> {
        u.iter()
            .zip(v)
            .map(|(u, v)| if conj_u { u.conj() * v } else { u * v })
            .collect()
    };
    let r = p.len();
    // Numerators, in order: C̃B, C̃P_j (r), P_i*B (r), P_i*P_j (r²).
    let mut numerators = vec![product(&c, &b, false)];
    numerators.extend(p.iter().map(|pj| product(&c, pj, false)));
    numerators.extend(p.iter().map(|pi| product(pi, &b, true)));
    numerators.extend(
        p.iter()
            .flat_map(|pi| p.iter().map(move |pj| (pi, pj)))
            .map(|(pi, pj)| product(pi, pj, true)),
    );
    let sums = cauchy_many(&numerators, &g, &lambda);
    // The bilinear nodes g lie on the imaginary axis, so only poles on it can
    // be hit: LegT's and FouT's (skew normal parts; FouT's λ = 0 is hit at
    // ω = 1), never LegS's (Re λ = −½), which then skip the check.
    let on_axis: Vec<Complex<f64>> = lambda
        .iter()
        .copied()
        .filter(|l| l.re.abs() <= 1e-12 * (1.0 + l.norm()))
        .collect();
    let k00 = &sums[0]; // C̃ R B
    let k01 = &sums[1..1 + r]; // C̃ R P
    let k10 = &sums[1 + r..1 + 2 * r]; // P* R B
    let k11 = |i: usize, j: usize| &sums[1 + 2 * r + i * r + j]; // P* R P
    let at_minus_one =
        c.iter().zip(&b).map(|(c, b)| c * b).sum::<Complex<f64>>() * (dt / 2.0);
    let mut spectrum: Vec<Complex<f64>> = (0..omega.len())
        .map(|k| {
            if (one + omega[k]).norm() < 1e-9 {
                return at_minus_one; // ω = −1: the limit of the bilinear factor
            }
            if on_a_pole(g[k], &on_axis) {
                // A removable 0/0 of the Cauchy form (FouT's λ = 0 at ω = 1):
                // solve the dense resolvent at this one node instead.
                return resolvent_dense(g[k], &lambda, &p, &b, &c)
                    * (2.0 / (one + omega[k]));
            }
            // Woodbury: k00 − k01 (I + k11)⁻¹ k10, an r × r solve per node.
            let m = DMatrix::from_fn(r, r, |i, j| {
                k11(i, j)[k] + if i == j { one } else { 0.0 * one }
            });
            let rhs = DVector::from_fn(r, |i, _| k10[i][k]);
            let x = m
                .lu()
                .solve(&rhs)
                .unwrap_or_else(|| DVector::from_element(r, one * f64::NAN));
            let correction: Complex<f64> = (0..r).map(|j| k01[j][k] * x[j]).sum();
            (k00[k] - correction) * (2.0 / (one + omega[k]))
        })
        .collect();
    for k in omega.len()..len {
        spectrum.push(spectrum[len - k].conj());
    }
    Ok(ifft(&spectrum).iter().map(|z| z.re).collect())
}
// ANCHOR_END: kernel_dplr
