//! Bounded waits without a timer per wait: a watchdog thread interrupts a blocking system call
//! that has gone on for a while, instead of the call arming a kernel timer for its own slice.
//!
//! **Why.** A wait must stay bounded (a dead or hung peer is reported within `--timeout`), so
//! every blocking call waits in slices, after each of which the [`WaitBudget`] and the peer's
//! watch are asked. A slice given to the call itself (`sem_timedwait`, `SO_RCVTIMEO`,
//! `FUTEX_WAIT` with a timeout) arms and cancels a kernel timer on every call that sleeps: on
//! this project's VM a C ping-pong over two named semaphores on one CPU takes 1.94–2.00 µs per
//! round trip with `sem_wait` and 2.15–2.25 µs with `sem_timedwait` (`baselines/rt_shm_sem.c`,
//! built with and without `-DTIMED_WAIT`), about a tenth of the round trip.
//!
//! **How.** A thread about to block marks its slot in a process-wide table ([`begin`]) with a
//! wait count made odd, and makes it even again when the call returns. The watchdog thread
//! looks at every slot each [`PERIOD`]: a slot that shows the same odd count as at its last look
//! has been in one wait for at least a period, and its thread gets [`SIGNAL`] (`tgkill`), whose
//! handler does nothing and is installed without `SA_RESTART`, so the call fails with `EINTR`:
//! the end of a slice, which the caller treats as a slice that ran out. A wait is thus cut after
//! one to two periods, 25–50 ms, as the timed slices were 50 ms. On the hot path: two stores to
//! the thread's own slot, no system call, no clock.
//!
//! **A late signal.** The watchdog may look just before a wait ends and signal a thread that
//! has already left it; the signal then interrupts that thread's next blocking call, if it
//! makes one before the signal is delivered. Every wait that runs under a [`WaitMark`] takes
//! `EINTR` as an empty slice, and the tool's other blocking calls retry `EINTR` (the standard
//! library's `write_all` and `read_exact` do; the driver's readers of a server's output, a
//! server's lines on stderr and a ZeroMQ server's send of its reply do too: libzmq returns
//! `EINTR` before it takes the message, which `blocks/zmq_send.rs` sends again). The same
//! holds for a `SIGURG` sent from outside (`kill -URG`), which may land on any thread, at any
//! time: `tests/signal_flood.rs` floods a driver and its servers with it.
//!
//! `SIGURG` is the signal because its default is to be ignored: should it reach a thread of a
//! process that never installed the handler, nothing happens.
//!
//! **A blocked signal.** A thread inherits its signal mask, and a process inherits its first
//! thread's from whatever started it: with [`SIGNAL`] blocked, no wait would ever be cut. So a
//! thread unblocks it for itself when it claims its slot, before its first watched wait.
//!
//! **Without a watchdog.** If the thread cannot be started (`ulimit -u`, a cgroup's
//! `pids.max`) or the table is full, [`begin`] returns None and the caller waits with its own
//! timed slices, as before: slower, never unbounded.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::transport::os::descriptor_table::{self, STDERR};

/// How often the watchdog looks: a wait is interrupted after one to two periods.
pub const PERIOD: Duration = Duration::from_millis(25);

/// The signal that interrupts a wait.
pub const SIGNAL: libc::c_int = libc::SIGURG;

/// Threads that can wait at once under the watchdog: the driver's client threads (one per pair,
/// at most 64) and a server's one.
const SLOTS: usize = 128;

struct Slot {
    taken: AtomicBool,
    /// The thread's kernel id, for `tgkill`.
    tid: AtomicI32,
    /// Waits begun and ended, plus one while a wait is in progress: odd means waiting.
    waits: AtomicU64,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            taken: AtomicBool::new(false),
            tid: AtomicI32::new(0),
            waits: AtomicU64::new(0),
        }
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];

thread_local! {
    /// This thread's slot in [`TABLE`], plus one; 0 before its first wait, [`NO_SLOT`] if it
    /// has none (no watchdog, or the table was full). Const and without a destructor, so that
    /// the hot path is one load from the thread pointer.
    static SLOT: Cell<usize> = const { Cell::new(0) };
    /// Gives the slot back when the thread ends: touched once, when the slot is claimed.
    static RELEASE_AT_EXIT: SlotRelease = const { SlotRelease };
}

const NO_SLOT: usize = usize::MAX;

struct SlotRelease;

impl Drop for SlotRelease {
    fn drop(&mut self) {
        let _ = SLOT.try_with(|slot| {
            if let Some(index) = slot.get().checked_sub(1).filter(|&i| i < SLOTS) {
                TABLE[index].tid.store(0, Ordering::Relaxed);
                TABLE[index].taken.store(false, Ordering::Release);
            }
            slot.set(NO_SLOT);
        });
    }
}

