//! The bytes a stream's reads brought ahead of the message being handed out (the next
//! messages of a one-way stream, the replies a client with requests in flight read while it
//! sent), kept in order in one buffer that is reused, so that nothing is allocated per message
//! once it has grown.

use crate::transport::error::TransportError;

/// Bytes received ahead of the message being handed out, in the order they came. Taken bytes
/// are skipped, not drained, so that a read that brought many messages costs one copy per
/// message, not a shift of all the rest each time; and the buffer is kept, so that once it has
/// grown to what a connection holds in flight nothing is allocated per message.
#[derive(Default)]
pub(super) struct Carried {
    /// Every byte initialised, so that reads can land in it; `start..end` are the unread ones.
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl Carried {
    pub(super) fn unread(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// `n` of the unread bytes were handed out.
    pub(super) fn take(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            // All taken: the next bytes go to the front, and the allocation stays.
            self.start = 0;
            self.end = 0;
        }
    }

    /// The free space after the unread bytes, at least `min` bytes of it.
    pub(super) fn room(&mut self, min: usize) -> Result<&mut [u8], TransportError> {
        if self.bytes.len() - self.end < min {
            self.make_room(min)?;
        }
        Ok(&mut self.bytes[self.end..])
    }

    /// `n` bytes were placed at the start of [`room`](Carried::room).
    pub(super) fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.bytes.len());
    }

    pub(super) fn append(&mut self, more: &[u8]) -> Result<(), TransportError> {
        self.room(more.len())?[..more.len()].copy_from_slice(more);
        self.filled(more.len());
        Ok(())
    }

    /// Moves the unread bytes to the front when at least as many were taken before them (so
    /// that each byte moves about once at most), and grows the buffer, doubling, if that is not
    /// enough room for `min` more.
    fn make_room(&mut self, min: usize) -> Result<(), TransportError> {
        let unread = self.end - self.start;
        if self.start >= unread {
            self.bytes.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = unread;
        }
        let needed = self.end.saturating_add(min);
        if self.bytes.len() >= needed {
            return Ok(());
        }
        let grown = needed.max(self.bytes.len().saturating_mul(2));
        (self.bytes)
            .try_reserve_exact(grown - self.bytes.len())
            .map_err(|source| TransportError::Allocation {
                what: "bytes received ahead of their message",
                bytes: grown,
                source,
            })?;
        self.bytes.resize(grown, 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_bytes_keep_their_order_and_their_buffer() {
        let mut carried = Carried::default();
        carried.append(b"abcdef").unwrap();
        carried.take(2);
        assert_eq!(carried.unread(), b"cdef");
        carried.append(b"gh").unwrap();
        assert_eq!(carried.unread(), b"cdefgh");
        carried.take(6);
        assert_eq!(
            (carried.unread(), carried.start, carried.end),
            (&b""[..], 0, 0)
        );
        let allocated = carried.bytes.len();
        carried.append(b"xyz").unwrap();
        assert_eq!(
            (carried.unread(), carried.bytes.len()),
            (&b"xyz"[..], allocated)
        );
    }

    /// The unread bytes move to the front when as many were taken before them, and only
    /// otherwise does the buffer grow (doubling).
    #[test]
    fn room_is_made_by_moving_the_unread_bytes_before_growing() {
        let mut carried = Carried::default();
        carried.append(&[1; 8]).unwrap();
        carried.take(6);
        assert_eq!(carried.room(6).unwrap().len(), 6);
        assert_eq!((carried.unread(), carried.bytes.len()), (&[1u8, 1][..], 8));
        assert_eq!(carried.room(7).unwrap().len(), 14);
        assert_eq!(carried.unread(), &[1, 1]);
    }
}
