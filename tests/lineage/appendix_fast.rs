//! The appendix, *Making it fast*: the `f32` pieces are accurate (exp,
//! softplus, the SiLU gate, on every kernel), the fast scan equals the
//! readable one, decoding's products and bfloat16 weights keep their bounds,
//! and the fast model built from the readable one agrees with it.

use nalgebra::DMatrix;
use proptest::prelude::*;
use ssm_lineage::mamba::fast::weights::{Bf16Matrix, Weight, columns_dot};
use ssm_lineage::mamba::fast::{
    Bf16Decoder, FastBlock, FastModel, FastScan, ScanKernel, exp_f32, exp2_lanes,
    selective_scan_fast, selective_scan_fast_chunked, silu_gate, softplus_f32,
    softplus_lanes,
};
use ssm_lineage::mamba::selective::{silu, softplus};
use ssm_lineage::mamba::{
    BRule, MambaConfig, MambaModel, SelectiveScan, selective_scan,
};

use crate::cases;
use crate::ch07_mamba::problem;

proptest! {
    #![proptest_config(cases(32))]

    /// exp_f32 against f64's exp: the degree-5 polynomial for 2^f errs by
    /// 1.0e-7 in exact arithmetic and below 2e-7 evaluated in f32; the
    /// argument t = x·log₂e carries two roundings (of log₂e to f32 and of the
    /// product), each up to u = 2⁻²⁴ of t, which scale 2^t by up to
    /// 2·u·|t|·ln 2 = 2u·|x| ≈ 1.2e-7·|x|. Bound: 2.5e-7 + 1.2e-7·|x|.
    #[test]
    fn exp_f32_is_accurate(xs in proptest::collection::vec(-86.0f32..88.0, 1024)) {
        for x in xs {
            let want = f64::from(x).exp();
            let err = (f64::from(exp_f32(x)) - want).abs() / want;
            prop_assert!(err <= 2.5e-7 + 1.2e-7 * f64::from(x.abs()), "x={x}: {err:e}");
        }
    }

    /// The scan's multipliers 2^t on both kernels (the AVX-512 one, where
    /// this CPU has it, and the portable one) against f64: t is exact here,
    /// and f = t − round(t) is exact too, so what is left is the degree-5
    /// polynomial's 1.0e-7 and the roundings of its f32 evaluation (a few
    /// units of 6e-8 on a result in [0.7, 1.42]). Bound: 2e-7.
    #[test]
    fn exp2_lanes_is_accurate_on_every_kernel(
        ts in proptest::collection::vec(proptest::array::uniform16(-125.0f32..=125.0), 64),
    ) {
        for kernel in [ScanKernel::Auto, ScanKernel::Portable] {
            for t in &ts {
                for (&t, got) in t.iter().zip(exp2_lanes(*t, kernel)) {
                    let want = f64::from(t).exp2();
                    let err = (f64::from(got) - want).abs() / want;
                    prop_assert!(err <= 2e-7, "{kernel:?}, t={t}: {err:e}");
                }
            }
        }
    }

    /// Outside [−125, 125] both kernels clamp, so that no multiplier is
    /// subnormal or infinite: the portable one clamps t to [−125, 127]; the
    /// AVX-512 one clamps t's nearest integer to ±125 and keeps the rest
    /// f ∈ [−½, ½], so 2^{±125 + f}. A NaN t gives a NaN multiplier on both,
    /// so that a NaN Δ shows in the state. 2e-7: the polynomial's bound above.
    #[test]
    fn exp2_lanes_clamps_its_argument_and_keeps_nan(
        t in proptest::array::uniform16(prop_oneof![125.0f32..1e30, -1e30f32..-125.0, Just(f32::NAN)]),
    ) {
        for kernel in [ScanKernel::Auto, ScanKernel::Portable] {
            for (&t, got) in t.iter().zip(exp2_lanes(t, kernel)) {
                if t.is_nan() {
                    prop_assert!(got.is_nan(), "{kernel:?}: 2^NaN = {got}");
                    continue;
                }
                let portable = t.clamp(-125.0, 127.0).exp2();
                let avx512 = t.signum() * 125.0 + (t - t.round());
                let ok = |want: f32| (got - want).abs() <= 2e-7 * want;
                prop_assert!(got.is_normal(), "{kernel:?}, t={t}: {got:e}");
                prop_assert!(
                    ok(portable) || (kernel == ScanKernel::Auto && ok(avx512.exp2())),
                    "{kernel:?}, t={t}: {got:e}"
                );
            }
        }
    }

    /// softplus_f32 against the f64 softplus: max(x, 0) + log1p(e^{−|x|})
    /// inherits exp_f32's error where e^{−|x|} dominates (x ≪ 0) plus a few
    /// roundings of the series (below 2e-7). Bound: 5e-7 + 1.2e-7·|x|.
    #[test]
    fn softplus_f32_is_accurate(xs in proptest::collection::vec(-80.0f32..80.0, 1024)) {
        for x in xs {
            let want = softplus(f64::from(x));
            let err = (f64::from(softplus_f32(x)) - want).abs() / want;
            prop_assert!(err <= 5e-7 + 1.2e-7 * f64::from(x.abs()), "x={x}: {err:e}");
        }
    }

    /// The scan's Δ = softplus(x) on both kernels, with softplus_f32's
    /// bound: the AVX-512 kernel's reciprocal (rcp14 and a Newton step,
    /// 2⁻²⁸ plus a rounding or two) fits inside the same roundings.
    #[test]
    fn softplus_lanes_is_accurate_on_every_kernel(
        xs in proptest::collection::vec(proptest::array::uniform16(-80.0f32..80.0), 64),
    ) {
        for kernel in [ScanKernel::Auto, ScanKernel::Portable] {
            for x in &xs {
                for (&x, got) in x.iter().zip(softplus_lanes(*x, kernel)) {
                    let want = softplus(f64::from(x));
                    let err = (f64::from(got) - want).abs() / want;
                    prop_assert!(err <= 5e-7 + 1.2e-7 * f64::from(x.abs()), "{kernel:?}, x={x}: {err:e}");
                }
            }
        }
    }

    /// The gate y·SiLU(z) on both kernels, over lengths that leave a partial
    /// vector: e^{−z} carries exp_f32's error (2.5e-7 + 1.2e-7·|z|) into
    /// 1/(1 + e^{−z}) scaled by at most 1, then a division or reciprocal and
    /// two products add a few roundings (3e-7). Relative to |y·SiLU(z)|;
    /// plus, for z < −86.6, where both kernels clamp e^{−z} at 2^124.5 or
    /// more (so that nothing overflows; the AVX-512 clamp is 2^{125 + f},
    /// |f| ≤ ½, see exp2_lanes_clamps_its_argument_and_keeps_nan),
    /// |y·z|·2^−124.5 absolute: |SiLU(z)| is then at most |z|/(1 + 2^124.5)
    /// instead of |z|·e^z, both below |z|·2^−124.5.
    #[test]
    fn silu_gate_is_accurate_on_every_kernel(
        pairs in proptest::collection::vec((-100.0f32..100.0, -10.0f32..10.0), 0..100),
    ) {
        let z: Vec<f32> = pairs.iter().map(|p| p.0).collect();
        for kernel in [ScanKernel::Auto, ScanKernel::Portable] {
            let mut y: Vec<f32> = pairs.iter().map(|p| p.1).collect();
            silu_gate(&mut y, &z, kernel);
            for ((&zi, &(_, yi)), got) in z.iter().zip(&pairs).zip(&y) {
                let want = f64::from(yi) * silu(f64::from(zi));
                let err = (f64::from(*got) - want).abs();
                let clamped = f64::from(yi * zi).abs() * 2f64.powf(-124.5);
                let bound = (5.5e-7 + 1.2e-7 * f64::from(zi.abs())) * want.abs() + clamped;
                prop_assert!(err <= bound, "{kernel:?}, z={zi}, y={yi}: {got} vs {want:e}");
            }
        }
    }

    /// The fast scan (f32, sixteen channels per vector, blocks of channels
    /// in parallel, time in 1 to 8 chunks, or as many as it chooses) equals
    /// the readable f64 scan; d up to 40 covers several blocks and padded
    /// ones. f32 keeps 24 bits: the
    /// inputs are rounded (relative 6e-8), exp_f32 errs by ≤ 2e-7, and each
    /// step adds a few roundings that a state carries for as long as it
    /// remembers (up to the whole sequence at Δ = 1e-3). With L ≤ 512 that is
    /// at most ~512·4·6e-8 ≈ 1.2e-4 of the sum of absolute terms S in the
    /// worst case, while errors of random signs grow like √L: over 400 cases
    /// none exceeded 3e-7·S. 2e-5·S sits between the two and still fails on
    /// any wrong term (those are O(S)). It caught one real error: softplus as
    /// ln(1 + e^x) in f32 loses e^x's low bits for small Δ (2e-5·S); the
    /// failing case is kept in tests/proptest-regressions.
    #[test]
    fn fast_scan_equals_the_readable_scan(
        len in 1usize..=512, d in 1usize..=40, n in 1usize..=20, seed in any::<u64>(),
        gated in any::<bool>(), zoh in any::<bool>(), softplus in any::<bool>(),
        chunks in 0usize..=8, portable in any::<bool>(),
    ) {
        let p = problem(len, d, n, seed);
        let rule = if zoh { BRule::Zoh } else { BRule::Euler };
        // Without softplus Δ must stay positive: use softplus(delta) as the raw value.
        let delta = if softplus { p.delta.clone() } else { p.delta.map(|x| 0.01 * (1.0 + x.tanh())) };
        let bias = if softplus { Some(&p.bias) } else { None };
        let mut args = SelectiveScan::new(&p.u, &delta, &p.a, &p.b, &p.c)
            .with_skip(&p.d).with_delta_bias(bias, softplus).with_b_rule(rule);
        if gated { args = args.with_gate(&p.z); }
        let reference = selective_scan(&args);
        let fast_args = FastScan::from(&args);
        // chunks = 0: the automatic choice; `portable`: the portable kernel
        // even where the AVX-512 one runs.
        let kernel = if portable { ScanKernel::Portable } else { ScanKernel::Auto };
        let fast = if chunks == 0 && !portable {
            selective_scan_fast(&fast_args)
        } else {
            selective_scan_fast_chunked(&fast_args, chunks, kernel)
        };
        // S: the same scan on absolute values (|u|, |B|, |C|, |D|), times |gate|.
        let (ua, ba, ca, da) = (p.u.abs(), p.b.abs(), p.c.abs(), p.d.abs());
        let abs_args = SelectiveScan::new(&ua, &delta, &p.a, &ba, &ca)
            .with_skip(&da).with_delta_bias(bias, softplus).with_b_rule(rule);
        let mut scale = selective_scan(&abs_args).y;
        if gated { scale.zip_apply(&p.z, |s, z| *s *= silu(z).abs()); }
        for t in 0..len {
            for h in 0..d {
                let err = (fast.y[(t, h)] as f64 - reference.y[(t, h)]).abs();
                prop_assert!(err <= 2e-5 * scale[(t, h)] + 1e-30, "t={t} h={h}: {err:e} vs S={:e}", scale[(t, h)]);
            }
        }
        let state_scale = reference.last_state.abs().max() + 1e-3;
        let state_err = (fast.last_state.map(f64::from) - &reference.last_state).abs().max();
        prop_assert!(state_err <= 2e-5 * state_scale * len as f64, "last state: {state_err:e}");
    }
}

