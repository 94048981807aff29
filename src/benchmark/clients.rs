//! The driver's side of a run's client processes: it starts one per pair
//! ([`ClientProcess`], `transport-bench --client`), forwards the first one's progress, keeps the
//! start line (every client reports it has warmed up, or has died, before any is told to go),
//! carries the pairs' failure flag across processes (the first failure tells the others to
//! stop), passes a stop signal on, and turns each client's report, or its death, into its
//! [`RunOutcome`]. The driver runs no transport code: whatever a library does in a client
//! (a fault, an abort, an OOM kill) ends that client's process, and fails that run only.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::benchmark::client_report::ClientMessage;
use crate::benchmark::measure::{MeasureError, ProgressSink};
use crate::benchmark::outcome::{Case, FailureKind, RunError, RunOutcome};
use crate::cli::options::Options;
use crate::peer::client_args::ClientArgs;
use crate::peer::client_process::{ClientLine, ClientProcess, ClientProcessError, GO, STOP};
use crate::peer::spawn::InheritedFd;
use crate::system::process_state::StopClock;
use crate::system::signals;
use crate::transport::{Endpoint, PeerWatch, TransportError, WAIT_SLICE};

/// One client process to start: its command line, the descriptors it inherits, and the
/// driver's watch of its server (which describes the server's exit), if the server is ours.
pub(crate) struct Launch<'a> {
    pub args: ClientArgs,
    pub inherited: Vec<InheritedFd<'a>>,
    pub server: Option<Arc<dyn PeerWatch>>,
}

/// The command line of a client that measures `case` at `endpoint`, whose server's payload
/// capacity is `capacity`: alone (no start line), reporting progress, not pinned, with the
/// injected client fault if `--inject-client-fault` names this transport.
pub(crate) fn client_args(
    options: &Options,
    case: &Case,
    endpoint: &Endpoint,
    capacity: usize,
) -> Result<ClientArgs, TransportError> {
    let transport = options.transport_options(case.transport);
    Ok(ClientArgs {
        transport: case.transport.name().to_string(),
        address: ClientArgs::render_address(case.transport, endpoint)?,
        buffer_size: crate::peer::address::buffer_size(endpoint),
        size_bytes: case.size.bytes,
        capacity,
        pattern: options.workload.pattern(),
        in_flight: transport.in_flight,
        ring_depth: transport.ring_depth,
        warmup: options.warmup,
        iterations: options.iterations,
        verify_all: options.verify_all,
        interval: options.interval,
        duration: options.duration,
        timeout: transport.timeout,
        spin_budget: transport.spin_budget,
        server_pid: None,
        cpu: None,
        server_cpu: None,
        start_line: false,
        reports_progress: true,
        fault: (options.injected_client_fault)
            .filter(|(kind, _)| *kind == case.transport)
            .map(|(_, fault)| fault),
    })
}

/// How one client's run ended, and whether it had connected (and so may have exchanged).
#[derive(Default)]
pub(crate) struct Ended {
    pub outcome: RunOutcome,
    pub connected: bool,
}

/// Where one client stands.
struct Client {
    process: ClientProcess,
    server: Option<Arc<dyn PeerWatch>>,
    reports_progress: bool,
    connected: bool,
    warmed: bool,
    ended: bool,
    outcome: Option<RunOutcome>,
    /// When its report came: a server it saw go has a grace from then to be seen exiting.
    reported_at: Option<Instant>,
    /// How long it has been stopped (`kill -STOP`), at the driver's looks.
    stop_clock: StopClock,
    /// Killed for staying stopped: its run's error says so, not its SIGKILL.
    killed_stopped: bool,
}

/// Runs every client of `launches` to its end; their outcomes, in order. `timeout` bounds how
/// long a client may take to exit once its report has ended, or once told to stop.
pub(crate) fn run_clients(
    launches: Vec<Launch<'_>>,
    progress: &mut dyn ProgressSink,
    timeout: Duration,
) -> Vec<Ended> {
    let count = launches.len();
    let start_line = launches.iter().any(|launch| launch.args.start_line);
    let (lines_tx, lines) = mpsc::channel();
    let mut clients = Vec::with_capacity(count);
    for (index, launch) in launches.into_iter().enumerate() {
        match ClientProcess::spawn(&launch.args, &launch.inherited, index, lines_tx.clone()) {
            Ok(process) => clients.push(Client {
                process,
                server: launch.server,
                reports_progress: launch.args.reports_progress,
                connected: false,
                warmed: false,
                ended: false,
                outcome: None,
                reported_at: None,
                stop_clock: StopClock::default(),
                killed_stopped: false,
            }),
            Err(e) => return refused(clients, index, count, RunError::Client(e)),
        }
    }
    drop(lines_tx);
    follow(&mut clients, &lines, progress, start_line, timeout);
    for client in &mut clients {
        client.tell_server_exit();
    }
    clients
        .into_iter()
        .map(|client| Ended {
            outcome: client.outcome.unwrap_or_default(),
            connected: client.connected,
        })
        .collect()
}

/// The outcomes of a run whose client `index` could not start: the ones started are killed.
fn refused(started: Vec<Client>, index: usize, count: usize, error: RunError) -> Vec<Ended> {
    drop(started);
    let failed = |error| Ended {
        outcome: RunOutcome::failed(error),
        connected: false,
    };
    let not_run = || failed(RunError::Measure(MeasureError::AnotherPairFailed));
    let mut outcomes: Vec<Ended> = (0..index).map(|_| not_run()).collect();
    outcomes.push(failed(error));
    outcomes.extend((index + 1..count).map(|_| not_run()));
    outcomes
}

