//! The gRPC service, as `tonic-prost-build` would generate it from
//!
//! ```proto
//! package transport_bench;
//! message Payload { bytes data = 1; }
//! service Echo {
//!   rpc Echo(Payload) returns (Payload);                    // round trips, requests in flight
//!   rpc Stream(stream Payload) returns (stream Payload);    // streams, one-way latencies
//! }
//! ```
//!
//! written by hand (see the [folder](super)). The service does no echoing itself: it hands each
//! request's payload, with where its answer goes ([`Handed`]), to the server's synchronous loop
//! through a queue, and answers with what the loop gives back, so that the loop checks, times
//! and tampers with requests as every other transport's server does.
//!
//! `Stream` is bidirectional, not client-streaming: a stream's end must arrive after its
//! messages, so it travels on the same HTTP/2 stream, and its acknowledgement comes back on that
//! call's response stream while the call stays open for the next stream (a client's warm-up, then
//! its timed stream). A client-streaming call answers once, when its request stream closes: one
//! call per stream, and the end known only from the call's close.

use std::convert::Infallible;
use std::task::{Context, Poll};

use prost::bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service};
use tonic::server::{Grpc, NamedService};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

/// The one message both methods carry: the payload as protobuf field 1, `bytes`, held as
/// [`Bytes`] so that decoding slices the received buffer instead of copying into a `Vec`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    #[prost(bytes = "bytes", tag = "1")]
    pub data: Bytes,
}

pub const SERVICE_NAME: &str = "transport_bench.Echo";
pub const ECHO_PATH: &str = "/transport_bench.Echo/Echo";
pub const STREAM_PATH: &str = "/transport_bench.Echo/Stream";

/// The largest payload gRPC carries: its message (a 1-byte tag, a length of up to 5 bytes, the
/// payload) must fit the 4-byte length of gRPC's message prefix.
pub const LARGEST_PAYLOAD: usize = u32::MAX as usize - 6;

/// The protobuf encoding's length of a [`Payload`] of `payload_bytes`: what tonic's message
/// size limits count.
pub fn encoded_limit(payload_bytes: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(payload_bytes as u64) + payload_bytes
}

/// The HTTP/2 flow-control window of a stream, on both sides: one whole message of
/// `encoded_bytes` (with gRPC's 5-byte prefix) may be on its way without waiting for a
/// `WINDOW_UPDATE`, instead of 64 KiB (HTTP/2's default, which would make a 2 MB message wait
/// for the peer's updates about 30 times); at most [`MAX_STREAM_WINDOW`].
pub fn window_bytes(encoded_bytes: usize) -> u32 {
    let wanted = encoded_bytes.saturating_add(5).max(65_535);
    wanted.min(MAX_STREAM_WINDOW as usize) as u32
}

/// The connection's window, on both sides: HTTP/2's largest, 2^31 - 1. Not for throughput: h2
/// (0.4.21) fails a connection whose peer has sent more small DATA frames (under 256 bytes)
/// than the receiver has read, past a budget of half the connection's window, each frame
/// costing 256 bytes less its own; hyper gives no way to set that budget. A one-way stream of
/// small messages to a server that reads them more slowly than they come fills a stream window
/// with such frames: with both windows one 2.5 MB message, 100 B messages (107-byte frames)
/// overran the 1.25 MB budget within about a second (`--pattern stream --sizes 100`). Half of
/// this window is 1 GiB, which [`MAX_STREAM_WINDOW`] of the smallest frames cannot reach
/// (`tests/grpc.rs`: 16 B messages to a server that reads none end in the timeout, where the
/// windows made equal end in h2's error).
pub const CONNECTION_WINDOW: u32 = i32::MAX as u32;

