//! Token strips: a synthetic task's sequence, one coloured cell per token.

use super::{Kind, SMALL_FONT, Svg, WIDTH, escape, hex, ink};
use crate::support::figure::PALETTE;

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

#[cfg(test)]
mod tests {
    use super::super::{data_values, test_kinds as kinds};
    use super::*;

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
}
