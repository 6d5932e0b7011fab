//! Chapter 2: how fast each discretization rule converges as Δ shrinks.
//!
//! On the damped mass-spring of `ch02_three_views`, measures the error at
//! T = 4 s of every rule against the exact solution, for the free response
//! (x(0) = (1, 0), no input) and for a smooth input u(t) = sin(1.5 t) sampled
//! once per step, and fits the log-log slope (the order of the rule). Writes
//! `chapters/figures/ch02/error-free.svg` and `chapters/figures/ch02/error-input.svg`,
//! and `chapters/figures/ch02/discretization.svg`: the input's ZOH staircase
//! at Δ = 0.5 and 0.1, the continuous response to each, and the ZOH
//! recurrence's samples on it.
//!
//! Run: `cargo run --release --example ch02_discretization`

use std::process::ExitCode;

use nalgebra::{DMatrix, DVector};
use ssm_lineage::lssl::views::continuous_response;
use ssm_lineage::lssl::{DiscreteSsm, Rule, Ssm, discretize};
use ssm_lineage::support::figure::{
    Legend, LinePlot, Scale, exit_code, figure_path, save_grid,
};

const T: f64 = 4.0;
const OMEGA: f64 = 1.5;

fn main() -> ExitCode {
    exit_code("ch02_discretization", run())
}

fn mass_spring() -> ssm_lineage::Result<Ssm> {
    let a = DMatrix::from_row_slice(2, 2, &[0.0, 1.0, -4.0, -0.4]);
    Ssm::new(
        a,
        DVector::from_vec(vec![0.0, 1.0]),
        DVector::from_vec(vec![1.0, 0.0]),
        0.0,
    )
}

/// The exact output at T: the system driven by sin(ωt) is the 4-state linear
/// system [x; s; c] with ṡ = ωc, ċ = −ωs and u = s, started at c(0) = 1.
fn exact(ssm: &Ssm, x0: &DVector<f64>, forced: bool) -> f64 {
    let mut m = DMatrix::zeros(4, 4); // (4, 4)
    m.view_mut((0, 0), (2, 2)).copy_from(&ssm.a);
    if forced {
        m.view_mut((0, 2), (2, 1)).copy_from(&ssm.b);
        m[(2, 3)] = OMEGA;
        m[(3, 2)] = -OMEGA;
    }
    let z0 =
        DVector::from_vec(vec![x0[0], x0[1], 0.0, if forced { 1.0 } else { 0.0 }]);
    let z = (m * T).exp() * z0;
    ssm.c.dot(&z.rows(0, 2).into_owned())
}

/// The rule's output at T = steps·Δ, with u_k = sin(ω (k + offset) Δ).
fn simulate(
    disc: &DiscreteSsm,
    x0: &DVector<f64>,
    steps: usize,
    forced: bool,
    offset: f64,
) -> f64 {
    let mut x = x0.clone();
    for k in 0..steps {
        let u = if forced {
            (OMEGA * (k as f64 + offset) * disc.dt).sin()
        } else {
            0.0
        };
        x = &disc.a_bar * &x + &disc.b_bar * u;
    }
    disc.c.dot(&x)
}

/// Least-squares slope of log(error) against log(Δ) in the asymptotic range
/// (Δ ≤ 0.07, i.e. ωΔ ≤ 0.14), over errors above rounding (1e-13).
fn slope(points: &[(f64, f64)]) -> f64 {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.0 <= 0.07 && p.1 > 1e-13)
        .map(|p| (p.0.ln(), p.1.ln()))
        .collect();
    if pts.len() < 2 {
        return f64::NAN;
    }
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 { f64::NAN } else { sxy / sxx }
}

/// A rule and its (Δ, error) points.
type Curve = (Rule, Vec<(f64, f64)>);

fn curves(ssm: &Ssm, forced: bool, offset: f64) -> ssm_lineage::Result<Vec<Curve>> {
    let x0 = if forced {
        DVector::zeros(2)
    } else {
        DVector::from_vec(vec![1.0, 0.0])
    };
    let truth = exact(ssm, &x0, forced);
    Rule::ALL
        .into_iter()
        .map(|rule| {
            let points = (3..=13)
                .map(|p| {
                    let steps = 1usize << p;
                    let dt = T / steps as f64;
                    let disc = discretize(ssm, dt, rule)?;
                    let err =
                        (simulate(&disc, &x0, steps, forced, offset) - truth).abs();
                    Ok((dt, err.max(1e-16)))
                })
                .collect::<ssm_lineage::Result<Vec<_>>>()?;
            Ok((rule, points))
        })
        .collect()
}

