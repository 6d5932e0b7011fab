//! The fast selective scan: `f32`, sixteen channels at a time in the lanes of
//! one vector register, blocks of channels in parallel, long sequences with
//! few channels also split into chunks of time, a vectorisable `exp`, and no
//! `(len, d, n)` tensor: each state lives in a small buffer for the whole run.
//!
//! The scan is written once, over a `Kernel` of the few operations whose
//! best form depends on the CPU. Two kernels implement them: portable code
//! that the compiler vectorises (built for AVX2 with FMA and for the SSE2
//! baseline by `multiversion`), and AVX-512 instructions through the `pulp`
//! crate (`avx512`), which the scan runs where the CPU has them. Both keep
//! `unsafe` out of this crate: the crates check the CPU and enable its
//! features.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use crate::mamba::selective::{BRule, SelectiveScan};
use crate::scan::operator::Affine;
use crate::scan::prefix::scan_sequential;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// The arguments of [`selective_scan_fast`]: those of the readable
/// [`SelectiveScan`] (same meaning, same shapes), in `f32` and owned.
#[derive(Debug, Clone, PartialEq)]
pub struct FastScan {
    /// The input $u$, `(len, d)`.
    pub u: DMatrix<f32>,
    /// The step before `delta_bias` and softplus, `(len, d)`.
    pub delta: DMatrix<f32>,
    /// The state matrix, one diagonal per channel, `(d, n)`.
    pub a: DMatrix<f32>,
    /// $B_t$, `(len, n)`.
    pub b: DMatrix<f32>,
    /// $C_t$, `(len, n)`.
    pub c: DMatrix<f32>,
    /// The skip $D$, `(d,)`, if any.
    pub d_skip: Option<DVector<f32>>,
    /// The gate $z$, `(len, d)`, if any.
    pub z: Option<DMatrix<f32>>,
    /// Added to `delta` before the softplus, `(d,)`, if any.
    pub delta_bias: Option<DVector<f32>>,
    /// Whether Δ = softplus(delta + bias).
    pub delta_softplus: bool,
    /// How B is discretized.
    pub b_rule: BRule,
}

impl From<&SelectiveScan<'_>> for FastScan {
    /// The readable scan's arguments rounded to `f32`.
    fn from(args: &SelectiveScan<'_>) -> Self {
        FastScan {
            u: to_f32(args.u),
            delta: to_f32(args.delta),
            a: to_f32(args.a),
            b: to_f32(args.b),
            c: to_f32(args.c),
            d_skip: args.d_skip.map(to_f32_vector),
            z: args.z.map(to_f32),
            delta_bias: args.delta_bias.map(to_f32_vector),
            delta_softplus: args.delta_softplus,
            b_rule: args.b_rule,
        }
    }
}

impl FastScan {
    /// The sequence length and the numbers of channels and states.
    pub fn dims(&self) -> (usize, usize, usize) {
        (self.u.nrows(), self.u.ncols(), self.a.ncols())
    }

    /// # Panics
    /// If the shapes disagree: the message names both.
    fn check(&self) {
        let (len, d, n) = self.dims();
        let mut wants = vec![
            ("delta", self.delta.shape(), (len, d)),
            ("A", self.a.shape(), (d, n)),
            ("B", self.b.shape(), (len, n)),
            ("C", self.c.shape(), (len, n)),
        ];
        let vectors = [("D", &self.d_skip), ("delta_bias", &self.delta_bias)];
        for (name, v) in vectors {
            if let Some(v) = v {
                wants.push((name, v.shape(), (d, 1)));
            }
        }
        if let Some(z) = &self.z {
            wants.push(("z", z.shape(), (len, d)));
        }
        for (name, shape, want) in wants {
            assert!(
                shape == want,
                "selective_scan_fast: {name} has shape {shape:?} but u {:?} and A {:?} need {want:?}",
                self.u.shape(),
                self.a.shape()
            );
        }
    }
}

/// What [`selective_scan_fast`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct FastScanOutput {
    /// The output $y$, `(len, d)`.
    pub y: DMatrix<f32>,
    /// The state after the last step, `(d, n)`.
    pub last_state: DMatrix<f32>,
}

