//! The three forms of SSD: recurrent (a scan), quadratic (masked attention),
//! and chunked (matrix products inside chunks, a short scan across them).

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::segsum::{cumsum, decay_mask};

/// SSD's inputs, with the meaning of the reference `ssd_minimal_discrete`:
/// `u` already multiplied by Δ and `a` already Δ·A (log-decays). Heads are
/// split evenly among the groups that share B and C.
#[derive(Debug, Clone, Copy)]
pub struct SsdInputs<'a> {
    /// One `(T, d_h)` matrix per head: $\Delta_t u_t$.
    pub u: &'a [DMatrix<f64>],
    /// The log-decays $a_t = \Delta_t A_h$, `(T, H)` (≤ 0 for a decaying state).
    pub a: &'a DMatrix<f64>,
    /// One `(T, N)` matrix per group: $B_t$.
    pub b: &'a [DMatrix<f64>],
    /// One `(T, N)` matrix per group: $C_t$.
    pub c: &'a [DMatrix<f64>],
    /// The state before the first step, one `(d_h, N)` matrix per head, if any.
    pub initial: Option<&'a [DMatrix<f64>]>,
}

/// What every form returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SsdOutput {
    /// One `(T, d_h)` matrix per head.
    pub y: Vec<DMatrix<f64>>,
    /// The state after the last step, one `(d_h, N)` matrix per head.
    pub final_state: Vec<DMatrix<f64>>,
}

impl<'a> SsdInputs<'a> {
    /// Checks the shapes.
    ///
    /// # Panics
    /// If there are no heads or groups, the heads do not divide evenly into
    /// groups, or any shape disagrees; the message names both shapes.
    pub fn new(
        u: &'a [DMatrix<f64>],
        a: &'a DMatrix<f64>,
        b: &'a [DMatrix<f64>],
        c: &'a [DMatrix<f64>],
    ) -> Self {
        assert!(!u.is_empty(), "SsdInputs: no heads (u is empty)");
        assert!(
            !b.is_empty() && b.len() == c.len(),
            "SsdInputs: {} groups of B vs {} of C",
            b.len(),
            c.len()
        );
        assert!(
            u.len().is_multiple_of(b.len()),
            "SsdInputs: {} heads do not split evenly into {} groups",
            u.len(),
            b.len()
        );
        let (t, p) = u[0].shape();
        assert!(
            t > 0,
            "SsdInputs: empty sequence (u of head 0 is {:?})",
            u[0].shape()
        );
        let n = b[0].ncols();
        for (head, uh) in u.iter().enumerate() {
            assert_eq!(
                uh.shape(),
                (t, p),
                "SsdInputs: u of head {head} is {:?} but head 0 is {:?}",
                uh.shape(),
                (t, p)
            );
        }
        assert_eq!(
            a.shape(),
            (t, u.len()),
            "SsdInputs: a is {:?} but u needs (T, H) = {:?}",
            a.shape(),
            (t, u.len())
        );
        for m in b.iter().chain(c) {
            assert_eq!(
                m.shape(),
                (t, n),
                "SsdInputs: B or C is {:?} but B of group 0 is {:?}",
                m.shape(),
                (t, n)
            );
        }
        SsdInputs {
            u,
            a,
            b,
            c,
            initial: None,
        }
    }

    /// With an initial state per head.
    ///
    /// # Panics
    /// If there is not one `(d_h, N)` state per head.
    pub fn with_initial(mut self, states: &'a [DMatrix<f64>]) -> Self {
        let want = (self.u[0].ncols(), self.b[0].ncols());
        assert!(
            states.len() == self.u.len() && states.iter().all(|s| s.shape() == want),
            "SsdInputs: {} initial states, but {} heads need {want:?} each",
            states.len(),
            self.u.len()
        );
        self.initial = Some(states);
        self
    }

    /// (T, H, d_h, N, G).
    pub fn dims(&self) -> (usize, usize, usize, usize, usize) {
        let (t, p) = self.u[0].shape();
        (t, self.u.len(), p, self.b[0].ncols(), self.b.len())
    }

