//! The latency spectrum: for each message size, round-trip latency against percentile, the
//! percentile on a log axis of 1/(1−p) so that 90%, 99%, 99.9%, ... are one decade apart and a
//! tail or a second mode shows at a glance (HdrHistogram's percentile distribution plot).
//!
//! The 100th percentile (the maximum) has no finite 1/(1−p); it is drawn as a marker alone in a
//! column of its own, one decade right of the last finite percentile and labelled "max", not
//! joined to the line: between 99.999% and 100% the histogram has nothing more to draw.

use super::data::PlotData;
use super::on_log_axis;
use super::{
    draw_chart, hover_title, transport_style, Drawn, Frame, LineSet, MarkedPoint, PanelArea,
    PlotError,
};
use crate::report::format::figure;
use crate::report::size::format_bytes;
use crate::transport::TransportKind;

/// At most this many spectrum panels (a 3 × 3 grid); a run with more sizes shows this many,
/// spread evenly from the smallest to the largest (a `--sizes sweep` shows every 4th power of
/// two, 64 B, 256 B, ... 4 MiB).
pub const MAX_SPECTRUM_PANELS: usize = 9;

/// The finite percentiles reach at least 99% on the axis, whatever the histograms hold.
const MIN_DECADES: i32 = 2;

/// The sizes that get a panel.
pub fn shown_sizes(sizes: &[usize]) -> Vec<usize> {
    let n = sizes.len();
    if n <= MAX_SPECTRUM_PANELS {
        return sizes.to_vec();
    }
    let last = MAX_SPECTRUM_PANELS - 1;
    // Evenly spaced indices from the first to the last; distinct because n > last + 1.
    (0..MAX_SPECTRUM_PANELS)
        .map(|i| sizes[(i * (n - 1) + last / 2) / last])
        .collect()
}

/// (rows, columns) of the grid of `panels`: side by side up to two, two columns up to four
/// (as wide as the panels above), then three.
pub fn grid_shape(panels: usize) -> (usize, usize) {
    let columns = match panels {
        0 => return (0, 0),
        1 | 2 => panels,
        3 | 4 => 2,
        _ => 3,
    };
    (panels.div_ceil(columns), columns)
}

/// The percentile axis shared by every spectrum panel of a plot.
struct PercentileAxis {
    /// Where the maximum's column is: one decade beyond the last finite percentile.
    max_x: f64,
    /// Decades of finite percentiles: 2 reaches 99%, 5 reaches 99.999%.
    decades: i32,
}

impl PercentileAxis {
    fn of(data: &PlotData) -> PercentileAxis {
        let largest_x = (data.cases.iter())
            .flat_map(|c| &c.histogram)
            .filter_map(|&[p, _]| finite_x(p))
            .fold(1.0, f64::max);
        // 1/(1−0.99999) is a hair above 10^5 in floating point: that is still 5 decades.
        let decades = ((largest_x.log10() - 1e-6).ceil() as i32).max(MIN_DECADES);
        PercentileAxis {
            max_x: 10f64.powi(decades + 1),
            decades,
        }
    }

    /// 50%, then one tick per decade (90%, 99%, ...), then the maximum's column.
    fn ticks(&self) -> Vec<f64> {
        let decades = (1..=self.decades).map(|d| 10f64.powi(d));
        std::iter::once(2.0)
            .chain(decades)
            .chain([self.max_x])
            .collect()
    }

    fn label(&self, x: f64) -> String {
        if x >= self.max_x {
            return "max".to_string();
        }
        // 1/(1−p) = 10^d is the percentile with d − 2 nines after the point.
        let decimals = (x.log10().round() as usize).saturating_sub(2);
        format!("{:.*}%", decimals, 100.0 * (1.0 - 1.0 / x))
    }

    /// Where `percentile` sits on the axis.
    fn x_of(&self, percentile: f64) -> f64 {
        finite_x(percentile).unwrap_or(self.max_x)
    }
}

/// 1/(1−p) for a percentile below 100 (at most about 10^16, so close to 100 is f64).
fn finite_x(percentile: f64) -> Option<f64> {
    let x = 1.0 / (1.0 - percentile / 100.0);
    (percentile < 100.0 && x.is_finite()).then_some(x)
}

