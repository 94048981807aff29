//! The partial-read state machine of a framed message: the header's bytes, then the payload's,
//! straight into the caller's buffer, with bytes that ran past the message's end reported for
//! the carried bytes; and, when a read stalls or announces more than the buffer holds, whether
//! what came is another protocol's opening instead of a frame (ZeroMQ's greeting, HTTP/2's
//! preface or its SETTINGS frame: a zmq or grpc-uds peer on a framed transport's socket).

use std::io::{IoSliceMut, Read};
use std::ops::Range;

use crate::transport::blocks::payload::decode_len;
use crate::transport::error::TransportError;
use crate::transport::wire::HEADER_LEN;

/// The first bytes of ZeroMQ's greeting: 0xFF, eight bytes of padding, 0x7F.
const ZMTP_SIGNATURE_LEN: usize = 10;

/// The expectation of a connection's first message: none, so its first read asks for the whole
/// buffer.
pub(super) const NO_EXPECTATION: usize = usize::MAX;

/// Whether `start`, the first bytes a peer sent, is ZeroMQ's signature.
fn is_zmtp_signature(start: &[u8]) -> bool {
    start.len() >= ZMTP_SIGNATURE_LEN && start[0] == 0xFF && start[9] == 0x7F
}

/// Whether `start` is an HTTP/2 SETTINGS frame's 9-byte header, what an HTTP/2 server sends
/// first: a 24-bit length that is a multiple of 6 (one setting each), type 0x4, flags 0 or
/// ACK, stream 0. Read as this framing's length, its first four bytes announce 67–84 MB.
fn is_http2_settings(start: &[u8]) -> bool {
    matches!(start, [0, high, low, 0x04, 0 | 1, 0, 0, 0, 0, ..]
        if u16::from_be_bytes([*high, *low]) % 6 == 0)
}

/// Which other protocol `start`, the first bytes a peer sent, opens with, and whose peer that
/// is, if it is one the tool's other transports speak.
fn other_protocol(start: &[u8]) -> Option<(&'static str, &'static str)> {
    if is_zmtp_signature(start) {
        return Some((
            "ZeroMQ's greeting (ZMTP: 0xFF … 0x7F)",
            "a ZeroMQ peer (zmq-tcp or zmq-ipc)",
        ));
    }
    if start.starts_with(b"PRI ") {
        return Some((
            "HTTP/2's connection preface (\"PRI * HTTP/2.0\")",
            "an HTTP/2 client (grpc-uds)",
        ));
    }
    if is_http2_settings(start) {
        return Some(("an HTTP/2 SETTINGS frame", "an HTTP/2 server (grpc-uds)"));
    }
    None
}

/// One message on its way in: its header, the caller's buffer for the payload, and how much
/// of each has arrived.
pub(super) struct Incoming<'p> {
    pub(super) header: [u8; HEADER_LEN],
    pub(super) header_filled: usize,
    pub(super) payload: &'p mut [u8],
    pub(super) payload_filled: usize,
    /// The payload's length, once the whole header is in (and checked against the buffer).
    pub(super) len: Option<usize>,
    /// Payload bytes a read asks for while the length is still unknown (see
    /// [`Incoming::read_from`]).
    ahead: usize,
}

