//! Helpers shared by the integration tests: the real binary, real processes, and checks that
//! nothing (IPC object, socket file, process) is left behind.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Generous bound for anything a loaded 2-core machine should finish.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_transport-bench"))
}

/// A channel name no other test (or test run) uses.
pub fn unique_channel(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "it_{}_{}_{}",
        std::process::id(),
        tag,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `/dev/shm` entries (shared memory and `sem.` semaphores) whose name contains `needle`.
pub fn shm_entries(needle: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

/// The objects of one channel still in `/dev/shm`.
pub fn channel_leftovers(channel: &str) -> Vec<String> {
    shm_entries(&format!("srb_{channel}_"))
}

/// Objects of a driver run (channels `tb_<pid>_*`).
pub fn driver_leftovers(driver_pid: u32) -> Vec<String> {
    shm_entries(&format!("srb_tb_{driver_pid}_"))
}

/// Pids of live processes whose command line contains `needle` (zombies excluded).
pub fn processes_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false);
        if !zombie && cmdline.contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// Server processes started by the driver with this pid.
pub fn servers_of(driver_pid: u32) -> Vec<u32> {
    let mut pids = processes_with(&format!("tb_{driver_pid}_"));
    pids.extend(processes_with(&format!("transport-bench-{driver_pid}-")));
    pids.retain(|&p| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains("--server"))
            .unwrap_or(false)
    });
    pids
}

/// Polls `condition` until it holds or `PATIENCE` runs out.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).expect("sending a signal");
}

/// A child process whose stdout lines arrive on a channel and whose stderr is collected.
pub struct Spawned {
    pub child: Child,
    lines: Receiver<String>,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Spawned {
    pub fn start(command: &mut Command) -> Spawned {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning the binary");
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let sink = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        Spawned {
            child,
            lines,
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stdout line containing `needle`.
    pub fn wait_for_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!(
                    "no line containing {needle:?} ({e}); stdout so far:\n{}\nstderr:\n{}",
                    self.stdout.lock().unwrap(),
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// Waits for the process to exit (bounded) and returns its status and full output.
    pub fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "process did not exit; stdout:\n{}",
                    self.stdout.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // Let the reader threads drain the pipes.
        std::thread::sleep(Duration::from_millis(100));
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A driver started with its own private TMPDIR, so its socket directories can be checked.
pub struct Driver {
    pub spawned: Spawned,
    pub tmp: tempfile::TempDir,
}

impl Driver {
    pub fn start(args: &[&str]) -> Driver {
        let tmp = tempfile::tempdir().unwrap();
        let spawned = Spawned::start(Command::new(bin()).args(args).env("TMPDIR", tmp.path()));
        Driver { spawned, tmp }
    }

    pub fn pid(&self) -> u32 {
        self.spawned.pid()
    }

    /// Waits for exit and asserts the run left nothing: no object, no socket dir, no server.
    pub fn finish_clean(self) -> (ExitStatus, String, String) {
        let pid = self.pid();
        let tmp_path = self.tmp.path().to_path_buf();
        let result = self.spawned.finish();
        assert_nothing_left(pid, &tmp_path);
        drop(self.tmp);
        result
    }
}

pub fn assert_nothing_left(driver_pid: u32, tmp: &Path) {
    // A server that was SIGKILLed may still be in the process of dying for a moment.
    eventually("the servers to exit", || servers_of(driver_pid).is_empty());
    assert_eq!(
        driver_leftovers(driver_pid),
        Vec::<String>::new(),
        "IPC objects left"
    );
    let entries: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(entries.is_empty(), "temp files left: {entries:?}");
}

/// A server started directly (`--server`), killed on drop.
pub fn start_server(args: &[&str]) -> Spawned {
    let server = Spawned::start(Command::new(bin()).arg("--server").args(args));
    server.wait_for_line("READY");
    server
}

/// A SHM POSIX server on `channel` with a `buffer_size`-byte buffer, ready.
pub fn start_shm_server(channel: &str, buffer_size: usize) -> Spawned {
    start_server(&[
        "--transport",
        "shm-posix",
        "--channel",
        channel,
        "--buffer-size",
        &buffer_size.to_string(),
    ])
}

/// Stops a server with SIGTERM and asserts that it exited 0 and unlinked its channel.
pub fn stop_server_clean(server: Spawned, channel: &str) {
    signal(server.pid(), Signal::SIGTERM);
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "server exit {status:?}: {stderr}");
    assert_eq!(channel_leftovers(channel), Vec::<String>::new());
}
