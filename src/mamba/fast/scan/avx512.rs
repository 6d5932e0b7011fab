//! The scan's [`Kernel`] in AVX-512 instructions that portable code cannot
//! reach, through the `pulp` crate: a [`V4`] token exists only once the CPU
//! has been checked for AVX-512, so its intrinsics are safe to call, and
//! [`V4::vectorize`] compiles the code it runs for those features. A few
//! instructions pay for it:
//!
//! - `vreduceps` splits $t$ into its nearest integer $i$ and the rest $f$,
//!   and `vscalefps` multiplies by $2^i$, each in one instruction, so $2^t$
//!   needs no shifter constant, integer shift and add (and `vrangeps` clamps
//!   $i$ in one);
//! - `vpermt2ps` picks any sixteen lanes out of two registers, so a 16×16
//!   block transposes in registers (64 instructions) instead of 256 scalar
//!   loads and stores;
//! - `vrcp14ps` with one Newton step replaces the two divisions per channel
//!   and step (softplus's and SiLU's).

use core::arch::x86_64::{__m512, __m512i};

use pulp::bytemuck::cast;
use pulp::x86::V4;

use super::{Kernel, Lanes, OnKernel, W, gather_scalar, scatter_scalar};

/// The kernel, holding the proof that the CPU has AVX-512.
#[derive(Clone, Copy)]
pub(super) struct Avx512(V4);

/// Work run on this kernel with AVX-512 enabled: `pulp`'s entry point.
pub(super) struct Run<F>(pub F, pub V4);

impl<F: OnKernel> pulp::NullaryFnOnce for Run<F> {
    type Output = F::Output;

    #[inline(always)]
    fn call(self) -> F::Output {
        let Run(work, simd) = self;
        work.run(Avx512(simd))
    }
}

impl Kernel for Avx512 {
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c) // one instruction: the features include FMA
    }

    #[inline(always)]
    fn exp2(self, t: Lanes) -> Lanes {
        cast(self.exp2_v(cast(t)))
    }

    #[inline(always)]
    fn gather(self, columns: &[&[f32]; W], tile: &mut [Lanes]) {
        let full = tile.len() / W * W;
        let (squares, rest) = tile.as_chunks_mut::<W>();
        for (i0, square) in (0..).step_by(W).zip(squares) {
            // Row j of the square: channel j at steps i0..i0 + 16.
            self.transpose(|j| load(&columns[j][i0..]), |j, v| square[j] = cast(v));
        }
        gather_scalar(columns, full, rest);
    }

    #[inline(always)]
    fn scatter(self, tile: &[Lanes], offset: usize, columns: &mut [&mut [f32]]) {
        let (squares, rest) = tile.as_chunks::<W>();
        for (i0, square) in (0..).step_by(W).zip(squares) {
            // A block's last channels may be padding: they have no column.
            self.transpose(
                |j| cast(square[j]),
                |j, v| {
                    if let Some(column) = columns.get_mut(j) {
                        store(&mut column[offset + i0..], v);
                    }
                },
            );
        }
        let full = tile.len() - rest.len();
        scatter_scalar(rest, offset + full, columns);
    }

    #[inline(always)]
    fn delta(self, dt: &mut [Lanes], bias: Option<&Lanes>, softplus: bool) -> Lanes {
        let s = self.0.avx512f;
        let bias = bias.map(|b| cast::<Lanes, __m512>(*b));
        let mut sum = s._mm512_setzero_ps();
        for row in dt {
            let mut x: __m512 = cast(*row);
            if let Some(bias) = bias {
                x = s._mm512_add_ps(x, bias);
            }
            if softplus {
                x = self.softplus_v(x);
            }
            sum = s._mm512_add_ps(sum, x);
            *row = cast(x);
        }
        cast(sum)
    }

    #[inline(always)]
    fn skip(self, y: &mut [Lanes], u: &[Lanes], d: &Lanes) {
        let s = self.0.avx512f;
        let d: __m512 = cast(*d);
        for (y, u) in y.iter_mut().zip(u) {
            *y = cast(s._mm512_fmadd_ps(d, cast(*u), cast(*y)));
        }
    }

    #[inline(always)]
    fn gate(self, y: &mut [f32], z: &[f32]) {
        let s = self.0.avx512f;
        let (ys, y_rest) = y.as_chunks_mut::<W>();
        let (zs, z_rest) = z.as_chunks::<W>();
        for (y, z) in ys.iter_mut().zip(zs) {
            *y = cast(s._mm512_mul_ps(cast(*y), self.silu_v(cast(*z))));
        }
        for (y, &z) in y_rest.iter_mut().zip(z_rest) {
            *y *= super::silu_lane::<true>(z);
        }
    }
}

