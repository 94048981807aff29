//! What one client and server pair of a transport takes of the machine while a case runs
//! ([`Footprint`]): its shared memory in `/dev/shm`, the two processes' own buffers, and what
//! the kernel charges to the user's message-queue limit. Each transport's spec declares it
//! (`TransportSpec::footprint`), since only the transport knows its layout (a ring of slots,
//! iceoryx2's samples, two queues); the options' validation multiplies it by `--pairs` and
//! holds it against what the machine has before anything starts (issue 27, #2 and #15).
//!
//! The figures are what the transport itself may take (its ring full), not what the allocator
//! or the kernel adds around it (page tables, a socket's kernel buffers, libzmq's message
//! headers): a case they pass may still find less than it needs and fail on its own, with its
//! own error. Our own segments reserve their whole size when they are made
//! (`posix_fallocate`); iceoryx2's are sparse and take pages as its samples are first used, so
//! a short run of a case refused for them might have got by, and a long one would have died
//! of SIGBUS where `/dev/shm` ran out (issue 27, #1): refusing it is the point.

use std::ops::{Add, Mul};

/// What one pair takes, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Shared memory in `/dev/shm` (which is memory too: tmpfs pages are charged as such).
    pub shared_bytes: u64,
    /// The two processes' own memory: the request and reply buffers, the server's buffer, the
    /// replies a client holds while requests are in flight.
    pub private_bytes: u64,
    /// What the kernel charges to the user's `RLIMIT_MSGQUEUE` (`ulimit -q`) for the pair's
    /// POSIX message queues.
    pub message_queue_bytes: u64,
}

impl Footprint {
    /// Shared and private memory together: what the pair takes of the machine's memory.
    pub fn memory_bytes(self) -> u64 {
        self.shared_bytes.saturating_add(self.private_bytes)
    }

    /// The memory of the buffers both sides keep whatever carries their messages: the client's
    /// request and reply buffers and a reply held for each further request in flight (a byte
    /// stream reads replies ahead while it writes, libzmq queues them), and the server's
    /// buffer of `buffer_size` bytes. The default of a transport that declares nothing else.
    pub fn buffers(message_bytes: usize, buffer_size: usize, in_flight: usize) -> Footprint {
        let held_messages = (in_flight.max(1) as u64).saturating_add(2);
        Footprint {
            private_bytes: held_messages
                .saturating_mul(message_bytes as u64)
                .saturating_add(buffer_size as u64),
            ..Footprint::default()
        }
    }

    /// This footprint with `shared_bytes` of shared memory more.
    pub fn with_shared(self, shared_bytes: u64) -> Footprint {
        Footprint {
            shared_bytes: self.shared_bytes.saturating_add(shared_bytes),
            ..self
        }
    }
}

impl Add for Footprint {
    type Output = Footprint;

    fn add(self, other: Footprint) -> Footprint {
        Footprint {
            shared_bytes: self.shared_bytes.saturating_add(other.shared_bytes),
            private_bytes: self.private_bytes.saturating_add(other.private_bytes),
            message_queue_bytes: (self.message_queue_bytes)
                .saturating_add(other.message_queue_bytes),
        }
    }
}

/// `pairs` pairs' footprint.
impl Mul<usize> for Footprint {
    type Output = Footprint;

    fn mul(self, pairs: usize) -> Footprint {
        let pairs = pairs as u64;
        Footprint {
            shared_bytes: self.shared_bytes.saturating_mul(pairs),
            private_bytes: self.private_bytes.saturating_mul(pairs),
            message_queue_bytes: self.message_queue_bytes.saturating_mul(pairs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_count_a_reply_per_request_in_flight_and_the_servers_buffer() {
        let one = Footprint::buffers(100, 1000, 1);
        assert_eq!(one.private_bytes, 3 * 100 + 1000);
        assert_eq!(Footprint::buffers(100, 1000, 0), one);
        assert_eq!(
            Footprint::buffers(100, 1000, 4).private_bytes,
            6 * 100 + 1000
        );
        assert_eq!(one.shared_bytes, 0);
    }

    #[test]
    fn pairs_multiply_and_sums_saturate() {
        let pair = Footprint::buffers(100, 1000, 1).with_shared(50);
        let three = pair * 3;
        assert_eq!((three.shared_bytes, three.private_bytes), (150, 3900));
        assert_eq!(three.memory_bytes(), 4050);
        let huge = Footprint::buffers(usize::MAX, usize::MAX, usize::MAX) * usize::MAX;
        assert_eq!(huge.private_bytes, u64::MAX);
        assert_eq!((huge + pair).private_bytes, u64::MAX);
    }
}
