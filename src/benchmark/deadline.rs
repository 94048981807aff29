//! Time-bounded runs (`--duration`): the moment a timed loop stops starting round trips (or
//! sending a stream's messages), and how often a loop that reads no clock of its own looks.
//!
//! A round trip's loop reads the clock around every round trip anyway, to time it: the
//! deadline is compared with the reading after it, one comparison and no extra clock read. A
//! paced loop also stops when its next slot is past the deadline, rather than sleep into it,
//! and then waits the deadline out: its run lasts the duration, as its slots do, so its rate
//! is the pacing's.
//! A stream reads no clock per message (at millions a second two reads would be a large share
//! of each), so it looks every N messages ([`Looks`]), N adapted as it runs so that looks come
//! about [`LOOK_INTERVAL`] apart: a time-bounded stream overshoots its duration by about that
//! (plus one message and the acknowledgement), and pays one clock read per interval.

use std::time::Duration;

use crate::system::clock::Tick;

/// How far apart a stream's looks at the clock are meant to be.
pub const LOOK_INTERVAL: Duration = Duration::from_millis(1);

/// The most messages between two looks, whatever the rate.
const MOST_BETWEEN_LOOKS: u64 = 1 << 16;

/// When a time-bounded run's timed loop is over.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Tick,
}

impl Deadline {
    /// `duration` after `start` (the start of the timed region).
    pub fn after(start: Tick, duration: Duration) -> Deadline {
        Deadline {
            at: start.plus(duration),
        }
    }

    /// Whether the time is up at `now`.
    pub fn passed(&self, now: Tick) -> bool {
        now >= self.at
    }

    pub fn at(&self) -> Tick {
        self.at
    }

    /// Sleeps until the deadline, in slices short enough that a stop signal (which a sleep
    /// restarted after it does not see) ends the wait within one: `interrupted` says whether
    /// it does.
    pub fn wait_out<E>(&self, interrupted: impl Fn() -> Result<(), E>) -> Result<(), E> {
        const SLICE: Duration = Duration::from_millis(10);
        loop {
            interrupted()?;
            let left = self.at.since(Tick::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(SLICE));
        }
    }
}

/// Every how many messages a stream looks at the clock (for progress, signals and the
/// deadline): a fixed number, or one adapted so that looks come about [`LOOK_INTERVAL`] apart.
#[derive(Debug, Clone)]
pub struct Looks {
    every: u64,
    /// Messages before the next look.
    left: u64,
    last_look: Tick,
    adaptive: bool,
}

impl Looks {
    /// A look every `every` messages, the first before the first message.
    pub fn every(every: u64, start: Tick) -> Looks {
        Looks {
            every: every.max(1),
            left: 0,
            last_look: start,
            adaptive: false,
        }
    }

    /// Looks about [`LOOK_INTERVAL`] apart, starting with one every message: the number
    /// doubles while looks come less than half the interval apart, and halves while they come
    /// more than twice the interval apart.
    pub fn adapted(start: Tick) -> Looks {
        Looks {
            adaptive: true,
            ..Looks::every(1, start)
        }
    }

    /// Counts a message to come: whether to look at the clock before it.
    #[inline]
    pub fn due(&mut self) -> bool {
        match self.left {
            0 => true,
            _ => {
                self.left -= 1;
                false
            }
        }
    }

    /// After a look at `now`: the next comes `every` messages on, `every` adapted first.
    pub fn looked(&mut self, now: Tick) {
        if self.adaptive {
            let gap = now.since(self.last_look);
            if gap < LOOK_INTERVAL / 2 && self.every < MOST_BETWEEN_LOOKS {
                self.every *= 2;
            } else if gap > LOOK_INTERVAL * 2 && self.every > 1 {
                self.every /= 2;
            }
        }
        self.last_look = now;
        self.left = self.every - 1;
    }

    /// Messages between two looks now.
    pub fn between(&self) -> u64 {
        self.every
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_looks_come_every_n_messages_the_first_at_once() {
        let start = Tick::now();
        let mut looks = Looks::every(3, start);
        let pattern: Vec<bool> = (0..7)
            .map(|_| {
                let due = looks.due();
                if due {
                    looks.looked(start);
                }
                due
            })
            .collect();
        assert_eq!(pattern, [true, false, false, true, false, false, true]);
    }

    #[test]
    fn adapted_looks_grow_apart_when_fast_and_close_in_when_slow() {
        let start = Tick::now();
        let mut looks = Looks::adapted(start);
        // Looks 1 µs apart: far too often, so the number doubles each time.
        for i in 1..=5 {
            looks.looked(start.plus(Duration::from_micros(i)));
        }
        assert_eq!(looks.between(), 32);
        // Looks 10 ms apart: far too rare, so it halves.
        let later = start.plus(Duration::from_millis(10));
        looks.looked(later);
        looks.looked(later.plus(Duration::from_millis(10)));
        assert_eq!(looks.between(), 8);
        // About the interval apart: it stays.
        let then = later.plus(Duration::from_millis(10));
        looks.looked(then.plus(LOOK_INTERVAL));
        assert_eq!(looks.between(), 8);
    }

    #[test]
    fn the_deadline_passes_at_its_moment() {
        let start = Tick::now();
        let deadline = Deadline::after(start, Duration::from_millis(5));
        assert!(!deadline.passed(start));
        assert!(deadline.passed(start.plus(Duration::from_millis(5))));
        assert_eq!(deadline.at(), start.plus(Duration::from_millis(5)));
        deadline.wait_out(|| Ok::<(), ()>(())).unwrap();
        assert!(deadline.passed(Tick::now()));
        assert_eq!(deadline.wait_out(|| Err("stop")), Err("stop"));
    }
}