    /// The group of head `head`.
    pub fn group(&self, head: usize) -> usize {
        head / (self.u.len() / self.b.len())
    }

    fn initial_state(&self, head: usize) -> DMatrix<f64> {
        let (_, _, p, n, _) = self.dims();
        self.initial
            .map_or_else(|| DMatrix::zeros(p, n), |s| s[head].clone())
    }

    fn log_decays(&self, head: usize) -> Vec<f64> {
        self.a.column(head).iter().copied().collect()
    }

    /// One head's chunk of `rows` steps from `start`, padded with zeros to
    /// `q` steps: the log-decays, `u`, and the head's group's `B` and `C`.
    ///
    /// # Panics
    /// If the chunk runs past the sequence or `rows > q`.
    pub fn chunk(
        &self,
        head: usize,
        start: usize,
        rows: usize,
        q: usize,
    ) -> (Vec<f64>, DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
        let g = self.group(head);
        let pad = |m: &DMatrix<f64>| {
            let mut out = DMatrix::zeros(q, m.ncols());
            out.rows_mut(0, rows).copy_from(&m.rows(start, rows));
            out
        };
        let a = (0..q)
            .map(|l| {
                if l < rows {
                    self.a[(start + l, head)]
                } else {
                    0.0
                }
            })
            .collect();
        (a, pad(&self.u[head]), pad(&self.b[g]), pad(&self.c[g]))
    }
}

fn per_head(
    inputs: &SsdInputs,
    f: impl Fn(usize) -> (DMatrix<f64>, DMatrix<f64>) + Sync + Send,
) -> SsdOutput {
    let (y, final_state) = (0..inputs.u.len()).into_par_iter().map(f).unzip();
    SsdOutput { y, final_state }
}

/// The recurrent form: one state matrix per head, one step per token.
///
/// Implements Eq. (X3): $H_t = e^{a_t} H_{t-1} + u_t B_t^\top$ (`(d_h, N)`),
/// $y_t = H_t C_t$.
///
/// # References
/// Mamba-2 §3, §5 (the SSM view); `mamba2_simple.py::Mamba2Simple.step`.
// ANCHOR: ssd_recurrent
pub fn ssd_recurrent(inputs: &SsdInputs) -> SsdOutput {
    let (t_len, _, p, _, _) = inputs.dims();
    per_head(inputs, |head| {
        let (b, c) = (&inputs.b[inputs.group(head)], &inputs.c[inputs.group(head)]);
        let mut state = inputs.initial_state(head); // (d_h, N)
        let mut y = DMatrix::zeros(t_len, p);
        for t in 0..t_len {
            state *= inputs.a[(t, head)].exp();
            state += inputs.u[head].row(t).transpose() * b.row(t); // u_t B_tᵀ
            y.set_row(t, &(&state * c.row(t).transpose()).transpose());
        }
        (y, state)
    })
}
// ANCHOR_END: ssd_recurrent

/// The matrix $M = \mathcal L \circ (C B^\top)$ of one head: the masked attention
/// matrix with queries $C$, keys $B$ and a causal mask of decays $\mathcal L$.
///
/// # Shapes
/// `a`: `(T,)`, `b`, `c`: `(T, N)` → `(T, T)`.
pub fn ssd_matrix(a: &[f64], b: &DMatrix<f64>, c: &DMatrix<f64>) -> DMatrix<f64> {
    decay_mask(a).component_mul(&(c * b.transpose()))
}

