//! The Mamba block run backwards: each piece of the forward pass (linear
//! maps, the causal convolution, SiLU, the selective scan) has its backward
//! here, and the block's backward chains them in reverse order.

use nalgebra::{DMatrix, DVector};

use super::block::{MambaBlock, Selection, causal_conv};
use super::config::Linear;
use super::selective::{SelectiveScan, silu};
use super::selective_backward::{
    ScanTape, selective_scan_backward, selective_scan_taped, silu_grad,
};

impl Linear {
    /// The backward pass of [`Linear::forward`]: from the output's gradient
    /// `dy`, the input's gradient and the parameters' (as a `Linear`).
    ///
    /// Implements Eq. (G2): $\partial x = \partial y\, W^\top$,
    /// $\partial W = x^\top \partial y$, $\partial b = \sum_t \partial y_t$.
    ///
    /// # Shapes
    /// `x`: `(len, in)`, `dy`: `(len, out)` → `(len, in)`.
    ///
    /// # Panics
    /// If the shapes do not match the weight (the message names them).
    // ANCHOR: linear_backward
    pub fn backward(
        &self,
        u: &DMatrix<f64>,
        dy: &DMatrix<f64>,
    ) -> (DMatrix<f64>, Linear) {
        assert!(
            u.shape() == (dy.nrows(), self.w.nrows())
                && dy.ncols() == self.w.ncols(),
            "Linear::backward: u {:?} and dy {:?} vs weight {:?}",
            u.shape(),
            dy.shape(),
            self.w.shape()
        );
        let grads = Linear {
            w: u.tr_mul(dy),
            bias: self.bias.as_ref().map(|_| row_sums(dy)),
        };
        (dy * self.w.transpose(), grads)
    }
    // ANCHOR_END: linear_backward
}

/// The sum over time of every channel: `(len, d)` → `(d,)`.
pub fn row_sums(m: &DMatrix<f64>) -> DVector<f64> {
    DVector::from_fn(m.ncols(), |j, _| m.column(j).sum())
}

/// The backward pass of [`causal_conv`]: the taps' and the bias's gradients,
/// and the input's, which is a correlation with the taps (each input feeds
/// the `d_conv` outputs after it).
///
/// Implements Eq. (G3): $\partial w_{c,k} = \sum_t \partial y_{t,c}\,
/// u_{t-d_{conv}+1+k,c}$, $\partial u_{s,c} = \sum_k w_{c,k}\,
/// \partial y_{s+d_{conv}-1-k,c}$.
///
/// # Shapes
/// `u`, `dy`: `(len, d)`, `w`: `(d, d_conv)` → (`(len, d)`, `(d, d_conv)`,
/// `(d,)`).
///
/// # Panics
/// If the shapes disagree.
// ANCHOR: causal_conv_backward
pub fn causal_conv_backward(
    u: &DMatrix<f64>,
    w: &DMatrix<f64>,
    dy: &DMatrix<f64>,
) -> (DMatrix<f64>, DMatrix<f64>, DVector<f64>) {
    assert!(
        u.shape() == dy.shape() && w.nrows() == u.ncols(),
        "causal_conv_backward: u {:?}, dy {:?}, w {:?}",
        u.shape(),
        dy.shape(),
        w.shape()
    );
    let (len, taps) = (u.nrows(), w.ncols());
    let mut du = DMatrix::zeros(len, u.ncols());
    let mut dw = DMatrix::zeros(w.nrows(), taps);
    for c in 0..u.ncols() {
        for t in 0..len {
            for k in (0..taps).filter(|k| t + k + 1 >= taps) {
                let s = t + k + 1 - taps; // the input tap k reads at output t
                dw[(c, k)] += dy[(t, c)] * u[(s, c)];
                du[(s, c)] += w[(c, k)] * dy[(t, c)];
            }
        }
    }
    (du, dw, row_sums(dy))
}
// ANCHOR_END: causal_conv_backward

/// What the block's forward pass keeps for its backward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockTape {
    /// The block's input, `(len, d_model)`.
    pub input: DMatrix<f64>,
    /// The convolution's output before SiLU, `(len, d_inner)`.
    pub conv_out: DMatrix<f64>,
    /// The selection (the scan's inputs and the raw x and z).
    pub selection: Selection,
    /// The input of `dt_proj` (Δ's low-rank factor), `(len, dt_rank)`.
    pub delta_low_rank: DMatrix<f64>,
    /// The scan's output before `out_proj`, `(len, d_inner)`.
    pub y: DMatrix<f64>,
    /// The scan's kept states.
    pub scan: ScanTape,
}

