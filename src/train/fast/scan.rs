//! The selective scan's forward and backward passes for training, in `f32`,
//! sixteen channels in the lanes of one vector, one sequence per task.
//!
//! This is the Mamba block's scan (Euler's $\bar B = \Delta B$, softplus with
//! a bias, skip and gate), the case of `selective_scan_backward` that
//! training uses. The forward pass keeps the state every `chunk` steps; the
//! backward pass recomputes a chunk's states and multipliers from it into a
//! small buffer, then runs the adjoint recurrence (Eq. G4) through it. The
//! gradients of $B_t$ and $C_t$, shared by the channels, are summed across
//! the channel blocks lane by lane and across the lanes once at the end.

use crate::mamba::fast::scan::{exp2_lane, mul_add, softplus_lane};

mod backward;

pub use backward::backward_sequence;

/// Channels per vector.
const W: usize = 16;

/// Sixteen channels.
type Lanes = [f32; W];

const LOG2_E: f32 = std::f32::consts::LOG2_E;

/// Columns `offset ..` of a row-major matrix with `stride` columns.
#[derive(Debug, Clone, Copy)]
pub struct Strided<'a> {
    /// The matrix's values, row by row (from the sequence's first row).
    pub data: &'a [f32],
    /// The matrix's number of columns.
    pub stride: usize,
    /// The first column.
    pub offset: usize,
}

impl Strided<'_> {
    /// Entry `(t, j)` of the column range.
    #[inline(always)]
    fn at(&self, t: usize, j: usize) -> f32 {
        self.data[t * self.stride + self.offset + j]
    }

    /// Columns `ch .. ch + width` of row `t` in lanes (zeros beyond `width`).
    #[inline(always)]
    fn lanes(&self, t: usize, ch: usize, width: usize) -> Lanes {
        load(self.data, t * self.stride + self.offset + ch, width)
    }
}

/// The block's parameters of the scan, in `f32`.
#[derive(Debug, Clone, Copy)]
pub struct ScanParams<'a> {
    /// $A$, `(N, d_inner)` row-major: state `n` of every channel together.
    pub a: &'a [f32],
    /// The skip $D$, `(d_inner,)`.
    pub d: &'a [f32],
    /// Δ's bias, `(d_inner,)`.
    pub bias: &'a [f32],
    /// $N$.
    pub n: usize,
    /// `d_inner`.
    pub di: usize,
}

/// One sequence's scan inputs (views into the batch's stacked matrices).
#[derive(Debug, Clone, Copy)]
pub struct ScanInputs<'a> {
    /// The number of steps.
    pub len: usize,
    /// $u$, `(len, d_inner)`.
    pub u: Strided<'a>,
    /// δ before bias and softplus, `(len, d_inner)`.
    pub delta: Strided<'a>,
    /// The gate $z$, `(len, d_inner)`.
    pub z: Strided<'a>,
    /// $B_t$, `(len, N)`.
    pub b: Strided<'a>,
    /// $C_t$, `(len, N)`.
    pub c: Strided<'a>,
}

/// One sequence's gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceGrads {
    /// ∂u, `(len, d_inner)` row-major.
    pub u: Vec<f32>,
    /// ∂δ, `(len, d_inner)`.
    pub delta: Vec<f32>,
    /// ∂z, `(len, d_inner)`.
    pub z: Vec<f32>,
    /// ∂B, `(len, N)`.
    pub b: Vec<f32>,
    /// ∂C, `(len, N)`.
    pub c: Vec<f32>,
    /// ∂A, `(N, d_inner)`.
    pub a: Vec<f32>,
    /// ∂D, `(d_inner,)`.
    pub d: Vec<f32>,
    /// ∂(Δ's bias), `(d_inner,)`.
    pub bias: Vec<f32>,
}

