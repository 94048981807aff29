//! Everything the benchmark warns about, as named values (hyperfine's `Warnings`): each is
//! decided here from the measurements, and printed or exported by whoever shows results.

use std::fmt;

use crate::benchmark::placement::PlacementTally;
use crate::benchmark::stats::{Bimodal, LatencyRecorder};
use crate::report::result::WarningRecord;

/// A same-CPU share between these bounds means the placement changed during the run.
const PLACEMENT_STABLE_BELOW: f64 = 0.05;
const PLACEMENT_STABLE_ABOVE: f64 = 0.95;
/// Fewer samples than this say nothing about placement.
const MIN_PLACEMENT_SAMPLES: u64 = 10;
/// Run means further apart than this factor are not one measurement.
const MAX_RUN_RATIO: f64 = 2.0;
/// The clock's cost above this share of a mean deserves a note.
const MAX_CLOCK_SHARE: f64 = 0.05;

#[derive(Debug, Clone, PartialEq)]
pub enum Warning {
    /// The latencies have two clear modes.
    Bimodal(Bimodal),
    /// Driver and server shared a CPU in some samples and not in others.
    PlacementChanged { same_cpu_share: f64 },
    /// The slowest run's mean is this many times the fastest's.
    RunsDiffer { ratio: f64 },
    /// Reading the clock twice costs this share of the mean round trip.
    ClockOverhead { overhead_ns: f64, share: f64 },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let try_pin = "try --pin same or --pin split";
        match self {
            Warning::Bimodal(modes) => write!(
                f,
                "bimodal: {:.0}% near {:.1} µs, {:.0}% near {:.1} µs — the processes shared a CPU part of the time; {try_pin}",
                modes.fast_share * 100.0,
                modes.fast_ns as f64 / 1000.0,
                (1.0 - modes.fast_share) * 100.0,
                modes.slow_ns as f64 / 1000.0
            ),
            Warning::PlacementChanged { same_cpu_share } => write!(
                f,
                "placement changed during the run: the peers shared a CPU in {:.0}% of samples; {try_pin}",
                same_cpu_share * 100.0
            ),
            Warning::RunsDiffer { ratio } => write!(
                f,
                "run means differ by {ratio:.1}×: the runs measured different things; {try_pin}"
            ),
            Warning::ClockOverhead { overhead_ns, share } => write!(
                f,
                "the clock ({overhead_ns:.0} ns per round trip) is {:.0}% of the mean; mean_corrected in the JSON subtracts it",
                share * 100.0
            ),
        }
    }
}

impl From<&Warning> for WarningRecord {
    fn from(warning: &Warning) -> WarningRecord {
        let kind = match warning {
            Warning::Bimodal(_) => "bimodal",
            Warning::PlacementChanged { .. } => "placement_changed",
            Warning::RunsDiffer { .. } => "runs_differ",
            Warning::ClockOverhead { .. } => "clock_overhead",
        };
        WarningRecord {
            kind,
            message: warning.to_string(),
        }
    }
}

/// What a case's measurements warrant warning about.
pub fn case_warnings(
    latencies: &LatencyRecorder,
    placement: &PlacementTally,
    run_means_ns: &[f64],
    clock_overhead_ns: f64,
) -> Vec<Warning> {
    let mut warnings: Vec<Warning> = latencies
        .bimodal()
        .map(Warning::Bimodal)
        .into_iter()
        .collect();
    if let Some(share) = placement.same_cpu_share() {
        let changed = share > PLACEMENT_STABLE_BELOW && share < PLACEMENT_STABLE_ABOVE;
        if changed && placement.samples >= MIN_PLACEMENT_SAMPLES {
            warnings.push(Warning::PlacementChanged {
                same_cpu_share: share,
            });
        }
    }
    let (min, max) = run_means_ns
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &m| (lo.min(m), hi.max(m)));
    if run_means_ns.len() > 1 && min > 0.0 && max / min > MAX_RUN_RATIO {
        warnings.push(Warning::RunsDiffer { ratio: max / min });
    }
    if let Some(stats) = latencies.stats() {
        let share = clock_overhead_ns / stats.mean_ns;
        if share > MAX_CLOCK_SHARE {
            warnings.push(Warning::ClockOverhead {
                overhead_ns: clock_overhead_ns,
                share,
            });
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_warning_comes_from_its_own_evidence() {
        let mut latencies = LatencyRecorder::new();
        (0..100).for_each(|_| latencies.record(200));
        let mut placement = PlacementTally::default();
        (placement.samples, placement.same_cpu_samples) = (20, 8);
        let warnings = case_warnings(&latencies, &placement, &[100.0, 300.0], 26.0);
        let kinds: Vec<&str> = warnings
            .iter()
            .map(|w| WarningRecord::from(w).kind)
            .collect();
        assert_eq!(
            kinds,
            ["placement_changed", "runs_differ", "clock_overhead"]
        );
        assert!(warnings[0]
            .to_string()
            .contains("shared a CPU in 40% of samples"));
        assert!(warnings[1].to_string().contains("differ by 3.0×"));
        assert!(warnings[2].to_string().contains("is 13% of the mean"));
        // A stable placement, close runs and a slow round trip warrant nothing.
        placement.same_cpu_samples = 20;
        let mut slow = LatencyRecorder::new();
        (0..100).for_each(|_| slow.record(40_000));
        assert!(case_warnings(&slow, &placement, &[40.0, 41.0], 26.0).is_empty());
    }
}
