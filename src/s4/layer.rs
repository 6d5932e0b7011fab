//! The S4 layer: H channels sharing the DPLR HiPPO matrix, each with its own
//! step Δ and output $\tilde C$; convolution mode through the S4 kernel, and
//! the recurrent step of S4's Theorem 2.

use nalgebra::{Complex, DMatrix, DVector};
use rayon::prelude::*;

use super::fast_kernel::{Nodes, kernel_dplr_fast};
use super::kernel::with_conjugates;
use super::nplr::{Dplr, nplr_legs};
use crate::error::{
    Error, Result, check_finite, check_positive, check_shape, check_size,
};
use crate::support::fft::causal_conv_fft_columns_with;
use crate::support::rng::{log_uniform, normal_vector, seeded};
use crate::traits::{Convolutional, Recurrent};

/// One channel's parameters and its precomputed recurrent step.
#[derive(Debug, Clone, PartialEq)]
pub struct S4Channel {
    /// The step Δ.
    pub dt: f64,
    /// $\tilde C = C(I - \bar A^L)$ over the kept modes, `(N/2,)` (the trained parameter).
    pub c_tilde: Vec<Complex<f64>>,
    /// The skip $D$.
    pub d: f64,
    /// $C = \tilde C(I - \bar A^L)^{-1}$ over all $N$ modes (for the recurrence).
    c_full: Vec<Complex<f64>>,
    /// $D_n = 1/(\frac{2}{\Delta} - \lambda_n)$ over all $N$ modes.
    resolvent: Vec<Complex<f64>>,
    /// $(I + P^* R P)^{-1}$, the Woodbury core, `(r, r)`.
    core: DMatrix<Complex<f64>>,
}

/// An S4 layer on HiPPO-LegS.
#[derive(Debug, Clone, PartialEq)]
pub struct S4Layer {
    /// The shared DPLR form (kept half of each pair).
    pub dplr: Dplr,
    /// The kernel length $L$ that $\tilde C$ is defined for.
    pub len: usize,
    /// The channels.
    pub channels: Vec<S4Channel>,
    lambda: Vec<Complex<f64>>,
    p: DMatrix<Complex<f64>>,
    b: Vec<Complex<f64>>,
    nodes: Nodes,
}

impl S4Layer {
    /// A random S4 layer: state size `n` (even), `channels` channels,
    /// $\log\Delta \sim U[\log 10^{-3}, \log 10^{-1}]$, $\tilde C$ complex
    /// Gaussian, $D$ Gaussian, for kernels of length `len`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for an odd or zero `n`, or zero
    /// `channels` or `len`.
    ///
    /// # Examples
    /// ```
    /// use ssm_lineage::s4::S4Layer;
    /// use ssm_lineage::support::rng::{normal_matrix, seeded};
    /// use ssm_lineage::traits::{Convolutional, Recurrent};
    /// // The two modes of S4: convolution with the kernel, and the recurrence.
    /// let layer = S4Layer::new(2, 8, 64, 1)?;
    /// let u = normal_matrix(&mut seeded(2), 64, 2, 1.0);
    /// assert!((layer.convolve(&u) - layer.scan(&u)).amax() < 1e-9);
    /// # Ok::<(), ssm_lineage::Error>(())
    /// ```
    pub fn new(channels: usize, n: usize, len: usize, seed: u64) -> Result<Self> {
        check_size("channels", channels)?;
        crate::error::check_values("C̃ (channels × n)", &[channels, n])?;
        let mut rng = seeded(seed);
        let parameters: Vec<(f64, Vec<Complex<f64>>, f64)> = (0..channels)
            .map(|_| {
                let dt = log_uniform(&mut rng, 1e-3, 1e-1);
                let re = normal_vector(&mut rng, n / 2, 0.5f64.sqrt());
                let im = normal_vector(&mut rng, n / 2, 0.5f64.sqrt());
                let c_tilde = re
                    .iter()
                    .zip(im.iter())
                    .map(|(r, i)| Complex::new(*r, *i))
                    .collect();
                (dt, c_tilde, normal_vector(&mut rng, 1, 1.0)[0])
            })
            .collect();
        S4Layer::from_parameters(n, len, &parameters)
    }