#[inline(always)]
fn load(src: &[f32], start: usize, width: usize) -> Lanes {
    let mut l = [0.0; W];
    if width == W {
        l.copy_from_slice(&src[start..start + W]); // a fixed-size copy: one load
    } else {
        l[..width].copy_from_slice(&src[start..start + width]);
    }
    l
}

#[inline(always)]
fn store(dst: &mut [f32], start: usize, l: &Lanes, width: usize) {
    if width == W {
        dst[start..start + W].copy_from_slice(l);
    } else {
        dst[start..start + width].copy_from_slice(&l[..width]);
    }
}

/// $\sigma(x)$ in every lane.
#[inline(always)]
fn sigmoid<const FMA: bool>(x: Lanes) -> Lanes {
    let mut s = [0.0; W];
    for j in 0..W {
        s[j] = 1.0 / (1.0 + exp2_lane::<FMA>(-x[j] * LOG2_E));
    }
    s
}

/// Δ = softplus(δ + bias) at step `t` of the block starting at `ch`.
#[inline(always)]
fn step_sizes<const FMA: bool>(
    s: &ScanInputs,
    bias: &Lanes,
    t: usize,
    (ch, width): (usize, usize),
) -> (Lanes, Lanes) {
    let raw = s.delta.lanes(t, ch, width);
    let mut shifted = [0.0; W];
    let mut dt = [0.0; W];
    for j in 0..W {
        shifted[j] = raw[j] + bias[j];
        dt[j] = softplus_lane::<FMA>(shifted[j]);
    }
    (dt, shifted)
}

/// One step of the recurrence for a block: $h \leftarrow \bar A h + \Delta B_t u$,
/// writing the multipliers $\bar A$ into `a_bar`.
#[inline(always)]
fn advance<const FMA: bool>(
    h: &mut [Lanes],
    a_bar: &mut [Lanes],
    (a2, b): (&[Lanes], &Strided),
    t: usize,
    (dt, dt_u): (&Lanes, &Lanes),
) {
    for n in 0..h.len() {
        let b_tn = b.at(t, n);
        let (a2_n, a_bar_n, h_n) = (&a2[n], &mut a_bar[n], &mut h[n]);
        for j in 0..W {
            let m = exp2_lane::<FMA>(dt[j] * a2_n[j]);
            a_bar_n[j] = m;
            h_n[j] = flush_one(mul_add::<FMA>(m, h_n[j], dt_u[j] * b_tn));
        }
    }
}

/// The forward pass of one sequence: `y` `(len, d_inner)` (with skip and
/// gate), and the state before every `chunk`-th step in `states`
/// (`⌈len/chunk⌉` blocks of `(N, d_inner)`).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
pub fn forward_sequence(
    p: &ScanParams,
    s: &ScanInputs,
    chunk: usize,
    y: &mut [f32],
    states: &mut [f32],
) {
    use multiversion::target::target_cfg_f;
    if target_cfg_f!(target_feature = "fma") {
        forward_impl::<true>(p, s, chunk, y, states);
    } else {
        forward_impl::<false>(p, s, chunk, y, states);
    }
}

