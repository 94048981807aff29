//! What a transport is to the rest of the tool: the client and server traits every transport
//! implements, the options both sides take, and the [`TransportSpec`] each transport's file
//! declares (names, addressing, how to build either side, the objects it leaves if killed, those
//! it names itself, its own message limit, its spin budget, how an external peer's buffer size
//! is found, what a pair of its processes takes of the machine's memory), behind the cheap handle [`TransportKind`]. A spec states what is its own and takes
//! the rest from [`TransportSpec::DEFAULTS`]. The registry lists the specs; nothing else names a
//! transport.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::transport::endpoint::Endpoint;
use crate::transport::error::TransportError;
pub use crate::transport::footprint::Footprint;
use crate::transport::names::{ChannelName, PosixObject, SERVER_FDS, SOCKET_FILE_NAME};
use crate::transport::os::shm::SharedBytes;
pub use crate::transport::pattern::Pattern;
pub use crate::transport::request_room::RequestWithRoom;
use crate::transport::wait::PeerWatch;
pub use crate::transport::workload::{any_workload, one_request_at_a_time, Reason, Workload};

/// Client side of a transport: sends a request and waits for its echo. `Send`, so that a client
/// can run on a thread of its own.
pub trait TransportClient: Send {
    /// Sends `request`, receives the reply into `response` and returns the reply's length.
    /// A reply longer than `response` is an error, never a silent truncation.
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError>;

