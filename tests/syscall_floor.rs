//! The kernel transports stay at the floor of system calls for their mechanism: four per round
//! trip for a pipe, a socket (Unix or TCP) or a pair of message queues (per side one call that
//! sends and one that receives), as `perf bench sched pipe` makes for a pipe. A count, not a
//! timing: an extra `poll` before every read, or a clock read that became a system call, shows
//! here on any machine.
//!
//! Counted with `strace -f -y` over two runs of the real binary, one 2,000 round trips longer
//! than the other, so that what every run does once (start-up, spawning, the report) cancels
//! out. What the processes read of `/proc` (where the server runs, whether it is still there)
//! they read on a clock, not per round trip: under strace, on a loaded machine, a round trip
//! takes so long that those reads would count as half a call per round trip; every call that
//! names a `/proc` file is left out. Ignored by a plain `cargo test` because it needs `strace`; CI installs it and runs the
//! ignored tests. Without `strace` it fails, naming what is missing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

/// The round trips the longer run adds.
const EXTRA_ROUND_TRIPS: u64 = 2_000;

/// What each round trip may make beyond the floor: the client's progress lines and the
/// watchdog's cut of a wait that lasted 25 ms on a loaded machine, spread over the run.
const SLACK_PER_ROUND_TRIP: f64 = 0.3;

/// `strace -f -y`'s trace: calls per system call name, each call counted once (where it
/// began: a call another process interrupted goes on in a `<... resumed>` line), signals and
/// exits left out, and so is every call on or of a `/proc` file.
fn calls_by_name(trace: &str) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for line in trace.lines().filter(|line| !line.contains("/proc/")) {
        // With -f, each line begins with the caller's pid.
        let call = line.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
        let name = call.split('(').next().unwrap_or("");
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            *calls.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    calls
}

/// The system calls of a whole run of `transport` (the driver, its client and its server) at
/// `size` bytes with `iterations` round trips.
fn count_run(transport: &str, size: &str, iterations: u64, dir: &Path) -> BTreeMap<String, u64> {
    let table = dir.join(format!("{transport}-{size}-{iterations}.txt"));
    let status = Command::new("strace")
        .args(["-f", "-y", "-o"])
        .arg(&table)
        .arg(BIN)
        .args(["--transports", transport, "--sizes", size, "--iterations"])
        .arg(iterations.to_string())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| {
            panic!("strace could not be started ({e}): install it (apt install strace)")
        });
    assert!(status.success(), "{transport} under strace: {status}");
    calls_by_name(&std::fs::read_to_string(&table).unwrap())
}

/// System calls per round trip of `transport` at `size` bytes, by name, where at least 0.01.
fn per_round_trip(transport: &str, size: &str) -> BTreeMap<String, f64> {
    let dir = tempfile::tempdir().unwrap();
    let short = count_run(transport, size, 500, dir.path());
    let long = count_run(transport, size, 500 + EXTRA_ROUND_TRIPS, dir.path());
    long.into_iter()
        .map(|(name, calls)| {
            let extra = calls.saturating_sub(short.get(&name).copied().unwrap_or(0));
            (name, extra as f64 / EXTRA_ROUND_TRIPS as f64)
        })
        .filter(|(_, per)| *per >= 0.01)
        .collect()
}

fn assert_at_the_floor(transport: &str, floor: f64) {
    let calls = per_round_trip(transport, "100");
    let total: f64 = calls.values().sum();
    assert!(
        total >= floor - SLACK_PER_ROUND_TRIP,
        "{transport}: {total:.2} system calls per round trip, fewer than the floor {floor}: \
         did the count miss the server or the client? {calls:?}"
    );
    assert!(
        total <= floor + SLACK_PER_ROUND_TRIP,
        "{transport}: {total:.2} system calls per round trip where the floor is {floor}: {calls:?}"
    );
}

#[test]
#[ignore = "needs strace (CI installs it)"]
fn a_pipe_round_trip_makes_four_system_calls() {
    assert_at_the_floor("pipe", 4.0);
}

#[test]
#[ignore = "needs strace (CI installs it)"]
fn a_unix_stream_round_trip_makes_four_system_calls() {
    assert_at_the_floor("unix-stream", 4.0);
}

#[test]
#[ignore = "needs strace (CI installs it)"]
fn a_tcp_round_trip_makes_four_system_calls() {
    assert_at_the_floor("tcp", 4.0);
}

#[test]
#[ignore = "needs strace (CI installs it)"]
fn a_message_queue_round_trip_makes_four_system_calls() {
    assert_at_the_floor("mqueue", 4.0);
}

/// A request above the staging threshold (4 KiB) leaves with its header in one call from one
/// buffer, the header written into the room in front of the client's request (`sendto` on a
/// socket), not a `writev` of two parts; the server's echo is still a `writev`.
#[test]
#[ignore = "needs strace (CI installs it)"]
fn a_large_request_leaves_with_its_header_in_one_call() {
    let calls = per_round_trip("unix-stream", "10000");
    let per = |name: &str| calls.get(name).copied().unwrap_or(0.0);
    let near = |name: &str, expected: f64| (per(name) - expected).abs() <= SLACK_PER_ROUND_TRIP;
    assert!(near("sendto", 1.0), "the client's request: {calls:?}");
    assert!(near("writev", 1.0), "the server's echo only: {calls:?}");
    assert!(near("readv", 2.0), "{calls:?}");
}

#[test]
fn strace_traces_are_counted_by_name_once_per_call_without_proc() {
    let trace = "\
4101  readv(3<pipe:[5529]>, [{iov_base=\"\\x64\", iov_len=4}], 1) = 4
4102  writev(4<pipe:[5530]>, [{iov_base=\"\\x64\", iov_len=4}], 1) = 4
4101  read(3<pipe:[5529]>,  <unfinished ...>
4102  read(7</proc/4101/stat>, \"4101 (transport-bench) R\", 1024) = 300
4102  openat(AT_FDCWD</work>, \"/proc/4101/stat\", O_RDONLY|O_CLOEXEC) = 7</proc/4101/stat>
4101  <... read resumed>\"\\x64\", 4) = 4
4103  --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER} ---
4103  +++ exited with 0 +++
4101  mq_timedsend(5</srb_x_req>, \"\", 0, 0, NULL) = 0
";
    let calls = calls_by_name(trace);
    let expected: BTreeMap<String, u64> = [
        ("mq_timedsend", 1),
        ("read", 1),
        ("readv", 1),
        ("writev", 1),
    ]
    .map(|(name, n)| (name.to_string(), n))
    .into();
    assert_eq!(calls, expected);
}
