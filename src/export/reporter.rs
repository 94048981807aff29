//! The export files as a reporter: written before the first case (so a bad path fails at once),
//! rewritten as cases finish (so an interrupted or killed run keeps what it measured), and
//! written in their final state at the end.
//!
//! Each rewrite serializes every case so far, so rewriting after every case would make a run
//! of n cases cost n² (9,000 sizes took 218 s, most of it rewriting). A case's rewrite is
//! therefore skipped while the time since the last one is less than [`UPDATE_COST_RATIO`] times
//! what the last one took: the exports cost at most about 1/ratio of the run, whatever its
//! size, and a run of a few cases (each taking far longer than its rewrite) still has every
//! case on disk as soon as it ends. The final state is always written.

use std::time::{Duration, Instant};

use super::ExportSet;
use crate::export::events::{ReportError, Reporter};
use crate::report::result::{BenchmarkResult, Report};

/// How many times its own cost must have passed since the last rewrite before the next.
pub const UPDATE_COST_RATIO: u32 = 10;

/// When the last rewrite ended and what it took.
#[derive(Debug, Default)]
pub struct UpdateCadence {
    last: Option<(Instant, Duration)>,
}

impl UpdateCadence {
    /// Whether a rewrite is due now.
    fn due(&self) -> bool {
        self.last
            .is_none_or(|(ended, took)| ended.elapsed() >= took.saturating_mul(UPDATE_COST_RATIO))
    }

    /// Runs `write` and remembers what it took.
    fn timed<T>(&mut self, write: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let result = write();
        self.last = Some((Instant::now(), start.elapsed()));
        result
    }
}

fn report_error(error: super::ExportError) -> ReportError {
    ReportError(error.into())
}

impl Reporter for ExportSet {
    fn run_started(&mut self, report: &Report) -> Result<(), ReportError> {
        self.open(report).map_err(report_error)
    }

    fn case_finished(
        &mut self,
        _result: &BenchmarkResult,
        report: &Report,
    ) -> Result<(), ReportError> {
        if !self.cadence.due() {
            return Ok(());
        }
        let mut cadence = std::mem::take(&mut self.cadence);
        let written = cadence.timed(|| self.write(report, false));
        self.cadence = cadence;
        written.map_err(report_error)
    }

    fn run_finished(
        &mut self,
        report: &Report,
        _interrupted_by: Option<nix::sys::signal::Signal>,
    ) -> Result<(), ReportError> {
        self.write(report, true).map_err(report_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_is_due_once_ten_times_its_cost_has_passed() {
        let mut cadence = UpdateCadence::default();
        assert!(cadence.due(), "the first is always due");
        let ago = |d: Duration| Instant::now().checked_sub(d).unwrap();
        cadence.last = Some((Instant::now(), Duration::from_secs(3600)));
        assert!(!cadence.due(), "an hour's rewrite just ended");
        cadence.last = Some((ago(Duration::from_millis(200)), Duration::from_millis(20)));
        assert!(cadence.due(), "ten times a 20 ms rewrite has passed");
        cadence.last = Some((Instant::now(), Duration::ZERO));
        assert!(cadence.due(), "a rewrite that cost nothing is always due");
        assert_eq!(cadence.timed(|| 7), 7);
        assert!(cadence.last.is_some());
    }
}
