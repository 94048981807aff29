//! Where an export goes, and how it is written without damaging anything on the way.
//!
//! - A regular file (or a name not taken yet) is replaced atomically: written to a temporary
//!   file in the same directory, then renamed over it, so a reader never sees half a file and
//!   an interrupted run keeps the previous complete one.
//! - A symbolic link is followed: the file it resolves to is replaced, in that file's own
//!   directory, and the link stays a link.
//! - Anything else (standard output as `-`, a FIFO, a character device such as `/dev/stdout`)
//!   is opened once at the start and written once, with the final state, directly: renaming
//!   over it would replace a device node or a pipe with a plain file, and writing intermediate
//!   states would hand its reader several documents.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::system::{signals, stdout, threads};

/// How many symbolic links a path may pass through, as the kernel's own limit (ELOOP).
const MAX_LINK_HOPS: usize = 40;

/// The path that means standard output.
pub const STDOUT_PATH: &str = "-";

/// An export's destination, opened and checked.
pub enum ExportTarget {
    /// A regular file (possibly reached through links), replaced after every case.
    Replace { shown: PathBuf, resolved: PathBuf },
    /// A stream (standard output, a FIFO, a device), written once when the run ends.
    Stream { shown: PathBuf, file: Option<File> },
}

impl ExportTarget {
    /// Opens `path` for export: follows links, and opens streams now, so that a FIFO without
    /// a reader or an unwritable device fails before the run starts.
    pub fn open(path: &Path) -> io::Result<ExportTarget> {
        let shown = path.to_path_buf();
        if path == Path::new(STDOUT_PATH) {
            return Ok(ExportTarget::Stream {
                shown,
                file: Some(stdout_file()?),
            });
        }
        // The kernel follows links itself, including /proc's magic ones (/dev/stdout is
        // /proc/self/fd/1, which names a pipe or a terminal, not a path).
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "it is a directory",
            )),
            Ok(meta) if meta.is_file() => Ok(ExportTarget::Replace {
                resolved: std::fs::canonicalize(path)?,
                shown,
            }),
            Ok(meta) => Ok(ExportTarget::Stream {
                file: Some(open_stream(path, meta.file_type().is_fifo())?),
                shown,
            }),
            // Not there yet, or a link that dangles: create what it points at, in a directory
            // that must exist (checked now, so that a typo fails before anything is written).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let resolved = resolve_links(path)?;
                let dir = resolved.parent().filter(|d| !d.as_os_str().is_empty());
                std::fs::metadata(dir.unwrap_or(Path::new(".")))?;
                Ok(ExportTarget::Replace { resolved, shown })
            }
            Err(e) => Err(e),
        }
    }

    /// The path as the user gave it, for messages.
    pub fn shown(&self) -> &Path {
        match self {
            ExportTarget::Replace { shown, .. } | ExportTarget::Stream { shown, .. } => shown,
        }
    }

    /// Whether this target takes intermediate states (only a replaceable file does).
    pub fn takes_updates(&self) -> bool {
        matches!(self, ExportTarget::Replace { .. })
    }

    /// Writes `bytes` as the target's whole content. A stream is written at most once.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            ExportTarget::Replace { resolved, .. } => replace_atomically(resolved, bytes),
            ExportTarget::Stream { file, shown } => match file.take() {
                Some(file) => {
                    quiet_if_reader_left(shown, write_unless_stopped(file, bytes.to_vec()))
                }
                None => Ok(()),
            },
        }
    }
}

/// The file or stream an export writes into, to tell when two writers would share one. Two
/// names of one thing compare equal: `-`, `/dev/stdout`, `/dev/fd/1` and `/proc/self/fd/1`
/// (the kernel's links all end at descriptor 1's pipe, terminal or file), a link and its
/// target, two hard links. What does not exist yet is known by its absolute path after links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Something that exists, by device and inode.
    Inode { dev: u64, ino: u64 },
    /// A file to be created.
    Path(PathBuf),
}

impl Destination {
    /// Where `path` writes (`-` is standard output).
    pub fn of(path: &Path) -> Destination {
        if path == Path::new(STDOUT_PATH) {
            return Destination::standard_output().unwrap_or(Destination::Path(path.into()));
        }
        // metadata follows every link, /proc's magic ones too; nothing is opened.
        match std::fs::metadata(path) {
            Ok(meta) => Destination::Inode {
                dev: meta.dev(),
                ino: meta.ino(),
            },
            Err(_) => Destination::Path(absolute_after_links(path)),
        }
    }

    /// What descriptor 1 is open on, if it is open.
    pub fn standard_output() -> Option<Destination> {
        Destination::of_fd(io::stdout().as_fd())
    }

