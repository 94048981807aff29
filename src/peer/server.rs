//! Server mode (`transport-bench --server ...`): the echo peer the driver spawns.
//!
//! It creates its endpoint, prints `READY`, echoes until a stop signal (SIGTERM, SIGINT, SIGHUP or
//! SIGQUIT: `system::signals`), then drops the
//! transport (which unlinks its objects) and exits 0. A server the driver started dies with it:
//! the kernel sends it SIGTERM when the parent exits (`PR_SET_PDEATHSIG`), which takes the same
//! clean path. A server started by hand (a standalone echo server for another host) has no
//! driver, and outlives the shell that started it.

use std::fmt;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::peer::one_way::{hand_over_line, HandOverError};
use crate::report::latency::LatencyRecorder;
use crate::system::stderr::say;
use crate::system::{clock, placement, signals, threads};
use crate::transport::os::descriptor_table::{self, STDERR, STDIN};
use crate::transport::stream::{
    send_time_of, sequence_of, StreamCheck, StreamFault, StreamStep, FIRST_SEQUENCE,
};
use crate::transport::{
    echo_one, EchoOutcome, Endpoint, Pattern, Reply, Tamper, TransportError, TransportKind,
    TransportOptions, TransportServer,
};

/// The environment variable through which the driver tells its server its own pid.
pub const DRIVER_PID_ENV: &str = "TRANSPORT_BENCH_DRIVER_PID";

/// How long a server or client process whose driver died may take to wind up on the SIGTERM
/// the kernel sends it (`PR_SET_PDEATHSIG`) before it exits regardless: one in the middle of
/// something long (faulting in a buffer of hundreds of MiB) must not outlive its driver by
/// more than about this, holding its memory.
pub const ORPHAN_GRACE: Duration = Duration::from_millis(500);

/// The exit code of a process that gave up on its dead driver (nobody reads it).
pub const ORPHANED_EXIT: i32 = 3;

/// Exit code of a server ended by an injected `exit@N` fault.
pub const FAULT_EXIT_CODE: u8 = 3;

/// Everything a server process needs, validated.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub transport: TransportKind,
    pub endpoint: Endpoint,
    pub timeout: Duration,
    pub fault: Option<Fault>,
    /// Pin the server to this CPU before it says READY.
    pub cpu: Option<usize>,
    /// How long its waits spin before they sleep; None: the transport's default.
    pub spin_budget: Option<Duration>,
    /// What its clients exchange with it.
    pub pattern: Pattern,
    /// A stream's ring depth, where the transport keeps a ring; None: its default.
    pub ring_depth: Option<usize>,
    /// In a stream: check every byte of every message.
    pub verify_all: bool,
    /// Requests its clients keep in flight (a queue is made that deep).
    pub in_flight: usize,
}

/// A fault a test can inject into a server, to prove that the driver detects it. Requests are
/// counted from 1 and include the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never print READY.
    NoReady,
    /// Exit (code 3) on receiving request N, without replying.
    ExitAt(u64),
    /// Flip the byte at `offset` of the reply to request N.
    FlipByteAt { request: u64, offset: usize },
    /// Announce an impossible length in the reply to request N.
    BadLengthAt(u64),
    /// Take nothing from request N on (a reader that stalls), until told to stop.
    StallAt(u64),
    /// A one-way server: hand the driver no latencies at a stream's end.
    LoseLatencies,
    /// A one-way server: hand the driver its latencies' line cut in half.
    CutLatencies,
}

/// A fault description that is not one of the known faults.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault '{0}': expected no-ready, exit@N, flip@N:OFFSET, bad-length@N, stall@N, lose-latencies or cut-latencies")]
pub struct FaultParseError(String);

impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(text: &str) -> Result<Fault, FaultParseError> {
        let usage = || FaultParseError(text.to_string());
        let number = |s: &str| s.parse::<u64>().map_err(|_| usage());
        match text {
            "no-ready" => return Ok(Fault::NoReady),
            "lose-latencies" => return Ok(Fault::LoseLatencies),
            "cut-latencies" => return Ok(Fault::CutLatencies),
            _ => {}
        }
        let (kind, arg) = text.split_once('@').ok_or_else(usage)?;
        match kind {
            "exit" => Ok(Fault::ExitAt(number(arg)?)),
            "bad-length" => Ok(Fault::BadLengthAt(number(arg)?)),
            "stall" => Ok(Fault::StallAt(number(arg)?)),
            "flip" => {
                let (request, offset) = arg.split_once(':').ok_or_else(usage)?;
                Ok(Fault::FlipByteAt {
                    request: number(request)?,
                    offset: usize::try_from(number(offset)?).map_err(|_| usage())?,
                })
            }
            _ => Err(usage()),
        }
    }
}