proptest! {
    #![proptest_config(cases(16))]

    /// columns_dot (decoding's matrix-vector product: serial under a
    /// megabyte of weights, blocks of columns in parallel above) equals
    /// nalgebra's Wᵀv. Both sum each column in f32 in different orders:
    /// each result is within rows·u·Σ|w v| of the exact sum, so the two
    /// differ by at most 2·rows·u·Σ|w v| (u = 2⁻²⁴).
    #[test]
    fn columns_dot_is_the_transposed_product(
        rows in 1usize..=300, cols in 1usize..=1500, seed in any::<u64>(), big in any::<bool>(),
    ) {
        let p = Product::new(rows, cols, seed, big);
        let got = columns_dot(&p.w, p.v.as_slice());
        prop_assert_eq!(got.len(), p.w.ncols());
        for (j, got) in got.iter().enumerate() {
            prop_assert!((got - p.want[j]).abs() <= p.summation * p.scale[j] + 1e-30, "column {j}");
        }
    }

    /// bfloat16 weights: every stored weight is within 2⁻⁸ (relative) of
    /// its f32 value (8 significant bits, rounded to nearest: half a
    /// spacing of 2⁻⁷ relative to the binade's start), and Wᵀv on them
    /// is within 2⁻⁸·Σ|w v| (the weights' rounding) plus
    /// 2·rows·u·Σ|w v| (f32 sums in two orders, as above) of the f32
    /// product of the unrounded weights.
    #[test]
    fn bf16_columns_dot_is_the_rounded_product(
        rows in 1usize..=300, cols in 1usize..=1500, seed in any::<u64>(), big in any::<bool>(),
    ) {
        let p = Product::new(rows, cols, seed, big);
        let bf16 = Bf16Matrix::from_f32(&p.w);
        let rounded = bf16.to_f32();
        for (r, x) in rounded.iter().zip(p.w.iter()) {
            prop_assert!((r - x).abs() <= x.abs() * 2f32.powi(-8), "{x} became {r}");
        }
        let got = bf16.columns_dot(p.v.as_slice());
        prop_assert_eq!(got.len(), p.w.ncols());
        for (j, got) in got.iter().enumerate() {
            let bound = (2f32.powi(-8) + p.summation) * p.scale[j] + 1e-30;
            prop_assert!((got - p.want[j]).abs() <= bound, "column {j}");
        }
    }
}

