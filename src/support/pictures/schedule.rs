//! Schedules: rows of boxes (one row per round of an algorithm) joined by
//! arrows from each result's operands.

use super::{Kind, Svg, WIDTH, escape, hex, ink};
use crate::support::figure::PALETTE;

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
/// into `to`: every slanted part lies between two consecutive rows, so
/// the slanted arrows of a round with one offset are parallel.
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
    use super::super::{data_values, test_kinds as kinds};
    use super::*;

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
