//! ipc-channel: servo's `ipc-channel` crate through its public API. The server makes an
//! `IpcOneShotServer` and prints its name (a socket path the crate chooses) after `READY`; the
//! client connects to it and sends, as the one message of the rendezvous, the two channel ends
//! the server needs: the receiving end of a bytes channel for requests and the sending end of
//! one for replies (`ipc::bytes_channel`, a `SOCK_SEQPACKET` socket pair each on Linux). Every
//! message after that is one `IpcBytesSender::send` and one `IpcBytesReceiver::recv`.
//!
//! What the library costs: its receive allocates a fresh buffer for every message (as large as
//! its largest single fragment, about 200 KiB, then grown to the message), which it hands over
//! as a `Vec<u8>`; a message larger than one fragment goes through a socket pair made for that
//! message alone, whose receiving end travels with the first fragment (`SCM_RIGHTS`). The
//! client checks the echo in the `Vec` the library made (no copy of ours); the server echoes
//! the `Vec` it received.
//!
//! What the server reads before the library does: its receive allocates whatever size a
//! message's first fragment announces, so before each request the server peeks at that header
//! (one `recv` with `MSG_PEEK` on the receiving socket, the wait the receive's was) and refuses
//! a message longer than its buffer without receiving it ([`receive_within`]): one system call
//! more per request on the server's side, the price of a bounded allocation (issue 27, #9).
//!
//! Bounding the waits. `IpcBytesReceiver` has `recv` (blocks for ever) and `try_recv`
//! (never blocks), no `try_recv_timeout` (only the serde `IpcReceiver<T>` has one, which would
//! add a serialisation and a copy each way), and no descriptor to poll or give a timeout to;
//! sends have no timeout either. So each side keeps a [`Watchdog`]: a thread that, every slice
//! ([`WAIT_SLICE`] for the client, [`IDLE_SLICE`] for the server), looks at the blocking call in
//! progress, if any, and judges it as a slice of a socket timeout would be judged: the client's
//! watch (a dead server, a stop signal) and its `--timeout`; the server's stop flag, and
//! `--timeout` for a reply. A call judged over is interrupted with a signal of this transport's
//! own ([`wake_signal`], a real-time signal with a handler that does nothing, installed without
//! `SA_RESTART`), so the system call returns `EINTR` and the library returns an error; the
//! signal is repeated every slice until the call has returned, so one that lands just before
//! the system call starts is no lost wake-up. While messages flow the watchdog costs the waiting
//! side a lock and an unlock around each call (no system call), and a timer wake-up of its own
//! thread per slice. A call that returns its message is never interrupted after the fact: only a
//! call still blocked when its verdict came is ended.
//!
//! A one-shot server serves exactly one client: after it leaves, the server waits for its stop
//! signal. Nothing is named in the file system after the rendezvous: the one-shot server's
//! directory (which the server makes inside the endpoint's private directory, so that the
//! driver's removal of that directory takes it even after a SIGKILL) is removed as soon as the
//! client is accepted; the socket pairs are anonymous, and close with their processes.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};
use ipc_channel::IpcError;

use crate::transport::blocks::payload::{check_message_fits, check_reply_fits};
use crate::transport::blocks::socket_file::SocketFile;
use crate::transport::endpoint::Endpoint;
use crate::transport::error::{HeldRequest, TransportError};
use crate::transport::names::checked_path;
use crate::transport::spec::{
    Addressing, EchoOutcome, Reply, TransportClient, TransportKind, TransportOptions,
    TransportServer, TransportSpec,
};
use crate::transport::wait::{
    is_hang_up, objection_within, retry_until_created, PeerWatch, WaitBudget, EXIT_SEEN_GRACE,
    IDLE_SLICE, WAIT_SLICE,
};
use crate::transport::wire::payload_capacity;
use crate::transport::workload::one_request_at_a_time;

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "ipc-channel",
    display_name: "ipc-channel",
    addressing: Addressing::SocketFile {
        scheme: "ipc-channel://",
    },
    connect: |endpoint, options, watch| Ok(Box::new(connect(endpoint, options, watch)?)),
    bind: |endpoint, options| Ok(Box::new(bind(endpoint, options)?)),
    summary: "servo's ipc-channel: a one-shot rendezvous, then a bytes channel each way",
    supports: |workload| {
        one_request_at_a_time(
            workload,
            "ipc-channel's sends block with nothing to poll, so a client could not read \
             replies while a request waits for room: both sides could block on full buffers",
        )
    },
    serves_one_client: true,
    ..TransportSpec::DEFAULTS
};

