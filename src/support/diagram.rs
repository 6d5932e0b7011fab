//! Box-and-arrow drawings in the book's figure style: the blocks and the
//! residual stack of chapters 7 and 8.
//!
//! A [`Diagram`] is laid out by hand in SVG pixels: each [`Role`] has its
//! own colour from the Okabe–Ito [`PALETTE`], boxes are sized to their text,
//! arrows run between box edges and carry a label (a tensor's name and shape),
//! and a legend below says what each colour means. Drawn on a white card, it
//! reads the same in the book's light and dark themes.

use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::PALETTE;
use crate::error::{Error, Result};

/// A drawing area of an SVG diagram.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// A point in SVG pixels, `(x, y)` with `y` downwards.
pub type Point = (i32, i32);

/// The font size of box labels, in SVG pixels.
pub const BOX_FONT: u32 = 15;

/// The font size of arrow labels (shapes), in SVG pixels (≥ 10 px at the
/// book's 760 px column).
pub const ARROW_FONT: u32 = 13;

/// The width of a character, as a fraction of the font size: a generous
/// average for sans-serif text, so that boxes are never narrower than
/// their labels.
const CHAR_WIDTH: f64 = 0.6;

/// The height of a box, in SVG pixels.
const BOX_HEIGHT: i32 = 34;

/// The radius of an operation's circle, in SVG pixels.
const OP_RADIUS: i32 = 15;

/// What a node does; each role has one colour and one legend entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A tensor entering or leaving: text only, no box.
    Data,
    /// A learned linear map (a projection, an embedding, a head).
    Linear,
    /// The short causal convolution.
    Convolution,
    /// An elementwise nonlinearity (SiLU, softplus).
    Activation,
    /// The state space model itself (a scan, SSD).
    Ssm,
    /// A normalisation (RMSNorm).
    Norm,
    /// An elementwise operation (+, ×), drawn as a circle.
    Operation,
}

impl Role {
    /// The legend's name of the role.
    pub fn name(self) -> &'static str {
        match self {
            Role::Data => "tensor",
            Role::Linear => "linear map",
            Role::Convolution => "convolution",
            Role::Activation => "nonlinearity",
            Role::Ssm => "state space model",
            Role::Norm => "normalisation",
            Role::Operation => "+ or × (elementwise)",
        }
    }

    fn color(self) -> RGBColor {
        match self {
            Role::Data | Role::Operation => PALETTE[6],
            Role::Linear => PALETTE[0],
            Role::Convolution => PALETTE[5],
            Role::Activation => PALETTE[1],
            Role::Ssm => PALETTE[2],
            Role::Norm => PALETTE[4],
        }
    }
}

/// A box (or circle, or bare text) of a [`Diagram`].
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The text inside.
    pub label: String,
    /// The centre, in SVG pixels.
    pub centre: Point,
    /// What it does (its colour and shape).
    pub role: Role,
}

impl Node {
    /// Half the width and half the height of the node's outline.
    fn half_size(&self) -> (i32, i32) {
        match self.role {
            Role::Operation => (OP_RADIUS, OP_RADIUS),
            _ => {
                let text = text_width(&self.label, BOX_FONT);
                let pad = if self.role == Role::Data { 4 } else { 14 };
                (text / 2 + pad, BOX_HEIGHT / 2)
            }
        }
    }

    /// Where an arrow towards `p` leaves (or enters) the outline: straight
    /// down or up at `p`'s x if `p` is above or below the box, straight
    /// sideways at `p`'s y if it is beside it, else along the line to the
    /// centre (always radially for a circle).
    fn port(&self, p: Point) -> Point {
        let (cx, cy) = self.centre;
        let (w, h) = self.half_size();
        let (dx, dy) = (p.0 - cx, p.1 - cy);
        if dx == 0 && dy == 0 {
            return self.centre;
        }
        if self.role != Role::Operation {
            if dx.abs() <= w && dy.abs() > h {
                return (p.0, cy + h * dy.signum());
            }
            if dy.abs() <= h && dx.abs() > w {
                return (cx + w * dx.signum(), p.1);
            }
        }
        let (dx, dy) = (dx as f64, dy as f64);
        let t = if self.role == Role::Operation {
            w as f64 / dx.hypot(dy)
        } else {
            let tx = if dx == 0.0 {
                f64::INFINITY
            } else {
                w as f64 / dx.abs()
            };
            let ty = if dy == 0.0 {
                f64::INFINITY
            } else {
                h as f64 / dy.abs()
            };
            tx.min(ty)
        };
        let t = t.min(1.0);
        (cx + (t * dx).round() as i32, cy + (t * dy).round() as i32)
    }

