//! The Mamba language model's forward and backward passes over a whole
//! batch in `f32`: every sequence's rows stacked into one matrix, so each
//! projection is one large matrix product; the convolution and the scan run
//! one sequence per task.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::layers::{
    causal_conv, causal_conv_backward, offsets, rms_norm, rms_norm_backward,
    sigmoid, split_by_sequence,
};
use super::rows::{
    Rows, give_back, matmul, matmul_gradient, matmul_transposed, recycled,
};
use super::scan::{
    ScanInputs, ScanParams, SequenceGrads, Strided, backward_sequence,
    forward_sequence,
};
use crate::mamba::fast::scan::exp_f32;
use crate::mamba::{MambaBlock, MambaModel, RmsNorm};
use crate::traits::Parameters;

/// Steps between the states the scan keeps (see `ScanTape`).
const CHUNK: usize = 64;

/// A block's weights in `f32`, laid out for the fast path.
struct BlockWeights {
    norm: Vec<f32>,
    in_proj: Rows,
    conv_w: Vec<f32>, // (K, d_inner): tap-major
    conv_b: Vec<f32>,
    x_proj: Rows,
    x_bias: Option<Vec<f32>>, // the time-invariant core's B and C
    dt_proj: Rows,
    dt_bias: Vec<f32>,
    a: Vec<f32>, // (N, d_inner): state-major
    d: Vec<f32>,
    out_proj: Rows,
}

fn to_f32(v: &DVector<f64>) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

impl BlockWeights {
    fn new(norm: &RmsNorm, block: &MambaBlock) -> Self {
        let zeros = DVector::zeros(block.config.d_inner());
        BlockWeights {
            norm: to_f32(&norm.weight),
            in_proj: Rows::from_f64(&block.in_proj.w),
            conv_w: Rows::from_f64(&block.conv_weight.transpose()).into_values(),
            conv_b: to_f32(&block.conv_bias),
            x_proj: Rows::from_f64(&block.x_proj.w),
            x_bias: block.x_proj.bias.as_ref().map(to_f32),
            dt_proj: Rows::from_f64(&block.dt_proj.w),
            dt_bias: to_f32(block.dt_proj.bias.as_ref().unwrap_or(&zeros)),
            a: Rows::from_f64(&block.a().transpose()).into_values(),
            d: to_f32(&block.d),
            out_proj: Rows::from_f64(&block.out_proj.w),
        }
    }
}

/// What one layer's forward pass keeps.
struct LayerTape {
    residual: Rows,
    normed: Rows,
    xz: Rows,
    conv_out: Rows,
    x: Rows,
    x_dbl: Rows,
    delta: Rows,
    y: Rows,
    states: Vec<Vec<f32>>,
}

/// The sizes the passes need.
#[derive(Clone, Copy)]
struct Dims {
    di: usize,
    n: usize,
    r: usize,
}

impl Dims {
    fn of(model: &MambaModel) -> Self {
        let c = &model.config;
        Dims {
            di: c.d_inner(),
            n: c.d_state,
            r: c.dt_rank,
        }
    }

    fn params<'a>(&self, w: &'a BlockWeights) -> ScanParams<'a> {
        ScanParams {
            a: &w.a,
            d: &w.d,
            bias: &w.dt_bias,
            n: self.n,
            di: self.di,
        }
    }

    /// The scan inputs of the sequence starting at row `start`.
    fn inputs<'a>(
        &self,
        t: &'a LayerTape,
        start: usize,
        len: usize,
    ) -> ScanInputs<'a> {
        let (di, n, r) = (self.di, self.n, self.r);
        let dbl = r + 2 * n;
        let view = |m: &'a Rows, offset| Strided {
            data: &m.data[start * m.cols..],
            stride: m.cols,
            offset,
        };
        ScanInputs {
            len,
            u: view(&t.x, 0),
            delta: view(&t.delta, 0),
            z: view(&t.xz, di),
            b: Strided {
                data: &t.x_dbl.data[start * dbl..],
                stride: dbl,
                offset: r,
            },
            c: Strided {
                data: &t.x_dbl.data[start * dbl..],
                stride: dbl,
                offset: r + n,
            },
        }
    }
}

