//! The plumbing several transports share, kept in one place so that they agree on it:
//!
//! - the 4-byte length header ([`HEADER_LEN`]) and what a buffer of a given size carries;
//! - the checks every transport makes on a message's length, with the errors they report;
//! - SHM channel names: validated once ([`ChannelName`]) and turned into the `/srb_<channel>_*`
//!   object names shm-rpc-bridge uses;
//! - waiting: the slice lengths, the [`WaitBudget`] of every bounded wait, and
//!   [`retry_until_created`] for a client that may start before its server has created the
//!   endpoint. Each transport says what "not created yet" means for it (a missing SHM object, a
//!   missing or not yet listening socket) and the loop around that is this one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::{PeerWatch, TransportError};

/// Bytes of the length header in front of every message: a native-endian `u32`. SHM POSIX and
/// Unix stream send it; the others budget for it so that a buffer size means the same payload
/// capacity for every transport.
pub const HEADER_LEN: usize = 4;

/// How long one slice of a bounded wait blocks before the [`PeerWatch`] is asked again.
pub const WAIT_SLICE: Duration = Duration::from_millis(50);

/// How often an idle server looks at its stop flag.
pub const IDLE_SLICE: Duration = Duration::from_millis(100);

/// Pause between two attempts to open an endpoint the server has not created yet: short, as
/// the server is normally a few milliseconds behind.
const RETRY_PAUSE: Duration = Duration::from_millis(5);

/// The longest channel name: keeps `sem.srb_<channel>_resp_empty` within NAME_MAX (255).
pub const MAX_CHANNEL_LEN: usize = 200;

/// The largest payload a `buffer_size`-byte buffer carries.
pub fn payload_capacity(buffer_size: usize) -> usize {
    buffer_size.saturating_sub(HEADER_LEN)
}

/// The payload capacity of a `buffer_size`-byte buffer that must carry at least one byte and
/// whose largest payload length fits the `u32` header.
pub fn checked_payload_capacity(buffer_size: usize) -> Result<usize, TransportError> {
    match buffer_size.checked_sub(HEADER_LEN) {
        Some(capacity) if capacity > 0 && capacity <= u32::MAX as usize => Ok(capacity),
        _ => Err(TransportError::BufferSize { buffer_size }),
    }
}

/// The header announcing a `len`-byte payload. `len` was checked against a capacity that fits
/// a `u32`, so the cast does not truncate.
pub fn encode_len(len: usize) -> [u8; HEADER_LEN] {
    (len as u32).to_ne_bytes()
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

/// Why a string cannot be a channel name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelNameError {
    #[error("the channel name is empty")]
    Empty,
    #[error("the channel name is {len} bytes long; at most {MAX_CHANNEL_LEN} are allowed")]
    TooLong { len: usize },
    #[error(
        "the channel name {channel:?} contains {bad:?}; use letters, digits, '_', '-' and '.'"
    )]
    BadCharacter { channel: String, bad: char },
}

/// A channel name that makes valid, unambiguous POSIX object names: 1 to [`MAX_CHANNEL_LEN`]
/// ASCII letters, digits, `_`, `-` and `.` (no `/`, which would make a path of the name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChannelName(String);

