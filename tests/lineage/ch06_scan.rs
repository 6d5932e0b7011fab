//! Chapter 6: every scan equals the sequential one; the work each does is
//! what the chapter's table says; the log-space form survives products that
//! break the direct closed form; S5 through the scan equals S5 step by step.

use std::sync::atomic::{AtomicUsize, Ordering};

use nalgebra::Complex;
use proptest::prelude::*;
use ssm_lineage::scan::log_space::{scan_cumulative_product, scan_log_space};
use ssm_lineage::scan::prefix::{
    linear_recurrence, scan_blelloch, scan_chunked, scan_hillis_steele,
    scan_sequential,
};
use ssm_lineage::scan::{Affine, Associative, S5Layer};
use ssm_lineage::traits::Recurrent;

use crate::cases;
use crate::strategies::gaussian;

fn steps(pairs: &[(f64, f64)]) -> Vec<Affine<f64>> {
    pairs.iter().map(|&(a, b)| Affine::new(a, b)).collect()
}

/// The size of what each state sums: S_t = Σ_s (Π a)|b_s|, the sequential
/// scan of (a, |b|). Rounding errors of any association order are relative
/// to it.
fn magnitudes(pairs: &[(f64, f64)]) -> Vec<f64> {
    let abs: Vec<(f64, f64)> = pairs.iter().map(|&(a, b)| (a, b.abs())).collect();
    scan_sequential(&steps(&abs)).iter().map(|s| s.b).collect()
}

proptest! {
    #![proptest_config(cases(48))]

    /// Hillis–Steele, Blelloch and the chunked scan (any chunk length, longer
    /// than the sequence included) equal the sequential scan for lengths 1 …
    /// 1000 with a ∈ (0, 1), from a zero and from a random initial state. The
    /// orders of combination differ, so the results differ by rounding: along
    /// any path at most ~1000 combinations, each off by ε relative to the
    /// terms it adds, so 1e-12·S_t (S_t the sum of absolute terms) has a
    /// margin of about ten.
    #[test]
    fn every_scan_equals_the_sequential_scan(
        pairs in proptest::collection::vec((1e-6..1.0f64, -1.0..1.0f64), 1..=1000),
        chunk in prop_oneof![1usize..=64, 900usize..=1200],
        x0 in -2.0..2.0f64,
    ) {
        let e = steps(&pairs);
        let reference = scan_sequential(&e);
        let scale = magnitudes(&pairs);
        // The scan reproduces the loop x ← a x + b.
        for (t, x) in linear_recurrence(&e, x0).iter().enumerate() {
            prop_assert!((x - reference[t].apply(x0)).abs() <= 1e-12 * (scale[t] + x0.abs()));
        }
        for (name, got) in [
            ("hillis_steele", scan_hillis_steele(&e)),
            ("blelloch", scan_blelloch(&e)),
            ("chunked", scan_chunked(&e, chunk)),
        ] {
            prop_assert_eq!(got.len(), e.len());
            for t in 0..e.len() {
                let tol = 1e-12 * (scale[t] + x0.abs());
                let (want, have) = (reference[t].apply(x0), got[t].apply(x0));
                prop_assert!((want - have).abs() <= tol, "{name} t={t}: {have} vs {want}");
            }
        }
    }

    /// S5 run through the chunked scan (modes in parallel) equals S5 stepped
    /// one input at a time. Both sum the same terms in different orders;
    /// with at most ~400 combinations on a path and the two matrix products,
    /// the difference stays below 1e-12 of the sum of absolute terms M.
    #[test]
    fn s5_through_the_scan_equals_s5_step_by_step(
        width in 1usize..4, modes in 1usize..9, len in 1usize..=200, chunk in 1usize..=40, seed in any::<u64>()
    ) {
        let layer = S5Layer::new(width, modes, seed).expect("valid");
        let u = gaussian(len, width, seed ^ 11);
        let by_steps = layer.scan(&u);
        let by_scan = layer.scan_parallel(&u, chunk);
        let bu_abs: f64 = (u.map(|x| Complex::new(x, 0.0)) * layer.b_bar.transpose())
            .iter().map(|z| z.norm()).sum();
        let c_abs = layer.c.iter().map(|z| z.norm()).fold(0.0, f64::max);
        let m = 2.0 * c_abs * bu_abs * modes as f64 + u.abs().max() * layer.d.amax();
        let diff = (by_steps - by_scan).abs().max();
        prop_assert!(diff <= 1e-12 * m, "{diff:e} vs M = {m:e}");
    }
}

/// The combinations each scan performs (the "work" column of the chapter's
/// table), counted on an operator that counts itself.
static COMBINATIONS: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Copy)]
struct Counted(Affine<f64>);

impl Associative for Counted {
    fn identity() -> Self {
        Counted(Affine::identity())
    }
    fn combine(self, later: Self) -> Self {
        COMBINATIONS.fetch_add(1, Ordering::Relaxed);
        Counted(self.0.combine(later.0))
    }
}

