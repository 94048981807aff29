//! iceoryx2 against real server processes: what it leaves, and where. The conformance set
//! (`tests/conformance.rs`) runs over it like every transport; these add what only iceoryx2 has:
//! files under its own root (`/tmp/iceoryx2`, node monitors, service files, listeners' sockets)
//! besides its `/dev/shm/srb_<channel>_*` objects, which a SIGTERM'd server removes itself, and
//! which the driver's sweep and `transport-bench cleanup` remove after a SIGKILL through
//! iceoryx2's own dead-node cleanup. And a stream to a frozen server: back-pressure that ends
//! in a timeout, not a hang.

mod common {
    pub mod busy;
    pub mod channel;
    pub mod client;
    pub mod driver;
    pub mod process;
    pub mod server;
    pub mod signals;
}

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::busy::{wait_for_server, wait_until_busy};
use common::channel::{channel_leftovers, unique_channel};
use common::client::{connect, connect_for};
use common::driver::Driver;
use common::process::{bin, dead_pid, Spawned, PATIENCE};
use common::server::{server_args, start_server};
use common::signals::{signal, stop_server_clean};
use nix::sys::signal::Signal;
use transport_bench::peer::lease;
use transport_bench::transport::kinds::iceoryx2;
use transport_bench::transport::stream::{payload_byte, SEQUENCE_LEN};
use transport_bench::transport::{Endpoint, Pattern, TransportClient};

/// iceoryx2's root directory (`/tmp/iceoryx2`, its default configuration's), as the tool names
/// it: the first of its library directories, parents first.
fn iceoryx2_root() -> PathBuf {
    iceoryx2::KIND.library_dirs().remove(0)
}

/// Every entry under iceoryx2's root whose name carries `prefix` (`srb_<channel>_`).
fn iceoryx2_leftovers(prefix: &str) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(prefix) {
                found.push(path.display().to_string());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, prefix, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(&iceoryx2_root(), prefix, &mut found);
    found.sort();
    found
}

/// A channel named as a driver names its own (`n` its number), after a driver that is gone:
/// its run is over.
fn channel_of_a_run_over(n: u64) -> String {
    lease::channel_name(dead_pid(), transport_bench::system::pid_namespace::own(), n)
}

/// A channel named after this test process, which plays a driver that may still be running.
fn channel_of_a_running_run(n: u64) -> String {
    let namespace = transport_bench::system::pid_namespace::own();
    lease::channel_name(std::process::id(), namespace, n)
}

/// Writes `contents` to `path` with the permissions `mode`, as iceoryx2 leaves a file of a
/// process killed while it made it.
fn plant(path: &Path, contents: &[u8], mode: u32) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Held by each test that leaves a dead node for a cleaner to find, and by the one that runs
/// drivers: a driver's start-up sweep removes every dead node it sees (what `cleanup` is then
/// asked to remove and to name), and iceoryx2 lets one thread of a process clean up dead nodes
/// at a time (another is told that someone else is at it).
fn one_cleaner_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static CLEANERS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    CLEANERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn endpoint(channel: &str) -> Endpoint {
    Endpoint::ShmChannel {
        channel: channel.to_string(),
        buffer_size: 4096,
    }
}

/// A ready iceoryx2 server on `channel` for `pattern`.
fn start(channel: &str, pattern: Pattern) -> Spawned {
    let args = server_args(iceoryx2::KIND, &endpoint(channel), PATIENCE);
    start_server(&args.exchanging(pattern, None, true), &[])
}

/// Message `sequence` of a stream: the payload pattern, the sequence number over its front.
fn stream_message(sequence: u64, len: usize) -> Vec<u8> {
    let mut message: Vec<u8> = (0..len).map(payload_byte).collect();
    message[..SEQUENCE_LEN].copy_from_slice(&sequence.to_le_bytes());
    message
}

fn echo(client: &mut dyn TransportClient, request: &[u8]) {
    let mut reply = vec![0; 4096];
    let len = client.round_trip(request, &mut reply).expect("an echo");
    assert_eq!(&reply[..len], request);
}

/// A server on `channel` starts, echoes a client's request, and leaves nothing once stopped.
fn assert_a_server_echoes_and_leaves_nothing(channel: &str) {
    let server = start(channel, Pattern::RoundTrip);
    let mut client = connect(iceoryx2::KIND, &endpoint(channel), PATIENCE).unwrap();
    echo(client.as_mut(), b"ping");
    drop(client);
    stop_server_clean(server, channel);
    assert_channel_clean(channel);
}

fn assert_channel_clean(channel: &str) {
    assert_eq!(channel_leftovers(channel), Vec::<String>::new());
    assert_eq!(
        iceoryx2_leftovers(&format!("srb_{channel}_")),
        Vec::<String>::new()
    );
}

#[test]
fn a_sigtermed_iceoryx2_server_removes_everything_it_made_itself() {
    let channel = unique_channel("ice_term");
    let server = start(&channel, Pattern::RoundTrip);
    assert!(
        !iceoryx2_leftovers(&format!("srb_{channel}_")).is_empty(),
        "a running server has its node under {}",
        iceoryx2_root().display()
    );
    let mut client = connect(iceoryx2::KIND, &endpoint(&channel), PATIENCE).unwrap();
    echo(client.as_mut(), b"ping");
    drop(client);
    stop_server_clean(server, &channel);
    // No sweep ran: the server's node removed all of it.
    assert_channel_clean(&channel);
}

