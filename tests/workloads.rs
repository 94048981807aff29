//! The workloads beyond one round trip at a time, through the real binary and every transport:
//! one-way streams (`--pattern stream`), requests in flight (`--in-flight`) and parallel pairs
//! (`--pairs`), with what each reports, its faults, and nothing left behind. Counts are small
//! and nothing is timed: a figure is checked for sense, never for speed.

mod common {
    pub mod driver;
    pub mod process;
    pub mod usage;
}

use common::driver::Driver;
use common::usage::assert_usage_error;
use serde_json::Value;
use transport_bench::transport::{TransportKind, Workload};

/// Runs the binary with `args` and `--export-json`, checks it left nothing, and returns its
/// exit status, stdout and the report.
fn run(args: &[&str]) -> (std::process::ExitStatus, String, Value) {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("r.json").to_string_lossy().into_owned();
    let driver = Driver::start(&[args, &["--export-json", &json]].concat());
    let (status, out, err) = driver.finish_clean();
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{e}\n{out}\n{err}"));
    (status, out, serde_json::from_str(&text).unwrap())
}

fn results(report: &Value) -> &Vec<Value> {
    report["results"].as_array().unwrap()
}

/// The CPUs the processes can use between them.
fn cpus_in_use() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// A case's CPU figures are positive and add up to no more than every CPU for its wall time
/// (with a millisecond per run for the clock reads around each timed loop).
fn assert_cpu_makes_sense(result: &Value, runs: f64) {
    let cpu = &result["cpu"];
    let busy = |key: &str| cpu[key].as_f64().unwrap_or_else(|| panic!("{result}"));
    let (driver, server) = (busy("driver_cpus"), busy("server_cpus"));
    assert!(driver > 0.0 && server > 0.0, "{result}");
    let total_s = result["total_s"].as_f64().unwrap();
    let most = cpus_in_use() * (total_s + runs * 2e-3) / total_s;
    assert!(driver + server <= most, "{cpu}: at most {most}");
    for side in ["driver", "server"] {
        assert_split_adds_up(cpu, side);
    }
}

/// A side's user/system split, where there is one, is two parts of its total, neither
/// negative, resting on some CPU time; the side's figures, where there is none.
fn assert_split_adds_up(cpu: &Value, side: &str) -> Option<(f64, f64)> {
    let split = &cpu[format!("{side}_split")];
    if split.is_null() {
        return None;
    }
    let part = |key: &str| split[key].as_f64().unwrap_or_else(|| panic!("{cpu}"));
    let (user, system) = (
        part("user_us_per_round_trip"),
        part("system_us_per_round_trip"),
    );
    let total = cpu[format!("{side}_us_per_round_trip")].as_f64().unwrap();
    assert!(user >= 0.0 && system >= 0.0, "{side}: {cpu}");
    assert!(
        (user + system - total).abs() <= 1e-9 * total.max(1.0),
        "{side}: {cpu}"
    );
    assert!(part("sampled_ms") > 0.0, "{side}: {cpu}");
    Some((user, system))
}

/// Each side's CPU time is split into user and system mode, from the kernel's accounting: a
/// stream of 300,000 messages through a pipe costs each side at least a system call per
/// message, well over the 20 ms below which the kernel's 10 ms units may show nothing.
#[test]
fn the_cpu_of_each_side_is_split_into_user_and_system_time() {
    let (status, out, report) = run(&[
        "--pattern",
        "stream",
        "--transports",
        "pipe",
        "--sizes",
        "100",
        "--iterations",
        "300000",
    ]);
    assert!(status.success(), "{out}");
    let result = &results(&report)[0];
    assert_cpu_makes_sense(result, 1.0);
    for side in ["driver", "server"] {
        let split = assert_split_adds_up(&result["cpu"], side);
        assert!(split.is_some(), "{side}: no split: {}", result["cpu"]);
    }
}

