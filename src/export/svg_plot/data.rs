//! What the plot draws, and nothing more: the view of a report that `--plot` takes from the live
//! [`Report`] and `transport-bench plot` reads back from a saved JSON.
//!
//! A saved report is read with the one reader of saved reports ([`crate::report::saved`]),
//! which checks every value this view takes: the drawing code never meets a negative or absurd
//! latency, a percentile above 100 or a transport this binary does not know. Reading only these
//! fields keeps the rest of the report (placement, warnings, `&'static str` names) free of
//! `Deserialize`.

use serde::Deserialize;

use crate::printable;
use crate::report::result::{length_per_run, Report};
use crate::report::saved::{
    check_ascending, check_each_case_once, check_histogram, measured, parse_saved, transport_named,
    SavedReportError,
};
use crate::transport::{Pattern, TransportKind, Workload};

/// Everything the SVG shows.
#[derive(Debug, Clone)]
pub struct PlotData {
    /// The machine and the round trips per case.
    pub title: String,
    /// A stream's plot draws its time per message where round trips draw latencies, and has
    /// no spectra.
    pub workload: Workload,
    /// In the order of the run; a transport's colour is its index here.
    pub transports: Vec<TransportKind>,
    /// Every size of the run, ascending, each once.
    pub sizes: Vec<usize>,
    pub cases: Vec<PlotCase>,
}

/// One (transport, size) case, as drawn.
#[derive(Debug, Clone)]
pub struct PlotCase {
    pub transport: TransportKind,
    pub size_bytes: usize,
    /// Payload megabytes (10^6 bytes) per second in each direction.
    pub mb_per_s: f64,
    /// None when no round trip completed, and for a stream.
    pub latency_us: Option<Percentiles>,
    /// A stream's time per message; None for round trips and when nothing was acknowledged.
    pub us_per_message: Option<f64>,
    /// `[percentile, latency_us]` pairs, percentiles ascending from 0 to 100.
    pub histogram: Vec<[f64; 2]>,
}

impl PlotCase {
    /// The case measured something to draw.
    pub fn measured(&self) -> bool {
        self.latency_us.is_some() || self.us_per_message.is_some()
    }
}

/// The two percentiles of `latency_us` the size panels draw.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

/// The subset of the JSON report (docs/json-schema.md) that the plot reads.
#[derive(Deserialize)]
struct SavedReport {
    config: SavedConfig,
    machine: SavedMachine,
    results: Vec<SavedResult>,
}

#[derive(Deserialize)]
struct SavedConfig {
    /// Null, or absent, in a time-bounded run's report (`duration_s`).
    #[serde(default)]
    iterations: Option<u64>,
    #[serde(default)]
    duration_s: Option<f64>,
    /// Absent in a report older than `--runs`: one run.
    #[serde(default = "one_run")]
    runs: u32,
    /// Present (not null) with `--runs auto`, whose `runs` is the most.
    #[serde(default)]
    runs_auto: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pattern: Pattern,
    transports: Vec<String>,
    #[serde(default)]
    sizes: Vec<usize>,
}

#[derive(Deserialize)]
struct SavedMachine {
    cpu: String,
    cores: usize,
}

#[derive(Deserialize)]
struct SavedResult {
    transport: String,
    size_bytes: usize,
    mb_per_s: f64,
    latency_us: Option<Percentiles>,
    #[serde(default)]
    us_per_message: Option<f64>,
    #[serde(default)]
    histogram: Vec<[f64; 2]>,
}

fn one_run() -> u32 {
    1
}

/// How much each case ran, as its config says it: `duration_s` and `iterations` of each run,
/// the runs (with `--runs auto`, the most), and whether they were `--runs auto`'s.
struct RunLength {
    duration_s: Option<f64>,
    iterations: Option<u64>,
    runs: u32,
    runs_auto: bool,
}

fn title(cpu: &str, cores: usize, length: RunLength, workload: Workload) -> String {
    let count = workload.figures().plot_count;
    // A report's CPU name is free text: XML 1.0 cannot hold control characters or
    // noncharacters at all (the SVG backend escapes markup, not them).
    let cpu = printable::field(cpu);
    let per_run = length_per_run(length.duration_s, length.iterations, count);
    let runs = match (length.runs, length.runs_auto) {
        (_, true) => format!(" per run, up to {} runs", length.runs),
        (1, false) => String::new(),
        (runs, false) => format!(" per run, {runs} runs"),
    };
    format!("transport-bench: {cpu} ({cores} cores), {per_run}{runs} per case")
}

