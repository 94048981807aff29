//! The report of a run, and everything that reads or presents it without running anything.
//!
//! [`result`] is the one serializable result document; [`table`] is the summary table built
//! from it (the terminal and the Markdown export both render it), and [`header`] the facts
//! of a run's header (the terminal prints them, the HTML page lists them); [`format`](mod@format) and [`size`]
//! write numbers and message sizes for people. [`saved`] reads a report back from its JSON,
//! the one reader that `plot` and `compare` share, of every [`schema`] version ever written. [`student_t`] is the one statistics both the
//! benchmark (`--runs auto`) and `compare` need beyond means.

pub mod format;
pub mod hdr;
pub mod header;
pub mod latency;
pub mod mean_interval;
pub mod result;
pub mod saved;
pub mod schema;
pub mod size;
pub mod student_t;
pub mod table;
#[cfg(test)]
pub(crate) mod test_report;
