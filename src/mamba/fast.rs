//! The fast selective scan: `f32`, sixteen channels at a time in the lanes of
//! one vector register, blocks of channels in parallel, long sequences with
//! few channels also split into chunks of time, a vectorisable `exp`, and no
//! `(len, d, n)` tensor: each state lives in a small buffer for the whole run.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::selective::{BRule, ScanOutput, SelectiveScan};

/// $a b + c$: one fused multiply-add where the CPU has it (`FMA`), else a
/// multiply and an add (a software `fma` would be far slower).
#[inline(always)]
fn mul_add<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// $2^t$ for `f32` without branches, so that a loop over lanes vectorises:
/// $t = i + f$ with $i$ an integer and $|f| \le \frac12$; $2^f$ by a
/// degree-5 polynomial fitted for the least maximum relative error
/// ($1.0 \times 10^{-7}$ in exact arithmetic, below $2 \times 10^{-7}$, about
/// two units in the last place, as evaluated in `f32`); $2^i$ by adding $i$
/// to the result's exponent bits. $t$ is clamped to $[-125, 127]$, so
/// arguments below −125 give about $2.4 \times 10^{-38}$ instead of a
/// subnormal or zero.
#[inline(always)]
fn exp2_lane<const FMA: bool>(t: f32) -> f32 {
    const SHIFTER: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer
    const P: [f32; 5] = [
        0.693_147_06,
        0.240_222_42,
        0.055_505_823,
        0.009_671_517,
        0.001_330_882_4,
    ];
    let t = t.clamp(-125.0, 127.0);
    let shifted = t + SHIFTER; // its low mantissa bits hold i
    let f = t - (shifted - SHIFTER);
    let q = mul_add::<FMA>(P[4], f, P[3]);
    let q = mul_add::<FMA>(q, f, P[2]);
    let q = mul_add::<FMA>(q, f, P[1]);
    let q = mul_add::<FMA>(q, f, P[0]);
    let p = mul_add::<FMA>(q, f, 1.0); // 2^f in [0.70, 1.42]
    // i << 23 is the shifted bits << 23 (the shifter's own bits shift out).
    f32::from_bits(p.to_bits().wrapping_add(shifted.to_bits() << 23))
}

/// $2^t$ for `f32` (see `exp2_lane` in the source): a polynomial without
/// branches, within $2 \times 10^{-7}$ relative error for
/// $t \in [-125, 127]$.
#[inline(always)]
pub fn exp2_f32(t: f32) -> f32 {
    exp2_lane::<false>(t)
}

/// $e^x$ for `f32` without branches: $2^{x \log_2 e}$ by [`exp2_f32`].
/// Relative error below $2 \times 10^{-7}$ plus the two roundings in
/// $x \log_2 e$ (of $\log_2 e$ and of the product: up to
/// $|x| \cdot 1.2 \times 10^{-7}$); arguments below about −86.6
/// give about $2.4 \times 10^{-38}$ instead of a subnormal or zero.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    exp2_f32(x * std::f32::consts::LOG2_E)
}

/// softplus for `f32` without branches:
/// $\log(1 + e^x) = \max(x, 0) + \log(1 + w)$ with $w = e^{-|x|} \in (0, 1]$,
/// and $\log(1 + w) = 2\,\mathrm{artanh}\, s$ with $s = w / (2 + w) \in [0, \frac13]$,
/// by its odd series to $s^{15}$ (the next term is below
/// $1.5 \times 10^{-9}$ of the sum). Every piece keeps its relative accuracy
/// when $w$ is tiny: computing $\ln(1 + w)$ as the logarithm of the rounded
/// $1 + w$ would keep only the bits of $w$ that survive the addition to 1, a
/// relative error of $\epsilon / w$ (6e-6 at Δ ≈ 0.01, which the property test
/// caught in an earlier version).
#[inline(always)]
pub fn softplus_f32(x: f32) -> f32 {
    let w = exp_f32(-x.abs());
    let s = w / (2.0 + w);
    let s2 = s * s;
    let mut series = 1.0 / 15.0;
    for k in [13.0f32, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
        series = series * s2 + 1.0 / k;
    }
    x.max(0.0) + 2.0 * s * series
}