    /// What descriptor 2 is open on, if it is open.
    pub fn standard_error() -> Option<Destination> {
        Destination::of_fd(io::stderr().as_fd())
    }

    fn of_fd(fd: std::os::fd::BorrowedFd<'_>) -> Option<Destination> {
        let stat = nix::sys::stat::fstat(fd.as_raw_fd()).ok()?;
        Some(Destination::Inode {
            dev: stat.st_dev,
            ino: stat.st_ino,
        })
    }
}

/// A path that does not exist yet, in absolute form after links (as far as they exist), so
/// that `a.json`, `./a.json` and a dangling link to it compare equal.
fn absolute_after_links(path: &Path) -> PathBuf {
    let resolved = resolve_links(path).unwrap_or_else(|_| path.to_path_buf());
    let parent = match resolved.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = std::fs::canonicalize(&parent).unwrap_or(parent);
    parent.join(resolved.file_name().unwrap_or_default())
}

/// Follows symbolic links (relative ones from their own directory) to the path they end at,
/// which may not exist yet.
pub fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINK_HOPS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                let base = current.parent().unwrap_or(Path::new(""));
                current = base.join(target);
            }
            _ => return Ok(current),
        }
    }
    Err(io::Error::other(format!(
        "more than {MAX_LINK_HOPS} symbolic links"
    )))
}

/// A reader of standard output that went away (`… --export-json - | head`) wanted no more: as
/// for people's output ([`stdout`]), that is no failure. A named FIFO's reader that left
/// early still is.
fn quiet_if_reader_left(shown: &Path, written: io::Result<()>) -> io::Result<()> {
    let standard_output = || {
        shown == Path::new(STDOUT_PATH)
            || Destination::standard_output() == Some(Destination::of(shown))
    };
    match written {
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) && standard_output() => Ok(()),
        other => other,
    }
}

