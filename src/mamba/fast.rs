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

/// $\ln x$ for positive normal `f32` without branches: $x = 2^e m$ with
/// $m \in [\frac{\sqrt 2}{2}, \sqrt 2)$, and $\ln m = 2\,\mathrm{artanh}\,s$,
/// $s = \frac{m-1}{m+1}$, by its odd series to $s^9$ ($|s| < 0.172$:
/// relative error below $10^{-7}$).
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    // Exponent and mantissa, with the mantissa moved to [√2/2, √2).
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // [1, 2)
    let (m, e) = if m > std::f32::consts::SQRT_2 {
        (m * 0.5, e + 1)
    } else {
        (m, e)
    };
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 2.0
        * s
        * (1.0 + s2 * (1.0 / 3.0 + s2 * (0.2 + s2 * (1.0 / 7.0 + s2 / 9.0))));
    series + e as f32 * std::f32::consts::LN_2
}

/// softplus for `f32` from [`exp_f32`] and [`ln_f32`]: $\log(1 + e^x)$, or
/// $x$ above 20 (where they agree in `f32`). $\log(1 + y)$ is computed as
/// $\ln(u)\, y / (u - 1)$ with $u = 1 + y$ rounded (Kahan's correction):
/// for small $y = e^x$ the plain $\ln(1 + y)$ would keep only the bits of $y$
/// that survive the addition to 1, a relative error of $\epsilon / y$ (6e-6 at
/// Δ ≈ 0.01, which the property test caught).
#[inline(always)]
fn softplus_f32(x: f32) -> f32 {
    let y = exp_f32(x);
    let u = 1.0 + y;
    let d = u - 1.0;
    let log1p = if d == 0.0 { y } else { ln_f32(u) * (y / d) };
    if x > 20.0 { x } else { log1p }
}

/// The number of states updated together: eight `f32` lanes, two SSE
/// registers or one AVX register. States are padded to a multiple of it.
const LANES: usize = 8;

/// The scan's inputs rearranged once for streaming: A, B and C with the
/// states of one step contiguous and padded to whole lanes (padding states
/// have $A = -1$, $B = C = 0$, so they stay 0 and add nothing).
struct Prepared<'a> {
    args: &'a SelectiveScan<'a, f32>,
    a: Vec<f32>, // (d, n_pad) row-major
    b: Vec<f32>, // (len, n_pad) row-major
    c: Vec<f32>, // (len, n_pad) row-major
    n_pad: usize,
}

impl<'a> Prepared<'a> {
    fn new(args: &'a SelectiveScan<'a, f32>) -> Self {
        let (len, d, n) = args.dims();
        let n_pad = n.div_ceil(LANES) * LANES;
        let padded = |rows: usize, at: &dyn Fn(usize, usize) -> f32, fill: f32| {
            let mut v = vec![fill; rows * n_pad];
            for r in 0..rows {
                for k in 0..n {
                    v[r * n_pad + k] = at(r, k);
                }
            }
            v
        };
        Prepared {
            args,
            a: padded(d, &|h, k| args.a[(h, k)], -1.0),
            b: padded(len, &|t, k| args.b[(t, k)], 0.0),
            c: padded(len, &|t, k| args.c[(t, k)], 0.0),
            n_pad,
        }
    }

