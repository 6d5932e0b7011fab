//! The S4D layer as it is trained: every channel's eigenvalues, $B$, $C$,
//! step and skip are parameters, the kernel is computed from them at every
//! step (Eq. D1), and the gradient flows back through the FFT convolution
//! and the Vandermonde kernel to each of them.
//!
//! The parameterisation is the S4D paper's: $\lambda = -e^{a} + i\theta$ with
//! $a$ (`log_A_real`) and $\theta$ (`A_imag`) free, so the real part stays
//! negative whatever a gradient step does, and $\Delta = e^{\log\Delta}$.

use nalgebra::{Complex, DMatrix, DVector};

use super::init::{S4dInit, eigenvalues, input_vector};
use crate::error::{Error, Result};
use crate::support::fft::causal_conv_fft;
use crate::support::rng::{log_uniform, normal_vector, seeded};
use crate::traits::{Param, ParamMut, Parameters};

/// A learnable S4D layer: `H` channels of `N/2` complex modes, ZOH.
#[derive(Debug, Clone, PartialEq)]
pub struct S4dParams {
    /// $\log(-\mathrm{Re}\,\lambda)$, `(H, N/2)`.
    pub log_a_real: DMatrix<f64>,
    /// $\mathrm{Im}\,\lambda$, `(H, N/2)`.
    pub a_imag: DMatrix<f64>,
    /// $\mathrm{Re}\,B$ and $\mathrm{Im}\,B$, `(H, N/2)` each.
    pub b: (DMatrix<f64>, DMatrix<f64>),
    /// $\mathrm{Re}\,C$ and $\mathrm{Im}\,C$, `(H, N/2)` each.
    pub c: (DMatrix<f64>, DMatrix<f64>),
    /// $\log\Delta$, `(H,)`.
    pub log_dt: DVector<f64>,
    /// The skip $D$, `(H,)`.
    pub d: DVector<f64>,
}

impl S4dParams {
    /// A layer initialised as the S4D paper does: every channel's $\lambda$
    /// and $B$ from `init` (chapter 5), $C \sim \mathcal{CN}(0, 1)$,
    /// $\Delta$ log-uniform in $[10^{-3}, 10^{-1}]$, $D \sim \mathcal N(0, 1)$.
    ///
    /// # Errors
    /// No channels, a state size that is not even and positive, or an
    /// initialisation with an eigenvalue whose real part is not negative.
    pub fn new(channels: usize, n: usize, init: S4dInit, seed: u64) -> Result<Self> {
        crate::error::check_size("channels", channels)?;
        let (lambda, b) = (eigenvalues(init, n)?, input_vector(init, n)?);
        if !lambda.iter().all(|l| l.re < 0.0) {
            return Err(Error::invalid(
                "init",
                format!("{init:?}"),
                "eigenvalues with Re λ < 0",
            ));
        }
        Self::from_modes(channels, &lambda, &b, seed)
    }

    /// A layer whose every channel starts from the modes `lambda` (one of each
    /// conjugate pair) with inputs `b`; $C$, $\Delta$ and $D$ drawn as in
    /// [`S4dParams::new`]. For initialisations the crate does not name, such
    /// as the eigenvalues of a random matrix.
    ///
    /// # Errors
    /// No channels or no modes, `lambda` and `b` of different lengths, an
    /// eigenvalue whose real part is not negative (or not finite), or a
    /// non-finite `b`.
    pub fn from_modes(
        channels: usize,
        lambda: &[Complex<f64>],
        b: &[Complex<f64>],
        seed: u64,
    ) -> Result<Self> {
        crate::error::check_size("channels", channels)?;
        crate::error::check_size("modes", lambda.len())?;
        crate::error::check_values("channels × modes", &[channels, lambda.len()])?;
        if b.len() != lambda.len() {
            return Err(Error::invalid("b", b.len(), "one input weight per mode"));
        }
        crate::error::check_finite("b", b.iter().flat_map(|z| [&z.re, &z.im]))?;
        if !lambda
            .iter()
            .all(|l| l.re < 0.0 && l.re.is_finite() && l.im.is_finite())
        {
            return Err(Error::invalid(
                "lambda",
                "an eigenvalue with Re λ ≥ 0",
                "eigenvalues with Re λ < 0",
            ));
        }
        let modes = lambda.len();
        let mut rng = seeded(seed);
        let each = |f: &dyn Fn(usize) -> f64| {
            DMatrix::from_fn(channels, modes, |_, k| f(k))
        };
        let c_re = normal_vector(&mut rng, channels * modes, 0.5f64.sqrt());
        let c_im = normal_vector(&mut rng, channels * modes, 0.5f64.sqrt());
        Ok(S4dParams {
            log_a_real: each(&|k| (-lambda[k].re).ln()),
            a_imag: each(&|k| lambda[k].im),
            b: (each(&|k| b[k].re), each(&|k| b[k].im)),
            c: (
                DMatrix::from_column_slice(channels, modes, c_re.as_slice()),
                DMatrix::from_column_slice(channels, modes, c_im.as_slice()),
            ),
            log_dt: DVector::from_fn(channels, |_, _| {
                log_uniform(&mut rng, 1e-3, 1e-1).ln()
            }),
            d: normal_vector(&mut rng, channels, 1.0),
        })
    }

