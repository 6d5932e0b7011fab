//! The drawing of chapter 9's worked backward pass: a scalar linear
//! recurrence of three steps unrolled, the forward states left to right,
//! the adjoints right to left, and the gradients read off at each step.
//!
//! Plain drawing: it takes the numbers to print and knows nothing of the
//! scan that computed them (`support` uses no chapter module). Drawn in the
//! book's style ([`PALETTE`] on a white card, text ≥ 12 px at the book's
//! 760 px column).

use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::PALETTE;
use crate::error::{Error, Result};

/// A drawing area of the SVG.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// A point in SVG pixels, `y` downwards.
type Point = (i32, i32);

/// The size of the drawing, in SVG pixels.
pub const SIZE: (u32, u32) = (760, 560);

/// The x of the centre of column `t` (t = 0, …, 3).
fn column(t: usize) -> i32 {
    90 + 180 * t as i32
}

/// The rows: inputs of the forward pass, states, inputs of the adjoints,
/// adjoints, and the top of the read-off panels.
const ROW_IN: i32 = 62;
const ROW_H: i32 = 130;
const ROW_DY: i32 = 232;
const ROW_DH: i32 = 296;
const ROW_READ: i32 = 352;

/// Half the width and half the height of a state's box.
const BOX: (i32, i32) = (66, 18);

/// Font sizes in SVG pixels.
const TEXT: u32 = 15;
const SMALL: u32 = 13;

/// The colours: forward (blue), adjoint (vermillion), read-off (green).
const FORWARD: RGBColor = PALETTE[0];
const ADJOINT: RGBColor = PALETTE[1];
const READ: RGBColor = PALETTE[2];
const INK: RGBColor = RGBColor(40, 40, 40);

/// `t` as subscript digits: 3 → "₃".
pub fn subscript(t: usize) -> String {
    t.to_string()
        .chars()
        .map(|c| {
            let digit = c.to_digit(10).unwrap_or(0);
            char::from_u32(0x2080 + digit).unwrap_or(c)
        })
        .collect()
}

/// A number with four decimals and a true minus sign.
fn num(v: f64) -> String {
    let text = format!("{v:.4}");
    let text = if text == "-0.0000" { "0.0000" } else { &text };
    text.replace('-', "−")
}

/// The labels of the read-off panel of step `t`: which gradient is read off
/// which adjoint and which states.
pub fn read_off_labels(t: usize) -> [String; 5] {
    let (s, p) = (subscript(t), subscript(t - 1));
    [
        format!("∂C{s} = ∂y{s} h{s}"),
        format!("∂B{s} = ∂h{s} Δ{s} u{s}"),
        format!("∂u{s} = ∂h{s} B̄{s}"),
        format!("∂Δ{s} = ∂h{s}(AĀ{s}h{p} + B{s}u{s})"),
        format!("∂A += ∂h{s} Δ{s} Ā{s} h{p}"),
    ]
}

/// The SVG of the unrolled backward pass for L = 3, printing the states
/// `h` $= (h_0, \dots, h_3)$ and the adjoints `dh` $= (\partial h_1, \dots,
/// \partial h_3)$ in their boxes.
///
/// # Errors
/// [`Error::Output`] if plotters fails to draw.
pub fn backward_unrolled_svg(h: &[f64; 4], dh: &[f64; 3]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, h, dh).map_err(|reason| Error::Output {
            path: "(an SVG string)".into(),
            reason,
        })?;
    }
    Ok(svg)
}

/// [`backward_unrolled_svg`] written to `path`, creating its folder.
///
/// # Errors
/// [`Error::Output`] if the folder or file cannot be written.
pub fn save_backward_unrolled(
    path: &Path,
    h: &[f64; 4],
    dh: &[f64; 3],
) -> Result<()> {
    let fail = |reason: String| Error::Output {
        path: path.into(),
        reason,
    };
    let svg = backward_unrolled_svg(h, dh).map_err(|e| fail(e.to_string()))?;
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|e| fail(e.to_string()))?;
    }
    std::fs::write(path, svg).map_err(|e| fail(e.to_string()))
}

type Drawn = std::result::Result<(), String>;

fn draw(root: &Area<'_>, h: &[f64; 4], dh: &[f64; 3]) -> Drawn {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let title = "The selective scan's backward pass, unrolled for L = 3";
    text(
        root,
        title,
        (380, 12),
        18,
        BLACK,
        Pos::new(HPos::Center, VPos::Top),
    )?;
    // The forward pass, left to right.
    let left = Pos::new(HPos::Left, VPos::Center);
    text(root, "forward →", (20, ROW_IN), TEXT, FORWARD, left)?;
    for (t, &value) in h.iter().enumerate() {
        let label = format!("h{} = {}", subscript(t), num(value));
        state_box(root, (column(t), ROW_H), &label, FORWARD)?;
        if t == 0 {
            continue;
        }
        let s = subscript(t);
        let from = (column(t - 1) + BOX.0, ROW_H);
        let to = (column(t) - BOX.0, ROW_H);
        arrow(root, from, to, FORWARD, &format!("× Ā{s}"), true)?;
        let input = (column(t), ROW_IN + 10);
        arrow(root, input, (column(t), ROW_H - BOX.1), FORWARD, "", true)?;
        let above = Pos::new(HPos::Center, VPos::Bottom);
        text(root, &format!("+ B̄{s}u{s}"), input, TEXT, FORWARD, above)?;
    }
    // The adjoints, right to left: ∂h₄ = 0.
    text(root, "adjoint ←", (20, ROW_DY), TEXT, ADJOINT, left)?;
    let right = Pos::new(HPos::Left, VPos::Center);
    for t in (1..=3).rev() {
        let s = subscript(t);
        let label = format!("∂h{s} = {}", num(dh[t - 1]));
        state_box(root, (column(t), ROW_DH), &label, ADJOINT)?;
        let input = (column(t), ROW_DY + 10);
        arrow(root, input, (column(t), ROW_DH - BOX.1), ADJOINT, "", true)?;
        let above = Pos::new(HPos::Center, VPos::Bottom);
        text(root, &format!("+ C{s}∂y{s}"), input, TEXT, ADJOINT, above)?;
        if t < 3 {
            let next = subscript(t + 1);
            let from = (column(t + 1) - BOX.0, ROW_DH);
            let to = (column(t) + BOX.0, ROW_DH);
            arrow(root, from, to, ADJOINT, &format!("× Ā{next}"), true)?;
        }
    }
    let after = (column(3) + BOX.0 + 6, ROW_DH);
    text(root, "∂h₄ = 0", after, SMALL, ADJOINT, right)?;
    // The read-off at each step: the adjoint of the step and its states.
    text(root, "read off", (20, ROW_READ + 40), TEXT, READ, left)?;
    text(root, "at each", (20, ROW_READ + 60), TEXT, READ, left)?;
    text(root, "step", (20, ROW_READ + 80), TEXT, READ, left)?;
    for t in 1..=3 {
        read_off_panel(root, t)?;
    }
    legend(root)
}