/// The one message of the rendezvous: the ends of the two bytes channels the server keeps.
#[derive(serde::Serialize, serde::Deserialize)]
struct Hello {
    requests: IpcBytesReceiver,
    replies: IpcBytesSender,
}

/// How far above `SIGRTMIN` the signal that ends a blocked call is (glibc keeps the real-time
/// signals it needs below `SIGRTMIN`).
const WAKE_SIGNAL_OFFSET: c_int = 5;

/// The signal a [`Watchdog`] sends to the thread whose blocked call it ends.
fn wake_signal() -> c_int {
    libc::SIGRTMIN() + WAKE_SIGNAL_OFFSET
}

extern "C" fn wake(_signal: c_int) {
    // Nothing to do: the signal is there to end a system call with EINTR.
}

/// Installs the handler of [`wake_signal`] once per process, without `SA_RESTART`, so that a
/// system call it interrupts returns `EINTR` instead of being restarted.
fn install_wake_handler() -> Result<(), TransportError> {
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        // SAFETY: an all-zero sigaction is valid; the handler does nothing, which is
        // async-signal-safe; sa_mask is emptied before use.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = wake as extern "C" fn(c_int) as libc::sighandler_t;
            action.sa_flags = 0;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(wake_signal(), &action, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
            }
        }
        Ok(())
    });
    installed.map_err(|errno| {
        TransportError::io(
            "installing the handler that ends ipc-channel's blocked calls",
            std::io::Error::from_raw_os_error(errno),
        )
    })
}

/// A stop flag lent to the watchdog for the length of one wait.
struct StopRef(*const AtomicBool);

// SAFETY: the pointer is only dereferenced by the watchdog under the state's lock while the
// wait that lent it is registered, and `Watchdog::wait` unregisters it (under the same lock)
// before the reference it came from can end; AtomicBool itself is Sync.
unsafe impl Send for StopRef {}

/// The blocking call in progress, as the watchdog sees it.
struct Wait {
    thread: libc::pthread_t,
    what: &'static str,
    stop: Option<StopRef>,
    timeout: Option<Duration>,
    /// When the watchdog first saw it: the timeout counts from there, so a wait may last up to
    /// one slice longer than its timeout, as with the sockets' timeouts.
    seen: Option<Instant>,
    verdict: Option<TransportError>,
}

#[derive(Default)]
struct State {
    closed: bool,
    wait: Option<Wait>,
}

struct Shared {
    state: Mutex<State>,
    tick: Condvar,
    slice: Duration,
    watch: Option<Arc<dyn PeerWatch>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Bounds the library's blocking calls: see the module's doc.
struct Watchdog {
    shared: Arc<Shared>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

/// What a wait may be ended by, besides its call returning.
struct Bounds<'a> {
    what: &'static str,
    stop: Option<&'a AtomicBool>,
    timeout: Option<Duration>,
}

impl Watchdog {
    fn new(slice: Duration, watch: Option<Arc<dyn PeerWatch>>) -> Result<Watchdog, TransportError> {
        install_wake_handler()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            tick: Condvar::new(),
            slice,
            watch,
        });
        let ticking = Arc::clone(&shared);
        let ticker = std::thread::Builder::new()
            .name("ipc-channel-watchdog".into())
            .spawn(move || tick(&ticking))
            .map_err(|e| TransportError::io("starting ipc-channel's watchdog thread", e))?;
        Ok(Watchdog {
            shared,
            ticker: Some(ticker),
        })
    }

    /// Runs `call` (one of the library's blocking calls) under the watchdog. Returns what it
    /// returned, and the verdict that ended it if the watchdog interrupted it.
    fn wait<T>(&self, bounds: Bounds<'_>, call: impl FnOnce() -> T) -> (T, Option<TransportError>) {
        struct Registered<'a>(&'a Shared);
        impl Drop for Registered<'_> {
            fn drop(&mut self) {
                self.0.lock().wait = None;
            }
        }
        self.shared.lock().wait = Some(Wait {
            // SAFETY: pthread_self has no preconditions.
            thread: unsafe { libc::pthread_self() },
            what: bounds.what,
            stop: bounds.stop.map(|stop| StopRef(stop)),
            timeout: bounds.timeout,
            seen: None,
            verdict: None,
        });
        // Unregisters the wait even if `call` panics: the watchdog must not outlive the
        // stop flag it was lent.
        let registered = Registered(&self.shared);
        let result = call();
        let wait = self.shared.lock().wait.take();
        // Already unregistered: one lock less on the fast path.
        std::mem::forget(registered);
        (result, wait.and_then(|wait| wait.verdict))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.tick.notify_all();
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

