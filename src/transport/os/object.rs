//! Removing and finding a named POSIX object of any kind ([`PosixObject`], named in
//! `transport::names`), whichever wrapper made it: what cleanup and the leftover checks use.

use std::path::Path;

use crate::transport::names::PosixObject;
use crate::transport::os::mqueue::{queue_exists, unlink_queue};
use crate::transport::os::semaphore::unlink_semaphore;
use crate::transport::os::shm::{unlink_shared_memory, SHM_DIR};

impl PosixObject {
    /// Removes the name; true if it existed.
    pub fn unlink(&self) -> bool {
        match self {
            PosixObject::SharedMemory(name) => unlink_shared_memory(name),
            PosixObject::Semaphore(name) => unlink_semaphore(name),
            PosixObject::MessageQueue(name) => unlink_queue(name),
        }
    }

    /// Whether the name exists, found by name alone (no `/dev/mqueue` needed). One that exists
    /// but is someone else's counts as existing.
    pub fn exists(&self) -> bool {
        let bare = self.name().trim_start_matches('/');
        match self {
            PosixObject::SharedMemory(_) => Path::new(SHM_DIR).join(bare).exists(),
            PosixObject::Semaphore(_) => Path::new(SHM_DIR).join(format!("sem.{bare}")).exists(),
            PosixObject::MessageQueue(name) => queue_exists(name),
        }
    }
}
