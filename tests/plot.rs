//! `transport-bench plot REPORT.json --out FILE.svg`: the SVG of a real run drawn again from its
//! saved JSON, and every kind of bad input refused with a message and its exit code, never a
//! panic, without touching the output.

mod common {
    pub mod driver;
    pub mod planted;
    pub mod process;
    pub mod subcommand;
    pub mod usage;
}

use std::io::{ErrorKind, Read};
use std::os::unix::fs::{symlink, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::driver::Driver;
use common::planted::{Planted, What};
use common::process::bin;
use common::subcommand::run_bounded;
use common::usage::assert_usage_error;
use serde_json::{json, Value};
use transport_bench::report::schema::SCHEMA_VERSION;

/// How often the FIFO's reader looks for bytes: a FIFO without a writer reads as empty, so
/// there is no signal to wait on until the writer has opened it.
const POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// Runs `transport-bench plot` with `args`.
fn plot(args: &[&Path]) -> Output {
    let mut command = Command::new(bin());
    command.arg("plot");
    for arg in args {
        command.arg(arg);
    }
    command.output().expect("running the binary")
}

fn plot_to(report: &Path, out: &Path) -> Output {
    plot(&[report, Path::new("--out"), out])
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A report of a real short run, with its live `--plot`, in `dir`.
fn real_run(dir: &Path) -> (PathBuf, PathBuf) {
    let (json, svg) = (dir.join("r.json"), dir.join("live.svg"));
    let driver = Driver::start(&[
        "--iterations",
        "100",
        "--warmup",
        "5",
        "--sizes",
        "100,10KB",
        "--transports",
        "shm-posix,unix-stream",
        "--export-json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let (status, out, err) = driver.finish_clean();
    assert!(status.success(), "{out}\n{err}");
    (json, svg)
}

/// A minimal report, as an older version could have written it: only what the plot needs.
fn minimal_report() -> Value {
    json!({
        "tool": "transport-bench",
        "config": {"iterations": 10, "transports": ["shm-posix", "zmq-ipc"]},
        "machine": {"cpu": "Some CPU", "cores": 2},
        "results": [
            {"transport": "shm-posix", "size_bytes": 100, "mb_per_s": 2.0,
             "latency_us": {"p50": 40.0, "p99": 60.0},
             "histogram": [[0.0, 30.0], [50.0, 40.0], [99.0, 60.0], [100.0, 90.0]]},
            {"transport": "zmq-ipc", "size_bytes": 100, "mb_per_s": 1.0,
             "latency_us": {"p50": 80.0, "p99": 150.0},
             "histogram": [[0.0, 60.0], [50.0, 80.0], [99.0, 150.0], [100.0, 400.0]]}
        ]
    })
}

fn write_json(path: &Path, document: &Value) {
    std::fs::write(path, serde_json::to_vec(document).unwrap()).unwrap();
}

/// One `<title>` per point of the plot of the report at `json`, on the point's marker: the
/// latency (p50 and p99) and the throughput of each case against size, and each pair of its
/// spectrum (two sizes: every size has a spectrum panel).
fn assert_each_point_has_its_title(doc: &roxmltree::Document, json: &Path) {
    let report: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    let spectra: usize = (results.iter())
        .map(|r| r["histogram"].as_array().unwrap().len())
        .sum();
    let titles: Vec<roxmltree::Node> = (doc.descendants())
        .filter(|n| n.has_tag_name("title"))
        .collect();
    assert_eq!(titles.len(), 2 * results.len() + spectra);
    for title in &titles {
        let marker = title.parent().unwrap();
        assert!(["circle", "polygon"].contains(&marker.tag_name().name()));
        let text = title.text().unwrap();
        let named = ["SHM POSIX, ", "Unix stream, "]
            .iter()
            .any(|t| text.starts_with(t));
        assert!(
            named && (text.ends_with(" µs") || text.ends_with(" MB/s")),
            "{text}"
        );
    }
}

#[test]
fn a_saved_report_of_a_real_run_draws_the_svg_the_run_drew() {
    let dir = tempfile::tempdir().unwrap();
    let (json, live_svg) = real_run(dir.path());
    let replot = dir.path().join("replot.svg");
    let output = plot_to(&json, &replot);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
    let svg = std::fs::read_to_string(&replot).unwrap();
    assert_eq!(svg, std::fs::read_to_string(&live_svg).unwrap());
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for expected in ["SHM POSIX", "Unix stream", "100 B", "10 KB", "99.9%", "max"] {
        assert!(texts.contains(&expected), "{expected}: {texts:?}");
    }
    assert_each_point_has_its_title(&doc, &json);

    // Without the fields the plot does not read (as a JSON of an older version, version 1 of
    // the schema without its `schema_version`): the same.
    let mut older: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(older["schema_version"], SCHEMA_VERSION);
    for field in ["schema_version", "version", "clock_overhead_ns", "state"] {
        older.as_object_mut().unwrap().remove(field);
    }
    for result in older["results"].as_array_mut().unwrap() {
        let result = result.as_object_mut().unwrap();
        result.retain(|k, _| {
            [
                "transport",
                "size_bytes",
                "mb_per_s",
                "latency_us",
                "histogram",
            ]
            .contains(&k.as_str())
        });
    }
    write_json(&json, &older);
    assert_eq!(plot_to(&json, &replot).status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&replot).unwrap(), svg);
}

/// The minimal report with the value at `pointer` replaced by the JSON text `value`.
fn minimal_report_with(pointer: &str, value: &str) -> Vec<u8> {
    let mut report = minimal_report();
    *report.pointer_mut(pointer).unwrap() = serde_json::from_str(value).unwrap();
    serde_json::to_vec(&report).unwrap()
}

/// Each input is refused with exit 2 and a message containing its needle and the file's
/// name, printing nothing on stdout and leaving an existing output as it was.
fn assert_refused(cases: &[(Vec<u8>, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in.json"), dir.path().join("out.svg"));
    std::fs::write(&out, "previous").unwrap();
    for (bytes, needle) in cases {
        std::fs::write(&input, bytes).unwrap();
        let output = plot_to(&input, &out);
        let message = stderr(&output);
        let shown = String::from_utf8_lossy(bytes);
        assert_eq!(output.status.code(), Some(2), "{shown}: {message}");
        assert!(
            message.starts_with("error: ") && message.contains(needle),
            "{shown}: {message}"
        );
        assert!(message.contains("in.json"), "{message}");
        assert!(output.stdout.is_empty());
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "previous",
            "{shown}"
        );
    }
}

#[test]
fn documents_that_are_not_plottable_reports_exit_2() {
    let mut unmeasured = minimal_report();
    for result in unmeasured["results"].as_array_mut().unwrap() {
        result["latency_us"] = Value::Null;
    }
    let documents: [(&[u8], &str); 6] = [
        (b"", "not JSON: EOF"),
        (b"<svg/>", "not JSON: expected value at line 1 column 1"),
        (br#"{"tool": "transport-bench", "x": NaN}"#, "not JSON"),
        (
            br#"{"tool": "hyperfine", "results": []}"#,
            r#"its "tool" is "hyperfine""#,
        ),
        (b"[1, 2, 3]", r#"no "tool" field"#),
        (br#"{"tool": "transport-bench"}"#, "missing field `config`"),
    ];
    let mut cases: Vec<(Vec<u8>, &str)> = (documents.iter())
        .map(|&(bytes, needle)| (bytes.to_vec(), needle))
        .collect();
    cases.push((
        minimal_report_with("/results", "[]"),
        "its results list is empty",
    ));
    cases.push((
        serde_json::to_vec(&unmeasured).unwrap(),
        "no case has a latency",
    ));
    assert_refused(&cases);
}

/// A value of the minimal report, replaced: (JSON pointer, new value as JSON, what the error
/// says).
const BAD_VALUES: [(&str, &str, &str); 13] = [
    (
        "/results/1/transport",
        r#""carrier-pigeon""#,
        r#"results[1].transport: unknown transport "carrier-pigeon""#,
    ),
    (
        "/config/transports/0",
        r#""???""#,
        "config.transports[0]: unknown transport",
    ),
    ("/results/0/mb_per_s", "-2", "results[0].mb_per_s is -2"),
    (
        "/results/0/mb_per_s",
        "null",
        "invalid type: null, expected f64",
    ),
    (
        "/results/1/latency_us/p50",
        "-1",
        "results[1].latency_us.p50 is -1",
    ),
    (
        "/results/0/histogram/1/1",
        "-5",
        "results[0].histogram[1][1] is -5",
    ),
    (
        "/results/0/histogram/3/1",
        "1.7e308",
        "histogram[3][1] is 1.7e308: a latency or",
    ),
    (
        "/results/0/histogram/2/0",
        "100.5",
        "percentile 100.5 is outside 0 to 100",
    ),
    ("/results/0/histogram/2/0", "10", "percentiles must ascend"),
    (
        "/results/0/histogram/2/1",
        "35",
        "results[0].histogram[2][1]: 35 µs at a higher percentile than 40 µs",
    ),
    (
        "/results/1/latency_us/p99",
        "70",
        "results[1].latency_us.p99: 70 µs at a higher percentile than 80 µs",
    ),
    (
        "/results/0/size_bytes",
        "-100",
        "invalid value: integer `-100`",
    ),
    (
        "/results/1/transport",
        r#""shm-posix""#,
        "results[1] repeats the case shm-posix",
    ),
];

#[test]
fn bad_values_in_a_report_exit_2_naming_their_path() {
    let cases: Vec<(Vec<u8>, &str)> = (BAD_VALUES.iter())
        .map(|&(pointer, value, needle)| (minimal_report_with(pointer, value), needle))
        .collect();
    assert_refused(&cases);
}

#[test]
fn every_schema_version_ever_written_draws_and_a_newer_one_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("r.json"), dir.path().join("r.svg"));
    // The minimal report has no `schema_version`: version 1.
    write_json(&input, &minimal_report());
    assert_eq!(plot_to(&input, &out).status.code(), Some(0));
    let unversioned = std::fs::read(&out).unwrap();
    for version in 1..=SCHEMA_VERSION {
        let mut report = minimal_report();
        report["schema_version"] = version.into();
        write_json(&input, &report);
        let output = plot_to(&input, &out);
        assert_eq!(
            output.status.code(),
            Some(0),
            "v{version}: {}",
            stderr(&output)
        );
        assert_eq!(std::fs::read(&out).unwrap(), unversioned, "v{version}");
    }
    let newer = format!(
        "its schema_version is {}, newer than this transport-bench reads (1 to {SCHEMA_VERSION})",
        SCHEMA_VERSION + 1
    );
    let versioned = |version: Value| {
        let mut report = minimal_report();
        report["schema_version"] = version;
        serde_json::to_vec(&report).unwrap()
    };
    assert_refused(&[
        (versioned((SCHEMA_VERSION + 1).into()), &newer),
        (
            versioned(0.into()),
            "its schema_version is 0: a version is a whole number from 1",
        ),
    ]);
}

#[test]
fn files_that_cannot_be_reports_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.svg");
    // Larger than any report: a sparse file, and a device that never ends.
    let huge = dir.path().join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len((192 << 20) + 1)
        .unwrap();
    let cases: [(&Path, &str); 4] = [
        (&dir.path().join("missing.json"), "cannot read"),
        (dir.path(), "it is a directory"),
        (&huge, "is larger than 192 MiB"),
        (Path::new("/dev/zero"), "it is a character device"),
    ];
    for (input, needle) in cases {
        let output = plot_to(input, &out);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{input:?}: {message}");
        assert!(message.contains(needle), "{input:?}: {message}");
    }
    assert!(!out.exists());
}

/// Free text from a report (the machine's CPU name) reaches the SVG as well-formed XML,
/// whatever it holds: markup is escaped, and characters XML cannot hold (control characters)
/// are replaced.
#[test]
fn a_cpu_name_with_markup_and_control_characters_gives_well_formed_xml() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cpu.json");
    let mut report = minimal_report();
    report["machine"]["cpu"] = "A<b>&\"x\u{1}\u{1b}[31m\u{7f}\u{85}z".into();
    write_json(&input, &report);
    let out = dir.path().join("cpu.svg");
    let output = plot_to(&input, &out);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let svg = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
    let title = (doc.descendants())
        .filter_map(|n| n.text())
        .find(|t| t.contains("transport-bench: A<b>"))
        .unwrap_or_else(|| panic!("{svg}"));
    assert!(
        title.contains("A<b>&\"x\u{fffd}\u{fffd}[31m\u{fffd}\u{fffd}z"),
        "{title}"
    );
}

#[test]
fn zero_values_are_drawn_at_the_floor_of_the_log_axes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("zero.json");
    let mut report = minimal_report();
    report["results"][0]["mb_per_s"] = 0.0.into();
    report["results"][0]["histogram"][0][1] = 0.0.into();
    report["results"][1]["size_bytes"] = 0.into();
    write_json(&input, &report);
    let out = dir.path().join("zero.svg");
    let output = plot_to(&input, &out);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let svg = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    // The 0-byte case has its spectrum panel.
    assert!(
        doc.descendants()
            .any(|n| n.text().map(str::trim) == Some("0 B")),
        "{svg}"
    );
}

#[test]
fn bad_output_paths_are_usage_errors_and_a_failed_write_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("r.json");
    write_json(&input, &minimal_report());
    let input_text = input.to_str().unwrap();
    assert_usage_error(&["plot", input_text, "--out", "plot.png"], "*.svg");
    assert_usage_error(&["plot", input_text], "--out");
    assert_usage_error(&["plot", "--out", "x.svg"], "REPORT.json");
    assert_usage_error(
        &["--iterations", "5", "plot", input_text, "--out", "x.svg"],
        "plot",
    );

    let fifo = dir.path().join("fifo.svg");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let directory = dir.path().join("dir.svg");
    std::fs::create_dir(&directory).unwrap();
    let cases: [(&Path, &str); 3] = [
        (&fifo, "the FIFO has no reader"),
        (&directory, "it is a directory"),
        (
            &dir.path().join("no-such-dir/x.svg"),
            "No such file or directory",
        ),
    ];
    for (out, needle) in cases {
        let output = plot_to(&input, out);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{out:?}: {message}");
        assert!(
            message.contains("cannot write") && message.contains(needle),
            "{message}"
        );
    }
    // A device that refuses the bytes: the write itself fails, exit 1.
    let full = dir.path().join("full.svg");
    symlink("/dev/full", &full).unwrap();
    let output = plot_to(&input, &full);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("No space left on device"));
}