/// The watchdog's thread: every slice, judges the wait in progress and interrupts it once it
/// is over, again every slice until it has returned.
fn tick(shared: &Shared) {
    let mut state = shared.lock();
    while !state.closed {
        state = match shared.tick.wait_timeout(state, shared.slice) {
            Ok((state, _)) => state,
            Err(poisoned) => poisoned.into_inner().0,
        };
        let Some(wait) = state.wait.as_mut() else {
            continue;
        };
        if wait.verdict.is_none() {
            wait.verdict = judge(wait, shared.watch.as_deref());
        }
        if wait.verdict.is_some() {
            // SAFETY: the thread is alive: it registered the wait and is still inside
            // `Watchdog::wait`, which unregisters it (under this lock) before returning.
            unsafe { libc::pthread_kill(wait.thread, wake_signal()) };
        }
    }
}

/// Whether the wait must end, and why.
fn judge(wait: &mut Wait, watch: Option<&dyn PeerWatch>) -> Option<TransportError> {
    if let Some(stop) = &wait.stop {
        // SAFETY: see StopRef: the wait is registered, so the flag it lent is alive.
        if unsafe { &*stop.0 }.load(Ordering::Relaxed) {
            return Some(TransportError::Interrupted);
        }
    }
    if let Some(Err(e)) = watch.map(|watch| watch.check()) {
        return Some(e);
    }
    let now = Instant::now();
    let seen = *wait.seen.get_or_insert(now);
    match wait.timeout {
        Some(timeout) if now.duration_since(seen) >= timeout => Some(TransportError::Timeout {
            what: wait.what.to_string(),
            timeout,
        }),
        _ => None,
    }
}

/// The channel to the peer broke: give the watch a moment to say why (a dead server), else
/// report the channel's own words.
fn peer_gone(watch: &dyn PeerWatch, how: &str) -> TransportError {
    objection_within(watch, EXIT_SEEN_GRACE).unwrap_or_else(|| {
        TransportError::PeerGone(format!("the ipc-channel to the peer closed: {how}"))
    })
}

/// The requesting side: the request channel's sender, the reply channel's receiver, and the
/// last reply as the library allocated it.
struct IpcChannelClient {
    requests: IpcBytesSender,
    replies: IpcBytesReceiver,
    reply: Vec<u8>,
    capacity: usize,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
    watchdog: Watchdog,
}

fn connect(
    endpoint: &Endpoint,
    options: TransportOptions,
    watch: Arc<dyn PeerWatch>,
) -> Result<IpcChannelClient, TransportError> {
    let (path, buffer_size) = endpoint.socket_file(KIND.name())?;
    checked_path(path)?;
    let name = path.to_str().ok_or_else(|| {
        TransportError::Protocol(format!("{} is not a UTF-8 path", path.display()))
    })?;
    let rendezvous = retry_until_created(
        &mut WaitBudget::new(options.timeout, watch.as_ref()),
        || {
            IpcSender::<Hello>::connect(name.to_string())
                .map_err(|e| TransportError::io(format!("connecting to {name}"), e))
        },
        |e| match e {
            TransportError::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                Some(format!("an ipc-channel server at {name} ({source})"))
            }
            _ => None,
        },
    )?;
    let channel = |what| {
        ipc::bytes_channel()
            .map_err(|e| TransportError::io(format!("making the {what} channel"), e))
    };
    let (requests, server_requests) = channel("request")?;
    let (server_replies, replies) = channel("reply")?;
    rendezvous
        .send(Hello {
            requests: server_requests,
            replies: server_replies,
        })
        .map_err(|e| TransportError::Protocol(format!("sending the rendezvous to {name}: {e}")))?;
    Ok(IpcChannelClient {
        requests,
        replies,
        reply: Vec::new(),
        capacity: payload_capacity(buffer_size),
        timeout: options.timeout,
        watchdog: Watchdog::new(WAIT_SLICE, Some(Arc::clone(&watch)))?,
        watch,
    })
}

