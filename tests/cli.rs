//! The binary from the outside: usage errors, help, and end-to-end runs with every export.

mod common {
    pub mod driver;
    pub mod process;
    pub mod summary;
    pub mod usage;
}

use assert_cmd::Command;
use common::driver::Driver;
use common::process::PATIENCE;
use common::summary::SummaryTable;
use common::usage::assert_usage_error;
use predicates::prelude::*;

fn tb() -> Command {
    let mut cmd = Command::cargo_bin("transport-bench").unwrap();
    cmd.timeout(PATIENCE);
    cmd
}

#[test]
fn bad_values_exit_2_naming_the_flag_and_start_nothing() {
    let cases: &[(&[&str], &str)] = &[
        (&["--iterations", "0"], "--iterations"),
        (&["--iterations", "-5"], "--iterations"),
        (&["--iterations", "lots"], "--iterations"),
        (&["--warmup", "x"], "--warmup"),
        (&["--runs", "0"], "--runs"),
        (&["--sizes", ""], "--sizes"),
        (&["--sizes", "small,,big"], "--sizes"),
        (&["--sizes", "0"], "--sizes"),
        (&["--sizes", "huge"], "--sizes"),
        (&["--sizes", "12XB"], "--sizes"),
        (&["--sizes", "small,100"], "--sizes"),
        (&["--transports", "carrier-pigeon"], "--transports"),
        (&["--transports", "shm-posix,"], "--transports"),
        (&["--timeout", "0s"], "--timeout"),
        (&["--timeout", "soon"], "--timeout"),
        (&["--buffer-size", "0"], "--buffer-size"),
        (
            &["--sizes", "1000", "--buffer-size", "1003"],
            "--buffer-size",
        ),
        (
            &["--transports", "shm-posix", "--baseline", "zmq-ipc"],
            "--baseline",
        ),
        (&["--bogus"], "--bogus"),
        (&["cleanup", "--channel", "a/b"], "--channel"),
        (&["cleanup", "--channel", "x", "--all"], "--all"),
    ];
    for (args, flag) in cases {
        assert_usage_error(args, flag);
    }
}

