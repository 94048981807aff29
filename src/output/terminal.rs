//! The terminal as a reporter: the seed benchmark's header and sections, a spinner (or plain
//! lines when piped) for every run, the run spread of each case, and the summary table.

use nix::sys::signal::Signal;

use super::console::Console;
use super::progress::{CaseProgress, RunLabel, INDENT};
use crate::export::events::{CaseRun, ReportError, Reporter, RunEnd};
use crate::peer::cleanup::IpcObject;
use crate::report::result::{BenchmarkResult, Report};
use crate::report::size::{format_bytes, MessageSize};

/// Prints to its console (errors always to stderr).
pub struct TerminalReporter {
    console: Console,
    /// `--verbose`: the header shows every fact read of the machine.
    verbose: bool,
    /// The display of the run in progress.
    progress: Option<CaseProgress>,
}

impl TerminalReporter {
    pub fn new(console: Console, verbose: bool) -> TerminalReporter {
        TerminalReporter {
            console,
            verbose,
            progress: None,
        }
    }
}

/// `[1/2] Running SHM POSIX benchmark (run 1/3)...`, or short `[1/2] SHM POSIX (run 1/3)`;
/// the run number only when there are several; `(run 4, at most 30)` with `--runs auto`.
fn label(run: &CaseRun) -> RunLabel {
    let runs = if run.until_confident {
        format!(" (run {}, at most {})", run.run, run.runs)
    } else if run.runs > 1 {
        format!(" (run {}/{})", run.run, run.runs)
    } else {
        String::new()
    };
    let number = format!("[{}/{}]", run.transport_number, run.transport_count);
    let name = run.transport.display_name();
    RunLabel {
        full: format!("{number} Running {name} benchmark{runs}..."),
        short: format!("{number} {name}{runs}"),
    }
}

impl Reporter for TerminalReporter {
    fn run_started(&mut self, report: &Report) -> Result<(), ReportError> {
        self.console.line(super::header(report, self.verbose));
        Ok(())
    }

    fn stale_objects_removed(&mut self, removed: &[IpcObject]) {
        self.console.line(super::cleanup(removed));
    }

    fn size_started(&mut self, size: &MessageSize) {
        self.console.line(super::section(&size.title(), size.bytes));
    }

    fn case_run_started(&mut self, run: &CaseRun) {
        self.progress = Some(CaseProgress::start(
            self.console,
            label(run),
            run.iterations,
            run.duration,
        ));
    }

    fn case_skipped(&mut self, run: &CaseRun, reason: &str) {
        self.console.line(format_args!(
            "[{}/{}] {} benchmark skipped: {reason}",
            run.transport_number,
            run.transport_count,
            run.transport.display_name()
        ));
    }

    fn progress(&mut self, round_trips_done: u64) {
        if let Some(progress) = &mut self.progress {
            progress.update(round_trips_done);
        }
    }

    fn case_run_finished(&mut self, run: &CaseRun, end: &RunEnd<'_>) {
        let Some(progress) = self.progress.take() else {
            return;
        };
        match end {
            RunEnd::Completed { elapsed, stats } => {
                let detail = stats.as_ref().map_or(String::new(), super::case_detail);
                progress.finish_ok(*elapsed, &detail);
            }
            RunEnd::Failed { cause } => progress.finish_failed(
                run.transport.display_name(),
                &format!("{cause} ({} messages)", format_bytes(run.size.bytes)),
            ),
            RunEnd::Interrupted { signal } => {
                progress.finish_interrupted(signal.map_or("signal", Signal::as_str))
            }
        }
    }

    fn case_finished(
        &mut self,
        result: &BenchmarkResult,
        _report: &Report,
    ) -> Result<(), ReportError> {
        if let Some(line) = super::runs_line(result) {
            self.console.line(format_args!("{INDENT}{line}"));
        }
        for warning in &result.warnings {
            let name = result.transport.display_name();
            self.console
                .line(format_args!("{INDENT}{name}: {}", warning.message));
        }
        Ok(())
    }

    fn run_finished(
        &mut self,
        report: &Report,
        interrupted_by: Option<Signal>,
    ) -> Result<(), ReportError> {
        let signal = interrupted_by.map(Signal::as_str);
        let interactive = self.console.is_terminal();
        self.console
            .line(super::summary(report, signal, interactive));
        Ok(())
    }

    fn error(&mut self, error: &ReportError) {
        Console::Stderr.line(format_args!("error: {error}"));
    }
}