#[test]
fn every_transport_streams_verified_and_acknowledged() {
    let (status, out, report) = run(&[
        "--pattern",
        "stream",
        "--transports",
        "all",
        "--sizes",
        "100,4KiB",
        "--iterations",
        "300",
        "--warmup",
        "20",
        "--verify-all",
    ]);
    assert!(status.success(), "{out}");
    assert!(out.contains("Throughput (msgs/s)") && out.contains("Stream: messages one way"));
    assert_eq!(report["config"]["pattern"], "stream");
    assert_eq!(results(&report).len(), 2 * TransportKind::all().len());
    for result in results(&report) {
        assert_eq!(result["status"], "ok", "{result}");
        assert_eq!(result["pattern"], "stream");
        assert_eq!(result["iterations"], 300, "{result}");
        assert!(result["latency_us"].is_null(), "a stream has no latencies");
        let per_message = result["us_per_message"].as_f64().unwrap();
        let rate = result["ops_per_s"].as_f64().unwrap();
        assert!(per_message > 0.0 && rate > 0.0, "{result}");
        assert!((per_message * rate / 1e6 - 1.0).abs() < 1e-9, "{result}");
        assert_cpu_makes_sense(result, 1.0);
    }
}

#[test]
fn a_stream_of_messages_too_short_for_their_number_is_skipped_with_the_reason() {
    let (_, out, report) = run(&[
        "--pattern",
        "stream",
        "--transports",
        "shm-posix,shm-spin",
        "--sizes",
        "4,64",
        "--iterations",
        "50",
    ]);
    let by_size = |size: u64| {
        (results(&report).iter())
            .filter(|r| r["size_bytes"] == size)
            .collect::<Vec<_>>()
    };
    for result in by_size(4) {
        assert_eq!(result["status"], "skipped", "{result}");
        let reason = result["skip_reason"].as_str().unwrap();
        assert!(reason.contains("8-byte sequence number"), "{reason}");
    }
    for result in by_size(64) {
        assert_eq!(result["status"], "ok", "{result}\n{out}");
    }
}

/// Every transport, one driver each, with its server told to misbehave mid-stream.
fn each_transport_with_fault(fault: &str, extra: &[&str]) -> Vec<(TransportKind, Value)> {
    (TransportKind::all().iter())
        .map(|&kind| {
            let injected = format!("{}:{fault}", kind.name());
            let args = [
                "--pattern",
                "stream",
                "--transports",
                kind.name(),
                "--sizes",
                "100",
                "--iterations",
                "300",
                "--warmup",
                "20",
                "--inject-server-fault",
                &injected,
            ];
            let (status, _, report) = run(&[&args[..], extra].concat());
            assert!(!status.success(), "{kind:?}: {report}");
            (kind, results(&report)[0].clone())
        })
        .collect()
}

#[test]
fn a_server_killed_mid_stream_fails_the_case_and_leaves_nothing() {
    for (kind, result) in each_transport_with_fault("exit@150", &["--timeout", "5s"]) {
        assert_eq!(result["status"], "failed", "{kind:?}: {result}");
        assert_eq!(
            result["iterations"], 0,
            "an unacknowledged stream counts nothing"
        );
        let error = result["error"].as_str().unwrap();
        assert!(!error.is_empty(), "{kind:?}");
    }
}

#[test]
fn a_stream_whose_reader_stalls_fails_after_the_timeout() {
    for (kind, result) in each_transport_with_fault("stall@100", &["--timeout", "500ms"]) {
        assert_eq!(result["status"], "failed", "{kind:?}: {result}");
        let error = result["error"].as_str().unwrap();
        assert!(error.contains("timed out"), "{kind:?}: {error}");
    }
}

#[test]
fn a_message_corrupted_on_its_way_is_named_by_the_server() {
    // A payload byte: found because every byte is checked.
    let checked = ["--timeout", "5s", "--verify-all"];
    for (kind, result) in each_transport_with_fault("flip@60:40", &checked) {
        assert_eq!(result["status"], "failed", "{kind:?}: {result}");
        let error = result["error"].as_str().unwrap();
        assert!(error.contains("stream message 60"), "{kind:?}: {error}");
        assert!(error.contains("byte offset 40"), "{kind:?}: {error}");
    }
}

#[test]
fn a_stream_checks_every_sequence_number_even_without_verify_all() {
    for (kind, result) in each_transport_with_fault("flip@60:3", &["--timeout", "5s"]) {
        assert_eq!(result["status"], "failed", "{kind:?}: {result}");
        let error = result["error"].as_str().unwrap();
        assert!(error.contains("stream message 60"), "{kind:?}: {error}");
        assert!(error.contains("where 59 was due"), "{kind:?}: {error}");
    }
}