    /// The point a straight arrow from `self` to `to` aims at: straight down
    /// (or up) if `self`'s centre lies over `to`, straight sideways if
    /// beside it, else `to`'s centre.
    fn aim(&self, to: &Node) -> Point {
        let (w, h) = to.half_size();
        let (x, y) = self.centre;
        if (x - to.centre.0).abs() <= w {
            (x, to.centre.1)
        } else if (y - to.centre.1).abs() <= h {
            (to.centre.0, y)
        } else {
            to.centre
        }
    }
}

/// Where an arrow's label sits beside its longest segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// To the right of a vertical segment (the default for vertical ones).
    Right,
    /// To the left of a vertical segment.
    Left,
    /// Above a horizontal segment (the default for horizontal ones).
    Above,
    /// Below a horizontal segment.
    Below,
}

/// An arrow from one node to another, through optional corner points.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    /// The node it leaves.
    pub from: usize,
    /// The node it enters.
    pub to: usize,
    /// The corners between, in SVG pixels.
    pub via: Vec<Point>,
    /// The label (a tensor's name and shape), possibly empty.
    pub label: String,
    /// Where the label sits, if not the default.
    pub side: Option<Side>,
}

/// A dashed frame around part of a diagram (a repeated layer), labelled at
/// its upper-right corner.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The upper-left and lower-right corners.
    pub corners: (Point, Point),
    /// The label, e.g. `"× n_layer"`.
    pub label: String,
}

/// A filled polygon (a region of a matrix, a factor), with a label centred
/// at a given point (lines split at `\n`).
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// The corners, in drawing order.
    pub points: Vec<Point>,
    /// The fill: a [`PALETTE`] index, or `None` for a light grey.
    pub colour: Option<usize>,
    /// The text, possibly empty or of several lines.
    pub label: String,
    /// Where the label is centred.
    pub at: Point,
}

/// A legend entry of its own (a colour and what it means), for drawings
/// whose colours are not [`Role`]s.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The colour: a [`PALETTE`] index, or `None` for the light grey.
    pub colour: Option<usize>,
    /// What it means.
    pub name: String,
}

/// A box-and-arrow drawing: nodes at given positions, arrows between them,
/// frames, filled patches, and a legend of the roles it uses and its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagram {
    /// The title, above the drawing.
    pub title: String,
    /// Width and height in SVG pixels.
    pub size: (u32, u32),
    /// The nodes, in the order added (an arrow refers to them by index).
    pub nodes: Vec<Node>,
    /// The arrows.
    pub arrows: Vec<Arrow>,
    /// The frames.
    pub frames: Vec<Frame>,
    /// The filled patches, drawn first.
    pub patches: Vec<Patch>,
    /// Legend entries of its own, listed one per line above the roles.
    pub keys: Vec<Key>,
}