#[test]
fn unwritable_export_path_is_a_usage_error_before_anything_starts() {
    tb().args([
        "--iterations",
        "10",
        "--export-json",
        "/nonexistent-dir/x.json",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("/nonexistent-dir/x.json"))
    .stdout(predicate::str::is_empty());
}

#[test]
fn help_documents_options_and_hides_server_mode() {
    tb().arg("--help").assert().success().stdout(
        predicate::str::contains("--iterations")
            .and(predicate::str::contains("--sizes"))
            .and(predicate::str::contains("--transports"))
            .and(predicate::str::contains("--export-json"))
            .and(predicate::str::contains("--plot"))
            .and(predicate::str::contains("cleanup"))
            .and(predicate::str::contains("--server").not())
            .and(predicate::str::contains("--inject-server-fault").not()),
    );
}

#[test]
fn end_to_end_run_prints_the_seed_style_report() {
    let driver = Driver::start(&[
        "--iterations",
        "200",
        "--warmup",
        "20",
        "--sizes",
        "small,10KiB",
    ]);
    let (status, out, err) = driver.finish_clean();
    assert!(status.success(), "exit {status:?}\n{out}\n{err}");
    for expected in [
        "Transport Layer Benchmark",
        "Iterations per test: 200 (warm-up: 20)",
        "Process-to-Process (raw byte arrays)",
        "Cleaning up any leftover resources...",
        "Testing SMALL messages (100 bytes)",
        "Testing 10 KiB messages (10240 bytes)",
        "[1/2] Running SHM POSIX benchmark...",
        "[2/2] Running ZeroMQ IPC benchmark...",
        "Completed in",
        "OVERALL SUMMARY",
        "full round trips",
        "baseline",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains('\u{1b}'), "escape codes in piped output");
    let summary = out.split("OVERALL SUMMARY").nth(1).unwrap();
    assert!(summary.contains("Relative to SHM POSIX."), "{summary}");
    assert!(summary.contains("Placement: unpinned"), "{summary}");
    let table = SummaryTable::parse(&out);
    assert_eq!(table.row_count(), 4, "{summary}");
    for size in ["100 B", "10 KiB"] {
        assert_eq!(table.cell(size, "SHM POSIX", "vs baseline"), "baseline");
        let relative = table.cell(size, "ZeroMQ IPC", "vs baseline");
        assert!(
            is_relative_difference(relative),
            "{relative:?} in:\n{summary}"
        );
    }
}

/// Whether `text` reads `<number>% slower` or `<number>% faster`: which one a run prints
/// depends on the machine, so a test checks only the form.
fn is_relative_difference(text: &str) -> bool {
    let number = text
        .strip_suffix("% slower")
        .or_else(|| text.strip_suffix("% faster"));
    number.is_some_and(|n| n.parse::<f64>().is_ok_and(|n| n >= 0.0))
}

#[test]
fn end_to_end_with_runs_and_every_export() {
    let out_dir = tempfile::tempdir().unwrap();
    let path = |name: &str| out_dir.path().join(name).to_string_lossy().into_owned();
    let (json, csv, md, svg) = (path("r.json"), path("r.csv"), path("r.md"), path("r.svg"));
    let driver = Driver::start(&[
        "--iterations",
        "150",
        "--warmup",
        "10",
        "--runs",
        "2",
        "--sizes",
        "small,4KiB",
        "--export-json",
        &json,
        "--export-csv",
        &csv,
        "--export-markdown",
        &md,
        "--plot",
        &svg,
    ]);
    let (status, out, err) = driver.finish_clean();
    assert!(status.success(), "exit {status:?}\n{out}\n{err}");
    assert!(out.contains("(run 2/2)"), "{out}");

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["tool"], "transport-bench");
    assert_eq!(doc["state"], "complete");
    assert_eq!(doc["config"]["runs"], 2);
    assert_eq!(doc["config"]["iterations"], 150);
    assert_eq!(doc["config"]["sizes"], serde_json::json!([100, 4096]));
    assert_eq!(
        doc["config"]["transports"],
        serde_json::json!(["shm-posix", "zmq-ipc"])
    );
    assert!(doc["clock_overhead_ns"].as_f64().unwrap() > 0.0);
    assert!(doc["machine"]["cores"].as_u64().unwrap() >= 1);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        assert_eq!(r["status"], "ok", "{r}");
        assert!(r["error"].is_null());
        assert_eq!(r["iterations"], 300, "two runs of 150");
        assert_eq!(r["runs"].as_array().unwrap().len(), 2);
        let l = &r["latency_us"];
        let chain: Vec<f64> = ["min", "p50", "p90", "p99", "p999", "max"]
            .iter()
            .map(|k| l[k].as_f64().unwrap())
            .collect();
        assert!(chain.windows(2).all(|w| w[0] <= w[1]), "{chain:?}");
        let mean = l["mean"].as_f64().unwrap();
        assert!(chain[0] <= mean && mean <= chain[5]);
        let (iters, total) = (
            r["iterations"].as_f64().unwrap(),
            r["total_s"].as_f64().unwrap(),
        );
        let ops = r["ops_per_s"].as_f64().unwrap();
        assert!((ops - iters / total).abs() <= 1e-6 * ops);
        let size = r["size_bytes"].as_f64().unwrap();
        assert!((r["mb_per_s"].as_f64().unwrap() - ops * size / 1e6).abs() <= 1e-6 * ops * size);
        let median = r["runs_median_us"].as_f64().unwrap();
        assert!(r["runs_min_us"].as_f64().unwrap() <= median);
        assert!(median <= r["runs_max_us"].as_f64().unwrap());
    }

    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(csv_text.lines().count(), 1 + 4);
    let md_text = std::fs::read_to_string(&md).unwrap();
    assert_eq!(
        md_text.lines().filter(|l| l.starts_with('|')).count(),
        2 + 4
    );
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    let svg_doc = roxmltree::Document::parse(&svg_text).unwrap();
    let texts: Vec<&str> = svg_doc.descendants().filter_map(|n| n.text()).collect();
    assert!(texts.iter().any(|t| t.trim() == "SHM POSIX"));
    assert!(texts.iter().any(|t| t.trim() == "ZeroMQ IPC"));
    assert!(texts.iter().any(|t| t.trim() == "100 B"));
}

#[test]
fn one_transport_and_custom_baseline() {
    let driver = Driver::start(&[
        "--iterations",
        "100",
        "--sizes",
        "1KB",
        "--transports",
        "zmq-ipc",
    ]);
    let (status, out, err) = driver.finish_clean();
    assert!(status.success(), "{out}\n{err}");
    assert!(
        out.contains("[1/1] Running ZeroMQ IPC benchmark..."),
        "{out}"
    );
    assert!(!out.contains("SHM POSIX benchmark"), "{out}");
    assert!(out.contains("Relative to ZeroMQ IPC"), "{out}");
}

#[test]
fn all_transports_run_end_to_end() {
    let driver = Driver::start(&[
        "--iterations",
        "100",
        "--sizes",
        "small,64KiB",
        "--transports",
        "all",
    ]);
    let (status, out, err) = driver.finish_clean();
    assert!(status.success(), "{out}\n{err}");
    for line in [
        "[1/6] Running SHM POSIX benchmark...",
        "[2/6] Running ZeroMQ IPC benchmark...",
        "[3/6] Running Unix stream benchmark...",
        "[4/6] Running SHM spin benchmark...",
        "[5/6] Running Pipe benchmark...",
        "[6/6] Running TCP loopback benchmark...",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let table = SummaryTable::parse(&out);
    assert_eq!(table.row_count(), 12, "{out}");
    for size in ["100 B", "64 KiB"] {
        for transport in [
            "SHM POSIX",
            "ZeroMQ IPC",
            "Unix stream",
            "SHM spin",
            "Pipe",
            "TCP loopback",
        ] {
            // Every case has a row, with a measured mean.
            let mean = table.cell(size, transport, "Mean (µs/call)");
            let number = mean.replace(',', "");
            assert!(
                number.parse::<f64>().is_ok(),
                "{size} {transport}: {mean:?}"
            );
        }
    }
}