/// The quadratic form: build $M$ and multiply, as attention does.
///
/// Implements Eq. (X4): $Y = \big(\mathcal L \circ (C B^\top)\big) U$, plus
/// $e^{\sum_{k \le t} a_k} H_{-1} C_t$ from an initial state.
///
/// # References
/// Mamba-2 §5.1, Eq. (16); `ssd_minimal.py` (`Y_diag` over one chunk).
// ANCHOR: ssd_quadratic
pub fn ssd_quadratic(inputs: &SsdInputs) -> SsdOutput {
    let (t_len, _, _, _, _) = inputs.dims();
    per_head(inputs, |head| {
        let (b, c) = (&inputs.b[inputs.group(head)], &inputs.c[inputs.group(head)]);
        let a = inputs.log_decays(head);
        let mask = decay_mask(&a); // L, (T, T)
        let from_inputs = mask.component_mul(&(c * b.transpose())) * &inputs.u[head];
        // The initial state decays through every step up to t (inclusive).
        let to_t: Vec<f64> = cumsum(&a).into_iter().map(f64::exp).collect();
        let h0 = inputs.initial_state(head);
        let decayed_c =
            DMatrix::from_fn(t_len, c.ncols(), |t, k| to_t[t] * c[(t, k)]);
        let y = from_inputs + decayed_c * h0.transpose();
        // The final state: every input decayed to the last step (the last row
        // of L), plus the decayed initial state.
        let to_end = DMatrix::from_fn(t_len, b.ncols(), |s, k| {
            mask[(t_len - 1, s)] * b[(s, k)]
        });
        let state = inputs.u[head].transpose() * to_end + h0 * to_t[t_len - 1];
        (y, state)
    })
}
// ANCHOR_END: ssd_quadratic

/// The chunked form (Mamba-2's SSD algorithm): split time into chunks of
/// length `q` (the last padded with zero inputs and zero log-decays, which
/// change nothing; `q` larger than the sequence is one chunk), and in each
/// chunk run the four steps: [`chunk_diagonal`] (the diagonal block),
/// [`chunk_state`] (the chunk's own contribution to its final state),
/// [`state_to_output`] (the entering state's contribution to each output)
/// and [`state_passing`] (the scan over chunks for the state entering the
/// next one). All but the scan are matrix products.
///
/// Implements Eq. (X5): $Y = Y_{\mathrm{diag}} + Y_{\mathrm{off}}$, with
/// the four steps of the text.
///
/// # Panics
/// If `q` is 0.
///
/// # References
/// Mamba-2 §6, Listing 1; `mamba_ssm/modules/ssd_minimal.py::ssd_minimal_discrete`
/// (which requires T divisible by the chunk length).
// ANCHOR: ssd_chunked
pub fn ssd_chunked(inputs: &SsdInputs, q: usize) -> SsdOutput {
    assert!(q > 0, "ssd_chunked: the chunk length must be ≥ 1, got 0");
    let (t_len, _, p, _, _) = inputs.dims();
    let q = q.min(t_len); // a chunk longer than the sequence is one chunk
    per_head(inputs, |head| {
        let mut y = DMatrix::zeros(t_len, p);
        let mut state = inputs.initial_state(head); // H_in of the current chunk
        for k in 0..t_len.div_ceil(q) {
            let (start, rows) = (k * q, q.min(t_len - k * q)); // the last may be short
            let (a, u, b, c) = inputs.chunk(head, start, rows, q); // zero-padded
            let y_diag = chunk_diagonal(&a, &u, &b, &c); // 1. (q, d_h)
            let own = chunk_state(&a, &u, &b); // 2. H_own, (d_h, N)
            let y_off = state_to_output(&a, &c, &state); // 4. (q, d_h)
            y.rows_mut(start, rows)
                .copy_from(&(y_diag + y_off).rows(0, rows));
            state = state_passing(a.iter().sum(), &state, &own); // 3.
        }
        (y, state)
    })
}
// ANCHOR_END: ssd_chunked

/// Step 1 of the chunked form: a chunk's diagonal block of outputs, the
/// chunk on its own from a zero state (the quadratic form inside it).
///
/// Implements the first term of Eq. (X5):
/// $Y_{\mathrm{diag}} = (\mathcal L \circ C B^\top) U$.
///
/// # Shapes
/// `a`: `(q,)`, `u`: `(q, d_h)`, `b`, `c`: `(q, N)` → `(q, d_h)`.
///
/// # References
/// `ssd_minimal.py` step 1 (`Y_diag`); the diagonal part of the reference
/// kernel `ssd_chunk_scan.py::_chunk_scan_fwd`.
// ANCHOR: chunk_diagonal
pub fn chunk_diagonal(
    a: &[f64],
    u: &DMatrix<f64>,
    b: &DMatrix<f64>,
    c: &DMatrix<f64>,
) -> DMatrix<f64> {
    decay_mask(a).component_mul(&(c * b.transpose())) * u
}
// ANCHOR_END: chunk_diagonal

