//! `--plot FILE.svg` and `transport-bench plot`: one SVG, one colour and marker per transport
//! throughout ([`style`]).
//! On top, two log-log panels against message size: round-trip latency (p50 solid, p99 dashed)
//! and throughput. Below, a grid with the latency spectrum of each size ([`spectrum`]). Drawn
//! from [`PlotData`] (the live report, or a saved JSON read back) with plotters' SVG backend,
//! whose text needs no system fonts.

mod data;
mod spectrum;
mod style;

use std::ops::Range;

use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{xml_escape, ExportError, Exporter};
use crate::printable;
use crate::report::format::figure;
use crate::report::result::Report;
use crate::report::saved::LARGEST_FIGURE;
use crate::transport::TransportKind;
pub use data::PlotData;
use style::{marker_svg, SeriesStyle};

pub struct SvgPlotExporter;

const WIDTH: u32 = 1200;
/// The title and the two panels against message size.
const TOP_HEIGHT: u32 = 520;
/// The legend under the panels against size: rows of [`LEGEND_COLUMNS`] transports.
const LEGEND_COLUMNS: usize = 6;
const LEGEND_ROW_HEIGHT: u32 = 24;
/// Space above and below the legend's rows, inside its box.
const LEGEND_PADDING: u32 = 10;
/// The heading of the spectrum grid, and each row of the grid.
const GRID_HEADING_HEIGHT: u32 = 30;
const SPECTRUM_ROW_HEIGHT: u32 = 340;

/// The values a log axis shows (µs, or MB/s): from 1 ns, since zero has no place on it, to
/// the largest figure a report may hold, so that no value makes an axis span thousands of
/// decades.
const LOG_FLOOR: f64 = 1e-3;
const LOG_CEILING: f64 = LARGEST_FIGURE;

/// Where a value is drawn on a log axis (NaN, which no measurement gives, at the floor).
fn on_log_axis(value: f64) -> f64 {
    if value.is_nan() {
        return LOG_FLOOR;
    }
    value.clamp(LOG_FLOOR, LOG_CEILING)
}

/// A rectangle of the SVG in pixels: x in `left..right`, y in `top..bottom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PixelRect {
    left: i32,
    top: i32,
    right: i32,
    bottom: i32,
}

#[cfg(test)]
impl PixelRect {
    fn overlaps(&self, other: &PixelRect) -> bool {
        self.left < other.right
            && other.left < self.right
            && self.top < other.bottom
            && other.top < self.bottom
    }
}

/// Where the parts of the SVG go, top to bottom: title and panels against size, the legend,
/// the spectrum grid. The legend has a band of its own, so no line can run under it.
#[derive(Debug, Clone, Copy)]
struct Layout {
    legend_rows: u32,
    grid_rows: u32,
    grid_columns: usize,
}

impl Layout {
    fn of(data: &PlotData) -> Layout {
        // A stream has no per-message latencies, so no spectra.
        let shown = match data.workload.figures().timed_one_by_one {
            true => spectrum::shown_sizes(&data.sizes).len(),
            false => 0,
        };
        let (grid_rows, grid_columns) = spectrum::grid_shape(shown);
        Layout {
            legend_rows: data.transports.len().div_ceil(LEGEND_COLUMNS).max(1) as u32,
            grid_rows: grid_rows as u32,
            grid_columns,
        }
    }

    fn legend_height(&self) -> u32 {
        self.legend_rows * LEGEND_ROW_HEIGHT + 2 * LEGEND_PADDING
    }

    /// The legend's band, the width of the SVG.
    fn legend(&self) -> PixelRect {
        PixelRect {
            left: 0,
            top: TOP_HEIGHT as i32,
            right: WIDTH as i32,
            bottom: (TOP_HEIGHT + self.legend_height()) as i32,
        }
    }

    fn grid_height(&self) -> u32 {
        match self.grid_rows {
            0 => 0,
            rows => GRID_HEADING_HEIGHT + rows * SPECTRUM_ROW_HEIGHT,
        }
    }

    fn height(&self) -> u32 {
        TOP_HEIGHT + self.legend_height() + self.grid_height()
    }
}

/// What a size panel plots for each transport, against message size.
type Metric = fn(&data::PlotCase) -> Option<f64>;

/// One of the two panels against size: a solid line with markers per transport, and
/// optionally a dashed companion line in the same colour.
struct SizePanel {
    caption: &'static str,
    y_desc: &'static str,
    solid: Metric,
    dashed: Option<Metric>,
    /// What a marker's tooltip says of its case, after the transport and size.
    hover: fn(&data::PlotCase) -> Option<String>,
}

