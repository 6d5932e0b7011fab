//! Chapter 3's widget: a measure (LegT, LagT, LegS, FouT), a state size N and
//! a history → what the state remembers of the history now and at a later
//! time (the computation of `examples/ch03_reconstruction.rs`: the online
//! projectors of `hippo::projection`, read back by `hippo::reconstruct`).

use std::f64::consts::PI;

use nalgebra::DVector;
use ssm_lineage::hippo::reconstruct::{
    reconstruct_fout, reconstruct_lagt, reconstruct_legs, reconstruct_legt_lmu,
};
use ssm_lineage::hippo::transitions::{fout, lagt, legt_lmu};
use ssm_lineage::hippo::{LegsProjector, LegsRule, LtiProjector};
use ssm_lineage::lssl::Rule;
use ssm_lineage::support::figure::{LinePlot, grid_to_svg};
use ssm_lineage::support::rng::{log_uniform, seeded};
use wasm_bindgen::prelude::wasm_bindgen;

use crate::{BrowserCase, Widget};

/// The sampling step (twice the static figure's, to keep an update fast).
pub const DT: f64 = 2e-3;
/// The largest state size offered (the cost per sample is O(N²): LegS at
/// N = 64 and t = 3 took 84 ms an update in Chromium's wasm).
pub const MAX_N: usize = 32;
/// The later moment is this many times the current one.
pub const LATER: f64 = 2.0;

/// A measure: which past the state keeps, and with what weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// The window [t − 1, t], uniform (the LMU form).
    LegT,
    /// The whole past, weighted e⁻ˢ at lag s.
    LagT,
    /// The whole past [0, t], uniform (time-varying, bilinear).
    LegS,
    /// The window [t − 2, t] in a Fourier basis.
    FouT,
}

impl Measure {
    /// `"legt"`, `"lagt"`, `"fout"`; anything else is LegS.
    pub fn parse(name: &str) -> Self {
        match name {
            "legt" => Measure::LegT,
            "lagt" => Measure::LagT,
            "fout" => Measure::FouT,
            _ => Measure::LegS,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Measure::LegT => "LegT (window 1)",
            Measure::LagT => "LagT (weight e⁻ˢ)",
            Measure::LegS => "LegS (all of [0, t])",
            Measure::FouT => "FouT (window 2)",
        }
    }
}

/// A preset history f(t) on t ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// 0 before t = 1, 1 from then on.
    Step,
    /// sin(2πt / 1.5).
    Sine,
    /// t/3 − ½.
    Ramp,
    /// The static figure's band-limited random signal (12 sinusoids below 1.5
    /// cycles per time unit, RMS ≈ 0.5).
    Noise,
}

impl History {
    /// `"step"`, `"sine"`, `"ramp"`; anything else is the noise.
    pub fn parse(name: &str) -> Self {
        match name {
            "step" => History::Step,
            "sine" => History::Sine,
            "ramp" => History::Ramp,
            _ => History::Noise,
        }
    }

    /// The signal as a function of time (0 before t = 0: the state starts
    /// at zero, having seen nothing).
    pub fn signal(self) -> impl Fn(f64) -> f64 {
        // Uniform samples on [lo, hi) from the crate's generator, as the
        // static figure draws them (`random_range(lo..hi)`): the log of a
        // log-uniform sample on [e^lo, e^hi] (this crate has no `rand` of
        // its own).
        let mut rng = seeded(3);
        let mut uniform =
            |lo: f64, hi: f64| log_uniform(&mut rng, lo.exp(), hi.exp()).ln();
        let parts: Vec<(f64, f64)> = (0..12)
            .map(|_| (uniform(0.0, 1.5), uniform(0.0, 2.0 * PI)))
            .collect();
        move |t: f64| {
            if t < 0.0 {
                return 0.0;
            }
            match self {
                History::Step => f64::from(u8::from(t >= 1.0)),
                History::Sine => (2.0 * PI * t / 1.5).sin(),
                History::Ramp => t / 3.0 - 0.5,
                History::Noise => {
                    parts
                        .iter()
                        .map(|(w, p)| (2.0 * PI * w * t + p).sin())
                        .sum::<f64>()
                        * 0.5
                        / 6f64.sqrt()
                }
            }
        }
    }
}

/// An online projector of either kind.
enum Projector {
    Legs(LegsProjector),
    Lti(LtiProjector),
}

