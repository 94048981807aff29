//! What a case measures, as one value: round trips one at a time, round trips with N in
//! flight, a one-way stream, or one-way latencies ([`Workload`]); and why a transport cannot carry one
//! ([`Reason`]).
//!
//! It lives in the transport vocabulary layer, beside [`Pattern`], and imports nothing of the
//! crate above it, because the transports name it: each spec answers
//! [`supports`](crate::transport::TransportKind::supports) with it, and the errors of the layer
//! name its parts. Everything the reports say of a workload (its name, the unit its figures
//! count, the table's header and notes, what the CPU column counts) is here too, so that the
//! table, the exports, the plot and compare read it off the value instead of matching on it.
//! Its timed loop and warm-up are in `benchmark/` (one file per workload, behind the
//! `TimedLoop` trait), where the measuring belongs.
//!
//! Adding a workload: a variant here (its name, [`Pattern`] on the wire and [`Figures`]) and
//! its loop's file under `benchmark/`, chosen in `benchmark::workload::timed_loop`.

use crate::transport::pattern::Pattern;
use crate::transport::stream::{MIN_ONE_WAY_MESSAGE, MIN_STREAM_MESSAGE};

/// How many columns the summary table has, for every workload.
pub const TABLE_COLUMNS: usize = 11;

/// How many columns its compact terminal layout has (no total time, no CPU).
pub const COMPACT_COLUMNS: usize = 9;

/// What a case measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Workload {
    /// One request at a time, each timed from its send to its echo.
    #[default]
    RoundTrip,
    /// Round trips with this many (at least 2) requests outstanding (`--in-flight N`).
    InFlight(usize),
    /// Messages one way, back to back, acknowledged at the end (`--pattern stream`).
    Stream,
    /// The same stream, each message stamped with its send time on `CLOCK_MONOTONIC`, which
    /// the server subtracts from its own clock's when the message is whole (`--pattern one-way`).
    OneWay,
}

