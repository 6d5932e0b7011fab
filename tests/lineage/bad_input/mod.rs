//! Bad input, chapter by chapter: every public constructor and entry point
//! driven with zero, huge, mismatched and non-finite arguments, each call
//! under a time limit, asserting the crate's contract (`lib.rs`, "Errors"):
//!
//! - an invalid hyperparameter or a size too large to allocate is an `Err`
//!   that says what is allowed;
//! - a wrong shape is a panic naming the function and both shapes;
//! - non-finite input is NaN out of the arithmetic views, and an `Err` or a
//!   NaN where an algorithm would loop on it — never a hang.
//!
//! A hang fails the test after [`LIMIT`] seconds instead of stalling the run.
//! Files a user loads (checkpoints, Hugging Face folders, damaged or of
//! another architecture) are probed beside their formats, in `ch09_training`
//! and `hub`; the synthetic tasks' sizes in `ch09_tasks`.

mod appendix_fast;
mod ch00_attention;
mod ch01_rnn;
mod ch02_lssl;
mod ch03_hippo;
mod ch04_s4;
mod ch05_s4d;
mod ch06_scan;
mod ch07_mamba;
mod ch08_ssd;
mod ch09_train;
mod sizes;
mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Seconds any one call may take: every call here is on small inputs and
/// returns in milliseconds, so a call still running after this has hung.
pub const LIMIT: u64 = 20;

/// Runs `f` on another thread and fails the test if it has not returned
/// within `seconds`: a hang becomes a failure instead of a stuck test run.
pub fn within<T: Send + 'static>(
    seconds: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(f());
    });
    receive
        .recv_timeout(std::time::Duration::from_secs(seconds))
        .unwrap_or_else(|_| panic!("did not return within {seconds} s"))
}

/// What a call did within [`LIMIT`]: `Ok` with its value, or `Err` with its
/// panic message.
pub fn outcome<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    within(LIMIT, move || {
        catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    })
}

/// Asserts that `f` panics (within the limit) with a message containing
/// every one of `needles`: the function's name and the shapes involved.
#[track_caller]
pub fn panics_naming<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
    needles: &[&str],
) {
    match outcome(f) {
        Ok(_) => panic!("returned; expected a panic naming {needles:?}"),
        Err(message) => {
            for needle in needles {
                assert!(
                    message.contains(needle),
                    "panic message {message:?} does not name {needle:?}"
                );
            }
        }
    }
}

/// Asserts that `f` returns (within the limit, without panicking) an `Err`
/// whose message contains `needle`.
#[track_caller]
pub fn rejects<T: Send + 'static>(
    f: impl FnOnce() -> ssm_lineage::Result<T> + Send + 'static,
    needle: &str,
) {
    match outcome(f) {
        Ok(Ok(_)) => panic!("accepted; expected an error saying {needle:?}"),
        Ok(Err(e)) => {
            let message = e.to_string();
            assert!(
                message.contains(needle),
                "{message:?} does not say {needle:?}"
            );
        }
        Err(panic) => {
            panic!("panicked ({panic}); expected an error saying {needle:?}")
        }
    }
}

/// Returns what `f` returns, failing the test if it panics or hangs.
#[track_caller]
pub fn returns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    outcome(f).unwrap_or_else(|panic| panic!("panicked: {panic}"))
}

/// What every constructor must name for a configuration whose `validate`
/// failed with `error` on the invalid `field`: the field itself, or the
/// 2^32 limit when the field is a size that makes some tensor too large
/// (then the tensor, not the field, is what the error names). Panics if the
/// validation error names neither.
#[track_caller]
pub fn named_by(error: &ssm_lineage::Error, field: &'static str) -> &'static str {
    let message = error.to_string();
    let named = if message.contains("2^32") {
        "2^32"
    } else {
        field
    };
    assert!(message.contains(named), "{message} does not name {field}");
    named
}

/// The non-finite values every "non-finite input" probe tries.
pub const NON_FINITE: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

/// The small Mamba model the bad-input probes of chapters 7, 9 and the
/// appendix run (d_model 8, one layer, 5 tokens, N = 4).
pub fn small_model() -> ssm_lineage::mamba::MambaModel {
    use ssm_lineage::mamba::{MambaConfig, MambaModel};
    MambaModel::new(
        &MambaConfig {
            d_state: 4,
            ..MambaConfig::new(8, 1, 5)
        },
        0,
    )
    .expect("valid")
}
