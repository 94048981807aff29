//! Running the benchmark and computing its statistics; this module never prints.
//!
//! Data flows one way: options → cases ([`scheduler`]) → one run at a time ([`executor`]:
//! server process, warm-up, timed loop in [`measure`], and for one-way latencies the server's
//! histogram taken in [`one_way_latencies`]) → statistics ([`stats`], gathered per
//! case in [`tally`]) → the [`Report`] → events for the reporters ([`crate::export::events`]), which draw
//! tables and write exports.

pub mod client_mode;
pub mod client_report;
pub mod clients;
pub mod clock;
pub mod confidence;
pub mod cpu;
pub mod deadline;
pub mod executor;
pub mod external;
pub mod in_flight;
pub mod measure;
pub mod one_way;
pub mod one_way_latencies;
pub mod outcome;
pub mod pacing;
pub mod pairs;
pub mod placement;
pub mod round_trip;
pub mod scheduler;
pub mod stats;
pub mod stream;
pub mod tally;
pub mod warnings;
pub mod workload;

use std::collections::BTreeMap;

use crate::cli::options::Options;
use crate::system::machine;
use crate::transport::TransportKind;

use crate::report::result::{Config, ExternalServer, Provenance, Report, RunsAuto};
use crate::report::schema::SCHEMA_VERSION;

/// The spin budget of each transport of the run that spins, in µs, by name.
fn spin_budgets_us(options: &Options) -> BTreeMap<&'static str, f64> {
    let spins = |&kind: &TransportKind| Some((kind, kind.spin_budget(options.spin_budget)?));
    (options.transports.iter().filter_map(spins))
        .map(|(kind, budget)| (kind.name(), budget.as_secs_f64() * 1e6))
        .collect()
}

/// Now, this process's command line, the build, and what the user asked to record.
fn provenance(options: &Options) -> Provenance {
    let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let command_line = (std::env::args_os())
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let hostname = options.record_hostname.then(machine::hostname).flatten();
    Provenance::of_this_build(started_at, command_line, options.label.clone(), hostname)
}

/// The report of a run that has not started: its configuration, the machine and the cost of
/// the clock, with no results yet.
pub fn new_report(options: &Options) -> Report {
    Report {
        tool: "transport-bench",
        schema_version: SCHEMA_VERSION,
        version: env!("CARGO_PKG_VERSION"),
        provenance: provenance(options),
        config: Config {
            iterations: options.duration.is_none().then_some(options.iterations),
            duration_s: options.duration.map(|d| d.as_secs_f64()),
            warmup: options.warmup,
            runs: options.runs,
            runs_auto: options.until_confident.map(|target| RunsAuto {
                ci_target_pct: target.target_pct,
                min_runs: target.min_runs,
                max_runs: target.max_runs,
            }),
            buffer_size: options.buffer_size,
            timeout_s: options.timeout.as_secs_f64(),
            transports: options.transports.clone(),
            sizes: options.sizes.iter().map(|s| s.bytes).collect(),
            baseline: options.baseline,
            verify_all: options.verify_all,
            pin: options.pin,
            interval_s: options.interval.map(|d| d.as_secs_f64()),
            spin_budget_us: spin_budgets_us(options),
            connect: (options.connect.as_ref()).map(|peer| ExternalServer {
                transport: peer.transport,
                address: peer.address.clone(),
            }),
            pattern: options.workload.pattern(),
            ring_depth: options.ring_depth,
            pairs: options.pairs,
            in_flight: options.workload.in_flight(),
        },
        machine: machine::describe(),
        clock_overhead_ns: clock::clock_overhead_ns(),
        state: "running".into(),
        results: Vec::new(),
    }
}
