//! Row-major `f32` matrices for the fast training path, and their products.
//!
//! A training batch is every sequence's rows stacked: `(M, width)` with
//! `M = Σ len`. Row-major keeps the channels of one time step together, so
//! sixteen channels are one contiguous load for the scan's vector lanes. The
//! products go through nalgebra (and so the `matrixmultiply` crate's
//! kernels) on strided views of the same buffers, split across threads by
//! rows with rayon.

use std::sync::Mutex;

use nalgebra::{DMatrix, DMatrixView, DMatrixViewMut, Dyn};
use rayon::prelude::*;

/// Buffers of dropped [`Rows`], kept for the next ones. A training step
/// allocates a few hundred megabytes of activations and gradients; fresh
/// from the system each time, every page costs a fault and a zeroing, and
/// returning them costs other cores a TLB flush: a third of a step's time
/// before this pool.
static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// The most values the pool keeps (2 GB of `f32`).
const POOL_LIMIT: usize = 1 << 29;

/// A buffer of `len` values from the pool (or new): its old contents where
/// it had any, zeros beyond. For a caller that writes every value.
pub fn recycled(len: usize) -> Vec<f32> {
    let reused = POOL.lock().ok().and_then(|mut pool| {
        let best = (0..pool.len())
            .filter(|&i| pool[i].capacity() >= len)
            .min_by_key(|&i| pool[i].capacity())?;
        Some(pool.swap_remove(best))
    });
    let mut v = reused.unwrap_or_default();
    v.truncate(len);
    v.resize(len, 0.0);
    v
}

/// `len` zeros, in a buffer from the pool where one fits.
pub fn zeroed(len: usize) -> Vec<f32> {
    let mut v = recycled(len);
    v.fill(0.0);
    v
}

/// Gives a buffer back to the pool (dropped if the pool is full).
pub fn give_back(v: Vec<f32>) {
    if v.capacity() == 0 {
        return;
    }
    if let Ok(mut pool) = POOL.lock() {
        let held: usize = pool.iter().map(Vec::capacity).sum();
        if held + v.capacity() <= POOL_LIMIT {
            pool.push(v);
        }
    }
}

/// A row-major `f32` matrix (its buffer returns to a pool when dropped).
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// The number of rows.
    pub rows: usize,
    /// The number of columns.
    pub cols: usize,
    /// The values, row by row.
    pub data: Vec<f32>,
}

/// Rows per task of a parallel product: enough to amortise the packing.
const ROWS_PER_TASK: usize = 256;

