//! A connected socket whose blocking reads and writes are bounded by the wait
//! [`watchdog`](crate::transport::os::watchdog) rather than by `SO_RCVTIMEO`/`SO_SNDTIMEO`.
//!
//! **Why.** A socket timeout arms and cancels a kernel timer inside every receive that sleeps:
//! on this project's VM a C ping-pong over a Unix socket pair on one CPU takes 3.61–3.74 µs per
//! round trip with plain blocking reads and 3.77–3.84 µs with `SO_RCVTIMEO`
//! (`baselines/rt_unix.c`, built with and without `-DTIMED_WAIT`). Under the watchdog a call
//! costs two stores to this thread's slot, and one that has gone on for one to two periods
//! fails with `EINTR`, which [`framing`](crate::transport::blocks::framing) takes as a slice
//! that ran out, as it took `WouldBlock` from a timeout.
//!
//! **Without a watchdog** (its thread could not start, or the table is full), the first call
//! that finds none gives the socket its own timeouts of one `fallback_slice`, and every call
//! after it waits in those: slower, never unbounded.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::transport::blocks::framing::NonBlockingStream;
use crate::transport::os::socket::{receive_now, send_now};
use crate::transport::os::{raw_io, watchdog};

/// A connected stream socket that can be given kernel timeouts: the fallback's slices.
pub trait TimeoutSocket: Read + Write + AsFd {
    fn set_timeouts(&self, slice: Duration) -> std::io::Result<()>;
}

macro_rules! timeout_socket {
    ($($socket:ty),*) => {$(
        impl TimeoutSocket for $socket {
            fn set_timeouts(&self, slice: Duration) -> std::io::Result<()> {
                self.set_read_timeout(Some(slice))?;
                self.set_write_timeout(Some(slice))
            }
        }
    )*};
}

timeout_socket!(UnixStream, TcpStream);

/// `socket`, whose blocking calls are watched; see the module's doc.
pub struct WatchedSocket<S> {
    socket: S,
    /// The socket's descriptor, which it owns as long as `self` lives: each call is made on it
    /// without asking the socket (a call into the standard library per message); see
    /// [`WatchedSocket::fd`].
    fd: RawFd,
    fallback_slice: Duration,
    /// The socket has its own timeouts: some call found no watchdog for its thread.
    timed: bool,
}

impl<S: TimeoutSocket> WatchedSocket<S> {
    /// Wraps `socket`, which must have no timeouts of its own (a socket's default).
    pub fn new(socket: S, fallback_slice: Duration) -> WatchedSocket<S> {
        WatchedSocket {
            fd: socket.as_fd().as_raw_fd(),
            socket,
            fallback_slice,
            timed: false,
        }
    }

    /// The socket's descriptor, borrowed for one call.
    #[inline(always)]
    fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `self.socket` owns the descriptor, is never replaced (no method hands it out
        // mutably or takes it), and outlives the borrow, which is tied to `self`.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }

    pub fn get_ref(&self) -> &S {
        &self.socket
    }

    /// Runs one blocking `call` on the socket, bounded by the watchdog or, without one, by
    /// the socket's own timeouts (set the first time). The watched call is all a message's
    /// read or write runs, so it is inlined into the framing; the other stays out of line.
    #[inline(always)]
    fn bounded<T>(
        &mut self,
        call: impl FnOnce(BorrowedFd<'_>) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        if let Some(_watched) = watchdog::begin() {
            return call(self.fd());
        }
        self.bounded_by_timeouts(call)
    }

    #[inline(never)]
    fn bounded_by_timeouts<T>(
        &mut self,
        call: impl FnOnce(BorrowedFd<'_>) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        self.fall_back()?;
        call(self.fd())
    }

    #[cold]
    fn fall_back(&mut self) -> std::io::Result<()> {
        if !self.timed {
            self.socket.set_timeouts(self.fallback_slice)?;
            self.timed = true;
        }
        Ok(())
    }
}

/// Each call is the system call itself on the socket's descriptor ([`raw_io`]: not glibc's
/// cancellation points), the calls the standard library makes: `recvfrom`, `sendto` with
/// `MSG_NOSIGNAL`, `readv`, `writev`.
impl<S: TimeoutSocket> Read for WatchedSocket<S> {
    #[inline(always)]
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.bounded(|fd| raw_io::receive(fd, buf))
    }

    #[inline(always)]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
        self.bounded(|fd| raw_io::read_vectored(fd, bufs))
    }
}

impl<S: TimeoutSocket> Write for WatchedSocket<S> {
    #[inline(always)]
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bounded(|fd| raw_io::send(fd, buf))
    }

    #[inline(always)]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        self.bounded(|fd| raw_io::write_vectored(fd, bufs))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.socket.flush()
    }
}

/// The calls that never wait need no watching: `MSG_DONTWAIT` on the socket itself.
impl<S: TimeoutSocket> NonBlockingStream for WatchedSocket<S> {
    fn read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        receive_now(self.socket.as_fd(), buf)
    }

    fn write_now(&mut self, parts: &[IoSlice<'_>]) -> std::io::Result<usize> {
        send_now(self.socket.as_fd(), parts)
    }

    fn ends(&self) -> (BorrowedFd<'_>, BorrowedFd<'_>) {
        (self.socket.as_fd(), self.socket.as_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read from a peer that never writes ends with `EINTR` within the watchdog's periods,
    /// with no timeout on the socket: the bound comes from the watchdog alone.
    #[test]
    fn a_read_nobody_answers_is_interrupted_by_the_watchdog() {
        let (ours, _silent_peer) = UnixStream::pair().unwrap();
        let mut watched = WatchedSocket::new(ours, Duration::from_secs(3600));
        let mut buf = [0u8; 8];
        let error = watched.read(&mut buf).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::Interrupted, "{error}");
        assert!(!watched.timed, "the watchdog bounded it, not a timeout");
        assert!(watched.get_ref().read_timeout().unwrap().is_none());
    }

    /// Without a watchdog for its thread, the socket waits in its own timeouts of one slice.
    #[test]
    fn the_fallback_gives_the_socket_timeouts_of_one_slice_once() {
        let (ours, _peer) = UnixStream::pair().unwrap();
        // A whole number of jiffies at any HZ: the kernel rounds a socket timeout to them.
        let slice = Duration::from_millis(100);
        let mut watched = WatchedSocket::new(ours, slice);
        watched.fall_back().unwrap();
        watched.fall_back().unwrap();
        assert!(watched.timed);
        assert_eq!(watched.get_ref().read_timeout().unwrap(), Some(slice));
        assert_eq!(watched.get_ref().write_timeout().unwrap(), Some(slice));
    }

    #[test]
    fn bytes_pass_both_ways_unchanged() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut a = WatchedSocket::new(ours, Duration::from_secs(1));
        let mut b = WatchedSocket::new(theirs, Duration::from_secs(1));
        let written = a
            .write_vectored(&[IoSlice::new(b"he"), IoSlice::new(b"llo")])
            .unwrap();
        assert_eq!(written, 5);
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
    }
}