impl<'p> Incoming<'p> {
    /// A message to come into `payload`, expected to be `expected` bytes long (the length of
    /// the one before it, [`NO_EXPECTATION`] for a connection's first).
    #[inline(always)]
    pub(super) fn new(payload: &'p mut [u8], expected: usize) -> Incoming<'p> {
        Incoming {
            header: [0; HEADER_LEN],
            header_filled: 0,
            ahead: expected.min(payload.len()),
            payload,
            payload_filled: 0,
            len: None,
        }
    }

    #[inline(always)]
    pub(super) fn has_begun(&self) -> bool {
        self.header_filled > 0
    }

    /// `failed`, or what the bytes in so far say instead: a message that never completes, or
    /// announces more than the buffer holds, may be another protocol's, whose first bytes read
    /// as a length (ZeroMQ's greeting, `0xFF`, eight bytes, `0x7F`, reads as 255 bytes to come,
    /// which never do; HTTP/2's preface, `PRI `, as 541,676,112).
    pub(super) fn explain(&self, failed: TransportError, what: &str) -> TransportError {
        match failed {
            TransportError::Interrupted => failed,
            failed => self.refuse_other_protocol(what).err().unwrap_or(failed),
        }
    }

    /// Fails if the bytes in so far, stalled or announcing too much, are another protocol's
    /// opening: the peer is waiting for ours, and no length-framed message will come. Only
    /// asked when a read slice ran out or the length was refused, so that a real message whose
    /// first bytes happen to match, arriving whole, is never refused.
    pub(super) fn refuse_other_protocol(&self, what: &str) -> Result<(), TransportError> {
        let mut start = self.header[..self.header_filled].to_vec();
        let payload_in = self.payload_filled.min(ZMTP_SIGNATURE_LEN - HEADER_LEN);
        if self.header_filled == HEADER_LEN {
            start.extend_from_slice(&self.payload[..payload_in]);
        }
        match other_protocol(&start) {
            Some((protocol, peer)) => Err(TransportError::OtherProtocol {
                what: what.to_string(),
                protocol,
                peer,
            }),
            None => Ok(()),
        }
    }

    #[inline(always)]
    pub(super) fn is_complete(&self) -> bool {
        self.len == Some(self.payload_filled)
    }

    /// One read of what is missing; `staging` is where a small message's read lands first.
    ///
    /// Until the header is complete, the message's end is unknown, so this is one `readv` of
    /// [rest of the header, as many payload bytes as the last message had]: the common case,
    /// a whole message in one call, and one message per call, as iperf3 and a C loop read
    /// (`read` of the block size). Asking for the whole buffer instead would take as many
    /// messages of a one-way stream as the socket holds; that reader drains the socket faster
    /// than its peer fills it and sleeps after every drain, and each sleep costs the sender a
    /// wake-up of another CPU (docs/own-cost.md measures both). A longer message takes one more
    /// read; a shorter one leaves bytes of the *next* message, which [`Incoming::advance`]
    /// reports and [`FramedStream`] keeps as the start of its next receive (copied only in that
    /// case; the common case copies nothing). Once the length is known, reads ask for exactly
    /// the missing bytes, never past the end.
    ///
    /// A message expected to be small (its header and payload fit `staging`) is read with one
    /// `read` into `staging`, then copied where the `readv` would have put its bytes: a
    /// `readv` makes the kernel import an iovec, which costs more than that copy (the same
    /// trade as a small frame's write, [`super::codec::STAGED_MAX`]).
    #[inline(always)]
    pub(super) fn read_from(
        &mut self,
        stream: &mut impl Read,
        staging: &mut [u8],
    ) -> std::io::Result<usize> {
        match self.len {
            None if self.header_filled == 0 && HEADER_LEN + self.ahead <= staging.len() => {
                let n = stream.read(&mut staging[..HEADER_LEN + self.ahead])?;
                let (header, payload) = staging[..n].split_at(n.min(HEADER_LEN));
                self.header[..header.len()].copy_from_slice(header);
                self.payload[..payload.len()].copy_from_slice(payload);
                Ok(n)
            }
            None => stream.read_vectored(&mut [
                IoSliceMut::new(&mut self.header[self.header_filled..]),
                IoSliceMut::new(&mut self.payload[..self.ahead]),
            ]),
            Some(len) => stream.read(&mut self.payload[self.payload_filled..len]),
        }
    }

    /// Accounts for `n` bytes placed by [`Incoming::read_from`]: the rest of the header first,
    /// then the payload. Returns where in the payload buffer bytes beyond the message's end
    /// landed (an empty range, normally).
    #[inline(always)]
    pub(super) fn advance(&mut self, n: usize) -> Result<Range<usize>, TransportError> {
        if self.len.is_some() {
            self.payload_filled += n;
            return Ok(0..0);
        }
        let into_header = n.min(HEADER_LEN - self.header_filled);
        self.header_filled += into_header;
        if self.header_filled < HEADER_LEN {
            return Ok(0..0);
        }
        // The header was incomplete before this read, so its payload bytes start at 0.
        let into_payload = n - into_header;
        let len = decode_len(self.header, self.payload.len()).inspect_err(|_| {
            // What came with the refused header, for `explain` to look at.
            self.payload_filled = into_payload.min(self.payload.len());
        })?;
        self.len = Some(len);
        self.payload_filled = into_payload.min(len);
        Ok(self.payload_filled..into_payload)
    }

    /// Copies the start of `bytes` into the message, never past its end; returns how many
    /// bytes it took.
    pub(super) fn fill_from(&mut self, bytes: &[u8]) -> Result<usize, TransportError> {
        let mut taken = 0;
        if self.len.is_none() {
            taken = bytes.len().min(HEADER_LEN - self.header_filled);
            self.header[self.header_filled..][..taken].copy_from_slice(&bytes[..taken]);
            self.advance(taken)?;
        }
        if let Some(len) = self.len {
            let more = (bytes.len() - taken).min(len - self.payload_filled);
            self.payload[self.payload_filled..][..more].copy_from_slice(&bytes[taken..][..more]);
            self.payload_filled += more;
            taken += more;
        }
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http2_openings_are_named_and_a_frame_that_only_begins_like_one_is_not() {
        let settings = [0, 0, 18, 4, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            other_protocol(&settings).map(|(_, peer)| peer),
            Some("an HTTP/2 server (grpc-uds)")
        );
        let ack = [0, 0, 0, 4, 1, 0, 0, 0, 0];
        assert!(other_protocol(&ack).is_some(), "a SETTINGS acknowledgement");
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert_eq!(
            other_protocol(preface).map(|(_, peer)| peer),
            Some("an HTTP/2 client (grpc-uds)")
        );
        // The same four bytes, then a payload that is no frame header's: not HTTP/2.
        assert_eq!(other_protocol(&[0, 0, 18, 4, 7, 0, 0, 0, 0]), None);
        assert_eq!(other_protocol(&[0, 0, 18, 4, 0, 0, 0, 0, 1]), None);
        // A length no SETTINGS frame has (not a multiple of 6), or too few bytes to tell.
        assert_eq!(other_protocol(&[0, 0, 17, 4, 0, 0, 0, 0, 0]), None);
        assert_eq!(other_protocol(&[0, 0, 18, 4]), None);
    }
}