/// The heading above the grid, which says when sizes were left out.
pub fn heading(data: &PlotData, shown: usize) -> String {
    let mut heading = "Latency spectrum per message size: round-trip latency against \
        percentile (the lone marker on the right is the maximum; colours and markers as in the legend)"
        .to_string();
    if shown < data.sizes.len() {
        heading.push_str(&format!(", {shown} of {} sizes", data.sizes.len()));
    }
    heading
}

/// One panel per size in `panels` (as many as [`shown_sizes`] gives), in order.
pub fn draw_grid(
    panels: &[PanelArea],
    data: &PlotData,
    drawn: &mut Drawn,
) -> Result<(), PlotError> {
    let axis = PercentileAxis::of(data);
    for (area, size) in panels.iter().zip(shown_sizes(&data.sizes)) {
        draw_panel(area, data, size, &axis, drawn)?;
    }
    Ok(())
}

/// A spectrum point's tooltip: `p99.9 45.1 µs`, or `max 80.2 µs`.
fn percentile_title(kind: TransportKind, size: usize, [p, latency_us]: [f64; 2]) -> String {
    let at = match p >= 100.0 {
        true => "max".to_string(),
        false => format!("p{p}"),
    };
    hover_title(kind, size, &format!("{at} {} µs", figure(latency_us)))
}

/// The spectrum of every transport at `size`: a line through the finite percentiles with a
/// marker at each, the maximum as a marker alone in its column.
fn draw_panel(
    area: &PanelArea,
    data: &PlotData,
    size: usize,
    axis: &PercentileAxis,
    drawn: &mut Drawn,
) -> Result<(), PlotError> {
    let lines: Vec<LineSet> = (data.transports.iter())
        .filter_map(|&kind| Some((kind, data.case(kind, size)?)))
        .filter(|(_, case)| !case.histogram.is_empty())
        .map(|(kind, case)| {
            let point = |&[p, latency_us]: &[f64; 2]| (axis.x_of(p), on_log_axis(latency_us));
            LineSet {
                style: transport_style(data, kind),
                solid: (case.histogram.iter())
                    .filter(|[p, _]| *p < 100.0)
                    .map(point)
                    .collect(),
                markers: (case.histogram.iter())
                    .map(|pair| MarkedPoint {
                        at: point(pair),
                        title: percentile_title(kind, size, *pair),
                    })
                    .collect(),
                dashed: None,
            }
        })
        .collect();
    let caption = format_bytes(size);
    let label = |x: &f64| axis.label(*x);
    let frame = Frame {
        caption: &caption,
        x_desc: "Percentile",
        y_desc: "Round-trip latency (µs)",
        x_range: 1.0..axis.max_x * 2.0,
        x_ticks: axis.ticks(),
        x_label: &label,
    };
    draw_chart(area, &frame, &lines, drawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_labelled_by_percentile_and_the_last_is_the_maximum() {
        let axis = PercentileAxis {
            max_x: 1e6,
            decades: 5,
        };
        let labels: Vec<String> = axis.ticks().iter().map(|&x| axis.label(x)).collect();
        assert_eq!(
            labels,
            ["50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "max"]
        );
        assert_eq!(axis.x_of(100.0), 1e6);
        assert!((axis.x_of(99.9) - 1000.0).abs() < 1e-6);
        assert_eq!(axis.x_of(0.0), 1.0);
    }

    #[test]
    fn a_sweep_shows_nine_sizes_spread_from_first_to_last() {
        let sweep: Vec<usize> = (6..=22).map(|k| 1 << k).collect();
        let shown = shown_sizes(&sweep);
        let expected: Vec<usize> = (6..=22).step_by(2).map(|k| 1 << k).collect();
        assert_eq!(shown, expected);
        assert_eq!(shown_sizes(&sweep[..4]), &sweep[..4]);
        let ten: Vec<usize> = (1..=10).collect();
        assert_eq!(shown_sizes(&ten), [1, 2, 3, 4, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn the_grid_grows_with_the_sizes_up_to_three_by_three() {
        let shapes: Vec<(usize, usize)> = [0, 1, 2, 3, 4, 5, 9].map(grid_shape).to_vec();
        assert_eq!(
            shapes,
            [(0, 0), (1, 1), (1, 2), (2, 2), (2, 2), (2, 3), (3, 3)]
        );
    }
}