impl Projector {
    fn new(measure: Measure, n: usize) -> ssm_lineage::Result<Self> {
        Ok(match measure {
            Measure::LegS => {
                Projector::Legs(LegsProjector::new(n, LegsRule::Bilinear)?)
            }
            Measure::LegT => Projector::Lti(LtiProjector::new(
                &legt_lmu(n, 1.0)?,
                DT,
                Rule::Bilinear,
            )?),
            Measure::LagT => {
                Projector::Lti(LtiProjector::new(&lagt(n)?, DT, Rule::Bilinear)?)
            }
            Measure::FouT => {
                Projector::Lti(LtiProjector::new(&fout(n)?, DT, Rule::Bilinear)?)
            }
        })
    }

    fn update(&mut self, f: f64) -> ssm_lineage::Result<()> {
        match self {
            Projector::Legs(p) => p.update(f),
            Projector::Lti(p) => p.update(f),
        }
    }

    fn coefficients(&self) -> &DVector<f64> {
        match self {
            Projector::Legs(p) => p.coefficients(),
            Projector::Lti(p) => p.coefficients(),
        }
    }
}

/// The history the coefficients `c` of `measure` remember at time `now`, as
/// (time, value) points over the measure's window (LagT: the whole past).
pub fn read_back(measure: Measure, c: &DVector<f64>, now: f64) -> Vec<(f64, f64)> {
    let fractions = |count: usize| -> Vec<f64> {
        (0..=count).map(|j| j as f64 / count as f64).collect()
    };
    let (times, values): (Vec<f64>, Vec<f64>) = match measure {
        Measure::LegS => {
            let grid = fractions(300);
            let rec = reconstruct_legs(c, &grid);
            (grid.iter().map(|v| v * now).collect(), rec)
        }
        Measure::LegT => {
            let grid = fractions(200);
            let rec = reconstruct_legt_lmu(c, &grid);
            (grid.iter().map(|v| now - 1.0 + v).collect(), rec)
        }
        Measure::LagT => {
            let lags: Vec<f64> = fractions(300).iter().map(|v| v * now).collect();
            let rec = reconstruct_lagt(c, &lags);
            (lags.iter().map(|s| now - s).collect(), rec)
        }
        Measure::FouT => {
            let lags: Vec<f64> = (0..200).map(|j| j as f64 * 2.0 / 200.0).collect();
            let rec = reconstruct_fout(c, &lags);
            (lags.iter().map(|s| now - s).collect(), rec)
        }
    };
    times.into_iter().zip(values).collect()
}

/// What the state remembers at `now` and at `LATER · now`: the history is
/// fed sample by sample (step [`DT`]) once, and the coefficients are read at
/// both moments.
///
/// # Errors
/// An N the measure rejects (0; odd for FouT is allowed by the crate), a
/// time that is not finite and positive.
pub fn remembered(
    measure: Measure,
    n: usize,
    history: History,
    now: f64,
) -> ssm_lineage::Result<[Vec<(f64, f64)>; 2]> {
    if !(now.is_finite() && now > 0.0 && now <= 10.0) {
        return Err(ssm_lineage::Error::invalid("now", now, "in (0, 10]"));
    }
    if n > MAX_N {
        return Err(ssm_lineage::Error::invalid("n", n, "at most 32 here"));
    }
    let f = history.signal();
    let mut p = Projector::new(measure, n)?;
    let first = (now / DT).round() as usize;
    let last = (LATER * now / DT).round() as usize;
    let mut at_now = DVector::zeros(n);
    for k in 1..=last {
        p.update(f(k as f64 * DT))?;
        if k == first {
            at_now = p.coefficients().clone();
        }
    }
    Ok([
        read_back(measure, &at_now, first as f64 * DT),
        read_back(measure, p.coefficients(), last as f64 * DT),
    ])
}

/// The mean squared difference between a reconstruction and the history.
pub fn mse(points: &[(f64, f64)], f: &dyn Fn(f64) -> f64) -> f64 {
    points.iter().map(|&(t, v)| (v - f(t)).powi(2)).sum::<f64>()
        / points.len().max(1) as f64
}

/// The widget: the history and what the state remembers of it at `now` and
/// at `LATER · now`. Numbers: `mse_now`, `mse_later` (over each window).
pub fn reconstruction(
    measure: Measure,
    n: usize,
    history: History,
    now: f64,
) -> Widget {
    match draw(measure, n, history, now) {
        Ok(w) => w,
        Err(e) => Widget::message(&e.to_string()),
    }
}

fn draw(
    measure: Measure,
    n: usize,
    history: History,
    now: f64,
) -> ssm_lineage::Result<Widget> {
    let [early, late] = remembered(measure, n, history, now)?;
    let f = history.signal();
    let end = LATER * now;
    let signal = (0..=400)
        .map(|j| {
            let t = j as f64 * end / 400.0;
            (t, f(t))
        })
        .collect();
    let (mse_now, mse_later) = (mse(&early, &f), mse(&late, &f));
    let plot = LinePlot::new(
        &format!("{}, N = {n}", measure.name()),
        "time (time units)",
        "signal",
    )
    .line("history", signal)
    .dashed(&format!("remembered at t = {now:.2}"), early)
    .dashed(&format!("remembered at t = {end:.2}"), late);
    Ok(Widget {
        svg: grid_to_svg(&[plot], 1)?,
        numbers: vec![("mse_now".into(), mse_now), ("mse_later".into(), mse_later)],
    })
}

