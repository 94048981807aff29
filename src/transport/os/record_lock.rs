//! POSIX record locks (`fcntl`), the kind iceoryx2 keeps on its process monitors' files. They
//! live apart from the `flock` locks of [`owner_lock`](super::owner_lock): neither sees the
//! other, so a lock that must exclude iceoryx2's own cleaner has to be of this kind.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::transport::os::file_kind::{self, FileKind, Links, OpenKindError};

/// The regular file at `path`, opened for writing (a write lock needs it) without following a
/// link or waiting on a FIFO, with a write lock on the whole of it: None when another process
/// holds a lock on it. The lock goes when the file is closed, and with the process; closing any
/// other descriptor of the same file in this process drops it too, as with every record lock.
pub fn try_write_locked(path: &Path) -> io::Result<Option<File>> {
    let file = file_kind::open_expecting_writable(path, FileKind::Regular, Links::Refuse).map_err(
        |error| match error {
            OpenKindError::WrongKind { found, .. } => {
                io::Error::other(format!("{} is {found}", path.display()))
            }
            OpenKindError::Io(error) => error,
        },
    )?;
    // SAFETY: an all-zero flock is a valid value; the fields that matter are set below.
    let mut whole_file: libc::flock = unsafe { std::mem::zeroed() };
    whole_file.l_type = libc::F_WRLCK as libc::c_short;
    whole_file.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_SETLK on a valid descriptor reads the flock it is given, and nothing else.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &whole_file) };
    if rc == 0 {
        return Ok(Some(file));
    }
    match io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(None),
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    use nix::sys::wait::waitpid;
    use nix::unistd::{fork, mkfifo, pipe2, ForkResult};

    use super::*;

    /// Forks a child that takes a record lock on `path`, says so on a pipe, and holds it until
    /// its other pipe closes. Only system calls after the fork: the test runner has threads.
    fn hold_in_a_child(path: &Path) -> (nix::unistd::Pid, std::os::fd::OwnedFd) {
        let name = CString::new(path.as_os_str().as_bytes()).unwrap();
        // Close-on-exec: a process another test spawns meanwhile must not keep `hold` open.
        let (said_read, said_write) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let (hold_read, hold_write) = pipe2(OFlag::O_CLOEXEC).unwrap();
        // SAFETY: the child makes only async-signal-safe calls, then _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => unsafe {
                let fd = libc::open(name.as_ptr(), libc::O_RDWR);
                let mut lock: libc::flock = std::mem::zeroed();
                lock.l_type = libc::F_WRLCK as libc::c_short;
                let locked = libc::fcntl(fd, libc::F_SETLK, &lock) == 0;
                libc::write(said_write.as_raw_fd(), [locked as u8].as_ptr().cast(), 1);
                libc::close(hold_write.as_raw_fd());
                let mut byte = 0u8;
                libc::read(hold_read.as_raw_fd(), (&mut byte as *mut u8).cast(), 1);
                libc::_exit(0);
            },
            ForkResult::Parent { child } => {
                drop(said_write);
                let mut said = [0u8];
                nix::unistd::read(said_read.as_raw_fd(), &mut said).unwrap();
                assert_eq!(said, [1], "the child took the lock");
                (child, hold_write)
            }
        }
    }

    #[test]
    fn a_lock_held_by_another_process_keeps_it_from_this_one_until_that_process_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owner_lock");
        std::fs::write(&path, b"").unwrap();
        let (child, hold) = hold_in_a_child(&path);
        assert!(try_write_locked(&path).unwrap().is_none());
        drop(hold);
        waitpid(child, None).unwrap();
        let locked = try_write_locked(&path).unwrap();
        assert!(locked.is_some(), "free once its holder is gone");
    }

    #[test]
    fn a_link_a_fifo_a_directory_or_nothing_is_refused_not_locked() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(try_write_locked(&link).is_err());
        // Opened without waiting for a reader, then refused for what it is.
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo, Mode::S_IRWXU).unwrap();
        let refused = try_write_locked(&fifo).unwrap_err();
        assert!(refused.to_string().ends_with("is a FIFO"), "{refused}");
        assert!(try_write_locked(dir.path()).is_err());
        assert!(try_write_locked(&dir.path().join("missing")).is_err());
    }
}
