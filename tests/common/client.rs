//! A transport client of the library, connected to a server process the test started.

use std::sync::Arc;
use std::time::Duration;

use transport_bench::transport::{
    Endpoint, NoWatch, Pattern, TransportClient, TransportError, TransportKind, TransportOptions,
};

/// Connects a `kind` client to `endpoint`; `timeout` bounds every wait. Nothing watches the
/// server: it is the test's child, not the client's, and the timeout is what bounds a test.
pub fn connect(
    kind: TransportKind,
    endpoint: &Endpoint,
    timeout: Duration,
) -> Result<Box<dyn TransportClient>, TransportError> {
    connect_for(kind, endpoint, timeout, Pattern::RoundTrip)
}

/// [`connect`] for clients that exchange `pattern` with their server (a stream's client
/// connects as its server binds: a ZeroMQ DEALER, for example).
pub fn connect_for(
    kind: TransportKind,
    endpoint: &Endpoint,
    timeout: Duration,
    pattern: Pattern,
) -> Result<Box<dyn TransportClient>, TransportError> {
    connect_with(kind, endpoint, timeout, pattern, 1)
}

/// [`connect_for`] a client that keeps `in_flight` requests outstanding (`--in-flight`; a
/// ZeroMQ DEALER, for example), whose server was started for as many
/// (`ServerArgs::with_in_flight`).
pub fn connect_with(
    kind: TransportKind,
    endpoint: &Endpoint,
    timeout: Duration,
    pattern: Pattern,
    in_flight: usize,
) -> Result<Box<dyn TransportClient>, TransportError> {
    super::process::leave_library_dirs_as_found(kind);
    let options = TransportOptions {
        timeout,
        spin_budget: None,
        pattern,
        ring_depth: None,
        in_flight,
    };
    kind.connect(endpoint, options, Arc::new(NoWatch))
}