    /// A round trip that leaves the reply where the transport received it, when it can (a
    /// ZeroMQ message), instead of copying it into `scratch`. The reply is valid until the next
    /// call. Transports that receive into a caller's buffer anyway use `scratch`.
    fn round_trip_in_place<'a>(
        &'a mut self,
        request: &[u8],
        scratch: &'a mut [u8],
    ) -> Result<&'a [u8], TransportError> {
        let len = self.round_trip(request, scratch)?;
        Ok(&scratch[..len])
    }

    /// [`round_trip_in_place`](TransportClient::round_trip_in_place) of a request with free
    /// bytes in front of it, where a transport that frames its messages may write the header,
    /// so that a large frame leaves in one write instead of a `writev` of header and payload
    /// (docs/own-cost.md). The default ignores the room.
    fn round_trip_with_room<'a>(
        &'a mut self,
        request: RequestWithRoom<'_>,
        scratch: &'a mut [u8],
    ) -> Result<&'a [u8], TransportError> {
        self.round_trip_in_place(request.message(), scratch)
    }

    /// How far past a page boundary the caller should keep its payloads: where the transport
    /// keeps them in shared memory, so that every copy runs 0 mod a page apart, or (a byte
    /// stream) clear of the kernel's page-led buffers (see [`crate::transport::blocks::aligned`]).
    fn payload_page_offset(&self) -> usize {
        0
    }

    /// A zero-copy transport lends the caller `len` bytes of its shared memory to write the
    /// next request into, where the server will find it: no staging buffer, no copy on the way.
    /// Send it with [`round_trip_loaned`](TransportClient::round_trip_loaned). The default,
    /// None, is for transports that carry copies of a caller's buffer: use `round_trip`. A
    /// transport lends for every message or for none: once it has answered None, the timed
    /// loops stop asking.
    fn loan(&mut self, _len: usize) -> Result<Option<SharedBytes<'_>>, TransportError> {
        Ok(None)
    }

    /// Sends the first `len` bytes of the last loan and returns the echo where it lies in the
    /// transport's shared memory, valid until the next call. [`SharedBytes::release`] says
    /// whether another process truncated the memory while the caller read it.
    fn round_trip_loaned(&mut self, len: usize) -> Result<SharedBytes<'_>, TransportError> {
        Err(TransportError::NotLoaned { len })
    }

    /// Whether this client runs a round trip's `meanwhile` while the reply is on its way
    /// ([`round_trip_in_place_meanwhile`], [`round_trip_loaned_meanwhile`]): one that spins for
    /// its replies says so. The timed loop then does its bookkeeping of the round trip before
    /// (recording its latency) while the peer answers, where it costs no time as long
    /// as the answer takes longer; elsewhere (and where the loop knows both sides share a CPU,
    /// or is paced) it does it between round trips, outside the timed region, so that a round
    /// trip the client's work would hold up does not carry it.
    ///
    /// [`round_trip_in_place_meanwhile`]: TransportClient::round_trip_in_place_meanwhile
    /// [`round_trip_loaned_meanwhile`]: TransportClient::round_trip_loaned_meanwhile
    fn overlaps_reply_wait(&self) -> bool {
        false
    }

    /// [`round_trip_in_place`](TransportClient::round_trip_in_place) that runs `meanwhile`
    /// once before the reply is taken: between handing the request over and waiting for its
    /// echo where the client [`overlaps_reply_wait`](TransportClient::overlaps_reply_wait),
    /// first of all (the default) elsewhere. If the request cannot be handed over, `meanwhile`
    /// may not run: the caller does whatever it left undone after the call.
    fn round_trip_in_place_meanwhile<'a>(
        &'a mut self,
        request: &[u8],
        scratch: &'a mut [u8],
        meanwhile: &mut dyn FnMut(),
    ) -> Result<&'a [u8], TransportError> {
        meanwhile();
        self.round_trip_in_place(request, scratch)
    }

    /// [`round_trip_loaned`](TransportClient::round_trip_loaned) that runs `meanwhile` as
    /// [`round_trip_in_place_meanwhile`](TransportClient::round_trip_in_place_meanwhile) does.
    fn round_trip_loaned_meanwhile(
        &mut self,
        len: usize,
        meanwhile: &mut dyn FnMut(),
    ) -> Result<SharedBytes<'_>, TransportError> {
        meanwhile();
        self.round_trip_loaned(len)
    }

    /// One message of a one-way stream ([`Pattern::Stream`], see [`crate::transport::stream`]):
    /// hands `message` to the transport and returns without a reply, waiting (within the
    /// timeout) only where the transport's own flow control makes it wait: a full socket
    /// buffer, queue or ring, or SHM POSIX's one slot until the server has taken the last
    /// message. The stream ends with a round trip, whose echo is the server's acknowledgement.
    ///
    /// A transport that streams overrides it; the default is a safety net behind its spec's
    /// [`supports`](TransportKind::supports), which refuses the stream before anything starts.
    fn send(&mut self, _message: &[u8]) -> Result<(), TransportError> {
        Err(TransportError::NotImplemented {
            operation: "a one-way send",
        })
    }

    /// One of several requests in flight (`--in-flight N`): sends `request` and returns
    /// without its reply, which [`collect`](TransportClient::collect) receives later, replies
    /// in the order of their requests. It must not deadlock with a server that is blocked
    /// sending replies nobody reads yet: a byte stream reads (and keeps) arriving replies while
    /// its write waits. Waits are bounded by the timeout, as a round trip's are. Only for a
    /// transport whose spec says it holds requests in flight ([`TransportSpec::supports`]);
    /// the default is the safety net behind that answer.
    fn submit(&mut self, _request: &[u8]) -> Result<(), TransportError> {
        Err(TransportError::NotImplemented {
            operation: "a request in flight",
        })
    }

    /// The reply to the oldest request [`submit`](TransportClient::submit)ted and not yet
    /// collected, in `scratch` or wherever the transport holds it, valid until the next call.
    /// A reply longer than `scratch` is an error, never a silent truncation.
    fn collect<'a>(&'a mut self, _scratch: &'a mut [u8]) -> Result<&'a [u8], TransportError> {
        Err(TransportError::NoRequest)
    }

    /// For a paced client with requests in flight (`--interval` with `--in-flight N`): waits
    /// until the reply to the oldest request outstanding has arrived, so that
    /// [`collect`](TransportClient::collect) takes it without waiting for the peer, or until
    /// `until` (the next request's slot), whichever comes first; true if the reply came. Its
    /// waits ask the transport's watch (a dead peer, a signal) between slices; the reply's
    /// timeout is [`collect`](TransportClient::collect)'s, once the client has nothing else to do.
    fn await_reply_until(&mut self, _until: Instant) -> Result<bool, TransportError> {
        Err(TransportError::NotImplemented {
            operation: "a wait for a reply with a deadline",
        })
    }

    /// [`send`](TransportClient::send) of a request with free bytes in front of it, as in
    /// [`round_trip_with_room`](TransportClient::round_trip_with_room). The default ignores the
    /// room.
    fn send_with_room(&mut self, request: RequestWithRoom<'_>) -> Result<(), TransportError> {
        self.send(request.message())
    }

    /// [`send`](TransportClient::send) for a zero-copy transport: sends the first `len` bytes
    /// of the last loan one way.
    fn send_loaned(&mut self, len: usize) -> Result<(), TransportError> {
        Err(TransportError::NotLoaned { len })
    }
}

