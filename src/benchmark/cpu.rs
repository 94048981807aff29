//! What each round trip costs in CPU: both processes' CPU-time clocks, read just before and just
//! after the timed loop (never inside it), so that a transport that spins shows the CPUs it
//! keeps busy, and one that sleeps how little it uses. The driver's clock counts its whole
//! process: the measuring thread, any thread a transport's library runs (libzmq's I/O thread),
//! and the progress updates between round trips (under 1% of the loop, `progress_overhead_pct`).

use std::time::Duration;

use crate::report::result::{CpuUse, ModeSplit};
use crate::system::cpu_time::{ModeTicks, ProcessCpuClock};

/// The clocks of one run: the driver's process, and the server's when it is a process of ours.
#[derive(Debug, Clone, Copy)]
pub struct CpuWatch {
    driver: ProcessCpuClock,
    /// The server's clock and pid.
    server: Option<(ProcessCpuClock, u32)>,
}

/// Both clocks at one moment, and both processes' user and system ticks; None where one
/// could not be read.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    driver: Option<Duration>,
    server: Option<Duration>,
    driver_modes: Option<ModeTicks>,
    server_modes: Option<ModeTicks>,
}

/// The CPU time both processes used between two marks; `server` is None for a server that is
/// not ours (`--connect`) or whose clock could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CpuSpent {
    pub driver: Duration,
    pub server: Option<Duration>,
    /// The ticks the kernel accounted to each mode meanwhile (see [`ModeTicks`]).
    pub driver_modes: Option<ModeTicks>,
    pub server_modes: Option<ModeTicks>,
}

impl CpuWatch {
    /// `server_pid`: the spawned server, None for an external one.
    pub fn new(server_pid: Option<u32>) -> CpuWatch {
        CpuWatch {
            driver: ProcessCpuClock::of_this_process(),
            server: server_pid.and_then(|pid| Some((ProcessCpuClock::of(pid)?, pid))),
        }
    }

    /// Both clocks just before a timed region: the server's first, once it has settled (a
    /// wait of up to 25 ms), then the driver's, last, so that the driver's reading spans the
    /// region and nothing before it. The settle wait is outside the wall time, and with
    /// `--pairs` the other pairs' threads, which the driver's process clock counts, run
    /// meanwhile: read before it, the driver's figure took their work in too.
    pub fn mark_start(&self) -> CpuMark {
        let (server, server_modes) = self.read_server();
        let (driver, driver_modes) = self.read_driver();
        CpuMark {
            driver,
            server,
            driver_modes,
            server_modes,
        }
    }

    /// Both clocks just after a timed region: the driver's first, then the server's once it
    /// has settled (see [`mark_start`](CpuWatch::mark_start)).
    pub fn mark_end(&self) -> CpuMark {
        let (driver, driver_modes) = self.read_driver();
        let (server, server_modes) = self.read_server();
        CpuMark {
            driver,
            server,
            driver_modes,
            server_modes,
        }
    }

    fn read_driver(&self) -> (Option<Duration>, Option<ModeTicks>) {
        (self.driver.read(), ModeTicks::of(std::process::id()))
    }

