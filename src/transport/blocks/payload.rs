//! The checks every transport makes on a message and its buffers, with the errors they report,
//! kept in one place so that they agree: a buffer's payload capacity behind the 4-byte header
//! (`wire`), an announced length, a request or reply that does not fit, room in `/dev/shm` for
//! a channel, a buffer the machine cannot allocate, and what "not created yet" means for a
//! shared-memory object (for `wait::retry_until_created`).

use nix::errno::Errno;

use crate::transport::error::TransportError;
use crate::transport::os::shm::shm_free_bytes;
use crate::transport::wire::HEADER_LEN;

/// The payload capacity of a `buffer_size`-byte buffer that must carry at least one byte and
/// whose largest payload length fits the `u32` header.
pub fn checked_payload_capacity(buffer_size: usize) -> Result<usize, TransportError> {
    match buffer_size.checked_sub(HEADER_LEN) {
        Some(capacity) if capacity > 0 && capacity <= u32::MAX as usize => Ok(capacity),
        _ => Err(TransportError::BufferSize { buffer_size }),
    }
}

/// The payload length a received header announces, if the receiver can hold it.
pub fn decode_len(header: [u8; HEADER_LEN], capacity: usize) -> Result<usize, TransportError> {
    check_announced_len(u32::from_ne_bytes(header) as usize, capacity)
}

/// Refuses a length announced by the peer that is more than the receiver can hold: a broken or
/// hostile peer must cause an error, never an out-of-bounds copy.
pub fn check_announced_len(len: usize, capacity: usize) -> Result<usize, TransportError> {
    if len > capacity {
        return Err(TransportError::BadLengthHeader { len, capacity });
    }
    Ok(len)
}

/// Refuses to send a message that does not fit the transport's buffer, before anything is sent,
/// so the channel stays usable.
pub fn check_message_fits(len: usize, capacity: usize) -> Result<(), TransportError> {
    if len > capacity {
        return Err(TransportError::MessageTooLarge { len, capacity });
    }
    Ok(())
}

/// Refuses a reply longer than the caller's receive buffer: an error, never a truncation.
pub fn check_reply_fits(len: usize, receive_buffer_len: usize) -> Result<(), TransportError> {
    if len > receive_buffer_len {
        return Err(TransportError::Protocol(format!(
            "a {len}-byte reply does not fit the {receive_buffer_len}-byte receive buffer"
        )));
    }
    Ok(())
}

/// For [`retry_until_created`](crate::transport::wait::retry_until_created): a POSIX object (shared memory or semaphore) that does not exist.
pub fn shm_object_missing(e: &TransportError) -> Option<String> {
    match e {
        TransportError::Os {
            op,
            source: Errno::ENOENT,
        } => Some(format!(
            "the server to create its objects ({op}: not found)"
        )),
        _ => None,
    }
}

/// Fails, before anything is created, when /dev/shm has less room than `count` objects of
/// `bytes` each. The reservation at creation stays the real guard (space can vanish between
/// the two); this check only lets the error speak of the whole channel.
pub fn check_shm_space(count: usize, bytes: usize) -> Result<(), TransportError> {
    let needed = (count as u64).saturating_mul(bytes as u64);
    match shm_free_bytes() {
        Some(free) if free < needed => Err(TransportError::ShmTooFull { count, bytes, free }),
        _ => Ok(()),
    }
}

/// A zero-filled buffer of `bytes`, or an error that names what it was for when the memory
/// cannot be had: an allocation failure must fail a case, never abort a process.
pub fn zeroed_buffer(what: &'static str, bytes: usize) -> Result<Vec<u8>, TransportError> {
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(bytes)
        .map_err(|source| TransportError::Allocation {
            what,
            bytes,
            source,
        })?;
    buffer.resize(bytes, 0);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use nix::errno::Errno;

    use super::*;
    use crate::transport::wait::{retry_until_created, NoWatch, WaitBudget};
    use crate::transport::wire::encode_len;

    #[test]
    fn retries_only_what_is_not_created_yet() {
        let mut attempts = 0;
        let mut budget = WaitBudget::new(Duration::from_secs(10), &NoWatch);
        let opened = retry_until_created(
            &mut budget,
            || {
                attempts += 1;
                match attempts {
                    1 => Err(TransportError::os("opening x", Errno::ENOENT)),
                    _ => Ok(attempts),
                }
            },
            shm_object_missing,
        );
        assert_eq!(opened.unwrap(), 2);
        let refused: Result<(), _> = retry_until_created(
            &mut budget,
            || Err(TransportError::os("opening x", Errno::EACCES)),
            shm_object_missing,
        );
        assert!(matches!(
            refused,
            Err(TransportError::Os {
                source: Errno::EACCES,
                ..
            })
        ));
    }
    #[test]
    fn length_checks_report_what_does_not_fit() {
        assert_eq!(decode_len(encode_len(7), 7).unwrap(), 7);
        assert!(matches!(
            decode_len(encode_len(8), 7),
            Err(TransportError::BadLengthHeader {
                len: 8,
                capacity: 7
            })
        ));
        assert!(check_message_fits(8, 7).is_err());
        assert!(check_reply_fits(8, 7).is_err());
        assert_eq!(checked_payload_capacity(5).unwrap(), 1);
        assert_eq!(
            checked_payload_capacity(HEADER_LEN)
                .unwrap_err()
                .to_string(),
            "buffer size 4 must be more than 4 bytes and fit a u32 length"
        );
    }
}
