//! Where a client reaches a server that chose its own address.

use transport_bench::transport::Endpoint;

use super::process::Spawned;
use super::server::wait_for_line;

/// Where a client reaches a ready `server` started for `endpoint`: the address its `READY`
/// line reports, for servers that choose one (an ephemeral TCP port), else `endpoint` itself.
pub fn reached_at(server: &Spawned, endpoint: &Endpoint) -> Endpoint {
    let line = wait_for_line(server, "READY");
    match line.trim().strip_prefix("READY ") {
        Some(address) => endpoint.at_reported_address(address).unwrap(),
        None => endpoint.clone(),
    }
}
