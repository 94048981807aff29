//! The export files as a reporter: written before the first case (so a bad path fails at once),
//! rewritten after every case (so an interrupted run keeps what it measured), and written in
//! their final state at the end.

use super::ExportSet;
use crate::benchmark::events::{ReportError, Reporter};
use crate::report::result::{BenchmarkResult, Report};

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
        self.write(report, false).map_err(report_error)
    }

    fn run_finished(
        &mut self,
        report: &Report,
        _interrupted_by: Option<nix::sys::signal::Signal>,
    ) -> Result<(), ReportError> {
        self.write(report, true).map_err(report_error)
    }
}
