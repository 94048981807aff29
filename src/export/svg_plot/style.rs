//! How each transport's series looks: one of seventeen colours and one of seventeen marker
//! shapes, both by the transport's place in the run, so that the seventeen transports of
//! `--transports all` differ in colour AND in marker. No seventeen colours stay distinct for every kind of
//! colour vision, so the marker alone tells any two series apart, and the colour alone does for
//! most readers.
//!
//! The colours: the eight of Okabe & Ito's "Color Universal Design" (2008), then four of Paul
//! Tol's "muted" scheme (wine, indigo, olive; his schemes are built to survive the common
//! colour blindnesses) and a mid grey, chosen as the ones furthest from the eight; then Tol's
//! green, purple and sand and a brown, for the four tokio transports, and Tol's rose for gRPC. (Before,
//! colour was the index modulo 8: SHM POSIX and TCP were both blue.) The markers are written
//! as SVG of our own, each with a `<title>` (plotters draws no tooltips): [`marker_svg`].

use plotters::style::RGBColor;

/// Okabe–Ito in an order that puts the colours furthest apart first (a run of two or three
/// transports gets blue, orange and green; yellow, the faintest on white, is the eighth), then
/// Tol's wine, indigo and olive, and grey.
pub const PALETTE: [RGBColor; 17] = [
    RGBColor(0x00, 0x72, 0xB2), // Okabe–Ito blue
    RGBColor(0xE6, 0x9F, 0x00), // Okabe–Ito orange
    RGBColor(0x00, 0x9E, 0x73), // Okabe–Ito bluish green
    RGBColor(0xD5, 0x5E, 0x00), // Okabe–Ito vermillion
    RGBColor(0xCC, 0x79, 0xA7), // Okabe–Ito reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // Okabe–Ito sky blue
    RGBColor(0x00, 0x00, 0x00), // Okabe–Ito black
    RGBColor(0xF0, 0xE4, 0x42), // Okabe–Ito yellow
    RGBColor(0x88, 0x22, 0x55), // Tol muted wine
    RGBColor(0x33, 0x22, 0x88), // Tol muted indigo
    RGBColor(0x99, 0x99, 0x33), // Tol muted olive
    RGBColor(0x88, 0x88, 0x88), // grey
    RGBColor(0x11, 0x77, 0x33), // Tol muted green
    RGBColor(0xAA, 0x44, 0x99), // Tol muted purple
    RGBColor(0xDD, 0xCC, 0x77), // Tol muted sand
    RGBColor(0x8C, 0x56, 0x4B), // brown
    RGBColor(0xCC, 0x66, 0x77), // Tol muted rose
];

/// Marker shapes, each recognisable at 10–12 px: six filled, a star, a cross and a plus, and
/// eight open (white inside, a coloured rim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Marker {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
    OpenCircle,
    OpenSquare,
    Star,
    Cross,
    Plus,
    OpenTriangleUp,
    OpenDiamond,
    OpenTriangleDown,
    Hexagon,
    OpenHexagon,
    OpenStar,
    OpenCross,
}

/// In the palette's order: yellow (the eighth) gets a filled star, not a faint open rim.
const MARKERS: [Marker; 17] = [
    Marker::Circle,
    Marker::Square,
    Marker::TriangleUp,
    Marker::Diamond,
    Marker::TriangleDown,
    Marker::OpenCircle,
    Marker::OpenSquare,
    Marker::Star,
    Marker::Cross,
    Marker::Plus,
    Marker::OpenTriangleUp,
    Marker::OpenDiamond,
    Marker::OpenTriangleDown,
    Marker::Hexagon,
    Marker::OpenHexagon,
    Marker::OpenStar,
    Marker::OpenCross,
];

/// Half the width of a marker, in pixels.
const MARKER_RADIUS: f64 = 5.0;

/// What one series looks like in every panel: its colour and its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesStyle {
    pub color: RGBColor,
    pub marker: Marker,
}

impl SeriesStyle {
    /// The style of the series at `index` in the run; after seventeen, the looks repeat (the
    /// registry holds seventeen transports, and a test fails when it holds more).
    pub fn of_index(index: usize) -> SeriesStyle {
        SeriesStyle {
            color: PALETTE[index % PALETTE.len()],
            marker: MARKERS[index % MARKERS.len()],
        }
    }

    /// The colour as SVG writes it, `#0072B2`.
    pub fn hex(&self) -> String {
        let RGBColor(r, g, b) = self.color;
        format!("#{r:02X}{g:02X}{b:02X}")
    }
}

/// The SVG element of a marker of `style` centred on the pixel `(x, y)`, with `title` (already
/// XML-escaped) as its tooltip when there is one.
pub fn marker_svg(style: &SeriesStyle, (x, y): (i32, i32), title: Option<&str>) -> String {
    let colour = style.hex();
    let paint = match style.marker.is_open() {
        true => format!("fill=\"#FFFFFF\" stroke=\"{colour}\" stroke-width=\"2\""),
        false => format!("fill=\"{colour}\" stroke=\"none\""),
    };
    let (x, y) = (f64::from(x), f64::from(y));
    let (tag, geometry) = match style.marker.outline() {
        None => (
            "circle",
            format!("cx=\"{x}\" cy=\"{y}\" r=\"{MARKER_RADIUS}\""),
        ),
        Some(corners) => {
            let points: Vec<String> = (corners.iter())
                .map(|(dx, dy)| format!("{:.1},{:.1}", x + dx, y + dy))
                .collect();
            ("polygon", format!("points=\"{}\"", points.join(" ")))
        }
    };
    match title {
        None => format!("<{tag} {geometry} {paint}/>\n"),
        Some(title) => format!("<{tag} {geometry} {paint}><title>{title}</title></{tag}>\n"),
    }
}

