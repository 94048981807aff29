//! Where the processes run (`--pin`), in which order runs go (interleaved), and paced mode
//! (`--interval`): what the output and exports say about each, with real processes. Nothing
//! here asserts a timing; only what pinning and pacing guarantee by construction.

mod common {
    pub mod driver;
    pub mod process;
    pub mod usage;
}

use std::process::Command;

use common::driver::Driver;
use common::process::bin;
use common::usage::assert_usage_error;
use serde_json::Value;
use transport_bench::system::placement::allowed_cpus;

/// Runs the driver with `args` and a JSON export; returns its stdout and the parsed export.
fn run_with_json(args: &[&str]) -> (String, Value) {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--export-json", json.to_str().unwrap()]);
    let driver = Driver::start(&all);
    let (status, stdout, stderr) = driver.finish_clean();
    assert!(status.success(), "{stdout}\n{stderr}");
    let doc = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (stdout, doc)
}

fn cpus(value: &Value) -> Vec<u64> {
    let list = value.as_array().expect("a list of CPUs");
    list.iter().map(|cpu| cpu.as_u64().unwrap()).collect()
}

const SMALL_RUN: [&str; 6] = [
    "--iterations",
    "300",
    "--sizes",
    "small",
    "--transports",
    "shm-posix,unix-stream",
];

#[test]
fn pinned_peers_run_where_they_were_put_and_the_exports_say_so() {
    let allowed = allowed_cpus().unwrap();
    let modes: &[&str] = if allowed.len() > 1 {
        &["same", "split"]
    } else {
        &["same"]
    };
    for &mode in modes {
        let mut args = SMALL_RUN.to_vec();
        args.extend(["--pin", mode]);
        let (stdout, doc) = run_with_json(&args);
        let pin = &doc["config"]["pin"];
        assert_eq!(pin["mode"], mode);
        let (driver, server) = (pin["driver_cpu"].as_u64(), pin["server_cpu"].as_u64());
        let line = format!(
            "Placement: client on CPU {}, server on CPU {} (--pin {mode})",
            driver.unwrap(),
            server.unwrap()
        );
        assert_eq!(
            stdout.matches(&line).count(),
            2,
            "header and summary:\n{stdout}"
        );
        for result in doc["results"].as_array().unwrap() {
            let placement = &result["placement"];
            assert_eq!(cpus(&placement["driver_cpus"]), [driver.unwrap()]);
            assert_eq!(cpus(&placement["server_cpus"]), [server.unwrap()]);
            let share = if mode == "same" { 1.0 } else { 0.0 };
            assert_eq!(placement["same_cpu_share"], share, "{placement}");
            let switches = &placement["server_switches_per_round_trip"]["voluntary"];
            assert!(switches.as_f64().is_some(), "{placement}");
        }
    }
}

#[test]
fn pins_the_machine_cannot_serve_are_usage_errors() {
    assert_usage_error(&["--pin", "0,99999"], "CPU 99999 is not among");
    assert_usage_error(&["--pin", "fast"], "--pin");
    assert_usage_error(&["--pin", "1,"], "--pin");
    // Restricted to one CPU, as `taskset -c 0` would: split has nowhere to go.
    let only = allowed_cpus().unwrap()[0];
    let mut command = Command::new(bin());
    command.args(["--pin", "split"]);
    // SAFETY: sched_setaffinity touches only the child, between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            let mut set = nix::sched::CpuSet::new();
            set.set(only).map_err(std::io::Error::from)?;
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                .map_err(std::io::Error::from)
        });
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("split needs two CPUs"), "{stderr}");
}

#[test]
fn runs_of_the_transports_are_interleaved() {
    let mut args = SMALL_RUN.to_vec();
    args.extend(["--runs", "2"]);
    let (stdout, doc) = run_with_json(&args);
    let labels: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("Running"))
        .collect();
    assert_eq!(
        labels,
        [
            "[1/2] Running SHM POSIX benchmark (run 1/2)...",
            "[2/2] Running Unix stream benchmark (run 1/2)...",
            "[1/2] Running SHM POSIX benchmark (run 2/2)...",
            "[2/2] Running Unix stream benchmark (run 2/2)...",
        ]
    );
    for result in doc["results"].as_array().unwrap() {
        assert_eq!(result["runs"].as_array().unwrap().len(), 2);
    }
    assert!(stdout.contains("SHM POSIX: 2 runs: median"), "{stdout}");
}

#[test]
fn paced_runs_count_latency_from_the_intended_send_time() {
    let (stdout, doc) = run_with_json(&[
        "--iterations",
        "30",
        "--warmup",
        "3",
        "--sizes",
        "small",
        "--transports",
        "shm-posix",
        "--interval",
        "2ms",
    ]);
    assert!(stdout.contains("Paced: one request every 2ms"), "{stdout}");
    assert_eq!(doc["config"]["interval_s"], 0.002);
    let result = &doc["results"][0];
    let (latency, service) = (&result["latency_us"], &result["service_us"]);
    // From the intended send time is never less than from the actual one, sample by sample.
    for key in ["min", "p50", "max"] {
        let (l, s) = (
            latency[key].as_f64().unwrap(),
            service[key].as_f64().unwrap(),
        );
        assert!(l >= s, "{key}: latency {l} < service {s}");
    }
    assert!(result["behind_schedule"].as_u64().is_some(), "{result}");
    // The last of 30 slots starts 29 intervals after the first.
    assert!(
        result["total_s"].as_f64().unwrap() >= 29.0 * 0.002,
        "{result}"
    );
}
