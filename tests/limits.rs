//! Resource limits: a thread or a descriptor the system refuses fails the case with the cause
//! named; the driver lives, runs the other cases and completes its export. `RLIMIT_NPROC` does
//! not bind root, so those tests run the driver as a fresh unprivileged uid (root needed to
//! switch to it); `RLIMIT_NOFILE` binds everyone.

mod common {
    pub mod driver;
    pub mod process;
}

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};

use common::driver::Driver;
use common::process::{bin, Spawned};

/// A limit set on the driver before it starts, and whether it runs as a fresh uid.
#[derive(Clone, Copy)]
enum Limit {
    /// Threads and processes of its user (`ulimit -u`), as a uid nothing else runs as.
    Tasks(u64),
    /// Open descriptors (`ulimit -n`).
    Descriptors(u64),
}

/// A uid no other test, or test run, uses: its task count starts at zero.
fn fresh_uid() -> u32 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    300_000 + (std::process::id() % 50_000) * 16 + COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Runs the driver with `args` under `limit`, its JSON export in a directory of its own;
/// checks that it left nothing and returns its status, output and the export.
fn run_limited(args: &[&str], limit: Limit) -> (ExitStatus, String, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let mut command = Command::new(bin());
    command
        .args(args)
        .args(["--export-json", json.to_str().unwrap()]);
    let uid = fresh_uid();
    if let Limit::Tasks(_) = limit {
        for dir in [tmp.path(), out.path()] {
            std::os::unix::fs::chown(dir, Some(uid), Some(uid)).unwrap();
        }
    }
    // SAFETY: only setrlimit, setgroups, setgid and setuid between fork and exec, all
    // async-signal-safe system calls; nothing is allocated.
    unsafe {
        command.pre_exec(move || {
            let (resource, value) = match limit {
                Limit::Tasks(n) => (libc::RLIMIT_NPROC, n),
                Limit::Descriptors(n) => (libc::RLIMIT_NOFILE, n),
            };
            let rlimit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            if libc::setrlimit(resource, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Limit::Tasks(_) = limit {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(uid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    };
    let (status, stdout, stderr) = Driver::start_command(&mut command, tmp).finish_clean();
    if let Limit::Tasks(_) = limit {
        let left = remove_files_of(uid);
        assert!(left.is_empty(), "the run left {left:?}: {stdout}{stderr}");
    }
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    (status, stdout, serde_json::from_str(&text).unwrap())
}

/// Removes and returns what belongs to `uid` in the directories where IPC objects live, by
/// owner rather than by name: a uid nothing else runs as owns only what its run made, so this
/// finds what no name tells, as the temporary file of glibc's `sem_open` (`sem.XXXXXX`), which a
/// server torn down while it made its semaphores once left.
fn remove_files_of(uid: u32) -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut left = Vec::new();
    for dir in ["/dev/shm", "/dev/mqueue"] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.metadata().is_ok_and(|m| m.uid() == uid) {
                let _ = std::fs::remove_file(entry.path());
                left.push(entry.path());
            }
        }
    }
    left
}

/// The run ended on its own (no abort, no panic) with exit 1, a complete export, and every
/// case failed with `cause` in its error.
fn assert_failed_naming(status: ExitStatus, out: &str, doc: &serde_json::Value, cause: &str) {
    assert_eq!(status.code(), Some(1), "{out}");
    assert_eq!(doc["state"], "complete", "{doc}");
    for result in doc["results"].as_array().unwrap() {
        assert_eq!(result["status"], "failed", "{result}");
        let error = result["error"].as_str().unwrap();
        assert!(error.contains(cause), "{error}");
    }
    assert!(out.contains(cause), "{out}");
}

fn assert_root() {
    assert!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() } == 0,
        "needs root to run the driver as another uid"
    );
}

#[test]
#[ignore = "needs root: RLIMIT_NPROC does not bind root, so the driver runs as a fresh uid"]
fn a_refused_thread_fails_the_case_by_name_and_the_driver_completes_its_export() {
    assert_root();
    let (status, out, doc) = run_limited(
        &[
            "--sizes",
            "small",
            "--iterations",
            "20",
            "--transports",
            "shm-posix,unix-stream",
        ],
        Limit::Tasks(2),
    );
    assert_failed_naming(
        status,
        &out,
        &doc,
        "cannot start a thread for the server's stdout: Resource temporarily unavailable",
    );
}

