//! Anonymous pipes: the pair the driver makes for each server ([`PipePair`]), checking the
//! ends a server inherited ([`check_ends`]), an end read and written in slices
//! ([`PipeStream`]), and the kernel's pipe sizes ([`PipeSizes`]).

use std::fmt;
use std::fs::File;
use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::{fstat, SFlag};

use crate::numbers::thousands;

use crate::transport::error::{PipeEndError, TransportError};
use crate::transport::names::{PipeFds, SERVER_FDS};
use crate::transport::os::{raw_io, watchdog};

/// The file holding the largest size an unprivileged process may give a pipe.
pub const PIPE_MAX_SIZE_FILE: &str = "/proc/sys/fs/pipe-max-size";

/// Checks that `fds` are open pipe ends of the right direction: `receive` open for reading
/// only, `send` for writing only (a FIFO opened for both would never report its peer's end).
pub fn check_ends(fds: PipeFds) -> Result<(), PipeEndError> {
    check_end(fds.receive, OFlag::O_RDONLY, "read")?;
    check_end(fds.send, OFlag::O_WRONLY, "write")
}

pub fn check_end(fd: RawFd, access: OFlag, end: &'static str) -> Result<(), PipeEndError> {
    let not_open = |source| PipeEndError::NotOpen { fd, source };
    let stat = fstat(fd).map_err(not_open)?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFIFO {
        return Err(PipeEndError::NotAPipe { fd });
    }
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).map_err(not_open)?);
    if flags & OFlag::O_ACCMODE != access {
        return Err(PipeEndError::WrongEnd { fd, end });
    }
    Ok(())
}

/// The two pipes of one run, as the driver holds them. Every end is close-on-exec, so no child
/// inherits one unless it is handed down on purpose ([`PipePair::server_ends`]).
pub struct PipePair {
    /// The request pipe's read end and the reply pipe's write end, until the server has its
    /// own copies.
    server: Option<(OwnedFd, OwnedFd)>,
    /// The reply pipe's read end and the request pipe's write end, for the run's client.
    client: (OwnedFd, OwnedFd),
}

