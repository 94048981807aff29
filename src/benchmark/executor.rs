//! What one run of a case needs from the outside world, behind [`Executor`] (as hyperfine's
//! executor is), so that the scheduling logic can be tested without processes.
//!
//! [`ProcessExecutor`] is the real one: a fresh server process per run, readiness, then a
//! client process per pair (`clients.rs`) that warms up and runs the timed loop, and an orderly
//! teardown that checks the server left nothing behind. The driver runs no transport code.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::benchmark::clients::{client_args, run_clients, Launch};
use crate::benchmark::cpu::CpuWatch;
use crate::benchmark::measure::ProgressSink;
use crate::benchmark::measure::{
    EchoBuffers, LoopInput, MeasureConfig, MeasureError, StopCheck, Watchers,
};
use crate::benchmark::outcome::{Case, RunError, RunOutcome};
use crate::benchmark::placement::PlacementSampler;
use crate::benchmark::workload::timed_loop;
use crate::cli::options::Options;
use crate::peer::cleanup::{self, IpcObject};
use crate::peer::lease::{EndpointLease, RunNames};
use crate::peer::library_dirs::LibraryDirs;
use crate::peer::server_args::ServerArgs;
use crate::peer::spawn::ServerProcess;
use crate::system::placement::{self, PinError, Pinning};
use crate::system::process_state::{self, Stopped};
use crate::system::signals;
use crate::transport::{
    payload_capacity, registry, ChannelName, Endpoint, MessageLimit, TransportClient,
    TransportError, Workload,
};

/// How long a server whose case failed gets to exit on SIGTERM before it is killed.
const TEARDOWN_GRACE: Duration = Duration::from_secs(1);

/// What a client is measured against: the largest payload its server's buffer holds; the
/// server's pid when it is ours, whose placement and CPU time are watched beside the driver's;
/// and, for one of several pairs, what the pairs share.
pub(crate) struct ServerSide<'a> {
    pub capacity: usize,
    pub server_pid: Option<u32>,
    pub pairs: Option<PairsShare<'a>>,
}

/// The line every pair's timed run starts from (`--pairs`): each pair waits there once warmed
/// up (or failed to), until all have come. The pairs are processes of their own, so the line
/// is the driver's (`client_mode.rs`).
pub(crate) trait StartLine {
    fn wait(&self);
}

/// What the pairs of one run (`--pairs`) share: the line every pair's timed run starts from,
/// and the flag set once one of them failed, which stops the others' loops.
#[derive(Clone, Copy)]
pub(crate) struct PairsShare<'a> {
    pub start_line: &'a dyn StartLine,
    pub failed: &'a AtomicBool,
}

/// What a client measures: the message size, the workload, and how.
pub(crate) struct ClientPlan {
    pub size_bytes: usize,
    pub workload: Workload,
    pub config: MeasureConfig,
}

/// Warms `client` up and measures over it as `plan` says.
pub(crate) fn measure_client(
    client: &mut dyn TransportClient,
    plan: &ClientPlan,
    server: ServerSide<'_>,
    progress: &mut dyn ProgressSink,
) -> RunOutcome {
    let watchers = Watchers {
        sampler: server.server_pid.map(PlacementSampler::start),
        cpu: CpuWatch::new(server.server_pid),
    };
    let config = plan.config;
    let offset = client.payload_page_offset();
    let buffers = EchoBuffers::new(plan.size_bytes, server.capacity, offset)
        .map(|buffers| buffers.keeping_in_flight(plan.workload.in_flight()));
    let no_other_pair = AtomicBool::new(false);
    let stop = StopCheck::new(server.pairs.map_or(&no_other_pair, |pairs| pairs.failed));
    let timed_loop = timed_loop(plan.workload);
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

    /// What the runs since the last call removed before starting a server: objects an earlier
    /// process with this driver's pid, in this PID namespace, left under the name the run was
    /// about to use (`cleanup::remove_earlier_runs_objects`).
    fn take_earlier_runs_objects(&mut self) -> Vec<IpcObject> {
        Vec::new()
    }
}

