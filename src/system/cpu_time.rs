//! The CPU time a process has used, all its threads together: its CPU-time clock
//! (`clock_getcpuclockid`, `CLOCK_PROCESS_CPUTIME_ID` for this process), which the kernel keeps
//! to the nanosecond. The `utime` and `stime` of `/proc/PID/stat` count ticks: too coarse for
//! a case that lasts 50 ms.
//!
//! One catch, measured on this kernel: read from another process, the clock leaves out the
//! slice a thread is running at that moment: a spinning server's clock moves in steps of a
//! scheduler tick (4 ms here), as far off as a whole short case. A thread that is not running
//! has all its time counted. So another process's clock is read once none of its threads is
//! running ([`ProcessCpuClock::read_settled`]), which a server waiting for a request reaches
//! within its spin budget; the reading is then exact (to the tens of µs of the wait).

use std::time::{Duration, Instant};

use nix::time::{clock_getcpuclockid, clock_gettime, ClockId};
use nix::unistd::Pid;

/// The CPU-time clock of one process.
#[derive(Debug, Clone, Copy)]
pub struct ProcessCpuClock(ClockId);

impl ProcessCpuClock {
    /// This process: the measuring thread and every thread a transport's library started.
    pub fn of_this_process() -> ProcessCpuClock {
        ProcessCpuClock(ClockId::CLOCK_PROCESS_CPUTIME_ID)
    }

    /// Another process of ours (a spawned server); None if the kernel does not give its clock.
    /// Pid 0, which the call would take for this process, is no other process.
    pub fn of(pid: u32) -> Option<ProcessCpuClock> {
        let pid = Pid::from_raw(i32::try_from(pid).ok().filter(|&pid| pid > 0)?);
        clock_getcpuclockid(pid).ok().map(ProcessCpuClock)
    }

    /// The CPU time used so far; None once the process is gone.
    pub fn read(self) -> Option<Duration> {
        clock_gettime(self.0).ok().map(Duration::from)
    }

    /// The CPU time of process `pid` (whose clock this is) once none of its threads is
    /// running, waiting at most [`SETTLE_LIMIT`] for that; after it, as the clock says then
    /// (at most a tick of each running thread's slice short).
    pub fn read_settled(self, pid: u32) -> Option<Duration> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        while any_thread_running(pid) && Instant::now() < deadline {
            std::thread::sleep(SETTLE_POLL);
        }
        self.read()
    }
}

/// How long a reading waits for a process to stop running: more than the longest spin
/// budget (10 ms), after which a waiting server sleeps.
pub const SETTLE_LIMIT: Duration = Duration::from_millis(25);

/// How often it looks meanwhile.
const SETTLE_POLL: Duration = Duration::from_micros(50);

/// Whether a thread of `pid` is running or about to (state R in its `stat`). A process whose
/// threads cannot be read is taken as settled: its clock says what it can.
fn any_thread_running(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|stat| {
                stat.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('R'))
            })
            .unwrap_or(false)
    })
}

/// A process's CPU time split by mode as the kernel accounts it: `utime` and `stime` of
/// `/proc/PID/stat` (all threads), in clock ticks of 1/`CLK_TCK` s. On a kernel with tick-based
/// accounting (this VM's: `CONFIG_TICK_CPU_ACCOUNTING`, HZ=250) the kernel knows the split only
/// by sampling: each timer tick charges the running task's mode, and the two are then scaled
/// to the exact runtime. So the split is a sample of one tick per 4 ms of CPU, coarse below
/// about a second of it; the figures say how much CPU time it rests on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModeTicks {
    pub user: u64,
    pub system: u64,
}

impl ModeTicks {
    /// Process `pid`'s ticks so far; None once it is gone.
    pub fn of(pid: u32) -> Option<ModeTicks> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command name (which may hold spaces and parentheses): field 3 onwards;
        // utime and stime are fields 14 and 15.
        let (_, rest) = stat.rsplit_once(')')?;
        let mut fields = rest.split_whitespace().skip(11);
        let mut next = || fields.next()?.parse().ok();
        Some(ModeTicks {
            user: next()?,
            system: next()?,
        })
    }

    /// What was accounted since `start`; None if a count went back (another process took the pid).
    pub fn since(self, start: ModeTicks) -> Option<ModeTicks> {
        Some(ModeTicks {
            user: self.user.checked_sub(start.user)?,
            system: self.system.checked_sub(start.system)?,
        })
    }

    pub fn plus(self, other: ModeTicks) -> ModeTicks {
        ModeTicks {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }

    /// The share of user mode; None when nothing was accounted.
    pub fn user_share(self) -> Option<f64> {
        let total = self.user + self.system;
        (total > 0).then(|| self.user as f64 / total as f64)
    }

    /// The CPU time the split rests on.
    pub fn accounted(self) -> Duration {
        let per_second = clock_ticks_per_second();
        Duration::from_secs_f64((self.user + self.system) as f64 / per_second as f64)
    }
}

/// `CLK_TCK`, the unit of `/proc/PID/stat`'s times (100 on Linux, whatever HZ is).
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a constant of the system and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_uses_cpu_time_and_a_missing_one_has_no_clock() {
        let clock = ProcessCpuClock::of_this_process();
        let before = clock.read().unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(clock.read().unwrap() > before);
        let mine = ProcessCpuClock::of(std::process::id()).unwrap();
        assert!(mine.read().unwrap() > Duration::ZERO);
        assert!(ProcessCpuClock::of(0).is_none());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        assert!(ProcessCpuClock::of(gone)
            .and_then(ProcessCpuClock::read)
            .is_none());
    }

    /// Spinning in user mode is accounted as user time, and a process gone has no ticks. The
    /// spinner is a child of its own: this test binary's other threads make system calls.
    #[test]
    fn a_spinning_process_is_accounted_in_user_mode() {
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; exec sleep 30",
            ])
            .spawn()
            .unwrap();
        let pid = child.id();
        let asleep = || {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.trim() == "sleep" && !any_thread_running(pid)
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !asleep() {
            assert!(Instant::now() < deadline, "the spinner never slept");
            std::thread::sleep(Duration::from_millis(10));
        }
        let spent = ModeTicks::of(pid).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(spent.user > spent.system, "{spent:?}");
        assert!(spent.user_share().unwrap() > 0.5, "{spent:?}");
        assert!(spent.accounted() > Duration::ZERO);
        assert_eq!(ModeTicks::default().user_share(), None);
        assert_eq!(ModeTicks::of(pid), None, "a process gone has no ticks");
        assert_eq!(ModeTicks::of(0), None);
    }

    /// A process that spins for a while and then sleeps: read once it sleeps, its clock holds
    /// the spin, and does not move while it sleeps.
    #[test]
    fn a_settled_reading_counts_the_running_slice() {
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 30",
            ])
            .spawn()
            .unwrap();
        let clock = ProcessCpuClock::of(child.id()).unwrap();
        let pid = child.id();
        // The spin ends when sleep is exec'd and has started sleeping: asleep three looks in a
        // row, 10 ms apart.
        let asleep = || {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.trim() == "sleep" && !any_thread_running(pid)
        };
        let mut quiet = 0;
        while quiet < 3 {
            quiet = if asleep() { quiet + 1 } else { 0 };
            std::thread::sleep(Duration::from_millis(10));
        }
        let settled = clock.read_settled(pid).unwrap();
        assert!(settled > Duration::from_micros(100), "{settled:?}");
        assert_eq!(
            clock.read_settled(pid),
            Some(settled),
            "a sleeping process uses no CPU"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