impl IpcChannelClient {
    fn bounds(&self, what: &'static str) -> Bounds<'static> {
        Bounds {
            what,
            stop: None,
            timeout: Some(self.timeout),
        }
    }

    fn send_bounded(&mut self, message: &[u8], what: &'static str) -> Result<(), TransportError> {
        check_message_fits(message.len(), self.capacity)?;
        let requests = &self.requests;
        let (sent, verdict) = (self.watchdog).wait(self.bounds(what), || requests.send(message));
        match (sent, verdict) {
            // The kernel may complete a sendmsg that the watchdog's signal woke (seen at the
            // end of a stream to a stalled server): the send still waited out the timeout,
            // and the next one would wait it out again.
            (Ok(()), Some(timeout @ TransportError::Timeout { .. })) => Err(timeout),
            (Ok(()), _) => Ok(()),
            (Err(_), Some(verdict)) => Err(verdict),
            (Err(e), None) if is_hang_up(&e) => Err(peer_gone(self.watch.as_ref(), &e.to_string())),
            (Err(e), None) => Err(TransportError::io(format!("sending {what}"), e)),
        }
    }

    /// Receives the reply into the library's own buffer, kept in `self.reply`; returns its
    /// length once it is known to fit `accepted` bytes.
    fn receive_reply(&mut self, accepted: usize) -> Result<usize, TransportError> {
        let replies = &self.replies;
        let (received, verdict) = (self.watchdog).wait(self.bounds("the reply"), || replies.recv());
        self.reply = match (received, verdict) {
            (Ok(reply), _) => reply,
            (Err(_), Some(verdict)) => return Err(verdict),
            (Err(IpcError::Disconnected), None) => {
                return Err(peer_gone(self.watch.as_ref(), "no sender is left"))
            }
            (Err(IpcError::Io(e)), None) if is_hang_up(&e) => {
                return Err(peer_gone(self.watch.as_ref(), &e.to_string()))
            }
            (Err(e), None) => {
                return Err(TransportError::Protocol(format!(
                    "receiving the reply: {e}"
                )))
            }
        };
        check_reply_fits(self.reply.len(), accepted)?;
        Ok(self.reply.len())
    }
}

impl TransportClient for IpcChannelClient {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        let len = self.round_trip_in_place(request, &mut [])?.len();
        // round_trip_in_place checked it against the capacity only; a caller's buffer may be
        // smaller.
        check_reply_fits(len, response.len())?;
        response[..len].copy_from_slice(&self.reply);
        Ok(len)
    }

    /// The reply stays in the buffer the library allocated for it: no copy of ours.
    fn round_trip_in_place<'a>(
        &'a mut self,
        request: &[u8],
        scratch: &'a mut [u8],
    ) -> Result<&'a [u8], TransportError> {
        self.send_bounded(request, "the request")?;
        // The in-place reply may be as long as the server's buffer carries, whatever the
        // scratch buffer holds (it is not used).
        let _ = scratch;
        let len = self.receive_reply(self.capacity)?;
        Ok(&self.reply[..len])
    }

    /// One `send` and nothing else: it waits only while the kernel's buffer for the server is
    /// full (the stream's flow control), within the timeout.
    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        self.send_bounded(message, "a stream message")
    }
}

