//! A frame on its way out: the 4-byte length header, then the payload, in one write when the
//! kernel takes it all: a small payload copied behind its header and sent with `write`
//! ([`STAGED_MAX`]), a larger one with a `writev` of the two. [`FramedStream::send`] (a
//! blocking write in slices) and [`FramedStream::send_reading`](super::in_flight) (a write that
//! never waits, reading replies meanwhile) differ only in how one write is tried;
//! [`FramedStream::write_frame`] is their common body, inlined into each, so neither pays a
//! call for sharing it.

use std::io::{IoSlice, Read, Write};

use super::transfer::{progress, Direction};
use super::FramedStream;
use crate::transport::blocks::aligned::AlignedBuffer;
use crate::transport::error::TransportError;
use crate::transport::request_room::RequestWithRoom;
use crate::transport::wait::WaitBudget;
use crate::transport::wire::{encode_len, HEADER_LEN};

/// How one write of a frame's parts is tried: says how many bytes went (None: none, try again).
pub(super) trait WriteSome<'w, S>:
    FnMut(
    &mut FramedStream<S>,
    &[IoSlice<'_>],
    &mut WaitBudget<'w>,
) -> Result<Option<usize>, TransportError>
{
}

impl<'w, S, F> WriteSome<'w, S> for F where
    F: FnMut(
        &mut FramedStream<S>,
        &[IoSlice<'_>],
        &mut WaitBudget<'w>,
    ) -> Result<Option<usize>, TransportError>
{
}

/// Payloads up to this many bytes go out staged: copied behind their header into one buffer
/// and written with one `write`, as a C loop writes a frame it built in place. A `writev` of
/// two parts makes the kernel import an iovec, which costs more than copying a small payload
/// once: measured against the C loops (docs/own-cost.md), staging lifted a 100 B pipe stream
/// on one CPU from 0.69–0.72 to 0.76–0.80 of C, a 1 KiB Unix stream from 0.83 to 0.95–0.96 and
/// a 4 KiB one from 0.82–0.86 to 0.90–0.91; at 10 KB it made no difference. The staging
/// buffers keep their payloads where the caller's are ([`PAYLOAD_PAGE_OFFSET`](super::PAYLOAD_PAGE_OFFSET)): glibc
/// copies from 2 KiB up with `rep movsb` where the CPU has FSRM, which is slow on AMD Zen for a
/// destination 1–15 bytes ahead of its source modulo a page.
pub(super) const STAGED_MAX: usize = 4096;

/// A staged frame: the stream's staging buffer, taken while the frame in its first
/// `frame_len` bytes is written, then put back.
pub(super) struct Staged {
    pub(super) buffer: AlignedBuffer,
    frame_len: usize,
}

impl Staged {
    pub(super) fn frame(&self) -> IoSlice<'_> {
        IoSlice::new(&self.buffer[..self.frame_len])
    }
}

impl<S> FramedStream<S> {
    /// Writes `payload` behind its length header: `write_some` tries one write of what is left
    /// and says how many bytes went (None: none, try again); the frame is done when all went.
    #[inline(always)]
    pub(super) fn write_frame<'w>(
        &mut self,
        payload: &[u8],
        budget: &mut WaitBudget<'w>,
        what: &str,
        write_some: impl WriteSome<'w, S>,
    ) -> Result<(), TransportError> {
        if let Some(staged) = self.stage(payload) {
            let sent = self.write_parts(&mut [staged.frame()], budget, what, write_some);
            self.staging = staged.buffer;
            return sent;
        }
        let header = encode_len(payload.len());
        let mut parts = [IoSlice::new(&header), IoSlice::new(payload)];
        self.write_parts(&mut parts, budget, what, write_some)
    }

    /// A payload of at most [`STAGED_MAX`] bytes behind its header, in the staging buffer,
    /// taken from the stream (so that the stream can be written while it is borrowed): the
    /// caller puts it back. None for a larger payload.
    #[inline(always)]
    pub(super) fn stage(&mut self, payload: &[u8]) -> Option<Staged> {
        if payload.len() > STAGED_MAX {
            return None;
        }
        let mut buffer = std::mem::take(&mut self.staging);
        let frame_len = HEADER_LEN + payload.len();
        buffer[..HEADER_LEN].copy_from_slice(&encode_len(payload.len()));
        buffer[HEADER_LEN..frame_len].copy_from_slice(payload);
        Some(Staged { buffer, frame_len })
    }

    #[inline(always)]
    fn write_parts<'w>(
        &mut self,
        mut parts: &mut [IoSlice<'_>],
        budget: &mut WaitBudget<'w>,
        what: &str,
        mut write_some: impl WriteSome<'w, S>,
    ) -> Result<(), TransportError> {
        while !parts.is_empty() {
            if let Some(n) = write_some(self, parts, budget)? {
                IoSlice::advance_slices(&mut parts, n);
                if !parts.is_empty() {
                    budget.made_progress(what)?;
                }
            }
        }
        Ok(())
    }
}

