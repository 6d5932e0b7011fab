//! The selective scan run backwards: the gradients of a loss with respect to
//! every argument of [`selective_scan`](super::selective::selective_scan),
//! from the gradient of its output.
//!
//! The backward pass needs the states $h_t$. Storing all of them costs
//! `len · d · n` numbers, as many as the scan's whole work; the reference
//! keeps only the state at the start of every chunk and recomputes the
//! states inside a chunk when the backward pass reaches it (Mamba §3.3.2).
//! [`selective_scan_taped`] does the same with a chunk of the caller's
//! choice: chunk 1 stores everything, chunk `len` stores nothing but $h_0$.

use nalgebra::{DMatrix, DVector};

use super::selective::{BRule, ScanOutput, SelectiveScan};

/// What the forward pass keeps for the backward pass: the state at the start
/// of every chunk of `chunk` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanTape {
    /// The number of steps between kept states (≥ 1).
    pub chunk: usize,
    /// The state before step `i · chunk`, `(d, n)` each.
    pub states: Vec<DMatrix<f64>>,
}

impl ScanTape {
    /// The number of `f64` values kept.
    pub fn stored_values(&self) -> usize {
        self.states.iter().map(|s| s.len()).sum()
    }
}

/// The gradients of a loss with respect to the arguments of a selective
/// scan, named and shaped like them. A gradient of an argument the scan was
/// not given (no skip, gate or bias) is zero.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanGrads {
    /// ∂ℓ/∂u, `(len, d)`.
    pub u: DMatrix<f64>,
    /// ∂ℓ/∂delta (before bias and softplus), `(len, d)`.
    pub delta: DMatrix<f64>,
    /// ∂ℓ/∂A, `(d, n)`.
    pub a: DMatrix<f64>,
    /// ∂ℓ/∂B, `(len, n)`.
    pub b: DMatrix<f64>,
    /// ∂ℓ/∂C, `(len, n)`.
    pub c: DMatrix<f64>,
    /// ∂ℓ/∂D, `(d,)`.
    pub d_skip: DVector<f64>,
    /// ∂ℓ/∂z, `(len, d)`.
    pub z: DMatrix<f64>,
    /// ∂ℓ/∂(the Δ bias), `(d,)`.
    pub delta_bias: DVector<f64>,
}

impl ScanGrads {
    /// All gradients zero, shaped for a scan of `len` steps, `d` channels and
    /// `n` states.
    pub fn zeros(len: usize, d: usize, n: usize) -> Self {
        ScanGrads {
            u: DMatrix::zeros(len, d),
            delta: DMatrix::zeros(len, d),
            a: DMatrix::zeros(d, n),
            b: DMatrix::zeros(len, n),
            c: DMatrix::zeros(len, n),
            d_skip: DVector::zeros(d),
            z: DMatrix::zeros(len, d),
            delta_bias: DVector::zeros(d),
        }
    }
}

/// One step of the recurrence for every channel: $h_t$ from $h_{t-1}$.
fn advance(args: &SelectiveScan, t: usize, state: &mut DMatrix<f64>) {
    let (_, d, n) = args.dims();
    for ch in 0..d {
        for k in 0..n {
            let (a_bar, b_bar) = args.discretized(t, ch, k);
            state[(ch, k)] = a_bar * state[(ch, k)] + b_bar * args.u[(t, ch)];
        }
    }
}

/// The selective scan that also returns its [`ScanTape`]: the same output as
/// [`selective_scan`](super::selective::selective_scan), bit for bit.
///
/// # Panics
/// If `chunk` is 0.
pub fn selective_scan_taped(
    args: &SelectiveScan,
    chunk: usize,
) -> (ScanOutput, ScanTape) {
    assert!(chunk > 0, "selective_scan_taped: chunk must be ≥ 1, got 0");
    let (len, d, n) = args.dims();
    let mut y = DMatrix::zeros(len, d);
    let mut state = DMatrix::zeros(d, n);
    let mut states = Vec::with_capacity(len.div_ceil(chunk));
    for t in 0..len {
        if t % chunk == 0 {
            states.push(state.clone());
        }
        advance(args, t, &mut state);
        for ch in 0..d {
            let ssm = (0..n).map(|k| args.c[(t, k)] * state[(ch, k)]).sum();
            y[(t, ch)] = args.readout(t, ch, ssm);
        }
    }
    let output = ScanOutput {
        y,
        last_state: state,
    };
    (output, ScanTape { chunk, states })
}

/// $\sigma(x) = 1/(1 + e^{-x})$: the derivative of softplus.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The derivative of SiLU: $\sigma(x)\,(1 + x(1 - \sigma(x)))$.
pub fn silu_grad(x: f64) -> f64 {
    let s = sigmoid(x);
    s * (1.0 + x * (1.0 - s))
}

