//! iceoryx2 (the `iceoryx2` crate, 0.10): Eclipse iceoryx2's zero-copy publish-subscribe between
//! the two processes, through its public API only.
//!
//! **Two publish-subscribe services, not request-response.** A round trip is a request published
//! on one service (`…/request`) and its echo published back on another (`…/response`), `[u8]`
//! slices both ways, as iceoryx2's own publish-subscribe benchmark does; its request-response
//! pattern would cost the same copy in the server (a received sample is read-only, so an echo
//! is a new sample either way), and with publish-subscribe a stream (`--pattern stream`) is the
//! same request service with a deeper subscriber buffer, so both patterns measure one mechanism
//! that iceoryx2's figures can be put beside. The client loans a sample, writes the request into
//! it and sends it; the server receives it, loans a response sample, copies the request into it
//! and sends that; the client checks the echo in place, in the sample it received
//! ([`TransportClient::round_trip_in_place`]).
//!
//! **Waiting.** A waiter polls its subscriber (`receive`) for the spin budget (`--spin-budget`,
//! 20 µs by default, as SHM spin and SHM zero-copy), then blocks on an iceoryx2 event service
//! (a listener, `timed_wait`, one per direction) in slices of [`WAIT_SLICE`] between which the
//! [`PeerWatch`] is asked, up to `--timeout`. Every send is followed by a `notify`; iceoryx2
//! sends its wake-up datagram only when the listener consumed the previous one, so while both
//! sides are awake a notify is a few atomics, no system call. iceoryx2's own benchmark never
//! blocks: both threads busy-poll `receive`.
//!
//! **A stream** publishes every message on the request service, whose subscriber buffer holds
//! the ring's depth ([`ring_depth`], as for the SHM rings); safe overflow is off, so a full
//! buffer pushes back: the publisher's back-pressure handler retries (yielding the CPU) until
//! the server takes a message, bounded by the timeout and the watch, and no message is lost.
//! The stream's end is echoed on the response service like a round trip.
//!
//! **Names and cleanup.** Every file and shared-memory object iceoryx2 makes for a channel carries
//! the prefix `srb_<channel>_` (iceoryx2's `global.prefix`): its shared memory is
//! `/dev/shm/srb_<channel>_*`, found by the tool's sweeps as every other transport's objects
//! are, and its node and service files are under iceoryx2's root, `/tmp/iceoryx2/`. Each process
//! has its own node, which removes all it made when dropped (a SIGTERM'd server drops it). A
//! killed process cannot: iceoryx2 tells a dead node from a live one by the lock on its monitor
//! file, and [`remove_dead_nodes`] removes a dead node's resources as iceoryx2 does itself
//! (`Node::list`, then `try_remove_stale_resources` of each dead node), and finishes what
//! iceoryx2 0.10 gives up on ([`finish_abandoned_cleanup`], a node killed while it wrote a tag;
//! a node killed before its monitor once its run is over). The spec declares it
//! and [`channels_with_nodes`] as its own objects, which the driver's sweep of a channel and
//! `transport-bench cleanup` run through the registry. iceoryx2's own signal handling is
//! off: the server's SIGTERM is the tool's.
//!
//! **Planted files.** `/tmp/iceoryx2` is writable by whoever made it, and iceoryx2 opens a
//! node's files with a plain `open`: a FIFO there would block it for ever. So a channel whose
//! names in that tree (or in `/dev/shm`) are not the kinds iceoryx2 makes ([`planted_files`])
//! is never handed to iceoryx2: no node of it is listed, removed or created, and `cleanup`
//! says why it left it alone.
//!
//! **Before a node.** iceoryx2 says only "InternalError" when its root (`/tmp/iceoryx2`) is not a
//! directory this user may write, or `/dev/shm` is read-only, after leaving the channel's node
//! counter in `/dev/shm`. So what it needs is checked first (`check_setup`) and named with its
//! path; a failure anyway is translated ([`SetupError`]) and what it made removed
//! (`remove_failed_node`); each side's `Domain` guard removes the counter when it drops the
//! channel's last node, also after a failure (a client that found no server).
//!
//! **Truncated memory.** iceoryx2 maps its segments itself, outside the tool's SIGBUS guard, so a
//! process that truncates one kills the process that touches it (see docs/transports.md).
//!
//! The `ipc_threadsafe` service variant is used because the tool moves clients and servers
//! between threads (`Send`); it protects iceoryx2's port state with an uncontended mutex.

use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use iceoryx2::node::NodeView;
use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::{BackpressureAction, BackpressureInfo};
use iceoryx2::prelude::*;
use iceoryx2::sample::Sample;
use iceoryx2::sample_mut::SampleMut;
use iceoryx2::sample_mut_uninit::SampleMutUninit;
use iceoryx2::service::port_factory::event::PortFactory as EventFactory;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSubFactory;

use crate::system::pid_namespace;
use crate::system::process_state::process_alive;
use crate::transport::blocks::channel::{bind_on_channel, connect_on_channel};
use crate::transport::blocks::channel::{ChannelClient, ChannelServer};
use crate::transport::blocks::payload::{check_announced_len, check_message_fits};
use crate::transport::blocks::sequence::SEQUENCE_SPIN_BUDGET;
use crate::transport::blocks::slots::{whole_pages, SEGMENT_PAGE};
use crate::transport::error::{HeldRequest, TransportError};
use crate::transport::names::ChannelName;
use crate::transport::os::file_kind::{misplaced_entries, FileKind, Misplaced};
use crate::transport::os::record_lock;
use crate::transport::os::shm::{unlink_shared_memory, SHM_DIR};
use crate::transport::spec::{
    buffers_only, Addressing, CaseShape, ChannelRun, EchoOutcome, Footprint, OwnObjects, Pattern,
    Reply, TransportClient, TransportKind, TransportOptions, TransportServer, TransportSpec,
};
use crate::transport::stream::ring_depth;
use crate::transport::wait::{
    idle_until_request, spin_until, PeerWatch, StopFlag, WaitBudget, IDLE_SLICE, WAIT_SLICE,
};
use crate::transport::wire::payload_capacity;
use crate::transport::workload::one_request_at_a_time;

type Ipc = ipc_threadsafe::Service;

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "iceoryx2",
    display_name: "iceoryx2",
    addressing: Addressing::Channel,
    connect: connect_on_channel::<Iceoryx2Client>,
    bind: bind_on_channel::<Iceoryx2Server>,
    spin_budget: Some(SEQUENCE_SPIN_BUDGET),
    // Its shared memory is named by iceoryx2 (hashes and port ids after the channel's prefix):
    // no channel object can be listed by name, and iceoryx2 tells the dead nodes' from the rest.
    own_objects: Some(OwnObjects {
        channels: channels_with_nodes,
        remove_dead: remove_dead_nodes,
        planted: planted_files,
        dirs: library_dirs,
        names_in_shm: iceoryx2_segment,
    }),
    summary: "Eclipse iceoryx2 zero-copy publish-subscribe, a service each way",
    footprint,
    supports: |workload| {
        one_request_at_a_time(workload, "one request at a time: each direction's subscriber buffers one sample, as in iceoryx2's benchmark")
    },
    ..TransportSpec::DEFAULTS
};

/// The longest channel name iceoryx2's names leave room for. The tightest is a listener's
/// socket, `/tmp/iceoryx2/srb_<channel>_<port id>.event`, whose path must fit a Unix socket
/// address (107 bytes and a NUL) with a port id of up to 39 digits (a `u128`): a longer channel
/// made a server fail with iceoryx2's `ResourceCreationFailed` (a channel of 58 bytes, found by
/// a test, 2026-12-08; the limit was 100, from the 255 bytes of a file name).
const MAX_ICEORYX2_CHANNEL: usize =
    107 - "/tmp/iceoryx2/".len() - "srb__".len() - 39 - ".event".len();

/// The event a stream's client sends once its publisher exists, and the server sends back once
/// its subscriber has attached to that publisher (`receive` attaches new publishers). Until then
/// iceoryx2 drops what does not fit a not-yet-attached subscriber's buffer instead of pushing
/// back, so a stream must not start before.
const HELLO: EventId = EventId::new(7);

/// The library named in errors.
const LIBRARY: &str = "iceoryx2";

/// Wraps an iceoryx2 error as the tool's, saying what was asked of it.
fn failed<E: std::fmt::Debug>(op: &str) -> impl FnOnce(E) -> TransportError + '_ {
    move |e| TransportError::Library {
        library: LIBRARY,
        op: op.to_string(),
        source: format!("{e:?}").into(),
    }
}

/// The samples a subscriber may hold at once: the one it is reading.
const MAX_BORROWED_SAMPLES: usize = 1;

/// The configuration of one channel: iceoryx2's defaults (not a config file of the machine's),
/// with every name prefixed `srb_<channel>_` and the expired-connection buffer sized to one
/// publisher.
fn channel_config(channel: &ChannelName) -> Result<Config, TransportError> {
    if channel.as_str().len() > MAX_ICEORYX2_CHANNEL {
        return Err(TransportError::Protocol(format!(
            "iceoryx2 channel names are at most {MAX_ICEORYX2_CHANNEL} bytes long (its listeners' socket paths carry them)"
        )));
    }
    let mut config = Config::default();
    let prefix = format!("srb_{channel}_");
    config.global.prefix = FileName::new(prefix.as_bytes()).map_err(failed("prefix"))?;
    // Every `receive` walks all of the subscriber's connection slots: the active ones and the
    // expired-connection buffer (128 by default), so a poll costs 129 slot reads, 0.15-0.3 µs
    // depending on how the loop lands in the binary. A spinning waiter polls 64 times between
    // yields, which made that scan the round trip on one CPU. One publisher per service leaves
    // at most one expired connection, holding at most the one sample a subscriber may borrow.
    config
        .defaults
        .publish_subscribe
        .subscriber_expired_connection_buffer = MAX_BORROWED_SAMPLES;
    Ok(config)
}

