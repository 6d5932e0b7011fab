//! The best time-invariant linear system for a task, in closed form.
//!
//! Over a sequence of length $L$, every linear time-invariant system (of any
//! state size) maps its input to its output by a causal convolution with at
//! most $L$ taps (the convolution view). So the best such system for given
//! inputs and targets is a least-squares problem over the kernels: linear in
//! the taps, solved once by the normal equations. Chapter 7 uses it to show
//! what no time-invariant system can do, however large.

use nalgebra::{DMatrix, DVector};

use crate::error::{Error, Result, check_size, check_values};
use crate::support::fft::causal_conv_direct;

/// The kernels $K$ (`(taps, channels)`) of the causal convolution
/// $\hat y_t = \sum_c \sum_{s < \text{taps}} K_{s,c}\, u_{t-s,c}$ that minimise
/// $\sum \lVert \hat y - y \rVert^2$ over every `(u, y)` example.
///
/// # Shapes
/// Each example: `u` `(len, channels)`, `y` `(len,)`; → `(taps, channels)`.
///
/// # Errors
/// [`Error::InvalidParameter`] for no examples, zero taps, a feature count
/// too large, or examples too few to determine the taps (a singular system).
///
/// # Panics
/// If an example's `u` and `y` differ in length or the examples differ in
/// channels.
pub fn best_causal_filter(
    examples: &[(DMatrix<f64>, DVector<f64>)],
    taps: usize,
) -> Result<DMatrix<f64>> {
    check_size("examples", examples.len())?;
    check_size("taps", taps)?;
    let channels = examples[0].0.ncols();
    let features = check_values("taps × channels", &[taps, channels])?;
    check_values("the normal equations", &[features, features])?;
    let mut gram = DMatrix::<f64>::zeros(features, features);
    let mut right = DVector::<f64>::zeros(features);
    for (u, y) in examples {
        assert!(
            u.nrows() == y.len() && u.ncols() == channels,
            "best_causal_filter: u {:?} and y ({},), {channels} channels expected",
            u.shape(),
            y.len()
        );
        for t in 0..u.nrows() {
            let x = lagged(u, t, taps); // the inputs that reach y_t
            gram.ger(1.0, &x, &x, 1.0);
            right.axpy(y[t], &x, 1.0);
        }
    }
    let solution = gram.cholesky().map(|c| c.solve(&right)).ok_or(
        Error::invalid(
            "examples",
            examples.len(),
            "enough to determine every tap (the least-squares system is singular)",
        ),
    )?;
    Ok(DMatrix::from_column_slice(
        taps,
        channels,
        solution.as_slice(),
    ))
}

/// $(u_{t-s,c})$ for $s < $ `taps` and every channel $c$, zero before the
/// start, in the order of [`best_causal_filter`]'s kernels (column-major).
fn lagged(u: &DMatrix<f64>, t: usize, taps: usize) -> DVector<f64> {
    DVector::from_fn(taps * u.ncols(), |i, _| {
        let (s, c) = (i % taps, i / taps);
        if s <= t { u[(t - s, c)] } else { 0.0 }
    })
}

/// The output of the filter [`best_causal_filter`] found:
/// $\hat y_t = \sum_c (K_{:,c} * u_{:,c})_t$.
///
/// # Shapes
/// `k`: `(taps, channels)`, `u`: `(len, channels)` → `(len,)`.
///
/// # Panics
/// If `k` and `u` differ in channels.
pub fn apply_causal_filter(k: &DMatrix<f64>, u: &DMatrix<f64>) -> DVector<f64> {
    assert_eq!(
        k.ncols(),
        u.ncols(),
        "apply_causal_filter: kernels {:?} vs u {:?}",
        k.shape(),
        u.shape()
    );
    let mut y = DVector::zeros(u.nrows());
    for c in 0..u.ncols() {
        let column: Vec<f64> = u.column(c).iter().copied().collect();
        let kernel: Vec<f64> = k.column(c).iter().copied().collect();
        y += DVector::from_vec(causal_conv_direct(&kernel, &column));
    }
    y
}
