//! SHM channels of the tests' own: fresh names, and the objects of a channel still present.

use std::sync::atomic::{AtomicU32, Ordering};

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

/// The objects of one channel still in `/dev/shm`.
pub fn channel_leftovers(channel: &str) -> Vec<String> {
    shm_entries(&format!("srb_{channel}_"))
}
