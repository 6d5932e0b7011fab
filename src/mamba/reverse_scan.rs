//! The selective scan's backward pass as chapter 6's parallel scans: the
//! states by a scan left to right, the adjoints by the same scan right to
//! left, and every gradient read off step by step (each step on its own).
//!
//! [`selective_scan_backward`](super::selective_backward::selective_scan_backward)
//! runs the adjoint recurrence one step at a time; this module shows that it
//! is a linear recurrence like the forward one, so any associative scan
//! computes it: the same gradients, combined in another order.

use nalgebra::DMatrix;

use super::selective::SelectiveScan;
use super::selective_backward::{ScanGrads, gate_backward, read_off};
use super::views::affine_steps;
use crate::scan::operator::Affine;

/// The states $h_0 = 0, h_1, \dots, h_L$ of every channel and state, by
/// `scan` (any of chapter 6's scans): step $t$ is the affine map
/// $h \mapsto \bar A_t h + \bar B_t u_t$.
///
/// Implements Eq. (M4) through Eq. (P1).
///
/// # Shapes
/// → `len + 1` matrices `(d, n)`.
pub fn states_by_scan(
    args: &SelectiveScan,
    scan: impl Fn(&[Affine<f64>]) -> Vec<Affine<f64>>,
) -> Vec<DMatrix<f64>> {
    let (len, d, n) = args.dims();
    let mut h = vec![DMatrix::zeros(d, n); len + 1];
    for ch in 0..d {
        for k in 0..n {
            for (t, state) in scan(&affine_steps(args, ch, k)).iter().enumerate() {
                h[t + 1][(ch, k)] = state.b;
            }
        }
    }
    h
}

/// The adjoints $\partial h_t$ of every channel and state, by `scan` run right
/// to left: step $s$ of the scan is time $t = L - 1 - s$ (counting from 0),
/// the affine map $\partial h \mapsto \bar A_{t+1}\partial h + \widetilde g_t C_t$.
///
/// Implements Eq. (G15): $(a_s, b_s) = (\bar A_{t+1,c,n},\ \widetilde g_{t,c} C_{t,n})$,
/// scanned with Eq. (P1); the offset of the combination of steps $0..=s$ is
/// $\partial h_{t,c,n}$.
///
/// # Shapes
/// `g_tilde`: `(len, d)`, the gradient that reaches $C_t h_t$ (Eq. G12);
/// → `len` matrices `(d, n)`.
///
/// # Panics
/// If `g_tilde` is not `(len, d)`.
///
/// # References
/// Mamba §3.3.2 (the scan and its backward pass); Blelloch (1990) §1.4;
/// `csrc/selective_scan/selective_scan_bwd_kernel.cuh` in `state-spaces/mamba`
/// (the same pairs, each with the next step's decay, scanned by its own
/// `BlockReverseScan` of `csrc/selective_scan/reverse_scan.cuh`, built from
/// CUB primitives, with the forward pass's `SSMScanOp`).
// ANCHOR: adjoints_by_scan
pub fn adjoints_by_scan(
    args: &SelectiveScan,
    g_tilde: &DMatrix<f64>,
    scan: impl Fn(&[Affine<f64>]) -> Vec<Affine<f64>>,
) -> Vec<DMatrix<f64>> {
    let (len, d, n) = args.dims();
    assert_eq!(
        g_tilde.shape(),
        (len, d),
        "adjoints_by_scan: g_tilde has shape {:?} but u has shape {:?}",
        g_tilde.shape(),
        (len, d)
    );
    let mut dh = vec![DMatrix::zeros(d, n); len];
    for ch in 0..d {
        for k in 0..n {
            let steps: Vec<Affine<f64>> = (0..len)
                .rev() // right to left
                .map(|t| {
                    // Nothing follows the last step: ∂h_{L+1} = 0.
                    let decay = if t + 1 < len {
                        args.discretized(t + 1, ch, k).0
                    } else {
                        0.0
                    };
                    Affine::new(decay, g_tilde[(t, ch)] * args.c[(t, k)])
                })
                .collect();
            for (s, adjoint) in scan(&steps).iter().enumerate() {
                dh[len - 1 - s][(ch, k)] = adjoint.b;
            }
        }
    }
    dh
}
// ANCHOR_END: adjoints_by_scan

/// The gradients of [`selective_scan_backward`](super::selective_backward::selective_scan_backward)
/// computed with three data-parallel passes: the states by `scan`, the
/// adjoints by `scan` right to left, and the read-off, where every step is
/// independent of the others.
///
/// Implements Eqs. (G12)–(G15).
///
/// # Shapes
/// `dy`: `(len, d)`; see [`ScanGrads`].
///
/// # Panics
/// If `dy` does not have the shape of `u`.
///
/// # References
/// Mamba §3.3.2 (the backward pass is a scan too); `srush/annotated-mamba`
/// (the backward pass as a reverse scan).
// ANCHOR: backward_by_scan
pub fn selective_scan_backward_by_scan(
    args: &SelectiveScan,
    dy: &DMatrix<f64>,
    scan: impl Fn(&[Affine<f64>]) -> Vec<Affine<f64>>,
) -> ScanGrads {
    let (len, d, n) = args.dims();
    assert_eq!(
        dy.shape(),
        (len, d),
        "selective_scan_backward_by_scan: dy has shape {:?} but u has shape {:?}",
        dy.shape(),
        (len, d)
    );
    let mut g = ScanGrads::zeros(len, d, n);
    let h = states_by_scan(args, &scan); // h[t] is h_t, h[0] = 0
    let g_tilde = DMatrix::from_fn(len, d, |t, ch| {
        gate_backward(args, (t, ch), &h[t + 1], dy, &mut g)
    });
    let dh = adjoints_by_scan(args, &g_tilde, &scan);
    for t in 0..len {
        for ch in 0..d {
            let row: Vec<f64> = dh[t].row(ch).iter().copied().collect();
            let states = (&h[t], &h[t + 1]);
            read_off(args, (t, ch, g_tilde[(t, ch)]), states, &row, &mut g);
        }
    }
    g
}
// ANCHOR_END: backward_by_scan