/// The echoing side: the one-shot server until its client came, then that client's channels.
struct IpcChannelServer {
    // Field order is drop order: the channels and the one-shot server (whose directory it
    // removes) before the watchdog.
    rendezvous: Option<IpcOneShotServer<Hello>>,
    /// The endpoint's path, never bound (the crate chooses its own), claimed so that its
    /// private directory goes when the server does, even if the driver was killed.
    _endpoint: SocketFile,
    name: String,
    client: Option<Hello>,
    /// The descriptor of the client's request channel, which [`receive_within`] peeks at:
    /// read and checked once, when the client is accepted.
    request_socket: c_int,
    /// The request handed out and not answered yet, in the buffer the library allocated.
    request: Option<Vec<u8>>,
    capacity: usize,
    timeout: Duration,
    dropped: Dropped,
    watchdog: Watchdog,
}

/// Why the server ended its client's exchange itself, for its closing words.
#[derive(Default)]
struct Dropped {
    oversized: u64,
    failed: Option<String>,
}

fn bind(
    endpoint: &Endpoint,
    options: TransportOptions,
) -> Result<IpcChannelServer, TransportError> {
    let (path, buffer_size) = endpoint.socket_file(KIND.name())?;
    let endpoint = SocketFile::claim(path)?;
    // The crate makes the one-shot socket in a fresh directory of tempfile's choosing: inside
    // the endpoint's own directory, so that whoever owns that one (the driver's private
    // directory) removes it with everything in it. Once per process, which serves once.
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        let _ = tempfile::env::override_temp_dir(dir);
    }
    let (rendezvous, name) = IpcOneShotServer::<Hello>::new()
        .map_err(|e| TransportError::io("making ipc-channel's one-shot server", e))?;
    Ok(IpcChannelServer {
        rendezvous: Some(rendezvous),
        _endpoint: endpoint,
        name,
        client: None,
        request_socket: -1,
        request: None,
        capacity: payload_capacity(buffer_size),
        timeout: options.timeout,
        dropped: Dropped::default(),
        watchdog: Watchdog::new(IDLE_SLICE, None)?,
    })
}

impl IpcChannelServer {
    /// Waits for the one client to connect and say hello; false if `stop` came first.
    fn accept(&mut self, stop: &AtomicBool) -> Result<bool, TransportError> {
        let Some(rendezvous) = self.rendezvous.take() else {
            return Ok(true);
        };
        let bounds = Bounds {
            what: "a client",
            stop: Some(stop),
            timeout: None,
        };
        let (accepted, verdict) = self.watchdog.wait(bounds, || rendezvous.accept());
        match (accepted, verdict) {
            (Ok((_, hello)), _) => {
                self.request_socket = receiving_socket(&hello.requests).map_err(|e| {
                    TransportError::Protocol(format!("accepting a client at {}: {e}", self.name))
                })?;
                self.client = Some(hello);
                Ok(true)
            }
            (Err(_), Some(TransportError::Interrupted)) => Ok(false),
            (Err(e), _) => Err(TransportError::Protocol(format!(
                "accepting a client at {}: {e}",
                self.name
            ))),
        }
    }

    /// The client left or was dropped: no other can come to a one-shot server.
    fn end_client(&mut self, failure: Option<String>) {
        self.client = None;
        if failure.is_some() {
            self.dropped.failed = failure;
        }
    }
}

/// A message whose first fragment announces more than the server's buffer carries.
struct TooLong;

/// What ipc-channel's first fragment of a message starts with: its own size and the whole
/// message's, each a `usize` (its `platform/unix` `send_first_fragment`). Its `recv` allocates
/// the whole message's size as soon as it has read them, before the rest has come.
const FRAGMENT_HEADER_LEN: usize = 2 * std::mem::size_of::<usize>();

/// The next message of `requests` (whose socket is `socket`), or [`TooLong`] without
/// receiving it when its first
/// fragment announces more than `capacity` bytes: ipc-channel would allocate whatever a
/// message announces (a 700 MB request made a server of a 2.5 MB buffer allocate 669 MiB
/// before it refused the message: issue 27, #9). The wait is the peek's, bounded by the
/// watchdog as the library's own receive was; the receive that follows finds the message there.
fn receive_within(
    requests: &IpcBytesReceiver,
    socket: c_int,
    capacity: usize,
) -> Result<Result<Vec<u8>, TooLong>, IpcError> {
    let announced = peek_announced_len(socket)?;
    if announced.is_some_and(|len| len > capacity) {
        refuse_message(socket);
        return Ok(Err(TooLong));
    }
    requests.recv().map(Ok)
}

