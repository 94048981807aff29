//! Both sides of a one-way stream (`--pattern stream`) over a channel transport: a `--server`
//! process started for streams, a client of the library connected for a pattern, the messages
//! of a stream as the protocol stamps them (`transport::stream`), a watch on the server process,
//! and a bound on how long a client's body may take.

use std::sync::Arc;
use std::time::Duration;

use transport_bench::peer::server::Fault;
use transport_bench::peer::server_args::ServerArgs;
use transport_bench::transport::stream::{payload_byte, SEQUENCE_LEN};
use transport_bench::transport::{
    Endpoint, Pattern, PeerWatch, TransportClient, TransportError, TransportKind, TransportOptions,
};

use super::bounded::within;
use super::process::PATIENCE;
use super::server::server_args;

/// The command line of a `kind` stream server at `endpoint` that checks every byte of every
/// message, with a ring `ring_depth` deep (None: the transport's default), misbehaving as
/// `fault` says.
pub fn stream_server_args(
    kind: TransportKind,
    endpoint: &Endpoint,
    ring_depth: Option<usize>,
    fault: Option<Fault>,
) -> ServerArgs {
    let mut args =
        server_args(kind, endpoint, PATIENCE).exchanging(Pattern::Stream, ring_depth, true);
    args.fault = fault;
    args
}

/// Connects a `kind` client for `pattern`, whose every wait is bounded by `timeout` and
/// `watch`. It is told no ring depth: it reads the server's from the segment.
pub fn connect_for(
    kind: TransportKind,
    endpoint: &Endpoint,
    pattern: Pattern,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
) -> Result<Box<dyn TransportClient>, TransportError> {
    super::process::leave_library_dirs_as_found(kind);
    let options = TransportOptions {
        timeout,
        spin_budget: None,
        pattern,
        ring_depth: None,
        in_flight: 1,
    };
    kind.connect(endpoint, options, watch)
}

/// Message `sequence` of a stream, `len` bytes: the payload pattern with the sequence number
/// stamped over its first bytes.
pub fn stream_message(sequence: u64, len: usize) -> Vec<u8> {
    let mut message: Vec<u8> = (0..len).map(payload_byte).collect();
    stamp(&mut message, sequence);
    message
}

/// Stamps `sequence` over the first bytes of `message`.
pub fn stamp(message: &mut [u8], sequence: u64) {
    message[..SEQUENCE_LEN].copy_from_slice(&sequence.to_le_bytes());
}

/// A watch that reports the server process gone once it has exited (a zombie, or reaped), as
/// the driver's watch on its child does.
pub struct ProcessWatch(pub u32);

impl PeerWatch for ProcessWatch {
    fn check(&self) -> Result<(), TransportError> {
        let alive = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        });
        if alive {
            Ok(())
        } else {
            Err(TransportError::PeerGone(format!(
                "server {} exited",
                self.0
            )))
        }
    }
}

/// Runs `body` on a thread of its own and returns what it returns; fails the test, saying
/// that the client hung, if that takes more than [`PATIENCE`].
pub fn within_patience<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    within(PATIENCE, "the client", body)
}
