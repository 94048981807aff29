//! gRPC over a Unix domain socket: tonic's HTTP/2 client and server on one `SOCK_STREAM`
//! connection to a socket file, bytes in and bytes out (one protobuf `bytes` field), on tokio's
//! multi-thread runtime on both sides (see [`grpc`](crate::transport::blocks::grpc) for why).
//! A unary `Echo` carries round trips and requests in flight (N calls open at once on the one
//! connection, as a gRPC client's concurrent calls are); a bidirectional `Stream` call carries
//! streams and one-way latencies. The service is written by hand, without `protoc` or a
//! `build.rs`, so that the tool builds with cargo alone.
//!
//! The socket file, connecting and binding are Unix stream's, by the standard library; tonic
//! is handed the connected and the listening socket.

use std::os::unix::net::UnixListener;
use std::sync::Arc;

use crate::transport::blocks::grpc::{encoded_limit, GrpcClient, GrpcServer, LARGEST_PAYLOAD};
use crate::transport::blocks::socket_file::SocketFile;
use crate::transport::endpoint::Endpoint;
use crate::transport::error::TransportError;
use crate::transport::kinds::unix_stream::connect_stream;
use crate::transport::spec::{
    any_workload, Addressing, MessageLimit, TransportKind, TransportOptions, TransportSpec,
};
use crate::transport::wait::PeerWatch;
use crate::transport::wire::payload_capacity;

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "grpc-uds",
    display_name: "gRPC over UDS",
    addressing: Addressing::SocketFile { scheme: "unix://" },
    connect: |endpoint, options, watch| Ok(Box::new(connect(endpoint, options, watch)?)),
    bind: |endpoint, options| Ok(Box::new(bind(endpoint, options)?)),
    max_message,
    summary: "gRPC (tonic, HTTP/2) over a Unix socket: unary echo, bidirectional stream",
    supports: any_workload,
    ..TransportSpec::DEFAULTS
};

/// gRPC's own limit: a message's length is a `u32` in its 5-byte prefix.
fn max_message(buffer_size: usize) -> Option<MessageLimit> {
    (LARGEST_PAYLOAD < payload_capacity(buffer_size)).then(|| MessageLimit {
        bytes: LARGEST_PAYLOAD,
        reason: format!(
            "larger than gRPC's u32 message length holds ({} bytes with protobuf's tag and length)",
            encoded_limit(LARGEST_PAYLOAD)
        ),
    })
}

/// Connects to the endpoint's socket file, retrying until `options.timeout` while the server is
/// not there yet, and opens tonic's channel on the connection.
fn connect(
    endpoint: &Endpoint,
    options: TransportOptions,
    watch: Arc<dyn PeerWatch>,
) -> Result<GrpcClient, TransportError> {
    let (path, buffer_size) = endpoint.socket_file(KIND.name())?;
    let stream = connect_stream(path, options.timeout, watch.as_ref())?;
    GrpcClient::new(stream, options.pattern, buffer_size, options.timeout, watch)
}

fn bind(endpoint: &Endpoint, options: TransportOptions) -> Result<GrpcServer, TransportError> {
    let (path, buffer_size) = endpoint.socket_file(KIND.name())?;
    let file = SocketFile::claim(path)?;
    let listener = UnixListener::bind(path)
        .map_err(|e| TransportError::io(format!("binding {}", path.display()), e))?;
    GrpcServer::serve(listener, file, buffer_size, options.timeout)
}