/// Server side of a transport: hands out requests one at a time and answers each, by echoing
/// it back unchanged (unless told to tamper with it, for tests: see [`echo_one`], the one place
/// that decides how). Nothing is allocated per request: what a transport holds of a request
/// between the two calls (its length, its slot, its message) it keeps in a field. `Send`, so
/// that a server can run on a thread of its own.
pub trait TransportServer: Send {
    /// Waits for the next request, however long that takes; returns its length once one has
    /// arrived, or None once `stop` is set while no request is in progress. The request stays
    /// with the server until [`reply`](TransportServer::reply); one that is not replied to is
    /// dropped unanswered by the next `next_request`.
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError>;

    /// Replies to the request [`next_request`](TransportServer::next_request) handed out, as
    /// `reply` says. [`EchoOutcome::Stopped`] if `stop` was set while the reply waited.
    fn reply(&mut self, stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError>;

    /// Waits for the next request and echoes it unchanged: [`next_request`] then
    /// [`reply`] with [`Reply::Echo`], in one call. A transport whose echo costs less fused
    /// (SHM POSIX: one access to each buffer, no request held between two calls) overrides it;
    /// the outcome must be exactly the two calls'.
    ///
    /// [`next_request`]: TransportServer::next_request
    /// [`reply`]: TransportServer::reply
    fn echo(&mut self, stop: &AtomicBool) -> Result<EchoOutcome, TransportError> {
        if self.next_request(stop)?.is_none() {
            return Ok(EchoOutcome::Stopped);
        }
        self.reply(stop, Reply::Echo)
    }

    /// Lets `look` read the request [`next_request`](TransportServer::next_request) handed
    /// out, where it lies (under the transport's guard against truncated memory), before it is
    /// answered or consumed: a stream's server checks every message so.
    fn inspect(&mut self, _look: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        Err(TransportError::NoRequest)
    }

    /// Done with the request handed out without answering it (a message of a one-way stream):
    /// frees whatever held it (a slot, a ring entry) for the next message.
    fn consume(&mut self) -> Result<(), TransportError> {
        Err(TransportError::NoRequest)
    }

    /// What the server should say on stderr when it stops, if anything (for example what its
    /// library dropped).
    fn closing_words(&mut self) -> Option<String> {
        None
    }

    /// What follows `READY` on the server's ready line: the address it actually listens on,
    /// when it chose one (an ephemeral TCP port). None prints a bare `READY`.
    fn ready_address(&self) -> Option<String> {
        None
    }
}

/// How a server answers a request: its own bytes back, or (injected faults) with one byte
/// flipped, or misframed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The request's bytes, unchanged.
    Echo,
    /// The request's bytes with every bit of the byte at this offset flipped. The offset is
    /// less than the request's length ([`echo_one`] sees to it); a transport that writes
    /// through a raw pointer still checks it, and echoes unchanged beyond the end.
    FlipByte(usize),
    /// A length the transport cannot carry, each transport's own way (more than its buffer
    /// holds, or, for a queue, one byte off its message).
    Misframed,
}

/// Waits for `server`'s next request and answers it as `tamper` says: the one place where a
/// [`Tamper`] is read. [`EchoOutcome::Stopped`] once `stop` is set while no request is in
/// progress (or while the reply waited). A request whose client left before its answer went
/// out ([`EchoOutcome::PeerLeft`]) does not count: the exchange goes on with the next request,
/// whose own length decides the fault.
// Inlined into the server's loop, as it was before the loop had a stream to serve too: a
// call per request measured about 40 instructions more per round trip (callgrind).
#[inline(always)]
pub fn echo_one(
    server: &mut dyn TransportServer,
    stop: &AtomicBool,
    tamper: Tamper,
) -> Result<EchoOutcome, TransportError> {
    loop {
        if tamper == Tamper::None {
            match server.echo(stop)? {
                EchoOutcome::PeerLeft => continue,
                outcome => return Ok(outcome),
            }
        }
        let Some(len) = server.next_request(stop)? else {
            return Ok(EchoOutcome::Stopped);
        };
        let reply = match tamper {
            // Received, never answered.
            Tamper::Swallow => return Ok(EchoOutcome::Echoed),
            Tamper::FlipByte(offset) if offset < len => Reply::FlipByte(offset),
            Tamper::BadLength => Reply::Misframed,
            Tamper::None | Tamper::FlipByte(_) => Reply::Echo,
        };
        match server.reply(stop, reply)? {
            EchoOutcome::PeerLeft => continue,
            outcome => return Ok(outcome),
        }
    }
}

