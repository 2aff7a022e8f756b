//! Figures for the book, drawn with plotters into an `image` buffer and saved as PNG.
//!
//! The font (DejaVu Sans) is compiled in, so figures look the same on every machine and
//! need no system fonts.

use std::path::Path;
use std::sync::Once;

use image::{imageops, Rgb, RgbImage};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

/// Where a legend goes, for [`line_charts_with_legend`].
pub use plotters::chart::SeriesLabelPosition;

/// Anything that went wrong while drawing or saving a figure.
#[derive(Debug)]
pub struct PlotError(pub String);

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plot: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError(e.to_string())
}

fn register_bundled_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .unwrap_or_else(|_| panic!("the bundled DejaVu Sans font is invalid"));
    });
}

/// The colours of successive series, distinguishable in print and for colour-blind readers
/// (Okabe-Ito).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

/// A tick label without a trailing ".0" and with no "-0".
fn tick(value: f64) -> String {
    let text = if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.2}") };
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        "0".into()
    } else {
        text
    }
}

/// One named curve of a line chart.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// One panel of a figure: a titled chart with axis descriptions and its curves.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

fn save(buffer: Vec<u8>, width: u32, height: u32, path: &Path) -> Result<(), PlotError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let image = RgbImage::from_raw(width, height, buffer).ok_or_else(|| err("buffer size"))?;
    image.save(path).map_err(|e| err(format!("{}: {e}", path.display())))
}

/// The range of the finite points, with a margin: a NaN or an infinity (the log of a zero,
/// a diverged run) would make the axes unbounded.
fn bounds(points: impl Iterator<Item = (f64, f64)>) -> ((f64, f64), (f64, f64)) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let pad = |lo: f64, hi: f64| {
        let margin = ((hi - lo) * 0.05).max(1e-9);
        (lo - margin, hi + margin)
    };
    (pad(x0, x1), pad(y0, y1))
}

/// The chart type every figure draws on: `f64` against `f64`, into a bitmap.
type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// How the x axis of a [`titled_chart`] is labelled.
#[derive(Clone, Copy, PartialEq)]
enum XTicks {
    /// Every tick plotters picks.
    All,
    /// Only the whole-numbered ticks: for x values that are counts (epochs, layers), where
    /// a short range would otherwise be labelled 1.50, 2.50, ...
    Whole,
}

/// A titled chart on `area` spanning `x` × `y`, with ticks, axis descriptions and, when
/// `grid`, grid lines.
fn titled_chart<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    title: &str,
    (x, y): ((f64, f64), (f64, f64)),
    (x_label, y_label): (&str, &str),
    (y_label_area, x_ticks): (u32, XTicks),
    grid: bool,
) -> Result<Chart<'a, 'b>, PlotError> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(err)?;
    let mut mesh = chart.configure_mesh();
    if !grid {
        mesh.disable_mesh();
    }
    let x_tick =
        |v: &f64| if x_ticks == XTicks::Whole && v.fract() != 0.0 { String::new() } else { tick(*v) };
    mesh.x_label_formatter(&x_tick)
        .y_label_formatter(&|v| tick(*v))
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// Line charts side by side, one per panel, `panel_width` x `height` pixels each; up to
/// ten curves per panel get distinct colours. The legend sits at the right, half-way up.
pub fn line_charts(path: &Path, panels: &[Panel], panel_width: u32, height: u32) -> Result<(), PlotError> {
    line_charts_with_legend(path, panels, (panel_width, height), SeriesLabelPosition::MiddleRight)
}

/// [`line_charts`] with the legend at `legend`, for curves that would hide behind it.
pub fn line_charts_with_legend(
    path: &Path,
    panels: &[Panel],
    (panel_width, height): (u32, u32),
    legend: SeriesLabelPosition,
) -> Result<(), PlotError> {
    register_bundled_font();
    let width = panel_width * panels.len() as u32;
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        for (area, panel) in root.split_evenly((1, panels.len())).iter().zip(panels) {
            let ((x0, x1), (y0, y1)) = bounds(panel.series.iter().flat_map(|s| s.points.iter().copied()));
            let labels = (panel.x_label.as_str(), panel.y_label.as_str());
            let counts = panel.series.iter().flat_map(|s| &s.points).all(|(x, _)| x.fract() == 0.0);
            let x_ticks = if counts { XTicks::Whole } else { XTicks::All };
            let mut chart =
                titled_chart(area, &panel.title, ((x0, x1), (y0, y1)), labels, (60, x_ticks), true)?;
            for (series, colour) in panel.series.iter().zip(CATEGORY_PALETTE.iter().cycle()) {
                let finite = series.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
                chart
                    .draw_series(LineSeries::new(finite, colour.stroke_width(2)))
                    .map_err(err)?
                    .label(&series.label)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
            }
            if panel.series.len() > 1 || !panel.series.iter().all(|s| s.label.is_empty()) {
                chart
                    .configure_series_labels()
                    .position(legend.clone())
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 15))
                    .draw()
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    save(buffer, width, height, path)
}

