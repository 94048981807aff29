//! Machine-readable results: one small file per format behind [`Exporter`], all fed by the same
//! [`Report`]. Files are rewritten after every case (atomically, through a temporary file and a
//! rename) so that an interrupted run keeps what it measured.

mod csv;
mod json;
mod markdown;
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
