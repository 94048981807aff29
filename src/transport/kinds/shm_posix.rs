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
//!
//! A one-way stream (`--pattern stream`) is a hand-off per message: the library's protocol has
//! one slot per direction, so there is no queue to run ahead into. The client's
//! [`send`](TransportClient::send) is the first half of a round trip (wait for `req_empty`,
//! write the request, post `req_full`), and the server's [`consume`](TransportServer::consume)
//! posts `req_empty` without writing any reply: the slot is free. So each message waits until
//! the server has taken and checked the one before it (the same timed wait as a round trip's
//! request), and the end, an ordinary round trip, waits for the last message's slot the same
//! way. The semaphores, the bytes and the round trip are exactly the library's; the response
//! direction carries the end's acknowledgement only.
//!
//! With `--spin-budget`, a wait first spins on `sem_trywait` for up to that long before it
//! blocks (by default it does not spin: the seed's protocol). The semaphores, what is posted to
//! them and the bytes are the same either way: only how a waiter waits differs.
//!
//! Every access to a buffer (and every semaphore call, in `posix.rs`) runs under an
//! [`ObjectAccess`] and is checked after it, so a peer that truncates an object ends the exchange
//! with [`TransportError::Truncated`] instead of SIGBUS.

use std::ptr::NonNull;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::blocks::channel::{
    bind_on_channel, connect_on_channel, ChannelClient, ChannelServer,
};
use crate::transport::blocks::payload::{
    check_message_fits, check_reply_fits, check_shm_space, checked_payload_capacity, decode_len,
    shm_object_missing,
};
use crate::transport::endpoint::Endpoint;
use crate::transport::error::{HeldRequest, TransportError};
use crate::transport::names::{ChannelName, PosixObject};
use crate::transport::os::semaphore::NamedSemaphore;
use crate::transport::os::shm::{ObjectAccess, SharedBytes, SharedMemory};
use crate::transport::spec::{
    buffers_only, Addressing, EchoOutcome, Reply, TransportClient, TransportKind, TransportOptions,
    TransportServer, TransportSpec,
};
use crate::transport::wait::{retry_until_created, PeerWatch, StopFlag, WaitBudget};
use crate::transport::wire::{encode_len, HEADER_LEN};
use crate::transport::workload::one_request_at_a_time;

const DIRECTIONS: [&str; 2] = ["req", "resp"];

/// The names of one direction's three objects.
struct DirectionNames {
    memory: String,
    empty: String,
    full: String,
}

impl DirectionNames {
    fn of(channel: &ChannelName, dir: &str) -> DirectionNames {
        DirectionNames {
            memory: channel.object_name(dir),
            empty: channel.object_name(&format!("{dir}_empty")),
            full: channel.object_name(&format!("{dir}_full")),
        }
    }

    fn of_channel(channel: &ChannelName) -> [DirectionNames; 2] {
        DIRECTIONS.map(|dir| DirectionNames::of(channel, dir))
    }
}

/// The six objects of a channel, shared memory first.
fn channel_objects(channel: &ChannelName) -> Vec<PosixObject> {
    let names = DirectionNames::of_channel(channel);
    let memories = names
        .iter()
        .map(|n| PosixObject::SharedMemory(n.memory.clone()));
    let semaphores = names
        .iter()
        .flat_map(|n| [n.empty.clone(), n.full.clone()].map(PosixObject::Semaphore));
    memories.chain(semaphores).collect()
}

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "shm-posix",
    display_name: "SHM POSIX",
    addressing: Addressing::Channel,
    connect: connect_on_channel::<ShmPosixClient>,
    bind: bind_on_channel::<ShmPosixServer>,
    channel_objects,
    spin_budget: Some(Duration::ZERO),
    peer_buffer_size: Some(peer_buffer_size),
    // A buffer of `--buffer-size` bytes each way, in /dev/shm.
    footprint: |case| buffers_only(case).with_shared(2 * case.buffer_size as u64),
    summary: "shared memory + four named POSIX semaphores, byte-compatible with shm-rpc-bridge",
    supports: |workload| {
        one_request_at_a_time(
            workload,
            "shm-rpc-bridge's protocol has one request slot: one request at a time",
        )
    },
    ..TransportSpec::DEFAULTS
};

