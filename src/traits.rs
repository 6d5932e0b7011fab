//! The two views of a sequence model that the book keeps comparing.
//!
//! Every model maps an input sequence `u` of shape `(len, channels)` to an output
//! `y` of the same length. A [`Recurrent`] model does it one step at a time with
//! a state of fixed size (constant memory at inference); a [`Convolutional`] model
//! does it as one causal convolution with a kernel as long as the sequence
//! (parallel training). Linear time-invariant models (LSSL, S4, S4D, the linear
//! RNN of chapter 1) implement both, and the tests check that the two agree.
//! Mamba and Mamba-2 implement only [`Recurrent`] (selectivity breaks the
//! convolution) plus their own parallel forward passes. [`Parameters`] lists a
//! model's learnable tensors by name: what training and checkpoints need.

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};

use crate::error::{Error, Result, check_shape};
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
            // One zero step on a copy of the state checks the input width
            // and gives the output width.
            let probe = self.step(&mut state.clone(), &DVector::zeros(u.ncols()));
            return DMatrix::zeros(0, probe.len());
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
    ///
    /// # Panics
    /// If `len × channels` is more than a tensor may hold ($2^{32}$ values),
    /// before allocating ([`crate::support::shapes::fits`]).
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
        let d = self.skip();
        assert_eq!(
            u.ncols(),
            d.len(),
            "convolve: u {:?} vs {} channels",
            u.shape(),
            d.len()
        );
        let k = self.kernel(u.nrows());
        let mut y = causal_conv_fft_columns(&k, u);
        for (h, mut column) in y.column_iter_mut().enumerate() {
            column.axpy(d[h], &u.column(h), 1.0);
        }
        y
    }
}

/// One learnable tensor, by name: its shape `(rows, columns)` in this crate's
/// layout and its values, column-major (a vector is one column).
#[derive(Debug)]
pub struct Param<'a> {
    /// Its name in the reference layout (`in_proj.weight`, `A_log`, ...).
    pub name: String,
    /// `(rows, columns)`.
    pub shape: (usize, usize),
    /// The values, column-major.
    pub values: &'a [f64],
}

/// [`Param`] with values that can be changed in place (by an optimizer or a
/// loader).
#[derive(Debug)]
pub struct ParamMut<'a> {
    /// Its name in the reference layout.
    pub name: String,
    /// `(rows, columns)`.
    pub shape: (usize, usize),
    /// The values, column-major.
    pub values: &'a mut [f64],
}

/// A model whose learnable tensors can be listed and set by name.
pub trait Parameters {
    /// Every learnable tensor, in a fixed order.
    fn parameters(&self) -> Vec<Param<'_>>;

    /// Every learnable tensor, changeable in place, in the order of
    /// [`Parameters::parameters`].
    fn parameters_mut(&mut self) -> Vec<ParamMut<'_>>;

    /// The number of learnable values.
    fn parameter_count(&self) -> usize {
        self.parameters().iter().map(|p| p.values.len()).sum()
    }

    /// Sets every tensor from `tensors`, by name (extra entries are ignored).
    ///
    /// # Errors
    /// [`Error::Tensor`] for a missing tensor or one whose shape differs,
    /// naming it and both shapes; [`Error::NonFinite`] for a NaN or infinite
    /// value. Nothing is changed unless every tensor is valid.
    fn set_parameters(
        &mut self,
        tensors: &BTreeMap<String, DMatrix<f64>>,
    ) -> Result<()> {
        for p in self.parameters() {
            let t = tensors.get(&p.name).ok_or_else(|| Error::Tensor {
                name: p.name.clone(),
                reason: "missing".into(),
            })?;
            check_shape(&p.name, p.shape, t.shape())?;
            if !t.iter().all(|v| v.is_finite()) {
                return Err(Error::NonFinite {
                    what: "a given tensor",
                });
            }
        }
        for p in self.parameters_mut() {
            p.values.copy_from_slice(tensors[&p.name].as_slice());
        }
        Ok(())
    }

    /// A copy with every learnable value zero: the shape of a gradient.
    fn zeros_like(&self) -> Self
    where
        Self: Clone + Sized,
    {
        let mut zeros = self.clone();
        for p in zeros.parameters_mut() {
            p.values.fill(0.0);
        }
        zeros
    }

    /// Adds `scale` times `other`'s values to this one's, tensor by tensor
    /// (accumulating gradients).
    ///
    /// # Panics
    /// If `other` does not have the same tensors (names and shapes).
    fn add_scaled(&mut self, other: &Self, scale: f64)
    where
        Self: Sized,
    {
        let theirs = other.parameters();
        let ours = self.parameters_mut();
        assert_eq!(
            ours.len(),
            theirs.len(),
            "add_scaled: different tensor lists"
        );
        for (p, q) in ours.into_iter().zip(theirs) {
            assert!(
                p.name == q.name && p.shape == q.shape,
                "add_scaled: {} {:?} vs {} {:?}",
                p.name,
                p.shape,
                q.name,
                q.shape
            );
            for (v, w) in p.values.iter_mut().zip(q.values) {
                *v += scale * w;
            }
        }
    }

    /// Every tensor by name, copied (the inverse of
    /// [`Parameters::set_parameters`]).
    fn named_tensors(&self) -> BTreeMap<String, DMatrix<f64>> {
        self.parameters()
            .into_iter()
            .map(|p| {
                let (r, c) = p.shape;
                (p.name, DMatrix::from_column_slice(r, c, p.values))
            })
            .collect()
    }
}

/// A matrix or vector that a [`Param`] can name: its shape and its values,
/// column-major.
pub trait Tensor {
    /// `(rows, columns)`.
    fn dims(&self) -> (usize, usize);
    /// The values, column-major.
    fn values(&self) -> &[f64];
    /// The values, column-major, changeable.
    fn values_mut(&mut self) -> &mut [f64];
}

impl Tensor for DMatrix<f64> {
    fn dims(&self) -> (usize, usize) {
        self.shape()
    }
    fn values(&self) -> &[f64] {
        self.as_slice()
    }
    fn values_mut(&mut self) -> &mut [f64] {
        self.as_mut_slice()
    }
}

impl Tensor for DVector<f64> {
    fn dims(&self) -> (usize, usize) {
        self.shape()
    }
    fn values(&self) -> &[f64] {
        self.as_slice()
    }
    fn values_mut(&mut self) -> &mut [f64] {
        self.as_mut_slice()
    }
}

impl<'a> Param<'a> {
    /// A matrix's or vector's values under `name`.
    pub fn of(name: impl Into<String>, m: &'a impl Tensor) -> Self {
        Param {
            name: name.into(),
            shape: m.dims(),
            values: m.values(),
        }
    }
}

impl<'a> ParamMut<'a> {
    /// A matrix's or vector's values under `name`, changeable.
    pub fn of(name: impl Into<String>, m: &'a mut impl Tensor) -> Self {
        ParamMut {
            name: name.into(),
            shape: m.dims(),
            values: m.values_mut(),
        }
    }
}