/// A message to send: its bytes alone, or with free bytes in front of them
/// ([`RequestWithRoom`]), where a large frame's header is written so that the frame leaves in
/// one `write` from one buffer instead of a `writev` of two.
pub enum Outgoing<'a> {
    Bare(&'a [u8]),
    WithRoom(RequestWithRoom<'a>),
}

impl Outgoing<'_> {
    pub fn message(&self) -> &[u8] {
        match self {
            Outgoing::Bare(message) => message,
            Outgoing::WithRoom(request) => request.message(),
        }
    }
}

impl<S: Read + Write> FramedStream<S> {
    /// Sends `payload` behind its length header: one `write` (staged) or `writev`, more only
    /// when the kernel takes part of it (a message larger than the socket buffer).
    pub fn send(
        &mut self,
        payload: &[u8],
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<(), TransportError> {
        self.send_outgoing(Outgoing::Bare(payload), budget, what)
    }

    /// Sends `outgoing` behind its length header. Above [`STAGED_MAX`], with room for the
    /// header in front of it, as one frame from one buffer; otherwise as [`FramedStream::send`]
    /// says. A `writev` of two parts made the kernel import an iovec for every message (about
    /// 4% of a 10 KB Unix stream's samples on one CPU, docs/own-cost.md).
    // Inlined into each caller (a round trip, a stream's send, a server's reply): as a call
    // of its own it cost about 50 instructions more per round trip (callgrind).
    #[inline(always)]
    pub fn send_outgoing(
        &mut self,
        mut outgoing: Outgoing<'_>,
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<(), TransportError> {
        // Each closure inlined, as `write_frame` is: sharing the loop adds no call per write.
        if let Outgoing::WithRoom(request) = &mut outgoing {
            let len = request.message().len();
            // A staged frame is copied anyway: its room is left alone.
            let frame = (len > STAGED_MAX)
                .then(|| request.behind(&encode_len(len)))
                .flatten();
            if let Some(frame) = frame {
                return self.write_parts(
                    &mut [IoSlice::new(frame)],
                    budget,
                    what,
                    #[inline(always)]
                    |framed, parts, budget| framed.write_once(parts, budget, what),
                );
            }
        }
        self.write_frame(
            outgoing.message(),
            budget,
            what,
            #[inline(always)]
            |framed, parts, budget| framed.write_once(parts, budget, what),
        )
    }

    /// One blocking write of what is left of a frame: `write` for one part, `writev` for two.
    #[inline(always)]
    fn write_once(
        &mut self,
        parts: &[IoSlice<'_>],
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<Option<usize>, TransportError> {
        let written = match parts {
            [one] => self.stream.write(one),
            _ => self.stream.write_vectored(parts),
        };
        progress(written, budget, Direction::Send, what)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{IoSlice, Read, Write};
    use std::time::Duration;

    use super::{Outgoing, STAGED_MAX};
    use crate::transport::blocks::framing::FramedStream;
    use crate::transport::request_room::RequestWithRoom;
    use crate::transport::wait::{NoWatch, WaitBudget};
    use crate::transport::wire::encode_len;

    /// A stream that keeps what is written to it, says which call wrote it (the parts of
    /// each call: one for a `write`), and takes at most `most` bytes per call.
    struct Recorder {
        bytes: Vec<u8>,
        calls: Vec<Vec<usize>>,
        most: usize,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.most);
            self.bytes.extend_from_slice(&buf[..n]);
            self.calls.push(vec![buf.len()]);
            Ok(n)
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
            self.calls.push(bufs.iter().map(|b| b.len()).collect());
            let mut left = self.most;
            for buf in bufs {
                let n = buf.len().min(left);
                self.bytes.extend_from_slice(&buf[..n]);
                left -= n;
            }
            Ok(self.most - left)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Read for Recorder {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Ok(0)
        }
    }

    /// Sends `outgoing` to a recorder that takes at most `most` bytes a call.
    fn recorded(outgoing: Outgoing<'_>, most: usize) -> Recorder {
        let recorder = Recorder {
            bytes: Vec::new(),
            calls: Vec::new(),
            most,
        };
        let mut stream = FramedStream::new(recorder);
        let mut budget = WaitBudget::new(Duration::from_secs(5), &NoWatch);
        (stream.send_outgoing(outgoing, &mut budget, "a message")).unwrap();
        stream.stream
    }

    fn sent(payload: &[u8], most: usize) -> Recorder {
        recorded(Outgoing::Bare(payload), most)
    }

    #[test]
    fn a_small_frame_goes_out_in_one_write_and_a_large_one_in_one_writev_of_two_parts() {
        for len in [0, 1, 100, STAGED_MAX, STAGED_MAX + 1, 10_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let recorder = sent(&payload, usize::MAX);
            let mut frame = encode_len(len).to_vec();
            frame.extend_from_slice(&payload);
            assert_eq!(recorder.bytes, frame, "{len} bytes");
            let calls = if len <= STAGED_MAX {
                vec![vec![4 + len]]
            } else {
                vec![vec![4, len]]
            };
            assert_eq!(recorder.calls, calls, "{len} bytes");
        }
    }

    /// Sends `payload` with `room` free bytes in front of it, the kernel taking at most `most`
    /// bytes a call; returns what was written and the bytes in front as left.
    fn sent_with_room(payload: &[u8], room: usize, most: usize) -> (Recorder, Vec<u8>) {
        let mut buffer = vec![0xAA; room];
        buffer.extend_from_slice(payload);
        let request = RequestWithRoom::new(&mut buffer, room);
        let recorder = recorded(Outgoing::WithRoom(request), most);
        (recorder, buffer[..room].to_vec())
    }

    #[test]
    fn a_large_frame_with_room_for_its_header_goes_out_in_one_write_from_one_buffer() {
        for len in [1, 100, STAGED_MAX, STAGED_MAX + 1, 10_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 3) as u8).collect();
            let mut frame = encode_len(len).to_vec();
            frame.extend_from_slice(&payload);
            let (recorder, room) = sent_with_room(&payload, 68, usize::MAX);
            assert_eq!(recorder.bytes, frame, "{len} bytes");
            assert_eq!(recorder.calls, vec![vec![4 + len]], "{len} bytes: one part");
            // A large frame's header went into the room's last four bytes; a staged one's
            // into the staging buffer, leaving the room alone.
            let header_in_room = if len > STAGED_MAX {
                &frame[..4]
            } else {
                &[0xAA; 4][..]
            };
            assert_eq!(&room[64..], header_in_room, "{len} bytes");
            assert!(
                room[..64].iter().all(|&b| b == 0xAA),
                "{len} bytes: nothing else"
            );
        }
    }

    #[test]
    fn too_little_room_for_the_header_is_a_writev_of_two_parts_and_leaves_the_room_alone() {
        let payload = vec![7u8; STAGED_MAX + 1];
        let (recorder, room) = sent_with_room(&payload, 3, usize::MAX);
        assert_eq!(recorder.calls, vec![vec![4, STAGED_MAX + 1]]);
        assert_eq!(recorder.bytes[..4], encode_len(STAGED_MAX + 1));
        assert_eq!(room, vec![0xAA; 3]);
    }

    #[test]
    fn a_large_frame_from_the_room_the_kernel_takes_in_pieces_arrives_whole() {
        let payload: Vec<u8> = (0..STAGED_MAX + 7).map(|i| (i * 5) as u8).collect();
        let (recorder, _) = sent_with_room(&payload, 4, 1000);
        assert_eq!(recorder.bytes[..4], encode_len(payload.len()));
        assert_eq!(recorder.bytes[4..], payload[..]);
        assert_eq!(recorder.calls.len(), (4 + payload.len()).div_ceil(1000));
    }

    #[test]
    fn a_frame_the_kernel_takes_in_pieces_arrives_whole_staged_or_not() {
        for len in [5, 100, STAGED_MAX + 7] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let recorder = sent(&payload, 3);
            assert_eq!(recorder.bytes[..4], encode_len(len));
            assert_eq!(recorder.bytes[4..], payload[..], "{len} bytes");
            assert_eq!(recorder.calls.len(), (4 + len).div_ceil(3), "{len} bytes");
        }
    }
}
