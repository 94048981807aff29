//! Finding and removing leftover IPC objects: at driver start-up and in `transport-bench cleanup`.
//!
//! POSIX shared memory shows up as `/dev/shm/<name>` and a named semaphore as
//! `/dev/shm/sem.<name>`; a message queue as `/dev/mqueue/<name>`, but only where the mqueue
//! file system is mounted there (often it is not). All are removed through their own unlink
//! call, not as files, and the objects of a named channel are found by name alone.

use std::fmt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::peer::lease::{channel_owner_pid, dir_owner_pid};
use crate::transport::os::mqueue::{unlink_queue, MQUEUE_DIR};
use crate::transport::os::owner_lock;
use crate::transport::os::semaphore::unlink_semaphore;
use crate::transport::os::shm::{unlink_shared_memory, SHM_DIR};
use crate::transport::{self, ChannelName, PosixObject};

const SEM_FILE_PREFIX: &str = "sem.";
/// Every shm-rpc-bridge object name starts with this (after the leading slash).
const SRB_PREFIX: &str = "srb_";

/// One leftover object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum IpcObject {
    SharedMemory(String),
    Semaphore(String),
    MessageQueue(String),
    Directory(PathBuf),
}

impl fmt::Display for IpcObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpcObject::SharedMemory(name) => write!(f, "shared memory {name}"),
            IpcObject::Semaphore(name) => write!(f, "semaphore {name}"),
            IpcObject::MessageQueue(name) => write!(f, "message queue {name}"),
            IpcObject::Directory(path) => write!(f, "directory {}", path.display()),
        }
    }
}

impl From<PosixObject> for IpcObject {
    fn from(object: PosixObject) -> IpcObject {
        match object {
            PosixObject::SharedMemory(name) => IpcObject::SharedMemory(name),
            PosixObject::Semaphore(name) => IpcObject::Semaphore(name),
            PosixObject::MessageQueue(name) => IpcObject::MessageQueue(name),
        }
    }
}

impl IpcObject {
    /// The object's POSIX name without its leading slash, if it has one.
    fn bare_name(&self) -> Option<&str> {
        match self {
            IpcObject::SharedMemory(name)
            | IpcObject::Semaphore(name)
            | IpcObject::MessageQueue(name) => Some(name.trim_start_matches('/')),
            IpcObject::Directory(_) => None,
        }
    }

    /// Where the object shows in the file system (for a queue, where mqueue is mounted).
    fn path(&self) -> PathBuf {
        let bare = self.bare_name().unwrap_or_default();
        match self {
            IpcObject::SharedMemory(_) => Path::new(SHM_DIR).join(bare),
            IpcObject::Semaphore(_) => Path::new(SHM_DIR).join(format!("{SEM_FILE_PREFIX}{bare}")),
            IpcObject::MessageQueue(_) => Path::new(MQUEUE_DIR).join(bare),
            IpcObject::Directory(path) => path.clone(),
        }
    }

    /// The pid of the driver whose run made the object, if its name is one this tool makes.
    fn owner_pid(&self) -> Option<u32> {
        let bare = self.bare_name()?;
        match self {
            IpcObject::MessageQueue(_) => driver_queue_owner_pid(bare),
            _ => bare.strip_prefix(SRB_PREFIX).and_then(channel_owner_pid),
        }
    }

    /// Removes the object; true if it was there to remove.
    pub fn remove(&self) -> bool {
        match self {
            IpcObject::SharedMemory(name) => unlink_shared_memory(name),
            IpcObject::Semaphore(name) => unlink_semaphore(name),
            IpcObject::MessageQueue(name) => unlink_queue(name),
            IpcObject::Directory(path) => std::fs::remove_dir_all(path).is_ok(),
        }
    }
}

/// The driver pid in the name of a queue of a driver's channel, `tb_<pid>_<n>_req` or `_resp`.
fn driver_queue_owner_pid(bare_name: &str) -> Option<u32> {
    let channel = (bare_name.strip_suffix("_req")).or_else(|| bare_name.strip_suffix("_resp"))?;
    channel_owner_pid(channel)
}

/// Every shm-rpc-bridge object (`/srb_*`) on the machine, whoever made it, and every message
/// queue named like a driver's (`/tb_<pid>_<n>_req`, `_resp`) where `/dev/mqueue` shows them.
pub fn all_objects() -> Vec<IpcObject> {
    let mut objects = shm_objects(|name| name.starts_with(SRB_PREFIX));
    objects.extend(mqueue_objects(|name| {
        driver_queue_owner_pid(name).is_some()
    }));
    objects
}

/// The existing objects of one channel, whichever transport made them: found by their names,
/// so a channel's message queues are found whether `/dev/mqueue` is mounted or not.
pub fn channel_objects(channel: &ChannelName) -> Vec<IpcObject> {
    let mut objects: Vec<IpcObject> = (transport::channel_objects(channel).into_iter())
        .filter(PosixObject::exists)
        .map(IpcObject::from)
        .collect();
    objects.sort();
    objects
}

