//! What one client and server pair of a transport takes of the machine while a case runs
//! ([`Footprint`]): its shared memory in `/dev/shm`, the two processes' own buffers, and what
//! the kernel charges to the user's message-queue limit. Each transport's spec declares it
//! (`TransportSpec::footprint`), since only the transport knows its layout (a ring of slots,
//! iceoryx2's samples, two queues); the options' validation multiplies it by `--pairs` and
//! holds it against what the machine has before anything starts (issue 27, #2 and #15).
//!
//! The figures are what the two processes were measured to take at their peak (`VmHWM`, the
//! table in docs/robustness.md, "What a case takes, measured"): each process's own baseline (the
//! executable's pages, its runtime, a library's threads), the buffers, and the copies a client
//! keeps of the replies to its requests in flight; not what the kernel keeps outside the
//! processes (a socket's buffers, page tables). A case they pass may still find less than it
//! needs and fail on its own, with its own error (an OOM kill is reported as one). Our own segments reserve their whole size when they are made
//! (`posix_fallocate`); iceoryx2's are sparse and take pages as its samples are first used, so
//! a short run of a case refused for them might have got by, and a long one would have died
//! of SIGBUS where `/dev/shm` ran out (issue 27, #1): refusing it is the point.

use std::ops::{Add, Mul};

/// What each of the two processes takes before any buffer of the case: the executable's
/// resident pages, the runtime, the measuring loop's histograms, a library's threads and
/// segments at their smallest. Measured (`VmHWM` at 100 B): 7-12 MiB a process in a release
/// build, 13-18 MiB in a debug build (iceoryx2's client the most); the debug build's is
/// what the tests run.
pub const PROCESS_BASELINE_BYTES: u64 = 20 << 20;

/// How many copies of a reply each request in flight may take, the two processes together:
/// a byte stream's client reads replies ahead into one buffer that grows by doubling, and
/// whose earlier, smaller generations the allocator may keep resident (measured: 2.0 times
/// the replies in flight on unix-stream and pipe, up to 2.8 on tcp); libzmq's client queues
/// them (1.3 times) and its server the requests (1 time over ipc).
const COPIES_PER_REQUEST_IN_FLIGHT: u64 = 3;

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

    /// The memory both processes take whatever carries their messages: each one's baseline
    /// ([`PROCESS_BASELINE_BYTES`]), the client's request and reply buffers and one message
    /// more, the server's buffer of `buffer_size` bytes, and with requests in flight
    /// [`COPIES_PER_REQUEST_IN_FLIGHT`] messages for each (a byte stream reads replies ahead
    /// while it writes, libzmq queues them). The default of a transport that declares nothing
    /// else.
    pub fn buffers(message_bytes: usize, buffer_size: usize, in_flight: usize) -> Footprint {
        let in_flight_messages = match in_flight {
            0 | 1 => 0,
            many => (many as u64).saturating_mul(COPIES_PER_REQUEST_IN_FLIGHT),
        };
        let messages = in_flight_messages.saturating_add(3);
        Footprint {
            private_bytes: (messages.saturating_mul(message_bytes as u64))
                .saturating_add(buffer_size as u64)
                .saturating_add(2 * PROCESS_BASELINE_BYTES),
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

    const BASELINES: u64 = 2 * PROCESS_BASELINE_BYTES;

    #[test]
    fn buffers_count_the_processes_three_copies_a_request_in_flight_and_the_servers_buffer() {
        let one = Footprint::buffers(100, 1000, 1);
        assert_eq!(one.private_bytes, BASELINES + 3 * 100 + 1000);
        assert_eq!(Footprint::buffers(100, 1000, 0), one);
        assert_eq!(
            Footprint::buffers(100, 1000, 4).private_bytes,
            BASELINES + (3 * 4 + 3) * 100 + 1000
        );
        assert_eq!(one.shared_bytes, 0);
    }

    #[test]
    fn pairs_multiply_and_sums_saturate() {
        let pair = Footprint::buffers(100, 1000, 1).with_shared(50);
        let three = pair * 3;
        let private = 3 * (BASELINES + 1300);
        assert_eq!((three.shared_bytes, three.private_bytes), (150, private));
        assert_eq!(three.memory_bytes(), private + 150);
        let huge = Footprint::buffers(usize::MAX, usize::MAX, usize::MAX) * usize::MAX;
        assert_eq!(huge.private_bytes, u64::MAX);
        assert_eq!((huge + pair).private_bytes, u64::MAX);
    }
}
