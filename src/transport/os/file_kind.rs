//! What kind of file a name or a descriptor is, and opening a name where one kind is expected
//! without being led elsewhere or kept waiting.
//!
//! `/dev/shm` and `/tmp` are world-writable, so anyone can plant a FIFO, a link or a directory
//! under a name this tool makes or looks for. A plain `open` follows the link, and blocks on a
//! FIFO until a writer comes (forever, deaf to signals, whose handlers only set a flag). So
//! names are opened with `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC`, looked at with `lstat` first
//! (a device is never even opened: opening one can have effects) and checked again with
//! `fstat` once open, which no rename in between can fool.

use std::fmt;
use std::fs::{File, FileType, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::{fstat, SFlag};

/// The kind of a file, as `stat` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    Regular,
    Directory,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    SymbolicLink,
}

impl FileKind {
    /// The kind in a `st_mode`.
    pub fn of_mode(mode: libc::mode_t) -> FileKind {
        match SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFDIR => FileKind::Directory,
            SFlag::S_IFIFO => FileKind::Fifo,
            SFlag::S_IFSOCK => FileKind::Socket,
            SFlag::S_IFCHR => FileKind::CharDevice,
            SFlag::S_IFBLK => FileKind::BlockDevice,
            SFlag::S_IFLNK => FileKind::SymbolicLink,
            _ => FileKind::Regular,
        }
    }

    /// The kind of a `std` file type (from `symlink_metadata` or a directory entry, neither of
    /// which follows a link).
    pub fn of_type(file_type: FileType) -> FileKind {
        match file_type {
            t if t.is_dir() => FileKind::Directory,
            t if t.is_fifo() => FileKind::Fifo,
            t if t.is_socket() => FileKind::Socket,
            t if t.is_char_device() => FileKind::CharDevice,
            t if t.is_block_device() => FileKind::BlockDevice,
            t if t.is_symlink() => FileKind::SymbolicLink,
            _ => FileKind::Regular,
        }
    }

    /// The kind of what `fd` is open on.
    pub fn of_fd(fd: &impl AsFd) -> Result<FileKind, Errno> {
        Ok(FileKind::of_mode(fstat(fd.as_fd().as_raw_fd())?.st_mode))
    }

    /// The kind of the name itself (a link is a link), or None if nothing has that name.
    pub fn of_name(path: &Path) -> io::Result<Option<FileKind>> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) => Ok(Some(FileKind::of_type(meta.file_type()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl FileKind {
    /// The kind, for people: `a FIFO`.
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::SymbolicLink => "a symbolic link",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a name could not be opened as the kind expected.
#[derive(Debug, thiserror::Error)]
pub enum OpenKindError {
    #[error("it is {found}, not {expected}")]
    WrongKind { found: FileKind, expected: FileKind },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Whether a final symbolic link in the name is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// The name is ours to look at (a sweep, an IPC object): a link there is not ours.
    Refuse,
    /// The user named it (a report to read): a link is the user's way of pointing.
    Follow,
}

/// Opens `path` read-only if it is (or, with [`Links::Follow`], leads to) a file of kind
/// `expected`: a regular file or a directory. Never blocks and never opens anything else.
pub fn open_expecting(
    path: &Path,
    expected: FileKind,
    links: Links,
) -> Result<File, OpenKindError> {
    open_checked(path, expected, links, false)
}

/// [`open_expecting`] for reading and writing (a write lock needs it): a regular file only,
/// since a directory cannot be opened for writing.
pub fn open_expecting_writable(
    path: &Path,
    expected: FileKind,
    links: Links,
) -> Result<File, OpenKindError> {
    open_checked(path, expected, links, true)
}

fn open_checked(
    path: &Path,
    expected: FileKind,
    links: Links,
    write: bool,
) -> Result<File, OpenKindError> {
    let meta = match links {
        Links::Refuse => std::fs::symlink_metadata(path)?,
        Links::Follow => std::fs::metadata(path)?,
    };
    let check = |found: FileKind| {
        if found == expected {
            return Ok(());
        }
        Err(OpenKindError::WrongKind { found, expected })
    };
    check(FileKind::of_type(meta.file_type()))?;
    let no_follow = match links {
        Links::Refuse => libc::O_NOFOLLOW,
        Links::Follow => 0,
    };
    // std adds O_CLOEXEC itself.
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NONBLOCK | no_follow)
        .open(path)?;
    // The name may have been replaced since lstat: what counts is what was opened.
    check(FileKind::of_fd(&file).map_err(io::Error::from)?)?;
    Ok(file)
}

/// A name in a directory that holds a kind of file other than the one expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misplaced {
    pub path: PathBuf,
    pub found: FileKind,
    pub expected: FileKind,
}

impl fmt::Display for Misplaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Misplaced {
            path,
            found,
            expected,
        } = self;
        write!(f, "{} is {found}, not {expected}", path.display())
    }
}

/// The entries of `dir` for which `expected` names a kind (by their file name) and that are of
/// another kind. They are looked at with `lstat` only: nothing is opened, so a FIFO cannot
/// block the look and a link is not followed. A directory that cannot be read has none.
pub fn misplaced_entries(
    dir: &Path,
    expected: impl Fn(&str) -> Option<FileKind>,
) -> Vec<Misplaced> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let mut found: Vec<Misplaced> = entries
        .filter_map(|entry| {
            let expected = expected(entry.file_name().to_str()?)?;
            let found = FileKind::of_type(entry.file_type().ok()?);
            (found != expected).then(|| Misplaced {
                path: entry.path(),
                found,
                expected,
            })
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_or_a_link_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        let regular = dir.path().join("regular");
        std::fs::write(&regular, b"x").unwrap();
        let refused = |path: &Path, links| match open_expecting(path, FileKind::Regular, links) {
            Err(OpenKindError::WrongKind { found, .. }) => found,
            other => panic!("{path:?} opened: {other:?}"),
        };
        assert_eq!(refused(&fifo, Links::Refuse), FileKind::Fifo);
        assert_eq!(refused(&link, Links::Refuse), FileKind::SymbolicLink);
        assert_eq!(refused(&link, Links::Follow), FileKind::Fifo);
        assert_eq!(refused(dir.path(), Links::Follow), FileKind::Directory);
        assert!(open_expecting(&regular, FileKind::Regular, Links::Refuse).is_ok());
        assert!(open_expecting(dir.path(), FileKind::Directory, Links::Refuse).is_ok());
        assert_eq!(FileKind::of_name(&dir.path().join("gone")).unwrap(), None);
        assert_eq!(FileKind::Fifo.to_string(), "a FIFO");
    }

    #[test]
    fn misplaced_entries_are_told_by_their_names_kind_without_opening_them() {
        let dir = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&dir.path().join("a.node"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::write(dir.path().join("b.node"), b"x").unwrap();
        std::os::unix::fs::symlink("b.node", dir.path().join("c.node")).unwrap();
        std::fs::write(dir.path().join("other"), b"x").unwrap();
        let found = misplaced_entries(dir.path(), |name| {
            name.ends_with(".node").then_some(FileKind::Regular)
        });
        let kinds: Vec<FileKind> = found.iter().map(|m| m.found).collect();
        assert_eq!(kinds, [FileKind::Fifo, FileKind::SymbolicLink]);
        let shown = found[0].to_string();
        assert!(
            shown.ends_with("a.node is a FIFO, not a regular file"),
            "{shown}"
        );
    }
}
