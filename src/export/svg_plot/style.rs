//! How each transport's series looks: a colour of the Okabe–Ito palette (safe for the common
//! kinds of colour blindness, and distinct in greyscale print as far as eight colours can be)
//! and a marker shape, so that no two of up to forty series look alike; twelve lines on one
//! panel stay readable.
//!
//! The colour is the series' index modulo the eight colours, the marker its index modulo the
//! five shapes: five and eight have no common factor, so the pair repeats only after forty
//! series, and neighbours in the run differ in both. (plotters' `Palette99`, used before, gave
//! Unix stream and TCP loopback two similar yellows and SHM spin and SHM zero-copy two blues.)

use plotters::element::{ComposedElement, Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::RGBColor;
// What plotters does not re-export: what an element of our own draws with.
use plotters_backend::{BackendColor, BackendCoord, DrawingErrorKind};

/// Okabe & Ito, "Color Universal Design" (2008), in an order that puts the colours furthest
/// apart first: a run of two or three transports gets blue, orange and green. Yellow, the
/// faintest on white, comes last.
pub const OKABE_ITO: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];

/// Filled marker shapes, each recognisable at 8–10 px.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Marker {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
}

const MARKERS: [Marker; 5] = [
    Marker::Circle,
    Marker::Square,
    Marker::TriangleUp,
    Marker::Diamond,
    Marker::TriangleDown,
];

/// Half the width of a marker, in pixels.
const MARKER_RADIUS: i32 = 5;

/// What one series looks like in every panel: its colour and its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesStyle {
    pub color: RGBColor,
    pub marker: Marker,
}

impl SeriesStyle {
    /// The style of the series at `index` in the run.
    pub fn of_index(index: usize) -> SeriesStyle {
        SeriesStyle {
            color: OKABE_ITO[index % OKABE_ITO.len()],
            marker: MARKERS[index % MARKERS.len()],
        }
    }

    /// The series' marker centred on `at`, a point of a chart.
    pub fn marker_at<C>(&self, at: C) -> MarkerElement<C> {
        MarkerElement { at, style: *self }
    }

    /// The legend's picture of the series: its line (`line`, 20 px long) with the marker in
    /// the middle, at the pixel `at`.
    pub fn legend_entry<DB: DrawingBackend>(
        &self,
        line: ShapeStyle,
        at: BackendCoord,
    ) -> ComposedElement<BackendCoord, DB, PathElement<BackendCoord>, MarkerElement<BackendCoord>>
    {
        EmptyElement::at(at)
            + PathElement::new(vec![(0, 0), (20, 0)], line)
            + self.marker_at((10, 0))
    }
}

/// One marker: plotters has circles and upward triangles, not the other shapes, so the
/// element is ours and draws each shape as the backend's circle or polygon.
pub struct MarkerElement<C> {
    at: C,
    style: SeriesStyle,
}

impl<'a, C> PointCollection<'a, C> for &'a MarkerElement<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;

    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for MarkerElement<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut points: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some(centre) = points.next() else {
            return Ok(());
        };
        let color: BackendColor = self.style.color.to_backend_color();
        match self.style.marker.vertices(centre) {
            None => backend.draw_circle(centre, MARKER_RADIUS as u32, &color, true),
            Some(vertices) => backend.fill_polygon(vertices, &color),
        }
    }
}

impl Marker {
    /// The corners of the shape around `(x, y)`; None for the circle. Squares and triangles
    /// are a pixel smaller than the circle, whose area they would otherwise exceed; the
    /// diamond a pixel larger, as it covers half its square.
    fn vertices(self, (x, y): BackendCoord) -> Option<Vec<BackendCoord>> {
        let r = MARKER_RADIUS;
        let offsets: &[(i32, i32)] = match self {
            Marker::Circle => return None,
            Marker::Square => &[
                (1 - r, 1 - r),
                (r - 1, 1 - r),
                (r - 1, r - 1),
                (1 - r, r - 1),
            ],
            Marker::TriangleUp => &[(0, -r), (r, r - 1), (-r, r - 1)],
            Marker::Diamond => &[(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)],
            Marker::TriangleDown => &[(-r, 1 - r), (r, 1 - r), (0, r)],
        };
        Some(offsets.iter().map(|&(dx, dy)| (x + dx, y + dy)).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn forty_series_all_look_different_and_neighbours_differ_in_both() {
        let styles: Vec<SeriesStyle> = (0..40).map(SeriesStyle::of_index).collect();
        let distinct: HashSet<SeriesStyle> = styles.iter().copied().collect();
        assert_eq!(distinct.len(), 40);
        for pair in styles.windows(2) {
            assert_ne!(pair[0].color, pair[1].color);
            assert_ne!(pair[0].marker, pair[1].marker);
        }
        assert_eq!(SeriesStyle::of_index(40), styles[0]);
    }

    #[test]
    fn the_palette_is_okabe_and_itos_eight_colours() {
        let hex: HashSet<String> = (OKABE_ITO.iter())
            .map(|c| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2))
            .collect();
        let expected = [
            "#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
        ];
        assert_eq!(hex, expected.iter().map(|s| s.to_string()).collect());
    }
}
