//! The benchmark loop: every (size, transport) case, every run of it, in order, with each
//! event handed to the reporters. It owns the options, the executor, the reporters and the
//! growing [`Report`], so nothing is passed down five functions deep.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::benchmark::executor::Executor;
use crate::benchmark::measure::{ProgressSink, RunMeasurement};
use crate::benchmark::outcome::{Case, RunOutcome};
use crate::benchmark::tally::CaseTally;
use crate::cli::options::Options;
use crate::export::events::{CaseRun, ReportError, Reporter, Reporters, RunEnd};
use crate::report::result::{BenchmarkResult, Report, Status};
use crate::report::size::MessageSize;
use crate::transport::{Reason, TransportKind, Workload};

/// How a whole benchmark ended.
pub struct Outcome {
    pub report: Report,
    /// The signal that stopped the run early, if one did.
    pub interrupted_by: Option<Signal>,
    /// Whether a reporter (an export) failed during the run.
    pub reporting_failed: bool,
}

impl Outcome {
    /// 0 when every case was measured or skipped, 1 when a case or an export failed or no
    /// case was measured at all, and 128 + the signal's number when interrupted.
    pub fn exit_code(&self) -> u8 {
        match self.interrupted_by {
            Some(signal) => crate::system::signals::exit_code(signal),
            None if self.report.any_failed() || self.reporting_failed => 1,
            // Skipping one size is an answer; skipping every case measured nothing, and a
            // script must not take that for success.
            None if self.measured_nothing() => 1,
            None => 0,
        }
    }

