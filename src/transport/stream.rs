//! The one-way stream (`--pattern stream`) as both sides agree on it, whatever carries it.
//!
//! The client sends messages one way, back to back, each starting with its sequence number
//! (8 bytes, little-endian), followed by the payload pattern [`payload_byte`]. The server takes
//! each one and checks it ([`StreamCheck`]) without answering it. The stream ends with one more
//! message whose sequence number has the [`END_MARK`] bit set: that one the server echoes, and
//! the echo is its acknowledgement that every message before it arrived whole and in order. A
//! message that did not ends the server with the reason on stderr, which the driver quotes.
//! The driver numbers each end of its own ([`next_end`]), so that the echo of another stream's
//! end (one a client that died waiting for it left in a message queue) is no acknowledgement.
//!
//! A message must hold its sequence number, so a stream's messages are at least
//! [`MIN_STREAM_MESSAGE`] bytes.
//!
//! One-way latency (`--pattern one-way`) is the same stream with each message's send time
//! after its sequence number: the sender's `CLOCK_MONOTONIC` in nanoseconds, 8 bytes
//! little-endian ([`send_time_of`]), written just before the send. Those bytes are no longer
//! the payload pattern, so the check of a one-way stream ([`StreamCheck::one_way`]) starts its
//! payload after them; its messages are at least [`MIN_ONE_WAY_MESSAGE`] bytes.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bit that makes a sequence number that of an end: the message that ends a stream and
/// asks for its acknowledgement. No stream runs long enough to number a message with it.
pub const END_MARK: u64 = 1 << 63;

/// The number of an end (any number with [`END_MARK`] is one).
pub const STREAM_END: u64 = u64::MAX;

/// Whether `sequence` is the number of an end.
pub fn is_end(sequence: u64) -> bool {
    sequence & END_MARK != 0
}

/// A number for the end of a new stream, which no other stream's end has: [`END_MARK`], this
/// process's id and how many ends it numbered before.
pub fn next_end() -> u64 {
    static ENDS: AtomicU64 = AtomicU64::new(0);
    let count = ENDS.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
    END_MARK | u64::from(std::process::id()) << 31 | count
}

/// The number of a client's first message (its warm-up's, or its timed stream's without one):
/// a message of that number starts a new stream wherever it comes, so that a client that hung
/// up mid-stream (a driver stopped with Ctrl-C) leaves the server ready for the next one.
pub const FIRST_SEQUENCE: u64 = 1;

/// Bytes at the front of each message that carry its sequence number.
pub const SEQUENCE_LEN: usize = 8;

/// The most slots a ring of a stream may have (`--ring-depth`).
pub const MAX_RING_DEPTH: usize = 4096;

/// The slots a ring of a stream has unless `--ring-depth` says otherwise: 64, or fewer for
/// messages so large that 64 slots would take more than [`DEFAULT_RING_BYTES`] (never fewer than 2).
pub const DEFAULT_RING_DEPTH: usize = 64;

/// What a default ring's slots may take together.
pub const DEFAULT_RING_BYTES: usize = 64 << 20;

/// The depth of a ring of `slot_bytes`-byte slots: `asked`, or the default for that slot size.
pub fn ring_depth(asked: Option<usize>, slot_bytes: usize) -> usize {
    asked.unwrap_or_else(|| (DEFAULT_RING_BYTES / slot_bytes.max(1)).clamp(2, DEFAULT_RING_DEPTH))
}

/// The smallest message a stream carries: its sequence number.
pub const MIN_STREAM_MESSAGE: usize = SEQUENCE_LEN;

/// Bytes after the sequence number that carry a one-way message's send time.
pub const SEND_TIME_LEN: usize = 8;

/// The smallest message of a one-way stream: its sequence number and its send time.
pub const MIN_ONE_WAY_MESSAGE: usize = SEQUENCE_LEN + SEND_TIME_LEN;