/// Why a transport cannot carry a workload: named by the transport's spec, said by the table
/// when the case is skipped. A typed value, so that the question costs no allocation and the
/// answer can be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// Its protocol cannot do it: why, in a few words.
    #[error("{0}")]
    Protocol(&'static str),
    /// A kernel setting holds fewer messages than the workload keeps outstanding.
    #[error("its queues hold at most {most} messages ({setting})")]
    QueueTooShallow { setting: &'static str, most: usize },
}

/// What a workload's figures are, in words: the same for every case of a run.
#[derive(Debug, PartialEq, Eq)]
pub struct Figures {
    /// What one completed operation is: "round trip", "message".
    pub unit: &'static str,
    /// The summary table's header.
    pub table_header: [&'static str; TABLE_COLUMNS],
    /// The header of the table's compact terminal layout.
    pub compact_header: [&'static str; COMPACT_COLUMNS],
    /// A note under the table that says what the figures are, when the header does not.
    pub table_note: Option<&'static str>,
    /// What the CPU column counts, under the table.
    pub cpu_note: &'static str,
    /// What the timing columns are, in one sentence without its full stop.
    pub timing_note: &'static str,
    /// What the run measures, on the terminal's banner.
    pub banner: &'static str,
    /// What the Markdown export's figures are, before "N iterations per run, R runs per case".
    pub markdown_heading: &'static str,
    /// What the plot's title counts per case.
    pub plot_count: &'static str,
    /// Why a case that measured nothing failed.
    pub nothing_measured: &'static str,
    /// Whether each operation is timed on its own, so that the case has percentiles (and the
    /// plot a spectrum); else its one figure is its wall time over its operations.
    pub timed_one_by_one: bool,
}

const ROUND_TRIP_FIGURES: Figures = Figures {
    unit: "round trip",
    table_header: [
        "Size",
        "Transport",
        "Total time",
        "Throughput (ops/s)",
        "MB/s",
        "Mean (µs/call)",
        "p50 (µs)",
        "p99 (µs)",
        "p99.9 (µs)",
        "CPU (µs/call)",
        "vs baseline",
    ],
    compact_header: [
        "Size",
        "Transport",
        "ops/s",
        "MB/s",
        "Mean\nµs",
        "p50\nµs",
        "p99\nµs",
        "p99.9\nµs",
        "vs\nbaseline",
    ],
    table_note: None,
    cpu_note: "CPU: CPU time of both processes, all their threads, per round trip, in µs (up to twice the mean when both spin).",
    timing_note: "Latencies are full round trips (request + echo), in µs",
    banner: "Latency: full round trip (request + echo), timed one by one",
    markdown_heading: "Round-trip latencies (request + echo)",
    plot_count: "round trips",
    nothing_measured: "no timed round trip completed",
    timed_one_by_one: true,
};

/// A stream has no per-message latency, so its percentile columns stay empty.
const STREAM_FIGURES: Figures = Figures {
    unit: "message",
    table_header: [
        "Size",
        "Transport",
        "Total time",
        "Throughput (msgs/s)",
        "MB/s",
        "Per message (µs)",
        "p50 (µs)",
        "p99 (µs)",
        "p99.9 (µs)",
        "CPU (µs/msg)",
        "vs baseline",
    ],
    compact_header: [
        "Size",
        "Transport",
        "msgs/s",
        "MB/s",
        "Per msg\nµs",
        "p50\nµs",
        "p99\nµs",
        "p99.9\nµs",
        "vs\nbaseline",
    ],
    table_note: Some("Stream: messages one way, back to back, timed from the first send to the server's acknowledgement of the last; no per-message latency (p50–p99.9 are for round trips). SHM POSIX has one slot: each message is a hand-off."),
    cpu_note: "CPU: CPU time of both processes, all their threads, per message, in µs (up to twice the time per message when both spin).",
    timing_note: "Per message: the stream's wall time over its messages, in µs",
    banner: "Stream: messages one way, back to back, timed from the first send to the acknowledgement of the last",
    markdown_heading: "A one-way stream, per message",
    plot_count: "streamed messages",
    nothing_measured: "no timed stream was acknowledged",
    timed_one_by_one: false,
};

/// One-way latencies have percentiles (the server's histogram) and a rate, as round trips do.
const ONE_WAY_FIGURES: Figures = Figures {
    unit: "message",
    table_header: [
        "Size",
        "Transport",
        "Total time",
        "Throughput (msgs/s)",
        "MB/s",
        "Mean (µs one way)",
        "p50 (µs)",
        "p99 (µs)",
        "p99.9 (µs)",
        "CPU (µs/msg)",
        "vs baseline",
    ],
    compact_header: [
        "Size",
        "Transport",
        "msgs/s",
        "MB/s",
        "Mean\nµs",
        "p50\nµs",
        "p99\nµs",
        "p99.9\nµs",
        "vs\nbaseline",
    ],
    table_note: Some("One-way: each message stamped with CLOCK_MONOTONIC just before its send; the server reads the same clock when the message is whole. Percentiles are of that difference (the server's histogram); msgs/s is the stream's rate, from the first send to the acknowledgement of the last."),
    cpu_note: "CPU: CPU time of both processes, all their threads, per message, in µs.",
    timing_note: "Latencies are one way (send stamp to the server's receipt, on one clock), in µs",
    banner: "One-way latency: each message stamped at its send, timed by the server on the same clock",
    markdown_heading: "One-way latencies (send stamp to receipt)",
    plot_count: "one-way messages",
    nothing_measured: "no one-way message was timed and acknowledged",
    timed_one_by_one: true,
};

impl Workload {
    /// The workload of `--pattern` with `--in-flight n`: round trips with one in flight (or
    /// none said) are plain round trips. A stream keeps no requests in flight.
    pub fn new(pattern: Pattern, in_flight: usize) -> Workload {
        match (pattern, in_flight) {
            (Pattern::RoundTrip, 0 | 1) => Workload::RoundTrip,
            (Pattern::RoundTrip, n) => Workload::InFlight(n),
            (Pattern::Stream, _) => Workload::Stream,
            (Pattern::OneWay, _) => Workload::OneWay,
        }
    }

    /// The workload of a saved result's `pattern`, enough to read its figures by (requests in
    /// flight do not change what they are).
    pub fn of_pattern(pattern: Pattern) -> Workload {
        Workload::new(pattern, 1)
    }

    /// One of each workload, with `in_flight` requests outstanding for the one that keeps
    /// several: what a conformance test runs over every transport.
    pub fn each(in_flight: usize) -> [Workload; 4] {
        [
            Workload::RoundTrip,
            Workload::InFlight(in_flight.max(2)),
            Workload::Stream,
            Workload::OneWay,
        ]
    }

    /// What the two sides exchange on the wire: the server's `--pattern`.
    pub fn pattern(self) -> Pattern {
        match self {
            Workload::RoundTrip | Workload::InFlight(_) => Pattern::RoundTrip,
            Workload::Stream => Pattern::Stream,
            Workload::OneWay => Pattern::OneWay,
        }
    }

    /// How many requests the client keeps outstanding: 1 unless in flight (the JSON's
    /// `config.in_flight`).
    pub fn in_flight(self) -> usize {
        match self {
            Workload::InFlight(n) => n,
            Workload::RoundTrip | Workload::Stream | Workload::OneWay => 1,
        }
    }

    /// Its name for people: `round-trip`, `4 in flight`, `stream`.
    pub fn name(self) -> String {
        match self {
            Workload::InFlight(n) => format!("{n} in flight"),
            other => other.pattern().name().to_string(),
        }
    }

    /// What its figures are, in words.
    pub fn figures(self) -> &'static Figures {
        match self.pattern() {
            Pattern::RoundTrip => &ROUND_TRIP_FIGURES,
            Pattern::Stream => &STREAM_FIGURES,
            Pattern::OneWay => &ONE_WAY_FIGURES,
        }
    }

    /// Why a message of `size_bytes` cannot carry this workload, whatever the transport: a
    /// stream's message holds its sequence number, a one-way message its send time too.
    pub fn size_refusal(self, size_bytes: usize) -> Option<String> {
        match self {
            Workload::Stream if size_bytes < MIN_STREAM_MESSAGE => Some(format!(
                "a stream's message carries its {MIN_STREAM_MESSAGE}-byte sequence number"
            )),
            Workload::OneWay if size_bytes < MIN_ONE_WAY_MESSAGE => Some(format!(
                "a one-way message carries its sequence number and send time ({MIN_ONE_WAY_MESSAGE} bytes)"
            )),
            _ => None,
        }
    }

    /// The workload a transport is asked about: one-way latencies are a stream to it, so a
    /// transport that streams carries them, and one that cannot says why in a stream's words.
    pub fn as_carried(self) -> Workload {
        match self {
            Workload::OneWay => Workload::Stream,
            other => other,
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// The answer of a transport that carries every workload (a byte stream, ZeroMQ).
pub fn any_workload(_workload: Workload) -> Result<(), Reason> {
    Ok(())
}

/// The answer of a transport that carries one request at a time, for `why`: round trips and
/// streams, never several requests in flight.
pub fn one_request_at_a_time(workload: Workload, why: &'static str) -> Result<(), Reason> {
    match workload {
        Workload::InFlight(_) => Err(Reason::Protocol(why)),
        Workload::RoundTrip | Workload::Stream | Workload::OneWay => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_in_flight_is_a_round_trip_and_a_stream_keeps_none() {
        assert_eq!(Workload::new(Pattern::RoundTrip, 1), Workload::RoundTrip);
        assert_eq!(Workload::new(Pattern::RoundTrip, 0), Workload::RoundTrip);
        assert_eq!(Workload::new(Pattern::RoundTrip, 4), Workload::InFlight(4));
        assert_eq!(Workload::new(Pattern::Stream, 1), Workload::Stream);
        for workload in Workload::each(4) {
            let parts = (workload.pattern(), workload.in_flight());
            assert_eq!(Workload::new(parts.0, parts.1), workload, "{workload}");
        }
    }

    #[test]
    fn in_flight_reads_as_round_trips_and_a_stream_per_message() {
        assert_eq!(
            Workload::InFlight(4).figures(),
            Workload::RoundTrip.figures()
        );
        assert_eq!(Workload::Stream.figures().unit, "message");
        assert!(!Workload::Stream.figures().timed_one_by_one);
        assert_eq!(Workload::InFlight(4).name(), "4 in flight");
        assert_eq!(Workload::Stream.to_string(), "stream");
        assert_eq!(Workload::OneWay.to_string(), "one-way");
        assert!(Workload::OneWay.figures().timed_one_by_one);
        assert_eq!(Workload::OneWay.as_carried(), Workload::Stream);
    }

    #[test]
    fn only_a_stream_refuses_messages_too_short_for_its_number() {
        assert!(Workload::Stream
            .size_refusal(MIN_STREAM_MESSAGE - 1)
            .is_some());
        assert_eq!(Workload::Stream.size_refusal(MIN_STREAM_MESSAGE), None);
        assert!(Workload::OneWay
            .size_refusal(MIN_ONE_WAY_MESSAGE - 1)
            .is_some());
        assert_eq!(Workload::OneWay.size_refusal(MIN_ONE_WAY_MESSAGE), None);
        assert_eq!(Workload::RoundTrip.size_refusal(1), None);
    }

    #[test]
    fn one_request_at_a_time_refuses_in_flight_only() {
        let why = "one slot";
        assert_eq!(
            one_request_at_a_time(Workload::InFlight(2), why),
            Err(Reason::Protocol(why))
        );
        assert_eq!(one_request_at_a_time(Workload::Stream, why), Ok(()));
        assert_eq!(one_request_at_a_time(Workload::RoundTrip, why), Ok(()));
        let shallow = Reason::QueueTooShallow {
            setting: "msg_max",
            most: 10,
        };
        assert_eq!(
            shallow.to_string(),
            "its queues hold at most 10 messages (msg_max)"
        );
    }
}