/// The form [`Fault::from_str`] reads, so a fault can be handed to a server's command line.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::NoReady => write!(f, "no-ready"),
            Fault::LoseLatencies => write!(f, "lose-latencies"),
            Fault::CutLatencies => write!(f, "cut-latencies"),
            Fault::ExitAt(n) => write!(f, "exit@{n}"),
            Fault::FlipByteAt { request, offset } => write!(f, "flip@{request}:{offset}"),
            Fault::BadLengthAt(n) => write!(f, "bad-length@{n}"),
            Fault::StallAt(n) => write!(f, "stall@{n}"),
        }
    }
}

impl Fault {
    fn tamper_for(fault: Option<Fault>, request: u64) -> Tamper {
        match fault {
            Some(Fault::FlipByteAt { request: n, offset }) if n == request => {
                Tamper::FlipByte(offset)
            }
            Some(Fault::BadLengthAt(n)) if n == request => Tamper::BadLength,
            _ => Tamper::None,
        }
    }
}

/// The echo loop around one transport's server side.
pub struct EchoServer {
    transport: Box<dyn TransportServer>,
    fault: Option<Fault>,
    pattern: Pattern,
    /// In a stream: check every byte of every message.
    verify_all: bool,
}

/// Why an [`EchoServer`] stopped serving.
enum ServeEnd {
    Stopped,
    FaultExit(u64),
}

