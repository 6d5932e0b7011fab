//! The backward pass of the training scan: each chunk's states and
//! multipliers recomputed from the state the forward pass kept, then the
//! adjoint recurrence (Eq. G4) through them, sixteen channels at a time.

use super::{
    BlockParams, Lanes, ScanInputs, ScanParams, SequenceGrads, W, advance, flush,
    fma, load, mul, sigmoid, step_sizes, store,
};
use crate::mamba::fast::scan::mul_add;
use crate::train::fast::rows::{give_back, recycled, zeroed};

/// The backward pass of one sequence from the output's gradient `dy`
/// `(len, d_inner)` and the states the forward pass kept.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
pub fn backward_sequence(
    p: &ScanParams,
    s: &ScanInputs,
    dy: &[f32],
    (chunk, states): (usize, &[f32]),
) -> SequenceGrads {
    use multiversion::target::target_cfg_f;
    if target_cfg_f!(target_feature = "fma") {
        backward_impl::<true>(p, s, dy, (chunk, states))
    } else {
        backward_impl::<false>(p, s, dy, (chunk, states))
    }
}

/// A chunk's recomputed values: the states before and after each step, the
/// multipliers, the step sizes and δ + bias.
struct ChunkBuffer {
    h: Vec<Vec<Lanes>>,
    a_bar: Vec<Vec<Lanes>>,
    dt: Vec<Lanes>,
    shifted: Vec<Lanes>,
}

#[inline(always)]
fn backward_impl<const FMA: bool>(
    p: &ScanParams,
    s: &ScanInputs,
    dy: &[f32],
    (chunk, states): (usize, &[f32]),
) -> SequenceGrads {
    let (n, di, len) = (p.n, p.di, s.len);
    let mut g = SequenceGrads {
        // Every entry of these is written below.
        u: recycled(len * di),
        delta: recycled(len * di),
        z: recycled(len * di),
        b: recycled(len * n),
        c: recycled(len * n),
        a: vec![0.0; n * di],
        d: vec![0.0; di],
        bias: vec![0.0; di],
    };
    // ∂B and ∂C in lanes, summed over the blocks; across lanes at the end.
    let (mut db_buf, mut dc_buf) = (zeroed(len * n * W), zeroed(len * n * W));
    let (db, _) = db_buf.as_chunks_mut::<W>();
    let (dc, _) = dc_buf.as_chunks_mut::<W>();
    let q = chunk.min(len.max(1));
    let mut buf = ChunkBuffer {
        h: vec![vec![[0.0; W]; n]; q + 1],
        a_bar: vec![vec![[0.0; W]; n]; q],
        dt: vec![[0.0; W]; q],
        shifted: vec![[0.0; W]; q],
    };
    for ch in (0..di).step_by(W) {
        let params = BlockParams::new(p, ch);
        let (width, a2, bias) = (params.width, &params.a2, params.bias);
        let mut carry = vec![[0.0; W]; n];
        let mut da = vec![[0.0; W]; n];
        let (mut dd, mut dbias) = ([0.0; W], [0.0; W]);
        for i in (0..len.div_ceil(chunk)).rev() {
            let (t0, t1) = (i * chunk, ((i + 1) * chunk).min(len));
            for k in 0..n {
                buf.h[0][k] = load(states, i * n * di + k * di + ch, width);
            }
            for (j, t) in (t0..t1).enumerate() {
                let (dt, shifted) = step_sizes::<FMA>(s, &bias, t, (ch, width));
                let u = s.u.lanes(t, ch, width);
                let mut dt_u = [0.0; W];
                for l in 0..W {
                    dt_u[l] = dt[l] * u[l];
                }
                let (before, after) = buf.h.split_at_mut(j + 1);
                after[0].copy_from_slice(&before[j]);
                advance::<FMA>(
                    &mut after[0],
                    &mut buf.a_bar[j],
                    (a2, &s.b),
                    t,
                    (&dt, &dt_u),
                );
                (buf.dt[j], buf.shifted[j]) = (dt, shifted);
            }
            for (j, t) in (t0..t1).enumerate().rev() {
                let lanes = (di, &params);
                let step = reverse_step::<FMA>(
                    s,
                    dy,
                    &buf,
                    (j, t),
                    lanes,
                    &mut carry,
                    (&mut da, &mut *db, &mut *dc),
                );
                for l in 0..W {
                    dd[l] += step.g_hat_u[l];
                    dbias[l] += step.d_delta[l];
                }
                let at = t * di + ch;
                store(&mut g.u, at, &step.du, width);
                store(&mut g.delta, at, &step.d_delta, width);
                store(&mut g.z, at, &step.dz, width);
            }
        }
        for (k, da_k) in da.iter().enumerate() {
            g.a[k * di + ch..k * di + ch + width].copy_from_slice(&da_k[..width]);
        }
        g.d[ch..ch + width].copy_from_slice(&dd[..width]);
        g.bias[ch..ch + width].copy_from_slice(&dbias[..width]);
    }
    for (i, (b, c)) in db.iter().zip(dc.iter()).enumerate() {
        g.b[i] = b.iter().sum();
        g.c[i] = c.iter().sum();
    }
    give_back(db_buf);
    give_back(dc_buf);
    g
}

