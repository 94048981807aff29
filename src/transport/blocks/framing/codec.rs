//! A frame on its way out: the 4-byte length header, then the payload, in one `writev` when
//! the kernel takes it all. [`FramedStream::send`] (a blocking write in slices) and
//! [`FramedStream::send_reading`](super::in_flight) (a write that never waits, reading replies
//! meanwhile) differ only in how one write is tried; [`FramedStream::write_frame`] is their
//! common body, inlined into each, so neither pays a call for sharing it.

use std::io::{IoSlice, Read, Write};

use super::transfer::{progress, Direction};
use super::FramedStream;
use crate::transport::error::TransportError;
use crate::transport::wait::WaitBudget;
use crate::transport::wire::encode_len;

impl<S> FramedStream<S> {
    /// Writes `payload` behind its length header: `write_some` tries one write of what is left
    /// and says how many bytes went (None: none, try again); the frame is done when all went.
    #[inline(always)]
    pub(super) fn write_frame<'w>(
        &mut self,
        payload: &[u8],
        budget: &mut WaitBudget<'w>,
        what: &str,
        mut write_some: impl FnMut(
            &mut Self,
            &[IoSlice<'_>],
            &mut WaitBudget<'w>,
        ) -> Result<Option<usize>, TransportError>,
    ) -> Result<(), TransportError> {
        let header = encode_len(payload.len());
        let mut parts = [IoSlice::new(&header), IoSlice::new(payload)];
        let mut parts: &mut [IoSlice<'_>] = &mut parts;
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

impl<S: Read + Write> FramedStream<S> {
    /// Sends `payload` behind its length header: one `writev`, more only when the kernel takes
    /// part of it (a message larger than the socket buffer).
    pub fn send(
        &mut self,
        payload: &[u8],
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
                let written = framed.stream.write_vectored(parts);
                progress(written, budget, Direction::Send, what)
            },
        )
    }
}
