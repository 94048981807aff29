//! gRPC with tonic over a connected byte stream: the hand-written service ([`service`]), the
//! client that makes its calls ([`GrpcClient`]) and the server whose synchronous loop answers
//! them ([`GrpcServer`]). Every tonic, prost and hyper name of the tool is in this folder, so
//! that the whole stack could sit behind one `#[cfg(feature = "grpc")]`.
//!
//! Written by hand, not generated: tonic's code generation (`tonic-prost-build`) runs `protoc`
//! from a `build.rs`, and a fresh machine with cargo alone has no `protoc`. One message with one
//! `bytes` field and two methods are a few lines to write as the generated code would: a
//! `#[derive(prost::Message)]` struct, a `Service<http::Request<Body>>` that routes the two
//! method paths to `tonic::server::Grpc`, and calls through `tonic::client::Grpc`. What goes on
//! the wire is what generated code sends.
//!
//! Both sides run on tokio's multi-thread runtime, as a `#[tokio::main]` service does: tonic
//! runs the connection, the channel's buffer and a streaming call's body as tasks of their own,
//! which on a current-thread runtime driven by one `block_on` per exchange would run only in
//! the caller's next wait (a message handed to a stream, a request submitted in flight or an
//! answer given by the server's loop would sit until then). The row to set it against is
//! `tokio-unix-mt`: the same runtime and socket, without HTTP/2, protobuf and tonic.

mod client;
mod server;
mod service;

pub use client::GrpcClient;
pub use server::GrpcServer;
pub use service::{encoded_limit, LARGEST_PAYLOAD};
