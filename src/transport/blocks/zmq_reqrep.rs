//! ZeroMQ's sockets, whatever carries them: the client and server that ZeroMQ IPC and ZeroMQ
//! TCP share. Each of those files only says where the sockets meet (`ipc://PATH`, `tcp://ADDR`),
//! and what the server keeps with it (the socket file) or reports (the port it got).
//!
//! Round trips are REQ/REP. libzmq moves bytes on its own I/O thread in each process. Our
//! client lends it a request of [`LEND_FROM`] bytes or more (a smaller one it copies, as
//! libzmq's own `perf/remote_lat` and pyzmq do), checks the reply inside libzmq's message, and
//! the server echoes the message it received, so each direction costs what libzmq itself
//! does: the socket write and the read into a fresh message, plus the hand-offs between each
//! process's application and I/O threads.
//!
//! A one-way stream (`--pattern stream`) is DEALER → ROUTER: REQ cannot send twice without a
//! reply between, and PUSH/PULL, ZeroMQ's one-way pair, has no way back for the end's
//! acknowledgement. A DEALER sends each message as one frame, as PUSH would, and the ROUTER
//! receives it as [routing id, payload]; the server answers only the end, with [routing id,
//! payload], which the DEALER receives as the one frame of the echo. [`send`] waits only while
//! the high-water marks (and the kernel's buffers behind them) are full, in slices of
//! `ZMQ_SNDTIMEO` within the timeout, as every wait here. It copies the message into a message
//! of libzmq's own, so that the caller may reuse its buffer at once: lending it, as a round
//! trip does, would mean waiting for the I/O thread to let go of every message.
//!
//! Requests in flight (`--in-flight N` above 1, round trips) need a client that sends again
//! before its reply: a DEALER, in front of the same REP server. REP expects the envelope REQ
//! puts on the wire, so [`submit`] sends [empty delimiter, request] and [`collect`] receives
//! [empty delimiter, reply], refusing any other envelope (a missing or extra part is a protocol
//! error); REP answers one request at a time, in the order they came on the one connection.
//! libzmq holds the requests and replies in flight between the sockets, on its I/O threads, so
//! the application's sends and receives wait only on high-water marks, in slices of
//! `ZMQ_SNDTIMEO`/`ZMQ_RCVTIMEO` within the timeout as every wait here. The DEALER has no receive
//! high-water mark, so that replies not collected yet never back up to the server, whose REP
//! drops (rather than waits on) a reply it has no room for: so both sides set their
//! high-water marks to twice the requests in flight ([`high_water_mark`], libzmq's 1,000 at
//! the least; the server is started with the client's `--in-flight`). A submit copies the request into a
//! message of libzmq's, as a stream's send does: the caller reuses its buffer before the reply.
//! With one request in flight the client is REQ, as above.
//!
//! [`send`]: TransportClient::send
//! [`submit`]: TransportClient::submit
//! [`collect`]: TransportClient::collect

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::transport::blocks::payload::{check_message_fits, check_reply_fits};
use crate::transport::blocks::socket_file::SocketFile;
use crate::transport::blocks::zmq_events::{ConnectionEvents, Monitor};
use crate::transport::blocks::zmq_send::{retry_interrupted, send_whole};
use crate::transport::error::TransportError;
use crate::transport::os::headroom;
use crate::transport::os::readiness::readable_within;
use crate::transport::os::watchdog;
use crate::transport::spec::{
    EchoOutcome, Pattern, Reply, TransportClient, TransportOptions, TransportServer,
};
use crate::transport::wait::{
    idle_until_request, ready_before, NoWatch, PeerWatch, WaitBudget, IDLE_SLICE, WAIT_SLICE,
};
use crate::transport::wire::payload_capacity;

fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis())
        .unwrap_or(i32::MAX)
        .max(1)
}

/// The threads libzmq starts with a context's first socket: its I/O thread and its reaper.
const LIBZMQ_THREADS: usize = 2;

/// The descriptors libzmq opens for a context, its first socket and a connection: an epoll
/// and a mailbox (eventfd) for each of its two threads, the socket's mailbox, the connection's
/// socket and a monitor's pair, with one to spare. Measured: below about 12 as the process's
/// limit (this driver holds 5 then), libzmq aborts in `epoll.cpp` or `signaler.cpp`.
const LIBZMQ_DESCRIPTORS: usize = 8;

