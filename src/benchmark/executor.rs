//! What one run of a case needs from the outside world, behind [`Executor`] (as hyperfine's
//! executor is), so that the scheduling logic can be tested without processes.
//!
//! [`ProcessExecutor`] is the real one: a fresh server process per run, readiness, warm-up, the
//! timed loop, and an orderly teardown that checks the server left nothing behind.

use std::sync::atomic::AtomicBool;
use std::sync::Barrier;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::benchmark::cpu::CpuWatch;
use crate::benchmark::measure::ProgressSink;
use crate::benchmark::measure::{
    EchoBuffers, LoopInput, MeasureConfig, MeasureError, RunMeasurement, StopCheck, Watchers,
};
use crate::benchmark::placement::PlacementSampler;
use crate::benchmark::workload::timed_loop;
use crate::cli::options::Options;
use crate::peer::cleanup::{self, IpcObject};
use crate::peer::lease::{EndpointLease, LeaseError, RunNames};
use crate::peer::server_args::ServerArgs;
use crate::peer::spawn::{DriverError, ServerProcess};
use crate::report::size::MessageSize;
use crate::system::placement::{self, PinError, Pinning};
use crate::system::signals;
use crate::system::threads::ThreadError;
use crate::transport::{
    payload_capacity, Endpoint, MessageLimit, TransportClient, TransportError, TransportKind,
};

/// How long a server whose case failed gets to exit on SIGTERM before it is killed.
const TEARDOWN_GRACE: Duration = Duration::from_secs(1);

/// One (size, transport) pair of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub size: MessageSize,
    pub transport: TransportKind,
}

/// Why a run failed. The text is what the summary and the exports show.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Measure(#[from] MeasureError),
    #[error("the server exited but left {} behind", .0.join(", "))]
    Leftovers(Vec<String>),
    /// What went wrong in one of several pairs (`--pairs`), counted from 1.
    #[error("pair {pair}: {source}")]
    Pair {
        pair: usize,
        #[source]
        source: Box<RunError>,
    },
    #[error("cannot pin a pair's thread: {0}")]
    Pin(#[source] PinError),
    #[error("a pair's measuring thread panicked")]
    Panicked,
    /// A wait that ran out, and what the server said on its way out: the cause may be on its
    /// side, where the client cannot see it (a connection libzmq could not accept).
    #[error("{source} (the server said: {words})")]
    ServerSaid {
        #[source]
        source: Box<RunError>,
        words: String,
    },
    /// The system refused a thread the run needs (`ulimit -u`).
    #[error(transparent)]
    Thread(#[from] ThreadError),
    /// A case not run against an external server whose channel an earlier case left in the
    /// middle of an exchange (see `ExternalExecutor`).
    #[error(
        "not run: an earlier case left the channel mid-exchange ({earlier}); the server may \
         still answer that request, and its reply would be taken for this case's: restart the \
         server to measure again"
    )]
    ChannelOutOfStep { earlier: String },
    /// Anything that went wrong with a server this tool did not start, named by its address.
    #[error("external server {peer}: {source}")]
    External {
        peer: String,
        #[source]
        source: Box<RunError>,
    },
}

impl From<TransportError> for RunError {
    fn from(e: TransportError) -> RunError {
        RunError::Measure(e.into())
    }
}

impl RunError {
    /// A stop signal (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) ended the run, rather than a fault.
    pub fn is_interrupt(&self) -> bool {
        match self {
            RunError::Measure(e) => e.is_interrupt(),
            RunError::External { source, .. }
            | RunError::Pair { source, .. }
            | RunError::ServerSaid { source, .. } => source.is_interrupt(),
            _ => false,
        }
    }

    /// A wait ran out: the client saw no failure, only silence.
    fn is_timeout(&self) -> bool {
        matches!(self, RunError::Measure(MeasureError::Transport(e)) if e.is_timeout())
    }
}

/// What one run produced: its measurement if the timed loop started, and why it ended early.
#[derive(Default)]
pub struct RunOutcome {
    pub measurement: Option<RunMeasurement>,
    pub error: Option<RunError>,
}

