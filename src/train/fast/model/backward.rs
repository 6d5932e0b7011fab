//! One layer's backward pass over the stacked batch: the output
//! projection, the scan (one sequence per task), the selection and Δ
//! projections, SiLU, the convolution, the input projection and the norm.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::{BlockWeights, CHUNK, Dims, LayerTape};
use crate::mamba::{MambaBlock, RmsNorm};
use crate::train::fast::layers::{
    causal_conv_backward, offsets, rms_norm_backward, sigmoid,
};
use crate::train::fast::rows::{
    Rows, give_back, matmul_gradient, matmul_transposed,
};
use crate::train::fast::scan::{SequenceGrads, backward_sequence};

/// One layer backward: from the gradient of the residual stream after the
/// layer, the gradient before it (added in place) and the block's gradients.
pub(super) fn layer_backward(
    w: &BlockWeights,
    dims: Dims,
    tape: &LayerTape,
    dr: &mut Rows,
    (lens, eps): (&[usize], f32),
    g: &mut (RmsNorm, MambaBlock),
) {
    let Dims { di, n, r } = dims;
    let dy = matmul_transposed(dr, &w.out_proj);
    g.1.out_proj.w = matmul_gradient(&tape.y, dr).to_f64();
    let params = dims.params(w);
    let starts = offsets(lens);
    let seqs: Vec<SequenceGrads> = (0..lens.len())
        .into_par_iter()
        .map(|i| {
            let (start, len) = (starts[i], lens[i]);
            let dy_seq = &dy.data[start * di..(start + len) * di];
            backward_sequence(
                &params,
                &dims.inputs(tape, start, len),
                dy_seq,
                (CHUNK, &tape.states[i]),
            )
        })
        .collect();
    let rows = tape.x.rows;
    let (mut du, mut d_delta) =
        (Rows::for_overwrite(rows, di), Rows::for_overwrite(rows, di));
    let mut dxz = Rows::for_overwrite(rows, 2 * di); // z's half now, x's below
    let mut d_dbl = Rows::for_overwrite(rows, r + 2 * n); // B, C now, δ' below
    let (mut da, mut dd, mut dbias) =
        (vec![0.0f32; n * di], vec![0.0f32; di], vec![0.0f32; di]);
    for (s, (&start, &len)) in seqs.iter().zip(starts.iter().zip(lens)) {
        du.data[start * di..(start + len) * di].copy_from_slice(&s.u);
        d_delta.data[start * di..(start + len) * di].copy_from_slice(&s.delta);
        for t in 0..len {
            dxz.row_mut(start + t)[di..].copy_from_slice(&s.z[t * di..(t + 1) * di]);
            let row = d_dbl.row_mut(start + t);
            row[r..r + n].copy_from_slice(&s.b[t * n..(t + 1) * n]);
            row[r + n..].copy_from_slice(&s.c[t * n..(t + 1) * n]);
        }
        da.iter_mut().zip(&s.a).for_each(|(x, y)| *x += y);
        dd.iter_mut().zip(&s.d).for_each(|(x, y)| *x += y);
        dbias.iter_mut().zip(&s.bias).for_each(|(x, y)| *x += y);
    }
    for s in seqs {
        [s.u, s.delta, s.z, s.b, s.c]
            .into_iter()
            .for_each(give_back);
    }
    // ∂A_log = ∂A ⊙ A with A = −exp(A_log); A is (N, d_inner) here.
    g.1.a_log =
        DMatrix::from_fn(di, n, |c, k| f64::from(da[k * di + c] * w.a[k * di + c]));
    g.1.d = DVector::from_fn(di, |c, _| f64::from(dd[c]));
    let delta_in = tape.x_dbl.columns(0, r);
    g.1.dt_proj.w = matmul_gradient(&delta_in, &d_delta).to_f64();
    g.1.dt_proj.bias = Some(DVector::from_fn(di, |c, _| f64::from(dbias[c])));
    d_dbl.set_columns(0, &matmul_transposed(&d_delta, &w.dt_proj));
    let mut d_conv = du;
    if w.x_bias.is_none() {
        g.1.x_proj.w = matmul_gradient(&tape.x, &d_dbl).to_f64();
        let dx_proj = matmul_transposed(&d_dbl, &w.x_proj);
        d_conv
            .data
            .par_iter_mut()
            .zip(&dx_proj.data)
            .for_each(|(g, p)| *g += p);
    } else {
        // The time-invariant core: no input, so only the bias (B, C) learns.
        let sums = (0..d_dbl.cols)
            .map(|j| (0..rows).map(|t| f64::from(d_dbl.row(t)[j])).sum());
        g.1.x_proj.bias = Some(DVector::from_iterator(d_dbl.cols, sums));
    }
    d_conv
        .data
        .par_iter_mut()
        .zip(&tape.conv_out.data)
        .for_each(|(g, v)| {
            let s = sigmoid(*v);
            *g *= s * (1.0 + v * (1.0 - s));
        });
    let (dx_raw, dw, db) = causal_conv_backward(&tape.xz, &w.conv_w, &d_conv, lens);
    dxz.set_columns(0, &dx_raw);
    let taps = dw.len() / di;
    g.1.conv_weight = DMatrix::from_fn(di, taps, |c, k| f64::from(dw[k * di + c]));
    g.1.conv_bias = DVector::from_fn(di, |c, _| f64::from(db[c]));
    g.1.in_proj.w = matmul_gradient(&tape.normed, &dxz).to_f64();
    let d_normed = matmul_transposed(&dxz, &w.in_proj);
    let (d_res, dw) = rms_norm_backward(&tape.residual, &w.norm, eps, &d_normed);
    dr.data
        .iter_mut()
        .zip(&d_res.data)
        .for_each(|(a, b)| *a += b);
    g.0.weight = DVector::from_fn(dw.len(), |j, _| f64::from(dw[j]));
}
