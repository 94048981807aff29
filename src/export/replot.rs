//! `transport-bench plot REPORT.json --out FILE.svg`: draws the `--plot` SVG from a saved JSON
//! report, without running anything.
//!
//! The report is read whole (up to [`MAX_REPORT_BYTES`]) and checked before the output is
//! touched, so bad input never clobbers an existing SVG nor hands a FIFO's reader half a
//! document; the output is then written as every export is ([`ExportTarget`]: atomically for
//! a file, through links, once in place for a FIFO or `-`).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::target::ExportTarget;
use super::{ExportError, PlotData, SavedReportError, SvgPlotExporter};

/// Reading stops here. A report is far smaller (a `--transports all --sizes sweep` run: well
/// under 1 MiB), so a larger file, or an endless one such as `/dev/zero`, is not a report.
pub const MAX_REPORT_BYTES: u64 = 16 << 20;

/// What to draw, and where.
#[derive(Debug, Clone)]
pub struct PlotRequest {
    /// The JSON report, as `--export-json` wrote it.
    pub report: PathBuf,
    /// The SVG; its name ends in `.svg`, or it is `-`.
    pub out: PathBuf,
}

/// Why a saved report's bytes could not be had (for `plot` and `compare`).
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
}

/// Why nothing, or not all, was drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error(transparent)]
    Read(#[from] ReadReportError),
    #[error("{}: {source}", path.display())]
    Report {
        path: PathBuf,
        #[source]
        source: SavedReportError,
    },
    #[error("cannot write {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {} failed: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Draw(ExportError),
}

impl PlotError {
    /// 2 for bad input (the report, or an output that cannot be opened: nothing was written),
    /// 1 when writing the SVG itself failed, as for any export.
    pub fn exit_code(&self) -> u8 {
        match self {
            PlotError::Write { .. } | PlotError::Draw(_) => 1,
            _ => 2,
        }
    }
}

/// Draws the plot; on failure says why on stderr and exits with [`PlotError::exit_code`].
pub fn run(request: &PlotRequest) -> ExitCode {
    match plot(request) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Reads and checks the report, draws it, and only then opens and writes the output.
pub fn plot(request: &PlotRequest) -> Result<(), PlotError> {
    let bytes = read_report(&request.report)?;
    let data = PlotData::from_json(&bytes).map_err(|source| PlotError::Report {
        path: request.report.clone(),
        source,
    })?;
    let svg = SvgPlotExporter::render(&data).map_err(PlotError::Draw)?;
    let out = &request.out;
    let mut target = ExportTarget::open(out).map_err(|source| PlotError::Open {
        path: out.clone(),
        source,
    })?;
    target.write(&svg).map_err(|source| PlotError::Write {
        path: out.clone(),
        source,
    })
}

/// The file's bytes, at most [`MAX_REPORT_BYTES`] of them.
pub fn read_report(path: &Path) -> Result<Vec<u8>, ReadReportError> {
    let read_error = |source| ReadReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    (file.take(MAX_REPORT_BYTES + 1))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        return Err(ReadReportError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}
