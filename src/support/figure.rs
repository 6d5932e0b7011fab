//! The figure style every chapter shares: SVG through `plotters`, no system fonts.
//!
//! Figures are drawn on a white card with dark text so that they read the same
//! in the book's light and dark themes, with the colour-blind-safe Okabe–Ito
//! palette. Two kinds cover the book: [`LinePlot`] (with optional log axes) and
//! [`Heatmap`] (dense matrices, downsampled to keep the SVG small).

use std::ops::Range;
use std::path::Path;

use nalgebra::DMatrix;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::error::{Error, Result};

/// A drawing area of an SVG figure.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Width and height of every figure, in SVG pixels.
pub const SIZE: (u32, u32) = (760, 460);

/// The Okabe–Ito palette (blue, vermillion, green, orange, purple, sky, black).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
];

/// The most cells a heatmap draws (about 70 bytes of SVG each, so at most
/// ≈ 250 KB); a larger matrix is block-averaged down to fit.
pub const MAX_CELLS: usize = 3600;

/// The most rows a heatmap draws.
pub const MAX_ROWS: usize = 80;

/// How an axis maps values to positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values.
    Linear,
    /// Evenly spaced powers of ten; non-positive values are left out.
    Log,
}

/// How a [`Series`] is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A solid line.
    Line,
    /// A dashed line (a reference curve such as a bound or a fitted slope).
    Dashed,
    /// A circle at each point, no line (samples, eigenvalues).
    Points,
    /// A lightly filled polygon through the points (a region: a measure's
    /// window, a band of values).
    Band,
}

/// One named curve of a [`LinePlot`].
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points `(x, y)`, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// How it is drawn.
    pub mark: Mark,
}

/// A line chart with a title, labelled axes, a legend and optional log axes.
#[derive(Debug, Clone)]
pub struct LinePlot {
    title: String,
    x_label: String,
    y_label: String,
    x_scale: Scale,
    y_scale: Scale,
    fixed: Option<(Range<f64>, Range<f64>)>,
    series: Vec<Series>,
    legend: Legend,
}

/// Where a [`LinePlot`]'s legend goes (inside the plot area).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    /// The upper-left corner (the default).
    UpperLeft,
    /// The upper-right corner.
    UpperRight,
    /// The lower-left corner.
    LowerLeft,
    /// The lower-right corner.
    LowerRight,
}

