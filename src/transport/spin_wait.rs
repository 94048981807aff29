//! Waits that spin before they sleep, shared by the shared-memory transports.
//!
//! - [`spin_until`]: poll for up to a spin budget, yielding the CPU every [`SPINS_PER_YIELD`]
//!   polls; SHM POSIX spins on `sem_trywait` with it before its blocking wait.
//! - [`SequenceSignal`]: a sequence number in shared memory that one process publishes and the
//!   other waits on, spinning first and then sleeping on it as a futex, with a count of sleepers
//!   so that a publish makes a system call only when someone sleeps. SHM spin and SHM zero-copy
//!   hand their requests and replies over with it.
//! - [`spin_budget_for`]: which transports take `--spin-budget`, and what they use without it.
//!
//! The spin budget is how long a waiter polls before it sleeps. Spinning answers a peer that is
//! awake on another CPU without any system call, at the price of a busy CPU; sleeping costs a
//! `FUTEX_WAKE` by the publisher and a wake-up of the sleeper, but frees the CPU. A budget of 0
//! always sleeps.

use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::posix::{ObjectAccess, SharedMemory};
use super::toolkit::{check_shm_space, checked_payload_capacity, IDLE_SLICE};
use super::{
    shm_posix, shm_spin, shm_zc, PeerWatch, StopFlag, TransportError, TransportKind,
    TransportOptions,
};

/// How long SHM spin and SHM zero-copy spin before they sleep, unless `--spin-budget` says.
pub const SEQUENCE_SPIN_BUDGET: Duration = Duration::from_micros(20);

/// The longest `--spin-budget`: a spinning wait looks at neither the clock's deadline nor the
/// stop flag, so a budget must stay far below the timeout and the idle server's stop slice.
pub const MAX_SPIN_BUDGET: Duration = Duration::from_millis(10);

/// Polls between looks at the clock (and between `sched_yield`s).
pub const SPINS_PER_YIELD: u32 = 64;

/// The transports that take a spin budget, with the one each uses unless given another. SHM
/// POSIX defaults to 0, the seed's protocol: one `sem_trywait`, then the blocking wait.
const SPINNING_TRANSPORTS: [(TransportKind, Duration); 3] = [
    (shm_posix::KIND, Duration::ZERO),
    (shm_spin::KIND, SEQUENCE_SPIN_BUDGET),
    (shm_zc::KIND, SEQUENCE_SPIN_BUDGET),
];

/// The spin budget `kind` uses when `asked` is what `--spin-budget` said (None: not given), or
/// None if the transport does not spin.
pub fn spin_budget_for(kind: TransportKind, asked: Option<Duration>) -> Option<Duration> {
    SPINNING_TRANSPORTS
        .iter()
        .find(|(spinning, _)| *spinning == kind)
        .map(|(_, default)| asked.unwrap_or(*default))
}

/// The spin budget `kind` waits with under `options`: 0 for a transport that does not spin.
pub fn spin_budget(kind: TransportKind, options: &TransportOptions) -> Duration {
    spin_budget_for(kind, options.spin_budget).unwrap_or(Duration::ZERO)
}

/// The names of the transports that take a spin budget, for messages.
pub fn spinning_transport_names() -> Vec<&'static str> {
    SPINNING_TRANSPORTS.iter().map(|(k, _)| k.name()).collect()
}

/// Calls `poll` until it returns something or `budget` has passed; None once the budget is
/// spent (at once for a budget of 0). Yields the CPU every [`SPINS_PER_YIELD`] polls, so that a
/// peer on the same CPU gets to run instead of being spun against.
pub fn spin_until<T>(budget: Duration, mut poll: impl FnMut() -> Option<T>) -> Option<T> {
    if budget.is_zero() {
        return None;
    }
    let spin_start = Instant::now();
    loop {
        for _ in 0..SPINS_PER_YIELD {
            if let Some(found) = poll() {
                return Some(found);
            }
            std::hint::spin_loop();
        }
        if spin_start.elapsed() >= budget {
            return None;
        }
        std::thread::yield_now();
    }
}

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