/// $a b + c$: one fused multiply-add where the CPU has it (`FMA`), else a
/// multiply and an add (a software `fma` would be far slower).
#[inline(always)]
pub(crate) fn mul_add<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// The coefficients of $x, x^2, \dots, x^5$ in the degree-5 polynomial for
/// $2^x$ on $[-\frac12, \frac12]$ (the constant term is 1), fitted for the
/// least maximum relative error: $1.0 \times 10^{-7}$ in exact arithmetic.
const EXP2_POLY: [f32; 5] = [
    0.693_147_06,
    0.240_222_42,
    0.055_505_823,
    0.009_671_517,
    0.001_330_882_4,
];

/// $2^t$ for `f32` without branches, so that a loop over lanes vectorises:
/// $t = i + f$ with $i$ an integer and $|f| \le \frac12$; $2^f$ by a
/// degree-5 polynomial fitted for the least maximum relative error
/// ($1.0 \times 10^{-7}$ in exact arithmetic, below $2 \times 10^{-7}$, about
/// two units in the last place, as evaluated in `f32`); $2^i$ by adding $i$
/// to the result's exponent bits. $t$ is clamped to $[-125, 127]$, so
/// arguments below −125 give about $2.4 \times 10^{-38}$ instead of a
/// subnormal or zero.
#[inline(always)]
pub(crate) fn exp2_lane<const FMA: bool>(t: f32) -> f32 {
    const SHIFTER: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer
    const P: [f32; 5] = EXP2_POLY;
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

/// $2^t$ in sixteen lanes as the fast scan's `kernel` computes its
/// multipliers: [`exp2_f32`]'s polynomial in every lane (fused where the
/// CPU has FMA) for [`ScanKernel::Portable`], or the AVX-512 version where
/// [`ScanKernel::Auto`] finds it (public so that tests can check each
/// kernel's accuracy).
pub fn exp2_lanes(t: [f32; 16], kernel: ScanKernel) -> [f32; 16] {
    struct Exp2(Lanes);
    impl OnKernel for Exp2 {
        type Output = Lanes;
        #[inline(always)]
        fn run<K: Kernel>(self, kernel: K) -> Lanes {
            kernel.exp2(self.0)
        }
    }
    on_kernel(kernel, Exp2(t))
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
    softplus_lane::<false>(x)
}

/// [`softplus_f32`] with fused multiply-adds where `FMA`.
#[inline(always)]
pub(crate) fn softplus_lane<const FMA: bool>(x: f32) -> f32 {
    let w = exp2_lane::<FMA>(-x.abs() * std::f32::consts::LOG2_E);
    let s = w / (2.0 + w);
    let s2 = s * s;
    let mut series = 1.0 / 15.0;
    for k in [13.0f32, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
        series = mul_add::<FMA>(series, s2, 1.0 / k);
    }
    mul_add::<FMA>(2.0 * s, series, x.max(0.0))
}

/// $\mathrm{SiLU}(z) = z / (1 + e^{-z})$ with fused multiply-adds where `FMA`.
#[inline(always)]
pub(crate) fn silu_lane<const FMA: bool>(z: f32) -> f32 {
    z / (1.0 + exp2_lane::<FMA>(-z * std::f32::consts::LOG2_E))
}

/// softplus in sixteen lanes as the fast scan computes Δ on `kernel`
/// (public so that tests can check each kernel's accuracy).
pub fn softplus_lanes(x: [f32; 16], kernel: ScanKernel) -> [f32; 16] {
    struct Softplus(Lanes);
    impl OnKernel for Softplus {
        type Output = Lanes;
        #[inline(always)]
        fn run<K: Kernel>(self, kernel: K) -> Lanes {
            let mut rows = [self.0];
            kernel.delta(&mut rows, None, true);
            rows[0]
        }
    }
    on_kernel(kernel, Softplus(x))
}

/// The gate $y \leftarrow y \cdot \mathrm{SiLU}(z)$ for every pair, as the
/// fast scan computes it on `kernel` (public so that tests can check each
/// kernel's accuracy).
///
/// # Panics
/// If `y` and `z` differ in length (naming both).
pub fn silu_gate(y: &mut [f32], z: &[f32], kernel: ScanKernel) {
    assert_eq!(
        y.len(),
        z.len(),
        "silu_gate: y ({},) vs z ({},)",
        y.len(),
        z.len()
    );
    struct Gate<'a>(&'a mut [f32], &'a [f32]);
    impl OnKernel for Gate<'_> {
        type Output = ();
        #[inline(always)]
        fn run<K: Kernel>(self, kernel: K) {
            kernel.gate(self.0, self.1);
        }
    }
    on_kernel(kernel, Gate(y, z));
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

/// The few operations of the scan whose best form depends on the CPU: a
/// multiply-add, $2^t$ across the lanes, the transposition between a block's
/// sixteen columns and its rows of [`Lanes`], and the element-wise steps
/// around the recurrence (Δ, skip, gate). The scan itself
/// ([`Prepared::run`], [`Prepared::recur`]) is written once over them.
trait Kernel: Copy {
    /// $a b + c$.
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32;
    /// $2^t$ in every lane, within $2 \times 10^{-7}$ relative error for
    /// $t \in [-125, 125]$.
    fn exp2(self, t: Lanes) -> Lanes;
    /// `tile[i][j] = columns[j][i]` for every row `i` of `tile` (the columns
    /// are at least that long).
    fn gather(self, columns: &[&[f32]; W], tile: &mut [Lanes]);
    /// `columns[j][offset + i] = tile[i][j]` for the (at most [`W`])
    /// columns: the inverse of [`Kernel::gather`].
    fn scatter(self, tile: &[Lanes], offset: usize, columns: &mut [&mut [f32]]);
    /// $\Delta = \mathrm{softplus}(\delta + b)$ in place for every row
    /// (without `bias`, no $b$; without `softplus`, none), softplus within
    /// $5 \times 10^{-7} + 1.2 \times 10^{-7} |x|$ relative error; returns
    /// $\sum \Delta$ over the rows.
    fn delta(self, dt: &mut [Lanes], bias: Option<&Lanes>, softplus: bool) -> Lanes;
    /// The skip connection $y \mathrel{+}= D \odot u$, row by row.
    fn skip(self, y: &mut [Lanes], u: &[Lanes], d: &Lanes);
    /// $y \leftarrow y \cdot \mathrm{SiLU}(z)$, pair by pair.
    fn gate(self, y: &mut [f32], z: &[f32]);
}

/// The kernel in portable code, compiled for whatever `multiversion`
/// selected (`FMA`: whether multiply-adds are fused): the compiler turns each
/// 16-lane loop into vector instructions.
#[derive(Clone, Copy)]
struct Portable<const FMA: bool>;

impl<const FMA: bool> Kernel for Portable<FMA> {
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        mul_add::<FMA>(a, b, c)
    }

    #[inline(always)]
    fn exp2(self, t: Lanes) -> Lanes {
        std::array::from_fn(|j| exp2_lane::<FMA>(t[j]))
    }

    #[inline(always)]
    fn gather(self, columns: &[&[f32]; W], tile: &mut [Lanes]) {
        gather_scalar(columns, 0, tile);
    }

    #[inline(always)]
    fn scatter(self, tile: &[Lanes], offset: usize, columns: &mut [&mut [f32]]) {
        scatter_scalar(tile, offset, columns);
    }

    /// Flat loops that vectorise.
    #[inline(always)]
    fn delta(self, dt: &mut [Lanes], bias: Option<&Lanes>, softplus: bool) -> Lanes {
        if let Some(bias) = bias {
            for dt in dt.iter_mut() {
                for j in 0..W {
                    dt[j] += bias[j];
                }
            }
        }
        if softplus {
            for x in dt.as_flattened_mut() {
                *x = softplus_lane::<FMA>(*x);
            }
        }
        let mut sum = [0.0f32; W];
        for dt in dt.iter() {
            for j in 0..W {
                sum[j] += dt[j];
            }
        }
        sum
    }

    #[inline(always)]
    fn skip(self, y: &mut [Lanes], u: &[Lanes], d: &Lanes) {
        for (y, u) in y.iter_mut().zip(u.iter()) {
            for j in 0..W {
                y[j] = mul_add::<FMA>(d[j], u[j], y[j]);
            }
        }
    }

    #[inline(always)]
    fn gate(self, y: &mut [f32], z: &[f32]) {
        for (y, &z) in y.iter_mut().zip(z) {
            *y *= silu_lane::<FMA>(z);
        }
    }
}