/// A random Wᵀv case for the matrix-vector product tests: half the cases
/// (`big`) have at least 2¹⁸ weights, so that the product runs in
/// parallel. `want` is nalgebra's Wᵀv, `scale` is Σ|w v| per column, and
/// `summation` = 2·rows·u (u = 2⁻²⁴): two f32 sums of the same terms in
/// different orders differ by at most that times `scale`.
struct Product {
    w: DMatrix<f32>,
    v: DMatrix<f32>,
    want: DMatrix<f32>,
    scale: DMatrix<f32>,
    summation: f32,
}

impl Product {
    fn new(rows: usize, cols: usize, seed: u64, big: bool) -> Self {
        let (rows, cols) = if big {
            (256 + rows % 45, 1024 + cols % 500)
        } else {
            (rows, cols)
        };
        let w = crate::strategies::gaussian(rows, cols, seed).map(|x| x as f32);
        let v = crate::strategies::gaussian(rows, 1, seed ^ 1).map(|x| x as f32);
        Product {
            want: w.transpose() * &v,
            scale: w.abs().transpose() * v.abs(),
            summation: 2.0 * rows as f32 * f32::EPSILON / 2.0,
            w,
            v,
        }
    }
}

/// Decoding with bfloat16 weights computes exactly what the f32 step
/// computes on the model with those weights rounded: its kernel widens
/// each weight to the f32 it stands for, then does the f32 kernel's
/// arithmetic in the same order. So the logits agree bit for bit, over
/// several tokens and with a head large enough to run in parallel.
#[test]
fn bf16_decoding_is_decoding_of_the_rounded_model() -> ssm_lineage::Result<()> {
    let model = FastModel::from(&MambaModel::new(&small(128, 2, 2100), 9)?);
    let rounded = model.rounded_to_bf16();
    let decoder = Bf16Decoder::new(&model);
    let (mut logits, mut caches) = rounded.prefill(&[5, 17, 2099, 0])?;
    let mut caches_bf16 = caches.clone();
    for _ in 0..6 {
        let next = ssm_lineage::mamba::fast::model::argmax(&logits);
        logits = rounded.step(next, &mut caches)?;
        let bf16 = decoder.step(next, &mut caches_bf16)?;
        assert_eq!(bf16, logits);
    }
    // And rounding changed the model: the two are not the same computation.
    let (original, _) = model.prefill(&[5, 17, 2099, 0])?;
    let (again, _) = rounded.prefill(&[5, 17, 2099, 0])?;
    assert_ne!(original, again);
    Ok(())
}