/// A socket of `kind` in a context of its own, whose receives wait in slices of `rcv` where the
/// watchdog does not bound them (its [`ReceiveBound`]) and whose sends wait at most `snd`.
fn new_socket(
    kind: zmq::SocketType,
    rcv: Duration,
    snd: Duration,
) -> Result<(zmq::Context, zmq::Socket, ReceiveBound), TransportError> {
    // The wait watchdog's thread first: started later, it could take a thread counted below
    // for libzmq (the driver and its servers count against one RLIMIT_NPROC).
    watchdog::start();
    // libzmq aborts the whole process when it cannot start a thread (`thread.cpp`): look for
    // the room first, so that `ulimit -u` fails this case and not the driver.
    headroom::threads_available(LIBZMQ_THREADS).map_err(|source| {
        TransportError::LibraryThreads {
            library: "libzmq",
            count: LIBZMQ_THREADS,
            source,
        }
    })?;
    // It aborts too when it cannot open a descriptor for its own use (`ulimit -n`).
    headroom::descriptors_available(LIBZMQ_DESCRIPTORS).map_err(|errno| {
        TransportError::LibraryDescriptors {
            library: "libzmq",
            count: LIBZMQ_DESCRIPTORS,
            errno,
        }
    })?;
    let context = zmq::Context::new();
    let socket = context
        .socket(kind)
        .map_err(|e| TransportError::zmq("creating socket", e))?;
    // Linger 0: a socket closed with unsent messages (a dead peer) must not block the exit.
    socket
        .set_linger(0)
        .and_then(|()| socket.set_rcvtimeo(millis(rcv)))
        .and_then(|()| socket.set_sndtimeo(millis(snd)))
        .map_err(|e| TransportError::zmq("setting socket options", e))?;
    Ok((
        context,
        socket,
        ReceiveBound {
            fallback: rcv,
            timed: Cell::new(true),
        },
    ))
}

/// libzmq's default high-water mark (`ZMQ_SNDHWM`, `ZMQ_RCVHWM`): the messages a socket's pipe
/// to one peer holds.
const LIBZMQ_DEFAULT_HWM: usize = 1000;

/// The high-water mark both sides set for `in_flight` requests outstanding: libzmq's default,
/// or twice the requests in flight where that is more. REP is a ROUTER inside, which drops a
/// reply, silently, when its pipe to the peer is at the mark; the pipe counts a message as
/// gone only once the I/O thread has acknowledged a batch of them, so with 1,000 or more in
/// flight a REP at the default mark dropped replies (issue 27, #7) and the client saw the next
/// reply where it expected the dropped one. Twice the count leaves room for the messages read
/// but not yet acknowledged; the client never has more than `in_flight` outstanding, so no
/// pipe holds more than that.
pub fn high_water_mark(in_flight: usize) -> usize {
    in_flight.saturating_mul(2).max(LIBZMQ_DEFAULT_HWM)
}

/// Sets `socket`'s send and receive high-water marks to [`high_water_mark`].
fn set_high_water_marks(socket: &zmq::Socket, in_flight: usize) -> Result<(), TransportError> {
    let mark = i32::try_from(high_water_mark(in_flight)).unwrap_or(i32::MAX);
    socket
        .set_sndhwm(mark)
        .and_then(|()| socket.set_rcvhwm(mark))
        .map_err(|e| TransportError::zmq("setting ZMQ_SNDHWM and ZMQ_RCVHWM", e))
}

/// How a socket's blocking receives are bounded: by the wait
/// [`watchdog`](crate::transport::os::watchdog), with no `ZMQ_RCVTIMEO`, or, on a thread the
/// watchdog does not cover, by a `ZMQ_RCVTIMEO` of one `fallback` slice. With a receive
/// timeout libzmq reads its clock and polls its mailbox with a timeout, which arms a kernel
/// timer, on every receive that has to wait, as `SO_RCVTIMEO` does (see
/// [`watched_socket`](crate::transport::blocks::watched_socket)); under the watchdog the poll
/// has none, and fails with `EINTR` when the watchdog cuts it, which libzmq passes on and the
/// callers take as a slice that ran out. The option is set again only when the thread's case
/// changes. Sends keep their `ZMQ_SNDTIMEO`: libzmq looks at it only when a send must wait
/// (a high-water mark), never on the way of a round trip.
///
/// Only [`new_socket`] makes one, with the slice it gave the socket.
struct ReceiveBound {
    fallback: Duration,
    /// `ZMQ_RCVTIMEO` is the fallback slice (as `new_socket` leaves it), not infinite.
    timed: Cell<bool>,
}

impl ReceiveBound {
    /// Runs `receive`, a blocking receive on `socket`, bounded as the type's doc says.
    #[inline]
    fn receive<T>(
        &self,
        socket: &zmq::Socket,
        receive: impl FnOnce() -> Result<T, zmq::Error>,
    ) -> Result<T, zmq::Error> {
        let watched = watchdog::begin();
        if watched.is_none() != self.timed.get() {
            self.set_timed(socket, watched.is_none())?;
        }
        receive()
    }

    #[cold]
    fn set_timed(&self, socket: &zmq::Socket, timed: bool) -> Result<(), zmq::Error> {
        socket.set_rcvtimeo(if timed { millis(self.fallback) } else { -1 })?;
        self.timed.set(timed);
        Ok(())
    }
}

/// Lets `socket` use IPv6 where `endpoint` is an IPv6 TCP address (`tcp://[::1]:PORT`):
/// libzmq sockets are IPv4-only unless told, on the connecting side as on the binding one.
fn allow_ipv6_for(socket: &zmq::Socket, endpoint: &str) -> Result<(), TransportError> {
    if endpoint.starts_with("tcp://[") {
        socket
            .set_ipv6(true)
            .map_err(|e| TransportError::zmq("enabling IPv6", e))?;
    }
    Ok(())
}

/// What a client's socket is, by the pattern and the requests in flight it was connected for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// REQ: each reply before the next request.
    Request,
    /// A stream's DEALER, to a ROUTER: one-way messages of one part each.
    Stream,
    /// A DEALER in front of REP, with requests in flight: each message in REQ's envelope,
    /// [empty delimiter, payload].
    InFlight,
}