/// What became of one [`echo_one`] (or [`TransportServer::reply`]) call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoOutcome {
    Echoed,
    Stopped,
    /// From [`TransportServer::reply`] only: the request's client went away (a connection
    /// that hung up or failed) before its answer was sent, and the server serves on.
    PeerLeft,
}

/// A deliberate fault in one echo, injected by the server's hidden `--fault` option so that
/// tests can prove the driver detects broken peers through the real transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// Flip every bit of the byte at this offset of the reply (if the reply is that long).
    FlipByte(usize),
    /// Announce a reply longer than the transport can carry.
    BadLength,
    /// Receive the request and never reply.
    Swallow,
}

/// Options shared by both sides of every transport.
#[derive(Debug, Clone, Copy)]
pub struct TransportOptions {
    /// Bound on any single wait inside a round trip (and on connecting).
    pub timeout: Duration,
    /// How long a waiter spins before it sleeps, for the transports that spin
    /// ([`TransportKind::spin_budget`]); None: the transport's default. Others ignore it.
    pub spin_budget: Option<Duration>,
    /// What the two sides exchange: a transport may bind differently for a stream (ZeroMQ's
    /// ROUTER, a ring of slots).
    pub pattern: Pattern,
    /// How many messages a ring of slots holds in a stream (`--ring-depth`); None: the
    /// transport's default. Only the spinning transports keep rings; others ignore it.
    pub ring_depth: Option<usize>,
    /// Round trips: how many requests the client keeps outstanding (`--in-flight`, 1 by
    /// default). A transport may connect differently for more than one (ZeroMQ's DEALER) or
    /// make its queues that deep (mqueue).
    pub in_flight: usize,
}

