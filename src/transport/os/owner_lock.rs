//! Liveness by lock, not by process id.
//!
//! IPC objects outlive their processes, so a cleaner must tell a live object from a leftover.
//! A pid in the name cannot: across PID namespaces (containers sharing `/dev/shm`) a live
//! owner's pid does not exist, and a hand-made name can hold any number. Instead, whoever
//! creates an object keeps a shared `flock` on it for as long as it lives; the kernel drops the
//! lock when the owner's last descriptor closes, however the owner ends. A cleaner that can
//! take an exclusive lock knows nobody holds one, in any namespace.
//!
//! The names tested live in world-writable directories, so what is there may be anything:
//! it is opened only as the kind this tool creates ([`file_kind`]), never through a link and
//! never waiting on a FIFO.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::errno::Errno;

use crate::transport::os::file_kind::{self, FileKind, Links, OpenKindError};

/// Marks `fd` as held by a live owner until it is closed.
pub fn hold(fd: &impl AsFd) -> Result<(), Errno> {
    // SAFETY: flock on a valid descriptor, with constant flags, touches no memory.
    let rc = unsafe { libc::flock(fd.as_fd().as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    Errno::result(rc).map(drop)
}

/// What a cleaner may conclude about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// An owner holds it, or it cannot be opened and tested (someone else's): keep it.
    Held,
    /// Nobody holds it: a leftover.
    Abandoned,
    /// Nothing has the name (any more): nobody's to remove.
    Gone,
    /// Something of another kind than this tool creates there (a FIFO, a link, ...): not ours.
    NotOurs(FileKind),
}

/// Whether an owner still holds the object (or directory) at `path`, which this tool creates
/// as `expected`. Only a cleaner that gets [`Liveness::Abandoned`] may remove it.
pub fn liveness(path: &Path, expected: FileKind) -> Liveness {
    let file = match file_kind::open_expecting(path, expected, Links::Refuse) {
        Ok(file) => file,
        Err(OpenKindError::WrongKind { found, .. }) => return Liveness::NotOurs(found),
        Err(OpenKindError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Liveness::Gone
        }
        Err(OpenKindError::Io(_)) => return Liveness::Held,
    };
    // SAFETY: as in `hold`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    // Taking the lock proves nobody holds it; closing `file` releases it again.
    match rc {
        0 => Liveness::Abandoned,
        _ => Liveness::Held,
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;

    #[test]
    fn a_held_file_is_live_until_its_holder_closes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        std::fs::write(&path, b"").unwrap();
        let regular = |path: &Path| liveness(path, FileKind::Regular);
        assert_eq!(regular(&path), Liveness::Abandoned);
        let owner = File::open(&path).unwrap();
        hold(&owner).unwrap();
        assert_eq!(regular(&path), Liveness::Held);
        assert_eq!(regular(&path), Liveness::Held, "testing keeps no lock");
        drop(owner);
        assert_eq!(regular(&path), Liveness::Abandoned);
        // A directory works the same way; a vanished path is nobody's to remove.
        let owner = File::open(dir.path()).unwrap();
        hold(&owner).unwrap();
        assert_eq!(liveness(dir.path(), FileKind::Directory), Liveness::Held);
        assert_eq!(regular(&dir.path().join("gone")), Liveness::Gone);
    }

    #[test]
    fn a_fifo_or_a_link_under_our_name_is_not_ours_and_is_never_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("srb_tb_999999_1_req");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        let regular = |path: &Path| liveness(path, FileKind::Regular);
        assert_eq!(regular(&fifo), Liveness::NotOurs(FileKind::Fifo));
        assert_eq!(regular(&link), Liveness::NotOurs(FileKind::SymbolicLink));
        assert_eq!(
            liveness(&fifo, FileKind::Directory),
            Liveness::NotOurs(FileKind::Fifo)
        );
    }
}
