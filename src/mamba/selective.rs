//! The selective scan (S6): a diagonal SSM whose step Δ, input matrix B and
//! output matrix C change at every time step, run as a recurrence.

use nalgebra::{DMatrix, DVector};

/// How the input matrix is discretized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BRule {
    /// $\bar B = \Delta B$: what the reference code does (Euler for $B$).
    Euler,
    /// $\bar B = (e^{\Delta A} - 1) A^{-1} B$: the exact ZOH of Mamba's
    /// Eq. (4), which Theorem 1 needs.
    Zoh,
}

/// The arguments of a selective scan, with the meaning of the reference
/// implementation's `selective_scan_ref`. One sequence (no batch axis);
/// time runs down the rows.
#[derive(Debug, Clone, Copy)]
pub struct SelectiveScan<'a> {
    /// The input $u$ (Mamba's $x$), `(len, d)`.
    pub u: &'a DMatrix<f64>,
    /// The step before `delta_bias` and softplus, `(len, d)`.
    pub delta: &'a DMatrix<f64>,
    /// The state matrix, one diagonal per channel, `(d, n)` (negative).
    pub a: &'a DMatrix<f64>,
    /// The input matrix at every step, shared by the channels, `(len, n)`.
    pub b: &'a DMatrix<f64>,
    /// The output matrix at every step, shared by the channels, `(len, n)`.
    pub c: &'a DMatrix<f64>,
    /// The skip $D$, `(d,)`, if any.
    pub d_skip: Option<&'a DVector<f64>>,
    /// The gate $z$, `(len, d)`: the output is multiplied by SiLU(z), if given.
    pub z: Option<&'a DMatrix<f64>>,
    /// Added to `delta` before the softplus, `(d,)`, if given.
    pub delta_bias: Option<&'a DVector<f64>>,
    /// Whether Δ = softplus(delta + bias) (else Δ = delta + bias).
    pub delta_softplus: bool,
    /// How B is discretized.
    pub b_rule: BRule,
}

/// What a selective scan returns.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOutput {
    /// The output $y$, `(len, d)`.
    pub y: DMatrix<f64>,
    /// The state after the last step, `(d, n)`.
    pub last_state: DMatrix<f64>,
}

impl<'a> SelectiveScan<'a> {
    /// The core arguments, with no skip, gate or bias, Δ used as given and
    /// the reference code's Euler rule for B.
    ///
    /// # Panics
    /// If the shapes disagree: the message names both.
    pub fn new(
        u: &'a DMatrix<f64>,
        delta: &'a DMatrix<f64>,
        a: &'a DMatrix<f64>,
        b: &'a DMatrix<f64>,
        c: &'a DMatrix<f64>,
    ) -> Self {
        let (len, d) = u.shape();
        let n = a.ncols();
        let same = |name: &str, m: &DMatrix<f64>, want: (usize, usize)| {
            assert!(
                m.shape() == want,
                "SelectiveScan: {name} has shape {:?} but u {:?} and A {:?} need {want:?}",
                m.shape(),
                u.shape(),
                a.shape()
            );
        };
        same("delta", delta, (len, d));
        same("A", a, (d, n));
        same("B", b, (len, n));
        same("C", c, (len, n));
        SelectiveScan {
            u,
            delta,
            a,
            b,
            c,
            d_skip: None,
            z: None,
            delta_bias: None,
            delta_softplus: false,
            b_rule: BRule::Euler,
        }
    }

    /// With the skip $D$, `(d,)`.
    ///
    /// # Panics
    /// If `d_skip` does not have one entry per channel.
    pub fn with_skip(mut self, d_skip: &'a DVector<f64>) -> Self {
        self.check_channels("D", d_skip.len());
        self.d_skip = Some(d_skip);
        self
    }

    /// With the gate $z$, `(len, d)`.
    ///
    /// # Panics
    /// If `z` does not have the shape of `u`.
    pub fn with_gate(mut self, z: &'a DMatrix<f64>) -> Self {
        assert_eq!(
            z.shape(),
            self.u.shape(),
            "SelectiveScan: z has shape {:?} but u has shape {:?}",
            z.shape(),
            self.u.shape()
        );
        self.z = Some(z);
        self
    }

    /// With Δ = softplus(delta + bias) (or delta + bias without softplus).
    ///
    /// # Panics
    /// If `bias` does not have one entry per channel.
    pub fn with_delta_bias(
        mut self,
        bias: Option<&'a DVector<f64>>,
        softplus: bool,
    ) -> Self {
        if let Some(bias) = bias {
            self.check_channels("delta_bias", bias.len());
        }
        self.delta_bias = bias;
        self.delta_softplus = softplus;
        self
    }

