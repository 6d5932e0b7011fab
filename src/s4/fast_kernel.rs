//! S4's kernel, fast: the same Algorithm 1 as [`super::kernel::kernel_dplr`]
//! (its nodes, its limit at $\omega = -1$), with the Cauchy sums rewritten
//! so that each (node, mode) pair costs one real division shared by every
//! sum, conjugate pairs folded, eight nodes in the lanes of one vector.
//!
//! Folding a pair: for a numerator $a$ and a pole $\lambda$ with their
//! conjugates, and a node $g = iy$ on the imaginary axis (every bilinear node
//! is),
//! $$\frac{a}{g - \lambda} + \frac{\bar a}{g - \bar\lambda}
//! = \frac{2g\,\mathrm{Re}\,a - 2\,\mathrm{Re}(a\bar\lambda)}{(g - \lambda)(g - \bar\lambda)},
//! \qquad (g - \lambda)(g - \bar\lambda) = |\lambda|^2 - y^2 - 2iy\,\mathrm{Re}\,\lambda,$$
//! so with $\rho = 1/\big((g-\lambda)(g-\bar\lambda)\big)$ each sum is
//! $g \sum_n \alpha_n \rho_n - \sum_n \beta_n \rho_n$ for the real
//! coefficients $\alpha = 2\,\mathrm{Re}\,a$, $\beta = 2\,\mathrm{Re}(a\bar\lambda)$:
//! four multiply-adds per sum and pair, and one division per pair.

use nalgebra::Complex;

use super::kernel::{bilinear_nodes, kernel_dplr};
use super::nplr::Dplr;
use crate::error::{Result, check_positive};
use crate::support::fft::irfft;

/// Nodes per vector.
const W: usize = 8;
type Lanes = [f64; W];

/// One kept mode: $|\lambda|^2$, $2\,\mathrm{Re}\,\lambda$, and the real
/// coefficients $\alpha_s$, $\beta_s$ of the `S` numerators.
struct Mode<const S: usize> {
    norm2: f64,
    re2: f64,
    alpha: [f64; S],
    beta: [f64; S],
}

impl<const S: usize> Mode<S> {
    /// The mode $\lambda$ with (kept-half) numerators `a`.
    fn new(lambda: Complex<f64>, a: [Complex<f64>; S]) -> Self {
        Mode {
            norm2: lambda.norm_sqr(),
            re2: 2.0 * lambda.re,
            alpha: a.map(|a| 2.0 * a.re),
            beta: a.map(|a| 2.0 * (a * lambda.conj()).re),
        }
    }

    /// $(g - \lambda)(g - \bar\lambda)$ at $g = iy$, conjugated, and its
    /// squared modulus: $\rho = $ `(re, im) / norm`.
    #[inline(always)]
    fn denominator(&self, y: &Lanes) -> [Lanes; 3] {
        let mut d = [[0.0; W]; 3];
        for j in 0..W {
            d[0][j] = (-y[j]).mul_add(y[j], self.norm2);
            d[1][j] = y[j] * self.re2;
            d[2][j] = d[0][j].mul_add(d[0][j], d[1][j] * d[1][j]);
        }
        d
    }

    /// Adds $\alpha_s\rho$ and $\beta_s\rho$ to the accumulators.
    #[inline(always)]
    fn accumulate(&self, rho: &[Lanes; 2], acc: &mut [[Lanes; 4]; S]) {
        for (s, acc) in acc.iter_mut().enumerate() {
            for j in 0..W {
                acc[0][j] = self.alpha[s].mul_add(rho[0][j], acc[0][j]);
                acc[1][j] = self.alpha[s].mul_add(rho[1][j], acc[1][j]);
                acc[2][j] = self.beta[s].mul_add(rho[0][j], acc[2][j]);
                acc[3][j] = self.beta[s].mul_add(rho[1][j], acc[3][j]);
            }
        }
    }
}

