//! The appendix, *Making training fast*: the `f32` training path's loss and
//! gradients equal the readable `f64` path's within `f32`'s rounding, over
//! random models and batches of unequal lengths (a length of one, lengths
//! across several of the scan's chunks, widths that leave a partial block of
//! lanes).

use proptest::prelude::*;
use ssm_lineage::mamba::{MambaConfig, MambaModel};
use ssm_lineage::train::fast::FastMamba;
use ssm_lineage::train::{Example, Trainable};
use ssm_lineage::traits::Parameters;

use crate::cases;

/// A model whose `d_inner` is not a multiple of sixteen.
fn config(d_model: usize, d_state: usize) -> MambaConfig {
    MambaConfig {
        d_state,
        dt_rank: 2,
        ..MambaConfig::new(d_model, 2, 7)
    }
}

fn batch(lens: &[usize], seed: u64) -> Vec<Example> {
    lens.iter()
        .enumerate()
        .map(|(i, &len)| {
            let tokens: Vec<usize> = (0..len)
                .map(|t| ((seed % 97) as usize + 13 * i + t * t + 3 * t) % 7)
                .collect();
            let targets = (0..len)
                .map(|t| (t % 3 != 1).then(|| tokens[t.saturating_sub(2)]))
                .collect();
            Example { tokens, targets }
        })
        .collect()
}

/// Fast and readable gradients differ by at most this, relative to each
/// tensor's largest readable gradient.
///
/// Each `f32` operation rounds by at most u = 2⁻²⁴ ≈ 6e-8 and the fast exp
/// and softplus err by up to 5e-7; a gradient entry sums a few hundred such
/// terms (over time, channels and the batch) through two layers, so entries
/// carry errors of order 1e-6 of the tensor's scale (the largest seen over
/// these cases: 2e-6, in Δ's bias, whose gradient sums the most terms).
/// 1e-4 leaves a margin of fifty, while a wrong sign or a missing term in
/// the fast backward is an error of order one.
const F32_GRAD_TOL: f64 = 1e-4;

proptest! {
    #![proptest_config(cases(8))]

    #[test]
    fn fast_training_gradients_equal_the_readable_ones(
        d_model in prop_oneof![Just(4usize), Just(12), Just(16)],
        d_state in 1usize..6,
        seed in any::<u64>(),
        long in 60usize..140,
        selective in any::<bool>(),
    ) {
        let config = config(d_model, d_state);
        let config = if selective { config } else { config.time_invariant() };
        let model = MambaModel::new(&config, seed).expect("valid");
        let b = batch(&[1, 9, long], seed);
        let (readable, want) = model.loss_and_gradients(&b).expect("valid");
        let fast = FastMamba { model: model.clone() };
        let (metrics, got) = fast.loss_and_gradients(&b).expect("valid");
        prop_assert!((metrics.loss - readable.loss).abs() <= 1e-5 * readable.loss,
            "loss {} vs {}", metrics.loss, readable.loss);
        prop_assert_eq!(metrics.scored, readable.scored);
        for (p, q) in want.parameters().iter().zip(got.parameters()) {
            let scale = p.values.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
            let err = p.values.iter().zip(q.values).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            prop_assert!(err <= F32_GRAD_TOL * scale, "{}: {:e} of {:e}", p.name, err / scale, scale);
        }
    }
}
