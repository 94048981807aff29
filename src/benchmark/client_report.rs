//! What a client process tells the driver, one JSON line at a time on its stdout: that it has
//! connected, that it has warmed up (and waits at the start line, with `--pairs`), how far its
//! timed run is (at the progress line's pace, never per message), and how its run ended: the
//! whole measurement (the histogram, the exact statistics, CPU and placement figures, counts)
//! and its error as a typed value with its text ([`ReportedError`]).

use serde::{Deserialize, Serialize};

use crate::benchmark::measure::RunMeasurement;
use crate::benchmark::outcome::{ReportedError, RunOutcome};

/// One line of a client's report.
#[derive(Serialize, Deserialize)]
pub enum ClientMessage {
    /// Its transport's client has connected to the server.
    Connected,
    /// Warmed up: it waits at the start line for the driver's go.
    Warmed,
    /// Timed operations done so far.
    Progress(u64),
    /// The run is over: what was measured, and why it ended early (boxed: one per run).
    Finished(Box<FinishedRun>),
}

/// A run's outcome as it crosses the pipe.
#[derive(Serialize, Deserialize)]
pub struct FinishedRun {
    pub measurement: Option<RunMeasurement>,
    pub error: Option<ReportedError>,
}

impl FinishedRun {
    /// A client's outcome, to send.
    pub fn of(outcome: RunOutcome) -> FinishedRun {
        FinishedRun {
            error: outcome.error.as_ref().map(ReportedError::of),
            measurement: outcome.measurement,
        }
    }

    /// The outcome the driver takes from it.
    pub fn into_outcome(self) -> RunOutcome {
        RunOutcome {
            measurement: self.measurement,
            error: self.error.map(ReportedError::into_run_error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::benchmark::measure::MeasureError;
    use crate::benchmark::outcome::{FailureKind, RunError};
    use crate::benchmark::stats::LatencyRecorder;
    use crate::transport::TransportError;
    use std::time::Duration;

    #[test]
    fn a_measurement_crosses_the_pipe_whole() {
        let mut latencies = LatencyRecorder::new();
        for ns in [1200, 1300, 99_000, 5] {
            latencies.record(ns);
        }
        let run = RunMeasurement {
            latencies: latencies.clone(),
            service: None,
            behind_schedule: 3,
            elapsed: Duration::from_nanos(123_456_789),
            progress_time: Duration::from_micros(7),
            placement: None,
            cpu: None,
            stream_messages: 0,
            one_way_end: None,
            per_pair: Vec::new(),
            error: None,
        };
        let outcome = RunOutcome {
            measurement: Some(run),
            error: Some(RunError::from(TransportError::Interrupted)),
        };
        let line =
            serde_json::to_string(&ClientMessage::Finished(Box::new(FinishedRun::of(outcome))));
        let ClientMessage::Finished(back) = serde_json::from_str(&line.unwrap()).unwrap() else {
            panic!("not a finished run");
        };
        let back = back.into_outcome();
        // The interrupt crosses as one; whether it interrupts the run is the driver's to say
        // (`ReportedError::into_run_error`: only if the driver received a stop signal itself).
        match back.error.unwrap() {
            RunError::InClient(reported) => assert_eq!(reported.kind, FailureKind::Interrupted),
            error => assert!(error.is_interrupt(), "{error}"),
        }
        let measured = back.measurement.unwrap();
        assert_eq!(measured.latencies.stats(), latencies.stats());
        assert_eq!(measured.latencies.hdr_v2(), latencies.hdr_v2());
        assert_eq!(measured.elapsed, Duration::from_nanos(123_456_789));
        assert_eq!(measured.behind_schedule, 3);
    }

    #[test]
    fn an_error_keeps_its_kind_and_text() {
        let timeout = RunError::from(TransportError::Timeout {
            what: "the reply".into(),
            timeout: Duration::from_secs(1),
        });
        let reported = ReportedError::of(&timeout);
        assert_eq!(reported.kind, FailureKind::Timeout);
        assert_eq!(reported.text, timeout.to_string());
        let back = reported.into_run_error();
        assert_eq!(back.to_string(), timeout.to_string());
        let other = RunError::Measure(MeasureError::AnotherPairFailed);
        let back = ReportedError::of(&other).into_run_error();
        assert!(matches!(
            back,
            RunError::Measure(MeasureError::AnotherPairFailed)
        ));
    }
}
