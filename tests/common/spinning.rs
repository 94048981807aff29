//! Both sides of a transport that spins, with one spin budget: the client of the library, and
//! the command line of its server process.

use std::sync::Arc;
use std::time::Duration;

use transport_bench::peer::server_args::ServerArgs;
use transport_bench::transport::{
    Endpoint, NoWatch, Pattern, TransportClient, TransportError, TransportKind, TransportOptions,
};

use super::server::server_args;

/// The command line of a `kind` server at `endpoint` whose waits spin for `spin_budget` (None:
/// the transport's default).
pub fn spinning_server_args(
    kind: TransportKind,
    endpoint: &Endpoint,
    timeout: Duration,
    spin_budget: Option<Duration>,
) -> ServerArgs {
    server_args(kind, endpoint, timeout).spinning_for(spin_budget)
}

/// Connects a `kind` client whose waits spin for `spin_budget`; `timeout` bounds every wait.
pub fn connect_spinning(
    kind: TransportKind,
    endpoint: &Endpoint,
    timeout: Duration,
    spin_budget: Option<Duration>,
) -> Result<Box<dyn TransportClient>, TransportError> {
    super::process::leave_library_dirs_as_found(kind);
    let options = TransportOptions {
        timeout,
        spin_budget,
        pattern: Pattern::RoundTrip,
        ring_depth: None,
        in_flight: 1,
    };
    kind.connect(endpoint, options, Arc::new(NoWatch))
}
