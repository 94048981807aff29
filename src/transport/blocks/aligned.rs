//! Buffers placed at a chosen offset from a page boundary.
//!
//! On AMD Zen (`rep movsb` with FSRM), a copy of about 10 KB and more runs slower when
//! `(destination − source) mod 4096` is between 1 and 15: glibc's `memcpy` in user space (15×
//! once, on a host whose machine was not recorded; at most 1.4× on another: docs/
//! reading-results.md), and the kernel's copies between a process and a socket buffer or a
//! pipe page too (on an AMD EPYC Zen 4 VM, a 10 KB pipe round trip 1.7× and a 100 KB one 2.4×
//! the same loop placed: docs/own-cost.md). A payload behind a 4-byte header sits 4 bytes past a page
//! boundary wherever the header starts a page: a page-aligned shared mapping, a pipe's page,
//! the head of a socket buffer. A buffer wherever the allocator put it (a large one at 16 bytes
//! past a page, where glibc's `mmap` chunks start) copies to and from it at whatever distance
//! that makes. Placing our buffers at the transport's own offset makes the distance 0 mod
//! 4096 by construction, instead of by the allocator's history.
//!
//! It is a transport building block because both sides use it: the driver's echo buffers
//! (at [`payload_page_offset`](crate::transport::spec::TransportClient::payload_page_offset)),
//! and the framed servers' request buffer, so that their reads and writes land as the C loops'
//! do (docs/own-cost.md, "Where a large copy lands (AMD EPYC)").

use std::ops::{Deref, DerefMut};

use crate::transport::blocks::payload::zeroed_buffer;
use crate::transport::request_room::RequestWithRoom;
use crate::transport::TransportError;

/// The page size the copies are aligned to.
pub const PAGE: usize = 4096;

/// `len` zeroed bytes starting `offset` (mod [`PAGE`]) bytes past a page boundary. The
/// default is empty.
#[derive(Default)]
pub struct AlignedBuffer {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuffer {
    pub fn zeroed(
        what: &'static str,
        len: usize,
        offset: usize,
    ) -> Result<AlignedBuffer, TransportError> {
        // One page of slack is room enough to reach any offset. A refusal names the buffer's
        // own size, the one the user asked for, not the slack's.
        let storage = zeroed_buffer(what, len.saturating_add(PAGE)).map_err(|e| match e {
            TransportError::Allocation { what, source, .. } => TransportError::Allocation {
                what,
                bytes: len,
                source,
            },
            other => other,
        })?;
        Ok(AlignedBuffer::placed(storage, len, offset))
    }

    /// A small buffer (a few KiB), allocated as any small `Vec` is: the process aborts if even
    /// that cannot be had, as it would for the next allocation anyway.
    pub fn small(len: usize, offset: usize) -> AlignedBuffer {
        AlignedBuffer::placed(vec![0; len + PAGE], len, offset)
    }

    /// `len` bytes of `storage` (a page longer) from `offset` past a page boundary.
    fn placed(storage: Vec<u8>, len: usize, offset: usize) -> AlignedBuffer {
        let address = storage.as_ptr() as usize;
        let start = (offset % PAGE + PAGE - address % PAGE) % PAGE;
        AlignedBuffer {
            storage,
            start,
            len,
        }
    }

    /// The buffer's bytes with all the storage in front of them, and how many bytes that is:
    /// the room a framing may write a header into ([`RequestWithRoom`]).
    pub fn with_room_in_front(&mut self) -> RequestWithRoom<'_> {
        RequestWithRoom::new(&mut self.storage[..self.start + self.len], self.start)
    }

    /// Where the first byte sits, modulo [`PAGE`].
    pub fn page_offset(&self) -> usize {
        self.as_ptr() as usize % PAGE
    }
}

impl Deref for AlignedBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl DerefMut for AlignedBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_size_asked_for_not_the_slack() {
        let len = usize::MAX / 2;
        match AlignedBuffer::zeroed("request buffer", len, 68) {
            Err(TransportError::Allocation { what, bytes, .. }) => {
                assert_eq!((what, bytes), ("request buffer", len));
            }
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("{len} bytes allocated"),
        }
    }

    #[test]
    fn small_buffers_sit_at_the_offset_asked_for_and_the_default_is_empty() {
        for offset in [0, 64, 4095] {
            let buffer = AlignedBuffer::small(4100, offset);
            assert_eq!((buffer.len(), buffer.page_offset()), (4100, offset));
        }
        assert!(AlignedBuffer::default().is_empty());
    }

    #[test]
    fn buffers_sit_at_the_offset_asked_for() {
        for offset in [0, 4, 15, 68, 256, 4095, 4096 + 4] {
            for len in [0, 1, 100, 10_000, 500_000] {
                let buffer = AlignedBuffer::zeroed("test buffer", len, offset).unwrap();
                assert_eq!(buffer.len(), len);
                if len > 0 {
                    assert_eq!(buffer.page_offset(), offset % PAGE, "{len} at {offset}");
                }
                assert!(buffer.iter().all(|&b| b == 0));
            }
        }
    }
}
