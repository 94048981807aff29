//! Finding and removing leftover IPC objects: at driver start-up and in `transport-bench cleanup`.
//!
//! POSIX shared memory shows up as `/dev/shm/<name>` and a named semaphore as
//! `/dev/shm/sem.<name>`; both are removed through their own unlink call, not as files.

use std::fmt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::naming::{channel_owner_pid, dir_owner_pid};
use crate::transport::posix::SHM_DIR;
use crate::transport::posix::{unlink_semaphore, unlink_shared_memory};
use crate::transport::{self, owner_lock, ChannelName};

const SEM_FILE_PREFIX: &str = "sem.";
/// Every shm-rpc-bridge object name starts with this (after the leading slash).
const SRB_PREFIX: &str = "srb_";

/// One leftover object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum IpcObject {
    SharedMemory(String),
    Semaphore(String),
    Directory(PathBuf),
}

impl fmt::Display for IpcObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpcObject::SharedMemory(name) => write!(f, "shared memory {name}"),
            IpcObject::Semaphore(name) => write!(f, "semaphore {name}"),
            IpcObject::Directory(path) => write!(f, "directory {}", path.display()),
        }
    }
}

impl IpcObject {
    /// The object's POSIX name (with its leading slash), if it has one.
    fn name(&self) -> Option<&str> {
        match self {
            IpcObject::SharedMemory(name) | IpcObject::Semaphore(name) => Some(name),
            IpcObject::Directory(_) => None,
        }
    }

    /// Where the object shows in the file system.
    fn path(&self) -> PathBuf {
        match self {
            IpcObject::SharedMemory(name) => Path::new(SHM_DIR).join(&name[1..]),
            IpcObject::Semaphore(name) => {
                Path::new(SHM_DIR).join(format!("{SEM_FILE_PREFIX}{}", &name[1..]))
            }
            IpcObject::Directory(path) => path.clone(),
        }
    }

    /// Removes the object; true if it was there to remove.
    pub fn remove(&self) -> bool {
        match self {
            IpcObject::SharedMemory(name) => unlink_shared_memory(name),
            IpcObject::Semaphore(name) => unlink_semaphore(name),
            IpcObject::Directory(path) => std::fs::remove_dir_all(path).is_ok(),
        }
    }
}

/// Every shm-rpc-bridge object (`/srb_*`) on the machine, whoever made it.
pub fn all_srb_objects() -> Vec<IpcObject> {
    shm_objects(|name| name.starts_with(SRB_PREFIX))
}

/// The existing objects of one channel, whichever shared-memory transport made them.
pub fn channel_objects(channel: &ChannelName) -> Vec<IpcObject> {
    let wanted = transport::channel_objects(channel);
    shm_objects(|name| wanted.iter().any(|w| &w.name()[1..] == name))
}

/// Objects and private directories left by runs that are over. An object counts as left only
/// if nobody holds its owner lock ([`owner_lock`]: the creator holds one for as long as it
/// lives, in whatever PID namespace) and the pid in its name is not alive here either (objects
/// of another C library's semaphores, which cannot be locked, fall back on the pid alone).
/// Objects whose names this tool does not make are never included.
pub fn stale_objects(temp_dir: &Path) -> Vec<IpcObject> {
    let ours = |name: &str| name.strip_prefix(SRB_PREFIX).and_then(channel_owner_pid);
    let mut stale: Vec<IpcObject> = shm_objects(|name| ours(name).is_some())
        .into_iter()
        .filter(|object| {
            let pid = object.name().and_then(|name| ours(&name[1..]));
            !owner_lock::is_held(&object.path()) && pid.is_some_and(|pid| !process_alive(pid))
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
    /// Every `/srb_*` object, as the seed benchmark's cleanup did.
    All,
}

/// Runs `transport-bench cleanup`: says what it removes and removes it.
pub fn run(scope: &CleanupScope) -> std::process::ExitCode {
    let objects = match scope {
        CleanupScope::Stale => stale_objects(&std::env::temp_dir()),
        CleanupScope::Channel(channel) => channel_objects(channel),
        CleanupScope::All => all_srb_objects(),
    };
    if objects.is_empty() {
        println!("Nothing to remove.");
        return std::process::ExitCode::SUCCESS;
    }
    if matches!(scope, CleanupScope::All) {
        println!(
            "Removing {} /srb_* object(s), including any of running programs:",
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
