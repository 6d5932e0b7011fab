//! The fast selective scan: `f32`, channels in parallel, long sequences also
//! split into chunks of time, a vectorisable `exp`, and no `(len, d, n)`
//! tensor: each state lives in registers for the whole sequence.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::selective::{BRule, ScanOutput, SelectiveScan};

/// $e^x$ for `f32` without branches, so that a loop over states vectorises:
/// $x \log_2 e = i + f$ with $|f| \le \frac12$, $2^f$ by its degree-6 Taylor
/// polynomial (relative error below $1.3 \times 10^{-7}$, about two units in
/// the last place), $2^i$ by writing the exponent bits. Arguments below −87
/// give about $10^{-38}$ instead of a subnormal or zero.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const SHIFTER: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer
    let t = x.clamp(-87.0, 88.0) * std::f32::consts::LOG2_E;
    let shifted = t + SHIFTER;
    let f = t - (shifted - SHIFTER); // in [−½, ½]
    let i = shifted.to_bits().wrapping_sub(SHIFTER.to_bits()) as i32;
    let l = std::f32::consts::LN_2;
    let p = 1.0
        + f * (l + f
            * (l * l / 2.0
                + f * (l * l * l / 6.0
                    + f * (l * l * l * l / 24.0
                        + f * (l * l * l * l * l / 120.0
                            + f * (l * l * l * l * l * l / 720.0))))));
    p * f32::from_bits(((i + 127) as u32) << 23)
}

/// The scan's inputs rearranged once for streaming: B and C with the states
/// of one step contiguous (`[t][k]`), and Δ's bias folded in.
struct Prepared<'a> {
    args: &'a SelectiveScan<'a, f32>,
    b: Vec<f32>, // (len, n) row-major
    c: Vec<f32>, // (len, n) row-major
    n: usize,
}

impl Prepared<'_> {
    /// Runs channel `ch` over steps `range` from `state`, leaving the final
    /// state there; writes the outputs (with skip and gate) into `y` if given;
    /// returns the product of the multipliers over the range (per state) in
    /// `product` if given.
    fn run(
        &self,
        ch: usize,
        range: std::ops::Range<usize>,
        state: &mut [f32],
        mut y: Option<&mut [f32]>,
        mut product: Option<&mut [f32]>,
    ) {
        let args = self.args;
        let n = self.n;
        let a: Vec<f32> = (0..n).map(|k| args.a[(ch, k)]).collect();
        let u = &args.u.column(ch);
        let delta = &args.delta.column(ch);
        let bias = args.delta_bias.map_or(0.0, |b| b[ch]);
        let skip = args.d_skip.map_or(0.0, |d| d[ch]);
        let start = range.start;
        for t in range {
            let raw = delta[t] + bias;
            let dt = if args.delta_softplus {
                softplus_f32(raw)
            } else {
                raw
            };
            let ut = u[t];
            let (b, c) = (&self.b[t * n..][..n], &self.c[t * n..][..n]);
            let mut out = 0.0;
            for k in 0..n {
                let a_bar = exp_f32(dt * a[k]);
                let b_bar = match args.b_rule {
                    BRule::Euler => dt * b[k],
                    BRule::Zoh if a[k] == 0.0 => dt * b[k],
                    BRule::Zoh => (a_bar - 1.0) / a[k] * b[k],
                };
                state[k] = a_bar * state[k] + b_bar * ut;
                out += c[k] * state[k];
                if let Some(p) = product.as_deref_mut() {
                    p[k] *= a_bar;
                }
            }
            if let Some(y) = y.as_deref_mut() {
                let mut out = out + skip * ut;
                if let Some(z) = args.z {
                    let z = z[(t, ch)];
                    out *= z / (1.0 + exp_f32(-z));
                }
                y[t - start] = out;
            }
        }
    }
}

