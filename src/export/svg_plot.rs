//! `--plot FILE.svg`: round-trip latency (p50 solid, p99 dashed) and throughput against message
//! size, log-log, one colour per transport. Drawn with plotters' SVG backend, whose text needs
//! no system fonts.

use plotters::prelude::*;

use super::Exporter;
use crate::benchmark::result::{BenchmarkResult, Report};
use crate::transport::TransportKind;

pub struct SvgPlotExporter;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 520;

/// Points of one transport: (size, value) for every case that measured something.
fn series(
    report: &Report,
    kind: TransportKind,
    value: impl Fn(&BenchmarkResult) -> Option<f64>,
) -> Vec<(f64, f64)> {
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

fn draw(report: &Report, svg: &mut String) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let title = format!(
        "transport-bench: {} ({} cores), {} round trips per case",
        report.machine.cpu, report.machine.cores, report.config.iterations
    );
    let root = root
        .titled(&title, ("sans-serif", 20))
        .map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(WIDTH / 2);
    let transports = &report.config.transports;
    let measured = report.results.iter().filter(|r| r.latency_us.is_some());
    let sizes = log_range(measured.clone().map(|r| r.size_bytes as f64));

    let latency_range = log_range(measured.clone().flat_map(|r| {
        let l = r
            .latency_us
            .unwrap_or_else(|| unreachable!("filtered on is_some"));
        [l.p50, l.p99]
    }));
    let mut chart = ChartBuilder::on(&left)
        .caption(
            "Round-trip latency (p50 solid, p99 dashed)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(sizes.clone().log_scale(), latency_range.log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("Message size")
        .y_desc("Round-trip latency (µs)")
        .x_label_formatter(&size_tick)
        .y_label_formatter(&value_tick)
        .draw()
        .map_err(|e| err(&e))?;
    for (i, &kind) in transports.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let p50 = series(report, kind, |r| r.latency_us.map(|l| l.p50));
        let p99 = series(report, kind, |r| r.latency_us.map(|l| l.p99));
        chart
            .draw_series(LineSeries::new(p50.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(kind.display_name())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(p50.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(DashedLineSeries::new(p99, 6, 4, color.stroke_width(1)))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;

    let throughput_range = log_range(measured.map(|r| r.mb_per_s.max(1e-3)));
    let mut chart = ChartBuilder::on(&right)
        .caption("Throughput (payload per direction)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(sizes.log_scale(), throughput_range.log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("Message size")
        .y_desc("Throughput (MB/s, 1 MB = 10^6 B)")
        .x_label_formatter(&size_tick)
        .y_label_formatter(&value_tick)
        .draw()
        .map_err(|e| err(&e))?;
    for (i, &kind) in transports.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points = series(report, kind, |r| Some(r.mb_per_s));
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(kind.display_name())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

impl Exporter for SvgPlotExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, String> {
        let mut svg = String::new();
        draw(report, &mut svg).map_err(|e| format!("drawing the plot: {e}"))?;
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
