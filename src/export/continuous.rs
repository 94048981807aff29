//! What the continuous-benchmarking exports ([`super::bencher`], [`super::benchmark_action`])
//! say of a case: one stable name per case, and its figures only when it completed. A failed,
//! interrupted or skipped case is left out, never written as a value: a dashboard would draw
//! it as a measurement (the run's own exit code, 1, says that a case failed).

use super::ExportError;
use crate::report::result::{BenchmarkResult, Report};
use crate::report::student_t::mean_and_half_width;
use crate::transport::Pattern;

/// The confidence of the interval given with a case's figure: the table's.
pub use crate::report::mean_interval::CONFIDENCE;

/// A completed case's figures, in the units the formats want.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFigures {
    /// `shm-posix/100B/round-trip`: see [`case_name`].
    pub name: String,
    pub pattern: Pattern,
    /// A round trip's mean latency, or a stream's time per message, in ns.
    pub mean_ns: f64,
    /// With 2 runs or more: the 95% confidence interval of the mean of the run means, in ns
    /// (lower, upper; lower cut at 0); None with one run, which says nothing of how the next
    /// would differ.
    pub interval_ns: Option<Interval>,
    /// Round trips, or a stream's messages, per second.
    pub ops_per_s: f64,
    pub runs: usize,
    /// The median and the 99th percentile of the round trips, in ns; None for a stream.
    pub p50_p99_ns: Option<(f64, f64)>,
}

/// `value` as one pretty-printed JSON document, ending in a line break, as both formats are.
pub fn json_document(value: &impl serde::Serialize) -> Result<Vec<u8>, ExportError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(ExportError::Json)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// A confidence interval, in ns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
    /// From its centre, the mean of the run means, to `upper`.
    pub half_width: f64,
}

impl Interval {
    /// The interval of the mean of `samples_us` (µs), in ns; None with fewer than two.
    fn of_the_mean(samples_us: &[f64]) -> Option<Interval> {
        let (mean_us, half_width_us) = mean_and_half_width(samples_us, CONFIDENCE)?;
        Some(Interval {
            // A time is not negative: an interval that reaches below 0 (run means far apart)
            // is cut there, its half width still telling how little the runs agree.
            lower: ((mean_us - half_width_us) * 1e3).max(0.0),
            upper: (mean_us + half_width_us) * 1e3,
            half_width: half_width_us * 1e3,
        })
    }
}

/// The stable name of a case in a report: transport, size in bytes, and what was exchanged
/// (`round-trip`, `stream`, `4-in-flight`), then `2-pairs` with more than one pair:
/// `shm-posix/100B/round-trip`, `tcp/65536B/stream/2-pairs`.
pub fn case_name(report: &Report, result: &BenchmarkResult) -> String {
    let workload = report.config.workload().name().replace(' ', "-");
    let mut name = format!(
        "{}/{}B/{workload}",
        result.transport.name(),
        result.size_bytes
    );
    if report.config.pairs > 1 {
        name.push_str(&format!("/{}-pairs", report.config.pairs));
    }
    name
}

/// Every case of `report` that completed with a figure, in the report's order.
pub fn completed_cases(report: &Report) -> Vec<CaseFigures> {
    (report.results.iter())
        .filter_map(|result| figures(report, result))
        .collect()
}

/// A case's figures, if it completed with a positive, finite time.
fn figures(report: &Report, result: &BenchmarkResult) -> Option<CaseFigures> {
    if result.status != crate::report::result::Status::Ok {
        return None;
    }
    let mean_us = match result.pattern {
        Pattern::RoundTrip | Pattern::OneWay => result.latency_us?.mean,
        Pattern::Stream => result.us_per_message?,
    };
    if !(mean_us.is_finite() && mean_us > 0.0) {
        return None;
    }
    let interval_ns = Interval::of_the_mean(&result.runs);
    Some(CaseFigures {
        name: case_name(report, result),
        pattern: result.pattern,
        mean_ns: mean_us * 1e3,
        interval_ns,
        ops_per_s: result.ops_per_s,
        runs: result.runs.len(),
        p50_p99_ns: (result.latency_us).map(|latency| (latency.p50 * 1e3, latency.p99 * 1e3)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::result::Status;
    use crate::report::test_report::sample;

    #[test]
    fn a_failed_case_is_left_out_and_the_others_are_named_by_transport_size_and_workload() {
        let report = sample();
        let cases = completed_cases(&report);
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "shm-posix/100B/round-trip",
                "shm-posix/10000B/round-trip",
                "zmq-ipc/100B/round-trip",
                "zmq-ipc/10000B/round-trip"
            ]
        );
        assert_eq!(report.results[4].status, Status::Failed);
        let first = &cases[0];
        let mean_us = report.results[0].latency_us.unwrap().mean;
        assert!((first.mean_ns - mean_us * 1e3).abs() < 1e-9);
        assert_eq!(first.interval_ns, None, "one run has no interval");
    }

    #[test]
    fn runs_give_the_interval_of_their_mean_and_pairs_and_in_flight_are_named() {
        let mut report = sample();
        report.results[0].runs = vec![9.0, 10.0, 11.0];
        report.config.pairs = 2;
        report.config.in_flight = 4;
        let first = &completed_cases(&report)[0];
        assert_eq!(first.name, "shm-posix/100B/4-in-flight/2-pairs");
        let interval = first.interval_ns.unwrap();
        // 10 µs ± t(0.975, 2) · sqrt(1/3) µs = 10 ± 2.484 µs.
        assert!((interval.lower - 7_516.0).abs() < 1.0 && (interval.upper - 12_484.0).abs() < 1.0);
        assert!((interval.half_width - 2_484.1).abs() < 0.1, "{interval:?}");
        report.results[0].runs = vec![1.0, 1.0, 100.0];
        let interval = completed_cases(&report)[0].interval_ns.unwrap();
        assert_eq!(interval.lower, 0.0, "cut at 0, not a negative time");
    }
}
