//! `--plot FILE.svg`: round-trip latency (p50 solid, p99 dashed) and throughput against message
//! size, log-log, one colour per transport. Drawn with plotters' SVG backend, whose text needs
//! no system fonts.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ExportError, Exporter};
use crate::benchmark::result::{BenchmarkResult, Report};
use crate::transport::TransportKind;

pub struct SvgPlotExporter;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 520;

/// What a panel plots for each transport, against message size.
type Metric = fn(&BenchmarkResult) -> Option<f64>;

/// One of the two panels: a solid line with markers per transport (the one in the legend), and
/// optionally a dashed companion line in the same colour.
struct Panel {
    caption: &'static str,
    y_desc: &'static str,
    solid: Metric,
    dashed: Option<Metric>,
}

const LATENCY_PANEL: Panel = Panel {
    caption: "Round-trip latency (p50 solid, p99 dashed)",
    y_desc: "Round-trip latency (µs)",
    solid: |r| r.latency_us.map(|l| l.p50),
    dashed: Some(|r| r.latency_us.map(|l| l.p99)),
};

const THROUGHPUT_PANEL: Panel = Panel {
    caption: "Throughput (payload per direction)",
    y_desc: "Throughput (MB/s, 1 MB = 10^6 B)",
    solid: |r| Some(r.mb_per_s),
    dashed: None,
};

/// The lines of one transport in one panel.
struct TransportLines {
    kind: TransportKind,
    color: RGBAColor,
    solid: Vec<(f64, f64)>,
    dashed: Option<Vec<(f64, f64)>>,
}

type PlotError = DrawingAreaErrorKind<std::io::Error>;
type PanelArea<'svg> = DrawingArea<SVGBackend<'svg>, Shift>;
type LogLogChart<'area, 'svg> =
    ChartContext<'area, SVGBackend<'svg>, Cartesian2d<LogCoord<f64>, LogCoord<f64>>>;

/// Points of one transport: (size, value) for every case that measured something.
fn series(report: &Report, kind: TransportKind, value: Metric) -> Vec<(f64, f64)> {
    report
        .results
        .iter()
        .filter(|r| r.transport == kind && r.latency_us.is_some())
        .filter_map(|r| value(r).map(|v| (r.size_bytes as f64, v.max(1e-3))))
        .collect()
}

/// A log axis range that contains every value with some margin, even a single one.
fn log_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (min, max) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if min > max {
        return 1.0..10.0;
    }
    (min / 2.0)..(max * 2.0)
}

fn size_tick(bytes: &f64) -> String {
    crate::size::format_bytes(bytes.round() as usize)
}

fn value_tick(value: &f64) -> String {
    if *value >= 1.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

fn draw(report: &Report, svg: &mut String) -> Result<(), PlotError> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "transport-bench: {} ({} cores), {} round trips per case",
        report.machine.cpu, report.machine.cores, report.config.iterations
    );
    let root = root.titled(&title, ("sans-serif", 20))?;
    let (left, right) = root.split_horizontally(WIDTH / 2);
    draw_panel(&left, report, &LATENCY_PANEL)?;
    draw_panel(&right, report, &THROUGHPUT_PANEL)?;
    root.present()
}

/// A log-log chart of the panel's lines, with its mesh, axes and legend.
fn draw_panel(area: &PanelArea, report: &Report, panel: &Panel) -> Result<(), PlotError> {
    let lines: Vec<TransportLines> = report
        .config
        .transports
        .iter()
        .enumerate()
        .map(|(i, &kind)| TransportLines {
            kind,
            color: Palette99::pick(i).to_rgba(),
            solid: series(report, kind, panel.solid),
            dashed: panel.dashed.map(|metric| series(report, kind, metric)),
        })
        .collect();
    let points = lines
        .iter()
        .flat_map(|l| l.solid.iter().chain(l.dashed.iter().flatten()));
    let sizes = log_range(points.clone().map(|&(size, _)| size));
    let values = log_range(points.map(|&(_, value)| value));
    let mut chart = ChartBuilder::on(area)
        .caption(panel.caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(sizes.log_scale(), values.log_scale())?;
    chart
        .configure_mesh()
        .x_desc("Message size")
        .y_desc(panel.y_desc)
        .x_label_formatter(&size_tick)
        .y_label_formatter(&value_tick)
        .draw()?;
    for transport in &lines {
        draw_lines(&mut chart, transport)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

/// The transport's solid line with its markers and legend entry, then its dashed line.
fn draw_lines(chart: &mut LogLogChart, lines: &TransportLines) -> Result<(), PlotError> {
    let color = lines.color;
    chart
        .draw_series(LineSeries::new(lines.solid.clone(), color.stroke_width(2)))?
        .label(lines.kind.display_name())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart.draw_series(
        lines
            .solid
            .iter()
            .map(|&p| Circle::new(p, 4, color.filled())),
    )?;
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

impl Exporter for SvgPlotExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut svg = String::new();
        draw(report, &mut svg)?;
        Ok(svg.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_report::sample;

    #[test]
    fn svg_parses_and_has_a_series_per_transport() {
        let bytes = SvgPlotExporter.serialize(&sample()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let labels: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        for name in ["SHM POSIX", "ZeroMQ IPC"] {
            // One legend entry per panel.
            assert_eq!(labels.iter().filter(|l| **l == name).count(), 2, "{name}");
        }
        assert!(labels.iter().any(|l| l.contains("Test CPU")));
        assert!(labels.contains(&"Message size"));
        assert!(labels.contains(&"10 KB"), "{labels:?}");
    }
}