    /// Once the server waits for the next request, its clock has all its time.
    fn read_server(&self) -> (Option<Duration>, Option<ModeTicks>) {
        let Some((clock, pid)) = self.server else {
            return (None, None);
        };
        (clock.read_settled(pid), ModeTicks::of(pid))
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
        let modes = |start: Option<ModeTicks>, end: Option<ModeTicks>| end?.since(start?);
        Some(CpuSpent {
            driver,
            server,
            driver_modes: modes(start.driver_modes, self.driver_modes),
            server_modes: modes(start.server_modes, self.server_modes),
        })
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
    /// None once a run could not say how its process's time was split.
    driver_modes: Option<ModeTicks>,
    server_modes: Option<ModeTicks>,
}

impl CpuTally {
    /// Adds one run's CPU time, spent over `wall` on `round_trips`.
    pub fn add(&mut self, spent: CpuSpent, wall: Duration, round_trips: u64) {
        self.server = match (self.runs, self.server, spent.server) {
            (0, _, server) => server,
            (_, Some(sum), Some(server)) => Some(sum + server),
            _ => None,
        };
        let modes = |sum: Option<ModeTicks>, more: Option<ModeTicks>| match self.runs {
            0 => more,
            _ => Some(sum?.plus(more?)),
        };
        self.driver_modes = modes(self.driver_modes, spent.driver_modes);
        self.server_modes = modes(self.server_modes, spent.server_modes);
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
        // The exact CPU time, split in the proportion the kernel's ticks sampled.
        let split = |cpu: Duration, modes: Option<ModeTicks>| {
            let modes = modes?;
            let user_share = modes.user_share()?;
            let total = per_round_trip(cpu);
            Some(ModeSplit {
                user_us_per_round_trip: total * user_share,
                system_us_per_round_trip: total * (1.0 - user_share),
                sampled_ms: modes.accounted().as_secs_f64() * 1e3,
            })
        };
        Some(CpuUse {
            driver_us_per_round_trip: per_round_trip(self.driver),
            server_us_per_round_trip: self.server.map(per_round_trip),
            driver_cpus: busy(self.driver),
            server_cpus: self.server.map(busy),
            driver_split: split(self.driver, self.driver_modes),
            server_split: self
                .server
                .and_then(|server| split(server, self.server_modes)),
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
        let ticks = |user, system| Some(ModeTicks { user, system });
        let spent = |driver, server, driver_modes| CpuSpent {
            driver: ms(driver),
            server,
            driver_modes,
            server_modes: ticks(1, 3),
        };
        tally.add(spent(30, Some(ms(50)), ticks(2, 1)), ms(100), 1000);
        tally.add(spent(10, Some(ms(50)), ticks(1, 0)), ms(100), 1000);
        let figures = tally.figures().unwrap();
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(near(figures.driver_us_per_round_trip, 20.0), "{figures:?}");
        assert!(near(figures.server_us_per_round_trip.unwrap(), 50.0));
        assert!(near(figures.driver_cpus, 0.2), "{figures:?}");
        assert!(near(figures.server_cpus.unwrap(), 0.5));
        // The exact totals, split as the ticks of all runs together were: 3 of 4, 2 of 8 user.
        let driver = figures.driver_split.unwrap();
        assert!(near(driver.user_us_per_round_trip, 15.0), "{driver:?}");
        assert!(near(driver.system_us_per_round_trip, 5.0), "{driver:?}");
        let server = figures.server_split.unwrap();
        assert!(near(server.user_us_per_round_trip, 12.5), "{server:?}");
        assert!(near(server.system_us_per_round_trip, 37.5), "{server:?}");
    }

    #[test]
    fn a_side_with_no_ticks_or_an_unknown_run_has_no_split() {
        let mut tally = CpuTally::default();
        let spent = CpuSpent {
            driver: ms(1),
            server: Some(ms(1)),
            driver_modes: Some(ModeTicks::default()),
            server_modes: Some(ModeTicks { user: 1, system: 0 }),
        };
        tally.add(spent, ms(10), 10);
        assert_eq!(tally.figures().unwrap().driver_split, None);
        assert!(tally.figures().unwrap().server_split.is_some());
        let unknown = CpuSpent {
            server_modes: None,
            ..spent
        };
        tally.add(unknown, ms(10), 10);
        assert_eq!(tally.figures().unwrap().server_split, None);
    }

    #[test]
    fn a_run_that_cannot_see_its_server_leaves_the_server_unknown() {
        let mut tally = CpuTally::default();
        let known = CpuSpent {
            driver: ms(1),
            server: Some(ms(1)),
            driver_modes: None,
            server_modes: None,
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
        let start = watch.mark_start();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let spent = watch.mark_end().since(start).unwrap();
        assert!(spent.driver > Duration::ZERO);
        assert!(spent.server.unwrap() > Duration::ZERO);
        let external = CpuWatch::new(None);
        let start = external.mark_start();
        assert_eq!(external.mark_end().since(start).unwrap().server, None);
    }
}
