//! Chapter 9's selective scan backwards, shown: the worked example at L = 3
//! (every number the chapter prints is the crate's backward pass, and that
//! pass is the loss's gradient), the unrolled drawing, and the backward pass
//! as chapter 6's parallel scan run right to left.

use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use ssm_lineage::mamba::reverse_scan::{
    adjoints_by_scan, selective_scan_backward_by_scan, states_by_scan,
};
use ssm_lineage::mamba::{
    BRule, ScanGrads, SelectiveScan, selective_scan, selective_scan_backward,
    selective_scan_taped,
};
use ssm_lineage::scan::Affine;
use ssm_lineage::scan::prefix::{scan_blelloch, scan_chunked, scan_sequential};
use ssm_lineage::support::figure::figure_path;
use ssm_lineage::support::unrolled::{backward_unrolled_svg, read_off_labels};
use ssm_lineage::train::gradcheck::{central_differences, relative_error};

use crate::cases;
use crate::ch07_mamba::problem;
use crate::strategies::gaussian;

#[path = "../../examples/ch09/unrolled_l3.rs"]
mod unrolled_l3;

use unrolled_l3::{PROBLEM, Problem, tables, unrolled};

/// The worked example's numbers are O(1) and each is a few roundings from
/// its inputs, in another order than the crate's loops: 2⁻⁵³ ≈ 1.1e-16 a
/// rounding, so 1e-14 leaves a margin of about ten roundings.
const WORKED_TOL: f64 = 1e-14;

/// The central differences' step: the error of a central difference is
/// about ε² (truncation) + 2⁻⁵³/ε (rounding), both ≈ 1e-10 here.
const EPS: f64 = 1e-5;
/// The largest error of the gradient check, relative to the gradient's
/// scale (at least [`FLOOR`]): a hundred times the ≈ 1e-10 expected.
const GRAD_TOL: f64 = 1e-8;
/// The smallest gradient scale errors are measured against.
const FLOOR: f64 = 1e-3;
/// How far ∂Δ without its term through B̄ is from the loss's gradient, at
/// least, relative to the largest entry: in the worked example the term is
/// the larger part of every ∂Δ_t (the table's rows), so the error is a
/// sizeable fraction of the gradient, not a rounding; a tenth is 10⁷ times
/// [`GRAD_TOL`].
const MISSING_TERM: f64 = 0.1;

/// The scan and the loop compute every adjoint as the same sum of products
/// Σ_s (Π Ā) g̃_s C_s, associated differently: each side's rounding is below
/// (2L + 2)·2⁻⁵³ ≈ 1.1e-14 of the sum of the terms' magnitudes at L ≤ 48, so
/// 1e-13 of that magnitude bounds the difference with a margin of about four
/// (the worst seen over 400 random problems is 5.5e-16).
const ADJOINT_TOL: f64 = 1e-13;

/// The gradients of the two backward passes: each entry is a product of an
/// adjoint (equal within [`ADJOINT_TOL`] of its terms' magnitude) with O(1)
/// factors, or a sum of a few such products; measured against the tensor's
/// largest entry (at least 1), the two differ by at most 7e-16 over 400
/// random problems of up to 47 steps, so 1e-12 is a margin of about a
/// thousand for the cancellation in those sums.
const PARALLEL_TOL: f64 = 1e-12;

/// The worked problem as the crate's matrices: `(len, 1)` columns and a
/// `(1, 1)` A.
struct Worked {
    u: DMatrix<f64>,
    dt: DMatrix<f64>,
    a: DMatrix<f64>,
    b: DMatrix<f64>,
    c: DMatrix<f64>,
    dy: DMatrix<f64>,
}

fn worked(p: &Problem) -> Worked {
    let column = |v: [f64; 3]| DMatrix::from_column_slice(3, 1, &v);
    Worked {
        u: column(p.u),
        dt: column(p.dt),
        a: DMatrix::from_element(1, 1, p.a),
        b: column(p.b),
        c: column(p.c),
        dy: column(p.dy),
    }
}

