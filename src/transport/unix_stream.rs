//! Unix stream: a plain `SOCK_STREAM` Unix domain socket, each message framed as in SHM POSIX
//! (a 4-byte native-endian `u32` length, then the payload).
//!
//! It is the kernel primitive under ZeroMQ IPC without ZeroMQ: per direction one `writev` and
//! one or more `read`s, the payload copied user → kernel → user. Comparing the two shows what
//! ZeroMQ's framing and I/O threads cost.

use std::io::{ErrorKind, IoSlice, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::socket_file::{checked_path, SocketFile};
use super::toolkit::{
    check_message_fits, decode_len, encode_len, idle_until_request, payload_capacity,
    retry_until_created, zeroed_buffer, WaitBudget, HEADER_LEN, IDLE_SLICE, WAIT_SLICE,
};
use super::{
    Addressing, EchoOutcome, NoWatch, PeerWatch, Tamper, TransportClient, TransportError,
    TransportKind, TransportOptions, TransportServer, TransportSpec,
};

fn is_hang_up(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
    )
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// For [`retry_until_created`]: no socket file yet, or nobody listening on it yet.
fn no_server_yet(path: &Path) -> impl Fn(&TransportError) -> Option<String> + '_ {
    move |e| match e {
        TransportError::Io { source, .. }
            if matches!(
                source.kind(),
                ErrorKind::NotFound | ErrorKind::ConnectionRefused
            ) =>
        {
            Some(format!("a server at {} ({source})", path.display()))
        }
        _ => None,
    }
}

/// Bounds every blocking read and write on `stream` by `timeout`.
fn set_timeouts(stream: &UnixStream, timeout: Duration) -> Result<(), TransportError> {
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| TransportError::io("setting socket timeouts", e))
}

/// Waits until `fd` is readable; false if `stop` was set first. Never times out by itself.
fn readable_unless_stopped(fd: &impl AsFd, stop: &AtomicBool) -> Result<bool, TransportError> {
    let idle_slice = PollTimeout::try_from(IDLE_SLICE).unwrap_or(PollTimeout::MAX);
    idle_until_request(stop, || {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, idle_slice) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(TransportError::os("polling the socket", e)),
        }
    })
}

/// Which way a [`Sliced`] transfer moves bytes, for its error texts.
#[derive(Clone, Copy)]
enum Transfer {
    Receive,
    Send,
}

/// Blocking I/O in slices of the socket's own timeout, within one [`WaitBudget`].
struct Sliced<'a> {
    budget: WaitBudget<'a>,
}

