//! The hand-over of the spinning transports (SHM spin, SHM zero-copy).
//!
//! - [`SequenceSignal`]: a sequence number in shared memory that one process publishes and the
//!   other waits on, spinning first and then sleeping on it as a futex, with a count of sleepers
//!   so that a publish makes a system call only when someone sleeps. SHM spin and SHM zero-copy
//!   hand their requests and replies over with it.
//! - The segment it lives in, and what the two transports do with it alike, is
//!   [`segment`](super::segment). Which transports spin, and with what budget, each says in its
//!   `TransportSpec`.
//!
//! The spin budget is how long a waiter polls before it sleeps. Spinning answers a peer that is
//! awake on another CPU without any system call, at the price of a busy CPU; sleeping costs a
//! `FUTEX_WAKE` by the publisher and a wake-up of the sleeper, but frees the CPU. A budget of 0
//! always sleeps.

use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crate::transport::error::TransportError;
use crate::transport::os::futex::{futex_wait, futex_wake};
use crate::transport::os::shm::ObjectAccess;
use crate::transport::wait::{spin_until, PeerWatch, StopFlag, IDLE_SLICE};

/// How long SHM spin and SHM zero-copy spin before they sleep, unless `--spin-budget` says.
pub const SEQUENCE_SPIN_BUDGET: Duration = Duration::from_micros(20);

/// A sequence number in shared memory and the count of those sleeping on it: two adjacent
/// `u32`s of a control line, `seq` at the line's offset and `waiters` 4 bytes later. One side
/// publishes new numbers (after writing what they announce), the other waits for them.
pub struct SequenceSignal {
    seq: NonNull<AtomicU32>,
    waiters: NonNull<AtomicU32>,
}

impl SequenceSignal {
    /// # Safety
    /// `line` must point to 8 bytes, 4-aligned, of a live shared mapping that outlives the
    /// signal, touched by every process only through atomics.
    pub unsafe fn new(line: *mut u8) -> SequenceSignal {
        // SAFETY: the caller promises a valid, aligned, non-null line of 8 bytes.
        unsafe {
            SequenceSignal {
                seq: NonNull::new_unchecked(line.cast()),
                waiters: NonNull::new_unchecked(line.add(4).cast()),
            }
        }
    }

    pub fn seq(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping (see new); both processes only touch it atomically.
        unsafe { self.seq.as_ref() }
    }

    fn waiters(&self) -> &AtomicU32 {
        // SAFETY: as for seq.
        unsafe { self.waiters.as_ref() }
    }

    /// Publishes sequence number `seq` and wakes a sleeper if there is one. Everything written
    /// before the call (payload, length, slot) is visible to whoever acquires `seq`.
    pub fn publish(&self, seq: u32) -> Result<(), TransportError> {
        // Release: the writes before it are visible to whoever loads seq with Acquire.
        self.seq().store(seq, Ordering::Release);
        // Dekker pairing with `wait_for`: the waiter increments `waiters` and then re-reads
        // `seq`; we store `seq` and then read `waiters`. With a SeqCst fence between each pair
        // at least one side sees the other's write, so a waiter never sleeps through a publish.
        fence(Ordering::SeqCst);
        if self.waiters().load(Ordering::Relaxed) != 0 {
            futex_wake(self.seq())?;
        }
        Ok(())
    }

    /// Waits until `seq` differs from `old` and returns it: spins for up to `spin_budget`, then
    /// sleeps on the futex in slices of `slice`, calling `between` after each slice (it may end
    /// the wait). Runs within `access`, checked after each slice: a truncated segment reads as
    /// zeros, on which the wait could last forever. The caller checks the number it returns.
    pub fn wait_for(
        &self,
        old: u32,
        spin_budget: Duration,
        slice: Duration,
        access: &ObjectAccess<'_>,
        mut between: impl FnMut() -> Result<(), TransportError>,
    ) -> Result<u32, TransportError> {
        let seq = self.seq();
        // Acquire: pairs with publish's Release, so what the number announces is visible.
        let changed = || Some(seq.load(Ordering::Acquire)).filter(|&now| now != old);
        if let Some(now) = spin_until(spin_budget, changed) {
            return Ok(now);
        }
        loop {
            self.waiters().fetch_add(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            let result = if seq.load(Ordering::Relaxed) == old {
                futex_wait(seq, old, slice)
            } else {
                Ok(())
            };
            self.waiters().fetch_sub(1, Ordering::Relaxed);
            access.checked(result)?;
            if let Some(now) = changed() {
                return Ok(now);
            }
            between()?;
        }
    }
}

impl SequenceSignal {
    /// An idle server's wait for the next request after `last_seen`: sleeps in `IDLE_SLICE`
    /// slices that look at `stop`; None once `stop` was set while no request came.
    pub fn next_request(
        &self,
        last_seen: u32,
        spin_budget: Duration,
        access: &ObjectAccess<'_>,
        stop: &AtomicBool,
    ) -> Result<Option<u32>, TransportError> {
        let stop_flag = StopFlag(stop);
        let waited = self.wait_for(last_seen, spin_budget, IDLE_SLICE, access, || {
            stop_flag.check()
        });
        match access.checked(waited) {
            Ok(seq) => Ok(Some(seq)),
            Err(TransportError::Interrupted) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