/// The largest stream window: what a stream of the smallest DATA frames (5 bytes: the gRPC
/// prefix of an empty message, 251 bytes of budget each) may hold stays within the budget of
/// [`CONNECTION_WINDOW`]: 20 MiB / 5 × 251 ≈ 1.05 × 10^9 < 2^30. A larger message waits for the
/// peer's `WINDOW_UPDATE`s past 20 MiB, as HTTP/2 has it wait.
pub const MAX_STREAM_WINDOW: u32 = 20 << 20;

/// Where the answer to a request handed to the server's loop goes.
pub enum Answer {
    /// The caller of a unary `Echo` awaits it.
    Unary(oneshot::Sender<Bytes>),
    /// The response stream of a `Stream` call (only a stream's end is answered).
    Stream(mpsc::Sender<Result<Payload, Status>>),
}

/// A request's payload, handed by the service to the server's loop.
pub struct Handed {
    pub payload: Bytes,
    pub answer: Answer,
}

/// The largest encoded messages each side of the server takes and gives.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub decoding: usize,
    pub encoding: usize,
}

/// The `transport_bench.Echo` service: routes each call by its method's path to tonic's codec
/// and hands its requests to `queue`.
#[derive(Clone)]
pub struct EchoService {
    pub queue: mpsc::Sender<Handed>,
    pub limits: Limits,
}

impl NamedService for EchoService {
    const NAME: &'static str = SERVICE_NAME;
}

impl Service<http::Request<Body>> for EchoService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let (queue, limits) = (self.queue.clone(), self.limits);
        let mut grpc = Grpc::new(ProstCodec::<Payload, Payload>::default())
            .max_decoding_message_size(limits.decoding)
            .max_encoding_message_size(limits.encoding);
        match request.uri().path() {
            ECHO_PATH => {
                let echo = tower::service_fn(move |call| echo(queue.clone(), call));
                Box::pin(async move { Ok(grpc.unary(echo, request).await) })
            }
            STREAM_PATH => {
                let stream = tower::service_fn(move |call| stream(queue.clone(), call));
                Box::pin(async move { Ok(grpc.streaming(stream, request).await) })
            }
            path => {
                let unknown = Status::unimplemented(format!("no method {path} in {SERVICE_NAME}"));
                Box::pin(async move { Ok(unknown.into_http()) })
            }
        }
    }
}

/// A status for a request the server's loop can no longer take: it is stopping.
fn stopping() -> Status {
    Status::unavailable("the server is stopping")
}

/// `Echo`: hands the payload to the loop and answers with what it gives back.
async fn echo(
    queue: mpsc::Sender<Handed>,
    call: Request<Payload>,
) -> Result<Response<Payload>, Status> {
    let (answer, answered) = oneshot::channel();
    let payload = call.into_inner().data;
    let handed = Handed {
        payload,
        answer: Answer::Unary(answer),
    };
    queue.send(handed).await.map_err(|_| stopping())?;
    let data = answered
        .await
        .map_err(|_| Status::aborted("the server dropped the request unanswered"))?;
    Ok(Response::new(Payload { data }))
}

/// `Stream`: a task hands each message of the call to the loop, in order, until the client
/// closes its side; the loop's answers (to the ends) are the response stream.
async fn stream(
    queue: mpsc::Sender<Handed>,
    call: Request<Streaming<Payload>>,
) -> Result<Response<ReceiverStream<Result<Payload, Status>>>, Status> {
    let mut incoming = call.into_inner();
    // One answer outstanding at a time: the client awaits each end's before it goes on.
    let (answers, answered) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let handed = match incoming.message().await {
                Ok(Some(message)) => Handed {
                    payload: message.data,
                    answer: Answer::Stream(answers.clone()),
                },
                Ok(None) => break,
                // A message tonic could not take (too large, cut off): the client learns why.
                Err(status) => {
                    let _ = answers.send(Err(status)).await;
                    break;
                }
            };
            if queue.send(handed).await.is_err() {
                let _ = answers.send(Err(stopping())).await;
                break;
            }
        }
    });
    Ok(Response::new(ReceiverStream::new(answered)))
}