/// How a transport's endpoints are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// Named POSIX IPC objects derived from a channel name.
    Channel,
    /// A socket file in a private directory, written `<scheme>PATH` on a command line.
    SocketFile { scheme: &'static str },
    /// A TCP address on loopback, written `<scheme>ADDR` with `--endpoint` when the transport
    /// has a scheme (`tcp://` for ZeroMQ), else plain with `--listen`.
    Tcp { scheme: Option<&'static str> },
    /// Two anonymous pipes the driver creates for each server, which inherits its ends at
    /// fixed descriptors, written `--fds RECEIVE,SEND` on its command line.
    InheritedPipes,
}

/// Builds the client side of a transport, connected to `endpoint`.
pub type ConnectFn = fn(
    &Endpoint,
    TransportOptions,
    Arc<dyn PeerWatch>,
) -> Result<Box<dyn TransportClient>, TransportError>;

/// Builds the server side of a transport, listening at `endpoint`.
pub type BindFn =
    fn(&Endpoint, TransportOptions) -> Result<Box<dyn TransportServer>, TransportError>;

/// Reads the buffer size of a server already running at an endpoint (`--connect`).
pub type PeerBufferSizeFn = fn(&Endpoint) -> Result<usize, TransportError>;

/// What a case asks of a transport, as far as its memory goes: what [`TransportSpec::footprint`]
/// is told.
#[derive(Debug, Clone, Copy)]
pub struct CaseShape {
    pub message_bytes: usize,
    /// The buffer size both sides are given (`--buffer-size`, or the default for the sizes).
    pub buffer_size: usize,
    /// The options both sides are given: the pattern, the ring's depth, the requests in flight.
    pub options: TransportOptions,
}

/// What one pair of a transport's client and server takes of the machine for a case.
pub type FootprintFn = fn(&CaseShape) -> Footprint;

/// The footprint of a transport that keeps nothing but the buffers both sides keep anyway
/// ([`Footprint::buffers`]): the default.
pub fn buffers_only(case: &CaseShape) -> Footprint {
    Footprint::buffers(case.message_bytes, case.buffer_size, case.options.in_flight)
}

/// Everything the rest of the tool knows about one transport. Each transport's file defines
/// one, as the constant behind its `KIND`.
pub struct TransportSpec {
    /// The name used on the command line and in exports.
    pub name: &'static str,
    /// The name printed for people.
    pub display_name: &'static str,
    pub addressing: Addressing,
    pub connect: ConnectFn,
    pub bind: BindFn,
    /// The objects it creates for a channel, so that cleanup can find them (none for
    /// transports addressed by a socket file).
    pub channel_objects: fn(&ChannelName) -> Vec<PosixObject>,
    /// The largest message it carries with a `buffer_size`-byte buffer, when that is less
    /// than the buffer's payload capacity (a kernel limit): larger sizes are skipped, not run.
    pub max_message: fn(buffer_size: usize) -> Option<MessageLimit>,
    /// How long its waits spin before they sleep unless `--spin-budget` says otherwise; None
    /// for a transport that does not spin (and so takes no `--spin-budget`).
    pub spin_budget: Option<Duration>,
    /// Reads the buffer size of a server that is already running at `endpoint` (`--connect`),
    /// for a transport whose server's objects say it; None where the peer's buffer cannot be
    /// seen from outside, and `--buffer-size` is taken on trust.
    pub peer_buffer_size: Option<PeerBufferSizeFn>,
    /// One line for `--help`: what the transport is.
    pub summary: &'static str,
    /// Whether it carries `workload` (iceoryx2's `does_support_*`): Err says why not, as the
    /// table says it when the case is skipped, before anything starts.
    /// [`any_workload`] and [`one_request_at_a_time`] are the common answers.
    pub supports: fn(workload: Workload) -> Result<(), Reason>,
    /// The objects it names itself, which no channel name tells (iceoryx2's nodes and
    /// services): how cleanup finds and removes those a dead process left. None for a
    /// transport whose every object is a channel object or dies with its process.
    pub own_objects: Option<OwnObjects>,
    /// Whether its server serves one client and then no other (ipc-channel's one-shot
    /// rendezvous): `--connect` to such a server can measure one run of one case, as each run
    /// connects anew.
    pub serves_one_client: bool,
    /// What one pair of its client and server takes of the machine for a case: its shared
    /// memory, both sides' buffers, its message queues. Checked against what the machine has
    /// before anything starts. [`buffers_only`] unless the transport keeps more.
    pub footprint: FootprintFn,
}

impl TransportSpec {
    /// What a transport has unless its file says otherwise: no objects of a channel, no
    /// message limit of its own, no spinning, a peer's buffer taken on trust, no objects it
    /// names itself. A file writes its spec as `TransportSpec { name: .., ..,
    /// ..TransportSpec::DEFAULTS }` and so states only what is its own. The fields every
    /// transport must state (names, addressing, connect, bind, summary, the workloads it supports) are here
    /// only because a struct's base must be whole, and left to it they show: an empty name or
    /// summary the registry's tests refuse, a connect or bind that panics in the conformance
    /// set (a spec without them is a bug in the program, not a run's failure), a channel
    /// address the transport's own connect refuses unless it is addressed by a channel, a
    /// refusal of every workload that says the spec forgot it.
    pub const DEFAULTS: TransportSpec = TransportSpec {
        name: "",
        display_name: "",
        addressing: Addressing::Channel,
        connect: |_, _, _| panic!("{UNDECLARED}: connect"),
        bind: |_, _| panic!("{UNDECLARED}: bind"),
        channel_objects: |_| Vec::new(),
        max_message: |_| None,
        spin_budget: None,
        peer_buffer_size: None,
        summary: "",
        supports: |_| Err(Reason::Protocol(UNDECLARED)),
        own_objects: None,
        serves_one_client: false,
        footprint: buffers_only,
    };
}

/// What [`TransportSpec::DEFAULTS`]' stand-ins for the fields a transport must state say.
const UNDECLARED: &str = "the transport's spec does not declare what it must";

/// The objects a transport names itself, and how to find and remove those a process that died
/// left, as the transport's library itself tells them (iceoryx2: `Node::list`, a dead node's
/// `try_remove_stale_resources`).
#[derive(Clone, Copy)]
pub struct OwnObjects {
    /// The channels that have such objects, of live processes or dead ones: `cleanup`
    /// without a channel asks each of them.
    pub channels: fn() -> Vec<ChannelName>,
    /// Removes the objects of `channel` that no live process holds; returns what it removed,
    /// for people. Safe on any channel (another transport's, one with live processes); with
    /// [`ChannelRun::Over`], also what a process killed while it set the channel up left,
    /// which looks the same as what a live one is setting up at that moment.
    pub remove_dead: fn(&ChannelName, ChannelRun) -> Vec<String>,
    /// The files of `channel` that are not what the transport's library keeps there (a FIFO
    /// or a link someone planted), which the library would open blindly: `remove_dead` leaves
    /// such a channel alone, and `cleanup` says why with these lines.
    pub planted: fn(&ChannelName) -> Vec<String>,
    /// The directories its library makes and shares between channels (iceoryx2's root, its
    /// node and service directories), parents first: a run that did not find one removes it at
    /// its end if it is empty then, so that the run leaves the machine as it found it.
    pub dirs: fn() -> Vec<std::path::PathBuf>,
    /// Whether a name in `/dev/shm` is one of these objects: the generic sweep of `/dev/shm`
    /// (which judges an object by its owner lock and the driver in its name) leaves such names
    /// to `remove_dead`, which asks the library whether their processes live (iceoryx2 takes
    /// no owner lock on its segments).
    pub names_in_shm: fn(&str) -> bool,
}

/// What the caller of a cleaner knows of the run that made a channel: whether one of its
/// processes may still be setting up the channel's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRun {
    /// The channel is named after a driver that may be running, as far as the caller can tell.
    DriverAlive,
    /// The channel is not named after a driver: it may be anybody's, in use or not.
    NoDriver,
    /// Its driver is gone, or the caller ended the channel's processes itself. A driver's
    /// servers and clients end soon after it (they are stopped when it dies), and none of them
    /// makes anything new of the channel by then.
    Over,
}