#[test]
#[ignore = "needs root: RLIMIT_NPROC does not bind root, so the driver runs as a fresh uid"]
fn a_refused_pair_thread_fails_the_run_without_stranding_the_other_pairs() {
    assert_root();
    // 1 driver thread + 2 × (server, its two readers) = 7, and each server's and the driver's
    // wait watchdog (transport/os/watchdog.rs), which start when each first blocks: which of
    // the second pair's threads is refused depends on when those start, so the test asks for
    // the refusal, whichever thread it hit, and for what must follow it.
    let (status, out, doc) = run_limited(
        &[
            "--sizes",
            "small",
            "--iterations",
            "20",
            "--transports",
            "shm-posix",
            "--pairs",
            "2",
        ],
        Limit::Tasks(7),
    );
    assert_failed_naming(status, &out, &doc, "Resource temporarily unavailable");
}

#[test]
#[ignore = "needs root: RLIMIT_NPROC does not bind root, so the driver runs as a fresh uid"]
fn libzmq_is_not_handed_a_client_whose_threads_cannot_start() {
    assert_root();
    // The server and its readers, and the server's two libzmq threads, leave the driver's
    // libzmq room for one thread of its two: libzmq would abort the driver.
    let (status, out, doc) = run_limited(
        &[
            "--sizes",
            "small",
            "--iterations",
            "20",
            "--transports",
            "zmq-ipc",
        ],
        Limit::Tasks(7),
    );
    assert_failed_naming(
        status,
        &out,
        &doc,
        "cannot start the 2 threads libzmq needs",
    );
}

/// Every limit on descriptors from 6 to 24 either lets the run complete or fails its case
/// naming the cause, never a bare timeout, and never an abort (below 12, libzmq aborted in
/// `epoll.cpp` before the tool checked for the descriptors it needs).
fn every_descriptor_limit_names_its_cause(args: &[&str]) {
    // The control: without a limit the same run succeeds.
    let (status, out, _) = Driver::start(args).finish_clean();
    assert_eq!(status.code(), Some(0), "{out}");
    for n in 6..=24 {
        let (status, out, doc) = run_limited(args, Limit::Descriptors(n));
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "ulimit -n {n}: {status:?}: {out}"
        );
        assert_eq!(doc["state"], "complete", "ulimit -n {n}: {doc}");
        for result in doc["results"].as_array().unwrap() {
            let error = result["error"].as_str().unwrap_or("");
            let bare_timeout = error.ends_with("waiting for the reply");
            assert!(!bare_timeout, "ulimit -n {n}: {error}");
            if result["status"] == "failed" {
                assert!(
                    error.contains("Too many open files") || error.contains("EMFILE"),
                    "ulimit -n {n}: {error}"
                );
            }
        }
    }
}

#[test]
fn a_zmq_client_out_of_descriptors_says_so_instead_of_timing_out() {
    let server = Spawned::start(Command::new(bin()).args([
        "--server",
        "--transport",
        "zmq-tcp",
        "--endpoint",
        "tcp://127.0.0.1:0",
    ]));
    let ready = loop {
        let line = server
            .stdout
            .lock()
            .unwrap()
            .lines()
            .next()
            .map(String::from);
        if let Some(line) = line {
            break line;
        }
        std::thread::yield_now();
    };
    let peer = format!("zmq-tcp:{}", ready.trim().strip_prefix("READY ").unwrap());
    every_descriptor_limit_names_its_cause(&[
        "--connect",
        &peer,
        "--sizes",
        "small",
        "--iterations",
        "20",
        "--timeout",
        "1s",
    ]);
}

#[test]
fn a_spawned_zmq_tcp_case_out_of_descriptors_names_the_cause() {
    every_descriptor_limit_names_its_cause(&[
        "--transports",
        "zmq-tcp",
        "--sizes",
        "small",
        "--iterations",
        "20",
        "--timeout",
        "1s",
    ]);
}

#[test]
fn no_thread_in_the_tool_is_started_by_a_call_that_panics_when_refused() {
    let mut offenders = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.contains("thread::spawn(") || line.contains("scope.spawn(") {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "use system::threads: {offenders:#?}");
}