/// One direction of a channel: a buffer and the two semaphores that hand it back and forth.
struct Direction {
    memory: SharedMemory,
    empty: NamedSemaphore,
    full: NamedSemaphore,
}

impl Direction {
    fn create(
        channel: &ChannelName,
        dir: &str,
        buffer_size: usize,
    ) -> Result<Direction, TransportError> {
        let names = DirectionNames::of(channel, dir);
        // Declaration order is drop order: on a failure part-way, what was created is unlinked.
        let memory = SharedMemory::create(&names.memory, buffer_size)?;
        let empty = NamedSemaphore::create(&names.empty, 1)?;
        let full = NamedSemaphore::create(&names.full, 0)?;
        Ok(Direction {
            memory,
            empty,
            full,
        })
    }

    /// Opens a direction the server may not have created yet, within the connect's `budget`.
    fn open(
        channel: &ChannelName,
        dir: &str,
        buffer_size: usize,
        budget: &mut WaitBudget<'_>,
    ) -> Result<Direction, TransportError> {
        let names = DirectionNames::of(channel, dir);
        let memory = retry_until_created(
            budget,
            || SharedMemory::open(&names.memory, buffer_size),
            shm_object_missing,
        )?;
        let empty = retry_until_created(
            budget,
            || NamedSemaphore::open(&names.empty),
            shm_object_missing,
        )?;
        let full = retry_until_created(
            budget,
            || NamedSemaphore::open(&names.full),
            shm_object_missing,
        )?;
        Ok(Direction {
            memory,
            empty,
            full,
        })
    }

    /// The same direction, whose waits spin for up to `budget` before they block.
    fn spinning_for(self, budget: Duration) -> Direction {
        Direction {
            empty: self.empty.spinning_for(budget),
            full: self.full.spinning_for(budget),
            ..self
        }
    }

    #[inline(always)]
    fn capacity(&self) -> usize {
        self.memory.len() - HEADER_LEN
    }

    /// Writes the length header, within `_access`, an access to this direction's memory that
    /// the caller checks afterwards.
    #[inline(always)]
    fn write_header(&self, _access: &ObjectAccess<'_>, len: usize) {
        let header = encode_len(len);
        // SAFETY: the mapping is at least HEADER_LEN bytes (checked at creation) and we hold
        // `empty`, so the peer does not touch the buffer until we post `full`.
        unsafe { std::ptr::copy_nonoverlapping(header.as_ptr(), self.memory.as_ptr(), HEADER_LEN) };
    }

    /// Reads and validates the length header; the caller holds `full`.
    #[inline(always)]
    fn read_header(&self) -> Result<usize, TransportError> {
        let mut header = [0u8; HEADER_LEN];
        let access = self.memory.access();
        // SAFETY: as in write_header; we hold `full`, so the writer has finished.
        unsafe {
            std::ptr::copy_nonoverlapping(self.memory.as_ptr(), header.as_mut_ptr(), HEADER_LEN)
        };
        // A truncated buffer reads as zeros: report that, not whatever the zeros decode to.
        access.checked(decode_len(header, self.capacity()))
    }

    #[inline(always)]
    fn payload_ptr(&self) -> *mut u8 {
        // SAFETY: HEADER_LEN < mapping length, checked when the buffer size was validated.
        unsafe { self.memory.as_ptr().add(HEADER_LEN) }
    }

    /// The first `len` bytes of the payload where they lie, under an access to the memory that
    /// [`SharedBytes::release`] checks. The caller holds `full` and `len <= capacity`.
    fn payload_in_place(&self, len: usize) -> SharedBytes<'_> {
        // SAFETY: a mapping's address plus HEADER_LEN is inside the mapping, so never null.
        let start = unsafe { NonNull::new_unchecked(self.payload_ptr()) };
        // SAFETY: `len` bytes from the payload's start lie inside the mapping (len <= capacity,
        // checked by `read_header`), and holding `full` makes them ours: the writer touches the
        // buffer again only after we post `empty`.
        unsafe { SharedBytes::new(self.memory.access(), start, len) }
    }

    fn send(
        &self,
        payload: &[u8],
        timeout: Duration,
        watch: &dyn PeerWatch,
    ) -> Result<(), TransportError> {
        check_message_fits(payload.len(), self.capacity())?;
        self.empty.wait(timeout, watch)?;
        let access = self.memory.access();
        self.write_header(&access, payload.len());
        // SAFETY: payload fits (checked above) and we hold `empty`.
        unsafe {
            std::ptr::copy_nonoverlapping(payload.as_ptr(), self.payload_ptr(), payload.len())
        };
        access.check()?;
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
        check_reply_fits(len, out.len())?;
        let access = self.memory.access();
        // SAFETY: len <= capacity (read_header) and len <= out.len(); we hold `full`.
        unsafe { std::ptr::copy_nonoverlapping(self.payload_ptr(), out.as_mut_ptr(), len) };
        access.check()?;
        self.empty.post()?;
        Ok(len)
    }
}