impl LinePlot {
    /// An empty plot; axis labels should carry units, e.g. `"lag t − s (steps)"`.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        LinePlot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            fixed: None,
            series: Vec::new(),
            legend: Legend::UpperLeft,
        }
    }

    /// Puts the legend in another corner, away from the curves.
    pub fn legend(mut self, corner: Legend) -> Self {
        self.legend = corner;
        self
    }

    /// Sets the scale of both axes.
    pub fn scales(mut self, x: Scale, y: Scale) -> Self {
        self.x_scale = x;
        self.y_scale = y;
        self
    }

    /// Fixes the axis ranges instead of fitting them to the data.
    pub fn ranges(mut self, x: Range<f64>, y: Range<f64>) -> Self {
        self.fixed = Some((x, y));
        self
    }

    /// Adds a series drawn as `mark`.
    pub fn series(
        mut self,
        name: &str,
        points: Vec<(f64, f64)>,
        mark: Mark,
    ) -> Self {
        let name = name.into();
        self.series.push(Series { name, points, mark });
        self
    }

    /// Adds a solid curve.
    pub fn line(self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.series(name, points, Mark::Line)
    }

    /// Adds a dashed reference curve.
    pub fn dashed(self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.series(name, points, Mark::Dashed)
    }

    /// Adds points drawn as circles.
    pub fn points(self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.series(name, points, Mark::Points)
    }

    /// Adds a lightly filled region bounded by the polygon through `points`.
    pub fn band(self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.series(name, points, Mark::Band)
    }

    /// Draws the plot into an SVG file, creating its folder if needed.
    ///
    /// # Errors
    /// [`Error::Output`] if the folder or file cannot be written, or the plot
    /// has no finite point to draw.
    pub fn save(&self, path: &Path) -> Result<()> {
        save_grid(path, std::slice::from_ref(self), 1)
    }

    /// Draws the plot as [`LinePlot::save`] does, into a string holding one
    /// `<svg>` element (for a page that draws it live).
    ///
    /// # Errors
    /// [`Error::Output`] (with the path [`IN_MEMORY`]) if the plot has no
    /// finite point to draw.
    pub fn to_svg(&self) -> Result<String> {
        grid_to_svg(std::slice::from_ref(self), 1)
    }

    fn draw_in(&self, area: &Area<'_>) -> std::result::Result<(), String> {
        let (x, y) = self.data_ranges().ok_or("no finite point to draw")?;
        check_range("x", &x, self.x_scale)?;
        check_range("y", &y, self.y_scale)?;
        match (self.x_scale, self.y_scale) {
            (Scale::Linear, Scale::Linear) => self.draw(area, x, y),
            (Scale::Linear, Scale::Log) => self.draw(area, x, y.log_scale()),
            (Scale::Log, Scale::Linear) => self.draw(area, x.log_scale(), y),
            (Scale::Log, Scale::Log) => {
                self.draw(area, x.log_scale(), y.log_scale())
            }
        }
    }

    fn visible(&self, (x, y): (f64, f64)) -> bool {
        let ok = |v: f64, s: Scale| v.is_finite() && (s == Scale::Linear || v > 0.0);
        ok(x, self.x_scale) && ok(y, self.y_scale)
    }

    fn data_ranges(&self) -> Option<(Range<f64>, Range<f64>)> {
        if let Some(fixed) = &self.fixed {
            return Some(fixed.clone());
        }
        let points: Vec<_> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|&p| self.visible(p))
            .collect();
        let xs = padded_range(points.iter().map(|p| p.0), self.x_scale, 0.0)?;
        // The legend is about 19 px a line plus a margin in a plot about 340 px
        // high: leave it that fraction f of the axis, i.e. f / (1 − f) of the span.
        let f = ((19 * self.series.len() + 14) as f64 / 340.0).min(0.6);
        let headroom = f / (1.0 - f);
        let ys = padded_range(points.iter().map(|p| p.1), self.y_scale, headroom)?;
        Some((xs, ys))
    }

    fn draw<X, Y>(
        &self,
        root: &Area<'_>,
        x: X,
        y: Y,
    ) -> std::result::Result<(), String>
    where
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x, y)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&|v| tick(*v, self.x_scale))
            .y_label_formatter(&|v| tick(*v, self.y_scale))
            .label_style(("sans-serif", 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, s) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let style = color.stroke_width(2);
            let visible = s.points.iter().copied().filter(|&p| self.visible(p));
            let points: Vec<_> = visible.collect();
            let legend = move |(x, y): (i32, i32)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            };
            let drawn = match s.mark {
                Mark::Dashed => {
                    chart.draw_series(DashedLineSeries::new(points, 6, 4, style))
                }
                Mark::Line => chart.draw_series(LineSeries::new(points, style)),
                Mark::Points => chart.draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.stroke_width(2))),
                ),
                Mark::Band => chart.draw_series(std::iter::once(Polygon::new(
                    points,
                    color.mix(0.18).filled(),
                ))),
            };
            let drawn = drawn.map_err(|e| e.to_string())?;
            drawn.label(s.name.clone()).legend(legend);
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .position(match self.legend {
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
            })
            .draw()
            .map_err(|e| e.to_string())
    }
}

/// A dense matrix drawn as coloured cells (viridis), with a colour bar.
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// The figure title.
    pub title: String,
    /// The label of the horizontal axis (the matrix's columns).
    pub x_label: String,
    /// The label of the vertical axis (the matrix's rows, first row at the top).
    pub y_label: String,
    /// What a colour means, with units.
    pub value_label: String,
    /// The values; row `i` is drawn `i` cells from the top.
    pub data: DMatrix<f64>,
    /// The axis values spanned by the columns.
    pub x_range: Range<f64>,
    /// The axis values spanned by the rows.
    pub y_range: Range<f64>,
}

impl Heatmap {
    /// Draws the heatmap into an SVG file, block-averaging the matrix down to at
    /// most [`MAX_ROWS`] rows and [`MAX_CELLS`] cells so the file stays small.
    ///
    /// # Errors
    /// [`Error::Output`] if the file cannot be written or the matrix is empty
    /// or has no finite entry.
    pub fn save(&self, path: &Path) -> Result<()> {
        let root = canvas(path, SIZE)?;
        self.draw_on(&root).map_err(|reason| Error::Output {
            path: path.into(),
            reason,
        })
    }

    /// Draws the heatmap as [`Heatmap::save`] does, into a string holding
    /// one `<svg>` element (for a page that draws it live).
    ///
    /// # Errors
    /// [`Error::Output`] (with the path [`IN_MEMORY`]) if the matrix is empty
    /// or has no finite entry.
    pub fn to_svg(&self) -> Result<String> {
        in_memory(SIZE, |root| self.draw_on(root))
    }