/// The number of channels updated together: sixteen `f32` lanes, one
/// AVX-512 register (two AVX ones, four SSE ones). Channels are padded to a
/// multiple of it.
const W: usize = 16;

/// One value for each of the [`W`] channels of a block.
type Lanes = [f32; W];

/// The number of steps whose multipliers $e^{\Delta A}$ are computed ahead of
/// the recurrence (16 KB of them at $N = 16$).
const SUB: usize = 16;

/// The number of steps whose inputs are gathered at once (64 KB per input:
/// second-level cache, and long enough runs of each column to stream).
const TILE: usize = 1024;

/// The scan's inputs rearranged once for streaming. Per block of [`W`]
/// channels and per state $k$: $A \log_2 e$ and $1/A$ across the lanes
/// (padding channels have $A = -1$ and, below, $\Delta = u = 0$, so their
/// states stay 0). B and C with the states of one step contiguous.
struct Prepared<'a> {
    args: &'a SelectiveScan<'a, f32>,
    n: usize,
    a2: Vec<Lanes>,    // (blocks, n): A·log₂e
    inv_a: Vec<Lanes>, // (blocks, n): 1/A, or 0 where A = 0 (ZOH only)
    b: Vec<f32>,       // (len, n) row-major
    c: Vec<f32>,       // (len, n) row-major
}

impl<'a> Prepared<'a> {
    fn new(args: &'a SelectiveScan<'a, f32>) -> Self {
        let (len, d, n) = args.dims();
        let blocks = d.div_ceil(W);
        let lanes = |f: &dyn Fn(f32) -> f32| -> Vec<Lanes> {
            let mut v = vec![[f(-1.0); W]; blocks * n];
            for ch in 0..d {
                for k in 0..n {
                    v[(ch / W) * n + k][ch % W] = f(args.a[(ch, k)]);
                }
            }
            v
        };
        let rows = |m: &DMatrix<f32>| -> Vec<f32> {
            (0..len)
                .flat_map(|t| (0..n).map(move |k| m[(t, k)]))
                .collect()
        };
        Prepared {
            args,
            n,
            a2: lanes(&|a| a * std::f32::consts::LOG2_E),
            inv_a: lanes(&|a| if a == 0.0 { 0.0 } else { 1.0 / a }),
            b: rows(args.b),
            c: rows(args.c),
        }
    }

    /// Copies the `(len, d)` matrix `m` at steps `t0..t0 + tile.len()` for
    /// the channels of block `blk` into `tile`, lane by lane (padding lanes
    /// get 0): a small transposition that stays in cache.
    #[inline(never)] // scalar copies: vectorised, this becomes slow scatter stores
    fn gather(&self, m: &DMatrix<f32>, blk: usize, t0: usize, tile: &mut [Lanes]) {
        let len = m.nrows();
        let channels = W.min(m.ncols() - blk * W);
        let columns: [&[f32]; W] = std::array::from_fn(|j| {
            let ch = blk * W + j.min(channels - 1); // padding lanes: zeroed below
            &m.as_slice()[ch * len + t0..][..tile.len()]
        });
        for (i, row) in tile.iter_mut().enumerate() {
            for j in 0..W {
                row[j] = columns[j][i];
            }
            row[channels..].fill(0.0);
        }
    }