impl Rows {
    /// A `(rows, cols)` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Rows {
            rows,
            cols,
            data: zeroed(rows * cols),
        }
    }

    /// A `(rows, cols)` matrix of stale values, for a caller that writes
    /// every one.
    pub fn for_overwrite(rows: usize, cols: usize) -> Self {
        Rows {
            rows,
            cols,
            data: recycled(rows * cols),
        }
    }

    /// The values, taken out (the matrix is left empty).
    pub fn into_values(mut self) -> Vec<f32> {
        std::mem::take(&mut self.data)
    }

    /// A readable `f64` matrix, rounded to `f32`, row-major.
    pub fn from_f64(m: &DMatrix<f64>) -> Self {
        let (rows, cols) = m.shape();
        let data = (0..rows * cols)
            .map(|i| m[(i / cols, i % cols)] as f32)
            .collect();
        Rows { rows, cols, data }
    }

    /// Back to a readable `f64` matrix.
    pub fn to_f64(&self) -> DMatrix<f64> {
        DMatrix::from_fn(self.rows, self.cols, |i, j| {
            f64::from(self.data[i * self.cols + j])
        })
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i`, changeable.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Columns `start .. start + count` as their own matrix.
    pub fn columns(&self, start: usize, count: usize) -> Rows {
        let mut out = Rows::for_overwrite(self.rows, count);
        for i in 0..self.rows {
            out.row_mut(i)
                .copy_from_slice(&self.row(i)[start..start + count]);
        }
        out
    }

    /// Writes `part` into columns `start ..` of every row.
    ///
    /// # Panics
    /// If the row counts differ or `part` does not fit.
    pub fn set_columns(&mut self, start: usize, part: &Rows) {
        assert!(
            part.rows == self.rows && start + part.cols <= self.cols,
            "Rows::set_columns: {}×{} at column {start} of {}×{}",
            part.rows,
            part.cols,
            self.rows,
            self.cols
        );
        for i in 0..self.rows {
            let c = part.cols;
            self.row_mut(i)[start..start + c].copy_from_slice(part.row(i));
        }
    }

    /// This matrix as nalgebra's column-major view of its transpose,
    /// `(cols, rows)`: the same buffer, no copy.
    fn transposed_view(&self) -> DMatrixView<'_, f32> {
        DMatrixView::from_slice(&self.data, self.cols, self.rows)
    }

    /// This matrix as a column-major view `(rows, cols)` with strides.
    fn view(&self) -> DMatrixView<'_, f32, Dyn, Dyn> {
        DMatrixView::from_slice_with_strides_generic(
            &self.data,
            Dyn(self.rows),
            Dyn(self.cols),
            Dyn(self.cols),
            Dyn(1),
        )
    }
}

impl Drop for Rows {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.data));
    }
}

/// Checks that `a`'s columns match `b`'s rows.
fn check_inner(what: &str, a: (usize, usize), b: (usize, usize)) {
    assert_eq!(a.1, b.0, "{what}: {}×{} times {}×{}", a.0, a.1, b.0, b.1);
}

/// $X W$ for `x` `(M, K)` and `w` `(K, N)`: `(M, N)`, blocks of rows in
/// parallel. Each block is computed as $(X W)^\top = W^\top X^\top$ in
/// column-major terms, which is the row-major $X W$ in memory.
///
/// # Panics
/// If the inner dimensions differ (naming both shapes).
pub fn matmul(x: &Rows, w: &Rows) -> Rows {
    check_inner("matmul", (x.rows, x.cols), (w.rows, w.cols));
    if w.rows == 0 || w.cols == 0 {
        return Rows::zeros(x.rows, w.cols); // an empty sum
    }
    let mut y = Rows::for_overwrite(x.rows, w.cols);
    let (k, n) = (w.rows, w.cols);
    let w_t = w.transposed_view(); // (N, K)
    y.data
        .par_chunks_mut(ROWS_PER_TASK * n)
        .zip(x.data.par_chunks(ROWS_PER_TASK * k))
        .for_each(|(out, input)| {
            let m = input.len() / k;
            let x_t = DMatrixView::from_slice(input, k, m); // (K, m)
            let mut y_t = DMatrixViewMut::from_slice(out, n, m); // (N, m)
            y_t.gemm(1.0, &w_t, &x_t, 0.0);
        });
    y
}

/// $\partial Y\, W^\top$ for `dy` `(M, N)` and `w` `(K, N)`: `(M, K)`, the
/// input's gradient of [`matmul`].
///
/// # Panics
/// If the column counts differ.
pub fn matmul_transposed(dy: &Rows, w: &Rows) -> Rows {
    check_inner("matmul_transposed", (dy.rows, dy.cols), (w.cols, w.rows));
    if w.rows == 0 || w.cols == 0 {
        return Rows::zeros(dy.rows, w.rows);
    }
    let (k, n) = (w.rows, w.cols);
    let w_cm = w.view().into_owned(); // (K, N), column-major
    let mut dx = Rows::for_overwrite(dy.rows, k);
    dx.data
        .par_chunks_mut(ROWS_PER_TASK * k)
        .zip(dy.data.par_chunks(ROWS_PER_TASK * n))
        .for_each(|(out, grad)| {
            let m = grad.len() / n;
            let dy_t = DMatrixView::from_slice(grad, n, m); // (N, m)
            let mut dx_t = DMatrixViewMut::from_slice(out, k, m); // (K, m)
            dx_t.gemm(1.0, &w_cm, &dy_t, 0.0);
        });
    dx
}

/// $X^\top \partial Y$ for `x` `(M, K)` and `dy` `(M, N)`: `(K, N)`, the
/// weight's gradient of [`matmul`], summed over all rows; blocks of rows in
/// parallel, their partial sums added in a fixed order (so the result does
/// not depend on the number of threads).
///
/// # Panics
/// If the row counts differ.
pub fn matmul_gradient(x: &Rows, dy: &Rows) -> Rows {
    check_inner("matmul_gradient", (x.cols, x.rows), (dy.rows, dy.cols));
    if x.cols == 0 || dy.cols == 0 {
        return Rows::zeros(x.cols, dy.cols);
    }
    let (k, n) = (x.cols, dy.cols);
    let partial: Vec<Vec<f32>> = x
        .data
        .par_chunks(4 * ROWS_PER_TASK * k)
        .zip(dy.data.par_chunks(4 * ROWS_PER_TASK * n))
        .map(|(input, grad)| {
            let m = input.len() / k;
            let x_rm = DMatrixView::from_slice_with_strides_generic(
                input,
                Dyn(m),
                Dyn(k),
                Dyn(k),
                Dyn(1),
            ); // (m, K)
            let dy_t = DMatrixView::from_slice(grad, n, m); // (N, m)
            let mut out = vec![0.0; k * n];
            let mut dw_t = DMatrixViewMut::from_slice(&mut out, n, k); // (N, K)
            dw_t.gemm(1.0, &dy_t, &x_rm, 0.0);
            out
        })
        .collect();
    let mut dw = Rows::zeros(k, n);
    for part in partial {
        dw.data.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    dw
}
