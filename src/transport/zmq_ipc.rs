//! ZeroMQ IPC: a REQ socket (client) and a REP socket (server) over an `ipc://` Unix socket.
//!
//! libzmq moves bytes on its own I/O thread in each process, so a round trip costs two copies per
//! direction (into and out of a zmq message) plus the thread hand-offs; the server echoes the
//! received message itself, without another copy.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::socket_file::{checked_path, SocketFile};
use super::toolkit::{
    check_reply_fits, idle_until_request, payload_capacity, WaitBudget, IDLE_SLICE, WAIT_SLICE,
};
use super::{
    Addressing, EchoOutcome, PeerWatch, Tamper, TransportClient, TransportError, TransportKind,
    TransportOptions, TransportServer, TransportSpec,
};

fn endpoint_of(path: &Path) -> Result<String, TransportError> {
    Ok(format!("ipc://{}", checked_path(path)?))
}

fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis())
        .unwrap_or(i32::MAX)
        .max(1)
}

fn new_socket(
    kind: zmq::SocketType,
    rcv: Duration,
    snd: Duration,
) -> Result<(zmq::Context, zmq::Socket), TransportError> {
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
    Ok((context, socket))
}

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "zmq-ipc",
    display_name: "ZeroMQ IPC",
    addressing: Addressing::SocketFile { scheme: "ipc://" },
    connect: |endpoint, options, watch| {
        let (path, _) = endpoint.socket_file(KIND)?;
        Ok(Box::new(ZmqIpcClient::connect(path, options, watch)?))
    },
    bind: |endpoint, options| {
        let (path, buffer_size) = endpoint.socket_file(KIND)?;
        Ok(Box::new(ZmqIpcServer::bind(path, buffer_size, options)?))
    },
    channel_objects: |_| Vec::new(),
};

/// The requesting side: a REQ socket connected to the server's endpoint.
pub struct ZmqIpcClient {
    // Field order is drop order: the socket must close before its context terminates.
    socket: zmq::Socket,
    _context: zmq::Context,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
}

impl ZmqIpcClient {
    /// Connects to `path`. ZeroMQ connects in the background, so a missing server shows up as a
    /// timeout of the first round trip.
    pub fn connect(
        path: &Path,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<ZmqIpcClient, TransportError> {
        let endpoint = endpoint_of(path)?;
        let (context, socket) = new_socket(zmq::REQ, WAIT_SLICE, WAIT_SLICE)?;
        socket
            .connect(&endpoint)
            .map_err(|e| TransportError::zmq(format!("connecting to {endpoint}"), e))?;
        Ok(ZmqIpcClient {
            socket,
            _context: context,
            timeout: options.timeout,
            watch,
        })
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
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => budget.slice_expired(what)?,
                Err(e) => return Err(TransportError::zmq(what, e)),
            }
        }
    }
}

impl TransportClient for ZmqIpcClient {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        self.retry_slices("sending the request", || self.socket.send(request, 0))?;
        let len = self.retry_slices("the reply", || self.socket.recv_into(response, 0))?;
        check_reply_fits(len, response.len())?;
        if self
            .socket
            .get_rcvmore()
            .map_err(|e| TransportError::zmq("reading RCVMORE", e))?
        {
            return Err(TransportError::Protocol(
                "the reply has more than one part; an echo has exactly one".into(),
            ));
        }
        Ok(len)
    }
}

/// The echoing side: a REP socket bound to a socket file in a private directory.
pub struct ZmqIpcServer {
    // Field order is drop order: close the sockets, end the context, then remove the file.
    socket: zmq::Socket,
    monitor: zmq::Socket,
    _context: zmq::Context,
    _file: SocketFile,
    disconnects: u64,
}

/// Where the REP socket reports its connection events (one server per process).
const MONITOR_ENDPOINT: &str = "inproc://echo-server-events";

impl ZmqIpcServer {
    /// `buffer_size` bounds what a client can make the server allocate: libzmq drops (and
    /// disconnects) a peer whose frame announces more than the payload capacity, before
    /// allocating anything for it.
    pub fn bind(
        path: &Path,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<ZmqIpcServer, TransportError> {
        let endpoint = endpoint_of(path)?;
        let file = SocketFile::claim(path)?;
        let (context, socket) = new_socket(zmq::REP, IDLE_SLICE, options.timeout)?;
        let max_message = i64::try_from(payload_capacity(buffer_size)).unwrap_or(i64::MAX);
        let zmq_error = |op: &'static str| move |e| TransportError::zmq(op, e);
        socket
            .set_maxmsgsize(max_message)
            .map_err(zmq_error("setting ZMQ_MAXMSGSIZE"))?;
        socket
            .monitor(MONITOR_ENDPOINT, zmq::SocketEvent::DISCONNECTED as i32)
            .map_err(zmq_error("monitoring the socket"))?;
        let monitor = context
            .socket(zmq::PAIR)
            .map_err(zmq_error("creating the monitor socket"))?;
        monitor
            .connect(MONITOR_ENDPOINT)
            .map_err(zmq_error("connecting the monitor socket"))?;
        socket
            .bind(&endpoint)
            .map_err(|e| TransportError::zmq(format!("binding {endpoint}"), e))?;
        Ok(ZmqIpcServer {
            socket,
            monitor,
            _context: context,
            _file: file,
            disconnects: 0,
        })
    }

    /// Counts the disconnections libzmq reported since the last look. Called while idle only.
    fn count_disconnects(&mut self) {
        while let Ok(event) = self.monitor.recv_multipart(zmq::DONTWAIT) {
            let kind = event.first().and_then(|frame| frame.get(..2));
            if kind == Some(&(zmq::SocketEvent::DISCONNECTED as u16).to_le_bytes()[..]) {
                self.disconnects += 1;
            }
        }
    }
}

impl TransportServer for ZmqIpcServer {
    fn echo_one(
        &mut self,
        stop: &AtomicBool,
        tamper: Tamper,
    ) -> Result<EchoOutcome, TransportError> {
        let mut message = zmq::Message::new();
        // The socket's receive timeout is the idle slice (set in `bind`).
        let received = idle_until_request(stop, || match self.socket.recv(&mut message, 0) {
            Ok(()) => Ok(true),
            Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => {
                self.count_disconnects();
                Ok(false)
            }
            Err(e) => Err(TransportError::zmq("receiving a request", e)),
        })?;
        if !received {
            return Ok(EchoOutcome::Stopped);
        }
        if message.get_more() {
            return Err(TransportError::Protocol(
                "the request has more than one part; an echo request has exactly one".into(),
            ));
        }
        let sent = match tamper {
            Tamper::Swallow => return Ok(EchoOutcome::Echoed),
            Tamper::None => self.socket.send(message, 0),
            Tamper::FlipByte(offset) => {
                if let Some(byte) = message.get_mut(offset) {
                    *byte ^= 0xff;
                }
                self.socket.send(message, 0)
            }
            Tamper::BadLength => {
                let mut longer = message.to_vec();
                longer.push(0);
                self.socket.send(longer, 0)
            }
        };
        sent.map_err(|e| TransportError::zmq("sending the reply", e))?;
        Ok(EchoOutcome::Echoed)
    }

    fn closing_words(&mut self) -> Option<String> {
        self.count_disconnects();
        (self.disconnects > 0).then(|| {
            format!(
                "libzmq disconnected {} peer(s): clients that hung up, or sent a frame over ZMQ_MAXMSGSIZE (libzmq does not say which)",
                self.disconnects
            )
        })
    }
}
