//! The benchmark loop: every (size, transport) case, every run of it, in order, with each
//! event handed to the reporters. It owns the options, the executor, the reporters and the
//! growing [`Report`], so nothing is passed down five functions deep.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::benchmark::executor::{Case, Executor, RunOutcome};
use crate::benchmark::measure::ProgressSink;
use crate::benchmark::report::{CaseRun, ReportError, Reporter, Reporters, RunEnd};
use crate::benchmark::result::{BenchmarkResult, CaseTally, Report, Status};
use crate::options::Options;

/// How a whole benchmark ended.
pub struct Outcome {
    pub report: Report,
    /// The signal that stopped the run early, if one did.
    pub interrupted_by: Option<Signal>,
    /// Whether a reporter (an export) failed during the run.
    pub reporting_failed: bool,
}

impl Outcome {
    /// 0 when every case was measured, 1 when a case or an export failed, and 128 + the
    /// signal's number when interrupted.
    pub fn exit_code(&self) -> u8 {
        match self.interrupted_by {
            Some(signal) => crate::signals::exit_code(signal),
            None if self.report.any_failed() || self.reporting_failed => 1,
            None => 0,
        }
    }
}

pub struct Scheduler<'a, E: Executor> {
    options: &'a Options,
    executor: E,
    reporters: Reporters,
    report: Report,
}

/// Forwards the measuring loop's progress to the reporters.
struct ProgressToReporters<'a>(&'a mut Reporters);

impl ProgressSink for ProgressToReporters<'_> {
    fn update(&mut self, round_trips_done: u64) {
        self.0.progress(round_trips_done);
    }
}

impl<'a, E: Executor> Scheduler<'a, E> {
    /// `report` is the run's header (configuration, machine); results are added to it.
    pub fn new(options: &'a Options, executor: E, reporters: Reporters, report: Report) -> Self {
        Scheduler {
            options,
            executor,
            reporters,
            report,
        }
    }

    /// Runs every case. Fails only if a reporter cannot start (an export path that cannot be
    /// written), before anything else has happened.
    pub fn run(mut self) -> Result<Outcome, ReportError> {
        self.reporters.run_started(&self.report)?;
        let removed = self.executor.remove_stale_objects();
        self.reporters.stale_objects_removed(&removed);
        'sizes: for &size in &self.options.sizes {
            self.reporters.size_started(&size);
            for (index, &transport) in self.options.transports.iter().enumerate() {
                if self.executor.interrupted().is_some() {
                    break 'sizes;
                }
                let result = self.run_case(Case { size, transport }, index + 1);
                self.report.results.push(result);
                let result = self.report.results.last().unwrap_or_else(|| unreachable!());
                let _ = self.reporters.case_finished(result, &self.report);
            }
        }
        let interrupted_by = self.executor.interrupted();
        self.report.state = match interrupted_by {
            Some(signal) => format!("interrupted by {}", signal.as_str()),
            None => "complete".into(),
        };
        let _ = self.reporters.run_finished(&self.report, interrupted_by);
        Ok(Outcome {
            reporting_failed: self.reporters.any_failed(),
            report: self.report,
            interrupted_by,
        })
    }

    /// All runs of one case; the first failure or interrupt ends the case.
    fn run_case(&mut self, case: Case, transport_number: usize) -> BenchmarkResult {
        let mut tally = CaseTally::new();
        let mut status = Status::Ok;
        let mut error = None;
        for run in 1..=self.options.runs {
            let case_run = self.case_run(case, transport_number, run);
            self.reporters.case_run_started(&case_run);
            let outcome = self
                .executor
                .run(&case, &mut ProgressToReporters(&mut self.reporters));
            add_to_tally(&mut tally, &outcome);
            let cause = outcome.error.as_ref().map(ToString::to_string);
            let end = self.run_end(&outcome, cause.as_deref());
            self.reporters.case_run_finished(&case_run, &end);
            match end {
                RunEnd::Completed { .. } => continue,
                RunEnd::Interrupted { .. } => status = Status::Interrupted,
                RunEnd::Failed { .. } => (status, error) = (Status::Failed, cause),
            }
            break;
        }
        tally.into_result(case.transport, case.size.bytes, status, error)
    }

    fn case_run(&self, case: Case, transport_number: usize, run: u32) -> CaseRun {
        CaseRun {
            size: case.size,
            transport: case.transport,
            transport_number,
            transport_count: self.options.transports.len(),
            run,
            runs: self.options.runs,
            iterations: self.options.iterations,
        }
    }

    /// How a run ended, for the reporters; `cause` is the error's text.
    fn run_end<'c>(&self, outcome: &RunOutcome, cause: Option<&'c str>) -> RunEnd<'c> {
        match (&outcome.error, cause) {
            (Some(e), _) if e.is_interrupt() => RunEnd::Interrupted {
                signal: self.executor.interrupted(),
            },
            (Some(_), Some(cause)) => RunEnd::Failed { cause },
            _ => {
                let measurement = outcome.measurement.as_ref();
                RunEnd::Completed {
                    elapsed: measurement.map_or(Duration::ZERO, |m| m.elapsed),
                    stats: measurement.and_then(|m| m.latencies.stats()),
                }
            }
        }
    }
}

