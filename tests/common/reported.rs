//! A run of the binary that exports its JSON report to standard output, with its own TMPDIR,
//! checked to leave nothing behind; and the check that a server that stops answering is
//! reported as timed out within `--timeout` and a slack, not after the run's 10^8 iterations.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bounded::within;
use super::driver::Driver;

/// Runs the binary with `args` and `--export-json -`, checks it left nothing behind, and
/// returns its exit code, its JSON document and its human output.
pub fn run_reported(args: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = args.to_vec();
    args.extend(["--export-json", "-"]);
    let (status, stdout, stderr) = Driver::start(&args).finish_clean();
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{stdout}\n{stderr}"));
    (status.code(), doc, stderr)
}

/// Asserts that a driver's run, `finished` as [`Driver::finish_clean`] returns it with its
/// report on stdout (`--export-json -`), exited 1 with its one case failed saying `error`;
/// `what` names the run in the messages.
pub fn assert_one_case_failed(finished: (ExitStatus, String, String), what: &str, error: &str) {
    let (status, stdout, said) = finished;
    assert_eq!(status.code(), Some(1), "{what}: {said}");
    let doc: Value = serde_json::from_str(&stdout).expect("JSON");
    let result = &results(&doc)[0];
    assert_eq!(result["status"], "failed", "{what}: {result}");
    assert_eq!(result["error"], error, "{what}: {result}");
}

/// The results of a report.
pub fn results(doc: &Value) -> &Vec<Value> {
    doc["results"].as_array().expect("a results array")
}

/// Runs `transport` at 100 B with `workload`'s options, its server told to stop answering
/// after 100 requests, with a `--timeout` of 2 s: the case must fail as timed out, and the run
/// end within the timeout and a slack for start-up, the 100 exchanges and a loaded machine (a
/// wait the timeout did not bound would last as long as the 10^8 iterations, for ever).
pub fn assert_stall_reported_in_time(transport: &str, workload: &[&str]) {
    let (timeout, slack) = (Duration::from_secs(2), Duration::from_secs(20));
    let fault = format!("{transport}:stall@100");
    let mut args = vec!["--transports", transport, "--sizes", "100"];
    args.extend([
        "--iterations",
        "100000000",
        "--warmup",
        "0",
        "--timeout",
        "2s",
    ]);
    args.extend(["--inject-server-fault", &fault]);
    args.extend(workload);
    let what = format!("{transport} {workload:?}");
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    let started = Instant::now();
    let (code, doc, out) = within(timeout + slack, &what, move || {
        run_reported(&args.iter().map(String::as_str).collect::<Vec<_>>())
    });
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{what}: {out}");
    let result = &results(&doc)[0];
    assert_eq!(result["status"], "failed", "{what}: {result}");
    let error = result["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out"), "{what}: {error}");
    assert!(took < timeout + slack, "{what}: reported after {took:?}");
}
