//! Channels of the tests' own: fresh names, and the objects of a channel still present.

use std::sync::atomic::{AtomicU32, Ordering};

use transport_bench::transport::{channel_objects, ChannelName, PosixObject};

use super::process::shm_entries;

/// A channel name no other test (or test run) uses.
pub fn unique_channel(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "it_{}_{}_{}",
        std::process::id(),
        tag,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The objects of one channel still present: its entries in `/dev/shm`, then its message
/// queues, asked of the kernel by name (`/dev/mqueue` is not mounted everywhere).
pub fn channel_leftovers(channel: &str) -> Vec<String> {
    let mut left = shm_entries(&format!("srb_{channel}_"));
    let channel = ChannelName::new(channel).expect("a valid channel name");
    left.extend(
        (channel_objects(&channel).into_iter())
            .filter(|object| matches!(object, PosixObject::MessageQueue(_)) && object.exists())
            .map(|queue| queue.name().to_string()),
    );
    left
}
