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
use transport_bench::transport::TransportKind;

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
        (&["--spin-budget", "soon"], "--spin-budget"),
        (&["--spin-budget", "11ms"], "at most 10ms"),
        (
            &[
                "--transports",
                "zmq-ipc,unix-stream",
                "--spin-budget",
                "5us",
            ],
            "none of the transports being run spins (it applies to shm-posix, shm-spin, shm-zc, iceoryx2)",
        ),
        (
            &["--timeout", "2ms", "--spin-budget", "2ms"],
            "--spin-budget 2ms must be shorter than --timeout 2ms",
        ),
        (&["cleanup", "--channel", "a/b"], "--channel"),
        (&["cleanup", "--channel", "x", "--all"], "--all"),
        (&["--runs", "101"], "more than the 100 runs a case may have"),
        (&["--runs", "4294967296"], "--runs"),
    ];
    for (args, flag) in cases {
        assert_usage_error(args, flag);
    }
    // Every case is in the report, which plot and compare must read back: at most 256 sizes.
    let many: Vec<String> = (1..=257).map(|n| n.to_string()).collect();
    assert_usage_error(
        &["--sizes", &many.join(",")],
        "257 sizes are more than the 256 a run may have",
    );
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
fn an_hgrm_directory_named_like_a_file_is_refused_and_not_made() {
    let tmp = tempfile::tempdir().unwrap();
    let slip = tmp.path().join("r.json");
    tb().args(["--iterations", "10", "--export-hgrm"])
        .arg(&slip)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("reads as a file"))
        .stdout(predicate::str::is_empty());
    assert!(!slip.exists(), "{} was made", slip.display());
}

#[test]
fn the_header_says_the_machine_in_one_line_and_verbose_gives_every_fact() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let json_arg = json.to_str().unwrap();
    let run = ["--iterations", "20", "--warmup", "2", "--sizes", "100"];
    let run = [
        &run[..],
        &["--transports", "tcp", "--export-json", json_arg],
    ]
    .concat();
    let header = |extra: &[&str]| {
        let (status, out, err) = Driver::start(&[&run[..], extra].concat()).finish_clean();
        assert!(status.success(), "{out}\n{err}");
        out.split("Cleaning up").next().unwrap().to_string()
    };
    let brief = header(&[]);
    let machine_lines: Vec<&str> = (brief.lines())
        .filter(|l| l.starts_with("CPUs:") || l.starts_with("CPU idle:"))
        .collect();
    assert_eq!(machine_lines.len(), 1, "{brief}");
    assert!(machine_lines[0].contains(" usable"), "{brief}");
    for raw in [
        "guest_halt_poll",
        "notsupported",
        "siblings",
        "transparent huge pages",
    ] {
        assert!(!brief.contains(raw), "{raw}: {brief}");
    }
    let verbose = header(&["--verbose"]);
    assert!(
        verbose.lines().any(|l| l.starts_with("CPU idle: driver ")),
        "{verbose}"
    );
    assert!(verbose.contains("transparent huge pages"), "{verbose}");
    // Every fact stays in the JSON, whatever the header shows.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for fact in [
        "cpuidle_driver",
        "haltpoll_parameters",
        "smt_control",
        "smt_siblings_of_cpu0",
    ] {
        assert!(
            report["machine"].get(fact).is_some(),
            "{fact}: {}",
            report["machine"]
        );
    }
}

