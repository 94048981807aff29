//! How every wait of a transport is bounded: the slices a blocking call waits in, the
//! [`PeerWatch`] asked between them (a dead peer, a stop flag), the [`WaitBudget`] that fails a
//! wait after its timeout, [`retry_until_created`] for a client that starts before its server,
//! and [`spin_until`] for a waiter that polls before it blocks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::transport::error::TransportError;

/// Checked by a client between the slices of a long wait, so that a dead server or a Ctrl-C
/// ends the wait promptly instead of after the full timeout.
pub trait PeerWatch: Send + Sync {
    fn check(&self) -> Result<(), TransportError>;

    /// Whether the watch follows a peer process, whose death it may learn a moment after the
    /// connection breaks (from `waitpid`), so that a broken connection is worth a short wait
    /// for the real cause. A watch of nothing but a flag has nothing to add: not waiting keeps
    /// a server from pausing for every client that hangs up mid-message.
    fn follows_a_process(&self) -> bool {
        false
    }
}

/// A watch that never objects: for clients whose peer is not a child process.
pub struct NoWatch;

impl PeerWatch for NoWatch {
    fn check(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

/// A watch for a server mid-request: gives up once its stop flag is set, so SIGTERM is not
/// held up by a client that vanished half-way through an exchange.
pub struct StopFlag<'a>(pub &'a AtomicBool);

impl PeerWatch for StopFlag<'_> {
    fn check(&self) -> Result<(), TransportError> {
        if self.0.load(std::sync::atomic::Ordering::Relaxed) {
            Err(TransportError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// How long a broken connection waits for a watch that follows the peer's process to say why.
pub const EXIT_SEEN_GRACE: Duration = Duration::from_millis(100);

/// The connection to the peer broke: what `watch` objects to within `grace`, if it follows
/// the peer's process (a dead server is seen from its pidfd or `/proc`, which may lag the
/// socket's news: the kernel closes an exiting process's sockets before its exit can be seen,
/// and a server's other threads may answer for it while it exits). Asked once otherwise: a
/// watch of nothing but a flag has nothing to add, and not waiting keeps a server from pausing
/// for every client that hangs up mid-message.
pub fn objection_within(watch: &dyn PeerWatch, grace: Duration) -> Option<TransportError> {
    objection_until(watch, Instant::now() + grace)
}

/// [`objection_within`] a grace that ends at `deadline`, fixed before the wait (the driver's:
/// a client's report plus its grace): asked once if it has passed.
pub fn objection_until(watch: &dyn PeerWatch, deadline: Instant) -> Option<TransportError> {
    loop {
        match watch.check() {
            Err(e) => return Some(e),
            Ok(()) if watch.follows_a_process() && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Ok(()) => return None,
        }
    }
}

/// Whether an I/O error says the peer hung up: its end reset or closed, or the stream ended
/// mid-message. What [`objection_within`] is then asked to explain.
pub fn is_hang_up(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
    )
}

/// How long one slice of a bounded wait blocks before the [`PeerWatch`] is asked again.
pub const WAIT_SLICE: Duration = Duration::from_millis(50);

/// How often an idle server looks at its stop flag.
pub const IDLE_SLICE: Duration = Duration::from_millis(100);

/// Pause between two attempts to open an endpoint the server has not created yet: short, as
/// the server is normally a few milliseconds behind.
const RETRY_PAUSE: Duration = Duration::from_millis(5);

/// How an idle server waits for its next request: as long as it takes, one slice at a time
/// (`one_slice` blocks for at most [`IDLE_SLICE`]), looking at `stop` before each slice. True
/// once `one_slice` saw a request arrive, false once `stop` was set first.
#[inline(always)]
pub fn idle_until_request(
    stop: &AtomicBool,
    mut one_slice: impl FnMut() -> Result<bool, TransportError>,
) -> Result<bool, TransportError> {
    while !stop.load(Ordering::Relaxed) {
        if one_slice()? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How a paced client with requests in flight waits for a reply until its next send is due
/// ([`TransportClient::await_reply_until`](crate::transport::spec::TransportClient::await_reply_until)):
/// `one_slice(slice)` waits at most `slice` and says whether the reply is there; between
/// slices of at most [`WAIT_SLICE`] the watch is asked. True once the reply is there, false
/// once `until` came first (after a last look that does not wait).
pub fn ready_before(
    until: Instant,
    watch: &dyn PeerWatch,
    mut one_slice: impl FnMut(Duration) -> Result<bool, TransportError>,
) -> Result<bool, TransportError> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if one_slice(left.min(WAIT_SLICE))? {
            return Ok(true);
        }
        if left.is_zero() {
            return Ok(false);
        }
        watch.check()?;
    }
}

/// When a wait runs out: set by the first slice that runs out, so the fast path never reads the
/// clock; `Never` for a timeout too far in the future to be an `Instant`.
#[derive(Debug, Clone, Copy)]
enum Deadline {
    NotStarted,
    At(Instant),
    Never,
}

/// The budget of one wait that blocks in slices (a socket, semaphore or futex timeout of
/// [`WAIT_SLICE`], or the pause between attempts to open): each time a slice runs out, the
/// watch is asked, and the wait fails once `timeout` has passed. A wait may last up to one
/// slice longer than `timeout`, the price of never reading the clock on the fast path.
pub struct WaitBudget<'a> {
    timeout: Duration,
    watch: &'a dyn PeerWatch,
    deadline: Deadline,
}

impl<'a> WaitBudget<'a> {
    pub fn new(timeout: Duration, watch: &'a dyn PeerWatch) -> WaitBudget<'a> {
        WaitBudget {
            timeout,
            watch,
            deadline: Deadline::NotStarted,
        }
    }

    pub fn watch(&self) -> &'a dyn PeerWatch {
        self.watch
    }

    /// Called after a slice ran out waiting for `what`: fails if the peer is gone or the time is up.
    pub fn slice_expired(&mut self, what: &str) -> Result<(), TransportError> {
        self.watch.check()?;
        self.check_deadline(what)
    }

    /// Called after a transfer that moved part of a message, `what`, when more is to come: a
    /// peer that trickles bytes (one every 40 ms) never lets a slice run out, so the deadline
    /// is started and checked here too, and bounds the whole message. It costs a clock read
    /// per partial transfer, none for a message that moves in one call.
    pub fn made_progress(&mut self, what: &str) -> Result<(), TransportError> {
        self.check_deadline(what)
    }

    fn check_deadline(&mut self, what: &str) -> Result<(), TransportError> {
        let now = Instant::now();
        if let Deadline::NotStarted = self.deadline {
            // A huge timeout (`--timeout 500000000000years`) means no deadline, not a panic.
            self.deadline = now
                .checked_add(self.timeout)
                .map_or(Deadline::Never, Deadline::At);
        }
        match self.deadline {
            Deadline::At(deadline) if now >= deadline => Err(TransportError::Timeout {
                what: what.to_string(),
                timeout: self.timeout,
            }),
            _ => Ok(()),
        }
    }
}

/// Calls `open` until it stops failing because the server has not created its endpoint yet.
/// `not_created_yet` recognises such a failure and says what the client is waiting for (which
/// becomes the timeout's text); any other failure ends the retries at once.
pub fn retry_until_created<T>(
    budget: &mut WaitBudget<'_>,
    mut open: impl FnMut() -> Result<T, TransportError>,
    not_created_yet: impl Fn(&TransportError) -> Option<String>,
) -> Result<T, TransportError> {
    loop {
        match open() {
            Err(e) => match not_created_yet(&e) {
                Some(what) => {
                    budget.slice_expired(&what)?;
                    std::thread::sleep(RETRY_PAUSE);
                }
                None => return Err(e),
            },
            opened => return opened,
        }
    }
}

/// The longest `--spin-budget`: a spinning wait looks at neither the clock's deadline nor the
/// stop flag, so a budget must stay far below the timeout and the idle server's stop slice.
pub const MAX_SPIN_BUDGET: Duration = Duration::from_millis(10);

/// Polls between looks at the clock (and between `sched_yield`s).
pub const SPINS_PER_YIELD: u32 = 64;

/// Calls `poll` until it returns something or `budget` has passed; None once the budget is
/// spent (at once for a budget of 0). Yields the CPU every [`SPINS_PER_YIELD`] polls, so that a
/// peer on the same CPU gets to run instead of being spun against.
// The zero check inline, the spinning out of line: a wait without a budget (SHM POSIX's
// default) goes straight to its blocking call.
#[inline(always)]
pub fn spin_until<T>(budget: Duration, poll: impl FnMut() -> Option<T>) -> Option<T> {
    if budget.is_zero() {
        return None;
    }
    spin_for(budget, poll)
}

#[inline(never)]
fn spin_for<T>(budget: Duration, mut poll: impl FnMut() -> Option<T>) -> Option<T> {
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

/// A watch for tests: of a process seen to exit at its `lag`-th check (never, at `u32::MAX`),
/// as a server whose connection broke a moment before its exit could be seen.
#[cfg(test)]
pub(crate) struct ExitsAfter {
    lag: u32,
    checks: std::sync::atomic::AtomicU32,
    follows: bool,
}

#[cfg(test)]
impl ExitsAfter {
    /// The text of the exit it reports.
    pub(crate) const EXIT: &'static str = "server exited: exit code 3";

    /// `follows`: whether it follows a process ([`PeerWatch::follows_a_process`]).
    pub(crate) fn new(lag: u32, follows: bool) -> ExitsAfter {
        let checks = std::sync::atomic::AtomicU32::new(0);
        ExitsAfter {
            lag,
            checks,
            follows,
        }
    }

    /// How many times it was asked.
    pub(crate) fn checks(&self) -> u32 {
        self.checks.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
impl PeerWatch for ExitsAfter {
    fn check(&self) -> Result<(), TransportError> {
        match self.checks.fetch_add(1, Ordering::Relaxed) >= self.lag {
            true => Err(TransportError::PeerGone(ExitsAfter::EXIT.into())),
            false => Ok(()),
        }
    }

    fn follows_a_process(&self) -> bool {
        self.follows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_too_far_away_means_no_deadline() {
        let mut budget = WaitBudget::new(Duration::MAX, &NoWatch);
        assert!(budget.slice_expired("nothing").is_ok());
        assert!(budget.slice_expired("nothing").is_ok());
    }
    #[test]
    fn a_budget_runs_out_after_its_timeout() {
        let mut budget = WaitBudget::new(Duration::ZERO, &NoWatch);
        let err = budget.slice_expired("the reply").unwrap_err();
        assert_eq!(err.to_string(), "timed out after 0s waiting for the reply");
    }

    #[test]
    fn a_watch_of_a_process_is_given_the_grace_to_see_its_exit() {
        let watch = ExitsAfter::new(3, true);
        let seen = objection_within(&watch, Duration::from_secs(60));
        assert_eq!(seen.unwrap().to_string(), "server exited: exit code 3");
        assert_eq!(watch.checks(), 4);
    }

    #[test]
    fn a_watch_of_no_process_is_asked_once_and_the_grace_is_bounded() {
        let flag_only = ExitsAfter::new(1, false);
        assert!(objection_within(&flag_only, Duration::from_secs(60)).is_none());
        assert_eq!(flag_only.checks(), 1);
        let never = ExitsAfter::new(u32::MAX, true);
        let started = Instant::now();
        assert!(objection_within(&never, Duration::from_millis(20)).is_none());
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the grace did not end"
        );
    }

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
}
