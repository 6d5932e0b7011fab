//! One linear S4D layer as a model of a real signal, for S4's
//! initialisation ablation (the delay task): the input fed to every channel,
//! each channel's S4D convolution, and a learned mix of the channels.

use nalgebra::{Complex, DMatrix, DVector};

use super::lm::{Metrics, Trainable};
use super::loss::mean_squared_error;
use super::rnn::SignalExample;
use crate::error::{Error, Result};
use crate::s4d::learn::S4dParams;
use crate::support::rng::{normal_vector, seeded};
use crate::traits::{Param, ParamMut, Parameters};

/// $y_t = \sum_h w_h\big((\bar K_h * u)_t + D_h u_t\big) + b$: one input, `H`
/// S4D channels, one output.
#[derive(Debug, Clone, PartialEq)]
pub struct S4dMix {
    /// The S4D layer, `H` channels.
    pub s4d: S4dParams,
    /// The output mix, `(H,)`.
    pub mix: DVector<f64>,
    /// The output bias, `(1,)`.
    pub bias: DVector<f64>,
}

impl S4dMix {
    /// The model around `s4d`, with the mix drawn from $\mathcal N(0, 1/H)$.
    pub fn new(s4d: S4dParams, seed: u64) -> Self {
        let h = s4d.channels();
        let mix = normal_vector(&mut seeded(seed), h, (1.0 / h as f64).sqrt());
        S4dMix {
            s4d,
            mix,
            bias: DVector::zeros(1),
        }
    }

    /// The input `(len, 1)` copied to every channel, `(len, H)`.
    fn broadcast(&self, u: &DMatrix<f64>) -> DMatrix<f64> {
        assert_eq!(
            u.ncols(),
            1,
            "S4dMix: input {:?}, one column expected",
            u.shape()
        );
        DMatrix::from_fn(u.nrows(), self.s4d.channels(), |t, _| u[(t, 0)])
    }

    /// The output, `(len, 1)`, and the channels' outputs `(len, H)`.
    ///
    /// Implements Eq. (G11).
    ///
    /// # Panics
    /// If `u` does not have one column.
    pub fn forward(&self, u: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
        self.forward_with(&self.s4d.kernel(u.nrows()), u)
    }

    /// [`S4dMix::forward`] with the channels' kernels computed already.
    fn forward_with(
        &self,
        k: &DMatrix<f64>,
        u: &DMatrix<f64>,
    ) -> (DMatrix<f64>, DMatrix<f64>) {
        let y = self.s4d.convolve(k, &self.broadcast(u));
        let out = (&y * &self.mix).add_scalar(self.bias[0]);
        (DMatrix::from_column_slice(u.nrows(), 1, out.as_slice()), y)
    }

    /// How much of the loss's gradient reaches the state $k$ steps back: for
    /// $k = 0, \dots,$ `max_lag`, the mean over the scored positions $t \ge k$
    /// of $\lVert \partial \ell_t / \partial x_{t-k} \rVert$, with
    /// $\ell_t = (y_t - y^\star_t)^2$ and every channel's complex modes taken
    /// as pairs of real numbers (NaN where no position has $t \ge k$).
    ///
    /// Mode $m$ of channel $h$ reaches the output $k$ steps later through
    /// $2 w_h \mathrm{Re}(C_{hm} \bar\lambda_{hm}^k x)$, so the gradient's norm
    /// is $2|e_t| \big(\sum_{h,m} 4 w_h^2 |C_{hm}|^2
    /// |\bar\lambda_{hm}|^{2k}\big)^{1/2}$: one power of
    /// $|\bar\lambda| = e^{\Delta \mathrm{Re}\lambda}$ per mode where the RNN
    /// has a product of $k$ Jacobians.
    ///
    /// # Panics
    /// If an input does not have one column.
    // ANCHOR: s4d_state_gradient_by_lag
    pub fn state_gradient_by_lag(
        &self,
        batch: &[SignalExample],
        max_lag: usize,
    ) -> Vec<f64> {
        let s4d = &self.s4d;
        let reach = |k: usize| -> f64 {
            let mut sum = 0.0;
            for h in 0..s4d.channels() {
                let dt = s4d.log_dt[h].exp();
                for m in 0..s4d.log_a_real.ncols() {
                    let [lambda, _, c] = s4d.mode(h, m);
                    let decay = (dt * lambda.re * k as f64).exp(); // |λ̄|^k
                    sum += (2.0 * self.mix[h] * c.norm() * decay).powi(2);
                }
            }
            sum.sqrt()
        };
        let (mut sums, mut counts) =
            (vec![0.0; max_lag + 1], vec![0usize; max_lag + 1]);
        for e in batch {
            let (out, _) = self.forward(&e.input);
            for t in e.from..e.input.nrows() {
                let error = 2.0 * (out[(t, 0)] - e.target[(t, 0)]).abs();
                for k in 0..=max_lag.min(t) {
                    sums[k] += error;
                    counts[k] += 1;
                }
            }
        }
        (0..=max_lag)
            .map(|k| sums[k] / counts[k] as f64 * reach(k))
            .collect()
    }
    // ANCHOR_END: s4d_state_gradient_by_lag
}