/// The partial derivatives of $\bar B$ with respect to Δ, A and B.
fn b_bar_partials(rule: BRule, dt: f64, a: f64, b: f64) -> [f64; 3] {
    match rule {
        BRule::Euler => [b, 0.0, dt],
        BRule::Zoh if a == 0.0 => [b, dt * dt / 2.0 * b, dt],
        BRule::Zoh => {
            let a_bar = (dt * a).exp();
            let da = (dt * a_bar * a - (a_bar - 1.0)) / (a * a);
            [a_bar * b, da * b, (a_bar - 1.0) / a]
        }
    }
}

/// The gate and the skip of step `t`, channel `ch`, run backwards: writes
/// $\partial z_{t,c}$, $\partial D_c$ and the skip's share of
/// $\partial u_{t,c}$, and returns $\widetilde g_{t,c}$, the gradient that reaches
/// $C_t h_t$.
///
/// Implements Eq. (G12): $\widetilde g_{t,c} = g_{t,c}\,\mathrm{SiLU}(z_{t,c})$,
/// $\partial z_{t,c} = g_{t,c}\big(\textstyle\sum_n C_{t,n} h_{t,c,n} + D_c u_{t,c}\big)
/// \mathrm{SiLU}'(z_{t,c})$, $\partial D_c \mathrel{+}= \widetilde g_{t,c} u_{t,c}$.
// ANCHOR: gate_backward
pub(crate) fn gate_backward(
    args: &SelectiveScan,
    (t, ch): (usize, usize),
    h: &DMatrix<f64>,
    dy: &DMatrix<f64>,
    g: &mut ScanGrads,
) -> f64 {
    let (_, _, n) = args.dims();
    let u = args.u[(t, ch)];
    let skip = args.d_skip.map_or(0.0, |d| d[ch]);
    let g_tilde = match args.z {
        Some(z) => {
            let ssm: f64 = (0..n).map(|k| args.c[(t, k)] * h[(ch, k)]).sum();
            let pre_gate = ssm + skip * u;
            g.z[(t, ch)] = dy[(t, ch)] * pre_gate * silu_grad(z[(t, ch)]);
            dy[(t, ch)] * z[(t, ch)] * sigmoid(z[(t, ch)])
        }
        None => dy[(t, ch)],
    };
    if args.d_skip.is_some() {
        g.d_skip[ch] += g_tilde * u;
        g.u[(t, ch)] += skip * g_tilde;
    }
    g_tilde
}
// ANCHOR_END: gate_backward

/// Every argument's share of the gradient at step `t`, channel `ch`, read
/// off the adjoints `dh` $= \partial h_{t,c,\cdot}$ (one per state) and the
/// states $h_{t-1}$, $h_t$.
///
/// Implements Eqs. (G13) and (G14): $\partial C_{t,n} \mathrel{+}= \widetilde g_{t,c} h_{t,c,n}$,
/// $\partial B_{t,n} \mathrel{+}= \partial h_{t,c,n}\Delta_{t,c} u_{t,c}$,
/// $\partial u_{t,c} \mathrel{+}= \sum_n \partial h_{t,c,n}\bar B_{t,c,n}$,
/// $\partial\Delta_{t,c} = \sum_n \partial h_{t,c,n}(A_{c,n}\bar A_{t,c,n}h_{t-1,c,n} +
/// B_{t,n}u_{t,c})$, $\partial A_{c,n} \mathrel{+}= \partial h_{t,c,n}\Delta_{t,c}
/// \bar A_{t,c,n} h_{t-1,c,n}$ (for $\bar B = \Delta B$; the exact ZOH rule adds
/// its own partials of $\bar B$).
// ANCHOR: read_off
pub(crate) fn read_off(
    args: &SelectiveScan,
    (t, ch, g_tilde): (usize, usize, f64),
    (h_prev, h): (&DMatrix<f64>, &DMatrix<f64>),
    dh: &[f64],
    g: &mut ScanGrads,
) {
    let u = args.u[(t, ch)];
    let dt = args.step_size(t, ch);
    let mut d_dt = 0.0; // ∂Δ_{t,c}: a sum over the states
    for (k, &adjoint) in dh.iter().enumerate() {
        let a = args.a[(ch, k)];
        let (a_bar, b_bar) = args.discretized(t, ch, k);
        let [bb_dt, bb_a, bb_b] = b_bar_partials(args.b_rule, dt, a, args.b[(t, k)]);
        g.c[(t, k)] += g_tilde * h[(ch, k)];
        g.b[(t, k)] += adjoint * bb_b * u;
        g.u[(t, ch)] += adjoint * b_bar;
        // Through Ā = e^{ΔA}, and through B̄ (B̄ = ΔB: ∂B̄/∂Δ = B).
        d_dt += adjoint * (a * a_bar * h_prev[(ch, k)] + bb_dt * u);
        g.a[(ch, k)] += adjoint * (dt * a_bar * h_prev[(ch, k)] + bb_a * u);
    }
    let bias = args.delta_bias.map_or(0.0, |b| b[ch]);
    let d_raw = if args.delta_softplus {
        d_dt * sigmoid(args.delta[(t, ch)] + bias)
    } else {
        d_dt
    };
    g.delta[(t, ch)] = d_raw;
    if args.delta_bias.is_some() {
        g.delta_bias[ch] += d_raw;
    }
}
// ANCHOR_END: read_off