/// A transport's own limit on message size, and why larger messages are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLimit {
    pub bytes: usize,
    /// Why a larger message is skipped, as the table says it: `larger than msgsize_max 8192`.
    pub reason: String,
}

/// A transport, as the rest of the tool handles it: a cheap, comparable handle on its
/// [`TransportSpec`]. The registry's order is the order in which transports run and print.
#[derive(Clone, Copy)]
pub struct TransportKind(&'static TransportSpec);

impl TransportKind {
    pub const fn new(spec: &'static TransportSpec) -> TransportKind {
        TransportKind(spec)
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }

    pub fn display_name(self) -> &'static str {
        self.0.display_name
    }

    /// Every object the transport may create for `channel`, so that cleanup can find them.
    pub fn channel_objects(self, channel: &ChannelName) -> Vec<PosixObject> {
        (self.0.channel_objects)(channel)
    }

    /// Removes what processes no longer running left of `channel` among the objects the
    /// transport names itself; returns what it removed, for people.
    pub fn remove_dead_own_objects(self, channel: &ChannelName, run: ChannelRun) -> Vec<String> {
        (self.0.own_objects)
            .map(|own| (own.remove_dead)(channel, run))
            .unwrap_or_default()
    }

    /// What is planted among the objects of `channel` the transport names itself, for people
    /// (see [`OwnObjects::planted`]).
    pub fn planted_own_objects(self, channel: &ChannelName) -> Vec<String> {
        (self.0.own_objects)
            .map(|own| (own.planted)(channel))
            .unwrap_or_default()
    }

    /// The directories the transport's library shares between channels, parents first (see
    /// [`OwnObjects::dirs`]).
    pub fn library_dirs(self) -> Vec<std::path::PathBuf> {
        (self.0.own_objects)
            .map(|own| (own.dirs)())
            .unwrap_or_default()
    }

    /// Whether `name`, in `/dev/shm`, is an object the transport names itself (see
    /// [`OwnObjects::names_in_shm`]).
    pub fn names_in_shm(self, name: &str) -> bool {
        (self.0.own_objects).is_some_and(|own| (own.names_in_shm)(name))
    }

    /// The channels that have objects the transport names itself, alive or left over.
    pub fn channels_with_own_objects(self) -> Vec<ChannelName> {
        (self.0.own_objects)
            .map(|own| (own.channels)())
            .unwrap_or_default()
    }

    /// Whether its server serves one client only (see [`TransportSpec::serves_one_client`]).
    pub fn serves_one_client(self) -> bool {
        self.0.serves_one_client
    }

    /// One line for `--help`: what the transport is.
    pub fn summary(self) -> &'static str {
        self.0.summary
    }

    /// What one pair of its client and server takes of the machine for `case`.
    pub fn footprint(self, case: &CaseShape) -> Footprint {
        (self.0.footprint)(case)
    }

    /// Whether the transport carries `workload`, and if not, why not. One-way latencies are
    /// asked as the stream they are on the wire: every transport that streams carries them.
    pub fn supports(self, workload: Workload) -> Result<(), Reason> {
        (self.0.supports)(workload.as_carried())
    }

    /// The spin budget the transport waits with when `asked` is what `--spin-budget` said (None:
    /// not given), or None if the transport does not spin.
    pub fn spin_budget(self, asked: Option<Duration>) -> Option<Duration> {
        self.0.spin_budget.map(|default| asked.unwrap_or(default))
    }

    /// Whether the transport's waits spin, and so take `--spin-budget`.
    pub fn spins(self) -> bool {
        self.0.spin_budget.is_some()
    }

    /// The spin budget it waits with under `options`: 0 for a transport that does not spin.
    pub fn spin_budget_under(self, options: &TransportOptions) -> Duration {
        self.spin_budget(options.spin_budget)
            .unwrap_or(Duration::ZERO)
    }

    /// The buffer size of the server already running at `endpoint`, where the transport can
    /// read it (None where it cannot, or the read failed: the peer may not be there yet).
    pub fn peer_buffer_size(self, endpoint: &Endpoint) -> Option<usize> {
        self.0.peer_buffer_size?(endpoint).ok()
    }

    /// The URL scheme of a socket-file endpoint on the command line (`ipc://PATH`), or None for
    /// transports addressed by a channel name.
    pub fn socket_scheme(self) -> Option<&'static str> {
        match self.0.addressing {
            Addressing::SocketFile { scheme } => Some(scheme),
            Addressing::Channel | Addressing::Tcp { .. } | Addressing::InheritedPipes => None,
        }
    }

    /// How the transport's endpoints are named.
    pub fn addressing(self) -> Addressing {
        self.0.addressing
    }

    /// The largest message the transport carries with a `buffer_size`-byte buffer, when a
    /// limit of its own makes that less than the buffer's payload capacity.
    pub fn max_message(self, buffer_size: usize) -> Option<MessageLimit> {
        (self.0.max_message)(buffer_size)
    }

    /// Builds the endpoint for one server process. `unique_name` is unique per run and case;
    /// `private_dir` is a fresh 0700 directory the caller owns, for transports that need a file.
    /// For pipes this is the server's side; the pipes themselves come with the endpoint's lease
    /// (the driver's `EndpointLease`), which also knows the client's side.
    pub fn endpoint(self, unique_name: &str, private_dir: &Path, buffer_size: usize) -> Endpoint {
        match self.0.addressing {
            Addressing::Channel => Endpoint::ShmChannel {
                channel: unique_name.to_string(),
                buffer_size,
            },
            Addressing::SocketFile { .. } => Endpoint::SocketFile {
                path: private_dir.join(SOCKET_FILE_NAME),
                buffer_size,
            },
            Addressing::Tcp { .. } => Endpoint::Tcp {
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                buffer_size,
            },
            Addressing::InheritedPipes => Endpoint::Pipes {
                fds: SERVER_FDS,
                buffer_size,
            },
        }
    }

    /// Whether the endpoint lives in the file system and so needs a private directory.
    pub fn needs_private_dir(self) -> bool {
        self.socket_scheme().is_some()
    }

    pub fn connect(
        self,
        endpoint: &Endpoint,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<Box<dyn TransportClient>, TransportError> {
        (self.0.connect)(endpoint, options, watch)
    }

    pub fn bind(
        self,
        endpoint: &Endpoint,
        options: TransportOptions,
    ) -> Result<Box<dyn TransportServer>, TransportError> {
        (self.0.bind)(endpoint, options)
    }
}