impl RunOutcome {
    pub(crate) fn failed(error: impl Into<RunError>) -> RunOutcome {
        RunOutcome {
            measurement: None,
            error: Some(error.into()),
        }
    }
}

/// What a client is measured against: the largest payload its server's buffer holds; the
/// server's pid when it is ours, whose placement and CPU time are watched beside the driver's;
/// and, for one of several pairs, what the pairs share.
pub(crate) struct ServerSide<'a> {
    pub capacity: usize,
    pub server_pid: Option<u32>,
    pub pairs: Option<PairsShare<'a>>,
}

/// What the pairs of one run (`--pairs`) share: the line every pair's timed run starts from,
/// and the flag set once one of them failed, which stops the others' loops.
#[derive(Clone, Copy)]
pub(crate) struct PairsShare<'a> {
    pub start_line: &'a Barrier,
    pub failed: &'a AtomicBool,
}

/// Warms `client` up and measures `case` over it in the options' workload.
pub(crate) fn measure_client(
    client: &mut dyn TransportClient,
    case: &Case,
    options: &Options,
    server: ServerSide<'_>,
    progress: &mut dyn ProgressSink,
) -> RunOutcome {
    let watchers = Watchers {
        sampler: server.server_pid.map(PlacementSampler::start),
        cpu: CpuWatch::new(server.server_pid),
    };
    let config = MeasureConfig {
        warmup: options.warmup,
        iterations: options.iterations,
        verify_all: options.verify_all,
        interval: options.interval,
        duration: options.duration,
    };
    let offset = client.payload_page_offset();
    let buffers = EchoBuffers::new(case.size.bytes, server.capacity, offset)
        .map(|buffers| buffers.keeping_in_flight(options.workload.in_flight()));
    let no_other_pair = AtomicBool::new(false);
    let stop = StopCheck::new(server.pairs.map_or(&no_other_pair, |pairs| pairs.failed));
    let timed_loop = timed_loop(options.workload);
    let warmed_up = buffers.and_then(|mut buffers| {
        let mut input = LoopInput {
            client: &mut *client,
            buffers: &mut buffers,
            config: &config,
            stop,
        };
        timed_loop.warm_up(&mut input).map(|()| buffers)
    });
    // Every pair reaches the line, even one whose warm-up failed: the others wait for it.
    if let Some(pairs) = server.pairs {
        pairs.start_line.wait();
    }
    let mut buffers = match warmed_up {
        Ok(buffers) => buffers,
        Err(e) => return RunOutcome::failed(e),
    };
    let mut input = LoopInput {
        client,
        buffers: &mut buffers,
        config: &config,
        stop,
    };
    let mut measurement = timed_loop.timed_run(&mut input, progress, watchers);
    let error = measurement.error.take().map(RunError::from);
    RunOutcome {
        measurement: Some(measurement),
        error,
    }
}

/// Runs cases, one run at a time.
pub trait Executor {
    /// Removes what earlier, dead runs left behind, before the first case; None when this
    /// executor sweeps nothing at all (then no sweep is announced).
    fn remove_stale_objects(&mut self) -> Option<Vec<IpcObject>>;

    /// The largest message `case`'s transport carries here, when a limit of its own (a kernel
    /// setting) makes that less than the buffer: larger cases are skipped, never run.
    fn message_limit(&self, case: &Case) -> Option<MessageLimit>;

    /// One run of `case`: a fresh server, warm-up, the timed round trips, teardown.
    fn run(&mut self, case: &Case, progress: &mut dyn ProgressSink) -> RunOutcome;

    /// The signal that asked the benchmark to stop, if one did.
    fn interrupted(&self) -> Option<Signal>;
}

/// The real executor: each run spawns this executable as the echo server (one per pair).
pub struct ProcessExecutor<'a> {
    pub(super) options: &'a Options,
    names: RunNames,
    /// The CPUs this process may use, read before the measuring thread was pinned: where the
    /// pairs of `--pairs` are placed.
    pub(super) allowed_cpus: Vec<usize>,
}