/// Step 2: a chunk's own contribution to the state at its end (its inputs
/// decayed to the chunk's last step), the right factors of the
/// off-diagonal blocks.
///
/// Implements $H_{\mathrm{own}} = U^\top \operatorname{diag}(e^{c_Q - c_l}) B$,
/// with $c_Q - c_l = \sum_{i > l} a_i$ summed as such: with $a = -\infty$
/// (a state reset) the difference of cumulative sums is
/// $-\infty - (-\infty) = $ NaN.
///
/// # Shapes
/// `a`: `(q,)`, `u`: `(q, d_h)`, `b`: `(q, N)` → `(d_h, N)`.
///
/// # References
/// `ssd_minimal.py` step 2 (`states`); `ssd_chunk_state.py::_chunk_state_fwd`.
// ANCHOR: chunk_state
pub fn chunk_state(a: &[f64], u: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let q = a.len();
    let mut later = vec![0.0; q]; // later[l] = Σ_{i>l} a_i = c_Q − c_l
    for l in (0..q.saturating_sub(1)).rev() {
        later[l] = later[l + 1] + a[l + 1];
    }
    let to_end = DMatrix::from_fn(q, b.ncols(), |l, j| later[l].exp() * b[(l, j)]);
    u.transpose() * to_end
}
// ANCHOR_END: chunk_state

/// Step 3: the state entering the next chunk, one affine step of chapter
/// 6's scan over chunks (Eq. (P1)): the entering state decayed through the
/// whole chunk, plus the chunk's own contribution. The centre factors of
/// the off-diagonal blocks.
///
/// Implements $H_{\mathrm{in}}^{(k+1)} = e^{c_Q^{(k)}} H_{\mathrm{in}}^{(k)} +
/// H_{\mathrm{own}}^{(k)}$, with `chunk_log_decay` $= c_Q^{(k)}$, the sum of
/// the chunk's log-decays.
///
/// # Shapes
/// `entering`, `own`: `(d_h, N)` → `(d_h, N)`.
///
/// # References
/// `ssd_minimal.py` step 3 (`new_states`); `ssd_state_passing.py::_state_passing_fwd`.
// ANCHOR: state_passing
pub fn state_passing(
    chunk_log_decay: f64,
    entering: &DMatrix<f64>,
    own: &DMatrix<f64>,
) -> DMatrix<f64> {
    entering * chunk_log_decay.exp() + own
}
// ANCHOR_END: state_passing

/// Step 4: the entering state's contribution to each output of the chunk,
/// the left factors of the off-diagonal blocks.
///
/// Implements $Y_{\mathrm{off}} = \operatorname{diag}(e^{c_l})\, C\,
/// H_{\mathrm{in}}^\top$, with $c_l = \sum_{k \le l} a_k$ inside the chunk.
///
/// # Shapes
/// `a`: `(q,)`, `c`: `(q, N)`, `entering`: `(d_h, N)` → `(q, d_h)`.
///
/// # References
/// `ssd_minimal.py` step 4 (`Y_off`); the off-diagonal part of
/// `ssd_chunk_scan.py::_chunk_scan_fwd`.
// ANCHOR: state_to_output
pub fn state_to_output(
    a: &[f64],
    c: &DMatrix<f64>,
    entering: &DMatrix<f64>,
) -> DMatrix<f64> {
    let cumulative = cumsum(a);
    let decayed_c =
        DMatrix::from_fn(a.len(), c.ncols(), |l, j| cumulative[l].exp() * c[(l, j)]);
    decayed_c * entering.transpose()
}
// ANCHOR_END: state_to_output