    fn draw_on(&self, root: &Area<'_>) -> std::result::Result<(), String> {
        let rows = self.data.nrows().min(MAX_ROWS);
        let data = downsample(&self.data, (rows, MAX_CELLS / rows.max(1)));
        let finite = data.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        if lo > hi {
            return Err("no finite value to draw".into());
        }
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let (main, bar) = root.split_horizontally(SIZE.0 - 110);
        self.draw_cells(&main, &data, (lo, hi))
            .and_then(|()| draw_colorbar(&bar, &self.value_label, (lo, hi)))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
    }

    fn draw_cells(
        &self,
        area: &Area<'_>,
        data: &DMatrix<f64>,
        (lo, hi): (f64, f64),
    ) -> std::result::Result<(), String> {
        check_range("x", &self.x_range, Scale::Linear)?;
        check_range("y", &self.y_range, Scale::Linear)?;
        let (rows, cols) = data.shape();
        let (x0, x1) = (self.x_range.start, self.x_range.end);
        let (y0, y1) = (self.y_range.start, self.y_range.end);
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, y1..y0)
            .map_err(|e| e.to_string())?;
        // An axis over a few blocks (chunks, heads) is labelled at the whole
        // numbers only: 0.5 of a chunk means nothing.
        let few = |r: &Range<f64>| r.end - r.start <= 16.0;
        let labels = |r: &Range<f64>| {
            if few(r) {
                (r.end - r.start) as usize + 1
            } else {
                10
            }
        };
        let label = |v: f64, r: &Range<f64>| {
            if few(r) && v.fract() != 0.0 {
                String::new()
            } else {
                tick(v, Scale::Linear)
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(labels(&self.x_range))
            .y_labels(labels(&self.y_range))
            .x_label_formatter(&|v| label(*v, &self.x_range))
            .y_label_formatter(&|v| label(*v, &self.y_range))
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(|e| e.to_string())?;
        let dx = (x1 - x0) / cols as f64;
        let dy = (y1 - y0) / rows as f64;
        let cells =
            (0..rows)
                .flat_map(|i| (0..cols).map(move |j| (i, j)))
                .map(|(i, j)| {
                    let v = data[(i, j)];
                    let color = if v.is_finite() {
                        ViridisRGB::get_color_normalized(v, lo, hi)
                    } else {
                        RGBColor(255, 255, 255)
                    };
                    let a = (x0 + j as f64 * dx, y0 + i as f64 * dy);
                    let b = (x0 + (j + 1) as f64 * dx, y0 + (i + 1) as f64 * dy);
                    Rectangle::new([a, b], color.filled())
                });
        chart.draw_series(cells).map_err(|e| e.to_string())?;
        Ok(())
    }
}

fn draw_colorbar(
    area: &Area<'_>,
    label: &str,
    (lo, hi): (f64, f64),
) -> std::result::Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(46)
        .margin_bottom(60)
        .margin_right(8)
        .y_label_area_size(58)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(label)
        .y_label_formatter(&|v| tick(*v, Scale::Linear))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())?;
    let steps = 64;
    let bands = (0..steps).map(|k| {
        let a = lo + (hi - lo) * k as f64 / steps as f64;
        let b = lo + (hi - lo) * (k + 1) as f64 / steps as f64;
        let color = ViridisRGB::get_color_normalized((a + b) / 2.0, lo, hi);
        Rectangle::new([(0.0, a), (1.0, b)], color.filled())
    });
    chart.draw_series(bands).map_err(|e| e.to_string())?;
    Ok(())
}

/// Draws several plots in one SVG file, `columns` per row (at most two).
///
/// The figure is never wider than a single plot ([`SIZE`]), so that it is
/// shown at its own size in the book's column and its text stays as large as
/// a single plot's: one column stacks panels of 3/4 of that width, two share
/// it side by side. (Three panels side by side shrank every label below
/// 6 px in the column.)
///
/// # Errors
/// [`Error::Output`] if the file cannot be written or a plot has no finite
/// point to draw.
pub fn save_grid(path: &Path, plots: &[LinePlot], columns: usize) -> Result<()> {
    let root = canvas(path, grid_size(plots.len(), columns))?;
    draw_grid(&root, plots, columns).map_err(|reason| Error::Output {
        path: path.into(),
        reason,
    })
}

/// Draws several plots as [`save_grid`] does, into a string holding one
/// `<svg>` element (for a page that draws it live).
///
/// # Errors
/// [`Error::Output`] (with the path [`IN_MEMORY`]) if a plot has no finite
/// point to draw.
pub fn grid_to_svg(plots: &[LinePlot], columns: usize) -> Result<String> {
    in_memory(grid_size(plots.len(), columns), |root| {
        draw_grid(root, plots, columns)
    })
}

