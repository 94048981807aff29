//! `--export-hgrm DIR`: one `.hgrm` file per measured round-trip case, HdrHistogram's
//! percentile distribution (the text wrk2 prints and HdrHistogram's plotter reads), decoded
//! from the case's `hdr_histogram_v2` in the report, so that it shows exactly what the JSON
//! holds. Values are in µs, as the tool's other outputs; the plotter takes the unit as given.
//! Each file is written once, when its case is done, through [`ExportTarget`] (a temporary
//! file and a rename).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::target::ExportTarget;
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

/// The directory and the cases already written into it.
pub struct HgrmDirectory {
    dir: PathBuf,
    /// The file names written, one per case.
    written: BTreeSet<String>,
}

impl HgrmDirectory {
    /// Creates `dir` if it is missing; anything else there stays as it is.
    pub fn open(dir: &Path) -> Result<HgrmDirectory, ExportError> {
        std::fs::create_dir_all(dir).map_err(|source| ExportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(HgrmDirectory {
            dir: dir.to_path_buf(),
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
            let path = self.dir.join(&name);
            let histogram = hdr::decode_v2(v2).map_err(|e| ExportError::Write {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?;
            let text = hdr::percentile_distribution(&histogram);
            ExportTarget::open(&path)
                .and_then(|mut target| target.write(text.as_bytes()))
                .map_err(|source| ExportError::Write {
                    path: path.clone(),
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
