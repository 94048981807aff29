//! How payload areas lie in a shared mapping: in whole pages, so that every copy between two
//! of them is 0 mod 4096 apart, and as slots one after another. Below both the segment of the
//! spinning transports and a stream's ring, which lay themselves out with it.

use std::ptr::NonNull;

/// The page the spinning transports' segments are laid out in: the control lines take one,
/// and every payload area starts on a page boundary (a copy between two of them is 0 mod 4096
/// apart: never glibc's slow offsets).
pub const SEGMENT_PAGE: usize = 4096;

/// `bytes` rounded up to whole [`SEGMENT_PAGE`]s: what a payload area of that capacity takes.
pub fn whole_pages(bytes: usize) -> usize {
    bytes.div_ceil(SEGMENT_PAGE) * SEGMENT_PAGE
}

/// `count` payload areas of a mapping, one after another, `stride` bytes apart: SHM zero-copy's
/// two slots, a ring's slots.
#[derive(Debug, Clone, Copy)]
pub struct Slots {
    first: NonNull<u8>,
    stride: usize,
    count: usize,
}

impl Slots {
    /// # Safety
    /// `[first, first + count × stride)` must lie inside a live mapping that outlives every
    /// use of the pointers [`at`](Slots::at) returns.
    pub unsafe fn new(first: *mut u8, stride: usize, count: usize) -> Slots {
        Slots {
            // SAFETY: inside a mapping, so not null (the caller's promise).
            first: unsafe { NonNull::new_unchecked(first) },
            stride,
            count,
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Where slot `slot` starts. A slot a peer names is checked against
    /// [`count`](Slots::count) before it comes here; one past the end is a bug of ours.
    pub fn at(&self, slot: usize) -> NonNull<u8> {
        assert!(slot < self.count, "slot {slot} of {}", self.count);
        // SAFETY: slot < count: inside the areas `new` was promised.
        unsafe { self.first.add(slot * self.stride) }
    }
}