#[test]
fn a_client_of_a_killed_iceoryx2_server_times_out_and_nothing_is_left_after_the_sweep() {
    let _cleaner = one_cleaner_at_a_time();
    let channel = unique_channel("ice_kill");
    let server = start(&channel, Pattern::RoundTrip);
    let mut client = connect(iceoryx2::KIND, &endpoint(&channel), Duration::from_secs(1)).unwrap();
    echo(client.as_mut(), b"ping");
    signal(server.pid(), Signal::SIGKILL);
    let _ = server.finish();
    let mut reply = vec![0; 4096];
    let error = client.round_trip(b"ping", &mut reply).unwrap_err();
    assert_eq!(
        error.to_string(),
        "timed out after 1s waiting for the iceoryx2 reply"
    );
    // The client's node, dropped, may remove the dead server's itself (iceoryx2 cleans up dead
    // nodes when a node is dropped); the sweep removes whatever is left.
    drop(client);
    endpoint(&channel).remove_leftovers();
    assert_channel_clean(&channel);
}

#[test]
fn the_channel_sweep_removes_a_killed_iceoryx2_servers_dead_node() {
    let _cleaner = one_cleaner_at_a_time();
    let channel = unique_channel("ice_sweep");
    let server = start(&channel, Pattern::RoundTrip);
    signal(server.pid(), Signal::SIGKILL);
    let _ = server.finish();
    let removed = endpoint(&channel).remove_leftovers();
    // The dead node, then the channel's node counter, which no node is left to use.
    assert_eq!(removed.len(), 2, "one dead node, the counter: {removed:?}");
    assert!(removed[0].starts_with("iceoryx2 node "), "{removed:?}");
    assert!(
        removed[1].starts_with("iceoryx2's node counter /srb_"),
        "{removed:?}"
    );
    assert!(removed[1].ends_with(".global_mgmt"), "{removed:?}");
    assert_channel_clean(&channel);
}

#[test]
fn cleanup_removes_a_killed_iceoryx2_servers_node_and_files() {
    let _cleaner = one_cleaner_at_a_time();
    let channel = unique_channel("ice_cleanup");
    let server = start(&channel, Pattern::RoundTrip);
    signal(server.pid(), Signal::SIGKILL);
    let _ = server.finish();
    assert!(!channel_leftovers(&channel).is_empty());
    let out = Command::new(bin())
        .args(["cleanup", "--channel", &channel])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Removed iceoryx2 node ") && stdout.contains(&channel),
        "{stdout}"
    );
    // The channel's node counter in /dev/shm goes too, and is said.
    let counter = format!("Removed iceoryx2's node counter /srb_{channel}_");
    assert!(stdout.contains(&counter), "{stdout}");
    assert!(!stdout.contains("Nothing to remove"), "{stdout}");
    assert_channel_clean(&channel);
}

#[test]
fn a_driver_over_iceoryx2_leaves_nothing_after_round_trips_streams_and_a_killed_server() {
    let _cleaner = one_cleaner_at_a_time();
    for pattern in ["round-trip", "stream"] {
        let driver = Driver::start(&[
            "--transports",
            "iceoryx2",
            "--pattern",
            pattern,
            "--iterations",
            "200",
            "--warmup",
            "10",
            "--sizes",
            "100,64KB",
        ]);
        let pid = driver.pid();
        let (status, _, out) = driver.finish_clean();
        assert!(status.success(), "{pattern}: {out}");
        assert_eq!(
            iceoryx2_leftovers(&format!("srb_tb_{pid}_")),
            Vec::<String>::new()
        );
    }
    let driver = Driver::start(&[
        "--transports",
        "iceoryx2",
        "--iterations",
        "100000000",
        "--sizes",
        "100",
    ]);
    let pid = driver.pid();
    let server = wait_for_server(&driver, "iceoryx2");
    wait_until_busy(server);
    signal(server, Signal::SIGKILL);
    let (status, stdout, stderr) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("server exited: killed by signal 9 (SIGKILL)"),
        "{stdout}"
    );
    assert_eq!(
        iceoryx2_leftovers(&format!("srb_tb_{pid}_")),
        Vec::<String>::new()
    );
}

#[test]
fn a_stream_to_a_frozen_iceoryx2_server_times_out_when_its_buffer_is_full() {
    let channel = unique_channel("ice_frozen");
    let server = start(&channel, Pattern::Stream);
    let mut client = connect_for(
        iceoryx2::KIND,
        &endpoint(&channel),
        Duration::from_secs(1),
        Pattern::Stream,
    )
    .unwrap();
    signal(server.pid(), Signal::SIGSTOP);
    // The buffer holds the ring's depth (64 by default); nothing is dropped, so the sends
    // beyond it wait for room, and the wait ends at the timeout.
    let error = (1..1000)
        .find_map(|sequence| client.send(&stream_message(sequence, 64)).err())
        .expect("a full buffer pushes back");
    signal(server.pid(), Signal::SIGCONT);
    assert_eq!(
        error.to_string(),
        "timed out after 1s waiting for room in the iceoryx2 server's buffer"
    );
    drop(client);
    stop_server_clean(server, &channel);
    assert_channel_clean(&channel);
}