/// Reads the clients' reports until every one has ended.
fn follow(
    clients: &mut [Client],
    lines: &Receiver<ClientLine>,
    progress: &mut dyn ProgressSink,
    start_line: bool,
    timeout: Duration,
) {
    let mut released = !start_line;
    let mut stopped = false;
    let mut signalled: Option<Instant> = None;
    while clients.iter().any(|client| !client.ended) {
        match lines.recv_timeout(WAIT_SLICE) {
            Ok((index, Some(line))) => {
                let failed = take_line(&mut clients[index], &line, progress);
                stopped |= failed;
            }
            Ok((index, None)) => stopped |= end(&mut clients[index], timeout),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        stopped |= end_the_stopped(clients, timeout);
        if stopped {
            tell_the_living(clients, STOP);
        }
        if !released && clients.iter().all(|c| c.warmed || c.ended) {
            released = true;
            tell_the_living(clients, GO);
        }
        pass_on_a_stop_signal(clients, &mut signalled, timeout);
    }
}

/// Takes one report line of `client`; true if it reported a failure of its own.
fn take_line(client: &mut Client, line: &str, progress: &mut dyn ProgressSink) -> bool {
    match serde_json::from_str::<ClientMessage>(line) {
        Ok(ClientMessage::Connected) => {
            client.connected = true;
            false
        }
        Ok(ClientMessage::Warmed) => {
            client.warmed = true;
            false
        }
        Ok(ClientMessage::Progress(done)) => {
            if client.reports_progress {
                progress.update(done);
            }
            false
        }
        Ok(ClientMessage::Finished(run)) => {
            let failed = (run.error.as_ref()).is_some_and(|e| {
                !matches!(
                    e.kind,
                    FailureKind::Interrupted | FailureKind::AnotherPairFailed
                )
            });
            client.outcome = Some(run.into_outcome());
            client.reported_at = Some(Instant::now());
            failed
        }
        // Not a report line: something in the client wrote to its report pipe. Ignored; its
        // end or its report says how the run went.
        Err(_) => false,
    }
}

impl Client {
    /// Its report that the server went, in the words of the server's exit if the driver sees
    /// it within a grace of the report ([`RunOutcome::tell_server_exit`]).
    fn tell_server_exit(&mut self) {
        if let (Some(outcome), Some(server), Some(at)) =
            (&mut self.outcome, &self.server, self.reported_at)
        {
            outcome.tell_server_exit(server, at);
        }
    }
}

/// `client`'s report has ended: reaps it, and fails its run if it died (before reporting, or
/// after, in its library's teardown). True if that is a failure of its own.
fn end(client: &mut Client, timeout: Duration) -> bool {
    client.ended = true;
    let death = match client.process.wait_exit(timeout) {
        Ok(status) => client.process.death(status),
        Err(_) => None,
    };
    let death = match (death, &client.outcome) {
        // Killed here for being stopped: the outcome already says so.
        (Some(_), Some(_)) if client.killed_stopped => return false,
        (Some(death), _) => death,
        (None, Some(_)) => return false,
        (None, None) => ClientProcessError::NoReport {
            said: client.process.last_words(),
        },
    };
    let outcome = client.outcome.get_or_insert_with(RunOutcome::default);
    let interrupted = (outcome.error.as_ref()).is_some_and(RunError::is_interrupt);
    if interrupted {
        return false;
    }
    outcome.error = Some(RunError::Client(death));
    true
}

/// Kills every client that has stayed stopped for longer than `timeout` (`kill -STOP`, a
/// debugger), and fails its run saying so; true if there was one. A stopped client sends
/// nothing, and a pair that does not report progress sends nothing for its whole run either:
/// the kernel's word that it is stopped is what tells it from a slow one. Its server is then
/// stopped by the run's teardown, as after any failure.
fn end_the_stopped(clients: &mut [Client], timeout: Duration) -> bool {
    let mut any = false;
    for client in clients.iter_mut().filter(|client| !client.ended) {
        let pid = client.process.pid();
        let Some(how) = client.stop_clock.stopped_longer_than(pid, timeout) else {
            continue;
        };
        client.process.kill_stopped();
        client.killed_stopped = true;
        let error = ClientProcessError::Stopped {
            pid,
            how,
            limit: timeout,
        };
        client.outcome = Some(RunOutcome::failed(RunError::Client(error)));
        any = true;
    }
    any
}

/// Writes `command` to every client still running.
fn tell_the_living(clients: &mut [Client], command: u8) {
    for client in clients.iter_mut().filter(|client| !client.ended) {
        client.process.tell(command);
    }
}

/// On a stop signal, passes it on to every client (each in its own process group, out of the
/// terminal's reach), and kills those still running `timeout` later.
fn pass_on_a_stop_signal(clients: &mut [Client], since: &mut Option<Instant>, timeout: Duration) {
    let Some(signal) = signals::received() else {
        return;
    };
    let living = clients.iter_mut().filter(|client| !client.ended);
    match since {
        None => {
            *since = Some(Instant::now());
            living.for_each(|client| client.process.signal(signal));
        }
        Some(at) if at.elapsed() > timeout => {
            living.for_each(|client| client.process.signal(nix::sys::signal::Signal::SIGKILL));
        }
        Some(_) => {}
    }
}
