//! The S4D layer: H channels, each a diagonal SSM with its own step Δ.

use nalgebra::{Complex, DMatrix, DVector};
use rayon::prelude::*;

use crate::support::fft::causal_conv_fft_columns_with;

use super::init::{S4dInit, check_pairs, eigenvalues, input_vector};
use super::kernel::vandermonde_kernel_fast;
use crate::error::{
    Error, Result, check_finite, check_positive, check_shape, check_size,
};
use crate::lssl::Rule;
use crate::lssl::discretize::discretize_diagonal;
use crate::support::rng::{log_uniform, normal_vector, seeded};
use crate::traits::{Convolutional, Recurrent};

/// The hyperparameters of an [`S4dLayer`].
#[derive(Debug, Clone, PartialEq)]
pub struct S4dConfig {
    /// Number of channels $H$ (≥ 1).
    pub channels: usize,
    /// Real state size $N$ per channel: even, ≥ 2 ($N/2$ complex modes).
    pub n: usize,
    /// The initialisation of $A$.
    pub init: S4dInit,
    /// The discretization (S4D uses ZOH by default, bilinear also works).
    pub rule: Rule,
    /// Smallest initial step (the papers: 1e-3).
    pub dt_min: f64,
    /// Largest initial step (the papers: 1e-1).
    pub dt_max: f64,
}

impl S4dConfig {
    /// The S4D defaults: ZOH, $\log\Delta \sim U[\log 10^{-3}, \log 10^{-1}]$.
    pub fn new(channels: usize, n: usize, init: S4dInit) -> Self {
        S4dConfig {
            channels,
            n,
            init,
            rule: Rule::Zoh,
            dt_min: 1e-3,
            dt_max: 1e-1,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        check_size("channels", self.channels)?;
        check_pairs(self.n)?;
        crate::error::check_values("C (channels × N)", &[self.channels, self.n])?;
        check_positive("dt_min", self.dt_min)?;
        check_positive("dt_max", self.dt_max)?;
        if self.dt_min > self.dt_max {
            return Err(Error::invalid("dt_min", self.dt_min, "≤ dt_max"));
        }
        Ok(())
    }
}

/// An S4D layer with $B$ from the initialisation ([`input_vector`]), complex Gaussian $C$, Gaussian skip $D$, and
/// each channel discretized once at construction.
#[derive(Debug, Clone, PartialEq)]
pub struct S4dLayer {
    /// The continuous eigenvalues $\lambda$, `(N/2,)`, shared by the channels.
    pub lambda: Vec<Complex<f64>>,
    /// $C$ of each channel, `H × (N/2,)`.
    pub c: Vec<Vec<Complex<f64>>>,
    /// The skip $D$ of each channel, `(H,)`.
    pub d: DVector<f64>,
    /// The step Δ of each channel, `(H,)`.
    pub dt: Vec<f64>,
    a_bar: Vec<Vec<Complex<f64>>>,
    b_bar: Vec<Vec<Complex<f64>>>,
}

impl S4dLayer {
    /// A randomly initialised layer.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] from [`S4dConfig::validate`].
    ///
    /// # Examples
    /// ```
    /// use ssm_lineage::s4d::{S4dConfig, S4dInit, S4dLayer};
    /// use ssm_lineage::support::rng::{normal_matrix, seeded};
    /// use ssm_lineage::traits::{Convolutional, Recurrent};
    /// let layer = S4dLayer::new(&S4dConfig::new(3, 16, S4dInit::Lin), 1)?;
    /// let u = normal_matrix(&mut seeded(2), 100, 3, 1.0);
    /// assert!((layer.convolve(&u) - layer.scan(&u)).amax() < 1e-9);
    /// # Ok::<(), ssm_lineage::Error>(())
    /// ```
    pub fn new(config: &S4dConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let lambda = eigenvalues(config.init, config.n)?;
        let modes = lambda.len();
        let mut rng = seeded(seed);
        let b = input_vector(config.init, config.n)?;
        let (mut c, mut dt, mut a_bar, mut b_bar) = (vec![], vec![], vec![], vec![]);
        for _ in 0..config.channels {
            let re = normal_vector(&mut rng, modes, 0.5f64.sqrt());
            let im = normal_vector(&mut rng, modes, 0.5f64.sqrt());
            c.push(
                re.iter()
                    .zip(im.iter())
                    .map(|(r, i)| Complex::new(*r, *i))
                    .collect(),
            );
            let step = log_uniform(&mut rng, config.dt_min, config.dt_max);
            let (a, b) = discretize_diagonal(&lambda, &b, step, config.rule)?;
            dt.push(step);
            a_bar.push(a);
            b_bar.push(b);
        }
        let d = normal_vector(&mut rng, config.channels, 1.0);
        Ok(S4dLayer {
            lambda,
            c,
            d,
            dt,
            a_bar,
            b_bar,
        })
    }

