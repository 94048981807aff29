//! The kernel transports stay at the floor of system calls for their mechanism: four per round
//! trip for a pipe, a socket (Unix or TCP) or a pair of message queues (per side one call that
//! sends and one that receives), as `perf bench sched pipe` makes for a pipe. A count, not a
//! timing: an extra `poll` before every read, or a clock read that became a system call, shows
//! here on any machine.
//!
//! Counted with `strace -f -c` over two runs of the real binary, one 2,000 round trips longer
//! than the other, so that what every run does once (start-up, spawning, the report) cancels
//! out. Ignored by a plain `cargo test` because it needs `strace`; CI installs it and runs the
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

/// `strace -c`'s table: calls per system call name, the total line left out.
fn calls_by_name(table: &str) -> BTreeMap<String, u64> {
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = *fields.last()?;
            // % time, seconds, usecs/call, calls, [errors,] syscall
            let calls = fields.get(3)?.parse().ok()?;
            (fields.len() >= 5 && name != "total").then(|| (name.to_string(), calls))
        })
        .collect()
}

/// The system calls of a whole run of `transport` (the driver, its client and its server) at
/// 100 B with `iterations` round trips.
fn count_run(transport: &str, iterations: u64, dir: &Path) -> BTreeMap<String, u64> {
    let table = dir.join(format!("{transport}-{iterations}.txt"));
    let status = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&table)
        .arg(BIN)
        .args(["--transports", transport, "--sizes", "100", "--iterations"])
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

/// System calls per round trip of `transport`, by name, where at least 0.01.
fn per_round_trip(transport: &str) -> BTreeMap<String, f64> {
    let dir = tempfile::tempdir().unwrap();
    let short = count_run(transport, 500, dir.path());
    let long = count_run(transport, 500 + EXTRA_ROUND_TRIPS, dir.path());
    long.into_iter()
        .map(|(name, calls)| {
            let extra = calls.saturating_sub(short.get(&name).copied().unwrap_or(0));
            (name, extra as f64 / EXTRA_ROUND_TRIPS as f64)
        })
        .filter(|(_, per)| *per >= 0.01)
        .collect()
}

fn assert_at_the_floor(transport: &str, floor: f64) {
    let calls = per_round_trip(transport);
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

#[test]
fn strace_tables_are_read_by_name() {
    let table = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 50.00    0.010000           5      2000           readv
 40.00    0.008000           4      2000        12 writev
------ ----------- ----------- --------- --------- ----------------
100.00    0.018000           4      4000        12 total
";
    let calls = calls_by_name(table);
    assert_eq!(calls.get("readv"), Some(&2000));
    assert_eq!(calls.get("writev"), Some(&2000));
    assert_eq!(calls.len(), 2, "{calls:?}");
}