const LATENCY_PANEL: SizePanel = SizePanel {
    caption: "Round-trip latency (p50 solid, p99 dashed)",
    y_desc: "Round-trip latency (µs)",
    solid: |c| c.latency_us.map(|l| l.p50),
    dashed: Some(|c| c.latency_us.map(|l| l.p99)),
    hover: |c| {
        let l = c.latency_us?;
        Some(format!(
            "p50 {} µs, p99 {} µs",
            figure(l.p50),
            figure(l.p99)
        ))
    },
};

const STREAM_PANEL: SizePanel = SizePanel {
    caption: "One-way stream: time per message",
    y_desc: "Wall time per message (µs)",
    solid: |c| c.us_per_message,
    dashed: None,
    hover: |c| Some(format!("{} µs per message", figure(c.us_per_message?))),
};

const THROUGHPUT_PANEL: SizePanel = SizePanel {
    caption: "Throughput (payload per direction)",
    y_desc: "Throughput (MB/s, 1 MB = 10^6 B)",
    solid: |c| Some(c.mb_per_s),
    dashed: None,
    hover: |c| Some(format!("{} MB/s", figure(c.mb_per_s))),
};

/// A point that gets the transport's marker, and what its tooltip says.
struct MarkedPoint {
    at: (f64, f64),
    title: String,
}

/// What one transport draws in one panel: a solid line, markers, and maybe a dashed line.
struct LineSet {
    style: SeriesStyle,
    solid: Vec<(f64, f64)>,
    markers: Vec<MarkedPoint>,
    dashed: Option<Vec<(f64, f64)>>,
}

impl LineSet {
    fn points(&self) -> impl Iterator<Item = &(f64, f64)> {
        let markers = self.markers.iter().map(|m| &m.at);
        (self.solid.iter().chain(markers)).chain(self.dashed.iter().flatten())
    }
}

/// A marker placed on the SVG, to be written after plotters' drawing ([`style::marker_svg`]).
struct PlacedMarker {
    style: SeriesStyle,
    at: (i32, i32),
    /// None in the legend, which shows no value.
    title: Option<String>,
}

/// What drawing placed besides plotters' elements: every marker, and where each chart's data
/// area is (for the layout's test).
#[derive(Default)]
struct Drawn {
    markers: Vec<PlacedMarker>,
    data_areas: Vec<PixelRect>,
}

/// The frame of any panel: caption, a log x axis with chosen ticks, a log latency or
/// throughput axis fitted to the lines.
struct Frame<'f> {
    caption: &'f str,
    x_desc: &'f str,
    y_desc: &'f str,
    x_range: Range<f64>,
    x_ticks: Vec<f64>,
    x_label: &'f dyn Fn(&f64) -> String,
}

type PlotError = DrawingAreaErrorKind<std::io::Error>;
type PanelArea<'svg> = DrawingArea<SVGBackend<'svg>, Shift>;
type LogLogChart<'area, 'svg> = ChartContext<
    'area,
    SVGBackend<'svg>,
    Cartesian2d<WithKeyPoints<LogCoord<f64>>, WithKeyPoints<LogCoord<f64>>>,
>;

/// A transport's colour and marker: by its place in the run, the same in every panel.
fn transport_style(data: &PlotData, kind: TransportKind) -> SeriesStyle {
    let index = data.transports.iter().position(|&k| k == kind);
    SeriesStyle::of_index(index.unwrap_or(0))
}

/// A tooltip: the transport, the size, then `what`; XML-escaped.
fn hover_title(kind: TransportKind, size_bytes: usize, what: &str) -> String {
    let size = crate::report::size::format_bytes(size_bytes);
    xml_escape(&format!("{}, {size}: {what}", kind.display_name()))
}

/// The cases of one transport that measured something to draw. A 0-byte size has no place
/// on a log axis (the spectrum grid still shows it).
fn drawn_cases(data: &PlotData, kind: TransportKind) -> impl Iterator<Item = &data::PlotCase> {
    (data.cases.iter()).filter(move |c| c.transport == kind && c.measured() && c.size_bytes > 0)
}

/// Points of one transport: (size, value) for every drawn case with a value.
fn series(data: &PlotData, kind: TransportKind, value: Metric) -> Vec<(f64, f64)> {
    drawn_cases(data, kind)
        .filter_map(|c| value(c).map(|v| (c.size_bytes as f64, on_log_axis(v))))
        .collect()
}