/// [`Kernel::gather`] by scalar copies, from step `from` of the columns on.
#[inline(never)] // scalar copies: vectorised, this becomes slow scatter stores
fn gather_scalar(columns: &[&[f32]; W], from: usize, tile: &mut [Lanes]) {
    for (i, row) in (from..).zip(tile) {
        for j in 0..W {
            row[j] = columns[j][i];
        }
    }
}

/// [`Kernel::scatter`] by scalar copies, for the same reason.
#[inline(never)]
fn scatter_scalar(tile: &[Lanes], offset: usize, columns: &mut [&mut [f32]]) {
    for (j, column) in columns.iter_mut().enumerate() {
        for (o, row) in column[offset..][..tile.len()].iter_mut().zip(tile) {
            *o = row[j];
        }
    }
}

/// Which implementation of the scan's kernel (its CPU-dependent operations) to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanKernel {
    /// The fastest this CPU offers: AVX-512 instructions through the `pulp`
    /// crate where the CPU has them, else [`ScanKernel::Portable`].
    Auto,
    /// Portable code compiled for AVX2 with FMA or for the SSE2 baseline
    /// (chosen at run time by `multiversion`), even where AVX-512 exists.
    Portable,
}

/// A job's working buffers: the gathered $u$, $\Delta$ and $y$ of one tile,
/// and the multipliers of [`SUB`] steps. Made once per piece of work that
/// rayon hands a thread and reused by all its jobs: fresh buffers of a full
/// tile for every job were 192 KB to zero each time, a tenth of a short
/// scan's time.
struct Scratch {
    u: Vec<Lanes>,
    dt: Vec<Lanes>,
    y: Vec<Lanes>,
    a_bars: Vec<Lanes>,
}