impl Role {
    fn for_options(options: &TransportOptions) -> Role {
        match options.pattern {
            Pattern::Stream | Pattern::OneWay => Role::Stream,
            Pattern::RoundTrip if options.in_flight > 1 => Role::InFlight,
            Pattern::RoundTrip => Role::Request,
        }
    }
}

/// The requesting side: a REQ socket connected to the server's endpoint, or a DEALER for a
/// stream or for requests in flight.
///
/// It copies nothing itself. The request is handed to libzmq as the caller's own bytes
/// (`zmq_msg_init_data` with a callback instead of a free), and the reply is checked inside
/// the message libzmq received it into. The caller's request buffer is lent to libzmq's I/O
/// thread until libzmq calls back; a round trip never returns while the loan is out.
pub struct ZmqClient {
    // Field order is drop order: the sockets must close before their context terminates, and
    // the context's termination (which ends every message) before `released` goes.
    socket: Option<zmq::Socket>,
    /// The socket's connection events, read when a wait runs out, to say why.
    monitor: Option<Monitor>,
    context: Option<zmq::Context>,
    events: RefCell<ConnectionEvents>,
    endpoint: String,
    /// The last reply, where libzmq received it.
    reply: zmq::Message,
    receive_bound: ReceiveBound,
    /// Set by libzmq (from its I/O thread) once it no longer reads a lent request.
    released: Box<AtomicBool>,
    /// The largest request the endpoint's buffer takes (a spawned server's own buffer; for
    /// `--connect`, whose peer's buffer cannot be read, `--buffer-size` taken on trust): a
    /// larger one is refused here, as by every transport, instead of being sent for the
    /// server's `ZMQ_MAXMSGSIZE` to drop while the client waits out its timeout.
    request_capacity: usize,
    role: Role,
    /// Requests submitted whose replies were not collected yet.
    in_flight: usize,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
}

fn closed() -> TransportError {
    TransportError::Protocol("the ZeroMQ client was closed by an earlier failure".into())
}

/// libzmq's callback for a lent request: it is done with the bytes.
unsafe extern "C" fn mark_released(_data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the client's boxed `released` flag, which outlives every message the
    // client sends (the context is terminated before it is dropped). Release: pairs with the
    // Acquire in `wait_for_release`.
    unsafe { (*(hint as *const AtomicBool)).store(true, Ordering::Release) };
}

