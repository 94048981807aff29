//! `transport-bench compare BASE.json NEW.json` on reports written by the tool itself
//! (`tests/fixtures/compare-*.json`: real `--runs 3` and `--runs 1` runs of shm-posix and
//! unix-stream at 100 B, and one with other `--iterations` and transports), and on hostile
//! input: exit 0, 1 (the `--fail-above` gate) or 2, never a panic.

mod common {
    pub mod driver;
    pub mod planted;
    pub mod process;
    pub mod subcommand;
    pub mod usage;
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::driver::Driver;
use common::planted::{Planted, What};
use common::process::bin;
use common::subcommand::run_bounded;
use common::usage::assert_usage_error;
use serde_json::Value;
use transport_bench::report::schema::SCHEMA_VERSION;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn compare(base: &Path, new: &Path, extra: &[&str]) -> Output {
    Command::new(bin())
        .arg("compare")
        .args([base, new])
        .args(extra)
        .output()
        .expect("running the binary")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn read_fixture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

/// `document` written to `name` in `dir`.
fn write(dir: &Path, name: &str, document: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(document).unwrap()).unwrap();
    path
}

#[test]
fn a_report_against_itself_changes_nothing_and_passes_any_gate() {
    let base = fixture("compare-base.json");
    let output = compare(&base, &base, &["--fail-above", "1"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    for case in ["shm-posix", "unix-stream"] {
        let row = stdout.lines().find(|l| l.contains(case)).unwrap();
        assert!(
            row.contains("+0.0%") && row.contains("within noise"),
            "{row}"
        );
    }
    assert!(!stdout.contains("warning"), "{stdout}");
}

#[test]
fn the_report_this_build_writes_compares_with_the_fixtures() {
    // Guards against the schema drifting from what `compare` reads: a fresh, tiny run.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("fresh.json");
    let driver = Driver::start(&[
        "--iterations",
        "50",
        "--warmup",
        "5",
        "--runs",
        "3",
        "--sizes",
        "100",
        "--transports",
        "unix-stream",
        "--export-json",
        json.to_str().unwrap(),
    ]);
    let (status, out, err) = driver.finish_clean();
    assert!(status.success(), "{out}\n{err}");
    let fresh: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(fresh["schema_version"], SCHEMA_VERSION);
    // The fixtures were written before the field: version 1 against this build's version.
    assert!(read_fixture("compare-base.json")["schema_version"].is_null());
    let itself = compare(&json, &json, &["--fail-above", "0"]);
    let (stdout, stderr) = text(&itself);
    assert_eq!(itself.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("within noise"), "{stdout}");
    let output = compare(&fixture("compare-base.json"), &json, &[]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("only in BASE: shm-posix at 100 B"),
        "{stdout}"
    );
    assert!(stdout.contains("config.iterations: 2000 in BASE, 50 in NEW"));
}

#[test]
fn two_real_runs_of_one_configuration_compare_every_case() {
    let output = compare(
        &fixture("compare-base.json"),
        &fixture("compare-new.json"),
        &[],
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Welch"), "{stdout}");
    for case in ["shm-posix", "unix-stream"] {
        assert!(stdout.lines().any(|l| l.contains(case)), "{stdout}");
    }
    assert!(!stdout.contains("only in") && !stdout.contains("not assessable"));
}

#[test]
fn a_regression_that_stands_out_fails_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    // Constructed, not measured: the BASE run of the fixture with every figure of unix-stream
    // (its run means, mean, p50 and p99) multiplied by 10.
    let mut slower = read_fixture("compare-base.json");
    let results = slower["results"].as_array_mut().unwrap();
    let case = results
        .iter_mut()
        .find(|r| r["transport"] == "unix-stream")
        .unwrap();
    for pointer in ["/latency_us/mean", "/latency_us/p50", "/latency_us/p99"] {
        let value = case.pointer_mut(pointer).unwrap();
        *value = (value.as_f64().unwrap() * 10.0).into();
    }
    for run_mean in case["runs"].as_array_mut().unwrap() {
        *run_mean = (run_mean.as_f64().unwrap() * 10.0).into();
    }
    let new = write(dir.path(), "slower.json", &slower);
    let base = fixture("compare-base.json");
    let output = compare(&base, &new, &["--fail-above", "5"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let row = stdout.lines().find(|l| l.contains("unix-stream")).unwrap();
    assert!(row.contains("+900.0%") && row.contains("slower"), "{row}");
    assert!(stdout.contains("--fail-above 5%: unix-stream at 100 B: got slower by 900.0%"));
    // Without the gate, or above the change, the same comparison passes; the other way round
    // it is faster, and passes too.
    assert_eq!(compare(&base, &new, &[]).status.code(), Some(0));
    let above = compare(&base, &new, &["--fail-above", "1000"]);
    assert_eq!(above.status.code(), Some(0));
    let faster = compare(&new, &base, &["--fail-above", "5"]);
    let (stdout, _) = text(&faster);
    assert_eq!(faster.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("faster"), "{stdout}");
}

/// The default `--runs 1` on both sides used to pass any gate: nothing was testable, so
/// nothing regressed. Now each case fails it, named, with the fix.
#[test]
fn single_runs_fail_the_gate_naming_the_fix_unless_allowed() {
    let single = fixture("compare-single-run.json");
    let output = compare(&single, &single, &["--fail-above", "10"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let row = stdout.lines().find(|l| l.contains("shm-posix")).unwrap();
    assert!(row.contains("not assessable"), "{row}");
    for case in ["shm-posix", "unix-stream"] {
        let line = format!(
            "--fail-above 10%: {case} at 100 B: cannot be assessed: runs: 1 in BASE, 1 in NEW; \
             the test needs at least 3 on each side: make both reports with --runs 5 or --runs auto; \
             --allow-unassessable lets it pass"
        );
        assert!(stdout.contains(&line), "{line}\n{stdout}");
    }
    let allowed = compare(
        &single,
        &single,
        &["--fail-above", "10", "--allow-unassessable"],
    );
    let (stdout, stderr) = text(&allowed);
    assert_eq!(allowed.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("--fail-above 10%: passed"), "{stdout}");
    assert!(stdout.contains("--allow-unassessable: changes the test cannot judge were let pass"));
    // Without the gate, single runs are shown, not judged, and exit 0 as before.
    assert_eq!(compare(&single, &single, &[]).status.code(), Some(0));
}

/// A case that failed in NEW used to be "not compared" and pass; it fails the gate, with the
/// reason NEW gives, and no relaxation lets it pass.
#[test]
fn a_case_that_failed_in_new_fails_the_gate_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut failed = read_fixture("compare-new.json");
    failed["results"][0]["status"] = "failed".into();
    failed["results"][0]["error"] = "server exited: killed by signal 9 (SIGKILL)".into();
    let new = write(dir.path(), "failed.json", &failed);
    let base = fixture("compare-base.json");
    let relaxed = ["--allow-missing", "--allow-unassessable"];
    for extra in [&[][..], &relaxed[..]] {
        let mut args = vec!["--fail-above", "10"];
        args.extend_from_slice(extra);
        let output = compare(&base, &new, &args);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{extra:?}: {stdout}{stderr}");
        assert!(
            stdout.contains(
                "--fail-above 10%: shm-posix at 100 B: failed in NEW (server exited: killed by signal 9 (SIGKILL))"
            ),
            "{stdout}"
        );
        assert!(!stdout.contains("unix-stream at 100 B: "), "{stdout}");
    }
}

/// A case of BASE that NEW lacks, or skipped, used to be listed and pass; it fails the gate
/// unless `--allow-missing` says a smaller NEW is meant.
#[test]
fn a_case_missing_from_new_fails_the_gate_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let base = fixture("compare-base.json");
    let mut lacking = read_fixture("compare-new.json");
    (lacking["results"].as_array_mut().unwrap()).retain(|r| r["transport"] != "unix-stream");
    let mut skipped = read_fixture("compare-new.json");
    skipped["results"][1]["status"] = "skipped".into();
    skipped["results"][1]["skip_reason"] = "larger than msgsize_max 8192".into();
    skipped["results"][1]["latency_us"] = Value::Null;
    for (name, report, expected) in [
        (
            "lacking.json",
            lacking,
            "unix-stream at 100 B: missing from NEW (it is in BASE)",
        ),
        (
            "skipped.json",
            skipped,
            "unix-stream at 100 B: skipped in NEW (larger than msgsize_max 8192)",
        ),
    ] {
        let new = write(dir.path(), name, &report);
        let output = compare(&base, &new, &["--fail-above", "10"]);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {stdout}{stderr}");
        let line = format!("--fail-above 10%: {expected}; --allow-missing lets it pass");
        assert!(stdout.contains(&line), "{line}\n{stdout}");
        let allowed = compare(&base, &new, &["--fail-above", "10", "--allow-missing"]);
        let (stdout, stderr) = text(&allowed);
        assert_eq!(allowed.status.code(), Some(0), "{name}: {stdout}{stderr}");
        assert!(stdout.contains("--fail-above 10%: passed"), "{stdout}");
    }
}

/// A case skipped on both sides (a size beyond a transport's limit on both machines, as any
/// `--transports all` run has) is no missing case; nor is one BASE skipped and NEW measured,
/// which is new, as a case only NEW has.
#[test]
fn a_case_skipped_on_both_sides_or_only_in_base_passes_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let skip = |mut report: Value| {
        report["results"][1]["status"] = "skipped".into();
        report["results"][1]["skip_reason"] = "larger than msgsize_max 8192".into();
        report["results"][1]["latency_us"] = Value::Null;
        report
    };
    let base = write(
        dir.path(),
        "base.json",
        &skip(read_fixture("compare-base.json")),
    );
    let both = write(
        dir.path(),
        "new.json",
        &skip(read_fixture("compare-new.json")),
    );
    for new in [both, fixture("compare-new.json")] {
        let output = compare(&base, &new, &["--fail-above", "10"]);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
        assert!(stdout.contains("--fail-above 10%: passed"), "{stdout}");
    }
}

#[test]
fn the_relaxations_need_the_gate() {
    let base = fixture("compare-base.json");
    let base = base.to_str().unwrap();
    for flag in ["--allow-missing", "--allow-unassessable"] {
        assert_usage_error(&["compare", base, base, flag], "--fail-above");
    }
}

/// Figures no measurement gives do not turn into a verdict: a BASE mean of 0.0 µs against
/// 100 µs is not compared (it said "slower beyond the noise" and passed the gate), and run
/// means of [0, 0, 1e-160] are not testable (they gave a critical value of 0.00 and a
/// 160-digit |t|).
#[test]
fn a_zero_mean_or_zero_run_means_are_not_assessed() {
    let dir = tempfile::tempdir().unwrap();
    let mut zero = read_fixture("compare-base.json");
    let results = zero["results"].as_array_mut().unwrap();
    results[0]["latency_us"]["mean"] = 0.0.into();
    results[1]["runs"] = serde_json::json!([0.0, 0.0, 1e-160]);
    let base = write(dir.path(), "zero.json", &zero);
    let output = compare(&base, &fixture("compare-new.json"), &["--fail-above", "5"]);
    let (stdout, stderr) = text(&output);
    // Neither can be judged, so the gate fails closed on both.
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "--fail-above 5%: shm-posix at 100 B: cannot be assessed: no latency in BASE"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "--fail-above 5%: unix-stream at 100 B: cannot be assessed: a run mean is 0 µs"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "not compared: shm-posix at 100 B: no latency in BASE (its mean latency is 0 µs"
        ),
        "{stdout}"
    );
    let row = stdout.lines().find(|l| l.contains("unix-stream")).unwrap();
    assert!(row.contains("not assessable"), "{row}");
    assert!(
        stdout.contains("unix-stream at 100 B: a run mean is 0 µs: a latency is a positive time"),
        "{stdout}"
    );
    assert!(!stdout.contains("│ slower"), "{stdout}");
    assert!(
        stdout.lines().all(|line| line.chars().count() < 300),
        "{stdout}"
    );
}

#[test]
fn one_sided_cases_and_differing_configurations_are_named() {
    let output = compare(
        &fixture("compare-base.json"),
        &fixture("compare-other-config.json"),
        &[],
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("only in BASE: unix-stream at 100 B"),
        "{stdout}"
    );
    assert!(stdout.contains("only in NEW: pipe at 100 B"), "{stdout}");
    assert!(stdout.contains("different machines or configurations"));
    assert!(stdout.contains("config.iterations: 2000 in BASE, 1000 in NEW"));
}

#[test]
fn another_machine_is_named_and_failed_or_skipped_cases_are_not_compared() {
    let dir = tempfile::tempdir().unwrap();
    let mut other = read_fixture("compare-new.json");
    other["machine"]["cpu"] = "Some Other CPU".into();
    other["machine"]["cores"] = 64.into();
    let results = other["results"].as_array_mut().unwrap();
    results[0]["status"] = "failed".into();
    results[0]["error"] = "server exited: killed by signal 9 (SIGKILL)".into();
    results[1]["status"] = "skipped".into();
    results[1]["skip_reason"] = "larger than msgsize_max 8192".into();
    results[1]["latency_us"] = Value::Null;
    let new = write(dir.path(), "other.json", &other);
    let output = compare(&fixture("compare-base.json"), &new, &["--fail-above", "0"]);
    let (stdout, stderr) = text(&output);
    // The failed and the skipped case fail the gate (tested on their own below).
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("machine.cpu: \"AMD EPYC"), "{stdout}");
    assert!(stdout.contains("\"Some Other CPU\" in NEW"), "{stdout}");
    assert!(
        stdout.contains("machine.cores: 2 in BASE, 64 in NEW"),
        "{stdout}"
    );
    assert!(stdout.contains(
        "not compared: shm-posix at 100 B: failed in NEW (server exited: killed by signal 9 (SIGKILL))"
    ));
    assert!(stdout.contains("not compared: unix-stream at 100 B: skipped in NEW (larger than"));
    assert!(stdout.contains("No case was measured in both reports."));
}

#[test]
fn an_external_server_against_a_spawned_one_is_a_differing_configuration() {
    // The fixtures predate `--connect`: a report without `config.connect` spawned its servers.
    let dir = tempfile::tempdir().unwrap();
    let mut external = read_fixture("compare-new.json");
    external["config"]["connect"] =
        serde_json::json!({"transport": "shm-posix", "address": "myapp"});
    let new = write(dir.path(), "external.json", &external);
    let output = compare(&fixture("compare-base.json"), &new, &[]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            r#"config.connect: null in BASE, {"address":"myapp","transport":"shm-posix"} in NEW"#
        ),
        "{stdout}"
    );
    let mut spawned = read_fixture("compare-new.json");
    spawned["config"]["connect"] = Value::Null;
    let new = write(dir.path(), "spawned.json", &spawned);
    let output = compare(&fixture("compare-base.json"), &new, &[]);
    let (stdout, _) = text(&output);
    assert!(!stdout.contains("config.connect"), "{stdout}");
}

