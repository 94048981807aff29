//! The peer: the echo server process at the other end of every measurement, and what the
//! driver needs to start, reach and clean up after it.
//!
//! [`server`] is server mode itself, run from [`server_args`], its command line. The driver
//! spawns it ([`spawn`]) at an endpoint it leases for the run ([`lease`]), or measures one that
//! is already running ([`external`], `--connect`); both write and read addresses with
//! [`address`]. A one-way server hands its latencies to the driver as [`one_way`] says.
//! [`cleanup`] removes what dead peers left behind (and is the `cleanup`
//! subcommand).

pub mod address;
pub mod cleanup;
pub mod client_args;
pub mod client_process;
pub mod external;
pub mod kept_stderr;
pub mod lease;
pub mod library_dirs;
pub mod one_way;
pub mod pid_watch;
pub mod server;
pub mod server_args;
pub mod spawn;
