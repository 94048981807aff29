//! The one reader of saved reports (the JSON of `--export-json`), for every command that reads
//! one back: `plot` and `compare`.
//!
//! Each reader declares the view it needs as a `Deserialize` type (serde ignores the other
//! fields, so a report of an older version, or one with fields added since, still reads as long
//! as it has them), and this module does the rest the same way for both: a bounded read of the
//! whole file, JSON with our `tool` and a `schema_version` this build reads (none is version
//! 1; a newer one is refused by name: [`crate::report::schema`]), the view parsed, and its
//! values checked here, once (transports this binary knows, figures a measurement can give,
//! percentiles that ascend, each case once). Every refusal names the first offending value by
//! its path in the document (`results[3].histogram[2]`). A change of these rules changes what
//! `plot` and `compare` accept alike for every field both read. Each checks only the fields its
//! view reads (the plot a case's percentiles and histogram, `compare` its status, means and run
//! means), so a report one accepts the other may still refuse, for a field only the other
//! reads.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::report::schema::{declared_version, SchemaVersionError};
use crate::report::size::format_bytes;
use crate::transport::os::file_kind::{self, FileKind, Links, OpenKindError};
use crate::transport::TransportKind;

/// Reading stops here. The largest report the tool can write is well inside it (its most
/// cases, each with its most runs and pairs: a test in `export/json.rs` writes one), and a
/// `--transports all --sizes sweep` run is under 1 MiB; a larger file, or an endless one such
/// as `/dev/zero`, is not a report.
pub const MAX_REPORT_BYTES: u64 = 192 << 20;

/// The path that means standard input.
pub const STDIN_PATH: &str = "-";

/// The largest latency (µs) or throughput (MB/s) a report may hold: far beyond any measurement
/// (11.6 days, or an exabyte per second), so that no value is absurd to show or to draw.
pub const LARGEST_FIGURE: f64 = 1e12;

/// The `tool` field that marks a report of this program.
const TOOL: &str = "transport-bench";

/// Why a saved report's bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ReadReportError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is larger than {} MiB: not a transport-bench report", path.display(), MAX_REPORT_BYTES >> 20)]
    TooLarge { path: PathBuf },
    #[error("cannot read {}: it is {found}; a report is read from a file, or from standard input as -", path.display())]
    NotAFile { path: PathBuf, found: FileKind },
}

