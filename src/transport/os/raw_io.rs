//! Reads and writes of a message's bytes made with `syscall(2)` rather than through glibc's
//! wrappers of the same calls.
//!
//! **Why.** glibc's `read`, `write`, `readv`, `writev`, `recvfrom` and `sendto` are
//! cancellation points: in a process of more than one thread they switch asynchronous
//! cancellation on before the call and off after it. Every client and server process of the
//! tool holds helper threads (the one that reads the driver's commands or waits for its end,
//! and the wait watchdog), so each call paid about 30 instructions that a single-threaded C
//! loop skips: callgrind counted 62 per round trip and side in `__pthread_enable_asynccancel`
//! and `__pthread_disable_asynccancel` (docs/own-cost.md). Nothing in the tool is ever
//! cancelled. The calls keep their names (a `read` is a `read`, a socket's `recvfrom` and
//! `sendto` are what the standard library's `recv` and `send` make), so `strace` counts the same
//! calls as before; a socket's `sendto` passes `MSG_NOSIGNAL`, as the standard library's does.

use std::io::{IoSlice, IoSliceMut, Result};
use std::os::fd::{AsRawFd, BorrowedFd};

/// The most parts the kernel takes in one vectored call (`UIO_MAXIOV`, glibc's `IOV_MAX`);
/// the framing passes two.
const MOST_PARTS: usize = 1024;

/// What a call returned, as `std::io` says it: the bytes moved, or the `errno` it set.
#[inline(always)]
fn moved(returned: libc::c_long) -> Result<usize> {
    if returned < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(returned as usize)
}

/// How many of `count` parts one vectored call passes.
#[inline(always)]
fn parts(count: usize) -> usize {
    count.min(MOST_PARTS)
}

/// The system call `number` on `fd` with a buffer (or an array of iovecs) at `at` and its
/// length (or their number): `read`, `write`, `readv`, `writev`.
///
/// # Safety
/// `at` must be valid, for the call's duration, for what `number` does with `len` of it.
#[inline(always)]
unsafe fn transfer<T>(
    number: libc::c_long,
    fd: BorrowedFd<'_>,
    at: *const T,
    len: usize,
) -> Result<usize> {
    let fd = libc::c_long::from(fd.as_raw_fd());
    // SAFETY: the caller's; the descriptor is open (borrowed), and every argument is a word.
    moved(unsafe { libc::syscall(number, fd, at, len) })
}

/// `read(2)` of what `fd` holds into `buf`.
#[inline(always)]
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: `buf` is valid for writes of its length for the call's duration.
    unsafe { transfer(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) }
}

/// `write(2)` of `buf` to `fd`.
#[inline(always)]
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize> {
    // SAFETY: `buf` is valid for reads of its length for the call's duration.
    unsafe { transfer(libc::SYS_write, fd, buf.as_ptr(), buf.len()) }
}

/// `readv(2)` into `bufs`.
#[inline(always)]
pub fn read_vectored(fd: BorrowedFd<'_>, bufs: &mut [IoSliceMut<'_>]) -> Result<usize> {
    // SAFETY: an IoSliceMut is an iovec by layout, each valid for writes of its length.
    unsafe { transfer(libc::SYS_readv, fd, bufs.as_mut_ptr(), parts(bufs.len())) }
}

/// `writev(2)` of `bufs`.
#[inline(always)]
pub fn write_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> Result<usize> {
    // SAFETY: an IoSlice is an iovec by layout, each valid for reads of its length.
    unsafe { transfer(libc::SYS_writev, fd, bufs.as_ptr(), parts(bufs.len())) }
}

/// `recvfrom(2)` on a connected socket into `buf`, no flags, no address: the standard
/// library's `recv`.
#[inline(always)]
pub fn receive(socket: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    let (fd, at, len) = (
        libc::c_long::from(socket.as_raw_fd()),
        buf.as_mut_ptr(),
        buf.len(),
    );
    let none = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: `buf` is valid for writes of its length; no address is asked for.
    moved(unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            at,
            len,
            0 as libc::c_long,
            none,
            none,
        )
    })
}

/// `sendto(2)` of `buf` on a connected socket with `MSG_NOSIGNAL` (a peer that is gone is an
/// `EPIPE`, never a `SIGPIPE`), no address: the standard library's `send`.
#[inline(always)]
pub fn send(socket: BorrowedFd<'_>, buf: &[u8]) -> Result<usize> {
    let (fd, at, len) = (
        libc::c_long::from(socket.as_raw_fd()),
        buf.as_ptr(),
        buf.len(),
    );
    let flags = libc::c_long::from(libc::MSG_NOSIGNAL);
    let none = std::ptr::null::<libc::c_void>();
    // SAFETY: `buf` is valid for reads of its length; no address is given.
    moved(unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            at,
            len,
            flags,
            none,
            0 as libc::c_long,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn each_call_moves_its_bytes_and_says_how_many() {
        let (a, b) = UnixStream::pair().unwrap();
        assert_eq!(send(a.as_fd(), b"ping").unwrap(), 4);
        let mut buf = [0u8; 8];
        assert_eq!(receive(b.as_fd(), &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
        assert_eq!(write(b.as_fd(), b"pong!").unwrap(), 5);
        assert_eq!(read(a.as_fd(), &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"pong!");
        let sent = write_vectored(a.as_fd(), &[IoSlice::new(b"he"), IoSlice::new(b"llo")]);
        assert_eq!(sent.unwrap(), 5);
        let (mut head, mut tail) = ([0u8; 1], [0u8; 4]);
        let parts = &mut [IoSliceMut::new(&mut head), IoSliceMut::new(&mut tail)];
        assert_eq!(read_vectored(b.as_fd(), parts).unwrap(), 5);
        assert_eq!((&head, &tail), (b"h", b"ello"));
    }

    #[test]
    fn a_failed_call_is_its_errno() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let mut buf = [0u8; 4];
        assert_eq!(
            read(a.as_fd(), &mut buf).unwrap(),
            0,
            "the peer's end is closed"
        );
        let error = write(a.as_fd(), b"x").unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EPIPE), "{error}");
    }

    /// A send to a peer that is gone raises no SIGPIPE (`MSG_NOSIGNAL`). The signal is blocked
    /// on this thread only, so that one raised would wait, pending, instead of killing the test
    /// binary (the runtime ignores SIGPIPE, which would hide it) or another test's thread.
    #[test]
    fn a_send_to_a_gone_peer_is_epipe_and_raises_no_sigpipe() {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let pipe_only = SigSet::from(Signal::SIGPIPE);
        let mut before = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&pipe_only), Some(&mut before)).unwrap();
        let sent = send(a.as_fd(), b"nobody");
        // SAFETY: `pending` is a sigset_t, emptied, then filled by sigpending.
        let raised = unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pending);
            assert_eq!(libc::sigpending(&mut pending), 0);
            libc::sigismember(&pending, libc::SIGPIPE) == 1
        };
        if raised {
            // Taken here, so that unblocking it does not deliver it.
            pipe_only.wait().unwrap();
        }
        pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&before), None).unwrap();
        assert_eq!(sent.unwrap_err().raw_os_error(), Some(libc::EPIPE));
        assert!(!raised, "the send raised SIGPIPE");
    }
}
