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
            Role::Linear => "learned linear map",
            Role::Convolution => "causal convolution",
            Role::Activation => "nonlinearity",
            Role::Ssm => "state space model",
            Role::Norm => "normalisation",
            Role::Operation => "elementwise + or ×",
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

    /// Where the segment from the centre towards `p` leaves the outline.
    fn boundary_towards(&self, p: Point) -> Point {
        let (cx, cy) = self.centre;
        let (dx, dy) = ((p.0 - cx) as f64, (p.1 - cy) as f64);
        if dx == 0.0 && dy == 0.0 {
            return self.centre;
        }
        let (w, h) = self.half_size();
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

/// A box-and-arrow drawing: nodes at given positions, arrows between them,
/// frames, and a legend of the roles it uses.
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
        }
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
        for frame in &self.frames {
            draw_frame(root, frame)?;
        }
        for arrow in &self.arrows {
            self.draw_arrow(root, arrow)?;
        }
        for node in &self.nodes {
            draw_node(root, node)?;
        }
        self.draw_legend(root)
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
        let first = *arrow.via.first().unwrap_or(&to.centre);
        let last = *arrow.via.last().unwrap_or(&from.centre);
        let mut points = vec![from.boundary_towards(first)];
        points.extend(&arrow.via);
        points.push(to.boundary_towards(last));
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

    fn draw_legend(&self, root: &Area<'_>) -> std::result::Result<(), String> {
        let roles = self.roles();
        let y = self.size.1 as i32 - 22;
        let widths: Vec<i32> = roles
            .iter()
            .map(|r| 26 + text_width(r.name(), ARROW_FONT) + 18)
            .collect();
        let total: i32 = widths.iter().sum();
        let mut x = (self.size.0 as i32 - total).max(0) / 2;
        for (role, width) in roles.iter().zip(widths) {
            let swatch = [(x, y - 8), (x + 18, y + 8)];
            let (fill, stroke) = fill_and_stroke(*role);
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
        for role in ["learned linear map", "nonlinearity", "elementwise + or ×"] {
            assert!(svg.contains(role), "legend misses {role}");
        }
        assert!(
            !svg.contains("state space model"),
            "legend of an unused role"
        );
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
        let leave = p.boundary_towards(d.nodes[3].centre);
        assert_eq!(leave, (100, 120 + BOX_HEIGHT / 2));
        let enter = p.boundary_towards(v.centre);
        assert_eq!(enter, (100, 120 - BOX_HEIGHT / 2));
        let side = p.boundary_towards((300, 120));
        assert_eq!(side.0, 100 + p.half_size().0);
        let circle = d.nodes[3].boundary_towards((100, 0));
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