#[inline(always)]
fn forward_impl<const FMA: bool>(
    p: &ScanParams,
    s: &ScanInputs,
    chunk: usize,
    y: &mut [f32],
    states: &mut [f32],
) {
    let (n, di) = (p.n, p.di);
    // Time outside, the blocks of channels inside: each row of the inputs
    // is read once, in order, which the hardware prefetches; every block's
    // state (a few kilobytes) stays in the first-level cache.
    let blocks: Vec<BlockParams> = (0..di)
        .step_by(W)
        .map(|ch| BlockParams::new(p, ch))
        .collect();
    let mut h = vec![[0.0; W]; blocks.len() * n];
    let mut a_bar = vec![[0.0; W]; n];
    for t in 0..s.len {
        for (i, blk) in blocks.iter().enumerate() {
            let (ch, width) = (blk.ch, blk.width);
            let h = &mut h[i * n..(i + 1) * n];
            if t % chunk == 0 {
                for (k, l) in h.iter().enumerate() {
                    let at = (t / chunk) * n * di + k * di + ch;
                    states[at..at + width].copy_from_slice(&l[..width]);
                }
            }
            let (dt, _) = step_sizes::<FMA>(s, &blk.bias, t, (ch, width));
            let u = s.u.lanes(t, ch, width);
            let mut dt_u = [0.0; W];
            for j in 0..W {
                dt_u[j] = dt[j] * u[j];
            }
            advance::<FMA>(h, &mut a_bar, (&blk.a2, &s.b), t, (&dt, &dt_u));
            let mut out = [0.0; W];
            for (k, l) in h.iter().enumerate() {
                let c = s.c.at(t, k);
                for j in 0..W {
                    out[j] = mul_add::<FMA>(c, l[j], out[j]);
                }
            }
            let z = s.z.lanes(t, ch, width);
            let gate = sigmoid::<FMA>(z);
            for j in 0..W {
                out[j] = mul_add::<FMA>(blk.d[j], u[j], out[j]) * z[j] * gate[j];
            }
            store(y, t * di + ch, &out, width);
        }
    }
}

/// A block of sixteen channels' parameters in lanes.
struct BlockParams {
    ch: usize,
    width: usize,
    a: Vec<Lanes>,
    a2: Vec<Lanes>,
    d: Lanes,
    bias: Lanes,
}

impl BlockParams {
    fn new(p: &ScanParams, ch: usize) -> Self {
        let width = W.min(p.di - ch);
        let a: Vec<Lanes> =
            (0..p.n).map(|k| load(p.a, k * p.di + ch, width)).collect();
        let a2 = a.iter().map(|l| l.map(|v| v * LOG2_E)).collect();
        let (d, bias) = (load(p.d, ch, width), load(p.bias, ch, width));
        BlockParams {
            ch,
            width,
            a,
            a2,
            d,
            bias,
        }
    }
}

/// $a b + c$ in every lane. Written as a small loop over a fixed sixteen
/// lanes, which the compiler unrolls and turns into one vector instruction;
/// one large loop over the lanes would instead keep its accumulators in
/// memory, a chain of stores and loads from one state to the next.
#[inline(always)]
fn fma<const FMA: bool>(a: Lanes, b: Lanes, c: Lanes) -> Lanes {
    let mut r = [0.0; W];
    for j in 0..W {
        r[j] = mul_add::<FMA>(a[j], b[j], c[j]);
    }
    r
}

/// $a b$ in every lane.
#[inline(always)]
fn mul(a: Lanes, b: Lanes) -> Lanes {
    let mut r = [0.0; W];
    for j in 0..W {
        r[j] = a[j] * b[j];
    }
    r
}

/// The bits of the smallest magnitude kept by [`flush`]: $2^{-100} \approx
/// 7.9 \times 10^{-31}$.
const TINY_BITS: u32 = 0x0d80_0000;

/// `x`, or zero where $|x| < 2^{-100}$. A decaying state or adjoint would
/// otherwise sink into subnormal numbers, which cost x86 CPUs about a
/// hundred cycles per operation (a batch whose loss sees only its last few
/// positions ran 2.4 times slower); what is dropped changes no gradient by
/// more than $10^{-30}$. Done on the bits, so that the test itself never
/// touches a subnormal as a float.
#[inline(always)]
fn flush(x: Lanes) -> Lanes {
    let mut r = [0.0; W];
    for j in 0..W {
        r[j] = flush_one(x[j]);
    }
    r
}

/// [`flush`] of one number.
#[inline(always)]
fn flush_one(x: f32) -> f32 {
    let bits = x.to_bits();
    let keep = if bits & 0x7fff_ffff >= TINY_BITS {
        u32::MAX
    } else {
        0
    };
    f32::from_bits(bits & keep)
}
