//! The ring of a stream (`--pattern stream`) in a spinning transport's segment (SHM spin, SHM
//! zero-copy): `depth` slots that the client fills and the server empties, one producer and one
//! consumer, as iceoryx2's publish-subscribe buffer is, so that the writer runs up to `depth`
//! messages ahead of the reader. Here too is the header that says whether a segment has a ring
//! at all ([`Shape`]). What the two transports keep around the ring, each one's file says.
//!
//! **Where it lies** (offsets from the segment's start; 64 and 128 are the transports' own
//! request and response lines):
//! - offset 0: header: `pattern` (u32: 0 round trip, 1 stream), then `depth` (u32; 0 for round
//!   trips). The server writes it before it says READY; the client reads it on connect, so it
//!   needs no `--ring-depth` of its own, and refuses a segment of the other pattern
//!   ([`TransportError::PatternMismatch`]). A zero-filled header is a round-trip segment,
//!   exactly as the segments were before there were streams.
//! - offset 64, the transport's request line: its `seq` is the ring's **write index**, which
//!   the client publishes as a [`SequenceSignal`] (`seq`, `waiters`);
//! - offset 256, read line: the ring's **read index**, which the server publishes, and its
//!   `waiters`. Each of the three words the two sides write while streaming (64, 128, 256) is on
//!   a cache line of its own, and in a 128-byte pair of its own (the adjacent-line prefetcher
//!   moves lines in pairs);
//! - offset 4096, length table: `depth` u32s, the length of the message in each slot, rounded
//!   up to whole pages;
//! - then the `depth` slots, each the payload capacity rounded up to whole pages, so that every
//!   payload starts on a page boundary ([`RingGeometry`]); then what the transport keeps after
//!   the ring (SHM spin: its response payload area).
//!
//! **Indices.** Both indices count messages modulo `modulus`, the largest multiple of `depth`
//! that is at most 2^32, so that a message's slot, its index modulo `depth`, runs on across the
//! wrap whatever the depth. The ring is empty when the two indices are equal and full when the
//! write index is `depth` ahead; the message at index `i` lies in slot `i mod depth`, and the
//! write index past it is the number the end's acknowledgement is published under.
//!
//! **Ownership.** The slots from the read index up to the write index are the server's, the
//! others the client's. The client writes a message into its next slot (SHM zero-copy lends
//! that slot to its caller), stores its length in the table, then publishes the write index
//! (Release, in [`SequenceSignal::publish`]); the server acquires it, reads the message in
//! place, and frees the slot by publishing the read index (Release), which the client acquires
//! before it writes there again. Lengths are Relaxed atomics, ordered by those pairs.
//!
//! **Waiting.** The writer caches the reader's index and reads it again only when the ring looks
//! full; the reader caches the writer's and takes every message up to it before it looks again.
//! A side that finds the ring full (the writer) or empty (the reader) waits on the other's
//! signal as every wait of these transports does: it spins for the spin budget, then sleeps on
//! the futex in slices, announcing itself in `waiters`; a publish wakes only an announced
//! sleeper, so a stream between two awake sides makes no system call. The reader publishes its
//! index every quarter of the ring, and always before it waits: a writer waiting for room then
//! sees every slot freed.
//!
//! **A broken peer.** An index from the peer is checked against the ring before it is used (a
//! read index ahead of the write index, a write index more than `depth` ahead of the read
//! index, an index past the modulus) and so is every length; either is a
//! [`TransportError::Protocol`] or [`TransportError::BadLengthHeader`], never an access out of
//! bounds. The caller runs every step under an [`ObjectAccess`].

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crate::transport::blocks::payload::check_announced_len;
use crate::transport::blocks::sequence::SequenceSignal;
use crate::transport::blocks::slots::{whole_pages, Slots, SEGMENT_PAGE};
use crate::transport::error::TransportError;
use crate::transport::os::shm::ObjectAccess;
use crate::transport::pattern::Pattern;
use crate::transport::spec::TransportOptions;
use crate::transport::stream::{ring_depth, MAX_RING_DEPTH};

/// Offsets of the header's words, of the read line, and of the length table.
const PATTERN_WORD: usize = 0;
const DEPTH_WORD: usize = 4;
const READ_LINE: usize = 256;
const LENGTHS_AT: usize = SEGMENT_PAGE;

/// The header's `pattern` word.
const ROUND_TRIP_CODE: u32 = 0;
const STREAM_CODE: u32 = 1;

