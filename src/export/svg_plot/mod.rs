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

use super::{ExportError, Exporter};
use crate::printable;
use crate::report::result::Report;
use crate::report::saved::LARGEST_FIGURE;
use crate::transport::TransportKind;
pub use data::PlotData;
use style::SeriesStyle;

pub struct SvgPlotExporter;

const WIDTH: u32 = 1200;
/// The title and the two panels against message size.
const TOP_HEIGHT: u32 = 520;
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

/// What a size panel plots for each transport, against message size.
type Metric = fn(&data::PlotCase) -> Option<f64>;

/// One of the two panels against size: a solid line with markers per transport (the one in
/// the legend), and optionally a dashed companion line in the same colour.
struct SizePanel {
    caption: &'static str,
    y_desc: &'static str,
    solid: Metric,
    dashed: Option<Metric>,
}

const LATENCY_PANEL: SizePanel = SizePanel {
    caption: "Round-trip latency (p50 solid, p99 dashed)",
    y_desc: "Round-trip latency (µs)",
    solid: |c| c.latency_us.map(|l| l.p50),
    dashed: Some(|c| c.latency_us.map(|l| l.p99)),
};

const STREAM_PANEL: SizePanel = SizePanel {
    caption: "One-way stream: time per message",
    y_desc: "Wall time per message (µs)",
    solid: |c| c.us_per_message,
    dashed: None,
};

const THROUGHPUT_PANEL: SizePanel = SizePanel {
    caption: "Throughput (payload per direction)",
    y_desc: "Throughput (MB/s, 1 MB = 10^6 B)",
    solid: |c| Some(c.mb_per_s),
    dashed: None,
};

/// What one transport draws in one panel: a solid line, markers, and maybe a dashed line.
struct LineSet {
    kind: TransportKind,
    style: SeriesStyle,
    solid: Vec<(f64, f64)>,
    markers: Vec<(f64, f64)>,
    dashed: Option<Vec<(f64, f64)>>,
}

impl LineSet {
    fn points(&self) -> impl Iterator<Item = &(f64, f64)> {
        (self.solid.iter().chain(&self.markers)).chain(self.dashed.iter().flatten())
    }
}

/// The frame of any panel: caption, a log x axis with chosen ticks, a log latency or
/// throughput axis fitted to the lines, and the legend or not.
struct Frame<'f> {
    caption: &'f str,
    x_desc: &'f str,
    y_desc: &'f str,
    x_range: Range<f64>,
    x_ticks: Vec<f64>,
    x_label: &'f dyn Fn(&f64) -> String,
    legend: bool,
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