impl PlotData {
    /// The plot of a report being written by this run.
    pub fn from_report(report: &Report) -> PlotData {
        let cases = report
            .results
            .iter()
            .map(|r| PlotCase {
                transport: r.transport,
                size_bytes: r.size_bytes,
                mb_per_s: r.mb_per_s,
                latency_us: r.latency_us.map(|l| Percentiles {
                    p50: l.p50,
                    p99: l.p99,
                }),
                us_per_message: r.us_per_message,
                histogram: r.histogram.clone(),
            })
            .collect();
        let machine = &report.machine;
        let workload = report.config.workload();
        PlotData::new(
            title(
                &machine.cpu,
                machine.cores,
                RunLength {
                    duration_s: report.config.duration_s,
                    iterations: report.config.iterations,
                    runs: report.config.runs,
                    runs_auto: report.config.runs_auto.is_some(),
                },
                workload,
            ),
            workload,
            &report.config.transports,
            &report.config.sizes,
            cases,
        )
    }

    /// The plot of a saved JSON report, every value checked.
    pub fn from_json(bytes: &[u8]) -> Result<PlotData, SavedReportError> {
        parse_saved::<SavedReport>(bytes)?.into_plot_data()
    }

    /// Every transport of the run or of a case, and every size, each once.
    fn new(
        title: String,
        workload: Workload,
        transports: &[TransportKind],
        sizes: &[usize],
        cases: Vec<PlotCase>,
    ) -> PlotData {
        let mut all_transports: Vec<TransportKind> = Vec::new();
        for kind in transports
            .iter()
            .copied()
            .chain(cases.iter().map(|c| c.transport))
        {
            if !all_transports.contains(&kind) {
                all_transports.push(kind);
            }
        }
        let mut all_sizes: Vec<usize> = sizes.to_vec();
        all_sizes.extend(cases.iter().map(|c| c.size_bytes));
        all_sizes.sort_unstable();
        all_sizes.dedup();
        PlotData {
            title,
            workload,
            transports: all_transports,
            sizes: all_sizes,
            cases,
        }
    }

    /// The case of `transport` at `size_bytes`, if the report has one.
    pub fn case(&self, transport: TransportKind, size_bytes: usize) -> Option<&PlotCase> {
        self.cases
            .iter()
            .find(|c| c.transport == transport && c.size_bytes == size_bytes)
    }
}

