//! How much memory this process can still take: the kernel's estimate for the machine
//! (`MemAvailable` in `/proc/meminfo`), and, when the process is in a memory cgroup with a
//! limit, what is left under that limit (cgroup v2: `memory.max` minus `memory.current`; v1:
//! `memory.limit_in_bytes` minus `memory.usage_in_bytes`), at every level from the process's
//! cgroup up to the hierarchy's root, since an ancestor's limit binds too. The smaller figure
//! is the room ([`MemoryRoom`]), with what said so, so that a refusal can name the limit
//! (issue 27, #2: in a 3 GiB cgroup the driver was OOM-killed with no report).

use std::fs;
use std::path::{Path, PathBuf};

/// Where cgroup v2's hierarchy is mounted, and where v1's memory controller is.
const CGROUP_V2_ROOT: &str = "/sys/fs/cgroup";
const CGROUP_V1_MEMORY_ROOT: &str = "/sys/fs/cgroup/memory";

/// A v1 limit at or above this is "no limit" (the kernel shows `PAGE_COUNTER_MAX` pages).
const CGROUP_V1_UNLIMITED: u64 = 1 << 62;

/// What bounds the memory this process can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryBound {
    /// The machine's own estimate, `MemAvailable`.
    MemAvailable,
    /// A memory cgroup's limit (its directory), with what the cgroup uses now.
    Cgroup {
        dir: PathBuf,
        limit_bytes: u64,
        used_bytes: u64,
    },
}

/// How much memory this process can still take, and what bounds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryRoom {
    pub bytes: u64,
    pub bound: MemoryBound,
}

/// The memory this process can still take, or None when neither the machine nor a cgroup says.
pub fn memory_room() -> Option<MemoryRoom> {
    let machine = mem_available_bytes().map(|bytes| MemoryRoom {
        bytes,
        bound: MemoryBound::MemAvailable,
    });
    let cgroups = own_cgroup_dirs()
        .into_iter()
        .filter_map(|dir| cgroup_room(&dir));
    machine
        .into_iter()
        .chain(cgroups)
        .min_by_key(|room| room.bytes)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn mem_available_bytes() -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// The memory cgroup directories this process is in, its own first, then each ancestor up to
/// the mounted root.
fn own_cgroup_dirs() -> Vec<PathBuf> {
    let Ok(membership) = fs::read_to_string("/proc/self/cgroup") else {
        return Vec::new();
    };
    memory_cgroups(&membership)
        .into_iter()
        .flat_map(|(root, path)| dir_and_ancestors(Path::new(root), path))
        .collect()
}

/// The memory cgroup directory process `pid` is in itself (not an ancestor's), where it is
/// mounted here: v2's, or v1's memory controller's. None for a process that is gone, in a
/// hierarchy's root, or whose cgroup is outside what is mounted (another cgroup namespace's).
pub fn memory_cgroup_of(pid: u32) -> Option<PathBuf> {
    let membership = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    memory_cgroups(&membership)
        .into_iter()
        .filter(|(_, path)| !path.trim_start_matches('/').is_empty())
        .map(|(root, path)| Path::new(root).join(path.trim_start_matches('/')))
        .find(|dir| dir.join("memory.events").is_file() || dir.join("memory.oom_control").is_file())
}

/// The hierarchies of a `/proc/PID/cgroup` text that can hold a memory cgroup, each with where
/// it is mounted and the process's path in it: v2's unified one (an empty controller list)
/// and v1's memory controller.
fn memory_cgroups(membership: &str) -> Vec<(&'static str, &str)> {
    let mut found = Vec::new();
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        match controllers {
            "" => found.push((CGROUP_V2_ROOT, path)),
            list if list.split(',').any(|c| c == "memory") => {
                found.push((CGROUP_V1_MEMORY_ROOT, path))
            }
            _ => {}
        }
    }
    found
}

/// `root/path` and each directory above it up to `root`, those that exist. Without a cgroup
/// namespace the path may name a cgroup outside what is mounted: then only the root is seen.
fn dir_and_ancestors(root: &Path, path: &str) -> Vec<PathBuf> {
    let mut dir = root.join(path.trim_start_matches('/'));
    let mut dirs = Vec::new();
    while dir.starts_with(root) {
        if dir.is_dir() {
            dirs.push(dir.clone());
        }
        if !dir.pop() {
            break;
        }
    }
    dirs
}

/// What is left under the memory limit of the cgroup at `dir`, if it has one.
fn cgroup_room(dir: &Path) -> Option<MemoryRoom> {
    let read = |name: &str| -> Option<String> {
        fs::read_to_string(dir.join(name))
            .ok()
            .map(|text| text.trim().to_string())
    };
    let (limit_bytes, used_bytes) = match read("memory.max") {
        // v2: "max" is no limit.
        Some(limit) => (limit.parse().ok()?, read("memory.current")?.parse().ok()?),
        None => {
            let limit: u64 = read("memory.limit_in_bytes")?.parse().ok()?;
            (limit < CGROUP_V1_UNLIMITED).then_some(())?;
            (limit, read("memory.usage_in_bytes")?.parse().ok()?)
        }
    };
    Some(MemoryRoom {
        bytes: limit_bytes.saturating_sub(used_bytes),
        bound: MemoryBound::Cgroup {
            dir: dir.to_path_buf(),
            limit_bytes,
            used_bytes,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_says_how_much_memory_is_available() {
        let room = memory_room().expect("/proc/meminfo has MemAvailable");
        assert!(room.bytes > 0, "{room:?}");
        assert!(mem_available_bytes().unwrap() >= room.bytes);
    }

    #[test]
    fn the_memory_hierarchies_are_v2s_and_v1s_memory_controller() {
        let membership = "9:name=systemd:/\n4:cpu,memory:/a/b\n1:cpu:/x\n0::/c\n";
        assert_eq!(
            memory_cgroups(membership),
            vec![(CGROUP_V1_MEMORY_ROOT, "/a/b"), (CGROUP_V2_ROOT, "/c")]
        );
        assert_eq!(memory_cgroup_of(u32::MAX), None, "no such process");
    }

    #[test]
    fn ancestors_stop_at_the_root_and_skip_what_is_not_there() {
        let root = std::env::temp_dir();
        let dirs = dir_and_ancestors(&root, "/no-such-cgroup/below");
        assert_eq!(dirs, vec![root.clone()]);
        assert_eq!(dir_and_ancestors(&root, "/"), vec![root]);
    }
}