impl PipePair {
    pub fn new() -> nix::Result<PipePair> {
        let (request_read, request_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let (reply_read, reply_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        Ok(PipePair {
            server: Some((request_read, reply_write)),
            client: (reply_read, request_write),
        })
    }

    /// The server's ends, each with the descriptor it must have in the server
    /// ([`SERVER_FDS`]); None once they were closed.
    pub fn server_ends(&self) -> Option<[(BorrowedFd<'_>, RawFd); 2]> {
        let (receive, send) = self.server.as_ref()?;
        Some([
            (receive.as_fd(), SERVER_FDS.receive),
            (send.as_fd(), SERVER_FDS.send),
        ])
    }

    /// Closes the server's ends, once the server has its own copies (or will never have them).
    pub fn close_server_ends(&mut self) {
        self.server = None;
    }

    /// The client's ends, receive then send, to hand down to a client process.
    pub fn client_ends(&self) -> [BorrowedFd<'_>; 2] {
        [self.client.0.as_fd(), self.client.1.as_fd()]
    }

    /// Where, in this process, the client finds its ends. They stay open as long as `self`.
    pub fn client_fds(&self) -> PipeFds {
        PipeFds {
            receive: self.client.0.as_raw_fd(),
            send: self.client.1.as_raw_fd(),
        }
    }
}

/// A private copy of the descriptor `fd`, close-on-exec: connecting and binding work on copies,
/// so whoever holds the original (the driver's [`PipePair`], or a server's inherited 3 and 4)
/// keeps owning it.
pub fn duplicate(fd: RawFd) -> Result<OwnedFd, TransportError> {
    let copy = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(0))
        .map_err(|e| TransportError::os(format!("duplicating descriptor {fd}"), e))?;
    // SAFETY: F_DUPFD_CLOEXEC has just created this descriptor for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// Sets or clears `O_NONBLOCK` on `fd`: set, its reads and writes fail with EAGAIN instead of
/// blocking, so that every wait is a `poll` with a timeout; cleared, they block (a copy may
/// share its open file with one made non-blocking).
fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> Result<(), TransportError> {
    let raw = fd.as_raw_fd();
    let set = |e| {
        TransportError::os(
            format!("setting O_NONBLOCK to {nonblocking} on descriptor {raw}"),
            e,
        )
    };
    let flags = OFlag::from_bits_truncate(fcntl(raw, FcntlArg::F_GETFL).map_err(set)?);
    let wanted = match nonblocking {
        true => flags | OFlag::O_NONBLOCK,
        false => flags - OFlag::O_NONBLOCK,
    };
    if wanted != flags {
        fcntl(raw, FcntlArg::F_SETFL(wanted)).map_err(set)?;
    }
    Ok(())
}

/// How a [`PipeStream`]'s waits are bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// Blocking ends, each blocking call under the wait [`watchdog`], whose signal cuts it
    /// after one to two periods; the calls that must not wait pass `RWF_NOWAIT`.
    Watchdog,
    /// `O_NONBLOCK` ends, each wait a `poll` of one slice before the call: where the watchdog
    /// cannot watch this thread, or the kernel refuses `RWF_NOWAIT` on a pipe.
    Poll,
}

/// One side's two pipe ends as one byte stream for `blocks::framing::FramedStream`, with the
/// slices it expects: a read or a write that would block waits for one slice at most, then
/// fails with `Interrupted` (the watchdog's signal, or another) or `TimedOut` (a poll's slice).
///
/// **Why blocking ends.** A pipe has no `SO_RCVTIMEO`, so the waits used to be a `poll` of one
/// slice before every read: three system calls per message and side where a socket makes two.
/// Under the [`watchdog`] a read blocks in the kernel, as `perf bench sched pipe`'s does, and
/// a wait that lasts is cut by its signal (`EINTR`), which the framing takes as an empty slice:
/// two calls per message and side (`writev`, `readv`), four per round trip.
pub struct PipeStream {
    receive: File,
    send: File,
    slice: PollTimeout,
    bound: Bound,
}

impl PipeStream {
    /// The stream over copies of the ends named by `fds`, which must be open pipe ends.
    pub fn open(fds: PipeFds, slice: Duration) -> Result<PipeStream, TransportError> {
        check_ends(fds)?;
        let (receive, send) = (duplicate(fds.receive)?, duplicate(fds.send)?);
        set_nonblocking(receive.as_fd(), false)?;
        set_nonblocking(send.as_fd(), false)?;
        Ok(PipeStream {
            receive: File::from(receive),
            send: File::from(send),
            slice: PollTimeout::try_from(slice).unwrap_or(PollTimeout::MAX),
            bound: Bound::Watchdog,
        })
    }

    /// One read of whatever has arrived, without the slice's wait: `WouldBlock` when nothing
    /// has.
    pub fn read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.bound == Bound::Watchdog {
            match without_waiting(&self.receive, &mut [IoSliceMut::new(buf)], &[]) {
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => self.poll_from_now()?,
                done => return done,
            }
        }
        self.receive.read(buf)
    }

    /// One write of what fits, without the slice's wait: `WouldBlock` when nothing does.
    pub fn write_now(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        if self.bound == Bound::Watchdog {
            match without_waiting(&self.send, &mut [], bufs) {
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => self.poll_from_now()?,
                done => return done,
            }
        }
        self.send.write_vectored(bufs)
    }

    /// The end replies (or requests, on a server) are read from.
    pub fn receive_end(&self) -> BorrowedFd<'_> {
        self.receive.as_fd()
    }

    /// The end messages are written to.
    pub fn send_end(&self) -> BorrowedFd<'_> {
        self.send.as_fd()
    }

    #[cold]
    fn poll_from_now(&mut self) -> std::io::Result<()> {
        set_nonblocking(self.receive.as_fd(), true).map_err(std::io::Error::other)?;
        set_nonblocking(self.send.as_fd(), true).map_err(std::io::Error::other)?;
        self.bound = Bound::Poll;
        Ok(())
    }
}

