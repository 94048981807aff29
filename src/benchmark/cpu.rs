//! What each round trip costs in CPU: both processes' CPU-time clocks, read just before and just
//! after the timed loop (never inside it), so that a transport that spins shows the CPUs it
//! keeps busy, and one that sleeps how little it uses. The driver's clock counts its whole
//! process: the measuring thread, any thread a transport's library runs (libzmq's I/O thread),
//! and the progress updates between round trips (under 1% of the loop, `progress_overhead_pct`).

use std::time::Duration;

use crate::report::result::CpuUse;
use crate::system::cpu_time::ProcessCpuClock;

/// The clocks of one run: the driver's process, and the server's when it is a process of ours.
#[derive(Debug, Clone, Copy)]
pub struct CpuWatch {
    driver: ProcessCpuClock,
    /// The server's clock and pid.
    server: Option<(ProcessCpuClock, u32)>,
}

/// Both clocks at one moment; None where a clock could not be read.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    driver: Option<Duration>,
    server: Option<Duration>,
}

/// The CPU time both processes used between two marks; `server` is None for a server that is
/// not ours (`--connect`) or whose clock could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSpent {
    pub driver: Duration,
    pub server: Option<Duration>,
}

impl CpuWatch {
    /// `server_pid`: the spawned server, None for an external one.
    pub fn new(server_pid: Option<u32>) -> CpuWatch {
        CpuWatch {
            driver: ProcessCpuClock::of_this_process(),
            server: server_pid.and_then(|pid| Some((ProcessCpuClock::of(pid)?, pid))),
        }
    }

    pub fn mark(&self) -> CpuMark {
        CpuMark {
            driver: self.driver.read(),
            // Once the server waits for the next request, its clock has all its time.
            server: self.server.and_then(|(clock, pid)| clock.read_settled(pid)),
        }
    }
}

impl CpuMark {
    /// What was used since `start`; None if the driver's own clock could not be read.
    pub fn since(self, start: CpuMark) -> Option<CpuSpent> {
        let driver = self.driver?.checked_sub(start.driver?)?;
        let server = match (start.server, self.server) {
            (Some(before), Some(after)) => after.checked_sub(before),
            _ => None,
        };
        Some(CpuSpent { driver, server })
    }
}

/// The CPU time of a case's runs, summed, with the wall time and round trips it was spent on.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTally {
    runs: u32,
    driver: Duration,
    /// None once a run could not say what its server used.
    server: Option<Duration>,
    wall: Duration,
    round_trips: u64,
}

impl CpuTally {
    /// Adds one run's CPU time, spent over `wall` on `round_trips`.
    pub fn add(&mut self, spent: CpuSpent, wall: Duration, round_trips: u64) {
        self.server = match (self.runs, self.server, spent.server) {
            (0, _, server) => server,
            (_, Some(sum), Some(server)) => Some(sum + server),
            _ => None,
        };
        self.runs += 1;
        self.driver += spent.driver;
        self.wall += wall;
        self.round_trips += round_trips;
    }

    /// Per round trip in µs, and as CPUs kept busy (CPU time / wall time); None if no round
    /// trip was timed.
    pub fn figures(&self) -> Option<CpuUse> {
        if self.round_trips == 0 || self.wall.is_zero() {
            return None;
        }
        let per_round_trip = |cpu: Duration| cpu.as_secs_f64() * 1e6 / self.round_trips as f64;
        let busy = |cpu: Duration| cpu.as_secs_f64() / self.wall.as_secs_f64();
        Some(CpuUse {
            driver_us_per_round_trip: per_round_trip(self.driver),
            server_us_per_round_trip: self.server.map(per_round_trip),
            driver_cpus: busy(self.driver),
            server_cpus: self.server.map(busy),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_case_sums_its_runs_and_divides_by_round_trips_and_wall_time() {
        let mut tally = CpuTally::default();
        assert_eq!(tally.figures(), None);
        let spent = |driver, server| CpuSpent {
            driver: ms(driver),
            server,
        };
        tally.add(spent(30, Some(ms(50))), ms(100), 1000);
        tally.add(spent(10, Some(ms(50))), ms(100), 1000);
        let figures = tally.figures().unwrap();
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(near(figures.driver_us_per_round_trip, 20.0), "{figures:?}");
        assert!(near(figures.server_us_per_round_trip.unwrap(), 50.0));
        assert!(near(figures.driver_cpus, 0.2), "{figures:?}");
        assert!(near(figures.server_cpus.unwrap(), 0.5));
    }

    #[test]
    fn a_run_that_cannot_see_its_server_leaves_the_server_unknown() {
        let mut tally = CpuTally::default();
        let known = CpuSpent {
            driver: ms(1),
            server: Some(ms(1)),
        };
        tally.add(known, ms(10), 10);
        tally.add(
            CpuSpent {
                server: None,
                ..known
            },
            ms(10),
            10,
        );
        tally.add(known, ms(10), 10);
        let figures = tally.figures().unwrap();
        assert_eq!(figures.server_us_per_round_trip, None);
        assert_eq!(figures.server_cpus, None);
        assert!((figures.driver_cpus - 0.1).abs() < 1e-9, "{figures:?}");
    }

    #[test]
    fn marks_of_this_process_measure_the_work_between_them() {
        let watch = CpuWatch::new(Some(std::process::id()));
        let start = watch.mark();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let spent = watch.mark().since(start).unwrap();
        assert!(spent.driver > Duration::ZERO);
        assert!(spent.server.unwrap() > Duration::ZERO);
        let external = CpuWatch::new(None);
        let start = external.mark();
        assert_eq!(external.mark().since(start).unwrap().server, None);
    }
}
