//! Finding and removing leftover IPC objects: at driver start-up and in `transport-bench cleanup`.
//!
//! POSIX shared memory shows up as `/dev/shm/<name>` and a named semaphore as
//! `/dev/shm/sem.<name>`; a message queue as `/dev/mqueue/<name>`, but only where the mqueue
//! file system is mounted there (often it is not). All are removed through their own unlink
//! call, not as files, and the objects of a named channel are found by name alone.
//!
//! `/dev/shm` and `/tmp` are world-writable, so a name this tool makes may hold anything. Only
//! what is of the kind this tool makes there is a candidate (a plain file for an object, a
//! directory holding at most the server's socket for a private directory); anything else is
//! [`NotOurs`]: looked at with `lstat`, never opened, followed or removed, and named by
//! `cleanup`. A private directory is emptied by name and removed with `rmdir`, never
//! recursively.

use std::ffi::OsString;
use std::fmt;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::peer::lease::{channel_owner, dir_owner_pid, ChannelOwner};
use crate::printable;
use crate::system::pid_namespace;
use crate::system::process_state::process_alive;
use crate::system::stdout;
use crate::transport::os::file_kind::{self, FileKind, Links};
use crate::transport::os::mqueue::{queue_exists, unlink_queue, MQUEUE_DIR};
use crate::transport::os::owner_lock::{self, Liveness};
use crate::transport::os::semaphore::unlink_semaphore;
use crate::transport::os::shm::{unlink_shared_memory, SHM_DIR};
use crate::transport::{self, registry, ChannelName, ChannelRun, PosixObject, SOCKET_FILE_NAME};

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

    /// The driver whose run made the object, if its name is one this tool makes.
    fn owner(&self) -> Option<ChannelOwner> {
        let bare = self.bare_name()?;
        match self {
            IpcObject::MessageQueue(_) => driver_queue_owner(bare),
            _ => bare.strip_prefix(SRB_PREFIX).and_then(channel_owner),
        }
    }

    /// Removes the object; true if it was there to remove.
    pub fn remove(&self) -> bool {
        match self {
            IpcObject::SharedMemory(name) => unlink_shared_memory(name),
            IpcObject::Semaphore(name) => unlink_semaphore(name),
            IpcObject::MessageQueue(name) => unlink_queue(name),
            IpcObject::Directory(path) => remove_private_dir(path),
        }
    }

    /// Whether something still has the object's name (a look without following a link).
    fn still_there(&self) -> bool {
        match self {
            IpcObject::MessageQueue(_) => self.exists_as_queue(),
            _ => std::fs::symlink_metadata(self.path()).is_ok(),
        }
    }

    /// For a message queue: whether it exists, asked by name (no `/dev/mqueue` needed).
    fn exists_as_queue(&self) -> bool {
        matches!(self, IpcObject::MessageQueue(name) if queue_exists(name))
    }
}

/// Something under a name this tool makes that is not what it makes there: a FIFO, a link or a
/// directory where an object should be, or a private directory holding a file of someone
/// else's. Never opened (beyond a look at its type), never removed; `cleanup` says so.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotOurs {
    pub path: PathBuf,
    pub why: NotOursWhy,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotOursWhy {
    /// It is of a kind this tool never makes under that name.
    Kind(FileKind),
    /// A private directory that holds this entry, which this tool never puts there.
    Holds(OsString),
}

impl NotOurs {
    fn kind(path: PathBuf, kind: FileKind) -> NotOurs {
        NotOurs {
            path,
            why: NotOursWhy::Kind(kind),
        }
    }

    fn holding(path: PathBuf, entry: OsString) -> NotOurs {
        NotOurs {
            path,
            why: NotOursWhy::Holds(entry),
        }
    }
}

impl fmt::Display for NotOurs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.why {
            NotOursWhy::Kind(kind) => write!(
                f,
                "{path} is {kind}, which transport-bench never makes under that name"
            ),
            NotOursWhy::Holds(entry) => write!(
                f,
                "{path} holds {:?}, which transport-bench never puts there",
                entry
            ),
        }
    }
}

/// What a look for leftovers found: the objects to remove, and what is left alone.
#[derive(Debug, Default)]
pub struct Findings {
    pub objects: Vec<IpcObject>,
    pub not_ours: Vec<NotOurs>,
}

