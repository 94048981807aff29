//! Removing IPC objects a test made on purpose (a squatter, a crashed program's leftovers), so
//! that a failed assertion does not leave them behind as well.

use transport_bench::transport::{unlink_channel_objects, ChannelName};

/// Unlinks whatever objects of `channel` exist, whichever transport's.
pub fn remove_objects(channel: &str) {
    unlink_channel_objects(&ChannelName::new(channel).expect("a valid channel name"));
}