/// One client/server pair's server, and the endpoint it serves.
pub(super) struct Pair {
    pub(super) lease: EndpointLease,
    pub(super) server: ServerProcess,
}

impl<'a> ProcessExecutor<'a> {
    /// Pins the calling thread, which measures, to the driver's CPU if `--pin` asks; servers
    /// pin themselves to theirs before they say READY.
    pub fn new(options: &'a Options) -> Result<ProcessExecutor<'a>, PinError> {
        let allowed_cpus = placement::allowed_cpus()?;
        if let Some(pin) = options.pin {
            placement::pin_current_thread(pin.driver_cpu)?;
        }
        Ok(ProcessExecutor {
            options,
            names: RunNames::new(),
            allowed_cpus,
        })
    }

    /// The command line of `case`'s server at `endpoint`, pinned as `pin` says.
    fn server_args(
        &self,
        case: &Case,
        endpoint: &Endpoint,
        pin: Option<Pinning>,
    ) -> Result<ServerArgs, TransportError> {
        let fault = self
            .options
            .injected_fault
            .filter(|(kind, _)| *kind == case.transport)
            .map(|(_, fault)| fault);
        let spin_budget = self.options.transport_options(case.transport).spin_budget;
        Ok(
            ServerArgs::new(case.transport, endpoint, self.options.timeout, fault)?
                .pinned_to(pin.map(|pin| pin.server_cpu))
                .spinning_for(spin_budget)
                .exchanging(
                    self.options.workload.pattern(),
                    self.options.ring_depth,
                    self.options.verify_all,
                )
                .with_in_flight(self.options.workload.in_flight()),
        )
    }

    /// A fresh endpoint for `case` and its server, started (pinned as `pin` says).
    pub(super) fn start_pair(
        &mut self,
        case: &Case,
        pin: Option<Pinning>,
    ) -> Result<Pair, RunError> {
        let mut lease = self
            .names
            .next_endpoint(case.transport, self.options.buffer_size)?;
        let spawned = self
            .server_args(case, &lease.endpoint, pin)
            .map_err(RunError::from)
            .and_then(|args| Ok(ServerProcess::spawn(&args, &lease.inherited_fds())?));
        // The server has its own copies of its pipe ends now, or never will.
        lease.close_server_ends();
        match spawned {
            Ok(server) => Ok(Pair { lease, server }),
            Err(e) => {
                // A server whose readers could not start was killed and reaped, possibly after
                // it had made its channel: nothing else would remove what it made.
                lease.endpoint.remove_leftovers();
                Err(e)
            }
        }
    }

    /// Waits for the pair's server to say READY and connects a client to it.
    pub(super) fn connect(
        &self,
        case: &Case,
        pair: &Pair,
    ) -> Result<Box<dyn TransportClient>, RunError> {
        let address = pair.server.wait_ready(self.options.timeout)?;
        let endpoint = pair.lease.client_endpoint(address.as_deref())?;
        Ok(case.transport.connect(
            &endpoint,
            self.options.transport_options(case.transport),
            pair.server.watch(),
        )?)
    }

    /// What a client of `pair` is measured against, and what it shares with the other pairs.
    pub(super) fn server_side<'l>(
        &self,
        pair: &Pair,
        pairs: Option<PairsShare<'l>>,
    ) -> ServerSide<'l> {
        ServerSide {
            capacity: payload_capacity(self.options.buffer_size),
            server_pid: Some(pair.server.pid()),
            pairs,
        }
    }

    /// One run of one pair: start, connect, warm up, measure, tear down.
    fn run_one(&mut self, case: &Case, progress: &mut dyn ProgressSink) -> RunOutcome {
        let pair = match self.start_pair(case, self.options.pin) {
            Ok(pair) => pair,
            Err(e) => return RunOutcome::failed(e),
        };
        let mut outcome = match self.connect(case, &pair) {
            Ok(mut client) => {
                let server = self.server_side(&pair, None);
                measure_client(client.as_mut(), case, self.options, server, progress)
            }
            Err(e) => RunOutcome::failed(e),
        };
        self.tear_down(pair, &mut outcome);
        outcome
    }

    /// A healthy server is asked to stop and must exit 0; a failed one gets a moment to clean
    /// up, then dropping it kills and reaps it. Either way, anything left at the endpoint is
    /// removed and, after a clean exit, reported: a server that leaks objects is a bug.
    pub(super) fn tear_down(&self, Pair { lease, server }: Pair, outcome: &mut RunOutcome) {
        let clean_exit = match outcome.error {
            None => match server.stop(self.options.timeout) {
                Ok(()) => true,
                Err(e) => {
                    outcome.error = Some(e.into());
                    false
                }
            },
            Some(_) => {
                let (_, words) = server.stop_and_hear(TEARDOWN_GRACE);
                if let Some(words) =
                    words.filter(|_| outcome.error.as_ref().is_some_and(RunError::is_timeout))
                {
                    let source = Box::new(outcome.error.take().expect("a failed outcome"));
                    outcome.error = Some(RunError::ServerSaid { source, words });
                }
                false
            }
        };
        let leftovers = lease.endpoint.remove_leftovers();
        if clean_exit && !leftovers.is_empty() {
            outcome.error = Some(RunError::Leftovers(leftovers));
        }
    }
}