impl Findings {
    fn extend(&mut self, other: Findings) {
        self.objects.extend(other.objects);
        self.not_ours.extend(other.not_ours);
    }

    fn sort(&mut self) {
        self.objects.sort();
        self.not_ours.sort();
    }
}

/// The driver in the name of a queue of a driver's channel, `tb_<pid>_p<namespace>_<n>_req`
/// or `_resp` (or without the namespace, as older runs named them).
fn driver_queue_owner(bare_name: &str) -> Option<ChannelOwner> {
    let channel = (bare_name.strip_suffix("_req")).or_else(|| bare_name.strip_suffix("_resp"))?;
    channel_owner(channel)
}

/// Whether the driver `owner` may still be running, as far as this process can tell: its pid
/// alive here if the name says no namespace or this one; otherwise its namespace's (see
/// [`pid_namespace::Visible::may_be_alive`]): a pid of another namespace means nothing here.
/// This is the second of two tests: an object is stale only if nobody holds its owner lock
/// either, which the kernel answers in any namespace.
///
/// A name of this process's own pid and namespace is an earlier process's, dead: a live process
/// with this pid in this namespace is this one, and a cleaner (the driver at its start, or
/// `cleanup`) has made nothing yet. That earlier process ran before this pid came round again,
/// or in a PID namespace now gone whose inode this one reuses (`unshare -pf` killed with
/// SIGKILL, then a new `unshare -pf`); its names are the ones this run is about to make.
fn owner_may_be_alive(owner: ChannelOwner, namespaces: &pid_namespace::Visible) -> bool {
    if owner.pid == std::process::id() && owner.pid_namespace == namespaces.own {
        return false;
    }
    match owner.pid_namespace {
        Some(namespace) if Some(namespace) != namespaces.own => namespaces.may_be_alive(namespace),
        _ => process_alive(owner.pid),
    }
}

/// Whether the run that made a channel is over, as far as this process can tell (see
/// [`owner_may_be_alive`]): for the cleaners of objects transports name themselves. A channel
/// not named after a driver may be anybody's, in use.
pub fn channel_run_seen_from_here() -> impl Fn(&ChannelName) -> ChannelRun {
    let namespaces = pid_namespace::Visible::now();
    move |channel| match channel_owner(channel.as_str()) {
        Some(owner) if !owner_may_be_alive(owner, &namespaces) => ChannelRun::Over,
        Some(_) => ChannelRun::DriverAlive,
        None => ChannelRun::NoDriver,
    }
}

/// Every shm-rpc-bridge object (`/srb_*`) on the machine, whoever made it, and every message
/// queue named like a driver's (`/tb_<pid>_<n>_req`, `_resp`) where `/dev/mqueue` shows them.
pub fn all_objects() -> Findings {
    let mut found = shm_objects(|name| name.starts_with(SRB_PREFIX));
    found
        .objects
        .extend(mqueue_objects(|name| driver_queue_owner(name).is_some()));
    found
}

/// The existing objects of one channel, whichever transport made them: found by their names,
/// so a channel's message queues are found whether `/dev/mqueue` is mounted or not. A name in
/// `/dev/shm` that holds something else than a file (a FIFO, a link) is not ours.
pub fn channel_objects(channel: &ChannelName) -> Findings {
    let mut found = Findings::default();
    for object in transport::channel_objects(channel)
        .into_iter()
        .map(IpcObject::from)
    {
        let kind = match object {
            IpcObject::MessageQueue(_) => object.exists_as_queue().then_some(FileKind::Regular),
            _ => FileKind::of_name(&object.path()).ok().flatten(),
        };
        match kind {
            Some(FileKind::Regular) => found.objects.push(object),
            Some(kind) => found.not_ours.push(NotOurs::kind(object.path(), kind)),
            None => {}
        }
    }
    found.sort();
    found
}

/// Removes what is already at `channel`, a channel this driver names (its pid, its PID
/// namespace) and has not used yet, so that only an earlier process with this pid in this
/// namespace can have made it (see [`owner_may_be_alive`]); returns what it removed. The
/// start-up sweep finds such objects in `/dev/shm`; message queues it cannot find where
/// `/dev/mqueue` is not mounted, so the driver asks for each channel by name before its server
/// makes it. An object whose owner lock is held is left alone (someone alive chose the name by
/// hand); a queue cannot be asked, and is removed.
pub fn remove_earlier_runs_objects(channel: &ChannelName) -> Vec<IpcObject> {
    let abandoned = |object: &IpcObject| match object {
        IpcObject::MessageQueue(_) => true,
        _ => owner_lock::liveness(&object.path(), FileKind::Regular) == Liveness::Abandoned,
    };
    let found: Vec<IpcObject> = (channel_objects(channel).objects.into_iter())
        .filter(abandoned)
        .collect();
    remove_all(&found)
}

