//! The weights of the fast `f32` model and what a decoding step does with
//! them: row-split matrix products for prefill, dot products over contiguous
//! columns at the speed of memory for decoding, weights stored in bfloat16,
//! and one SSM step across the channels in vector lanes.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::scan::{exp_f32, softplus_f32, to_f32, to_f32_vector};
use crate::mamba::config::Linear;

/// [`Linear`] in `f32`: a linear map stored as `(in, out)`, so that a sequence `(len, in)` maps by
/// one matrix product and a single vector by dot products with contiguous
/// columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear32 {
    /// The weight, `(in, out)`.
    pub w: DMatrix<f32>,
    /// The bias, `(out,)`, if any.
    pub bias: Option<DVector<f32>>,
}

impl From<&Linear> for Linear32 {
    /// The readable map's weights rounded to `f32`.
    fn from(l: &Linear) -> Self {
        Linear32 {
            w: to_f32(&l.w),
            bias: l.bias.as_ref().map(to_f32_vector),
        }
    }
}

impl Linear32 {
    /// The map applied to every row: `(len, in)` → `(len, out)`.
    pub fn forward(&self, x: &DMatrix<f32>) -> DMatrix<f32> {
        assert_eq!(
            x.ncols(),
            self.w.nrows(),
            "Linear: input has shape {:?} but the weight has shape {:?}",
            x.shape(),
            self.w.shape()
        );
        let mut y = parallel_matmul(x, &self.w);
        if let Some(b) = &self.bias {
            for (j, mut column) in y.column_iter_mut().enumerate() {
                column.add_scalar_mut(b[j]);
            }
        }
        y
    }
}

/// `x · w`, with the rows of `x` split into one block per rayon thread, each
/// block an ordinary (single-threaded) nalgebra matrix product: the
/// prefill's projections are most of its time.
///
/// # Panics
/// If the inner dimensions differ.
pub fn parallel_matmul(x: &DMatrix<f32>, w: &DMatrix<f32>) -> DMatrix<f32> {
    assert_eq!(
        x.ncols(),
        w.nrows(),
        "parallel_matmul: x {:?} vs w {:?}",
        x.shape(),
        w.shape()
    );
    let (rows, threads) = (x.nrows(), rayon::current_num_threads());
    if threads < 2 || rows < 64 {
        return x * w;
    }
    let block = rows.div_ceil(threads);
    let parts: Vec<(usize, DMatrix<f32>)> = (0..rows.div_ceil(block))
        .into_par_iter()
        .map(|i| {
            let start = i * block;
            let count = block.min(rows - start);
            (start, x.rows(start, count) * w)
        })
        .collect();
    let mut y = DMatrix::zeros(rows, w.ncols());
    for (start, part) in parts {
        y.rows_mut(start, part.nrows()).copy_from(&part);
    }
    y
}

/// $W^\top v$ for a column-major `(in, out)` matrix: one dot product per
/// contiguous column, blocks of columns in parallel. Reading the weights is
/// all the work, so this runs at the speed of memory.
///
/// # Panics
/// If `v` does not have one entry per row of `w`.
pub fn columns_dot(w: &DMatrix<f32>, v: &[f32]) -> Vec<f32> {
    split_columns(w.as_slice(), w.shape(), v, dots_into)
}

/// A weight matrix that a decoding step multiplies a vector by: the `f32`
/// weights themselves, or a [`Bf16Matrix`] copy of them.
pub trait Weight: Sync {
    /// $W^\top v$ (see [`columns_dot`]).
    ///
    /// # Panics
    /// If `v` does not have one entry per row.
    fn columns_dot(&self, v: &[f32]) -> Vec<f32>;
    /// Column `j` in `f32` (an embedding's row, for one token).
    ///
    /// # Panics
    /// If `j` is not below the number of columns.
    fn column_f32(&self, j: usize) -> Vec<f32>;
}

impl Weight for DMatrix<f32> {
    fn columns_dot(&self, v: &[f32]) -> Vec<f32> {
        columns_dot(self, v)
    }

