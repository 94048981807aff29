//! transport-bench: measures how fast two processes on one Linux host exchange byte messages
//! over different IPC transports. The binary (`main.rs`) is a short pipeline over these modules,
//! grouped by concern:
//!
//! - [`cli`]: the command line, checked once into a [`cli::options::Mode`];
//! - [`benchmark`]: the cases, the runs and their measurement, as events for reporters;
//! - [`peer`]: the echo server process, and spawning, reaching and cleaning up after it;
//! - [`transport`]: one file per IPC transport, behind one client/server trait pair;
//! - [`report`]: the result document, its summary table, and the reader of saved reports;
//! - [`output`], [`export`], [`compare`]: the report on the terminal, in files (and the `plot`
//!   subcommand), and two saved reports compared;
//! - [`system`]: the machine, CPU placement and signals;
//! - [`values`]: single option values and their limits, which both command lines (the
//!   benchmark's and server mode's) parse; [`numbers`]: digits grouped for people, and
//!   [`printable`]: free text with its control characters replaced, both at the bottom, so
//!   that the transports' errors and every output need nothing above them.
//!
//! Each module imports only those below it (docs/architecture.md lists the order, and
//! `tests/layering.rs` checks it).

pub mod benchmark;
pub mod cli;
pub mod compare;
pub mod export;
pub mod numbers;
pub mod output;
pub mod peer;
pub mod printable;
pub mod report;
pub mod system;
pub mod transport;
pub mod values;
