//! The export paths of one run checked together, before any file or directory is opened or
//! made: two exports into one file, an export where a directory is, `--export-hgrm` where a
//! file is or on an export's path, an export named like one of the `.hgrm` files. Each is a
//! usage error that names both options in words; a run refused for one has made nothing.

use std::io;
use std::path::{Path, PathBuf};

use super::target::{resolve_links, Destination, STDOUT_PATH};
use super::Exports;
use crate::transport::os::file_kind::FileKind;

/// The option that asks for a directory of `.hgrm` files.
const HGRM_FLAG: &str = "--export-hgrm";

/// Why the export paths of a run cannot all be written as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportConflict {
    #[error("{first_flag} {} and {second_flag} {} are the same file; give each export a file of its own", first.display(), second.display())]
    SameFile {
        first_flag: &'static str,
        first: PathBuf,
        second_flag: &'static str,
        second: PathBuf,
    },
    #[error("{flag} {}: a directory exists there; it needs a file", path.display())]
    ExportIsADirectory { flag: &'static str, path: PathBuf },
    #[error("{HGRM_FLAG} {}: {} exists there; it needs a directory", dir.display(), found_words(*found))]
    HgrmNotADirectory { dir: PathBuf, found: FileKind },
    #[error("{HGRM_FLAG} {}: a name ending in .{extension} reads as a file, but the .hgrm files go into a directory, made if missing; give a directory (for example hgrm/)", dir.display())]
    HgrmNamedLikeAFile { dir: PathBuf, extension: String },
    #[error("{flag} {} and {HGRM_FLAG} {} are one path: the export needs a file, the .hgrm files a directory; give each its own", path.display(), dir.display())]
    HgrmOnAnExport {
        flag: &'static str,
        path: PathBuf,
        dir: PathBuf,
    },
    #[error("{flag} {} is inside {HGRM_FLAG} {} and named like its .hgrm files, which would replace it; give the export another name", path.display(), dir.display())]
    ExportAmongHgrmFiles {
        flag: &'static str,
        path: PathBuf,
        dir: PathBuf,
    },
}

/// `a file`, `a FIFO`: what was found where a directory is needed.
fn found_words(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Regular => "a file",
        other => other.describe(),
    }
}