/// One `preadv2` into `read` or `pwritev2` of `write` on the blocking `end` with `RWF_NOWAIT`
/// (Linux 5.x and later for pipes): what is there, or `WouldBlock`; `EOPNOTSUPP` where the
/// kernel does not take the flag on a pipe.
fn without_waiting(
    end: &File,
    read: &mut [IoSliceMut<'_>],
    write: &[IoSlice<'_>],
) -> std::io::Result<usize> {
    let fd = end.as_raw_fd();
    // SAFETY: the slices are valid for their lengths (IoSlice and IoSliceMut are iovecs by
    // layout) and outlive the call; offset -1 is the file's current position, as read(2).
    let done = unsafe {
        if write.is_empty() {
            let count = read.len().min(i32::MAX as usize) as libc::c_int;
            libc::preadv2(fd, read.as_ptr().cast(), count, -1, libc::RWF_NOWAIT)
        } else {
            let count = write.len().min(i32::MAX as usize) as libc::c_int;
            libc::pwritev2(fd, write.as_ptr().cast(), count, -1, libc::RWF_NOWAIT)
        }
    };
    if done < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(done as usize)
}

/// Waits until `end` is ready for `events`, for one `slice` at most.
pub fn wait_for(end: &File, events: PollFlags, slice: PollTimeout) -> std::io::Result<()> {
    let mut fds = [PollFd::new(end.as_fd(), events)];
    match poll(&mut fds, slice) {
        Ok(0) => Err(ErrorKind::TimedOut.into()),
        // Ready, or the other end is closed (POLLHUP, POLLERR): the read or write says which.
        Ok(_) => Ok(()),
        Err(errno) => Err(errno.into()),
    }
}

impl PipeStream {
    /// One read (`read` or `readv`, as `call` makes it), bounded by the watchdog or a poll.
    /// The watched call is all a message's read runs, so it is inlined into the framing (it
    /// was a call of about 40 instructions, callgrind, docs/own-cost.md); the polled one
    /// stays out of line.
    #[inline(always)]
    fn read_with(
        &mut self,
        call: impl FnOnce(BorrowedFd<'_>) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        if self.bound == Bound::Watchdog {
            if let Some(_watched) = watchdog::begin() {
                return call(self.receive.as_fd());
            }
        }
        self.read_polled(call)
    }

    /// A read with no watchdog for this thread: the ends become `O_NONBLOCK` for good (the
    /// watchdog found none for it once, and never will: see [`watchdog::begin`]) and every
    /// wait a poll of one slice.
    #[inline(never)]
    fn read_polled(
        &mut self,
        call: impl FnOnce(BorrowedFd<'_>) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        if self.bound == Bound::Watchdog {
            self.poll_from_now()?;
        }
        wait_for(&self.receive, PollFlags::POLLIN, self.slice)?;
        call(self.receive.as_fd())
    }

    /// One write (`write` or `writev`, as `call` makes it), bounded by the watchdog or a poll;
    /// inlined as [`PipeStream::read_with`] is.
    #[inline(always)]
    fn write_with(
        &mut self,
        call: impl FnMut(BorrowedFd<'_>) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        if self.bound == Bound::Watchdog {
            if let Some(_watched) = watchdog::begin() {
                // A blocking write cut by the signal returns what it wrote before, or EINTR.
                let mut call = call;
                return call(self.send.as_fd());
            }
        }
        self.write_polled(call)
    }

    /// A write with no watchdog for this thread, as [`PipeStream::read_polled`].
    #[inline(never)]
    fn write_polled(
        &mut self,
        mut call: impl FnMut(BorrowedFd<'_>) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        if self.bound == Bound::Watchdog {
            self.poll_from_now()?;
        }
        match call(self.send.as_fd()) {
            // The pipe is full: wait one slice for the reader to make room, then try again.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait_for(&self.send, PollFlags::POLLOUT, self.slice)?;
                call(self.send.as_fd())
            }
            written => written,
        }
    }
}

/// Each call is the system call itself on the descriptor ([`raw_io`]: not glibc's
/// cancellation points, nor `std::fs::File`'s layer). `read` and `write` stay the calls of
/// their names, not a `readv` or `writev` of one part: the kernel takes one buffer without
/// importing an iovec (docs/own-cost.md).
impl Read for PipeStream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.read_with(|fd| raw_io::read(fd, buf))
    }

    #[inline]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
        self.read_with(|fd| raw_io::read_vectored(fd, bufs))
    }
}

impl Write for PipeStream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_with(|fd| raw_io::write(fd, buf))
    }

    #[inline]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        self.write_with(|fd| raw_io::write_vectored(fd, bufs))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of each pipe, as the server left it, and why.