#[test]
fn the_output_may_be_a_link_or_a_fifo_with_a_reader() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("r.json");
    write_json(&input, &minimal_report());
    let elsewhere = tempfile::tempdir().unwrap();
    let real = elsewhere.path().join("real.svg");
    let link = dir.path().join("link.svg");
    symlink(&real, &link).unwrap();
    assert_eq!(plot_to(&input, &link).status.code(), Some(0));
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&real).unwrap().starts_with("<svg"));

    let fifo = dir.path().join("fifo.svg");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // A reader opened first (without blocking), so that the writer finds it.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let mut child = Command::new(bin())
        .args([
            "plot".as_ref(),
            input.as_os_str(),
            "--out".as_ref(),
            fifo.as_os_str(),
        ])
        .spawn()
        .unwrap();
    let mut svg = Vec::new();
    let status = loop {
        let mut chunk = [0u8; 4096];
        match reader.read(&mut chunk) {
            Ok(0) => match child.try_wait().unwrap() {
                // No writer now: either not yet, or it has finished and closed.
                Some(status) => break status,
                None => std::thread::sleep(POLL),
            },
            Ok(n) => svg.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => panic!("reading the FIFO: {e}"),
        }
    };
    assert!(status.success());
    let svg = String::from_utf8(svg).unwrap();
    assert!(roxmltree::Document::parse(&svg).is_ok());
    assert!(fifo.symlink_metadata().unwrap().file_type().is_fifo());
}