/// The `S` folded Cauchy sums at eight nodes $g = iy$ (one per lane):
/// per sum, $\sum \alpha\rho$ and $\sum \beta\rho$ as (re, im) lanes. Two
/// modes share one division (Montgomery's trick: $1/a = b/(ab)$ and
/// $1/b = a/(ab)$), and the multiply-adds are fused: the function is compiled
/// for CPUs with FMA, and a fallback without.
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn folded_sums<const S: usize>(modes: &[Mode<S>], y: &Lanes) -> [[Lanes; 4]; S] {
    let mut acc = [[[0.0; W]; 4]; S]; // per sum: Σαρ (re, im), Σβρ (re, im)
    let pairs = modes.chunks_exact(2);
    let last = pairs.remainder().first();
    for pair in pairs {
        let (d1, d2) = (pair[0].denominator(y), pair[1].denominator(y));
        let (mut rho1, mut rho2) = ([[0.0; W]; 2], [[0.0; W]; 2]);
        for j in 0..W {
            let shared = 1.0 / (d1[2][j] * d2[2][j]);
            let (s1, s2) = (d2[2][j] * shared, d1[2][j] * shared);
            rho1[0][j] = d1[0][j] * s1;
            rho1[1][j] = d1[1][j] * s1;
            rho2[0][j] = d2[0][j] * s2;
            rho2[1][j] = d2[1][j] * s2;
        }
        pair[0].accumulate(&rho1, &mut acc);
        pair[1].accumulate(&rho2, &mut acc);
    }
    if let Some(m) = last {
        let d = m.denominator(y);
        let rho = [0, 1].map(|i| std::array::from_fn(|j| d[i][j] / d[2][j]));
        m.accumulate(&rho, &mut acc);
    }
    acc
}

/// The nodes of a kernel of `len` taps, shared by every channel whatever its
/// step: with $g_k = \frac{2}{\Delta}\frac{1-\omega_k}{1+\omega_k} = i\,\frac{2}{\Delta}\,t_k$
/// (the bilinear nodes of [`bilinear_nodes`] at $\Delta = 2$), $t_k$ and
/// the bilinear factor $\frac{2}{1+\omega_k}$; `None` at $\omega = -1$,
/// whose node is infinite.
#[derive(Debug, Clone, PartialEq)]
pub struct Nodes {
    len: usize,
    nodes: Vec<Option<(f64, Complex<f64>)>>,
}

impl Nodes {
    /// The nodes $k = 0, \dots, \lfloor L/2 \rfloor$ of a kernel of `len` taps.
    pub fn new(len: usize) -> Self {
        let one = Complex::new(1.0, 0.0);
        let (omega, unit) = bilinear_nodes(2.0, len);
        let nodes = omega
            .iter()
            .zip(&unit)
            .map(|(w, g)| {
                ((one + w).norm() >= 1e-9).then(|| (g.im, 2.0 / (one + w)))
            })
            .collect();
        Nodes { len, nodes }
    }