#[test]
fn every_transport_runs_two_pairs_at_once() {
    let (status, out, report) = run(&[
        "--transports",
        "all",
        "--sizes",
        "100",
        "--iterations",
        "200",
        "--warmup",
        "10",
        "--pairs",
        "2",
        "--pin",
        "split",
    ]);
    assert!(status.success(), "{out}");
    assert!(
        out.contains("Pairs: 2 client/server pairs at once"),
        "{out}"
    );
    assert_eq!(report["config"]["pairs"], 2);
    for result in results(&report) {
        assert_eq!(result["status"], "ok", "{result}");
        assert_eq!(result["iterations"], 400, "{result}");
        let pairs = result["per_pair"].as_array().unwrap();
        assert_eq!(pairs.len(), 2, "{result}");
        for (index, pair) in pairs.iter().enumerate() {
            assert_eq!(pair["pair"], index + 1);
            assert_eq!(pair["iterations"], 200);
            assert!(pair["ops_per_s"].as_f64().unwrap() > 0.0, "{pair}");
            assert!(pair["mean_us"].as_f64().unwrap() > 0.0, "{pair}");
        }
        assert_cpu_makes_sense(result, 1.0);
    }
}

#[test]
fn two_pairs_stream_too() {
    let (status, out, report) = run(&[
        "--pattern",
        "stream",
        "--transports",
        "shm-spin,unix-stream,zmq-ipc",
        "--sizes",
        "100",
        "--iterations",
        "300",
        "--pairs",
        "2",
    ]);
    assert!(status.success(), "{out}");
    for result in results(&report) {
        assert_eq!(
            (&result["status"], &result["iterations"]),
            (&"ok".into(), &600.into())
        );
        assert_eq!(result["per_pair"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn a_single_pair_reports_no_pairs() {
    let (status, _, report) = run(&[
        "--transports",
        "pipe",
        "--sizes",
        "100",
        "--iterations",
        "50",
    ]);
    assert!(status.success());
    assert_eq!(report["config"]["pairs"], 1);
    assert_eq!(results(&report)[0]["per_pair"], serde_json::json!([]));
    assert_eq!(results(&report)[0]["pattern"], "round-trip");
}

#[test]
fn workload_options_that_cannot_go_together_are_usage_errors() {
    assert_usage_error(
        &["--pattern", "stream", "--interval", "1ms"],
        "--interval paces round trips",
    );
    assert_usage_error(&["--pattern", "stream", "--in-flight", "4"], "--in-flight");
    assert_usage_error(
        &["--pairs", "2", "--connect", "shm-posix:somewhere"],
        "--pairs starts a server per pair",
    );
    assert_usage_error(&["--pattern", "sideways"], "unknown pattern 'sideways'");
    assert_usage_error(&["--pairs", "0"], "--pairs");
    assert_usage_error(&["--pairs", "65"], "more than the 64 pairs");
    assert_usage_error(&["--pairs", "18446744073709551615"], "--pairs");
    assert_usage_error(&["--in-flight", "0"], "--in-flight");
    assert_usage_error(&["--in-flight", "4097"], "4096 requests");
    assert_usage_error(
        &["--ring-depth", "8"],
        "--ring-depth sizes a --pattern stream's ring",
    );
    assert_usage_error(&["--ring-depth", "0"], "--ring-depth");
    assert_usage_error(
        &["--pattern", "stream", "--ring-depth", "4097"],
        "4096 slots",
    );
    assert_usage_error(
        &["--pattern", "stream", "--ring-depth", "-3"],
        "--ring-depth",
    );
}

#[test]
fn every_transport_keeps_four_requests_in_flight_or_says_why_not() {
    let (status, out, report) = run(&[
        "--in-flight",
        "4",
        "--transports",
        "all",
        "--sizes",
        "100,256KiB",
        "--iterations",
        "100",
        "--warmup",
        "8",
        "--verify-all",
    ]);
    assert!(status.success(), "{out}");
    assert!(out.contains("In flight: 4 requests outstanding"), "{out}");
    assert_eq!(report["config"]["in_flight"], 4);
    for result in results(&report) {
        let name = result["transport"].as_str().unwrap();
        let kind = (TransportKind::all().iter())
            .find(|kind| kind.name() == name)
            .unwrap();
        // Its spec's answer: one slot, or (ipc-channel) sends that block with nothing to poll.
        let refused = kind.supports(Workload::InFlight(4)).is_err();
        let too_big = name == "mqueue" && result["size_bytes"] != 100;
        match (refused, too_big) {
            (true, _) => {
                assert_eq!(result["status"], "skipped", "{result}");
                let reason = result["skip_reason"].as_str().unwrap();
                let said = format!("{} cannot run 4 in flight: ", kind.display_name());
                assert!(reason.starts_with(&said), "{reason}");
            }
            (false, true) => assert_eq!(result["status"], "skipped", "{result}"),
            (false, false) => {
                assert_eq!(result["status"], "ok", "{result}");
                assert_eq!(result["iterations"], 100, "{result}");
                assert!(result["latency_us"]["p50"].as_f64().unwrap() > 0.0);
                assert_cpu_makes_sense(result, 1.0);
            }
        }
    }
}

/// Paced with requests in flight (an open-loop load): every transport that holds them sends
/// on schedule, verified; latency counts from the intended send time, so it is never below the
/// service time, and the run lasts at least until the last slot.
#[test]
fn every_transport_keeps_requests_in_flight_on_schedule() {
    let (status, out, report) = run(&[
        "--in-flight",
        "4",
        "--interval",
        "500us",
        "--transports",
        "unix-stream,tcp,pipe,mqueue,zmq-ipc,zmq-tcp",
        "--sizes",
        "100,4KiB",
        "--iterations",
        "60",
        "--warmup",
        "8",
        "--verify-all",
    ]);
    assert!(status.success(), "{out}");
    assert!(out.contains("Paced: one request every 500us"), "{out}");
    assert_eq!(report["config"]["in_flight"], 4);
    for result in results(&report) {
        assert_eq!(result["status"], "ok", "{result}");
        assert_eq!(result["iterations"], 60, "{result}");
        let (latency, service) = (&result["latency_us"], &result["service_us"]);
        for key in ["min", "p50", "max"] {
            let (l, s) = (
                latency[key].as_f64().unwrap(),
                service[key].as_f64().unwrap(),
            );
            assert!(
                l >= s && s > 0.0,
                "{key}: latency {l}, service {s}: {result}"
            );
        }
        assert!(result["behind_schedule"].as_u64().is_some(), "{result}");
        // The last of 60 slots starts 59 intervals after the first.
        assert!(
            result["total_s"].as_f64().unwrap() >= 59.0 * 500e-6,
            "{result}"
        );
        assert_cpu_makes_sense(result, 1.0);
    }
}

/// A paced client whose server stops answering (`stall@N`) fails within its timeout, however
/// many slots are left: its window fills, and the wait for the oldest reply runs out.
#[test]
fn a_paced_client_whose_server_stalls_fails_after_the_timeout() {
    for kind in ["unix-stream", "mqueue", "zmq-ipc"] {
        let injected = format!("{kind}:stall@20");
        let (status, _, report) = run(&[
            "--in-flight",
            "4",
            "--interval",
            "200us",
            "--transports",
            kind,
            "--sizes",
            "100",
            "--iterations",
            "200",
            "--timeout",
            "2s",
            "--inject-server-fault",
            &injected,
        ]);
        assert!(!status.success());
        let result = &results(&report)[0];
        assert_eq!(result["status"], "failed", "{kind}: {result}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(error.contains("timed out"), "{kind}: {error}");
    }
}

#[test]
fn more_in_flight_than_mqueue_holds_is_skipped_naming_msg_max() {
    let (_, _, report) = run(&[
        "--in-flight",
        "4096",
        "--transports",
        "mqueue,pipe",
        "--sizes",
        "100",
        "--iterations",
        "50",
    ]);
    let mqueue = &results(&report)[0];
    assert_eq!(mqueue["status"], "skipped", "{mqueue}");
    assert!(mqueue["skip_reason"].as_str().unwrap().contains("msg_max"));
    assert_eq!(results(&report)[1]["status"], "ok");
}

#[test]
fn a_server_killed_with_requests_in_flight_fails_the_case() {
    for kind in ["unix-stream", "zmq-ipc", "mqueue", "pipe"] {
        let injected = format!("{kind}:exit@40");
        let (status, _, report) = run(&[
            "--in-flight",
            "4",
            "--transports",
            kind,
            "--sizes",
            "100",
            "--iterations",
            "100",
            "--timeout",
            "5s",
            "--inject-server-fault",
            &injected,
        ]);
        assert!(!status.success());
        let result = &results(&report)[0];
        assert_eq!(result["status"], "failed", "{kind}: {result}");
    }
}