/// Transports are the same when their names are: a name is what the command line, the
/// exports and the registry know them by.
impl PartialEq for TransportKind {
    fn eq(&self, other: &TransportKind) -> bool {
        self.name() == other.name()
    }
}

impl Eq for TransportKind {}

impl std::hash::Hash for TransportKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl std::fmt::Debug for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for TransportKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send + ?Sized>() {}

    /// Every transport of the registry answers the capability question: it carries round
    /// trips and streams, and either holds requests in flight or says why not in words; the
    /// ones with one request slot say so.
    #[test]
    fn every_transport_answers_whether_it_carries_each_workload() {
        use crate::transport::kinds::{shm_posix, shm_spin, shm_zc, tcp, unix_stream, zmq_ipc};
        for &kind in TransportKind::all() {
            assert_eq!(
                kind.supports(Workload::RoundTrip),
                Ok(()),
                "{}",
                kind.name()
            );
            assert_eq!(kind.supports(Workload::Stream), Ok(()), "{}", kind.name());
            if let Err(reason) = kind.supports(Workload::InFlight(2)) {
                assert!(!reason.to_string().is_empty(), "{}", kind.name());
            }
        }
        for kind in [shm_posix::KIND, shm_spin::KIND, shm_zc::KIND] {
            let refusal = kind.supports(Workload::InFlight(2));
            assert!(
                matches!(refusal, Err(Reason::Protocol(why)) if why.contains("one")),
                "{}: {refusal:?}",
                kind.name()
            );
        }
        for kind in [unix_stream::KIND, tcp::KIND, zmq_ipc::KIND] {
            assert_eq!(
                kind.supports(Workload::InFlight(64)),
                Ok(()),
                "{}",
                kind.name()
            );
        }
    }

    /// A client or server can be moved to a thread of its own: checked when this compiles.
    #[test]
    fn clients_and_servers_are_send() {
        assert_send::<Box<dyn TransportClient>>();
        assert_send::<Box<dyn TransportServer>>();
        assert_send::<crate::transport::os::shm::SharedMemory>();
        assert_send::<crate::transport::os::semaphore::NamedSemaphore>();
    }

    /// A test double of a server, for the mapping in `echo_one` only: it hands out one request
    /// of `len` bytes (None: it was stopped first) and records how it was asked to reply.
    struct Recording {
        len: Option<usize>,
        replies: Vec<Reply>,
        outcome: EchoOutcome,
    }

    impl TransportServer for Recording {
        fn next_request(&mut self, _stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
            Ok(self.len)
        }

        fn reply(
            &mut self,
            _stop: &AtomicBool,
            reply: Reply,
        ) -> Result<EchoOutcome, TransportError> {
            self.replies.push(reply);
            Ok(self.outcome)
        }
    }

    /// What `echo_one` returned under `tamper` for a request of `len` bytes, and the replies
    /// it asked for.
    fn echo_with(len: Option<usize>, tamper: Tamper) -> (EchoOutcome, Vec<Reply>) {
        let mut server = Recording {
            len,
            replies: Vec::new(),
            outcome: EchoOutcome::Echoed,
        };
        let outcome = echo_one(&mut server, &AtomicBool::new(false), tamper).unwrap();
        (outcome, server.replies)
    }

    #[test]
    fn echo_one_answers_each_tamper_with_its_reply() {
        let echoed = |replies: Vec<Reply>| (EchoOutcome::Echoed, replies);
        assert_eq!(echo_with(Some(8), Tamper::None), echoed(vec![Reply::Echo]));
        assert_eq!(
            echo_with(Some(8), Tamper::FlipByte(7)),
            echoed(vec![Reply::FlipByte(7)])
        );
        assert_eq!(
            echo_with(Some(8), Tamper::FlipByte(0)),
            echoed(vec![Reply::FlipByte(0)])
        );
        assert_eq!(
            echo_with(Some(8), Tamper::BadLength),
            echoed(vec![Reply::Misframed])
        );
        assert_eq!(
            echo_with(Some(0), Tamper::BadLength),
            echoed(vec![Reply::Misframed])
        );
    }

    /// A flip past the request's end is no flip: the request is echoed unchanged, and no
    /// transport is asked to write outside it.
    #[test]
    fn echo_one_echoes_unchanged_when_the_flip_is_beyond_the_request() {
        let echoed = (EchoOutcome::Echoed, vec![Reply::Echo]);
        assert_eq!(echo_with(Some(8), Tamper::FlipByte(8)), echoed);
        assert_eq!(echo_with(Some(8), Tamper::FlipByte(usize::MAX)), echoed);
        assert_eq!(echo_with(Some(0), Tamper::FlipByte(0)), echoed);
    }

    #[test]
    fn echo_one_swallows_a_request_without_replying() {
        assert_eq!(
            echo_with(Some(8), Tamper::Swallow),
            (EchoOutcome::Echoed, vec![])
        );
    }

    #[test]
    fn echo_one_stops_without_replying_when_no_request_came() {
        for tamper in [
            Tamper::None,
            Tamper::FlipByte(0),
            Tamper::BadLength,
            Tamper::Swallow,
        ] {
            assert_eq!(echo_with(None, tamper), (EchoOutcome::Stopped, vec![]));
        }
    }

    /// What the reply says (a stop while it waited) is what `echo_one` says.
    #[test]
    fn echo_one_returns_what_the_reply_returned() {
        let mut server = Recording {
            len: Some(8),
            replies: Vec::new(),
            outcome: EchoOutcome::Stopped,
        };
        let stop = AtomicBool::new(false);
        let outcome = echo_one(&mut server, &stop, Tamper::None).unwrap();
        assert_eq!(
            (outcome, server.replies),
            (EchoOutcome::Stopped, vec![Reply::Echo])
        );
    }
}