/// The size of a grid of `count` plots in `columns` columns (see [`save_grid`]).
fn grid_size(count: usize, columns: usize) -> (u32, u32) {
    let columns = columns.clamp(1, 2);
    let rows = count.div_ceil(columns).max(1);
    if count == 1 {
        return SIZE;
    }
    // Rows of 3/4 of a plot's height; a single row keeps the full height.
    let height = if rows == 1 {
        SIZE.1
    } else {
        SIZE.1 * rows as u32 * 3 / 4
    };
    let width = if columns == 1 { SIZE.0 * 3 / 4 } else { SIZE.0 };
    (width, height)
}

fn draw_grid(
    root: &Area<'_>,
    plots: &[LinePlot],
    columns: usize,
) -> std::result::Result<(), String> {
    let columns = columns.clamp(1, 2);
    let rows = plots.len().div_ceil(columns).max(1);
    let areas = root.split_evenly((rows, columns));
    for (plot, area) in plots.iter().zip(&areas) {
        plot.draw_in(area)?;
    }
    root.present().map_err(|e| e.to_string())
}

/// The path an [`Error::Output`] names when a figure drawn into a string fails.
pub const IN_MEMORY: &str = "(an SVG drawn in memory)";

/// Draws on a white canvas of `size` backed by a string, and returns it.
fn in_memory(
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> std::result::Result<(), String>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root))
            .map_err(|reason| Error::Output {
                path: IN_MEMORY.into(),
                reason,
            })?;
    }
    Ok(svg)
}

fn canvas(
    path: &Path,
    size: (u32, u32),
) -> Result<DrawingArea<SVGBackend<'_>, Shift>> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|e| Error::Output {
            path: folder.into(),
            reason: e.to_string(),
        })?;
    }
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| Error::Output {
        path: path.into(),
        reason: e.to_string(),
    })?;
    Ok(root)
}

/// An axis label: `1e-6` on a log axis, a short decimal (never `-0`) on a
/// linear one.
fn tick(v: f64, scale: Scale) -> String {
    if scale == Scale::Log {
        // Label only the ticks with mantissa 1, 2 or 5; a log axis has many.
        let label = format!("{v:.0e}");
        let keep = label.starts_with('1')
            || label.starts_with('2')
            || label.starts_with('5');
        return if keep { label } else { String::new() };
    }
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// The most decades a log axis may span: plotters draws a tick per unit of
/// mantissa in every decade, so a range of 300 decades never finishes.
const MAX_DECADES: f64 = 100.0;

/// Checks that an axis range can be drawn: finite, not empty, and on a log
/// axis positive and at most [`MAX_DECADES`] wide.
fn check_range(
    axis: &str,
    r: &Range<f64>,
    scale: Scale,
) -> std::result::Result<(), String> {
    if !(r.start.is_finite() && r.end.is_finite() && r.start < r.end) {
        return Err(format!(
            "the {axis} range {}..{} must be finite and not empty",
            r.start, r.end
        ));
    }
    if scale == Scale::Log {
        if r.start <= 0.0 {
            return Err(format!(
                "the log {axis} range {}..{} must be positive",
                r.start, r.end
            ));
        }
        let decades = (r.end / r.start).log10();
        if decades > MAX_DECADES {
            return Err(format!(
                "the log {axis} range spans {decades:.0} decades: at most {MAX_DECADES} can be drawn"
            ));
        }
    }
    Ok(())
}

/// The data's range with a margin, and `headroom` (a fraction of the span)
/// added on top so that the legend in the upper corner covers no data.
fn padded_range(
    values: impl Iterator<Item = f64>,
    scale: Scale,
    headroom: f64,
) -> Option<Range<f64>> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if lo > hi {
        return None;
    }
    Some(match scale {
        Scale::Log if hi > lo => {
            lo / 1.5..hi * 1.5 * (2.25 * hi / lo).powf(headroom)
        }
        Scale::Log => lo / 2.0..hi * 2.0,
        Scale::Linear if hi > lo => {
            let pad = 0.05 * (hi - lo);
            lo - pad..hi + pad + headroom * (hi - lo)
        }
        Scale::Linear => lo - 1.0..hi + 1.0,
    })
}

