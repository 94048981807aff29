//! The export files as a reporter: written before the first case (so a bad path fails at once),
//! rewritten after every case (so an interrupted run keeps what it measured), and written in
//! their final state at the end.

use super::ExportSet;
use crate::benchmark::report::{ReportError, Reporter};
use crate::benchmark::result::{BenchmarkResult, Report};

impl ExportSet {
    fn write_report(&self, report: &Report) -> Result<(), ReportError> {
        self.write(report).map_err(|e| ReportError(e.into()))
    }
}

impl Reporter for ExportSet {
    fn run_started(&mut self, report: &Report) -> Result<(), ReportError> {
        self.write_report(report)
    }

    fn case_finished(
        &mut self,
        _result: &BenchmarkResult,
        report: &Report,
    ) -> Result<(), ReportError> {
        self.write_report(report)
    }

    fn run_finished(
        &mut self,
        report: &Report,
        _interrupted_by: Option<nix::sys::signal::Signal>,
    ) -> Result<(), ReportError> {
        self.write_report(report)
    }
}