    fn column_f32(&self, j: usize) -> Vec<f32> {
        self.column(j).iter().copied().collect()
    }
}

/// A weight matrix stored in bfloat16: `f32`'s sign and exponent with 7 of
/// its 23 stored mantissa bits (8 significant bits: a relative rounding
/// error up to $2^{-8}$), in half the bytes. Decoding only reads weights, so
/// halving their bytes nearly halves its time. Column-major `(in, out)`,
/// like [`Linear32::w`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bf16Matrix {
    rows: usize,
    cols: usize,
    data: Vec<half::bf16>,
}

impl Bf16Matrix {
    /// `w` rounded entry by entry to the nearest bfloat16 (ties to even), by
    /// the `half` crate.
    pub fn from_f32(w: &DMatrix<f32>) -> Self {
        Bf16Matrix {
            rows: w.nrows(),
            cols: w.ncols(),
            data: w.iter().map(|&x| half::bf16::from_f32(x)).collect(),
        }
    }

    /// The matrix in `f32` (exactly: every bfloat16 is an `f32`).
    pub fn to_f32(&self) -> DMatrix<f32> {
        DMatrix::from_iterator(
            self.rows,
            self.cols,
            self.data.iter().map(|&x| widen(x)),
        )
    }

    /// `(rows, columns)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
}

impl Weight for Bf16Matrix {
    fn columns_dot(&self, v: &[f32]) -> Vec<f32> {
        split_columns(&self.data, self.shape(), v, dots_into_bf16)
    }

    fn column_f32(&self, j: usize) -> Vec<f32> {
        assert!(j < self.cols, "Bf16Matrix: column {j} of {}", self.cols);
        self.data[j * self.rows..][..self.rows]
            .iter()
            .map(|&x| widen(x))
            .collect()
    }
}

/// A bfloat16 as `f32`: its 16 bits are the top half of the `f32`'s (one
/// shift, which vectorises; `half`'s own conversion also checks for NaN).
#[inline(always)]
fn widen(x: half::bf16) -> f32 {
    f32::from_bits(u32::from(x.to_bits()) << 16)
}

/// $W^\top v$ for the column-major `(rows, cols)` matrix `data`, `dots`
/// computing the dot products of a run of columns: blocks of 64 columns in
/// parallel.
fn split_columns<T: Sync>(
    data: &[T],
    (rows, cols): (usize, usize),
    v: &[f32],
    dots: fn(&[T], &[f32], &mut [f32]),
) -> Vec<f32> {
    assert_eq!(
        v.len(),
        rows,
        "columns_dot: v ({},) vs W ({rows}, {cols})",
        v.len()
    );
    let mut out = vec![0.0; cols];
    if rows == 0 {
        return out;
    }
    if data.len() < 1 << 18 {
        // Under 2^18 weights: waking a second thread costs more than it saves.
        dots(data, v, &mut out);
        return out;
    }
    out.par_chunks_mut(64)
        .zip(data.par_chunks(64 * rows))
        .for_each(|(out, columns)| dots(columns, v, out));
    out
}

/// `out[i]` = the dot product of column `i` of `columns` (each `v.len()`
/// long, one after another) with `v`; compiled for AVX-512, AVX2 with FMA
/// and the SSE2 baseline, the best chosen at run time (`multiversion`).
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn dots_into(columns: &[f32], v: &[f32], out: &mut [f32]) {
    for (o, column) in out.iter_mut().zip(columns.chunks_exact(v.len())) {
        *o = dot(column, v);
    }
}

/// [`dots_into`] for bfloat16 columns, each widened to `f32` as it is read.
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn dots_into_bf16(columns: &[half::bf16], v: &[f32], out: &mut [f32]) {
    for (o, column) in out.iter_mut().zip(columns.chunks_exact(v.len())) {
        *o = dot_by(column, v, widen);
    }
}