    /// The number of channels $H$.
    pub fn channels(&self) -> usize {
        self.d.len()
    }

    /// Channel `h`'s continuous eigenvalue, input and output weight of mode `k`.
    pub fn mode(&self, h: usize, k: usize) -> [Complex<f64>; 3] {
        [
            Complex::new(-self.log_a_real[(h, k)].exp(), self.a_imag[(h, k)]),
            Complex::new(self.b.0[(h, k)], self.b.1[(h, k)]),
            Complex::new(self.c.0[(h, k)], self.c.1[(h, k)]),
        ]
    }

    /// Mode `k` of channel `h` discretized by ZOH: $\bar\lambda = e^{\Delta\lambda}$ and
    /// the weight $W = C\bar B$ with $\bar B = (\bar\lambda - 1)\lambda^{-1} B$.
    fn discretized(&self, h: usize, k: usize) -> (Complex<f64>, Complex<f64>) {
        let [lambda, b, c] = self.mode(h, k);
        let a_bar = (lambda * self.log_dt[h].exp()).exp();
        (a_bar, c * (a_bar - 1.0) / lambda * b)
    }

    /// Every channel's kernel, `(len, H)` (Eq. D1, ZOH).
    ///
    /// # Panics
    /// A `len` too large to allocate (over $2^{32}$ values) panics, naming the limit.
    pub fn kernel(&self, len: usize) -> DMatrix<f64> {
        crate::support::shapes::fits("S4dParams::kernel", len, self.channels());
        let mut k = DMatrix::zeros(len, self.channels());
        for h in 0..self.channels() {
            for m in 0..self.log_a_real.ncols() {
                let (a_bar, w) = self.discretized(h, m);
                let mut power = w; // W λ̄^k
                for l in 0..len {
                    k[(l, h)] += 2.0 * power.re;
                    power *= a_bar;
                }
            }
        }
        k
    }

    /// The layer's convolution view: $y = \bar K * u + D u$ per channel, by FFT.
    ///
    /// # Panics
    /// If `u` does not have one column per channel.
    pub fn forward(&self, u: &DMatrix<f64>) -> DMatrix<f64> {
        self.convolve(&self.kernel(u.nrows()), u)
    }

    /// [`S4dParams::forward`] with the kernel `k` (`(len, H)`, from
    /// [`S4dParams::kernel`]) already computed, for a batch of sequences.
    ///
    /// # Panics
    /// If `u` does not have one column per channel, or `k` is not `u`'s shape.
    pub fn convolve(&self, k: &DMatrix<f64>, u: &DMatrix<f64>) -> DMatrix<f64> {
        self.check_input(u);
        assert_eq!(
            k.shape(),
            u.shape(),
            "S4dParams::convolve: kernel {:?} vs input {:?}",
            k.shape(),
            u.shape()
        );
        let columns: Vec<DVector<f64>> = (0..self.channels())
            .map(|h| {
                let (kh, uh) = (k.column(h), u.column(h));
                DVector::from_vec(causal_conv_fft(kh.as_slice(), uh.as_slice()))
                    + uh * self.d[h]
            })
            .collect();
        DMatrix::from_columns(&columns)
    }

