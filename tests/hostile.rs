//! What a hostile user can hand the tool: numbers at their limits, export paths that are links,
//! FIFOs and devices. Each ends in a clear message and an exit code from the README's table,
//! with nothing started that should not be, and nothing left behind.
//!
//! Attacks that need a private mount or PID namespace (`unshare`, as root) are ignored by a
//! plain `cargo test`, which may run without root, and run by `.ci/run` with
//! `--include-ignored`; there, a kernel that refuses the namespace is a failure, not a skip.

mod common {
    pub mod driver;
    pub mod process;
    pub mod usage;
}

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::driver::{driver_leftovers, eventually, processes_with, Driver};
use common::process::{bin, PATIENCE};
use common::usage::assert_usage_error;
use nix::sys::signal::Signal;
use transport_bench::transport::TransportKind;

#[test]
fn numbers_that_would_wrap_or_overflow_are_usage_errors() {
    let max = u64::MAX.to_string();
    let wraps = (u64::MAX - 99).to_string();
    let cases: &[(&[&str], &str)] = &[
        // warm-up 100 + this wraps to 0 round trips.
        (&["--iterations", &wraps, "--sizes", "100"], "--iterations"),
        (&["--iterations", &max], "--iterations"),
        (&["--warmup", &max], "--warmup"),
        (&["--timeout", "18446744073709551615s"], "at most 24h"),
        (&["--timeout", "500000000000years"], "at most 24h"),
        (&["--timeout", "999us"], "at least 1ms"),
        (&["--buffer-size", &max], "4-byte length header"),
        (&["--buffer-size", "4294967296"], "4-byte length header"),
        (&["--sizes", "4294967292"], "larger than"),
        (&["--runs", "4294967296"], "--runs"),
    ];
    for (args, needle) in cases {
        assert_usage_error(args, needle);
    }
}

#[test]
fn server_mode_refuses_what_it_cannot_serve_and_benchmark_options() {
    let max = u64::MAX.to_string();
    let server = ["--server", "--transport", "unix-stream", "--endpoint"];
    let cases: &[(&[&str], &str)] = &[
        (&["--buffer-size", &max], "4-byte length header"),
        (&["--timeout", "100years"], "at most 24h"),
        (&["--sizes", "5"], "--sizes"),
        (&["--export-json", "x.json"], "--export-json"),
        (&["--iterations", "5"], "--iterations"),
    ];
    for (extra, needle) in cases {
        let mut args = server.to_vec();
        args.push("unix:///nonexistent/echo.sock");
        args.extend_from_slice(extra);
        assert_usage_error(&args, needle);
    }
}

#[test]
fn exports_that_collide_or_misname_the_plot_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.json");
    let a = a.to_str().unwrap();
    let dotted = format!("{}/./a.json", tmp.path().display());
    let link = tmp.path().join("link.json");
    std::os::unix::fs::symlink(a, &link).unwrap();
    let link = link.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--export-json", a, "--export-csv", &dotted], "same file"),
        (
            &["--export-json", a, "--export-markdown", link],
            "same file",
        ),
        (&["--export-json", "-", "--export-csv", "-"], "same file"),
        (&["--plot", "plot.png"], "*.svg"),
    ];
    for (args, needle) in cases {
        assert_usage_error(args, needle);
    }
    assert!(!Path::new(a).exists());
}

#[test]
fn two_exports_into_one_stream_under_any_of_its_names_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.json");
    std::fs::write(&a, "previous").unwrap();
    let hard = tmp.path().join("hard.csv");
    std::fs::hard_link(&a, &hard).unwrap();
    let (a, hard) = (a.to_str().unwrap(), hard.to_str().unwrap());
    // Standard output is a pipe here, and standard error another (assert_usage_error's).
    let cases: &[&[&str]] = &[
        &["--export-json", "-", "--export-csv", "/dev/stdout"],
        &[
            "--export-json",
            "/proc/self/fd/1",
            "--export-markdown",
            "/dev/fd/1",
        ],
        &["--export-csv", "/dev/stdout", "--plot", "-"],
        &["--export-json", a, "--export-csv", hard],
    ];
    for args in cases {
        assert_usage_error(args, "are the same file");
    }
    // With an export on stdout, people's output moves to stderr: an export there collides too.
    assert_usage_error(
        &["--export-json", "-", "--export-csv", "/dev/stderr"],
        "/dev/stderr is standard error",
    );
    assert_eq!(std::fs::read_to_string(a).unwrap(), "previous");
}

#[test]
fn an_export_to_standard_output_by_another_name_gets_standard_output_alone() {
    for name in ["/dev/stdout", "/proc/self/fd/1"] {
        let (status, out, err) = run_with_json_export(Path::new(name));
        assert!(status.success(), "{name}: {out}\n{err}");
        // The whole of stdout is the one document; the banner and summary went to stderr.
        assert_eq!(json_state(&out), "complete", "{name}");
        assert!(err.contains("OVERALL SUMMARY"), "{name}: {err}");
    }
}