/// The lane indices of one round of [`Avx512::transpose`]: for the upper
/// row of a pair (`LOWER` false), lane `c` keeps its own lane `c` when bit
/// `step` of `c` is clear, else takes lane `c − step` of the lower row
/// (indices from 16 on pick from the second operand); the lower row is the
/// mirror image.
const fn butterfly<const LOWER: bool>(step: i32) -> [i32; W] {
    let mut out = [0; W];
    let mut c = 0;
    while c < W as i32 {
        out[c as usize] = match (LOWER, c & step == 0) {
            (false, true) => c,
            (false, false) => 16 + c - step,
            (true, true) => c + step,
            (true, false) => 16 + c,
        };
        c += 1;
    }
    out
}

impl Avx512 {
    /// $2^t$: `vreduceps` gives $f = t - i$, $i$ the nearest integer to
    /// $t$, $|f| \le \frac12$, in one instruction (exact, and $f = t$ when
    /// $|t| < \frac12$, so that $2^t - 1$ keeps its relative accuracy near
    /// $t = 0$); the same degree-5 polynomial as the portable `exp2_lane` for
    /// $2^f$; `vrangeps` clamps $i$ to $[-125, 125]$ in one instruction (the
    /// smaller absolute value of $i$ and 125, with $i$'s sign); then
    /// `vscalefps` multiplies by $2^i$. Beyond $\pm 125$ the result is
    /// $2^{\pm 125 + f}$, within a factor $\sqrt 2$ of $2^{\pm 125}$: never
    /// subnormal (a subnormal operand costs a microcode assist in every
    /// later multiply-add) nor infinite. A NaN $t$ gives a NaN $f$, so a NaN
    /// result (the clamp alone would turn NaN into 125).
    // ANCHOR: avx512_exp2
    #[inline(always)]
    fn exp2_v(self, t: __m512) -> __m512 {
        const P: [f32; 5] = super::EXP2_POLY;
        let (s, dq) = (self.0.avx512f, self.0.avx512dq);
        // imm 0b1000: round to nearest, keep no fraction bits, raise no
        // inexact exception.
        let f = dq._mm512_reduce_ps::<0b1000>(t);
        // imm 0b0010: the smaller |·| of the two, with the sign of the first.
        let i = dq._mm512_range_ps::<0b0010>(
            s._mm512_sub_ps(t, f),
            s._mm512_set1_ps(125.0),
        );
        let mut q = s._mm512_set1_ps(P[4]);
        for p in [P[3], P[2], P[1], P[0], 1.0] {
            q = s._mm512_fmadd_ps(q, f, s._mm512_set1_ps(p));
        }
        s._mm512_scalef_ps(q, i)
    }
    // ANCHOR_END: avx512_exp2

    /// $1/d$ without a division: `vrcp14ps` (relative error below
    /// $2^{-14}$), then one Newton step $r \leftarrow r + r(1 - dr)$, which
    /// squares that error ($2^{-28}$) and adds a rounding or two.
    #[inline(always)]
    fn recip(self, d: __m512) -> __m512 {
        let s = self.0.avx512f;
        let r = s._mm512_rcp14_ps(d);
        let e = s._mm512_fnmadd_ps(d, r, s._mm512_set1_ps(1.0));
        s._mm512_fmadd_ps(r, e, r)
    }