/// Checks every export path of `exports` against the others and against what exists.
pub fn check(exports: &Exports) -> Result<(), ExportConflict> {
    let named = exports.named_paths();
    for &(flag, path) in &named {
        if is_directory(path) {
            let path = path.clone();
            return Err(ExportConflict::ExportIsADirectory { flag, path });
        }
    }
    let mut seen: Vec<(Destination, &'static str, &PathBuf)> = Vec::new();
    for &(flag, path) in &named {
        let destination = Destination::of(path);
        if let Some((_, first_flag, first)) = seen.iter().find(|(d, ..)| *d == destination) {
            return Err(ExportConflict::SameFile {
                first_flag,
                first: first.to_path_buf(),
                second_flag: flag,
                second: path.clone(),
            });
        }
        seen.push((destination, flag, path));
    }
    match &exports.hgrm_dir {
        Some(dir) => check_hgrm_dir(dir, &named),
        None => Ok(()),
    }
}

/// Whether `path` is a directory (after links); `-` is standard output, whatever is named so.
fn is_directory(path: &Path) -> bool {
    path != Path::new(STDOUT_PATH) && std::fs::metadata(path).is_ok_and(|meta| meta.is_dir())
}

/// The `.hgrm` directory: a directory or nothing yet (a link to nothing is something), on no
/// export's path, holding no export named like its files, and not a new one named like a file.
fn check_hgrm_dir(dir: &Path, named: &[(&'static str, &PathBuf)]) -> Result<(), ExportConflict> {
    if let Some(found) = not_a_directory(dir) {
        let dir = dir.to_path_buf();
        return Err(ExportConflict::HgrmNotADirectory { dir, found });
    }
    let here = Destination::of(dir);
    for &(flag, path) in named {
        let (path, dir) = (path.clone(), dir.to_path_buf());
        if Destination::of(&path) == here {
            return Err(ExportConflict::HgrmOnAnExport { flag, path, dir });
        }
        let hgrm_named = path.extension().is_some_and(|e| e == "hgrm");
        if hgrm_named && containing_dir(&path).is_some_and(|d| Destination::of(&d) == here) {
            return Err(ExportConflict::ExportAmongHgrmFiles { flag, path, dir });
        }
    }
    // Last: an export on the same path is the likelier slip, and names both options.
    match file_extension(dir) {
        Some(extension) => Err(ExportConflict::HgrmNamedLikeAFile {
            dir: dir.to_path_buf(),
            extension,
        }),
        None => Ok(()),
    }
}

/// The extensions of the files a run writes: a new `--export-hgrm` directory named so
/// (`--export-hgrm r.json`) is a slip for another export, which would quietly become a
/// directory called `r.json`.
const FILE_EXTENSIONS: [&str; 7] = ["json", "csv", "md", "svg", "html", "hgrm", "txt"];

/// The extension of `dir`'s name when it is one of [`FILE_EXTENSIONS`] and no directory is
/// there yet (one that exists was made on purpose, and is used as it is).
fn file_extension(dir: &Path) -> Option<String> {
    let extension = dir.extension()?.to_str()?.to_ascii_lowercase();
    let is_file_like = FILE_EXTENSIONS.contains(&extension.as_str());
    (is_file_like && !dir.is_dir()).then_some(extension)
}

/// What is at `dir` if it is not a directory (after links): None when it is one, or nothing
/// is there yet.
fn not_a_directory(dir: &Path) -> Option<FileKind> {
    match std::fs::metadata(dir) {
        Ok(meta) => Some(FileKind::of_type(meta.file_type())).filter(|k| *k != FileKind::Directory),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A link to nothing: creating the directory would fail on the link.
            FileKind::of_name(dir).ok().flatten()
        }
        Err(_) => None,
    }
}

/// The directory a file at `path` would be written into (after links).
fn containing_dir(path: &Path) -> Option<PathBuf> {
    let resolved = resolve_links(path).ok()?;
    match resolved.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => Some(parent.to_path_buf()),
        _ => Some(PathBuf::from(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_hgrm_directory_named_like_a_file_is_refused_and_an_existing_one_used() {
        let tmp = tempfile::tempdir().unwrap();
        let hgrm_only = |name: &str| Exports {
            hgrm_dir: Some(tmp.path().join(name)),
            ..Exports::default()
        };
        let refused = check(&hgrm_only("r.json")).unwrap_err();
        assert!(
            matches!(&refused, ExportConflict::HgrmNamedLikeAFile { extension, .. } if extension == "json")
        );
        assert!(refused.to_string().contains("reads as a file"), "{refused}");
        assert!(check(&hgrm_only("R.SVG")).is_err());
        assert_eq!(check(&hgrm_only("hgrm")), Ok(()));
        assert_eq!(check(&hgrm_only("run.2026-12-07")), Ok(()));
        std::fs::create_dir(tmp.path().join("old.md")).unwrap();
        assert_eq!(check(&hgrm_only("old.md")), Ok(()));
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "nothing made"
        );
    }

    fn exports(dir: &Path, json: &str, hgrm: &str) -> Exports {
        Exports {
            json: Some(dir.join(json)),
            hgrm_dir: Some(dir.join(hgrm)),
            ..Exports::default()
        }
    }

    #[test]
    fn the_hgrm_directory_on_an_export_or_on_a_file_is_named_with_both_options() {
        let tmp = tempfile::tempdir().unwrap();
        let error = check(&exports(tmp.path(), "same", "same")).unwrap_err();
        assert!(matches!(
            error,
            ExportConflict::HgrmOnAnExport {
                flag: "--export-json",
                ..
            }
        ));
        let text = error.to_string();
        assert!(text.starts_with("--export-json "), "{text}");
        assert!(text.contains("and --export-hgrm "), "{text}");
        std::fs::write(tmp.path().join("r.json"), "{}").unwrap();
        let error = check(&exports(tmp.path(), "a.json", "r.json")).unwrap_err();
        let text = error.to_string();
        assert!(
            text.ends_with("r.json: a file exists there; it needs a directory"),
            "{text}"
        );
        let among = check(&exports(tmp.path(), "h/x.hgrm", "h")).unwrap_err();
        assert!(
            matches!(among, ExportConflict::ExportAmongHgrmFiles { .. }),
            "{among}"
        );
        assert_eq!(check(&exports(tmp.path(), "h/p.json", "h")), Ok(()));
    }

    #[test]
    fn an_export_onto_a_directory_is_refused_naming_its_option() {
        let tmp = tempfile::tempdir().unwrap();
        let exports = Exports {
            csv: Some(tmp.path().to_path_buf()),
            ..Exports::default()
        };
        let text = check(&exports).unwrap_err().to_string();
        assert!(text.starts_with("--export-csv "), "{text}");
        assert!(
            text.ends_with(": a directory exists there; it needs a file"),
            "{text}"
        );
    }
}