/// Points of one transport: (size, value) for every case that measured something. A 0-byte
/// size has no place on a log axis (the spectrum grid still shows it).
fn series(data: &PlotData, kind: TransportKind, value: Metric) -> Vec<(f64, f64)> {
    (data.cases.iter())
        .filter(|c| c.transport == kind && c.measured() && c.size_bytes > 0)
        .filter_map(|c| value(c).map(|v| (c.size_bytes as f64, on_log_axis(v))))
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

/// The whole SVG: the two panels against size, then the spectrum grid, whose height grows
/// with the number of sizes it shows.
fn draw(data: &PlotData, svg: &mut String) -> Result<(), PlotError> {
    // A stream has no per-message latencies, so no spectra.
    let shown = match data.workload.figures().timed_one_by_one {
        true => spectrum::shown_sizes(&data.sizes).len(),
        false => 0,
    };
    let (rows, columns) = spectrum::grid_shape(shown);
    let grid_height = match rows {
        0 => 0,
        rows => GRID_HEADING_HEIGHT + rows as u32 * SPECTRUM_ROW_HEIGHT,
    };
    let root = SVGBackend::with_string(svg, (WIDTH, TOP_HEIGHT + grid_height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, grid) = root.split_vertically(TOP_HEIGHT);
    let top = top.titled(&data.title, ("sans-serif", 20))?;
    let (left, right) = top.split_horizontally(WIDTH / 2);
    let timing = match data.workload.figures().timed_one_by_one {
        true => &LATENCY_PANEL,
        false => &STREAM_PANEL,
    };
    draw_size_panel(&left, data, timing)?;
    draw_size_panel(&right, data, &THROUGHPUT_PANEL)?;
    if rows > 0 {
        let grid = grid.titled(&spectrum::heading(data, shown), ("sans-serif", 16))?;
        spectrum::draw_grid(&grid.split_evenly((rows, columns)), data)?;
    }
    root.present()
}

/// A panel against message size: one line per transport, with the legend.
fn draw_size_panel(area: &PanelArea, data: &PlotData, panel: &SizePanel) -> Result<(), PlotError> {
    let lines: Vec<LineSet> = (data.transports.iter())
        .map(|&kind| {
            let solid = series(data, kind, panel.solid);
            LineSet {
                kind,
                style: transport_style(data, kind),
                markers: solid.clone(),
                solid,
                dashed: panel.dashed.map(|metric| series(data, kind, metric)),
            }
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
        legend: true,
    };
    draw_chart(area, &frame, &lines)
}

/// A log-log chart framed by `frame`, with every transport's lines; the y axis fits them.
fn draw_chart(area: &PanelArea, frame: &Frame, lines: &[LineSet]) -> Result<(), PlotError> {
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
    for line_set in lines {
        draw_lines(&mut chart, line_set, frame.legend)?;
    }
    if !frame.legend {
        return Ok(());
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

/// The transport's solid line (in the legend if `legend`, with its marker), its markers, then
/// its dashed line. The legend's entry holds the backend's type, hence `'svg: 'area`.
fn draw_lines<'area, 'svg: 'area>(
    chart: &mut LogLogChart<'area, 'svg>,
    lines: &LineSet,
    legend: bool,
) -> Result<(), PlotError> {
    let style = lines.style;
    let line = style.color.stroke_width(2);
    let solid = chart.draw_series(LineSeries::new(lines.solid.clone(), line))?;
    if legend {
        solid
            .label(lines.kind.display_name())
            .legend(move |at| style.legend_entry(line, at));
    }
    chart.draw_series(lines.markers.iter().map(|&p| style.marker_at(p)))?;
    if let Some(dashed) = &lines.dashed {
        chart.draw_series(DashedLineSeries::new(
            dashed.clone(),
            6,
            4,
            style.color.stroke_width(1),
        ))?;
    }
    Ok(())
}

impl SvgPlotExporter {
    /// The SVG of `data`.
    pub fn render(data: &PlotData) -> Result<Vec<u8>, ExportError> {
        let mut svg = String::new();
        draw(data, &mut svg)?;
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

    /// A colour as the SVG backend writes it.
    fn hex(color: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", color.0, color.1, color.2)
    }

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

    #[test]
    fn svg_parses_and_has_a_series_per_transport() {
        let bytes = SvgPlotExporter.serialize(&sample()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let doc = Document::parse(&text).unwrap();
        let labels = texts(&doc);
        for name in ["SHM POSIX", "ZeroMQ IPC"] {
            // One legend entry in each panel against size; the spectrum panels have none.
            assert_eq!(labels.iter().filter(|l| **l == name).count(), 2, "{name}");
        }
        assert!(labels.iter().any(|l| l.contains("Test CPU")));
        assert!(labels.contains(&"Message size"));
        assert!(labels.contains(&"10 KB"), "{labels:?}");
    }

    #[test]
    fn each_size_has_a_spectrum_panel_with_one_line_per_transport() {
        let report = sample();
        let data = PlotData::from_report(&report);
        let text = String::from_utf8(SvgPlotExporter::render(&data).unwrap()).unwrap();
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
        let half = (WIDTH / 2) as usize;
        for (i, kind) in data.transports.iter().enumerate() {
            let stroke = hex(SeriesStyle::of_index(i).color);
            let mut panels: Vec<(usize, u32)> = (doc.descendants())
                .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some(&stroke))
                .map(|n| first_point(&n))
                .filter(|&(_, y)| y > TOP_HEIGHT)
                .map(|(x, y)| (x as usize / half, (y - TOP_HEIGHT) / SPECTRUM_ROW_HEIGHT))
                .collect();
            panels.sort_unstable();
            assert_eq!(
                panels,
                [(0, 0), (1, 0)],
                "{kind:?}: one line in each measured size"
            );
        }
    }

    /// A plot of every transport of the registry, each at two sizes.
    fn every_transport() -> PlotData {
        let transports = TransportKind::all().to_vec();
        let cases = (transports.iter().enumerate())
            .flat_map(|(i, &transport)| {
                [100, 10_000].map(|size_bytes| data::PlotCase {
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
            sizes: vec![100, 10_000],
            cases,
        }
    }

    /// What a marker element's shape is: its tag, its corners, and how many corners are
    /// topmost (an upward triangle has one, a downward one two).
    fn shape_of(node: &Node) -> (String, usize, usize) {
        let corners: Vec<i32> = (node.attribute("points").unwrap_or_default())
            .split_whitespace()
            .map(|xy| xy.split_once(',').unwrap().1.parse().unwrap())
            .collect();
        let top = corners.iter().min().copied().unwrap_or(0);
        let topmost = corners.iter().filter(|&&y| y == top).count();
        (node.tag_name().name().to_string(), corners.len(), topmost)
    }

    #[test]
    fn every_transport_gets_a_colour_and_marker_pair_of_its_own_in_a_well_formed_svg() {
        let data = every_transport();
        let text = String::from_utf8(SvgPlotExporter::render(&data).unwrap()).unwrap();
        let doc = Document::parse(&text).unwrap();
        let palette: Vec<String> = style::OKABE_ITO.iter().map(|&c| hex(c)).collect();
        let mut looks: BTreeMap<(String, (String, usize, usize)), usize> = BTreeMap::new();
        for node in doc.descendants() {
            let fill = node.attribute("fill").unwrap_or_default().to_string();
            let marker = node.has_tag_name("circle") || node.has_tag_name("polygon");
            if marker && palette.contains(&fill) {
                *looks.entry((fill, shape_of(&node))).or_default() += 1;
            }
        }
        // Each transport draws its markers at two sizes in both panels against size, in both
        // legends, and as the maximum of both spectra: eight, all in its own look.
        assert_eq!(looks.len(), data.transports.len(), "{looks:?}");
        assert!(looks.values().all(|&count| count == 8), "{looks:?}");
    }
}