/// The real executor: each run spawns this executable as the echo server (one per pair).
pub struct ProcessExecutor<'a> {
    pub(super) options: &'a Options,
    names: RunNames,
    /// Objects removed from channels this run was about to use, not told yet.
    earlier_runs_objects: Vec<IpcObject>,
    /// The CPUs this process may use, read before the measuring thread was pinned: where the
    /// pairs of `--pairs` are placed.
    pub(super) allowed_cpus: Vec<usize>,
    /// The library directories (`/tmp/iceoryx2`) this run did not find: removed, if empty,
    /// when the executor is dropped at the run's end.
    _library_dirs: LibraryDirs,
}

/// What a client's command line says of where it stands in its run.
struct ClientArgsFor {
    server_pid: Option<u32>,
    cpu: Option<usize>,
    server_cpu: Option<usize>,
    start_line: bool,
    reports_progress: bool,
}

impl ClientArgsFor {
    fn apply(
        self,
        args: crate::peer::client_args::ClientArgs,
    ) -> crate::peer::client_args::ClientArgs {
        crate::peer::client_args::ClientArgs {
            server_pid: self.server_pid,
            cpu: self.cpu,
            server_cpu: self.server_cpu,
            start_line: self.start_line,
            reports_progress: self.reports_progress,
            ..args
        }
    }
}

/// One client/server pair's server, and the endpoint it serves.
pub(super) struct Pair {
    pub(super) lease: EndpointLease,
    pub(super) server: ServerProcess,
}

