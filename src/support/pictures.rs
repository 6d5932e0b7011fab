//! Pictures that are not charts: a synthetic task's sequence as a strip of
//! coloured tokens, and a scan's schedule as rows of boxes joined by arrows.
//!
//! Written as SVG by hand, in the style of [`super::figure`] (a white card,
//! the Okabe–Ito [`PALETTE`](super::figure::PALETTE), sans-serif text of at least 11 px in a 760 px
//! column), so that every drawn datum can carry `data-*` attributes: a test
//! reads back from the file exactly which tokens or values a picture shows
//! ([`data_values`]).

use std::fmt::Write as _;
use std::path::Path;

use plotters::style::RGBColor;

use crate::error::{Error, Result};

/// The width of every picture, in SVG pixels (the book's column).
pub const WIDTH: f64 = 760.0;

/// The smallest font of a picture, in SVG pixels.
pub const SMALL_FONT: f64 = 12.0;

/// A colour as SVG writes it, `#rrggbb`.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// `c` mixed with white: `amount` 0 is `c`, 1 is white (light fills).
pub fn lighten(c: RGBColor, amount: f64) -> RGBColor {
    let mix = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * amount).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// Black or white, whichever reads better on `fill`.
pub(crate) fn ink(fill: RGBColor) -> &'static str {
    let luma = 0.299 * f64::from(fill.0)
        + 0.587 * f64::from(fill.1)
        + 0.114 * f64::from(fill.2);
    if luma > 150.0 { "#000000" } else { "#ffffff" }
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG picture on a white card, built element by element.
#[derive(Debug, Clone)]
pub struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    /// An empty white card of `width × height` SVG pixels.
    pub fn new(width: f64, height: f64) -> Self {
        let mut svg = Svg {
            width,
            height,
            body: String::new(),
        };
        svg.rect((0.0, 0.0), (width, height), "#ffffff", "none", "");
        svg
    }

    /// A rectangle with its top-left corner at `at`; `data` is inserted as
    /// attributes (e.g. `data-t="3"`), or empty.
    pub fn rect(
        &mut self,
        at: (f64, f64),
        size: (f64, f64),
        fill: &str,
        stroke: &str,
        data: &str,
    ) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="1.5" {data}/>"#,
            at.0, at.1, size.0, size.1
        );
    }

    /// Text centred at `at` (`anchor` "middle"), or starting ("start") or
    /// ending ("end") there, vertically centred on `at.1`.
    pub fn text(
        &mut self,
        at: (f64, f64),
        size: f64,
        anchor: &str,
        colour: &str,
        text: &str,
    ) {
        let _ = writeln!(
            self.body,
            r#"<text x="{:.1}" y="{:.1}" font-family="sans-serif" font-size="{size:.0}" text-anchor="{anchor}" dominant-baseline="central" fill="{colour}">{}</text>"#,
            at.0,
            at.1,
            escape(text)
        );
    }

    /// A straight line, solid or dashed.
    pub fn line(
        &mut self,
        from: (f64, f64),
        to: (f64, f64),
        colour: &str,
        width: f64,
        dashed: bool,
    ) {
        let dash = if dashed {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = writeln!(
            self.body,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="{width}"{dash}/>"#,
            from.0, from.1, to.0, to.1
        );
    }

    /// A line from `from` to `to` ending in a filled arrowhead at `to`.
    pub fn arrow(
        &mut self,
        from: (f64, f64),
        to: (f64, f64),
        colour: &str,
        width: f64,
    ) {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let len = dx.hypot(dy).max(1e-9);
        let (ux, uy) = (dx / len, dy / len);
        let head = 5.0 + 2.0 * width;
        let base = (to.0 - ux * head, to.1 - uy * head);
        self.line(from, base, colour, width, false);
        let half = head * 0.45;
        let _ = writeln!(
            self.body,
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
            to.0,
            to.1,
            base.0 - uy * half,
            base.1 + ux * half,
            base.0 + uy * half,
            base.1 - ux * half
        );
    }

    /// A polyline through `points`; `data` is inserted as attributes.
    pub fn polyline(
        &mut self,
        points: &[(f64, f64)],
        colour: &str,
        width: f64,
        data: &str,
    ) {
        let mut list = String::new();
        for (x, y) in points {
            let _ = write!(list, "{x:.1},{y:.1} ");
        }
        let _ = writeln!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="{width}" {data}/>"#,
            list.trim_end()
        );
    }

    /// An empty group carrying `data` as attributes: what the picture was
    /// drawn from (a task's settings and seed), for a test to read back.
    pub fn meta(&mut self, data: &str) {
        let _ = writeln!(self.body, "<g {data}></g>");
    }

    /// A legend row at `at`: a swatch and a name per entry, left to right;
    /// returns the x where it ends.
    pub fn legend(
        &mut self,
        at: (f64, f64),
        entries: &[(String, String, String)],
    ) -> f64 {
        let mut x = at.0;
        for (name, fill, stroke) in entries {
            self.rect((x, at.1 - 8.0), (16.0, 16.0), fill, stroke, "");
            self.text((x + 22.0, at.1), 13.0, "start", "#000000", name);
            x += 22.0 + 7.2 * name.chars().count() as f64 + 18.0;
        }
        x
    }

    /// The SVG document.
    pub fn to_svg(&self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\">\n{}</svg>\n",
            self.body,
            w = self.width,
            h = self.height
        )
    }

    /// Writes the SVG document to `path`, creating its folder if needed.
    ///
    /// # Errors
    /// [`Error::Output`] if the folder or the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let fail = |e: std::io::Error| Error::Output {
            path: path.into(),
            reason: e.to_string(),
        };
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(fail)?;
        }
        std::fs::write(path, self.to_svg()).map_err(fail)
    }
}

/// What one kind of token means, and its colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Kind {
    /// The legend entry.
    pub name: String,
    /// The cell's fill.
    pub colour: RGBColor,
}

/// The values of attribute `key` on every element of `svg` that also has
/// `filter` (e.g. `data-strip="input"`), in document order: what a test
/// reads back from a picture.
pub fn data_values(svg: &str, filter: &str, key: &str) -> Vec<String> {
    let pattern = format!("{key}=\"");
    svg.lines()
        .filter(|line| line.contains(filter))
        .filter_map(|line| {
            let start = line.find(&pattern)? + pattern.len();
            let end = line[start..].find('"')? + start;
            Some(line[start..end].to_string())
        })
        .collect()
}

mod schedule;
mod strips;

pub use schedule::{Edge, Node, Schedule, draw_schedule, schedule_height};
pub use strips::{Cell, Strip, token_strips};

/// Two kinds for the unit tests of the drawings.
#[cfg(test)]
fn test_kinds() -> Vec<Kind> {
    use super::figure::PALETTE;
    vec![
        Kind {
            name: "data".into(),
            colour: PALETTE[0],
        },
        Kind {
            name: "blank".into(),
            colour: lighten(PALETTE[6], 0.9),
        },
    ]
}
