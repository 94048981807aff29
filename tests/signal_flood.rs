//! `SIGURG` from outside (issue 27, #6): the wait watchdog's signal has a handler installed
//! without `SA_RESTART`, so any `kill -URG` at a driver or a server interrupts whichever of its
//! threads it lands on. Flooded at a driver and all its servers, every case still passes:
//! the driver's readers of a server's output retry `EINTR` (one that stopped closed the pipe,
//! and the server's next line on stderr panicked), a ZeroMQ server sends its reply again
//! (libzmq returns `EINTR` before it takes the message), and nothing panics.

mod common {
    pub mod driver;
    pub mod process;
}

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::driver::Driver;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The processes started by `pid` and by them, as `/proc/<pid>/task/*/children` lists them.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        let tasks = std::fs::read_dir(format!("/proc/{parent}/task"));
        for task in tasks.into_iter().flatten().flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                parents.push(child);
            }
        }
    }
    found
}

/// The threads of process `pid`.
fn threads_of(pid: u32) -> Vec<i32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
    (tasks.into_iter().flatten().flatten())
        .filter_map(|task| task.file_name().to_str()?.parse().ok())
        .collect()
}

/// `SIGURG` to thread `tid` of process `pid`: a `kill` lets the kernel choose the thread
/// (usually the main one), so each thread is sent its own, as a `kill` may land on any of them.
fn urge(pid: u32, tid: i32) -> bool {
    // SAFETY: tgkill has no memory preconditions; a thread that ended meanwhile is ESRCH.
    unsafe { libc::syscall(libc::SYS_tgkill, pid as i32, tid, libc::SIGURG) == 0 }
}

/// Sends `SIGURG` every ~100 µs to the driver `driver`, to every process under it, and to each
/// of their threads, until `stop`; counts the signals that reached a server (a descendant).
fn flood(
    driver: u32,
    stop: Arc<AtomicBool>,
    to_servers: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let _ = kill(Pid::from_raw(driver as i32), Signal::SIGURG);
            for tid in threads_of(driver) {
                urge(driver, tid);
            }
            for child in descendants(driver) {
                let _ = kill(Pid::from_raw(child as i32), Signal::SIGURG);
                for tid in threads_of(child) {
                    if urge(child, tid) {
                        to_servers.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    })
}

/// Runs a driver with `args` under the flood; asserts it exits 0 having measured every case,
/// that nothing panicked, and that the flood reached its servers.
fn passes_under_a_flood(args: &[&str]) {
    let driver = Driver::start(args);
    let stop = Arc::new(AtomicBool::new(false));
    let to_servers = Arc::new(AtomicU64::new(0));
    let flooding = flood(driver.pid(), Arc::clone(&stop), Arc::clone(&to_servers));
    let (status, out, err) = driver.finish_clean();
    stop.store(true, Ordering::Relaxed);
    flooding.join().unwrap();
    assert!(status.success(), "{args:?}: exit {status:?}\n{out}{err}");
    assert!(
        !out.contains("failed") && !err.contains("panicked"),
        "{args:?}:\n{out}{err}"
    );
    assert!(
        to_servers.load(Ordering::Relaxed) > 0,
        "the flood never reached a server"
    );
}

#[test]
fn a_flood_of_sigurg_at_a_driver_and_its_servers_fails_no_zmq_ipc_case() {
    // 100 B is copied into libzmq's message, 64 KiB lent to it (see zmq_reqrep's LEND_FROM).
    passes_under_a_flood(&[
        "--transports",
        "zmq-ipc",
        "--sizes",
        "100,64KiB",
        "--iterations",
        "20000",
        "--warmup",
        "100",
        "--runs",
        "3",
        "--timeout",
        "10s",
    ]);
}

#[test]
fn a_flood_of_sigurg_at_a_driver_and_its_servers_fails_no_unix_stream_case() {
    passes_under_a_flood(&[
        "--transports",
        "unix-stream",
        "--sizes",
        "100,64KiB",
        "--iterations",
        "20000",
        "--warmup",
        "100",
        "--runs",
        "3",
        "--timeout",
        "10s",
    ]);
}

/// An injected fault's message reaches the driver through the server's stderr, flood or not:
/// the reader that stopped on `EINTR` lost it, and the server's `eprintln!` panicked.
#[test]
fn a_server_fault_is_reported_with_its_message_under_a_flood_of_sigurg() {
    let args = [
        "--transports",
        "unix-stream",
        "--sizes",
        "100",
        "--iterations",
        "200000",
        "--warmup",
        "0",
        "--timeout",
        "10s",
        "--inject-server-fault",
        "unix-stream:exit@150000",
    ];
    let driver = Driver::start(&args);
    let stop = Arc::new(AtomicBool::new(false));
    let to_servers = Arc::new(AtomicU64::new(0));
    let flooding = flood(driver.pid(), Arc::clone(&stop), Arc::clone(&to_servers));
    let (status, out, err) = driver.finish_clean();
    stop.store(true, Ordering::Relaxed);
    flooding.join().unwrap();
    assert_eq!(status.code(), Some(1), "{out}{err}");
    let all = format!("{out}{err}");
    assert!(
        all.contains("fault injected: exiting on request 150000"),
        "{all}"
    );
    assert!(!all.contains("panicked"), "{all}");
    assert!(
        to_servers.load(Ordering::Relaxed) > 0,
        "the flood never reached a server"
    );
}
