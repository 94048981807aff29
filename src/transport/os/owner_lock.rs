//! Liveness by lock, not by process id.
//!
//! IPC objects outlive their processes, so a cleaner must tell a live object from a leftover.
//! A pid in the name cannot: across PID namespaces (containers sharing `/dev/shm`) a live
//! owner's pid does not exist, and a hand-made name can hold any number. Instead, whoever
//! creates an object keeps a shared `flock` on it for as long as it lives; the kernel drops the
//! lock when the owner's last descriptor closes, however the owner ends. A cleaner that can
//! take an exclusive lock knows nobody holds one, in any namespace.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::errno::Errno;

/// Marks `fd` as held by a live owner until it is closed.
pub fn hold(fd: &impl AsFd) -> Result<(), Errno> {
    // SAFETY: flock on a valid descriptor, with constant flags, touches no memory.
    let rc = unsafe { libc::flock(fd.as_fd().as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    Errno::result(rc).map(drop)
}

/// Whether an owner still holds the object (or directory) at `path`. Something that exists but
/// cannot be opened and tested (someone else's) counts as held: a cleaner must only remove what
/// it knows to be abandoned. Something that no longer exists is held by nobody.
pub fn is_held(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return !matches!(path.try_exists(), Ok(false));
    };
    // SAFETY: as in `hold`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    // Taking the lock proves nobody holds it; closing `file` releases it again.
    rc != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_file_is_live_until_its_holder_closes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        std::fs::write(&path, b"").unwrap();
        assert!(!is_held(&path));
        let owner = File::open(&path).unwrap();
        hold(&owner).unwrap();
        assert!(is_held(&path));
        assert!(is_held(&path), "testing does not take the lock away");
        drop(owner);
        assert!(!is_held(&path));
        // A directory works the same way; a vanished path is nobody's to remove.
        let owner = File::open(dir.path()).unwrap();
        hold(&owner).unwrap();
        assert!(is_held(dir.path()));
        assert!(!is_held(&dir.path().join("gone")));
    }
}
