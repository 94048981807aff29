//! A directory the user names, whose files the tool names itself (`--export-hgrm DIR`'s
//! `.hgrm` files, `man --out-dir DIR`'s pages), written so that nothing planted there leads
//! the write elsewhere or holds it up.
//!
//! The directory may be someone else's, or writable by others (a world-writable directory
//! without the sticky bit lets anyone rename and replace what is in it). A plain
//! `File::create(dir/name)` follows a link planted at `name` and overwrites its target (root's
//! files, when root runs the tool), and blocks for ever on a FIFO planted there. So:
//! - the directory is opened once, and every name below is resolved against that descriptor,
//!   so that the directory cannot be swapped for another between two files;
//! - each file is first written as a new temporary file (`O_CREAT | O_EXCL | O_NOFOLLOW`:
//!   the kernel never follows a link nor opens an existing file, a FIFO included, for it), then
//!   renamed over the name: a rename replaces the name itself, so a link planted there is
//!   replaced, never written through, and a FIFO is replaced, never opened.
//!
//! Unlike an export the user names file by file ([`super::target`]), a link at one of these
//! names is not the user's way of pointing: the user named the directory, not the link.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{unlinkat, UnlinkatFlags};

/// How many temporary names are tried when each is taken (someone may plant them ahead).
const TEMP_NAME_TRIES: u32 = 32;

/// Tells apart the temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A directory, open, whose entries are written by name without following anything there.
#[derive(Debug)]
pub struct NamedFilesDir {
    dir: OwnedFd,
    shown: PathBuf,
}

impl NamedFilesDir {
    /// Opens the directory at `path` (a link the user gave as `path` is followed: the user
    /// named it). A FIFO or anything else that is not a directory is refused without blocking.
    pub fn open(path: &Path) -> io::Result<NamedFilesDir> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let fd = openat(None, path, flags, Mode::empty()).map_err(io::Error::from)?;
        Ok(NamedFilesDir {
            // SAFETY: openat has just returned this descriptor; nothing else owns it.
            dir: unsafe { OwnedFd::from_raw_fd(fd) },
            shown: path.to_path_buf(),
        })
    }

    /// The directory as the user gave it, for messages.
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// Makes `name` (a bare file name) a regular file holding `bytes`, atomically: whatever
    /// had that name (a file, a link, a FIFO) is replaced, and nothing is followed or opened.
    pub fn replace(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let (temp_name, mut file) = self.create_temp(name)?;
        let renamed = (file.write_all(bytes))
            .and_then(|()| file.flush())
            .and_then(|()| {
                let dir = Some(self.dir.as_raw_fd());
                renameat(dir, temp_name.as_str(), dir, name).map_err(io::Error::from)
            });
        if renamed.is_err() {
            let _ = unlinkat(
                Some(self.dir.as_raw_fd()),
                temp_name.as_str(),
                UnlinkatFlags::NoRemoveDir,
            );
        }
        renamed.map_err(|e| match e.raw_os_error() {
            Some(libc::EISDIR) | Some(libc::ENOTEMPTY) | Some(libc::EEXIST) => io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{name} is a directory there"),
            ),
            _ => e,
        })
    }

    /// A new temporary file beside `name`, made by this call (O_EXCL): a name someone planted
    /// ahead of it is skipped for the next one.
    fn create_temp(&self, name: &str) -> io::Result<(String, File)> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mode = Mode::from_bits_truncate(0o644);
        for _ in 0..TEMP_NAME_TRIES {
            let count = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp_name = format!(".{name}.tmp-{}-{count}", std::process::id());
            match openat(Some(self.dir.as_raw_fd()), temp_name.as_str(), flags, mode) {
                // SAFETY: openat has just returned this descriptor; nothing else owns it.
                Ok(fd) => return Ok((temp_name, File::from(unsafe { OwnedFd::from_raw_fd(fd) }))),
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{TEMP_NAME_TRIES} temporary names beside {name} were all taken"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileTypeExt;

    use super::*;

    #[test]
    fn a_planted_link_or_fifo_is_replaced_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let keep = elsewhere.path().join("keep.txt");
        std::fs::write(&keep, "keep").unwrap();
        std::os::unix::fs::symlink(&keep, dir.path().join("a.hgrm")).unwrap();
        nix::unistd::mkfifo(&dir.path().join("b.hgrm"), Mode::S_IRWXU).unwrap();
        let named = NamedFilesDir::open(dir.path()).unwrap();
        named.replace("a.hgrm", b"a").unwrap();
        named.replace("b.hgrm", b"b").unwrap();
        assert_eq!(std::fs::read_to_string(&keep).unwrap(), "keep");
        for (name, text) in [("a.hgrm", "a"), ("b.hgrm", "b")] {
            let path = dir.path().join(name);
            assert!(
                std::fs::symlink_metadata(&path).unwrap().is_file(),
                "{name}"
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
        // Nothing else is left: no temporary file.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_directory_at_the_name_is_an_error_and_a_fifo_is_no_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("taken")).unwrap();
        std::fs::write(dir.path().join("taken/inside"), "x").unwrap();
        let named = NamedFilesDir::open(dir.path()).unwrap();
        let error = named.replace("taken", b"x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::IsADirectory, "{error}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::S_IRWXU).unwrap();
        assert!(NamedFilesDir::open(&fifo).is_err());
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
    }
}
