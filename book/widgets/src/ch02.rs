//! Chapter 2's widget: the step Δ and the discretization rule. The page
//! shows the input $u(t) = \sin 1.5t$ and the staircase zero-order hold makes
//! of it, the system's continuous response to that staircase
//! ([`continuous_response`], Eq. (L11)) with the chosen rule's recurrence
//! sampled on it, and where every rule sends the eigenvalues of $A$ against
//! the unit circle: the generalisation of `chapters/figures/ch02/
//! discretization.svg` and `stability.svg`, on the same damped mass-spring.

use nalgebra::{DMatrix, DVector};
use ssm_lineage::lssl::views::continuous_response;
use ssm_lineage::lssl::{DiscreteSsm, Rule, Ssm, discretize};
use ssm_lineage::support::figure::{LinePlot, grid_to_svg};
use wasm_bindgen::prelude::wasm_bindgen;

use crate::{BrowserCase, Widget};

/// The time the input is drawn over, in seconds.
pub const T: f64 = 8.0;
/// The input's angular frequency, $u(t) = \sin(\omega t)$.
pub const OMEGA: f64 = 1.5;
/// The steps the page offers, in seconds.
pub const DT_RANGE: (f64, f64) = (0.05, 2.0);
/// Points of the continuous response drawn per step.
const SUBSTEPS: usize = 24;

/// The damped mass-spring of chapter 2's figures: $\ddot p = -4p - 0.4\dot p
/// + u$, output the position.
///
/// # Errors
/// None in practice (the matrices are valid); as [`Ssm::new`].
pub fn mass_spring() -> ssm_lineage::Result<Ssm> {
    let a = DMatrix::from_row_slice(2, 2, &[0.0, 1.0, -4.0, -0.4]);
    Ssm::new(
        a,
        DVector::from_vec(vec![0.0, 1.0]),
        DVector::from_vec(vec![1.0, 0.0]),
        0.0,
    )
}

/// The key of a rule's spectral radius: `radius_zoh`, `radius_bilinear`, …
pub fn radius_key(rule: Rule) -> String {
    format!("radius_{}", rule.name().replace(' ', "_").to_lowercase())
}

/// The largest $|\bar\lambda|$ of a discretized system.
pub fn spectral_radius(disc: &DiscreteSsm) -> f64 {
    disc.eigenvalues()
        .iter()
        .map(|l| l.norm())
        .fold(0.0, f64::max)
}

/// The rule's recurrence driven by the held samples $u_k = u(k\Delta)$: the
/// output after each step, at $t = (k + 1)\Delta$.
fn recurrence(disc: &DiscreteSsm, u: &[f64]) -> Vec<(f64, f64)> {
    let mut x = DVector::zeros(disc.n());
    u.iter()
        .enumerate()
        .map(|(k, &u_k)| {
            x = &disc.a_bar * &x + &disc.b_bar * u_k;
            ((k + 1) as f64 * disc.dt, disc.c.dot(&x) + disc.d * u_k)
        })
        .collect()
}

/// The widget for step `dt` and rule `Rule::ALL[rule]`: its drawing, each
/// rule's spectral radius ([`radius_key`]) and `sample_error`, the largest
/// distance between the chosen rule's outputs and the continuous response
/// to the staircase at the same times (zero, to rounding, for ZOH only).
pub fn zoh(dt: f64, rule: usize) -> Widget {
    match draw(dt, rule) {
        Ok(widget) => widget,
        Err(e) => Widget::message(&e),
    }
}

fn draw(dt: f64, rule: usize) -> Result<Widget, String> {
    let Some(&chosen) = Rule::ALL.get(rule) else {
        return Err(format!("no rule {rule}: 0 to {}", Rule::ALL.len() - 1));
    };
    if !(DT_RANGE.0..=DT_RANGE.1).contains(&dt) {
        return Err(format!("Δ = {dt}: from {} to {} s", DT_RANGE.0, DT_RANGE.1));
    }
    let ssm = mass_spring().map_err(|e| e.to_string())?;
    let steps = (T / dt).floor() as usize;
    let u: Vec<f64> = (0..steps).map(|k| (OMEGA * k as f64 * dt).sin()).collect();
    let response =
        continuous_response(&ssm, &u, dt, SUBSTEPS).map_err(|e| e.to_string())?;
    let disc = discretize(&ssm, dt, chosen).map_err(|e| e.to_string())?;
    let samples = recurrence(&disc, &u);
    let sample_error = samples
        .iter()
        .enumerate()
        .map(|(k, &(_, y))| (y - response[(k + 1) * SUBSTEPS - 1].1).abs())
        .fold(0.0, f64::max);
    let staircase: Vec<(f64, f64)> = u
        .iter()
        .enumerate()
        .flat_map(|(k, &v)| [(k as f64 * dt, v), ((k + 1) as f64 * dt, v)])
        .collect();
    let smooth = (0..=400)
        .map(|i| {
            let t = T * f64::from(i) / 400.0;
            (t, (OMEGA * t).sin())
        })
        .collect();
    let input = LinePlot::new("The input, and what ZOH holds", "time t (s)", "u(t)")
        .line("u(t) = sin(1.5 t)", smooth)
        .line(&format!("held, Δ = {dt}"), staircase);
    let mut response_points = vec![(0.0, 0.0)];
    response_points.extend(response);
    let output = LinePlot::new("The output", "time t (s)", "y(t)")
        .line("response to the staircase", response_points)
        .points(&format!("{} recurrence", chosen.name()), samples);
    let mut numbers = Vec::new();
    let mut circle =
        LinePlot::new(&format!("Eigenvalues of Ā at Δ = {dt}"), "Re λ̄", "Im λ̄")
            .dashed(
                "unit circle",
                (0..=120)
                    .map(|i| {
                        let th = std::f64::consts::TAU * f64::from(i) / 120.0;
                        (th.cos(), th.sin())
                    })
                    .collect(),
            );
    let mut reach: f64 = 1.1;
    for rule in Rule::ALL {
        let disc = discretize(&ssm, dt, rule).map_err(|e| e.to_string())?;
        let eigs = disc.eigenvalues();
        let radius = spectral_radius(&disc);
        reach = reach.max(radius * 1.1);
        numbers.push((radius_key(rule), radius));
        circle = circle.points(
            &format!("{}: |λ̄| = {radius:.3}", rule.name()),
            eigs.iter().map(|l| (l.re, l.im)).collect(),
        );
    }
    // Room above the points for the legend (5 of its lines take about 0.44
    // of the panel's height), and the x span in the plot area's proportions
    // (about 284 × 243 px in a 2 × 2 grid) so that the circle is round.
    let (below, span) = (-1.05 * reach, 2.1 * reach / (1.0 - 0.44));
    let half_width = span * 284.0 / 243.0 / 2.0;
    let circle = circle.ranges(-half_width..half_width, below..below + span);
    numbers.push(("sample_error".into(), sample_error));
    let svg = grid_to_svg(&[input, output, circle], 2).map_err(|e| e.to_string())?;
    Ok(Widget { svg, numbers })
}