/// Objects and private directories left by runs that are over. An object counts as left only
/// if nobody holds its owner lock ([`owner_lock`]: the creator holds one for as long as it
/// lives, in whatever PID namespace) and the driver in its name is not alive either, as far as
/// this process can see ([`owner_may_be_alive`]; objects of another C library's semaphores,
/// which cannot be locked, fall back on that alone).
/// Objects whose names this tool does not make are never included; names it makes that hold
/// something it does not make there are [`Findings::not_ours`].
pub fn stale(temp_dir: &Path) -> Findings {
    let namespaces = pid_namespace::Visible::now();
    let srb_owner = |name: &str| name.strip_prefix(SRB_PREFIX).and_then(channel_owner);
    let dead = |owner: Option<ChannelOwner>| {
        owner.is_some_and(|owner| !owner_may_be_alive(owner, &namespaces))
    };
    // Segments a transport names itself (iceoryx2's, which carry no owner lock) are its own
    // cleaner's to judge: a live node of a hand-named channel such as `tb_999999_1` is alive
    // whatever the pid in its name says.
    let ours = |name: &str| dead(srb_owner(name)) && !registry::named_by_a_transport_itself(name);
    let candidates = shm_objects(ours);
    let queues = mqueue_objects(|name| driver_queue_owner(name).is_some());
    let mut found = Findings {
        objects: Vec::new(),
        not_ours: candidates.not_ours,
    };
    let objects = candidates.objects.into_iter().chain(queues);
    for object in objects.filter(|object| dead(object.owner())) {
        match owner_lock::liveness(&object.path(), FileKind::Regular) {
            Liveness::Abandoned => found.objects.push(object),
            Liveness::NotOurs(kind) => found.not_ours.push(NotOurs::kind(object.path(), kind)),
            Liveness::Held | Liveness::Gone => {}
        }
    }
    found.extend(stale_private_dirs(temp_dir));
    found.sort();
    found
}

/// The objects [`stale`] finds, for the driver's start-up sweep (which leaves what is not ours
/// alone without a word: it is not the driver's business).
pub fn stale_objects(temp_dir: &Path) -> Vec<IpcObject> {
    stale(temp_dir).objects
}

/// Private directories (`transport-bench-<pid>-*`) of dead drivers that nobody holds, and that
/// hold nothing but what a server makes there (its socket, [`SOCKET_FILE_NAME`]).
fn stale_private_dirs(temp_dir: &Path) -> Findings {
    let mut found = Findings::default();
    let Ok(entries) = std::fs::read_dir(temp_dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let dead_owner = (entry.file_name().to_str())
            .and_then(dir_owner_pid)
            .is_some_and(|pid| !process_alive(pid));
        if !dead_owner {
            continue;
        }
        let path = entry.path();
        match owner_lock::liveness(&path, FileKind::Directory) {
            Liveness::Abandoned => match foreign_entry(&path) {
                Some(name) => found.not_ours.push(NotOurs::holding(path, name)),
                None => found.objects.push(IpcObject::Directory(path)),
            },
            Liveness::NotOurs(kind) => found.not_ours.push(NotOurs::kind(path, kind)),
            Liveness::Held | Liveness::Gone => {}
        }
    }
    found
}

/// The first entry of a private directory that this tool does not make there (anything but a
/// socket named [`SOCKET_FILE_NAME`]); one that cannot be listed counts as holding something.
fn foreign_entry(dir: &Path) -> Option<OsString> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Some(OsString::from("entries that cannot be listed"));
    };
    let ours = |entry: &std::fs::DirEntry| {
        entry.file_name() == SOCKET_FILE_NAME && entry.file_type().is_ok_and(|t| t.is_socket())
    };
    (entries.flatten())
        .find(|entry| !ours(entry))
        .map(|entry| entry.file_name())
}

