//! The selective scan's other views: the matrix that the scan multiplies by
//! (no longer Toeplitz, so no convolution), and chapter 6's chunked scan,
//! which runs it in parallel.

use nalgebra::DMatrix;

use super::selective::{ScanOutput, SelectiveScan};
use crate::scan::operator::Affine;
use crate::scan::prefix::scan_chunked;

/// The selective SSM of one channel as a matrix: $y = M u$ with
/// $M_{ts} = C_t \big(\prod_{r=s+1}^{t} \bar A_r\big) \bar B_s$ for $s \le t$
/// (and 0 above the diagonal), before the skip and the gate. A
/// time-invariant SSM gives a Toeplitz $M$ (a convolution); a selective one
/// does not.
///
/// Implements Eq. (M5): $M_{ts} = \sum_k C_{t,k} \big(\prod_{r=s+1}^{t} \bar A_{r,k}\big) \bar B_{s,k}$.
///
/// # Shapes
/// → `(len, len)`.
///
/// # Panics
/// If `channel` is not below d.
// ANCHOR: transfer_matrix
pub fn transfer_matrix(args: &SelectiveScan, channel: usize) -> DMatrix<f64> {
    let (len, d, n) = args.dims();
    assert!(channel < d, "transfer_matrix: channel {channel} of {d}");
    let mut m = DMatrix::zeros(len, len);
    for s in 0..len {
        for k in 0..n {
            // Follow an impulse at step s through state k.
            let (_, b_bar) = args.discretized(s, channel, k);
            let mut carried = b_bar;
            m[(s, s)] += args.c[(s, k)] * carried;
            for t in s + 1..len {
                carried *= args.discretized(t, channel, k).0;
                m[(t, s)] += args.c[(t, k)] * carried;
            }
        }
    }
    m
}
// ANCHOR_END: transfer_matrix

/// One state's recurrence as chapter 6's affine steps: step $t$ is
/// $h \mapsto \bar A_{t} h + \bar B_{t} u_t$ for `channel` and state `k`.
///
/// Implements Eq. (M4) for one channel and state, in the form of Eq. (P1).
///
/// # Panics
/// If `channel` is not below d or `k` not below N.
// ANCHOR: affine_steps
pub fn affine_steps(
    args: &SelectiveScan,
    channel: usize,
    k: usize,
) -> Vec<Affine<f64>> {
    (0..args.dims().0)
        .map(|t| {
            let (a_bar, b_bar) = args.discretized(t, channel, k);
            Affine::new(a_bar, b_bar * args.u[(t, channel)])
        })
        .collect()
}
// ANCHOR_END: affine_steps

/// The selective scan as chapter 6's chunked scan: for every channel and
/// state, step $t$ is the affine map $h \mapsto \bar A_t h + \bar B_t u_t$;
/// [`scan_chunked`] composes them in chunks of `chunk` steps (the chunks in
/// parallel), and the composed offset at $t$ is the state $h_t$ from zero.
/// The same numbers as [`super::selective::selective_scan`], combined in
/// another order.
///
/// Implements Eq. (M4) through Eqs. (P1) and (P5).
///
/// # Panics
/// If `chunk` is 0.
///
/// # References
/// Mamba §3.3.2 (the scan is parallelised as a work-efficient scan); Blelloch
/// (1990) §1.4.
// ANCHOR: selective_scan_chunked
pub fn selective_scan_chunked(args: &SelectiveScan, chunk: usize) -> ScanOutput {
    let (len, d, n) = args.dims();
    let mut ssm = DMatrix::zeros(len, d); // Σ_k C_{t,k} h_{t,k}
    let mut last_state = DMatrix::zeros(d, n);
    for ch in 0..d {
        for k in 0..n {
            let states = scan_chunked(&affine_steps(args, ch, k), chunk); // states[t].b = h_t
            for (t, state) in states.iter().enumerate() {
                ssm[(t, ch)] += args.c[(t, k)] * state.b;
            }
            last_state[(ch, k)] = states.last().map_or(0.0, |s| s.b);
        }
    }
    let y = DMatrix::from_fn(len, d, |t, ch| args.readout(t, ch, ssm[(t, ch)]));
    ScanOutput { y, last_state }
}
// ANCHOR_END: selective_scan_chunked