impl ZmqClient {
    /// Connects to `endpoint` (`ipc://PATH`, `tcp://ADDR:PORT`), whose server has a
    /// `buffer_size`-byte buffer. ZeroMQ connects in the background, so a missing server
    /// shows up as a timeout of the first round trip.
    pub fn connect(
        endpoint: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<ZmqClient, TransportError> {
        let role = Role::for_options(&options);
        let kind = match role {
            Role::Request => zmq::REQ,
            Role::Stream | Role::InFlight => zmq::DEALER,
        };
        let (context, socket, receive_bound) = new_socket(kind, WAIT_SLICE, WAIT_SLICE)?;
        set_high_water_marks(&socket, options.in_flight)?;
        if role == Role::InFlight {
            // Replies not collected yet wait here, never at the server (see the module's doc).
            (socket.set_rcvhwm(0)).map_err(|e| TransportError::zmq("setting ZMQ_RCVHWM", e))?;
        }
        allow_ipv6_for(&socket, endpoint)?;
        let monitor = Monitor::attach(&context, &socket, CLIENT_MONITOR_ENDPOINT)?;
        // libzmq looks at its mailbox first, and a signal landing then fails the call before it
        // did anything: it is made again.
        retry_interrupted(|| socket.connect(endpoint))
            .map_err(|e| TransportError::zmq(format!("connecting to {endpoint}"), e))?;
        Ok(ZmqClient {
            socket: Some(socket),
            monitor: Some(monitor),
            context: Some(context),
            events: RefCell::default(),
            endpoint: endpoint.to_string(),
            reply: zmq::Message::new(),
            receive_bound,
            released: Box::new(AtomicBool::new(true)),
            request_capacity: payload_capacity(buffer_size),
            role,
            in_flight: 0,
            timeout: options.timeout,
            watch,
        })
    }

    /// Ends the sockets, then their context, after a failure.
    fn close(&mut self) {
        self.socket = None;
        self.monitor = None;
        self.context = None;
    }

    /// Why a wait for `what` ran out, when libzmq knows more than the timeout says: the peer
    /// never completed ZeroMQ's handshake, or this process could not open the connection's
    /// socket (libzmq retries that silently).
    fn explain(&self, timed_out: TransportError) -> TransportError {
        let TransportError::Timeout { what, timeout } = timed_out else {
            return timed_out;
        };
        let mut events = self.events.borrow_mut();
        if let Some(monitor) = &self.monitor {
            monitor.read_into(&mut events);
        }
        // A peer that stays silent may only be frozen or slow: only one that broke the
        // handshake off is said to speak another protocol.
        if events.peer_broke_off() {
            return TransportError::NotZeroMq {
                what,
                timeout,
                endpoint: self.endpoint.clone(),
            };
        }
        match headroom::descriptor_refused() {
            Some(source) if events.handshakes == 0 => TransportError::OutOfDescriptors {
                library: "libzmq",
                what,
                timeout,
                source,
            },
            _ => TransportError::Timeout { what, timeout },
        }
    }

    fn socket(&mut self) -> Result<&mut zmq::Socket, TransportError> {
        self.socket.as_mut().ok_or_else(closed)
    }

    /// Sends and receives; the reply is left in `self.reply`. After a failure the socket and
    /// its context are ended, which makes libzmq drop (and release) a request still queued, so
    /// that no loan outlives the call.
    fn exchange(&mut self, request: &[u8], capacity: usize) -> Result<usize, TransportError> {
        // Before anything is sent: the client stays usable, as after any refused size.
        check_message_fits(request.len(), self.request_capacity)?;
        let sent = if request.len() >= LEND_FROM {
            self.send_lent(request)
        } else {
            self.send_delimited_copy(request)
        };
        let result = sent.and_then(|()| self.receive(capacity));
        if result.is_err() {
            self.close();
        }
        // The reply proves the request was sent whole; a failure ended the context.
        self.wait_for_release()?;
        result
    }

    /// Lends `request` to libzmq, retrying in slices while it cannot be queued; a DEALER's
    /// goes behind the empty delimiter.
    fn send_lent(&mut self, request: &[u8]) -> Result<(), TransportError> {
        if self.role == Role::InFlight {
            self.send_delimiter()?;
        }
        let hint = &*self.released as *const AtomicBool as *mut c_void;
        let raw_socket = self.socket()?.as_mut_ptr();
        self.released.store(false, Ordering::Relaxed);
        self.retry_slices("sending the request", || {
            let mut message = zmq_sys::zmq_msg_t::default();
            // SAFETY: the bytes stay valid and unchanged until `mark_released` runs (`exchange`
            // waits for it); `hint` is valid as long as the client; the socket is open.
            unsafe {
                let data = request.as_ptr() as *mut c_void;
                let free = Some(mark_released as unsafe extern "C" fn(*mut c_void, *mut c_void));
                zmq_sys::zmq_msg_init_data(&mut message, data, request.len(), free, hint);
                if zmq_sys::zmq_msg_send(&mut message, raw_socket, 0) >= 0 {
                    return Ok(());
                }
                let error = zmq::Error::from_raw(zmq_sys::zmq_errno());
                // Not sent: still ours to close, which calls `mark_released` at once.
                zmq_sys::zmq_msg_close(&mut message);
                Err(error)
            }
        })
    }

    /// The empty first part of a DEALER's request, which REP expects (REQ sends it itself).
    fn send_delimiter(&self) -> Result<(), TransportError> {
        let Some(socket) = &self.socket else {
            return Err(closed());
        };
        self.retry_slices("sending the request's delimiter", || {
            socket.send(zmq::Message::new(), zmq::SNDMORE)
        })
    }

    /// A copy of `request`, behind the delimiter for a DEALER, retried in slices while the
    /// high-water mark is reached.
    fn send_delimited_copy(&mut self, request: &[u8]) -> Result<(), TransportError> {
        if self.role == Role::InFlight {
            self.send_delimiter()?;
        }
        let Some(socket) = &self.socket else {
            return Err(closed());
        };
        self.retry_slices("sending the request", || socket.send(request, 0))
    }

    /// Receives the reply into `self.reply` (a DEALER's behind its delimiter) and returns its
    /// length, which must fit `capacity`.
    fn receive(&mut self, capacity: usize) -> Result<usize, TransportError> {
        if self.role == Role::InFlight {
            self.receive_delimiter()?;
        }
        let Some(socket) = &self.socket else {
            return Err(closed());
        };
        let mut reply = std::mem::replace(&mut self.reply, zmq::Message::new());
        let bound = &self.receive_bound;
        let received = self.retry_slices("the reply", || {
            bound.receive(socket, || socket.recv(&mut reply, 0))
        });
        self.reply = reply;
        received?;
        let more = socket
            .get_rcvmore()
            .map_err(|e| TransportError::zmq("reading RCVMORE", e))?;
        if more {
            // The rest of the message goes too, so that the next reply starts a message.
            let _ = socket.recv_multipart(zmq::DONTWAIT);
            return Err(TransportError::Protocol(
                "the reply has more than one part; an echo has exactly one".into(),
            ));
        }
        check_reply_fits(self.reply.len(), capacity)?;
        Ok(self.reply.len())
    }

    /// The first part of a reply to a DEALER, which must be REP's empty delimiter with the
    /// answer behind it. A wrong one is dropped whole (libzmq delivers a message's parts
    /// together), so that the next reply starts a message.
    fn receive_delimiter(&self) -> Result<(), TransportError> {
        let Some(socket) = &self.socket else {
            return Err(closed());
        };
        let mut delimiter = zmq::Message::new();
        let bound = &self.receive_bound;
        self.retry_slices("the reply", || {
            bound.receive(socket, || socket.recv(&mut delimiter, 0))
        })?;
        let why = match (delimiter.len(), delimiter.get_more()) {
            (0, true) => return Ok(()),
            (len, true) => format!(
                "the reply's first part has {len} bytes: REP puts an empty delimiter before its answer"
            ),
            (_, false) => "the reply is one part, without the empty delimiter REP puts before its \
                           answer"
                .to_string(),
        };
        if delimiter.get_more() {
            let _ = socket.recv_multipart(zmq::DONTWAIT);
        }
        Err(TransportError::Protocol(why))
    }

    /// Waits (briefly: the reply already came) until libzmq lets go of the lent request.
    fn wait_for_release(&self) -> Result<(), TransportError> {
        let mut budget = WaitBudget::new(self.timeout, &NoWatch);
        // Acquire: pairs with the Release in `mark_released`.
        while !self.released.load(Ordering::Acquire) {
            std::thread::yield_now();
            budget.slice_expired("libzmq to release the request")?;
        }
        Ok(())
    }

    /// Retries `op` while it reports EAGAIN (a slice of the timeout passed), up to the timeout.
    fn retry_slices<T>(
        &self,
        what: &str,
        mut op: impl FnMut() -> Result<T, zmq::Error>,
    ) -> Result<T, TransportError> {
        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        loop {
            match op() {
                Ok(value) => return Ok(value),
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => {
                    budget.slice_expired(what).map_err(|e| self.explain(e))?
                }
                Err(e) => return Err(TransportError::zmq(what, e)),
            }
        }
    }
}

/// The smallest request the client lends to libzmq rather than copies. A loan saves the copy
/// but costs a hand-off: libzmq's I/O thread calls back when it lets go, and the client waits
/// for that before the buffer is reused. Measured on this project's VM (zmq-ipc, both processes
/// on CPU 0, 20,000 round trips, five runs each way, means of the runs' means, µs): at 100 B and
/// 1 KB the two are equal (16.84 / 16.82, 16.90 / 16.92 lent / copied); at 10 KB and 16 KB a
/// copy is faster (23.02 / 22.57, 24.09 / 23.42); from 32 KB a loan is (26.07 / 26.55; at 64 KB
/// 32.4 / 33.5, at 500 KB 108 / 140, at 2 MB 498 / 652, three runs each). pyzmq's threshold
/// is 64 KiB.
const LEND_FROM: usize = 32 * 1024;

impl TransportClient for ZmqClient {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        let len = self.exchange(request, response.len())?;
        response[..len].copy_from_slice(&self.reply);
        Ok(len)
    }

