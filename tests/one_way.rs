//! One-way latency (`--pattern one-way`) through the real binary: the server's clock against
//! the client's stamp, its histogram handed to the driver and checked, and what must fail.
//!
//! The one figure checked is a relation no timing can fake: on one host a message's one-way
//! latency is part of its round trip, so with both loads light (paced, small counts) the
//! one-way p50 is positive and no larger than the same transport's round-trip p50 measured in
//! the same test. No threshold beyond that. Every run is checked to leave nothing behind.

mod common {
    pub mod busy;
    pub mod driver;
    pub mod process;
    pub mod usage;
}

use common::busy::{wait_for_server, wait_until_busy};
use common::driver::Driver;
use common::usage::assert_usage_error;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// The transports the relation is checked on: a socket, a spinning ring, a pipe, and the two
/// async stacks, tokio and gRPC (whose server loop takes each message from tonic's runtime
/// threads, so that hand-off is part of its one-way latency).
const TRANSPORTS: &str = "unix-stream,shm-spin,pipe,tokio-unix,grpc-uds";

/// Runs the binary with `args`, its report written to a file (a file, not stdout: the harness
/// reads stdout on a thread, which a loaded machine may not let finish in time), and checks
/// it left nothing; returns its exit code, its report and everything it said.
fn run(args: &[&str]) -> (Option<i32>, Value, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("report.json");
    let json = json.to_str().unwrap();
    let args = [args, &["--timeout", "20s", "--export-json", json]].concat();
    let (status, stdout, stderr) = Driver::start(&args).finish_clean();
    let text = std::fs::read_to_string(json)
        .unwrap_or_else(|e| panic!("{args:?}: {status}, no report ({e}):\n{stdout}\n{stderr}"));
    (status.code(), serde_json::from_str(&text).unwrap(), stderr)
}

fn results(report: &Value) -> &Vec<Value> {
    report["results"].as_array().expect("results")
}

/// The p50 of `result`, in µs.
fn p50_us(result: &Value) -> f64 {
    result["latency_us"]["p50"]
        .as_f64()
        .unwrap_or_else(|| panic!("no p50: {result}"))
}

/// A light load of `pattern` over [`TRANSPORTS`]: 300 messages, one every 200 µs.
fn light_run(pattern: &str) -> Value {
    let (code, report, said) = run(&[
        "--pattern",
        pattern,
        "--transports",
        TRANSPORTS,
        "--sizes",
        "100",
        "--interval",
        "200us",
        "--iterations",
        "300",
        "--warmup",
        "20",
    ]);
    assert_eq!(code, Some(0), "{pattern}: {said}");
    report
}

/// Rounds of the two light runs, one of each pattern after the other: the relation is checked
/// on each transport's median p50 over them, so that a burst of load from elsewhere on a
/// shared machine during one run does not decide it.
const ROUNDS: usize = 3;

/// The median of three or more values.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Each transport's p50 over the rounds of `pattern`, checked ok and fully counted.
fn p50s_by_transport(reports: &[Value], pattern: &str) -> Vec<(String, Vec<f64>)> {
    let mut by_transport: Vec<(String, Vec<f64>)> = Vec::new();
    for result in reports.iter().flat_map(results) {
        assert_eq!(result["status"], "ok", "{result}");
        assert_eq!(result["pattern"], pattern, "{result}");
        assert_eq!(result["iterations"], 300, "{result}");
        assert!(result["hdr_histogram_v2"].is_string(), "{result}");
        assert!(result["ops_per_s"].as_f64().unwrap() > 0.0, "{result}");
        let transport = result["transport"].as_str().unwrap().to_string();
        match by_transport.iter_mut().find(|(name, _)| *name == transport) {
            Some((_, p50s)) => p50s.push(p50_us(result)),
            None => by_transport.push((transport, vec![p50_us(result)])),
        }
    }
    by_transport
}

#[test]
fn one_way_p50_is_positive_and_no_larger_than_the_round_trip_p50_of_the_same_transport() {
    let (mut one_way, mut round_trip) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        one_way.push(light_run("one-way"));
        round_trip.push(light_run("round-trip"));
    }
    let one_way = p50s_by_transport(&one_way, "one-way");
    let round_trip = p50s_by_transport(&round_trip, "round-trip");
    assert_eq!(one_way.len(), TRANSPORTS.split(',').count());
    for ((transport, one), (other, both)) in one_way.into_iter().zip(round_trip) {
        assert_eq!(transport, other);
        assert!(one.iter().all(|&p50| p50 > 0.0), "{transport}: {one:?}");
        let (one_p50, round_trip_p50) = (median(one.clone()), median(both.clone()));
        assert!(
            one_p50 <= round_trip_p50,
            "{transport}: one-way p50s {one:?} µs, round-trip p50s {both:?} µs"
        );
    }
}

