//! S5: one diagonal multi-input, multi-output SSM per layer, run through the
//! parallel scan.

use nalgebra::{Complex, DMatrix, DVector};
use rayon::prelude::*;

use super::operator::Affine;
use super::prefix::scan_chunked;
use crate::error::{Result, check_size};
use crate::lssl::Rule;
use crate::lssl::discretize::discretize_diagonal;
use crate::s4d::S4dInit;
use crate::s4d::init::eigenvalues;
use crate::support::rng::{log_uniform, normal_matrix, seeded};
use crate::traits::Recurrent;

/// An S5 layer: $P$ complex modes (the kept half of $2P$ real dimensions)
/// shared by $H$ inputs and outputs, each mode with its own step
/// $\Delta_p$, ZOH-discretized.
#[derive(Debug, Clone, PartialEq)]
pub struct S5Layer {
    /// The discretized modes $\bar\lambda_p = e^{\lambda_p\Delta_p}$, `(P,)`.
    pub a_bar: Vec<Complex<f64>>,
    /// $\bar B$, `(P, H)`: row $p$ scaled by $(\bar\lambda_p - 1)/\lambda_p$.
    pub b_bar: DMatrix<Complex<f64>>,
    /// $\tilde C$, `(H, P)`; the output is $2\,\mathrm{Re}(\tilde C x)$.
    pub c: DMatrix<Complex<f64>>,
    /// The feedthrough $D$, `(H,)`.
    pub d: DVector<f64>,
}

impl S5Layer {
    /// A random S5 layer: the modes are the LegS normal part's spectrum
    /// (S5's HiPPO-N initialisation, one block), $\log\Delta_p \sim
    /// U[\log 10^{-3}, \log 10^{-1}]$, $\tilde B$ and $\tilde C$ complex Gaussian
    /// (the reference draws a real $B$ and rotates it by the unitary
    /// eigenvectors, which gives the same kind of matrix), $D$ Gaussian.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for zero `modes` or `width`.
    ///
    /// # References
    /// S5 §3, App. B; `s5/ssm_init.py`, `s5/ssm.py`.
    pub fn new(width: usize, modes: usize, seed: u64) -> Result<Self> {
        check_size("width", width)?;
        check_size("modes", modes)?;
        crate::error::check_values("B (modes × width)", &[modes, width])?;
        let lambda = eigenvalues(S4dInit::Legs, 2 * modes)?;
        let mut rng = seeded(seed);
        let complex =
            |re: DMatrix<f64>, im: DMatrix<f64>| re.zip_map(&im, Complex::new);
        let scale_b = (0.5 / width as f64).sqrt();
        let b = complex(
            normal_matrix(&mut rng, modes, width, scale_b),
            normal_matrix(&mut rng, modes, width, scale_b),
        );
        let scale_c = (0.25 / modes as f64).sqrt();
        let c = complex(
            normal_matrix(&mut rng, width, modes, scale_c),
            normal_matrix(&mut rng, width, modes, scale_c),
        );
        let d = normal_matrix(&mut rng, width, 1, 1.0)
            .column(0)
            .into_owned();
        let dt: Vec<f64> = (0..modes)
            .map(|_| log_uniform(&mut rng, 1e-3, 1e-1))
            .collect();
        // Chapter 2's diagonal ZOH, one mode at a time (each has its own Δ):
        // ā = e^{λΔ} and the input factor (ā − 1)/λ without cancellation.
        let mut a_bar = Vec::with_capacity(modes);
        let mut b_bar = b;
        for (p, mut row) in b_bar.row_iter_mut().enumerate() {
            let one = [Complex::new(1.0, 0.0)];
            let (a, factor) =
                discretize_diagonal(&lambda[p..=p], &one, dt[p], Rule::Zoh)?;
            a_bar.push(a[0]);
            row *= factor[0];
        }
        Ok(S5Layer { a_bar, b_bar, c, d })
    }

    /// The number of inputs and outputs $H$.
    pub fn width(&self) -> usize {
        self.d.len()
    }

    /// The number of complex modes $P$.
    pub fn modes(&self) -> usize {
        self.a_bar.len()
    }

    /// The whole sequence at once: the inputs to every mode, $\bar B u_t$, by
    /// one matrix product; each mode's recurrence by the chunked scan (modes
    /// in parallel); the outputs $2\,\mathrm{Re}(\tilde C x_t) + D u_t$ by another
    /// matrix product.
    ///
    /// Implements Eq. (P7): $x_t = \bar\Lambda x_{t-1} + \bar B u_t$ as the scan of
    /// $(\bar\lambda_p, (\bar B u_t)_p)$ for every mode $p$,
    /// $y_t = 2\,\mathrm{Re}(\tilde C x_t) + D \odot u_t$.
    ///
    /// # Shapes
    /// `u`: `(len, H)` → `(len, H)`.
    ///
    /// # Panics
    /// If `u` does not have $H$ columns, or `chunk` is 0.
    ///
    /// # References
    /// S5 §3.2, Eq. (6)–(7); `s5/ssm.py::apply_ssm` (`jax.lax.associative_scan`).
    // ANCHOR: s5_scan
    pub fn scan_parallel(&self, u: &DMatrix<f64>, chunk: usize) -> DMatrix<f64> {
        assert_eq!(
            u.ncols(),
            self.width(),
            "S5Layer::scan_parallel: input has shape {:?} but the layer has width {}",
            u.shape(),
            self.width()
        );
        let u_complex = u.map(|x| Complex::new(x, 0.0));
        let inputs = &u_complex * self.b_bar.transpose(); // (len, P): B̄ u_t
        let columns: Vec<Vec<Complex<f64>>> = (0..self.modes())
            .into_par_iter()
            .map(|p| {
                let steps: Vec<Affine<Complex<f64>>> = inputs
                    .column(p)
                    .iter()
                    .map(|&bu| Affine::new(self.a_bar[p], bu))
                    .collect();
                scan_chunked(&steps, chunk).iter().map(|s| s.b).collect()
            })
            .collect();
        let x = DMatrix::from_fn(u.nrows(), self.modes(), |t, p| columns[p][t]);
        let mut y = (x * self.c.transpose()).map(|z| 2.0 * z.re); // (len, H)
        for (h, mut column) in y.column_iter_mut().enumerate() {
            column.axpy(self.d[h], &u.column(h), 1.0);
        }
        y
    }
    // ANCHOR_END: s5_scan
}

impl Recurrent for S5Layer {
    type State = DVector<Complex<f64>>;

    fn init_state(&self) -> Self::State {
        DVector::zeros(self.modes())
    }

    /// One step: $x \leftarrow \bar\Lambda x + \bar B u_t$,
    /// $y_t = 2\,\mathrm{Re}(\tilde C x) + D \odot u_t$.
    fn step(&self, x: &mut Self::State, u_t: &DVector<f64>) -> DVector<f64> {
        assert_eq!(
            u_t.len(),
            self.width(),
            "S5Layer::step: u_t ({},) vs width {}",
            u_t.len(),
            self.width()
        );
        let u = u_t.map(|v| Complex::new(v, 0.0));
        let bu = &self.b_bar * u;
        for (p, x_p) in x.iter_mut().enumerate() {
            *x_p = self.a_bar[p] * *x_p + bu[p];
        }
        (&self.c * &*x).map(|z| 2.0 * z.re) + self.d.component_mul(u_t)
    }
}