    fn round_trip_in_place<'a>(
        &'a mut self,
        request: &[u8],
        scratch: &'a mut [u8],
    ) -> Result<&'a [u8], TransportError> {
        self.exchange(request, scratch.len())?;
        Ok(&self.reply)
    }

    /// A DEALER's send of `message`, copied into a message of libzmq's (see the module's doc),
    /// retried in slices while the high-water mark is reached, at most the timeout in all.
    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        match self.role {
            Role::Stream => {}
            Role::Request => return Err(TransportError::PatternUnsupported {
                transport: "a ZeroMQ REQ socket",
                pattern: Pattern::Stream,
                why:
                    "REQ must receive a reply before it sends again (a stream's client is a DEALER)",
            }),
            Role::InFlight => return Err(TransportError::PatternUnsupported {
                transport: "a ZeroMQ DEALER with requests in flight",
                pattern: Pattern::Stream,
                why:
                    "its requests go to a REP server behind an empty delimiter (a stream's client \
                      is connected for the stream pattern, to a ROUTER)",
            }),
        }
        check_message_fits(message.len(), self.request_capacity)?;
        let Some(socket) = &self.socket else {
            return Err(closed());
        };
        self.retry_slices("sending a stream message", || socket.send(message, 0))
    }

    /// Sends `request` copied into a message of libzmq's (see the module's doc): a DEALER's
    /// behind the empty delimiter, a REQ's (one in flight) as a round trip's. A DEALER that
    /// fails half-way through a message is closed, as its next message would not be one.
    fn submit(&mut self, request: &[u8]) -> Result<(), TransportError> {
        if self.role == Role::Stream {
            return Err(TransportError::PatternUnsupported {
                transport: "a ZeroMQ stream DEALER",
                pattern: Pattern::RoundTrip,
                why: "it was connected for a one-way stream, to a ROUTER",
            });
        }
        check_message_fits(request.len(), self.request_capacity)?;
        let sent = self.send_delimited_copy(request);
        if sent.is_err() && self.role == Role::InFlight {
            self.close();
        }
        sent?;
        self.in_flight += 1;
        Ok(())
    }

    /// The oldest reply, where libzmq received it, after its envelope was checked.
    fn collect<'a>(&'a mut self, scratch: &'a mut [u8]) -> Result<&'a [u8], TransportError> {
        if self.in_flight == 0 {
            return Err(TransportError::NoRequest);
        }
        self.receive(scratch.len())?;
        self.in_flight -= 1;
        Ok(&self.reply)
    }

    /// A reply is there once libzmq says its socket has a message to receive (`ZMQ_EVENTS`).
    /// Its descriptor (`ZMQ_FD`) only signals that the events may have changed, edge-triggered,
    /// so the events are read again after every wake.
    fn await_reply_until(&mut self, until: Instant) -> Result<bool, TransportError> {
        if self.in_flight == 0 {
            return Err(TransportError::NoRequest);
        }
        let Some(socket) = &self.socket else {
            return Err(closed());
        };
        let has_message = || {
            (socket.get_events())
                .map(|events| events.contains(zmq::POLLIN))
                .map_err(|e| TransportError::zmq("reading ZMQ_EVENTS", e))
        };
        // SAFETY: the descriptor is the socket's own, open while `socket` is borrowed here.
        let fd = unsafe { BorrowedFd::borrow_raw(socket.as_raw_fd()) };
        ready_before(until, self.watch.as_ref(), |slice| {
            if has_message()? {
                return Ok(true);
            }
            readable_within(fd, slice)
                .map_err(|e| TransportError::os("polling a ZeroMQ socket", e))?;
            has_message()
        })
    }
}