fn args(w: &Worked) -> SelectiveScan<'_> {
    SelectiveScan::new(&w.u, &w.dt, &w.a, &w.b, &w.c)
}

fn close(name: &str, printed: &[f64], crate_value: &[f64]) {
    assert_eq!(printed.len(), crate_value.len(), "{name}: lengths");
    for (t, (p, c)) in printed.iter().zip(crate_value).enumerate() {
        assert!(
            (p - c).abs() < WORKED_TOL,
            "{name}[{t}]: the worked example has {p}, the crate {c}"
        );
    }
}

/// Every number of the worked example (Eqs. M4, G4, G13, G14 in scalars) is
/// the crate's: the states and outputs of `selective_scan`, the adjoints of
/// the reverse scan, the gradients of `selective_scan_backward`.
#[test]
fn the_worked_example_is_the_crates_backward() {
    let r = unrolled(&PROBLEM);
    let w = worked(&PROBLEM);
    let args = args(&w);
    let out = selective_scan(&args);
    close("y", &r.y, out.y.as_slice());
    let h = states_by_scan(&args, scan_sequential);
    let states: Vec<f64> = h.iter().map(|m| m[(0, 0)]).collect();
    close("h", &r.h, &states);
    // No gate: the gradient reaching C_t h_t is ∂y_t itself.
    let dh = adjoints_by_scan(&args, &w.dy, scan_sequential);
    let dh: Vec<f64> = dh.iter().map(|m| m[(0, 0)]).collect();
    close("∂h", &r.dh, &dh);
    let (_, tape) = selective_scan_taped(&args, 1);
    let g = selective_scan_backward(&args, &tape, &w.dy);
    close("∂C", &r.dc, g.c.as_slice());
    close("∂B", &r.db, g.b.as_slice());
    close("∂u", &r.du, g.u.as_slice());
    close("∂Δ", &r.ddt, g.delta.as_slice());
    close("∂A", &[r.da], g.a.as_slice());
    // The adjoint read off the input's gradient: ∂u_t = ∂h_t B̄_t.
    let from_du: Vec<f64> = (0..3).map(|i| g.u[i] / r.b_bar[i]).collect();
    close("∂h from ∂u", &r.dh, &from_du);
}

/// ℓ = Σ_t ∂y_t y_t of the worked problem with one of u, Δ, A, B, C replaced.
fn worked_loss(w: &Worked, which: usize, m: &DMatrix<f64>) -> f64 {
    let mut parts = [&w.u, &w.dt, &w.a, &w.b, &w.c];
    parts[which] = m;
    let args = SelectiveScan::new(parts[0], parts[1], parts[2], parts[3], parts[4]);
    selective_scan(&args).y.component_mul(&w.dy).sum()
}

fn numeric(w: &Worked, which: usize) -> Vec<f64> {
    let base = [&w.u, &w.dt, &w.a, &w.b, &w.c][which].clone();
    central_differences(base.as_slice(), EPS, |theta| {
        let m = DMatrix::from_column_slice(base.nrows(), base.ncols(), theta);
        worked_loss(w, which, &m)
    })
}

/// The worked example's gradients are the loss's: central differences of
/// ℓ = Σ_t ∂y_t y_t agree with every printed gradient.
#[test]
fn the_worked_example_matches_finite_differences() {
    let r = unrolled(&PROBLEM);
    let w = worked(&PROBLEM);
    let printed: [Vec<f64>; 5] = [
        r.du.to_vec(),
        r.ddt.to_vec(),
        vec![r.da],
        r.db.to_vec(),
        r.dc.to_vec(),
    ];
    let names = ["u", "Δ", "A", "B", "C"];
    for (which, analytic) in printed.iter().enumerate() {
        let error = relative_error(analytic, &numeric(&w, which), FLOOR);
        assert!(
            error < GRAD_TOL,
            "∂{}: relative error {error:e}",
            names[which]
        );
    }
}

