//! The element-wise and per-channel layers of the fast training path, in
//! `f32` on row-major batches: RMSNorm, the causal depthwise convolution and
//! SiLU, each with its backward pass (Eqs. G3 and G6 of the readable path).

use rayon::prelude::*;

use super::rows::Rows;
use crate::mamba::fast::scan::exp_f32;

/// $\sigma(x)$.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// RMSNorm of every row with weight `w` and ε `eps`.
///
/// # Panics
/// If `w` does not have one entry per column of `x`.
pub fn rms_norm(x: &Rows, w: &[f32], eps: f32) -> Rows {
    assert_eq!(
        w.len(),
        x.cols,
        "rms_norm: w ({},) vs rows of {} columns",
        w.len(),
        x.cols
    );
    let mut y = x.clone();
    y.data.par_chunks_mut(x.cols).for_each(|row| {
        let s = 1.0
            / (row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32 + eps)
                .sqrt();
        row.iter_mut().zip(w).for_each(|(v, w)| *v *= s * w);
    });
    y
}

/// The backward pass of [`rms_norm`]: the input's gradient and the weight's
/// (Eq. G6).
pub fn rms_norm_backward(
    x: &Rows,
    w: &[f32],
    eps: f32,
    dy: &Rows,
) -> (Rows, Vec<f32>) {
    let d = x.cols;
    let mut dx = Rows::for_overwrite(x.rows, d); // every entry written
    let parts: Vec<Vec<f32>> = dx
        .data
        .par_chunks_mut(256 * d)
        .enumerate()
        .map(|(block, out)| {
            let mut dw = vec![0.0; d];
            for (i, dx_row) in out.chunks_mut(d).enumerate() {
                let t = block * 256 + i;
                let (x_t, dy_t) = (x.row(t), dy.row(t));
                let s = 1.0
                    / (x_t.iter().map(|v| v * v).sum::<f32>() / d as f32 + eps)
                        .sqrt();
                let g_dot_x: f32 = (0..d).map(|j| dy_t[j] * w[j] * x_t[j]).sum();
                let k = s * s * s / d as f32 * g_dot_x;
                for j in 0..d {
                    dx_row[j] = s * dy_t[j] * w[j] - k * x_t[j];
                    dw[j] += s * x_t[j] * dy_t[j];
                }
            }
            dw
        })
        .collect();
    let mut dw = vec![0.0; d];
    for part in parts {
        dw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    (dx, dw)
}

/// The causal depthwise convolution of columns `0 .. di` of `x` (whose rows
/// have `x.cols` entries) for every sequence: taps `w` `(K, di)` row-major,
/// bias `b`; `(M, di)`.
///
/// # Panics
/// If `w` is not whole rows of `di` taps, `b` is not `di` long, `x` has
/// fewer than `di` columns, or `lens` does not add up to `x`'s rows.
pub fn causal_conv(
    x: &Rows,
    di: usize,
    (w, b): (&[f32], &[f32]),
    lens: &[usize],
) -> Rows {
    assert!(
        di > 0 && w.len().is_multiple_of(di) && b.len() == di && x.cols >= di,
        "causal_conv: w ({},), b ({},) and rows of {} columns for {di} channels",
        w.len(),
        b.len(),
        x.cols
    );
    check_lens("causal_conv", lens, x.rows);
    let taps = w.len() / di;
    let mut y = Rows::for_overwrite(x.rows, di); // every row starts as the bias
    for_each_sequence(&mut y.data, di, lens, |start, out| {
        for (i, row) in out.chunks_mut(di).enumerate() {
            row.copy_from_slice(b);
            for k in (0..taps).filter(|k| i + k + 1 >= taps) {
                let s = x.row(start + i + k + 1 - taps);
                for c in 0..di {
                    row[c] += w[k * di + c] * s[c];
                }
            }
        }
    });
    y
}

/// The backward pass of [`causal_conv`] (Eq. G3): the input's gradient
/// `(M, di)`, the taps' `(K, di)` and the bias's `(di,)`.
pub fn causal_conv_backward(
    x: &Rows,
    w: &[f32],
    dy: &Rows,
    lens: &[usize],
) -> (Rows, Vec<f32>, Vec<f32>) {
    let di = dy.cols;
    let taps = w.len() / di;
    let mut dx = Rows::zeros(x.rows, di);
    let starts = offsets(lens);
    let parts: Vec<(Vec<f32>, Vec<f32>)> = split_by_sequence(&mut dx.data, di, lens)
        .into_par_iter()
        .zip(starts.par_iter())
        .map(|(out, &start)| {
            let (mut dw, mut db) = (vec![0.0; taps * di], vec![0.0; di]);
            for i in 0..out.len() / di {
                let g = dy.row(start + i);
                db.iter_mut().zip(g).for_each(|(a, b)| *a += b);
                for k in (0..taps).filter(|k| i + k + 1 >= taps) {
                    let s = i + k + 1 - taps; // the input tap k reads at output i
                    let xs = x.row(start + s);
                    for c in 0..di {
                        dw[k * di + c] += g[c] * xs[c];
                        out[s * di + c] += w[k * di + c] * g[c];
                    }
                }
            }
            (dw, db)
        })
        .collect();
    let (mut dw, mut db) = (vec![0.0; taps * di], vec![0.0; di]);
    for (pw, pb) in parts {
        dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    (dx, dw, db)
}

/// The first row of every sequence in the stacked batch.
pub fn offsets(lens: &[usize]) -> Vec<usize> {
    lens.iter()
        .scan(0, |at, &len| {
            let start = *at;
            *at += len;
            Some(start)
        })
        .collect()
}

/// A stacked batch's buffer (`width` values per row) split into one
/// mutable slice per sequence.
///
/// # Panics
/// If the sequences need more rows than `data` holds.
pub fn split_by_sequence<'a>(
    data: &'a mut [f32],
    width: usize,
    lens: &[usize],
) -> Vec<&'a mut [f32]> {
    check_lens("split_by_sequence", lens, data.len() / width.max(1));
    let mut rest = data;
    let mut parts = Vec::with_capacity(lens.len());
    for &len in lens {
        let (head, tail) = rest.split_at_mut(len * width);
        parts.push(head);
        rest = tail;
    }
    parts
}