/// The echoing side: a REP socket bound to an endpoint, or for a stream a ROUTER.
pub struct ZmqServer {
    // Field order is drop order: close the sockets and the request not answered yet, then
    // end the context.
    socket: zmq::Socket,
    monitor: Monitor,
    /// The request handed out by `next_request` and not answered yet.
    pending: Option<Pending>,
    _context: zmq::Context,
    /// A stream's ROUTER, not a REP: each message comes behind its sender's routing id.
    routed: bool,
    events: ConnectionEvents,
    /// Requests of more than one part, echoed whole (our client refuses such an echo).
    multipart_requests: u64,
    /// ZMQ_MAXMSGSIZE: the largest frame libzmq accepts from a client.
    max_message: usize,
    /// What follows `READY` on the server's ready line, when its transport says it.
    ready_address: Option<String>,
    receive_bound: ReceiveBound,
    /// The socket file of an `ipc://` endpoint, removed once the sockets are closed.
    _file: Option<SocketFile>,
}

/// A request a [`ZmqServer`] handed out.
enum Pending {
    /// A message of one part, to be answered as the reply says.
    Message(zmq::Message),
    /// A message of more than one part, already echoed whole: REP must answer it before it
    /// takes the next request, and an echo is the only answer this server gives.
    EchoedWhole,
    /// A stream's message, and the routing id of the DEALER that sent it, which a reply (to
    /// the end) goes back behind.
    Routed {
        from: zmq::Message,
        message: zmq::Message,
    },
}

/// A `consume` on a REP socket, which must answer every request.
fn rep_answers_every_request() -> TransportError {
    TransportError::PatternUnsupported {
        transport: "a ZeroMQ REP socket",
        pattern: Pattern::Stream,
        why:
            "REP must answer every request before it takes the next (a stream's server is a ROUTER)",
    }
}

/// Where the REP socket reports its connection events (one server per process).
const MONITOR_ENDPOINT: &str = "inproc://echo-server-events";

/// Where a client's socket reports its connection events (each client has its own context).
const CLIENT_MONITOR_ENDPOINT: &str = "inproc://client-events";

