//! PID namespaces, as far as a process can see them: its own, and which others have processes
//! it can see.
//!
//! A pid is unique only within its PID namespace: two drivers started by `unshare -pf` at once
//! both have pid 1 (or 2), so a name made of a pid alone is not unique on the host. A namespace
//! is named by the inode of `/proc/<pid>/ns/pid`, unique among the namespaces that exist on
//! the host (an inode may be reused once its namespace is gone). The initial namespace's is
//! fixed by the kernel ([`INITIAL`]), and a process in it sees every process on the host
//! (with the host's `/proc`), so it alone can tell that another namespace is gone.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;

/// The inode of the initial PID namespace (the kernel's `PROC_PID_INIT_INO`).
pub const INITIAL: u64 = 0xEFFF_FFFC;

/// This process's PID namespace; None where `/proc` does not say (not mounted).
pub fn own() -> Option<u64> {
    std::fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// What this process can tell of other PID namespaces from the processes it sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visible {
    /// This process's namespace.
    pub own: Option<u64>,
    /// The namespaces of every process whose namespace could be read (another user's cannot,
    /// without privilege: see [`Visible::may_be_alive`]).
    pub with_processes: HashSet<u64>,
}

impl Visible {
    /// Looks at every process in `/proc` once.
    pub fn now() -> Visible {
        let mut with_processes = HashSet::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let is_pid = entry
                .file_name()
                .to_str()
                .is_some_and(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()));
            if let Some(namespace) = is_pid
                .then(|| std::fs::metadata(entry.path().join("ns/pid")).ok())
                .flatten()
            {
                with_processes.insert(namespace.ino());
            }
        }
        Visible {
            own: own(),
            with_processes,
        }
    }

    /// Whether a process of `namespace` (not this process's own) may still be running: yes
    /// while any process seen is in it, and yes unless this process sees the whole host (it is
    /// in the initial namespace): from any other namespace, the processes of a sibling or a
    /// parent namespace cannot be seen, so their absence proves nothing. A namespace whose
    /// processes all belong to another user (whose `ns/pid` cannot be read without privilege)
    /// counts as gone: that user's objects in the sticky `/dev/shm` are not this user's to
    /// remove anyway, and root, who can remove them, reads every process's namespace.
    pub fn may_be_alive(&self, namespace: u64) -> bool {
        self.with_processes.contains(&namespace) || self.own != Some(INITIAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_sees_its_own_namespace_with_a_process_in_it() {
        let visible = Visible::now();
        let own = visible.own.expect("/proc/self/ns/pid");
        assert!(visible.with_processes.contains(&own));
        assert!(visible.may_be_alive(own));
    }

    #[test]
    fn only_a_process_in_the_initial_namespace_takes_an_unseen_namespace_for_gone() {
        let unseen = 1;
        let from = |own| Visible {
            own: Some(own),
            with_processes: HashSet::from([own]),
        };
        assert!(!from(INITIAL).may_be_alive(unseen));
        assert!(from(INITIAL + 1).may_be_alive(unseen));
        assert!(Visible {
            own: None,
            with_processes: HashSet::new()
        }
        .may_be_alive(unseen));
    }
}
