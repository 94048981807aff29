//! How a one-way server (`--pattern one-way`) hands its latencies to the driver: one line on
//! its stdout per stream, written before it acknowledges the stream's end, so that it is in the
//! pipe by the time the client has the acknowledgement.
//!
//! The line is `ONE-WAY <end> <recorder>`: the end's number (which the client numbered as no
//! other stream's, `transport::stream::next_end`, and reports with its run), and the whole
//! [`LatencyRecorder`] as JSON (its histogram in HdrHistogram's compressed V2 encoding, its
//! exact figures beside it). A line on a pipe carries any size, whatever the messages' size,
//! and the stdout the driver already reads for `READY` needs nothing new on either side. The
//! driver takes the line whose end is its run's, and checks it: it must parse, its histogram
//! must hold as many values as its count says, and (the driver's part) that count must be the
//! number of messages the client's stream delivered. A lost, cut or corrupted line is an error
//! of the run, never an empty result.
//!
//! The driver reads the line with `ServerProcess::one_way_latencies` (`peer/spawn.rs`), beside
//! its reading of `READY`.
//!
//! The server is one the driver started (`--connect` is refused for one-way runs), so it is
//! on this host; that it reads the client's `CLOCK_MONOTONIC` the driver checks from its time
//! namespace (`system::clock::same_clock_as`).

use std::time::Duration;

use crate::report::latency::LatencyRecorder;

/// The word that starts a hand-over line.
const TAG: &str = "ONE-WAY";

/// Why a server's one-way latencies did not reach the driver whole.
#[derive(Debug, thiserror::Error)]
pub enum HandOverError {
    #[error("the server wrote a hand-over line that is not '{TAG} END JSON'")]
    Malformed,
    #[error("the server's latencies for stream end {end:#x} do not decode: {source}")]
    Decode {
        end: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("the server's histogram for stream end {end:#x} holds {histogram} values, its count says {count}")]
    Inconsistent {
        end: u64,
        histogram: u64,
        count: u64,
    },
    #[error(
        "the server closed its output without handing over the latencies of stream end {end:#x}"
    )]
    Closed { end: u64 },
    #[error("the server handed over no latencies for stream end {end:#x} within {}", humantime::format_duration(*.waited))]
    Timeout { end: u64, waited: Duration },
    #[error("encoding the latencies: {0}")]
    Encode(#[source] serde_json::Error),
}

/// The hand-over line of the stream that ended with `end`.
pub fn hand_over_line(end: u64, latencies: &LatencyRecorder) -> Result<String, HandOverError> {
    let json = serde_json::to_string(latencies).map_err(HandOverError::Encode)?;
    Ok(format!("{TAG} {end} {json}"))
}

/// The end and the latencies of a hand-over `line`; None if the line is no hand-over.
pub fn parse_hand_over(line: &str) -> Option<Result<(u64, LatencyRecorder), HandOverError>> {
    let rest = line.strip_prefix(TAG)?.strip_prefix(' ')?;
    let parsed = rest
        .split_once(' ')
        .and_then(|(end, json)| Some((end.parse::<u64>().ok()?, json)))
        .ok_or(HandOverError::Malformed)
        .and_then(|(end, json)| {
            let latencies: LatencyRecorder = serde_json::from_str(json)
                .map_err(|source| HandOverError::Decode { end, source })?;
            let histogram = latencies.histogram().len();
            match histogram == latencies.count() {
                true => Ok((end, latencies)),
                false => Err(HandOverError::Inconsistent {
                    end,
                    histogram,
                    count: latencies.count(),
                }),
            }
        });
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_over_line_reads_back_as_the_same_latencies() {
        let mut latencies = LatencyRecorder::new();
        for ns in [900, 1_200, 1_500, 80_000] {
            latencies.record(ns);
        }
        let line = hand_over_line(0x8000_0000_0000_0007, &latencies).unwrap();
        let (end, back) = parse_hand_over(&line).unwrap().unwrap();
        assert_eq!(end, 0x8000_0000_0000_0007);
        assert_eq!(back.stats(), latencies.stats());
        assert!(parse_hand_over("READY").is_none());
    }

    #[test]
    fn a_cut_or_corrupted_line_is_an_error_never_latencies() {
        let mut latencies = LatencyRecorder::new();
        latencies.record(1_000);
        let line = hand_over_line(9, &latencies).unwrap();
        let cut = &line[..line.len() - 10];
        assert!(matches!(
            parse_hand_over(cut),
            Some(Err(HandOverError::Decode { end: 9, .. }))
        ));
        let miscounted = line.replace("\"count\":1", "\"count\":2");
        assert_ne!(miscounted, line);
        assert!(matches!(
            parse_hand_over(&miscounted),
            Some(Err(HandOverError::Inconsistent { .. }))
        ));
        assert!(matches!(
            parse_hand_over("ONE-WAY x {}"),
            Some(Err(HandOverError::Malformed))
        ));
    }
}
