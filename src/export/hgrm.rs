//! `--export-hgrm DIR`: one `.hgrm` file per measured round-trip case, HdrHistogram's
//! percentile distribution (the text wrk2 prints and HdrHistogram's plotter reads), decoded
//! from the case's `hdr_histogram_v2` in the report, so that it shows exactly what the JSON
//! holds. Values are in µs, as the tool's other outputs; the plotter takes the unit as given.
//! Each file is written once, when its case is done, through [`NamedFilesDir`] (a new
//! temporary file and a rename at the directory's descriptor): the directory may be someone
//! else's, and a link or FIFO planted under a case's name is replaced, never followed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::directory::NamedFilesDir;
use super::ExportError;
use crate::report::hdr;
use crate::report::result::{BenchmarkResult, Report};

/// The file name of a case: `shm-posix_100B_round-trip.hgrm`.
pub fn file_name(result: &BenchmarkResult) -> String {
    let pattern = result.pattern.name();
    format!(
        "{}_{}B_{pattern}.hgrm",
        result.transport.name(),
        result.size_bytes
    )
}

/// Makes `dir` and whichever of its parents are missing (as `mkdir -p`); returns the
/// directories it made, outermost first, so that a run that fails can remove them again.
pub fn make_missing(dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    let missing: Vec<&Path> = (dir.ancestors())
        .filter(|d| !d.as_os_str().is_empty())
        .take_while(|d| std::fs::symlink_metadata(d).is_err())
        .collect();
    let mut made = Vec::new();
    for dir in missing.into_iter().rev() {
        match std::fs::create_dir(dir) {
            Ok(()) => made.push(dir.to_path_buf()),
            // Made meanwhile by someone else: theirs, not ours to remove.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                for made in made.iter().rev() {
                    let _ = std::fs::remove_dir(made);
                }
                let path = dir.to_path_buf();
                return Err(ExportError::Write { path, source });
            }
        }
    }
    Ok(made)
}

/// The directory and the cases already written into it.
pub struct HgrmDirectory {
    dir: NamedFilesDir,
    /// The file names written, one per case.
    written: BTreeSet<String>,
}

impl HgrmDirectory {
    /// Opens `dir` (made by [`make_missing`]); what is already there stays as it is.
    pub fn open(dir: &Path) -> Result<HgrmDirectory, ExportError> {
        let write_error = |source| ExportError::Write {
            path: dir.to_path_buf(),
            source,
        };
        Ok(HgrmDirectory {
            dir: NamedFilesDir::open(dir).map_err(write_error)?,
            written: BTreeSet::new(),
        })
    }

    /// Writes the file of every case of `report` that has a histogram and has none yet.
    pub fn write(&mut self, report: &Report) -> Result<(), ExportError> {
        for result in &report.results {
            let Some(v2) = &result.hdr_histogram_v2 else {
                continue;
            };
            let name = file_name(result);
            if self.written.contains(&name) {
                continue;
            }
            let path = || self.dir.shown().join(&name);
            let histogram = hdr::decode_v2(v2).map_err(|e| ExportError::Write {
                path: path(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?;
            let text = hdr::percentile_distribution(&histogram);
            (self.dir.replace(&name, text.as_bytes())).map_err(|source| ExportError::Write {
                path: path(),
                source,
            })?;
            self.written.insert(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_report::sample;

    #[test]
    fn one_file_per_case_with_a_histogram_named_by_transport_size_and_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let report = sample();
        make_missing(&dir.path().join("hgrm")).unwrap();
        let mut hgrm = HgrmDirectory::open(&dir.path().join("hgrm")).unwrap();
        hgrm.write(&report).unwrap();
        hgrm.write(&report).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("hgrm"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "shm-posix_10000B_round-trip.hgrm",
                "shm-posix_100B_round-trip.hgrm",
                "zmq-ipc_10000B_round-trip.hgrm",
                "zmq-ipc_100B_round-trip.hgrm",
            ]
        );
        let text = std::fs::read_to_string(dir.path().join("hgrm/shm-posix_100B_round-trip.hgrm"))
            .unwrap();
        assert!(
            text.contains("#[Max     =      100.031, Total count    =          100]"),
            "{text}"
        );
    }
}
