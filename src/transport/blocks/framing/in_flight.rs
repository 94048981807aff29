//! Requests in flight on a byte stream (see the framing's module doc): a frame's write that
//! never blocks, and while the kernel has no room, polls both directions and reads the replies
//! that arrive into the carried bytes, bounded by the replies owed, so that neither side can
//! end up blocked on a write the other will not read.

use std::io::{ErrorKind, IoSlice, Read, Write};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::transfer::{peer_gone, progress, Direction};
use super::FramedStream;
use crate::transport::blocks::payload::decode_len;
use crate::transport::error::TransportError;
use crate::transport::wait::{is_hang_up, WaitBudget, WAIT_SLICE};
use crate::transport::wire::HEADER_LEN;

/// What a client with requests in flight needs of its stream beyond `Read + Write`: a read and a
/// write that never wait (whatever slices the stream's own calls wait in), and the descriptors
/// to poll for either direction.
pub trait NonBlockingStream {
    /// One read of whatever has arrived; `WouldBlock` when nothing has.
    fn read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
    /// One write of what fits; `WouldBlock` when nothing does.
    fn write_now(&mut self, parts: &[IoSlice<'_>]) -> std::io::Result<usize>;
    /// Where replies arrive and where requests go: one socket, or two pipes.
    fn ends(&self) -> (BorrowedFd<'_>, BorrowedFd<'_>);
}

/// The most a submit reads ahead at once, when it has room for more.
const READ_AHEAD: usize = 64 * 1024;

impl<S: Read + Write + NonBlockingStream> FramedStream<S> {
    /// [`send`](FramedStream::send) for a client with requests in flight: while the kernel has
    /// no room for the rest of the frame, it reads the replies that arrive into the carried
    /// bytes, where [`receive`](FramedStream::receive) finds them first, so that a server
    /// blocked on sending them goes on to take this request. `owed` bounds what it reads: the
    /// most the replies to the requests already sent add up to.
    pub fn send_reading(
        &mut self,
        payload: &[u8],
        owed: usize,
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<(), TransportError> {
        self.write_frame(
            payload,
            budget,
            what,
            // Inlined, as `write_frame` is: sharing the loop adds no call per write.
            #[inline(always)]
            |framed, parts, budget| {
                let written = framed.stream.write_now(parts);
                match written {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        framed.await_room(owed, budget, what).map(|()| None)
                    }
                    written => progress(written, budget, Direction::Send, what),
                }
            },
        )
    }

    /// Whether the carried bytes hold a whole message (or a header no message of `capacity`
    /// bytes has: the receive that takes it says so).
    pub(super) fn holds_whole_message(&self, capacity: usize) -> bool {
        let unread = self.carried.unread();
        let Some(header) = unread.first_chunk::<HEADER_LEN>() else {
            return false;
        };
        decode_len(*header, capacity).map_or(true, |len| unread.len() - HEADER_LEN >= len)
    }

    /// Waits one slice at most for room to write, reading what arrived meanwhile, if anything.
    fn await_room(
        &mut self,
        owed: usize,
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<(), TransportError> {
        match poll_both(&self.stream, WAIT_SLICE) {
            Ok(Ready { readable: true, .. }) => self.read_ahead(owed, budget, what),
            Ok(Ready { writable: true, .. }) => Ok(()),
            Ok(_) => budget.slice_expired(what),
            // A signal ends the slice; it may be the one that asks us to stop: the watch knows.
            Err(Errno::EINTR) => budget.slice_expired(what),
            Err(e) => Err(TransportError::os(
                format!("polling while sending {what}"),
                e,
            )),
        }
    }

    /// One read of the replies that have arrived, kept in the carried bytes; a peer that sends
    /// more than the `owed` bytes of its replies is broken, and is not read on for ever.
    pub(super) fn read_ahead(
        &mut self,
        owed: usize,
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<(), TransportError> {
        let unread = self.carried.unread().len();
        // At least one byte, so that a peer sending too much is told from one that closed.
        let most = owed.saturating_sub(unread).max(1);
        let room = self.carried.room(most.min(READ_AHEAD))?;
        let limit = room.len().min(most);
        match self.stream.read_now(&mut room[..limit]) {
            Ok(0) => Err(peer_gone(budget, &format!("closed while we sent {what}"))),
            Ok(n) if unread + n > owed => Err(TransportError::Protocol(format!(
                "the peer sent more than the {owed} bytes of the replies it owes"
            ))),
            Ok(n) => {
                self.carried.filled(n);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => budget.slice_expired(what),
            Err(e) if is_hang_up(&e) => Err(peer_gone(budget, &e.to_string())),
            Err(e) => Err(TransportError::io(
                format!("reading replies while sending {what}"),
                e,
            )),
        }
    }
}

/// What a poll of both directions of a stream found.
struct Ready {
    readable: bool,
    writable: bool,
}

/// Waits one `slice` at most until `stream` has bytes to read or room to write. An end that
/// hung up or failed counts as ready: the next read or write says how.
fn poll_both(stream: &impl NonBlockingStream, slice: Duration) -> nix::Result<Ready> {
    let (receive, send) = stream.ends();
    let mut fds = [
        PollFd::new(receive, PollFlags::POLLIN),
        PollFd::new(send, PollFlags::POLLOUT),
    ];
    poll(
        &mut fds,
        PollTimeout::try_from(slice).unwrap_or(PollTimeout::MAX),
    )?;
    let ready = |fd: &PollFd<'_>, wanted: PollFlags| {
        let broken = PollFlags::POLLERR | PollFlags::POLLHUP;
        fd.revents()
            .is_some_and(|got| got.intersects(wanted | broken))
    };
    Ok(Ready {
        readable: ready(&fds[0], PollFlags::POLLIN),
        writable: ready(&fds[1], PollFlags::POLLOUT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::blocks::watched_socket::WatchedSocket;
    use crate::transport::wait::NoWatch;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    /// A client that reads while it writes reads no more than the replies it is owed: a peer
    /// that sends unasked while it takes nothing is an error, not a buffer without end.
    #[test]
    fn a_peer_that_sends_more_than_it_owes_is_a_protocol_error() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(&[9; 100]).unwrap();
        let mut stream = FramedStream::new(WatchedSocket::new(ours, Duration::from_secs(1)));
        let request = vec![0u8; 4 << 20];
        let mut budget = WaitBudget::new(Duration::from_secs(30), &NoWatch);
        let sent = stream.send_reading(&request, 0, &mut budget, "a request in flight");
        assert!(
            matches!(&sent, Err(TransportError::Protocol(why)) if why.contains("more than the 0 bytes")),
            "{sent:?}"
        );
    }
}
