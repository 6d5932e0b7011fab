//! Chapter 0: causal attention is a causal, convex mixing of values, and its
//! counted cost grows as L².

use proptest::prelude::*;
use ssm_lineage::attention::{causal_attention, causal_attention_ops};

use crate::cases;
use crate::strategies::{gaussian, lengths};

/// Softmax weights sum to one up to a few ulps per term.
const CONVEX_TOL: f64 = 1e-12;

proptest! {
    #![proptest_config(cases(64))]

    /// Each output row is a weighted average of the value rows at or before it,
    /// so it lies inside their range, coordinate by coordinate.
    #[test]
    fn outputs_are_averages_of_past_values(
        len in lengths(40), d in 1usize..6, seed in any::<u64>()
    ) {
        let q = gaussian(len, d, seed) * 3.0;
        let k = gaussian(len, d, seed ^ 1) * 3.0;
        let v = gaussian(len, d, seed ^ 2);
        let y = causal_attention(&q, &k, &v);
        for i in 0..len {
            for j in 0..d {
                let past = v.view((0, j), (i + 1, 1));
                prop_assert!(y[(i, j)] <= past.max() + CONVEX_TOL);
                prop_assert!(y[(i, j)] >= past.min() - CONVEX_TOL);
            }
        }
    }
}

#[test]
fn doubling_the_length_quadruples_the_counted_cost() {
    let ratio = causal_attention_ops(8192, 16) / causal_attention_ops(4096, 16);
    assert!((ratio - 4.0).abs() < 1e-3, "{ratio}");
}

/// Multiply-adds of the dense linear recurrence with state size n (the
/// matrix-vector product, the input term and the readout).
fn recurrence_ops(len: usize, n: usize) -> f64 {
    len as f64 * (n * n + 2 * n) as f64
}

#[test]
fn exercise_0_1_attention_over_recurrence() {
    let ratio = causal_attention_ops(4096, 16) / recurrence_ops(4096, 16);
    assert!((ratio - 234.7).abs() < 0.05, "{ratio}");
}

#[test]
fn exercise_0_2_crossover_length() {
    let first = (1..100)
        .find(|&len| causal_attention_ops(len, 16) > recurrence_ops(len, 16))
        .expect("a crossover below 100");
    assert_eq!(first, 17);
}

/// Exercise 0.3: with d = N = 64 instead of 16, attention costs more than the
/// dense recurrence from L = 65: the crossing (L + 1)(2d + 1)/2 > N² + 2N
/// moves with the model width, about L ≈ N.
#[test]
fn exercise_0_3_the_crossover_moves_with_the_width() {
    let first = |n: usize| {
        (1..10_000)
            .find(|&l| causal_attention_ops(l, n) > recurrence_ops(l, n))
            .expect("found")
    };
    assert_eq!(first(16), 17);
    assert_eq!(first(64), 65);
}