    /// Runs block `blk` over steps `range` from `state` (one [`Lanes`] per
    /// state $k$), leaving the final state there, [`TILE`] steps at a time
    /// (their inputs gathered into small buffers that stay in cache). With
    /// `OUT`, writes the outputs (with skip and gate) into `out`, one slice of
    /// `range.len()` per channel of the block; without, writes nothing. Returns
    /// $\sum_t \Delta_t$ per lane, from which the product of the multipliers
    /// is $e^{A \sum_t \Delta_t}$.
    #[inline(always)]
    fn run<const OUT: bool, const ZOH: bool, const FMA: bool>(
        &self,
        blk: usize,
        range: std::ops::Range<usize>,
        state: &mut [Lanes],
        out: &mut [&mut [f32]],
    ) -> Lanes {
        let (args, n) = (self.args, self.n);
        let a2 = &self.a2[blk * n..][..n];
        let inv_a = &self.inv_a[blk * n..][..n];
        let bias = args.delta_bias.map(|b| self.lanes_of(b, blk));
        let skip = args.d_skip.map_or([0.0; W], |d| self.lanes_of(d, blk));
        let mut a_bars = vec![[0.0f32; W]; SUB * n];
        let mut dt_sum = [0.0f32; W];
        let mut u = [[0.0f32; W]; TILE];
        let mut dt = [[0.0f32; W]; TILE];
        let mut y = [[0.0f32; W]; TILE];
        for t0 in range.clone().step_by(TILE) {
            let steps = TILE.min(range.end - t0);
            let (u, dt, y) = (&mut u[..steps], &mut dt[..steps], &mut y[..steps]);
            self.gather(args.u, blk, t0, u);
            self.gather(args.delta, blk, t0, dt);
            // Δ = softplus(delta + bias), in flat loops that vectorise.
            if let Some(bias) = bias {
                for dt in dt.iter_mut() {
                    for j in 0..W {
                        dt[j] += bias[j];
                    }
                }
            }
            if args.delta_softplus {
                for x in dt.as_flattened_mut() {
                    *x = softplus_f32(*x); // padding lanes get some Δ; u = 0 keeps them 0
                }
            }
            for dt in dt.iter() {
                for j in 0..W {
                    dt_sum[j] += dt[j];
                }
            }
            self.recur::<OUT, ZOH, FMA>(
                (a2, inv_a),
                t0,
                (dt, u),
                state,
                y,
                &mut a_bars,
            );
            if !OUT {
                continue;
            }
            for (y, u) in y.iter_mut().zip(u.iter()) {
                for j in 0..W {
                    y[j] = mul_add::<FMA>(skip[j], u[j], y[j]);
                }
            }
            // Back to the channels' columns; the gate on contiguous slices.
            scatter(y, t0 - range.start, out);
            let len = args.u.nrows();
            for (j, column) in out.iter_mut().enumerate() {
                let ch = blk * W + j;
                let piece = &mut column[t0 - range.start..][..steps];
                if let Some(gate) = args.z {
                    let z = &gate.as_slice()[ch * len + t0..][..steps];
                    for (o, z) in piece.iter_mut().zip(z) {
                        *o *= z / (1.0 + exp_f32(-z)); // SiLU(z)
                    }
                }
            }
        }
        dt_sum
    }

    /// The selective recurrence for one block of [`W`] channels over the
    /// steps of a tile starting at `t0` ($\Delta$ and $u$ given lane by lane),
    /// from `state` and leaving the final state there; with `OUT`, writes
    /// $y_t = C_t h_t$ per lane (skip and gate come after). [`SUB`] steps at a
    /// time: first all their multipliers $\bar A = 2^{\Delta A \log_2 e}$ into
    /// `a_bars` (independent work, so the long dependency chains of the
    /// exponentials overlap), then the recurrence itself, whose chain from
    /// step to step is one multiply-add long. Every line is one vector
    /// instruction for the sixteen channels: LLVM turns each fixed 16-lane
    /// loop into one. (That is its choice, not a guarantee: an unrelated edit
    /// to this module once made it vectorise the loop over states with
    /// gathers instead, at half the speed. `cargo bench --bench scans` shows
    /// it.)
    // ANCHOR: fast_scan_kernel
    #[inline(always)]
    fn recur<const OUT: bool, const ZOH: bool, const FMA: bool>(
        &self,
        (a2, inv_a): (&[Lanes], &[Lanes]),
        t0: usize,
        (dt, u): (&[Lanes], &[Lanes]),
        state: &mut [Lanes],
        y: &mut [Lanes],
        a_bars: &mut [Lanes],
    ) {
        let n = self.n;
        for sub in (0..dt.len()).step_by(SUB) {
            let steps = sub..(sub + SUB).min(dt.len());
            for (dt, a_bar) in
                dt[steps.clone()].iter().zip(a_bars.chunks_exact_mut(n))
            {
                for (a_bar, a2) in a_bar.iter_mut().zip(a2) {
                    *a_bar =
                        std::array::from_fn(|j| exp2_lane::<FMA>(dt[j] * a2[j]));
                }
            }
            for (i, a_bar) in steps.zip(a_bars.chunks_exact(n)) {
                let (dt, u, t) = (&dt[i], &u[i], t0 + i);
                let (b, c) = (&self.b[t * n..][..n], &self.c[t * n..][..n]);
                let du: Lanes = std::array::from_fn(|j| dt[j] * u[j]);
                let mut acc = [0.0f32; W];
                for (((h, a_bar), inv_a), (&b, &c)) in
                    state.iter_mut().zip(a_bar).zip(inv_a).zip(b.iter().zip(c))
                {
                    // B̄u: Euler's ΔBu, or exact ZOH's (e^{ΔA} − 1)/A·Bu (→ ΔBu as A → 0).
                    let input: Lanes = std::array::from_fn(|j| {
                        if !ZOH || inv_a[j] == 0.0 {
                            du[j] * b
                        } else {
                            (a_bar[j] - 1.0) * inv_a[j] * u[j] * b
                        }
                    });
                    let next: Lanes = std::array::from_fn(|j| {
                        mul_add::<FMA>(a_bar[j], h[j], input[j])
                    });
                    *h = next;
                    if OUT {
                        acc = std::array::from_fn(|j| {
                            mul_add::<FMA>(c, next[j], acc[j])
                        });
                    }
                }
                if OUT {
                    y[i] = acc;
                }
            }
        }
    }
    // ANCHOR_END: fast_scan_kernel