/// `bad` is refused, as BASE and as NEW, with exit 2 and a message naming it and `expected`.
fn assert_refused(bad: &Path, expected: &str) {
    let good = fixture("compare-base.json");
    for (base, new) in [(good.as_path(), bad), (bad, good.as_path())] {
        let output = compare(base, new, &["--fail-above", "1"]);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{}: {stderr}", bad.display());
        assert!(stderr.contains(expected), "{}: {stderr}", bad.display());
        assert!(stderr.contains(&*bad.display().to_string()), "{stderr}");
        assert!(
            stdout.is_empty() && !stderr.contains("panicked"),
            "{stdout}"
        );
    }
}

#[test]
fn files_that_are_not_reports_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((192 << 20) + 1)
        .unwrap();
    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, b"{\"tool\": \"transport-bench\", \"x\": NaN}").unwrap();
    let hyperfine = write(dir.path(), "h.json", &serde_json::json!({"results": []}));
    for (bad, expected) in [
        (dir.path().join("missing.json"), "cannot read"),
        (dir.path().to_path_buf(), "it is a directory"),
        (PathBuf::from("/dev/zero"), "it is a character device"),
        (big, "larger than 192 MiB"),
        (not_json, "not JSON"),
        (hyperfine, "no \"tool\" field"),
    ] {
        assert_refused(&bad, expected);
    }
}