/// A short, real run with one export at `path`; returns the driver's output.
fn run_with_json_export(path: &Path) -> (std::process::ExitStatus, String, String) {
    let driver = Driver::start(&[
        "--iterations",
        "30",
        "--warmup",
        "3",
        "--sizes",
        "small",
        "--transports",
        "shm-posix",
        "--export-json",
        path.to_str().unwrap(),
    ]);
    driver.finish_clean()
}

fn json_state(text: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(text).expect("one JSON document");
    doc["state"].as_str().unwrap().to_string()
}

#[test]
fn an_export_through_a_link_writes_the_target_and_keeps_the_link() {
    let here = tempfile::tempdir().unwrap();
    let there = tempfile::tempdir().unwrap();
    let target = there.path().join("results.json");
    std::fs::write(&target, "previous").unwrap();
    let link = here.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (status, out, err) = run_with_json_export(&link);
    assert!(status.success(), "{out}\n{err}");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(
        json_state(&std::fs::read_to_string(&target).unwrap()),
        "complete"
    );
    // No temporary file is left beside the link or the target.
    assert_eq!(std::fs::read_dir(here.path()).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(there.path()).unwrap().count(), 1);
}

#[test]
fn an_export_to_a_fifo_hands_its_reader_one_final_document() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("results.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // Opened without blocking, the reader is in place before the driver looks for one.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let reader = std::thread::spawn(move || read_until_the_writer_is_done(reader));
    let (status, out, err) = run_with_json_export(&fifo);
    assert!(status.success(), "{out}\n{err}");
    assert_eq!(json_state(&reader.join().unwrap()), "complete");
    let kind = fifo.symlink_metadata().unwrap().file_type();
    assert!(
        std::os::unix::fs::FileTypeExt::is_fifo(&kind),
        "still a FIFO"
    );
}

