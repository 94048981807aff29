//! Client mode, `transport-bench --client JSON`: the process in which the driver runs one
//! pair's client for one run (see `clients.rs` for the driver's side). It dies with its driver
//! (as a server does), pins itself where `--pin` puts it, connects, warms up, waits at the
//! start line when it has pairs beside it, runs the timed loop, and reports on its stdout
//! (`client_report.rs`); its stdout's descriptor is kept for the report alone, and whatever a
//! library prints goes to stderr, which the driver quotes when the process dies.
//!
//! What the driver says comes on stdin, one byte at a time: go (the start line), stop
//! (another pair failed), and its end (the driver died), which stops the loop as stop does.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};

use crate::benchmark::client_report::{ClientMessage, FinishedRun};
use crate::benchmark::executor::{measure_client, ClientPlan, PairsShare, ServerSide, StartLine};
use crate::benchmark::measure::{MeasureConfig, ProgressSink};
use crate::benchmark::outcome::{RunError, RunOutcome};
use crate::peer::client_args::{ClientArgs, ClientFault};
use crate::peer::client_process::{GO, STOP};
use crate::peer::pid_watch::PidWatch;
use crate::peer::server::{die_with_driver, OrphanError, ORPHANED_EXIT, ORPHAN_GRACE};
use crate::system::{placement, signals, threads};
use crate::transport::os::descriptor_table::{self, STDERR, STDIN};
use crate::transport::PeerWatch;

/// Set once the driver said stop, or is gone: the loop stops at its next look.
static DRIVER_SAYS_STOP: AtomicBool = AtomicBool::new(false);

/// Where the report goes: the pipe that was stdout.
struct ReportPipe(Mutex<File>);

impl ReportPipe {
    /// Keeps stdout's pipe for the report, and points stdout at stderr.
    fn take_stdout() -> nix::Result<ReportPipe> {
        let copy = nix::fcntl::fcntl(1, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
        nix::unistd::dup2(2, 1)?;
        // SAFETY: F_DUPFD_CLOEXEC has just made this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(copy) };
        Ok(ReportPipe(Mutex::new(File::from(fd))))
    }

    /// Sends one line; a driver that is gone cannot read it, and the loop stops anyway.
    fn send(&self, message: &ClientMessage) {
        let Ok(mut line) = serde_json::to_string(message) else {
            return;
        };
        line.push('\n');
        if let Ok(mut pipe) = self.0.lock() {
            let _ = pipe.write_all(line.as_bytes());
        }
    }
}

/// The start line across processes: report warmed up, then wait for the driver's go.
struct DriverStartLine<'a> {
    report: &'a ReportPipe,
    go: Mutex<Receiver<()>>,
}

impl StartLine for DriverStartLine<'_> {
    fn wait(&self) {
        self.report.send(&ClientMessage::Warmed);
        if let Ok(go) = self.go.lock() {
            // A driver that is gone closes the channel: the loop then stops at its first look.
            let _ = go.recv();
        }
    }
}

/// No start line: a client alone starts at once.
struct NoLine;

impl StartLine for NoLine {
    fn wait(&self) {}
}

/// Progress to the driver, at the pace the timed loop updates it (never per message); an
/// injected fault strikes here, once the timed run has begun, outside the timed region.
struct ProgressToDriver<'a> {
    report: &'a ReportPipe,
    forward: bool,
    fault: Option<ClientFault>,
}

impl ProgressSink for ProgressToDriver<'_> {
    fn update(&mut self, done: u64) {
        if let Some(fault) = self.fault {
            strike(fault);
        }
        if self.forward {
            self.report.send(&ClientMessage::Progress(done));
        }
    }
}

/// Kills this process as `fault` says.
fn strike(fault: ClientFault) {
    eprintln!("injected client fault: {fault}");
    match fault {
        ClientFault::Abort => std::process::abort(),
        ClientFault::Kill => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
        ClientFault::Bus => {
            // SAFETY: restoring the default action of SIGBUS (the SIGBUS guard's handler would
            // otherwise judge it), then raising it.
            unsafe {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
                libc::raise(libc::SIGBUS);
            }
        }
    }
}

