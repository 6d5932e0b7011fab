//! Chapter 9: the selective scan's backward pass worked in numbers at L = 3
//! (one channel, one state, no gate, no skip): every forward state, every
//! adjoint and every gradient, written to
//! `chapters/figures/ch09/backward-L3.md` (the tables the chapter includes)
//! and drawn, unrolled, into `chapters/figures/ch09/backward-unrolled.svg`.
//! The crate's own backward pass gives the same numbers; the chapter's tests
//! check them (`tests/lineage/ch09_backward.rs`). Finishes in well under a
//! second.
//!
//! Run: `cargo run --release --example ch09_backward`

use std::process::ExitCode;

use nalgebra::DMatrix;
use ssm_lineage::Error;
use ssm_lineage::mamba::{
    SelectiveScan, selective_scan_backward, selective_scan_taped,
};
use ssm_lineage::support::figure::{exit_code, figure_path};
use ssm_lineage::support::unrolled::save_backward_unrolled;

#[path = "ch09/unrolled_l3.rs"]
mod unrolled_l3;

use unrolled_l3::{PROBLEM, num, tables, unrolled};

fn main() -> ExitCode {
    exit_code("ch09_backward", run())
}

fn run() -> ssm_lineage::Result<()> {
    let p = PROBLEM;
    let r = unrolled(&p);
    let table = tables(&p, &r);
    let md = figure_path("ch09", "backward-L3.md");
    std::fs::write(&md, &table).map_err(|e| Error::Output {
        path: md.clone(),
        reason: e.to_string(),
    })?;
    save_backward_unrolled(
        &figure_path("ch09", "backward-unrolled.svg"),
        &r.h,
        &r.dh,
    )?;
    println!("{table}");
    // The crate's backward pass on the same problem, for comparison.
    let column = |v: [f64; 3]| DMatrix::from_column_slice(3, 1, &v);
    let (u, dt, b, c) = (column(p.u), column(p.dt), column(p.b), column(p.c));
    let a = DMatrix::from_element(1, 1, p.a);
    let args = SelectiveScan::new(&u, &dt, &a, &b, &c);
    let (_, tape) = selective_scan_taped(&args, 1);
    let g = selective_scan_backward(&args, &tape, &column(p.dy));
    println!(
        "crate's selective_scan_backward: ∂A = {}, ∂Δ = [{}], ∂B = [{}]",
        num(g.a[(0, 0)]),
        g.delta
            .iter()
            .map(|&v| num(v))
            .collect::<Vec<_>>()
            .join(", "),
        g.b.iter().map(|&v| num(v)).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}
