//! Chapter 9's synthetic tasks: each generator's invariants, over random
//! sizes and seeds.

use proptest::prelude::*;
use ssm_lineage::support::fft::fft;
use ssm_lineage::train::tasks::{
    BLANK, COPY_VOCAB, Delay, InductionHeads, MARKER, SelectiveCopying,
};

use crate::cases;

proptest! {
    #![proptest_config(cases(64))]

    /// K data tokens among blanks in the first L positions, in order; the
    /// marker; the same tokens again; exactly the last K positions scored,
    /// each with the next data token.
    #[test]
    fn selective_copying_examples_are_well_formed(
        len in 1usize..80, k in 1usize..10, seed in any::<u64>(),
    ) {
        let k = k.min(len);
        let task = SelectiveCopying::new(len, k).expect("valid");
        for e in task.batch(seed, 3) {
            prop_assert_eq!(e.tokens.len(), len + k);
            prop_assert_eq!(e.targets.len(), len + k);
            let data: Vec<usize> = e.tokens[..len].iter().copied().filter(|&t| t != BLANK).collect();
            prop_assert_eq!(data.len(), k);
            prop_assert!(data.iter().all(|&t| t < BLANK));
            prop_assert_eq!(e.tokens[len], MARKER);
            prop_assert_eq!(&e.tokens[len + 1..], &data[..k - 1]);
            let scored: Vec<usize> = e.targets.iter().flatten().copied().collect();
            prop_assert_eq!(&scored, &data);
            prop_assert!(e.targets[..len].iter().all(Option::is_none));
            prop_assert!(e.tokens.iter().all(|&t| t < COPY_VOCAB));
        }
    }

    /// The special token exactly twice, the second time last; the last
    /// position alone is scored, with the token that followed the first.
    #[test]
    fn induction_heads_examples_are_well_formed(
        len in 4usize..200, vocab in 3usize..20, seed in any::<u64>(),
    ) {
        let task = InductionHeads::new(len, vocab).expect("valid");
        for e in task.batch(seed, 3) {
            let special = vocab - 1;
            let at: Vec<usize> = (0..len).filter(|&t| e.tokens[t] == special).collect();
            prop_assert_eq!(at.len(), 2);
            prop_assert!(at[0] < len - 3 && at[1] == len - 1);
            let scored: Vec<(usize, usize)> =
                e.targets.iter().enumerate().filter_map(|(t, y)| y.map(|y| (t, y))).collect();
            prop_assert_eq!(scored, vec![(len - 1, e.tokens[at[0] + 1])]);
        }
    }

    /// The target is the input `delay` steps late; the input has unit
    /// variance and no frequency above `bins` (to rounding).
    #[test]
    fn delay_examples_are_band_limited_and_delayed(
        len in prop::sample::select(vec![64usize, 128, 1024]), seed in any::<u64>(),
    ) {
        let task = Delay::new(len, len / 4, len / 16).expect("valid");
        let e = task.example(&mut ssm_lineage::support::rng::seeded(seed));
        prop_assert_eq!(e.from, len / 4);
        for t in 0..len {
            let want = t.checked_sub(len / 4).map_or(0.0, |s| e.input[(s, 0)]);
            prop_assert_eq!(e.target[(t, 0)], want);
        }
        let variance = e.input.iter().map(|v| v * v).sum::<f64>() / len as f64;
        prop_assert!((variance - 1.0).abs() < 1e-12);
        let spectrum = fft(&e.input.iter().map(|&v| nalgebra::Complex::new(v, 0.0)).collect::<Vec<_>>());
        let outside = (len / 16 + 1..=len / 2).map(|f| spectrum[f].norm()).fold(0.0, f64::max);
        prop_assert!(outside < 1e-9 * len as f64, "energy outside the band: {outside:e}");
    }
}

/// Invalid task sizes are errors that say what is allowed.
#[test]
fn invalid_task_sizes_are_errors() {
    assert!(
        SelectiveCopying::new(4, 5).is_err() && SelectiveCopying::new(4, 0).is_err()
    );
    assert!(
        InductionHeads::new(3, 16).is_err() && InductionHeads::new(8, 2).is_err()
    );
    let err = Delay::new(10, 10, 2).expect_err("rejected");
    assert!(err.to_string().contains("below len"), "{err}");
    assert!(Delay::new(10, 2, 6).is_err());
}
