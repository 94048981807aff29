//! Machine-readable results: one small file per format behind [`Exporter`], all fed by the same
//! [`Report`]. Files are rewritten after every case (atomically, through a temporary file and a
//! rename) so that an interrupted run keeps what it measured.

mod csv;
mod json;
mod markdown;
mod reporter;
mod svg_plot;

use std::path::{Path, PathBuf};

use crate::benchmark::result::Report;
use crate::options::Exports;

pub use self::csv::CsvExporter;
pub use self::json::JsonExporter;
pub use self::markdown::MarkdownExporter;
pub use self::svg_plot::SvgPlotExporter;

pub trait Exporter {
    /// The whole file's contents for `report`.
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, String>;
}

/// The exporters the user asked for, each with its file.
pub struct ExportSet {
    targets: Vec<(Box<dyn Exporter>, PathBuf)>,
}

impl ExportSet {
    pub fn new(exports: &Exports) -> ExportSet {
        let wanted: [(&Option<PathBuf>, Box<dyn Exporter>); 4] = [
            (&exports.json, Box::new(JsonExporter)),
            (&exports.csv, Box::new(CsvExporter)),
            (&exports.markdown, Box::new(MarkdownExporter)),
            (&exports.plot, Box::new(SvgPlotExporter)),
        ];
        let targets = wanted
            .into_iter()
            .filter_map(|(path, exporter)| Some((exporter, path.clone()?)))
            .collect();
        ExportSet { targets }
    }

    /// Writes every file; the first failure names the file and the cause.
    pub fn write(&self, report: &Report) -> Result<(), String> {
        for (exporter, path) in &self.targets {
            let bytes = exporter.serialize(report)?;
            write_atomically(path, &bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

#[cfg(test)]
pub(crate) mod test_report {
    use crate::benchmark::result::{CaseTally, Config, Machine, Report, Status};
    use crate::transport::TransportKind;

    /// A two-transport, two-size report with one failed case, from known samples.
    pub fn sample() -> Report {
        let mut results = Vec::new();
        for (transport, scale) in [(TransportKind::ShmPosix, 1), (TransportKind::ZmqIpc, 3)] {
            for size in [100usize, 10_000] {
                let mut tally = CaseTally::new();
                for i in 1..=100u64 {
                    tally.latencies.record(i * 1000 * scale);
                }
                tally.run_means_ns = vec![50_500.0 * scale as f64];
                tally.total_s = 0.01 * scale as f64;
                results.push(tally.into_result(transport, size, Status::Ok, None));
            }
        }
        results.push(CaseTally::new().into_result(
            TransportKind::ZmqIpc,
            500_000,
            Status::Failed,
            Some("server exited: killed by signal 9 (SIGKILL), \"quoted\"".into()),
        ));
        Report {
            tool: "transport-bench",
            version: "test",
            config: Config {
                iterations: 100,
                warmup: 10,
                runs: 1,
                buffer_size: 2_500_000,
                timeout_s: 10.0,
                transports: vec![TransportKind::ShmPosix, TransportKind::ZmqIpc],
                sizes: vec![100, 10_000, 500_000],
                baseline: TransportKind::ShmPosix,
                verify_all: false,
            },
            machine: Machine {
                cpu: "Test CPU".into(),
                cores: 2,
                kernel: "6.0".into(),
                os: "Linux".into(),
            },
            clock_overhead_ns: 25.0,
            state: "complete".into(),
            results,
        }
    }
}
