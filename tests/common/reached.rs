//! A server of any transport started directly, as the driver starts one, and where its client
//! reaches it: the address its `READY` line reports (an ephemeral TCP port), the client's ends
//! of the pipes it inherited, or the endpoint itself.

use std::time::Duration;

use transport_bench::peer::lease::EndpointLease;
use transport_bench::peer::server::Fault;
use transport_bench::peer::server_args::ServerArgs;
use transport_bench::transport::{Endpoint, TransportKind};

use super::process::Spawned;
use super::server::{server_args, start_server, wait_for_line};

/// A ready server, what its endpoint needs held for it, and where a client reaches it.
pub struct ReachableServer {
    pub server: Spawned,
    /// Where a client reaches the server.
    pub endpoint: Endpoint,
    /// Holds the pipes of a pipe endpoint (the client connects to copies of its ends).
    pub lease: EndpointLease,
}

/// Starts a `kind` server at `endpoint` (from `kind.endpoint`) the way the driver does: a pipe
/// server inherits its ends of fresh pipes, whose copies here are closed once it runs. Waits
/// until it is ready; `timeout` bounds the server's waits inside an exchange.
/// `fault`, if any, is injected into the server (its hidden `--fault`).
pub fn start_reachable(
    kind: TransportKind,
    endpoint: Endpoint,
    timeout: Duration,
    fault: Option<Fault>,
) -> ReachableServer {
    start_reachable_as(kind, endpoint, timeout, fault, |args| args)
}

/// [`start_reachable`], with the server's command line as `adjust` makes it from the usual one
/// (for example [`ServerArgs::exchanging`] a stream).
pub fn start_reachable_as(
    kind: TransportKind,
    endpoint: Endpoint,
    timeout: Duration,
    fault: Option<Fault>,
    adjust: impl FnOnce(ServerArgs) -> ServerArgs,
) -> ReachableServer {
    let mut lease = EndpointLease::new(endpoint).expect("preparing the endpoint");
    let mut args = adjust(server_args(kind, &lease.endpoint, timeout));
    args.fault = fault;
    let server = start_server(&args, &lease.inherited_fds());
    lease.close_server_ends();
    let line = wait_for_line(&server, "READY");
    let endpoint = lease
        .client_endpoint(line.trim().strip_prefix("READY "))
        .expect("a reachable address");
    ReachableServer {
        server,
        endpoint,
        lease,
    }
}