impl ZmqServer {
    /// Binds a REP socket to `endpoint`, or for a stream a ROUTER. `buffer_size` bounds what a
    /// client can make the server allocate: libzmq drops (and disconnects) a peer whose frame
    /// announces more than the payload capacity, before allocating anything for it.
    pub fn bind(
        endpoint: &str,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<ZmqServer, TransportError> {
        let routed = options.pattern == Pattern::Stream;
        let kind = if routed { zmq::ROUTER } else { zmq::REP };
        let (context, socket, receive_bound) = new_socket(kind, IDLE_SLICE, options.timeout)?;
        let max_message = payload_capacity(buffer_size);
        set_high_water_marks(&socket, options.in_flight)?;
        let zmq_error = |op: &'static str| move |e| TransportError::zmq(op, e);
        socket
            .set_maxmsgsize(i64::try_from(max_message).unwrap_or(i64::MAX))
            .map_err(zmq_error("setting ZMQ_MAXMSGSIZE"))?;
        // A reply to a DEALER that is gone fails (EHOSTUNREACH) instead of vanishing unsent.
        if routed {
            socket
                .set_router_mandatory(true)
                .map_err(zmq_error("setting ZMQ_ROUTER_MANDATORY"))?;
        }
        allow_ipv6_for(&socket, endpoint)?;
        let monitor = Monitor::attach(&context, &socket, MONITOR_ENDPOINT)?;
        // As the client's connect: a signal at the mailbox fails the call before it bound.
        retry_interrupted(|| socket.bind(endpoint))
            .map_err(|e| TransportError::zmq(format!("binding {endpoint}"), e))?;
        Ok(ZmqServer {
            socket,
            monitor,
            _context: context,
            routed,
            events: ConnectionEvents::default(),
            multipart_requests: 0,
            max_message,
            ready_address: None,
            receive_bound,
            pending: None,
            _file: None,
        })
    }

    /// The server, keeping `file` (its `ipc://` endpoint's) until its sockets are closed.
    pub fn keeping(self, file: SocketFile) -> ZmqServer {
        ZmqServer {
            _file: Some(file),
            ..self
        }
    }

    /// The server, reporting `address` in its ready line.
    pub fn announcing(self, address: String) -> ZmqServer {
        ZmqServer {
            ready_address: Some(address),
            ..self
        }
    }

    /// The endpoint the socket is bound to, as libzmq resolved it (`ZMQ_LAST_ENDPOINT`): with
    /// the port the system chose when the bind asked for any (`tcp://127.0.0.1:*`).
    pub fn bound_endpoint(&self) -> Result<String, TransportError> {
        let endpoint = self
            .socket
            .get_last_endpoint()
            .map_err(|e| TransportError::zmq("reading ZMQ_LAST_ENDPOINT", e))?;
        endpoint.map_err(|raw| {
            TransportError::Protocol(format!(
                "libzmq reported a bound endpoint that is not UTF-8: {raw:?}"
            ))
        })
    }

    /// Counts the connection events libzmq reported since the last look. Called while idle
    /// only.
    fn count_disconnects(&mut self) {
        self.monitor.read_into(&mut self.events);
    }

    /// Waits, in idle slices, for the next request; None once `stop` is set first.
    fn receive_request(
        &mut self,
        stop: &AtomicBool,
    ) -> Result<Option<zmq::Message>, TransportError> {
        let mut message = zmq::Message::new();
        // Each wait is a slice: the watchdog's, or the idle slice (see `ReceiveBound`).
        let received = idle_until_request(stop, || {
            let socket = &self.socket;
            match (self.receive_bound).receive(socket, || socket.recv(&mut message, 0)) {
                Ok(()) => Ok(true),
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => {
                    self.count_disconnects();
                    Ok(false)
                }
                Err(e) => Err(TransportError::zmq("receiving a request", e)),
            }
        })?;
        Ok(received.then_some(message))
    }

    /// Echoes a request of more than one part whole, `first` and the parts after it: REP must
    /// answer before it takes the next request, and an echo is the only answer this server
    /// gives. libzmq delivers a message's parts together, so the rest is already here.
    fn echo_multipart(&mut self, first: zmq::Message) -> Result<(), TransportError> {
        self.multipart_requests += 1;
        let mut parts = vec![first.to_vec()];
        let mut more = first.get_more();
        // Part by part, each receive retried on a signal (`recv_multipart` would lose the
        // parts it had taken when one interrupts it).
        while more {
            let mut part = zmq::Message::new();
            retry_interrupted(|| self.socket.recv(&mut part, 0))
                .map_err(|e| TransportError::zmq("receiving the rest of a request", e))?;
            more = part.get_more();
            parts.push(part.to_vec());
        }
        let last = parts.len() - 1;
        for (index, part) in parts.iter().enumerate() {
            let flags = if index < last { zmq::SNDMORE } else { 0 };
            retry_interrupted(|| self.socket.send(&part[..], flags))
                .map_err(|e| TransportError::zmq("sending the reply", e))?;
        }
        Ok(())
    }

    /// The rest of a message a ROUTER received, whose first part `from` is its sender's
    /// routing id: the payload, which must be the message's last part. A DEALER sends each
    /// message as one frame; any more (a REQ client's empty delimiter and payload, a client
    /// that sends in parts) is not a stream, and ends it. libzmq delivers a message's parts
    /// together, so the rest is already here.
    fn routed_request(
        &mut self,
        from: zmq::Message,
    ) -> Result<(zmq::Message, zmq::Message), TransportError> {
        if !from.get_more() {
            return Err(TransportError::Protocol(
                "a ROUTER received a routing id with no message behind it".into(),
            ));
        }
        let mut message = zmq::Message::new();
        // The rest of a message libzmq has whole: a signal (a late one of the wait watchdog's)
        // is the only thing that can end this receive early, and it loses nothing.
        let received = loop {
            match (self.socket).recv(&mut message, 0) {
                Err(zmq::Error::EINTR) => continue,
                other => break other,
            }
        };
        received.map_err(|e| TransportError::zmq("receiving a stream message", e))?;
        if message.get_more() {
            let rest = (self.socket).recv_multipart(0).map_or(0, |rest| rest.len());
            return Err(TransportError::Protocol(format!(
                "a stream message of {} parts: a stream's messages have exactly one (a REQ \
                 client sends an empty delimiter before its message; a stream's client is a DEALER)",
                rest + 2
            )));
        }
        Ok((from, message))
    }

    /// Sends `message` back to the DEALER whose routing id is `from`: a ROUTER's reply.
    /// [`EchoOutcome::PeerLeft`] if that DEALER is gone.
    fn send_routed(
        &mut self,
        from: zmq::Message,
        message: zmq::Message,
    ) -> Result<EchoOutcome, TransportError> {
        let sent = send_whole(&mut self.socket, from, zmq::SNDMORE)
            .and_then(|()| send_whole(&mut self.socket, message, 0));
        match sent {
            Ok(()) => Ok(EchoOutcome::Echoed),
            Err(zmq::Error::EHOSTUNREACH) => Ok(EchoOutcome::PeerLeft),
            Err(e) => Err(TransportError::zmq("sending the reply", e)),
        }
    }
}

/// The answer to `message` that `reply` asks for.
fn answer(mut message: zmq::Message, reply: Reply) -> zmq::Message {
    match reply {
        Reply::Echo => message,
        Reply::FlipByte(offset) => {
            if let Some(byte) = message.get_mut(offset) {
                *byte ^= 0xff;
            }
            message
        }
        Reply::Misframed => {
            let mut longer = message.to_vec();
            longer.push(0);
            zmq::Message::from(longer)
        }
    }
}

impl TransportServer for ZmqServer {
    /// Receives the next request; one of more than one part is echoed whole at once (whatever
    /// the reply will say), and its `reply` only reports it echoed. A ROUTER's request is the
    /// part after the routing id.
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.pending = None;
        let Some(first) = self.receive_request(stop)? else {
            return Ok(None);
        };
        let (pending, len) = if self.routed {
            let (from, message) = self.routed_request(first)?;
            let len = message.len();
            (Pending::Routed { from, message }, len)
        } else if first.get_more() {
            let len = first.len();
            self.echo_multipart(first)?;
            (Pending::EchoedWhole, len)
        } else {
            let len = first.len();
            (Pending::Message(first), len)
        };
        self.pending = Some(pending);
        Ok(Some(len))
    }