fn silu_rows(x: &Rows) -> Rows {
    let mut y = x.clone();
    y.data.par_iter_mut().for_each(|v| *v /= 1.0 + exp_f32(-*v));
    y
}

/// What the selection projection sees: `x`, or no columns for the
/// time-invariant core (whose weight has no rows).
fn selection_input(x: &Rows, w: &BlockWeights) -> Rows {
    if w.x_proj.rows == 0 {
        Rows::zeros(x.rows, 0)
    } else {
        x.clone()
    }
}

/// One layer forward: the block on the normalised residual stream.
fn layer_forward(
    w: &BlockWeights,
    dims: Dims,
    residual: Rows,
    lens: &[usize],
    eps: f32,
) -> (Rows, LayerTape) {
    let Dims { di, n, r } = dims;
    let normed = rms_norm(&residual, &w.norm, eps);
    let xz = matmul(&normed, &w.in_proj); // (M, 2·d_inner)
    let conv_out = causal_conv(&xz, di, (&w.conv_w, &w.conv_b), lens);
    let x = silu_rows(&conv_out);
    let mut x_dbl = match w.x_bias {
        None => matmul(&x, &w.x_proj), // (M, r + 2N)
        Some(_) => Rows::zeros(x.rows, w.x_proj.cols), // no input: the bias alone
    };
    if let Some(bias) = &w.x_bias {
        x_dbl.data.par_chunks_mut(bias.len()).for_each(|row| {
            row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        });
    }
    let delta = matmul(&x_dbl.columns(0, r), &w.dt_proj); // (M, d_inner)
    let mut tape = LayerTape {
        residual,
        normed,
        xz,
        conv_out,
        x,
        x_dbl,
        delta,
        y: Rows::zeros(0, 0),
        states: Vec::new(),
    };
    let mut y = Rows::for_overwrite(tape.x.rows, di); // every entry written by the scan
    let starts = offsets(lens);
    let params = dims.params(w);
    tape.states = split_by_sequence(&mut y.data, di, lens)
        .into_par_iter()
        .zip(starts.par_iter().zip(lens))
        .map(|(out, (&start, &len))| {
            let mut states = recycled(len.div_ceil(CHUNK) * n * di);
            forward_sequence(
                &params,
                &dims.inputs(&tape, start, len),
                CHUNK,
                out,
                &mut states,
            );
            states
        })
        .collect();
    let out = matmul(&y, &w.out_proj);
    tape.y = y;
    let mut next = tape.residual.clone();
    next.data
        .iter_mut()
        .zip(&out.data)
        .for_each(|(a, b)| *a += b);
    (next, tape)
}