/// Paths in the plane, one panel per [`Panel`] in rows of `columns`, over the same thin
/// grey `backdrop` curves in every panel (for example level lines of the function being
/// minimised). Each path is drawn as a line with a dot per point; the axes span the
/// backdrop and the paths. Panels are `panel_width` x `panel_height` pixels.
pub fn paths_over_backdrop(
    path: &Path,
    panels: &[Panel],
    backdrop: &[Vec<(f64, f64)>],
    columns: usize,
    (panel_width, panel_height): (u32, u32),
) -> Result<(), PlotError> {
    register_bundled_font();
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns);
    let (width, height) = (panel_width * columns as u32, panel_height * rows as u32);
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let ((x0, x1), (y0, y1)) =
            bounds(
                backdrop.iter().flatten().copied().chain(
                    panels.iter().flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().copied())),
                ),
            );
        for (area, panel) in root.split_evenly((rows, columns)).iter().zip(panels) {
            let labels = (panel.x_label.as_str(), panel.y_label.as_str());
            let mut chart =
                titled_chart(area, &panel.title, ((x0, x1), (y0, y1)), labels, (50, XTicks::All), false)?;
            for curve in backdrop {
                chart
                    .draw_series(LineSeries::new(curve.iter().copied(), BLACK.mix(0.25).stroke_width(1)))
                    .map_err(err)?;
            }
            for (series, colour) in panel.series.iter().zip(PALETTE.iter().cycle()) {
                chart
                    .draw_series(LineSeries::new(series.points.iter().copied(), colour.stroke_width(2)))
                    .map_err(err)?
                    .label(&series.label)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
                chart
                    .draw_series(series.points.iter().map(|&p| Circle::new(p, 2, colour.filled())))
                    .map_err(err)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    save(buffer, width, height, path)
}

/// A scatter plot of `points` with the diagonal `y = x`: points on the diagonal mean the
/// two quantities agree.
pub fn scatter_against_diagonal(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
) -> Result<(), PlotError> {
    register_bundled_font();
    let (width, height) = (640u32, 600u32);
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let ((x0, x1), (y0, y1)) = bounds(points.iter().copied());
        let (lo, hi) = (x0.min(y0), x1.max(y1));
        let mut chart =
            titled_chart(&root, title, ((lo, hi), (lo, hi)), (x_label, y_label), (60, XTicks::All), true)?;
        chart
            .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.4).stroke_width(1)))
            .map_err(err)?;
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, PALETTE[0].filled()))).map_err(err)?;
        root.present().map_err(err)?;
    }
    save(buffer, width, height, path)
}

/// Ten colours for categories (such as the ten digit classes): the Okabe-Ito colours,
/// then four more that stay apart from them.
pub const CATEGORY_PALETTE: [RGBColor; 10] = [
    PALETTE[0],
    PALETTE[1],
    PALETTE[2],
    PALETTE[3],
    PALETTE[4],
    PALETTE[5],
    RGBColor(0, 0, 0),
    RGBColor(150, 150, 150),
    RGBColor(140, 40, 40),
    RGBColor(120, 120, 0),
];

/// A scatter plot with one colour (and legend entry) per group, for example the 2-D
/// embeddings of the digits coloured by class. Groups beyond ten reuse the colours.
pub fn scatter_groups(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    groups: &[Series],
) -> Result<(), PlotError> {
    register_bundled_font();
    let (width, height) = (720u32, 640u32);
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let ((x0, x1), (y0, y1)) = bounds(groups.iter().flat_map(|g| g.points.iter().copied()));
        let mut chart =
            titled_chart(&root, title, ((x0, x1), (y0, y1)), (x_label, y_label), (60, XTicks::All), true)?;
        for (group, colour) in groups.iter().zip(CATEGORY_PALETTE.iter().cycle()) {
            chart
                .draw_series(group.points.iter().map(|&p| Circle::new(p, 3, colour.mix(0.8).filled())))
                .map_err(err)?
                .label(&group.label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    save(buffer, width, height, path)
}

/// One image of a grid, with the text shown under it.
pub struct Tile {
    pub image: RgbImage,
    pub caption: String,
}

/// Images in a grid of `columns`, each scaled (nearest neighbour, so pixels stay visible) to
/// `tile_size` x `tile_size` with its caption underneath, and a title on top.
pub fn image_grid(
    path: &Path,
    title: &str,
    tiles: &[Tile],
    columns: u32,
    tile_size: u32,
) -> Result<(), PlotError> {
    register_bundled_font();
    let (gap, caption_height, title_height) = (8u32, 24u32, 40u32);
    let rows = (tiles.len() as u32).div_ceil(columns);
    let width = columns * (tile_size + gap) + gap;
    let height = title_height + rows * (tile_size + caption_height + gap) + gap;
    let mut canvas = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let origin = |i: u32| {
        (
            gap + (i % columns) * (tile_size + gap),
            title_height + (i / columns) * (tile_size + caption_height + gap),
        )
    };
    for (i, tile) in tiles.iter().enumerate() {
        let scaled = imageops::resize(&tile.image, tile_size, tile_size, imageops::FilterType::Nearest);
        let (x, y) = origin(i as u32);
        imageops::overlay(&mut canvas, &scaled, i64::from(x), i64::from(y));
    }
    let mut buffer = canvas.into_raw();
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        let centred =
            |size| ("sans-serif", size).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw_text(title, &centred(24), ((width / 2) as i32, 8)).map_err(err)?;
        for (i, tile) in tiles.iter().enumerate() {
            let (x, y) = origin(i as u32);
            root.draw_text(
                &tile.caption,
                &centred(17),
                ((x + tile_size / 2) as i32, (y + tile_size + 3) as i32),
            )
            .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    save(buffer, width, height, path)
}
