//! Machine-readable results: one small file per format behind [`Exporter`], all fed by the same
//! [`Report`]. Files are rewritten after every case (atomically, through a temporary file and a
//! rename) so that an interrupted run keeps what it measured; standard output, FIFOs and
//! devices get the final state once ([`target`] says why).

mod bencher;
mod benchmark_action;
pub mod conflicts;
pub mod continuous;
mod csv;
pub mod directory;
pub mod events;
pub mod hgrm;
mod html;
mod json;
mod markdown;
pub mod replot;
mod reporter;
mod svg_plot;
pub mod target;

use std::path::{Path, PathBuf};

use plotters::drawing::DrawingAreaErrorKind;

use crate::printable;
use crate::report::result::Report;
use target::{Destination, ExportTarget, STDOUT_PATH};

pub use self::bencher::BencherExporter;
pub use self::benchmark_action::BenchmarkActionExporter;
pub use self::csv::CsvExporter;
pub use self::html::HtmlExporter;
pub use self::json::JsonExporter;
pub use self::markdown::MarkdownExporter;
pub use self::svg_plot::{PlotData, SvgPlotExporter};

/// `text` with the five XML-special characters escaped, for text and attribute values, and the
/// characters XML cannot hold at all (or a reader should not be shown) replaced: [`printable`].
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in printable::field(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where to write results, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    pub json: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub html: Option<PathBuf>,
    /// `--export-bencher`: the Bencher Metric Format.
    pub bencher: Option<PathBuf>,
    /// `--export-benchmark-action`: github-action-benchmark's customSmallerIsBetter.
    pub benchmark_action: Option<PathBuf>,
    /// A directory for one `.hgrm` file per case (not a file: [`Exports::paths`] leaves it out).
    pub hgrm_dir: Option<PathBuf>,
}

impl Exports {
    /// Every path asked for, in the order of the options.
    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        [
            &self.json,
            &self.csv,
            &self.markdown,
            &self.plot,
            &self.html,
            &self.bencher,
            &self.benchmark_action,
        ]
        .into_iter()
        .flatten()
    }

    /// Every path asked for with the option that asked for it, in the order of the options.
    pub fn named_paths(&self) -> Vec<(&'static str, &PathBuf)> {
        [
            ("--export-json", &self.json),
            ("--export-csv", &self.csv),
            ("--export-markdown", &self.markdown),
            ("--plot", &self.plot),
            ("--export-html", &self.html),
            ("--export-bencher", &self.bencher),
            ("--export-benchmark-action", &self.benchmark_action),
        ]
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path.as_ref()?)))
        .collect()
    }
}

pub trait Exporter {
    /// The whole file's contents for `report`.
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError>;
}

/// Why an export file could not be produced or written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot serialize the JSON report: {0}")]
    Json(#[source] serde_json::Error),
    #[error("cannot serialize the CSV report: {0}")]
    Csv(#[source] ::csv::Error),
    #[error("drawing the plot: {0}")]
    Plot(#[from] DrawingAreaErrorKind<std::io::Error>),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One export the user asked for: its format, its path, and once opened, its destination.
struct Export {
    exporter: Box<dyn Exporter>,
    path: PathBuf,
    target: Option<ExportTarget>,
}

/// The exports the user asked for.
pub struct ExportSet {
    exports: Vec<Export>,
    /// When the intermediate states are rewritten (see [`reporter`]).
    cadence: reporter::UpdateCadence,
    /// `--export-hgrm`: its directory, and once opened, what is written there.
    hgrm_dir: Option<PathBuf>,
    hgrm: Option<hgrm::HgrmDirectory>,
}

impl ExportSet {
    pub fn new(exports: &Exports) -> ExportSet {
        let wanted: [(&Option<PathBuf>, Box<dyn Exporter>); 7] = [
            (&exports.json, Box::new(JsonExporter)),
            (&exports.csv, Box::new(CsvExporter)),
            (&exports.markdown, Box::new(MarkdownExporter)),
            (&exports.plot, Box::new(SvgPlotExporter)),
            (&exports.html, Box::new(HtmlExporter)),
            (&exports.bencher, Box::new(BencherExporter)),
            (&exports.benchmark_action, Box::new(BenchmarkActionExporter)),
        ];
        let hgrm_dir = exports.hgrm_dir.clone();
        let exports = wanted
            .into_iter()
            .filter_map(|(path, exporter)| {
                Some(Export {
                    exporter,
                    path: path.clone()?,
                    target: None,
                })
            })
            .collect();
        ExportSet {
            exports,
            cadence: reporter::UpdateCadence::default(),
            hgrm_dir,
            hgrm: None,
        }
    }

    /// Opens every destination and writes the first state of the files; the first failure
    /// names its file and cause. The `.hgrm` directory is made first (an export may be written
    /// into it), and made no more if anything fails: a run that writes nothing leaves none.
    pub fn open(&mut self, report: &Report) -> Result<(), ExportError> {
        let made = match &self.hgrm_dir {
            Some(dir) => hgrm::make_missing(dir)?,
            None => Vec::new(),
        };
        let opened = self.open_made(report);
        if opened.is_err() {
            self.hgrm = None;
            // Deepest first; a directory that holds something now stays.
            for dir in made.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        opened
    }

    fn open_made(&mut self, report: &Report) -> Result<(), ExportError> {
        for export in &mut self.exports {
            let target = ExportTarget::open(&export.path).map_err(|source| ExportError::Write {
                path: export.path.clone(),
                source,
            })?;
            export.target = Some(target);
        }
        if let Some(dir) = &self.hgrm_dir {
            self.hgrm = Some(hgrm::HgrmDirectory::open(dir)?);
        }
        self.write(report, false)
    }

    /// Writes `report` to every file that takes intermediate states, or to every destination
    /// when it is the `last` state. The first failure names its file and cause.
    pub fn write(&mut self, report: &Report, last: bool) -> Result<(), ExportError> {
        for export in &mut self.exports {
            let Some(target) = export.target.as_mut() else {
                continue;
            };
            if !(last || target.takes_updates()) {
                continue;
            }
            let bytes = export.exporter.serialize(report)?;
            target.write(&bytes).map_err(|source| ExportError::Write {
                path: export.path.clone(),
                source,
            })?;
        }
        if let Some(hgrm) = self.hgrm.as_mut() {
            hgrm.write(report)?;
        }
        Ok(())
    }

    /// Whether any export goes to standard output, as `-` or under another of its names
    /// (`/dev/stdout`, `/proc/self/fd/1`, the file or pipe it is): then people's output goes
    /// to stderr, so that the export's reader gets the export alone.
    pub fn uses_stdout(exports: &Exports) -> bool {
        let stdout = Destination::standard_output();
        exports.paths().any(|path| {
            path == Path::new(STDOUT_PATH) || stdout.as_ref() == Some(&Destination::of(path))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;
    use crate::report::test_report::sample;

    #[test]
    fn a_write_failure_names_the_file_and_keeps_the_io_error() {
        let exports = Exports {
            json: Some(PathBuf::from("/nonexistent-dir/report.json")),
            ..Exports::default()
        };
        let error = ExportSet::new(&exports).open(&sample()).unwrap_err();
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
