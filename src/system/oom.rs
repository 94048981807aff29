//! How many processes the kernel's OOM killer has killed: in the whole system
//! (`/proc/vmstat`'s `oom_kill`, Linux 4.13) and in this process's cgroup (cgroup v2's
//! `memory.events`), where a memory limit kills without the system running short. A child
//! killed by SIGKILL that nobody here sent, while one of these counts went up, was killed for
//! memory: the driver says "killed: out of memory" rather than only "SIGKILL".

use std::fs;

/// The sum of the OOM kills the system and this process's cgroup have counted; None where
/// neither can be read.
pub fn oom_kills() -> Option<u64> {
    let system = counter(&fs::read_to_string("/proc/vmstat").ok()?, "oom_kill");
    let cgroup = own_cgroup_events().and_then(|events| counter(&events, "oom_kill"));
    match (system, cgroup) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

/// The `memory.events` of this process's cgroup (v2), if it has one.
fn own_cgroup_events() -> Option<String> {
    let cgroups = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroups.lines().find_map(|line| line.strip_prefix("0::"))?;
    fs::read_to_string(format!("/sys/fs/cgroup{}/memory.events", path.trim_end())).ok()
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
        assert!(oom_kills().is_some(), "/proc/vmstat has oom_kill");
    }
}
