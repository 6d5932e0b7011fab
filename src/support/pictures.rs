//! Pictures that are not charts: a synthetic task's sequence as a strip of
//! coloured tokens, and a scan's schedule as rows of boxes joined by arrows.
//!
//! Written as SVG by hand, in the style of [`super::figure`] (a white card,
//! the Okabe–Ito [`PALETTE`], sans-serif text of at least 11 px in a 760 px
//! column), so that every drawn datum can carry `data-*` attributes: a test
//! reads back from the file exactly which tokens or values a picture shows
//! ([`data_values`]).

use std::fmt::Write as _;
use std::path::Path;

use plotters::style::RGBColor;

use super::figure::PALETTE;
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
fn ink(fill: RGBColor) -> &'static str {
    let luma = 0.299 * f64::from(fill.0)
        + 0.587 * f64::from(fill.1)
        + 0.114 * f64::from(fill.2);
    if luma > 150.0 { "#000000" } else { "#ffffff" }
}

fn escape(text: &str) -> String {
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

/// One token of a strip: its text, its kind (an index into the kinds), and
/// the value a test reads back (`None`: an empty, unscored cell).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The text drawn in the cell.
    pub text: String,
    /// The index of its [`Kind`].
    pub kind: usize,
    /// The token id written as `data-token`, `None` for an empty cell.
    pub token: Option<usize>,
}

/// A named row of tokens (`"input"`, `"target"`), one cell per position.
#[derive(Debug, Clone, PartialEq)]
pub struct Strip {
    /// The row's label, written as `data-strip`.
    pub name: String,
    /// One cell per position.
    pub cells: Vec<Cell>,
}

/// Draws `strips` (all of one length) as rows of coloured cells, wrapped
/// every `per_line` positions, with the position above each line, a legend
/// of `kinds` and a one-line `note` under it. Every non-empty cell carries
/// `data-strip`, `data-t` and `data-token`.
pub fn token_strips(
    title: &str,
    note: &str,
    strips: &[Strip],
    kinds: &[Kind],
    per_line: usize,
) -> Svg {
    let len = strips.iter().map(|s| s.cells.len()).max().unwrap_or(0);
    let per_line = per_line.clamp(1, len.max(1));
    let lines = len.div_ceil(per_line);
    let (left, cell, row) = (64.0, (WIDTH - 64.0 - 14.0) / per_line as f64, 26.0);
    let block = 18.0 + row * strips.len() as f64 + 12.0;
    let top = 92.0;
    let mut svg = Svg::new(WIDTH, top + block * lines as f64 + 4.0);
    svg.text((WIDTH / 2.0, 20.0), 18.0, "middle", "#000000", title);
    let entries: Vec<_> = kinds
        .iter()
        .map(|k| (k.name.clone(), hex(k.colour), "#555555".into()))
        .collect();
    svg.legend((14.0, 48.0), &entries);
    svg.text((14.0, 72.0), 13.0, "start", "#333333", note);
    let font = (cell * 0.55).clamp(SMALL_FONT, 15.0);
    for line in 0..lines {
        let y0 = top + block * line as f64;
        for t in (line * per_line..((line + 1) * per_line).min(len)).step_by(4) {
            let x = left + (t - line * per_line) as f64 * cell + cell / 2.0;
            svg.text(
                (x, y0 + 8.0),
                SMALL_FONT,
                "middle",
                "#555555",
                &t.to_string(),
            );
        }
        for (r, strip) in strips.iter().enumerate() {
            let y = y0 + 18.0 + row * r as f64;
            svg.text(
                (left - 8.0, y + row / 2.0),
                13.0,
                "end",
                "#000000",
                &strip.name,
            );
            for t in line * per_line..((line + 1) * per_line).min(strip.cells.len())
            {
                let c = &strip.cells[t];
                let Some(token) = c.token else { continue };
                let fill = kinds.get(c.kind).map_or(PALETTE[6], |k| k.colour);
                let x = left + (t - line * per_line) as f64 * cell;
                let data = format!(
                    r#"data-strip="{}" data-t="{t}" data-token="{token}""#,
                    escape(&strip.name)
                );
                svg.rect(
                    (x + 1.0, y + 1.0),
                    (cell - 2.0, row - 2.0),
                    &hex(fill),
                    "#555555",
                    &data,
                );
                svg.text(
                    (x + cell / 2.0, y + row / 2.0),
                    font,
                    "middle",
                    ink(fill),
                    &c.text,
                );
            }
        }
    }
    svg
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

/// One box of a [`Schedule`]: at a column and a row, with a label, a kind
/// (an index into the kinds) and whether it is highlighted.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The column (a position).
    pub col: usize,
    /// The row (a round of the algorithm).
    pub row: usize,
    /// The text in the box.
    pub label: String,
    /// The index of its [`Kind`].
    pub kind: usize,
    /// Drawn with a thick border: on the highlighted path.
    pub lit: bool,
}

/// An arrow of a [`Schedule`] from node `from` to node `to` (indices). It
/// runs straight down the `from` node's column to the row above `to`, then
/// into `to`, so arrows of one round never cross each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The operand's node.
    pub from: usize,
    /// The result's node.
    pub to: usize,
    /// Drawn thick and black: on the highlighted path.
    pub lit: bool,
}

/// A schedule: rows of boxes (one row per round), arrows from each result's
/// operands, a label per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The panel's title.
    pub title: String,
    /// The number of columns.
    pub columns: usize,
    /// One label per row, drawn at its left.
    pub rows: Vec<String>,
    /// The boxes.
    pub nodes: Vec<Node>,
    /// The arrows.
    pub edges: Vec<Edge>,
}