impl Diagram {
    /// An empty diagram of the given size.
    pub fn new(title: &str, size: (u32, u32)) -> Self {
        Diagram {
            title: title.into(),
            size,
            nodes: Vec::new(),
            arrows: Vec::new(),
            frames: Vec::new(),
            patches: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// Adds a filled polygon with a label centred at `at`.
    pub fn patch(
        &mut self,
        points: &[Point],
        colour: Option<usize>,
        label: &str,
        at: Point,
    ) {
        self.patches.push(Patch {
            points: points.to_vec(),
            colour,
            label: label.into(),
            at,
        });
    }

    /// Adds a filled rectangle between two corners, its label at its centre.
    pub fn rect(
        &mut self,
        (a, b): (Point, Point),
        colour: Option<usize>,
        label: &str,
    ) {
        let points = [a, (b.0, a.1), b, (a.0, b.1)];
        let at = ((a.0 + b.0) / 2, (a.1 + b.1) / 2);
        self.patch(&points, colour, label, at);
    }

    /// Adds a legend entry of its own.
    pub fn key(&mut self, colour: Option<usize>, name: &str) {
        self.keys.push(Key {
            colour,
            name: name.into(),
        });
    }

    /// Adds a node centred at `centre` and returns its index.
    pub fn node(&mut self, label: &str, centre: Point, role: Role) -> usize {
        self.nodes.push(Node {
            label: label.into(),
            centre,
            role,
        });
        self.nodes.len() - 1
    }

    /// Adds a straight arrow from node `from` to node `to`.
    pub fn arrow(&mut self, from: usize, to: usize, label: &str) {
        self.arrow_via(from, to, &[], label, None);
    }

    /// Adds an arrow through the corner points `via`, its label on `side` of
    /// its longest segment (or the default side).
    pub fn arrow_via(
        &mut self,
        from: usize,
        to: usize,
        via: &[Point],
        label: &str,
        side: Option<Side>,
    ) {
        self.arrows.push(Arrow {
            from,
            to,
            via: via.to_vec(),
            label: label.into(),
            side,
        });
    }

    /// Adds a dashed frame with a label.
    pub fn frame(&mut self, corners: (Point, Point), label: &str) {
        self.frames.push(Frame {
            corners,
            label: label.into(),
        });
    }

    /// Every text the diagram draws: title, node and arrow labels, frames
    /// and legend entries.
    pub fn texts(&self) -> Vec<String> {
        let mut texts = vec![self.title.clone()];
        texts.extend(self.nodes.iter().map(|n| n.label.clone()));
        texts.extend(self.arrows.iter().map(|a| a.label.clone()));
        texts.extend(self.frames.iter().map(|f| f.label.clone()));
        texts.extend(
            self.patches.iter().flat_map(|p| {
                p.label.lines().map(str::to_string).collect::<Vec<_>>()
            }),
        );
        texts.extend(self.keys.iter().map(|k| k.name.clone()));
        texts.extend(self.roles().iter().map(|r| r.name().to_string()));
        texts.retain(|t| !t.is_empty());
        texts
    }

    /// The SVG text of the diagram.
    ///
    /// # Errors
    /// [`Error::Output`] if an arrow names a node that does not exist or
    /// plotters fails to draw.
    pub fn to_svg(&self) -> Result<String> {
        let mut svg = String::new();
        {
            let root =
                SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            self.draw(&root).map_err(|reason| Error::Output {
                path: "(an SVG string)".into(),
                reason,
            })?;
        }
        Ok(svg)
    }

    /// Draws the diagram into an SVG file, creating its folder if needed.
    ///
    /// # Errors
    /// [`Error::Output`] if the folder or file cannot be written, or as
    /// [`Diagram::to_svg`].
    pub fn save(&self, path: &Path) -> Result<()> {
        let fail = |reason: String| Error::Output {
            path: path.into(),
            reason,
        };
        let svg = self.to_svg().map_err(|e| fail(e.to_string()))?;
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| fail(e.to_string()))?;
        }
        std::fs::write(path, svg).map_err(|e| fail(e.to_string()))
    }

    /// The roles used, in a fixed order, for the legend.
    fn roles(&self) -> Vec<Role> {
        let all = [
            Role::Linear,
            Role::Convolution,
            Role::Activation,
            Role::Ssm,
            Role::Norm,
            Role::Operation,
        ];
        all.into_iter()
            .filter(|r| self.nodes.iter().any(|n| n.role == *r))
            .collect()
    }

    fn draw(&self, root: &Area<'_>) -> std::result::Result<(), String> {
        let err = |e: DrawingAreaErrorKind<_>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let title = ("sans-serif", 20)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        let middle = self.size.0 as i32 / 2;
        root.draw(&Text::new(self.title.as_str(), (middle, 10), title))
            .map_err(err)?;
        for patch in &self.patches {
            draw_patch(root, patch)?;
        }
        for frame in &self.frames {
            draw_frame(root, frame)?;
        }
        for arrow in &self.arrows {
            self.draw_arrow(root, arrow)?;
        }
        for node in &self.nodes {
            draw_node(root, node)?;
        }
        self.draw_keys(root)?;
        self.draw_legend(root)
    }