impl Marker {
    fn is_open(self) -> bool {
        matches!(
            self,
            Marker::OpenCircle
                | Marker::OpenSquare
                | Marker::OpenTriangleUp
                | Marker::OpenDiamond
                | Marker::OpenTriangleDown
                | Marker::OpenHexagon
                | Marker::OpenStar
                | Marker::OpenCross
        )
    }

    /// The corners of the shape around its centre; None for a circle. Squares and triangles
    /// are a pixel smaller than the circle, whose area they would otherwise exceed; the
    /// diamond a pixel larger, as it covers half its square.
    fn outline(self) -> Option<Vec<(f64, f64)>> {
        let r = MARKER_RADIUS;
        let (s, d) = (r - 1.0, r + 1.0);
        let corners = match self {
            Marker::Circle | Marker::OpenCircle => return None,
            Marker::Square | Marker::OpenSquare => vec![(-s, -s), (s, -s), (s, s), (-s, s)],
            Marker::TriangleUp | Marker::OpenTriangleUp => vec![(0.0, -r), (r, s), (-r, s)],
            Marker::TriangleDown | Marker::OpenTriangleDown => vec![(-r, -s), (r, -s), (0.0, r)],
            Marker::Diamond | Marker::OpenDiamond => {
                vec![(0.0, -d), (d, 0.0), (0.0, d), (-d, 0.0)]
            }
            Marker::Star | Marker::OpenStar => star(d, d * 0.45),
            Marker::Hexagon | Marker::OpenHexagon => hexagon(r),
            Marker::Plus => plus(d, 1.6),
            Marker::Cross | Marker::OpenCross => rotate_eighth(plus(d, 1.6)),
        };
        Some(corners)
    }
}

/// A five-pointed star, point up: `outer` and `inner` radii alternate.
fn star(outer: f64, inner: f64) -> Vec<(f64, f64)> {
    (0..10)
        .map(|i| {
            let radius = if i % 2 == 0 { outer } else { inner };
            let angle = std::f64::consts::PI * (f64::from(i) / 5.0 - 0.5);
            (radius * angle.cos(), radius * angle.sin())
        })
        .collect()
}

/// A hexagon of `radius`, flat side up.
fn hexagon(radius: f64) -> Vec<(f64, f64)> {
    (0..6)
        .map(|i| {
            let angle = std::f64::consts::PI * f64::from(i) / 3.0;
            (radius * angle.cos(), radius * angle.sin())
        })
        .collect()
}

/// A plus of arms `reach` long and `half_thickness` wide on each side, as one outline.
fn plus(reach: f64, half_thickness: f64) -> Vec<(f64, f64)> {
    let (r, t) = (reach, half_thickness);
    vec![
        (-t, -r),
        (t, -r),
        (t, -t),
        (r, -t),
        (r, t),
        (t, t),
        (t, r),
        (-t, r),
        (-t, t),
        (-r, t),
        (-r, -t),
        (-t, -t),
    ]
}

/// The outline turned by 45°: a plus becomes a cross.
fn rotate_eighth(corners: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let c = std::f64::consts::FRAC_1_SQRT_2;
    (corners.into_iter())
        .map(|(x, y)| (c * (x - y), c * (x + y)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::transport::TransportKind;

    #[test]
    fn every_transport_of_the_registry_has_a_colour_and_a_marker_no_other_has() {
        let count = TransportKind::all().len();
        let styles: Vec<SeriesStyle> = (0..count).map(SeriesStyle::of_index).collect();
        let colours: HashSet<String> = styles.iter().map(SeriesStyle::hex).collect();
        let markers: HashSet<Marker> = styles.iter().map(|s| s.marker).collect();
        assert_eq!(
            colours.len(),
            count,
            "the palette needs a colour per transport"
        );
        assert_eq!(markers.len(), count, "MARKERS needs a shape per transport");
    }

    #[test]
    fn the_palette_starts_with_okabe_and_itos_eight_colours() {
        let hex: HashSet<String> = (0..8).map(|i| SeriesStyle::of_index(i).hex()).collect();
        let expected = [
            "#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
        ];
        assert_eq!(hex, expected.iter().map(|s| s.to_string()).collect());
    }

    #[test]
    fn a_marker_is_one_element_with_its_title_inside() {
        let style = SeriesStyle::of_index(7);
        let svg = marker_svg(&style, (100, 50), Some("SHM spin, 1 KiB: 3 µs"));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "polygon");
        assert_eq!(root.attribute("fill"), Some("#F0E442"));
        assert_eq!(root.attribute("points").unwrap().split(' ').count(), 10);
        let title = root.first_element_child().unwrap();
        assert_eq!(title.text(), Some("SHM spin, 1 KiB: 3 µs"));
        let open = marker_svg(&SeriesStyle::of_index(5), (0, 0), None);
        assert!(open.starts_with("<circle") && open.contains("stroke=\"#56B4E9\""));
    }
}
