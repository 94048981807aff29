//! The facts a run's header states (what was measured, how, and on which machine), built once
//! from the report: the terminal prints them under its title ([`crate::output::header`]), the
//! HTML export lists them.

use crate::report::format;
use crate::report::result::{Config, Report};
use crate::report::table;

/// The header's facts, one line each, in the order the terminal prints them. Of the machine's
/// idle and CPU facts, one line says what bears on the figures; `verbose` gives every one read
/// (each haltpoll parameter, the raw sysfs words), as the JSON has them.
pub fn setup_facts(report: &Report, verbose: bool) -> Vec<String> {
    let config = &report.config;
    let machine = &report.machine;
    [
        format!(
            "{} (warm-up: {}{})",
            run_length(config),
            format::thousands(config.warmup),
            runs_per_case(config)
        ),
        format!(
            "Buffer size: {} bytes",
            format::thousands(config.buffer_size as u64)
        ),
        "Communication: Process-to-Process (raw byte arrays)".into(),
        config.workload().figures().banner.into(),
        format!(
            "Machine: {} ({} cores), {}, kernel {}",
            machine.cpu, machine.cores, machine.os, machine.kernel
        ),
        format!(
            "Clock overhead: {:.0} ns per timed round trip",
            report.clock_overhead_ns
        ),
    ]
    .into_iter()
    .chain(machine.idle.iter().flat_map(|facts| match verbose {
        true => facts.header_lines(),
        false => vec![facts.brief_line()],
    }))
    .chain([table::placement_line(config)])
    .chain(table::external_peer_line(config))
    .chain(table::pacing_line(config))
    .chain(table::pairs_line(config))
    .chain(table::in_flight_line(config))
    .chain(table::spin_budget_line(config))
    .collect()
}

/// How long each test lasts: a duration, or a number of iterations.
fn run_length(config: &Config) -> String {
    match (config.duration_s, config.iterations) {
        (Some(seconds), _) => format!(
            "Duration per test: {}",
            humantime::format_duration(std::time::Duration::from_secs_f64(seconds))
        ),
        (None, iterations) => format!(
            "Iterations per test: {}",
            format::thousands(iterations.unwrap_or(0))
        ),
    }
}

/// How many runs each case has, said only when more than one.
fn runs_per_case(config: &Config) -> String {
    match config.runs_auto {
        Some(auto) => format!(
            ", runs per case: until the 95% confidence interval of the mean is within ±{}%, {} to {}",
            auto.ci_target_pct, auto.min_runs, auto.max_runs
        ),
        None if config.runs > 1 => format!(", runs per case: {}", config.runs),
        None => String::new(),
    }
}