/// The send time of a one-way message (ns on the sender's `CLOCK_MONOTONIC`), if it holds one.
pub fn send_time_of(message: &[u8]) -> Option<u64> {
    let bytes = message.get(SEQUENCE_LEN..MIN_ONE_WAY_MESSAGE)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Writes `send_time_ns` into a one-way message (at least [`MIN_ONE_WAY_MESSAGE`] bytes).
pub fn write_send_time(message: &mut [u8], send_time_ns: u64) {
    message[SEQUENCE_LEN..MIN_ONE_WAY_MESSAGE].copy_from_slice(&send_time_ns.to_le_bytes());
}

/// The byte at `offset` of every request and stream message before the sequence number is
/// stamped over its first bytes: a pattern that varies with the offset, so that a shifted or
/// stale copy does not pass a check.
pub fn payload_byte(offset: usize) -> u8 {
    (offset.wrapping_mul(31).wrapping_add(7) % 251) as u8
}

/// The sequence number at the front of `message`, if it holds one.
pub fn sequence_of(message: &[u8]) -> Option<u64> {
    let bytes: [u8; SEQUENCE_LEN] = message.get(..SEQUENCE_LEN)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// How a stream's message was wrong, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamFault {
    #[error("a {len}-byte message is too short for its header (a stream's messages carry an {SEQUENCE_LEN}-byte sequence number, a one-way stream's its {SEND_TIME_LEN}-byte send time too)")]
    TooShort { len: usize },
    #[error("message {sequence} has {got} bytes, the stream's first had {expected}")]
    Length {
        sequence: u64,
        got: usize,
        expected: usize,
    },
    #[error(
        "sequence number {got} where {expected} was due (a message lost, repeated or reordered)"
    )]
    Sequence { got: u64, expected: u64 },
    #[error("message {sequence} differs from what was sent at byte offset {offset}: expected 0x{expected:02x}, got 0x{got:02x}")]
    Byte {
        sequence: u64,
        offset: usize,
        expected: u8,
        got: u8,
    },
}

/// What a message was, to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStep {
    /// A message of the stream: take it and answer nothing.
    Message,
    /// The end: acknowledge the stream by echoing this message.
    End,
}

impl fmt::Display for StreamStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamStep::Message => "message",
            StreamStep::End => "end",
        })
    }
}

/// The server's check of a stream, one message at a time: every message as long as the
/// stream's first, sequence numbers one apart, and with `every_byte` the payload byte for byte.
/// The first message after an end starts a new stream at whatever number it carries (the
/// client's numbers continue from its warm-up), and so does a message numbered
/// [`FIRST_SEQUENCE`] anywhere: a new client's first, after one that hung up mid-stream.
#[derive(Debug, Clone)]
pub struct StreamCheck {
    every_byte: bool,
    /// Where the payload pattern starts: after the sequence number, or after the send time.
    payload_from: usize,
    /// The next number and the length due, once a stream has started.
    due: Option<(u64, usize)>,
}

impl StreamCheck {
    pub fn new(every_byte: bool) -> StreamCheck {
        StreamCheck {
            every_byte,
            payload_from: SEQUENCE_LEN,
            due: None,
        }
    }

    /// The check of a one-way stream, whose messages carry their send time before the payload
    /// (the end's bytes there are the client's to choose: it echoes them back and checks them).
    pub fn one_way(every_byte: bool) -> StreamCheck {
        StreamCheck {
            payload_from: MIN_ONE_WAY_MESSAGE,
            ..StreamCheck::new(every_byte)
        }
    }

    /// Checks the next message of the stream. The end is checked byte for byte whatever
    /// `every_byte` says: its echo is the acknowledgement.
    pub fn message(&mut self, message: &[u8]) -> Result<StreamStep, StreamFault> {
        let len = message.len();
        let sequence = sequence_of(message).ok_or(StreamFault::TooShort { len })?;
        if len < self.payload_from {
            return Err(StreamFault::TooShort { len });
        }
        if is_end(sequence) {
            self.due = None;
            check_payload(message, sequence, self.payload_from)?;
            return Ok(StreamStep::End);
        }
        if sequence == FIRST_SEQUENCE {
            self.due = None;
        }
        if let Some((expected, expected_len)) = self.due {
            if sequence != expected {
                return Err(StreamFault::Sequence {
                    got: sequence,
                    expected,
                });
            }
            if len != expected_len {
                return Err(StreamFault::Length {
                    sequence,
                    got: len,
                    expected: expected_len,
                });
            }
        }
        if self.every_byte {
            check_payload(message, sequence, self.payload_from)?;
        }
        self.due = Some((sequence.wrapping_add(1), len));
        Ok(StreamStep::Message)
    }
}