/// Whatever a run measured counts, even if it then failed; only a completed run has a mean
/// of its own among the run means.
fn add_to_tally(tally: &mut CaseTally, outcome: &RunOutcome) {
    if let Some(m) = &outcome.measurement {
        tally.latencies.merge(&m.latencies);
        tally.total_s += m.elapsed.as_secs_f64();
        tally.progress_s += m.progress_time.as_secs_f64();
    }
    if outcome.error.is_none() {
        let mean_ns = outcome
            .measurement
            .as_ref()
            .and_then(|m| m.latencies.stats())
            .map_or(0.0, |s| s.mean_ns);
        tally.run_means_ns.push(mean_ns);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;
    use crate::benchmark::executor::RunError;
    use crate::benchmark::measure::{MeasureError, RunMeasurement};
    use crate::benchmark::stats::LatencyRecorder;
    use crate::cleanup::IpcObject;
    use crate::options::Exports;
    use crate::size::MessageSize;
    use crate::transport::{shm_posix, zmq_ipc, TransportError, TransportKind};

    /// What a scripted run does.
    enum Scripted {
        /// Completes with these latencies (ns).
        Ok(Vec<u64>),
        /// Measures these latencies, then the server dies.
        FailAfter(Vec<u64>),
        /// A signal arrives during the run.
        Interrupt,
    }

    /// Plays back one scripted outcome per run, and remembers which cases it ran.
    struct FakeExecutor {
        script: VecDeque<Scripted>,
        ran: Rc<RefCell<Vec<(TransportKind, usize)>>>,
        signal: Option<Signal>,
    }

    fn measured(latencies_ns: &[u64], error: Option<MeasureError>) -> RunMeasurement {
        let mut latencies = LatencyRecorder::new();
        latencies_ns.iter().for_each(|&ns| latencies.record(ns));
        RunMeasurement {
            latencies,
            elapsed: Duration::from_nanos(latencies_ns.iter().sum()),
            progress_time: Duration::ZERO,
            error,
        }
    }

    impl Executor for FakeExecutor {
        fn remove_stale_objects(&mut self) -> Vec<IpcObject> {
            Vec::new()
        }

        fn run(&mut self, case: &Case, progress: &mut dyn ProgressSink) -> RunOutcome {
            self.ran
                .borrow_mut()
                .push((case.transport, case.size.bytes));
            progress.update(1);
            let gone = || TransportError::PeerGone("server exited: exit code 3".into());
            match self
                .script
                .pop_front()
                .expect("a scripted run for every run")
            {
                Scripted::Ok(ns) => RunOutcome {
                    measurement: Some(measured(&ns, None)),
                    error: None,
                },
                Scripted::FailAfter(ns) => RunOutcome {
                    measurement: Some(measured(&ns, None)),
                    error: Some(RunError::from(gone())),
                },
                Scripted::Interrupt => {
                    self.signal = Some(Signal::SIGINT);
                    RunOutcome {
                        measurement: None,
                        error: Some(RunError::from(TransportError::Interrupted)),
                    }
                }
            }
        }

        fn interrupted(&self) -> Option<Signal> {
            self.signal
        }
    }

    /// Writes every event it gets as a line; can be told to fail after a case.
    #[derive(Default)]
    struct RecordingReporter {
        events: Rc<RefCell<Vec<String>>>,
        fail_case_finished: bool,
    }

    impl Reporter for RecordingReporter {
        fn case_run_started(&mut self, run: &CaseRun) {
            let name = run.transport.name();
            self.events
                .borrow_mut()
                .push(format!("start {name} run {}", run.run));
        }

        fn case_run_finished(&mut self, run: &CaseRun, end: &RunEnd<'_>) {
            let how = match end {
                RunEnd::Completed { .. } => "ok".to_string(),
                RunEnd::Failed { cause } => format!("failed: {cause}"),
                RunEnd::Interrupted { .. } => "interrupted".into(),
            };
            let name = run.transport.name();
            self.events
                .borrow_mut()
                .push(format!("end {name} run {}: {how}", run.run));
        }

        fn case_finished(&mut self, r: &BenchmarkResult, _: &Report) -> Result<(), ReportError> {
            let line = format!("case {} {:?}", r.transport.name(), r.status);
            self.events.borrow_mut().push(line);
            if self.fail_case_finished {
                return Err(ReportError("disk full".into()));
            }
            Ok(())
        }

        fn error(&mut self, error: &ReportError) {
            self.events.borrow_mut().push(format!("error: {error}"));
        }
    }

    fn options(runs: u32) -> Options {
        Options {
            iterations: 3,
            warmup: 0,
            runs,
            sizes: vec![MessageSize {
                bytes: 100,
                name: None,
            }],
            transports: vec![shm_posix::KIND, zmq_ipc::KIND],
            buffer_size: 4096,
            timeout: Duration::from_secs(1),
            baseline: shm_posix::KIND,
            verify_all: false,
            exports: Exports::default(),
            injected_fault: None,
        }
    }

    struct Played {
        outcome: Outcome,
        events: Vec<String>,
        ran: Vec<(TransportKind, usize)>,
    }

    fn play(options: &Options, script: Vec<Scripted>, reporter: RecordingReporter) -> Played {
        let events = Rc::clone(&reporter.events);
        let ran = Rc::new(RefCell::new(Vec::new()));
        let executor = FakeExecutor {
            script: script.into(),
            ran: Rc::clone(&ran),
            signal: None,
        };
        let mut report = crate::benchmark::new_report(options);
        report.machine.cpu = "fake".into();
        let reporters = Reporters::new(vec![Box::new(reporter)]);
        let outcome = Scheduler::new(options, executor, reporters, report)
            .run()
            .unwrap();
        let events = events.borrow().clone();
        let ran = ran.borrow().clone();
        Played {
            outcome,
            events,
            ran,
        }
    }

    #[test]
    fn a_failed_case_is_reported_and_the_next_case_still_runs() {
        let script = vec![
            Scripted::FailAfter(vec![1000, 2000]),
            Scripted::Ok(vec![5000]),
            Scripted::Ok(vec![7000]),
        ];
        let played = play(&options(2), script, RecordingReporter::default());
        let results = &played.outcome.report.results;
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].status, Status::Failed);
        assert_eq!(
            results[0].error.as_deref(),
            Some("server exited: exit code 3")
        );
        // What was measured before the failure is kept; the failed run has no mean of its own.
        assert_eq!(results[0].iterations, 2);
        assert!(results[0].runs.is_empty());
        assert_eq!(results[1].status, Status::Ok);
        assert!(played
            .events
            .contains(&"end shm-posix run 1: failed: server exited: exit code 3".to_string()));
        assert!(!played.events.contains(&"start shm-posix run 2".to_string()));
        assert_eq!(played.outcome.report.state, "complete");
        assert_eq!(played.outcome.exit_code(), 1);
    }

    #[test]
    fn an_interrupt_stops_the_loop_and_marks_the_report() {
        let script = vec![Scripted::Ok(vec![1000]), Scripted::Interrupt];
        let played = play(&options(2), script, RecordingReporter::default());
        let results = &played.outcome.report.results;
        assert_eq!(results.len(), 1, "no case after the interrupt");
        assert_eq!(results[0].status, Status::Interrupted);
        assert_eq!(results[0].iterations, 1);
        assert_eq!(played.ran.len(), 2);
        assert!(played
            .events
            .contains(&"end shm-posix run 2: interrupted".to_string()));
        assert!(!played.events.iter().any(|e| e.contains("zmq-ipc")));
        assert_eq!(played.outcome.report.state, "interrupted by SIGINT");
        assert_eq!(played.outcome.exit_code(), 130);
    }

    #[test]
    fn runs_are_tallied_per_case() {
        let script = vec![
            Scripted::Ok(vec![1000, 3000]),
            Scripted::Ok(vec![5000, 7000]),
            Scripted::Ok(vec![10_000]),
            Scripted::Ok(vec![20_000]),
            Scripted::Ok(vec![30_000]),
            Scripted::Ok(vec![40_000, 50_000]),
        ];
        let played = play(&options(3), script, RecordingReporter::default());
        let [posix, zmq] = &played.outcome.report.results[..] else {
            panic!("two cases");
        };
        assert_eq!((posix.iterations, zmq.iterations), (5, 4));
        assert_eq!(posix.runs, vec![2.0, 6.0, 10.0], "run means in µs");
        assert_eq!(zmq.runs, vec![20.0, 30.0, 45.0]);
        assert_eq!(posix.latency_us.map(|l| l.mean), Some(26.0 / 5.0));
        assert_eq!(
            played
                .ran
                .iter()
                .filter(|(k, _)| *k == zmq_ipc::KIND)
                .count(),
            3
        );
        assert_eq!(played.outcome.exit_code(), 0);
    }

    #[test]
    fn a_failing_reporter_is_told_to_the_others_and_fails_the_run() {
        let reporter = RecordingReporter {
            fail_case_finished: true,
            ..Default::default()
        };
        let script = vec![Scripted::Ok(vec![1000]), Scripted::Ok(vec![2000])];
        let played = play(&options(1), script, reporter);
        assert_eq!(played.outcome.report.results.len(), 2, "the run goes on");
        let errors = played.events.iter().filter(|e| *e == "error: disk full");
        assert_eq!(errors.count(), 2);
        assert!(played.outcome.reporting_failed);
        assert_eq!(played.outcome.exit_code(), 1);
    }
}
