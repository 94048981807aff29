//! A process's scheduling state as the kernel shows it in `/proc/PID/stat`, and whether (and
//! by which signal) a child is stopped: what tells a client or server that was stopped
//! (`kill -STOP`, a debugger) from one that is only slow. The look costs the watched process
//! nothing: no thread, no heartbeat, nothing in its timed loop.

use std::fmt;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The state letter of `pid` (`R`, `S`, `D`, `T`, `t`, `Z`, …); None once it is gone.
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    state_in(&stat)
}

/// The state letter in the text of a `/proc/PID/stat`. The command name before it is in
/// parentheses and may itself hold `)` or spaces, so the state is read after the last `)`.
fn state_in(stat: &str) -> Option<char> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// True unless the kernel says no such process exists (EPERM means it exists, as someone else's).
pub fn process_alive(pid: u32) -> bool {
    match i32::try_from(pid) {
        Ok(pid) if pid > 0 => !matches!(
            nix::sys::signal::kill(Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        ),
        _ => false,
    }
}

/// How a process is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Stopped by a tracer (state `t`, a debugger) rather than by a stop signal (`T`).
    pub traced: bool,
    /// The signal that stopped it, where the kernel tells this process (its parent).
    pub signal: Option<Signal>,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.traced, self.signal) {
            (true, _) => write!(f, "stopped by a tracer"),
            (false, Some(signal)) => write!(f, "stopped ({})", signal.as_str()),
            (false, None) => write!(f, "stopped"),
        }
    }
}

/// Whether `pid` is stopped now, and how. The signal is asked of the kernel with `waitid`'s
/// `WNOWAIT`, which leaves the stop (and any later exit) to be reported again: only a parent
/// may ask, and for another process the signal is None.
pub fn stopped(pid: u32) -> Option<Stopped> {
    let traced = match state(pid)? {
        'T' => false,
        't' => true,
        _ => return None,
    };
    let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    let signal = match waitid(Id::Pid(Pid::from_raw(pid as i32)), flags) {
        Ok(WaitStatus::Stopped(_, signal)) => Some(signal),
        _ => None,
    };
    Some(Stopped { traced, signal })
}

/// Follows one process's stops across looks: how long it has been stopped without a break.
#[derive(Debug, Default)]
pub struct StopClock {
    since: Option<Instant>,
}

impl StopClock {
    /// Looks at `pid` now: how it is stopped, once it has stayed stopped at every look for
    /// longer than `limit`; None while it runs (which restarts the clock) or is stopped for
    /// less.
    pub fn stopped_longer_than(&mut self, pid: u32, limit: Duration) -> Option<Stopped> {
        let Some(stopped) = stopped(pid) else {
            self.since = None;
            return None;
        };
        let since = *self.since.get_or_insert_with(Instant::now);
        (since.elapsed() > limit).then_some(stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::kill;

    #[test]
    fn the_state_is_read_after_the_last_parenthesis_of_the_name() {
        assert_eq!(state_in("12 (sleep) S 1 12"), Some('S'));
        assert_eq!(state_in("12 (a) T (b)) T 1 12"), Some('T'));
        assert_eq!(state_in("12 (x"), None);
        // This process's main thread runs or waits for the test threads; it is not stopped.
        assert!(matches!(state(std::process::id()), Some('R' | 'S')));
        assert_eq!(stopped(std::process::id()), None);
        assert_eq!(state(u32::MAX), None);
    }

    #[test]
    fn a_child_stopped_by_sigstop_is_seen_stopped_with_its_signal_until_it_continues() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert_eq!(stopped(pid), None);
        kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stopped(pid).is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let expected = Stopped {
            traced: false,
            signal: Some(Signal::SIGSTOP),
        };
        assert_eq!(stopped(pid), Some(expected));
        assert_eq!(expected.to_string(), "stopped (SIGSTOP)");
        let mut clock = StopClock::default();
        assert_eq!(
            clock.stopped_longer_than(pid, Duration::from_secs(3600)),
            None
        );
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(
            clock.stopped_longer_than(pid, Duration::ZERO),
            Some(expected)
        );
        kill(Pid::from_raw(pid as i32), Signal::SIGCONT).unwrap();
        while stopped(pid).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(clock.stopped_longer_than(pid, Duration::ZERO), None);
        child.kill().unwrap();
        // Still reapable: the looks above consumed nothing.
        assert!(child.wait().unwrap().code().is_none());
    }
}