fn softplus_f32(x: f32) -> f32 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// The fast selective scan, equal to [`selective_scan`](super::selective::selective_scan)
/// up to `f32` rounding. Channels run in parallel; when there are fewer
/// channels than about four per thread, time is also split into chunks: a
/// first pass runs every chunk from a zero state to get its end state and the
/// product of its multipliers, a sequential pass over chunks turns those into
/// each chunk's true initial state (chapter 6's carry), and a second pass
/// reruns every chunk from it. The state of a channel never leaves the stack.
///
/// # Shapes
/// See [`SelectiveScan`].
///
/// # References
/// Mamba §3.3.2 and App. D (the hardware-aware scan: chunks of the sequence
/// in fast memory, states carried between them).
// ANCHOR: selective_scan_fast
pub fn selective_scan_fast(args: &SelectiveScan<f32>) -> ScanOutput<f32> {
    let (len, d, n) = args.dims();
    let row_major =
        |m: &DMatrix<f32>| -> Vec<f32> { m.transpose().as_slice().to_vec() };
    let prepared = Prepared {
        args,
        b: row_major(args.b),
        c: row_major(args.c),
        n,
    };
    let threads = rayon::current_num_threads();
    let chunks = if d >= 4 * threads {
        1
    } else {
        (4 * threads).div_ceil(d).min(len.div_ceil(64)).max(1)
    };
    let chunk_len = len.div_ceil(chunks).max(1);
    let mut y = DMatrix::zeros(len, d);
    let mut last = vec![vec![0.0f32; n]; d];
    let carries: Vec<Vec<Vec<f32>>> = if chunks == 1 {
        vec![vec![vec![0.0; n]]; d]
    } else {
        // Pass 1: every (channel, chunk) from zero → (end state, product).
        let ends: Vec<(Vec<f32>, Vec<f32>)> = (0..d * chunks)
            .into_par_iter()
            .map(|job| {
                let (ch, j) = (job / chunks, job % chunks);
                let range = (j * chunk_len).min(len)..((j + 1) * chunk_len).min(len);
                let (mut state, mut product) = (vec![0.0; n], vec![1.0; n]);
                prepared.run(ch, range, &mut state, None, Some(&mut product));
                (state, product)
            })
            .collect();
        // Carries: h_start(j+1) = P_j ⊙ h_start(j) + E_j, sequential over chunks.
        (0..d)
            .map(|ch| {
                let mut carry = vec![0.0f32; n];
                let mut starts = Vec::with_capacity(chunks);
                for j in 0..chunks {
                    starts.push(carry.clone());
                    let (end, product) = &ends[ch * chunks + j];
                    for k in 0..n {
                        carry[k] = product[k] * carry[k] + end[k];
                    }
                }
                starts
            })
            .collect()
    };
    // Pass 2 (the only pass with one chunk): every (channel, chunk) from its
    // true initial state, writing the outputs.
    let results: Vec<(Vec<f32>, Vec<f32>)> = (0..d * chunks)
        .into_par_iter()
        .map(|job| {
            let (ch, j) = (job / chunks, job % chunks);
            let range = (j * chunk_len).min(len)..((j + 1) * chunk_len).min(len);
            let mut state = carries[ch][j].clone();
            let mut out = vec![0.0; range.len()];
            prepared.run(ch, range, &mut state, Some(&mut out), None);
            (out, state)
        })
        .collect();
    for (job, (out, state)) in results.into_iter().enumerate() {
        let (ch, j) = (job / chunks, job % chunks);
        let start = (j * chunk_len).min(len);
        y.column_mut(ch)
            .rows_mut(start, out.len())
            .copy_from_slice(&out);
        if j == chunks - 1 {
            last[ch] = state;
        }
    }
    ScanOutput {
        y,
        last_state: DMatrix::from_fn(d, n, |ch, k| last[ch][k]),
    }
}
// ANCHOR_END: selective_scan_fast

/// The readable scan's arguments converted to `f32` (for comparing the two).
pub fn to_f32(m: &DMatrix<f64>) -> DMatrix<f32> {
    m.map(|x| x as f32)
}

/// [`to_f32`] for vectors.
pub fn to_f32_vector(v: &DVector<f64>) -> DVector<f32> {
    v.map(|x| x as f32)
}