fn node(channel: &ChannelName) -> Result<Node<Ipc>, TransportError> {
    // Errors come back as values; iceoryx2's own log would only repeat them on stderr.
    set_log_level(LogLevel::Fatal);
    let config = channel_config(channel)?;
    // Creating a node removes the channel's dead nodes, reading their files blindly.
    if let Some(misplaced) = planted(&config.global.prefix.to_string()).first() {
        return Err(TransportError::Protocol(format!(
            "{misplaced}: iceoryx2 would open it and could wait on it for ever; remove it"
        )));
    }
    let refused = |source: SetupError| TransportError::Library {
        library: LIBRARY,
        op: "node creation".to_string(),
        source: Box::new(source),
    };
    check_setup().map_err(refused)?;
    // A node's creation opens the channel's node counter and its dead nodes' segments.
    if let Some(stuck) = stuck_segments(&config.global.prefix.to_string()).first() {
        return Err(never_sized(stuck, channel));
    }
    NodeBuilder::new()
        .config(&config)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Ipc>()
        .map_err(|failure| {
            // What iceoryx2 made before it failed (its node counter, a node's details) is
            // nobody's: no node of this channel will remove it.
            remove_failed_node(channel, &config);
            refused(SetupError::from_failure(failure, &config))
        })
}

/// What keeps iceoryx2 from making a node here, in words that name the path: found before it
/// is asked to (`check_setup`), or its own failure translated (`SetupError::from_failure`).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{} is {found}, not a directory", .path.display())]
    NotADirectory { path: PathBuf, found: FileKind },
    #[error("{} is owned by uid {uid}, mode {mode:04o}: this user cannot write there", .path.display())]
    NotWritable { path: PathBuf, uid: u32, mode: u32 },
    #[error("{} is on a read-only file system: iceoryx2 cannot make its files there", .path.display())]
    ReadOnly { path: PathBuf },
    #[error("{} belongs to uid {uid}, who could swap this run's files there for links: remove it, or run as that user", .path.display())]
    OthersDir { path: PathBuf, uid: u32 },
    #[error("{}: {source}", .path.display())]
    Unusable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} ({}): iceoryx2 says {failure:?}", .path.display())]
    Refused {
        what: &'static str,
        path: PathBuf,
        failure: iceoryx2::node::NodeCreationFailure,
    },
}

impl SetupError {
    /// iceoryx2's own failure, with the path it concerns: its node id comes from a counter
    /// segment in `/dev/shm`, the rest from files under its node directory.
    fn from_failure(failure: iceoryx2::node::NodeCreationFailure, config: &Config) -> SetupError {
        use iceoryx2::node::NodeCreationFailure as Failure;
        let (what, path) = match failure {
            Failure::UnableToGenerateUniqueNodeId => (
                "making its node counter in /dev/shm failed",
                PathBuf::from(SHM_DIR),
            ),
            _ => (
                "making the node's files failed",
                trimmed(config.global.node_dir().to_string()),
            ),
        };
        SetupError::Refused {
            what,
            path,
            failure,
        }
    }
}

/// iceoryx2's root (`/tmp/iceoryx2`), then its node and service directories: what it makes on
/// its first node and never removes.
fn own_dirs() -> [PathBuf; 3] {
    let config = Config::default();
    [
        trimmed(config.global.root_path().to_string()),
        trimmed(config.global.node_dir().to_string()),
        trimmed(config.global.service_dir().to_string()),
    ]
}

/// [`own_dirs`], for the spec ([`OwnObjects::dirs`]).
fn library_dirs() -> Vec<PathBuf> {
    own_dirs().to_vec()
}

/// A directory name of iceoryx2's configuration without its trailing `/`, as people write it.
fn trimmed(dir: String) -> PathBuf {
    PathBuf::from(dir.trim_end_matches('/'))
}

/// What iceoryx2 needs before it makes a node: its root directory (`/tmp/iceoryx2`) and its
/// node and service directories, where they exist, directories this user can read, write and
/// search (else its root's parent, where iceoryx2 makes it), and `/dev/shm` the same. iceoryx2
/// itself says only "InternalError" of each, after leaving its node counter in `/dev/shm`.
fn check_setup() -> Result<(), SetupError> {
    let [root, nodes, services] = own_dirs();
    if usable_dir(&root)? {
        usable_dir(&nodes)?;
        usable_dir(&services)?;
    } else if let Some(parent) = root.parent() {
        usable_dir(parent)?;
    }
    let shm = Path::new(SHM_DIR);
    if !usable_dir(shm)? {
        return Err(SetupError::Unusable {
            path: shm.to_path_buf(),
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    Ok(())
}

/// Whether `path` exists, and if it does, that it is a directory (not a link to one: whoever
/// planted the link chose where it leads) this user may read, write and search.
fn usable_dir(path: &Path) -> Result<bool, SetupError> {
    use nix::unistd::{access, AccessFlags};
    use std::os::unix::fs::MetadataExt;
    let Some(meta) = trusted_dir(path)? else {
        return Ok(false);
    };
    let path = path.to_path_buf();
    match access(
        &path,
        AccessFlags::R_OK | AccessFlags::W_OK | AccessFlags::X_OK,
    ) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EROFS) => Err(SetupError::ReadOnly { path }),
        Err(nix::errno::Errno::EACCES) => Err(SetupError::NotWritable {
            path,
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        }),
        Err(errno) => Err(SetupError::Unusable {
            path,
            source: errno.into(),
        }),
    }
}

/// `path`'s metadata if it is a directory (not a link to one) of a [`trusted_owner`]; None if
/// nothing has the name.
fn trusted_dir(path: &Path) -> Result<Option<std::fs::Metadata>, SetupError> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            let path = path.to_path_buf();
            return Err(SetupError::Unusable { path, source });
        }
        Ok(meta) => meta,
    };
    let found = FileKind::of_type(meta.file_type());
    let path = path.to_path_buf();
    match found {
        FileKind::Directory if trusted_owner(meta.uid()) => Ok(Some(meta)),
        FileKind::Directory => Err(SetupError::OthersDir {
            path,
            uid: meta.uid(),
        }),
        _ => Err(SetupError::NotADirectory { path, found }),
    }
}

/// Whether a directory of `uid` may hold this process's files: its own, or root's (who can
/// do anything to them anyway). Whoever owns a directory can swap its entries for links between
/// a look and a removal, so a directory of another user's is neither used nor cleaned.
fn trusted_owner(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions.
    uid == 0 || uid == unsafe { libc::geteuid() }
}

/// iceoryx2's directories (its root, `nodes`, `services`) that exist and that this process
/// must not clean: one that is not a directory (a link leads wherever its maker chose) or that
/// belongs to another user ([`trusted_owner`]). Found by a hostile test: with `/tmp/iceoryx2`
/// made by another user first, that user swapped a dead node's directory for a link to
/// `/dev/shm` while root's `cleanup` emptied it, and a live run's shared memory went.
fn untrusted_dirs() -> Vec<String> {
    let untrusted = |dir: &PathBuf| match trusted_dir(dir) {
        Err(why @ (SetupError::NotADirectory { .. } | SetupError::OthersDir { .. })) => {
            Some(why.to_string())
        }
        _ => None,
    };
    own_dirs().iter().filter_map(untrusted).collect()
}

/// Whether the files of channels with `prefix` may be removed at all: nothing planted among
/// them ([`planted`]) and iceoryx2's directories this user's or root's ([`untrusted_dirs`]).
/// Every cleaner of iceoryx2's files asks first.
fn safe_to_clean(prefix: &str) -> bool {
    planted(prefix).is_empty() && untrusted_dirs().is_empty()
}

/// After a node creation failed: removes the channel's node counter in `/dev/shm` once no node
/// of the channel is alive (none is listed, or none can be: its node directory cannot be
/// listed), and the directories of nodes that got their details file but never their monitor
/// (iceoryx2 writes the details without owning them, so nothing else removes them).
fn remove_failed_node(channel: &ChannelName, config: &Config) -> Vec<String> {
    if !safe_to_clean(&config.global.prefix.to_string()) {
        return Vec::new();
    }
    // No peer can be making a node of the channel now: a server makes its node before it says
    // it is ready, a client after.
    let mut removed = remove_unmonitored_node_dirs(channel, config);
    let mut alive = false;
    let _ = Node::<Ipc>::list(config, |state| {
        alive |= !matches!(state, NodeState::Dead(_));
        CallbackProgression::Continue
    });
    if !alive {
        removed.extend(remove_node_counter(config));
    }
    removed
}

