//! The selective scan with complex $A$ and per-channel $B$, $C$: the other
//! form the reference `selective_scan_ref` accepts (`A` complex of shape
//! `(d, n)`, `B` and `C` either per step and shared by the channels, or per
//! channel and constant in time). Held constant in time it is exactly an S4D
//! channel with complex modes, which closes the bridge between chapters 5 and
//! 7.

use nalgebra::{Complex, DMatrix};

use super::selective::{BRule, softplus};

/// $B$ or $C$ of a complex selective scan.
#[derive(Debug, Clone, Copy)]
pub enum ComplexInput<'a> {
    /// Selective: one row per step, shared by the channels, `(len, n)`.
    PerStep(&'a DMatrix<Complex<f64>>),
    /// Time-invariant: one row per channel, `(d, n)` (S4D's $B$ and $C$).
    PerChannel(&'a DMatrix<Complex<f64>>),
}

impl ComplexInput<'_> {
    /// The entry for step `t`, channel `ch`, state `k`.
    fn at(&self, t: usize, ch: usize, k: usize) -> Complex<f64> {
        match self {
            ComplexInput::PerStep(m) => m[(t, k)],
            ComplexInput::PerChannel(m) => m[(ch, k)],
        }
    }

    fn check(&self, name: &str, (len, d, n): (usize, usize, usize)) {
        let (shape, want) = match self {
            ComplexInput::PerStep(m) => (m.shape(), (len, n)),
            ComplexInput::PerChannel(m) => (m.shape(), (d, n)),
        };
        assert!(
            shape == want,
            "selective_scan_complex: {name} has shape {shape:?} but u and A need {want:?}"
        );
    }
}

/// The complex selective scan: for every channel and (complex) state,
/// $h_t = e^{\Delta_t A} h_{t-1} + \bar B_t u_t$ and $y_t = 2\,\mathrm{Re}(C_t h_t)$,
/// one mode of each conjugate pair kept, as S4D and the reference do.
/// $\Delta_t$ = softplus(`delta` + bias) if `softplus`, else `delta`.
///
/// Implements Eqs. (M3) and (M4) with $A \in \mathbb{C}^{d \times n}$ and
/// the output $2\,\mathrm{Re}$ of Eq. (D1).
///
/// # Shapes
/// `u`, `delta`: `(len, d)`; `a`: `(d, n)`; `b`, `c`: see [`ComplexInput`]
/// → `(len, d)`.
///
/// # Panics
/// If the shapes disagree (the message names both).
///
/// # References
/// `selective_scan_interface.py::selective_scan_ref` (complex `A`,
/// `y = y.real * 2`); S4D §3 (conjugate pairs).
// ANCHOR: selective_scan_complex
pub fn selective_scan_complex(
    (u, delta, softplus_delta): (&DMatrix<f64>, &DMatrix<f64>, bool),
    a: &DMatrix<Complex<f64>>,
    (b, c): (ComplexInput, ComplexInput),
    rule: BRule,
) -> DMatrix<f64> {
    let (len, d, n) = (u.nrows(), u.ncols(), a.ncols());
    assert!(
        delta.shape() == (len, d) && a.nrows() == d,
        "selective_scan_complex: u {:?}, delta {:?}, A {:?}",
        u.shape(),
        delta.shape(),
        a.shape()
    );
    b.check("B", (len, d, n));
    c.check("C", (len, d, n));
    let mut y = DMatrix::zeros(len, d);
    for ch in 0..d {
        let mut h = vec![Complex::new(0.0, 0.0); n];
        for t in 0..len {
            let raw = delta[(t, ch)];
            let dt = if softplus_delta { softplus(raw) } else { raw };
            let mut out = Complex::new(0.0, 0.0);
            for (k, h) in h.iter_mut().enumerate() {
                let a_bar = (a[(ch, k)] * dt).exp();
                let b_bar = match rule {
                    BRule::Zoh if a[(ch, k)] != Complex::new(0.0, 0.0) => {
                        (a_bar - 1.0) / a[(ch, k)] * b.at(t, ch, k)
                    }
                    _ => b.at(t, ch, k) * dt, // Euler, or ZOH's limit at A = 0
                };
                *h = a_bar * *h + b_bar * u[(t, ch)];
                out += c.at(t, ch, k) * *h;
            }
            y[(t, ch)] = 2.0 * out.re;
        }
    }
    y
}
// ANCHOR_END: selective_scan_complex
