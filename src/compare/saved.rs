//! The view of a saved JSON report that `compare` reads: its `machine` and `config` blocks as
//! they are (to name what differs), and per case its status, mean, p50, p99 and run means.
//! Read and checked with the one reader of saved reports ([`crate::report::saved`]: bounded
//! read, our `tool`, known transports, values a measurement can give, each case once), as
//! `plot` reads its view.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::compare::CaseKey;
use crate::report::result::Status;
use crate::report::saved::{
    check_ascending, check_each_case_once, measured, parse_saved, read_file, transport_named,
    SavedFileError, SavedReportError,
};
use crate::transport::{Pattern, Workload};

/// One report, checked.
#[derive(Debug, Clone)]
pub struct SavedRun {
    pub path: PathBuf,
    /// The `version` of the tool that wrote it; None for a report without one.
    pub version: Option<String>,
    pub config: Map<String, Value>,
    pub machine: Map<String, Value>,
    /// `complete`, or why not (`interrupted by SIGINT`).
    pub state: Option<String>,
    pub cases: Vec<SavedCase>,
}

/// One (transport, size) case of a report.
#[derive(Debug, Clone)]
pub struct SavedCase {
    /// Its transport and size from the case, what it exchanged from the report's config.
    pub key: CaseKey,
    pub status: Status,
    /// The `error` of a failed case, or the `skip_reason` of a skipped one.
    pub reason: Option<String>,
    /// None when no round trip completed (or no stream was acknowledged).
    pub latency_us: Option<Latency>,
    /// The mean of each run, in µs.
    pub run_means_us: Vec<f64>,
}

/// The three figures a comparison shows, in µs: for a stream, its time per message as the
/// mean, and no percentiles.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub mean: f64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

/// A round-trip case's `latency_us`, as saved: all three figures are there.
#[derive(Debug, Clone, Copy, Deserialize)]
struct RawLatency {
    mean: f64,
    p50: f64,
    p99: f64,
}

#[derive(Deserialize)]
struct RawReport {
    version: Option<String>,
    config: Map<String, Value>,
    machine: Map<String, Value>,
    state: Option<String>,
    results: Vec<RawResult>,
}

#[derive(Deserialize)]
struct RawResult {
    transport: String,
    size_bytes: usize,
    status: Status,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    skip_reason: Option<String>,
    latency_us: Option<RawLatency>,
    #[serde(default)]
    us_per_message: Option<f64>,
    #[serde(default)]
    pattern: Pattern,
    #[serde(default)]
    runs: Vec<f64>,
}

impl SavedRun {
    /// Reads and checks the report at `path`.
    pub fn read(path: &Path) -> Result<SavedRun, SavedFileError> {
        read_file(path, |bytes| {
            parse_saved::<RawReport>(bytes)?.into_run(path)
        })
    }

    /// The case `key`, if the report has it.
    pub fn case(&self, key: CaseKey) -> Option<&SavedCase> {
        self.cases.iter().find(|c| c.key == key)
    }
}

impl RawReport {
    /// The run of the report at `path`, every case checked.
    fn into_run(self, path: &Path) -> Result<SavedRun, SavedReportError> {
        let concurrency = Concurrency::of(&self.config);
        let cases = (self.results.into_iter().enumerate())
            .map(|(i, result)| result.into_case(i, concurrency))
            .collect::<Result<Vec<_>, _>>()?;
        check_each_case_once(cases.iter().map(|c| (c.key.transport, c.key.size_bytes)))?;
        Ok(SavedRun {
            path: path.to_path_buf(),
            version: self.version,
            config: self.config,
            machine: self.machine,
            state: self.state,
            cases,
        })
    }
}

/// How many requests each client of a report kept in flight, and how many pairs ran, from its
/// config: a report from before `in_flight` and `pairs` had one of each.
#[derive(Debug, Clone, Copy)]
struct Concurrency {
    in_flight: usize,
    pairs: usize,
}

impl Concurrency {
    fn of(config: &Map<String, Value>) -> Concurrency {
        let count = |field: &str| {
            (config.get(field).and_then(Value::as_u64))
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(1)
        };
        Concurrency {
            in_flight: count("in_flight"),
            pairs: count("pairs"),
        }
    }
}

impl RawResult {
    /// The case of `results[index]`, every figure checked.
    fn into_case(
        self,
        index: usize,
        concurrency: Concurrency,
    ) -> Result<SavedCase, SavedReportError> {
        let at = |field: &str| format!("results[{index}].{field}");
        let transport = transport_named(&self.transport, || at("transport"))?;
        if let Some(latency) = &self.latency_us {
            measured(latency.mean, || at("latency_us.mean"))?;
            measured(latency.p50, || at("latency_us.p50"))?;
            measured(latency.p99, || at("latency_us.p99"))?;
            check_ascending(latency.p50, latency.p99, || at("latency_us.p99"))?;
        }
        if let Some(per_message) = self.us_per_message {
            measured(per_message, || at("us_per_message"))?;
        }
        for (i, &run_mean) in self.runs.iter().enumerate() {
            measured(run_mean, || at(&format!("runs[{i}]")))?;
        }
        Ok(SavedCase {
            key: CaseKey {
                transport,
                size_bytes: self.size_bytes,
                workload: Workload::new(self.pattern, concurrency.in_flight),
                pairs: concurrency.pairs,
            },
            status: self.status,
            reason: self.error.or(self.skip_reason),
            latency_us: match Workload::of_pattern(self.pattern)
                .figures()
                .timed_one_by_one
            {
                true => self.latency_us.map(|l| Latency {
                    mean: l.mean,
                    p50: Some(l.p50),
                    p99: Some(l.p99),
                }),
                false => self.us_per_message.map(|mean| Latency {
                    mean,
                    p50: None,
                    p99: None,
                }),
            },
            run_means_us: self.runs,
        })
    }
}
