//! `transport-bench plot REPORT.json --out FILE.svg`: draws the `--plot` SVG from a saved JSON
//! report, without running anything.
//!
//! The report is read whole and checked ([`crate::report::saved`]) before the output is
//! touched, so bad input never clobbers an existing SVG nor hands a FIFO's reader half a
//! document; the output is then written as every export is ([`ExportTarget`]: atomically for
//! a file, through links, once in place for a FIFO or `-`).

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use super::target::ExportTarget;
use super::{ExportError, PlotData, SvgPlotExporter};
use crate::printable;
use crate::report::saved::{read_file, SavedFileError};

/// What to draw, and where.
#[derive(Debug, Clone)]
pub struct PlotRequest {
    /// The JSON report, as `--export-json` wrote it.
    pub report: PathBuf,
    /// The SVG; its name ends in `.svg`, or it is `-`.
    pub out: PathBuf,
}

/// Why nothing, or not all, was drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error(transparent)]
    Report(#[from] SavedFileError),
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
            // The error may quote the saved report it refuses.
            eprintln!("error: {}", printable::text(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Reads and checks the report, draws it, and only then opens and writes the output.
pub fn plot(request: &PlotRequest) -> Result<(), PlotError> {
    let data = read_file(&request.report, PlotData::from_json)?;
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
