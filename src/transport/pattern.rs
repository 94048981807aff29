//! What the two sides of a case exchange, named for both command lines, the exports and the
//! errors: part of the shared vocabulary, so that it imports nothing of the crate (the error
//! type names it, and so do the specs above it).

/// What the two sides of a case exchange: round trips (a request and its echo), a one-way
/// stream of messages that the server acknowledges at its end, or the same stream with each
/// message stamped with its send time, which the server turns into one-way latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Pattern {
    #[default]
    RoundTrip,
    Stream,
    OneWay,
}

impl Pattern {
    pub const ALL: [Pattern; 3] = [Pattern::RoundTrip, Pattern::Stream, Pattern::OneWay];

    /// The name on the command line and in exports.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::RoundTrip => "round-trip",
            Pattern::Stream => "stream",
            Pattern::OneWay => "one-way",
        }
    }

    /// What the transport carries: a one-way run is a stream to it (the stamp is payload,
    /// the server's clock is the server loop's), so that no transport tells the two apart.
    pub fn on_the_transport(self) -> Pattern {
        match self {
            Pattern::OneWay => Pattern::Stream,
            other => other,
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no pattern's, on a command line or in a saved report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pattern '{0}': expected round-trip, stream or one-way")]
pub struct UnknownPattern(pub String);

impl std::str::FromStr for Pattern {
    type Err = UnknownPattern;

    fn from_str(text: &str) -> Result<Pattern, UnknownPattern> {
        Pattern::ALL
            .into_iter()
            .find(|p| p.name() == text)
            .ok_or_else(|| UnknownPattern(text.to_string()))
    }
}

impl serde::Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Pattern, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