/// The term of ∂Δ through B̄ = ΔB (Eq. G14) is needed: without it the
/// gradient check fails by far more than its tolerance.
#[test]
fn without_the_term_through_b_bar_delta_fails_the_gradient_check() {
    let r = unrolled(&PROBLEM);
    let w = worked(&PROBLEM);
    let error = relative_error(&r.ddt_via_a_bar, &numeric(&w, 1), FLOOR);
    assert!(error > MISSING_TERM, "relative error {error:e}");
}

/// The tables the chapter includes are the worked example's, as written by
/// `cargo run --release --example ch09_backward`.
#[test]
fn the_committed_tables_are_the_worked_example() {
    let path = figure_path("ch09", "backward-L3.md");
    let committed = std::fs::read_to_string(&path).expect("backward-L3.md");
    let fresh = tables(&PROBLEM, &unrolled(&PROBLEM));
    assert_eq!(committed, fresh, "run the example ch09_backward");
}

/// The drawing renders: the states and adjoints with their values, the
/// decays on the arrows (Ā₂, Ā₃ on both passes, Ā₁ forward only), and the
/// read-off of every gradient at every step; the committed SVG is current.
#[test]
fn the_unrolled_drawing_renders_its_labels() {
    let r = unrolled(&PROBLEM);
    let svg = backward_unrolled_svg(&r.h, &r.dh).expect("the drawing");
    let mut labels = vec![
        "h₀ = 0.0000".to_string(),
        "× Ā₁".into(),
        "× Ā₂".into(),
        "× Ā₃".into(),
        "+ B̄₂u₂".into(),
        "+ C₃∂y₃".into(),
        "∂h₄ = 0".into(),
    ];
    for t in 1..=3 {
        labels.push(format!("h{} = {}", sub(t), unrolled_l3::num(r.h[t])));
        labels.push(format!("∂h{} = {}", sub(t), unrolled_l3::num(r.dh[t - 1])));
        labels.extend(read_off_labels(t));
    }
    for label in &labels {
        assert!(svg.contains(label.as_str()), "the drawing lacks {label:?}");
    }
    // ×Ā₁ is on the forward arrow only; ×Ā₂ and ×Ā₃ on both.
    assert_eq!(svg.matches("× Ā₁").count(), 1);
    assert_eq!(svg.matches("× Ā₃").count(), 2);
    let path = figure_path("ch09", "backward-unrolled.svg");
    let committed = std::fs::read_to_string(&path).expect("backward-unrolled.svg");
    assert_eq!(committed, svg, "run the example ch09_backward");
}

fn sub(t: usize) -> String {
    ssm_lineage::support::unrolled::subscript(t)
}

/// The adjoint recurrence (Eq. G4) one step at a time, right to left: the
/// oracle for the scan. With `magnitude`, the same recurrence on |g̃ C|: the
/// sum of the magnitudes of the terms each adjoint adds up.
fn adjoints_by_loop(
    args: &SelectiveScan,
    g_tilde: &DMatrix<f64>,
    magnitude: bool,
) -> Vec<DMatrix<f64>> {
    let (len, d, n) = args.dims();
    let mut dh = vec![DMatrix::zeros(d, n); len];
    let mut carry = DMatrix::zeros(d, n);
    for t in (0..len).rev() {
        for ch in 0..d {
            for k in 0..n {
                let input = g_tilde[(t, ch)] * args.c[(t, k)];
                let input = if magnitude { input.abs() } else { input };
                dh[t][(ch, k)] = input + carry[(ch, k)];
                carry[(ch, k)] = args.discretized(t, ch, k).0 * dh[t][(ch, k)];
            }
        }
    }
    dh
}