/// The page's call: `ch03_hippo("legt" | "lagt" | "legs" | "fout", N,
/// "step" | "sine" | "ramp" | "noise", t)` → the widget as JSON.
#[wasm_bindgen]
pub fn ch03_hippo(measure: &str, n: usize, history: &str, now: f64) -> String {
    reconstruction(Measure::parse(measure), n, History::parse(history), now)
        .to_json()
}

/// The page reads the number at full precision; the wasm build's libm
/// (exp, tanh, sin) may differ from the native one in the last bit, which
/// these computations amplify far less than a millionfold.
const PLATFORM: f64 = 1e-6;

/// This chapter's browser-check cases: the measure switched to LegT (the
/// page's other controls at their defaults: N = 32, the noise, t = 2) must
/// show the native error now.
pub fn cases() -> Vec<BrowserCase> {
    let w = reconstruction(Measure::LegT, 32, History::Noise, 2.0);
    let e = w.number("mse_now").unwrap_or(f64::NAN);
    vec![BrowserCase {
        widget: "ch03-hippo",
        control: "ch03-hippo-measure",
        value: "legt".into(),
        number: "mse_now",
        expected: e,
        tolerance: PLATFORM * e.abs(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run` and `update` take the same steps, in a different order of
    /// operations: agreement to a few hundred roundings of values below 10.
    const SAME_STEPS: f64 = 1e-12;

    #[test]
    fn the_widget_reads_back_the_crates_projection() {
        // The static figure's path: every sample fed with run(), then
        // reconstruct at the end.
        let f = History::Sine.signal();
        let now = 1.5;
        let steps = (now / DT).round() as usize;
        let samples: Vec<f64> = (1..=steps).map(|k| f(k as f64 * DT)).collect();
        let mut q =
            LtiProjector::new(&lagt(16).unwrap(), DT, Rule::Bilinear).unwrap();
        q.run(&samples).unwrap();
        let [early, _] = remembered(Measure::LagT, 16, History::Sine, now).unwrap();
        let lags: Vec<f64> = early.iter().map(|(t, _)| now - t).collect();
        let want = reconstruct_lagt(q.coefficients(), &lags);
        for ((_, got), want) in early.iter().zip(want) {
            assert!((got - want).abs() < SAME_STEPS, "{got} vs {want}");
        }
    }

    #[test]
    fn more_coefficients_remember_the_noise_better() {
        for measure in [Measure::LegS, Measure::LegT, Measure::FouT] {
            let small = reconstruction(measure, 4, History::Noise, 2.0);
            let large = reconstruction(measure, 32, History::Noise, 2.0);
            let (a, b) = (small.number("mse_now"), large.number("mse_now"));
            assert!(b < a, "{measure:?}: N = 32 {b:?} vs N = 4 {a:?}");
        }
    }

    #[test]
    fn legs_keeps_all_the_past_legt_only_its_window() {
        // The step at t = 1: at t = 4, LegT's window [3, 4] is flat and
        // exact; LegS must spread N = 16 polynomials over [0, 4] and blurs
        // the jump, so its error is larger, but it still sees the step.
        let legt = remembered(Measure::LegT, 16, History::Step, 2.0).unwrap();
        let legs = remembered(Measure::LegS, 16, History::Step, 2.0).unwrap();
        let f = History::Step.signal();
        assert!(mse(&legt[1], &f) < mse(&legs[1], &f));
        let early_part: Vec<f64> = legs[1]
            .iter()
            .filter(|(t, _)| *t < 0.8)
            .map(|p| p.1)
            .collect();
        let mean = early_part.iter().sum::<f64>() / early_part.len() as f64;
        assert!(mean.abs() < 0.2, "LegS before the step: {mean}");
    }

    #[test]
    fn bad_parameters_show_a_message_and_the_case_a_number() {
        assert!(
            reconstruction(Measure::LegS, 0, History::Ramp, 1.0)
                .numbers
                .is_empty()
        );
        assert!(
            reconstruction(Measure::LegS, 8, History::Ramp, -1.0)
                .numbers
                .is_empty()
        );
        let case = &cases()[0];
        assert!(case.expected.is_finite() && case.expected > 0.0);
        assert!(ch03_hippo("fout", 8, "ramp", 1.0).contains("mse_later"));
    }
}