// ipc-channel (0.23, Linux) keeps nothing in an `IpcBytesReceiver` but its socket's descriptor
// (`IpcBytesReceiver { os_receiver: OsIpcReceiver { fd: Cell<c_int> } }`), and its API has no
// way to ask for it. A value the size of one c_int that holds a c_int holds it at offset 0 and
// nothing else: so checked here, when this compiles, against the version built with.
const _: () = assert!(std::mem::size_of::<IpcBytesReceiver>() == std::mem::size_of::<c_int>());

/// The descriptor of the socket `receiver` receives on, checked to be the `SOCK_SEQPACKET`
/// socket ipc-channel receives on, so that a different layout of a later version is an
/// error and never a peek at some other descriptor.
fn receiving_socket(receiver: &IpcBytesReceiver) -> Result<c_int, IpcError> {
    // SAFETY: the receiver is exactly one c_int (asserted above), which its own code reads
    // and writes only through `&mut` or its `Cell` on this thread; an unaligned or torn read is
    // impossible for an aligned 4-byte value read while nothing writes it.
    let fd = unsafe { std::ptr::read((receiver as *const IpcBytesReceiver).cast::<c_int>()) };
    let mut kind: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: kind and len are valid for the call and sized as SO_TYPE's answer.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut kind).cast(),
            &mut len,
        )
    };
    match rc == 0 && kind == libc::SOCK_SEQPACKET {
        true => Ok(fd),
        false => Err(IpcError::Io(std::io::Error::other(
            "ipc-channel's receiver is not the SOCK_SEQPACKET socket this version keeps: cannot bound what it allocates",
        ))),
    }
}

/// Waits for the next message on `fd` and reads, without taking it, the whole message's
/// size that its first fragment announces; None for a message too short to announce one (the
/// library's receive judges it) and at the end of the stream (the peer is gone).
fn peek_announced_len(fd: c_int) -> Result<Option<usize>, IpcError> {
    let mut header = [0u8; FRAGMENT_HEADER_LEN];
    // SAFETY: header is writable for its whole length; MSG_PEEK leaves the message queued
    // (and its descriptors with it, for the receive that follows).
    let read = unsafe { libc::recv(fd, header.as_mut_ptr().cast(), header.len(), libc::MSG_PEEK) };
    let read = usize::try_from(read).map_err(|_| IpcError::Io(std::io::Error::last_os_error()))?;
    if read < FRAGMENT_HEADER_LEN {
        return Ok(None);
    }
    let (_, total) = header.split_at(std::mem::size_of::<usize>());
    Ok(total.try_into().ok().map(usize::from_ne_bytes))
}

/// The most descriptors ipc-channel sends with one message (its `MAX_FDS_IN_CMSG`).
const MAX_FDS_IN_MESSAGE: usize = 64;

/// Takes the peeked message's first fragment off `fd` without its bytes, and shuts down every
/// socket it carried: among them the receiving end of the channel ipc-channel made for the
/// rest of the message, so that the sender's next fragment fails (`EPIPE`) at once instead of
/// waiting for a reader that will never come (the sender keeps a copy of that end open for
/// the whole send, so closing ours alone would not do).
fn refuse_message(fd: c_int) {
    let mut header = [0u8; FRAGMENT_HEADER_LEN];
    // u64s: a control buffer must be aligned for `cmsghdr`.
    let mut control = [0u64; MAX_FDS_IN_MESSAGE / 2 + 4];
    let mut part = libc::iovec {
        iov_base: header.as_mut_ptr().cast(),
        iov_len: header.len(),
    };
    // SAFETY: an all-zero msghdr is valid; it points only to the locals above, which outlive
    // the call, with their true lengths; the kernel writes no more than those into them, and
    // the control messages are walked with the CMSG macros within `msg_controllen`.
    unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &raw mut part;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = std::mem::size_of_val(&control);
        let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
        if libc::recvmsg(fd, &mut message, flags) < 0 {
            return;
        }
        let mut header = libc::CMSG_FIRSTHDR(&message);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let fds = libc::CMSG_DATA(header).cast::<c_int>();
                let bytes = (*header).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for index in 0..bytes / std::mem::size_of::<c_int>() {
                    let carried = std::ptr::read_unaligned(fds.add(index));
                    libc::shutdown(carried, libc::SHUT_RDWR);
                    libc::close(carried);
                }
            }
            header = libc::CMSG_NXTHDR(&message, header);
        }
    }
}

