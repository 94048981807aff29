//! A known report for unit tests of the table, the terminal summary and the exporters, tallied
//! from known samples as the benchmark tallies its cases.

use crate::benchmark::tally::CaseTally;
use crate::report::result::{Config, CpuUse, ModeSplit, Provenance, Report, Status};
use crate::report::schema::SCHEMA_VERSION;
use crate::system::machine::Machine;
use crate::transport::kinds::{shm_posix, zmq_ipc};
use crate::transport::Pattern;

/// A run of a build without git, neither label nor host name asked for.
fn sample_provenance() -> Provenance {
    Provenance {
        started_at: "2026-12-07T03:05:15Z".into(),
        command_line: vec!["transport-bench".into(), "--runs".into(), "1".into()],
        git_revision: None,
        git_dirty: None,
        label: None,
        hostname: None,
    }
}

/// A two-transport, two-size report with one failed case, from known samples.
pub fn sample() -> Report {
    let mut results = Vec::new();
    for (transport, scale) in [(shm_posix::KIND, 1), (zmq_ipc::KIND, 3)] {
        for size in [100usize, 10_000] {
            let mut tally = CaseTally::new();
            for i in 1..=100u64 {
                tally.latencies.record(i * 1000 * scale);
            }
            tally.run_means_ns = vec![50_500.0 * scale as f64];
            tally.total_s = 0.01 * scale as f64;
            results.push(tally.into_result(transport, size, Status::Ok, None));
        }
    }
    results.push(CaseTally::new().into_result(
        zmq_ipc::KIND,
        500_000,
        Status::Failed,
        Some("server exited: killed by signal 9 (SIGKILL), \"quoted\"".into()),
    ));
    Report {
        tool: "transport-bench",
        schema_version: SCHEMA_VERSION,
        version: "test",
        provenance: sample_provenance(),
        config: Config {
            iterations: Some(100),
            duration_s: None,
            warmup: 10,
            runs: 1,
            runs_auto: None,
            buffer_size: 2_500_000,
            timeout_s: 10.0,
            transports: vec![shm_posix::KIND, zmq_ipc::KIND],
            sizes: vec![100, 10_000, 500_000],
            baseline: shm_posix::KIND,
            verify_all: false,
            pin: None,
            interval_s: None,
            spin_budget_us: [("shm-posix", 0.0)].into(),
            connect: None,
            pattern: Pattern::RoundTrip,
            ring_depth: None,
            pairs: 1,
            in_flight: 1,
        },
        machine: Machine {
            cpu: "Test CPU".into(),
            cores: 2,
            kernel: "6.0".into(),
            os: "Linux".into(),
            idle: None,
        },
        clock_overhead_ns: 25.0,
        state: "complete".into(),
        results,
    }
}

/// [`sample`] with CPU figures on its first two cases: both processes' on the first, the
/// driver's alone (a server that is not ours) on the second.
pub fn sample_with_cpu() -> Report {
    let mut report = sample();
    let cpu = CpuUse {
        driver_us_per_round_trip: 1.25,
        server_us_per_round_trip: Some(2.5),
        driver_cpus: 0.25,
        server_cpus: Some(0.75),
        driver_split: Some(ModeSplit {
            user_us_per_round_trip: 1.0,
            system_us_per_round_trip: 0.25,
            sampled_ms: 20.0,
        }),
        server_split: None,
    };
    report.results[0].cpu = Some(cpu);
    report.results[1].cpu = Some(CpuUse {
        server_us_per_round_trip: None,
        server_cpus: None,
        ..cpu
    });
    report
}