#[test]
fn work_of_each_scan() {
    let count = |f: &dyn Fn(&[Counted]) -> Vec<Counted>, len: usize| {
        let e = vec![Counted(Affine::new(0.5, 1.0)); len];
        COMBINATIONS.store(0, Ordering::Relaxed);
        let _ = f(&e);
        COMBINATIONS.load(Ordering::Relaxed)
    };
    for len in [1usize, 2, 3, 7, 8, 100, 1000] {
        let n = len.next_power_of_two();
        // Sequential: one combination per element (the first with the identity).
        assert_eq!(count(&|e| scan_sequential(e), len), len);
        // Hillis–Steele: L − 2^k combinations in round k.
        let hs: usize = (0..)
            .map(|k| 1usize << k)
            .take_while(|&d| d < len)
            .map(|d| len - d)
            .sum();
        assert_eq!(count(&|e| scan_hillis_steele(e), len), hs, "L={len}");
        // Blelloch: n − 1 up, n − 1 down (padded to n = 2^⌈log L⌉), L to make it inclusive.
        let up_down = if n > 1 { 2 * (n - 1) } else { 0 };
        assert_eq!(count(&|e| scan_blelloch(e), len), up_down + len, "L={len}");
        // Chunked with chunk c: L − K inside, K carries, L − c fix-ups.
        for c in [1usize, 3, 16] {
            let chunks = len.div_ceil(c);
            let work = (len - chunks) + chunks + (len - c.min(len));
            assert_eq!(count(&|e| scan_chunked(e, c), len), work, "L={len}, c={c}");
        }
    }
    assert!(
        count(&|e| scan_hillis_steele(e), 1000) > 8 * 1000,
        "L log L work"
    );
}

/// The log-space scan against the sequential one for long sequences of
/// log-uniform a ∈ [1e-3, 1): Λ_t is a cumulative sum of up to 1000 terms of
/// size ≤ 7, so exponents carry an absolute error up to ~1000·ε·7000 ≈ 8e-10:
/// 1e-9 relative to S_t is the bound that follows. The direct closed form
/// underflows on the same inputs.
#[test]
fn log_space_survives_products_that_break_the_direct_form() {
    use rand::RngExt;
    let mut rng = ssm_lineage::support::rng::seeded(6);
    let pairs: Vec<(f64, f64)> = (0..1000)
        .map(|_| {
            let a = (rng.random_range(1e-3f64.ln()..0.0)).exp();
            (a, rng.random_range(-1.0..1.0))
        })
        .collect();
    let reference: Vec<f64> = scan_sequential(&steps(&pairs))
        .iter()
        .map(|s| s.b)
        .collect();
    let scale = magnitudes(&pairs);
    let log_a: Vec<f64> = pairs.iter().map(|p| p.0.ln()).collect();
    let b: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let log_space = scan_log_space(&log_a, &b);
    for t in 0..pairs.len() {
        assert!(
            (log_space[t] - reference[t]).abs() <= 1e-9 * scale[t],
            "t={t}: {} vs {}",
            log_space[t],
            reference[t]
        );
    }
    let a: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let direct = scan_cumulative_product(&a, &b);
    let broken = direct.iter().filter(|x| !x.is_finite()).count();
    assert!(broken > 500, "only {broken} non-finite states");
    // On a short, well-scaled sequence the direct form is fine: it is the
    // range of a double, not the formula, that fails.
    let direct_short = scan_cumulative_product(&a[..20], &b[..20]);
    for t in 0..20 {
        assert!(
            (direct_short[t] - reference[t]).abs() <= 1e-9 * scale[t],
            "t={t}"
        );
    }
}

/// `ch06/trees.svg` (drawn by `examples/ch06_trees.rs` from the scans' own
/// calls) shows every combination of both scans on 8 inputs and ends each
/// panel with the 7 prefixes 0–1 … 0–7. Hillis–Steele makes
/// Σ_{2^k < 8} (8 − 2^k) = 17; Blelloch 2(8 − 1) + 8 = 22 calls, of which
/// 4 involve the identity and are not drawn (the down-sweep's leftmost block
/// at d = 4, 2, 1, and x₀ in the last row).
#[test]
fn the_trees_figure_draws_every_combination_and_ends_in_the_prefixes() {
    use ssm_lineage::support::figure::figure_path;
    use ssm_lineage::support::pictures::data_values;
    let svg = std::fs::read_to_string(figure_path("ch06", "trees.svg"))
        .expect("run the ch06_trees example");
    let labels = data_values(&svg, "data-node", "data-node");
    let rows = data_values(&svg, "data-node", "data-row");
    let inputs = labels.iter().filter(|l| l.starts_with('x')).count();
    assert_eq!(inputs, 2 * 8, "{labels:?}");
    assert_eq!(labels.len() - inputs, 17 + (2 * 7 + 8 - 4), "{labels:?}");
    let prefixes: Vec<String> = (1..8).map(|t| format!("0–{t}")).collect();
    // Hillis–Steele's panel comes first: its 8 inputs and 17 results.
    let panels = [
        (0..8 + 17, "3", &prefixes[3..]),
        (8 + 17..labels.len(), "6", &prefixes[..]),
    ];
    for (range, last_row, want) in panels {
        // Hillis–Steele's round 3 makes 0–4 … 0–7; Blelloch's last row all 7.
        let drawn: Vec<&String> = range
            .filter(|&i| rows[i] == last_row)
            .map(|i| &labels[i])
            .collect();
        assert_eq!(drawn, want.iter().collect::<Vec<_>>(), "row {last_row}");
    }
}
