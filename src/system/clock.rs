//! The clock every latency is measured on: `CLOCK_MONOTONIC`, read as nanoseconds: as a
//! [`Tick`] around each round trip by the timed loops, and for one-way latency by both
//! processes of a pair (the client when it stamps a message, the server when the message is
//! whole); and whether another process reads the same one.
//!
//! On one host every process reads the same `CLOCK_MONOTONIC` (PID, network and mount
//! namespaces do not touch it), unless it runs in another time namespace (Linux 5.6 and later),
//! which offsets it: [`same_clock_as`] compares the two processes' time namespaces.

use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;

/// Now on `CLOCK_MONOTONIC`, in nanoseconds (a vDSO read, no system call). The clock cannot
/// fail for a valid clock id; should it, 0 makes every latency the server computes from it
/// impossible, which the server reports rather than records.
///
/// libc's call, not nix's `clock_gettime`: the timed loops read the clock twice per round trip,
/// and nix's wrapper (a call that is not inlined, and a `Result<TimeSpec>` built from the
/// reading) cost a spinning round trip at 100 B 13 ns of its mean (0.281 → 0.268 µs) and its
/// timed loop 40 ns per iteration (0.350 → 0.310 µs), eight alternated runs
/// (docs/own-cost.md, "The spinning round trip, client and server apart").
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a timespec the call may write.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
        return 0;
    }
    (now.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(now.tv_nsec as u64)
}

/// A moment on `CLOCK_MONOTONIC`, in nanoseconds: what the timed loops read around every
/// round trip. It is [`monotonic_ns`] with the arithmetic a loop needs, and not
/// `std::time::Instant` (the same clock) because a loop pays for what it does between two
/// round trips: an `Instant` is a (seconds, nanoseconds) pair, so each difference, comparison
/// and `Duration` built from it costs a normalisation and a 128-bit conversion (callgrind:
/// 56 instructions per recorded latency), where a `Tick`'s is one subtraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tick(u64);

impl Tick {
    #[inline]
    pub fn now() -> Tick {
        Tick(monotonic_ns())
    }

    /// Nanoseconds from `earlier` to this moment; 0 if `earlier` is later.
    #[inline]
    pub fn ns_since(self, earlier: Tick) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The time from `earlier` to this moment; zero if `earlier` is later.
    #[inline]
    pub fn since(self, earlier: Tick) -> Duration {
        Duration::from_nanos(self.ns_since(earlier))
    }

    /// The time since this moment.
    pub fn elapsed(self) -> Duration {
        Tick::now().since(self)
    }

    /// This moment, `duration` later (at the end of the clock's range if beyond it: 584
    /// years of uptime).
    #[inline]
    pub fn plus(self, duration: Duration) -> Tick {
        let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Tick(self.0.saturating_add(ns))
    }

    /// This moment, `times` × `interval` later (at the end of the clock's range if beyond it):
    /// a paced slot's moment, whose count a `u32` (`Duration::saturating_mul`) would cap at
    /// 2^32 slots, 72 minutes of 1 µs slots.
    #[inline]
    pub fn plus_times(self, interval: Duration, times: u64) -> Tick {
        let ns = interval.as_nanos().saturating_mul(u128::from(times));
        Tick(self.0.saturating_add(u64::try_from(ns).unwrap_or(u64::MAX)))
    }

    /// The same moment as an `Instant`, for an API that takes one (a transport's wait for a
    /// reply until a paced slot): read off both clocks now, so within the nanoseconds between
    /// two reads. A moment already past is now.
    pub fn instant(self) -> Instant {
        let (instant, tick) = (Instant::now(), Tick::now());
        instant + self.since(tick)
    }

    /// The moment as the `timespec` an absolute `clock_nanosleep` on `CLOCK_MONOTONIC` takes.
    pub fn timespec(self) -> TimeSpec {
        TimeSpec::from_duration(Duration::from_nanos(self.0))
    }
}

/// Why the clocks of two processes could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum ClockCheckError {
    #[error("reading {path}: {source}")]
    Namespace {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Whether process `pid` reads this process's `CLOCK_MONOTONIC`: true when both are in one
/// time namespace, or when the kernel has none (no `/proc/self/ns/time`: nothing can offset
/// the clock).
pub fn same_clock_as(pid: u32) -> Result<bool, ClockCheckError> {
    let ours = "/proc/self/ns/time";
    let own = match std::fs::read_link(ours) {
        Ok(link) => link,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(source) => {
            return Err(ClockCheckError::Namespace {
                path: ours.into(),
                source,
            })
        }
    };
    let theirs = format!("/proc/{pid}/ns/time");
    let other = std::fs::read_link(&theirs).map_err(|source| ClockCheckError::Namespace {
        path: theirs,
        source,
    })?;
    Ok(own == other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward_and_this_process_shares_its_own() {
        let (first, second) = (monotonic_ns(), monotonic_ns());
        assert!(first > 0 && second >= first, "{first} then {second}");
        assert!(same_clock_as(std::process::id()).unwrap());
    }

    #[test]
    fn ticks_subtract_and_add_in_nanoseconds_without_wrapping() {
        let (a, b) = (Tick(1_000), Tick(3_500));
        assert_eq!(b.ns_since(a), 2_500);
        assert_eq!(a.ns_since(b), 0, "an earlier moment is no time since");
        assert_eq!(b.since(a), Duration::from_nanos(2_500));
        assert_eq!(a.plus(Duration::from_micros(2)), Tick(3_000));
        assert_eq!(b.plus(Duration::MAX), Tick(u64::MAX));
        let slot = |k| a.plus_times(Duration::from_micros(1), k);
        assert_eq!(slot(1 << 32), Tick(1_000 + (1 << 32) * 1_000));
        assert_eq!(slot(u64::MAX), Tick(u64::MAX));
        assert_eq!(a.plus_times(Duration::MAX, 0), a);
        assert!(a < b && Tick::now() > a);
        let ts = Tick(5_000_000_123).timespec();
        assert_eq!((ts.tv_sec(), ts.tv_nsec()), (5, 123));
    }
}