/// What a segment is laid out for: round trips (no ring), or a stream through a ring of
/// `depth` slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    RoundTrip,
    Stream { depth: usize },
}

impl Shape {
    /// The shape a server makes under `options` for payloads of `capacity` bytes: a ring of
    /// `--ring-depth` slots, or the default for slots of that size.
    pub fn asked(options: &TransportOptions, capacity: usize) -> Result<Shape, TransportError> {
        match options.pattern {
            Pattern::RoundTrip => Ok(Shape::RoundTrip),
            Pattern::Stream | Pattern::OneWay => {
                match ring_depth(options.ring_depth, whole_pages(capacity)) {
                    depth @ 1..=MAX_RING_DEPTH => Ok(Shape::Stream { depth }),
                    depth => Err(TransportError::RingDepth { depth }),
                }
            }
        }
    }

    pub fn pattern(self) -> Pattern {
        match self {
            Shape::RoundTrip => Pattern::RoundTrip,
            Shape::Stream { .. } => Pattern::Stream,
        }
    }

    /// Writes the header of a segment at `base`.
    ///
    /// # Safety
    /// `base` must point to the first page of a live, page-aligned shared mapping, whose header
    /// words every process touches only atomically.
    pub unsafe fn write(self, base: *mut u8) {
        let (pattern, depth) = match self {
            Shape::RoundTrip => (ROUND_TRIP_CODE, 0),
            // At most MAX_RING_DEPTH: Shape::asked made it.
            Shape::Stream { depth } => (STREAM_CODE, depth as u32),
        };
        // SAFETY: the caller's promise; both words are 4-aligned in the first page.
        unsafe {
            header_word(base, DEPTH_WORD).store(depth, Ordering::Relaxed);
            header_word(base, PATTERN_WORD).store(pattern, Ordering::Release);
        }
    }

    /// The shape the header of a segment at `base` announces; a pattern or depth this build
    /// does not know is the server's error.
    ///
    /// # Safety
    /// As for [`write`](Shape::write).
    pub unsafe fn read(base: *mut u8) -> Result<Shape, TransportError> {
        // SAFETY: the caller's promise, as for write.
        let (pattern, depth) = unsafe {
            let pattern = header_word(base, PATTERN_WORD).load(Ordering::Acquire);
            (
                pattern,
                header_word(base, DEPTH_WORD).load(Ordering::Relaxed),
            )
        };
        match (pattern, depth as usize) {
            (ROUND_TRIP_CODE, _) => Ok(Shape::RoundTrip),
            (STREAM_CODE, depth @ 1..=MAX_RING_DEPTH) => Ok(Shape::Stream { depth }),
            (STREAM_CODE, depth) => Err(TransportError::Protocol(format!(
                "the segment's header announces a ring of {depth} slots (a ring has 1 to {MAX_RING_DEPTH})"
            ))),
            (code, _) => Err(TransportError::Protocol(format!(
                "the segment's header names pattern {code} (0 is round trips, 1 a stream)"
            ))),
        }
    }
}

/// # Safety
/// `base` as for [`Shape::write`]; `offset` a 4-aligned offset in the first page.
unsafe fn header_word<'a>(base: *mut u8, offset: usize) -> &'a AtomicU32 {
    // SAFETY: the caller's promise: aligned, inside a live mapping, touched only atomically.
    unsafe { &*base.add(offset).cast::<AtomicU32>() }
}

/// Where a ring of `depth` slots for payloads of `capacity` bytes lies in its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingGeometry {
    pub depth: usize,
    /// Bytes from one slot to the next: the capacity in whole pages.
    pub slot_bytes: usize,
    /// Offset of the first slot, past the length table.
    pub slots_at: usize,
    /// Offset just past the last slot, where the transport's own areas may follow.
    pub end: usize,
}

impl RingGeometry {
    pub fn new(capacity: usize, depth: usize) -> RingGeometry {
        let slot_bytes = whole_pages(capacity);
        let slots_at = LENGTHS_AT + whole_pages(depth * 4);
        RingGeometry {
            depth,
            slot_bytes,
            slots_at,
            // Saturating: a size no mapping can have fails to be created, never wraps.
            end: slots_at.saturating_add(depth.saturating_mul(slot_bytes)),
        }
    }
}

/// Arithmetic on the ring's indices, modulo the largest multiple of `depth` that fits 2^32.
#[derive(Debug, Clone, Copy)]
struct Wrap {
    depth: usize,
    modulus: u64,
}

