//! The directories a transport's library makes for every channel and never removes (iceoryx2's
//! `/tmp/iceoryx2`, its `nodes` and `services`): a run that did not find them removes them at
//! its end, once empty, so that it leaves the machine as it found it. A directory that existed
//! before the run, or that still holds something (another run's node, a dead node's files for
//! `transport-bench cleanup`), stays.

use std::path::PathBuf;

use crate::transport::TransportKind;

/// The library directories of a run's transports that did not exist when it started; removed,
/// those that are empty, when dropped.
#[derive(Debug)]
pub struct LibraryDirs {
    /// Parents first, as the transports list them; removed in the reverse order.
    missing: Vec<PathBuf>,
}

impl LibraryDirs {
    /// Notes which of `transports`' library directories are missing now.
    pub fn note_missing(transports: &[TransportKind]) -> LibraryDirs {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for dir in transports.iter().flat_map(|kind| kind.library_dirs()) {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        LibraryDirs::missing_of(dirs)
    }

    /// Those of `dirs` (parents first) that do not exist (not even as a link or a file).
    fn missing_of(dirs: Vec<PathBuf>) -> LibraryDirs {
        let missing = (dirs.into_iter())
            .filter(|dir| {
                std::fs::symlink_metadata(dir)
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            })
            .collect();
        LibraryDirs { missing }
    }
}

impl Drop for LibraryDirs {
    /// `rmdir`, children first: it removes only an empty directory, so whatever another
    /// process keeps there stays, with its directory.
    fn drop(&mut self) {
        for dir in self.missing.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_empty_directories_that_were_missing_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, nodes, services) = (
            tmp.path().join("root"),
            tmp.path().join("root/nodes"),
            tmp.path().join("root/services"),
        );
        let kept = tmp.path().join("kept");
        std::fs::create_dir(&kept).unwrap();
        let noted = LibraryDirs::missing_of(vec![
            kept.clone(),
            root.clone(),
            nodes.clone(),
            services.clone(),
        ]);
        assert_eq!(
            noted.missing,
            [root.clone(), nodes.clone(), services.clone()]
        );
        std::fs::create_dir_all(&nodes).unwrap();
        std::fs::create_dir_all(&services).unwrap();
        std::fs::write(services.join("a_live_service"), b"").unwrap();
        drop(noted);
        // The empty one went; the one still in use stayed, and so did its parent, and the one
        // that was there before.
        assert!(!nodes.exists());
        assert!(services.join("a_live_service").exists());
        assert!(root.exists() && kept.exists());
    }

    #[test]
    fn a_run_without_a_library_transport_notes_nothing() {
        let noted = LibraryDirs::note_missing(&[crate::transport::kinds::pipe::KIND]);
        assert!(noted.missing.is_empty());
    }
}