    /// The run ended on its own and every case was skipped: nothing was measured.
    pub fn measured_nothing(&self) -> bool {
        self.interrupted_by.is_none() && self.report.nothing_measured()
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
        if let Some(removed) = self.executor.remove_stale_objects() {
            self.reporters.stale_objects_removed(&removed);
        }
        for &size in &self.options.sizes {
            if self.executor.interrupted().is_some() {
                break;
            }
            self.reporters.size_started(&size);
            self.run_size(size);
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

    /// Every run of every transport at one size, interleaved (run 1 of each transport, then
    /// run 2 of each, ...), so that slow drift (other load, clock changes) hits every
    /// transport alike instead of favouring whichever ran first. A case's first failure or
    /// an interrupt ends it, and with `--runs auto` its mean known well enough (each round
    /// then runs the cases still unsure once); its result is reported once the size is done. A case larger than
    /// its transport carries is skipped before anything is started, and said so in its place.
    fn run_size(&mut self, size: MessageSize) {
        let mut cases: Vec<CaseState> = (self.options.transports.iter().enumerate())
            .map(|(index, &transport)| {
                let case = Case { size, transport };
                let skip_reason = self.skip_reason(&case);
                let workload = self.options.workload;
                let overhead = self.report.clock_overhead_ns;
                CaseState::new(case, workload, index + 1, overhead, skip_reason)
            })
            .collect();
        'runs: for run in 1..=self.options.runs {
            // The first round also tells of the skipped cases.
            if run > 1 && !cases.iter().any(CaseState::runs_on) {
                break;
            }
            for state in cases.iter_mut() {
                if self.executor.interrupted().is_some() {
                    break 'runs;
                }
                match (state.status, &state.skip_reason) {
                    (Status::Ok, _) if state.runs_on() => self.run_once(state, run),
                    (Status::Skipped, Some(reason)) if run == 1 => {
                        let case_run = self.case_run(state.case, state.transport_number, run);
                        self.reporters.case_skipped(&case_run, reason);
                    }
                    _ => {}
                }
            }
        }
        let reported = |state: &CaseState| state.runs_started > 0 || state.skip_reason.is_some();
        for state in cases.into_iter().filter(reported) {
            let confidence = (self.options.until_confident)
                .filter(|_| state.skip_reason.is_none())
                .map(|target| target.of(&state.tally.run_means_ns));
            let result = BenchmarkResult {
                confidence,
                ..state.into_result(self.options.runs, self.options.workload)
            };
            self.report.push_result(result);
            let result = self.report.results.last().unwrap_or_else(|| unreachable!());
            let _ = self.reporters.case_finished(result, &self.report);
        }
    }

    /// Why `case` is not to be run, if its size is more than its transport carries, or more
    /// than the machine has room for.
    fn skip_reason(&self, case: &Case) -> Option<String> {
        let workload = self.options.workload;
        if let Some(reason) = workload.size_refusal(case.size.bytes) {
            return Some(reason);
        }
        if let Err(reason) = case.transport.supports(workload) {
            return Some(unsupported(case.transport, workload, reason));
        }
        if let Some(no_room) = (self.options).room_refusal(case.size.bytes, case.transport) {
            return Some(no_room.to_string());
        }
        let limit = self.executor.message_limit(case)?;
        (case.size.bytes > limit.bytes).then_some(limit.reason)
    }

    /// One run of one case, told to the reporters and added to the case's tally.
    fn run_once(&mut self, state: &mut CaseState, run: u32) {
        let case_run = self.case_run(state.case, state.transport_number, run);
        self.reporters.case_run_started(&case_run);
        state.runs_started += 1;
        let outcome = self
            .executor
            .run(&state.case, &mut ProgressToReporters(&mut self.reporters));
        add_to_tally(&mut state.tally, &outcome);
        let cause = outcome.error.as_ref().map(ToString::to_string);
        let end = self.run_end(&outcome, cause.as_deref());
        self.reporters.case_run_finished(&case_run, &end);
        // Told once the run's progress line is done with.
        let removed = self.executor.take_earlier_runs_objects();
        if !removed.is_empty() {
            self.reporters.stale_objects_removed(&removed);
        }
        match end {
            RunEnd::Completed { .. } => {
                state.runs_completed += 1;
                state.confident = (self.options.until_confident)
                    .is_some_and(|target| target.reached(&state.tally.run_means_ns));
            }
            RunEnd::Interrupted { .. } => state.status = Status::Interrupted,
            RunEnd::Failed { .. } => (state.status, state.error) = (Status::Failed, cause),
        }
    }

    fn case_run(&self, case: Case, transport_number: usize, run: u32) -> CaseRun {
        CaseRun {
            size: case.size,
            transport: case.transport,
            transport_number,
            transport_count: self.options.transports.len(),
            run,
            runs: self.options.runs,
            until_confident: self.options.until_confident.is_some(),
            iterations: self.options.iterations,
            duration: self.options.duration,
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

/// A case under way at the current size.
struct CaseState {
    case: Case,
    transport_number: usize,
    tally: CaseTally,
    runs_started: u32,
    runs_completed: u32,
    /// `--runs auto`: its mean is known well enough, so it needs no more runs.
    confident: bool,
    /// Ok while the case goes on; Skipped from the start if it is not to run.
    status: Status,
    error: Option<String>,
    skip_reason: Option<String>,
}

impl CaseState {
    fn new(
        case: Case,
        workload: Workload,
        transport_number: usize,
        clock_overhead_ns: f64,
        skip_reason: Option<String>,
    ) -> CaseState {
        CaseState {
            case,
            transport_number,
            tally: CaseTally {
                clock_overhead_ns,
                workload,
                ..CaseTally::new()
            },
            runs_started: 0,
            runs_completed: 0,
            confident: false,
            status: match skip_reason {
                Some(_) => Status::Skipped,
                None => Status::Ok,
            },
            error: None,
            skip_reason,
        }
    }

    /// Whether the case has runs to come: it goes on, and is not sure of its mean yet.
    fn runs_on(&self) -> bool {
        self.status == Status::Ok && !self.confident
    }

    /// The case's result; a case the interrupt left short of its runs (of `runs`, or of its
    /// target) is interrupted too.
    fn into_result(self, runs: u32, workload: Workload) -> BenchmarkResult {
        let (transport, bytes) = (self.case.transport, self.case.size.bytes);
        let result = match self.skip_reason {
            Some(reason) => BenchmarkResult::skipped(transport, bytes, reason),
            None => {
                let status = match self.status {
                    Status::Ok if self.runs_completed < runs && !self.confident => {
                        Status::Interrupted
                    }
                    status => status,
                };
                self.tally.into_result(transport, bytes, status, self.error)
            }
        };
        BenchmarkResult {
            pattern: workload.pattern(),
            ..result
        }
    }
}

/// The skip of a case whose transport cannot carry the workload: names both, and why.
fn unsupported(transport: TransportKind, workload: Workload, reason: Reason) -> String {
    format!(
        "{} cannot run {workload}: {reason}",
        transport.display_name()
    )
}

/// Whatever a run measured counts, even if it then failed; only a completed run has a mean
/// of its own among the run means.
fn add_to_tally(tally: &mut CaseTally, outcome: &RunOutcome) {
    if let Some(m) = &outcome.measurement {
        tally.add(m);
    }
    if outcome.error.is_none() {
        let mean_ns = outcome
            .measurement
            .as_ref()
            .map_or(0.0, RunMeasurement::mean_ns);
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
    use crate::benchmark::measure::{MeasureError, RunMeasurement};
    use crate::benchmark::outcome::RunError;
    use crate::benchmark::stats::LatencyRecorder;
    use crate::export::Exports;
    use crate::peer::cleanup::IpcObject;
    use crate::report::size::MessageSize;
    use crate::transport::kinds::{shm_posix, zmq_ipc};
    use crate::transport::{MessageLimit, TransportError, TransportKind};

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
        /// A transport that carries at most this many bytes.
        limit: Option<(TransportKind, MessageLimit)>,
    }

    fn measured(latencies_ns: &[u64], error: Option<MeasureError>) -> RunMeasurement {
        let mut latencies = LatencyRecorder::new();
        latencies_ns.iter().for_each(|&ns| latencies.record(ns));
        RunMeasurement {
            latencies,
            service: None,
            behind_schedule: 0,
            elapsed: Duration::from_nanos(latencies_ns.iter().sum()),
            progress_time: Duration::ZERO,
            placement: None,
            cpu: None,
            stream_messages: 0,
            one_way_end: None,
            per_pair: Vec::new(),
            error,
        }
    }

    impl Executor for FakeExecutor {
        fn remove_stale_objects(&mut self) -> Option<Vec<IpcObject>> {
            Some(Vec::new())
        }

        fn message_limit(&self, case: &Case) -> Option<MessageLimit> {
            let (kind, limit) = self.limit.clone()?;
            (kind == case.transport).then_some(limit)
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

        fn case_skipped(&mut self, run: &CaseRun, reason: &str) {
            let name = run.transport.name();
            let bytes = run.size.bytes;
            (self.events.borrow_mut()).push(format!("skip {name} at {bytes}: {reason}"));
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
            duration: None,
            warmup: 0,
            runs,
            until_confident: None,
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
            label: None,
            record_hostname: false,
            injected_fault: None,
            injected_client_fault: None,
            pin: None,
            interval: None,
            spin_budget: None,
            connect: None,
            workload: Workload::RoundTrip,
            ring_depth: None,
            pairs: 1,
            refused_for_room: Vec::new(),
            verbose: false,
        }
    }

    struct Played {
        outcome: Outcome,
        events: Vec<String>,
        ran: Vec<(TransportKind, usize)>,
    }

    fn play(options: &Options, script: Vec<Scripted>, reporter: RecordingReporter) -> Played {
        play_limited(options, script, reporter, None)
    }

    fn play_limited(
        options: &Options,
        script: Vec<Scripted>,
        reporter: RecordingReporter,
        limit: Option<(TransportKind, MessageLimit)>,
    ) -> Played {
        let events = Rc::clone(&reporter.events);
        let ran = Rc::new(RefCell::new(Vec::new()));
        let executor = FakeExecutor {
            script: script.into(),
            ran: Rc::clone(&ran),
            signal: None,
            limit,
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
        // Run 1 of SHM POSIX completes, run 1 of ZeroMQ is interrupted: neither case got
        // its two runs, so both are interrupted, and nothing runs after.
        let script = vec![Scripted::Ok(vec![1000]), Scripted::Interrupt];
        let played = play(&options(2), script, RecordingReporter::default());
        let results = &played.outcome.report.results;
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].status, Status::Interrupted);
        assert_eq!(results[0].iterations, 1, "what was measured is kept");
        assert_eq!(results[1].status, Status::Interrupted);
        assert_eq!(played.ran.len(), 2);
        assert!(played
            .events
            .contains(&"end zmq-ipc run 1: interrupted".to_string()));
        assert!(!played.events.iter().any(|e| e.contains("run 2")));
        assert_eq!(played.outcome.report.state, "interrupted by SIGINT");
        assert_eq!(played.outcome.exit_code(), 130);
    }

    #[test]
    fn runs_are_interleaved_and_tallied_per_case() {
        let script = vec![
            Scripted::Ok(vec![1000, 3000]),
            Scripted::Ok(vec![5000, 7000]),
            Scripted::Ok(vec![10_000]),
            Scripted::Ok(vec![20_000]),
            Scripted::Ok(vec![30_000]),
            Scripted::Ok(vec![40_000, 50_000]),
        ];
        let played = play(&options(3), script, RecordingReporter::default());
        let order: Vec<&str> = played.ran.iter().map(|(kind, _)| kind.name()).collect();
        let alternating = ["shm-posix", "zmq-ipc"].repeat(3);
        assert_eq!(order, alternating, "run 1 of each, then run 2 of each, ...");
        let [posix, zmq] = &played.outcome.report.results[..] else {
            panic!("two cases");
        };
        assert_eq!((posix.iterations, zmq.iterations), (4, 5));
        assert_eq!(posix.runs, vec![2.0, 10.0, 30.0], "run means in µs");
        assert_eq!(zmq.runs, vec![6.0, 20.0, 45.0]);
        assert_eq!(posix.latency_us.map(|l| l.mean), Some(44.0 / 4.0));
        assert_eq!(played.outcome.exit_code(), 0);
    }

    #[test]
    fn runs_auto_repeats_only_the_cases_still_unsure_up_to_the_most() {
        let mut options = options(10);
        options.until_confident = Some(crate::values::ConfidenceTarget {
            target_pct: 5.0,
            min_runs: 3,
            max_runs: 10,
        });
        // SHM POSIX's run means agree at once: done after its third run. ZeroMQ's differ
        // by a factor of two, run after run: it goes on alone to the tenth.
        let steady = || Scripted::Ok(vec![10_000]);
        let swinging = |run: u64| Scripted::Ok(vec![10_000 * (1 + run % 2)]);
        let mut script = Vec::new();
        for run in 0..3 {
            script.extend([steady(), swinging(run)]);
        }
        script.extend((3..10).map(swinging));
        let played = play(&options, script, RecordingReporter::default());
        let order: Vec<&str> = played.ran.iter().map(|(kind, _)| kind.name()).collect();
        let mut expected = ["shm-posix", "zmq-ipc"].repeat(3);
        expected.extend(["zmq-ipc"; 7]);
        assert_eq!(order, expected, "interleaved while both run");
        let [posix, zmq] = &played.outcome.report.results[..] else {
            panic!("two cases");
        };
        let (posix_said, zmq_said) = (posix.confidence.unwrap(), zmq.confidence.unwrap());
        assert_eq!((posix_said.runs, posix_said.reached), (3, true));
        assert_eq!(posix_said.half_width_pct, Some(0.0));
        assert_eq!((zmq_said.runs, zmq_said.reached), (10, false));
        assert!(zmq_said.half_width_pct.unwrap() > 5.0, "{zmq_said:?}");
        assert_eq!((posix.status, zmq.status), (Status::Ok, Status::Ok));
        assert_eq!((posix.runs.len(), zmq.runs.len()), (3, 10));
        assert_eq!(played.outcome.exit_code(), 0);
    }

    #[test]
    fn a_size_beyond_a_transports_limit_is_skipped_before_it_runs() {
        let mut options = options(2);
        options.sizes.push(MessageSize {
            bytes: 65_536,
            name: None,
        });
        let limit = MessageLimit {
            bytes: 8192,
            reason: "larger than msgsize_max 8192".into(),
        };
        // Two runs of each case that fits: both transports at 100 B, SHM POSIX at 64 KiB.
        let script = (0..6).map(|_| Scripted::Ok(vec![1000])).collect();
        let reporter = RecordingReporter::default();
        let played = play_limited(&options, script, reporter, Some((zmq_ipc::KIND, limit)));
        assert!(
            !played.ran.contains(&(zmq_ipc::KIND, 65_536)),
            "nothing is started for a skipped case: {:?}",
            played.ran
        );
        let skips: Vec<&String> = (played.events.iter())
            .filter(|e| e.starts_with("skip"))
            .collect();
        assert_eq!(
            skips,
            ["skip zmq-ipc at 65536: larger than msgsize_max 8192"]
        );
        let results = &played.outcome.report.results;
        let statuses: Vec<Status> = results.iter().map(|r| r.status).collect();
        let expected = [Status::Ok, Status::Ok, Status::Ok, Status::Skipped];
        assert_eq!(statuses, expected, "in transport order per size");
        assert_eq!(
            results[3].skip_reason.as_deref(),
            Some("larger than msgsize_max 8192")
        );
        assert_eq!(played.outcome.exit_code(), 0, "ok and skipped cases exit 0");
    }

    #[test]
    fn a_transport_that_cannot_carry_the_workload_is_skipped_before_it_runs_saying_why() {
        let mut options = options(1);
        options.workload = Workload::InFlight(4);
        // SHM POSIX has one request slot; ZeroMQ keeps requests in flight and runs.
        let refusal = shm_posix::KIND.supports(options.workload).unwrap_err();
        assert_eq!(zmq_ipc::KIND.supports(options.workload), Ok(()));
        let script = vec![Scripted::Ok(vec![1000])];
        let played = play(&options, script, RecordingReporter::default());
        assert_eq!(
            played.ran,
            [(zmq_ipc::KIND, 100)],
            "SHM POSIX never started"
        );
        let skip = format!("SHM POSIX cannot run 4 in flight: {refusal}");
        assert!(
            played
                .events
                .contains(&format!("skip shm-posix at 100: {skip}")),
            "{:?}",
            played.events
        );
        let results = &played.outcome.report.results;
        assert_eq!(results[0].status, Status::Skipped);
        assert_eq!(results[0].skip_reason.as_deref(), Some(skip.as_str()));
        assert_eq!(results[1].status, Status::Ok);
    }

    #[test]
    fn the_skip_names_the_transport_the_workload_and_the_reason() {
        let reason = Reason::QueueTooShallow {
            setting: "msg_max",
            most: 10,
        };
        assert_eq!(
            unsupported(zmq_ipc::KIND, Workload::InFlight(16), reason),
            "ZeroMQ IPC cannot run 16 in flight: its queues hold at most 10 messages (msg_max)"
        );
        let why = Reason::Protocol("it has no one-way send");
        assert_eq!(
            unsupported(shm_posix::KIND, Workload::Stream, why),
            "SHM POSIX cannot run stream: it has no one-way send"
        );
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