/// A position in the ring: an index and its slot, advanced together (no division per message).
#[derive(Debug, Clone, Copy)]
struct Cursor {
    index: u32,
    slot: usize,
}

impl Wrap {
    fn new(depth: usize) -> Wrap {
        let depth64 = depth as u64;
        Wrap {
            depth,
            modulus: (1u64 << 32) / depth64 * depth64,
        }
    }

    fn is_index(self, index: u32) -> bool {
        u64::from(index) < self.modulus
    }

    /// How many messages `to` is ahead of `from`, both indices.
    fn ahead(self, to: u32, from: u32) -> u64 {
        let (to, from) = (u64::from(to), u64::from(from));
        if to >= from {
            to - from
        } else {
            to + self.modulus - from
        }
    }

    /// The cursor at `index` (an index: below the modulus).
    fn cursor(self, index: u32) -> Cursor {
        Cursor {
            index,
            slot: (u64::from(index) % self.depth as u64) as usize,
        }
    }

    fn next(self, at: Cursor) -> Cursor {
        let index = u64::from(at.index) + 1;
        let slot = at.slot + 1;
        Cursor {
            // Below the modulus, so it fits a u32.
            index: if index == self.modulus {
                0
            } else {
                index as u32
            },
            slot: if slot == self.depth { 0 } else { slot },
        }
    }
}

/// The ring in a mapped segment: the read line, the length table and the slots. The write
/// index is the transport's request line, which the caller hands in.
pub struct Ring {
    read: SequenceSignal,
    lengths: NonNull<AtomicU32>,
    slots: Slots,
    wrap: Wrap,
}

// SAFETY: the ring points only into the mapping it was built over, which its owner (a
// segment's client or server) keeps alive and moves with it; every shared word is touched
// atomically and the slots under the ownership protocol above; nothing is tied to a thread.
unsafe impl Send for Ring {}

impl Ring {
    /// # Safety
    /// `base` must point to a live, page-aligned shared mapping of at least `geometry.end`
    /// bytes that outlives the ring, whose header lines are touched only atomically.
    pub unsafe fn over(base: *mut u8, geometry: RingGeometry) -> Ring {
        // SAFETY: every offset is inside the mapping (the caller's promise) and 4-aligned.
        unsafe {
            Ring {
                read: SequenceSignal::new(base.add(READ_LINE)),
                lengths: NonNull::new_unchecked(base.add(LENGTHS_AT).cast()),
                slots: Slots::new(
                    base.add(geometry.slots_at),
                    geometry.slot_bytes,
                    geometry.depth,
                ),
                wrap: Wrap::new(geometry.depth),
            }
        }
    }

    fn depth(&self) -> usize {
        self.wrap.depth
    }

    /// The length-table entry of `slot`, which the caller's cursor keeps below the depth.
    fn length(&self, slot: usize) -> &AtomicU32 {
        assert!(
            slot < self.wrap.depth,
            "slot {slot} of a ring of {}",
            self.depth()
        );
        // SAFETY: inside the table (slot < depth), in the live mapping; touched only atomically.
        unsafe { self.lengths.add(slot).as_ref() }
    }

    /// Whether `write` and `read` can be the ring's indices: both below the modulus, the write
    /// index at most `depth` ahead. `broken` says which side's index did not fit.
    fn check_span(&self, write: u32, read: u32, broken: Broken) -> Result<(), TransportError> {
        let wrap = self.wrap;
        let fits = wrap.is_index(write)
            && wrap.is_index(read)
            && wrap.ahead(write, read) <= wrap.depth as u64;
        if fits {
            return Ok(());
        }
        let depth = wrap.depth;
        Err(TransportError::Protocol(match broken {
            Broken::WriteIndex => format!(
                "the client's write index {write} is not within the ring's {depth} slots ahead of the read index {read}"
            ),
            Broken::ReadIndex => format!(
                "the server's read index {read} is not within the ring's {depth} slots behind the write index {write}"
            ),
        }))
    }
}

/// Which index a check found broken.
#[derive(Debug, Clone, Copy)]
enum Broken {
    WriteIndex,
    ReadIndex,
}

/// The client's side of the ring: the next slot to fill and the read index last seen. Cells,
/// so that a client can reserve and publish while an access borrows its segment.
pub struct RingWriter {
    ring: Ring,
    next: Cell<Cursor>,
    read_seen: Cell<u32>,
}