/// The buffer size of the server running at `endpoint`: the size of its request memory, which
/// the server made (the reply memory is as large, in our server and in shm-rpc-bridge's).
fn peer_buffer_size(endpoint: &Endpoint) -> Result<usize, TransportError> {
    let (channel, _) = endpoint.channel(KIND.name())?;
    let channel = ChannelName::new(channel)?;
    SharedMemory::size_of(&DirectionNames::of(&channel, DIRECTIONS[0]).memory)
}

/// The requesting side of a channel: opens the server's objects, never unlinks them.
pub struct ShmPosixClient {
    request: Direction,
    response: Direction,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
}

impl ChannelClient for ShmPosixClient {
    const KIND: TransportKind = KIND;

    /// Opens `channel`, waiting up to `options.timeout` for the server to create it.
    fn connect(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<ShmPosixClient, TransportError> {
        let channel = ChannelName::new(channel)?;
        checked_payload_capacity(buffer_size)?;
        // One budget for all six objects: the timeout bounds the whole connect.
        let mut budget = WaitBudget::new(options.timeout, watch.as_ref());
        let spin = KIND.spin_budget_under(&options);
        let request =
            Direction::open(&channel, "req", buffer_size, &mut budget)?.spinning_for(spin);
        let response =
            Direction::open(&channel, "resp", buffer_size, &mut budget)?.spinning_for(spin);
        Ok(ShmPosixClient {
            request,
            response,
            timeout: options.timeout,
            watch,
        })
    }
}

impl TransportClient for ShmPosixClient {
    /// The payload follows the 4-byte header at the start of a page-aligned mapping.
    fn payload_page_offset(&self) -> usize {
        HEADER_LEN
    }

    /// In a stream, `request` (the end) first waits for `req_empty` like every request: the
    /// server's signal that it took the last one-way message.
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        self.exchange(request, response, || ())
    }

    /// With `--spin-budget` above zero, its wait for the reply spins on `sem_trywait` first.
    fn overlaps_reply_wait(&self) -> bool {
        self.response.full.spins()
    }

    fn round_trip_in_place_meanwhile<'a>(
        &'a mut self,
        request: &[u8],
        scratch: &'a mut [u8],
        meanwhile: &mut dyn FnMut(),
    ) -> Result<&'a [u8], TransportError> {
        let len = self.exchange(request, scratch, meanwhile)?;
        Ok(&scratch[..len])
    }

    /// A round trip's request without its reply: waits (within the timeout) for `req_empty`,
    /// which the server posts once it has taken the message before, writes, posts `req_full`.
    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        (self.request).send(message, self.timeout, self.watch.as_ref())
    }
}

impl ShmPosixClient {
    /// A round trip that runs `meanwhile` once the request is posted, while the server
    /// answers, before the reply is awaited.
    fn exchange(
        &mut self,
        request: &[u8],
        response: &mut [u8],
        meanwhile: impl FnOnce(),
    ) -> Result<usize, TransportError> {
        let watch = self.watch.as_ref();
        self.request.send(request, self.timeout, watch)?;
        meanwhile();
        self.response.receive_into(response, self.timeout, watch)
    }
}

/// The echoing side of a channel: creates all six objects and unlinks them when dropped.
pub struct ShmPosixServer {
    request: Direction,
    response: Direction,
    timeout: Duration,
    /// The length of the request handed out and not answered yet (whose `req_full` we hold).
    pending: Option<usize>,
}

impl ChannelServer for ShmPosixServer {
    const KIND: TransportKind = KIND;