#[derive(Debug, Clone, Copy)]
pub struct PipeSizes {
    request_bytes: usize,
    reply_bytes: usize,
    /// What a whole message of the buffer's size would need.
    wanted: usize,
    /// `/proc/sys/fs/pipe-max-size`, if it could be read.
    limit: Option<usize>,
    /// Why the kernel refused to raise a pipe (the user's pipe quota), if it did.
    refused: Option<Errno>,
}

impl PipeSizes {
    /// Raises both pipes of `stream` towards `wanted` bytes (a whole message of the buffer in
    /// one write), as far as the system's limit allows; never shrinks them.
    pub fn raise(stream: &PipeStream, wanted: usize) -> Result<PipeSizes, TransportError> {
        let limit = std::fs::read_to_string(PIPE_MAX_SIZE_FILE)
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok());
        let target = wanted.min(limit.unwrap_or(usize::MAX));
        let (request_bytes, request_refused) = raise_pipe(stream.receive.as_fd(), target)?;
        let (reply_bytes, reply_refused) = raise_pipe(stream.send.as_fd(), target)?;
        Ok(PipeSizes {
            request_bytes,
            reply_bytes,
            wanted,
            limit,
            refused: request_refused.or(reply_refused),
        })
    }
}

/// Raises the pipe behind `end` to `target` bytes if it is smaller; returns the size it has,
/// and the kernel's refusal, if it refused.
pub fn raise_pipe(
    end: BorrowedFd<'_>,
    target: usize,
) -> Result<(usize, Option<Errno>), TransportError> {
    let fd = end.as_raw_fd();
    let current = fcntl(fd, FcntlArg::F_GETPIPE_SZ)
        .map_err(|e| TransportError::os("reading the pipe size (F_GETPIPE_SZ)", e))?;
    let target = i32::try_from(target).unwrap_or(i32::MAX);
    if target <= current {
        return Ok((current as usize, None));
    }
    match fcntl(fd, FcntlArg::F_SETPIPE_SZ(target)) {
        Ok(size) => Ok((size as usize, None)),
        // EPERM: the user's pipes already hold pipe-user-pages-soft pages, or the size rounded
        // up to a power of two passes the limit. The default size still works, in more calls.
        Err(e @ Errno::EPERM) => Ok((current as usize, Some(e))),
        Err(e) => Err(TransportError::os(
            "raising the pipe size (F_SETPIPE_SZ)",
            e,
        )),
    }
}