#[test]
fn every_schema_version_ever_written_compares_and_a_newer_one_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let new = fixture("compare-new.json");
    for version in 1..=SCHEMA_VERSION {
        let mut base = read_fixture("compare-base.json");
        base["schema_version"] = version.into();
        let base = write(dir.path(), &format!("v{version}.json"), &base);
        let output = compare(&base, &new, &[]);
        let (stdout, stderr) = text(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "v{version}: {stdout}{stderr}"
        );
        assert!(stdout.contains("unix-stream"), "{stdout}");
    }
    let mut newer = read_fixture("compare-base.json");
    newer["schema_version"] = (SCHEMA_VERSION + 1).into();
    let newer = write(dir.path(), "newer.json", &newer);
    let expected = format!(
        "its schema_version is {}, newer than this transport-bench reads (1 to {SCHEMA_VERSION})",
        SCHEMA_VERSION + 1
    );
    assert_refused(&newer, &expected);
    let mut garbled = read_fixture("compare-base.json");
    garbled["schema_version"] = "two".into();
    let garbled = write(dir.path(), "garbled.json", &garbled);
    assert_refused(
        &garbled,
        "its schema_version is \"two\": a version is a whole number",
    );
}

#[test]
fn reports_with_bad_values_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let edits: [(&str, Value, &str); 6] = [
        (
            "/results/0/runs/1",
            (-4.0).into(),
            "results[0].runs[1] is -4",
        ),
        (
            "/results/1/latency_us/p99",
            1.7e308.into(),
            "results[1].latency_us.p99 is 1.7e308",
        ),
        (
            "/results/0/status",
            "great".into(),
            "unknown variant `great`",
        ),
        ("/config", 5.into(), "not a report this version can read"),
        (
            "/results/0/transport",
            "carrier-pigeon".into(),
            "unknown transport \"carrier-pigeon\"",
        ),
        ("/machine", Value::Null, "invalid type: null"),
    ];
    for (i, (pointer, value, expected)) in edits.into_iter().enumerate() {
        let mut document = read_fixture("compare-base.json");
        *document.pointer_mut(pointer).unwrap() = value;
        assert_refused(
            &write(dir.path(), &format!("{i}.json"), &document),
            expected,
        );
    }
    let mut twice = read_fixture("compare-base.json");
    let first = twice["results"][0].clone();
    twice["results"].as_array_mut().unwrap().push(first);
    assert_refused(
        &write(dir.path(), "twice.json", &twice),
        "results[2] repeats the case shm-posix at 100 B of results[0]",
    );
}