    /// A layer from given parameters: the eigenvalues $\lambda$ and the input
    /// vector $B$ shared by the channels (kept halves, `(N/2,)` each), and each
    /// channel's $C$ (`(N/2,)`), skip $D$ and step Δ, discretized once by
    /// `rule`.
    ///
    /// # Errors
    /// [`Error::Tensor`] if a length disagrees (naming it and both lengths);
    /// [`Error::InvalidParameter`] for no channels, no modes or a step that
    /// is not finite and positive; [`Error::NonFinite`] for a NaN or
    /// infinite value.
    pub fn from_parameters(
        rule: Rule,
        (lambda, b): (Vec<Complex<f64>>, Vec<Complex<f64>>),
        c: Vec<Vec<Complex<f64>>>,
        d: DVector<f64>,
        dt: Vec<f64>,
    ) -> Result<Self> {
        let (modes, channels) = (lambda.len(), c.len());
        check_size("modes", modes)?;
        check_size("channels", channels)?;
        check_shape("B", (modes, 1), (b.len(), 1))?;
        check_shape("D", (channels, 1), d.shape())?;
        check_shape("dt", (channels, 1), (dt.len(), 1))?;
        for (h, ch) in c.iter().enumerate() {
            check_shape(&format!("C of channel {h}"), (modes, 1), (ch.len(), 1))?;
        }
        let parts: Vec<f64> = lambda
            .iter()
            .chain(&b)
            .chain(c.iter().flatten())
            .flat_map(|z| [z.re, z.im])
            .chain(d.iter().copied())
            .collect();
        check_finite("the layer's parameters", parts.iter())?;
        let (mut a_bar, mut b_bar) = (Vec::new(), Vec::new());
        for &step in &dt {
            let (a, bb) =
                discretize_diagonal(&lambda, &b, check_positive("dt", step)?, rule)?;
            a_bar.push(a);
            b_bar.push(bb);
        }
        Ok(S4dLayer {
            lambda,
            c,
            d,
            dt,
            a_bar,
            b_bar,
        })
    }

    /// Channel `h`'s kernel by the fast Vandermonde route.
    fn channel_kernel(&self, h: usize, len: usize) -> Vec<f64> {
        let w: Vec<Complex<f64>> = self.c[h]
            .iter()
            .zip(&self.b_bar[h])
            .map(|(c, b)| c * b)
            .collect();
        vandermonde_kernel_fast(&self.a_bar[h], &w, len)
    }

    /// The number of channels $H$.
    pub fn width(&self) -> usize {
        self.dt.len()
    }

    /// The discretized $\bar\lambda$ and $\bar B$ of channel `h`.
    pub fn discretized(&self, h: usize) -> (&[Complex<f64>], &[Complex<f64>]) {
        (&self.a_bar[h], &self.b_bar[h])
    }
}

impl Recurrent for S4dLayer {
    type State = Vec<Vec<Complex<f64>>>;

    fn init_state(&self) -> Self::State {
        vec![vec![Complex::new(0.0, 0.0); self.lambda.len()]; self.width()]
    }

    /// Implements Eq. (D2): $x_{n,k} = \bar\lambda_n x_{n,k-1} + \bar B_n u_k$,
    /// $y_k = 2\,\mathrm{Re}\sum_n C_n x_{n,k} + D u_k$, per channel.
    // ANCHOR: s4d_step
    fn step(&self, state: &mut Self::State, u_t: &DVector<f64>) -> DVector<f64> {
        assert_eq!(
            u_t.len(),
            self.width(),
            "S4dLayer::step: u_t ({},) vs {} channels",
            u_t.len(),
            self.width()
        );
        DVector::from_fn(self.width(), |h, _| {
            let (a, b, c) = (&self.a_bar[h], &self.b_bar[h], &self.c[h]);
            let mut y = Complex::new(0.0, 0.0);
            for (n, x_n) in state[h].iter_mut().enumerate() {
                *x_n = a[n] * *x_n + b[n] * u_t[h]; // x_n ← λ̄_n x_n + B̄_n u
                y += c[n] * *x_n;
            }
            2.0 * y.re + self.d[h] * u_t[h]
        })
    }
    // ANCHOR_END: s4d_step
}

impl Convolutional for S4dLayer {
    /// Every channel's kernel by the fast Vandermonde product, channels in
    /// parallel (rayon).
    fn kernel(&self, len: usize) -> DMatrix<f64> {
        crate::support::shapes::fits("S4dLayer::kernel", len, self.width());
        let columns: Vec<Vec<f64>> = (0..self.width())
            .into_par_iter()
            .map(|h| self.channel_kernel(h, len))
            .collect();
        DMatrix::from_fn(len, self.width(), |l, h| columns[h][l])
    }

    /// The fused fast path: each channel's kernel is built inside the
    /// parallel FFT loop and used at once, so the `(len, H)` kernel matrix is
    /// never stored. Equal to the provided `convolve` (kernel, then
    /// [`causal_conv_fft_columns`](crate::support::fft::causal_conv_fft_columns)).
    ///
    /// # Panics
    /// If `u` does not have one column per channel.
    fn convolve(&self, u: &DMatrix<f64>) -> DMatrix<f64> {
        assert_eq!(
            u.ncols(),
            self.width(),
            "S4dLayer::convolve: input has shape {:?} but the layer has {} channels",
            u.shape(),
            self.width()
        );
        let mut y = causal_conv_fft_columns_with(u, |h, signal| {
            signal.copy_from_slice(&self.channel_kernel(h, signal.len()));
        });
        for (h, mut column) in y.column_iter_mut().enumerate() {
            column.axpy(self.d[h], &u.column(h), 1.0);
        }
        y
    }

    fn skip(&self) -> DVector<f64> {
        self.d.clone()
    }
}