/// What discretization does, drawn: the smooth input, the staircase ZOH
/// holds it to at a large and a small step, the system's continuous response
/// to each staircase, and the recurrence's samples, which lie on it.
fn picture(ssm: &Ssm) -> ssm_lineage::Result<()> {
    let u = |t: f64| (OMEGA * t).sin();
    let mut input =
        LinePlot::new("The input, and what ZOH holds", "time t (s)", "u(t)").line(
            "u(t) = sin(1.5 t)",
            (0..=400)
                .map(|i| {
                    let t = T * i as f64 / 400.0;
                    (t, u(t))
                })
                .collect(),
        );
    let mut output = LinePlot::new(
        "The output: continuous response and the recurrence's samples",
        "time t (s)",
        "y(t)",
    );
    // A staircase of 1 ms steps stands in for the smooth input.
    let fine = 0.001;
    let smooth: Vec<f64> = (0..(T / fine) as usize)
        .map(|k| u(k as f64 * fine))
        .collect();
    let truth = continuous_response(ssm, &smooth, fine, 1)?;
    output =
        output.line("response to u(t)", truth.into_iter().step_by(10).collect());
    for dt in [0.5, 0.1] {
        let steps = (T / dt).round() as usize;
        let held: Vec<f64> = (0..steps).map(|k| u(k as f64 * dt)).collect();
        let stairs: Vec<(f64, f64)> = held
            .iter()
            .enumerate()
            .flat_map(|(k, &v)| [(k as f64 * dt, v), ((k + 1) as f64 * dt, v)])
            .collect();
        input = input.line(&format!("held for Δ = {dt}"), stairs);
        let response = continuous_response(ssm, &held, dt, 50)?;
        output =
            output.dashed(&format!("response to the Δ = {dt} staircase"), response);
        let d = discretize(ssm, dt, Rule::Zoh)?;
        let mut x = DVector::zeros(2);
        let samples: Vec<(f64, f64)> = held
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                x = &d.a_bar * &x + &d.b_bar * v;
                ((k + 1) as f64 * dt, d.c.dot(&x))
            })
            .collect();
        output = output.points(&format!("ZOH recurrence, Δ = {dt}"), samples);
    }
    save_grid(
        &figure_path("ch02", "discretization.svg"),
        &[
            input.legend(Legend::UpperRight),
            output.ranges(0.0..T, -1.6..0.6).legend(Legend::LowerLeft),
        ],
        1,
    )
}

fn run() -> ssm_lineage::Result<()> {
    let ssm = mass_spring()?;
    picture(&ssm)?;
    let cases = [
        ("free response", false, 0.0, "error-free.svg"),
        (
            "input sampled mid-step, u_k = sin(ω(k+½)Δ)",
            true,
            0.5,
            "error-input.svg",
        ),
        (
            "input sampled at the step's start, u_k = sin(ωkΔ)",
            true,
            0.0,
            "",
        ),
    ];
    println!(
        "{:<52} {:>14} {:>14} {:>10} {:>6}",
        "log-log slope of the error at T = 4 s",
        "forward Euler",
        "backward Euler",
        "bilinear",
        "ZOH"
    );
    for (name, forced, offset, file) in cases {
        let curves = curves(&ssm, forced, offset)?;
        let slopes: Vec<String> = curves
            .iter()
            .map(|(_, c)| match slope(c) {
                s if s.is_nan() => "exact".to_string(),
                s => format!("{s:.2}"),
            })
            .collect();
        println!(
            "{name:<52} {:>14} {:>14} {:>10} {:>6}",
            slopes[0], slopes[1], slopes[2], slopes[3]
        );
        if file.is_empty() {
            continue;
        }
        let title = format!("Error at T = 4 s against Δ: {name}");
        let mut plot = LinePlot::new(&title, "step Δ (s)", "error |ŷ(T) − y(T)|")
            .scales(Scale::Log, Scale::Log);
        for (rule, points) in curves {
            plot = plot.line(&rule.name(), points);
        }
        let reference = |order: i32, c: f64| {
            vec![
                (T / 8192.0, c * (T / 8192.0f64).powi(order)),
                (0.5, c * 0.5f64.powi(order)),
            ]
        };
        plot.dashed("slope 1", reference(1, 1.0))
            .dashed("slope 2", reference(2, 0.1))
            .save(&figure_path("ch02", file))?;
    }
    println!(
        "(ZOH on the free response is exact: its error is rounding, below 1e-14, growing slowly with the number of steps)"
    );
    Ok(())
}