impl MambaBlock {
    /// The scan's arguments for a selection.
    fn scan_args<'a>(
        &'a self,
        s: &'a Selection,
        a: &'a DMatrix<f64>,
    ) -> SelectiveScan<'a> {
        SelectiveScan::new(&s.u, &s.delta, a, &s.b, &s.c)
            .with_skip(&self.d)
            .with_gate(&s.z)
            .with_delta_bias(self.dt_proj.bias.as_ref(), true)
    }

    /// [`MambaBlock::forward`] keeping what the backward pass needs; the scan
    /// keeps its state every `chunk` steps (see [`ScanTape`]).
    ///
    /// # Shapes
    /// `input`: `(len, d_model)` → `(len, d_model)`.
    ///
    /// # Panics
    /// If `chunk` is 0 or `input` does not have `d_model` columns.
    pub fn forward_taped(
        &self,
        input: &DMatrix<f64>,
        chunk: usize,
    ) -> (DMatrix<f64>, BlockTape) {
        let selection = self.select(input);
        let di = self.config.d_inner();
        let u_raw = &selection.u_raw;
        let conv_out = causal_conv(u_raw, &self.conv_weight, &self.conv_bias);
        debug_assert_eq!(conv_out.map(silu), selection.u);
        let a = self.a();
        let (out, scan) =
            selective_scan_taped(&self.scan_args(&selection, &a), chunk);
        debug_assert_eq!(out.y.ncols(), di);
        let r = self.config.dt_rank;
        let tape = BlockTape {
            input: input.clone(),
            delta_low_rank: self
                .x_proj
                .forward(&self.selection_input(&selection.u))
                .columns(0, r)
                .into_owned(),
            conv_out,
            selection,
            y: out.y,
            scan,
        };
        (self.out_proj.forward(&tape.y), tape)
    }

    /// The block's backward pass: from the output's gradient, the input's
    /// gradient and every parameter's, as a block of the same shapes (its
    /// `A_log` holds ∂ℓ/∂A_log).
    ///
    /// Implements Eq. (G5): the forward of Eq. (M6) in reverse, `out_proj`,
    /// the scan (Eq. G4), $\partial A_{\log} = \partial A \odot A$, the Δ and
    /// selection projections, SiLU, the convolution (Eq. G3), `in_proj`.
    ///
    /// # Shapes
    /// `d_out`: `(len, d_model)` → `(len, d_model)`.
    ///
    /// # Panics
    /// If `d_out` does not have the tape's shape.
    // ANCHOR: block_backward
    pub fn backward(
        &self,
        tape: &BlockTape,
        d_out: &DMatrix<f64>,
    ) -> (DMatrix<f64>, MambaBlock) {
        let (di, n, r) = (
            self.config.d_inner(),
            self.config.d_state,
            self.config.dt_rank,
        );
        let s = &tape.selection;
        let mut g = self.clone();
        let (dy, out_proj) = self.out_proj.backward(&tape.y, d_out);
        let a = self.a();
        let ds = selective_scan_backward(&self.scan_args(s, &a), &tape.scan, &dy);
        g.a_log = ds.a.component_mul(&a); // A = −exp(A_log)
        g.d = ds.d_skip;
        let (d_delta_in, dt_proj) =
            self.dt_proj.backward(&tape.delta_low_rank, &ds.delta);
        g.dt_proj = Linear {
            bias: Some(ds.delta_bias),
            ..dt_proj
        };
        let mut d_dbl = DMatrix::zeros(s.u.nrows(), r + 2 * n);
        d_dbl.columns_mut(0, r).copy_from(&d_delta_in);
        d_dbl.columns_mut(r, n).copy_from(&ds.b);
        d_dbl.columns_mut(r + n, n).copy_from(&ds.c);
        let (dx_from_proj, x_proj) =
            self.x_proj.backward(&self.selection_input(&s.u), &d_dbl);
        let dx = match self.config.selective {
            true => ds.u + dx_from_proj,
            false => ds.u, // the time-invariant core's B, C, Δ see no input
        };
        let d_conv_out = dx.zip_map(&tape.conv_out, |g, v| g * silu_grad(v));
        let (du_raw, dw, db) =
            causal_conv_backward(&s.u_raw, &self.conv_weight, &d_conv_out);
        let mut dxz = DMatrix::zeros(s.u.nrows(), 2 * di);
        dxz.columns_mut(0, di).copy_from(&du_raw);
        dxz.columns_mut(di, di).copy_from(&ds.z);
        let (d_input, in_proj) = self.in_proj.backward(&tape.input, &dxz);
        (g.out_proj, g.x_proj, g.in_proj) = (out_proj, x_proj, in_proj);
        (g.conv_weight, g.conv_bias) = (dw, db);
        (d_input, g)
    }
    // ANCHOR_END: block_backward
}
