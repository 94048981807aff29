//! Whether the kernel's OOM killer killed one given child process ([`OomWatch`]), told by the
//! pid where the kernel says it, so that an unrelated process killed for memory elsewhere on
//! the machine does not make a client's SIGKILL "out of memory" (issue 27).
//!
//! What says so, best first ([`OomEvidence`]):
//! - the kernel's log (`/dev/kmsg`, read from where it ended when the child started):
//!   "Killed process PID (name) …" names each process the OOM killer kills. It can be read by
//!   root, or by anyone where `kernel.dmesg_restrict` is 0, and its pids are the initial PID
//!   namespace's, so it is used only there. A log read whole that does not name the child
//!   settles it: not an OOM kill.
//! - the child's own memory cgroup's count of OOM kills (v2: `oom_kill` in `memory.events`; v1,
//!   Linux 4.13: `oom_kill` in `memory.oom_control`), which the kernel adds to for every kill of
//!   a process in that cgroup, whatever ran short (the cgroup's limit or the machine). Other
//!   processes in the same cgroup count too, so the wording says the cgroup counted a kill.
//! - only the system's count (`/proc/vmstat`'s `oom_kill`, Linux 4.13): any process on the
//!   machine, so the wording says "possibly this one".

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::system::memory::memory_cgroup_of;
use crate::system::pid_namespace;

/// The kernel's log, one record per read.
const KERNEL_LOG: &str = "/dev/kmsg";
/// Room for the longest record the kernel hands out (8 KiB and a header).
const KERNEL_LOG_RECORD_BYTES: usize = 16 * 1024;
/// How many records are read at most, so that a flooding log cannot keep the driver reading.
const KERNEL_LOG_MOST_RECORDS: usize = 100_000;

/// What says the kernel's OOM killer killed a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OomEvidence {
    /// The kernel's log names it: "Killed process PID (…)".
    KernelLog,
    /// Its own memory cgroup (this directory) counted an OOM kill while it ran.
    Cgroup(PathBuf),
    /// Only the system's count rose: some process was OOM-killed meanwhile, possibly this one.
    SystemOnly,
}

/// The OOM kills seen from before a child started until after it died.
#[derive(Debug)]
pub struct OomWatch {
    /// The kernel's log, positioned where it ended when the watch started.
    kernel_log: Option<File>,
    /// The child's memory cgroup and its count of OOM kills when it started.
    cgroup: Option<(PathBuf, u64)>,
    system_before: Option<u64>,
}

impl OomWatch {
    /// Starts watching, before a child is spawned.
    pub fn start() -> OomWatch {
        OomWatch {
            kernel_log: open_kernel_log_at_end(),
            cgroup: None,
            system_before: system_oom_kills(),
        }
    }

    /// Notes child `pid`'s own memory cgroup and its count, as soon as it runs (it starts in
    /// the driver's). A child in a hierarchy's root is left to the system's count: v2 keeps
    /// no `memory.events` there, and whether v1 counts the root's kills is not the same in
    /// every version.
    pub fn child_started(&mut self, pid: u32) {
        self.cgroup =
            memory_cgroup_of(pid).and_then(|dir| Some((dir.clone(), cgroup_oom_kills(&dir)?)));
    }

    /// What says child `pid`, which died of a SIGKILL nobody here sent, was OOM-killed; None
    /// when nothing does.
    pub fn evidence(&mut self, pid: u32) -> Option<OomEvidence> {
        let log = self.kernel_log.take().map(|log| read_kernel_log(log, pid));
        let cgroup = (self.cgroup.as_ref()).map(|(dir, before)| {
            let counted = cgroup_oom_kills(dir).is_some_and(|now| now > *before);
            (dir.clone(), counted)
        });
        let system_counted = (self.system_before)
            .zip(system_oom_kills())
            .is_some_and(|(before, now)| now > before);
        judge(log, cgroup, system_counted)
    }
}

/// What the kernel's log said of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogReading {
    /// It names the child as killed.
    Named,
    /// Read whole, it does not name it.
    NotNamed,
    /// It does not name it, but records were lost (overwritten before they were read).
    Incomplete,
}

/// Weighs what was seen: the log first, then the child's cgroup (which counts every kill of its
/// processes), then the system's count.
fn judge(
    log: Option<LogReading>,
    cgroup: Option<(PathBuf, bool)>,
    system_counted: bool,
) -> Option<OomEvidence> {
    match (log, cgroup) {
        (Some(LogReading::Named), _) => Some(OomEvidence::KernelLog),
        (Some(LogReading::NotNamed), _) => None,
        (_, Some((dir, true))) => Some(OomEvidence::Cgroup(dir)),
        (_, Some((_, false))) => None,
        (_, None) => system_counted.then_some(OomEvidence::SystemOnly),
    }
}

