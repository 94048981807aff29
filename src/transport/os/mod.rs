//! Thin owners of OS objects, one concept a file: each remembers whether it created its object
//! and, if so, removes it when dropped. This layer names no transport; it imports only the
//! shared vocabulary (`names`, `wire`, `error`, `wait`).

pub mod descriptor_table;
pub mod file_kind;
pub mod futex;
pub mod headroom;
pub mod mqueue;
pub mod object;
pub mod owner_lock;
pub mod pipe;
pub mod raw_io;
pub mod readiness;
pub mod record_lock;
pub mod semaphore;
pub mod shm;
pub mod sigbus;
pub mod socket;
pub mod watchdog;
