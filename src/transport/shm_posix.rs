//! SHM POSIX: two shared-memory buffers guarded by four named POSIX semaphores, byte-compatible
//! with shm-rpc-bridge's `SharedMemoryTransportPosix` (0.2.4).
//!
//! Layout, per channel `C` and direction `D` in {`req`, `resp`}:
//! - shared memory `/srb_C_D` of `buffer_size` bytes holding one message at offset 0: a 4-byte
//!   native-endian `u32` length, then the payload;
//! - semaphores `/srb_C_D_empty` (starts at 1: the writer may write) and `/srb_C_D_full`
//!   (starts at 0: the reader may read).
//!
//! Each message costs one copy in, one copy out, and one futex wake per direction.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::posix::{unlink_semaphore, unlink_shared_memory, NamedSemaphore, SharedMemory};
use super::{
    EchoOutcome, PeerWatch, StopFlag, Tamper, TransportClient, TransportError, TransportOptions,
    TransportServer,
};

/// Bytes taken by the length header in front of every message.
pub const HEADER_LEN: usize = super::LENGTH_BYTES;

/// The longest channel name: keeps `sem.srb_<channel>_resp_empty` within NAME_MAX (255).
pub const MAX_CHANNEL_LEN: usize = 200;

const DIRECTIONS: [&str; 2] = ["req", "resp"];

/// The six object names of a channel, shared memory first.
pub fn object_names(channel: &str) -> Vec<String> {
    let mut names: Vec<String> = DIRECTIONS
        .iter()
        .map(|dir| format!("/srb_{channel}_{dir}"))
        .collect();
    for dir in DIRECTIONS {
        names.push(format!("/srb_{channel}_{dir}_empty"));
        names.push(format!("/srb_{channel}_{dir}_full"));
    }
    names
}