/// Claims a slot for this thread, starting the watchdog first if this is the process's first
/// watched wait. Returns the slot's index plus one, or [`NO_SLOT`].
#[cold]
fn claim_slot() -> usize {
    let index = watchdog_running()
        .then(|| {
            TABLE.iter().position(|slot| {
                slot.taken
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            })
        })
        .flatten();
    let Some(index) = index else {
        return NO_SLOT;
    };
    let slot = &TABLE[index];
    // A blocked SIGNAL would leave the thread's waits unbounded: the mask is inherited from
    // whatever started the process (a Python subprocess, a supervisor), and nothing else in the
    // tool unblocks it. Unblocked here, once per thread, before its first watched wait.
    if !unblock_signal_on_this_thread() {
        slot.taken.store(false, Ordering::Release);
        return NO_SLOT;
    }
    // SAFETY: gettid has no preconditions.
    slot.tid.store(unsafe { libc::gettid() }, Ordering::Release);
    // Registers the release; a thread already ending cannot, and keeps its slot.
    let _ = RELEASE_AT_EXIT.try_with(|_| ());
    index + 1
}

/// A wait in progress on this thread, watched: it ends when dropped. Not `Send`: the slot is
/// this thread's.
pub struct WaitMark {
    slot: &'static Slot,
    _this_thread: std::marker::PhantomData<*const ()>,
}

/// Marks a blocking call about to be made on this thread as watched: it is interrupted with
/// `EINTR` once it has lasted one to two [`PERIOD`]s. None if there is no watchdog in this
/// process (it could not be started) or no slot for this thread: then the caller bounds the
/// call itself.
#[inline]
pub fn begin() -> Option<WaitMark> {
    let mut index = SLOT.get();
    if index == 0 {
        index = claim_slot();
        SLOT.set(index);
    }
    let slot = TABLE.get(index.wrapping_sub(1))?;
    // Only this thread writes its count: a load and a store, no locked instruction.
    let waits = slot.waits.load(Ordering::Relaxed);
    slot.waits.store(waits + 1, Ordering::Release);
    Some(WaitMark {
        slot,
        _this_thread: std::marker::PhantomData,
    })
}

impl Drop for WaitMark {
    #[inline]
    fn drop(&mut self) {
        let waits = self.slot.waits.load(Ordering::Relaxed);
        self.slot.waits.store(waits + 1, Ordering::Release);
    }
}

/// Lets [`SIGNAL`] reach the calling thread.
fn unblock_signal_on_this_thread() -> bool {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let Ok(signal) = Signal::try_from(SIGNAL) else {
        return false;
    };
    let mut set = SigSet::empty();
    set.add(signal);
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None).is_ok()
}

/// Starts the watchdog now rather than at this process's first watched wait, so that its
/// thread is counted before a check of the threads left (libzmq's, whose failure to start a
/// thread aborts the process) instead of taking one of them afterwards. True once it runs.
pub fn start() -> bool {
    watchdog_running()
}

/// Starts the watchdog (and installs the signal's handler) on first use; true once it runs.
fn watchdog_running() -> bool {
    static RUNNING: OnceLock<bool> = OnceLock::new();
    *RUNNING.get_or_init(|| install_handler() && start_watchdog())
}

extern "C" fn on_signal(_: libc::c_int) {}

/// The handler: does nothing, and without `SA_RESTART`, so that the interrupted call fails
/// with `EINTR` instead of being restarted.
fn install_handler() -> bool {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    let Ok(signal) = Signal::try_from(SIGNAL) else {
        return false;
    };
    // SAFETY: the handler is async-signal-safe (it does nothing) and lives for the process.
    unsafe { sigaction(signal, &action) }.is_ok()
}

fn start_watchdog() -> bool {
    std::thread::Builder::new()
        .name("wait watchdog".into())
        .stack_size(64 * 1024)
        .spawn(watch_forever)
        .is_ok()
}

/// The watchdog's loop: each period, signals every thread seen in the same wait as at the look
/// before.
fn watch_forever() {
    // Of its descriptors it needs stderr alone, should it panic.
    descriptor_table::leave_shared(&[STDERR]);
    let mut seen = [0u64; SLOTS];
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    loop {
        std::thread::sleep(PERIOD);
        for (slot, seen) in TABLE.iter().zip(seen.iter_mut()) {
            if !slot.taken.load(Ordering::Acquire) {
                continue;
            }
            let waits = slot.waits.load(Ordering::Acquire);
            if waits % 2 == 1 && waits == *seen {
                let tid = slot.tid.load(Ordering::Acquire);
                if tid != 0 {
                    // SAFETY: tgkill has no memory preconditions. A thread that ended
                    // meanwhile makes it fail with ESRCH; one of this process that got the
                    // ended thread's id in the instant since gets a stray SIGURG, which at
                    // worst cuts one of its waits short.
                    unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, SIGNAL) };
                }
            }
            *seen = waits;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    /// A blocking call no one will end (a read of a pipe whose writer stays silent) comes back
    /// with EINTR, not before a whole period, and its mark is ended after.
    #[test]
    fn a_watched_wait_is_interrupted_after_a_period_and_its_mark_ended() {
        let (read_end, _write_end) = nix::unistd::pipe().unwrap();
        let started = Instant::now();
        let mark = begin().expect("a watchdog in the test process");
        let mut byte = [0u8; 1];
        let result = nix::unistd::read(read_end.as_raw_fd(), &mut byte);
        drop(mark);
        assert_eq!(result, Err(nix::errno::Errno::EINTR));
        let waited = started.elapsed();
        assert!(
            waited >= PERIOD,
            "cut after {waited:?}, before a whole period"
        );
        let index = SLOT.get() - 1;
        assert_eq!(
            TABLE[index].waits.load(Ordering::Relaxed) % 2,
            0,
            "the mark was ended"
        );
    }
}