    fn reply(&mut self, _stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError> {
        match self.pending.take() {
            Some(Pending::Message(message)) => {
                // A signal must not cost the reply: see `zmq_send`.
                send_whole(&mut self.socket, answer(message, reply), 0)
                    .map_err(|e| TransportError::zmq("sending the reply", e))?;
                Ok(EchoOutcome::Echoed)
            }
            Some(Pending::Routed { from, message }) => {
                self.send_routed(from, answer(message, reply))
            }
            Some(Pending::EchoedWhole) => Ok(EchoOutcome::Echoed),
            None => Err(TransportError::NoRequest),
        }
    }

    /// The request inside the message libzmq received it into.
    fn inspect(&mut self, look: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        match &self.pending {
            Some(Pending::Message(message) | Pending::Routed { message, .. }) => {
                look(message);
                Ok(())
            }
            Some(Pending::EchoedWhole) => Err(TransportError::Protocol(
                "the request had more than one part and was echoed whole: there is no one message to look at".into(),
            )),
            None => Err(TransportError::NoRequest),
        }
    }

    /// Drops a ROUTER's message unanswered. A REP socket refuses: it must answer every request,
    /// and the request stays to be answered.
    fn consume(&mut self) -> Result<(), TransportError> {
        match self.pending {
            Some(Pending::Routed { .. }) => {
                self.pending = None;
                Ok(())
            }
            Some(Pending::Message(_) | Pending::EchoedWhole) => Err(rep_answers_every_request()),
            None => Err(TransportError::NoRequest),
        }
    }

    fn closing_words(&mut self) -> Option<String> {
        self.count_disconnects();
        let mut parts = Vec::new();
        if self.events.disconnects > 0 {
            parts.push(format!(
                "libzmq disconnected {} peer(s): clients that hung up, or sent a frame over the {}-byte ZMQ_MAXMSGSIZE (libzmq does not say which)",
                self.events.disconnects, self.max_message
            ));
        }
        if self.events.accept_failures > 0 {
            // libzmq leaves the connection waiting and tries again: the client only times out.
            parts.push(format!(
                "libzmq failed {} time(s) to accept a connection: {}",
                self.events.accept_failures,
                nix::errno::Errno::from_raw(self.events.accept_errno)
            ));
        }
        if self.multipart_requests > 0 {
            parts.push(format!(
                "echoed {} request(s) of more than one part whole",
                self.multipart_requests
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    fn ready_address(&self) -> Option<String> {
        self.ready_address.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_high_water_mark_is_twice_the_requests_in_flight_and_never_below_libzmqs() {
        assert_eq!(high_water_mark(1), LIBZMQ_DEFAULT_HWM);
        assert_eq!(high_water_mark(500), LIBZMQ_DEFAULT_HWM);
        assert_eq!(high_water_mark(4096), 8192);
        assert_eq!(high_water_mark(usize::MAX), usize::MAX);
    }

    /// Under the watchdog a receive nobody answers has no `ZMQ_RCVTIMEO` and still ends:
    /// libzmq passes the watchdog's `EINTR` on.
    #[test]
    fn a_receive_nobody_answers_is_bounded_by_the_watchdog_not_a_timeout() {
        let (_context, socket, bound) =
            new_socket(zmq::REP, Duration::from_secs(3600), WAIT_SLICE).expect("a socket");
        socket.bind("inproc://receive-bound-test").unwrap();
        let mut message = zmq::Message::new();
        let received = bound.receive(&socket, || socket.recv(&mut message, 0));
        assert_eq!(received, Err(zmq::Error::EINTR));
        assert!(!bound.timed.get());
        assert_eq!(socket.get_rcvtimeo().unwrap(), -1);
    }

    /// The fallback gives the socket its receive slice back, and takes it away again.
    #[test]
    fn the_fallback_sets_the_receive_slice_and_the_watchdog_clears_it() {
        let (_context, socket, bound) =
            new_socket(zmq::REP, WAIT_SLICE, WAIT_SLICE).expect("a socket");
        bound.set_timed(&socket, false).unwrap();
        assert_eq!(socket.get_rcvtimeo().unwrap(), -1);
        bound.set_timed(&socket, true).unwrap();
        assert_eq!(socket.get_rcvtimeo().unwrap(), millis(WAIT_SLICE));
        assert!(bound.timed.get());
    }
}