/// The markers of one transport in `panel`: on its solid line, each with its values.
fn marked_series(data: &PlotData, kind: TransportKind, panel: &SizePanel) -> Vec<MarkedPoint> {
    drawn_cases(data, kind)
        .filter_map(|c| {
            let value = (panel.solid)(c)?;
            let what = (panel.hover)(c)?;
            Some(MarkedPoint {
                at: (c.size_bytes as f64, on_log_axis(value)),
                title: hover_title(kind, c.size_bytes, &what),
            })
        })
        .collect()
}

/// A log axis range that contains every value with some margin, even a single one.
fn log_range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (min, max) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if min > max {
        return 1.0..10.0;
    }
    (min / 2.0)..(max * 2.0)
}

/// `multiples` of every power of ten, within `range`.
fn log_points(range: &Range<f64>, multiples: &[f64]) -> Vec<f64> {
    let (first, last) = (range.start.log10().floor(), range.end.log10().ceil());
    (first as i32..=last as i32)
        .flat_map(|d| multiples.iter().map(move |m| m * 10f64.powi(d)))
        .filter(|x| range.contains(x))
        .collect()
}

/// Labelled ticks of a log axis: the powers of ten in `range`, and 2× and 5× them as well
/// when fewer than three powers of ten fit (plotters' own choice can leave a short range
/// with no label at all).
fn log_ticks(range: &Range<f64>) -> Vec<f64> {
    let decades = log_points(range, &[1.0]);
    if decades.len() >= 3 {
        return decades;
    }
    log_points(range, &[1.0, 2.0, 5.0])
}