/// The page the spinning transports' segments are laid out in: the control lines take one,
/// and every payload area starts on a page boundary (a copy between two of them is 0 mod 4096
/// apart: never glibc's slow offsets).
pub const SEGMENT_PAGE: usize = 4096;

/// `bytes` rounded up to whole [`SEGMENT_PAGE`]s: what a payload area of that capacity takes.
pub fn whole_pages(bytes: usize) -> usize {
    bytes.div_ceil(SEGMENT_PAGE) * SEGMENT_PAGE
}

/// A server's fresh segment `name` of `size(capacity)` bytes for a `buffer_size`, created
/// exclusively and zero-filled (sequence numbers start at 0, no waiters); returns it with the
/// payload capacity.
pub fn create_segment(
    name: &str,
    buffer_size: usize,
    size: impl Fn(usize) -> usize,
) -> Result<(SharedMemory, usize), TransportError> {
    let capacity = checked_payload_capacity(buffer_size)?;
    check_shm_space(1, size(capacity))?;
    Ok((SharedMemory::create(name, size(capacity))?, capacity))
}

/// Sleeps while `*word == expected`, at most `timeout`. Wakes, time-outs, signals and a changed
/// value all return Ok: the caller re-checks the word.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Result<(), TransportError> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: word is a valid, aligned u32 in shared memory; ts outlives the call. Not
    // FUTEX_PRIVATE: the word is shared between processes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::EAGAIN | Errno::ETIMEDOUT | Errno::EINTR => Ok(()),
        e => Err(futex_error(word, "futex wait", e)),
    }
}

fn futex_wake(word: &AtomicU32) -> Result<(), TransportError> {
    // SAFETY: word is a valid, aligned u32 in shared memory.
    let rc = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1i32) };
    if rc < 0 {
        return Err(futex_error(word, "futex wake", Errno::last()));
    }
    Ok(())
}

/// The error of a failed futex call. EFAULT means the kernel found no page behind the word:
/// another process truncated the segment since we last touched it. Touching the word from user
/// space raises the SIGBUS that the caller's access then reports as the truncation it is.
fn futex_error(word: &AtomicU32, op: &str, errno: Errno) -> TransportError {
    if errno == Errno::EFAULT {
        std::hint::black_box(word.load(Ordering::Relaxed));
    }
    TransportError::os(op, errno)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{unix_stream, zmq_ipc};

    #[test]
    fn a_zero_budget_never_polls() {
        let mut polls = 0;
        let found = spin_until(Duration::ZERO, || {
            polls += 1;
            Some(())
        });
        assert_eq!((found, polls), (None, 0));
    }

    #[test]
    fn spinning_ends_with_what_the_poll_found_or_when_the_budget_is_spent() {
        let mut polls = 0;
        let found = spin_until(Duration::from_secs(60), || {
            polls += 1;
            (polls == 100).then_some(polls)
        });
        assert_eq!(found, Some(100));
        assert_eq!(spin_until(Duration::from_micros(1), || None::<()>), None);
    }

    #[test]
    fn each_spinning_transport_has_its_default_and_the_others_none() {
        let five = Some(Duration::from_micros(5));
        assert_eq!(spin_budget_for(shm_posix::KIND, None), Some(Duration::ZERO));
        assert_eq!(
            spin_budget_for(shm_spin::KIND, None),
            Some(SEQUENCE_SPIN_BUDGET)
        );
        assert_eq!(spin_budget_for(shm_zc::KIND, five), five);
        assert_eq!(spin_budget_for(shm_posix::KIND, five), five);
        for other in [zmq_ipc::KIND, unix_stream::KIND] {
            assert_eq!(spin_budget_for(other, five), None);
        }
    }
}