/// Writes `bytes` into a stream whose reader may never read them (a pipe nobody drains, a
/// FIFO whose reader stalls): the blocking write goes on a thread of its own, and the caller
/// waits for it until it is done or a stop signal comes *during* the wait (the write after a
/// first Ctrl-C ended the run waits for the next one). Then the write is abandoned, an error
/// says why, and the blocked thread ends with the process. A write on the calling thread would
/// be restarted after every signal (the handlers are `SA_RESTART`) and never end. The stream
/// is not made non-blocking instead: its open file description may be a terminal shared with
/// the shell.
fn write_unless_stopped(mut file: File, bytes: Vec<u8>) -> io::Result<()> {
    let signals_before = signals::count();
    let (done, finished) = mpsc::channel();
    threads::start("writing an export into a stream", move || {
        let _ = done.send(file.write_all(&bytes).and_then(|()| file.flush()));
    })
    .map_err(|e| io::Error::other(e.to_string()))?;
    loop {
        match finished.recv_timeout(STOP_POLL) {
            Ok(written) => return written,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(io::Error::other(
                    "the export's writer thread ended unexpectedly",
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) if signals::count() != signals_before => {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "abandoned: a stop signal came while its reader was not reading",
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// How often a stream's write looks for a stop signal while its reader does not read.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Opens a FIFO or device for writing. A FIFO is opened without blocking, so a FIFO with no
/// reader is an error now rather than a hang; then it is made blocking again for the write.
fn open_stream(path: &Path, fifo: bool) -> io::Result<File> {
    let flags = if fifo { libc::O_NONBLOCK } else { 0 };
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => io::Error::other("the FIFO has no reader"),
            _ => e,
        })?;
    if fifo {
        set_blocking(&file)?;
    }
    Ok(file)
}

fn set_blocking(file: &File) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let fd = file.as_raw_fd();
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) - OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    Ok(())
}

/// Writes a temporary file beside `path` and renames it over `path`.
///
/// The temporary file is `tempfile`'s: created with `O_CREAT | O_EXCL` under a random name, so
/// nothing planted beside `path` (a link, a FIFO, a leftover) is followed, opened or waited on,
/// and removed again if anything fails. It gets the mode of the file it replaces (a file kept
/// private, 600, stays so), or 666 less the umask for a new one, as `File::create` gives; and
/// its bytes reach the disk (fsync) before the rename, so that a crash leaves the previous
/// export or the new one, never a renamed empty file.
fn replace_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let replaced_mode = (std::fs::metadata(path).ok())
        .filter(std::fs::Metadata::is_file)
        .map(|meta| meta.permissions().mode() & 0o777);
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .permissions(Permissions::from_mode(replaced_mode.unwrap_or(0o666)))
        .tempfile_in(dir)?;
    if let Some(mode) = replaced_mode {
        // The umask took bits away at creation; the replaced file had them.
        temp.as_file()
            .set_permissions(Permissions::from_mode(mode))?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Standard output as a `File` of its own (a duplicate of descriptor 1), so that it is
/// written like any other stream.
fn stdout_file() -> io::Result<File> {
    if stdout::closed_at_start() {
        return Err(stdout::closed_error());
    }
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn a_regular_file_is_replaced_and_no_temporary_file_remains() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "old").unwrap();
        let mut target = ExportTarget::open(&path).unwrap();
        assert!(target.takes_updates());
        target.write(b"one").unwrap();
        target.write(b"two").unwrap();
        assert_eq!(read(&path), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A replaced export keeps its mode (600 stayed private until the rename reset it to
    /// 644); a new one gets what `File::create` gives; nothing is left beside it.
    #[test]
    fn a_replaced_file_keeps_its_mode_and_a_new_one_gets_the_usual_one() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let private = dir.path().join("private.json");
        std::fs::write(&private, "old").unwrap();
        std::fs::set_permissions(&private, Permissions::from_mode(0o600)).unwrap();
        let shared = dir.path().join("shared.json");
        std::fs::write(&shared, "old").unwrap();
        std::fs::set_permissions(&shared, Permissions::from_mode(0o664)).unwrap();
        for (path, expected) in [(&private, 0o600), (&shared, 0o664)] {
            ExportTarget::open(path).unwrap().write(b"new").unwrap();
            assert_eq!((read(path), mode(path)), ("new".into(), expected));
        }
        let created = dir.path().join("created.json");
        File::create(dir.path().join("reference")).unwrap();
        ExportTarget::open(&created).unwrap().write(b"x").unwrap();
        assert_eq!(mode(&created), mode(&dir.path().join("reference")));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }

    #[test]
    fn a_link_stays_a_link_and_its_target_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target_path = elsewhere.path().join("real.json");
        std::fs::write(&target_path, "old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&target_path, &link).unwrap();
        ExportTarget::open(&link).unwrap().write(b"new").unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(read(&target_path), "new");
        // A dangling link (relative, through a second link) gets its target created.
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink("link2.json", &dangling).unwrap();
        std::os::unix::fs::symlink("made.json", dir.path().join("link2.json")).unwrap();
        ExportTarget::open(&dangling).unwrap().write(b"x").unwrap();
        assert_eq!(read(&dir.path().join("made.json")), "x");
    }

    #[test]
    fn a_link_to_a_descriptor_is_written_in_place() {
        // As /dev/stdout is a link to /proc/self/fd/1: here, to a pipe of our own.
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("out");
        let fd_path = format!("/proc/self/fd/{}", write_end.as_raw_fd());
        std::os::unix::fs::symlink(fd_path, &link).unwrap();
        let mut target = ExportTarget::open(&link).unwrap();
        assert!(!target.takes_updates(), "a pipe is a stream");
        target.write(b"through the pipe").unwrap();
        drop((target, write_end));
        let text = std::io::read_to_string(File::from(read_end)).unwrap();
        assert_eq!(text, "through the pipe");
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    }

    #[test]
    fn a_link_loop_and_a_directory_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("b", &a).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        assert!(ExportTarget::open(&a).is_err());
        assert!(ExportTarget::open(dir.path()).is_err());
    }

    #[test]
    fn a_file_in_a_directory_that_does_not_exist_fails_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let error = ExportTarget::open(&dir.path().join("missing/r.json"))
            .err()
            .unwrap();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        // A bare file name is in the current directory, which exists.
        assert!(ExportTarget::open(Path::new("not-created-by-open.json")).is_ok());
        assert!(!Path::new("not-created-by-open.json").exists());
    }

    #[test]
    fn a_fifo_is_written_once_in_place_and_needs_a_reader() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let error = ExportTarget::open(&fifo).err().unwrap();
        assert!(error.to_string().contains("no reader"), "{error}");
        let reader_path = fifo.clone();
        let reader = std::thread::Builder::new().spawn(move || {
            // Opening for reading blocks until the writer opens; then read to the end.
            std::fs::read_to_string(reader_path).unwrap()
        });
        let reader = reader.expect("starting the reading thread");
        let mut target = loop {
            match ExportTarget::open(&fifo) {
                Ok(target) => break target,
                Err(_) => std::thread::yield_now(),
            }
        };
        assert!(!target.takes_updates());
        target.write(b"final").unwrap();
        target.write(b"ignored").unwrap();
        drop(target);
        assert_eq!(reader.join().unwrap(), "final");
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
    }
}