impl Sliced<'_> {
    fn new(timeout: Duration, watch: &dyn PeerWatch) -> Sliced<'_> {
        Sliced {
            budget: WaitBudget::new(timeout, watch),
        }
    }

    /// The connection broke: give the watch a moment to say why (a dead server is reported
    /// from waitpid), else report the socket's own words.
    fn peer_gone(&self, how: &str) -> TransportError {
        for _ in 0..10 {
            if let Err(e) = self.budget.watch().check() {
                return e;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        TransportError::PeerGone(format!("the connection to the peer broke: {how}"))
    }

    /// Judges one read or write of a transfer of `what`: Some(bytes moved), or None to try
    /// again (interrupted, or a slice ran out within the budget).
    fn progress(
        &mut self,
        result: std::io::Result<usize>,
        transfer: Transfer,
        what: &str,
    ) -> Result<Option<usize>, TransportError> {
        let (closed_while, op) = match transfer {
            Transfer::Receive => ("we waited for", "reading"),
            Transfer::Send => ("we sent", "sending"),
        };
        match result {
            Ok(0) => Err(self.peer_gone(&format!("closed while {closed_while} {what}"))),
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(None),
            Err(e) if is_hang_up(&e) => Err(self.peer_gone(&e.to_string())),
            Err(e) if is_timeout(&e) => self.budget.slice_expired(what).map(|()| None),
            Err(e) => Err(TransportError::io(format!("{op} {what}"), e)),
        }
    }

    fn read_full(
        &mut self,
        stream: &mut UnixStream,
        mut buf: &mut [u8],
        what: &str,
    ) -> Result<(), TransportError> {
        while !buf.is_empty() {
            let read = stream.read(buf);
            if let Some(n) = self.progress(read, Transfer::Receive, what)? {
                buf = &mut buf[n..];
            }
        }
        Ok(())
    }

    /// Writes header and payload with as few `writev` calls as the kernel allows.
    fn write_message(
        &mut self,
        stream: &mut UnixStream,
        payload: &[u8],
        what: &str,
    ) -> Result<(), TransportError> {
        let header = encode_len(payload.len());
        let mut parts = [IoSlice::new(&header), IoSlice::new(payload)];
        let mut parts: &mut [IoSlice<'_>] = &mut parts;
        while !parts.is_empty() {
            let written = stream.write_vectored(parts);
            if let Some(n) = self.progress(written, Transfer::Send, what)? {
                IoSlice::advance_slices(&mut parts, n);
            }
        }
        Ok(())
    }

    /// Reads a length header and checks it against what the receiver can hold.
    fn read_length(
        &mut self,
        stream: &mut UnixStream,
        capacity: usize,
        what: &str,
    ) -> Result<usize, TransportError> {
        let mut header = [0u8; HEADER_LEN];
        self.read_full(stream, &mut header, what)?;
        decode_len(header, capacity)
    }
}

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "unix-stream",
    display_name: "Unix stream",
    addressing: Addressing::SocketFile { scheme: "unix://" },
    connect: |endpoint, options, watch| {
        let (path, buffer_size) = endpoint.socket_file(KIND)?;
        let client = UnixStreamClient::connect(path, buffer_size, options, watch)?;
        Ok(Box::new(client))
    },
    bind: |endpoint, options| {
        let (path, buffer_size) = endpoint.socket_file(KIND)?;
        Ok(Box::new(UnixStreamServer::bind(
            path,
            buffer_size,
            options,
        )?))
    },
    channel_objects: |_| Vec::new(),
};

/// The requesting side: one connected stream.
pub struct UnixStreamClient {
    stream: UnixStream,
    capacity: usize,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
}

impl UnixStreamClient {
    /// Connects to `path`, retrying until `options.timeout` while the server is not there yet.
    pub fn connect(
        path: &Path,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<UnixStreamClient, TransportError> {
        checked_path(path)?;
        let connect = || {
            UnixStream::connect(path)
                .map_err(|e| TransportError::io(format!("connecting to {}", path.display()), e))
        };
        let stream = retry_until_created(
            &mut WaitBudget::new(options.timeout, watch.as_ref()),
            connect,
            no_server_yet(path),
        )?;
        set_timeouts(&stream, WAIT_SLICE)?;
        Ok(UnixStreamClient {
            stream,
            capacity: payload_capacity(buffer_size),
            timeout: options.timeout,
            watch,
        })
    }
}

impl TransportClient for UnixStreamClient {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        check_message_fits(request.len(), self.capacity)?;
        let mut sliced = Sliced::new(self.timeout, self.watch.as_ref());
        sliced.write_message(&mut self.stream, request, "the request")?;
        let capacity = self.capacity.min(response.len());
        let len = sliced.read_length(&mut self.stream, capacity, "the reply")?;
        sliced.read_full(&mut self.stream, &mut response[..len], "the reply")?;
        Ok(len)
    }
}

/// The echoing side: a listener, the connection being served, and one reusable buffer.
pub struct UnixStreamServer {
    // Field order is drop order: close the sockets before removing the file.
    connection: Option<UnixStream>,
    listener: UnixListener,
    buffer: Vec<u8>,
    timeout: Duration,
    _file: SocketFile,
}

impl UnixStreamServer {
    pub fn bind(
        path: &Path,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<UnixStreamServer, TransportError> {
        let file = SocketFile::claim(path)?;
        let listener = UnixListener::bind(path)
            .map_err(|e| TransportError::io(format!("binding {}", path.display()), e))?;
        Ok(UnixStreamServer {
            connection: None,
            listener,
            buffer: zeroed_buffer("request buffer", payload_capacity(buffer_size))?,
            timeout: options.timeout,
            _file: file,
        })
    }
}

impl TransportServer for UnixStreamServer {
    fn echo_one(
        &mut self,
        stop: &AtomicBool,
        tamper: Tamper,
    ) -> Result<EchoOutcome, TransportError> {
        let UnixStreamServer {
            connection,
            listener,
            buffer,
            timeout,
            ..
        } = self;
        loop {
            if connection.is_none() {
                if !readable_unless_stopped(listener, stop)? {
                    return Ok(EchoOutcome::Stopped);
                }
                let (stream, _) = listener
                    .accept()
                    .map_err(|e| TransportError::io("accepting a client", e))?;
                set_timeouts(&stream, *timeout)?;
                *connection = Some(stream);
            }
            let Some(stream) = connection.as_mut() else {
                continue;
            };
            if !readable_unless_stopped(stream, stop)? {
                return Ok(EchoOutcome::Stopped);
            }
            let mut header = [0u8; HEADER_LEN];
            let first = match stream.read(&mut header) {
                // Readable with nothing to read: the client hung up; serve the next one.
                Ok(0) => {
                    *connection = None;
                    continue;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if is_hang_up(&e) => {
                    *connection = None;
                    continue;
                }
                Err(e) => return Err(TransportError::io("reading a request", e)),
            };
            // A request has begun: from here on every wait is bounded by the timeout (the
            // stream's own read/write timeouts), and a stop is honoured after this echo.
            match echo_request(stream, header, first, buffer, *timeout, tamper) {
                // A client that hangs up mid-exchange ends its connection, not the server.
                Err(TransportError::PeerGone(_)) => *connection = None,
                other => return other,
            }
        }
    }
}

/// Reads the rest of a request whose first `first` header bytes are in `header`, and echoes it.
fn echo_request(
    stream: &mut UnixStream,
    mut header: [u8; HEADER_LEN],
    first: usize,
    buffer: &mut [u8],
    timeout: Duration,
    tamper: Tamper,
) -> Result<EchoOutcome, TransportError> {
    let capacity = buffer.len();
    let mut sliced = Sliced::new(timeout, &NoWatch);
    sliced.read_full(stream, &mut header[first..], "a request")?;
    let len = decode_len(header, capacity)?;
    let payload = &mut buffer[..len];
    sliced.read_full(stream, payload, "a request")?;
    match tamper {
        Tamper::Swallow => return Ok(EchoOutcome::Echoed),
        Tamper::FlipByte(offset) if offset < len => payload[offset] ^= 0xff,
        Tamper::BadLength => {
            // Announce more than any buffer of this size carries; send no payload.
            stream
                .write_all(&encode_len(capacity + 1))
                .map_err(|e| TransportError::io("sending the reply", e))?;
            return Ok(EchoOutcome::Echoed);
        }
        Tamper::FlipByte(_) | Tamper::None => {}
    }
    sliced.write_message(stream, payload, "the reply")?;
    Ok(EchoOutcome::Echoed)
}
