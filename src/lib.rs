//! transport-bench: measures how fast two processes on one Linux host exchange byte messages
//! over different IPC transports. The binary (`main.rs`) is a short pipeline over these modules.

pub mod benchmark;
pub mod cleanup;
pub mod cli;
pub mod compare;
pub mod driver;
pub mod export;
pub mod format;
pub mod machine;
pub mod naming;
pub mod options;
pub mod output;
pub mod peer_address;
pub mod placement;
pub mod plot;
pub mod server;
pub mod signals;
pub mod size;
pub mod table;
#[cfg(test)]
mod test_report;
pub mod transport;
pub mod values;