fn grads_close(sequential: &ScanGrads, by_scan: &ScanGrads) -> Result<(), String> {
    let pairs: [(&str, &[f64], &[f64]); 8] = [
        ("u", sequential.u.as_slice(), by_scan.u.as_slice()),
        (
            "delta",
            sequential.delta.as_slice(),
            by_scan.delta.as_slice(),
        ),
        ("A", sequential.a.as_slice(), by_scan.a.as_slice()),
        ("B", sequential.b.as_slice(), by_scan.b.as_slice()),
        ("C", sequential.c.as_slice(), by_scan.c.as_slice()),
        ("D", sequential.d_skip.as_slice(), by_scan.d_skip.as_slice()),
        ("z", sequential.z.as_slice(), by_scan.z.as_slice()),
        (
            "delta_bias",
            sequential.delta_bias.as_slice(),
            by_scan.delta_bias.as_slice(),
        ),
    ];
    for (name, s, p) in pairs {
        let scale = s.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let worst = s
            .iter()
            .zip(p)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        if worst > PARALLEL_TOL * scale {
            return Err(format!("∂{name}: differs by {worst:e} at scale {scale:e}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(32))]

    /// The adjoint recurrence (Eq. G4) run as chapter 6's chunked scan
    /// right to left (Eq. G15), any chunk, and as the Blelloch scan, equals
    /// the step-by-step loop.
    #[test]
    fn the_adjoints_by_scan_equal_the_loop(
        len in 1usize..48, d in 1usize..4, n in 1usize..5, seed in any::<u64>(),
        chunk in 1usize..50,
    ) {
        let p = problem(len, d, n, seed);
        let args = SelectiveScan::new(&p.u, &p.delta, &p.a, &p.b, &p.c)
            .with_delta_bias(Some(&p.bias), true);
        let g_tilde = gaussian(len, d, seed ^ 11);
        let looped = adjoints_by_loop(&args, &g_tilde, false);
        let magnitude = adjoints_by_loop(&args, &g_tilde, true);
        let chunked = adjoints_by_scan(&args, &g_tilde, |e: &[Affine<f64>]| scan_chunked(e, chunk));
        let blelloch = adjoints_by_scan(&args, &g_tilde, scan_blelloch);
        for t in 0..len {
            for (name, scanned) in [("chunked", &chunked), ("Blelloch", &blelloch)] {
                let error = (&scanned[t] - &looped[t]).abs();
                let bound = &magnitude[t] * ADJOINT_TOL;
                prop_assert!(
                    error.iter().zip(bound.iter()).all(|(e, b)| e <= b),
                    "{name} scan, t = {t}: error {error} above {bound}"
                );
            }
        }
    }

    /// The whole backward pass by scans (states, adjoints, then every step's
    /// read-off on its own) gives the gradients of the sequential backward
    /// pass, with and without skip, gate and bias, both rules for B.
    #[test]
    fn the_backward_by_scan_equals_the_sequential_backward(
        len in 1usize..40, d in 1usize..4, n in 1usize..5, seed in any::<u64>(),
        chunk in 1usize..50, extras in any::<bool>(), zoh in any::<bool>(),
    ) {
        let p = problem(len, d, n, seed);
        let w = gaussian(len, d, seed ^ 5);
        let rule = if zoh { BRule::Zoh } else { BRule::Euler };
        let args = SelectiveScan::new(&p.u, &p.delta, &p.a, &p.b, &p.c)
            .with_b_rule(rule)
            .with_delta_bias(Some(&p.bias), true);
        let args = if extras { args.with_skip(&p.d).with_gate(&p.z) } else { args };
        let (_, tape) = selective_scan_taped(&args, chunk);
        let sequential = selective_scan_backward(&args, &tape, &w);
        let by_scan = selective_scan_backward_by_scan(
            &args, &w, |e: &[Affine<f64>]| scan_chunked(e, chunk),
        );
        prop_assert!(grads_close(&sequential, &by_scan).is_ok(), "{:?}",
            grads_close(&sequential, &by_scan));
    }
}

/// A gradient of an argument the scan was not given is zero in both passes.
#[test]
fn the_backward_by_scan_leaves_absent_arguments_at_zero() {
    let p = problem(5, 2, 3, 7);
    let dt = p.delta.map(|v| v.abs() + 0.1);
    let args = SelectiveScan::new(&p.u, &dt, &p.a, &p.b, &p.c);
    let g =
        selective_scan_backward_by_scan(&args, &gaussian(5, 2, 3), scan_blelloch);
    assert_eq!(g.z, DMatrix::zeros(5, 2));
    assert_eq!(g.d_skip, DVector::zeros(2));
    assert_eq!(g.delta_bias, DVector::zeros(2));
}