#[test]
fn a_round_trip_client_is_refused_by_a_stream_server() {
    let channel = unique_channel("ice_mismatch");
    let server = start(&channel, Pattern::Stream);
    let error = match connect(iceoryx2::KIND, &endpoint(&channel), PATIENCE) {
        Ok(_) => panic!("a round-trip client connected to a stream server"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("--pattern"), "{error}");
    stop_server_clean(server, &channel);
    assert_channel_clean(&channel);
}

/// `cleanup` of a channel whose dead node's file was replaced by a FIFO (as anyone who can
/// write `/tmp/iceoryx2` can do): iceoryx2 opens that file with a plain `open`, which would
/// wait for a writer for ever. The channel is left alone, saying why, and once the FIFO is
/// gone it is cleaned as usual.
#[test]
fn cleanup_leaves_a_channel_with_a_planted_fifo_alone_and_returns_at_once() {
    let _cleaner = one_cleaner_at_a_time();
    let channel = unique_channel("ice_fifo");
    let server = start(&channel, Pattern::RoundTrip);
    signal(server.pid(), Signal::SIGKILL);
    let _ = server.finish();
    let context = iceoryx2_leftovers(&format!("srb_{channel}_"))
        .into_iter()
        .find(|path| path.ends_with(".node_monitor_context"))
        .expect("a killed server leaves its node's monitor context");
    let aside = tempfile::tempdir().unwrap();
    let kept = aside.path().join("node_monitor_context");
    std::fs::copy(&context, &kept).unwrap();
    std::fs::remove_file(&context).unwrap();
    nix::unistd::mkfifo(context.as_str(), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let stdout = cleanup(&["--channel", &channel]);
    let left_alone = format!("Left alone: {context} is a FIFO, not a regular file");
    assert!(stdout.contains(&left_alone), "{stdout}");
    assert!(!stdout.contains("Removed iceoryx2 node"), "{stdout}");
    std::fs::remove_file(&context).unwrap();
    std::fs::copy(&kept, &context).unwrap();
    let stdout = cleanup(&["--channel", &channel]);
    assert!(stdout.contains("Removed iceoryx2 node "), "{stdout}");
    assert_channel_clean(&channel);
}

/// A killed server's node, made to look as if the kill came while it began on one more
/// service: the service's tag in its node directory, still as it is while being written (empty
/// and read-write, where a finished one is read-only), and the node not yet among the service's
/// (iceoryx2 writes the tag first). iceoryx2 0.10's own cleanup of a dead node skips such a tag.
fn a_node_killed_while_it_made_a_tag(channel: &str) {
    let server = start(channel, Pattern::RoundTrip);
    signal(server.pid(), Signal::SIGKILL);
    let _ = server.finish();
    let details = (iceoryx2_leftovers(&format!("srb_{channel}_")).into_iter())
        .find(|path| path.ends_with("_node.details"))
        .expect("a killed server leaves its node's details");
    let node_dir = Path::new(&details).parent().unwrap();
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let tag = node_dir.join(format!("srb_{channel}_{hash}.service_tag"));
    plant(&tag, b"", 0o600);
}

/// `transport-bench cleanup` with `args`, which must succeed within [`PATIENCE`]; what it says.
fn cleanup(args: &[&str]) -> String {
    let out = assert_cmd::Command::new(bin())
        .arg("cleanup")
        .args(args)
        .timeout(PATIENCE)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    stdout
}

fn assert_cleanup_removes_the_node(channel: &str) {
    let stdout = cleanup(&["--channel", channel]);
    assert!(stdout.contains("Removed iceoryx2 node "), "{stdout}");
    assert_channel_clean(channel);
}

/// The state a run killed as its client started left in CI (`tests/pid_namespaces.rs`): iceoryx2
/// removes what it can and gives up; the rest is removed as iceoryx2's cleaner would.
#[test]
fn cleanup_removes_a_node_killed_while_it_made_a_tag() {
    let _cleaner = one_cleaner_at_a_time();
    let channel = unique_channel("ice_tag");
    a_node_killed_while_it_made_a_tag(&channel);
    assert_cleanup_removes_the_node(&channel);
}

/// What a version of this tool before the fix left for good, made by iceoryx2's own cleanup: the
/// node listed dead without its details, for which iceoryx2 then looks under its default prefix.
#[test]
fn cleanup_removes_what_iceoryx2_left_of_a_node_killed_while_it_made_a_tag() {
    let _cleaner = one_cleaner_at_a_time();
    use ::iceoryx2::prelude::*;
    let channel = unique_channel("ice_tagleft");
    a_node_killed_while_it_made_a_tag(&channel);
    let mut config = Config::default();
    config.global.prefix = FileName::new(format!("srb_{channel}_").as_bytes()).unwrap();
    let mut cleaned = Vec::new();
    Node::<ipc_threadsafe::Service>::list(&config, |state| {
        if let NodeState::Dead(view) = state {
            cleaned.push(view.blocking_remove_stale_resources(PATIENCE).is_ok());
        }
        CallbackProgression::Continue
    })
    .unwrap();
    assert_eq!(cleaned, [false], "iceoryx2 gives up on the one dead node");
    let left = iceoryx2_leftovers(&format!("srb_{channel}_"));
    assert!(
        !left.iter().any(|path| path.ends_with("_node.details")),
        "{left:?}"
    );
    assert!(
        left.iter().any(|path| path.ends_with(".node_monitor")),
        "{left:?}"
    );
    assert_cleanup_removes_the_node(&channel);
}

/// A node killed while iceoryx2 made it: its details written, its monitor not yet, as iceoryx2
/// leaves it under `nodes/<node id>/`. It is never listed, and a node being made right now
/// looks the same, so `cleanup` removes it only when the run the channel is named after is over.
/// Plain `cleanup` finds the channel from the details file alone.
#[test]
fn cleanup_removes_a_node_killed_while_it_was_made_once_its_run_is_over() {
    let _cleaner = one_cleaner_at_a_time();
    common::process::leave_library_dirs_as_found(iceoryx2::KIND);
    let (over, running) = (channel_of_a_run_over(1), channel_of_a_running_run(1));
    let half_made = |channel: &str, id: u128| {
        let dir = iceoryx2_root().join("nodes").join(id.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let details = dir.join(format!("srb_{channel}_node.details"));
        plant(&details, b"executable = \"transport-bench\"\n", 0o400);
        dir
    };
    let unique = u128::from(std::process::id()) << 64;
    let over_dir = half_made(&over, unique + 1);
    let running_dir = half_made(&running, unique + 2);
    let said = cleanup(&[]);
    let removed = format!(
        "Removed iceoryx2 node {} of channel {over}, never finished ({})",
        unique + 1,
        over_dir.display()
    );
    assert!(said.contains(&removed), "{said}");
    assert!(!over_dir.exists());
    let said = cleanup(&["--channel", &running]);
    assert!(said.contains("Nothing to remove"), "{said}");
    assert!(
        running_dir.exists(),
        "a node of a run that may be running is left alone"
    );
    std::fs::remove_dir_all(&running_dir).unwrap();
}

/// A node killed while iceoryx2 made its monitor: the monitor's context (made first) and maybe
/// its state file, both with the permissions iceoryx2 makes them with (owner write), and its
/// details. iceoryx2 reads such a node as starting, never as dead (5 of 300 servers killed as
/// they started left one). Plain `cleanup` finds the channel from the context alone and removes
/// all of it once the run the channel is named after is over; of a run that may be running (a
/// monitor being made right now looks the same) it is left.
#[test]
fn cleanup_removes_a_node_killed_while_its_monitor_was_made_once_its_run_is_over() {
    let _cleaner = one_cleaner_at_a_time();
    common::process::leave_library_dirs_as_found(iceoryx2::KIND);
    let namespace = transport_bench::system::pid_namespace::own();
    let (over, running) = (channel_of_a_run_over(4), channel_of_a_running_run(4));
    let over_bare = channel_of_a_run_over(5);
    let nodes = iceoryx2_root().join("nodes");
    let unstarted = |channel: &str, id: u128, files: &[&str]| {
        let mut made = Vec::new();
        for suffix in files {
            let path = nodes.join(format!("srb_{channel}_{id}.node_monitor{suffix}"));
            plant(&path, b"", 0o200);
            made.push(path);
        }
        let dir = nodes.join(id.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let details = dir.join(format!("srb_{channel}_node.details"));
        std::fs::write(&details, b"executable = \"transport-bench\"\n").unwrap();
        made.push(details);
        made.push(dir);
        made
    };
    let unique = u128::from(std::process::id()) << 64;
    let over_files = unstarted(&over, unique + 11, &["_context", ""]);
    let bare = nodes.join(format!(
        "srb_{over_bare}_{}.node_monitor_context",
        unique + 12
    ));
    plant(&bare, b"", 0o200);
    let running_files = unstarted(&running, unique + 13, &["_context", ""]);
    // A node killed before its details leaves its directory empty; its id holds its maker's pid.
    let empty_dir = |pid: u32| {
        let dir = nodes.join(((u128::from(pid) << 64) + 14).to_string());
        std::fs::create_dir(&dir).unwrap();
        dir
    };
    let (gone_empty, alive_empty) = (empty_dir(dead_pid()), empty_dir(std::process::id()));
    let said = cleanup(&[]);
    let sees_the_host = namespace == Some(transport_bench::system::pid_namespace::INITIAL);
    assert_eq!(gone_empty.exists(), !sees_the_host, "{said}");
    assert!(alive_empty.exists(), "{said}");
    std::fs::remove_dir(&alive_empty).unwrap();
    let _ = std::fs::remove_dir(&gone_empty);
    for (channel, id) in [(&over, unique + 11), (&over_bare, unique + 12)] {
        let removed =
            format!("iceoryx2 node {id} of channel {channel}, killed as its monitor was made");
        assert!(said.contains(&removed), "{said}");
    }
    let left: Vec<_> = (over_files.iter().chain([&bare]))
        .filter(|path| path.exists())
        .collect();
    assert!(left.is_empty(), "{left:?} {said}");
    let said = cleanup(&["--channel", &running]);
    assert!(said.contains("Nothing to remove"), "{said}");
    let gone: Vec<_> = running_files.iter().filter(|path| !path.exists()).collect();
    assert!(
        gone.is_empty(),
        "a node of a run that may be running is left alone: {gone:?}"
    );
    for path in &running_files[..2] {
        std::fs::remove_file(path).unwrap();
    }
    std::fs::remove_dir_all(&running_files[3]).unwrap();
    assert_channel_clean(&over);
    assert_channel_clean(&running);
}

/// A server killed between creating one of its services' dynamic segments and sizing it leaves
/// the segment at size 0 (with the permissions it is made with, owner write): iceoryx2 0.10
/// opens such a segment in a loop with no deadline, so the cleanup of the dead node hung (as
/// root, who opens it whatever its permissions: 2 of 350 servers killed as they started). Plain
/// `cleanup` removes the segment first once the run the channel is named after is over, then
/// the node; of a run that may be running (a segment being made right now is unsized too) it
/// leaves the channel, says why, and returns.
#[test]
fn cleanup_neither_hangs_on_a_segment_never_sized_nor_leaves_it_once_its_run_is_over() {
    let _cleaner = one_cleaner_at_a_time();
    common::process::leave_library_dirs_as_found(iceoryx2::KIND);
    let (over, running) = (channel_of_a_run_over(6), channel_of_a_running_run(6));
    let killed_unsized = |channel: &str| {
        let server = start(channel, Pattern::RoundTrip);
        signal(server.pid(), Signal::SIGKILL);
        let _ = server.finish();
        let mut dynamic: Vec<PathBuf> = (std::fs::read_dir("/dev/shm").unwrap().flatten())
            .map(|entry| entry.path())
            .filter(|path| {
                let name = path.file_name().unwrap().to_string_lossy();
                name.starts_with(&format!("srb_{channel}_")) && name.ends_with(".dynamic")
            })
            .collect();
        dynamic.sort();
        assert!(
            !dynamic.is_empty(),
            "a killed server's services have dynamic segments"
        );
        let segment = dynamic.swap_remove(0);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap()
            .set_len(0)
            .unwrap();
        std::fs::set_permissions(&segment, std::fs::Permissions::from_mode(0o200)).unwrap();
        segment
    };
    let over_segment = killed_unsized(&over);
    let running_segment = killed_unsized(&running);
    let said = cleanup(&["--channel", &over]);
    let name = over_segment.file_name().unwrap().to_string_lossy();
    assert!(
        said.contains(&format!("Removed iceoryx2's segment never sized (/{name})")),
        "{said}"
    );
    assert!(said.contains("Removed iceoryx2 node "), "{said}");
    assert_channel_clean(&over);
    let said = cleanup(&["--channel", &running]);
    let left = format!(
        "Left alone: {} (a segment never sized",
        running_segment.display()
    );
    assert!(said.contains(&left), "{said}");
    assert!(running_segment.exists(), "{said}");
    std::fs::remove_file(&running_segment).unwrap();
    let said = cleanup(&["--channel", &running]);
    assert!(said.contains("Removed iceoryx2 node "), "{said}");
    // The node counter of a running driver's channel is its own to remove (as the driver's
    // end does, through the channel's leftovers).
    endpoint(&running).remove_leftovers();
    assert_channel_clean(&running);
}

/// A channel longer than iceoryx2's listeners' socket paths leave room for (43 bytes) is
/// refused by name before anything is made; one of 58 bytes used to fail inside iceoryx2
/// (`ResourceCreationFailed`) after its node and services were made.
#[test]
fn a_channel_too_long_for_iceoryx2s_socket_paths_is_refused_by_name() {
    let channel = format!("{:x<44}", unique_channel("ice_long"));
    let args = server_args(iceoryx2::KIND, &endpoint(&channel), PATIENCE);
    let refused = assert_cmd::Command::new(bin())
        .args(args.to_args())
        .timeout(PATIENCE)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("iceoryx2 channel names are at most 43 bytes long"),
        "{stderr}"
    );
    assert_channel_clean(&channel);
}

/// A channel named as another channel, `_`, and a hash: iceoryx2's names of the longer one
/// (`srb_<short>_<hash>_<hash>_<id>.dynamic`) begin as the shorter one's do, and
/// `cleanup --channel <short>` removed the live longer channel's segments (a hostile test).
/// The longer channel's server keeps them, and a client then gets its echo.
#[test]
fn cleanup_of_a_channel_leaves_a_live_channel_named_after_it_and_a_hash() {
    let _cleaner = one_cleaner_at_a_time();
    // The longest channel iceoryx2 takes (43 bytes) leaves two for the shorter one's name.
    let short = format!(
        "q{}",
        char::from_digit(std::process::id() % 36, 36).unwrap()
    );
    let long = format!("{short}_9204dd183d1c4d8e1ff592a30766ffa6765aa8b5");
    let server = start(&long, Pattern::RoundTrip);
    let before = channel_leftovers(&long);
    let said = cleanup(&["--channel", &short]);
    assert!(said.contains("Nothing to remove"), "{said}");
    assert_eq!(channel_leftovers(&long), before, "{said}");
    let mut client = connect(iceoryx2::KIND, &endpoint(&long), PATIENCE).unwrap();
    echo(client.as_mut(), b"ping");
    drop(client);
    stop_server_clean(server, &long);
    assert_channel_clean(&long);
}

/// A server killed as it sized a segment (strace injects SIGKILL at its `when`-th
/// `ftruncate`) leaves it at size 0: its node counter at the first, a service's dynamic segment
/// at the second. iceoryx2 0.10 waits for ever for such a segment when the next node of the
/// channel is made (it opens the counter, and cleans up the dead node through its dynamic
/// segment): the next server on the channel hung (a hostile test). Now it is refused at once,
/// naming the segment (not hung: the test's patience would kill it); with `cleanup` of the run,
/// once over, nothing of the channel is left, and a server then echoes.
#[test]
#[ignore = "needs strace (CI installs it)"]
fn a_server_killed_as_it_sized_a_segment_leaves_the_next_refused_not_hung() {
    let _cleaner = one_cleaner_at_a_time();
    common::process::leave_library_dirs_as_found(iceoryx2::KIND);
    for when in [1, 2] {
        let channel = channel_of_a_run_over(20 + when);
        let args = server_args(iceoryx2::KIND, &endpoint(&channel), PATIENCE).to_args();
        let inject = format!("inject=ftruncate:signal=KILL:when={when}");
        let killed = assert_cmd::Command::new("strace")
            .args([
                "-f",
                "-qq",
                "-o",
                "/dev/null",
                "-e",
                "trace=ftruncate",
                "-e",
                &inject,
            ])
            .arg(bin())
            .args(&args)
            .timeout(PATIENCE)
            .output()
            .expect("strace (CI installs it)");
        assert!(!killed.status.success(), "{killed:?}");
        let zero_size: Vec<String> = (channel_leftovers(&channel).into_iter())
            .filter(|name| {
                std::fs::metadata(format!("/dev/shm/{name}")).is_ok_and(|m| m.len() == 0)
            })
            .collect();
        assert_eq!(
            zero_size.len(),
            1,
            "when={when}: {:?}",
            channel_leftovers(&channel)
        );
        let refused = assert_cmd::Command::new(bin())
            .args(&args)
            .timeout(PATIENCE)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "when={when}: {stderr}");
        assert!(
            stderr.contains(&zero_size[0]) && stderr.contains("never sized"),
            "{stderr}"
        );
        // The refused server's own exit may have removed the channel's segments (no node of it
        // was alive); what is left, `cleanup` removes.
        cleanup(&["--channel", &channel]);
        assert_channel_clean(&channel);
        assert_a_server_echoes_and_leaves_nothing(&channel);
    }
}

/// A server killed while iceoryx2 made one of its services leaves the service's file, as
/// iceoryx2 makes it first (empty, 0600), and no node that names it (6 of 210 servers killed as
/// they started, a hostile test); a server of the channel then fails (`AlreadyExists`). Plain
/// `cleanup` finds the channel from the file alone and removes it once the run the channel is
/// named after is over; a server then starts and echoes. Of a run that may be running (a
/// service being made right now looks the same) the file is left, and named.
#[test]
fn cleanup_removes_a_service_never_finished_once_its_run_is_over() {
    let _cleaner = one_cleaner_at_a_time();
    common::process::leave_library_dirs_as_found(iceoryx2::KIND);
    let (over, running) = (channel_of_a_run_over(3), channel_of_a_running_run(3));
    let services = iceoryx2_root().join("services");
    // The services' files a server of a channel makes (their names do not depend on it).
    let server = start(&over, Pattern::RoundTrip);
    let made: Vec<String> = iceoryx2_leftovers(&format!("srb_{over}_"))
        .into_iter()
        .filter(|path| path.starts_with(&*services.to_string_lossy()) && path.ends_with(".service"))
        .collect();
    stop_server_clean(server, &over);
    assert_eq!(made.len(), 4, "{made:?}");
    let half_made = |channel: &str| {
        let name = Path::new(&made[0])
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let path = services.join(name.replace(over.as_str(), channel));
        let file = std::fs::File::create(&path).unwrap();
        // Made a second ago: one younger may be a service being made right now.
        let made = std::time::SystemTime::now() - Duration::from_secs(1);
        file.set_modified(made).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    };
    let (over_file, running_file) = (half_made(&over), half_made(&running));
    let args = server_args(iceoryx2::KIND, &endpoint(&over), PATIENCE);
    let refused = Command::new(bin()).args(args.to_args()).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("AlreadyExists"), "{stderr}");
    let said = cleanup(&[]);
    let removed = format!(
        "iceoryx2's file of a service never finished ({})",
        over_file.display()
    );
    assert!(said.contains(&removed), "{said}");
    assert!(!over_file.exists());
    assert!(running_file.exists(), "{said}");
    // Left, and named with what to do.
    let named = format!(
        "Left alone: {} (a service's file never finished",
        running_file.display()
    );
    assert!(said.contains(&named), "{said}");
    std::fs::remove_file(&running_file).unwrap();
    assert_a_server_echoes_and_leaves_nothing(&over);
    assert_channel_clean(&running);
}

/// A channel of a driver that is running: between its cases no node of it is listed, and its
/// domain (the node counter in `/dev/shm`) is the next case's. Plain `cleanup` removes a dead
/// node of it and leaves the counter (a hostile test's `cleanup` in a loop beside a run removed
/// it, and 2 of 4 runs failed); the driver's own sweep of the pair removes it.
#[test]
fn cleanup_leaves_the_node_counter_of_a_running_drivers_channel() {
    let _cleaner = one_cleaner_at_a_time();
    // This test process plays the driver: alive, and named in the channel as a driver is.
    let channel = channel_of_a_running_run(9);
    let server = start(&channel, Pattern::RoundTrip);
    signal(server.pid(), Signal::SIGKILL);
    let _ = server.finish();
    let said = cleanup(&[]);
    let kept = channel_leftovers(&channel);
    let removed = endpoint(&channel).remove_leftovers();
    assert!(said.contains("Removed iceoryx2 node "), "{said}");
    assert!(!said.contains("node counter"), "{said}");
    assert!(
        kept.iter().any(|name| name.ends_with(".global_mgmt")),
        "{kept:?}"
    );
    assert!(
        removed.iter().any(|r| r.contains("node counter")),
        "{removed:?}"
    );
    assert_channel_clean(&channel);
}

/// A server started by hand on a channel named after a driver that is gone (a hostile test
/// used `tb_999999_1`): its segments carry no owner lock and the pid in their name is dead, but
/// its node is alive, so plain `cleanup` leaves them, and a client still gets its echo (before,
/// `cleanup` and every driver's start-up sweep removed all seven, and the client failed).
#[test]
fn cleanup_leaves_a_live_server_on_a_channel_named_after_a_dead_driver() {
    let _cleaner = one_cleaner_at_a_time();
    let channel = channel_of_a_run_over(7);
    let server = start(&channel, Pattern::RoundTrip);
    let before = channel_leftovers(&channel);
    let said = cleanup(&[]);
    let after = channel_leftovers(&channel);
    let mut client = connect(iceoryx2::KIND, &endpoint(&channel), PATIENCE).unwrap();
    echo(client.as_mut(), b"ping");
    drop(client);
    stop_server_clean(server, &channel);
    assert!(!said.contains(&channel), "{said}");
    assert_eq!(after, before);
    assert_channel_clean(&channel);
}

/// A client that finds no server fails within its timeout and leaves nothing: neither its node
/// nor the channel's node counter (`/dev/shm/srb_<channel>_<hash>_node.….global_mgmt`).
#[test]
fn a_client_with_no_server_leaves_no_node_counter_behind() {
    let channel = unique_channel("ice_noserver");
    let error = match connect(
        iceoryx2::KIND,
        &endpoint(&channel),
        Duration::from_millis(300),
    ) {
        Ok(_) => panic!("connected to no server"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("timed out"), "{error}");
    assert_channel_clean(&channel);
}

/// An iceoryx2 server of `channel` run in a mount namespace of its own whose `/tmp` is a fresh
/// tmpfs (so other tests' nodes never see the damage), after the shell `setup` ran there, as
/// uid 65534 if `as_nobody`. The binary is opened before the tmpfs hides what `/tmp` held, and
/// copied from that descriptor: a checkout under `/tmp` (a CI clone) would otherwise vanish
/// under the mount before the copy. Returns its stderr and what of the channel that namespace's
/// `/tmp/iceoryx2` holds after it ended; asserts that it failed.
fn failed_server_in_private_tmp(channel: &str, setup: &str, as_nobody: bool) -> (String, String) {
    let args = server_args(iceoryx2::KIND, &endpoint(channel), PATIENCE)
        .exchanging(Pattern::RoundTrip, None, true)
        .to_args();
    let run = match as_nobody {
        true => "setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/tb",
        false => "/tmp/tb",
    };
    let script = format!(
        "exec 3<\"$0\" && mount -t tmpfs tmpfs /tmp && cat <&3 >/tmp/tb && exec 3<&- && \
         chmod 755 /tmp/tb && {setup} && \
         {run} \"$@\"; status=$?; echo LEFT: $(find /tmp/iceoryx2 -name 'srb_{channel}_*' 2>/dev/null); exit $status"
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .arg(bin())
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let left = stdout.lines().find_map(|line| line.strip_prefix("LEFT:"));
    (
        stderr,
        left.expect("the namespace's listing").trim().to_string(),
    )
}

/// Its message names the path and what is wrong; nothing of the channel is left in `/dev/shm`
/// (iceoryx2's node counter was) or in `/tmp/iceoryx2`.
fn assert_refused_cleanly(channel: &str, stderr: &str, left: &str, said: &str) {
    let in_shm = channel_leftovers(channel);
    endpoint(channel).remove_leftovers();
    assert!(stderr.contains(said), "{stderr}");
    assert!(!stderr.contains("InternalError"), "{stderr}");
    assert_eq!(in_shm, Vec::<String>::new());
    assert_eq!(left, "");
}

#[test]
#[ignore = "needs root: a private mount namespace (unshare -m) with its own /tmp"]
fn a_regular_file_at_iceoryx2s_root_is_named_and_nothing_leaks() {
    let channel = unique_channel("ice_rootfile");
    let (stderr, left) = failed_server_in_private_tmp(&channel, "touch /tmp/iceoryx2", false);
    let said = "iceoryx2 node creation: /tmp/iceoryx2 is a regular file, not a directory";
    assert_refused_cleanly(&channel, &stderr, &left, said);
}

#[test]
#[ignore = "needs root: a private mount namespace (unshare -m), run as uid 65534 (setpriv)"]
fn iceoryx2s_root_of_another_user_is_named_and_nothing_leaks() {
    let channel = unique_channel("ice_rootowner");
    let setup = "mkdir -m 0750 /tmp/iceoryx2";
    let (stderr, left) = failed_server_in_private_tmp(&channel, setup, true);
    let said = "/tmp/iceoryx2 is owned by uid 0, mode 0750: this user cannot write there";
    assert_refused_cleanly(&channel, &stderr, &left, said);
}

#[test]
#[ignore = "needs root: a private mount namespace (unshare -m) with its own /tmp"]
fn an_iceoryx2_root_of_another_user_is_refused_even_to_root() {
    let channel = unique_channel("ice_othersroot");
    let setup = "mkdir -m 0777 /tmp/iceoryx2 && chown 65534 /tmp/iceoryx2";
    let (stderr, left) = failed_server_in_private_tmp(&channel, setup, false);
    let said =
        "/tmp/iceoryx2 belongs to uid 65534, who could swap this run's files there for links";
    assert_refused_cleanly(&channel, &stderr, &left, said);
}

/// A killed server's node in a private `/tmp`, its tree then given to uid 65534: root's
/// `cleanup` leaves it and says why (its owner could swap a node's directory for a link while
/// it is emptied: a hostile test made root's cleanup remove a live run's shared memory so);
/// given back to root, the same `cleanup` removes it.
#[test]
#[ignore = "needs root: a private mount namespace (unshare -m) with its own /tmp"]
fn cleanup_leaves_an_iceoryx2_tree_of_another_user_alone_and_says_so() {
    let channel = unique_channel("ice_otherstree");
    let args = server_args(iceoryx2::KIND, &endpoint(&channel), PATIENCE)
        .exchanging(Pattern::RoundTrip, None, true)
        .to_args();
    let count = format!("find /tmp/iceoryx2 -name 'srb_{channel}_*' | wc -l");
    let script = format!(
        "exec 3<\"$0\" && mount -t tmpfs tmpfs /tmp && cat <&3 >/tmp/tb && exec 3<&- && \
         chmod 755 /tmp/tb && (/tmp/tb \"$@\" >/tmp/out 2>&1 & echo $! >/tmp/pid) && \
         for i in $(seq 600); do grep -q READY /tmp/out && break; sleep 0.05; done && \
         kill -9 $(cat /tmp/pid) && sleep 0.2 && chown -R 65534 /tmp/iceoryx2 && \
         echo FIRST: && /tmp/tb cleanup --channel {channel}; echo KEPT: $({count}) && \
         chown -R 0 /tmp/iceoryx2 && /tmp/tb cleanup --channel {channel}; echo LEFT: $({count})"
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .arg(bin())
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let in_shm = channel_leftovers(&channel);
    endpoint(&channel).remove_leftovers();
    let line = |tag: &str| -> String {
        let found = stdout.lines().find_map(|line| line.strip_prefix(tag));
        found
            .unwrap_or_else(|| panic!("no {tag} in {stdout}"))
            .trim()
            .to_string()
    };
    let first =
        &stdout[stdout.find("FIRST:").expect(&stdout)..stdout.find("KEPT:").expect(&stdout)];
    assert!(
        first.contains("/tmp/iceoryx2 belongs to uid 65534"),
        "{stdout}"
    );
    assert!(!first.contains("Removed"), "{stdout}");
    assert_ne!(line("KEPT:"), "0", "{stdout}");
    assert_eq!(line("LEFT:"), "0", "{stdout}");
    assert_eq!(in_shm, Vec::<String>::new(), "{stdout}");
}

#[test]
#[ignore = "needs root: a private mount namespace (unshare -m) with /dev/shm bound read-only"]
fn a_read_only_dev_shm_is_named_and_nothing_leaks() {
    let channel = unique_channel("ice_roshm");
    let setup = "mount --bind /dev/shm /dev/shm && mount -o remount,bind,ro /dev/shm";
    let (stderr, left) = failed_server_in_private_tmp(&channel, setup, false);
    let said = "/dev/shm is on a read-only file system";
    assert_refused_cleanly(&channel, &stderr, &left, said);
}