    /// The entries of the `(d,)` vector `v` for block `blk` (0 in padding).
    fn lanes_of(&self, v: &DVector<f32>, blk: usize) -> Lanes {
        let mut out = [0.0; W];
        for (j, o) in out.iter_mut().enumerate() {
            if let Some(x) = v.get(blk * W + j) {
                *o = *x;
            }
        }
        out
    }
}

/// Writes lane `j` of `tile` into `out[j]` from `offset` on: the inverse of
/// [`Prepared::gather`], with scalar copies for the same reason.
#[inline(never)]
fn scatter(tile: &[Lanes], offset: usize, out: &mut [&mut [f32]]) {
    for (j, column) in out.iter_mut().enumerate() {
        for (o, row) in column[offset..][..tile.len()].iter_mut().zip(tile) {
            *o = row[j];
        }
    }
}

/// [`Prepared::run`] for the CPU at hand: compiled for AVX-512, for AVX2
/// with FMA, and for the portable SSE2 baseline, with the best version chosen
/// at run time by the `multiversion` crate (which keeps the feature detection
/// and its `unsafe` out of this crate). The code is the same; wider registers
/// and fused multiply-adds make it faster.
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn run_block(
    prepared: &Prepared,
    write: bool,
    blk: usize,
    range: std::ops::Range<usize>,
    state: &mut [Lanes],
    out: &mut [&mut [f32]],
) -> Lanes {
    use multiversion::target::target_cfg_f;
    let zoh = prepared.args.b_rule == BRule::Zoh;
    macro_rules! go {
        ($fma:expr) => {
            match (write, zoh) {
                (true, false) => {
                    prepared.run::<true, false, $fma>(blk, range, state, out)
                }
                (true, true) => {
                    prepared.run::<true, true, $fma>(blk, range, state, out)
                }
                (false, false) => {
                    prepared.run::<false, false, $fma>(blk, range, state, out)
                }
                (false, true) => {
                    prepared.run::<false, true, $fma>(blk, range, state, out)
                }
            }
        };
    }
    if target_cfg_f!(target_feature = "fma") {
        go!(true)
    } else {
        go!(false)
    }
}

/// The fast selective scan, equal to [`selective_scan`](super::selective::selective_scan)
/// up to `f32` rounding. Sixteen channels share the lanes of each vector
/// operation, so that the update of one state is one instruction for the
/// whole block; blocks run in parallel. When there are fewer blocks than
/// about four per thread, time is also split into chunks: a first pass runs
/// every chunk from a zero state to get its end state and $\sum \Delta$ (the
/// product of its multipliers is $e^{A \sum \Delta}$), a sequential pass over
/// chunks turns those into each chunk's true initial state (chapter 6's
/// carry), and a second pass reruns every chunk from it.
///
/// # Shapes
/// See [`SelectiveScan`].
///
/// # References
/// Mamba §3.3.2 and App. D (the hardware-aware scan: chunks of the sequence
/// in fast memory, states carried between them).
// ANCHOR: selective_scan_fast
pub fn selective_scan_fast(args: &SelectiveScan<f32>) -> ScanOutput<f32> {
    let (len, d, _) = args.dims();
    let (blocks, threads) = (d.div_ceil(W), rayon::current_num_threads());
    let chunks = if blocks >= 4 * threads {
        1
    } else {
        (4 * threads).div_ceil(blocks.max(1)).min(len.div_ceil(64))
    };
    selective_scan_fast_chunked(args, chunks)
}
// ANCHOR_END: selective_scan_fast