    /// A layer on HiPPO-LegS of state size `n` for kernels of length `len`
    /// from given channels: each channel's step Δ, its $\tilde C$ over the
    /// $N/2$ kept modes, and its skip $D$.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for an odd or zero `n`, no
    /// channels, a `len` of zero or above $2^{32} - 1$, or a step that is not
    /// finite and positive;
    /// [`crate::Error::Tensor`] for a $\tilde C$ of the wrong length;
    /// [`crate::Error::NonFinite`] for a NaN or infinite value.
    pub fn from_parameters(
        n: usize,
        len: usize,
        channels: &[(f64, Vec<Complex<f64>>, f64)],
    ) -> Result<Self> {
        check_size("channels", channels.len())?;
        check_size("len", len)?;
        if u32::try_from(len).is_err() {
            // Ā^L is computed with a u32 exponent: a silent truncation otherwise.
            return Err(Error::invalid("len", len, "at most 2^32 − 1"));
        }
        let dplr = nplr_legs(n)?;
        let half = dplr.lambda.len();
        let p = DMatrix::from_fn(2 * half, dplr.rank(), |i, j| {
            if i < half {
                dplr.p[(i, j)]
            } else {
                dplr.p[(i - half, j)].conj()
            }
        }); // (N, r), both halves
        let (lambda, b) = (with_conjugates(&dplr.lambda), with_conjugates(&dplr.b));
        let mut layer = S4Layer {
            dplr,
            len,
            channels: Vec::new(),
            lambda,
            p,
            b,
            nodes: Nodes::new(len),
        };
        for (h, (dt, c_tilde, d)) in channels.iter().enumerate() {
            check_positive("dt", *dt)?;
            check_shape(&format!("channel {h} C̃"), (half, 1), (c_tilde.len(), 1))?;
            let parts = c_tilde.iter().flat_map(|c| [c.re, c.im]).chain([*d]);
            check_finite("C̃ and D", parts.collect::<Vec<_>>().iter())?;
            let channel = layer.channel(*dt, c_tilde.clone(), *d);
            layer.channels.push(channel);
        }
        Ok(layer)
    }

    /// Precomputes a channel's recurrent step: the resolvent of the
    /// backward half step and $C$ recovered from $\tilde C$ with the dense
    /// $\bar A$ of the full $N$-mode system (once, at construction).
    fn channel(&self, dt: f64, c_tilde: Vec<Complex<f64>>, d: f64) -> S4Channel {
        let two_over_dt = Complex::new(2.0 / dt, 0.0);
        let resolvent: Vec<Complex<f64>> = self
            .lambda
            .iter()
            .map(|l| (two_over_dt - l).inv())
            .collect();
        let n = self.lambda.len();
        let r = self.p.ncols();
        let dp =
            DMatrix::from_diagonal(&DVector::from_vec(resolvent.clone())) * &self.p; // R P
        let core = (DMatrix::identity(r, r) + self.p.adjoint() * &dp)
            .try_inverse()
            .unwrap_or_else(|| {
                DMatrix::from_element(r, r, Complex::new(f64::NAN, 0.0))
            });
        let a = DMatrix::from_diagonal(&DVector::from_vec(self.lambda.clone()))
            - &self.p * self.p.adjoint();
        let eye = DMatrix::<Complex<f64>>::identity(n, n);
        let a_bar = (&eye * two_over_dt - &a)
            .lu()
            .solve(&(&eye * two_over_dt + &a))
            .unwrap_or_else(|| {
                DMatrix::from_element(n, n, Complex::new(f64::NAN, 0.0))
            });
        let power = a_bar.pow(self.len as u32);
        let c_tilde_full = DVector::from_vec(with_conjugates(&c_tilde));
        // C (I − Ā^L) = C̃  ⇔  (I − Ā^L)ᵀ Cᵀ = C̃ᵀ
        let c_full = (eye - power)
            .transpose()
            .lu()
            .solve(&c_tilde_full)
            .map(|c| c.iter().copied().collect())
            .unwrap_or_else(|| vec![Complex::new(f64::NAN, 0.0); n]);
        S4Channel {
            dt,
            c_tilde,
            d,
            c_full,
            resolvent,
            core,
        }
    }

    /// The number of channels $H$.
    pub fn width(&self) -> usize {
        self.channels.len()
    }
}

impl Recurrent for S4Layer {
    type State = Vec<Vec<Complex<f64>>>;

    fn init_state(&self) -> Self::State {
        vec![vec![Complex::new(0.0, 0.0); self.lambda.len()]; self.width()]
    }

