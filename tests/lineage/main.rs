//! Every claim the book makes, as a test: one module per chapter.
//!
//! Property tests run a moderate number of cases so that `cargo test` stays
//! fast on two cores; set `SSM_PROPTEST_CASES` (e.g. to 1000) for a deeper run.

mod appendix_fast;
mod appendix_fast_training;
mod bad_input;
mod ch00_intro;
mod ch01_rnn;
mod ch02_lssl;
mod ch03_hippo;
mod ch04_s4;
mod ch05_s4d;
mod ch06_scan;
mod ch07_mamba;
mod ch08_ssd;
mod ch09_backward;
mod ch09_experiments;
mod ch09_pictures;
mod ch09_tasks;
mod ch09_training;
mod hub;
mod strategies;
mod support_fft;

use proptest::test_runner::Config;

/// A proptest configuration with `default` cases, or `SSM_PROPTEST_CASES`.
pub fn cases(default: u32) -> Config {
    let cases = std::env::var("SSM_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        ..Config::default()
    }
}
