//! Paced mode (`--interval`): requests leave on a fixed timeline instead of back to back, as
//! RPCs between mostly idle processes do, so that waking an idle peer is part of the price.
//!
//! Each latency is measured from the *intended* send time, as wrk2 and JLBH do: when a round
//! trip overruns its slot, the requests behind it are late, and that lateness is latency the
//! caller would have seen. Measuring from the actual send would hide it (coordinated
//! omission); the service time (from the actual send) is recorded beside it.

use std::time::Duration;

use nix::errno::Errno;
use nix::time::{clock_nanosleep, ClockId, ClockNanosleepFlags};

use crate::system::clock::Tick;

/// Sends on a fixed timeline: slot `k` is `start + k × interval`.
pub struct Pacer {
    interval: Duration,
    /// On `CLOCK_MONOTONIC`, which the absolute sleeps until a slot take as it is.
    start: Tick,
    /// A `u64`: 1 µs slots pass 2^32 after 72 minutes, and `--duration` allows 24 hours.
    next_slot: u64,
    behind: u64,
}

impl Pacer {
    /// Starts the timeline now. Sets this thread's timer slack to 1 ns: by default the kernel
    /// may wake a sleeper up to 50 µs late to batch wake-ups, which would blur every slot.
    pub fn start(interval: Duration) -> Pacer {
        // SAFETY: prctl with PR_SET_TIMERSLACK takes one integer argument and touches no memory.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        Pacer {
            interval,
            start: Tick::now(),
            next_slot: 0,
            behind: 0,
        }
    }

    /// When the next request is meant to leave.
    pub fn next_slot(&self) -> Tick {
        self.start.plus_times(self.interval, self.next_slot)
    }

    /// Sleeps until the next slot and returns the moment the request was meant to leave. A
    /// slot already past is not slept for, and counts as the sender being behind schedule. A
    /// signal that cuts the sleep short is put to `interrupted`: an error from it ends the
    /// wait (nothing is sent early), else the sleep goes on.
    pub fn wait_for_slot<E>(&mut self, interrupted: impl Fn() -> Result<(), E>) -> Result<Tick, E> {
        let on_time = Tick::now() < self.next_slot();
        if on_time {
            self.sleep_until_next_slot(interrupted)?;
        }
        Ok(self.take_slot(on_time))
    }

    /// Sleeps until the next slot (without taking it), however many signals come, unless
    /// `interrupted` says one of them ends the wait.
    pub fn sleep_until_next_slot<E>(
        &self,
        interrupted: impl Fn() -> Result<(), E>,
    ) -> Result<(), E> {
        let wake_at = self.next_slot().timespec();
        while Tick::now() < self.next_slot() {
            let slept = clock_nanosleep(
                ClockId::CLOCK_MONOTONIC,
                ClockNanosleepFlags::TIMER_ABSTIME,
                &wake_at,
            );
            match slept {
                Err(Errno::EINTR) => interrupted()?,
                // A sleep the kernel refuses cannot be retried into success.
                Err(_) => break,
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Takes the next slot and returns its moment; `on_time` is false when the request
    /// leaves later than the slot because the sender was busy (or its window full) when it came.
    pub fn take_slot(&mut self, on_time: bool) -> Tick {
        let intended = self.next_slot();
        self.next_slot = self.next_slot.saturating_add(1);
        self.behind += u64::from(!on_time);
        intended
    }

    /// How many requests could not leave on time.
    pub fn behind_schedule(&self) -> u64 {
        self.behind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slot 2^32 and on keep their places on the timeline: counted in a `u32`, the slot index
    /// stopped there, and every later request was "meant" to leave at the same moment (a run
    /// of `--interval 1us` longer than 72 minutes), its latency growing with the run.
    #[test]
    fn slots_past_two_to_the_thirty_second_keep_the_interval() {
        let interval = Duration::from_micros(1);
        let start = Tick::now();
        let mut pacer = Pacer {
            interval,
            start,
            next_slot: u32::MAX.into(),
            behind: 0,
        };
        let last_of_u32 = pacer.take_slot(true);
        let after_it = pacer.take_slot(true);
        assert_eq!(last_of_u32.since(start), interval * u32::MAX);
        assert_eq!(after_it.since(last_of_u32), interval);
        assert_eq!(pacer.next_slot().since(after_it), interval);
    }
}
