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
    let options = TransportOptions {
        timeout,
        spin_budget: None,
        pattern: Pattern::RoundTrip,
        ring_depth: None,
    };
    kind.connect(endpoint, options, Arc::new(NoWatch))
}