impl SavedReport {
    fn into_plot_data(self) -> Result<PlotData, SavedReportError> {
        if self.results.is_empty() {
            return Err(SavedReportError::NoResults);
        }
        let transports = (self.config.transports.iter().enumerate())
            .map(|(i, name)| transport_named(name, || format!("config.transports[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let cases = (self.results.into_iter().enumerate())
            .map(|(i, result)| result.into_case(i))
            .collect::<Result<Vec<_>, _>>()?;
        check_each_case_once(cases.iter().map(|c| (c.transport, c.size_bytes)))?;
        if !cases.iter().any(PlotCase::measured) {
            return Err(SavedReportError::NothingMeasured);
        }
        let machine = &self.machine;
        // The plot reads its figures by the pattern alone: requests in flight change nothing.
        let workload = Workload::of_pattern(self.config.pattern);
        Ok(PlotData::new(
            title(
                &machine.cpu,
                machine.cores,
                RunLength {
                    duration_s: self.config.duration_s,
                    iterations: self.config.iterations,
                    runs: self.config.runs,
                    runs_auto: self.config.runs_auto.is_some(),
                },
                workload,
            ),
            workload,
            &transports,
            &self.config.sizes,
            cases,
        ))
    }
}

impl SavedResult {
    /// The case of `results[index]`, every value checked.
    fn into_case(self, index: usize) -> Result<PlotCase, SavedReportError> {
        let at = |field: &str| format!("results[{index}].{field}");
        let transport = transport_named(&self.transport, || at("transport"))?;
        measured(self.mb_per_s, || at("mb_per_s"))?;
        if let Some(latency) = &self.latency_us {
            measured(latency.p50, || at("latency_us.p50"))?;
            measured(latency.p99, || at("latency_us.p99"))?;
            check_ascending(latency.p50, latency.p99, || at("latency_us.p99"))?;
        }
        if let Some(per_message) = self.us_per_message {
            measured(per_message, || at("us_per_message"))?;
        }
        check_histogram(&self.histogram, || at("histogram"))?;
        Ok(PlotCase {
            transport,
            size_bytes: self.size_bytes,
            mb_per_s: self.mb_per_s,
            latency_us: self.latency_us,
            us_per_message: self.us_per_message,
            histogram: self.histogram,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{Exporter, JsonExporter};
    use crate::report::test_report::sample;

    fn sample_json() -> serde_json::Value {
        serde_json::from_slice(&JsonExporter.serialize(&sample()).unwrap()).unwrap()
    }

    fn error_of(document: &serde_json::Value) -> String {
        let bytes = serde_json::to_vec(document).unwrap();
        PlotData::from_json(&bytes).unwrap_err().to_string()
    }

    #[test]
    fn a_saved_report_reads_back_as_the_live_one_draws() {
        let live = PlotData::from_report(&sample());
        let bytes = JsonExporter.serialize(&sample()).unwrap();
        let saved = PlotData::from_json(&bytes).unwrap();
        assert_eq!(saved.title, live.title);
        assert_eq!(saved.transports, live.transports);
        assert_eq!(saved.sizes, [100, 10_000, 500_000]);
        assert_eq!(saved.cases.len(), live.cases.len());
        for (saved, live) in saved.cases.iter().zip(&live.cases) {
            assert_eq!(saved.histogram, live.histogram);
            assert_eq!(
                saved.latency_us.map(|l| l.p99),
                live.latency_us.map(|l| l.p99)
            );
        }
    }

    #[test]
    fn an_older_report_with_only_what_the_plot_needs_still_reads() {
        let old = serde_json::json!({
            "tool": "transport-bench",
            "config": {"iterations": 10, "transports": ["shm-posix"]},
            "machine": {"cpu": "Old CPU", "cores": 4},
            "results": [{"transport": "shm-posix", "size_bytes": 100, "mb_per_s": 1.5,
                         "latency_us": {"p50": 40.0, "p99": 60.0}}]
        });
        let data = PlotData::from_json(&serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(data.sizes, [100]);
        assert!(data.title.contains("Old CPU (4 cores), 10 round trips"));
        assert!(data.cases[0].histogram.is_empty());
    }

    #[test]
    fn each_bad_value_is_named_by_its_path() {
        let mut json = sample_json();
        json["results"][1]["transport"] = "carrier-pigeon".into();
        let error = error_of(&json);
        assert!(error.starts_with("results[1].transport: unknown transport \"carrier-pigeon\""));
        assert!(error.contains("shm-posix"), "{error}");
        let cases: [(&str, serde_json::Value, &str); 5] = [
            (
                "/results/0/mb_per_s",
                (-1.0).into(),
                "results[0].mb_per_s is -1",
            ),
            (
                "/results/2/latency_us/p99",
                (-0.5).into(),
                "latency_us.p99 is -0.5",
            ),
            (
                "/results/0/histogram/3/0",
                101.0.into(),
                "percentile 101 is outside",
            ),
            (
                "/results/0/histogram/3/0",
                1.0.into(),
                "histogram[3]: percentile 1 comes after",
            ),
            (
                "/results/0/histogram/2/1",
                (-3.0).into(),
                "results[0].histogram[2][1] is -3",
            ),
        ];
        for (pointer, value, expected) in cases {
            let mut json = sample_json();
            *json.pointer_mut(pointer).unwrap() = value;
            let error = error_of(&json);
            assert!(error.contains(expected), "{pointer}: {error}");
        }
    }

    #[test]
    fn reports_without_what_the_plot_needs_say_why() {
        let mut json = sample_json();
        json["machine"].as_object_mut().unwrap().remove("cpu");
        assert!(error_of(&json).contains("missing field `cpu`"));
        json = sample_json();
        json["results"][0]["mb_per_s"] = serde_json::Value::Null;
        assert!(error_of(&json).contains("invalid type: null, expected f64"));
        json["results"] = serde_json::json!([]);
        assert_eq!(
            error_of(&json),
            "its results list is empty: nothing to plot"
        );
        json = sample_json();
        json["results"][3] = json["results"][0].clone();
        assert!(error_of(&json)
            .contains("results[3] repeats the case shm-posix at 100 B of results[0]"));
        for result in json["results"].as_array_mut().unwrap() {
            result["latency_us"] = serde_json::Value::Null;
        }
        json["results"][3]["size_bytes"] = 7.into();
        assert!(error_of(&json).starts_with("no case has a latency"));
    }

    #[test]
    fn the_title_says_the_runs_of_each_case_live_and_saved() {
        let mut report = sample();
        assert!(PlotData::from_report(&report)
            .title
            .ends_with("(2 cores), 100 round trips per case"));
        report.config.runs = 3;
        let live = PlotData::from_report(&report).title;
        assert!(
            live.ends_with(", 100 round trips per run, 3 runs per case"),
            "{live}"
        );
        let saved = PlotData::from_json(&JsonExporter.serialize(&report).unwrap()).unwrap();
        assert_eq!(saved.title, live);
        report.config.runs_auto = Some(crate::report::result::RunsAuto {
            ci_target_pct: 5.0,
            min_runs: 2,
            max_runs: 3,
        });
        let live = PlotData::from_report(&report).title;
        assert!(live.ends_with(", 100 round trips per run, up to 3 runs per case"));
        let saved = PlotData::from_json(&JsonExporter.serialize(&report).unwrap()).unwrap();
        assert_eq!(saved.title, live);
    }
}
