//! The events of a benchmark run, and their fan-out to every reporter (criterion's `Report`).
//!
//! The scheduler emits events; reporters turn them into text on the terminal or into files. A
//! reporter that fails (an export that cannot be written) is told to no one but its peers: the
//! fan-out hands the error to every reporter's [`Reporter::error`], so the terminal can say so,
//! and remembers it for the exit code.
//!
//! The trait sits here, below the terminal (`output/`) and beside the exporters that implement
//! it, and carries only the report's values: it names nothing of the benchmark that emits it,
//! so the benchmark imports it, never the other way round.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::peer::cleanup::IpcObject;
use crate::report::result::{BenchmarkResult, LatencyStats, Report};
use crate::report::size::MessageSize;
use crate::transport::TransportKind;

/// A reporter's failure, kept with its cause (for example an export's I/O error).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ReportError(#[from] pub Box<dyn std::error::Error + Send + Sync>);

/// One run of one (size, transport) case, as announced to reporters.
#[derive(Debug, Clone, Copy)]
pub struct CaseRun {
    pub size: MessageSize,
    pub transport: TransportKind,
    /// Position of the transport among those being run, from 1.
    pub transport_number: usize,
    pub transport_count: usize,
    /// This run's number, from 1, and how many runs each case has (with `until_confident`,
    /// at most).
    pub run: u32,
    pub runs: u32,
    /// `--runs auto`: the case may stop before `runs`, once its mean is known well enough.
    pub until_confident: bool,
    /// Timed round trips per run, unless `duration` bounds the run instead.
    pub iterations: u64,
    pub duration: Option<Duration>,
}

/// How one run of a case ended.
#[derive(Debug, Clone, Copy)]
pub enum RunEnd<'a> {
    /// The timed loop finished; `stats` is None only if it measured nothing.
    Completed {
        elapsed: Duration,
        stats: Option<LatencyStats>,
    },
    Failed {
        cause: &'a str,
    },
    Interrupted {
        signal: Option<Signal>,
    },
}

/// Receives the events of a run. Every method has a default that ignores the event, so a
/// reporter implements only what it shows.
pub trait Reporter {
    /// Before anything is started; a failure here ends the run as a usage error.
    fn run_started(&mut self, _report: &Report) -> Result<(), ReportError> {
        Ok(())
    }

    /// Objects of dead earlier runs were removed (possibly none).
    fn stale_objects_removed(&mut self, _removed: &[IpcObject]) {}

    fn size_started(&mut self, _size: &MessageSize) {}

    fn case_run_started(&mut self, _run: &CaseRun) {}

    /// A case is not run at all, for `reason` (a size its transport cannot carry); `run` is
    /// where its first run would have been. Its result follows with the others of its size.
    fn case_skipped(&mut self, _run: &CaseRun, _reason: &str) {}

    /// Timed round trips done so far in the current run; called at most every 100 ms.
    fn progress(&mut self, _round_trips_done: u64) {}

    fn case_run_finished(&mut self, _run: &CaseRun, _end: &RunEnd<'_>) {}

    /// A case is complete (all its runs); `report` already holds its `result`.
    fn case_finished(
        &mut self,
        _result: &BenchmarkResult,
        _report: &Report,
    ) -> Result<(), ReportError> {
        Ok(())
    }

    /// The run is over, complete or interrupted (`report.state` says which).
    fn run_finished(
        &mut self,
        _report: &Report,
        _interrupted_by: Option<Signal>,
    ) -> Result<(), ReportError> {
        Ok(())
    }

    /// Another reporter failed.
    fn error(&mut self, _error: &ReportError) {}
}

/// Every reporter of a run, in order; forwards each event to all of them.
#[derive(Default)]
pub struct Reporters {
    reporters: Vec<Box<dyn Reporter>>,
    failed: bool,
}

impl Reporters {
    /// Reporters are told of each event in this order. Put those whose start can fail (a file
    /// that cannot be written) first, so nothing is shown before a usage error.
    pub fn new(reporters: Vec<Box<dyn Reporter>>) -> Reporters {
        Reporters {
            reporters,
            failed: false,
        }
    }

    /// Whether any reporter failed after the start.
    pub fn any_failed(&self) -> bool {
        self.failed
    }

    fn each(&mut self, mut event: impl FnMut(&mut dyn Reporter)) {
        for reporter in &mut self.reporters {
            event(reporter.as_mut());
        }
    }

    /// Forwards a fallible event; a failure is shown to every reporter and remembered.
    fn each_fallible(
        &mut self,
        mut event: impl FnMut(&mut dyn Reporter) -> Result<(), ReportError>,
    ) {
        let mut errors = Vec::new();
        self.each(|reporter| errors.extend(event(reporter).err()));
        for error in &errors {
            self.failed = true;
            self.each(|reporter| reporter.error(error));
        }
    }
}

impl Reporter for Reporters {
    /// Stops at the first failure: nothing has started yet, so the run should not.
    fn run_started(&mut self, report: &Report) -> Result<(), ReportError> {
        self.reporters
            .iter_mut()
            .try_for_each(|reporter| reporter.run_started(report))
    }

    fn stale_objects_removed(&mut self, removed: &[IpcObject]) {
        self.each(|r| r.stale_objects_removed(removed));
    }

    fn size_started(&mut self, size: &MessageSize) {
        self.each(|r| r.size_started(size));
    }

    fn case_run_started(&mut self, run: &CaseRun) {
        self.each(|r| r.case_run_started(run));
    }

    fn case_skipped(&mut self, run: &CaseRun, reason: &str) {
        self.each(|r| r.case_skipped(run, reason));
    }

    fn progress(&mut self, round_trips_done: u64) {
        self.each(|r| r.progress(round_trips_done));
    }

    fn case_run_finished(&mut self, run: &CaseRun, end: &RunEnd<'_>) {
        self.each(|r| r.case_run_finished(run, end));
    }

    fn case_finished(
        &mut self,
        result: &BenchmarkResult,
        report: &Report,
    ) -> Result<(), ReportError> {
        self.each_fallible(|r| r.case_finished(result, report));
        Ok(())
    }

    fn run_finished(
        &mut self,
        report: &Report,
        interrupted_by: Option<Signal>,
    ) -> Result<(), ReportError> {
        self.each_fallible(|r| r.run_finished(report, interrupted_by));
        Ok(())
    }

    fn error(&mut self, error: &ReportError) {
        self.each(|r| r.error(error));
    }
}
