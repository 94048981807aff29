//! The driver's side of a server process: spawn it (handing down the descriptors its endpoint
//! needs, [`hand_down`]), wait for `READY` (and, for a one-way run, the latencies it hands
//! over on the same stdout: [`crate::peer::one_way`]), watch it while measuring, and stop it
//! (SIGTERM, then SIGKILL after the timeout). Dropping a [`ServerProcess`] always kills and reaps the child,
//! so no error path can leave a server behind.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::peer::kept_stderr::KeptStderr;
use crate::peer::one_way::{parse_hand_over, HandOverError};
use crate::peer::server::DRIVER_PID_ENV;
use crate::peer::server_args::ServerArgs;
use crate::report::latency::LatencyRecorder;
use crate::system::signals;
use crate::system::threads::{self, ThreadError};
use crate::transport::{NoWatch, PeerWatch, TransportError, WaitBudget, WAIT_SLICE};

/// How much of a failed server's stderr to quote.
const STDERR_TAIL_BYTES: usize = 600;

/// How often a stopping server is checked for its exit.
const EXIT_POLL: Duration = Duration::from_millis(2);

/// Why a server could not be started or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("cannot find this executable to start the server: {0}")]
    CurrentExe(#[source] std::io::Error),
    #[error("cannot start the server process: {0}")]
    Spawn(#[source] std::io::Error),
    /// A thread that reads the server's output could not start; the server was killed.
    #[error("{0}; stopped the server")]
    Reader(#[source] ThreadError),
    /// The server exited on its own, or with a failure after SIGTERM; the text says how.
    #[error("{0}")]
    Exited(String),
    #[error("server did not exit within {} of SIGTERM; killed it", humantime::format_duration(*.0))]
    StopTimeout(Duration),
}

/// A running `transport-bench --server` child.
pub struct ServerProcess {
    child: Arc<Mutex<Child>>,
    pid: Pid,
    stdout_lines: Receiver<String>,
    stderr: Arc<Mutex<KeptStderr>>,
    /// The server's stdin, kept open until the server is dropped: its end, when the driver
    /// dies, makes the server exit within a second (`server::exit_soon_after_the_driver`).
    _driver_end: Option<std::process::ChildStdin>,
}

/// A descriptor a server inherits, at the number its command line names (a pipe end, at the
/// number `--fds` gives).
#[derive(Debug, Clone, Copy)]
pub struct InheritedFd<'a> {
    pub fd: BorrowedFd<'a>,
    pub at: RawFd,
}

/// Makes the child of `command` find each of `inherited` at its number, open across exec.
/// What this program opens is close-on-exec (the standard library opens every descriptor so,
/// and the pipes are made so), so of our own descriptors the child gets these and its stdio
/// only. The descriptors must still be open when `command` is spawned (as
/// [`ServerProcess::spawn`] ensures): the child copies them only then.
pub fn hand_down(command: &mut Command, inherited: &[InheritedFd<'_>]) {
    if inherited.is_empty() {
        return;
    }
    let mut moves: Vec<(RawFd, RawFd)> =
        inherited.iter().map(|i| (i.fd.as_raw_fd(), i.at)).collect();
    // Copies are first made above every target number, so that placing one descriptor never
    // overwrites another that is still to be placed (ours may sit at 3 or 4 already).
    let above_targets = moves.iter().map(|&(_, at)| at).max().unwrap_or(0) + 1;
    // SAFETY: the closure runs in the child between fork and exec, after std has set up its
    // stdio, where only async-signal-safe calls are allowed: it makes only fcntl, dup2 and
    // close calls, and allocates nothing (`moves` was built before the fork and is changed in
    // place).
    unsafe {
        command.pre_exec(move || {
            for (source, _) in moves.iter_mut() {
                *source = nix::fcntl::fcntl(*source, nix::fcntl::FcntlArg::F_DUPFD(above_targets))?;
            }
            for &(copy, at) in moves.iter() {
                // The descriptor dup2 makes is open across exec: dup2 never copies FD_CLOEXEC.
                nix::unistd::dup2(copy, at)?;
                nix::unistd::close(copy)?;
            }
            Ok(())
        })
    };
}

impl ServerProcess {
    /// Starts this executable in server mode with `args`, handing down `inherited`.
    pub fn spawn(
        args: &ServerArgs,
        inherited: &[InheritedFd<'_>],
    ) -> Result<ServerProcess, DriverError> {
        let exe = std::env::current_exe().map_err(DriverError::CurrentExe)?;
        let mut command = Command::new(exe);
        hand_down(&mut command, inherited);
        let mut child = command
            .args(args.to_args())
            .env(DRIVER_PID_ENV, std::process::id().to_string())
            // Only the driver holds the other end: its end tells the server the driver died.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a terminal Ctrl-C reaches only the driver, which then stops
            // the server in order instead of racing it.
            .process_group(0)
            .spawn()
            .map_err(DriverError::Spawn)?;
        let pid = Pid::from_raw(child.id() as i32);
        let driver_end = child.stdin.take();
        let readers = forward_lines(child.stdout.take())
            .and_then(|lines| Ok((lines, collect_text(child.stderr.take())?)));
        let (stdout_lines, stderr) = match readers {
            Ok(readers) => readers,
            Err(e) => {
                // Without its readers nothing would see READY or reap it: it must not live on.
                let _ = child.kill();
                let _ = child.wait();
                return Err(DriverError::Reader(e));
            }
        };
        Ok(ServerProcess {
            child: Arc::new(Mutex::new(child)),
            pid,
            stdout_lines,
            stderr,
            _driver_end: driver_end,
        })
    }

    /// The latencies the server handed over for the stream that ended with `end`, waiting up
    /// to `timeout` for them; the hand-overs of other streams (the warm-up's) are passed over.
    pub fn one_way_latencies(
        &self,
        end: u64,
        timeout: Duration,
    ) -> Result<LatencyRecorder, HandOverError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.stdout_lines.recv_timeout(WAIT_SLICE) {
                Ok(line) => match parse_hand_over(&line) {
                    Some(Ok((number, latencies))) if number == end => return Ok(latencies),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(_)) | None => {}
                },
                Err(RecvTimeoutError::Disconnected) => return Err(HandOverError::Closed { end }),
                Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    return Err(HandOverError::Timeout {
                        end,
                        waited: timeout,
                    })
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Waits for the `READY` line and returns what follows it (an address the server chose),
    /// if anything. Fails if the server exits first, or stays silent for `timeout`.
    pub fn wait_ready(&self, timeout: Duration) -> Result<Option<String>, TransportError> {
        let watch = self.server_watch();
        let mut budget = WaitBudget::new(timeout, &watch);
        loop {
            watch.check()?;
            match self.stdout_lines.recv_timeout(WAIT_SLICE) {
                Ok(line) if line.trim() == "READY" => return Ok(None),
                Ok(line) if line.starts_with("READY ") => {
                    return Ok(Some(line["READY ".len()..].trim().to_string()))
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    budget.slice_expired("the server to print READY")?
                }
                // stdout closed: the server is exiting; the next check() reports how.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    fn server_watch(&self) -> ServerWatch {
        ServerWatch {
            child: Arc::clone(&self.child),
            stderr: Arc::clone(&self.stderr),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// A watch for the client: fails once the server has exited or the driver was interrupted.
    pub fn watch(&self) -> Arc<dyn PeerWatch> {
        Arc::new(self.server_watch())
    }

    /// Stops the server as [`stop`](Self::stop) does, then returns what it said on stderr, once
    /// it has all been read (bounded): a server's last words may say why its client waited in
    /// vain (`libzmq failed 3 time(s) to accept a connection: EMFILE`).
    pub fn stop_and_hear(self, timeout: Duration) -> (Result<(), DriverError>, Option<String>) {
        let said = Arc::clone(&self.stderr);
        let stopped = self.stop(timeout);
        // Dropped with the process, the reader's copy is the last but ours once it read EOF.
        let mut budget = WaitBudget::new(timeout, &NoWatch);
        while Arc::strong_count(&said) > 1 && budget.slice_expired("").is_ok() {
            std::thread::sleep(EXIT_POLL);
        }
        let words = said
            .lock()
            .map(|s| tail(s.text().trim()))
            .unwrap_or_default();
        (stopped, (!words.is_empty()).then_some(words))
    }

    /// Stops the server with SIGTERM and checks that it exits 0 within `timeout`.
    pub fn stop(self, timeout: Duration) -> Result<(), DriverError> {
        let watch = self.server_watch();
        if let Some(status) = watch.try_status() {
            return Err(DriverError::Exited(watch.describe_exit(status)));
        }
        let _ = kill(self.pid, Signal::SIGTERM);
        let mut budget = WaitBudget::new(timeout, &NoWatch);
        loop {
            match watch.try_status() {
                Some(status) if status.success() => return Ok(()),
                Some(status) => return Err(DriverError::Exited(watch.describe_exit(status))),
                None => std::thread::sleep(EXIT_POLL),
            }
            if budget.slice_expired("the server to exit").is_err() {
                // Dropping `self` kills and reaps it.
                return Err(DriverError::StopTimeout(timeout));
            }
        }
    }
}

/// Sends each line of `pipe` to the returned channel, from a thread of its own. (`lines`
/// retries a read that a signal interrupted: the standard library's `read_until` does.)
fn forward_lines(pipe: Option<ChildStdout>) -> Result<Receiver<String>, ThreadError> {
    let (line_tx, lines) = mpsc::channel();
    if let Some(stdout) = pipe {
        threads::start("the server's stdout", move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        })?;
    }
    Ok(lines)
}

/// Collects everything `pipe` says, from a thread of its own, until the server closes it. A
/// signal that lands on this thread (the wait watchdog's `SIGURG` has a handler without
/// `SA_RESTART`, and one sent from outside may pick any thread) ends a read with `EINTR`, which
/// is retried: stopping there would close the pipe, and the server's next line on stderr would
/// meet a broken pipe. What it keeps is bounded ([`KeptStderr`]): a child that writes
/// gigabytes costs the driver a few KiB.
pub(crate) fn collect_text(
    pipe: Option<ChildStderr>,
) -> Result<Arc<Mutex<KeptStderr>>, ThreadError> {
    let text = Arc::new(Mutex::new(KeptStderr::default()));
    if let Some(mut pipe) = pipe {
        let sink = Arc::clone(&text);
        threads::start("the server's stderr", move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if let Ok(mut text) = sink.lock() {
                    text.push(&buf[..n]);
                }
            }
        })?;
    }
    Ok(text)
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

struct ServerWatch {
    child: Arc<Mutex<Child>>,
    stderr: Arc<Mutex<KeptStderr>>,
}

impl ServerWatch {
    fn try_status(&self) -> Option<ExitStatus> {
        // std caches the status once reaped, so asking again is safe.
        self.child.lock().ok()?.try_wait().ok().flatten()
    }

    fn describe_exit(&self, status: ExitStatus) -> String {
        // Give the stderr reader a moment to collect the last words of the server.
        std::thread::sleep(Duration::from_millis(20));
        let mut text = format!("server exited: {}", describe_status(status));
        let stderr = self
            .stderr
            .lock()
            .map(|s| s.text().trim().to_string())
            .unwrap_or_default();
        if !stderr.is_empty() {
            text.push_str(&format!(" ({})", tail(&stderr)));
        }
        text
    }
}

impl PeerWatch for ServerWatch {
    fn check(&self) -> Result<(), TransportError> {
        if signals::received().is_some() {
            return Err(TransportError::Interrupted);
        }
        match self.try_status() {
            Some(status) => Err(TransportError::PeerGone(self.describe_exit(status))),
            None => Ok(()),
        }
    }

    fn follows_a_process(&self) -> bool {
        true
    }
}

/// The last [`STDERR_TAIL_BYTES`] of a server's `stderr`, on one line.
pub(crate) fn tail(stderr: &str) -> String {
    let start = stderr
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| stderr.len() - i <= STDERR_TAIL_BYTES)
        .unwrap_or(0);
    stderr[start..].replace('\n', "; ")
}

/// `exit code 1`, `killed by signal 9 (SIGKILL)`.
pub fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    match status.signal() {
        Some(n) => match Signal::try_from(n) {
            Ok(signal) => format!("killed by signal {n} ({})", signal.as_str()),
            Err(_) => format!("killed by signal {n}"),
        },
        None => "unknown status".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::kept_stderr::{KEPT_HEAD_BYTES, KEPT_TAIL_BYTES};

    /// A child that writes 20 MB on stderr costs the driver a few KiB: the beginning and the
    /// end of what it said, and how much fell between them.
    #[test]
    fn a_child_flooding_stderr_is_kept_within_the_bound() {
        let flood =
            "printf FIRST >&2; head -c 20000000 /dev/zero | tr '\\0' x >&2; printf LAST >&2";
        let mut child = Command::new("sh")
            .args(["-c", flood])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let said = collect_text(child.stderr.take()).unwrap();
        assert!(child.wait().unwrap().success());
        // The reader drops its copy once it has read the pipe's end.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while Arc::strong_count(&said) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(EXIT_POLL);
        }
        let said = said.lock().unwrap();
        let dropped = 5 + 20_000_000 + 4 - (KEPT_HEAD_BYTES + KEPT_TAIL_BYTES) as u64;
        assert_eq!(said.dropped_bytes(), dropped);
        let text = said.text();
        assert!(
            text.len() < KEPT_HEAD_BYTES + KEPT_TAIL_BYTES + 100,
            "{}",
            text.len()
        );
        assert!(text.starts_with("FIRSTx") && text.ends_with("xLAST"));
        assert!(tail(&text).ends_with("xLAST"));
    }
}
