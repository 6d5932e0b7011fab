//! Sizes too large to allocate are errors that say so, returned before
//! anything is allocated (an allocation that fails aborts the process, which
//! no test could catch): every constructor that takes a size.

use ssm_lineage::hippo::transitions::{fout, lagt, legs, legt, legt_lmu};
use ssm_lineage::lssl::Ssm;
use ssm_lineage::mamba::{MambaConfig, MambaModel};
use ssm_lineage::rnn::{ElmanRnn, LinearRnn, RnnConfig};
use ssm_lineage::s4d::{S4dConfig, S4dInit, S4dLayer};
use ssm_lineage::ssd::block::{Mamba2Block, Mamba2Config};
use ssm_lineage::support::rng::seeded;

use super::within;

/// Checks that `result` is an error mentioning allocation.
fn too_large<T>(what: &str, result: ssm_lineage::Result<T>) {
    match result {
        Ok(_) => panic!("{what}: accepted"),
        Err(e) => assert!(e.to_string().contains("allocated"), "{what}: {e}"),
    }
}

#[test]
fn state_sizes_too_large_to_allocate_are_errors() {
    let n = 1usize << 33; // an n × n matrix of 2^66 values
    too_large("legs", legs(n));
    too_large("legt", legt(n, 1.0));
    too_large("legt_lmu", legt_lmu(n, 1.0));
    too_large("lagt", lagt(n));
    too_large("fout", fout(n));
    too_large("Ssm::random_stable", Ssm::random_stable(n, 0));
    too_large("LinearRnn::random", LinearRnn::random(n, 0.5, 0));
    let rnn = RnnConfig {
        hidden: n,
        input: 1,
        output: 1,
        spectral_radius: 0.9,
        input_scale: 1.0,
    };
    too_large("ElmanRnn::random", ElmanRnn::random(&rnn, 0));
}

#[test]
fn model_sizes_too_large_to_allocate_are_errors() {
    too_large(
        "MambaModel, d_model 2^62",
        MambaModel::new(&MambaConfig::new(1 << 62, 1, 10), 0),
    );
    let wide_vocab = MambaConfig {
        vocab_size: 1 << 40,
        ..MambaConfig::new(64, 1, 10)
    };
    too_large("MambaModel, vocab 2^40", MambaModel::new(&wide_vocab, 0));
    let deep = MambaConfig::new(4096, 1 << 30, 10);
    too_large("MambaModel, 2^30 layers", MambaModel::new(&deep, 0));
    let m2 = Mamba2Config {
        d_model: 1 << 62,
        ..Mamba2Config::new(8, 4)
    };
    too_large(
        "Mamba2Block, d_model 2^62",
        Mamba2Block::new(&m2, &mut seeded(0)),
    );
    let s4d = S4dConfig::new(1 << 40, 64, S4dInit::Lin);
    too_large("S4dLayer, 2^40 channels", S4dLayer::new(&s4d, 0));
    too_large(
        "Mamba2Model, vocab 2^40",
        ssm_lineage::ssd::Mamba2Model::new(&Mamba2Config::new(8, 4), 1, 1 << 40, 0),
    );
    too_large(
        "S4dParams, 2^40 channels",
        ssm_lineage::s4d::learn::S4dParams::new(1 << 40, 64, S4dInit::Lin, 0),
    );
}

#[test]
fn task_lengths_too_large_to_allocate_are_errors() {
    use ssm_lineage::train::tasks::{
        Delay, InductionHeads, Recall, SelectiveCopying,
    };
    let huge = 1usize << 40;
    too_large("SelectiveCopying", SelectiveCopying::new(huge, 4));
    too_large("InductionHeads", InductionHeads::new(huge, 16));
    too_large("Delay", Delay::new(huge, 8, 4));
    too_large("Recall", Recall::new(huge, 8));
}

/// ZOH with a huge finite step returns its true limit at once (Ā = 0 and
/// B̄ = −A⁻¹B, the steady state), not a hang in the matrix exponential; a
/// step that overflows ΔA is an error; a non-finite Ā has NaN eigenvalues at
/// once.
#[test]
fn zoh_with_a_huge_step_is_its_limit_not_a_hang() {
    let ssm = Ssm::random_stable(3, 1).expect("valid");
    let copy = ssm.clone();
    let d = within(10, move || {
        ssm_lineage::lssl::discretize(&copy, 1e64, ssm_lineage::lssl::Rule::Zoh)
    })
    .expect("finite");
    assert_eq!(d.a_bar.amax(), 0.0);
    let steady = -ssm.a.clone().lu().solve(&ssm.b).expect("A is invertible");
    assert!(
        (&d.b_bar - &steady).amax() <= 1e-9 * steady.amax(),
        "{} vs {steady}",
        d.b_bar
    );
    let copy = ssm.clone();
    let err = within(10, move || {
        ssm_lineage::lssl::discretize(&copy, 1e308, ssm_lineage::lssl::Rule::Zoh)
    })
    .expect_err("ΔA overflows");
    assert!(err.to_string().contains("too large"), "{err}");
    let eig = within(10, || {
        let ssm = Ssm::random_stable(3, 1).expect("valid");
        let mut d =
            ssm_lineage::lssl::discretize(&ssm, 0.1, ssm_lineage::lssl::Rule::Zoh)
                .expect("valid");
        d.a_bar[(0, 0)] = f64::NAN;
        d.eigenvalues()
    });
    assert!(eig.iter().all(|l| l.re.is_nan()));
}

/// An initial step so large that its bias overflows `f32` (every logit of
/// the fast model was NaN) is refused, for both blocks; an empty sequence
/// through the Mamba-2 block is an empty output (it panicked inside the SSD
/// forms).
#[test]
fn huge_steps_are_refused_and_empty_sequences_are_empty() {
    let huge = MambaConfig {
        dt_max: 1e300,
        ..MambaConfig::new(8, 1, 5)
    };
    let error = MambaModel::new(&huge, 0)
        .expect_err("dt_max 1e300")
        .to_string();
    assert!(error.contains("dt_max"), "{error}");
    let huge2 = Mamba2Config {
        dt_max: 1e300,
        ..Mamba2Config::new(8, 4)
    };
    assert!(Mamba2Block::new(&huge2, &mut seeded(0)).is_err());
    let block =
        Mamba2Block::new(&Mamba2Config::new(8, 4), &mut seeded(0)).expect("valid");
    let (out, cache) = block.forward(&nalgebra::DMatrix::zeros(0, 8));
    assert_eq!(out.shape(), (0, 8));
    assert_eq!(cache, block.empty_cache());
}
