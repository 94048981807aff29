//! `--server` processes started directly by a test, and peers that print `READY` like them.

use std::process::Command;
use std::time::{Duration, Instant};

use super::process::{bin, with_stop_signals_at_default, Spawned, PATIENCE};
use transport_bench::peer::server_args::ServerArgs;
use transport_bench::peer::spawn::{hand_down, InheritedFd};
use transport_bench::transport::{Endpoint, TransportKind};

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

/// A server started directly (`--server`), handed `inherited` descriptors (a pipe server's
/// ends) as the driver hands them down, ready; killed on drop.
pub fn start_server(args: &ServerArgs, inherited: &[InheritedFd<'_>]) -> Spawned {
    super::process::leave_library_dirs_as_found(args.transport);
    let mut command = Command::new(bin());
    // As a person starts it, from a terminal: the stop signals a test sends must reach it.
    with_stop_signals_at_default(command.args(args.to_args()));
    hand_down(&mut command, inherited);
    let server = Spawned::start(&mut command);
    wait_for_line(&server, "READY");
    server
}