    fn create(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<ShmPosixServer, TransportError> {
        let channel = ChannelName::new(channel)?;
        checked_payload_capacity(buffer_size)?;
        // Both buffers or neither: say so before creating the first.
        check_shm_space(DIRECTIONS.len(), buffer_size)?;
        let spin = KIND.spin_budget_under(&options);
        let request = Direction::create(&channel, "req", buffer_size)?.spinning_for(spin);
        let response = Direction::create(&channel, "resp", buffer_size)?.spinning_for(spin);
        Ok(ShmPosixServer {
            request,
            response,
            timeout: options.timeout,
            pending: None,
        })
    }
}

impl ShmPosixServer {
    /// Waits for the next request (`req_full`), unless `stop` is set first, and reads its
    /// length. Any request handed out before is dropped unanswered.
    #[inline(always)]
    fn take_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.pending = None;
        if !self.request.full.wait_unless_stopped(stop)? {
            return Ok(None);
        }
        self.request.read_header().map(Some)
    }

    /// Answers the `len`-byte request in the request buffer (whose `req_full` we hold), as
    /// `reply` says: one copy, straight from request to response.
    #[inline(always)]
    fn answer(
        &mut self,
        len: usize,
        stop: &AtomicBool,
        reply: Reply,
    ) -> Result<EchoOutcome, TransportError> {
        check_message_fits(len, self.response.capacity())?;
        // A client waits for its reply before sending again, so resp_empty is normally free,
        // and taken without a wait; the timeout only matters for a client that died
        // mid-exchange.
        if !self.response.empty.try_wait()? {
            match self.response.empty.wait(self.timeout, &StopFlag(stop)) {
                Err(TransportError::Interrupted) => return Ok(EchoOutcome::Stopped),
                other => other?,
            }
        }
        let request_access = self.request.memory.access();
        let response_access = self.response.memory.access();
        // SAFETY: len fits both buffers (checked above); we hold req_full and resp_empty, so the
        // client touches neither buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.request.payload_ptr(),
                self.response.payload_ptr(),
                len,
            )
        };
        let reply_len = match reply {
            Reply::FlipByte(offset) if offset < len => {
                // SAFETY: offset < len <= capacity; we still hold resp_empty.
                unsafe { *self.response.payload_ptr().add(offset) ^= 0xff };
                len
            }
            Reply::Misframed => self.response.capacity() + 1,
            Reply::Echo | Reply::FlipByte(_) => len,
        };
        self.response.write_header(&response_access, reply_len);
        request_access.check()?;
        response_access.check()?;
        self.request.empty.post()?;
        self.response.full.post()?;
        Ok(EchoOutcome::Echoed)
    }
}

impl TransportServer for ShmPosixServer {
    /// Takes `req_full` and reads the request's length; the request stays in its buffer (and
    /// `req_full` taken) until the reply.
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.pending = self.take_request(stop)?;
        Ok(self.pending)
    }

    fn reply(&mut self, stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError> {
        let len = self.pending.take().or_no_request()?;
        self.answer(len, stop, reply)
    }

    /// `next_request` and `reply(Echo)` fused: the server's whole round trip, with no request
    /// held between two calls. It is most of what this server runs, and the client waits
    /// through all of it: each cache line of code less after the switch from the client is a
    /// shorter round trip (docs/own-cost.md).
    fn echo(&mut self, stop: &AtomicBool) -> Result<EchoOutcome, TransportError> {
        match self.take_request(stop)? {
            Some(len) => self.answer(len, stop, Reply::Echo),
            None => Ok(EchoOutcome::Stopped),
        }
    }

    /// The request where it lies in the request memory (whose `req_full` we hold), guarded
    /// against truncation: fails with [`TransportError::Truncated`] if the memory was
    /// truncated while `look` read it, which then read zeros.
    fn inspect(&mut self, look: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        let len = self.pending.or_no_request()?;
        let message = self.request.payload_in_place(len);
        look(&message);
        message.release()
    }

    /// Frees the request slot without a reply: posts `req_empty`, which the client's next send
    /// waits for. The response direction is not touched.
    fn consume(&mut self) -> Result<(), TransportError> {
        self.pending.take().or_no_request()?;
        self.request.empty.post()
    }
}