/// Objects and private directories left by runs that are over. An object counts as left only
/// if nobody holds its owner lock ([`owner_lock`]: the creator holds one for as long as it
/// lives, in whatever PID namespace) and the pid in its name is not alive here either (objects
/// of another C library's semaphores, which cannot be locked, fall back on the pid alone).
/// Objects whose names this tool does not make are never included.
pub fn stale_objects(temp_dir: &Path) -> Vec<IpcObject> {
    let srb_owner = |name: &str| name.strip_prefix(SRB_PREFIX).and_then(channel_owner_pid);
    let queues = mqueue_objects(|name| driver_queue_owner_pid(name).is_some());
    let mut stale: Vec<IpcObject> = (shm_objects(|name| srb_owner(name).is_some()).into_iter())
        .chain(queues)
        .filter(|object| {
            let dead_owner = object.owner_pid().is_some_and(|pid| !process_alive(pid));
            dead_owner && !owner_lock::is_held(&object.path())
        })
        .collect();
    if let Ok(entries) = std::fs::read_dir(temp_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let dead_owner = name
                .to_str()
                .and_then(dir_owner_pid)
                .is_some_and(|pid| !process_alive(pid));
            let abandoned = dead_owner && !owner_lock::is_held(&entry.path());
            if abandoned && entry.file_type().is_ok_and(|t| t.is_dir()) {
                stale.push(IpcObject::Directory(entry.path()));
            }
        }
    }
    stale.sort();
    stale
}

/// Lists `/dev/shm` objects whose name (without `/` and without the `sem.` prefix) passes `keep`.
fn shm_objects(keep: impl Fn(&str) -> bool) -> Vec<IpcObject> {
    let Ok(entries) = std::fs::read_dir(SHM_DIR) else {
        return Vec::new();
    };
    let mut objects: Vec<IpcObject> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter_map(|file| match file.strip_prefix(SEM_FILE_PREFIX) {
            Some(name) if keep(name) => Some(IpcObject::Semaphore(format!("/{name}"))),
            None if keep(&file) => Some(IpcObject::SharedMemory(format!("/{file}"))),
            _ => None,
        })
        .collect();
    objects.sort();
    objects
}

/// Lists the message queues in `/dev/mqueue` whose name (without `/`) passes `keep`; none where
/// the mqueue file system is not mounted there.
fn mqueue_objects(keep: impl Fn(&str) -> bool) -> Vec<IpcObject> {
    let Ok(entries) = std::fs::read_dir(MQUEUE_DIR) else {
        return Vec::new();
    };
    let mut queues: Vec<IpcObject> = (entries.flatten())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| keep(name))
        .map(|name| IpcObject::MessageQueue(format!("/{name}")))
        .collect();
    queues.sort();
    queues
}

/// True unless the kernel says no such process exists (EPERM means it exists, as someone else's).
pub fn process_alive(pid: u32) -> bool {
    match i32::try_from(pid) {
        Ok(pid) if pid > 0 => !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH)),
        _ => false,
    }
}

/// Removes `objects`, returning those that were actually removed.
pub fn remove_all(objects: &[IpcObject]) -> Vec<IpcObject> {
    objects.iter().filter(|o| o.remove()).cloned().collect()
}

/// What the `cleanup` subcommand should remove.
#[derive(Debug, Clone)]
pub enum CleanupScope {
    /// Objects of drivers that are no longer running.
    Stale,
    /// The objects of one channel.
    Channel(ChannelName),
    /// Every `/srb_*` object, as the seed benchmark's cleanup did, and every queue named like
    /// a driver's where `/dev/mqueue` is mounted.
    All,
}

/// Runs `transport-bench cleanup`: says what it removes and removes it.
pub fn run(scope: &CleanupScope) -> std::process::ExitCode {
    let objects = match scope {
        CleanupScope::Stale => stale_objects(&std::env::temp_dir()),
        CleanupScope::Channel(channel) => channel_objects(channel),
        CleanupScope::All => all_objects(),
    };
    if objects.is_empty() {
        println!("Nothing to remove.");
        return std::process::ExitCode::SUCCESS;
    }
    if matches!(scope, CleanupScope::All) {
        println!(
            "Removing {} /srb_* object(s) and driver message queue(s), including any of running programs:",
            objects.len()
        );
        for object in &objects {
            println!("  {object}");
        }
    }
    let removed = remove_all(&objects);
    for object in &removed {
        println!("Removed {object}");
    }
    let failed = objects.len() - removed.len();
    if failed > 0 {
        eprintln!(
            "error: {failed} object(s) could not be removed (already gone, or not ours to remove)"
        );
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_of_a_drivers_channels_are_traced_to_the_driver() {
        assert_eq!(driver_queue_owner_pid("tb_123_4_req"), Some(123));
        assert_eq!(driver_queue_owner_pid("tb_123_4_resp"), Some(123));
        // Not ours: another direction, a channel not named by a driver.
        assert_eq!(driver_queue_owner_pid("tb_123_4_other"), None);
        assert_eq!(driver_queue_owner_pid("it_123_4_req"), None);
        let queue = IpcObject::MessageQueue("/tb_77_1_req".into());
        assert_eq!(queue.owner_pid(), Some(77));
        assert_eq!(queue.path(), Path::new("/dev/mqueue/tb_77_1_req"));
        assert_eq!(queue.to_string(), "message queue /tb_77_1_req");
    }
}