/// Runs `f(first row, that sequence's rows)` for every sequence, in
/// parallel.
pub fn for_each_sequence(
    data: &mut [f32],
    width: usize,
    lens: &[usize],
    f: impl Fn(usize, &mut [f32]) + Sync,
) {
    let starts = offsets(lens);
    split_by_sequence(data, width, lens)
        .into_par_iter()
        .zip(starts.par_iter())
        .for_each(|(part, &start)| f(start, part));
}

/// Panics unless the sequence lengths `lens` add up to at most `rows`.
#[track_caller]
fn check_lens(function: &str, lens: &[usize], rows: usize) {
    let total = lens.iter().try_fold(0usize, |t, &l| t.checked_add(l));
    assert!(
        total.is_some_and(|t| t <= rows),
        "{function}: sequences of {lens:?} rows in a batch of {rows}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let payload = std::panic::catch_unwind(f).expect_err("should panic");
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    }

    /// The fast trainer's building blocks name what does not fit (they read
    /// past a row, or silently dropped columns, before).
    #[test]
    fn misfitting_inputs_panic_naming_them() {
        let m = message(|| drop(rms_norm(&Rows::zeros(3, 4), &[1.0; 3], 1e-5)));
        assert!(m.contains("rms_norm") && m.contains("(3,)"), "{m}");
        let m = message(|| {
            drop(causal_conv(
                &Rows::zeros(6, 4),
                4,
                (&[1.0; 7], &[0.0; 4]),
                &[6],
            ))
        });
        assert!(m.contains("causal_conv") && m.contains("(7,)"), "{m}");
        let m = message(|| {
            drop(causal_conv(
                &Rows::zeros(6, 4),
                4,
                (&[1.0; 8], &[0.0; 4]),
                &[4, 4],
            ))
        });
        assert!(m.contains("[4, 4]") && m.contains("batch of 6"), "{m}");
        let m = message(|| {
            let mut data = vec![0.0f32; 12];
            drop(split_by_sequence(&mut data, 3, &[2, 3]));
        });
        assert!(
            m.contains("split_by_sequence") && m.contains("batch of 4"),
            "{m}"
        );
    }
}