/// One reverse step's per-channel results.
struct StepGrads {
    du: Lanes,
    d_delta: Lanes,
    dz: Lanes,
    g_hat_u: Lanes,
}

/// One state's values at one step.
struct State<'a> {
    h: &'a Lanes,
    h_prev: &'a Lanes,
    a_bar: &'a Lanes,
    a: &'a Lanes,
}

/// One state's running gradients.
struct Accumulators<'a> {
    carry: &'a mut Lanes,
    da: &'a mut Lanes,
    db: &'a mut Lanes,
    dc: &'a mut Lanes,
}

/// The adjoint of one state at one step and its shares of ∂C, ∂B, ∂u, ∂Δ
/// and ∂A; `du` and `d_dt` are summed over the states.
// ANCHOR: state_gradients
#[inline(always)]
fn state_gradients<const FMA: bool>(
    (b, c): (f32, f32),
    (g_hat, u, dt, dt_u): (&Lanes, &Lanes, &Lanes, &Lanes),
    st: State,
    acc: Accumulators,
    (mut du, mut d_dt): (Lanes, Lanes),
) -> (Lanes, Lanes) {
    let lambda = fma::<FMA>(*g_hat, [c; W], *acc.carry);
    *acc.dc = fma::<FMA>(*g_hat, *st.h, *acc.dc);
    *acc.db = fma::<FMA>(lambda, *dt_u, *acc.db);
    du = fma::<FMA>(mul(lambda, *dt), [b; W], du);
    let w = mul(mul(lambda, *st.a_bar), *st.h_prev);
    d_dt = fma::<FMA>(*st.a, w, fma::<FMA>(mul(lambda, [b; W]), *u, d_dt));
    *acc.da = fma::<FMA>(*dt, w, *acc.da);
    *acc.carry = flush(mul(*st.a_bar, lambda));
    (du, d_dt)
}
// ANCHOR_END: state_gradients

/// One step of Eq. (G4) for a block: the gate and skip, the adjoint, and
/// every gradient's share.
#[inline(always)]
fn reverse_step<const FMA: bool>(
    s: &ScanInputs,
    dy: &[f32],
    buf: &ChunkBuffer,
    (j, t): (usize, usize),
    (di, blk): (usize, &BlockParams),
    carry: &mut [Lanes],
    (da, db, dc): (&mut [Lanes], &mut [Lanes], &mut [Lanes]),
) -> StepGrads {
    let n = carry.len();
    let (ch, width) = (blk.ch, blk.width);
    let g = load(dy, t * di + ch, width);
    let (u, z) = (s.u.lanes(t, ch, width), s.z.lanes(t, ch, width));
    let (h_prev, h, a_bar, dt) =
        (&buf.h[j], &buf.h[j + 1], &buf.a_bar[j], buf.dt[j]);
    let mut pre = [0.0; W];
    for (k, l) in h.iter().enumerate() {
        let c = s.c.at(t, k);
        for m in 0..W {
            pre[m] = mul_add::<FMA>(c, l[m], pre[m]);
        }
    }
    let sig = sigmoid::<FMA>(z);
    let mut out = StepGrads {
        du: [0.0; W],
        d_delta: [0.0; W],
        dz: [0.0; W],
        g_hat_u: [0.0; W],
    };
    let mut g_hat = [0.0; W];
    for m in 0..W {
        pre[m] = mul_add::<FMA>(blk.d[m], u[m], pre[m]);
        out.dz[m] = g[m] * pre[m] * sig[m] * mul_add::<FMA>(z[m], 1.0 - sig[m], 1.0);
        g_hat[m] = g[m] * z[m] * sig[m];
        out.g_hat_u[m] = g_hat[m] * u[m];
        out.du[m] = blk.d[m] * g_hat[m];
    }
    let (mut d_dt, mut du) = ([0.0; W], out.du);
    let mut dt_u = [0.0; W];
    for m in 0..W {
        dt_u[m] = dt[m] * u[m];
    }
    for k in 0..n {
        let (b, c) = (s.b.at(t, k), s.c.at(t, k));
        // Distinct references to fixed-size rows: no bounds checks and no
        // aliasing inside the lane loop, which the compiler then vectorises;
        // the accumulators pass by value so that they stay in registers.
        let state = State {
            h: &h[k],
            h_prev: &h_prev[k],
            a_bar: &a_bar[k],
            a: &blk.a[k],
        };
        let acc = Accumulators {
            carry: &mut carry[k],
            da: &mut da[k],
            db: &mut db[t * n + k],
            dc: &mut dc[t * n + k],
        };
        (du, d_dt) = state_gradients::<FMA>(
            (b, c),
            (&g_hat, &u, &dt, &dt_u),
            state,
            acc,
            (du, d_dt),
        );
    }
    out.du = du;
    let gate = sigmoid::<FMA>(buf.shifted[j]);
    for m in 0..W {
        out.d_delta[m] = d_dt[m] * gate[m];
    }
    out
}