/// The help as printed for a terminal `columns` wide (clap reads COLUMNS when its output is
/// no terminal).
fn help_at(flag: &str, columns: &str) -> String {
    let output = tb().arg(flag).env("COLUMNS", columns).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn help_at_80_columns_fits_and_splits_no_word() {
    for flag in ["-h", "--help"] {
        let narrow = help_at(flag, "80");
        for line in narrow.lines() {
            assert!(line.chars().count() <= 80, "{flag}: {line:?}");
        }
        // A word broken across two lines (`shm` / `-posix`) would read as two words here.
        let wide = help_at(flag, "1000");
        let words = |text: &str| {
            text.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(words(&narrow), words(&wide), "{flag}:\n{narrow}");
        assert!(
            wide.lines().any(|line| line.chars().count() > 80),
            "{flag} never wrapped"
        );
    }
}

#[test]
fn help_groups_the_options_and_ends_with_examples() {
    let help = help_at("--help", "80");
    let headings = [
        "What to measure:",
        "How to measure:",
        "Placement:",
        "Output and exports:",
        "Peers:",
        "Examples:",
        "Exit status:",
    ];
    let at: Vec<usize> = (headings.iter())
        .map(|h| {
            help.find(&format!("\n{h}\n"))
                .unwrap_or_else(|| panic!("{h}:\n{help}"))
        })
        .collect();
    assert!(at.windows(2).all(|pair| pair[0] < pair[1]), "{help}");
    let section = |from: usize| &help[at[from]..at[from + 1]];
    assert!(section(0).contains("--transports"), "{help}");
    assert!(section(2).contains("--pin"), "{help}");
    assert!(section(3).contains("--export-json"), "{help}");
    assert!(section(4).contains("--connect"), "{help}");
    assert!(
        help.contains("transport-bench --transports all --sizes sweep"),
        "{help}"
    );
    assert!(!help.contains("seed"), "{help}");
}

#[test]
fn help_documents_options_and_hides_server_mode() {
    tb().arg("--help").assert().success().stdout(
        predicate::str::contains("--iterations")
            .and(predicate::str::contains("--sizes"))
            .and(predicate::str::contains("--transports"))
            .and(predicate::str::contains("--export-json"))
            .and(predicate::str::contains("--plot"))
            .and(predicate::str::contains("--spin-budget"))
            .and(predicate::str::contains("shm-zc"))
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

/// The CPUs the two processes can use between them: no case can spend more CPU time than its
/// wall time on each of them.
fn cpus_in_use() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

#[test]
fn every_transports_cpu_figures_make_sense() {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("r.json").to_string_lossy().into_owned();
    let args = [
        "--transports",
        "all",
        "--sizes",
        "100",
        "--iterations",
        "200",
    ];
    let driver = Driver::start(&[&args[..], &["--runs", "2", "--export-json", &json]].concat());
    let (status, out, err) = driver.finish_clean();
    assert!(status.success(), "exit {status:?}\n{out}\n{err}");
    assert!(out.contains("CPU (µs/call)"), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), TransportKind::all().len());
    for r in results {
        let (name, cpu) = (&r["transport"], &r["cpu"]);
        let figure = |key: &str| {
            let value = cpu[key].as_f64();
            assert!(value.is_some_and(|v| v > 0.0), "{name}: cpu.{key} = {cpu}");
            value.unwrap()
        };
        let (driver_us, server_us) = (
            figure("driver_us_per_round_trip"),
            figure("server_us_per_round_trip"),
        );
        let (driver_cpus, server_cpus) = (figure("driver_cpus"), figure("server_cpus"));
        // CPU time over wall time: never more than every CPU busy for the whole time, with a
        // millisecond per run for the clock reads around each timed loop.
        let total_s = r["total_s"].as_f64().unwrap();
        let most = cpus_in_use() * (total_s + 2.0 * 1e-3) / total_s;
        assert!(
            driver_cpus + server_cpus <= most,
            "{name}: {cpu}, at most {most}"
        );
        // Per round trip and as CPUs busy, the same CPU time.
        let iterations = r["iterations"].as_f64().unwrap();
        let busy = |us: f64| us * iterations / 1e6 / total_s;
        assert!((busy(driver_us) - driver_cpus).abs() <= 1e-6 * driver_cpus.max(1.0));
        assert!((busy(server_us) - server_cpus).abs() <= 1e-6 * server_cpus.max(1.0));
    }
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
fn a_run_whose_every_case_is_skipped_measured_nothing_and_exits_1() {
    // One byte over the kernel's largest queue message: the only case is skipped.
    let limit: usize = std::fs::read_to_string("/proc/sys/fs/mqueue/msgsize_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let size = (limit + 1).to_string();
    let driver = Driver::start(&["--sizes", &size, "--transports", "mqueue"]);
    let (status, out, err) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("skipped: larger than msgsize_max"), "{out}");
    assert!(
        err.contains("error: no case was measured: every case was skipped"),
        "{err}"
    );
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
    assert!(
        status.success(),
        "a skipped case is no failure: {out}\n{err}"
    );
    let all = TransportKind::all();
    for (number, kind) in all.iter().enumerate() {
        let line = format!(
            "[{}/{}] Running {} benchmark...",
            number + 1,
            all.len(),
            kind.display_name()
        );
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }
    for line in [
        "POSIX mqueue benchmark skipped: larger than msgsize_max",
        "POSIX mqueue at 64 KiB: skipped: larger than msgsize_max",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let table = SummaryTable::parse(&out);
    assert_eq!(table.row_count(), 2 * all.len(), "{out}");
    assert_eq!(
        table.cell("64 KiB", "POSIX mqueue", "Total time"),
        "skipped"
    );
    for size in ["100 B", "64 KiB"] {
        for transport in all.iter().map(|kind| kind.display_name()) {
            if (size, transport) == ("64 KiB", "POSIX mqueue") {
                continue; // skipped, as checked above
            }
            // Every other case has a row, with a measured mean.
            let mean = table.cell(size, transport, "Mean (µs/call)");
            let number = mean.replace(',', "");
            assert!(
                number.parse::<f64>().is_ok(),
                "{size} {transport}: {mean:?}"
            );
        }
    }
}

/// The spin budget of each transport that spins, as a run's JSON config and header state it.
fn spin_budgets_of_a_run(extra: &[&str]) -> (serde_json::Value, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("r.json");
    let mut args = vec![
        "--iterations",
        "50",
        "--warmup",
        "5",
        "--sizes",
        "small",
        "--export-json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (status, out, err) = Driver::start(&args).finish_clean();
    assert!(status.success(), "{out}\n{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let line = out.lines().find(|l| l.starts_with("Spin budget: "));
    (
        doc["config"]["spin_budget_us"].clone(),
        line.unwrap_or("").to_string(),
    )
}

#[test]
fn the_spin_budget_of_each_spinning_transport_is_in_the_header_and_the_json() {
    let (given, line) = spin_budgets_of_a_run(&[
        "--transports",
        "shm-zc,zmq-ipc,shm-posix",
        "--spin-budget",
        "5us",
    ]);
    assert_eq!(given, serde_json::json!({"shm-posix": 5.0, "shm-zc": 5.0}));
    assert!(
        line.starts_with("Spin budget: SHM POSIX 5 µs, SHM zero-copy 5 µs"),
        "{line}"
    );
    let (defaults, line) = spin_budgets_of_a_run(&["--transports", "shm-spin,shm-posix"]);
    assert_eq!(
        defaults,
        serde_json::json!({"shm-posix": 0.0, "shm-spin": 20.0})
    );
    assert!(
        line.starts_with("Spin budget: SHM POSIX 0 µs, SHM spin 20 µs"),
        "{line}"
    );
}