#[test]
fn a_bad_threshold_is_a_usage_error() {
    let base = fixture("compare-base.json");
    let base = base.to_str().unwrap();
    for bad in ["-3", "NaN", "inf", "five", ""] {
        assert_usage_error(
            &["compare", base, base, "--fail-above", bad],
            "--fail-above",
        );
    }
    assert_usage_error(&["compare", base], "NEW.json");
}

/// `compare ARGS` with `stdin` on standard input, bounded in time.
fn compare_bounded(args: &[&Path], stdin: &[u8]) -> Output {
    run_bounded("compare", args, stdin)
}

#[test]
fn a_fifo_a_link_to_one_or_a_directory_is_refused_at_once_as_either_report() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = Planted::new(dir.path().join("r.json"), What::Fifo);
    let link = Planted::new(dir.path().join("link.json"), What::Link(fifo.path()));
    // And two that never blocked: a directory, and an empty file (not JSON, but a file).
    let sub = Planted::new(dir.path().join("dir.json"), What::Dir);
    let empty = Planted::new(dir.path().join("empty.json"), What::File(0));
    let refusals = [
        (fifo.path(), "it is a FIFO"),
        (link.path(), "it is a FIFO"),
        (sub.path(), "it is a directory"),
        (empty.path(), "not JSON"),
    ];
    let base = fixture("compare-base.json");
    for (bad, why) in refusals {
        for args in [[base.as_path(), bad], [bad, base.as_path()]] {
            let output = compare_bounded(&args, b"");
            let (stdout, stderr) = text(&output);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(&*bad.display().to_string()), "{stderr}");
            assert!(stderr.contains(why), "{stderr}");
            assert!(stdout.is_empty(), "{stdout}");
        }
    }
}

#[test]
fn a_report_on_standard_input_is_read_as_dash_but_only_once() {
    let base = fixture("compare-base.json");
    let report = std::fs::read(&base).unwrap();
    let dash = Path::new("-");
    for args in [[base.as_path(), dash], [dash, base.as_path()]] {
        let output = compare_bounded(&args, &report);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            stdout.contains("shm-posix") || stdout.contains("SHM POSIX"),
            "{stdout}"
        );
    }
    assert_usage_error(&["compare", "-", "-"], "both - (standard input)");
}