/// Removes a private directory the way it was filled: its socket by name, then the directory
/// itself, which `rmdir` removes only if nothing else is inside (whatever came since the look).
/// The socket is looked at and removed through the directory, opened without following a link:
/// whoever can swap the directory's name for a link after the looks (its owner, in a shared
/// temporary directory) must not make this remove a socket somewhere else.
fn remove_private_dir(dir: &Path) -> bool {
    use nix::fcntl::AtFlags;
    use nix::unistd::{unlinkat, UnlinkatFlags};
    let Ok(opened) = file_kind::open_expecting(dir, FileKind::Directory, Links::Refuse) else {
        return false;
    };
    let fd = Some(opened.as_raw_fd());
    let socket = nix::sys::stat::fstatat(fd, SOCKET_FILE_NAME, AtFlags::AT_SYMLINK_NOFOLLOW);
    if socket.is_ok_and(|stat| FileKind::of_mode(stat.st_mode) == FileKind::Socket) {
        let _ = unlinkat(fd, SOCKET_FILE_NAME, UnlinkatFlags::NoRemoveDir);
    }
    // By name: a link there now is not removed (rmdir refuses anything but a directory).
    std::fs::remove_dir(dir).is_ok()
}

/// Lists `/dev/shm` objects whose name (without `/` and without the `sem.` prefix) passes
/// `keep`; a name that passes but is not a plain file (as every object is) is not ours.
fn shm_objects(keep: impl Fn(&str) -> bool) -> Findings {
    let mut found = Findings::default();
    let Ok(entries) = std::fs::read_dir(SHM_DIR) else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(file) = entry.file_name().into_string() else {
            continue;
        };
        let object = match file.strip_prefix(SEM_FILE_PREFIX) {
            Some(name) if keep(name) => IpcObject::Semaphore(format!("/{name}")),
            None if keep(&file) => IpcObject::SharedMemory(format!("/{file}")),
            _ => continue,
        };
        // The entry's own type: a link is a link, and nothing is opened to learn it.
        match entry.file_type().map(FileKind::of_type) {
            Ok(FileKind::Regular) => found.objects.push(object),
            Ok(kind) => found.not_ours.push(NotOurs::kind(entry.path(), kind)),
            Err(_) => {}
        }
    }
    found.sort();
    found
}

/// Lists the message queues in `/dev/mqueue` whose name (without `/`) passes `keep`; none where
/// the mqueue file system is not mounted there. (It holds nothing but queues: it cannot make a
/// FIFO, a link or a directory.)
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

/// A line of `cleanup`'s on stdout. The names it shows are anyone's (whoever can write to
/// `/dev/shm` or `/tmp` names a file as they like), so their control characters are replaced.
fn show(line: fmt::Arguments<'_>) {
    stdout::line(printable::text(&line.to_string()));
}

