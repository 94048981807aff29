//! A stop signal to a driver in the middle of its timed loop, and what it must leave: the exit
//! code of the signal, the summary marked interrupted, and an export that says so and keeps
//! the round trips measured.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::busy::{wait_for_server, wait_until_busy};
use super::driver::Driver;

/// Runs a long `transport` benchmark, sends `signal` once its server echoes, and checks the
/// exit code (`expected_code`), the summary and the finished export.
pub fn interrupt_mid_measurement(transport: &str, signal: Signal, expected_code: i32) {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("partial.json");
    // No warm-up: the server's first echoes are already timed ones, so a server busy echoing
    // means round trips were measured when the signal comes. With a warm-up the signal could
    // land in it on a slow machine, and the case would rightly have nothing to keep.
    let driver = Driver::start(&[
        "--iterations",
        "100000000",
        "--warmup",
        "0",
        "--sizes",
        "small",
        "--transports",
        transport,
        "--export-json",
        json.to_str().unwrap(),
    ]);
    wait_until_busy(wait_for_server(&driver, transport));
    kill(Pid::from_raw(driver.pid() as i32), signal).expect("sending a signal");
    let (status, out, err) = driver.finish_clean();
    assert_eq!(status.code(), Some(expected_code), "{out}\n{err}");
    let name = signal.as_str();
    assert!(out.contains(&format!("interrupted by {name}")), "{out}");
    assert!(out.contains("OVERALL SUMMARY (interrupted"), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["state"], format!("interrupted by {name}"));
    let result = &doc["results"][0];
    assert_eq!(result["status"], "interrupted", "{doc}");
    assert!(
        result["iterations"].as_u64().unwrap() > 0,
        "partial results kept: {result}"
    );
}