/// The channel's node counter (`/dev/shm/srb_<channel>_<hash>_node.<version>.global_mgmt`),
/// removed; its name, if there was one.
fn remove_node_counter(config: &Config) -> Option<String> {
    let prefix = config.global.prefix.to_string();
    let before: Vec<String> = (channel_segments(&prefix).into_iter())
        .filter(|(_, name)| name.ends_with(".global_mgmt"))
        .map(|(_, name)| format!("/{name}"))
        .collect();
    // SAFETY: iceoryx2 asks that no process use the domain meanwhile; both callers looked
    // first, and no node of the channel (one server, its client) was alive.
    let gone = unsafe { iceoryx2::testing::remove_global_mgmt_segment::<Ipc>(config) };
    gone.is_ok_and(|removed| removed).then(|| {
        let names = before.join(", ");
        format!("iceoryx2's node counter {names}")
    })
}

/// Node directories (`<node dir>/<node id>/`) holding this channel's node details, and only
/// files of `prefix`, whose node has no monitor (`<node dir>/<prefix><node id>.node_monitor`):
/// a node whose creation failed half-way, or was killed half-way. (The details file's exact
/// name keeps the nodes of a channel whose name merely starts with this one's out.) Returns
/// them, for people, with their channel.
fn remove_unmonitored_node_dirs(channel: &ChannelName, config: &Config) -> Vec<String> {
    let prefix = config.global.prefix.to_string();
    let nodes = trimmed(config.global.node_dir().to_string());
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(&nodes).into_iter().flatten().flatten() {
        let Ok(id) = entry.file_name().to_string_lossy().parse::<u128>() else {
            continue;
        };
        let files = NodeFiles::of(config, id);
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || exists(&files.monitor) || !exists(&files.details) {
            continue;
        }
        let inside = std::fs::read_dir(&files.dir)
            .into_iter()
            .flatten()
            .flatten();
        let ours = |e: std::fs::DirEntry| e.file_name().to_string_lossy().starts_with(&prefix);
        if !inside.into_iter().all(ours) {
            continue;
        }
        if remove_node_dir(&files.dir, &prefix).is_ok() {
            let dir = files.dir.display();
            removed.push(format!(
                "iceoryx2 node {id} of channel {channel}, never finished ({dir})"
            ));
        }
    }
    removed
}

/// The permissions iceoryx2 0.10 gives a node monitor's files while it makes them (its
/// `process_state.rs` `INIT_PERMISSION`, owner write only): a context file still so marks a
/// monitor whose process never finished it.
const MONITOR_INIT_PERMISSION: u32 = 0o200;

/// Node monitors of the channel whose process was killed while it made them: the monitor's
/// context (`<node dir>/<prefix><node id>.node_monitor_context`, made first) still has the
/// permissions it is made with, and iceoryx2 reads such a node as starting, never as dead, so
/// its own cleaner never comes to it. Seen 5 times in 300 iceoryx2 servers killed as they
/// started (scripts/kill-server-at-start.py, 2026-12-08). Removed with the node's directory,
/// in the reverse of the order they are made, so that a cleanup cut short leaves a monitor
/// that still reads as unstarted. Only once the channel's run is over: a process of a live run
/// may be making its node now. Returns what it removed, for people.
fn remove_unstarted_monitors(channel: &ChannelName, config: &Config) -> Vec<String> {
    let prefix = config.global.prefix.to_string();
    let nodes = trimmed(config.global.node_dir().to_string());
    let context_suffix = format!("{}_context", config.global.node.monitor_suffix);
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(&nodes).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let id = (name.strip_prefix(&prefix))
            .and_then(|rest| rest.strip_suffix(context_suffix.as_str()))
            .and_then(|id| id.parse::<u128>().ok());
        let unstarted = |meta: &std::fs::Metadata| {
            meta.is_file() && meta.permissions().mode() & 0o7777 == MONITOR_INIT_PERMISSION
        };
        // A monitor being made right now is unstarted too, for microseconds.
        let Some(id) = id.filter(|_| still_so_once_settled(&entry.path(), unstarted)) else {
            continue;
        };
        let files = NodeFiles::of(config, id);
        if std::fs::symlink_metadata(&files.dir).is_ok_and(|meta| meta.is_dir()) {
            let _ = remove_node_dir(&files.dir, &prefix);
        }
        for path in [&files.monitor, &files.owner_lock, &files.context] {
            let _ = std::fs::remove_file(path);
        }
        if !exists(&files.context) {
            removed.push(format!(
                "iceoryx2 node {id} of channel {channel}, killed as its monitor was made"
            ));
        }
    }
    removed
}

/// A node killed between making its directory (`<node dir>/<node id>/`) and writing its
/// details in it leaves the directory empty: it names no channel, and iceoryx2 never looks at
/// it again (7 of 1,000 iceoryx2 servers killed as they started, 2026-12-08). Its name is the
/// node's id, which holds the host pid of its maker (iceoryx2-bb-posix's `UniqueSystemId`:
/// seconds, nanoseconds, pid and a counter, 32 bits each from the lowest). Removed when this
/// user's (or root's) and that process is gone, as seen from the initial PID namespace (from any other,
/// the host's pids cannot be looked up); a pid reused since keeps it. `rmdir` removes only an
/// empty directory, so a node's details written meanwhile keep theirs. Returns what it removed.
fn remove_empty_node_dirs_of_gone_processes(config: &Config) -> Vec<String> {
    if pid_namespace::own() != Some(pid_namespace::INITIAL) {
        return Vec::new();
    }
    let nodes = trimmed(config.global.node_dir().to_string());
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(&nodes).into_iter().flatten().flatten() {
        let Ok(id) = entry.file_name().to_string_lossy().parse::<u128>() else {
            continue;
        };
        let pid = (id >> 64) as u32;
        let path = entry.path();
        let empty = || std::fs::read_dir(&path).is_ok_and(|mut inside| inside.next().is_none());
        let own_empty_dir =
            |meta: &std::fs::Metadata| meta.is_dir() && trusted_owner(meta.uid()) && empty();
        // A node being made right now has an empty directory too, for microseconds (and its
        // pid may be another PID namespace's, where a container has its own `/proc`).
        let settled = || still_so_once_settled(&path, own_empty_dir);
        if !process_alive(pid) && settled() && std::fs::remove_dir(&path).is_ok() {
            removed.push(format!(
                "iceoryx2's empty node directory of process {pid}, which is gone ({})",
                path.display()
            ));
        }
    }
    removed
}

/// The paths of one node's files, as iceoryx2 0.10 names them for a configuration.
struct NodeFiles {
    /// `<node dir>/<node id>/`: its details and its tags.
    dir: PathBuf,
    /// `<dir>/<prefix>node.details`, written first when the node is made.
    details: PathBuf,
    /// `<node dir>/<prefix><node id>.node_monitor`: the state file its process keeps locked.
    monitor: PathBuf,
    /// The monitor's `_owner_lock`, which a cleaner keeps locked.
    owner_lock: PathBuf,
    /// The monitor's `_context`, which names the node's process.
    context: PathBuf,
}

impl NodeFiles {
    fn of(config: &Config, id: u128) -> NodeFiles {
        let prefix = config.global.prefix.to_string();
        let node = &config.global.node;
        let nodes = trimmed(config.global.node_dir().to_string());
        let dir = nodes.join(id.to_string());
        let monitor = nodes.join(format!("{prefix}{id}{}", node.monitor_suffix));
        // The suffixes of iceoryx2-bb-posix's process_state.rs, which it does not export.
        let [owner_lock, context] = ["_owner_lock", "_context"].map(|suffix| {
            let mut path = monitor.clone().into_os_string();
            path.push(suffix);
            PathBuf::from(path)
        });
        NodeFiles {
            details: dir.join(format!("{prefix}node{}", node.static_config_suffix)),
            dir,
            monitor,
            owner_lock,
            context,
        }
    }
}

/// Whether anything has the name `path` (a name this process cannot look at counts as there).
fn exists(path: &Path) -> bool {
    !matches!(FileKind::of_name(path), Ok(None))
}

/// Removes a node's directory `dir` with the files in it named with `prefix` (regular files:
/// what iceoryx2 writes there; a channel with anything else there is planted, and never comes
/// here). The directory's removal is the result: something else in it keeps it.
fn remove_node_dir(dir: &Path, prefix: &str) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let ours = entry.file_name().to_string_lossy().starts_with(prefix);
        if ours && entry.file_type().is_ok_and(|kind| kind.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    std::fs::remove_dir(dir)
}

/// A service's name in a channel: each pattern has its own, so a client of the other pattern
/// finds the server's and says so.
fn service_name(pattern: Pattern, what: &str) -> Result<ServiceName, TransportError> {
    let pattern = match pattern {
        Pattern::RoundTrip => "round-trip",
        // One-way latencies are a stream to the transport (`Pattern::on_the_transport`).
        Pattern::Stream | Pattern::OneWay => "stream",
    };
    ServiceName::new(&format!("transport-bench/{pattern}/{what}")).map_err(failed("service name"))
}

fn other(pattern: Pattern) -> Pattern {
    match pattern {
        Pattern::RoundTrip => Pattern::Stream,
        Pattern::Stream | Pattern::OneWay => Pattern::RoundTrip,
    }
}

/// The four ports one side holds: a publisher and the notifier that wakes its peer, a
/// subscriber and the listener it sleeps on.
struct Ports {
    publisher: Publisher<Ipc, [u8], ()>,
    notifier: Notifier<Ipc>,
    subscriber: Subscriber<Ipc, [u8], ()>,
    listener: Listener<Ipc>,
    spin_budget: Duration,
    // Dropped last: the ports above belong to it.
    _node: Node<Ipc>,
}