impl RingWriter {
    /// Joins the ring where the indices stand: a stream continues from wherever a previous
    /// client left it. `write` is the write index's signal (the request line).
    pub fn join(
        ring: Ring,
        write: &SequenceSignal,
        access: &ObjectAccess<'_>,
    ) -> Result<RingWriter, TransportError> {
        let write_index = write.seq().load(Ordering::Acquire);
        let read_index = ring.read.seq().load(Ordering::Acquire);
        access.checked(ring.check_span(write_index, read_index, Broken::ReadIndex))?;
        Ok(RingWriter {
            next: Cell::new(ring.wrap.cursor(write_index)),
            read_seen: Cell::new(read_index),
            ring,
        })
    }

    /// The ring's slots, which [`reserve`](RingWriter::reserve) names one of.
    pub fn slots(&self) -> Slots {
        self.ring.slots
    }

    pub fn depth(&self) -> usize {
        self.ring.depth()
    }

    /// The slot the next message goes in, once it is free: while the ring looks full, asks
    /// `wait` to wait until the read index (its signal given) differs from the value given, and
    /// returns the new value. The slot is the client's until [`publish`](RingWriter::publish).
    pub fn reserve(
        &self,
        mut wait: impl FnMut(&SequenceSignal, u32) -> Result<u32, TransportError>,
    ) -> Result<usize, TransportError> {
        let next = self.next.get();
        let mut read = self.read_seen.get();
        while self.ring.wrap.ahead(next.index, read) >= self.depth() as u64 {
            read = wait(&self.ring.read, read)?;
            self.ring.check_span(next.index, read, Broken::ReadIndex)?;
            self.read_seen.set(read);
        }
        Ok(next.slot)
    }

    /// Publishes the `len` bytes (at most the capacity) written into the slot
    /// [`reserve`](RingWriter::reserve) gave, on `write`, the write index's signal; returns the
    /// write index past the message, which the acknowledgement of an end comes under.
    pub fn publish(
        &self,
        write: &SequenceSignal,
        len: usize,
        access: &ObjectAccess<'_>,
    ) -> Result<u32, TransportError> {
        let at = self.next.get();
        debug_assert!(self.ring.wrap.ahead(at.index, self.read_seen.get()) < self.depth() as u64);
        // Relaxed: publish's Release store of the index orders it before.
        self.ring
            .length(at.slot)
            .store(len as u32, Ordering::Relaxed);
        let next = self.ring.wrap.next(at);
        self.next.set(next);
        access.checked(write.publish(next.index))?;
        Ok(next.index)
    }
}

/// Checks that the acknowledgement of a stream's end, published under `acknowledged`, is that
/// of the end the client sent, whose write index was `end`: the server took exactly the
/// messages the client wrote.
pub fn check_acknowledgement(acknowledged: u32, end: u32) -> Result<(), TransportError> {
    if acknowledged != end {
        return Err(TransportError::Protocol(format!(
            "the acknowledgement came as number {acknowledged}; the stream's end was {end}"
        )));
    }
    Ok(())
}

/// A message the server took from the ring and has not freed yet.
#[derive(Debug, Clone, Copy)]
pub struct RingEntry {
    pub slot: usize,
    /// Where its bytes lie: the slot's start.
    pub at: NonNull<u8>,
    pub len: usize,
    /// The write index past it: the number an acknowledgement of it is published under.
    pub seq: u32,
}

// SAFETY: a position in the mapping its server owns, read only under the server's access.
unsafe impl Send for RingEntry {}

/// The server's side of the ring: the next message to take, the write index last seen, and
/// how many slots it freed without publishing them yet.
pub struct RingReader {
    ring: Ring,
    at: Cursor,
    write_seen: u32,
    unpublished: u32,
    /// Freed slots published together: a quarter of the ring, at least one.
    batch: u32,
}

impl RingReader {
    /// The reader of a fresh ring, whose indices are 0.
    pub fn new(ring: Ring) -> RingReader {
        RingReader {
            at: ring.wrap.cursor(0),
            write_seen: 0,
            unpublished: 0,
            batch: (ring.depth() / 4).max(1) as u32,
            ring,
        }
    }

    /// The next message, waiting for one as long as it takes (spinning for `spin_budget`, then
    /// sleeping in slices that look at `stop`) on `write`, the write index's signal; None once
    /// `stop` was set first. Its length is checked against `capacity`.
    pub fn next(
        &mut self,
        write: &SequenceSignal,
        spin_budget: Duration,
        capacity: usize,
        access: &ObjectAccess<'_>,
        stop: &AtomicBool,
    ) -> Result<Option<RingEntry>, TransportError> {
        if self.write_seen == self.at.index {
            match self.await_write(write, spin_budget, access, stop)? {
                Some(write_index) => self.write_seen = write_index,
                None => return Ok(None),
            }
        }
        let slot = self.at.slot;
        let announced = self.ring.length(slot).load(Ordering::Relaxed) as usize;
        let len = access.checked(check_announced_len(announced, capacity))?;
        Ok(Some(RingEntry {
            slot,
            at: self.ring.slots.at(slot),
            len,
            seq: self.ring.wrap.next(self.at).index,
        }))
    }

