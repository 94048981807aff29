//! [`FramedClient`], the client of every byte-stream transport: round trips, a one-way
//! stream's sends, and requests in flight (submitted without waiting for their replies, which
//! are collected in order, from the carried bytes first).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::in_flight::NonBlockingStream;
use super::{FramedStream, Outgoing, PAYLOAD_PAGE_OFFSET};
use crate::transport::blocks::payload::check_message_fits;
use crate::transport::error::TransportError;
use crate::transport::os::readiness::readable_within;
use crate::transport::request_room::RequestWithRoom;
use crate::transport::spec::TransportClient;
use crate::transport::wait::{ready_before, PeerWatch, WaitBudget};
use crate::transport::wire::{payload_capacity, HEADER_LEN};

/// The requesting side of a byte-stream transport: its stream, the payload capacity of the
/// server's buffer, and what bounds its waits.
pub struct FramedClient<S> {
    connection: FramedStream<S>,
    capacity: usize,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
    /// Requests submitted whose replies were not collected yet.
    in_flight: usize,
}

impl<S: Read + Write> FramedClient<S> {
    /// A client on `stream`, connected to a server with a `buffer_size`-byte buffer; every wait
    /// is bounded by `timeout`, in the stream's slices, between which it asks `watch`.
    pub fn new(
        stream: S,
        buffer_size: usize,
        timeout: Duration,
        watch: Arc<dyn PeerWatch>,
    ) -> FramedClient<S> {
        FramedClient {
            connection: FramedStream::new(stream),
            capacity: payload_capacity(buffer_size),
            timeout,
            watch,
            in_flight: 0,
        }
    }
}

impl<S: Read + Write> FramedClient<S> {
    /// One round trip: `request` out, the reply into `response`; the reply's length.
    fn exchange(
        &mut self,
        request: Outgoing<'_>,
        response: &mut [u8],
    ) -> Result<usize, TransportError> {
        let (capacity, timeout, watch) = (self.capacity, self.timeout, self.watch.as_ref());
        (self.connection).round_trip(request, response, capacity, timeout, watch)
    }

    /// One message of a one-way stream: its frame and nothing read.
    fn send_one_way(&mut self, message: Outgoing<'_>) -> Result<(), TransportError> {
        check_message_fits(message.message().len(), self.capacity)?;
        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        (self.connection).send_outgoing(message, &mut budget, "a stream message")
    }
}

impl<S> FramedClient<S> {
    /// The most the replies to the requests in flight can add up to: what a read ahead of
    /// them may take.
    fn owed(&self) -> usize {
        (self.in_flight).saturating_mul(HEADER_LEN + self.capacity)
    }
}

impl<S: Read + Write + NonBlockingStream + Send> TransportClient for FramedClient<S> {
    /// Away from the kernel's page-led buffers (see [`PAYLOAD_PAGE_OFFSET`]).
    fn payload_page_offset(&self) -> usize {
        PAYLOAD_PAGE_OFFSET
    }

    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        self.exchange(Outgoing::Bare(request), response)
    }

    /// A large request leaves with its header, written into the room, in one `write`.
    fn round_trip_with_room<'a>(
        &'a mut self,
        request: RequestWithRoom<'_>,
        scratch: &'a mut [u8],
    ) -> Result<&'a [u8], TransportError> {
        let len = self.exchange(Outgoing::WithRoom(request), scratch)?;
        Ok(&scratch[..len])
    }

    /// The request's half of a round trip: the framed message goes out and nothing is read.
    /// A full kernel buffer makes the write wait, in slices that ask the watch, at most the
    /// timeout, as a round trip's write does.
    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        self.send_one_way(Outgoing::Bare(message))
    }

    /// A large message leaves with its header, written into the room, in one `write`.
    fn send_with_room(&mut self, request: RequestWithRoom<'_>) -> Result<(), TransportError> {
        self.send_one_way(Outgoing::WithRoom(request))
    }

    /// The request's frame goes out whole, reading the replies that arrive while the kernel has
    /// no room (see the module's doc), within the timeout as a round trip's write.
    fn submit(&mut self, request: &[u8]) -> Result<(), TransportError> {
        check_message_fits(request.len(), self.capacity)?;
        let owed = self.owed();
        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        (self.connection).send_reading(request, owed, &mut budget, "a request in flight")?;
        self.in_flight += 1;
        Ok(())
    }

    /// The oldest reply, from the bytes read ahead first, then read as a round trip's is.
    fn collect<'a>(&'a mut self, scratch: &'a mut [u8]) -> Result<&'a [u8], TransportError> {
        if self.in_flight == 0 {
            return Err(TransportError::NoRequest);
        }
        let accepted = self.capacity.min(scratch.len());
        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        let len = (self.connection).receive(&mut scratch[..accepted], &mut budget, "a reply")?;
        self.in_flight -= 1;
        Ok(&scratch[..len])
    }

    /// Reads what arrives into the carried bytes until they hold the oldest reply whole (at
    /// the cost of one more copy of it, out of the carried bytes, in `collect`), so that a
    /// large reply arriving in parts does not hold up the next request's slot.
    fn await_reply_until(&mut self, until: Instant) -> Result<bool, TransportError> {
        if self.in_flight == 0 {
            return Err(TransportError::NoRequest);
        }
        let owed = self.owed();
        let capacity = self.capacity;
        let watch = Arc::clone(&self.watch);
        let mut budget = WaitBudget::new(self.timeout, watch.as_ref());
        let connection = &mut self.connection;
        ready_before(until, watch.as_ref(), |slice| {
            if connection.holds_whole_message(capacity) {
                return Ok(true);
            }
            let (receive, _) = connection.stream.ends();
            let readable = readable_within(receive, slice)
                .map_err(|e| TransportError::os("polling for a reply", e))?;
            if readable {
                connection.read_ahead(owed, &mut budget, "a request in flight")?;
            }
            Ok(connection.holds_whole_message(capacity))
        })
    }
}
