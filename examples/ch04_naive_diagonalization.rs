//! Chapter 4: why S4 does not diagonalise HiPPO naively. For N = 2 … 128:
//! the largest entry of the exact eigenvector matrix of the (unnormalised)
//! LegS matrix, and the relative error of rebuilding the matrix from it in
//! floating point, beside the error of the DPLR form (unitary eigenbasis).
//! Writes `chapters/figures/ch04/naive-diagonalization.svg`.
//!
//! Run: `cargo run --release --example ch04_naive_diagonalization`

use std::process::ExitCode;

use nalgebra::{DMatrix, DVector};
use ssm_lineage::hippo::transitions::legs;
use ssm_lineage::s4::nplr::nplr_legs;
use ssm_lineage::support::figure::{LinePlot, Scale, exit_code, figure_path};

fn main() -> ExitCode {
    exit_code("ch04_naive_diagonalization", run())
}

fn binom(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// V_ij = (−1)^{i−j} binom(i+j, i−j): the eigenvectors of M = T⁻¹AT.
fn eigenvectors(n: usize) -> DMatrix<f64> {
    DMatrix::from_fn(n, n, |i, j| {
        if i < j {
            return 0.0;
        }
        let sign = if (i - j) % 2 == 0 { 1.0 } else { -1.0 };
        sign * binom(i + j, i - j)
    })
}

fn run() -> ssm_lineage::Result<()> {
    let (mut largest, mut naive, mut dplr) = (vec![], vec![], vec![]);
    println!(
        "{:>5} {:>14} {:>18} {:>18}",
        "N", "log2 max|V|", "naive rel. error", "DPLR rel. error"
    );
    for n in [2, 4, 8, 16, 24, 32, 48, 64, 96, 128] {
        let a = legs(n)?.a;
        let t = DVector::from_fn(n, |q, _| ((2 * q + 1) as f64).sqrt());
        let m = DMatrix::from_fn(n, n, |i, j| a[(i, j)] * t[j] / t[i]); // unnormalised
        let v = eigenvectors(n);
        let lam =
            DMatrix::from_diagonal(&DVector::from_fn(n, |q, _| -((q + 1) as f64)));
        let inverse = v
            .clone()
            .try_inverse()
            .unwrap_or_else(|| DMatrix::from_element(n, n, f64::NAN));
        let err_naive = ((&v * lam * inverse) - &m).abs().max() / m.abs().max();
        let err_dplr =
            (nplr_legs(n)?.reconstruct_a() - &a).abs().max() / a.abs().max();
        let log_v = v.abs().max().log2();
        println!("{n:>5} {log_v:>14.1} {err_naive:>18.2e} {err_dplr:>18.2e}");
        largest.push((n as f64, v.abs().max()));
        naive.push((n as f64, err_naive.clamp(1e-17, 1e40)));
        dplr.push((n as f64, err_dplr.max(1e-17)));
    }
    LinePlot::new(
        "Diagonalising HiPPO-LegS: naive eigenvectors against DPLR",
        "state size N",
        "size (log scale)",
    )
    .scales(Scale::Linear, Scale::Log)
    .line("largest entry of the eigenvector matrix V", largest)
    .line("naive: relative error of V Λ V⁻¹", naive)
    .line("DPLR: relative error of V(Λ − P̃P̃*)V*", dplr)
    .dashed(
        "2^(4N/3)",
        (2..=128)
            .step_by(6)
            .map(|n| (n as f64, 2f64.powf(4.0 * n as f64 / 3.0)))
            .collect(),
    )
    .save(&figure_path("ch04", "naive-diagonalization.svg"))
}