/// `plot ARGS` with `stdin` on standard input, bounded in time.
fn plot_bounded(args: &[&Path], stdin: &[u8]) -> Output {
    run_bounded("plot", args, stdin)
}

#[test]
fn a_fifo_a_link_to_one_or_a_directory_is_refused_at_once_and_the_output_untouched() {
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
    let out = dir.path().join("out.svg");
    for (bad, why) in refusals {
        let output = plot_bounded(&[bad, Path::new("--out"), &out], b"");
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {message}");
        assert!(message.contains(&*bad.display().to_string()), "{message}");
        assert!(message.contains(why), "{message}");
    }
    assert!(!out.exists());
}

#[test]
fn a_report_on_standard_input_is_read_as_dash_within_the_size_cap() {
    let report = serde_json::to_vec(&minimal_report()).unwrap();
    let dash = Path::new("-");
    let output = plot_bounded(&[dash, Path::new("--out"), dash], &report);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let svg = String::from_utf8_lossy(&output.stdout);
    roxmltree::Document::parse(&svg).expect("the SVG is well-formed");
    // Standard input is capped as a file is: an endless stream is refused, not read forever.
    let endless = vec![b' '; (192 << 20) + 1];
    let output = plot_bounded(&[dash, Path::new("--out"), dash], &endless);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("- is larger than 192 MiB"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());
}