    /// The keys, one per line, above the roles' legend row (if any).
    fn draw_keys(&self, root: &Area<'_>) -> std::result::Result<(), String> {
        let rows = self.keys.len() as i32;
        let legend_row = 26 * self.legend_rows().len() as i32 + 4;
        let top = self.size.1 as i32 - legend_row - 24 * rows - 6;
        for (k, key) in self.keys.iter().enumerate() {
            let y = top + 24 * k as i32 + 12;
            let swatch = [(40, y - 8), (58, y + 8)];
            root.draw(&Rectangle::new(swatch, patch_fill(key.colour).filled()))
                .map_err(|e| e.to_string())?;
            root.draw(&Rectangle::new(
                swatch,
                RGBColor(60, 60, 60).stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
            let font = ("sans-serif", ARROW_FONT)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(key.name.as_str(), (66, y), font))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn draw_arrow(
        &self,
        root: &Area<'_>,
        arrow: &Arrow,
    ) -> std::result::Result<(), String> {
        let missing =
            |i: usize| format!("an arrow names node {i}, which is missing");
        let from = self
            .nodes
            .get(arrow.from)
            .ok_or_else(|| missing(arrow.from))?;
        let to = self.nodes.get(arrow.to).ok_or_else(|| missing(arrow.to))?;
        let first = arrow.via.first().copied().unwrap_or(from.aim(to));
        let start = from.port(first);
        let last = arrow.via.last().copied().unwrap_or(start);
        let mut points = vec![start];
        points.extend(&arrow.via);
        points.push(to.port(last));
        points.dedup(); // a corner on an outline adds no segment
        let style = RGBColor(60, 60, 60).stroke_width(2);
        root.draw(&PathElement::new(points.clone(), style))
            .map_err(|e| e.to_string())?;
        let (tip, before) = (points[points.len() - 1], points[points.len() - 2]);
        root.draw(&arrow_head(before, tip))
            .map_err(|e| e.to_string())?;
        if arrow.label.is_empty() {
            return Ok(());
        }
        let (a, b) = longest_segment(&points);
        let mid = ((a.0 + b.0) / 2, (a.1 + b.1) / 2);
        let vertical = (b.1 - a.1).abs() >= (b.0 - a.0).abs();
        let side =
            arrow
                .side
                .unwrap_or(if vertical { Side::Right } else { Side::Above });
        let (at, pos) = match side {
            Side::Right => ((mid.0 + 7, mid.1), Pos::new(HPos::Left, VPos::Center)),
            Side::Left => ((mid.0 - 7, mid.1), Pos::new(HPos::Right, VPos::Center)),
            Side::Above => {
                ((mid.0, mid.1 - 5), Pos::new(HPos::Center, VPos::Bottom))
            }
            Side::Below => ((mid.0, mid.1 + 5), Pos::new(HPos::Center, VPos::Top)),
        };
        let font = ("sans-serif", ARROW_FONT)
            .into_font()
            .color(&RGBColor(40, 40, 40))
            .pos(pos);
        root.draw(&Text::new(arrow.label.as_str(), at, font))
            .map_err(|e| e.to_string())
    }

    /// The roles' legend in rows that fit the width, each entry with its
    /// width in pixels.
    fn legend_rows(&self) -> Vec<Vec<(Role, i32)>> {
        let room = self.size.0 as i32 - 24;
        let mut rows: Vec<Vec<(Role, i32)>> = Vec::new();
        for role in self.roles() {
            let width = 26 + text_width(role.name(), ARROW_FONT) + 14;
            let used: i32 =
                rows.last().map_or(room, |r| r.iter().map(|e| e.1).sum());
            match rows.last_mut() {
                Some(row) if used + width <= room => row.push((role, width)),
                _ => rows.push(vec![(role, width)]),
            }
        }
        rows
    }

    fn draw_legend(&self, root: &Area<'_>) -> std::result::Result<(), String> {
        let rows = self.legend_rows();
        let bottom = self.size.1 as i32 - 22;
        for (r, row) in rows.iter().enumerate() {
            let y = bottom - 26 * (rows.len() - 1 - r) as i32;
            let total: i32 = row.iter().map(|e| e.1).sum();
            let mut x = ((self.size.0 as i32 - total) / 2).max(12);
            for &(role, width) in row {
                let swatch = [(x, y - 8), (x + 18, y + 8)];
                let (fill, stroke) = fill_and_stroke(role);
                root.draw(&Rectangle::new(swatch, fill.filled()))
                    .map_err(|e| e.to_string())?;
                root.draw(&Rectangle::new(swatch, stroke.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
                let font = ("sans-serif", ARROW_FONT)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center));
                root.draw(&Text::new(role.name(), (x + 26, y), font))
                    .map_err(|e| e.to_string())?;
                x += width;
            }
        }
        Ok(())
    }
}

/// The estimated width of `text` at `size` px, in SVG pixels.
pub fn text_width(text: &str, size: u32) -> i32 {
    (text.chars().count() as f64 * size as f64 * CHAR_WIDTH).ceil() as i32
}

fn fill_and_stroke(role: Role) -> (RGBAColor, RGBColor) {
    let c = role.color();
    match role {
        Role::Data => (WHITE.mix(0.0), WHITE),
        Role::Operation => (WHITE.mix(1.0), c),
        _ => (c.mix(0.18), c),
    }
}

fn draw_node(root: &Area<'_>, node: &Node) -> std::result::Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let (cx, cy) = node.centre;
    let (w, h) = node.half_size();
    let (fill, stroke) = fill_and_stroke(node.role);
    match node.role {
        Role::Data => {}
        Role::Operation => {
            root.draw(&Circle::new(node.centre, w, fill.filled()))
                .map_err(err)?;
            root.draw(&Circle::new(node.centre, w, stroke.stroke_width(2)))
                .map_err(err)?;
        }
        _ => {
            let corners = [(cx - w, cy - h), (cx + w, cy + h)];
            root.draw(&Rectangle::new(corners, fill.filled()))
                .map_err(err)?;
            root.draw(&Rectangle::new(corners, stroke.stroke_width(2)))
                .map_err(err)?;
        }
    }
    let size = if node.role == Role::Operation {
        20
    } else {
        BOX_FONT
    };
    let font = ("sans-serif", size)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(node.label.as_str(), node.centre, font))
        .map_err(err)
}

/// A patch's fill: its palette colour, lightened so that black text on it
/// stays readable, or a light grey.
fn patch_fill(colour: Option<usize>) -> RGBColor {
    let light = |c: u8| (f64::from(c) * 0.45 + 255.0 * 0.55).round() as u8;
    match colour {
        Some(i) => {
            let RGBColor(r, g, b) = PALETTE[i % PALETTE.len()];
            RGBColor(light(r), light(g), light(b))
        }
        None => RGBColor(236, 236, 236),
    }
}

fn draw_patch(root: &Area<'_>, patch: &Patch) -> std::result::Result<(), String> {
    let fill = patch_fill(patch.colour);
    let mut outline = patch.points.clone();
    if let Some(first) = patch.points.first() {
        outline.push(*first);
    }
    root.draw(&Polygon::new(patch.points.clone(), fill.filled()))
        .map_err(|e| e.to_string())?;
    root.draw(&PathElement::new(
        outline,
        RGBColor(90, 90, 90).stroke_width(1),
    ))
    .map_err(|e| e.to_string())?;
    let lines: Vec<&str> = patch.label.lines().collect();
    let step = ARROW_FONT as i32 + 3;
    let top = patch.at.1 - step * (lines.len() as i32 - 1) / 2;
    for (k, line) in lines.iter().enumerate() {
        let font = ("sans-serif", ARROW_FONT)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center));
        let at = (patch.at.0, top + step * k as i32);
        root.draw(&Text::new(*line, at, font))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn draw_frame(root: &Area<'_>, frame: &Frame) -> std::result::Result<(), String> {
    let ((x0, y0), (x1, y1)) = frame.corners;
    let corners = vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
    let grey = RGBColor(110, 110, 110).stroke_width(2);
    let dashed = DashedPathElement::new(corners, 7, 5, grey);
    root.draw(&dashed).map_err(|e| e.to_string())?;
    let font = ("sans-serif", BOX_FONT)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Top));
    root.draw(&Text::new(frame.label.as_str(), (x1 - 8, y0 + 6), font))
        .map_err(|e| e.to_string())
}