impl Scratch {
    /// Buffers for runs of up to `steps` steps.
    fn new(steps: usize) -> Self {
        let rows = TILE.min(steps);
        Scratch {
            u: vec![[0.0; W]; rows],
            dt: vec![[0.0; W]; rows],
            y: vec![[0.0; W]; rows],
            a_bars: Vec::new(),
        }
    }
}

/// The scan's inputs rearranged once for streaming. Per block of [`W`]
/// channels and per state $k$: $A \log_2 e$ and $1/A$ across the lanes
/// (padding channels have $A = -1$ and, below, $\Delta = u = 0$, so their
/// states stay 0). B and C with the states of one step contiguous.
struct Prepared<'a> {
    args: &'a FastScan,
    n: usize,
    a2: Vec<Lanes>,    // (blocks, n): A·log₂e
    inv_a: Vec<Lanes>, // (blocks, n): 1/A, or 0 where A = 0 (ZOH only)
    b: Vec<f32>,       // (len, n) row-major
    c: Vec<f32>,       // (len, n) row-major
}

impl<'a> Prepared<'a> {
    fn new(args: &'a FastScan) -> Self {
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
            b: rows(&args.b),
            c: rows(&args.c),
        }
    }

    /// Copies the `(len, d)` matrix `m` at steps `t0..t0 + tile.len()` for
    /// the channels of block `blk` into `tile`, lane by lane (padding lanes
    /// get 0): a small transposition that stays in cache.
    #[inline(always)]
    fn gather<K: Kernel>(
        &self,
        kernel: K,
        m: &DMatrix<f32>,
        blk: usize,
        t0: usize,
        tile: &mut [Lanes],
    ) {
        let len = m.nrows();
        let channels = W.min(m.ncols() - blk * W);
        let columns: [&[f32]; W] = std::array::from_fn(|j| {
            let ch = blk * W + j.min(channels - 1); // padding lanes: zeroed below
            &m.as_slice()[ch * len + t0..][..tile.len()]
        });
        kernel.gather(&columns, tile);
        if channels < W {
            for row in tile.iter_mut() {
                row[channels..].fill(0.0);
            }
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
    fn run<const OUT: bool, const ZOH: bool, K: Kernel>(
        &self,
        kernel: K,
        blk: usize,
        range: std::ops::Range<usize>,
        (state, scratch): (&mut [Lanes], &mut Scratch),
        out: &mut [&mut [f32]],
    ) -> Lanes {
        let (args, n) = (self.args, self.n);
        let a2 = &self.a2[blk * n..][..n];
        let inv_a = &self.inv_a[blk * n..][..n];
        let bias = args.delta_bias.as_ref().map(|b| self.lanes_of(b, blk));
        let skip = args
            .d_skip
            .as_ref()
            .map_or([0.0; W], |d| self.lanes_of(d, blk));
        let Scratch { u, dt, y, a_bars } = scratch;
        a_bars.resize(SUB * n, [0.0; W]);
        let mut dt_sum = [0.0f32; W];
        for t0 in range.clone().step_by(TILE) {
            let steps = TILE.min(range.end - t0);
            let (u, dt, y) = (&mut u[..steps], &mut dt[..steps], &mut y[..steps]);
            self.gather(kernel, &args.u, blk, t0, u);
            self.gather(kernel, &args.delta, blk, t0, dt);
            // Padding lanes get some Δ; u = 0 keeps their states 0.
            let sum = kernel.delta(dt, bias.as_ref(), args.delta_softplus);
            for j in 0..W {
                dt_sum[j] += sum[j];
            }
            self.recur::<OUT, ZOH, K>(
                kernel,
                (a2, inv_a),
                (t0, dt, u),
                state,
                y,
                a_bars,
            );
            if !OUT {
                continue;
            }
            kernel.skip(y, u, &skip);
            // Back to the channels' columns; the gate on contiguous slices.
            kernel.scatter(y, t0 - range.start, out);
            if let Some(gate) = &args.z {
                let len = args.u.nrows();
                for (j, column) in out.iter_mut().enumerate() {
                    let z = &gate.as_slice()[(blk * W + j) * len + t0..][..steps];
                    kernel.gate(&mut column[t0 - range.start..][..steps], z);
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
    /// gathers instead, at half the speed, and a flat loop over a tile's rows
    /// once became gathers and scatters too; the AVX-512 kernel spells its
    /// loops in intrinsics for that reason. `cargo bench --bench scans` shows
    /// it.)
    // ANCHOR: fast_scan_kernel
    #[inline(always)]
    fn recur<const OUT: bool, const ZOH: bool, K: Kernel>(
        &self,
        kernel: K,
        (a2, inv_a): (&[Lanes], &[Lanes]),
        (t0, dt, u): (usize, &[Lanes], &[Lanes]),
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
                    *a_bar = kernel.exp2(std::array::from_fn(|j| dt[j] * a2[j]));
                }
            }
            for (i, a_bar) in steps.zip(a_bars.chunks_exact(n)) {
                let (dt, u, t) = (&dt[i], &u[i], t0 + i);
                let (b, c) = (&self.b[t * n..][..n], &self.c[t * n..][..n]);
                let du: Lanes = std::array::from_fn(|j| dt[j] * u[j]);
                // Two partial sums of C h, over even and odd states: each
                // multiply-add waits for the one before it in its sum, so
                // one sum would make a step as long as n of those latencies.
                let (mut even, mut odd) = ([0.0f32; W], [0.0f32; W]);
                let (h2, h_last) = state.as_chunks_mut::<2>();
                let (a2, a_last) = a_bar.as_chunks::<2>();
                let (i2, i_last) = inv_a.as_chunks::<2>();
                let (b2, b_last) = b.as_chunks::<2>();
                let (c2, c_last) = c.as_chunks::<2>();
                let pairs = h2.iter_mut().zip(a2).zip(i2).zip(b2.iter().zip(c2));
                for ((([h0, h1], [a0, a1]), [i0, i1]), ([b0, b1], [c0, c1])) in pairs
                {
                    let input = (&du, u);
                    Self::update::<OUT, ZOH, K>(
                        kernel,
                        (a0, i0, *b0, *c0),
                        input,
                        h0,
                        &mut even,
                    );
                    Self::update::<OUT, ZOH, K>(
                        kernel,
                        (a1, i1, *b1, *c1),
                        input,
                        h1,
                        &mut odd,
                    );
                }
                if let ([h], [a], [i], [b], [c]) =
                    (h_last, a_last, i_last, b_last, c_last)
                {
                    Self::update::<OUT, ZOH, K>(
                        kernel,
                        (a, i, *b, *c),
                        (&du, u),
                        h,
                        &mut even,
                    );
                }
                let acc: Lanes = std::array::from_fn(|j| even[j] + odd[j]);
                if OUT {
                    y[i] = acc;
                }
            }
        }
    }

    /// One state of one step of [`Prepared::recur`], sixteen channels at once:
    /// $h \leftarrow \bar A h + \bar B u$, then (with `OUT`) `acc` $+= C h$.
    /// $\bar B u$ is Euler's $\Delta B u$, or exact ZOH's
    /// $(e^{\Delta A} - 1)/A \cdot B u$ (→ $\Delta B u$ as $A \to 0$).
    #[inline(always)]
    fn update<const OUT: bool, const ZOH: bool, K: Kernel>(
        kernel: K,
        (a_bar, inv_a, b, c): (&Lanes, &Lanes, f32, f32),
        (du, u): (&Lanes, &Lanes),
        h: &mut Lanes,
        acc: &mut Lanes,
    ) {
        let input: Lanes = std::array::from_fn(|j| {
            if !ZOH || inv_a[j] == 0.0 {
                du[j] * b
            } else {
                (a_bar[j] - 1.0) * inv_a[j] * u[j] * b
            }
        });
        let next: Lanes =
            std::array::from_fn(|j| kernel.mul_add(a_bar[j], h[j], input[j]));
        *h = next;
        if OUT {
            *acc = std::array::from_fn(|j| kernel.mul_add(c, next[j], acc[j]));
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

/// One job of the scan: block `blk` over steps `range` from `state` (see
/// [`Prepared::run`]; `write`: whether to write the outputs into `out`).
struct Job<'p, 'o, 's> {
    prepared: &'p Prepared<'p>,
    write: bool,
    blk: usize,
    range: std::ops::Range<usize>,
    state: &'s mut [Lanes],
    scratch: &'s mut Scratch,
    out: &'s mut [&'o mut [f32]],
}

impl OnKernel for Job<'_, '_, '_> {
    type Output = Lanes;

    /// Runs the job on `kernel`, with the choice between exact ZOH and Euler
    /// for B, and between writing outputs or not, made once here (constant
    /// parameters, so that neither is tested inside the loops).
    #[inline(always)]
    fn run<K: Kernel>(self, kernel: K) -> Lanes {
        let Job {
            prepared,
            write,
            blk,
            range,
            state,
            scratch,
            out,
        } = self;
        let state = (state, scratch);
        match (write, prepared.args.b_rule == BRule::Zoh) {
            (true, false) => {
                prepared.run::<true, false, K>(kernel, blk, range, state, out)
            }
            (true, true) => {
                prepared.run::<true, true, K>(kernel, blk, range, state, out)
            }
            (false, false) => {
                prepared.run::<false, false, K>(kernel, blk, range, state, out)
            }
            (false, true) => {
                prepared.run::<false, true, K>(kernel, blk, range, state, out)
            }
        }
    }
}

/// Work written once over a [`Kernel`], to be run on whichever kernel is
/// chosen at run time.
trait OnKernel {
    /// What the work returns.
    type Output;
    /// Does the work on `kernel`.
    fn run<K: Kernel>(self, kernel: K) -> Self::Output;
}

/// Runs `work` on the best kernel that `choice` allows on this CPU: the
/// AVX-512 one where `pulp` finds it (and [`ScanKernel::Auto`] allows it),
/// else the portable one.
fn on_kernel<F: OnKernel>(choice: ScanKernel, work: F) -> F::Output {
    #[cfg(target_arch = "x86_64")]
    if choice == ScanKernel::Auto
        && let Some(simd) = pulp::x86::V4::try_new()
    {
        return simd.vectorize(avx512::Run(work, simd));
    }
    let _ = choice;
    run_portable(work)
}

/// `work` on [`Portable`], compiled for AVX2 with FMA and for the SSE2
/// baseline, the best chosen at run time by the `multiversion` crate (which
/// keeps the feature detection and its `unsafe` out of this crate).
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn run_portable<F: OnKernel>(work: F) -> F::Output {
    use multiversion::target::target_cfg_f;
    if target_cfg_f!(target_feature = "fma") {
        work.run(Portable::<true>)
    } else {
        work.run(Portable::<false>)
    }
}

/// The fast selective scan, equal to [`selective_scan`](crate::mamba::selective::selective_scan)
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
pub fn selective_scan_fast(args: &FastScan) -> FastScanOutput {
    let (len, d, _) = args.dims();
    let (blocks, threads) = (d.div_ceil(W), rayon::current_num_threads());
    let chunks = if blocks >= 4 * threads {
        1
    } else {
        (4 * threads).div_ceil(blocks.max(1)).min(len.div_ceil(64))
    };
    selective_scan_fast_chunked(args, chunks, ScanKernel::Auto)
}
// ANCHOR_END: selective_scan_fast

/// A scan with no states: only the skip $D u$ (gated), as the readable scan
/// gives; the state is `(d, 0)`.
fn skip_only(args: &FastScan) -> FastScanOutput {
    let (len, d, _) = args.dims();
    let y = DMatrix::from_fn(len, d, |t, ch| {
        let skip = args
            .d_skip
            .as_ref()
            .map_or(0.0, |dv| dv[ch] * args.u[(t, ch)]);
        args.z.as_ref().map_or(skip, |z| {
            let z = z[(t, ch)];
            skip * z / (1.0 + (-z).exp())
        })
    });
    FastScanOutput {
        y,
        last_state: DMatrix::zeros(d, 0),
    }
}

/// [`selective_scan_fast`] with time split into `chunks` chunks of equal
/// length (the last may be shorter or empty; 0 counts as 1), whatever the
/// number of channels and threads, on the `kernel` chosen: the automatic
/// choices, opened up so that tests can drive every path on any machine.
pub fn selective_scan_fast_chunked(
    args: &FastScan,
    chunks: usize,
    kernel: ScanKernel,
) -> FastScanOutput {
    args.check();
    let (len, d, n) = args.dims();
    if n == 0 {
        return skip_only(args);
    }
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
            .map_init(
                || Scratch::new(chunk_len),
                |scratch, job| {
                    let (blk, j) = (job / chunks, job % chunks);
                    let mut state = vec![[0.0; W]; n];
                    let job = Job {
                        prepared: &prepared,
                        write: false,
                        blk,
                        range: range(j),
                        state: &mut state,
                        scratch,
                        out: &mut [],
                    };
                    let dt_sum = on_kernel(kernel, job);
                    (state, dt_sum)
                },
            )
            .collect();
        // Carries: chapter 6's scan over the chunks, one affine step
        // h ↦ e^{A ΣΔ_j} h + E_j per chunk; chunk j starts from the
        // composition of the chunks before it.
        for blk in 0..blocks {
            for k in 0..n {
                let a2 = prepared.a2[blk * n + k];
                for l in 0..W {
                    let chunk_steps: Vec<Affine<f32>> = (0..chunks)
                        .map(|j| {
                            let (end, dt_sum) = &ends[blk * chunks + j];
                            Affine::new(exp2_f32(a2[l] * dt_sum[l]), end[k][l])
                        })
                        .collect();
                    let carried = scan_sequential(&chunk_steps);
                    for j in 1..chunks {
                        starts[blk * chunks + j][k][l] = carried[j - 1].b;
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
        .map_init(
            || Scratch::new(chunk_len),
            |scratch, (job, (mut out, mut state))| {
                let (blk, j) = (job / chunks, job % chunks);
                let job = Job {
                    prepared: &prepared,
                    write: true,
                    blk,
                    range: range(j),
                    state: &mut state,
                    scratch,
                    out: &mut out,
                };
                on_kernel(kernel, job);
                state
            },
        )
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
    FastScanOutput {
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
