//! The Mamba language model's forward and backward passes over a whole
//! batch in `f32`: every sequence's rows stacked into one matrix, so each
//! projection is one large matrix product; the convolution and the scan run
//! one sequence per task.

use nalgebra::DVector;
use rayon::prelude::*;

use super::layers::{
    causal_conv, offsets, rms_norm, rms_norm_backward, split_by_sequence,
};
use super::rows::{
    Rows, give_back, matmul, matmul_gradient, matmul_transposed, recycled,
};
use super::scan::{ScanInputs, ScanParams, Strided, forward_sequence};
use crate::mamba::fast::scan::exp_f32;
use crate::mamba::{MambaBlock, MambaModel, RmsNorm};
use crate::traits::Parameters;

mod backward;

use backward::layer_backward;

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

/// Cross-entropy over the rows with a target (Eq. G1), averaged over them:
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
