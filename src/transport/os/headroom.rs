//! What this process may still open or start, asked of the kernel by trying: a file descriptor
//! (`RLIMIT_NOFILE`, `ulimit -n`) and threads (`RLIMIT_NPROC`, `ulimit -u`). For the library
//! that hides such a refusal (libzmq retries a connection whose socket it could not open, for
//! ever and silently) or aborts on it (libzmq's `thread.cpp` when it cannot start a thread).

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// How long a probe's finished threads get to leave the kernel's count of our tasks.
const THREAD_EXIT_BUDGET: Duration = Duration::from_secs(1);

/// Why this process cannot open another descriptor right now, if it cannot: `EMFILE` (its own
/// limit) or `ENFILE` (the system's). Any other failure of the probe says nothing about that.
pub fn descriptor_refused() -> Option<Errno> {
    match nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => {
            let _ = nix::unistd::close(fd);
            None
        }
        Err(e @ (Errno::EMFILE | Errno::ENFILE)) => Some(e),
        Err(_) => None,
    }
}

/// Whether `count` more descriptors can be open at once now: opens them (of `/dev/null`) and
/// closes them again. The refusal (`EMFILE`, `ENFILE`) if not; any other failure of the probe
/// says nothing about the limit, and passes.
pub fn descriptors_available(count: usize) -> Result<(), Errno> {
    let mut opened = Vec::with_capacity(count);
    let mut refused = Ok(());
    for _ in 0..count {
        match nix::fcntl::open(
            "/dev/null",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => opened.push(fd),
            Err(e @ (Errno::EMFILE | Errno::ENFILE)) => {
                refused = Err(e);
                break;
            }
            Err(_) => break,
        }
    }
    for fd in opened {
        let _ = nix::unistd::close(fd);
    }
    refused
}

/// Whether `count` more threads can run at once now: starts them, each held until all are up,
/// then waits until they have left the kernel's count of this user's tasks, so that the threads
/// asked for next (a library's) find the room the probe found.
pub fn threads_available(count: usize) -> std::io::Result<()> {
    let (started, tids) = mpsc::channel::<libc::pid_t>();
    let mut holds = Vec::with_capacity(count);
    let mut threads = Vec::with_capacity(count);
    let mut refused = Ok(());
    for _ in 0..count {
        let (hold, held) = mpsc::channel::<()>();
        let started = started.clone();
        let probe = std::thread::Builder::new().spawn(move || {
            let _ = started.send(nix::unistd::gettid().as_raw());
            // Returns once the hold is dropped: the thread lives until then.
            let _ = held.recv();
        });
        match probe {
            Ok(thread) => (holds.push(hold), threads.push(thread)),
            Err(e) => {
                refused = Err(e);
                break;
            }
        };
    }
    drop(holds);
    threads.into_iter().for_each(|thread| drop(thread.join()));
    drop(started);
    wait_until_gone(&tids.into_iter().collect::<Vec<_>>());
    refused
}

/// Waits (briefly, bounded) until the threads `tids` are gone from `/proc/self/task`: a joined
/// thread still counts against `RLIMIT_NPROC` until the kernel has released it, a moment later.
fn wait_until_gone(tids: &[libc::pid_t]) {
    let deadline = Instant::now() + THREAD_EXIT_BUDGET;
    let present = |tid: &libc::pid_t| Path::new(&format!("/proc/self/task/{tid}")).exists();
    while tids.iter().any(present) && Instant::now() < deadline {
        std::thread::yield_now();
    }
}