/// `pipe size 1,048,576 bytes each way (a 2,500,000-byte buffer wanted more;
/// /proc/sys/fs/pipe-max-size is 1,048,576)`: the server's closing words.
impl fmt::Display for PipeSizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = |bytes: usize| format!("{} bytes", thousands(bytes as u64));
        if self.request_bytes == self.reply_bytes {
            write!(f, "pipe size {} each way", size(self.request_bytes))?;
        } else {
            write!(
                f,
                "pipe size {} for requests, {} for replies",
                size(self.request_bytes),
                size(self.reply_bytes)
            )?;
        }
        let smallest = self.request_bytes.min(self.reply_bytes);
        if smallest >= self.wanted {
            return Ok(());
        }
        let wanted = thousands(self.wanted as u64);
        match (self.refused, self.limit) {
            (Some(errno), _) => write!(f, " (raising it for a {wanted}-byte buffer: {errno})"),
            (None, Some(limit)) => write!(
                f,
                " (a {wanted}-byte buffer wanted more; {PIPE_MAX_SIZE_FILE} is {})",
                thousands(limit as u64)
            ),
            (None, None) => write!(f, " (a {wanted}-byte buffer wanted more)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's stream over a fresh pair, and the pair, which keeps the server's ends open.
    fn client_stream() -> (PipeStream, PipePair) {
        let pipes = PipePair::new().unwrap();
        let stream = PipeStream::open(pipes.client_fds(), Duration::from_millis(20)).unwrap();
        (stream, pipes)
    }

    /// A read nobody answers blocks in the kernel until the watchdog's signal cuts it: the
    /// ends stay blocking, no poll bounds it.
    #[test]
    fn a_blocking_read_nobody_answers_is_interrupted_by_the_watchdog() {
        let (mut stream, _pipes) = client_stream();
        let mut buf = [0u8; 8];
        let error = stream.read(&mut buf).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Interrupted, "{error}");
        assert_eq!(stream.bound, Bound::Watchdog);
        let flags = fcntl(stream.receive.as_raw_fd(), FcntlArg::F_GETFL).unwrap();
        assert!(!OFlag::from_bits_truncate(flags).contains(OFlag::O_NONBLOCK));
    }

    /// The calls that must not wait do not, on blocking ends: nothing to read, no room left.
    #[test]
    fn reads_and_writes_now_do_not_wait_on_blocking_ends() {
        let (mut stream, _pipes) = client_stream();
        let mut buf = [0u8; 8];
        let nothing = stream.read_now(&mut buf).unwrap_err();
        assert_eq!(nothing.kind(), ErrorKind::WouldBlock, "{nothing}");
        let chunk = vec![7u8; 4096];
        let mut written = 0;
        let full = loop {
            match stream.write_now(&[IoSlice::new(&chunk)]) {
                Ok(n) => written += n,
                Err(e) => break e,
            }
            assert!(written <= 64 << 20, "a pipe never filled up");
        };
        assert_eq!(full.kind(), ErrorKind::WouldBlock, "{full}");
        assert!(
            written >= 4096,
            "wrote {written} bytes before the pipe was full"
        );
    }

    /// Polling from now on: the ends become non-blocking and a wait is a poll of one slice.
    #[test]
    fn the_fallback_polls_in_slices_on_non_blocking_ends() {
        let (mut stream, _pipes) = client_stream();
        stream.poll_from_now().unwrap();
        let mut buf = [0u8; 8];
        let error = stream.read(&mut buf).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::TimedOut, "{error}");
        let flags = fcntl(stream.receive.as_raw_fd(), FcntlArg::F_GETFL).unwrap();
        assert!(OFlag::from_bits_truncate(flags).contains(OFlag::O_NONBLOCK));
        let nothing = stream.read_now(&mut buf).unwrap_err();
        assert_eq!(nothing.kind(), ErrorKind::WouldBlock, "{nothing}");
    }

    #[test]
    fn the_ends_of_a_pair_are_checked_for_their_direction() {
        let mut pipes = PipePair::new().unwrap();
        let client = pipes.client_fds();
        check_ends(client).unwrap();
        let swapped = PipeFds {
            receive: client.send,
            send: client.receive,
        };
        assert_eq!(
            check_ends(swapped).unwrap_err().to_string(),
            format!("descriptor {} is not the read end of a pipe", client.send)
        );
        let [(receive, _), (send, _)] = pipes.server_ends().unwrap();
        let server = PipeFds {
            receive: receive.as_raw_fd(),
            send: send.as_raw_fd(),
        };
        check_ends(server).unwrap();
        pipes.close_server_ends();
        assert!(pipes.server_ends().is_none());
        let file = File::open("/dev/null").unwrap();
        let not_a_pipe = PipeFds {
            receive: file.as_raw_fd(),
            send: client.send,
        };
        assert!(matches!(
            check_ends(not_a_pipe),
            Err(PipeEndError::NotAPipe { .. })
        ));
    }

    #[test]
    fn the_closing_words_say_the_size_and_what_held_it_back() {
        let mut sizes = PipeSizes {
            request_bytes: 1 << 20,
            reply_bytes: 1 << 20,
            wanted: 2_500_000,
            limit: Some(1 << 20),
            refused: None,
        };
        assert_eq!(
            sizes.to_string(),
            "pipe size 1,048,576 bytes each way (a 2,500,000-byte buffer wanted more; \
             /proc/sys/fs/pipe-max-size is 1,048,576)"
        );
        sizes.refused = Some(Errno::EPERM);
        sizes.reply_bytes = 65_536;
        assert!(sizes.to_string().starts_with(
            "pipe size 1,048,576 bytes for requests, 65,536 bytes for replies (raising it for a \
             2,500,000-byte buffer: EPERM"
        ));
        sizes.wanted = 65_536;
        assert_eq!(
            sizes.to_string(),
            "pipe size 1,048,576 bytes for requests, 65,536 bytes for replies"
        );
    }
}
