//! Chapter 3: "recent precise, old blurred". One history is fed, sample by
//! sample (Δ = 10⁻³, N = 32), to LegS used as a time-invariant system (as S4
//! uses it, Eq. H15) and to LegS with its 1/t (Eq. H8); each memory is read
//! back at t = 1, 2 and 4, so the same stretch of the past is seen at three
//! ages. Beside each, the squared reconstruction error against the age
//! (t − x), averaged over 20 random histories. Writes
//! `chapters/figures/ch03/blur.svg` and prints the error of LTI LegS over the
//! most recent and the oldest tenth of the four time units.
//!
//! Run: `cargo run --release --example ch03_blur`

use std::process::ExitCode;

use ssm_lineage::Result;
use ssm_lineage::hippo::reconstruct::{reconstruct_legs, reconstruct_legs_lti};
use ssm_lineage::hippo::transitions::legs;
use ssm_lineage::hippo::{LegsProjector, LegsRule, LtiProjector};
use ssm_lineage::lssl::Rule;
use ssm_lineage::support::figure::{
    Legend, LinePlot, Scale, exit_code, figure_path, save_grid,
};
use ssm_lineage::support::rng::band_limited_signal;

const DT: f64 = 1e-3;
const N: usize = 32;
const MOMENTS: [f64; 3] = [1.0, 2.0, 4.0];
/// Random histories averaged in the error panels.
const HISTORIES: u64 = 20;
/// Points per time unit of a reconstruction.
const GRID: usize = 100;

fn main() -> ExitCode {
    exit_code("ch03_blur", run())
}

/// A random smooth history: 16 sinusoids of random frequency below 2 cycles
/// per time unit and random phase, scaled to an RMS of about 0.5.
fn history(seed: u64) -> impl Fn(f64) -> f64 {
    band_limited_signal(seed, 16, 2.0)
}

/// One reconstruction per moment, as (time x, value) points.
type Readings = Vec<Vec<(f64, f64)>>;

/// What each memory gives back at each of the `MOMENTS`: (time x, value)
/// over [0, t], for LegS as an LTI system and for LegS with its 1/t.
fn remembered(f: &dyn Fn(f64) -> f64) -> Result<[Readings; 2]> {
    let mut lti = LtiProjector::new(&legs(N)?, DT, Rule::Bilinear)?;
    let mut scaled = LegsProjector::new(N, LegsRule::Bilinear)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut k = 0;
    for now in MOMENTS {
        while (k as f64) * DT < now - DT / 2.0 {
            k += 1;
            let sample = f(k as f64 * DT);
            lti.update(sample)?;
            scaled.update(sample)?;
        }
        let points = (now * GRID as f64) as usize;
        let ages: Vec<f64> = (0..=points).map(|j| j as f64 / GRID as f64).collect();
        let rec = reconstruct_legs_lti(lti.coefficients(), &ages);
        a.push(ages.iter().map(|s| now - s).zip(rec).collect());
        let v: Vec<f64> = (0..=points).map(|j| j as f64 / points as f64).collect();
        let rec = reconstruct_legs(scaled.coefficients(), &v);
        b.push(v.iter().map(|v| v * now).zip(rec).collect());
    }
    Ok([a, b])
}

/// The squared error against the age t − x at t = 4, averaged over
/// `HISTORIES` random histories, for both memories.
fn error_by_age() -> Result<[Vec<(f64, f64)>; 2]> {
    let now = MOMENTS[MOMENTS.len() - 1];
    let mut sums = [vec![0.0; GRID * 4 + 1], vec![0.0; GRID * 4 + 1]];
    for seed in 0..HISTORIES {
        let f = history(100 + seed);
        let [a, b] = remembered(&f)?;
        for (sum, curve) in sums.iter_mut().zip([&a[2], &b[2]]) {
            for (x, y) in curve {
                let age = ((now - x) * GRID as f64).round() as usize;
                sum[age.min(GRID * 4)] += (y - f(*x)).powi(2) / HISTORIES as f64;
            }
        }
    }
    Ok(sums.map(|s| {
        s.into_iter()
            .enumerate()
            .map(|(j, e)| (j as f64 / GRID as f64, e))
            .collect()
    }))
}

/// The mean of the error over the ages in `range` (time units).
fn tenth(curve: &[(f64, f64)], range: std::ops::Range<f64>) -> f64 {
    let inside: Vec<f64> = curve
        .iter()
        .filter(|(s, _)| range.contains(s))
        .map(|p| p.1)
        .collect();
    inside.iter().sum::<f64>() / inside.len().max(1) as f64
}

fn run() -> Result<()> {
    let f = history(7);
    let [lti, scaled] = remembered(&f)?;
    let truth: Vec<(f64, f64)> = (0..=400)
        .map(|j| (j as f64 / 100.0, f(j as f64 / 100.0)))
        .collect();
    let panel = |title: &str, curves: &[Vec<(f64, f64)>]| {
        let mut plot = LinePlot::new(title, "time x", "history f(x)")
            .line("the history", truth.clone())
            .legend(Legend::UpperLeft);
        for (now, curve) in MOMENTS.iter().zip(curves) {
            plot = plot.dashed(&format!("read at t = {now}"), curve.clone());
        }
        plot
    };
    let [e_lti, e_scaled] = error_by_age()?;
    let error = |title: &str, curve: Vec<(f64, f64)>| {
        LinePlot::new(
            title,
            "age t − x (time units), read at t = 4",
            "squared error",
        )
        .scales(Scale::Linear, Scale::Log)
        .line(&format!("mean of {HISTORIES} histories"), curve)
    };
    let (recent, oldest) = (tenth(&e_lti, 0.0..0.4), tenth(&e_lti, 3.6..4.01));
    println!(
        "LTI LegS, read at t = 4: mean squared error of the most recent tenth {recent:.2e}, of the oldest {oldest:.2e} ({:.0}× larger)",
        oldest / recent
    );
    let flat: Vec<f64> =
        e_scaled.iter().filter(|p| p.0 < 3.9).map(|p| p.1).collect();
    println!(
        "LegS with 1/t, read at t = 4: squared error between {:.1e} and {:.1e} at ages below 3.9",
        flat.iter().copied().fold(f64::INFINITY, f64::min),
        flat.iter().copied().fold(0.0, f64::max)
    );
    save_grid(
        &figure_path("ch03", "blur.svg"),
        &[
            panel("LegS as S4 runs it (LTI): read at t = 1, 2, 4", &lti),
            error("LTI LegS: error against age", e_lti),
            panel("LegS with 1/t: read at t = 1, 2, 4", &scaled),
            error("LegS with 1/t: error against age", e_scaled),
        ],
        2,
    )
}