/// Checks that a channel name makes valid, unambiguous POSIX object names.
pub fn validate_channel(channel: &str) -> Result<(), String> {
    if channel.is_empty() {
        return Err("the channel name is empty".into());
    }
    if channel.len() > MAX_CHANNEL_LEN {
        return Err(format!(
            "the channel name is {} bytes long; at most {MAX_CHANNEL_LEN} are allowed",
            channel.len()
        ));
    }
    if let Some(bad) = channel
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "the channel name {channel:?} contains {bad:?}; use letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

/// Unlinks every object of a channel that exists; returns the names it removed.
pub fn unlink_channel(channel: &str) -> Vec<String> {
    let names = object_names(channel);
    let (memories, semaphores) = names.split_at(DIRECTIONS.len());
    let mut removed: Vec<String> = memories
        .iter()
        .filter(|name| unlink_shared_memory(name))
        .cloned()
        .collect();
    removed.extend(
        semaphores
            .iter()
            .filter(|name| unlink_semaphore(name))
            .cloned(),
    );
    removed
}

/// One direction of a channel: a buffer and the two semaphores that hand it back and forth.
struct Direction {
    memory: SharedMemory,
    empty: NamedSemaphore,
    full: NamedSemaphore,
}

impl Direction {
    fn create(channel: &str, dir: &str, buffer_size: usize) -> Result<Direction, TransportError> {
        // Declaration order is drop order: on a failure part-way, what was created is unlinked.
        let memory = SharedMemory::create(&format!("/srb_{channel}_{dir}"), buffer_size)?;
        let empty = NamedSemaphore::create(&format!("/srb_{channel}_{dir}_empty"), 1)?;
        let full = NamedSemaphore::create(&format!("/srb_{channel}_{dir}_full"), 0)?;
        Ok(Direction {
            memory,
            empty,
            full,
        })
    }

    fn open(
        channel: &str,
        dir: &str,
        buffer_size: usize,
        deadline: Instant,
        timeout: Duration,
        watch: &dyn PeerWatch,
    ) -> Result<Direction, TransportError> {
        let memory = retry_until_created(deadline, timeout, watch, || {
            SharedMemory::open(&format!("/srb_{channel}_{dir}"), buffer_size)
        })?;
        let empty = retry_until_created(deadline, timeout, watch, || {
            NamedSemaphore::open(&format!("/srb_{channel}_{dir}_empty"))
        })?;
        let full = retry_until_created(deadline, timeout, watch, || {
            NamedSemaphore::open(&format!("/srb_{channel}_{dir}_full"))
        })?;
        Ok(Direction {
            memory,
            empty,
            full,
        })
    }

    fn capacity(&self) -> usize {
        self.memory.len() - HEADER_LEN
    }

    fn write_header(&self, len: usize) {
        let header = (len as u32).to_ne_bytes();
        // SAFETY: the mapping is at least HEADER_LEN bytes (checked at creation) and we hold
        // `empty`, so the peer does not touch the buffer until we post `full`.
        unsafe { std::ptr::copy_nonoverlapping(header.as_ptr(), self.memory.as_ptr(), HEADER_LEN) };
    }

    /// Reads and validates the length header; the caller holds `full`.
    fn read_header(&self) -> Result<usize, TransportError> {
        let mut header = [0u8; HEADER_LEN];
        // SAFETY: as in write_header; we hold `full`, so the writer has finished.
        unsafe {
            std::ptr::copy_nonoverlapping(self.memory.as_ptr(), header.as_mut_ptr(), HEADER_LEN)
        };
        let len = u32::from_ne_bytes(header) as usize;
        if len > self.capacity() {
            return Err(TransportError::BadLengthHeader {
                len,
                capacity: self.capacity(),
            });
        }
        Ok(len)
    }

    fn payload_ptr(&self) -> *mut u8 {
        // SAFETY: HEADER_LEN < mapping length, checked when the buffer size was validated.
        unsafe { self.memory.as_ptr().add(HEADER_LEN) }
    }

    fn send(
        &self,
        payload: &[u8],
        timeout: Duration,
        watch: &dyn PeerWatch,
    ) -> Result<(), TransportError> {
        if payload.len() > self.capacity() {
            return Err(TransportError::MessageTooLarge {
                len: payload.len(),
                capacity: self.capacity(),
            });
        }
        self.empty.wait(timeout, watch)?;
        self.write_header(payload.len());
        // SAFETY: payload fits (checked above) and we hold `empty`.
        unsafe {
            std::ptr::copy_nonoverlapping(payload.as_ptr(), self.payload_ptr(), payload.len())
        };
        self.full.post()
    }

    fn receive_into(
        &self,
        out: &mut [u8],
        timeout: Duration,
        watch: &dyn PeerWatch,
    ) -> Result<usize, TransportError> {
        self.full.wait(timeout, watch)?;
        let len = self.read_header()?;
        if len > out.len() {
            return Err(TransportError::Protocol(format!(
                "a {len}-byte reply does not fit the {}-byte receive buffer",
                out.len()
            )));
        }
        // SAFETY: len <= capacity (read_header) and len <= out.len(); we hold `full`.
        unsafe { std::ptr::copy_nonoverlapping(self.payload_ptr(), out.as_mut_ptr(), len) };
        self.empty.post()?;
        Ok(len)
    }
}

/// Opens an object the server may not have created yet, retrying until the deadline.
pub(super) fn retry_until_created<T>(
    deadline: Instant,
    timeout: Duration,
    watch: &dyn PeerWatch,
    mut open: impl FnMut() -> Result<T, TransportError>,
) -> Result<T, TransportError> {
    loop {
        match open() {
            Err(TransportError::Os {
                source: Errno::ENOENT,
                op,
            }) => {
                watch.check()?;
                if Instant::now() >= deadline {
                    return Err(TransportError::Timeout {
                        what: format!("the server to create its objects ({op}: not found)"),
                        timeout,
                    });
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn check_buffer_size(buffer_size: usize) -> Result<(), TransportError> {
    if buffer_size <= HEADER_LEN || buffer_size - HEADER_LEN > u32::MAX as usize {
        return Err(TransportError::Protocol(format!(
            "buffer size {buffer_size} must be more than {HEADER_LEN} bytes and fit a u32 length"
        )));
    }
    Ok(())
}

/// The requesting side of a channel: opens the server's objects, never unlinks them.
pub struct ShmPosixClient {
    request: Direction,
    response: Direction,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
}

impl ShmPosixClient {
    /// Opens `channel`, waiting up to `options.timeout` for the server to create it.
    pub fn connect(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<ShmPosixClient, TransportError> {
        validate_channel(channel).map_err(TransportError::Protocol)?;
        check_buffer_size(buffer_size)?;
        let deadline = Instant::now() + options.timeout;
        let open = |dir| {
            Direction::open(
                channel,
                dir,
                buffer_size,
                deadline,
                options.timeout,
                watch.as_ref(),
            )
        };
        let request = open("req")?;
        let response = open("resp")?;
        Ok(ShmPosixClient {
            request,
            response,
            timeout: options.timeout,
            watch,
        })
    }
}

impl TransportClient for ShmPosixClient {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        let watch = self.watch.as_ref();
        self.request.send(request, self.timeout, watch)?;
        self.response.receive_into(response, self.timeout, watch)
    }
}

/// The echoing side of a channel: creates all six objects and unlinks them when dropped.
pub struct ShmPosixServer {
    request: Direction,
    response: Direction,
    timeout: Duration,
}

impl ShmPosixServer {
    pub fn create(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<ShmPosixServer, TransportError> {
        validate_channel(channel).map_err(TransportError::Protocol)?;
        check_buffer_size(buffer_size)?;
        let request = Direction::create(channel, "req", buffer_size)?;
        let response = Direction::create(channel, "resp", buffer_size)?;
        Ok(ShmPosixServer {
            request,
            response,
            timeout: options.timeout,
        })
    }
}

impl TransportServer for ShmPosixServer {
    fn echo_one(
        &mut self,
        stop: &AtomicBool,
        tamper: Tamper,
    ) -> Result<EchoOutcome, TransportError> {
        if !self.request.full.wait_unless_stopped(stop)? {
            return Ok(EchoOutcome::Stopped);
        }
        let len = self.request.read_header()?;
        if tamper == Tamper::Swallow {
            return Ok(EchoOutcome::Echoed);
        }
        if len > self.response.capacity() {
            return Err(TransportError::MessageTooLarge {
                len,
                capacity: self.response.capacity(),
            });
        }
        // A client waits for its reply before sending again, so resp_empty is normally free;
        // the timeout only matters for a client that died mid-exchange.
        match self.response.empty.wait(self.timeout, &StopFlag(stop)) {
            Err(TransportError::Interrupted) => return Ok(EchoOutcome::Stopped),
            other => other?,
        }
        // SAFETY: len fits both buffers (checked above); we hold req_full and resp_empty, so the
        // client touches neither buffer. One copy, straight from request to response.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.request.payload_ptr(),
                self.response.payload_ptr(),
                len,
            )
        };
        self.response.write_header(len);
        match tamper {
            Tamper::None => {}
            Tamper::FlipByte(offset) if offset < len => {
                // SAFETY: offset < len <= capacity; we still hold resp_empty.
                unsafe { *self.response.payload_ptr().add(offset) ^= 0xff };
            }
            Tamper::FlipByte(_) | Tamper::Swallow => {}
            Tamper::BadLength => self.response.write_header(self.response.capacity() + 1),
        }
        self.request.empty.post()?;
        self.response.full.post()?;
        Ok(EchoOutcome::Echoed)
    }
}