/// One layer backward: from the gradient of the residual stream after the
/// layer, the gradient before it (added in place) and the block's gradients.
fn layer_backward(
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
    let selection = selection_input(&tape.x, w);
    g.1.x_proj.w = matmul_gradient(&selection, &d_dbl).to_f64();
    if w.x_bias.is_some() {
        let sums = (0..d_dbl.cols)
            .map(|j| (0..rows).map(|t| f64::from(d_dbl.row(t)[j])).sum());
        g.1.x_proj.bias = Some(DVector::from_iterator(d_dbl.cols, sums));
    }
    let mut d_conv = du;
    if selection.cols > 0 {
        let dx_proj = matmul_transposed(&d_dbl, &w.x_proj);
        d_conv
            .data
            .par_iter_mut()
            .zip(&dx_proj.data)
            .for_each(|(g, p)| *g += p);
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

/// The loss and every parameter's gradient on a batch of token sequences,
/// with `targets[i][t]` the token position `t` of sequence `i` should
/// predict (or `None`), through the `f32` path; returns the summed loss
/// numerator, the correct count, the scored count and the gradients (of the
/// loss averaged over every scored position).
pub(super) fn loss_and_gradients(
    model: &MambaModel,
    tokens: &[&[usize]],
    targets: &[&[Option<usize>]],
) -> (f64, usize, usize, MambaModel) {
    let dims = Dims::of(model);
    let (dm, vocab) = (model.config.d_model, model.config.vocab_size);
    let eps = model.config.norm_eps as f32;
    let lens: Vec<usize> = tokens.iter().map(|t| t.len()).collect();
    let flat: Vec<usize> = tokens.iter().flat_map(|t| t.iter().copied()).collect();
    let embedding = Rows::from_f64(&model.embedding); // (d_model, vocab)
    let mut r = Rows::for_overwrite(flat.len(), dm);
    for (t, &tok) in flat.iter().enumerate() {
        for j in 0..dm {
            r.data[t * dm + j] = embedding.data[j * vocab + tok];
        }
    }
    let weights: Vec<BlockWeights> = model
        .layers
        .iter()
        .map(|(nm, b)| BlockWeights::new(nm, b))
        .collect();
    let mut tapes = Vec::with_capacity(weights.len());
    for w in &weights {
        let (next, tape) = layer_forward(w, dims, r, &lens, eps);
        tapes.push(tape);
        r = next;
    }
    let norm_f = to_f32(&model.norm_f.weight);
    let hidden = rms_norm(&r, &norm_f, eps);
    let logits = matmul(&hidden, &embedding); // the tied head

    let flat_targets: Vec<Option<usize>> =
        targets.iter().flat_map(|t| t.iter().copied()).collect();
    let (loss, correct, scored, d_logits) =
        cross_entropy_rows(&logits, &flat_targets);
    let mut g = model.zeros_like();
    let head = matmul_gradient(&hidden, &d_logits); // (d_model, vocab)
    let d_hidden = matmul_transposed(&d_logits, &embedding);
    let (mut dr, dw) = rms_norm_backward(&r, &norm_f, eps, &d_hidden);
    g.norm_f.weight = DVector::from_fn(dm, |j, _| f64::from(dw[j]));
    for (i, w) in weights.iter().enumerate().rev() {
        layer_backward(w, dims, &tapes[i], &mut dr, (&lens, eps), &mut g.layers[i]);
    }
    for tape in tapes {
        tape.states.into_iter().for_each(give_back);
    }
    let mut de = head.to_f64();
    for (t, &tok) in flat.iter().enumerate() {
        for j in 0..dm {
            de[(j, tok)] += f64::from(dr.data[t * dm + j]);
        }
    }
    g.embedding = de;
    (loss, correct, scored, g)
}

/// Cross-entropy over the rows with a target (Eq. G7), averaged over them:
/// the loss, the correct and scored counts, and the logits' gradient.
fn cross_entropy_rows(
    logits: &Rows,
    targets: &[Option<usize>],
) -> (f64, usize, usize, Rows) {
    let scored = targets.iter().flatten().count();
    let mut grad = Rows::zeros(logits.rows, logits.cols);
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for (t, target) in targets.iter().enumerate() {
        let Some(y) = *target else { continue };
        let z = logits.row(t);
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = z.iter().map(|v| exp_f32(v - max)).sum();
        loss += f64::from(max + sum.ln() - z[y]);
        let best = (0..z.len()).fold(0, |b, j| if z[j] > z[b] { j } else { b });
        correct += usize::from(best == y);
        let row = grad.row_mut(t);
        for j in 0..z.len() {
            let p = exp_f32(z[j] - max) / sum;
            row[j] = (p - f32::from(u8::from(j == y))) / scored as f32;
        }
    }
    (loss / scored.max(1) as f64, correct, scored, grad)
}