impl Executor for ProcessExecutor<'_> {
    fn remove_stale_objects(&mut self) -> Option<Vec<IpcObject>> {
        Some(cleanup::remove_all(&cleanup::stale_objects(
            &std::env::temp_dir(),
        )))
    }

    fn message_limit(&self, case: &Case) -> Option<MessageLimit> {
        case.transport.max_message(self.options.buffer_size)
    }

    fn run(&mut self, case: &Case, progress: &mut dyn ProgressSink) -> RunOutcome {
        match self.options.pairs {
            1 => self.run_one(case, progress),
            pairs => self.run_pairs(case, pairs, progress),
        }
    }

    fn interrupted(&self) -> Option<Signal> {
        signals::received()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::options::Mode;
    use crate::transport::kinds::{shm_posix, shm_spin, shm_zc, zmq_ipc};

    fn options(args: &[&str]) -> Options {
        let argv = ["transport-bench"].iter().chain(args).map(Into::into);
        match Mode::from_args(argv.collect()) {
            Mode::Benchmark(options) => *options,
            _ => panic!("not a benchmark: {args:?}"),
        }
    }

    /// The spin budget the client of `kind` gets, and the one on its server's command line.
    fn both_sides(options: &Options, kind: TransportKind) -> (Option<Duration>, Option<Duration>) {
        let executor = ProcessExecutor::new(options).unwrap();
        let case = Case {
            size: options.sizes[0],
            transport: kind,
        };
        let endpoint = kind.endpoint("tb_1_1", std::path::Path::new("/nonexistent"), 4096);
        let server = executor.server_args(&case, &endpoint, None).unwrap();
        (
            options.transport_options(kind).spin_budget,
            server.spin_budget,
        )
    }

    #[test]
    fn client_and_server_spin_alike_with_or_without_spin_budget() {
        let micros = |us| Some(Duration::from_micros(us));
        let transports = ["--transports", "shm-zc,shm-spin,shm-posix,zmq-ipc"];
        let given = options(&[&transports[..], &["--spin-budget", "7us"]].concat());
        let default = options(&transports);
        for (options, kind, expected) in [
            (&given, shm_zc::KIND, micros(7)),
            (&given, shm_posix::KIND, micros(7)),
            (&given, zmq_ipc::KIND, None),
            (&default, shm_zc::KIND, micros(20)),
            (&default, shm_spin::KIND, micros(20)),
            (&default, shm_posix::KIND, micros(0)),
            (&default, zmq_ipc::KIND, None),
        ] {
            assert_eq!(both_sides(options, kind), (expected, expected), "{kind:?}");
        }
    }
}