/// Block-averages `data` down to at most `max = (rows, cols)` cells.
///
/// # Shapes
/// `(r, c)` → `(min(r, max.0), min(c, max.1))`.
pub fn downsample(data: &DMatrix<f64>, max: (usize, usize)) -> DMatrix<f64> {
    let (rows, cols) = data.shape();
    let (out_r, out_c) = (rows.min(max.0), cols.min(max.1));
    DMatrix::from_fn(out_r, out_c, |i, j| {
        let (r0, r1) = (
            i * rows / out_r,
            ((i + 1) * rows / out_r).max(i * rows / out_r + 1),
        );
        let (c0, c1) = (
            j * cols / out_c,
            ((j + 1) * cols / out_c).max(j * cols / out_c + 1),
        );
        let block = data.view((r0, c0), (r1 - r0, c1 - c0));
        block.sum() / block.len() as f64
    })
}

/// Where a chapter's figure lives: `chapters/figures/<chapter>/<name>` in the
/// crate, which the book shows and git keeps.
pub fn figure_path(chapter: &str, name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("chapters/figures")
        .join(chapter)
        .join(name)
}

/// The end of every example's `main`: prints a one-line reason on error (no
/// backtrace) and turns the result into an exit code.
pub fn exit_code(example: &str, result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{example}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsample_averages_blocks() {
        let m = DMatrix::from_fn(4, 4, |i, j| (i * 4 + j) as f64);
        let d = downsample(&m, (2, 2));
        assert_eq!(d.shape(), (2, 2));
        assert_eq!(d[(0, 0)], (0.0 + 1.0 + 4.0 + 5.0) / 4.0);
        assert_eq!(downsample(&m, (10, 10)), m);
    }

    #[test]
    fn a_plot_without_finite_points_is_an_error() {
        let path = std::env::temp_dir().join("ssm_lineage_empty_plot.svg");
        let plot = LinePlot::new("t", "x", "y")
            .scales(Scale::Log, Scale::Log)
            .line("bad", vec![(0.0, -1.0)]);
        assert!(plot.save(&path).is_err());
    }

    /// Ranges that cannot be drawn are errors that say why, never a hang or
    /// a panic: 300 decades, a zero-width log range, a NaN range.
    #[test]
    fn ranges_that_cannot_be_drawn_are_errors() {
        let path = std::env::temp_dir().join("ssm_lineage_bad_range.svg");
        let wide = LinePlot::new("t", "x", "y")
            .scales(Scale::Linear, Scale::Log)
            .line("wide", vec![(0.0, 1e-150), (1.0, 1e150)]);
        let err = wide.save(&path).expect_err("too wide");
        assert!(err.to_string().contains("decades"), "{err}");
        let flat = LinePlot::new("t", "x", "y")
            .scales(Scale::Log, Scale::Log)
            .ranges(1.0..1.0, 1.0..2.0)
            .line("p", vec![(1.0, 1.5)]);
        assert!(flat.save(&path).is_err());
        let nan = LinePlot::new("t", "x", "y")
            .ranges(f64::NAN..1.0, 0.0..1.0)
            .line("p", vec![(0.5, 0.5)]);
        let err = nan.save(&path).expect_err("not finite");
        assert!(err.to_string().contains("finite"), "{err}");
        let heat = Heatmap {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            value_label: "v".into(),
            data: DMatrix::from_element(2, 2, 1.0),
            x_range: 0.0..f64::NAN,
            y_range: 0.0..1.0,
        };
        assert!(heat.save(&path).is_err());
    }

    /// A figure drawn into a string is the file `save` writes, byte for byte.
    #[test]
    fn to_svg_draws_what_save_writes() {
        let dir = std::env::temp_dir();
        let plot = LinePlot::new("t", "x", "y")
            .line("a", vec![(0.0, 1.0), (1.0, 2.0)])
            .points("b", vec![(0.5, 1.5)]);
        let path = dir.join("ssm_lineage_to_svg_plot.svg");
        plot.save(&path).expect("writable");
        let svg = plot.to_svg().expect("drawable");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(std::fs::read_to_string(&path).expect("written"), svg);
        let grid = grid_to_svg(&[plot.clone(), plot], 2).expect("drawable");
        assert!(grid.contains("width=\"760\""), "{}", &grid[..120]);
        let heat = Heatmap {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            value_label: "v".into(),
            data: DMatrix::from_fn(3, 4, |i, j| (i + j) as f64),
            x_range: 0.0..4.0,
            y_range: 0.0..3.0,
        };
        let path = dir.join("ssm_lineage_to_svg_heat.svg");
        heat.save(&path).expect("writable");
        let svg = heat.to_svg().expect("drawable");
        assert_eq!(std::fs::read_to_string(&path).expect("written"), svg);
        let empty = LinePlot::new("t", "x", "y").to_svg();
        let err = empty.expect_err("nothing to draw");
        assert!(err.to_string().contains(IN_MEMORY), "{err}");
    }
}