    /// Runs channel `ch` over steps `range` from `state` (padded), leaving the
    /// final state there. With `TRACK`, multiplies the per-state products of
    /// $\bar A$ into `product` and writes no output; otherwise writes the
    /// outputs (with skip and gate) into `y`.
    #[inline(always)]
    fn run<const TRACK: bool, const ZOH: bool>(
        &self,
        ch: usize,
        range: std::ops::Range<usize>,
        state: &mut [f32],
        y: &mut [f32],
        product: &mut [f32],
    ) {
        let args = self.args;
        let n_pad = self.n_pad;
        let a = &self.a[ch * n_pad..][..n_pad];
        let bias = args.delta_bias.map_or(0.0, |b| b[ch]);
        let skip = args.d_skip.map_or(0.0, |d| d[ch]);
        // Per-step scalars for the whole range first, in vectorisable loops.
        // Column-major: channel ch's time series is contiguous.
        let len = args.u.nrows();
        let column = |m: &'a DMatrix<f32>| &m.as_slice()[ch * len..][range.clone()];
        let (u, delta) = (column(args.u), column(args.delta));
        let dt: Vec<f32> = if args.delta_softplus {
            delta.iter().map(|x| softplus_f32(x + bias)).collect()
        } else {
            delta.iter().map(|x| x + bias).collect()
        };
        let start = range.start;
        for (i, t) in range.enumerate() {
            let (dt, ut) = (dt[i], u[i]);
            let b = &self.b[t * n_pad..][..n_pad];
            let c = &self.c[t * n_pad..][..n_pad];
            let mut acc = [0.0f32; LANES];
            for (blk, s) in state.chunks_exact_mut(LANES).enumerate() {
                let at = blk * LANES;
                let (a, b, c) =
                    (&a[at..at + LANES], &b[at..at + LANES], &c[at..at + LANES]);
                for j in 0..LANES {
                    let a_bar = exp_f32(dt * a[j]);
                    let b_bar = if ZOH {
                        let zoh = (a_bar - 1.0) / a[j];
                        if a[j] == 0.0 { dt } else { zoh }
                    } else {
                        dt
                    } * b[j];
                    s[j] = a_bar * s[j] + b_bar * ut;
                    acc[j] += c[j] * s[j];
                    if TRACK {
                        product[at + j] *= a_bar;
                    }
                }
            }
            if !TRACK {
                y[t - start] = acc.iter().sum::<f32>() + skip * ut;
            }
        }
        if let (false, Some(z)) = (TRACK, args.z) {
            let z = &z.as_slice()[ch * len + start..][..y.len()];
            for (y, z) in y.iter_mut().zip(z) {
                *y *= z / (1.0 + exp_f32(-z));
            }
        }
    }

    #[inline(always)]
    fn dispatch(
        &self,
        track: bool,
        ch: usize,
        range: std::ops::Range<usize>,
        state: &mut [f32],
        y: &mut [f32],
        product: &mut [f32],
    ) {
        match (track, self.args.b_rule) {
            (true, BRule::Euler) => {
                self.run::<true, false>(ch, range, state, y, product)
            }
            (true, BRule::Zoh) => {
                self.run::<true, true>(ch, range, state, y, product)
            }
            (false, BRule::Euler) => {
                self.run::<false, false>(ch, range, state, y, product)
            }
            (false, BRule::Zoh) => {
                self.run::<false, true>(ch, range, state, y, product)
            }
        }
    }
}

/// [`Prepared::dispatch`] compiled several times — for AVX-512, for AVX2
/// with FMA, and for the portable SSE2 baseline — with the best version for
/// this CPU chosen at run time (by the `multiversion` crate, which keeps the
/// feature detection and its `unsafe` out of this crate). The code is the
/// same; wider registers and fused multiply-adds make it faster.
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn run_multiversioned(
    prepared: &Prepared,
    track: bool,
    ch: usize,
    range: std::ops::Range<usize>,
    state: &mut [f32],
    y: &mut [f32],
    product: &mut [f32],
) {
    prepared.dispatch(track, ch, range, state, y, product);
}

/// The fast selective scan, equal to [`selective_scan`](super::selective::selective_scan)
/// up to `f32` rounding. Channels run in parallel; when there are fewer
/// channels than about four per thread, time is also split into chunks: a
/// first pass runs every chunk from a zero state to get its end state and the
/// product of its multipliers, a sequential pass over chunks turns those into
/// each chunk's true initial state (chapter 6's carry), and a second pass
/// reruns every chunk from it. A channel's state lives in one small buffer
/// for the whole run.
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
    let prepared = Prepared::new(args);
    let n_pad = prepared.n_pad;
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
        vec![vec![vec![0.0; n_pad]]; d]
    } else {
        // Pass 1: every (channel, chunk) from zero → (end state, product).
        let ends: Vec<(Vec<f32>, Vec<f32>)> = (0..d * chunks)
            .into_par_iter()
            .map(|job| {
                let (ch, j) = (job / chunks, job % chunks);
                let range = (j * chunk_len).min(len)..((j + 1) * chunk_len).min(len);
                let (mut state, mut product) = (vec![0.0; n_pad], vec![1.0; n_pad]);
                run_multiversioned(
                    &prepared,
                    true,
                    ch,
                    range,
                    &mut state,
                    &mut [],
                    &mut product,
                );
                (state, product)
            })
            .collect();
        // Carries: h_start(j+1) = P_j ⊙ h_start(j) + E_j, sequential over chunks.
        (0..d)
            .map(|ch| {
                let mut carry = vec![0.0f32; n_pad];
                let mut starts = Vec::with_capacity(chunks);
                for j in 0..chunks {
                    starts.push(carry.clone());
                    let (end, product) = &ends[ch * chunks + j];
                    for k in 0..n_pad {
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
            run_multiversioned(
                &prepared,
                false,
                ch,
                range,
                &mut state,
                &mut out,
                &mut [],
            );
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