/// The backward pass of one step `t`, every channel: the gate and skip
/// ([`gate_backward`]), then the adjoint
/// $\partial h_t = \widetilde g_t C_t + \bar A_{t+1} \odot \partial h_{t+1}$ (`carry`
/// holds $\bar A_{t+1} \odot \partial h_{t+1}$ and leaves with
/// $\bar A_t \odot \partial h_t$), and every argument's share of the gradient
/// ([`read_off`]).
///
/// Implements Eq. (G4): $\partial h_{t,c,n} = \widetilde g_{t,c} C_{t,n} + \bar A_{t+1,c,n}
/// \partial h_{t+1,c,n}$.
// ANCHOR: scan_backward_step
fn backward_step(
    args: &SelectiveScan,
    t: usize,
    (h_prev, h): (&DMatrix<f64>, &DMatrix<f64>),
    dy: &DMatrix<f64>,
    carry: &mut DMatrix<f64>,
    g: &mut ScanGrads,
) {
    let (_, d, n) = args.dims();
    for ch in 0..d {
        let g_tilde = gate_backward(args, (t, ch), h, dy, g);
        let dh: Vec<f64> = (0..n)
            .map(|k| g_tilde * args.c[(t, k)] + carry[(ch, k)])
            .collect();
        read_off(args, (t, ch, g_tilde), (h_prev, h), &dh, g);
        for (k, dh) in dh.into_iter().enumerate() {
            carry[(ch, k)] = args.discretized(t, ch, k).0 * dh;
        }
    }
}
// ANCHOR_END: scan_backward_step

/// The gradients of a loss with respect to every argument of a selective
/// scan, given the gradient `dy` of its output and the forward pass's
/// [`ScanTape`]: the chunks are visited last to first; each recomputes its
/// states from the kept one, then runs the adjoint recurrence backward in
/// time through it.
///
/// Implements Eq. (G4) (see `backward_step`); the adjoint is itself a linear
/// recurrence, run right to left with the decay shifted by one step.
///
/// # Shapes
/// `dy`: `(len, d)`; see [`ScanGrads`].
///
/// # Panics
/// If `dy` does not have the shape of `u`, or the tape is from another scan.
///
/// # References
/// Mamba §3.3.2 (recomputation); `csrc/selective_scan/selective_scan_bwd_kernel.cuh`
/// in `state-spaces/mamba` (the same reverse recurrence, one chunk at a time).
// ANCHOR: scan_backward
pub fn selective_scan_backward(
    args: &SelectiveScan,
    tape: &ScanTape,
    dy: &DMatrix<f64>,
) -> ScanGrads {
    let (len, d, n) = args.dims();
    check_backward_shapes(args, tape, dy);
    let mut g = ScanGrads::zeros(len, d, n);
    let mut carry = DMatrix::zeros(d, n); // Ā_{t+1} ⊙ ∂h_{t+1}: (d, n)
    for (i, start) in tape.states.iter().enumerate().rev() {
        let steps = i * tape.chunk..((i + 1) * tape.chunk).min(len);
        let mut states = vec![start.clone()]; // h before each step, then after
        for t in steps.clone() {
            let mut next = states[states.len() - 1].clone();
            advance(args, t, &mut next);
            states.push(next);
        }
        for (j, t) in steps.enumerate().rev() {
            let pair = (&states[j], &states[j + 1]);
            backward_step(args, t, pair, dy, &mut carry, &mut g);
        }
    }
    g
}
// ANCHOR_END: scan_backward

fn check_backward_shapes(args: &SelectiveScan, tape: &ScanTape, dy: &DMatrix<f64>) {
    let (len, d, n) = args.dims();
    assert_eq!(
        dy.shape(),
        (len, d),
        "selective_scan_backward: dy has shape {:?} but u has shape {:?}",
        dy.shape(),
        (len, d)
    );
    let want = len.div_ceil(tape.chunk.max(1));
    assert!(
        tape.chunk > 0
            && tape.states.len() == want
            && tape.states.iter().all(|s| s.shape() == (d, n)),
        "selective_scan_backward: the tape keeps {} states of chunk {}, the scan \
         (len {len}, d {d}, n {n}) needs {want} of shape {:?}",
        tape.states.len(),
        tape.chunk,
        (d, n)
    );
}
