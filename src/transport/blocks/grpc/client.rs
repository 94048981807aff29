//! The client: a tonic `Channel` on one Unix socket connection, HTTP/2, and the benchmark's
//! synchronous calls, each one `block_on` of an async call on tokio's multi-thread runtime.
//!
//! - A round trip is a unary `Echo` call (a `Stream` call's end in a stream pattern, see below).
//! - `--in-flight N`: each request is a unary call spawned as a task of its own, so that N calls
//!   are open at once on the one HTTP/2 connection, as a gRPC client's concurrent calls are;
//!   their replies are collected in the order of the requests, each from its own task.
//! - A stream (and one-way latencies): one bidirectional `Stream` call for the connection's
//!   life; each message goes into the call's request stream, and a stream's end is a round
//!   trip on that same call, so that it arrives after the messages before it.
//!
//! Every wait is bounded by `--timeout`, in slices that ask the peer's watch
//! ([`bounded`]). The connection is the one the caller connected: tonic is handed it once, and
//! a connection that ends is not replaced (a new server would be a different peer).

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::io::ErrorKind;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use prost::bytes::Bytes;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status, Streaming};
use tonic_prost::ProstCodec;

use super::service::{
    encoded_limit, window_bytes, Payload, CONNECTION_WINDOW, ECHO_PATH, STREAM_PATH,
};
use crate::transport::blocks::framing::{bounded, TokioRuntime};
use crate::transport::blocks::payload::{check_message_fits, check_reply_fits};
use crate::transport::error::TransportError;
use crate::transport::spec::{Pattern, TransportClient};
use crate::transport::wait::{ready_before, PeerWatch};
use crate::transport::wire::payload_capacity;

/// Messages of a stream handed to the call ahead of tonic: one, so that a stream waits in
/// HTTP/2's flow control, not in a queue of the client's.
const STREAM_DEPTH: usize = 1;

/// The open `Stream` call: its request stream, and its response stream (the ends' echoes).
struct OpenStream {
    requests: mpsc::Sender<Payload>,
    replies: Streaming<Payload>,
}

/// A request in flight: its call's task, or the call's outcome once awaited.
enum InFlight {
    Running(JoinHandle<Result<Bytes, TransportError>>),
    Done(Result<Bytes, TransportError>),
}

/// The requesting side: a gRPC channel on one connection, and the runtime it runs on.
pub struct GrpcClient {
    grpc: Grpc<Channel>,
    /// Whether round trips go on the `Stream` call (the ends of a stream pattern).
    streams: bool,
    stream: Option<OpenStream>,
    in_flight: VecDeque<InFlight>,
    /// The last reply, where tonic decoded it: valid until the next call.
    reply: Bytes,
    capacity: usize,
    // Last, so that its runtime is dropped after everything that runs on it.
    waits: Waits,
}

/// Where the client's calls run and how long they may wait: apart from the calls' own state,
/// so that a call can borrow that state while it runs here.
struct Waits {
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
    runtime: Runtime,
}

impl Waits {
    /// Runs `call` to its end in one `block_on`, bounded by the timeout in slices that ask the
    /// watch; a slice that runs out names `what` it waited for.
    fn run<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = Result<T, TransportError>>,
    ) -> Result<T, TransportError> {
        let phase = Cell::new(what);
        (self.runtime).block_on(bounded(call, self.timeout, self.watch.as_ref(), &phase))
    }
}