    fn check_input(&self, u: &DMatrix<f64>) {
        assert_eq!(
            u.ncols(),
            self.channels(),
            "S4dParams: input {:?} for {} channels",
            u.shape(),
            self.channels()
        );
    }

    /// The backward pass of [`S4dParams::forward`]: the input's gradient and
    /// every parameter's, as a layer of the same shapes.
    ///
    /// Implements Eq. (G8): $\partial\bar K_k = \sum_t \partial y_t\,u_{t-k}$ and
    /// $\partial u_s = \sum_k \partial y_{s+k}\,\bar K_k + D\,\partial y_s$
    /// (correlations, by FFT on reversed sequences); then through
    /// $\bar K_k = 2\,\mathrm{Re}\sum_n W_n\bar\lambda_n^k$:
    /// $g_W = 2\,\overline{\textstyle\sum_k \partial\bar K_k\,\bar\lambda^k}$,
    /// $g_{\bar\lambda} = 2\,\overline{W \textstyle\sum_k k\,\partial\bar K_k\,\bar\lambda^{k-1}}$,
    /// and the chain rule $g_z = \overline{\partial w/\partial z}\; g_w$ for each holomorphic step.
    ///
    /// # Panics
    /// If `u` and `dy` differ in shape or do not have one column per channel.
    ///
    /// # References
    /// S4D §3 and its `s4d.py` (`log_A_real`, `A_imag`, `log_dt`); the
    /// gradient convention $g = \partial\ell/\partial\mathrm{Re} + i\,\partial\ell/\partial\mathrm{Im}$ is PyTorch's.
    // ANCHOR: s4d_backward
    pub fn backward(
        &self,
        u: &DMatrix<f64>,
        dy: &DMatrix<f64>,
    ) -> (DMatrix<f64>, S4dParams) {
        self.check_input(u);
        assert_eq!(
            u.shape(),
            dy.shape(),
            "S4dParams::backward: u {:?} vs dy {:?}",
            u.shape(),
            dy.shape()
        );
        let len = u.nrows();
        let k = self.kernel(len);
        let mut g = self.zeros_like();
        let mut du = DMatrix::zeros(len, self.channels());
        for h in 0..self.channels() {
            let (uh, dyh) = (u.column(h), dy.column(h));
            g.d[h] = uh.dot(&dyh);
            let dk = correlate(dyh.as_slice(), uh.as_slice());
            let dx = correlate(dyh.as_slice(), k.column(h).as_slice());
            du.set_column(h, &(DVector::from_vec(dx) + dyh * self.d[h]));
            for m in 0..self.log_a_real.ncols() {
                self.mode_backward(h, m, &dk, &mut g);
            }
        }
        (du, g)
    }
    // ANCHOR_END: s4d_backward

    /// The parameters' gradient over a batch of `(u, dy)` pairs: the sum of
    /// [`S4dParams::backward`]'s, computed with the kernel's gradient summed
    /// over the batch first (the chain rule from the kernel to the modes is
    /// linear in it, and it is the costly part: `H · N/2 · L` powers).
    ///
    /// # Panics
    /// As [`S4dParams::backward`], for any pair.
    pub fn backward_batch(
        &self,
        batch: &[(DMatrix<f64>, DMatrix<f64>)],
    ) -> S4dParams {
        let mut g = self.zeros_like();
        let Some((first, _)) = batch.first() else {
            return g;
        };
        let len = first.nrows();
        let mut dk = vec![vec![0.0; len]; self.channels()];
        for (u, dy) in batch {
            self.check_input(u);
            assert_eq!(
                (u.shape(), dy.shape()),
                (first.shape(), first.shape()),
                "S4dParams::backward_batch: u {:?} and dy {:?}, the batch's shape {:?}",
                u.shape(),
                dy.shape(),
                first.shape()
            );
            for (h, dk_h) in dk.iter_mut().enumerate() {
                let (uh, dyh) = (u.column(h), dy.column(h));
                g.d[h] += uh.dot(&dyh);
                let part = correlate(dyh.as_slice(), uh.as_slice());
                dk_h.iter_mut().zip(part).for_each(|(a, b)| *a += b);
            }
        }
        for (h, dk_h) in dk.iter().enumerate() {
            for m in 0..self.log_a_real.ncols() {
                self.mode_backward(h, m, dk_h, &mut g);
            }
        }
        g
    }