    /// With the given rule for B.
    pub fn with_b_rule(mut self, rule: BRule) -> Self {
        self.b_rule = rule;
        self
    }

    fn check_channels(&self, name: &str, len: usize) {
        assert_eq!(
            len,
            self.u.ncols(),
            "SelectiveScan: {name} has shape ({len},) but u has shape {:?}",
            self.u.shape()
        );
    }

    /// The sequence length and the numbers of channels and states.
    pub fn dims(&self) -> (usize, usize, usize) {
        (self.u.nrows(), self.u.ncols(), self.a.ncols())
    }

    /// Δ at step `t` of channel `ch`: softplus(delta + bias) or delta + bias.
    pub fn step_size(&self, t: usize, ch: usize) -> f64 {
        let bias = self.delta_bias.map_or(0.0, |b| b[ch]);
        let raw = self.delta[(t, ch)] + bias;
        if self.delta_softplus {
            softplus(raw)
        } else {
            raw
        }
    }

    /// The discretized pair $(\bar A, \bar B)$ of channel `ch`, state `k`, step `t`.
    ///
    /// Implements Eq. (M3): $\bar A = e^{\Delta A}$ and $\bar B = \Delta B$
    /// (reference code) or $\bar B = \frac{e^{\Delta A} - 1}{A} B$ (exact ZOH).
    // ANCHOR: discretize_selective
    pub fn discretized(&self, t: usize, ch: usize, k: usize) -> (f64, f64) {
        let dt = self.step_size(t, ch);
        let a = self.a[(ch, k)];
        let a_bar = (dt * a).exp();
        let b_bar = match self.b_rule {
            BRule::Euler => dt * self.b[(t, k)],
            BRule::Zoh if a == 0.0 => dt * self.b[(t, k)],
            BRule::Zoh => (a_bar - 1.0) / a * self.b[(t, k)],
        };
        (a_bar, b_bar)
    }
    // ANCHOR_END: discretize_selective

    /// The output of channel `ch` at step `t` from the SSM's part $C_t h_t$:
    /// plus the skip $D u_t$, times the gate $\mathrm{SiLU}(z_t)$, if given.
    pub fn readout(&self, t: usize, ch: usize, ssm: f64) -> f64 {
        let skip = self.d_skip.map_or(0.0, |d| d[ch] * self.u[(t, ch)]);
        let gate = self.z.map_or(1.0, |z| silu(z[(t, ch)]));
        (ssm + skip) * gate
    }
}

/// $\log(1 + e^x)$, computed without overflow.
pub fn softplus(x: f64) -> f64 {
    // For large x, log(1 + e^x) = x + log(1 + e^{−x}); the reference code
    // switches to x above 20, where the two agree to rounding.
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// SiLU, $x\,\sigma(x)$.
pub fn silu(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

/// The readable selective scan: for every channel and state, the recurrence
/// over time, one step at a time, exactly as the reference code's loop.
///
/// Implements Eq. (M4): $h_t = \bar A_t h_{t-1} + \bar B_t u_t$,
/// $y_t = C_t h_t + D u_t$, and $y_t \leftarrow y_t \cdot \mathrm{SiLU}(z_t)$ if
/// a gate is given.
///
/// # Shapes
/// See [`SelectiveScan`]; returns `y` `(len, d)` and the last state `(d, n)`.
///
/// # References
/// Mamba Algorithm 2 and §3.5; `mamba_ssm/ops/selective_scan_interface.py::
/// selective_scan_ref` (real case, one batch element).
// ANCHOR: selective_scan
pub fn selective_scan(args: &SelectiveScan) -> ScanOutput {
    let (len, d, n) = args.dims();
    let mut y = DMatrix::zeros(len, d);
    let mut state = DMatrix::zeros(d, n); // h: (d, n)
    for t in 0..len {
        for ch in 0..d {
            let u = args.u[(t, ch)];
            let mut out = 0.0;
            for k in 0..n {
                let (a_bar, b_bar) = args.discretized(t, ch, k);
                state[(ch, k)] = a_bar * state[(ch, k)] + b_bar * u;
                out += args.c[(t, k)] * state[(ch, k)];
            }
            y[(t, ch)] = args.readout(t, ch, out);
        }
    }
    ScanOutput {
        y,
        last_state: state,
    }
}
// ANCHOR_END: selective_scan
