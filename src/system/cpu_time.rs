//! The CPU time a process has used, all its threads together: its CPU-time clock
//! (`clock_getcpuclockid`, `CLOCK_PROCESS_CPUTIME_ID` for this process), which the kernel keeps
//! to the nanosecond, the slice a thread is running at this moment included. The `utime` and
//! `stime` of `/proc/PID/stat` count 10 ms ticks: too coarse for a case that lasts 50 ms.

use std::time::Duration;

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
}