/// Reads the driver's commands from stdin on a thread of its own; the receiver gets the go.
fn listen_to_driver() -> Result<Receiver<()>, threads::ThreadError> {
    let (go_tx, go) = mpsc::channel();
    threads::start("the driver's commands", move || {
        descriptor_table::leave_shared(&[STDIN, STDERR]);
        let mut stdin = std::io::stdin();
        let mut byte = [0u8; 1];
        loop {
            match stdin.read(&mut byte) {
                Ok(1) if byte[0] == GO => {
                    let _ = go_tx.send(());
                }
                Ok(1) if byte[0] == STOP => DRIVER_SAYS_STOP.store(true, Ordering::Relaxed),
                Ok(1) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // The driver is gone: stop, and leave the start line (the go channel closes).
                _ => {
                    DRIVER_SAYS_STOP.store(true, Ordering::Relaxed);
                    drop(go_tx);
                    std::thread::sleep(ORPHAN_GRACE);
                    // SAFETY: _exit ends the process at once, without running destructors that
                    // the measuring thread may be inside of.
                    unsafe { libc::_exit(ORPHANED_EXIT) }
                }
            }
        }
    })?;
    Ok(go)
}

/// Runs client mode; the exit code is 0 once the run's outcome was reported, whatever it was.
pub fn run(args: &ClientArgs) -> ExitCode {
    let report = match ReportPipe::take_stdout() {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: keeping the report pipe: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(message) = ready_process(args) {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
    }
    let go = match listen_to_driver() {
        Ok(go) => go,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = connect_and_measure(args, &report, go);
    report.send(&ClientMessage::Finished(Box::new(FinishedRun::of(outcome))));
    ExitCode::SUCCESS
}

/// Why the client process could not make itself ready to measure.
#[derive(Debug, thiserror::Error)]
enum NotReady {
    #[error(transparent)]
    Orphan(#[from] OrphanError),
    #[error("installing signal handlers: {0}")]
    Signals(#[source] nix::Error),
    #[error(transparent)]
    Pin(#[from] placement::PinError),
}

/// Dies with the driver, stops on the stop signals, runs where `--pin` puts it.
fn ready_process(args: &ClientArgs) -> Result<(), NotReady> {
    die_with_driver()?;
    signals::install().map_err(NotReady::Signals)?;
    if let Some(cpu) = args.cpu {
        placement::pin_current_thread(cpu)?;
    }
    Ok(())
}

/// Connects to the server and measures one run, as the driver's thread once did.
fn connect_and_measure(args: &ClientArgs, report: &ReportPipe, go: Receiver<()>) -> RunOutcome {
    let (kind, endpoint) = match args.kind().and_then(|kind| Ok((kind, args.endpoint()?))) {
        Ok(found) => found,
        Err(e) => return RunOutcome::failed(RunError::Args(e)),
    };
    let watch: Arc<dyn PeerWatch> = Arc::new(PidWatch::new(args.server_pid));
    let mut client = match kind.connect(&endpoint, args.transport_options(), watch) {
        Ok(client) => client,
        Err(e) => return RunOutcome::failed(e),
    };
    report.send(&ClientMessage::Connected);
    let plan = ClientPlan {
        size_bytes: args.size_bytes,
        workload: args.workload(),
        config: MeasureConfig {
            warmup: args.warmup,
            iterations: args.iterations,
            verify_all: args.verify_all,
            interval: args.interval,
            duration: args.duration,
            peers_share_a_cpu: args.shares_a_cpu_with_server(),
        },
    };
    let line = DriverStartLine {
        report,
        go: Mutex::new(go),
    };
    let start_line: &dyn StartLine = if args.start_line { &line } else { &NoLine };
    let server = ServerSide {
        capacity: args.capacity,
        server_pid: args.server_pid,
        pairs: Some(PairsShare {
            start_line,
            failed: &DRIVER_SAYS_STOP,
        }),
    };
    let mut progress = ProgressToDriver {
        report,
        forward: args.reports_progress,
        fault: args.fault,
    };
    measure_client(client.as_mut(), &plan, server, &mut progress)
}
