//! Where the two peers ran during the timed loop: sampled between round trips (never inside the
//! timed region), and how often each was switched out per round trip.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::report::result::{Placement, SwitchesPerRoundTrip};
use crate::system::placement::{current_cpu, last_cpu_of, ContextSwitches};

/// How often the timed loop looks at where the peers run. Reading `/proc` costs some µs; every
/// 10 ms keeps that far below 1% of the loop's time.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// Counts gathered during runs, mergeable across runs of a case.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PlacementTally {
    pub samples: u64,
    pub same_cpu_samples: u64,
    pub driver_cpus: BTreeSet<usize>,
    pub server_cpus: BTreeSet<usize>,
    pub driver_switches: ContextSwitches,
    pub server_switches: ContextSwitches,
    pub round_trips: u64,
}

/// Samples the placement of the driver's measuring thread and the server's main thread.
pub struct PlacementSampler {
    server_pid: u32,
    tally: PlacementTally,
    driver_start: ContextSwitches,
    server_start: ContextSwitches,
}

impl PlacementSampler {
    /// Starts counting context switches from now; `server_pid` is the echo server's process.
    pub fn start(server_pid: u32) -> PlacementSampler {
        PlacementSampler {
            server_pid,
            tally: PlacementTally::default(),
            driver_start: ContextSwitches::of_current_thread(),
            server_start: ContextSwitches::of_main_thread(server_pid),
        }
    }

    /// Notes where both peers are now.
    pub fn sample(&mut self) {
        let (Some(driver), Some(server)) = (current_cpu(), last_cpu_of(self.server_pid)) else {
            return;
        };
        let tally = &mut self.tally;
        tally.samples += 1;
        tally.same_cpu_samples += u64::from(driver == server);
        tally.driver_cpus.insert(driver);
        tally.server_cpus.insert(server);
    }

    /// The counts, with the context switches since `start` over `round_trips`.
    pub fn finish(mut self, round_trips: u64) -> PlacementTally {
        self.sample();
        let tally = &mut self.tally;
        tally.driver_switches = ContextSwitches::of_current_thread().since(self.driver_start);
        tally.server_switches =
            ContextSwitches::of_main_thread(self.server_pid).since(self.server_start);
        tally.round_trips = round_trips;
        self.tally
    }
}

impl PlacementTally {
    /// Adds another run's counts.
    pub fn merge(&mut self, other: &PlacementTally) {
        self.samples += other.samples;
        self.same_cpu_samples += other.same_cpu_samples;
        self.driver_cpus.extend(&other.driver_cpus);
        self.server_cpus.extend(&other.server_cpus);
        let add = |a: ContextSwitches, b: ContextSwitches| ContextSwitches {
            voluntary: a.voluntary + b.voluntary,
            involuntary: a.involuntary + b.involuntary,
        };
        self.driver_switches = add(self.driver_switches, other.driver_switches);
        self.server_switches = add(self.server_switches, other.server_switches);
        self.round_trips += other.round_trips;
    }

    /// The share of samples in which both peers were last seen on one CPU, if any were taken.
    pub fn same_cpu_share(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.same_cpu_samples as f64 / self.samples as f64)
    }

    /// The summary exported per case.
    pub fn summary(&self) -> Option<Placement> {
        let per = |switches: ContextSwitches| {
            let n = self.round_trips.max(1) as f64;
            SwitchesPerRoundTrip {
                voluntary: switches.voluntary as f64 / n,
                involuntary: switches.involuntary as f64 / n,
            }
        };
        Some(Placement {
            samples: self.samples,
            same_cpu_share: self.same_cpu_share()?,
            driver_cpus: self.driver_cpus.iter().copied().collect(),
            server_cpus: self.server_cpus.iter().copied().collect(),
            driver_switches_per_round_trip: per(self.driver_switches),
            server_switches_per_round_trip: per(self.server_switches),
        })
    }
}
