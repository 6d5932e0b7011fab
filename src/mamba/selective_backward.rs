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

/// The backward pass of one step `t`, every channel: the output's gradient
/// `dy` (row `t`) through the gate and skip, then the adjoint
/// $\lambda_t = \hat g_t C_t + \bar A_{t+1} \odot \lambda_{t+1}$ (`carry`
/// holds $\bar A_{t+1} \odot \lambda_{t+1}$ and leaves with
/// $\bar A_t \odot \lambda_t$), and every argument's share of the gradient.
///
/// Implements Eq. (G4): $\lambda_t = \hat g_t C_t + \bar A_{t+1}\odot\lambda_{t+1}$,
/// $\partial\bar B_t = \lambda_t u_t$, $\partial\bar A_t = \lambda_t \odot h_{t-1}$,
/// $\partial C_t = \hat g_t h_t$.
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
        let u = args.u[(t, ch)];
        let ssm: f64 = (0..n).map(|k| args.c[(t, k)] * h[(ch, k)]).sum();
        let skip = args.d_skip.map_or(0.0, |d| d[ch]);
        let g_hat = match args.z {
            Some(z) => {
                let pre_gate = ssm + skip * u;
                g.z[(t, ch)] = dy[(t, ch)] * pre_gate * silu_grad(z[(t, ch)]);
                dy[(t, ch)] * z[(t, ch)] * sigmoid(z[(t, ch)])
            }
            None => dy[(t, ch)],
        };
        g.d_skip[ch] += g_hat * u;
        g.u[(t, ch)] += skip * g_hat;
        let dt = args.step_size(t, ch);
        let mut d_dt = 0.0;
        for k in 0..n {
            let lambda = g_hat * args.c[(t, k)] + carry[(ch, k)];
            g.c[(t, k)] += g_hat * h[(ch, k)];
            let a = args.a[(ch, k)];
            let (a_bar, b_bar) = args.discretized(t, ch, k);
            let [bb_dt, bb_a, bb_b] =
                b_bar_partials(args.b_rule, dt, a, args.b[(t, k)]);
            g.u[(t, ch)] += lambda * b_bar;
            d_dt += lambda * (a * a_bar * h_prev[(ch, k)] + bb_dt * u);
            g.a[(ch, k)] += lambda * (dt * a_bar * h_prev[(ch, k)] + bb_a * u);
            g.b[(t, k)] += lambda * bb_b * u;
            carry[(ch, k)] = a_bar * lambda;
        }
        let bias = args.delta_bias.map_or(0.0, |b| b[ch]);
        let d_raw = if args.delta_softplus {
            d_dt * sigmoid(args.delta[(t, ch)] + bias)
        } else {
            d_dt
        };
        g.delta[(t, ch)] = d_raw;
        g.delta_bias[ch] += d_raw;
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
    let mut g = ScanGrads {
        u: DMatrix::zeros(len, d),
        delta: DMatrix::zeros(len, d),
        a: DMatrix::zeros(d, n),
        b: DMatrix::zeros(len, n),
        c: DMatrix::zeros(len, n),
        d_skip: DVector::zeros(d),
        z: DMatrix::zeros(len, d),
        delta_bias: DVector::zeros(d),
    };
    let mut carry = DMatrix::zeros(d, n); // Ā_{t+1} ⊙ λ_{t+1}: (d, n)
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