/// The smallest one-way message (its number and its send time), a large one checked byte for
/// byte, and one too short for its send time, which is skipped with the reason.
#[test]
fn every_size_that_holds_a_send_time_is_timed_and_a_shorter_one_is_skipped_saying_why() {
    let (code, report, said) = run(&[
        "--pattern",
        "one-way",
        "--transports",
        TRANSPORTS,
        "--sizes",
        "15,16,1MiB",
        "--iterations",
        "200",
        "--warmup",
        "10",
        "--verify-all",
    ]);
    assert_eq!(code, Some(0), "{said}");
    for result in results(&report) {
        match result["size_bytes"].as_u64() {
            Some(15) => {
                assert_eq!(result["status"], "skipped", "{result}");
                let reason = result["skip_reason"].as_str().unwrap_or_default();
                assert!(reason.contains("send time"), "{result}");
            }
            _ => {
                assert_eq!(result["status"], "ok", "{result}");
                assert_eq!(result["iterations"], 200, "{result}");
                assert!(p50_us(result) > 0.0, "{result}");
            }
        }
    }
}

/// The transport and the case's error, for a one-way run with an injected server `fault`.
fn failed_with_fault(transport: &str, fault: &str) -> String {
    let injected = format!("{transport}:{fault}");
    let (code, report, said) = run(&[
        "--pattern",
        "one-way",
        "--transports",
        transport,
        "--sizes",
        "100",
        "--iterations",
        "200",
        "--warmup",
        "10",
        "--runs",
        "1",
        "--inject-server-fault",
        &injected,
    ]);
    assert_eq!(code, Some(1), "{injected}: {said}");
    let result = &results(&report)[0];
    assert_eq!(result["status"], "failed", "{injected}: {result}");
    assert!(result["latency_us"].is_null(), "{injected}: {result}");
    result["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_lost_or_cut_histogram_fails_the_case_never_an_empty_ok() {
    for transport in ["unix-stream", "shm-spin"] {
        let lost = failed_with_fault(transport, "lose-latencies");
        assert!(
            lost.contains("one-way latencies") && lost.contains("no latencies"),
            "{transport}: {lost}"
        );
        let cut = failed_with_fault(transport, "cut-latencies");
        assert!(
            cut.contains("one-way latencies") && cut.contains("do not decode"),
            "{transport}: {cut}"
        );
    }
}

#[test]
fn a_server_killed_mid_one_way_run_ends_the_case_with_the_kill() {
    for transport in TRANSPORTS.split(',') {
        let out_dir = tempfile::tempdir().unwrap();
        let json = out_dir.path().join("report.json");
        let driver = Driver::start(&[
            "--pattern",
            "one-way",
            "--transports",
            transport,
            "--sizes",
            "100",
            "--iterations",
            "100000000",
            "--timeout",
            "20s",
            "--export-json",
            json.to_str().unwrap(),
        ]);
        let server = wait_for_server(&driver, transport);
        wait_until_busy(server);
        kill(Pid::from_raw(server as i32), Signal::SIGKILL).expect("killing the server");
        let (status, _, said) = driver.finish_clean();
        assert_eq!(status.code(), Some(1), "{transport}: {said}");
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
            .unwrap_or_else(|e| panic!("{transport}: no report ({e}): {said}"));
        let result = &results(&report)[0];
        assert_eq!(result["status"], "failed", "{transport}: {result}");
        assert_eq!(
            result["error"], "server exited: killed by signal 9 (SIGKILL)",
            "{transport}: {result}"
        );
    }
}

#[test]
fn one_way_against_a_server_the_tool_did_not_start_is_refused_naming_the_clock() {
    for peer in [
        "tcp:192.0.2.1:5555",
        "tcp:127.0.0.1:5555",
        "unix-stream:/tmp/x",
    ] {
        assert_usage_error(
            &["--pattern", "one-way", "--connect", peer],
            "a different clock",
        );
    }
}

#[test]
fn one_way_keeps_no_requests_in_flight() {
    assert_usage_error(
        &["--pattern", "one-way", "--in-flight", "4"],
        "a --pattern one-way has no replies to wait for",
    );
}

/// How the driver knows the server reads the client's clock: a process in another time
/// namespace (whose `CLOCK_MONOTONIC` is offset) is told apart from one in the driver's.
#[test]
#[ignore = "needs root: unshare -T makes a time namespace"]
fn a_process_in_another_time_namespace_does_not_share_the_clock() {
    use transport_bench::system::clock::same_clock_as;
    let mut unshare = std::process::Command::new("unshare")
        .args(["-T", "--fork", "--monotonic", "1000", "sleep", "30"])
        .spawn()
        .expect("running unshare (util-linux) as root");
    let children = format!("/proc/{0}/task/{0}/children", unshare.id());
    let mut sleeper = None;
    common::driver::eventually("unshare's child", || {
        sleeper = std::fs::read_to_string(&children)
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse::<u32>().ok());
        sleeper.is_some()
    });
    let sleeper = sleeper.unwrap();
    let (theirs, ours) = (same_clock_as(sleeper), same_clock_as(unshare.id()));
    let _ = kill(Pid::from_raw(sleeper as i32), Signal::SIGKILL);
    let _ = unshare.wait();
    assert!(!theirs.unwrap(), "a child in a new time namespace");
    assert!(ours.unwrap(), "unshare itself stays in ours");
}