/// Every byte from `payload_from` on is the payload pattern.
fn check_payload(message: &[u8], sequence: u64, payload_from: usize) -> Result<(), StreamFault> {
    let bad = message
        .iter()
        .enumerate()
        .skip(payload_from)
        .find(|&(offset, &byte)| byte != payload_byte(offset));
    match bad {
        None => Ok(()),
        Some((offset, &got)) => Err(StreamFault::Byte {
            sequence,
            offset,
            expected: payload_byte(offset),
            got,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(sequence: u64, len: usize) -> Vec<u8> {
        let mut bytes: Vec<u8> = (0..len).map(payload_byte).collect();
        bytes[..SEQUENCE_LEN].copy_from_slice(&sequence.to_le_bytes());
        bytes
    }

    #[test]
    fn a_stream_in_order_passes_and_its_end_asks_for_the_acknowledgement() {
        let mut check = StreamCheck::new(true);
        for sequence in 101..=110 {
            assert_eq!(
                check.message(&message(sequence, 100)),
                Ok(StreamStep::Message)
            );
        }
        assert_eq!(
            check.message(&message(STREAM_END, 100)),
            Ok(StreamStep::End)
        );
        // The next stream starts wherever its first number is.
        assert_eq!(check.message(&message(500, 64)), Ok(StreamStep::Message));
    }

    #[test]
    fn a_lost_repeated_or_resized_message_is_named() {
        let mut check = StreamCheck::new(false);
        check.message(&message(1, 100)).unwrap();
        assert_eq!(
            check.message(&message(3, 100)),
            Err(StreamFault::Sequence {
                got: 3,
                expected: 2
            })
        );
        let mut check = StreamCheck::new(false);
        check.message(&message(2, 100)).unwrap();
        check.message(&message(2, 100)).unwrap_err();
        let mut check = StreamCheck::new(false);
        check.message(&message(1, 100)).unwrap();
        let fault = check.message(&message(2, 99)).unwrap_err();
        assert_eq!(
            fault.to_string(),
            "message 2 has 99 bytes, the stream's first had 100"
        );
    }

    #[test]
    fn a_new_clients_first_message_starts_a_new_stream_mid_stream() {
        let mut check = StreamCheck::new(true);
        for sequence in 1..=50 {
            check.message(&message(sequence, 100)).unwrap();
        }
        // The client hung up; the next one starts from its first number, at its own size.
        for sequence in 1..=5 {
            assert_eq!(
                check.message(&message(sequence, 64)),
                Ok(StreamStep::Message)
            );
        }
        assert!(check.message(&message(7, 64)).is_err());
    }

    #[test]
    fn payload_bytes_are_checked_only_when_asked_but_always_at_the_end() {
        let mut corrupt = message(7, 100);
        corrupt[57] ^= 0xff;
        assert!(StreamCheck::new(false).message(&corrupt).is_ok());
        let fault = StreamCheck::new(true).message(&corrupt).unwrap_err();
        assert!(fault.to_string().contains("byte offset 57"), "{fault}");
        let mut end = message(STREAM_END, 100);
        end[99] ^= 1;
        assert!(StreamCheck::new(false).message(&end).is_err());
    }

    #[test]
    fn every_end_is_numbered_apart_and_ends_the_stream() {
        let (one, two) = (next_end(), next_end());
        assert_ne!(one, two);
        for end in [one, two, STREAM_END] {
            assert!(is_end(end), "{end:#x}");
            let mut check = StreamCheck::new(true);
            check.message(&message(1, 100)).unwrap();
            assert_eq!(check.message(&message(end, 100)), Ok(StreamStep::End));
        }
        assert!(!is_end(u64::from(u32::MAX) << 31));
    }

    #[test]
    fn a_one_way_check_skips_the_send_time_and_refuses_a_message_without_one() {
        let mut stamped = message(1, 40);
        write_send_time(&mut stamped, 0x0102_0304_0506_0708);
        assert_eq!(send_time_of(&stamped), Some(0x0102_0304_0506_0708));
        assert!(StreamCheck::new(true).message(&stamped).is_err());
        assert_eq!(
            StreamCheck::one_way(true).message(&stamped),
            Ok(StreamStep::Message)
        );
        assert_eq!(
            StreamCheck::one_way(false).message(&message(1, MIN_ONE_WAY_MESSAGE - 1)),
            Err(StreamFault::TooShort {
                len: MIN_ONE_WAY_MESSAGE - 1
            })
        );
        let mut corrupt = stamped.clone();
        corrupt[MIN_ONE_WAY_MESSAGE] ^= 1;
        assert!(StreamCheck::one_way(true).message(&corrupt).is_err());
    }

    #[test]
    fn a_message_too_short_for_its_number_is_refused() {
        assert_eq!(
            StreamCheck::new(false).message(&[1, 2, 3]),
            Err(StreamFault::TooShort { len: 3 })
        );
        assert_eq!(sequence_of(&message(9, 8)), Some(9));
    }
}