fn small(d_model: usize, n_layer: usize, vocab: usize) -> MambaConfig {
    MambaConfig {
        d_state: 8,
        ..MambaConfig::new(d_model, n_layer, vocab)
    }
}

proptest! {
    #![proptest_config(cases(12))]

    /// The fast model built from a readable one computes what it computes:
    /// the logits of the parallel pass (fast scan, row-split products, the
    /// fast exp in SiLU) and of prefill then steps (column dot products, the
    /// vectorised SSM step) agree with the f64 model's. Every weight is
    /// rounded to f32 (relative 6e-8) and every operation rounds again; the
    /// scan's own bound (2e-5 of the sum of absolute terms) is the loosest
    /// link, so 1e-4 of the largest logit, which a wrong term (O(1) of it)
    /// fails.
    #[test]
    fn fast_model_equals_the_readable_model(
        d_model in 4usize..=40, n_layer in 1usize..=3, d_state in 1usize..=17,
        len in 1usize..=48, seed in any::<u64>(),
    ) {
        let config = MambaConfig { d_state, ..MambaConfig::new(d_model, n_layer, 19) };
        let model = MambaModel::new(&config, seed).expect("valid");
        let fast = FastModel::from(&model);
        let tokens: Vec<usize> = (0..len).map(|i| (i * 5 + seed as usize % 19) % 19).collect();
        let want = model.forward(&tokens).expect("valid");
        let got = fast.forward(&tokens).expect("valid");
        let scale = want.abs().max() + 1e-6;
        prop_assert!((got.map(f64::from) - &want).abs().max() <= 1e-4 * scale);
        let prompt = len.div_ceil(2);
        let (mut logits, mut caches) = fast.prefill(&tokens[..prompt]).expect("valid");
        for (t, &token) in tokens.iter().enumerate().skip(prompt) {
            for (v, got) in logits.iter().enumerate() {
                prop_assert!((f64::from(*got) - want[(t - 1, v)]).abs() <= 1e-4 * scale, "t={t}");
            }
            logits = fast.step(token, &mut caches).expect("valid");
        }
    }
}