impl GrpcClient {
    /// A client on `connected` (a socket the caller connected to the server), for `pattern`,
    /// carrying up to a `buffer_size`-byte buffer's payload capacity; every wait is bounded by
    /// `timeout`, in slices that ask `watch`.
    pub fn new(
        connected: UnixStream,
        pattern: Pattern,
        buffer_size: usize,
        timeout: Duration,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<GrpcClient, TransportError> {
        let capacity = payload_capacity(buffer_size);
        let runtime = TokioRuntime::MultiThread.start()?;
        let waits = Waits {
            timeout,
            watch,
            runtime,
        };
        let window = window_bytes(encoded_limit(capacity + 1));
        let channel = waits.run("the gRPC connection", open_channel(connected, window))?;
        let grpc = Grpc::new(channel)
            .max_decoding_message_size(encoded_limit(capacity))
            .max_encoding_message_size(encoded_limit(capacity));
        Ok(GrpcClient {
            grpc,
            streams: pattern != Pattern::RoundTrip,
            stream: None,
            in_flight: VecDeque::new(),
            reply: Bytes::new(),
            capacity,
            waits,
        })
    }

    /// One round trip: a unary `Echo`, or in a stream pattern an end and its echo on the
    /// `Stream` call. The reply is left in `self.reply`.
    fn exchange(&mut self, request: &[u8]) -> Result<&[u8], TransportError> {
        check_message_fits(request.len(), self.capacity)?;
        let data = Bytes::copy_from_slice(request);
        let reply = if self.streams {
            let open = opened(&mut self.stream, &mut self.grpc, &self.waits)?;
            let OpenStream { requests, replies } = open;
            let end = async {
                let sent = requests.send(Payload { data }).await;
                sent.map_err(|_| stream_ended())?;
                match replies.message().await {
                    Ok(Some(reply)) => Ok(reply.data),
                    Ok(None) => Err(stream_ended()),
                    Err(status) => Err(call_failed(status, "the end of a stream")),
                }
            };
            self.waits.run("the end of a stream's echo", end)?
        } else {
            self.waits.run("the reply", echo(&mut self.grpc, data))?
        };
        check_reply_fits(reply.len(), self.capacity)?;
        self.reply = reply;
        Ok(&self.reply)
    }
}

/// The `Stream` call held in `stream`, opened on `grpc` on first use.
fn opened<'a>(
    stream: &'a mut Option<OpenStream>,
    grpc: &mut Grpc<Channel>,
    waits: &Waits,
) -> Result<&'a mut OpenStream, TransportError> {
    let open = match stream.take() {
        Some(open) => open,
        None => {
            let (requests, outgoing) = mpsc::channel(STREAM_DEPTH);
            let replies = waits.run("the stream call", open_stream(grpc, outgoing))?;
            OpenStream { requests, replies }
        }
    };
    Ok(stream.insert(open))
}

/// Opens the `Stream` call, whose request stream is what comes out of `outgoing`; returns its
/// response stream once the server's response headers came.
async fn open_stream(
    grpc: &mut Grpc<Channel>,
    outgoing: mpsc::Receiver<Payload>,
) -> Result<Streaming<Payload>, TransportError> {
    ready(grpc).await?;
    let outgoing = Request::new(ReceiverStream::new(outgoing));
    let path = PathAndQuery::from_static(STREAM_PATH);
    let codec = ProstCodec::<Payload, Payload>::default();
    let response = grpc.streaming(outgoing, path, codec).await;
    let response = response.map_err(|s| call_failed(s, "the stream"))?;
    Ok(response.into_inner())
}

/// Connects tonic's channel through `connected`, handed over once: a channel that loses its
/// connection asks for another, and is refused.
async fn open_channel(connected: UnixStream, window: u32) -> Result<Channel, TransportError> {
    let mut once = Some(connected);
    let connector = tower::service_fn(move |_: http::Uri| {
        let taken = once.take();
        async move {
            let stream = taken.ok_or_else(|| {
                std::io::Error::new(
                    ErrorKind::NotConnected,
                    "the connection to the server ended",
                )
            })?;
            stream.set_nonblocking(true)?;
            tokio::net::UnixStream::from_std(stream).map(TokioIo::new)
        }
    });
    Endpoint::from_static("http://localhost")
        .initial_stream_window_size(window)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .connect_with_connector(connector)
        .await
        .map_err(|e| TransportError::library("tonic", "opening the gRPC channel", e))
}

/// Until the channel takes a call.
async fn ready(grpc: &mut Grpc<Channel>) -> Result<(), TransportError> {
    grpc.ready()
        .await
        .map_err(|e| TransportError::PeerGone(format!("the gRPC channel failed: {e}")))
}

/// One unary `Echo` call of `data`.
async fn echo(grpc: &mut Grpc<Channel>, data: Bytes) -> Result<Bytes, TransportError> {
    ready(grpc).await?;
    let path = PathAndQuery::from_static(ECHO_PATH);
    let codec = ProstCodec::<Payload, Payload>::default();
    let call = grpc.unary(Request::new(Payload { data }), path, codec);
    let reply = call.await.map_err(|s| call_failed(s, "an echo"))?;
    Ok(reply.into_inner().data)
}

/// Why the `Stream` call stopped taking messages: the server's status, when it ended the call
/// with one (tonic then stops sending the request stream, and only the response stream says
/// why), else that it ended.
async fn why_the_stream_ended(replies: &mut Streaming<Payload>) -> TransportError {
    match replies.message().await {
        Err(status) => call_failed(status, "the stream"),
        Ok(_) => stream_ended(),
    }
}

fn stream_ended() -> TransportError {
    TransportError::PeerGone("the server ended the gRPC stream call".into())
}