/// A publisher whose full subscriber buffer is retried (yielding the CPU) until `timeout` has
/// passed or `watch` objects, then given up: `send` fails instead of waiting for ever.
fn publisher(
    service: &PubSubFactory<Ipc, [u8], ()>,
    max_len: usize,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
) -> Result<Publisher<Ipc, [u8], ()>, TransportError> {
    let handler = move |info: &BackpressureInfo| {
        if info.elapsed_time >= timeout
            || (info.retries.is_multiple_of(64) && watch.check().is_err())
        {
            BackpressureAction::DiscardDataAndFail
        } else {
            std::thread::yield_now();
            BackpressureAction::Retry
        }
    };
    service
        .publisher_builder()
        .initial_max_slice_len(max_len)
        .allocation_strategy(AllocationStrategy::Static)
        .max_loaned_samples(1)
        .set_backpressure_handler(handler)
        .create()
        .map_err(failed("publisher creation"))
}

impl Ports {
    /// Waits for the next sample: spins for the budget, then sleeps on the listener in slices,
    /// asking `budget` after each empty one.
    fn await_sample(
        &self,
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<Sample<Ipc, [u8], ()>, TransportError> {
        let receive = || self.subscriber.receive().map_err(failed("receive"));
        if let Some(found) = spin_until(self.spin_budget, || receive().transpose()) {
            return found;
        }
        loop {
            if let Some(sample) = receive()? {
                return Ok(sample);
            }
            match self.listener.timed_wait(|_| {}, WAIT_SLICE) {
                Ok(0) => budget.slice_expired(what)?,
                // A wake-up left over from a sample taken while spinning: no sample may follow.
                Ok(_) => budget.made_progress(what)?,
                Err(_) => budget.slice_expired(what)?,
            }
        }
    }

    /// A stream client's greeting: [`HELLO`] to the server, and waiting for it back, which
    /// says the server's subscriber has attached to this client's publisher.
    fn greet(&self, budget: &mut WaitBudget<'_>) -> Result<(), TransportError> {
        (self.notifier.notify_with_custom_event_id(HELLO)).map_err(failed("notify"))?;
        loop {
            let mut greeted = false;
            let waited = self
                .listener
                .timed_wait(|event| greeted |= event.id == HELLO, WAIT_SLICE);
            if greeted {
                return Ok(());
            }
            if waited.is_ok_and(|events| events > 0) {
                budget.made_progress("the iceoryx2 server's greeting")?;
            } else {
                budget.slice_expired("the iceoryx2 server's greeting")?;
            }
        }
    }

    /// Lends `len` bytes of the publisher's shared memory, to be written and sent.
    fn loan(
        &self,
        len: usize,
    ) -> Result<SampleMutUninit<Ipc, [MaybeUninit<u8>], ()>, TransportError> {
        self.publisher
            .loan_slice_uninit(len)
            .map_err(failed("loan"))
    }

    /// Sends a written sample and wakes the peer.
    fn send(&self, sample: SampleMut<Ipc, [u8], ()>) -> Result<(), TransportError> {
        sample.send().map_err(failed("send"))?;
        self.notifier.notify().map_err(failed("notify"))?;
        Ok(())
    }

    /// Publishes a copy of `bytes`: the producer's one write, into the loan.
    fn publish(&self, bytes: &[u8]) -> Result<(), TransportError> {
        self.send(self.loan(bytes.len())?.write_from_slice(bytes))
    }
}

/// The requesting side: opens the server's services and holds the last reply.
pub struct Iceoryx2Client {
    /// The last reply, where iceoryx2 received it, until the next call.
    reply: Option<Sample<Ipc, [u8], ()>>,
    /// Dropped by [`release`], or left.
    ports: ManuallyDrop<Ports>,
    capacity: usize,
    pattern: Pattern,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
    // Fields drop in order: the reply, the ports and the node, then the domain.
    _domain: Domain,
}

impl ChannelClient for Iceoryx2Client {
    const KIND: TransportKind = KIND;

    /// A server that died meanwhile explains whatever failed: its services may have been
    /// removed as a dead node's (iceoryx2 cleans up dead nodes when a node is created).
    fn connect(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<Iceoryx2Client, TransportError> {
        let check = watch.clone();
        Iceoryx2Client::open(channel, buffer_size, options, watch)
            .map_err(|error| check.check().err().unwrap_or(error))
    }
}

impl Iceoryx2Client {
    fn open(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<Iceoryx2Client, TransportError> {
        let channel = ChannelName::new(channel)?;
        // Declared before the node, dropped after it: a client that fails (no server came)
        // removes the node counter its node made, if no server holds the channel.
        let domain = Domain(channel_config(&channel)?);
        let node = node(&channel)?;
        let pattern = options.pattern;
        let mut budget = WaitBudget::new(options.timeout, watch.as_ref());
        let request = await_request_service(&node, pattern, &mut budget)?;
        let response = open_pubsub(&node, pattern, "response")?.ok_or_else(|| {
            TransportError::Protocol("the iceoryx2 server has no response service".into())
        })?;
        let request_ready = open_event(&node, pattern, "request-ready")?;
        let response_ready = open_event(&node, pattern, "response-ready")?;
        let capacity = payload_capacity(buffer_size);
        let ports = Ports {
            publisher: publisher(&request, capacity, options.timeout, watch.clone())?,
            notifier: (request_ready.notifier_builder().create())
                .map_err(failed("notifier creation"))?,
            subscriber: (response.subscriber_builder().buffer_size(1).create())
                .map_err(failed("subscriber creation"))?,
            listener: (response_ready.listener_builder().create())
                .map_err(failed("listener creation"))?,
            spin_budget: KIND.spin_budget_under(&options),
            _node: node,
        };
        if pattern == Pattern::Stream {
            ports.greet(&mut budget)?;
        }
        Ok(Iceoryx2Client {
            _domain: domain,
            ports: ManuallyDrop::new(ports),
            capacity,
            pattern,
            timeout: options.timeout,
            watch,
            reply: None,
        })
    }
}

/// The server creates the services before it says READY; a client started by hand may come
/// first, and waits for the request service, within the budget. A server of the other pattern
/// is told apart and named.
fn await_request_service(
    node: &Node<Ipc>,
    pattern: Pattern,
    budget: &mut WaitBudget<'_>,
) -> Result<PubSubFactory<Ipc, [u8], ()>, TransportError> {
    loop {
        if let Some(service) = open_pubsub(node, pattern, "request")? {
            return Ok(service);
        }
        if node_has(node, &service_name(other(pattern), "request")?)? {
            return Err(TransportError::PatternMismatch {
                transport: KIND.name(),
                server: other(pattern),
                client: pattern,
            });
        }
        budget.slice_expired("the iceoryx2 server's services")?;
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Opens the pattern's publish-subscribe service `what` of the channel; None while the server
/// has not created it.
fn open_pubsub(
    node: &Node<Ipc>,
    pattern: Pattern,
    what: &str,
) -> Result<Option<PubSubFactory<Ipc, [u8], ()>>, TransportError> {
    let name = service_name(pattern, what)?;
    if !node_has(node, &name)? {
        return Ok(None);
    }
    node.service_builder(&name)
        .publish_subscribe::<[u8]>()
        .open()
        .map(Some)
        .map_err(failed("opening a publish-subscribe service"))
}

/// Opens the pattern's event service `what`, which the server created with the others.
fn open_event(
    node: &Node<Ipc>,
    pattern: Pattern,
    what: &str,
) -> Result<EventFactory<Ipc>, TransportError> {
    node.service_builder(&service_name(pattern, what)?)
        .event()
        .open()
        .map_err(failed("opening an event service"))
}

/// Whether a publish-subscribe service of this name exists in the node's channel.
fn node_has(node: &Node<Ipc>, name: &ServiceName) -> Result<bool, TransportError> {
    Ipc::does_exist(name, node.config(), MessagingPattern::PublishSubscribe)
        .map_err(failed("looking for a service"))
}

impl Iceoryx2Client {
    /// Sends `request`, runs `meanwhile` while the server answers, and waits for the echo,
    /// kept in `self.reply`.
    fn exchange(
        &mut self,
        request: &[u8],
        meanwhile: impl FnOnce(),
    ) -> Result<&[u8], TransportError> {
        // The last reply's sample goes back to the server's publisher first.
        self.reply = None;
        check_message_fits(request.len(), self.capacity)?;
        self.ports.publish(request).map_err(|e| self.explained(e))?;
        meanwhile();
        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        let reply = self.ports.await_sample(&mut budget, "the iceoryx2 reply")?;
        check_announced_len(reply.payload().len(), self.capacity)?;
        Ok(self.reply.insert(reply).payload())
    }

    /// A failed send explained: the watch's reason (a dead server) when it has one.
    fn explained(&self, error: TransportError) -> TransportError {
        match self.watch.check() {
            Err(reason) => reason,
            Ok(()) => error,
        }
    }
}

impl TransportClient for Iceoryx2Client {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        let reply = self.exchange(request, || ())?;
        let len = check_announced_len(reply.len(), response.len())?;
        response[..len].copy_from_slice(reply);
        Ok(len)
    }

    /// The echo where iceoryx2 received it: no copy out.
    fn round_trip_in_place<'a>(
        &'a mut self,
        request: &[u8],
        _scratch: &'a mut [u8],
    ) -> Result<&'a [u8], TransportError> {
        self.exchange(request, || ())
    }

    fn overlaps_reply_wait(&self) -> bool {
        !self.ports.spin_budget.is_zero()
    }