    /// The write index once it is past the read index, checked; None once `stop` was set first.
    fn await_write(
        &mut self,
        write: &SequenceSignal,
        spin_budget: Duration,
        access: &ObjectAccess<'_>,
        stop: &AtomicBool,
    ) -> Result<Option<u32>, TransportError> {
        let read = self.at.index;
        let mut now = write.seq().load(Ordering::Acquire);
        if now == read {
            // Before any wait: a writer waiting for room must see every slot freed.
            self.publish_read(access)?;
            match write.next_request(read, spin_budget, access, stop)? {
                Some(seq) => now = seq,
                None => return Ok(None),
            }
        }
        access.checked(self.ring.check_span(now, read, Broken::WriteIndex))?;
        Ok(Some(now))
    }

    /// Frees the slot of the message [`next`](RingReader::next) gave: the server is done with
    /// its bytes. Published with the batch it completes, or before the reader next waits.
    pub fn release(&mut self, access: &ObjectAccess<'_>) -> Result<(), TransportError> {
        self.at = self.ring.wrap.next(self.at);
        self.unpublished += 1;
        if self.unpublished >= self.batch {
            self.publish_read(access)?;
        }
        Ok(())
    }

    /// Publishes the read index, if any slot was freed since it last was.
    pub fn publish_read(&mut self, access: &ObjectAccess<'_>) -> Result<(), TransportError> {
        if self.unpublished == 0 {
            return Ok(());
        }
        self.unpublished = 0;
        access.checked(self.ring.read.publish(self.at.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_wrap_at_a_multiple_of_the_depth_so_slots_run_on() {
        for depth in [1, 2, 3, 64, 1000, MAX_RING_DEPTH] {
            let wrap = Wrap::new(depth);
            assert_eq!(wrap.modulus % depth as u64, 0, "{depth}");
            assert!(wrap.modulus > (1u64 << 32) - depth as u64, "{depth}");
            let last = (wrap.modulus - 1) as u32;
            let at = wrap.cursor(last);
            assert_eq!(at.slot, depth - 1, "{depth}");
            let after = wrap.next(at);
            assert_eq!((after.index, after.slot), (0, 0), "{depth}");
            assert_eq!(wrap.ahead(0, last), 1);
            assert_eq!(wrap.ahead(last, last), 0);
        }
        assert!(!Wrap::new(3).is_index(u32::MAX));
        assert!(Wrap::new(4).is_index(u32::MAX));
    }

    #[test]
    fn a_ring_is_laid_out_in_whole_pages_after_its_length_table() {
        let ring = RingGeometry::new(100, 64);
        assert_eq!((ring.slot_bytes, ring.slots_at), (4096, 8192));
        assert_eq!(ring.end, 8192 + 64 * 4096);
        let ring = RingGeometry::new(65532, MAX_RING_DEPTH);
        assert_eq!(ring.slots_at, 4096 + 4 * MAX_RING_DEPTH);
        assert_eq!(ring.end % SEGMENT_PAGE, 0);
    }

    #[test]
    fn the_header_says_the_shape_and_a_zeroed_one_is_round_trips() {
        let mut page = vec![0u32; SEGMENT_PAGE / 4];
        let base = page.as_mut_ptr().cast::<u8>();
        // SAFETY: a live, 4-aligned page of our own, touched only through these calls.
        unsafe {
            assert_eq!(Shape::read(base).unwrap(), Shape::RoundTrip);
            Shape::Stream { depth: 7 }.write(base);
            assert_eq!(Shape::read(base).unwrap(), Shape::Stream { depth: 7 });
            header_word(base, DEPTH_WORD).store(0, Ordering::Relaxed);
            let err = Shape::read(base).unwrap_err().to_string();
            assert!(err.contains("a ring of 0 slots"), "{err}");
            header_word(base, PATTERN_WORD).store(9, Ordering::Relaxed);
            let err = Shape::read(base).unwrap_err().to_string();
            assert!(err.contains("names pattern 9"), "{err}");
        }
    }
}