/// A failed call's status: the peer gone where it says the connection went (how tonic reports
/// a closed or reset HTTP/2 connection, or the server's GOAWAY as it stops), else tonic's error
/// with the status as its source.
fn call_failed(status: Status, what: &str) -> TransportError {
    match status.code() {
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Aborted => {
            let message = status.message();
            TransportError::PeerGone(format!("the gRPC call for {what} failed: {message}"))
        }
        Code::Internal if sent_away(&status) => TransportError::PeerGone(format!(
            "the gRPC call for {what} failed: the server sent GOAWAY (it is stopping)"
        )),
        _ => TransportError::library("tonic", format!("the gRPC call for {what}"), status),
    }
}

/// Whether the call failed on the server's GOAWAY: a server that stops mid-call (SIGTERM) says
/// so, and tonic reports it as an internal error ("h2 protocol error") unless the connection
/// closed first, a race a loaded machine decides either way.
fn sent_away(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return h2.is_go_away() && h2.is_remote();
        }
        source = error.source();
    }
    false
}

/// The outcome of a request in flight's task.
fn joined(
    outcome: Result<Result<Bytes, TransportError>, tokio::task::JoinError>,
) -> Result<Bytes, TransportError> {
    outcome.map_err(|e| TransportError::library("tokio", "a request in flight's task", e))?
}

impl TransportClient for GrpcClient {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        let reply = self.exchange(request)?;
        check_reply_fits(reply.len(), response.len())?;
        response[..reply.len()].copy_from_slice(reply);
        Ok(reply.len())
    }

    /// The reply where tonic decoded it: no copy into `scratch`.
    fn round_trip_in_place<'a>(
        &'a mut self,
        request: &[u8],
        scratch: &'a mut [u8],
    ) -> Result<&'a [u8], TransportError> {
        let accepted = scratch.len();
        let reply = self.exchange(request)?;
        check_reply_fits(reply.len(), accepted)?;
        Ok(reply)
    }

    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        check_message_fits(message.len(), self.capacity)?;
        let data = Bytes::copy_from_slice(message);
        let OpenStream { requests, replies } =
            opened(&mut self.stream, &mut self.grpc, &self.waits)?;
        self.waits.run("room in the stream", async {
            match requests.send(Payload { data }).await {
                Ok(()) => Ok(()),
                Err(_) => Err(why_the_stream_ended(replies).await),
            }
        })
    }

    /// Starts the call as a task of its own: it goes out on the runtime's threads meanwhile.
    fn submit(&mut self, request: &[u8]) -> Result<(), TransportError> {
        check_message_fits(request.len(), self.capacity)?;
        let (mut grpc, data) = (self.grpc.clone(), Bytes::copy_from_slice(request));
        let call = self
            .waits
            .runtime
            .spawn(async move { echo(&mut grpc, data).await });
        self.in_flight.push_back(InFlight::Running(call));
        Ok(())
    }

    fn collect<'a>(&'a mut self, scratch: &'a mut [u8]) -> Result<&'a [u8], TransportError> {
        let oldest = self
            .in_flight
            .pop_front()
            .ok_or(TransportError::NoRequest)?;
        let reply = match oldest {
            InFlight::Done(outcome) => outcome?,
            InFlight::Running(call) => self.waits.run("a reply", async { joined(call.await) })?,
        };
        check_reply_fits(reply.len(), self.capacity.min(scratch.len()))?;
        self.reply = reply;
        Ok(&self.reply)
    }

    fn await_reply_until(&mut self, until: Instant) -> Result<bool, TransportError> {
        let oldest = self
            .in_flight
            .front_mut()
            .ok_or(TransportError::NoRequest)?;
        let (runtime, watch) = (&self.waits.runtime, self.waits.watch.as_ref());
        ready_before(until, watch, |slice| {
            if let InFlight::Running(call) = oldest {
                let replied = async { tokio::time::timeout(slice, &mut *call).await };
                if let Ok(outcome) = runtime.block_on(replied) {
                    *oldest = InFlight::Done(joined(outcome));
                }
            }
            Ok(matches!(oldest, InFlight::Done(_)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_is_the_peer_gone_only_on_the_servers_goaway() {
        // A reset of the call (an h2 error, but not a GOAWAY) and a bare internal error stay
        // tonic's errors; the GOAWAY itself comes only from a real connection (tests/grpc.rs).
        let reset = Status::from_error(Box::new(h2::Error::from(h2::Reason::PROTOCOL_ERROR)));
        assert_eq!(reset.code(), Code::Internal, "{reset:?}");
        for status in [Status::internal("a fault"), reset] {
            assert!(!sent_away(&status), "{status:?}");
            let error = call_failed(status, "an echo");
            assert!(!matches!(error, TransportError::PeerGone(_)), "{error}");
        }
        let closed = call_failed(Status::unavailable("closed"), "an echo");
        assert!(matches!(closed, TransportError::PeerGone(_)), "{closed}");
    }
}