    fn round_trip_in_place_meanwhile<'a>(
        &'a mut self,
        request: &[u8],
        _scratch: &'a mut [u8],
        meanwhile: &mut dyn FnMut(),
    ) -> Result<&'a [u8], TransportError> {
        self.exchange(request, meanwhile)
    }

    /// One message of a stream: loaned, written and published on the request service; a full
    /// subscriber buffer pushes back until the server takes a message, within the timeout.
    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        if self.pattern != Pattern::Stream {
            return Err(TransportError::PatternUnsupported {
                transport: KIND.name(),
                pattern: Pattern::Stream,
                why: "this client was connected for round trips",
            });
        }
        check_message_fits(message.len(), self.capacity)?;
        let timeout = self.timeout;
        self.ports
            .publish(message)
            .map_err(|e| match self.explained(e) {
                TransportError::Library { .. } => TransportError::Timeout {
                    what: "room in the iceoryx2 server's buffer".into(),
                    timeout,
                },
                reason => reason,
            })
    }
}

/// The echoing side: creates the channel's services and holds the request it handed out.
pub struct Iceoryx2Server {
    /// The request handed out and not answered or consumed yet.
    held: Option<Sample<Ipc, [u8], ()>>,
    /// Dropped by [`release`], or left.
    ports: ManuallyDrop<Ports>,
    capacity: usize,
    // Fields drop in order: the request, the ports and the node, then the domain.
    _domain: Domain,
}

impl ChannelServer for Iceoryx2Server {
    const KIND: TransportKind = KIND;

    fn create(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<Iceoryx2Server, TransportError> {
        let channel = ChannelName::new(channel)?;
        // Declared before the node, dropped after it, also when a service cannot be made.
        let domain = Domain(channel_config(&channel)?);
        let node = node(&channel)?;
        let pattern = options.pattern;
        let capacity = payload_capacity(buffer_size);
        let depth = match pattern {
            Pattern::RoundTrip => 1,
            Pattern::Stream | Pattern::OneWay => ring_depth(options.ring_depth, capacity),
        };
        let request = create_pubsub(&node, pattern, "request", depth)?;
        let response = create_pubsub(&node, pattern, "response", 1)?;
        let request_ready = create_event(&node, pattern, "request-ready")?;
        let response_ready = create_event(&node, pattern, "response-ready")?;
        // A reply never waits for room: the client takes each one before its next request. The
        // timeout only bounds a reply to a client that died holding the last one.
        let watch: Arc<dyn PeerWatch> = Arc::new(crate::transport::wait::NoWatch);
        let ports = Ports {
            // One byte more than a request can be, for the injected misframed reply.
            publisher: publisher(&response, capacity + 1, options.timeout, watch)?,
            notifier: (response_ready.notifier_builder().create())
                .map_err(failed("notifier creation"))?,
            subscriber: (request.subscriber_builder().buffer_size(depth).create())
                .map_err(failed("subscriber creation"))?,
            listener: (request_ready.listener_builder().create())
                .map_err(failed("listener creation"))?,
            spin_budget: KIND.spin_budget_under(&options),
            _node: node,
        };
        Ok(Iceoryx2Server {
            _domain: domain,
            ports: ManuallyDrop::new(ports),
            capacity,
            held: None,
        })
    }
}

/// What a pair takes for `case`: both sides' buffers and the pages of iceoryx2's data segments
/// in /dev/shm that it writes. A publisher's segment is sized for a sample of the service's
/// largest slice for each one its subscriber may hold (its buffer and the one it borrows) and
/// each one it may loan itself, plus one in hand: the request service's buffer is the ring's
/// depth in a stream ([`Iceoryx2Server::create`]), the response service's one sample. But
/// iceoryx2 makes the segment sparse (`ftruncate`, no `fallocate`), and a sample takes only the
/// pages its message is written to: each loan is of the message's length, written once, in a
/// slot that is reused. So a sample counts the message's pages and two more (its header, and a
/// slot that does not start on a page), not the slot: at 100 B in a stream the request segment
/// is 67 MiB long and 112 KiB of it is ever written (`ls -s` of `/dev/shm` during a run).
fn footprint(case: &CaseShape) -> Footprint {
    let capacity = payload_capacity(case.buffer_size);
    let depth = match case.options.pattern {
        Pattern::RoundTrip => 1,
        Pattern::Stream | Pattern::OneWay => ring_depth(case.options.ring_depth, capacity),
    } as u64;
    let samples_per_service = |buffered: u64| buffered + 3;
    let samples = samples_per_service(depth).saturating_add(samples_per_service(1));
    let message_bytes = case.message_bytes.min(capacity);
    let written_per_sample = whole_pages(message_bytes).saturating_add(2 * SEGMENT_PAGE) as u64;
    let written = samples.saturating_mul(written_per_sample);
    buffers_only(case).with_shared(written.saturating_add(MANAGEMENT_SEGMENTS_BYTES))
}

/// What iceoryx2's other shared memory of a channel takes besides its data segments (the
/// connections', the services' dynamic configuration): 52-60 KiB measured (`du` of /dev/shm
/// less the data segments, at 100 B and 1 MiB in a stream).
const MANAGEMENT_SEGMENTS_BYTES: u64 = 256 << 10;

/// Creates the pattern's publish-subscribe service `what`: one publisher and one subscriber
/// (of two nodes), no history, a subscriber buffer of `depth` samples that pushes back when
/// full instead of overwriting.
fn create_pubsub(
    node: &Node<Ipc>,
    pattern: Pattern,
    what: &str,
    depth: usize,
) -> Result<PubSubFactory<Ipc, [u8], ()>, TransportError> {
    node.service_builder(&service_name(pattern, what)?)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(1)
        .max_nodes(2)
        .history_size(0)
        .subscriber_max_buffer_size(depth)
        .subscriber_max_borrowed_samples(MAX_BORROWED_SAMPLES)
        .enable_safe_overflow(false)
        .create()
        .map_err(failed("creating a publish-subscribe service"))
}

/// Creates the pattern's event service `what`: one notifier, one listener, ids up to
/// [`HELLO`].
fn create_event(
    node: &Node<Ipc>,
    pattern: Pattern,
    what: &str,
) -> Result<EventFactory<Ipc>, TransportError> {
    node.service_builder(&service_name(pattern, what)?)
        .event()
        .event_id_max_value(HELLO.as_value())
        .max_notifiers(1)
        .max_listeners(1)
        .max_nodes(2)
        .create()
        .map_err(failed("creating an event service"))
}

impl TransportServer for Iceoryx2Server {
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.held = None;
        let ports = &self.ports;
        let receive = || ports.subscriber.receive().map_err(failed("receive"));
        let mut found = spin_until(ports.spin_budget, || receive().transpose()).transpose()?;
        if found.is_none() {
            let arrived = idle_until_request(stop, || {
                found = receive()?;
                if found.is_none() {
                    // An interrupted wait (SIGTERM) is an empty slice: the stop flag decides.
                    let mut greeted = false;
                    let _ = (ports.listener)
                        .timed_wait(|event| greeted |= event.id == HELLO, IDLE_SLICE);
                    // Attaches to a new client's publisher, if one came.
                    found = receive()?;
                    if greeted {
                        (ports.notifier.notify_with_custom_event_id(HELLO))
                            .map_err(failed("notify"))?;
                    }
                }
                Ok(found.is_some())
            })?;
            if !arrived {
                return Ok(None);
            }
        }
        let Some(request) = found else {
            return Ok(None);
        };
        let len = check_announced_len(request.payload().len(), self.capacity)?;
        self.held = Some(request);
        Ok(Some(len))
    }