/// A log value axis over `range`, with [`log_ticks`] and a light grid line at every 1–9 ×
/// 10^d.
fn value_axis(range: Range<f64>) -> WithKeyPoints<LogCoord<f64>> {
    let light = log_points(&range, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let ticks = log_ticks(&range);
    (range.log_scale())
        .with_key_points(ticks)
        .with_light_points(light)
}

fn size_tick(bytes: &f64) -> String {
    crate::report::size::format_bytes(bytes.round() as usize)
}

/// A tick value, with as many decimals as a value below 1 needs (0.2, 0.05, 0.001).
fn value_tick(value: &f64) -> String {
    let decimals = (-value.log10()).ceil().max(0.0) as usize;
    format!("{value:.decimals$}")
}

/// The whole SVG by plotters: the two panels against size, the legend, then the spectrum
/// grid, whose height grows with the number of sizes it shows. The markers are left to the
/// caller, in what this returns.
fn draw(data: &PlotData, svg: &mut String) -> Result<Drawn, PlotError> {
    let layout = Layout::of(data);
    let root = SVGBackend::with_string(svg, (WIDTH, layout.height())).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(TOP_HEIGHT);
    let (legend, grid) = rest.split_vertically(layout.legend_height());
    let top = top.titled(&data.title, ("sans-serif", 20))?;
    let (left, right) = top.split_horizontally(WIDTH / 2);
    let timing = match data.workload.figures().timed_one_by_one {
        true => &LATENCY_PANEL,
        false => &STREAM_PANEL,
    };
    let mut drawn = Drawn::default();
    draw_size_panel(&left, data, timing, &mut drawn)?;
    draw_size_panel(&right, data, &THROUGHPUT_PANEL, &mut drawn)?;
    draw_legend(&legend, data, &layout, &mut drawn)?;
    if layout.grid_rows > 0 {
        let shown = spectrum::shown_sizes(&data.sizes).len();
        let grid = grid.titled(&spectrum::heading(data, shown), ("sans-serif", 16))?;
        let panels = grid.split_evenly((layout.grid_rows as usize, layout.grid_columns));
        spectrum::draw_grid(&panels, data, &mut drawn)?;
    }
    root.present()?;
    Ok(drawn)
}

/// The legend, outside every chart: each transport's line and marker, then its name, in rows
/// of [`LEGEND_COLUMNS`], in a box.
fn draw_legend(
    area: &PanelArea,
    data: &PlotData,
    layout: &Layout,
    drawn: &mut Drawn,
) -> Result<(), PlotError> {
    let (width, height) = area.dim_in_pixel();
    let frame = [(8, 2), (width as i32 - 8, height as i32 - 2)];
    area.draw(&Rectangle::new(frame, BLACK.stroke_width(1)))?;
    let column_width = (WIDTH as usize / LEGEND_COLUMNS) as i32;
    let font = ("sans-serif", 15).into_font().color(&BLACK);
    let name_style = font.pos(Pos::new(HPos::Left, VPos::Center));
    for (index, &kind) in data.transports.iter().enumerate() {
        let style = transport_style(data, kind);
        let x = 24 + (index % LEGEND_COLUMNS) as i32 * column_width;
        let row = (index / LEGEND_COLUMNS) as i32;
        let y = (LEGEND_PADDING + LEGEND_ROW_HEIGHT / 2) as i32 + row * LEGEND_ROW_HEIGHT as i32;
        let line = PathElement::new(vec![(x, y), (x + 28, y)], style.color.stroke_width(2));
        area.draw(&line)?;
        area.draw(&Text::new(kind.display_name(), (x + 36, y), &name_style))?;
        drawn.markers.push(PlacedMarker {
            style,
            at: (x + 14, layout.legend().top + y),
            title: None,
        });
    }
    Ok(())
}

/// A panel against message size: one line per transport.
fn draw_size_panel(
    area: &PanelArea,
    data: &PlotData,
    panel: &SizePanel,
    drawn: &mut Drawn,
) -> Result<(), PlotError> {
    let lines: Vec<LineSet> = (data.transports.iter())
        .map(|&kind| LineSet {
            style: transport_style(data, kind),
            solid: series(data, kind, panel.solid),
            markers: marked_series(data, kind, panel),
            dashed: panel.dashed.map(|metric| series(data, kind, metric)),
        })
        .collect();
    let sizes = log_range(
        lines
            .iter()
            .flat_map(LineSet::points)
            .map(|&(size, _)| size),
    );
    let frame = Frame {
        caption: panel.caption,
        x_desc: "Message size",
        y_desc: panel.y_desc,
        x_ticks: log_ticks(&sizes),
        x_range: sizes,
        x_label: &size_tick,
    };
    draw_chart(area, &frame, &lines, drawn)
}

/// A log-log chart framed by `frame`, with every transport's lines; the y axis fits them.
/// The markers go to `drawn`, placed where the chart maps their points.
fn draw_chart(
    area: &PanelArea,
    frame: &Frame,
    lines: &[LineSet],
    drawn: &mut Drawn,
) -> Result<(), PlotError> {
    let values = log_range(lines.iter().flat_map(LineSet::points).map(|&(_, v)| v));
    let x_axis = (frame.x_range.clone().log_scale()).with_key_points(frame.x_ticks.clone());
    let mut chart = ChartBuilder::on(area)
        .caption(frame.caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_axis, value_axis(values))?;
    chart
        .configure_mesh()
        .x_desc(frame.x_desc)
        .y_desc(frame.y_desc)
        .x_label_formatter(frame.x_label)
        .y_label_formatter(&value_tick)
        .draw()?;
    let (x, y) = chart.plotting_area().get_pixel_range();
    drawn.data_areas.push(PixelRect {
        left: x.start,
        top: y.start,
        right: x.end,
        bottom: y.end,
    });
    for line_set in lines {
        draw_lines(&mut chart, line_set)?;
        drawn
            .markers
            .extend(line_set.markers.iter().map(|m| PlacedMarker {
                style: line_set.style,
                at: chart.backend_coord(&m.at),
                title: Some(m.title.clone()),
            }));
    }
    Ok(())
}

/// The transport's solid line, then its dashed line.
fn draw_lines(chart: &mut LogLogChart, lines: &LineSet) -> Result<(), PlotError> {
    let color = lines.style.color;
    chart.draw_series(LineSeries::new(lines.solid.clone(), color.stroke_width(2)))?;
    if let Some(dashed) = &lines.dashed {
        chart.draw_series(DashedLineSeries::new(
            dashed.clone(),
            6,
            4,
            color.stroke_width(1),
        ))?;
    }
    Ok(())
}

/// `svg` with `markers` written in just before its end, over everything plotters drew.
fn with_markers(svg: &str, markers: &[PlacedMarker]) -> String {
    let end = svg.rfind("</svg>").unwrap_or(svg.len());
    let mut out = String::with_capacity(svg.len() + markers.len() * 160);
    out.push_str(&svg[..end]);
    for marker in markers {
        out.push_str(&marker_svg(
            &marker.style,
            marker.at,
            marker.title.as_deref(),
        ));
    }
    out.push_str(&svg[end..]);
    out
}

impl SvgPlotExporter {
    /// The SVG of `data`.
    pub fn render(data: &PlotData) -> Result<Vec<u8>, ExportError> {
        let mut svg = String::new();
        let drawn = draw(data, &mut svg)?;
        let svg = with_markers(&svg, &drawn.markers);
        // Whatever text reached the drawing (a title, a label) in characters XML can hold.
        Ok(printable::text(&svg).into_owned().into_bytes())
    }
}

impl Exporter for SvgPlotExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        SvgPlotExporter::render(&PlotData::from_report(report))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use roxmltree::{Document, Node};

    use super::*;
    use crate::report::test_report::sample;
    use crate::transport::Workload;

    fn texts<'a>(doc: &'a Document) -> Vec<&'a str> {
        (doc.descendants())
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect()
    }

    /// The first point of a polyline.
    fn first_point(node: &Node) -> (u32, u32) {
        let points = node.attribute("points").unwrap_or_default();
        let first = points.split_whitespace().next().unwrap_or("0,0");
        let (x, y) = first.split_once(',').unwrap();
        (x.parse().unwrap(), y.parse().unwrap())
    }

    fn svg_of(data: &PlotData) -> String {
        String::from_utf8(SvgPlotExporter::render(data).unwrap()).unwrap()
    }

    #[test]
    fn svg_parses_and_names_each_transport_once_in_the_legend() {
        let bytes = SvgPlotExporter.serialize(&sample()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let doc = Document::parse(&text).unwrap();
        let labels = texts(&doc);
        for name in ["SHM POSIX", "ZeroMQ IPC"] {
            assert_eq!(labels.iter().filter(|l| **l == name).count(), 1, "{name}");
        }
        assert!(labels.iter().any(|l| l.contains("Test CPU")));
        assert!(labels.contains(&"Message size"));
        assert!(labels.contains(&"10 KB"), "{labels:?}");
    }

    #[test]
    fn each_size_has_a_spectrum_panel_with_one_line_per_transport() {
        let report = sample();
        let data = PlotData::from_report(&report);
        let text = svg_of(&data);
        let doc = Document::parse(&text).unwrap();
        let labels = texts(&doc);
        // Three sizes: a 2 × 2 grid under the panels against size; the 500 KB case failed.
        for caption in ["100 B", "10 KB", "500 KB"] {
            assert!(labels.contains(&caption), "{caption}: {labels:?}");
        }
        for tick in ["50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "max"] {
            let count = labels.iter().filter(|l| **l == tick).count();
            assert_eq!(count, 3, "tick {tick}: one per spectrum panel");
        }
        let grid_top = Layout::of(&data).legend().bottom as u32;
        let half = (WIDTH / 2) as usize;
        for (i, kind) in data.transports.iter().enumerate() {
            let stroke = SeriesStyle::of_index(i).hex();
            let mut panels: Vec<(usize, u32)> = (doc.descendants())
                .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some(&stroke))
                .map(|n| first_point(&n))
                .filter(|&(_, y)| y > grid_top)
                .map(|(x, y)| (x as usize / half, (y - grid_top) / SPECTRUM_ROW_HEIGHT))
                .collect();
            panels.sort_unstable();
            assert_eq!(
                panels,
                [(0, 0), (1, 0)],
                "{kind:?}: one line in each measured size"
            );
        }
    }

    /// A plot of every transport of the registry, each at `sizes`.
    fn every_transport(sizes: &[usize]) -> PlotData {
        let transports = TransportKind::all().to_vec();
        let cases = (transports.iter().enumerate())
            .flat_map(|(i, &transport)| {
                sizes.iter().map(move |&size_bytes| data::PlotCase {
                    transport,
                    size_bytes,
                    mb_per_s: 1.0 + i as f64,
                    latency_us: Some(data::Percentiles {
                        p50: 10.0 + i as f64,
                        p99: 20.0 + i as f64,
                    }),
                    us_per_message: None,
                    histogram: vec![[0.0, 5.0], [50.0, 10.0 + i as f64], [100.0, 90.0]],
                })
            })
            .collect();
        PlotData {
            title: "every transport".into(),
            workload: Workload::RoundTrip,
            transports,
            sizes: sizes.to_vec(),
            cases,
        }
    }

    /// What a marker element looks like: its colour (fill, or rim when open), whether it is
    /// open, its tag and its number of corners.
    fn look_of(node: &Node) -> (String, bool, String, usize) {
        let fill = node.attribute("fill").unwrap_or_default();
        let open = fill == "#FFFFFF";
        let colour = match open {
            true => node.attribute("stroke").unwrap_or_default(),
            false => fill,
        };
        let corners = (node.attribute("points").unwrap_or_default())
            .split_whitespace()
            .count();
        (
            colour.to_string(),
            open,
            node.tag_name().name().into(),
            corners,
        )
    }

    fn is_marker(node: &Node) -> bool {
        (node.has_tag_name("circle") || node.has_tag_name("polygon"))
            && node.attribute("fill").is_some_and(|f| f.starts_with('#'))
    }

    #[test]
    fn every_transport_looks_the_same_in_every_panel_and_unlike_any_other() {
        let data = every_transport(&[100, 10_000]);
        let text = svg_of(&data);
        let doc = Document::parse(&text).unwrap();
        let mut looks: BTreeMap<(String, bool, String, usize), usize> = BTreeMap::new();
        for node in doc.descendants().filter(is_marker) {
            *looks.entry(look_of(&node)).or_default() += 1;
        }
        // Each transport: two sizes in both panels against size, one in the legend, and three
        // percentiles in both spectra: eleven markers, all in its own look.
        assert_eq!(looks.len(), data.transports.len(), "{looks:?}");
        assert!(looks.values().all(|&count| count == 11), "{looks:?}");
        let colours: Vec<&String> = looks.keys().map(|(colour, ..)| colour).collect();
        let distinct: std::collections::BTreeSet<&String> = colours.iter().copied().collect();
        assert_eq!(distinct.len(), colours.len(), "a colour shared: {looks:?}");
    }

    /// The points a plot of `data` shows with a value: a marker per drawn case in both
    /// panels against size, and one per histogram pair in each shown size's spectrum.
    fn points_of(data: &PlotData) -> usize {
        let against_size = (data.cases.iter())
            .filter(|c| c.latency_us.is_some() && c.size_bytes > 0)
            .count();
        let shown = spectrum::shown_sizes(&data.sizes);
        let spectra: usize = (data.cases.iter())
            .filter(|c| shown.contains(&c.size_bytes))
            .map(|c| c.histogram.len())
            .sum();
        2 * against_size + spectra
    }

    #[test]
    fn every_point_is_a_marker_with_a_title_giving_its_transport_size_and_value() {
        for data in [
            PlotData::from_report(&sample()),
            every_transport(&[64, 4096]),
        ] {
            let text = svg_of(&data);
            let doc = Document::parse(&text).unwrap();
            let titles: Vec<Node> = (doc.descendants())
                .filter(|n| n.has_tag_name("title"))
                .collect();
            assert_eq!(titles.len(), points_of(&data), "{}", data.title);
            for title in &titles {
                assert!(is_marker(&title.parent().unwrap()), "{title:?}");
            }
            let said: Vec<&str> = titles.iter().filter_map(|t| t.text()).collect();
            assert!(said
                .iter()
                .any(|t| t.starts_with("SHM POSIX, ") && t.contains(" µs")));
        }
        let data = PlotData::from_report(&sample());
        let case = &data.cases[0];
        let said = svg_of(&data);
        let p50 = figure(case.latency_us.unwrap().p50);
        let expected = format!("<title>SHM POSIX, 100 B: p50 {p50} µs, p99 ");
        assert!(said.contains(&expected), "{expected}");
        assert!(said.contains("<title>SHM POSIX, 100 B: max "));
        assert!(said.contains("MB/s</title>"));
    }

    #[test]
    fn the_legend_has_a_band_of_its_own_that_no_chart_reaches() {
        let sweep: Vec<usize> = (6..=22).map(|k| 1 << k).collect();
        for data in [PlotData::from_report(&sample()), every_transport(&sweep)] {
            let layout = Layout::of(&data);
            let mut svg = String::new();
            let drawn = draw(&data, &mut svg).unwrap();
            let legend = layout.legend();
            let shown = spectrum::shown_sizes(&data.sizes).len();
            assert_eq!(drawn.data_areas.len(), 2 + shown);
            for area in &drawn.data_areas {
                assert!(
                    !area.overlaps(&legend),
                    "{area:?} under the legend {legend:?}"
                );
            }
            let in_legend = drawn.markers.iter().filter(|m| m.title.is_none());
            assert_eq!(in_legend.clone().count(), data.transports.len());
            for marker in in_legend {
                let (x, y) = marker.at;
                assert!(
                    legend.left < x && x < legend.right,
                    "{x} outside {legend:?}"
                );
                assert!(
                    legend.top < y && y < legend.bottom,
                    "{y} outside {legend:?}"
                );
            }
        }
    }
}