/// The height a [`Schedule`] panel takes, in SVG pixels.
pub fn schedule_height(s: &Schedule) -> f64 {
    40.0 + 58.0 * s.rows.len() as f64
}

/// Draws `s` into `svg` with its top at `top`; node colours from `kinds`.
/// Every box carries `data-node="label"`, `data-col` and `data-row`.
pub fn draw_schedule(svg: &mut Svg, top: f64, s: &Schedule, kinds: &[Kind]) {
    let (left, pitch) = (150.0, 58.0);
    let col_w = (WIDTH - left - 10.0) / s.columns.max(1) as f64;
    let (bw, bh) = ((col_w - 18.0).min(62.0), 26.0);
    let centre = |n: &Node| {
        (
            left + (n.col as f64 + 0.5) * col_w,
            top + 40.0 + pitch * n.row as f64 + bh / 2.0,
        )
    };
    svg.text((14.0, top + 14.0), 17.0, "start", "#000000", &s.title);
    for (r, label) in s.rows.iter().enumerate() {
        let y = top + 40.0 + pitch * r as f64 + bh / 2.0;
        svg.text((14.0, y), 13.0, "start", "#333333", label);
    }
    // Unlit arrows first, so that the highlighted path is drawn over them.
    let mut edges = s.edges.clone();
    edges.sort_by_key(|e| e.lit);
    for e in &edges {
        let (Some(a), Some(b)) = (s.nodes.get(e.from), s.nodes.get(e.to)) else {
            continue;
        };
        let (from, to) = (centre(a), centre(b));
        let (colour, width) = if e.lit {
            ("#000000", 2.6)
        } else {
            ("#9a9a9a", 1.4)
        };
        // Down the operand's column to just above the result's row, then in.
        let bend = (from.0, to.1 - pitch + bh / 2.0 + 4.0);
        let start = (from.0, from.1 + bh / 2.0);
        if bend.1 > start.1 + 1.0 {
            svg.line(start, bend, colour, width, false);
        }
        let from = if bend.1 > start.1 { bend } else { start };
        let end = if (from.0 - to.0).abs() < 1.0 {
            (to.0, to.1 - bh / 2.0)
        } else {
            let dir = if to.0 > from.0 { -1.0 } else { 1.0 };
            (to.0 + dir * bw / 4.0, to.1 - bh / 2.0)
        };
        svg.arrow(from, end, colour, width);
    }
    for n in &s.nodes {
        let (x, y) = centre(n);
        let fill = kinds.get(n.kind).map_or(PALETTE[6], |k| k.colour);
        let data = format!(
            r#"data-node="{}" data-col="{}" data-row="{}""#,
            escape(&n.label),
            n.col,
            n.row
        );
        let stroke = if n.lit { "#000000" } else { "#777777" };
        svg.rect(
            (x - bw / 2.0, y - bh / 2.0),
            (bw, bh),
            &hex(fill),
            stroke,
            &data,
        );
        if n.lit {
            svg.rect(
                (x - bw / 2.0 - 2.0, y - bh / 2.0 - 2.0),
                (bw + 4.0, bh + 4.0),
                "none",
                "#000000",
                "",
            );
        }
        svg.text((x, y), 13.0, "middle", ink(fill), &n.label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds() -> Vec<Kind> {
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

    /// A strip reads back, through its `data-*` attributes, exactly the
    /// tokens it was given, in order, empty cells left out.
    #[test]
    fn token_strips_read_back_their_tokens() {
        let cells = |tokens: &[Option<usize>]| {
            tokens
                .iter()
                .map(|&t| Cell {
                    text: t.map_or(String::new(), |v| v.to_string()),
                    kind: usize::from(t == Some(7)),
                    token: t,
                })
                .collect()
        };
        let input = [Some(3), Some(7), Some(7), Some(12), Some(0)];
        let target = [None, None, None, None, Some(12)];
        let strips = [
            Strip {
                name: "input".into(),
                cells: cells(&input),
            },
            Strip {
                name: "target".into(),
                cells: cells(&target),
            },
        ];
        let svg = token_strips("t", "note & <more>", &strips, &kinds(), 2).to_svg();
        let read = |name: &str| {
            data_values(&svg, &format!("data-strip=\"{name}\""), "data-token")
        };
        assert_eq!(read("input"), ["3", "7", "7", "12", "0"]);
        assert_eq!(read("target"), ["12"]);
        assert!(svg.contains("note &amp; &lt;more&gt;"));
        assert!(svg.starts_with("<svg xmlns"));
    }

    /// A schedule draws one box per node and one arrowhead per edge.
    #[test]
    fn a_schedule_draws_every_node_and_edge() {
        let node = |col, row| Node {
            col,
            row,
            label: format!("{col}:{row}"),
            kind: 0,
            lit: col == 1,
        };
        let s = Schedule {
            title: "t".into(),
            columns: 2,
            rows: vec!["a".into(), "b".into(), "c".into()],
            nodes: vec![node(0, 0), node(1, 0), node(1, 2)],
            edges: vec![
                Edge {
                    from: 0,
                    to: 2,
                    lit: false,
                },
                Edge {
                    from: 1,
                    to: 2,
                    lit: true,
                },
            ],
        };
        let mut svg = Svg::new(WIDTH, schedule_height(&s));
        draw_schedule(&mut svg, 0.0, &s, &kinds());
        let svg = svg.to_svg();
        assert_eq!(
            data_values(&svg, "data-node", "data-node"),
            ["0:0", "1:0", "1:2"]
        );
        assert_eq!(svg.matches("<polygon").count(), 2);
    }
}
