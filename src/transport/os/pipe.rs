//! Anonymous pipes: the pair the driver makes for each server ([`PipePair`]), checking the
//! ends a server inherited ([`check_ends`]), a non-blocking end read and written in slices
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

/// Makes reads and writes on `fd` fail with EAGAIN instead of blocking, so that every wait is a
/// `poll` with a timeout.
pub fn set_nonblocking(fd: &OwnedFd) -> Result<(), TransportError> {
    let raw = fd.as_raw_fd();
    let set = |e| TransportError::os(format!("setting O_NONBLOCK on descriptor {raw}"), e);
    let flags = OFlag::from_bits_truncate(fcntl(raw, FcntlArg::F_GETFL).map_err(set)?);
    fcntl(raw, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map_err(set)?;
    Ok(())
}

/// One side's two pipe ends as one byte stream for `blocks::framing::FramedStream`, with the slices it
/// expects: a read or a write that would block waits for one `slice` at most, then fails with
/// `TimedOut` (or `Interrupted`, when a signal arrived).
pub struct PipeStream {
    receive: File,
    send: File,
    slice: PollTimeout,
}

impl PipeStream {
    /// The stream over copies of the ends named by `fds`, which must be open pipe ends.
    pub fn open(fds: PipeFds, slice: Duration) -> Result<PipeStream, TransportError> {
        check_ends(fds)?;
        let (receive, send) = (duplicate(fds.receive)?, duplicate(fds.send)?);
        set_nonblocking(&receive)?;
        set_nonblocking(&send)?;
        Ok(PipeStream {
            receive: File::from(receive),
            send: File::from(send),
            slice: PollTimeout::try_from(slice).unwrap_or(PollTimeout::MAX),
        })
    }

    /// One read of whatever has arrived, without the slice's wait: `WouldBlock` when nothing
    /// has (both ends are `O_NONBLOCK`).
    pub fn read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.receive.read(buf)
    }

    /// One write of what fits, without the slice's wait: `WouldBlock` when nothing does.
    pub fn write_now(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
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

impl Read for PipeStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        wait_for(&self.receive, PollFlags::POLLIN, self.slice)?;
        self.receive.read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
        wait_for(&self.receive, PollFlags::POLLIN, self.slice)?;
        self.receive.read_vectored(bufs)
    }
}

impl Write for PipeStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        match self.send.write_vectored(bufs) {
            // The pipe is full: wait one slice for the reader to make room, then try again.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait_for(&self.send, PollFlags::POLLOUT, self.slice)?;
                self.send.write_vectored(bufs)
            }
            written => written,
        }
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
