//! The linear RNN: without the `tanh`, the recurrence unrolls into a convolution.

use nalgebra::{DMatrix, DVector};

use crate::error::{Result, check_finite, check_size};
use crate::support::rng::{normal_vector, orthogonal, seeded};
use crate::support::shapes::fits;
use crate::traits::{Convolutional, Recurrent};

/// A single-input single-output linear RNN $h_t = A h_{t-1} + b u_t$,
/// $y_t = c^\top h_t$ (chapter 2 calls it a discrete state space model).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearRnn {
    /// State matrix $A$, `(n, n)`.
    pub a: DMatrix<f64>,
    /// Input vector $b$, `(n,)`.
    pub b: DVector<f64>,
    /// Output vector $c$, `(n,)`.
    pub c: DVector<f64>,
}

impl LinearRnn {
    /// A linear RNN from its matrices.
    ///
    /// # Errors
    /// [`crate::Error::NonFinite`] if an entry is NaN or infinite.
    ///
    /// # Panics
    /// If `a` is not square or `b`, `c` do not match its size (naming the shapes).
    pub fn new(a: DMatrix<f64>, b: DVector<f64>, c: DVector<f64>) -> Result<Self> {
        assert!(
            a.is_square(),
            "LinearRnn::new: a {:?} is not square",
            a.shape()
        );
        assert_eq!(
            b.len(),
            a.nrows(),
            "LinearRnn::new: b ({},) vs a {:?}",
            b.len(),
            a.shape()
        );
        assert_eq!(
            c.len(),
            a.nrows(),
            "LinearRnn::new: c ({},) vs a {:?}",
            c.len(),
            a.shape()
        );
        check_size("n (the state size)", a.nrows())?;
        check_finite("a", a.iter())?;
        check_finite("b", b.iter())?;
        check_finite("c", c.iter())?;
        Ok(LinearRnn { a, b, c })
    }

    /// A random stable system: $A = \rho O$ for a random orthogonal $O$ (every
    /// eigenvalue has modulus $\rho$), Gaussian $b$ and $c$ with variance $1/n$.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] if `n == 0` or `radius` is not finite
    /// and ≥ 0.
    pub fn random(n: usize, radius: f64, seed: u64) -> Result<Self> {
        crate::error::check_state_size(n)?;
        if !(radius.is_finite() && radius >= 0.0) {
            return Err(crate::Error::invalid("radius", radius, "finite and ≥ 0"));
        }
        let mut rng = seeded(seed);
        let a = orthogonal(&mut rng, n) * radius;
        let scale = 1.0 / (n as f64).sqrt();
        let b = normal_vector(&mut rng, n, scale);
        let c = normal_vector(&mut rng, n, scale);
        LinearRnn::new(a, b, c)
    }

    /// The state size $n$.
    ///
    /// # Example
    /// ```
    /// use ssm_lineage::rnn::LinearRnn;
    /// use ssm_lineage::traits::{Convolutional, Recurrent};
    /// let rnn = LinearRnn::random(4, 0.9, 0).unwrap();
    /// let u = nalgebra::DMatrix::from_fn(10, 1, |t, _| (t as f64).cos());
    /// // The recurrence and the convolution with its kernel agree.
    /// assert!((rnn.scan(&u) - rnn.convolve(&u)).abs().max() < 1e-12);
    /// assert_eq!(rnn.n(), 4);
    /// ```
    pub fn n(&self) -> usize {
        self.a.nrows()
    }
}

impl Recurrent for LinearRnn {
    type State = DVector<f64>;

    fn init_state(&self) -> DVector<f64> {
        DVector::zeros(self.n())
    }

    /// Implements Eq. (R8): $h_t = A h_{t-1} + b u_t$, $y_t = c^\top h_t$.
    // ANCHOR: linear_step
    fn step(&self, h: &mut DVector<f64>, u_t: &DVector<f64>) -> DVector<f64> {
        assert_eq!(
            u_t.len(),
            1,
            "LinearRnn::step: u_t ({},) vs one channel",
            u_t.len()
        );
        *h = &self.a * &*h + &self.b * u_t[0];
        DVector::from_element(1, self.c.dot(h))
    }
    // ANCHOR_END: linear_step
}

impl Convolutional for LinearRnn {
    /// Implements Eq. (R9): $K = (c^\top b,  c^\top A b,  \dots,
    /// c^\top A^{L-1} b)$, one matrix-vector product per tap (a Krylov sequence).
    // ANCHOR: linear_kernel
    fn kernel(&self, len: usize) -> DMatrix<f64> {
        fits("LinearRnn::kernel", len, 1);
        let mut k = DMatrix::zeros(len, 1); // (len, 1)
        let mut a_pow_b = self.b.clone(); // A^s b
        for s in 0..len {
            k[(s, 0)] = self.c.dot(&a_pow_b);
            a_pow_b = &self.a * a_pow_b;
        }
        k
    }
    // ANCHOR_END: linear_kernel

    fn skip(&self) -> DVector<f64> {
        DVector::zeros(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_is_the_impulse_response() {
        let rnn = LinearRnn::random(3, 0.8, 4).unwrap();
        let mut impulse = DMatrix::zeros(6, 1);
        impulse[(0, 0)] = 1.0;
        let y = rnn.scan(&impulse);
        let k = rnn.kernel(6);
        assert!((y - k).abs().max() < 1e-15);
    }

    #[test]
    fn a_scalar_system_has_a_geometric_kernel() {
        let rnn = LinearRnn::new(
            DMatrix::from_element(1, 1, 0.5),
            DVector::from_element(1, 2.0),
            DVector::from_element(1, 3.0),
        )
        .unwrap();
        assert_eq!(rnn.kernel(4).as_slice(), &[6.0, 3.0, 1.5, 0.75]);
    }
}
