//! The driver's side of a client process (`transport-bench --client`, [`ClientArgs`]): spawn
//! it, forward each line it reports to one channel the driver reads for all its clients, tell
//! it when to start and when to stop (one byte on its stdin: [`GO`], [`STOP`]; its stdin's end
//! tells it the driver died), and, when it dies, say how: the signal's name, "killed: out of
//! memory" when the kernel says its OOM killer killed this client (by its pid in the kernel's
//! log, or by its memory cgroup's count: [`OomWatch`]), and the last of its stderr, where a
//! library says why it aborted. Dropping a [`ClientProcess`] kills and reaps it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::peer::client_args::ClientArgs;
use crate::peer::kept_stderr::KeptStderr;
use crate::peer::server::DRIVER_PID_ENV;
use crate::peer::spawn::{collect_text, describe_status, hand_down, tail, InheritedFd};
use crate::system::oom::{OomEvidence, OomWatch};
use crate::system::process_state::Stopped;
use crate::system::threads::{self, ThreadError};

/// The byte that releases a client waiting at the start line (`--pairs`).
pub const GO: u8 = b'g';
/// The byte that stops a client's loop: another pair failed.
pub const STOP: u8 = b's';

/// How often a finishing client is checked for its exit.
const EXIT_POLL: Duration = Duration::from_millis(2);

/// Why a client process could not run, or how it died.
#[derive(Debug, thiserror::Error)]
pub enum ClientProcessError {
    #[error("cannot find this executable to start the client: {0}")]
    CurrentExe(#[source] std::io::Error),
    #[error("cannot start the client process: {0}")]
    Spawn(#[source] std::io::Error),
    /// The thread that reads the client's reports could not start; the client was killed.
    #[error("{0}; stopped the client")]
    Reader(#[source] ThreadError),
    /// It exited 0 without saying how its run went (a report line it could not write, or the
    /// driver could not read).
    #[error("the client process exited without reporting its run{}", .said.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    NoReport { said: Option<String> },
    /// It stayed stopped (`kill -STOP`, a debugger) for longer than `--timeout`: it was killed,
    /// as a client that can never finish.
    #[error("client {pid} {how} for more than {}; killed it", humantime::format_duration(*.limit))]
    Stopped {
        pid: u32,
        how: Stopped,
        limit: Duration,
    },
    /// It died before it said how its run went, or faulted after: how, and its last words.
    #[error("the client process {how}{}", .said.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    Died { how: String, said: Option<String> },
}

/// A line a client reported, or its report pipe's end (None), from client `index`.
pub type ClientLine = (usize, Option<String>);

/// A running `transport-bench --client` child.
pub struct ClientProcess {
    child: Child,
    commands: Option<ChildStdin>,
    stderr: Arc<Mutex<KeptStderr>>,
    /// The OOM kills seen since it started.
    oom_watch: OomWatch,
    /// Whether the driver itself killed it (its SIGKILL is then no OOM kill).
    killed_here: bool,
}

impl ClientProcess {
    /// Starts this executable in client mode with `args`, handing down `inherited`; its report
    /// lines go to `lines`, tagged `index`.
    pub fn spawn(
        args: &ClientArgs,
        inherited: &[InheritedFd<'_>],
        index: usize,
        lines: Sender<ClientLine>,
    ) -> Result<ClientProcess, ClientProcessError> {
        let exe = std::env::current_exe().map_err(ClientProcessError::CurrentExe)?;
        let mut command = Command::new(exe);
        hand_down(&mut command, inherited);
        let mut oom_watch = OomWatch::start();
        let mut child = command
            .args(args.to_args())
            .env(DRIVER_PID_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // As a server: a terminal's Ctrl-C reaches the driver only, which stops it in order.
            .process_group(0)
            .spawn()
            .map_err(ClientProcessError::Spawn)?;
        oom_watch.child_started(child.id());
        let readers = forward_lines(child.stdout.take(), index, lines)
            .and_then(|()| collect_text(child.stderr.take()));
        let stderr = match readers {
            Ok(stderr) => stderr,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ClientProcessError::Reader(e));
            }
        };
        Ok(ClientProcess {
            commands: child.stdin.take(),
            child,
            stderr,
            oom_watch,
            killed_here: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one command byte to the client; a client that is gone is reported by its end.
    pub fn tell(&mut self, command: u8) {
        if let Some(stdin) = &mut self.commands {
            if stdin
                .write_all(&[command])
                .and_then(|()| stdin.flush())
                .is_err()
            {
                self.commands = None;
            }
        }
    }

    /// Sends `signal` to the client.
    pub fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), signal);
    }

    /// Kills the client, which was found stopped for too long; its SIGKILL is then no OOM kill.
    pub fn kill_stopped(&mut self) {
        self.killed_here = true;
        let _ = self.child.kill();
    }

    /// Waits up to `timeout` for the client to exit (its report pipe has ended, so it is
    /// exiting), then kills it; returns how it ended.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::io::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.killed_here = true;
                let _ = self.child.kill();
                return self.child.wait();
            }
            std::thread::sleep(EXIT_POLL);
        }
    }

    /// How a client that ended with `status` died, if it did not exit 0: None for a clean
    /// exit.
    pub fn death(&mut self, status: ExitStatus) -> Option<ClientProcessError> {
        if status.success() {
            return None;
        }
        let unexplained_kill = status.signal() == Some(Signal::SIGKILL as i32) && !self.killed_here;
        let oom = unexplained_kill
            .then(|| self.oom_watch.evidence(self.child.id()))
            .flatten();
        let how = match oom {
            Some(evidence) => oom_death(&evidence),
            None if status.code().is_some() => format!("exited: {}", describe_status(status)),
            None => format!("was {}", describe_status(status)),
        };
        Some(ClientProcessError::Died {
            how,
            said: self.last_words(),
        })
    }

    /// The end of what it said on stderr, once the reader has had a moment to collect it.
    pub fn last_words(&self) -> Option<String> {
        std::thread::sleep(Duration::from_millis(20));
        let said = (self.stderr.lock())
            .map(|s| tail(s.text().trim()))
            .unwrap_or_default();
        (!said.is_empty()).then_some(said)
    }
}

/// How a client the OOM killer may have killed died, in the words `evidence` allows.
fn oom_death(evidence: &OomEvidence) -> String {
    match evidence {
        OomEvidence::KernelLog => {
            "was killed: out of memory (the kernel's OOM killer sent SIGKILL; its log names this \
             process)"
                .to_string()
        }
        OomEvidence::Cgroup(dir) => format!(
            "was killed: out of memory (SIGKILL, while its memory cgroup {} counted an OOM kill)",
            dir.display()
        ),
        OomEvidence::SystemOnly => "was killed by signal 9 (SIGKILL); the system's OOM killer \
                                    killed a process meanwhile, possibly this one"
            .to_string(),
    }
}

/// Sends each line the client reports on stdout to `lines`, tagged `index`, then None at its
/// end, from a thread of its own.
fn forward_lines(
    pipe: Option<ChildStdout>,
    index: usize,
    lines: Sender<ClientLine>,
) -> Result<(), ThreadError> {
    let Some(stdout) = pipe else {
        let _ = lines.send((index, None));
        return Ok(());
    };
    threads::start("a client's reports", move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send((index, Some(line))).is_err() {
                return;
            }
        }
        let _ = lines.send((index, None));
    })?;
    Ok(())
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