/// A dot product with 64 independent partial sums (16 in the last stretch
/// under 64 long), so that it vectorises (float addition is not associative,
/// so the compiler will not reorder one running sum): four AVX-512
/// registers, whose additions overlap, so that the arithmetic outpaces
/// memory even on bfloat16 weights (one addition per 32 bytes read). The
/// 48-long columns of `dt_proj` need no scalar tail.
///
/// # Panics
/// If `a` and `b` differ in length.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_by(a, b, |x| x)
}

/// [`dot`] with each entry of `a` read through `f`.
#[inline(always)]
fn dot_by<T: Copy>(a: &[T], b: &[f32], f: impl Fn(T) -> f32) -> f32 {
    assert_eq!(
        a.len(),
        b.len(),
        "dot: a ({},) vs b ({},)",
        a.len(),
        b.len()
    );
    const K: usize = 16;
    let mut wide = [[0.0f32; K]; 4];
    let (a4, b4) = (a.chunks_exact(4 * K), b.chunks_exact(4 * K));
    let (a_rest, b_rest) = (a4.remainder(), b4.remainder());
    for (x, y) in a4.zip(b4) {
        for (i, acc) in wide.iter_mut().enumerate() {
            for j in 0..K {
                acc[j] += f(x[i * K + j]) * y[i * K + j];
            }
        }
    }
    let mut acc = [0.0f32; K];
    for partial in wide {
        for j in 0..K {
            acc[j] += partial[j];
        }
    }
    let (ak, bk) = (a_rest.chunks_exact(K), b_rest.chunks_exact(K));
    let tail: f32 = ak
        .remainder()
        .iter()
        .zip(bk.remainder())
        .map(|(&x, y)| f(x) * y)
        .sum();
    for (x, y) in ak.zip(bk) {
        for j in 0..K {
            acc[j] += f(x[j]) * y[j];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// One step of the selective SSM for every channel at once (Eq. (M9)
/// without skip and gate): $\Delta = \mathrm{softplus}(\delta)$, then for each
/// state $k$, $h_{:,k} \leftarrow e^{\Delta A_{:,k}} \odot h_{:,k} + \Delta B_k x$
/// and $y \mathrel{+}= C_k h_{:,k}$. Column $k$ of `a` and of `state` is
/// contiguous over channels, so each update vectorises across channels;
/// compiled like [`columns_dot`]'s kernel.
///
/// # Shapes
/// `a`, `state`: `(d_inner, N)`; `delta`, `x`, `y`: `(d_inner,)`;
/// `b`, `c`: `(N,)`.
// ANCHOR: ssm_step
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
pub fn ssm_step(
    a: &DMatrix<f32>,
    state: &mut DMatrix<f32>,
    delta: &[f32],
    x: &[f32],
    (b, c): (&[f32], &[f32]),
    y: &mut [f32],
) {
    let di = x.len();
    let dt: Vec<f32> = delta.iter().map(|&v| softplus_f32(v)).collect();
    let dt_x: Vec<f32> = dt.iter().zip(x).map(|(dt, x)| dt * x).collect();
    for (k, (&b, &c)) in b.iter().zip(c).enumerate() {
        let a = &a.as_slice()[k * di..][..di];
        let h = &mut state.as_mut_slice()[k * di..][..di];
        for ((((h, a), dt), dt_x), y) in
            h.iter_mut().zip(a).zip(&dt).zip(&dt_x).zip(y.iter_mut())
        {
            *h = exp_f32(dt * a) * *h + dt_x * b;
            *y += c * *h;
        }
    }
}
// ANCHOR_END: ssm_step

/// $W^\top v + b$, with `w` in any [`Weight`] format.
pub fn project<W: Weight>(
    w: &W,
    bias: Option<&DVector<f32>>,
    v: &[f32],
) -> Vec<f32> {
    let mut out = w.columns_dot(v);
    if let Some(b) = bias {
        for (o, b) in out.iter_mut().zip(b.iter()) {
            *o += b;
        }
    }
    out
}