/// The kernel's log opened after its last record, where it may be read and its pids are ours.
fn open_kernel_log_at_end() -> Option<File> {
    if pid_namespace::own() != Some(pid_namespace::INITIAL) {
        return None;
    }
    let mut log = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(KERNEL_LOG)
        .ok()?;
    log.seek(SeekFrom::End(0)).ok()?;
    Some(log)
}

/// Reads the records logged since `log` was opened, looking for the kill of `pid`.
fn read_kernel_log(mut log: File, pid: u32) -> LogReading {
    let mut record = vec![0; KERNEL_LOG_RECORD_BYTES];
    let mut lost = false;
    for _ in 0..KERNEL_LOG_MOST_RECORDS {
        match log.read(&mut record) {
            Ok(0) => break,
            Ok(len) => {
                let text = String::from_utf8_lossy(&record[..len]);
                if killed_pid(&text) == Some(pid) {
                    return LogReading::Named;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Records were overwritten before they were read; the reader moves on past them.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => lost = true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return LogReading::Incomplete,
        }
    }
    match lost {
        true => LogReading::Incomplete,
        false => LogReading::NotNamed,
    }
}

/// The pid of a kernel log record `PRIO,SEQ,TIME,FLAGS;… Killed process PID (name) …`, as the
/// OOM killer words it ("Out of memory: ", "Memory cgroup out of memory: " before it).
fn killed_pid(record: &str) -> Option<u32> {
    let message = record.split_once(';')?.1;
    let after = message.split_once("Killed process ")?.1;
    let (pid, rest) = after.split_once(' ')?;
    rest.starts_with('(').then(|| pid.parse().ok()).flatten()
}

/// `/proc/vmstat`'s `oom_kill`: the kills on the whole system since boot.
fn system_oom_kills() -> Option<u64> {
    counter(&fs::read_to_string("/proc/vmstat").ok()?, "oom_kill")
}

/// The `oom_kill` count of the memory cgroup at `dir`: v2's `memory.events`, or v1's
/// `memory.oom_control`.
fn cgroup_oom_kills(dir: &Path) -> Option<u64> {
    ["memory.events", "memory.oom_control"]
        .into_iter()
        .find_map(|file| counter(&fs::read_to_string(dir.join(file)).ok()?, "oom_kill"))
}

/// The value of the `key value` line of `text` named `key`.
fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_name() {
        let text = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(counter(text, "oom_kill"), Some(1));
        assert_eq!(counter(text, "oom"), Some(2));
        assert_eq!(counter(text, "missing"), None);
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n";
        assert_eq!(counter(v1, "oom_kill"), Some(4));
        assert!(system_oom_kills().is_some(), "/proc/vmstat has oom_kill");
    }

    #[test]
    fn the_kernel_logs_kill_line_names_the_pid() {
        let cgroup = "3,2570,7633796686,-;Memory cgroup out of memory: Killed process 20401 \
                      (transport-bench) total-vm:228404kB, anon-rss:63360kB, UID:0\n";
        assert_eq!(killed_pid(cgroup), Some(20401));
        let system = "3,12,500,-;Out of memory: Killed process 7 (a b) total-vm:1kB\n";
        assert_eq!(killed_pid(system), Some(7));
        let summary = "6,2569,7633796655,-;oom-kill:constraint=CONSTRAINT_MEMCG,task=x,pid=1,uid=0";
        assert_eq!(killed_pid(summary), None);
        assert_eq!(killed_pid("6,1,1,-;Killed process 12345"), None);
        assert_eq!(killed_pid("6,1,1,-;oom_reaper: reaped process 9 (x)"), None);
        assert_eq!(killed_pid("Killed process 5 (no header)"), None);
    }

    #[test]
    fn a_kill_elsewhere_on_the_machine_is_not_this_childs() {
        let dir = PathBuf::from("/sys/fs/cgroup/memory/tb");
        let named = Some(LogReading::Named);
        let not_named = Some(LogReading::NotNamed);
        let lost = Some(LogReading::Incomplete);
        let counted = Some((dir.clone(), true));
        let not_counted = Some((dir.clone(), false));
        // The log's word is final when it was read whole.
        assert_eq!(judge(named, None, false), Some(OomEvidence::KernelLog));
        assert_eq!(judge(not_named, counted.clone(), true), None);
        // The child's cgroup counts every kill of its processes, whatever ran short.
        let by_cgroup = Some(OomEvidence::Cgroup(dir));
        assert_eq!(judge(lost, counted.clone(), true), by_cgroup);
        assert_eq!(judge(None, counted, false), by_cgroup);
        assert_eq!(judge(None, not_counted, true), None);
        // Only the system's count: possibly this one.
        assert_eq!(judge(None, None, true), Some(OomEvidence::SystemOnly));
        assert_eq!(judge(lost, None, false), None);
    }

    #[test]
    fn a_watch_over_a_child_that_was_not_killed_finds_nothing() {
        let mut watch = OomWatch::start();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        watch.child_started(child.id());
        child.wait().unwrap();
        assert_eq!(watch.evidence(child.id()), None, "{watch:?}");
    }
}
