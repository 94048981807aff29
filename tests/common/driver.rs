//! A benchmark run of the real binary with its own TMPDIR, and the checks that it left nothing
//! behind: no IPC object, no socket directory, no server process.

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use transport_bench::peer::lease::channel_name;
use transport_bench::peer::server::DRIVER_PID_ENV;
use transport_bench::system::pid_namespace;
use transport_bench::transport::{channel_objects, ChannelName, PosixObject};

use super::process::{bin, shm_entries, with_stop_signals_at_default, Spawned, PATIENCE};

/// More channels than any test's driver makes: its message queues are looked for by name.
const MOST_CHANNELS_PER_DRIVER: u32 = 256;

/// Polls `condition` until it holds or `PATIENCE` runs out.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Objects of a driver run (channels `tb_<pid>_p<namespace>_<n>`, the driver in this test's
/// PID namespace): in `/dev/shm`, then message queues, asked of the kernel by name
/// (`/dev/mqueue` is not mounted everywhere).
pub fn driver_leftovers(driver_pid: u32) -> Vec<String> {
    let mut left = shm_entries(&format!("srb_tb_{driver_pid}_"));
    let namespace = pid_namespace::own();
    for n in 1..=MOST_CHANNELS_PER_DRIVER {
        let channel = ChannelName::new(&channel_name(driver_pid, namespace, n.into())).unwrap();
        left.extend(
            (channel_objects(&channel).into_iter())
                .filter(|object| matches!(object, PosixObject::MessageQueue(_)) && object.exists())
                .map(|queue| queue.name().to_string()),
        );
    }
    left
}

/// Pids of live processes whose command line contains `needle` (zombies excluded).
pub fn processes_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false);
        if !zombie && cmdline.contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// Server processes started by the driver with this pid, whatever their endpoint (a TCP or
/// pipe server names no channel or directory): the driver puts its pid in each server's
/// environment, which stays there even after a server outlived its driver.
pub fn servers_of(driver_pid: u32) -> Vec<u32> {
    children_of(driver_pid, "--server")
}

/// Client processes (`--client`) started by the driver with this pid, found as its servers are.
pub fn clients_of(driver_pid: u32) -> Vec<u32> {
    children_of(driver_pid, "--client")
}

/// Processes whose command line has `mode` and whose environment names the driver `driver_pid`.
fn children_of(driver_pid: u32, mode: &str) -> Vec<u32> {
    let marker = format!("{DRIVER_PID_ENV}={driver_pid}");
    let mut pids = processes_with(mode);
    pids.retain(|&p| {
        std::fs::read(format!("/proc/{p}/environ"))
            .map(|env| env.split(|&b| b == 0).any(|var| var == marker.as_bytes()))
            .unwrap_or(false)
    });
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// A driver started with its own private TMPDIR, so its socket directories can be checked.
pub struct Driver {
    pub spawned: Spawned,
    pub tmp: tempfile::TempDir,
}

impl Driver {
    pub fn start(args: &[&str]) -> Driver {
        Driver::start_command(Command::new(bin()).args(args), tempfile::tempdir().unwrap())
    }

    /// A driver run by `command` (with limits or a user of its own), with `tmp` as its TMPDIR,
    /// and the stop signals at their defaults ([`with_stop_signals_at_default`]).
    pub fn start_command(command: &mut Command, tmp: tempfile::TempDir) -> Driver {
        with_stop_signals_at_default(command);
        let spawned = Spawned::start(command.env("TMPDIR", tmp.path()));
        Driver { spawned, tmp }
    }

    pub fn pid(&self) -> u32 {
        self.spawned.pid()
    }

    /// Waits for exit and asserts the run left nothing: no object, no socket dir, no server.
    pub fn finish_clean(self) -> (ExitStatus, String, String) {
        let pid = self.pid();
        let tmp_path = self.tmp.path().to_path_buf();
        let result = self.spawned.finish();
        assert_nothing_left(pid, &tmp_path);
        drop(self.tmp);
        result
    }
}

pub fn assert_nothing_left(driver_pid: u32, tmp: &Path) {
    // A server that was SIGKILLed may still be in the process of dying for a moment.
    eventually("the servers to exit", || servers_of(driver_pid).is_empty());
    eventually("the clients to exit", || clients_of(driver_pid).is_empty());
    assert_eq!(
        driver_leftovers(driver_pid),
        Vec::<String>::new(),
        "IPC objects left"
    );
    let entries: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(entries.is_empty(), "temp files left: {entries:?}");
}
