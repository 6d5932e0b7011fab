//! Random inputs named after what the papers draw.

use nalgebra::DMatrix;
use proptest::prelude::*;
use ssm_lineage::lssl::Ssm;
use ssm_lineage::rnn::LinearRnn;
use ssm_lineage::support::rng::{normal_matrix, seeded};

/// Sequence lengths from 1 to `max`, odd and even alike, including 1 and
/// non-powers of two.
pub fn lengths(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2usize), 1..=max]
}

/// A random stable linear RNN and its ρ: state size 1..=16, $A = ρQ$ with $Q$
/// orthogonal, so $\lVert A \rVert = ρ ∈ [0, 0.99]$ and the kernel decays like ρ^t.
pub fn stable_linear_rnn() -> impl Strategy<Value = (LinearRnn, f64)> {
    (1usize..=16, 0.0..0.99f64, any::<u64>()).prop_map(|(n, rho, seed)| {
        (LinearRnn::random(n, rho, seed).expect("valid sizes"), rho)
    })
}

/// A `(len, channels)` matrix of standard normal entries from a seed.
pub fn gaussian(len: usize, channels: usize, seed: u64) -> DMatrix<f64> {
    normal_matrix(&mut seeded(seed), len, channels, 1.0)
}

/// A random stable continuous system (`Ssm::random_stable`): state size
/// 1..=`max_n`, $A + A^\top$ negative definite.
pub fn stable_ssm(max_n: usize) -> impl Strategy<Value = Ssm> {
    (1usize..=max_n, any::<u64>())
        .prop_map(|(n, seed)| Ssm::random_stable(n, seed).expect("valid size"))
}

/// The papers' step distribution: $\log \Delta \sim U[\log lo, \log hi]$.
pub fn log_uniform_dt(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    (lo.ln()..hi.ln()).prop_map(f64::exp)
}

/// The golden files of chapters 7 and 8: one named matrix per line,
/// `<name> <rows> <cols> <values, row-major>`, `#` lines are comments.
pub fn named_matrices(
    text: &str,
) -> std::collections::HashMap<String, DMatrix<f64>> {
    let mut named = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut f = line.split_whitespace();
        let name = f.next().expect("a name").to_string();
        let rows: usize = f.next().expect("rows").parse().expect("a number");
        let cols: usize = f.next().expect("cols").parse().expect("a number");
        let values: Vec<f64> = f.map(|v| v.parse().expect("a number")).collect();
        named.insert(name, DMatrix::from_row_slice(rows, cols, &values));
    }
    named
}