    /// The echo: a new sample holding a copy of the request (a received sample is read-only),
    /// tampered with as `reply` says.
    fn reply(&mut self, stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError> {
        let request = self.held.take().or_no_request()?;
        let reply_len = match reply {
            Reply::Misframed => self.capacity + 1,
            Reply::Echo | Reply::FlipByte(_) => request.payload().len(),
        };
        let ports = &self.ports;
        let sent = ports.loan(reply_len).and_then(|loan| {
            let data = request.payload();
            let mut sample = match reply {
                Reply::Misframed => loan.write_from_fn(|i| data.get(i).copied().unwrap_or(0)),
                Reply::Echo | Reply::FlipByte(_) => loan.write_from_slice(data),
            };
            if let Reply::FlipByte(offset) = reply {
                if let Some(byte) = sample.payload_mut().get_mut(offset) {
                    *byte ^= 0xff;
                }
            }
            // The request's sample goes back to the client's publisher before the echo leaves.
            drop(request);
            ports.send(sample)
        });
        match sent {
            Ok(()) => Ok(EchoOutcome::Echoed),
            Err(_) if StopFlag(stop).check().is_err() => Ok(EchoOutcome::Stopped),
            // The client is gone (its buffer full for the whole timeout): serve the next one.
            Err(_) => Ok(EchoOutcome::PeerLeft),
        }
    }

    /// The message where iceoryx2 received it.
    fn inspect(&mut self, look: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        look(self.held.as_ref().or_no_request()?.payload());
        Ok(())
    }

    /// Releases the sample, which frees its slot in the client's publisher.
    fn consume(&mut self) -> Result<(), TransportError> {
        self.held.take().map(drop).or_no_request()
    }
}

/// Removes the resources of every dead iceoryx2 node of `channel` (a process killed before it
/// could drop its node), as iceoryx2 itself does: `Node::list` tells dead nodes by their monitor
/// file's lock, and each dead node's `try_remove_stale_resources` removes its ports, its files
/// and every service it was the last owner of. Then, if no node of the channel is left, whatever
/// else carries its prefix ([`remove_unused_domain`]), unless the channel's driver may be
/// running ([`ChannelRun::DriverAlive`]). Returns what it removed, for people.
///
/// A node killed while it was being made has its details but no monitor yet, and is never
/// listed; one being made right now looks the same. So its directory is removed only when the
/// channel's run is [`ChannelRun::Over`].
pub fn remove_dead_nodes(channel: &ChannelName, run: ChannelRun) -> Vec<String> {
    let Ok(config) = channel_config(channel) else {
        return Vec::new();
    };
    // The sweep of every other transport's channel comes here too: leave iceoryx2 out of it.
    let prefix = config.global.prefix.to_string();
    if !has_iceoryx2_names(&prefix) || !safe_to_clean(&prefix) {
        return Vec::new();
    }
    set_log_level(LogLevel::Fatal);
    let mut removed = Vec::new();
    if run == ChannelRun::Over {
        removed.extend(remove_unsized_segments(&prefix));
    }
    if !unsized_segments(&prefix).is_empty() {
        // iceoryx2 would wait for ever for the segment to be sized: leave the channel to a
        // cleanup once its run is over (`planted_files` says so meanwhile), or to the next
        // look (one being made now).
        return removed;
    }
    let _ = Node::<Ipc>::list(&config, |state| {
        if let NodeState::Dead(view) = state {
            let id = view.id().value();
            // Whether or not iceoryx2 succeeded, remove what it could not.
            let removed_by_iceoryx2 = view.try_remove_stale_resources().is_ok();
            if finish_abandoned_cleanup(&config, id) || removed_by_iceoryx2 {
                removed.push(format!("iceoryx2 node {id} of channel {channel}"));
            }
        }
        CallbackProgression::Continue
    });
    if run == ChannelRun::Over {
        removed.extend(remove_unstarted_monitors(channel, &config));
        removed.extend(remove_empty_node_dirs_of_gone_processes(&config));
        removed.extend(remove_unmonitored_node_dirs(channel, &config));
        removed.extend(remove_abandoned_services(&config));
    }
    // A live driver's processes make and drop their nodes as its cases come and go: between
    // them no node is listed, and a domain removed then fails the next node made (a hostile
    // test's `cleanup` in a loop beside a run broke 2 of its 4 runs so). The driver removes
    // its channels' domains itself as each pair ends.
    if run != ChannelRun::DriverAlive {
        removed.extend(remove_unused_domain(&config));
    }
    removed
}

/// How long a segment iceoryx2 is making stays without a size: a process that made it sizes
/// it within microseconds, so one still unsized this long after it was made was left by a
/// process killed in between (or stopped there).
const SEGMENT_SIZING_SETTLE: Duration = Duration::from_millis(50);

/// The channel's segments in `/dev/shm` that iceoryx2 made and never sized (regular files of
/// size 0), with how long ago they were made or last changed: a process killed between
/// creating a segment and sizing it leaves one. iceoryx2 0.10 opens such a segment in a loop
/// with no deadline (`posix_shared_memory.rs`, `MappingSizeIsZero`): a dead node's dynamic
/// segment made `try_remove_stale_resources` and `cleanup` wait for ever (2 of 350 servers
/// killed as they started, scripts/kill-server-at-start.py, 2026-12-08), a node counter or a
/// dead node's dynamic segment the next node's creation, and a connection the drop of a live
/// server's ports (a hostile test). A data segment (`.data`) is opened otherwise and fails at
/// once, so it is left out.
fn unsized_segments(prefix: &str) -> Vec<(PathBuf, Duration)> {
    (channel_segments(prefix).into_iter())
        .filter(|(_, name)| !name.ends_with(".data"))
        .filter_map(|(entry, _)| {
            let meta = entry.metadata().ok()?;
            (meta.is_file() && meta.len() == 0).then_some(())?;
            Some((entry.path(), age(&meta)?))
        })
        .collect()
}

/// The channel's entries in `/dev/shm` named as iceoryx2 names its segments ([`iceoryx2_named`]
/// after `prefix`), of any kind, with their names.
fn channel_segments(prefix: &str) -> Vec<(std::fs::DirEntry, String)> {
    (std::fs::read_dir(SHM_DIR).into_iter().flatten().flatten())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let named = name.strip_prefix(prefix).is_some_and(iceoryx2_named);
            named.then_some((entry, name))
        })
        .collect()
}

/// How long ago the file of `meta` last changed (none for a time ahead of the clock); None
/// where the file system keeps no such time.
fn age(meta: &std::fs::Metadata) -> Option<Duration> {
    (meta.modified().ok()).map(|changed| changed.elapsed().unwrap_or_default())
}

/// The channel's segments left unsized ([`unsized_segments`]) at least
/// [`SEGMENT_SIZING_SETTLE`] after they were made: a younger one is waited for once, for the
/// rest of that time (so that a plain `cleanup` over many channels, or a `/dev/shm` planted
/// with old ones, costs no wait per channel).
fn stuck_segments(prefix: &str) -> Vec<PathBuf> {
    let found = unsized_segments(prefix);
    let youngest = found.iter().map(|(_, age)| *age).min();
    let found = match youngest {
        Some(age) if age < SEGMENT_SIZING_SETTLE => {
            std::thread::sleep(SEGMENT_SIZING_SETTLE - age);
            unsized_segments(prefix)
        }
        _ => found,
    };
    (found.into_iter())
        .filter(|(_, age)| *age >= SEGMENT_SIZING_SETTLE)
        .map(|(path, _)| path)
        .collect()
}

/// Removes the channel's segments never sized ([`stuck_segments`]), once its run is over and
/// none of its processes makes anything any more. Returns what it removed, for people.
fn remove_unsized_segments(prefix: &str) -> Vec<String> {
    let mut removed = Vec::new();
    for path in stuck_segments(prefix) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if unlink_shared_memory(&format!("/{name}")) {
            removed.push(format!("iceoryx2's segment never sized (/{name})"));
        }
    }
    removed
}

/// Whether `holds` is true of `path` (not followed if a link) once [`SEGMENT_SIZING_SETTLE`]
/// has passed since it last changed: at once for an older one; else after waiting out the rest
/// of that time, looking again. What a live process is making holds for microseconds only.
fn still_so_once_settled(path: &Path, holds: impl Fn(&std::fs::Metadata) -> bool) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    match age(&meta) {
        _ if !holds(&meta) => false,
        Some(age) if age >= SEGMENT_SIZING_SETTLE => true,
        age => {
            std::thread::sleep(SEGMENT_SIZING_SETTLE - age.unwrap_or_default());
            std::fs::symlink_metadata(path).is_ok_and(|meta| holds(&meta))
        }
    }
}

/// The refusal of a node (or of dropping one) while `stuck` is a segment of the channel that
/// was never sized: iceoryx2 would wait for it for ever.
fn never_sized(stuck: &Path, channel: &ChannelName) -> TransportError {
    TransportError::Protocol(format!(
        "{}: a segment of iceoryx2 channel {channel} never sized (its maker was killed as it \
         made it), which iceoryx2 would wait for for ever; it goes with the channel's other \
         objects once no process of the channel runs (`transport-bench cleanup --channel \
         {channel}`)",
        stuck.display()
    ))
}

/// A dead node that iceoryx2 0.10 cannot remove: one killed while it made a tag in its node
/// directory (a service's or a port's). A tag being made keeps its first permissions, which
/// iceoryx2's listing skips, so its cleanup removes the node's details, fails on the directory
/// the tag keeps, and leaves the node's monitor; from then on the node is listed dead without
/// details, and iceoryx2 looks for its monitor under its default prefix, never this channel's.
/// Seen with a run killed 30 ms after its client made its node (tests/pid_namespaces.rs, one
/// time in ten with a second test beside it): its monitor and tag stayed under /tmp/iceoryx2.
///
/// So the cleanup of a dead node of `config` without details is finished here as iceoryx2's
/// cleaner would: holding the monitor's owner lock, as it does, so that no cleaner of another
/// process starts meanwhile, and only while the monitor's state file is there (else the node
/// is being dropped or cleaned up by someone else); then the channel's files in the node's
/// directory, the directory, and the monitor's files. True if it removed the node.
fn finish_abandoned_cleanup(config: &Config, id: u128) -> bool {
    let files = NodeFiles::of(config, id);
    if exists(&files.details) {
        return false;
    }
    // A record lock is this process's, not a thread's: one of iceoryx2's cleaners in another
    // thread of this process is not kept out, and loses its lock when this file is closed.
    // Only dead nodes come here, and the server's orphan watch is the one such caller.
    let Ok(Some(_cleaner)) = record_lock::try_write_locked(&files.owner_lock) else {
        return false;
    };
    let is_dir = std::fs::symlink_metadata(&files.dir).map(|meta| meta.is_dir());
    if !exists(&files.monitor) || matches!(is_dir, Ok(false)) {
        return false;
    }
    match remove_node_dir(&files.dir, &config.global.prefix.to_string()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return false,
        _ => {}
    }
    // iceoryx2's order: while the context is there without the other two, the node reads as
    // being cleaned up, never as alive or dead.
    for path in [&files.monitor, &files.owner_lock, &files.context] {
        let _ = std::fs::remove_file(path);
    }
    true
}

