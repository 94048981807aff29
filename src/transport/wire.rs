//! The 4-byte length header in front of every message, and what a buffer of a given size
//! carries after it: the arithmetic every transport agrees on, with no errors of its own (the
//! checks that fail are `blocks::payload`'s).

/// Bytes of the length header in front of every message: a native-endian `u32`. SHM POSIX and
/// Unix stream send it; the others budget for it so that a buffer size means the same payload
/// capacity for every transport.
pub const HEADER_LEN: usize = 4;

/// The largest payload a `buffer_size`-byte buffer carries.
pub fn payload_capacity(buffer_size: usize) -> usize {
    buffer_size.saturating_sub(HEADER_LEN)
}

/// The header announcing a `len`-byte payload. `len` was checked against a capacity that fits
/// a `u32`, so the cast does not truncate.
pub fn encode_len(len: usize) -> [u8; HEADER_LEN] {
    (len as u32).to_ne_bytes()
}