    /// The kernel length $L$.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the kernel has no taps.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The half spectrum at `nodes` for the step `dt`: the folded sums of
/// `modes`, eight nodes at a time, then `resolvent(sums)` times the bilinear
/// factor; $\omega = -1$ takes `at_minus_one`.
fn half_spectrum<const S: usize>(
    modes: &[Mode<S>],
    (nodes, dt): (&Nodes, f64),
    at_minus_one: Complex<f64>,
    resolvent: impl Fn([Complex<f64>; S]) -> Complex<f64>,
) -> Vec<Complex<f64>> {
    let mut half = vec![Complex::new(0.0, 0.0); nodes.nodes.len()];
    for (group, out) in nodes.nodes.chunks(W).zip(half.chunks_mut(W)) {
        // An infinite node's lane computes at y = 0 and is replaced.
        let y: Lanes = std::array::from_fn(|j| {
            group
                .get(j)
                .copied()
                .flatten()
                .map_or(0.0, |(t, _)| t * (2.0 / dt))
        });
        let acc = folded_sums(modes, &y);
        for (j, (out, node)) in out.iter_mut().zip(group).enumerate() {
            *out = match node {
                Some((_, factor)) => {
                    let g = Complex::new(0.0, y[j]);
                    let sums = std::array::from_fn(|s| {
                        let [ar, ai, br, bi] = acc[s].map(|lane| lane[j]);
                        g * Complex::new(ar, ai) - Complex::new(br, bi)
                    });
                    resolvent(sums) * factor
                }
                None => at_minus_one,
            };
        }
    }
    half
}

/// The real $s$ with $B = sP$, if the input vector is a real multiple of
/// the rank-one correction (HiPPO-LegS: $B_n = \sqrt{2n+1} = \sqrt2\,P_n$).
fn input_is_multiple_of_p(dplr: &Dplr) -> Option<f64> {
    let p = dplr.p.column(0);
    let (n, _) = p
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.norm().total_cmp(&b.1.norm()))?;
    let s = (dplr.b[n] / p[n]).re;
    let close = dplr
        .b
        .iter()
        .zip(p.iter())
        .all(|(b, p)| (b - p * s).norm() <= 1e-12 * b.norm().max(1e-300));
    (s.is_finite() && close).then_some(s)
}

/// [`kernel_dplr`] for a rank-one DPLR system whose poles are off the
/// imaginary axis (HiPPO-LegS, whose $\mathrm{Re}\,\lambda = -\frac12$), at
/// the precomputed `nodes`: the folded Cauchy sums, the scalar Woodbury step
/// (with $B = sP$, as in LegS, two sums suffice: $k_{00} = s k_{01}$,
/// $k_{10} = s k_{11}$, and the result is $s\,k_{01}/(1 + k_{11})$), and a real
/// inverse FFT. Any other system (rank above one, a pole a node can hit) runs
/// [`kernel_dplr`] itself.
///
/// # Shapes
/// `c_tilde`: `(N/2,)` → `(nodes.len(),)`.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] if `dt` is not finite and positive.
///
/// # Panics
/// If `c_tilde` does not have one entry per mode.
pub fn kernel_dplr_fast(
    dplr: &Dplr,
    c_tilde: &[Complex<f64>],
    dt: f64,
    nodes: &Nodes,
) -> Result<Vec<f64>> {
    let dt = check_positive("dt", dt)?;
    let off_axis = dplr
        .lambda
        .iter()
        .all(|l| l.re.abs() > 1e-12 * (1.0 + l.norm()));
    if dplr.rank() != 1 || !off_axis || c_tilde.len() != dplr.lambda.len() {
        return kernel_dplr(dplr, c_tilde, dt, nodes.len);
    }
    let cb: Complex<f64> = c_tilde.iter().zip(&dplr.b).map(|(c, b)| c * b).sum();
    let at_minus_one = Complex::new(dt * cb.re, 0.0); // (Δ/2)·2 Re C̃B
    let one = Complex::new(1.0, 0.0);
    let kept = |n: usize| (dplr.lambda[n], c_tilde[n], dplr.b[n], dplr.p[(n, 0)]);
    let half = match input_is_multiple_of_p(dplr) {
        Some(s) => {
            let modes: Vec<Mode<2>> = (0..dplr.lambda.len())
                .map(|n| {
                    let (l, c, _, p) = kept(n);
                    Mode::new(l, [c * p, p.conj() * p])
                })
                .collect();
            half_spectrum(&modes, (nodes, dt), at_minus_one, |[k01, k11]| {
                k01 * s / (one + k11)
            })
        }
        None => {
            let modes: Vec<Mode<4>> = (0..dplr.lambda.len())
                .map(|n| {
                    let (l, c, b, p) = kept(n);
                    Mode::new(l, [c * b, c * p, p.conj() * b, p.conj() * p])
                })
                .collect();
            half_spectrum(
                &modes,
                (nodes, dt),
                at_minus_one,
                |[k00, k01, k10, k11]| k00 - k01 * k10 / (one + k11),
            )
        }
    };
    Ok(irfft(&half, nodes.len))
}
