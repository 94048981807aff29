//! `--server` processes started directly by a test, peers that print `READY` like them, and the
//! signals tests send to processes.

use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::channel::channel_leftovers;
use super::process::{bin, Spawned, PATIENCE};
use transport_bench::cli::ServerArgs;
use transport_bench::transport::{Endpoint, TransportKind};

pub fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).expect("sending a signal");
}

/// Waits until `process` has printed a line containing `needle`, and returns that line.
pub fn wait_for_line(process: &Spawned, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found = process
            .stdout
            .lock()
            .unwrap()
            .lines()
            .find(|line| line.contains(needle))
            .map(String::from);
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no line containing {needle:?}; stdout so far:\n{}\nstderr:\n{}",
            process.stdout.lock().unwrap(),
            process.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The command line of a `kind` server at `endpoint`, as the driver renders it.
pub fn server_args(kind: TransportKind, endpoint: &Endpoint, timeout: Duration) -> ServerArgs {
    ServerArgs::new(kind, endpoint, timeout, None).expect("a valid endpoint")
}

/// A server started directly (`--server`), ready; killed on drop.
pub fn start_server(args: &ServerArgs) -> Spawned {
    let server = Spawned::start(Command::new(bin()).args(args.to_args()));
    wait_for_line(&server, "READY");
    server
}

/// Stops a server with SIGTERM and asserts that it exited 0 and unlinked its channel.
pub fn stop_server_clean(server: Spawned, channel: &str) {
    signal(server.pid(), Signal::SIGTERM);
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "server exit {status:?}: {stderr}");
    assert_eq!(channel_leftovers(channel), Vec::<String>::new());
}