/// Runs `transport-bench cleanup`: says what it leaves alone and why, and what it removes, and
/// removes it.
pub fn run(scope: &CleanupScope) -> std::process::ExitCode {
    // A transport that names its objects itself (iceoryx2, under /tmp/iceoryx2 too) finds
    // those its dead processes left.
    let run_of = channel_run_seen_from_here();
    let own_objects = match scope {
        CleanupScope::Channel(channel) => {
            registry::remove_dead_own_objects(channel, run_of(channel))
        }
        CleanupScope::Stale | CleanupScope::All => registry::remove_every_dead_own_object(&run_of),
    };
    for object in &own_objects {
        show(format_args!("Removed {object}"));
    }
    let planted = match scope {
        CleanupScope::Channel(channel) => registry::planted_own_objects(Some(channel)),
        CleanupScope::Stale | CleanupScope::All => registry::planted_own_objects(None),
    };
    for file in &planted {
        show(format_args!("Left alone: {file}"));
    }
    let Findings { objects, not_ours } = match scope {
        CleanupScope::Stale => stale(&std::env::temp_dir()),
        CleanupScope::Channel(channel) => channel_objects(channel),
        CleanupScope::All => all_objects(),
    };
    for found in &not_ours {
        show(format_args!("Left alone: {found}"));
    }
    if objects.is_empty() {
        if own_objects.is_empty() {
            stdout::line("Nothing to remove.");
        }
        return std::process::ExitCode::SUCCESS;
    }
    if matches!(scope, CleanupScope::All) {
        stdout::line(format_args!(
            "Removing {} /srb_* object(s) and driver message queue(s), including any of running programs:",
            objects.len()
        ));
        for object in &objects {
            show(format_args!("  {object}"));
        }
    }
    let removed = remove_all(&objects);
    for object in &removed {
        show(format_args!("Removed {object}"));
    }
    // One that went meanwhile (its server removed it as it stopped) is where cleanup wants it.
    let (stuck, gone): (Vec<&IpcObject>, Vec<&IpcObject>) = (objects.iter())
        .filter(|object| !removed.contains(object))
        .partition(|object| object.still_there());
    for object in gone {
        show(format_args!("Already gone: {object}"));
    }
    for object in &stuck {
        let line = format!("error: {object} could not be removed (another user's?)");
        eprintln!("{}", printable::text(&line));
    }
    match stuck.is_empty() {
        true => std::process::ExitCode::SUCCESS,
        false => std::process::ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The second half of a race another user can run on a private directory in a shared
    /// temporary directory: its name swapped for a link to a directory with a socket of the
    /// same name, after the looks. The link's target keeps its socket.
    #[test]
    fn a_private_directory_swapped_for_a_link_leads_nothing_to_be_removed_elsewhere() {
        let tmp = tempfile::tempdir().unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let socket = elsewhere.join(SOCKET_FILE_NAME);
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let private = tmp.path().join("transport-bench-999993-race");
        std::os::unix::fs::symlink(&elsewhere, &private).unwrap();
        assert!(!remove_private_dir(&private));
        assert!(socket.exists(), "the socket the link leads to is left");
        assert!(
            std::fs::symlink_metadata(&private).is_ok(),
            "the link is left"
        );
        // The directory itself, unswapped, goes with its socket.
        std::fs::remove_file(&private).unwrap();
        std::fs::create_dir(&private).unwrap();
        let _own = std::os::unix::net::UnixListener::bind(private.join(SOCKET_FILE_NAME)).unwrap();
        assert!(remove_private_dir(&private));
        assert!(!private.exists());
    }

    #[test]
    fn queues_of_a_drivers_channels_are_traced_to_the_driver() {
        let pid = |name| driver_queue_owner(name).map(|owner| owner.pid);
        assert_eq!(pid("tb_123_4_req"), Some(123));
        assert_eq!(pid("tb_123_4_resp"), Some(123));
        assert_eq!(pid("tb_123_p4026532290_4_resp"), Some(123));
        // Not ours: another direction, a channel not named by a driver.
        assert_eq!(pid("tb_123_4_other"), None);
        assert_eq!(pid("it_123_4_req"), None);
        let queue = IpcObject::MessageQueue("/tb_77_1_req".into());
        assert_eq!(queue.owner().map(|owner| owner.pid), Some(77));
        assert_eq!(queue.path(), Path::new("/dev/mqueue/tb_77_1_req"));
        assert_eq!(queue.to_string(), "message queue /tb_77_1_req");
    }

    #[test]
    fn a_driver_of_another_namespace_is_judged_by_its_namespace_not_by_its_pid_here() {
        let own = pid_namespace::own().unwrap();
        let here = |pid_namespace| ChannelOwner {
            // This process's parent: alive here, whatever namespace the name claims.
            pid: std::os::unix::process::parent_id(),
            pid_namespace,
        };
        let namespaces = pid_namespace::Visible::now();
        assert!(owner_may_be_alive(here(None), &namespaces));
        assert!(owner_may_be_alive(here(Some(own)), &namespaces));
        // A namespace nobody is in: gone, if this process sees the whole host.
        let unseen = here(Some(1));
        let sees_all = namespaces.own == Some(pid_namespace::INITIAL);
        assert_eq!(owner_may_be_alive(unseen, &namespaces), !sees_all);
    }

    #[test]
    fn a_name_of_this_processs_own_pid_and_namespace_is_an_earlier_dead_processs() {
        let namespaces = pid_namespace::Visible::now();
        let mine = ChannelOwner {
            pid: std::process::id(),
            pid_namespace: namespaces.own,
        };
        assert!(!owner_may_be_alive(mine, &namespaces));
        // The same pid named in another namespace is judged by that namespace.
        let elsewhere = ChannelOwner {
            pid_namespace: namespaces.own.map(|own| own + 1),
            ..mine
        };
        let sees_all = namespaces.own == Some(pid_namespace::INITIAL);
        assert_eq!(owner_may_be_alive(elsewhere, &namespaces), !sees_all);
    }
}