/// The golden mambapy block through the fast path: converted from the
/// readable block built from the golden weights, in f32 (weights rounded,
/// f32 arithmetic through five products of width ≤ 32): 1e-5 of the
/// largest output.
#[test]
fn golden_block_through_the_fast_path() -> ssm_lineage::Result<()> {
    let block = FastBlock::from(&crate::ch07_mamba::golden_block()?);
    let named =
        crate::strategies::named_matrices(include_str!("../golden/mamba_block.txt"));
    let x = named["x"].map(|v| v as f32);
    let want = &named["y"];
    let (y, _) = block.forward(&x);
    let err = (y.map(f64::from) - want).abs().max();
    assert!(err <= 1e-5 * want.abs().max(), "{err:e}");
    Ok(())
}

/// RMSNorm in f32 on entries whose squares overflow f32 (the norm's result
/// does not): ±1 times the weight, not zeros.
#[test]
fn rms_norm_f32_survives_huge_entries() {
    let norm = ssm_lineage::mamba::fast::model::RmsNorm32::from(
        &ssm_lineage::mamba::RmsNorm::new(2, 1e-5),
    );
    assert_eq!(norm.apply(&[1e20, -1e20]), vec![1.0, -1.0]);
    let rows = nalgebra::DMatrix::from_row_slice(2, 2, &[1e20f32, 1e20, 3.0, 4.0]);
    let y = norm.apply_rows(&rows);
    assert_eq!((y[(0, 0)], y[(0, 1)]), (1.0, 1.0));
    assert!((y[(1, 1)] - 4.0 / (12.5f32 + 1e-5).sqrt()).abs() < 1e-6);
}

/// argmax of nothing is a caller bug, named.
#[test]
#[should_panic(expected = "argmax: no values")]
fn argmax_of_no_values_panics() {
    ssm_lineage::mamba::fast::model::argmax(&[]);
}

/// With no states the fast scan gives what the readable one gives, the
/// gated skip alone (it panicked on `chunks_exact(0)`).
#[test]
fn fast_scan_without_states_is_the_gated_skip() {
    use ssm_lineage::mamba::fast::{FastScan, selective_scan_fast};
    use ssm_lineage::mamba::{SelectiveScan, selective_scan};
    let (len, d) = (7, 5);
    let u = DMatrix::from_fn(len, d, |t, ch| (t * 3 + ch) as f64 * 0.1 - 1.0);
    let delta = DMatrix::from_element(len, d, 0.1);
    let (a, b, c) = (
        DMatrix::zeros(d, 0),
        DMatrix::zeros(len, 0),
        DMatrix::zeros(len, 0),
    );
    let skip = nalgebra::DVector::from_fn(d, |ch, _| ch as f64 - 2.0);
    let z = DMatrix::from_fn(len, d, |t, ch| (t as f64 - ch as f64) * 0.3);
    let args = SelectiveScan::new(&u, &delta, &a, &b, &c)
        .with_skip(&skip)
        .with_gate(&z);
    let want = selective_scan(&args);
    let got = selective_scan_fast(&FastScan::from(&args));
    assert_eq!(got.last_state.shape(), (d, 0));
    for (x, y) in got.y.iter().zip(want.y.iter()) {
        assert!(
            (f64::from(*x) - y).abs() < 1e-5 * (1.0 + y.abs()),
            "{x} vs {y}"
        );
    }
}