    /// Implements Eq. (S7): $x_k = A_1\big(A_0 x_{k-1} + 2 B u_k\big)$ with
    /// $A_0 = \frac{2}{\Delta} I + \Lambda - PP^*$ and
    /// $A_1 = R - RP(1 + P^*RP)^{-1}P^*R$, $R = (\frac{2}{\Delta} - \Lambda)^{-1}$
    /// (the resolvent at $2/\Delta$): the bilinear step in $O(N)$;
    /// $y_k = \mathrm{Re}(C x_k) + D u_k$ ($D$ the skip).
    // ANCHOR: s4_step
    fn step(&self, state: &mut Self::State, u_t: &DVector<f64>) -> DVector<f64> {
        assert_eq!(
            u_t.len(),
            self.width(),
            "S4Layer::step: u_t ({},) vs {} channels",
            u_t.len(),
            self.width()
        );
        let (lambda, p, b) = (&self.lambda, &self.p, &self.b);
        DVector::from_fn(self.width(), |h, _| {
            let (ch, x, u) = (&self.channels[h], &mut state[h], u_t[h]);
            let two_over_dt = 2.0 / ch.dt;
            let p_x = p.adjoint() * DVector::from_column_slice(x); // P* x, (r,)
            let low_rank = p * p_x;
            // v = A0 x + 2Bu (forward half step, O(Nr))
            let v = (0..x.len()).map(|n| {
                (lambda[n] + two_over_dt) * x[n] - low_rank[n] + b[n] * (2.0 * u)
            });
            // x = A1 v = Rv − RP (I + P*RP)⁻¹ P* R v (backward half step, O(Nr))
            let rv = DVector::from_iterator(
                x.len(),
                ch.resolvent.iter().zip(v).map(|(r, v)| r * v),
            );
            let correction = p * (&ch.core * (p.adjoint() * &rv));
            for (n, x_n) in x.iter_mut().enumerate() {
                *x_n = rv[n] - ch.resolvent[n] * correction[n];
            }
            let y: Complex<f64> =
                ch.c_full.iter().zip(x.iter()).map(|(c, x)| c * x).sum();
            y.re + ch.d * u
        })
    }
    // ANCHOR_END: s4_step
}

impl Convolutional for S4Layer {
    /// The first `len` taps of every channel's S4 kernel (Eq. S6), by the
    /// fast route ([`kernel_dplr_fast`]: the same algorithm with its Cauchy
    /// sums folded over conjugate pairs; a test holds it to the readable
    /// [`super::kernel::kernel_dplr`]), channels in parallel.
    ///
    /// # Panics
    /// If `len` exceeds the length $L$ that $\tilde C$ was built for.
    fn kernel(&self, len: usize) -> DMatrix<f64> {
        assert!(
            len <= self.len,
            "S4Layer::kernel: {len} taps asked, but C̃ is defined for L = {}",
            self.len
        );
        let columns: Vec<Vec<f64>> = self
            .channels
            .par_iter()
            .map(|ch| {
                kernel_dplr_fast(&self.dplr, &ch.c_tilde, ch.dt, &self.nodes)
                    .unwrap_or_else(|_| vec![f64::NAN; self.len])
            })
            .collect();
        DMatrix::from_fn(len, self.width(), |l, h| columns[h][l])
    }

    /// The fused fast path, as S4D's: each channel's kernel is built inside
    /// the parallel FFT loop and used at once. Equal to the provided
    /// `convolve` (kernel, then
    /// [`causal_conv_fft_columns`](crate::support::fft::causal_conv_fft_columns)).
    ///
    /// # Panics
    /// If `u` does not have one column per channel, or is longer than the
    /// length $L$ that $\tilde C$ was built for.
    fn convolve(&self, u: &DMatrix<f64>) -> DMatrix<f64> {
        assert!(
            u.ncols() == self.width() && u.nrows() <= self.len,
            "S4Layer::convolve: input has shape {:?} but the layer has {} channels and L = {}",
            u.shape(),
            self.width(),
            self.len
        );
        let mut y = causal_conv_fft_columns_with(u, |h, signal| {
            let ch = &self.channels[h];
            match kernel_dplr_fast(&self.dplr, &ch.c_tilde, ch.dt, &self.nodes) {
                Ok(k) => signal.copy_from_slice(&k[..signal.len()]),
                Err(_) => signal.fill(f64::NAN),
            }
        });
        for (h, mut column) in y.column_iter_mut().enumerate() {
            column.axpy(self.channels[h].d, &u.column(h), 1.0);
        }
        y
    }

    fn skip(&self) -> DVector<f64> {
        DVector::from_iterator(self.width(), self.channels.iter().map(|c| c.d))
    }
}
