//! HdrHistogram's own formats and the HTML report, from a real short run: the V2 histograms in
//! the JSON decode (with the hdrhistogram crate here, and with HdrHistogram's Python package in
//! the ignored test, which needs `scripts/setup-python-compat.sh`) to the count and percentiles
//! the JSON states; `--export-hgrm` writes one percentile distribution per case; and
//! `--export-html` is one well-formed page with the table and the plot.

mod common {
    pub mod driver;
    pub mod process;
}

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::driver::Driver;
use serde_json::Value;
use transport_bench::report::hdr;

const PERCENTILES: [(&str, f64); 4] = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9)];

/// A short run of two transports at two sizes, two runs each, with every export of this file,
/// in `dir`; returns the parsed JSON report.
fn real_run(dir: &Path) -> Value {
    let json = dir.join("r.json");
    let driver = Driver::start(&[
        "--iterations",
        "200",
        "--warmup",
        "5",
        "--runs",
        "2",
        "--sizes",
        "100,10KB",
        "--transports",
        "shm-posix,unix-stream",
        "--export-json",
        json.to_str().unwrap(),
        "--export-hgrm",
        dir.join("hgrm").to_str().unwrap(),
        "--export-html",
        dir.join("r.html").to_str().unwrap(),
    ]);
    let (status, out, err) = driver.finish_clean();
    assert!(status.success(), "{out}\n{err}");
    serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap()
}

/// A latency the JSON states (µs) and one a decoder gives (ns, clamped to the exact minimum
/// and maximum as the JSON's are) agree within the histogram's resolution (3 digits).
fn assert_close(json_us: f64, decoded_ns: f64, what: &str) {
    let decoded_us = decoded_ns / 1000.0;
    assert!(
        (json_us - decoded_us).abs() <= json_us * 2e-3 + 1e-3,
        "{what}: JSON {json_us} µs, decoded {decoded_us} µs"
    );
}

/// The JSON's figures of one result: count, min, max and percentiles in µs.
fn stated(result: &Value) -> (u64, f64, f64, Vec<f64>) {
    let latency = &result["latency_us"];
    (
        result["iterations"].as_u64().unwrap(),
        latency["min"].as_f64().unwrap(),
        latency["max"].as_f64().unwrap(),
        PERCENTILES
            .iter()
            .map(|(key, _)| latency[key].as_f64().unwrap())
            .collect(),
    )
}

#[test]
fn the_v2_histograms_decode_to_the_jsons_figures_and_each_case_has_its_hgrm_and_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let report = real_run(dir.path());
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for result in results {
        let (count, min, max, percentiles) = stated(result);
        let case = hdr::decode_v2(result["hdr_histogram_v2"].as_str().unwrap()).unwrap();
        assert_eq!(case.len(), count);
        for ((key, p), json_us) in PERCENTILES.iter().zip(&percentiles) {
            let ns = (case.value_at_percentile(*p) as f64).clamp(min * 1000.0, max * 1000.0);
            assert_close(*json_us, ns, key);
        }
        let runs = result["runs_hdr_histogram_v2"].as_array().unwrap();
        assert_eq!(runs.len(), 2);
        let run_counts: u64 = runs
            .iter()
            .map(|v2| hdr::decode_v2(v2.as_str().unwrap()).unwrap().len())
            .sum();
        assert_eq!(run_counts, count, "the runs add up to the case");
        assert!(result["hdr_histogram_v2_note"].is_null());

        let name = format!(
            "{}_{}B_round-trip.hgrm",
            result["transport"].as_str().unwrap(),
            result["size_bytes"]
        );
        let hgrm = std::fs::read_to_string(dir.path().join("hgrm").join(&name)).unwrap();
        assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
        assert!(
            hgrm.contains(&format!("Total count    = {count:12}]")),
            "{name}: {hgrm}"
        );
        assert!(hgrm.contains("#[Buckets = "), "{hgrm}");
    }
    let entries = std::fs::read_dir(dir.path().join("hgrm")).unwrap().count();
    assert_eq!(entries, 4, "one .hgrm per case, and no temporary file left");

    let page = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&page, options).unwrap();
    let table = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("summary"))
        .expect("the summary table");
    let rows = table.descendants().filter(|n| n.has_tag_name("tr")).count();
    assert_eq!(rows, 1 + 4);
    let svg = doc.descendants().find(|n| n.has_tag_name("svg")).unwrap();
    assert!(svg
        .descendants()
        .any(|n| n.has_tag_name("polyline") || n.has_tag_name("path")));
    // Nothing from elsewhere: one inline script (the table's sorting), no link.
    let scripts: Vec<_> = (doc.descendants())
        .filter(|n| n.has_tag_name("script"))
        .collect();
    assert_eq!(scripts.len(), 1);
    assert_eq!(scripts[0].attribute("src"), None);
    assert!(!page.contains("<link"));
    assert_eq!(table.attribute("class"), Some("sortable"));
}

/// `.venv-compat`'s Python; the test that needs it fails without it.
fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-compat/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/setup-python-compat.sh first",
        venv.display()
    );
    venv
}

#[test]
#[ignore = "needs HdrHistogram's Python package: scripts/setup-python-compat.sh"]
fn hdrhistograms_python_package_decodes_the_v2_histograms_to_the_jsons_figures() {
    let dir = tempfile::tempdir().unwrap();
    let report = real_run(dir.path());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/hdr_decode.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &report).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        4 * (1 + 2),
        "each case's histogram and its two runs'"
    );
    for result_index in 0..4 {
        let result = &report["results"][result_index];
        let (count, min, max, percentiles) = stated(result);
        let decoded: Vec<&Value> = lines
            .iter()
            .filter(|l| l["result"] == result_index)
            .collect();
        let case = decoded.iter().find(|l| l["where"] == "case").unwrap();
        assert_eq!(case["count"].as_u64(), Some(count));
        let runs: u64 = decoded
            .iter()
            .filter(|l| l["where"] != "case")
            .map(|l| l["count"].as_u64().unwrap())
            .sum();
        assert_eq!(runs, count);
        for (i, json_us) in percentiles.iter().enumerate() {
            let ns = case["percentiles_ns"][i].as_f64().unwrap();
            assert_close(
                *json_us,
                ns.clamp(min * 1000.0, max * 1000.0),
                PERCENTILES[i].0,
            );
        }
        assert_close(min, case["min_ns"].as_f64().unwrap(), "min");
        assert_close(
            max,
            case["max_ns"].as_f64().unwrap().min(max * 1000.0),
            "max",
        );
    }
}
