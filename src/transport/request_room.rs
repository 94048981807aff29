//! A request with free bytes in front of it ([`RequestWithRoom`]): where a transport that
//! frames its messages may write the header, so that header and payload leave in one write
//! from one buffer, as a C loop sends a frame it built in place, instead of a `writev` of two.

/// A request and the bytes in front of it, which the transport may overwrite. The caller's
/// buffers have them anyway: they keep their payloads some bytes past a page boundary
/// ([`TransportClient::payload_page_offset`](crate::transport::spec::TransportClient::payload_page_offset)).
pub struct RequestWithRoom<'a> {
    bytes: &'a mut [u8],
    room: usize,
}

impl<'a> RequestWithRoom<'a> {
    /// `bytes`, whose first `room` bytes are free and the rest the request (at most all of
    /// them: a larger `room` is taken as all of `bytes`).
    pub fn new(bytes: &'a mut [u8], room: usize) -> RequestWithRoom<'a> {
        let room = room.min(bytes.len());
        RequestWithRoom { bytes, room }
    }

    /// The request itself.
    pub fn message(&self) -> &[u8] {
        &self.bytes[self.room..]
    }

    /// `header` written into the room just before the request, and the two as one slice;
    /// None if the room is smaller than the header (the request is left as it was).
    pub fn behind(&mut self, header: &[u8]) -> Option<&[u8]> {
        let at = self.room.checked_sub(header.len())?;
        self.bytes[at..self.room].copy_from_slice(header);
        Some(&self.bytes[at..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_goes_into_the_room_just_before_the_request_and_nowhere_else() {
        let mut bytes = *b"......request";
        let mut request = RequestWithRoom::new(&mut bytes, 6);
        assert_eq!(request.message(), b"request");
        assert_eq!(request.behind(b"HDR").unwrap(), b"HDRrequest");
        assert_eq!(request.message(), b"request");
        assert_eq!(&bytes, b"...HDRrequest");
    }

    #[test]
    fn too_little_room_leaves_the_bytes_alone() {
        let mut bytes = *b"..request";
        let mut request = RequestWithRoom::new(&mut bytes, 2);
        assert!(request.behind(b"HDR").is_none());
        assert_eq!(&bytes, b"..request");
        // A room past the end is all of the bytes: an empty request behind it.
        let mut all_room = *b"1234567";
        let mut empty = RequestWithRoom::new(&mut all_room, 99);
        assert_eq!(empty.message(), b"");
        assert_eq!(empty.behind(b"HDR").unwrap(), b"HDR");
        assert_eq!(&all_room, b"1234HDR");
    }
}
