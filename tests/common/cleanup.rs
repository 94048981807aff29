//! Removing IPC objects a test made on purpose (a squatter, a crashed program's leftovers), so
//! that a failed assertion does not leave them behind as well.

use transport_bench::transport::{shm_posix, ChannelName};

/// Unlinks whatever SHM POSIX objects of `channel` exist.
pub fn remove_objects(channel: &str) {
    shm_posix::unlink_channel(&ChannelName::new(channel).expect("a valid channel name"));
}