impl<'a> ProcessExecutor<'a> {
    /// Reads the CPUs this process may use, where `--pin` places the pairs. The driver itself
    /// is not pinned: it only orchestrates, and each client process pins itself.
    pub fn new(options: &'a Options) -> Result<ProcessExecutor<'a>, PinError> {
        let allowed_cpus = placement::allowed_cpus()?;
        Ok(ProcessExecutor {
            options,
            names: RunNames::new(),
            earlier_runs_objects: Vec::new(),
            allowed_cpus,
            _library_dirs: LibraryDirs::note_missing(&options.transports),
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
        if let Endpoint::ShmChannel { channel, .. } = &lease.endpoint {
            if let Ok(channel) = ChannelName::new(channel) {
                let removed = cleanup::remove_earlier_runs_objects(&channel);
                self.earlier_runs_objects.extend(removed);
            }
        }
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

    /// Waits for the pair's server to say READY, and makes the command line of the client
    /// process that measures against it: pinned as `pin` says, at the start line if `pairs`
    /// are measured at once, reporting progress if it is the first.
    pub(super) fn launch<'p>(
        &self,
        case: &Case,
        pair: &'p Pair,
        index: usize,
        pin: Option<Pinning>,
    ) -> Result<Launch<'p>, RunError> {
        let address = pair.server.wait_ready(self.options.timeout)?;
        let endpoint = pair.lease.client_endpoint(address.as_deref())?;
        let capacity = payload_capacity(self.options.buffer_size);
        let mut args = client_args(self.options, case, &endpoint, capacity)?;
        // An injected client fault strikes the first pair's client only: the others are
        // then stopped by the driver, as when a pair fails of itself.
        args.fault = args.fault.filter(|_| index == 0);
        Ok(Launch {
            args: ClientArgsFor {
                server_pid: Some(pair.server.pid()),
                cpu: pin.map(|pin| pin.driver_cpu),
                server_cpu: pin.map(|pin| pin.server_cpu),
                start_line: self.options.pairs > 1,
                reports_progress: index == 0,
            }
            .apply(args),
            inherited: pair.lease.client_inherited_fds(),
            server: Some(pair.server.watch()),
        })
    }

    /// The clients of a run, one per pair started, each against its pair's server.
    pub(super) fn run_clients(
        &self,
        case: &Case,
        pairs: &[Pair],
        progress: &mut dyn ProgressSink,
    ) -> Vec<RunOutcome> {
        let mut launches = Vec::with_capacity(pairs.len());
        for (index, pair) in pairs.iter().enumerate() {
            match self.launch(case, pair, index, self.pin_of_pair(index)) {
                Ok(launch) => launches.push(launch),
                Err(e) => {
                    let mut outcomes: Vec<RunOutcome> = (0..index)
                        .map(|_| RunOutcome::failed(MeasureError::AnotherPairFailed))
                        .collect();
                    outcomes.push(RunOutcome::failed(e));
                    return outcomes;
                }
            }
        }
        let ended = run_clients(launches, progress, self.options.timeout);
        ended.into_iter().map(|ended| ended.outcome).collect()
    }

    /// Where pair `index` runs under `--pin`: alone, where `--pin` says.
    pub(super) fn pin_of_pair(&self, index: usize) -> Option<Pinning> {
        let pin = self.options.pin?;
        Some(match self.options.pairs {
            1 => pin,
            _ => pin.for_pair(index, &self.allowed_cpus),
        })
    }

    /// A healthy server is asked to stop and must exit 0; a failed one gets a moment to clean
    /// up, then dropping it kills and reaps it. Either way, anything left at the endpoint is
    /// removed and, after a clean exit, reported: a server that leaks objects is a bug.
    ///
    /// A timeout is explained by its own pair's server (`pair`, counted from 1, when several
    /// ran): that it was stopped (`kill -STOP`), or its last words.
    pub(super) fn tear_down(
        &self,
        Pair { lease, server }: Pair,
        pair: Option<usize>,
        outcome: &mut RunOutcome,
    ) {
        let clean_exit = match outcome.error.take() {
            None => match server.stop(self.options.timeout) {
                Ok(()) => true,
                Err(e) => {
                    outcome.error = Some(e.into());
                    false
                }
            },
            Some(error) => {
                let ours = error.is_timeout() && error.pair() == pair;
                let stopped = process_state::stopped(server.pid()).filter(|_| ours);
                let pid = server.pid();
                // A stopped server cannot act on SIGTERM: it is killed at once.
                let grace = match stopped {
                    Some(_) => Duration::ZERO,
                    None => TEARDOWN_GRACE,
                };
                let (_, words) = server.stop_and_hear(grace);
                outcome.error = Some(explain_timeout(error, pid, stopped, words.filter(|_| ours)));
                false
            }
        };
        let leftovers = lease.endpoint.remove_leftovers();
        if clean_exit && !leftovers.is_empty() {
            outcome.error = Some(RunError::Leftovers(leftovers));
        }
    }
}

/// A timeout `error` with what its server `pid` tells of it: stopped (`how`), or its last
/// `words`; any other error as it is.
fn explain_timeout(
    error: RunError,
    pid: u32,
    how: Option<Stopped>,
    words: Option<String>,
) -> RunError {
    match (how, words) {
        (Some(how), _) => error.within_pair(|source| RunError::ServerStopped {
            pid,
            how,
            source: Box::new(source),
        }),
        (None, Some(words)) => error.within_pair(|source| RunError::ServerSaid {
            source: Box::new(source),
            words,
        }),
        (None, None) => error,
    }
}

impl Executor for ProcessExecutor<'_> {
    fn remove_stale_objects(&mut self) -> Option<Vec<IpcObject>> {
        // iceoryx2 first, as `cleanup` does: its segments in /dev/shm carry a driver's name
        // too, and removed under a dead node they would leave the node's files under
        // /tmp/iceoryx2 for good (seen with a dead run of this pid in this PID namespace).
        // A node's creation removes its channel's dead nodes as silently.
        let _ = registry::remove_every_dead_own_object(&cleanup::channel_run_seen_from_here());
        Some(cleanup::remove_all(&cleanup::stale_objects(
            &std::env::temp_dir(),
        )))
    }

    fn message_limit(&self, case: &Case) -> Option<MessageLimit> {
        case.transport.max_message(self.options.buffer_size)
    }

    fn run(&mut self, case: &Case, progress: &mut dyn ProgressSink) -> RunOutcome {
        self.run_pairs(case, progress)
    }

    fn interrupted(&self) -> Option<Signal> {
        signals::received()
    }

    fn take_earlier_runs_objects(&mut self) -> Vec<IpcObject> {
        std::mem::take(&mut self.earlier_runs_objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::options::Mode;
    use crate::transport::kinds::{shm_posix, shm_spin, shm_zc, zmq_ipc};
    use crate::transport::TransportKind;

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
