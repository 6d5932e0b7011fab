//! Segment sums of log-decays, and the decay mask $\mathcal L$ they give.

use nalgebra::DMatrix;

/// The segment sums by differences of one cumulative sum:
/// $S_{ij} = c_i - c_j$ with $c_i = \sum_{k \le i} a_k$ for $i \ge j$, $-\infty$
/// above the diagonal. Exact on paper; in floating point $c_i$ grows with $i$
/// and the difference of two large, nearly equal sums loses digits (and
/// overflows to `NaN` once $c$ is infinite).
///
/// # Shapes
/// `(T,)` → `(T, T)`.
pub fn segsum_naive(a: &[f64]) -> DMatrix<f64> {
    let mut cumulative = Vec::with_capacity(a.len());
    let mut running = 0.0;
    for x in a {
        running += x;
        cumulative.push(running);
    }
    DMatrix::from_fn(a.len(), a.len(), |i, j| {
        if i >= j {
            cumulative[i] - cumulative[j]
        } else {
            f64::NEG_INFINITY
        }
    })
}

/// The stable segment sums: $S_{ij} = \sum_{k=j+1}^{i} a_k$ accumulated
/// directly for every $j$ (never subtracting two large cumulative sums), and
/// $-\infty$ above the diagonal so that $e^{S}$ is causal.
///
/// Implements Eq. (X1): $S_{ij} = \sum_{k=j+1}^{i} a_k$ for $i \ge j$, else $-\infty$.
///
/// # Shapes
/// `(T,)` → `(T, T)`.
///
/// # References
/// Mamba-2 §6, Listing 1; `mamba_ssm/modules/ssd_minimal.py::segsum`.
// ANCHOR: segsum
pub fn segsum(a: &[f64]) -> DMatrix<f64> {
    let t = a.len();
    let mut s = DMatrix::from_element(t, t, f64::NEG_INFINITY);
    for j in 0..t {
        let mut running = 0.0;
        s[(j, j)] = 0.0;
        for i in j + 1..t {
            running += a[i];
            s[(i, j)] = running;
        }
    }
    s
}
// ANCHOR_END: segsum

/// The running sum $c_t = \sum_{k \le t} a_k$ (the log of the decay from the
/// start through step $t$).
///
/// # Shapes
/// `(T,)` → `(T,)`.
pub fn cumsum(a: &[f64]) -> Vec<f64> {
    a.iter()
        .scan(0.0, |running, v| {
            *running += v;
            Some(*running)
        })
        .collect()
}

/// The decay mask $\mathcal L = e^{\Sigma}$: $\mathcal L_{ij} = \prod_{k=j+1}^{i} e^{a_k}$ on and below
/// the diagonal (1 on it), 0 above: the 1-semiseparable matrix of the scalar
/// recurrence $y_t = e^{a_t} y_{t-1} + x_t$.
///
/// Implements Eq. (X2): $\mathcal L = \exp(\mathrm{segsum}(a))$.
///
/// # Shapes
/// `(T,)` → `(T, T)`.
pub fn decay_mask(a: &[f64]) -> DMatrix<f64> {
    segsum(a).map(f64::exp)
}