/// Once no node of the channel is left, nothing of its domain is in use, and whatever carries
/// its prefix is left over: what iceoryx2 keeps for ever (a small segment per domain counting
/// the nodes ever made, `/dev/shm/srb_<channel>_<hash>_node.<version>.global_mgmt`), what iceoryx2
/// 0.10 does not remove for a dead node (a listener's socket), and what a process made before it
/// failed half-way (the data segment of a publisher whose mapping failed). Returns the objects it
/// removed, the node counter among them: left alone it is a leak of one segment per channel.
fn remove_unused_domain(config: &Config) -> Vec<String> {
    let prefix = config.global.prefix.to_string();
    if !safe_to_clean(&prefix) || domain_in_use(config) {
        return Vec::new();
    }
    // iceoryx2 asks that no process use the domain meanwhile. The domain is one channel's,
    // whose processes (one server, its client) have dropped their nodes or died: none is
    // listed alive. A node made after the look opens or creates the segment anew.
    let mut removed: Vec<String> = remove_node_counter(config).into_iter().collect();
    removed.extend(remove_event_sockets(&prefix));
    for (entry, name) in channel_segments(&prefix) {
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if regular && unlink_shared_memory(&format!("/{name}")) {
            removed.push(format!("/{name}"));
        }
    }
    removed
}

/// Whether a node of `config`'s domain is listed alive (or being cleaned up), or the nodes
/// cannot be listed: then nothing of the domain may be removed.
fn domain_in_use(config: &Config) -> bool {
    let mut in_use = false;
    let listed = Node::<Ipc>::list(config, |state| {
        in_use = !matches!(state, NodeState::Dead(_));
        if in_use {
            CallbackProgression::Stop
        } else {
            CallbackProgression::Continue
        }
    });
    listed.is_err() || in_use
}

/// A server killed while iceoryx2 made one of its services leaves the service's file,
/// `services/srb_<channel>_<40 hex digits>.service`, before the node's tag that names it: no
/// dead node leads iceoryx2's cleaner to it, and a server of the channel then fails to make the
/// service (`AlreadyExists`). Seen 6 times in 210 servers killed as they started (a hostile
/// test, 2026-12-07). Removed once the channel's run is over and no node of it is alive, when
/// no process of the run is making anything of it any more. Returns the files removed.
fn remove_abandoned_services(config: &Config) -> Vec<String> {
    let prefix = config.global.prefix.to_string();
    if !safe_to_clean(&prefix) || domain_in_use(config) {
        return Vec::new();
    }
    let mut removed = Vec::new();
    for entry in channel_service_files(&prefix) {
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if regular && std::fs::remove_file(entry.path()).is_ok() {
            removed.push(format!(
                "iceoryx2's file of a service never finished ({})",
                entry.path().display()
            ));
        }
    }
    removed
}

/// The channel's services' files left with the permissions iceoryx2 makes them with (0600,
/// its `static_storage/file.rs` `INIT_PERMISSIONS`; a finished one is made read-only) for at
/// least [`SEGMENT_SIZING_SETTLE`], while no node of the channel is alive: what a server killed
/// as it made a service leaves (empty, or written and not yet made read-only), for `cleanup`
/// to name where it may not remove it.
fn unfinished_services(config: &Config) -> Vec<PathBuf> {
    const SERVICE_INIT_PERMISSION: u32 = 0o600;
    let prefix = config.global.prefix.to_string();
    let found: Vec<PathBuf> = (channel_service_files(&prefix).into_iter())
        .filter(|entry| {
            entry.metadata().is_ok_and(|meta| {
                let unfinished = meta.permissions().mode() & 0o7777 == SERVICE_INIT_PERMISSION;
                meta.is_file() && unfinished && age(&meta) >= Some(SEGMENT_SIZING_SETTLE)
            })
        })
        .map(|entry| entry.path())
        .collect();
    if found.is_empty() || domain_in_use(config) {
        return Vec::new();
    }
    found
}

/// The channel's entries in iceoryx2's `services` directory named as a service's file
/// ([`service_file_named`] after `prefix`), of any kind.
fn channel_service_files(prefix: &str) -> Vec<std::fs::DirEntry> {
    let [_, _, services] = own_dirs();
    (std::fs::read_dir(services).into_iter().flatten().flatten())
        .filter(|entry| {
            (entry.file_name().to_str())
                .and_then(|name| name.strip_prefix(prefix))
                .is_some_and(service_file_named)
        })
        .collect()
}

/// Whether what follows a channel's prefix in iceoryx2's `services` directory is a service's
/// file: a 40-digit hex hash, then `.service`.
fn service_file_named(rest: &str) -> bool {
    rest.strip_suffix(".service")
        .is_some_and(|hash| hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The channels of the services' files, `services/srb_<channel>_<40 hex digits>.service`: a
/// service never finished may be all a run killed as it started leaves.
fn channels_with_services() -> Vec<ChannelName> {
    let [_, _, services] = own_dirs();
    (std::fs::read_dir(services).into_iter().flatten().flatten())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let rest = name.strip_prefix("srb_")?;
            let (channel, tail) = rest.rsplit_once('_')?;
            service_file_named(tail).then_some(())?;
            ChannelName::new(channel).ok()
        })
        .collect()
}

/// The files of `channel` under iceoryx2's root and in `/dev/shm` that are not what iceoryx2
/// keeps there (a FIFO, a link or a device planted by whoever can write `/tmp/iceoryx2`), for
/// `cleanup` to say why it leaves the channel alone.
pub fn planted_files(channel: &ChannelName) -> Vec<String> {
    let Ok(config) = channel_config(channel) else {
        return Vec::new();
    };
    let prefix = config.global.prefix.to_string();
    let planted = planted(&prefix);
    let never_sized = unsized_segments(&prefix).into_iter().map(|(path, _)| {
        let why = "a segment never sized, which iceoryx2 would wait for for ever: a process of \
            the channel was killed as it made it, or is making it now";
        format!("{} ({why})", path.display())
    });
    let unfinished = unfinished_services(&config).into_iter().map(|path| {
        let why = "a service's file never finished: a server of the channel was killed as it \
            made it, and the channel's next server fails (AlreadyExists) until it is gone; \
            `cleanup` removes it once the run the channel is named after is over, never on a \
            channel not named after a driver: remove it by hand";
        format!("{} ({why})", path.display())
    });
    (planted.iter().map(Misplaced::to_string))
        .chain(never_sized)
        .chain(unfinished)
        .chain(untrusted_dirs())
        .map(|why| format!("{why} (iceoryx2 channel {channel}, not cleaned)"))
        .collect()
}

/// What carries `prefix` in iceoryx2's tree and is not the kind of file iceoryx2 makes there.
/// iceoryx2 opens a node's files with a plain `open` (a FIFO there blocks it for ever, a link
/// leads it anywhere), so no node of a channel with such a file is listed, removed or created.
/// Looked at with `lstat` only; a file swapped in after this look is iceoryx2's to meet.
fn planted(prefix: &str) -> Vec<Misplaced> {
    let [root, nodes, services] = own_dirs();
    let regular = |name: &str| name.starts_with(prefix).then_some(FileKind::Regular);
    let in_root = |name: &str| {
        let socket = name.ends_with(".event");
        name.starts_with(prefix).then_some(if socket {
            FileKind::Socket
        } else {
            FileKind::Regular
        })
    };
    let mut found = misplaced_entries(&root, in_root);
    found.extend(misplaced_entries(&services, regular));
    found.extend(misplaced_entries(&nodes, regular));
    for node_dir in node_dirs(&nodes, prefix, &mut found) {
        found.extend(misplaced_entries(&node_dir, regular));
    }
    let in_shm = |name: &str| {
        let named = name.strip_prefix(prefix).is_some_and(iceoryx2_named);
        named.then_some(FileKind::Regular)
    };
    found.extend(misplaced_entries(Path::new(SHM_DIR), in_shm));
    found
}

/// The nodes' own directories (named by node id) under `nodes`. One reached through a link
/// that holds files of `prefix` is itself planted, and is added to `found` instead.
fn node_dirs(nodes: &Path, prefix: &str, found: &mut Vec<Misplaced>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(nodes).into_iter().flatten().flatten() {
        let Ok(kind) = entry.file_type().map(FileKind::of_type) else {
            continue;
        };
        let path = entry.path();
        let holds_ours = || {
            let inside = std::fs::read_dir(&path).into_iter().flatten().flatten();
            inside
                .filter_map(|e| e.file_name().into_string().ok())
                .any(|name| name.starts_with(prefix))
        };
        match kind {
            FileKind::Directory => dirs.push(path),
            FileKind::SymbolicLink if holds_ours() => found.push(Misplaced {
                path,
                found: kind,
                expected: FileKind::Directory,
            }),
            _ => {}
        }
    }
    dirs
}

/// Whether anything iceoryx2 names with `prefix` exists: a node monitor or listener's socket
/// under its root, a file in a node's directory, a service's file, or an object in `/dev/shm`.
fn has_iceoryx2_names(prefix: &str) -> bool {
    let in_root = root_entries()
        .iter()
        .any(|(_, name)| name.starts_with(prefix));
    let in_node_dirs = || node_dir_names().iter().any(|name| name.starts_with(prefix));
    let in_shm = !channel_segments(prefix).is_empty();
    let in_services = || !channel_service_files(prefix).is_empty();
    in_root || in_shm || in_node_dirs() || in_services()
}

