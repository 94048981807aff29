//! Machine-readable results: one small file per format behind [`Exporter`], all fed by the same
//! [`Report`]. Files are rewritten after every case (atomically, through a temporary file and a
//! rename) so that an interrupted run keeps what it measured.

mod csv;
mod json;
mod markdown;
mod reporter;
mod svg_plot;

use std::path::{Path, PathBuf};

use plotters::drawing::DrawingAreaErrorKind;

use crate::benchmark::result::Report;
use crate::options::Exports;

pub use self::csv::CsvExporter;
pub use self::json::JsonExporter;
pub use self::markdown::MarkdownExporter;
pub use self::svg_plot::SvgPlotExporter;

pub trait Exporter {
    /// The whole file's contents for `report`.
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError>;
}

/// Why an export file could not be produced or written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot serialize the JSON report: {0}")]
    Json(#[source] serde_json::Error),
    #[error("drawing the plot: {0}")]
    Plot(#[from] DrawingAreaErrorKind<std::io::Error>),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    pub fn write(&self, report: &Report) -> Result<(), ExportError> {
        for (exporter, path) in &self.targets {
            let bytes = exporter.serialize(report)?;
            write_atomically(path, &bytes).map_err(|source| ExportError::Write {
                path: path.clone(),
                source,
            })?;
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
mod tests {
    use std::error::Error;

    use super::*;
    use crate::test_report::sample;

    #[test]
    fn a_write_failure_names_the_file_and_keeps_the_io_error() {
        let exports = Exports {
            json: Some(PathBuf::from("/nonexistent-dir/report.json")),
            ..Exports::default()
        };
        let error = ExportSet::new(&exports).write(&sample()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot write /nonexistent-dir/report.json: No such file or directory (os error 2)"
        );
        let source = error
            .source()
            .and_then(|e| e.downcast_ref::<std::io::Error>());
        assert_eq!(
            source.map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
    }
}
