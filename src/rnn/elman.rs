//! The Elman RNN: a nonlinear recurrence with a linear readout.

use nalgebra::{DMatrix, DVector};

use crate::error::{Error, Result, check_finite, check_size};
use crate::support::rng::{normal_matrix, orthogonal, seeded};
use crate::traits::Recurrent;

/// Sizes and scales of a randomly initialised [`ElmanRnn`].
#[derive(Debug, Clone, PartialEq)]
pub struct RnnConfig {
    /// Hidden state size $n$ (≥ 1).
    pub hidden: usize,
    /// Input size (≥ 1).
    pub input: usize,
    /// Output size (≥ 1).
    pub output: usize,
    /// The spectral radius (and spectral norm) of $W_{hh}$, finite and ≥ 0:
    /// below 1 gradients vanish, above 1 they can explode.
    pub spectral_radius: f64,
    /// Standard deviation of the entries of $W_{uh}$, finite and ≥ 0.
    pub input_scale: f64,
}

impl RnnConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        check_size("hidden", self.hidden)?;
        check_size("input", self.input)?;
        check_size("output", self.output)?;
        crate::error::check_state_size(self.hidden)?;
        crate::error::check_values(
            "w_uh (hidden × input)",
            &[self.hidden, self.input],
        )?;
        crate::error::check_values(
            "w_hy (output × hidden)",
            &[self.output, self.hidden],
        )?;
        for (name, v) in [
            ("spectral_radius", self.spectral_radius),
            ("input_scale", self.input_scale),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(name, v, "finite and ≥ 0"));
            }
        }
        Ok(())
    }
}

/// An Elman RNN with weights $W_{hh}$, $W_{uh}$, $b_h$, $W_{hy}$, $b_y$.
#[derive(Debug, Clone, PartialEq)]
pub struct ElmanRnn {
    /// Recurrent weights, `(n, n)`.
    pub w_hh: DMatrix<f64>,
    /// Input weights, `(n, input)`.
    pub w_uh: DMatrix<f64>,
    /// Hidden bias, `(n,)`.
    pub b_h: DVector<f64>,
    /// Readout weights, `(output, n)`.
    pub w_hy: DMatrix<f64>,
    /// Readout bias, `(output,)`.
    pub b_y: DVector<f64>,
}

impl ElmanRnn {
    /// An RNN from given weights.
    ///
    /// # Errors
    /// [`Error::NonFinite`] if a weight is NaN or infinite.
    ///
    /// # Panics
    /// If the shapes do not fit together (the message names both shapes).
    pub fn new(
        w_hh: DMatrix<f64>,
        w_uh: DMatrix<f64>,
        b_h: DVector<f64>,
        w_hy: DMatrix<f64>,
        b_y: DVector<f64>,
    ) -> Result<Self> {
        let n = w_hh.nrows();
        assert!(
            w_hh.is_square(),
            "ElmanRnn::new: w_hh {:?} is not square",
            w_hh.shape()
        );
        assert_eq!(
            w_uh.nrows(),
            n,
            "ElmanRnn::new: w_uh {:?} vs w_hh {:?}",
            w_uh.shape(),
            w_hh.shape()
        );
        assert_eq!(
            b_h.len(),
            n,
            "ElmanRnn::new: b_h ({},) vs w_hh {:?}",
            b_h.len(),
            w_hh.shape()
        );
        assert_eq!(
            w_hy.ncols(),
            n,
            "ElmanRnn::new: w_hy {:?} vs w_hh {:?}",
            w_hy.shape(),
            w_hh.shape()
        );
        assert_eq!(
            b_y.len(),
            w_hy.nrows(),
            "ElmanRnn::new: b_y ({},) vs w_hy {:?}",
            b_y.len(),
            w_hy.shape()
        );
        check_size("n (the state size)", n)?;
        check_finite("w_hh", w_hh.iter())?;
        check_finite("w_uh", w_uh.iter())?;
        check_finite("b_h", b_h.iter())?;
        check_finite("w_hy", w_hy.iter())?;
        check_finite("b_y", b_y.iter())?;
        Ok(ElmanRnn {
            w_hh,
            w_uh,
            b_h,
            w_hy,
            b_y,
        })
    }

    /// A random RNN: $W_{hh} = \rho O$ with $O$ a random orthogonal matrix, so
    /// every singular value and eigenvalue modulus of $W_{hh}$ equals $\rho$;
    /// Gaussian input and readout weights; zero biases.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] from [`RnnConfig::validate`].
    pub fn random(config: &RnnConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = seeded(seed);
        let n = config.hidden;
        let w_hh = orthogonal(&mut rng, n) * config.spectral_radius;
        let w_uh = normal_matrix(&mut rng, n, config.input, config.input_scale);
        let w_hy =
            normal_matrix(&mut rng, config.output, n, 1.0 / (n as f64).sqrt());
        let (b_h, b_y) = (DVector::zeros(n), DVector::zeros(config.output));
        ElmanRnn::new(w_hh, w_uh, b_h, w_hy, b_y)
    }

    /// The hidden size $n$.
    pub fn hidden(&self) -> usize {
        self.w_hh.nrows()
    }

    /// One state update.
    ///
    /// Implements Eq. (R1): $h_t = \tanh(W_{hh} h_{t-1} + W_{uh} u_t + b_h)$.
    ///
    /// # Shapes
    /// `h_prev`: `(n,)`, `u_t`: `(input,)` → `(n,)`.
    ///
    /// # Panics
    /// If `u_t` does not have the input size.
    // ANCHOR: elman_step
    pub fn next_state(
        &self,
        h_prev: &DVector<f64>,
        u_t: &DVector<f64>,
    ) -> DVector<f64> {
        assert_eq!(
            u_t.len(),
            self.w_uh.ncols(),
            "ElmanRnn: u_t ({},) vs w_uh {:?}",
            u_t.len(),
            self.w_uh.shape()
        );
        (&self.w_hh * h_prev + &self.w_uh * u_t + &self.b_h).map(f64::tanh)
    }
    // ANCHOR_END: elman_step