/// The names in the nodes' own directories (`nodes/<node id>/`): their details and tags.
fn node_dir_names() -> Vec<String> {
    let [_, nodes, _] = own_dirs();
    let node_dirs = std::fs::read_dir(nodes).into_iter().flatten().flatten();
    node_dirs
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .flat_map(|entry| {
            std::fs::read_dir(entry.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect()
}

/// Whether a name in `/dev/shm` is one iceoryx2 makes for a channel: `srb_<channel>_`, then
/// what [`iceoryx2_named`] accepts. (The channel may hold `_`: any split will do.)
pub fn iceoryx2_segment(name: &str) -> bool {
    segment_channel(name).is_some()
}

/// The channel of a segment iceoryx2 made in `/dev/shm` ([`iceoryx2_segment`]).
fn segment_channel(name: &str) -> Option<ChannelName> {
    let rest = name.strip_prefix("srb_")?;
    let (at, _) = (rest.match_indices('_')).find(|(at, _)| iceoryx2_named(&rest[at + 1..]))?;
    ChannelName::new(&rest[..at]).ok()
}

/// Whether what follows a channel's prefix is a name iceoryx2 makes in `/dev/shm`: a 40-digit
/// hex hash, `_`, then `node` or an id (two joined by `_` for a connection: iceoryx2's
/// `naming_scheme.rs`), `.` and a suffix. The other transports' objects of the channel (`_req`,
/// `_resp`, `_spin`, `_zc`) are not, nor is a segment of a longer channel that starts with
/// this one and a hash (channel `hx` and channel `hx_<40 hex digits>`): an id is a `u128` as
/// Rust writes it, never 40 digits long.
fn iceoryx2_named(rest: &str) -> bool {
    let Some((hash, tail)) = rest.split_once('_') else {
        return false;
    };
    let Some((stem, _suffix)) = tail.split_once('.') else {
        return false;
    };
    let ids = stem.split('_');
    let by_id = ids.clone().count() <= 2 && ids.into_iter().all(written_u128);
    hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && (stem == "node" || by_id)
}

/// Whether `text` is a `u128` as `to_string` writes it: decimal digits, no leading zero.
fn written_u128(text: &str) -> bool {
    let canonical = text == "0" || !text.starts_with('0');
    canonical && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u128>().is_ok()
}

/// A listener's wake-up socket, `<root>/srb_<channel>_<port id>.event`, is not among the
/// resources iceoryx2 0.10 removes for a dead node; once no node of the channel is left, no
/// listener of it is. Returns the sockets removed.
fn remove_event_sockets(prefix: &str) -> Vec<String> {
    let mut removed = Vec::new();
    for (path, name) in root_entries() {
        let ours = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".event"))
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
        let socket = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_socket());
        if ours && socket && std::fs::remove_file(&path).is_ok() {
            removed.push(path.display().to_string());
        }
    }
    removed
}

/// The entries of iceoryx2's root directory and of its node directory, with their names.
fn root_entries() -> Vec<(std::path::PathBuf, String)> {
    let [root, nodes, _] = own_dirs();
    ([root, nodes].iter())
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten())
        .filter_map(|entry| Some((entry.path(), entry.file_name().into_string().ok()?)))
        .collect()
}

/// The channels with iceoryx2 nodes, dead or alive, or listeners' sockets under iceoryx2's root:
/// `nodes/srb_<channel>_<node id>.node_monitor` (or only its `_context`, the monitor's first
/// file, of a node killed as it was made) and `srb_<channel>_<port id>.event`, a node's
/// details without its monitor (`nodes/<node id>/srb_<channel>_node.details`, a node killed
/// while it was made), a segment in `/dev/shm` (its node counter,
/// `srb_<channel>_<hash>_node.<version>.global_mgmt`, may be all a failed node leaves), or a
/// service's file (`services/srb_<channel>_<hash>.service`, one never finished). For
/// `transport-bench cleanup`, which cannot tell the channels from iceoryx2's names otherwise.
pub fn channels_with_nodes() -> Vec<ChannelName> {
    let mut channels: Vec<ChannelName> = (root_entries().into_iter())
        .filter_map(|(_, name)| {
            let rest = name.strip_prefix("srb_")?;
            let rest = [".node_monitor", ".node_monitor_context", ".event"]
                .into_iter()
                .find_map(|suffix| rest.strip_suffix(suffix))?;
            let (channel, id) = rest.rsplit_once('_')?;
            id.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
            ChannelName::new(channel).ok()
        })
        .chain(channels_with_node_details())
        .chain(channels_with_segments())
        .chain(channels_with_services())
        .collect();
    channels.sort();
    channels.dedup();
    channels
}

/// The channels of iceoryx2's segments in `/dev/shm`: its node counters
/// (`srb_<channel>_<hash>_node.<version>.global_mgmt`) and the rest (a data segment left by a
/// process that failed half-way may be all there is of a channel).
fn channels_with_segments() -> Vec<ChannelName> {
    (std::fs::read_dir(SHM_DIR).into_iter().flatten().flatten())
        .filter_map(|entry| segment_channel(entry.file_name().to_str()?))
        .collect()
}

/// The channels of the nodes' details files, `nodes/<node id>/srb_<channel>_node.details`.
fn channels_with_node_details() -> Vec<ChannelName> {
    let details = format!(
        "_node{}",
        Config::default().global.node.static_config_suffix
    );
    (node_dir_names().into_iter())
        .filter_map(|name| {
            let channel = name.strip_prefix("srb_")?.strip_suffix(details.as_str())?;
            ChannelName::new(channel).ok()
        })
        .collect()
}

impl Drop for Iceoryx2Client {
    fn drop(&mut self) {
        self.reply = None;
        release(&mut self.ports, &self._domain.0);
    }
}

impl Drop for Iceoryx2Server {
    fn drop(&mut self) {
        self.held = None;
        release(&mut self.ports, &self._domain.0);
    }
}

/// Drops a side's ports and node, unless a segment of the channel was never sized: iceoryx2's
/// drop removes a dead peer's stale connection, and would wait for such a one for ever (a
/// hostile test: a client killed as it connected left a server that never exited after its
/// SIGTERM). Then they are left as a killed process's are, for `cleanup` to remove once the
/// run is over.
fn release(ports: &mut ManuallyDrop<Ports>, config: &Config) {
    if stuck_segments(&config.global.prefix.to_string()).is_empty() {
        // SAFETY: called once, from the drop of the side that owns `ports`, which is never
        // used after it.
        unsafe { ManuallyDrop::drop(ports) };
    }
}

/// Dropped after a side's ports and node: removes the channel's domain segment once the last
/// node of the channel is gone (the server's, normally).
struct Domain(Config);

impl Drop for Domain {
    fn drop(&mut self) {
        // Normally only the node counter is left by then, which is no leak to report.
        remove_unused_domain(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(message_bytes: usize) -> CaseShape {
        CaseShape {
            message_bytes,
            buffer_size: 2_500_000,
            options: TransportOptions {
                timeout: Duration::from_secs(10),
                spin_budget: None,
                pattern: Pattern::Stream,
                ring_depth: None,
                in_flight: 1,
            },
        }
    }

    /// The names iceoryx2 0.10 made in `/dev/shm` for a channel (copied from a listing), and
    /// the same names of a channel that starts with this one and a hash, which are not this
    /// one's: `cleanup --channel hx` removed the segments of a live channel `hx_<hash>`.
    #[test]
    fn iceoryx2_names_are_told_from_those_of_a_longer_channel() {
        let hash = "112437a14a36c452eeea7e2aefc2af954fc5a3f2";
        let made = [
            format!("{hash}_237684863785892192097266565770.dynamic"),
            format!("{hash}_396141261327156129889477723636.data"),
            format!("{hash}_633825757984221997590042904116.event_mgmt"),
            format!(
                "{hash}_158456701271624893544678818442_79228538757357621706787652234.connection"
            ),
            format!("{hash}_node.0_10_0.global_mgmt"),
        ];
        for rest in &made {
            assert!(iceoryx2_named(rest), "{rest}");
            let of_longer = format!("{}_{rest}", "9204dd183d1c4d8e1ff592a30766ffa6765aa8b5");
            assert!(!iceoryx2_named(&of_longer), "{of_longer}");
            let name = format!("srb_hx_9204dd183d1c4d8e1ff592a30766ffa6765aa8b5_{rest}");
            let channel = segment_channel(&name).map(|c| c.as_str().to_string());
            assert_eq!(
                channel.as_deref(),
                Some("hx_9204dd183d1c4d8e1ff592a30766ffa6765aa8b5")
            );
        }
        for other in [
            "req",
            "resp",
            "spin",
            "zc",
            &format!("{hash}_012.dynamic"),
            &format!("{hash}_1_2_3.data"),
            &format!("{hash}_{}.data", "9".repeat(40)),
        ] {
            assert!(!iceoryx2_named(other), "{other}");
        }
    }

    /// Before, a 100 B stream counted its data segments whole (79 MiB), and was skipped on a
    /// 64 MiB `/dev/shm` where it takes a few hundred KiB.
    #[test]
    fn a_small_stream_counts_the_pages_its_samples_write_not_whole_slots() {
        let small = footprint(&stream(100)).shared_bytes;
        assert!(small < 1 << 20, "{small}");
        let large = footprint(&stream(1 << 20)).shared_bytes;
        assert!(
            large > 20 * (1 << 20),
            "a sample of 1 MiB writes its MiB: {large}"
        );
    }
}