/// A filled triangle with its tip at `tip`, pointing away from `from`.
fn arrow_head(from: Point, tip: Point) -> Polygon<Point> {
    let (dx, dy) = ((tip.0 - from.0) as f64, (tip.1 - from.1) as f64);
    let len = dx.hypot(dy).max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (back, half) = (10.0, 5.0);
    let base = (tip.0 as f64 - back * ux, tip.1 as f64 - back * uy);
    let corner = |s: f64| {
        (
            (base.0 - s * half * uy).round() as i32,
            (base.1 + s * half * ux).round() as i32,
        )
    };
    Polygon::new(
        vec![tip, corner(1.0), corner(-1.0)],
        RGBColor(60, 60, 60).filled(),
    )
}

fn longest_segment(points: &[Point]) -> (Point, Point) {
    let length = |(a, b): &(Point, Point)| (b.0 - a.0).abs() + (b.1 - a.1).abs();
    points
        .windows(2)
        .map(|w| (w[0], w[1]))
        .max_by_key(length)
        .unwrap_or((points[0], points[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Diagram {
        let mut d = Diagram::new("A tiny block", (400, 300));
        let v = d.node("v", (100, 50), Role::Data);
        let p = d.node("in_proj", (100, 120), Role::Linear);
        let s = d.node("SiLU", (300, 120), Role::Activation);
        let x = d.node("×", (100, 200), Role::Operation);
        d.arrow(v, p, "(L, d_model)");
        d.arrow(p, x, "u: (L, d_inner)");
        d.arrow_via(p, s, &[], "z", Some(Side::Below));
        d.arrow_via(s, x, &[(300, 200)], "SiLU(z)", None);
        d.frame(((20, 30), (380, 240)), "× n_layer");
        d
    }

    /// Every label, frame and legend entry is in the SVG, once drawn.
    #[test]
    fn a_diagram_draws_its_labels_and_legend() {
        let d = small();
        let svg = d.to_svg().expect("draws");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        for text in d.texts() {
            assert!(svg.contains(&text), "missing {text:?}");
        }
        for role in ["linear map", "nonlinearity", "+ or × (elementwise)"] {
            assert!(svg.contains(role), "legend misses {role}");
        }
        assert!(
            !svg.contains("state space model"),
            "legend of an unused role"
        );
    }

    /// Patches and keys are drawn with their text, each line of a label
    /// on its own.
    #[test]
    fn patches_and_keys_draw_their_text() {
        let mut d = Diagram::new("M by steps", (400, 300));
        d.rect(((10, 40), (90, 120)), Some(1), "step 1\nchunk diagonal");
        d.patch(&[(100, 40), (180, 40), (100, 120)], None, "zero", (120, 60));
        d.key(Some(1), "step 1: the diagonal blocks");
        d.key(None, "zero (above the diagonal)");
        let svg = d.to_svg().expect("draws");
        for text in d.texts() {
            assert!(svg.contains(&text), "missing {text:?}");
        }
        assert!(
            !svg.contains("step 1\nchunk"),
            "a label's lines are separate"
        );
        assert!(d.texts().contains(&"chunk diagonal".to_string()));
    }

    #[test]
    fn an_arrow_to_a_missing_node_is_an_error() {
        let mut d = small();
        d.arrow(0, 99, "nowhere");
        let err = d.to_svg().expect_err("missing node");
        assert!(err.to_string().contains("node 99"), "{err}");
    }

    /// Arrows start and end on the outlines, not inside the boxes.
    #[test]
    fn arrows_meet_the_box_edges() {
        let d = small();
        let (v, p) = (&d.nodes[0], &d.nodes[1]);
        let leave = p.port(d.nodes[3].centre);
        assert_eq!(leave, (100, 120 + BOX_HEIGHT / 2));
        let enter = p.port(v.centre);
        assert_eq!(enter, (100, 120 - BOX_HEIGHT / 2));
        let side = p.port((300, 120));
        assert_eq!(side.0, 100 + p.half_size().0);
        let circle = d.nodes[3].port((100, 0));
        assert_eq!(circle, (100, 200 - OP_RADIUS));
    }

    /// A box is wide enough for its label at the estimated character width.
    #[test]
    fn boxes_fit_their_labels() {
        let mut d = Diagram::new("t", (300, 100));
        let short = d.node("A", (50, 50), Role::Linear);
        let long = d.node("selective scan (S6)", (150, 50), Role::Ssm);
        let (ws, wl) = (d.nodes[short].half_size().0, d.nodes[long].half_size().0);
        assert!(wl > ws);
        assert!(2 * wl >= text_width("selective scan (S6)", BOX_FONT));
    }
}
