//! The two views of a sequence model that the book keeps comparing.
//!
//! Every model maps an input sequence `u` of shape `(len, channels)` to an output
//! `y` of the same length. A [`Recurrent`] model does it one step at a time with
//! a state of fixed size (constant memory at inference); a [`Convolutional`] model
//! does it as one causal convolution with a kernel as long as the sequence
//! (parallel training). Linear time-invariant models (LSSL, S4, S4D, the linear
//! RNN of chapter 1) implement both, and the tests check that the two agree.
//! Mamba implements only [`Recurrent`]: selectivity breaks the convolution.

use nalgebra::{DMatrix, DVector};

use crate::support::fft::causal_conv_fft_columns;

/// A model that runs as a recurrence: `x_t = f(x_{t-1}, u_t)`, `y_t = g(x_t, u_t)`.
pub trait Recurrent {
    /// The state carried from one step to the next.
    type State: Clone;

    /// The state before the first input (zeros for every model in the book).
    fn init_state(&self) -> Self::State;

    /// Consumes one input row `u_t` (length `channels`), updates `state` in
    /// place and returns the output row `y_t`.
    fn step(&self, state: &mut Self::State, u_t: &DVector<f64>) -> DVector<f64>;

    /// Runs [`Recurrent::step`] over every row of `u` starting from `state`,
    /// which is left as the state after the last row (prefill, then decode).
    ///
    /// # Shapes
    /// `u`: `(len, channels_in)` → `(len, channels_out)`.
    fn scan_from(&self, state: &mut Self::State, u: &DMatrix<f64>) -> DMatrix<f64> {
        let rows: Vec<_> = (0..u.nrows())
            .map(|t| self.step(state, &u.row(t).transpose()).transpose())
            .collect();
        if rows.is_empty() {
            return DMatrix::zeros(0, u.ncols());
        }
        DMatrix::from_rows(&rows)
    }

    /// Runs the whole sequence from [`Recurrent::init_state`].
    ///
    /// # Shapes
    /// `u`: `(len, channels_in)` → `(len, channels_out)`.
    fn scan(&self, u: &DMatrix<f64>) -> DMatrix<f64> {
        let mut state = self.init_state();
        self.scan_from(&mut state, u)
    }
}

/// A linear time-invariant model that runs as a causal convolution per channel:
/// `y_t = Σ_{s=0}^{t} K_s u_{t-s} + D u_t`.
pub trait Convolutional {
    /// The first `len` kernel taps of every channel.
    ///
    /// # Shapes
    /// `(len, channels)`: channel `h`'s kernel is column `h`.
    fn kernel(&self, len: usize) -> DMatrix<f64>;

    /// The skip (feed-through) term `D` of every channel, length `channels`.
    fn skip(&self) -> DVector<f64>;

    /// The convolution view: every channel's kernel applied to its input by FFT,
    /// plus the skip term.
    ///
    /// # Shapes
    /// `u`: `(len, channels)` → `(len, channels)`.
    ///
    /// # Panics
    /// If `u` has a different number of channels than the kernel.
    fn convolve(&self, u: &DMatrix<f64>) -> DMatrix<f64> {
        let k = self.kernel(u.nrows());
        let d = self.skip();
        let mut y = causal_conv_fft_columns(&k, u);
        for (h, mut column) in y.column_iter_mut().enumerate() {
            column.axpy(d[h], &u.column(h), 1.0);
        }
        y
    }
}