/// [`zoh`] for the page, as JSON.
#[wasm_bindgen]
pub fn ch02_zoh(dt: f64, rule: u32) -> String {
    zoh(dt, rule as usize).to_json()
}

/// The browser check's cases: Δ = 1 with the bilinear rule (index 2), as
/// the page's `data-test-value`s say. The tolerance allows the browser's
/// `exp`, `sin` and `cos` to differ from the native ones in the last bits.
pub fn cases() -> Vec<BrowserCase> {
    let widget = zoh(1.0, 2);
    let case = |control, value: &str, number: &'static str| BrowserCase {
        widget: "ch02-zoh",
        control,
        value: value.into(),
        number,
        expected: widget.number(number).unwrap_or(f64::NAN),
        tolerance: 1e-12,
    };
    vec![
        case("ch02-zoh-dt", "1", "radius_forward_euler"),
        case("ch02-zoh-rule", "2", "sample_error"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ZOH's recurrence is exact for the staircase: rounding over 160 steps
    /// of outputs of order 0.3.
    const EXACT: f64 = 1e-12;

    #[test]
    fn each_radius_is_that_rules_largest_eigenvalue() {
        let ssm = mass_spring().expect("valid");
        for dt in [0.05, 0.5, 1.0, 2.0] {
            let w = zoh(dt, 3);
            for rule in Rule::ALL {
                let disc = discretize(&ssm, dt, rule).expect("valid");
                let radius = disc
                    .eigenvalues()
                    .iter()
                    .map(|l| l.norm())
                    .fold(0.0, f64::max);
                assert_eq!(w.number(&radius_key(rule)), Some(radius));
            }
            // Forward Euler's |1 + Δλ|² = 1 + 2Δ Re λ + Δ²|λ|² leaves the
            // unit disk once Δ > −2 Re λ / |λ|² = 0.4 / 4 = 0.1 (λ of A has
            // Re λ = −0.2, |λ|² = 4); the others stay inside at every Δ.
            let euler = w.number("radius_forward_euler").expect("shown");
            assert_eq!(euler > 1.0, dt > 0.1, "Δ {dt}: {euler}");
            for key in ["radius_backward_euler", "radius_bilinear", "radius_zoh"] {
                assert!(w.number(key).expect("shown") < 1.0, "{key} at {dt}");
            }
        }
    }

    #[test]
    fn only_zoh_samples_lie_on_the_staircase_response() {
        for dt in [0.05, 0.35, 1.0, 2.0] {
            let zoh_error = zoh(dt, 3).number("sample_error").expect("shown");
            assert!(zoh_error < EXACT, "Δ {dt}: {zoh_error}");
            for rule in 0..3 {
                let e = zoh(dt, rule).number("sample_error").expect("shown");
                assert!(e > 1e3 * EXACT, "rule {rule} at Δ {dt}: {e}");
            }
        }
    }

    #[test]
    fn the_drawing_follows_the_step_and_the_rule() {
        let w = zoh(0.5, 3);
        assert!(w.svg.starts_with("<svg"));
        assert_ne!(w.svg, zoh(1.0, 3).svg);
        assert_ne!(w.svg, zoh(0.5, 2).svg);
    }

    #[test]
    fn parameters_outside_the_page_are_a_message() {
        for (dt, rule) in [(0.0, 3), (f64::NAN, 3), (3.0, 3), (0.5, 4)] {
            let w = zoh(dt, rule);
            assert!(w.numbers.is_empty(), "{dt} {rule}");
        }
    }

    #[test]
    fn the_browser_cases_are_the_widgets_numbers() {
        let w = zoh(1.0, 2);
        for case in cases() {
            assert_eq!(Some(case.expected), w.number(case.number));
        }
    }
}
