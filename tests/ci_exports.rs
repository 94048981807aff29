//! What a CI job reads from a real short run: the JSON's `provenance` (start time, command
//! line, build, `--label`, and the host name only when asked), and the continuous-benchmarking
//! exports, `--export-bencher` (Bencher Metric Format) and `--export-benchmark-action`
//! (github-action-benchmark's customSmallerIsBetter), checked against each format's documented
//! shape and against the JSON's own figures; a case that failed appears in neither.

mod common {
    pub mod driver;
    pub mod process;
}

use std::path::Path;

use common::driver::Driver;
use serde_json::Value;

fn read(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Two transports at 100 B, three runs each, unix-stream's servers made to exit at round trip
/// 10 so that its case fails; every file this test reads, in `dir`.
fn real_run(dir: &Path, extra: &[&str]) -> (Value, Value, Value) {
    let paths = ["r.json", "bmf.json", "gab.json"].map(|name| dir.join(name));
    let [json, bencher, action] = paths.each_ref().map(|p| p.to_str().unwrap());
    let mut args = vec![
        "--iterations",
        "50",
        "--warmup",
        "5",
        "--runs",
        "3",
        "--sizes",
        "100",
        "--transports",
        "pipe,unix-stream",
        "--inject-server-fault",
        "unix-stream:exit@10",
        "--export-json",
        json,
        "--export-bencher",
        bencher,
        "--export-benchmark-action",
        action,
    ];
    args.extend_from_slice(extra);
    let (status, out, err) = Driver::start(&args).finish_clean();
    assert_eq!(status.code(), Some(1), "a case failed: {out}\n{err}");
    (read(&paths[0]), read(&paths[1]), read(&paths[2]))
}

/// Bencher's BMF JSON Schema: an object of benchmarks, each an object of measures, each a
/// metric with a number `value` and optional number `lower_value` and `upper_value`.
fn assert_is_bmf(document: &Value) {
    for (name, measures) in document.as_object().expect("BMF is an object") {
        for (measure, metric) in measures.as_object().expect("measures are an object") {
            let metric = metric.as_object().expect("a metric is an object");
            assert!(metric["value"].is_number(), "{name}.{measure}");
            for (key, value) in metric {
                assert!(["value", "lower_value", "upper_value"].contains(&key.as_str()));
                assert!(value.is_number(), "{name}.{measure}.{key}");
            }
        }
    }
}

/// github-action-benchmark's entry: `name`, `unit` (strings) and `value` (a number) required,
/// `range` and `extra` (strings) optional, nothing else.
fn assert_is_custom_smaller_is_better(document: &Value) {
    for entry in document.as_array().expect("an array of entries") {
        let entry = entry.as_object().expect("an entry is an object");
        for required in ["name", "unit", "value"] {
            assert!(entry.contains_key(required), "{required}: {entry:?}");
        }
        for (key, value) in entry {
            match key.as_str() {
                "value" => assert!(value.is_number()),
                "name" | "unit" | "range" | "extra" => assert!(value.is_string(), "{key}"),
                other => panic!("{other} is not a field of customSmallerIsBetter"),
            }
        }
    }
}

#[test]
fn the_exports_carry_each_completed_case_in_its_format_and_leave_a_failed_one_out() {
    let dir = tempfile::tempdir().unwrap();
    let (report, bencher, action) = real_run(dir.path(), &[]);
    let results = report["results"].as_array().unwrap();
    let pipe = results.iter().find(|r| r["transport"] == "pipe").unwrap();
    let failed = results
        .iter()
        .find(|r| r["transport"] == "unix-stream")
        .unwrap();
    assert_eq!(
        (pipe["status"].as_str(), failed["status"].as_str()),
        (Some("ok"), Some("failed"))
    );

    assert_is_bmf(&bencher);
    let benchmarks = bencher.as_object().unwrap();
    assert_eq!(
        benchmarks.keys().collect::<Vec<_>>(),
        ["pipe/100B/round-trip"]
    );
    let latency = &bencher["pipe/100B/round-trip"]["latency"];
    let mean_ns = pipe["latency_us"]["mean"].as_f64().unwrap() * 1e3;
    assert!((latency["value"].as_f64().unwrap() - mean_ns).abs() < 1e-6 * mean_ns);
    let (lower, upper) = (
        latency["lower_value"].as_f64().unwrap(),
        latency["upper_value"].as_f64().unwrap(),
    );
    assert!(lower < upper, "three runs give an interval: {latency}");
    let throughput = bencher["pipe/100B/round-trip"]["throughput"]["value"]
        .as_f64()
        .unwrap();
    assert_eq!(throughput, pipe["ops_per_s"].as_f64().unwrap());

    assert_is_custom_smaller_is_better(&action);
    let entries = action.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{action}");
    assert_eq!(entries[0]["name"], "pipe/100B/round-trip");
    assert_eq!(entries[0]["unit"], "ns");
    assert_eq!(entries[0]["value"], latency["value"]);
    let range = entries[0]["range"].as_str().unwrap();
    let half_width: f64 = range.strip_prefix("± ").unwrap().parse().unwrap();
    // The bounds are the mean of the run means ± the half width (the lower one cut at 0).
    let expected_lower = (upper - 2.0 * half_width).max(0.0);
    assert!(
        (lower - expected_lower).abs() <= 0.2,
        "{range}: {lower}..{upper}"
    );
}

#[test]
fn the_report_says_when_how_and_from_which_build_it_was_made() {
    let dir = tempfile::tempdir().unwrap();
    let (report, ..) = real_run(dir.path(), &["--label", "nightly job 7"]);
    let provenance = &report["provenance"];
    let started = provenance["started_at"].as_str().unwrap();
    assert!(
        humantime::parse_rfc3339(started).is_ok() && started.ends_with('Z'),
        "{started}"
    );
    let command_line: Vec<&str> = (provenance["command_line"].as_array().unwrap().iter())
        .map(|arg| arg.as_str().unwrap())
        .collect();
    assert!(
        command_line[0].ends_with("transport-bench"),
        "{command_line:?}"
    );
    assert!(command_line
        .windows(2)
        .any(|w| w == ["--label", "nightly job 7"]));
    assert_eq!(provenance["label"], "nightly job 7");
    assert!(
        provenance["hostname"].is_null(),
        "only when asked: {provenance}"
    );
    // From a checkout, the commit of HEAD when it was built; from a tarball, none.
    if Path::new(env!("CARGO_MANIFEST_DIR")).join(".git").exists() {
        let revision = provenance["git_revision"]
            .as_str()
            .expect("built from a checkout");
        assert!(revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(provenance["git_dirty"].is_boolean(), "{provenance}");
    } else {
        assert!(provenance["git_revision"].is_null(), "{provenance}");
    }

    let (asked, ..) = real_run(dir.path(), &["--record-hostname"]);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(asked["provenance"]["hostname"], hostname.trim());
    assert!(asked["provenance"]["label"].is_null());
}
