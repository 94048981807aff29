//! The driver's side of a server process: spawn it, wait for `READY`, watch it while measuring,
//! and stop it (SIGTERM, then SIGKILL after the timeout). Dropping a [`ServerProcess`] always
//! kills and reaps the child, so no error path can leave a server behind.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::server::DRIVER_PID_ENV;
use crate::signals;
use crate::transport::{Endpoint, PeerWatch, TransportError, TransportKind, WAIT_SLICE};

/// How much of a failed server's stderr to quote.
const STDERR_TAIL_BYTES: usize = 600;

/// A running `transport-bench --server` child.
pub struct ServerProcess {
    child: Arc<Mutex<Child>>,
    pid: Pid,
    stdout_lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts this executable in server mode for `kind` at `endpoint`.
    pub fn spawn(
        kind: TransportKind,
        endpoint: &Endpoint,
        timeout: Duration,
        fault: Option<&str>,
    ) -> Result<ServerProcess, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this executable to start the server: {e}"))?;
        let mut command = Command::new(exe);
        command
            .arg("--server")
            .arg("--transport")
            .arg(kind.name())
            .args(kind.server_args(endpoint))
            .arg("--timeout")
            .arg(humantime::format_duration(timeout).to_string())
            .env(DRIVER_PID_ENV, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a terminal Ctrl-C reaches only the driver, which then stops
            // the server in order instead of racing it.
            .process_group(0);
        if let Some(fault) = fault {
            command.arg("--fault").arg(fault);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start the server process: {e}"))?;
        let pid = Pid::from_raw(child.id() as i32);

        let (line_tx, stdout_lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line_tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    if let Ok(mut text) = sink.lock() {
                        text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        Ok(ServerProcess {
            child: Arc::new(Mutex::new(child)),
            pid,
            stdout_lines,
            stderr,
        })
    }

    /// Waits for the `READY` line. Fails if the server exits first, or stays silent for `timeout`.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), TransportError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.watch().check()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::Timeout {
                    what: "the server to print READY".into(),
                    timeout,
                });
            }
            match self.stdout_lines.recv_timeout(left.min(WAIT_SLICE)) {
                Ok(line) if line.trim() == "READY" => return Ok(()),
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                // stdout closed: the server is exiting; the next check() reports how.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// A watch for the client: fails once the server has exited or the driver was interrupted.
    pub fn watch(&self) -> Arc<dyn PeerWatch> {
        Arc::new(ServerWatch {
            child: Arc::clone(&self.child),
            stderr: Arc::clone(&self.stderr),
        })
    }

    /// Stops the server with SIGTERM and checks that it exits 0 within `timeout`.
    pub fn stop(self, timeout: Duration) -> Result<(), String> {
        let watch = ServerWatch {
            child: Arc::clone(&self.child),
            stderr: Arc::clone(&self.stderr),
        };
        if let Some(status) = watch.try_status() {
            return Err(watch.describe_exit(status));
        }
        let _ = kill(self.pid, Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = watch.try_status() {
                return if status.success() {
                    Ok(())
                } else {
                    Err(watch.describe_exit(status))
                };
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Err(format!(
            "server did not exit within {} of SIGTERM; killed it",
            humantime::format_duration(timeout)
        ))
        // Drop kills and reaps it.
    }
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
    stderr: Arc<Mutex<String>>,
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
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if !stderr.is_empty() {
            let start = stderr
                .char_indices()
                .map(|(i, _)| i)
                .find(|&i| stderr.len() - i <= STDERR_TAIL_BYTES)
                .unwrap_or(0);
            text.push_str(&format!(" ({})", stderr[start..].replace('\n', "; ")));
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