/// Modes of a diagonal layer: the eigenvalues $\lambda$ (one of each
/// conjugate pair) and their inputs $B$.
pub type Modes = (Vec<Complex<f64>>, Vec<Complex<f64>>);

/// `n / 2` modes of $G/\sqrt{2n} - I$ for a Gaussian $n \times n$ matrix
/// $G$ (one of each conjugate pair: the eigenvalues with the largest
/// imaginary parts), with inputs $B = 1$: the "random" row of the delay
/// ablation. The circular law puts them in a disc of radius about
/// $1/\sqrt 2$ around $-1$, so the real parts are negative; for a small `n`
/// the spread is wider, and a mode with $\mathrm{Re}\,\lambda > -10^{-3}$ is
/// reflected to $-\max(|\mathrm{Re}\,\lambda|, 10^{-3})$.
///
/// # Errors
/// A state size that is not even and at least 2.
pub fn random_modes(n: usize, seed: u64) -> Result<Modes> {
    if n < 2 || !n.is_multiple_of(2) {
        return Err(Error::invalid("n", n, "even and ≥ 2"));
    }
    let mut rng = seeded(seed);
    let g = normal_vector(&mut rng, n * n, 1.0);
    let scale = 1.0 / (2.0 * n as f64).sqrt();
    let a = DMatrix::from_fn(n, n, |i, j| {
        g[i * n + j] * scale - if i == j { 1.0 } else { 0.0 }
    });
    let mut lambda: Vec<Complex<f64>> =
        a.complex_eigenvalues().iter().copied().collect();
    lambda.sort_by(|x, y| y.im.total_cmp(&x.im));
    lambda.truncate(n / 2);
    // For small n the disc's edge can cross the imaginary axis: such a mode
    // is reflected into the left half-plane (at least 1e-3 from the axis).
    for l in &mut lambda {
        if l.re > -1e-3 {
            l.re = -l.re.abs().max(1e-3);
        }
    }
    let b = vec![Complex::new(1.0, 0.0); n / 2];
    Ok((lambda, b))
}

impl Parameters for S4dMix {
    fn parameters(&self) -> Vec<Param<'_>> {
        let mut p = self.s4d.parameters();
        p.push(Param::of("mix", &self.mix));
        p.push(Param::of("bias", &self.bias));
        p
    }

    fn parameters_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut p = self.s4d.parameters_mut();
        p.push(ParamMut::of("mix", &mut self.mix));
        p.push(ParamMut::of("bias", &mut self.bias));
        p
    }
}

impl Trainable for S4dMix {
    type Batch = Vec<SignalExample>;

    /// The mean squared error over the scored rows of the batch; the gradient
    /// through the mix, then the S4D layer's over the whole batch at once
    /// ([`S4dParams::backward_batch`]).
    ///
    /// # Errors
    /// A batch whose sequences differ in length or are not one column wide.
    fn loss_and_gradients(
        &self,
        batch: &Vec<SignalExample>,
    ) -> Result<(Metrics, Self)> {
        let Some(first) = batch.first() else {
            return Ok((Metrics::default(), self.zeros_like()));
        };
        let shape = first.input.shape();
        if let Some(e) = batch.iter().find(|e| {
            e.input.shape() != shape || shape.1 != 1 || e.target.shape() != shape
        }) {
            return Err(Error::invalid(
                "batch",
                format!(
                    "input {:?} and target {:?} beside {shape:?}",
                    e.input.shape(),
                    e.target.shape()
                ),
                "sequences of one length, one column each",
            ));
        }
        let scored: usize =
            batch.iter().map(|e| shape.0.saturating_sub(e.from)).sum();
        let k = self.s4d.kernel(shape.0);
        let mut grads = self.zeros_like();
        let mut metrics = Metrics {
            scored,
            ..Metrics::default()
        };
        let mut pairs = Vec::with_capacity(batch.len());
        for e in batch {
            let (out, y) = self.forward_with(&k, &e.input);
            let loss = mean_squared_error(&out, &e.target, e.from);
            let weight = loss.scored as f64 / scored.max(1) as f64;
            metrics.loss += loss.loss * weight;
            metrics.tokens += shape.0;
            let dout = loss.grad.column(0) * weight;
            grads.mix += y.tr_mul(&dout);
            grads.bias[0] += dout.sum();
            pairs.push((self.broadcast(&e.input), &dout * self.mix.transpose()));
        }
        grads.s4d = self.s4d.backward_batch(&pairs);
        Ok((metrics, grads))
    }

    fn config_json(&self) -> serde_json::Value {
        serde_json::json!({
            "model_type": "s4d_mix",
            "channels": self.s4d.channels(),
            "modes": self.s4d.log_a_real.ncols(),
        })
    }
}

/// The normalised squared error of `model` on `examples`: the squared error
/// over the scored rows divided by the target's squared sum there (1 for a
/// model that predicts zero; NaN when nothing is scored).
pub fn normalised_error(model: &S4dMix, examples: &[SignalExample]) -> f64 {
    let (mut err, mut norm) = (0.0, 0.0);
    for e in examples {
        let (out, _) = model.forward(&e.input);
        for t in e.from..e.input.nrows() {
            err += (out[(t, 0)] - e.target[(t, 0)]).powi(2);
            norm += e.target[(t, 0)].powi(2);
        }
    }
    err / norm
}