    /// The readout.
    ///
    /// Implements Eq. (R2): $y_t = W_{hy} h_t + b_y$.
    ///
    /// # Shapes
    /// `(n,)` → `(output,)`.
    pub fn readout(&self, h_t: &DVector<f64>) -> DVector<f64> {
        &self.w_hy * h_t + &self.b_y
    }

    /// Every hidden state of the sequential forward pass: row `t` is $h_t$,
    /// the state after input row `t`, starting from `h0`.
    ///
    /// # Shapes
    /// `u`: `(len, input)`, `h0`: `(n,)` → `(len, n)`.
    ///
    /// # Panics
    /// If `u` has the wrong number of columns or `h0` the wrong length.
    ///
    /// # Examples
    /// ```
    /// use nalgebra::{DMatrix, DVector};
    /// use ssm_lineage::rnn::elman::{ElmanRnn, RnnConfig};
    /// let config = RnnConfig { hidden: 8, input: 1, output: 1, spectral_radius: 0.9, input_scale: 1.0 };
    /// let rnn = ElmanRnn::random(&config, 3)?;
    /// let h = rnn.hidden_states(&DMatrix::from_element(5, 1, 0.5), &DVector::zeros(8));
    /// assert_eq!(h.shape(), (5, 8));
    /// assert!(h.iter().all(|v| v.abs() < 1.0)); // tanh keeps every state in (−1, 1)
    /// # Ok::<(), ssm_lineage::Error>(())
    /// ```
    // ANCHOR: elman_forward
    pub fn hidden_states(
        &self,
        u: &DMatrix<f64>,
        h0: &DVector<f64>,
    ) -> DMatrix<f64> {
        assert_eq!(
            h0.len(),
            self.hidden(),
            "ElmanRnn: h0 ({},) vs n = {}",
            h0.len(),
            self.hidden()
        );
        let mut hs = DMatrix::zeros(u.nrows(), self.hidden()); // (len, n)
        let mut h = h0.clone();
        for t in 0..u.nrows() {
            h = self.next_state(&h, &u.row(t).transpose());
            hs.row_mut(t).copy_from(&h.transpose());
        }
        hs
    }
    // ANCHOR_END: elman_forward
}

impl Recurrent for ElmanRnn {
    type State = DVector<f64>;

    fn init_state(&self) -> DVector<f64> {
        DVector::zeros(self.hidden())
    }

    fn step(&self, state: &mut DVector<f64>, u_t: &DVector<f64>) -> DVector<f64> {
        *state = self.next_state(state, u_t);
        self.readout(state)
    }
}

impl crate::traits::Parameters for ElmanRnn {
    fn parameters(&self) -> Vec<crate::traits::Param<'_>> {
        use crate::traits::Param;
        vec![
            Param::of("w_hh", &self.w_hh),
            Param::of("w_uh", &self.w_uh),
            Param::of("b_h", &self.b_h),
            Param::of("w_hy", &self.w_hy),
            Param::of("b_y", &self.b_y),
        ]
    }

    fn parameters_mut(&mut self) -> Vec<crate::traits::ParamMut<'_>> {
        use crate::traits::ParamMut;
        vec![
            ParamMut::of("w_hh", &mut self.w_hh),
            ParamMut::of("w_uh", &mut self.w_uh),
            ParamMut::of("b_h", &mut self.b_h),
            ParamMut::of("w_hy", &mut self.w_hy),
            ParamMut::of("b_y", &mut self.b_y),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RnnConfig {
        RnnConfig {
            hidden: 4,
            input: 2,
            output: 3,
            spectral_radius: 0.9,
            input_scale: 1.0,
        }
    }

    #[test]
    fn random_weights_have_the_asked_spectral_norm() {
        let rnn = ElmanRnn::random(&config(), 5).unwrap();
        let sv = rnn.w_hh.singular_values();
        assert!(sv.iter().all(|s| (s - 0.9).abs() < 1e-12), "{sv}");
    }

    #[test]
    fn scan_matches_hidden_states_and_readout() {
        let rnn = ElmanRnn::random(&config(), 6).unwrap();
        let u = DMatrix::from_fn(7, 2, |t, j| ((t * 3 + j) as f64).sin());
        let hs = rnn.hidden_states(&u, &DVector::zeros(4));
        let y = rnn.scan(&u);
        for t in 0..7 {
            let expect = rnn.readout(&hs.row(t).transpose());
            assert!((y.row(t).transpose() - expect).abs().max() < 1e-15);
        }
    }

    #[test]
    fn bad_hyperparameters_are_rejected_with_a_reason() {
        let bad = RnnConfig {
            hidden: 0,
            ..config()
        };
        let msg = ElmanRnn::random(&bad, 0).unwrap_err().to_string();
        assert!(msg.contains("hidden") && msg.contains("≥ 1"), "{msg}");
        let bad = RnnConfig {
            spectral_radius: f64::NAN,
            ..config()
        };
        assert!(ElmanRnn::random(&bad, 0).is_err());
    }

    #[test]
    #[should_panic(expected = "w_uh (3, 2) vs w_hh (4, 4)")]
    fn mismatched_shapes_panic_naming_both() {
        let _ = ElmanRnn::new(
            DMatrix::zeros(4, 4),
            DMatrix::zeros(3, 2),
            DVector::zeros(4),
            DMatrix::zeros(1, 4),
            DVector::zeros(1),
        );
    }
}