    /// Mode `m` of channel `h`: from the kernel's gradient to the mode's
    /// parameters (added into `g`).
    fn mode_backward(&self, h: usize, m: usize, dk: &[f64], g: &mut S4dParams) {
        let [lambda, b, c] = self.mode(h, m);
        let dt = self.log_dt[h].exp();
        let (a_bar, w) = self.discretized(h, m);
        let (mut s, mut t, mut power) = (
            Complex::default(),
            Complex::default(),
            Complex::new(1.0, 0.0),
        );
        for (l, &d) in dk.iter().enumerate() {
            s += power * d; // Σ_k ∂K_k λ̄^k
            if let Some(&next) = dk.get(l + 1) {
                t += power * (next * (l + 1) as f64); // Σ_k k ∂K_k λ̄^{k−1}
            }
            power *= a_bar;
        }
        let one = Complex::new(1.0, 0.0);
        let g_w: Complex<f64> = s.conj() * 2.0;
        let mut g_a_bar: Complex<f64> = (w * t).conj() * 2.0;
        let b_bar: Complex<f64> = (a_bar - one) / lambda * b;
        let g_c: Complex<f64> = b_bar.conj() * g_w;
        let g_b_bar: Complex<f64> = c.conj() * g_w;
        let g_b: Complex<f64> = ((a_bar - one) / lambda).conj() * g_b_bar;
        g_a_bar += (b / lambda).conj() * g_b_bar;
        let mut g_lambda: Complex<f64> =
            (-(a_bar - one) * b / (lambda * lambda)).conj() * g_b_bar;
        g_lambda += (a_bar * dt).conj() * g_a_bar;
        let d_dt = (g_a_bar.conj() * lambda * a_bar).re;
        // Re λ = −e^a: ∂ℓ/∂a = Re(g_λ) · ∂Re λ/∂a = Re(g_λ) · Re λ.
        g.log_a_real[(h, m)] += lambda.re * g_lambda.re;
        g.a_imag[(h, m)] += g_lambda.im;
        g.b.0[(h, m)] += g_b.re;
        g.b.1[(h, m)] += g_b.im;
        g.c.0[(h, m)] += g_c.re;
        g.c.1[(h, m)] += g_c.im;
        g.log_dt[h] += d_dt * dt;
    }
}

/// $r_k = \sum_t x_{t+k}\, y_t$ for $k < L$: the correlation that a
/// causal convolution's backward pass needs, as a causal convolution of the
/// reversed `x` with `y`, read backwards (by FFT).
pub fn correlate(x: &[f64], y: &[f64]) -> Vec<f64> {
    let reversed: Vec<f64> = x.iter().rev().copied().collect();
    let mut r = causal_conv_fft(&reversed, y);
    r.reverse();
    r
}

impl Parameters for S4dParams {
    fn parameters(&self) -> Vec<Param<'_>> {
        vec![
            Param::of("log_A_real", &self.log_a_real),
            Param::of("A_imag", &self.a_imag),
            Param::of("B.re", &self.b.0),
            Param::of("B.im", &self.b.1),
            Param::of("C.re", &self.c.0),
            Param::of("C.im", &self.c.1),
            Param::of("log_dt", &self.log_dt),
            Param::of("D", &self.d),
        ]
    }

    fn parameters_mut(&mut self) -> Vec<ParamMut<'_>> {
        vec![
            ParamMut::of("log_A_real", &mut self.log_a_real),
            ParamMut::of("A_imag", &mut self.a_imag),
            ParamMut::of("B.re", &mut self.b.0),
            ParamMut::of("B.im", &mut self.b.1),
            ParamMut::of("C.re", &mut self.c.0),
            ParamMut::of("C.im", &mut self.c.1),
            ParamMut::of("log_dt", &mut self.log_dt),
            ParamMut::of("D", &mut self.d),
        ]
    }
}