impl ChannelName {
    pub fn new(channel: &str) -> Result<ChannelName, ChannelNameError> {
        if channel.is_empty() {
            return Err(ChannelNameError::Empty);
        }
        if channel.len() > MAX_CHANNEL_LEN {
            return Err(ChannelNameError::TooLong { len: channel.len() });
        }
        if let Some(bad) = channel
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(ChannelNameError::BadCharacter {
                channel: channel.to_string(),
                bad,
            });
        }
        Ok(ChannelName(channel.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of one of the channel's POSIX objects, `/srb_<channel>_<suffix>`: the scheme of
    /// shm-rpc-bridge, whose peers must find our objects under the same names.
    pub fn object_name(&self, suffix: &str) -> String {
        format!("/srb_{}_{suffix}", self.0)
    }
}

impl std::fmt::Display for ChannelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a channel name given on the command line, where only the verdict is needed.
pub fn validate_channel(channel: &str) -> Result<(), ChannelNameError> {
    ChannelName::new(channel).map(drop)
}

/// How an idle server waits for its next request: as long as it takes, one slice at a time
/// (`one_slice` blocks for at most [`IDLE_SLICE`]), looking at `stop` before each slice. True
/// once `one_slice` saw a request arrive, false once `stop` was set first.
pub fn idle_until_request(
    stop: &AtomicBool,
    mut one_slice: impl FnMut() -> Result<bool, TransportError>,
) -> Result<bool, TransportError> {
    while !stop.load(Ordering::Relaxed) {
        if one_slice()? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// When a wait runs out: set by the first slice that runs out, so the fast path never reads the
/// clock; `Never` for a timeout too far in the future to be an `Instant`.
#[derive(Debug, Clone, Copy)]
enum Deadline {
    NotStarted,
    At(Instant),
    Never,
}

/// The budget of one wait that blocks in slices (a socket, semaphore or futex timeout of
/// [`WAIT_SLICE`], or the pause between attempts to open): each time a slice runs out, the
/// watch is asked, and the wait fails once `timeout` has passed. A wait may last up to one
/// slice longer than `timeout`, the price of never reading the clock on the fast path.
pub struct WaitBudget<'a> {
    timeout: Duration,
    watch: &'a dyn PeerWatch,
    deadline: Deadline,
}

impl<'a> WaitBudget<'a> {
    pub fn new(timeout: Duration, watch: &'a dyn PeerWatch) -> WaitBudget<'a> {
        WaitBudget {
            timeout,
            watch,
            deadline: Deadline::NotStarted,
        }
    }

    pub fn watch(&self) -> &'a dyn PeerWatch {
        self.watch
    }

    /// Called after a slice ran out waiting for `what`: fails if the peer is gone or the time is up.
    pub fn slice_expired(&mut self, what: &str) -> Result<(), TransportError> {
        self.watch.check()?;
        let now = Instant::now();
        if let Deadline::NotStarted = self.deadline {
            // A huge timeout (`--timeout 500000000000years`) means no deadline, not a panic.
            self.deadline = now
                .checked_add(self.timeout)
                .map_or(Deadline::Never, Deadline::At);
        }
        match self.deadline {
            Deadline::At(deadline) if now >= deadline => Err(TransportError::Timeout {
                what: what.to_string(),
                timeout: self.timeout,
            }),
            _ => Ok(()),
        }
    }
}

/// Calls `open` until it stops failing because the server has not created its endpoint yet.
/// `not_created_yet` recognises such a failure and says what the client is waiting for (which
/// becomes the timeout's text); any other failure ends the retries at once.
pub fn retry_until_created<T>(
    budget: &mut WaitBudget<'_>,
    mut open: impl FnMut() -> Result<T, TransportError>,
    not_created_yet: impl Fn(&TransportError) -> Option<String>,
) -> Result<T, TransportError> {
    loop {
        match open() {
            Err(e) => match not_created_yet(&e) {
                Some(what) => {
                    budget.slice_expired(&what)?;
                    std::thread::sleep(RETRY_PAUSE);
                }
                None => return Err(e),
            },
            opened => return opened,
        }
    }
}

/// For [`retry_until_created`]: a POSIX object (shared memory or semaphore) that does not exist.
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
    match super::posix::shm_free_bytes() {
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
    use super::*;
    use crate::transport::NoWatch;

    #[test]
    fn channel_names_are_checked_and_named_as_shm_rpc_bridge_does() {
        let channel = ChannelName::new("tb_1_2").unwrap();
        assert_eq!(channel.object_name("req_empty"), "/srb_tb_1_2_req_empty");
        assert_eq!(ChannelName::new(""), Err(ChannelNameError::Empty));
        let long = "x".repeat(MAX_CHANNEL_LEN + 1);
        assert_eq!(
            validate_channel(&long).unwrap_err().to_string(),
            "the channel name is 201 bytes long; at most 200 are allowed"
        );
        assert_eq!(
            validate_channel("a/b").unwrap_err().to_string(),
            "the channel name \"a/b\" contains '/'; use letters, digits, '_', '-' and '.'"
        );
    }

    #[test]
    fn a_timeout_too_far_away_means_no_deadline() {
        let mut budget = WaitBudget::new(Duration::MAX, &NoWatch);
        assert!(budget.slice_expired("nothing").is_ok());
        assert!(budget.slice_expired("nothing").is_ok());
    }

    #[test]
    fn a_budget_runs_out_after_its_timeout() {
        let mut budget = WaitBudget::new(Duration::ZERO, &NoWatch);
        let err = budget.slice_expired("the reply").unwrap_err();
        assert_eq!(err.to_string(), "timed out after 0s waiting for the reply");
    }

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