/// Why a saved JSON is not a report the reader can use. Each names the first offending value
/// by its path in the document.
#[derive(Debug, thiserror::Error)]
pub enum SavedReportError {
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("not a transport-bench report ({})", describe_tool(.tool.as_deref()))]
    NotOurs { tool: Option<String> },
    #[error(transparent)]
    Schema(#[from] SchemaVersionError),
    #[error("not a report this version can read: {0}")]
    Incomplete(#[source] serde_json::Error),
    #[error("{at}: unknown transport {name:?} (this version knows {known})")]
    UnknownTransport {
        at: String,
        name: String,
        known: String,
    },
    #[error("{at} is {}: a latency or throughput is from 0 to {LARGEST_FIGURE:e}", shown(.value))]
    OutOfRange { at: String, value: f64 },
    #[error("{at}: percentile {value} is outside 0 to 100")]
    PercentileOutOfRange { at: String, value: f64 },
    #[error("{at}: percentile {value} comes after a larger one; percentiles must ascend")]
    PercentilesDescend { at: String, value: f64 },
    #[error("{at}: {value} µs at a higher percentile than {lower} µs; latencies cannot fall as the percentile rises")]
    LatenciesDescend { at: String, value: f64, lower: f64 },
    #[error("{at} repeats the case {transport} at {size} of {first}")]
    RepeatedCase {
        at: String,
        first: String,
        transport: &'static str,
        size: String,
    },
    #[error("its results list is empty: nothing to plot")]
    NoResults,
    #[error("no case has a latency to plot (every one failed or was skipped)")]
    NothingMeasured,
}

/// Why the report in a file could not be used: its bytes, or what they say (with the file's
/// name).
#[derive(Debug, thiserror::Error)]
pub enum SavedFileError {
    #[error(transparent)]
    Read(#[from] ReadReportError),
    #[error("{}: {source}", path.display())]
    Report {
        path: PathBuf,
        #[source]
        source: SavedReportError,
    },
}

/// A number as written, or in scientific notation when that is shorter (1.7e308).
fn shown(value: &f64) -> String {
    let plain = value.to_string();
    let scientific = format!("{value:e}");
    if scientific.len() < plain.len() {
        scientific
    } else {
        plain
    }
}

fn describe_tool(tool: Option<&str>) -> String {
    match tool {
        Some(tool) => format!("its \"tool\" is {tool}"),
        None => "it has no \"tool\" field".to_string(),
    }
}

/// What `parse` makes of the report in the file at `path`, read whole (at most
/// [`MAX_REPORT_BYTES`]) before anything else is touched.
pub fn read_file<T>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, SavedReportError>,
) -> Result<T, SavedFileError> {
    let bytes = read_report(path)?;
    parse(&bytes).map_err(|source| SavedFileError::Report {
        path: path.to_path_buf(),
        source,
    })
}

/// The file's bytes, at most [`MAX_REPORT_BYTES`] of them; `-` is standard input.
fn read_report(path: &Path) -> Result<Vec<u8>, ReadReportError> {
    let read_error = |source| ReadReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let source: Box<dyn Read> = if path == Path::new(STDIN_PATH) {
        Box::new(io::stdin().lock())
    } else {
        Box::new(open_report(path)?)
    };
    let mut bytes = Vec::new();
    (source.take(MAX_REPORT_BYTES + 1))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        return Err(ReadReportError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// Opens a named report, which must be (or be linked to) a regular file. A FIFO would block
/// until some writer came, and a device or a directory is no report: each is refused at once,
/// by name. A stream is read through standard input instead, where waiting is what the user
/// asked for (`producer | transport-bench plot -`), and ends when its writer closes it.
fn open_report(path: &Path) -> Result<File, ReadReportError> {
    file_kind::open_expecting(path, FileKind::Regular, Links::Follow).map_err(|e| match e {
        OpenKindError::WrongKind { found, .. } => ReadReportError::NotAFile {
            path: path.to_path_buf(),
            found,
        },
        OpenKindError::Io(source) => ReadReportError::Read {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// The view `T` of a saved JSON report of this program: JSON, with our `tool`, a schema
/// version this build reads, and the fields `T` reads.
pub fn parse_saved<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SavedReportError> {
    let document: serde_json::Value =
        serde_json::from_slice(bytes).map_err(SavedReportError::NotJson)?;
    // Another tool's JSON would fail below on some missing field; say what it is instead.
    match document.get("tool") {
        Some(serde_json::Value::String(tool)) if tool == TOOL => {}
        other => {
            return Err(SavedReportError::NotOurs {
                tool: other.map(ToString::to_string),
            })
        }
    }
    // A newer version may have moved or redefined what the view reads: refuse it by name
    // rather than misread it. Every older version reads with the same views (their fields
    // are a subset, absent ones have defaults), so none needs a view of its own yet.
    declared_version(&document)?;
    // Parsed again, from the bytes, so that a type error says its line and column.
    serde_json::from_slice(bytes).map_err(SavedReportError::Incomplete)
}

/// The transport of this name, through the registry, as `--transports` finds it.
pub fn transport_named(
    name: &str,
    at: impl FnOnce() -> String,
) -> Result<TransportKind, SavedReportError> {
    TransportKind::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = TransportKind::all().iter().map(|k| k.name()).collect();
        SavedReportError::UnknownTransport {
            at: at(),
            name: name.to_string(),
            known: known.join(", "),
        }
    })
}

/// JSON has no NaN or infinity (serde_json refuses them, and numbers beyond f64), so a
/// number read back is finite; it must still be one a measurement can give.
pub fn measured(value: f64, at: impl FnOnce() -> String) -> Result<(), SavedReportError> {
    if (0.0..=LARGEST_FIGURE).contains(&value) {
        return Ok(());
    }
    Err(SavedReportError::OutOfRange { at: at(), value })
}

/// A case's `histogram`: percentiles from 0 to 100, ascending; latencies that a measurement
/// can give.
pub fn check_histogram(
    histogram: &[[f64; 2]],
    at: impl Fn() -> String,
) -> Result<(), SavedReportError> {
    let (mut previous, mut previous_latency) = (0.0, 0.0);
    for (i, &[percentile, latency_us]) in histogram.iter().enumerate() {
        let at = || format!("{}[{i}]", at());
        if !(0.0..=100.0).contains(&percentile) {
            return Err(SavedReportError::PercentileOutOfRange {
                at: at(),
                value: percentile,
            });
        }
        if percentile < previous {
            return Err(SavedReportError::PercentilesDescend {
                at: at(),
                value: percentile,
            });
        }
        measured(latency_us, || format!("{}[1]", at()))?;
        check_ascending(previous_latency, latency_us, || format!("{}[1]", at()))?;
        (previous, previous_latency) = (percentile, latency_us);
    }
    Ok(())
}

/// A latency at a percentile, `higher`, against one at a lower percentile, `lower` (p50
/// against p99): the higher percentile's can be no less.
pub fn check_ascending(
    lower: f64,
    higher: f64,
    at: impl FnOnce() -> String,
) -> Result<(), SavedReportError> {
    if higher >= lower {
        return Ok(());
    }
    Err(SavedReportError::LatenciesDescend {
        at: at(),
        value: higher,
        lower,
    })
}

/// One line per transport in a plot's panel, or one row of a comparison, needs one case per
/// (transport, size): `cases` in the order of `results`.
pub fn check_each_case_once(
    cases: impl IntoIterator<Item = (TransportKind, usize)>,
) -> Result<(), SavedReportError> {
    // Where each case was first seen: a map, as a hostile file may hold 100,000 cases.
    let mut first_seen: HashMap<(TransportKind, usize), usize> = HashMap::new();
    for (i, (transport, size_bytes)) in cases.into_iter().enumerate() {
        if let Some(first) = first_seen.insert((transport, size_bytes), i) {
            return Err(SavedReportError::RepeatedCase {
                at: format!("results[{i}]"),
                first: format!("results[{first}]"),
                transport: transport.name(),
                size: format_bytes(size_bytes),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde::de::IgnoredAny;

    use super::*;

    /// A view that reads nothing.
    type ToolOnly = IgnoredAny;

    fn refusal(bytes: &[u8]) -> String {
        parse_saved::<ToolOnly>(bytes).unwrap_err().to_string()
    }

    #[test]
    fn documents_that_are_not_our_reports_say_why() {
        assert!(refusal(b"{\"tool\": ").starts_with("not JSON: EOF"));
        assert_eq!(
            refusal(br#"{"tool": "hyperfine", "results": []}"#),
            "not a transport-bench report (its \"tool\" is \"hyperfine\")"
        );
        assert!(refusal(b"[1, 2]").contains("no \"tool\" field"));
        assert!(parse_saved::<ToolOnly>(br#"{"tool": "transport-bench"}"#).is_ok());
    }

    #[test]
    fn a_newer_schema_is_refused_before_its_fields_are_read() {
        #[derive(Debug, serde::Deserialize)]
        struct NeedsResults {
            #[allow(dead_code)] // Only its absence matters here.
            results: Vec<u32>,
        }
        let newer = br#"{"tool": "transport-bench", "schema_version": 99}"#;
        let error = parse_saved::<NeedsResults>(newer).unwrap_err().to_string();
        assert!(
            error.starts_with("its schema_version is 99, newer"),
            "{error}"
        );
        let unversioned = br#"{"tool": "transport-bench"}"#;
        let error = parse_saved::<NeedsResults>(unversioned).unwrap_err();
        assert!(error.to_string().contains("missing field `results`"));
    }

    #[test]
    fn a_file_is_read_whole_or_not_at_all() {
        let missing = read_file(Path::new("/nonexistent/r.json"), parse_saved::<ToolOnly>);
        let error = missing.unwrap_err().to_string();
        assert!(
            error.starts_with("cannot read /nonexistent/r.json: "),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let huge = dir.path().join("huge.json");
        let file = File::create(&huge).unwrap();
        file.set_len(MAX_REPORT_BYTES + 1).unwrap();
        let error = read_file(&huge, parse_saved::<ToolOnly>).unwrap_err();
        assert!(error
            .to_string()
            .ends_with("is larger than 192 MiB: not a transport-bench report"));
    }

    #[test]
    fn a_device_a_fifo_or_a_directory_is_refused_at_once_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("r.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let refusal = |path: &Path| {
            read_file(path, parse_saved::<ToolOnly>)
                .unwrap_err()
                .to_string()
        };
        let endless = refusal(Path::new("/dev/zero"));
        assert_eq!(
            endless,
            "cannot read /dev/zero: it is a character device; a report is read from a file, or from standard input as -"
        );
        assert!(refusal(&fifo).contains("it is a FIFO"));
        assert!(refusal(dir.path()).contains("it is a directory"));
    }
}