/// Waits for `stop`, in slices: what a one-shot server does once its client has gone.
fn wait_for_stop(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(IDLE_SLICE);
    }
}

impl TransportServer for IpcChannelServer {
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.request = None;
        if !self.accept(stop)? {
            return Ok(None);
        }
        loop {
            let Some(client) = self.client.as_ref() else {
                wait_for_stop(stop);
                return Ok(None);
            };
            let bounds = Bounds {
                what: "a request",
                stop: Some(stop),
                timeout: None,
            };
            let requests = &client.requests;
            let (socket, capacity) = (self.request_socket, self.capacity);
            let (received, verdict) =
                (self.watchdog).wait(bounds, || receive_within(requests, socket, capacity));
            match (received, verdict) {
                (Ok(Err(TooLong)), _) => {
                    // As a framed server drops a client whose frame is too long: before the
                    // library has allocated anything for it.
                    self.dropped.oversized += 1;
                    self.end_client(None);
                }
                (Ok(Ok(request)), _) => {
                    let len = request.len();
                    self.request = Some(request);
                    return Ok(Some(len));
                }
                (Err(_), Some(_)) => return Ok(None),
                (Err(IpcError::Disconnected), None) => self.end_client(None),
                (Err(e), None) => self.end_client(Some(format!("receiving a request: {e}"))),
            }
        }
    }

    fn reply(&mut self, stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError> {
        let mut request = self.request.take().or_no_request()?;
        let Some(client) = self.client.as_ref() else {
            return Ok(EchoOutcome::PeerLeft);
        };
        match reply {
            Reply::Echo => {}
            Reply::FlipByte(offset) => {
                if let Some(byte) = request.get_mut(offset) {
                    *byte ^= 0xff;
                }
            }
            // More than the client's buffer carries.
            Reply::Misframed => request.resize(self.capacity + 1, 0),
        }
        let bounds = Bounds {
            what: "the reply",
            stop: Some(stop),
            timeout: Some(self.timeout),
        };
        let replies = &client.replies;
        let (sent, verdict) = self.watchdog.wait(bounds, || replies.send(&request));
        match (sent, verdict) {
            (Ok(()), _) => Ok(EchoOutcome::Echoed),
            (Err(_), Some(TransportError::Interrupted)) => Ok(EchoOutcome::Stopped),
            (Err(_), Some(verdict)) => {
                self.end_client(Some(verdict.to_string()));
                Ok(EchoOutcome::PeerLeft)
            }
            (Err(e), None) if is_hang_up(&e) => {
                self.end_client(None);
                Ok(EchoOutcome::PeerLeft)
            }
            (Err(e), None) => {
                self.end_client(Some(format!("sending a reply: {e}")));
                Ok(EchoOutcome::PeerLeft)
            }
        }
    }

    fn inspect(&mut self, look: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        look(self.request.as_deref().or_no_request()?);
        Ok(())
    }

    fn consume(&mut self) -> Result<(), TransportError> {
        self.request.take().map(drop).or_no_request()
    }

    fn closing_words(&mut self) -> Option<String> {
        let mut parts = Vec::new();
        if self.dropped.oversized > 0 {
            parts.push(format!(
                "dropped its client, whose message was longer than the {}-byte limit",
                self.capacity
            ));
        }
        if let Some(failure) = &self.dropped.failed {
            parts.push(format!("ended its client's exchange: {failure}"));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// The one-shot server's name, which the crate chose: where the client connects.
    fn ready_address(&self) -> Option<String> {
        Some(self.name.clone())
    }
}
