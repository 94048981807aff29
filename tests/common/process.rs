//! The real binary as a child process, and the `/dev/shm` entries processes leave.
//!
//! The helpers under `tests/common/` are split by what a test needs, and each test file declares
//! only the modules it uses (`mod common { pub mod driver; pub mod process; }`). Every test file
//! is its own crate, so a helper that none of a file's tests uses is a dead-code warning there;
//! that is why there is no catch-all `common/mod.rs`.
//! - `process`: this file; every test needs it.
//! - `driver`: a benchmark run with its own TMPDIR, checked to leave nothing behind.
//! - `busy`: a driver's server, found and waited on until it echoes (needs `driver`).
//! - `channel`: fresh SHM channel names and what is left of a channel.
//! - `server`: `--server` processes started directly.
//! - `signals`: signals to processes, and stopping a server cleanly (needs `channel`).
//! - `client`: connecting a transport client of the library to such a server.
//! - `bounded`: a client's work on a thread of its own, failing the test if it hangs.
//! - `spinning`: both sides of a transport that spins, with one spin budget (needs `server`).
//! - `cleanup`: removing objects a test made on purpose.
//! - `summary`: the printed summary table, read back cell by cell.
//! - `planted`: a FIFO, a directory or a link a test puts where a name is expected.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use transport_bench::peer::library_dirs::LibraryDirs;
use transport_bench::transport::TransportKind;

/// Generous bound for anything a loaded 2-core machine should finish.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_transport-bench"))
}

/// Makes this test process leave `kind`'s library directories (iceoryx2's `/tmp/iceoryx2`) as
/// it found them, for a test that starts a `kind` server or client itself (the driver does
/// this for its own run): those missing at the first call for a transport that has any are
/// removed, once empty, when the process exits normally. At exit, not when a test ends: the
/// tests of one file run in parallel threads, and removing a directory between another test's
/// library making it and making its node there would fail that node. Not for a process whose
/// tests never use such a transport: it would remove what another process is making.
// Called from `server`, `client`, `spinning`, `streaming`, tests/stream.rs, tests/iceoryx2.rs
// and tests/pid_namespaces.rs (whose runs it kills): a file without them has no use.
#[allow(dead_code)]
pub fn leave_library_dirs_as_found(kind: TransportKind) {
    static NOTED: Mutex<Option<LibraryDirs>> = Mutex::new(None);
    static ONCE: Once = Once::new();
    extern "C" fn remove_noted() {
        // Dropping the note removes them. A lock held elsewhere (a thread still running at
        // exit) or poisoned keeps them, rather than wait or panic in an exit handler.
        if let Ok(mut noted) = NOTED.try_lock() {
            noted.take();
        }
    }
    if kind.library_dirs().is_empty() {
        return;
    }
    ONCE.call_once(|| {
        *NOTED.lock().unwrap() = Some(LibraryDirs::note_missing(TransportKind::all()));
        // SAFETY: `remove_noted` takes no arguments, returns nothing and cannot unwind (it
        // only try-locks and drops), as an exit handler must.
        let registered = unsafe { libc::atexit(remove_noted) } == 0;
        assert!(registered, "atexit refused the handler");
    });
}

/// Starts `command` with the stop signals at their defaults, as a terminal starts a program. A
/// test runner started under `nohup`, or as a background job of a script (which ignores
/// SIGINT and SIGQUIT), hands them down ignored, and the tool keeps an ignored SIGHUP or
/// SIGQUIT ignored (a server under nohup must): a test's signal would never reach it, and the
/// test would wait out its patience (seen: `.ci/run` started with `&` from a script).
// Called from `driver` and `server`: a file without them has no use.
#[allow(dead_code)]
pub fn with_stop_signals_at_default(command: &mut Command) -> &mut Command {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    use std::os::unix::process::CommandExt;
    // SAFETY: only sigaction between fork and exec, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            for signal in [
                Signal::SIGHUP,
                Signal::SIGINT,
                Signal::SIGQUIT,
                Signal::SIGTERM,
            ] {
                sigaction(signal, &default)?;
            }
            Ok(())
        })
    }
}

/// The pid of a process that has ended and been reaped: one no live process has (until the
/// kernel hands it out again, far later), as a gone driver's in a channel's name.
#[allow(dead_code)]
pub fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
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

/// A child process whose stdout and stderr are collected as they arrive; killed on drop.
pub struct Spawned {
    pub child: Child,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
    /// The threads that read stdout and stderr: each ends at its pipe's end of file.
    readers: Vec<JoinHandle<()>>,
    /// Its command line, to name it if it does not exit.
    command: String,
}

/// How long [`Spawned::finish`] waits, after the exit, for the pipes' last bytes: a grandchild
/// that inherited them (a server the driver failed to stop) can hold them open forever.
const DRAIN_PATIENCE: Duration = Duration::from_secs(10);

impl Spawned {
    pub fn start(command: &mut Command) -> Spawned {
        let described = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning the binary");
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let sink = Arc::clone(&stdout);
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        Spawned {
            child,
            stdout,
            stderr,
            readers: vec![stdout_reader, stderr_reader],
            command: described,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit (bounded) and returns its status and full output.
    pub fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                // Where each of its threads waits, read before the kill: what a hang is.
                let threads = threads_of(self.pid());
                let _ = self.child.kill();
                panic!(
                    "process did not exit: {}\nits threads:\n{threads}stdout:\n{}stderr:\n{}",
                    self.command,
                    self.stdout.lock().unwrap(),
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader threads have the output once they reach end of file: waited for, not
        // guessed with a sleep, which a loaded machine can outlast.
        let drained_by = Instant::now() + DRAIN_PATIENCE;
        while !self.readers.iter().all(JoinHandle::is_finished) && Instant::now() < drained_by {
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }
}

/// Each thread of process `pid`: its name, its state and the kernel function it waits in.
fn threads_of(pid: u32) -> String {
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).unwrap_or_default();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    let mut lines = String::new();
    for task in tasks.flatten().map(|entry| entry.path()) {
        let stat = read(task.join("stat"));
        // The state is the field after the name, which is in parentheses.
        let state = stat.rsplit_once(") ").map_or("?", |(_, rest)| &rest[..1]);
        let (name, wchan) = (read(task.join("comm")), read(task.join("wchan")));
        lines.push_str(&format!("  {} {state} {wchan}\n", name.trim()));
    }
    lines
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