fn read_off_panel(root: &Area<'_>, t: usize) -> Drawn {
    let (x, top) = (column(t), ROW_READ);
    let half = 86;
    let from = (x, ROW_DH + BOX.1);
    arrow(root, from, (x, top), READ, "", false)?;
    let corners = [(x - half, top), (x + half, top + 5 * 22 + 14)];
    root.draw(&Rectangle::new(corners, READ.mix(0.08).filled()))
        .map_err(|e| e.to_string())?;
    root.draw(&Rectangle::new(corners, READ.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    let pos = Pos::new(HPos::Left, VPos::Center);
    for (i, line) in read_off_labels(t).iter().enumerate() {
        let at = (x - half + 8, top + 18 + 22 * i as i32);
        text(root, line, at, SMALL, INK, pos)?;
    }
    Ok(())
}

fn legend(root: &Area<'_>) -> Drawn {
    let rows = [
        (FORWARD, "forward: hₜ = Āₜ hₜ₋₁ + B̄ₜ uₜ, from h₀ = 0"),
        (ADJOINT, "adjoint: ∂hₜ = Cₜ ∂yₜ + Āₜ₊₁ ∂hₜ₊₁, from ∂h₄ = 0"),
        (READ, "gradients: read off ∂hₜ and the states hₜ₋₁, hₜ"),
    ];
    let pos = Pos::new(HPos::Left, VPos::Center);
    for (i, (color, label)) in rows.iter().enumerate() {
        let y = SIZE.1 as i32 - 70 + 22 * i as i32;
        let swatch = [(150, y - 7), (168, y + 7)];
        root.draw(&Rectangle::new(swatch, color.filled()))
            .map_err(|e| e.to_string())?;
        text(root, label, (178, y), SMALL, INK, pos)?;
    }
    Ok(())
}

fn state_box(root: &Area<'_>, (x, y): Point, label: &str, color: RGBColor) -> Drawn {
    let corners = [(x - BOX.0, y - BOX.1), (x + BOX.0, y + BOX.1)];
    root.draw(&Rectangle::new(corners, color.mix(0.1).filled()))
        .map_err(|e| e.to_string())?;
    root.draw(&Rectangle::new(corners, color.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    let centre = Pos::new(HPos::Center, VPos::Center);
    text(root, label, (x, y), TEXT, BLACK, centre)
}

/// A line from `from` to `to` with a head at `to`, and `label` beside its
/// middle (above a horizontal arrow), solid or dashed.
fn arrow(
    root: &Area<'_>,
    from: Point,
    to: Point,
    color: RGBColor,
    label: &str,
    solid: bool,
) -> Drawn {
    let (dx, dy) = ((to.0 - from.0) as f64, (to.1 - from.1) as f64);
    let length = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / length, dy / length);
    let back = |d: f64, side: f64| {
        (
            to.0 - (ux * d - uy * side).round() as i32,
            to.1 - (uy * d + ux * side).round() as i32,
        )
    };
    let shaft_end = back(9.0, 0.0);
    if solid {
        root.draw(&PathElement::new(
            vec![from, shaft_end],
            color.stroke_width(2),
        ))
    } else {
        root.draw(&DashedPathElement::new(
            vec![from, shaft_end],
            5,
            4,
            color.stroke_width(2),
        ))
    }
    .map_err(|e| e.to_string())?;
    let head = vec![to, back(11.0, 5.0), back(11.0, -5.0)];
    root.draw(&Polygon::new(head, color.filled()))
        .map_err(|e| e.to_string())?;
    if !label.is_empty() {
        let mid = ((from.0 + to.0) / 2, (from.1 + to.1) / 2 - 6);
        let above = Pos::new(HPos::Center, VPos::Bottom);
        text(root, label, mid, TEXT, color, above)?;
    }
    Ok(())
}

fn text(
    root: &Area<'_>,
    label: &str,
    at: Point,
    size: u32,
    color: RGBColor,
    pos: Pos,
) -> Drawn {
    let font = ("sans-serif", size).into_font().color(&color).pos(pos);
    root.draw(&Text::new(label, at, font))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscripts_are_unicode_digits() {
        assert_eq!(subscript(3), "₃");
        assert_eq!(subscript(10), "₁₀");
    }

    #[test]
    fn numbers_use_a_true_minus_and_no_negative_zero() {
        assert_eq!(num(-0.5), "−0.5000");
        assert_eq!(num(-1e-9), "0.0000");
    }
}