/// Reads a FIFO until its writer has come, written and gone. Before any writer a read says
/// end-of-file (and without blocking, "would block" while a writer is there but silent).
fn read_until_the_writer_is_done(mut fifo: std::fs::File) -> String {
    let mut text = Vec::new();
    let mut chunk = [0u8; 65536];
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match fifo.read(&mut chunk) {
            Ok(0) if !text.is_empty() => return String::from_utf8(text).unwrap(),
            Ok(n) => text.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("reading the FIFO: {e}"),
        }
        assert!(std::time::Instant::now() < deadline, "no document came");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_fifo_without_a_reader_is_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("results.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let output = Command::new(bin())
        .args(["--sizes", "small", "--export-json", fifo.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no reader"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn json_to_standard_output_moves_the_human_output_to_stderr() {
    let driver = Driver::start(&[
        "--iterations",
        "30",
        "--sizes",
        "small",
        "--export-json",
        "-",
    ]);
    let (status, out, err) = driver.finish_clean();
    assert!(status.success(), "{err}");
    assert_eq!(
        json_state(&out),
        "complete",
        "stdout is exactly one document"
    );
    assert!(err.contains("OVERALL SUMMARY"), "{err}");
}

const NEEDS_ROOT: &str = "needs root for unshare; .ci/run runs it";

/// Runs `script` with sh in new namespaces (`unshare` flags), the binary's path in `$TB`.
fn in_namespaces(flags: &[&str], script: &str) -> Output {
    let output = Command::new("unshare")
        .args(flags)
        .args(["sh", "-c", script])
        .env("TB", bin())
        .output()
        .expect("running unshare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.starts_with("unshare:"),
        "{NEEDS_ROOT}: the kernel refused the namespace: {stderr}"
    );
    output
}

#[test]
#[ignore = "needs root for unshare; .ci/run runs it"]
fn an_export_to_dev_stdout_writes_through_it_and_leaves_dev_alone() {
    // A /dev of its own, so that a regression could only damage a throwaway one; it needs a
    // /dev/null (for the server's stdin) and a /dev/shm.
    let script = r#"mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 &&
        mkdir /dev/shm && mount -t tmpfs none /dev/shm && ln -s /proc/self/fd/1 /dev/stdout &&
        "$TB" --iterations 20 --sizes small --transports shm-posix --export-json /dev/stdout &&
        [ -L /dev/stdout ] && echo STILL-A-LINK"#;
    let output = in_namespaces(&["--mount", "--propagation", "private"], script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("STILL-A-LINK"), "{stdout}");
    assert!(stdout.contains(r#""state": "complete""#), "{stdout}");
}

#[test]
#[ignore = "needs root for unshare; .ci/run runs it"]
fn a_full_dev_shm_skips_the_shm_cases_with_the_figures_and_the_rest_still_run() {
    // An 8 MB /dev/shm of its own with 1 MB left: no room for 2 × 2.5 MB buffers, which the
    // options' check sees before any server starts (issue 27, #2).
    let script = r#"mount -t tmpfs -o size=8m none /dev/shm && fallocate -l 7M /dev/shm/filler &&
        "$TB" --iterations 20 --sizes 2MB --transports shm-posix,shm-spin,zmq-ipc \
            --export-json /dev/stderr;
        echo "exit $?"; ls /dev/shm"#;
    let output = in_namespaces(&["--mount", "--propagation", "private"], script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("exit 0"), "{stdout}\n{stderr}");
    for (name, transport) in [("SHM POSIX", "shm-posix"), ("SHM spin", "shm-spin")] {
        let line = format!("{name} at 2 MB: skipped: {transport} at 2 MB needs 4.8 MiB of /dev/shm; /dev/shm has 1.0 MiB free");
        assert!(stdout.contains(&line), "{stdout}");
    }
    assert_eq!(
        stdout.matches("Completed in").count(),
        1,
        "ZeroMQ still ran"
    );
    assert!(stderr.contains(r#""state": "complete""#), "{stderr}");
    let listing = stdout.rsplit("exit 0").next().unwrap_or_default();
    assert_eq!(listing.trim(), "filler", "objects left in /dev/shm");
}

#[test]
#[ignore = "needs root for unshare; .ci/run runs it"]
fn a_server_whose_buffers_cannot_fit_dev_shm_refuses_to_start() {
    let script = r#"mount -t tmpfs -o size=256m none /dev/shm &&
        "$TB" --server --transport shm-posix --channel big --buffer-size 3GB;
        echo "exit $?"; ls /dev/shm | wc -l"#;
    let output = in_namespaces(&["--mount", "--propagation", "private"], script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stdout.contains("READY"), "{stdout}");
    assert!(stdout.contains("exit 1\n0"), "{stdout}\n{stderr}");
    assert!(stderr.contains("not enough space in /dev/shm"), "{stderr}");
}

/// A pid that no process here has, nor the next few: what a process in another PID namespace
/// can be numbered, seen from here.
fn pid_free_here() -> u32 {
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(32768);
    let taken = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    (1000..pid_max - 20)
        .rev()
        .step_by(20)
        .find(|&start| !(start..start + 20).any(taken))
        .expect("a free range of pids")
}

#[test]
#[ignore = "needs root for unshare; .ci/run runs it"]
fn a_live_run_in_another_pid_namespace_survives_cleanup_from_here() {
    let last_pid = pid_free_here();
    let driver_pid = last_pid + 1;
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("pidns.json");
    // Inside, the next process (the driver) gets `driver_pid`, a number that is dead here.
    let script = r#"echo "$LAST_PID" > /proc/sys/kernel/ns_last_pid &&
        "$TB" --iterations 100000000 --sizes small --transports shm-posix --export-json "$JSON";
        echo "exit $?""#;
    let child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sh", "-c", script])
        .env("TB", bin())
        .env("LAST_PID", last_pid.to_string())
        .env("JSON", &json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let objects = || driver_leftovers(driver_pid);
    eventually("the run's objects to appear", || objects().len() == 6);
    let cleanup = Command::new(bin()).arg("cleanup").output().unwrap();
    let kept = objects().len();
    // Stop the run from here: its driver is the process whose command line names the export.
    let json_text = json.to_str().unwrap();
    for pid in processes_with(json_text) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.starts_with("unshare:"), "{NEEDS_ROOT}: {stderr}");
    assert_eq!(kept, 6, "cleanup removed a live run's objects: {cleanup:?}");
    assert!(stdout.contains("exit 130"), "{stdout}\n{stderr}");
    assert_eq!(
        objects(),
        Vec::<String>::new(),
        "the run cleaned up after itself"
    );
}

/// A /dev of its own with the mqueue file system mounted, which shows this IPC namespace's
/// queues. Two servers on channels whose pid (`$DEAD`) is dead here: one SIGKILLed (its queues
/// are stale), one alive (its owner lock must keep them); `cleanup` runs between. Then a third
/// SIGKILLed one, for the driver's clean-up at start. Each listing is of `tb_$DEAD_*` queues.
const STALE_QUEUES_SCRIPT: &str = r#"mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 &&
    mkdir /dev/shm /dev/mqueue && mount -t tmpfs none /dev/shm &&
    mount -t mqueue none /dev/mqueue && cd "$WORK" && mkfifo dead live again || exit 9
    "$TB" --server --transport mqueue --channel "tb_${DEAD}_1" > dead & dead=$!
    read ready < dead
    "$TB" --server --transport mqueue --channel "tb_${DEAD}_2" > live & live=$!
    read ready < live
    kill -9 $dead; wait $dead
    echo BEFORE; ls /dev/mqueue | grep "^tb_${DEAD}_"
    "$TB" cleanup; echo "cleanup exit $?"
    echo AFTER; ls /dev/mqueue | grep "^tb_${DEAD}_"
    "$TB" --server --transport mqueue --channel "tb_${DEAD}_3" > again & again=$!
    read ready < again
    kill -9 $again; wait $again
    "$TB" --iterations 20 --sizes small --transports mqueue; echo "driver exit $?"
    kill -TERM $live; wait $live; echo "live exit $?"
    echo END; ls /dev/mqueue | grep "^tb_${DEAD}_"; echo DONE"#;

/// The queue names listed in `out` between the lines `from` and `to`.
fn listed_queues(out: &str, from: &str, to: &str) -> Vec<String> {
    let after = out.split(from).nth(1).unwrap_or_default();
    let lines = after.split(to).next().unwrap_or_default().lines();
    (lines.map(str::trim))
        .filter(|line| line.starts_with("tb_"))
        .map(String::from)
        .collect()
}

#[test]
#[ignore = "needs root for unshare; .ci/run runs it"]
fn stale_message_queues_are_found_where_dev_mqueue_is_mounted() {
    let dead = pid_free_here();
    let work = tempfile::tempdir().unwrap();
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(STALE_QUEUES_SCRIPT)
        .env("TB", bin())
        .env("DEAD", dead.to_string())
        .env("WORK", work.path())
        .output()
        .expect("running unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.starts_with("unshare:"), "{NEEDS_ROOT}: {stderr}");
    let queues = |n: u32| [format!("tb_{dead}_{n}_req"), format!("tb_{dead}_{n}_resp")];
    let both: Vec<String> = queues(1).into_iter().chain(queues(2)).collect();
    let before = listed_queues(&stdout, "BEFORE", "cleanup exit");
    assert_eq!(before, both, "{stdout}\n{stderr}");
    for queue in queues(1) {
        let removed = format!("Removed message queue /{queue}");
        assert!(stdout.contains(&removed), "{stdout}\n{stderr}");
    }
    assert!(stdout.contains("cleanup exit 0"), "{stdout}");
    let after = listed_queues(&stdout, "AFTER", "driver exit");
    assert_eq!(after, queues(2), "the live server's are kept");
    for queue in queues(3) {
        let removed = format!("removed stale message queue /{queue}");
        assert!(stdout.contains(&removed), "{stdout}\n{stderr}");
    }
    for exit in ["driver exit 0", "live exit 0"] {
        assert!(stdout.contains(exit), "{stdout}\n{stderr}");
    }
    let end = listed_queues(&stdout, "END", "DONE");
    assert_eq!(end, Vec::<String>::new(), "{stdout}");
}

#[test]
fn sizes_the_address_space_cannot_hold_fail_each_case_clearly() {
    use std::os::unix::process::CommandExt;
    // 700 MB buffers under a 320 MiB address-space limit, inherited by the servers. (300 MiB
    // left no room for libzmq's I/O thread once iceoryx2 had added 5 MiB of code: each thread's
    // malloc arena reserves 128 MiB of address space at first.)
    let limit = libc::rlimit {
        rlim_cur: 320 << 20,
        rlim_max: 320 << 20,
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut command = Command::new(bin());
    command
        .args([
            "--iterations",
            "5",
            "--sizes",
            "700MB",
            "--transports",
            "all",
        ])
        .env("TMPDIR", tmp.path());
    // SAFETY: setrlimit is async-signal-safe and touches only the child, between fork and exec.
    unsafe {
        command.pre_exec(move || match libc::setrlimit(libc::RLIMIT_AS, &limit) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    let child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    // Every transport fails, but POSIX mqueue, whose message limit skips the size.
    let failing = TransportKind::all().len() - 1;
    assert_eq!(
        stdout.matches("benchmark failed").count(),
        failing,
        "{stdout}"
    );
    assert!(
        stdout.contains("POSIX mqueue benchmark skipped"),
        "{stdout}"
    );
    assert_eq!(driver_leftovers(pid), Vec::<String>::new());
    // The shm servers cannot map; the servers of the byte streams and the driver cannot
    // allocate.
    for cause in [
        "mapping shared memory",
        "cannot allocate 700000000 bytes for the request buffer",
    ] {
        assert!(stdout.contains(cause), "no {cause:?} in {stdout}");
    }
    assert!(!stdout.contains("signal"), "a process was killed: {stdout}");
    assert!(stdout.contains("OVERALL SUMMARY"), "{stdout}");
}
