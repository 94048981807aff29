//! Time-bounded cases (`--duration`) in every pattern, and runs until confident
//! (`--runs auto`), through the real binary: what the JSON says of them, that the two agree
//! with each other and with the counts, and the usage errors of their options. Nothing is timed
//! but the one sense check of the mechanism: a one-second case's timed loop lasts about a
//! second (at least one, well under ten).

mod common {
    pub mod driver;
    pub mod process;
    pub mod usage;
}

use common::driver::Driver;
use common::usage::assert_usage_error;
use serde_json::Value;

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

fn number(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key}: {value}"))
}

/// Every pattern's one-second case: its timed loop lasted at least the second and well under
/// ten, it counted round trips (or acknowledged messages), and its figures agree with the count.
#[test]
fn a_one_second_case_lasts_about_a_second_in_every_pattern() {
    let patterns: [&[&str]; 5] = [
        &[],
        &["--pattern", "stream"],
        &["--in-flight", "4"],
        &["--pairs", "2"],
        &["--interval", "1ms"],
    ];
    for pattern in patterns {
        let base = ["--duration", "1s", "--transports", "pipe", "--sizes", "100"];
        let args = [&base[..], &["--warmup", "10"], pattern].concat();
        let (status, out, report) = run(&args);
        assert!(status.success(), "{args:?}: {out}");
        assert!(out.contains("Duration per test: 1s"), "{out}");
        let config = &report["config"];
        assert_eq!(number(config, "duration_s"), 1.0, "{config}");
        assert!(config["iterations"].is_null(), "{config}");
        let result = &report["results"][0];
        assert_eq!(result["status"], "ok", "{args:?}: {result}");
        let (count, total_s) = (number(result, "iterations"), number(result, "total_s"));
        assert!(count >= 1.0, "{args:?}: {result}");
        assert!((1.0..10.0).contains(&total_s), "{args:?}: {total_s} s");
        let ops = number(result, "ops_per_s");
        assert!((ops - count / total_s).abs() <= 1e-6 * ops, "{result}");
        let per_pair = result["per_pair"].as_array().unwrap();
        if !per_pair.is_empty() {
            let sum: f64 = per_pair.iter().map(|p| number(p, "iterations")).sum();
            assert_eq!(sum, count, "{result}");
        }
        if pattern.contains(&"--interval") {
            // One request a millisecond for a second: about a thousand, never more than the
            // slots that fit (and the one in flight at the end).
            assert!(count <= 1001.0, "{result}");
        }
    }
}

/// With a target no run means meet, `--runs auto` stops every case at `--max-runs`, and says
/// it did not reach the target; the fields agree with the runs listed.
#[test]
fn runs_auto_stops_at_the_most_runs_when_the_target_is_out_of_reach() {
    let (status, out, report) = run(&[
        "--runs",
        "auto",
        "--ci-target",
        "0.000001",
        "--min-runs",
        "2",
        "--max-runs",
        "4",
        "--iterations",
        "50",
        "--warmup",
        "5",
        "--transports",
        "pipe,unix-stream",
        "--sizes",
        "100",
    ]);
    assert!(status.success(), "{out}");
    assert!(out.contains("(run 4, at most 4)"), "{out}");
    assert!(!out.contains("(run 5"), "{out}");
    let auto = &report["config"]["runs_auto"];
    assert_eq!(number(auto, "ci_target_pct"), 0.000001, "{auto}");
    assert_eq!(
        (number(auto, "min_runs"), number(auto, "max_runs")),
        (2.0, 4.0)
    );
    for result in report["results"].as_array().unwrap() {
        let confidence = &result["confidence"];
        assert_eq!(result["runs"].as_array().unwrap().len(), 4, "{result}");
        assert_eq!(number(confidence, "runs"), 4.0, "{confidence}");
        assert_eq!(confidence["reached"], false, "{confidence}");
        assert!(
            number(confidence, "half_width_pct") > 0.000001,
            "{confidence}"
        );
        assert_eq!(number(result, "iterations"), 200.0, "{result}");
        assert!(out.contains("not reached in 4 runs"), "{out}");
    }
}

/// A target of ±100% is met in a few runs on any machine, or else the maximum ends the case:
/// whichever happened, the JSON says it consistently.
#[test]
fn runs_auto_stops_at_the_target_or_the_most_and_says_which() {
    let (status, out, report) = run(&[
        "--runs",
        "auto",
        "--ci-target",
        "100",
        "--min-runs",
        "2",
        "--max-runs",
        "6",
        "--iterations",
        "50",
        "--transports",
        "pipe",
        "--sizes",
        "100",
    ]);
    assert!(status.success(), "{out}");
    let result = &report["results"][0];
    let confidence = &result["confidence"];
    let runs = result["runs"].as_array().unwrap().len() as f64;
    assert_eq!(number(confidence, "runs"), runs, "{result}");
    assert!((2.0..=6.0).contains(&runs), "{result}");
    assert_eq!(number(confidence, "target_pct"), 100.0);
    let half_width = number(confidence, "half_width_pct");
    match confidence["reached"].as_bool().unwrap() {
        true => assert!(half_width <= 100.0, "{confidence}"),
        false => assert_eq!(runs, 6.0, "{confidence}"),
    }
    assert_eq!(number(result, "iterations"), 50.0 * runs, "{result}");
}

/// A fixed number of runs has no confidence, and a counted run no duration.
#[test]
fn counted_runs_report_no_duration_and_no_confidence() {
    let (status, out, report) = run(&[
        "--iterations",
        "20",
        "--transports",
        "pipe",
        "--sizes",
        "100",
    ]);
    assert!(status.success(), "{out}");
    assert!(report["config"]["duration_s"].is_null());
    assert!(report["config"]["runs_auto"].is_null());
    assert_eq!(report["config"]["iterations"], 20);
    assert!(report["results"][0]["confidence"].is_null());
}

#[test]
fn bad_durations_and_run_targets_are_usage_errors() {
    let cases: [(&[&str], &str); 12] = [
        (
            &["--iterations", "10", "--duration", "1s"],
            "cannot be used with",
        ),
        (&["--duration", "0s"], "at least 1ms"),
        (&["--duration", "25h"], "at most 24h"),
        (&["--duration", "soon"], "not a duration"),
        (
            &["--runs", "often"],
            "neither a whole number of runs nor auto",
        ),
        (&["--runs", "0"], "at least 1"),
        (
            &["--runs", "auto", "--ci-target", "0"],
            "above 0 and at most 100",
        ),
        (
            &["--runs", "auto", "--ci-target", "150"],
            "above 0 and at most 100",
        ),
        (&["--runs", "auto", "--min-runs", "1"], "at least 2"),
        (
            &["--runs", "auto", "--max-runs", "101"],
            "more than the 100 runs",
        ),
        (
            &["--runs", "auto", "--min-runs", "5", "--max-runs", "4"],
            "--min-runs 5 is more than --max-runs 4",
        ),
        (
            &["--runs", "3", "--ci-target", "5"],
            "--ci-target goes with --runs auto",
        ),
    ];
    for (args, needle) in cases {
        assert_usage_error(args, needle);
    }
    assert_usage_error(
        &["--runs", "auto", "--min-runs", "40"],
        "--min-runs 40 is more than --max-runs 30 (the default)",
    );
    assert_usage_error(&["--max-runs", "4"], "--max-runs goes with --runs auto");
}
