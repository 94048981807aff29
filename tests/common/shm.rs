//! SHM POSIX channels: their endpoint, and a server of one started directly.

use transport_bench::transport::kinds::shm_posix;
use transport_bench::transport::Endpoint;

use super::process::{Spawned, PATIENCE};
use super::server::{server_args, start_server};

/// The endpoint of a SHM channel.
pub fn shm_endpoint(channel: &str, buffer_size: usize) -> Endpoint {
    Endpoint::ShmChannel {
        channel: channel.to_string(),
        buffer_size,
    }
}

/// A SHM POSIX server on `channel` with a `buffer_size`-byte buffer, ready.
pub fn start_shm_server(channel: &str, buffer_size: usize) -> Spawned {
    let endpoint = shm_endpoint(channel, buffer_size);
    start_server(&server_args(shm_posix::KIND, &endpoint, PATIENCE), &[])
}