    /// softplus as the portable `softplus_lane` computes it, with
    /// [`Avx512::recip`] for its one division.
    #[inline(always)]
    fn softplus_v(self, x: __m512) -> __m512 {
        let s = self.0.avx512f;
        let neg_log2e = s._mm512_set1_ps(-std::f32::consts::LOG2_E);
        let w = self.exp2_v(s._mm512_mul_ps(s._mm512_abs_ps(x), neg_log2e));
        let sv = s
            ._mm512_mul_ps(w, self.recip(s._mm512_add_ps(w, s._mm512_set1_ps(2.0))));
        let s2 = s._mm512_mul_ps(sv, sv);
        let mut series = s._mm512_set1_ps(1.0 / 15.0);
        for k in [13.0f32, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
            series = s._mm512_fmadd_ps(series, s2, s._mm512_set1_ps(1.0 / k));
        }
        let relu = s._mm512_max_ps(x, s._mm512_setzero_ps());
        s._mm512_fmadd_ps(s._mm512_add_ps(sv, sv), series, relu)
    }

    /// $\mathrm{SiLU}(z) = z / (1 + e^{-z})$ with [`Avx512::recip`].
    #[inline(always)]
    fn silu_v(self, z: __m512) -> __m512 {
        let s = self.0.avx512f;
        let neg_log2e = s._mm512_set1_ps(-std::f32::consts::LOG2_E);
        let e = self.exp2_v(s._mm512_mul_ps(z, neg_log2e));
        s._mm512_mul_ps(z, self.recip(s._mm512_add_ps(e, s._mm512_set1_ps(1.0))))
    }

    /// The transpose of a 16×16 block held as sixteen registers (rows), in
    /// four rounds. Round `step` (8, 4, 2, 1) swaps the off-diagonal
    /// `step`×`step` blocks inside every `2 step`×`2 step` block: rows `r`
    /// and `r + step` (bit `step` of `r` clear) trade lanes, one two-source
    /// permute each ([`butterfly`]). The four rounds swap the row and column
    /// indices bit by bit. The rows come from `row(j)` and the transposed
    /// rows go to `out(j, v)`: the first round reads its inputs and the last
    /// writes its outputs directly, so the square never sits in an array in
    /// memory (held in one, it was copied in and out by `memcpy`).
    // ANCHOR: avx512_transpose
    #[inline(always)]
    fn transpose(
        self,
        row: impl Fn(usize) -> __m512,
        out: impl FnMut(usize, __m512),
    ) {
        let mut rows = [self.0.avx512f._mm512_setzero_ps(); W];
        self.round::<8>(row, |r, v| rows[r] = v);
        let mut next = rows;
        self.round::<4>(|r| rows[r], |r, v| next[r] = v);
        self.round::<2>(|r| next[r], |r, v| rows[r] = v);
        self.round::<1>(|r| rows[r], out);
    }

    /// One round: rows `r` and `r + STEP` (bit `STEP` of `r` clear) trade
    /// lanes. `STEP` is a constant and the loop's trip count too, so every
    /// index is known at compile time.
    #[inline(always)]
    fn round<const STEP: usize>(
        self,
        input: impl Fn(usize) -> __m512,
        mut output: impl FnMut(usize, __m512),
    ) {
        let s = self.0.avx512f;
        let upper: __m512i = cast(const { butterfly::<false>(STEP as i32) });
        let lower: __m512i = cast(const { butterfly::<true>(STEP as i32) });
        for r in 0..W {
            if r & STEP == 0 {
                let (a, b) = (input(r), input(r + STEP));
                output(r, s._mm512_permutex2var_ps(a, upper, b));
                output(r + STEP, s._mm512_permutex2var_ps(a, lower, b));
            }
        }
    }
    // ANCHOR_END: avx512_transpose
}

/// The sixteen values at the start of `xs` as one register.
#[inline(always)]
fn load(xs: &[f32]) -> __m512 {
    let lanes: &Lanes = xs[..W].try_into().expect("sixteen values");
    cast(*lanes)
}

/// Writes `v` over the sixteen values at the start of `xs`.
#[inline(always)]
fn store(xs: &mut [f32], v: __m512) {
    let lanes: &mut Lanes = (&mut xs[..W]).try_into().expect("sixteen values");
    *lanes = cast(v);
}