/// Why an [`EchoServer`] failed.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("stream message {number} (counted from 1, warm-up included): {fault}")]
    Stream { number: u64, fault: StreamFault },
    #[error("one-way message {number} was stamped at {sent_ns} ns, after the server received it at {received_ns} ns: the client's clock is not the server's")]
    ClockBehind {
        number: u64,
        sent_ns: u64,
        received_ns: u64,
    },
    #[error("handing over the one-way latencies: {0}")]
    HandOver(#[from] HandOverError),
    #[error("writing the one-way latencies to stdout: {0}")]
    Write(#[source] std::io::Error),
}

/// What the server read of one message of a one-way stream.
struct OneWayMessage {
    step: StreamStep,
    sequence: u64,
    sent_ns: u64,
}

impl EchoServer {
    fn serve(&mut self) -> Result<ServeEnd, ServeError> {
        match self.pattern {
            Pattern::RoundTrip => self.serve_round_trips(),
            Pattern::Stream => self.serve_stream(),
            Pattern::OneWay => self.serve_one_way(),
        }
    }

    fn serve_round_trips(&mut self) -> Result<ServeEnd, ServeError> {
        let mut request = 0u64;
        loop {
            request += 1;
            if self.fault == Some(Fault::StallAt(request)) {
                return Ok(stall());
            }
            let exit_now = self.fault == Some(Fault::ExitAt(request));
            let tamper = if exit_now {
                // Take the request and never answer it, so the exit lands mid-round-trip.
                Tamper::Swallow
            } else {
                Fault::tamper_for(self.fault, request)
            };
            if echo_one(self.transport.as_mut(), &signals::STOP, tamper)? == EchoOutcome::Stopped {
                return Ok(ServeEnd::Stopped);
            }
            if exit_now {
                return Ok(ServeEnd::FaultExit(request));
            }
        }
    }

    /// Takes a stream's messages one by one, checks each and answers only its end (see
    /// [`crate::transport::stream`]). A message that fails its check ends the server with the
    /// reason, which the driver quotes: a client cannot be told mid-stream.
    fn serve_stream(&mut self) -> Result<ServeEnd, ServeError> {
        let mut check = StreamCheck::new(self.verify_all);
        let mut number = 0u64;
        loop {
            number += 1;
            if self.fault == Some(Fault::StallAt(number)) {
                return Ok(stall());
            }
            if self.transport.next_request(&signals::STOP)?.is_none() {
                return Ok(ServeEnd::Stopped);
            }
            if self.fault == Some(Fault::ExitAt(number)) {
                return Ok(ServeEnd::FaultExit(number));
            }
            let corrupt = Fault::tamper_for(self.fault, number);
            let mut verdict = Ok(StreamStep::Message);
            self.transport.inspect(&mut |message| {
                verdict = check_as_received(&mut check, message, corrupt);
            })?;
            match verdict.map_err(|fault| ServeError::Stream { number, fault })? {
                StreamStep::Message => self.transport.consume()?,
                StreamStep::End => {
                    if self.transport.reply(&signals::STOP, Reply::Echo)? == EchoOutcome::Stopped {
                        return Ok(ServeEnd::Stopped);
                    }
                }
            }
        }
    }
}

impl EchoServer {
    /// Takes a one-way stream: as [`serve_stream`](EchoServer::serve_stream), and each message's
    /// one-way latency is its receipt on this process's `CLOCK_MONOTONIC`, read as soon as
    /// [`next_request`](TransportServer::next_request) has the whole message, less the send
    /// time the client stamped in it. The message is consumed (its slot freed for the client)
    /// before the latency is recorded; recording into a histogram sized once costs no
    /// allocation. At each end the stream's latencies go to the driver
    /// ([`crate::peer::one_way`]) before the end is acknowledged, and the next stream starts
    /// afresh, as it does at a new client's first message.
    fn serve_one_way(&mut self) -> Result<ServeEnd, ServeError> {
        let mut check = StreamCheck::one_way(self.verify_all);
        let mut latencies = LatencyRecorder::new();
        let mut number = 0u64;
        loop {
            number += 1;
            if self.fault == Some(Fault::StallAt(number)) {
                return Ok(stall());
            }
            if self.transport.next_request(&signals::STOP)?.is_none() {
                return Ok(ServeEnd::Stopped);
            }
            let received_ns = clock::monotonic_ns();
            if self.fault == Some(Fault::ExitAt(number)) {
                return Ok(ServeEnd::FaultExit(number));
            }
            let message = self.take_one_way(&mut check, number)?;
            if message.step == StreamStep::End {
                hand_over(message.sequence, &latencies, self.fault)?;
                latencies = LatencyRecorder::new();
                if self.transport.reply(&signals::STOP, Reply::Echo)? == EchoOutcome::Stopped {
                    return Ok(ServeEnd::Stopped);
                }
                continue;
            }
            self.transport.consume()?;
            if message.sequence == FIRST_SEQUENCE {
                latencies = LatencyRecorder::new();
            }
            let latency_ns = received_ns.checked_sub(message.sent_ns);
            latencies.record(latency_ns.ok_or(ServeError::ClockBehind {
                number,
                sent_ns: message.sent_ns,
                received_ns,
            })?);
        }
    }

    /// Checks one-way message `number` where it lies, and reads its number and send time.
    fn take_one_way(
        &mut self,
        check: &mut StreamCheck,
        number: u64,
    ) -> Result<OneWayMessage, ServeError> {
        let corrupt = Fault::tamper_for(self.fault, number);
        let mut verdict = Ok(StreamStep::Message);
        let (mut sequence, mut sent_ns) = (0, 0);
        self.transport.inspect(&mut |message| {
            verdict = check_as_received(check, message, corrupt);
            sequence = sequence_of(message).unwrap_or(0);
            sent_ns = send_time_of(message).unwrap_or(0);
        })?;
        let step = verdict.map_err(|fault| ServeError::Stream { number, fault })?;
        Ok(OneWayMessage {
            step,
            sequence,
            sent_ns,
        })
    }
}

/// Hands the latencies of the stream that ended with `end` to the driver, on stdout, unless an
/// injected `fault` loses them or cuts the line (so that a test proves the driver fails the run).
fn hand_over(
    end: u64,
    latencies: &LatencyRecorder,
    fault: Option<Fault>,
) -> Result<(), ServeError> {
    let mut line = hand_over_line(end, latencies)?;
    match fault {
        Some(Fault::LoseLatencies) => return Ok(()),
        Some(Fault::CutLatencies) => line.truncate(line.len() / 2),
        _ => {}
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(ServeError::Write)
}

/// A stream's check of `message`, as if `corrupt` (an injected fault) had happened to it on
/// the way: a flipped byte, checked on a copy, so that a test proves the check finds it.
fn check_as_received(
    check: &mut StreamCheck,
    message: &[u8],
    corrupt: Tamper,
) -> Result<StreamStep, StreamFault> {
    match corrupt {
        Tamper::FlipByte(offset) if offset < message.len() => {
            let mut copy = message.to_vec();
            copy[offset] ^= 0xff;
            check.message(&copy)
        }
        _ => check.message(message),
    }
}

/// An injected stall: takes nothing more until told to stop.
fn stall() -> ServeEnd {
    while !signals::STOP.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    ServeEnd::Stopped
}

/// Readies this process to serve: it dies with its driver, stops on the stop signals, and
/// runs on the CPU asked for. On failure it has said why on stderr, and the exit code is Err.
fn ready_process(options: &ServerOptions) -> Result<(), ExitCode> {
    if let Err(message) = die_with_driver() {
        say(format_args!("error: {message}"));
        return Err(ExitCode::FAILURE);
    }
    if let Err(e) = signals::install() {
        say(format_args!("error: installing signal handlers: {e}"));
        return Err(ExitCode::FAILURE);
    }
    if let Some(cpu) = options.cpu {
        if let Err(e) = placement::pin_current_thread(cpu) {
            say(format_args!("error: {e}"));
            return Err(ExitCode::FAILURE);
        }
    }
    Ok(())
}

/// Runs server mode to completion and returns the process exit code.
pub fn run(options: &ServerOptions) -> ExitCode {
    if let Err(code) = ready_process(options) {
        return code;
    }
    exit_soon_after_the_driver(options.endpoint.clone());
    let name = options.transport.display_name();
    let transport_options = TransportOptions {
        timeout: options.timeout,
        spin_budget: options.spin_budget,
        pattern: options.pattern.on_the_transport(),
        ring_depth: options.ring_depth,
        in_flight: options.in_flight,
    };
    if options.fault == Some(Fault::NoReady) {
        while !signals::STOP.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        return ExitCode::SUCCESS;
    }
    let transport = match options.transport.bind(&options.endpoint, transport_options) {
        Ok(transport) => transport,
        Err(e) => {
            say(format_args!("error: {name} server could not start: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let mut server = EchoServer {
        transport,
        fault: options.fault,
        pattern: options.pattern,
        verify_all: options.verify_all,
    };
    if let Err(e) = announce_ready(&options.endpoint, server.transport.ready_address()) {
        say(format_args!("error: writing READY: {e}"));
        return ExitCode::FAILURE;
    }
    // Every return below drops `server`, and with it the transport's objects.
    let end = server.serve();
    if let Some(words) = server.transport.closing_words() {
        say(format_args!("{name} server: {words}"));
    }
    exit_code(name, end)
}

/// The exit code of a server named `name` that ended so, said on stderr unless it stopped as
/// asked.
fn exit_code(name: &str, end: Result<ServeEnd, ServeError>) -> ExitCode {
    match end {
        Ok(ServeEnd::Stopped) => ExitCode::SUCCESS,
        Ok(ServeEnd::FaultExit(request)) => {
            say(format_args!("fault injected: exiting on request {request}"));
            ExitCode::from(FAULT_EXIT_CODE)
        }
        Err(e) => {
            say(format_args!("error: {name} server: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// `READY`, or `READY <address>` when the server chose its address (an ephemeral port); first,
/// on stderr, a warning if other hosts can reach the server at `endpoint`.
fn announce_ready(endpoint: &Endpoint, address: Option<String>) -> std::io::Result<()> {
    if let Some(address) = address
        .as_deref()
        .filter(|a| a.chars().any(char::is_control))
    {
        return Err(unannounceable(address));
    }
    if let Some(warning) = Exposure::of(endpoint, address.as_deref()) {
        say(format_args!("{warning}"));
    }
    let mut stdout = std::io::stdout().lock();
    match address {
        Some(address) => writeln!(stdout, "READY {address}")?,
        None => writeln!(stdout, "READY")?,
    }
    stdout.flush()
}

/// An address the one `READY` line cannot carry: the driver reads up to the first newline, so
/// a path with one (a TMPDIR such as `/tmp/a<newline>b`, under which ipc-channel names its
/// socket) would arrive cut, and the driver would wait its whole timeout for a server that
/// is there. Refused at once instead, saying where the character came from.
fn unannounceable(address: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "the address {address:?} holds a control character, which the READY line cannot carry; if it is a path, choose a TMPDIR without one"
        ),
    )
}

/// A server listening where other hosts reach it. It has no authentication, so it says so.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exposure {
    /// Where it listens, as it reports it.
    bound: String,
}

impl Exposure {
    /// The warning due for a server at `endpoint`, if it is bound beyond loopback; `reported`
    /// is the address it reports in its ready line (with the port the system chose).
    fn of(endpoint: &Endpoint, reported: Option<&str>) -> Option<Exposure> {
        match endpoint {
            // An IPv4-mapped address (`::ffff:127.0.0.1`) is the IPv4 address it maps: a
            // socket bound to it takes connections from IPv4 loopback only.
            Endpoint::Tcp { addr, .. } if !addr.ip().to_canonical().is_loopback() => {
                Some(Exposure {
                    bound: reported.map_or_else(|| addr.to_string(), String::from),
                })
            }
            _ => None,
        }
    }
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "warning: listening on {}, reachable from other hosts; this echo server has no authentication",
            self.bound
        )
    }
}

/// Why a server (or a client process) would not start.
#[derive(Debug, thiserror::Error)]
pub enum OrphanError {
    #[error("PR_SET_PDEATHSIG: {0}")]
    DeathSignal(#[source] nix::Error),
    #[error("the driver (pid {0}) is already gone; not starting")]
    DriverGone(String),
}

/// For a server the driver started (it names itself in [`DRIVER_PID_ENV`]): asks the kernel
/// for SIGTERM when the driver exits, then checks the driver has not already gone (the request
/// only covers deaths after it is made). A server started by hand has no driver to die with: a
/// shell, `nohup` or `ssh` that started it may exit while it serves.
pub fn die_with_driver() -> Result<(), OrphanError> {
    let Ok(expected) = std::env::var(DRIVER_PID_ENV) else {
        return Ok(());
    };
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
        .map_err(OrphanError::DeathSignal)?;
    let parent = nix::unistd::getppid().as_raw().to_string();
    if parent != expected {
        return Err(OrphanError::DriverGone(expected));
    }
    Ok(())
}

/// For a server the driver started, whose stdin is a pipe only the driver writes to: a thread
/// waits for its end (the driver died, or dropped the server, which kills it anyway), then
/// gives the clean exit on SIGTERM [`ORPHAN_GRACE`], then removes the endpoint's objects and
/// exits. Blocked in `read`, it costs nothing while the server echoes.
fn exit_soon_after_the_driver(endpoint: Endpoint) {
    let stdin_is_a_pipe =
        nix::sys::stat::fstat(0).is_ok_and(|stat| stat.st_mode & libc::S_IFMT == libc::S_IFIFO);
    if std::env::var_os(DRIVER_PID_ENV).is_none() || !stdin_is_a_pipe {
        return;
    }
    let watcher = threads::start("the driver's end", move || {
        descriptor_table::leave_shared(&[STDIN, STDERR]);
        let mut byte = [0u8; 1];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut byte) {
                Ok(1..) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        std::thread::sleep(ORPHAN_GRACE);
        endpoint.remove_leftovers();
        // SAFETY: _exit ends the process at once, without running destructors that the
        // serving thread may be inside of.
        unsafe { libc::_exit(ORPHANED_EXIT) }
    });
    if let Err(e) = watcher {
        // The SIGTERM of PR_SET_PDEATHSIG still comes; only the bound on it is lost.
        eprintln!("warning: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_server_bound_beyond_loopback_warns() {
        let tcp = |addr: &str| Endpoint::Tcp {
            addr: addr.parse().unwrap(),
            buffer_size: 4096,
        };
        for quiet in [
            "127.0.0.1:0",
            "127.0.0.2:5555",
            "[::1]:0",
            "[::ffff:127.0.0.1]:0",
        ] {
            assert_eq!(Exposure::of(&tcp(quiet), Some(quiet)), None, "{quiet}");
        }
        let warning = Exposure::of(&tcp("0.0.0.0:0"), Some("0.0.0.0:40123")).unwrap();
        assert_eq!(
            warning.to_string(),
            "warning: listening on 0.0.0.0:40123, reachable from other hosts; this echo server has no authentication"
        );
        assert!(Exposure::of(&tcp("[::]:5555"), None).is_some());
        assert!(Exposure::of(&tcp("192.0.2.1:5555"), None).is_some());
        assert!(Exposure::of(&tcp("[::ffff:192.0.2.1]:5555"), None).is_some());
    }

    #[test]
    fn faults_parse() {
        assert_eq!("no-ready".parse::<Fault>(), Ok(Fault::NoReady));
        for text in [
            "no-ready",
            "exit@5",
            "bad-length@2",
            "flip@3:17",
            "stall@4",
            "lose-latencies",
            "cut-latencies",
        ] {
            assert_eq!(text.parse::<Fault>().unwrap().to_string(), text);
        }
        assert_eq!("exit@5".parse::<Fault>(), Ok(Fault::ExitAt(5)));
        assert_eq!("bad-length@2".parse::<Fault>(), Ok(Fault::BadLengthAt(2)));
        assert_eq!(
            "flip@3:17".parse::<Fault>(),
            Ok(Fault::FlipByteAt {
                request: 3,
                offset: 17
            })
        );
        assert!("flip@3".parse::<Fault>().is_err());
        assert!("explode".parse::<Fault>().is_err());
    }
}