/// [`selective_scan_fast`] with time split into `chunks` chunks of equal
/// length (the last may be shorter or empty; 0 counts as 1), whatever the
/// number of channels and threads: the automatic choice, opened up so that
/// tests can drive both paths on any machine.
pub fn selective_scan_fast_chunked(
    args: &SelectiveScan<f32>,
    chunks: usize,
) -> ScanOutput<f32> {
    let (len, d, n) = args.dims();
    let prepared = Prepared::new(args);
    let blocks = d.div_ceil(W);
    let chunks = chunks.max(1);
    let chunk_len = len.div_ceil(chunks).max(1);
    let range = |j: usize| (j * chunk_len).min(len)..((j + 1) * chunk_len).min(len);
    let mut last = DMatrix::zeros(d, n);
    let mut starts: Vec<Vec<Lanes>> = vec![vec![[0.0; W]; n]; blocks * chunks];
    if chunks > 1 {
        // Pass 1: every (block, chunk) from zero → (end state, Σ Δ).
        let ends: Vec<(Vec<Lanes>, Lanes)> = (0..blocks * chunks)
            .into_par_iter()
            .map(|job| {
                let (blk, j) = (job / chunks, job % chunks);
                let mut state = vec![[0.0; W]; n];
                let dt_sum =
                    run_block(&prepared, false, blk, range(j), &mut state, &mut []);
                (state, dt_sum)
            })
            .collect();
        // Carries: h_start(j+1) = e^{A ΣΔ_j} ⊙ h_start(j) + E_j, in order.
        for blk in 0..blocks {
            let mut carry = vec![[0.0f32; W]; n];
            for j in 0..chunks {
                starts[blk * chunks + j] = carry.clone();
                let (end, dt_sum) = &ends[blk * chunks + j];
                for k in 0..n {
                    let a2 = prepared.a2[blk * n + k];
                    for l in 0..W {
                        let product = exp2_f32(a2[l] * dt_sum[l]);
                        carry[k][l] = product * carry[k][l] + end[k][l];
                    }
                }
            }
        }
    }
    // Pass 2 (the only pass with one chunk): every (block, chunk) from its
    // true initial state, writing its outputs straight into its pieces of the
    // columns of y (zeroed in parallel first: a serial memset of a reused
    // allocation took 5% of the time while the other threads waited).
    let mut y = Vec::with_capacity(len * d);
    y.par_extend(rayon::iter::repeat_n(0.0f32, len * d));
    let mut pieces: Vec<Vec<&mut [f32]>> =
        (0..blocks * chunks).map(|_| Vec::new()).collect();
    for (ch, column) in y.chunks_mut(len.max(1)).enumerate() {
        for (j, piece) in column.chunks_mut(chunk_len).enumerate() {
            pieces[(ch / W) * chunks + j].push(piece);
        }
    }
    let ends: Vec<Vec<Lanes>> = pieces
        .into_par_iter()
        .zip(starts)
        .enumerate()
        .map(|(job, (mut out, mut state))| {
            let (blk, j) = (job / chunks, job % chunks);
            run_block(&prepared, true, blk, range(j), &mut state, &mut out);
            state
        })
        .collect();
    for blk in 0..blocks {
        let state = &ends[blk * chunks + chunks - 1];
        for l in 0..W.min(d - blk * W) {
            for k in 0..n {
                last[(blk * W + l, k)] = state[k][l];
            }
        }
    }
    let y = DMatrix::from_vec(len, d, y);
    ScanOutput {
        y,
        last_state: last,
    }
}

/// The readable scan's arguments converted to `f32` (for comparing the two).
pub fn to_f32(m: &DMatrix<f64>) -> DMatrix<f32> {
    m.map(|x| x as f32)
}

/// [`to_f32`] for vectors.
pub fn to_f32_vector(v: &DVector<f64>) -> DVector<f32> {
    v.map(|x| x as f32)
}
