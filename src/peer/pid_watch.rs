//! A client process's watch of its server, which is its sibling, not its child: it cannot
//! `waitpid` it as the driver does, so it holds a pidfd (`pidfd_open`, Linux 5.3), which
//! becomes readable once the server has exited, whether or not the driver has reaped it yet.
//! The driver reaps a server only after its client has finished, so the pid cannot be reused
//! meanwhile. Where the kernel has no pidfd, `/proc/PID/stat`'s state says the same.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::system::{process_state, signals};
use crate::transport::{PeerWatch, TransportError};

/// Fails a client's waits once its server has exited or a stop signal came.
pub struct PidWatch {
    server: Option<Watched>,
}

struct Watched {
    pid: u32,
    pidfd: Option<OwnedFd>,
}

impl PidWatch {
    /// Watches the server `pid`; None watches only the stop signals (an external server).
    pub fn new(pid: Option<u32>) -> PidWatch {
        PidWatch {
            server: pid.map(|pid| Watched {
                pid,
                pidfd: open_pidfd(pid),
            }),
        }
    }
}

/// A pidfd of `pid`, close-on-exec; None where the kernel has none.
fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative result is a descriptor the call has just made for us.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl Watched {
    fn exited(&self) -> bool {
        match &self.pidfd {
            Some(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1..))
            }
            None => process_gone(self.pid),
        }
    }
}

/// Whether `/proc/PID/stat` says the process is gone or a zombie.
fn process_gone(pid: u32) -> bool {
    matches!(process_state::state(pid), Some('Z' | 'X') | None)
}

impl PeerWatch for PidWatch {
    fn check(&self) -> Result<(), TransportError> {
        if signals::received().is_some() {
            return Err(TransportError::Interrupted);
        }
        match &self.server {
            Some(server) if server.exited() => Err(TransportError::PeerGone(format!(
                "server exited (pid {})",
                server.pid
            ))),
            _ => Ok(()),
        }
    }

    fn follows_a_process(&self) -> bool {
        self.server.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sibling_that_exits_is_seen_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let watch = PidWatch::new(Some(child.id()));
        assert!(watch.check().is_ok());
        child.kill().unwrap();
        // Not reaped yet: a zombie, as a server is until its driver reaps it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while watch.check().is_ok() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let error = watch.check().unwrap_err().to_string();
        assert!(error.contains("server exited"), "{error}");
        child.wait().unwrap();
        assert!(process_gone(child.id()) || watch.check().is_err());
    }
}
