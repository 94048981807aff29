//! The signals tests send to processes, and stopping a server the way the driver does.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::channel::channel_leftovers;
use super::process::Spawned;

pub fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).expect("sending a signal");
}

/// Stops a server with SIGTERM and asserts that it exited 0 and unlinked its channel.
pub fn stop_server_clean(server: Spawned, channel: &str) {
    signal(server.pid(), Signal::SIGTERM);
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "server exit {status:?}: {stderr}");
    assert_eq!(channel_leftovers(channel), Vec::<String>::new());
}
