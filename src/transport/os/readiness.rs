//! Waiting for a descriptor to become readable with a deadline finer than a millisecond:
//! `ppoll` takes a timespec, where `poll` (and `zmq_poll`) count whole milliseconds, which
//! would blur a paced client's slots of a few tens of µs.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;

/// Waits at most `slice` until `fd` has something to read. True if it has (or hung up or
/// failed: the next read says how); false if the slice ran out or a signal came first.
pub fn readable_within(fd: BorrowedFd<'_>, slice: Duration) -> nix::Result<bool> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    match ppoll(&mut fds, Some(TimeSpec::from_duration(slice)), None) {
        Ok(_) => {}
        Err(Errno::EINTR) => return Ok(false),
        Err(e) => return Err(e),
    }
    let wanted = PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP;
    Ok(fds[0].revents().is_some_and(|got| got.intersects(wanted)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_socket_is_readable_once_bytes_arrive_and_not_before() {
        let (mut a, b) = UnixStream::pair().unwrap();
        assert!(!readable_within(b.as_fd(), Duration::ZERO).unwrap());
        a.write_all(b"x").unwrap();
        assert!(readable_within(b.as_fd(), Duration::from_secs(5)).unwrap());
        drop(a);
        let (c, d) = UnixStream::pair().unwrap();
        drop(c);
        assert!(readable_within(d.as_fd(), Duration::from_secs(5)).unwrap());
    }
}
