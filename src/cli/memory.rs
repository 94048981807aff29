//! Memory checked before it is taken (issue 27, #2 and #15): what each case of the run will
//! take (its transport's [`Footprint`], declared by its spec, times `--pairs`) against what
//! the machine has: `/dev/shm`'s free space for shared memory, the memory this process can
//! still take (`MemAvailable`, or a memory cgroup's limit, whichever is less) for shared and
//! private memory together, and the per-user `RLIMIT_MSGQUEUE` for message queues. A case that
//! cannot fit is skipped with the reason, as a size its transport cannot carry is, naming the
//! figure and the limit; a run none of whose cases fits is refused as a usage error (exit 2)
//! before anything starts, with the first case's reason.
//!
//! Why a case and not the run: a run of several sizes or transports (a sweep, `--transports
//! all`) measures the rest, as it does when a transport cannot carry a size, and the table
//! says why the case is missing. The figures are the two processes' peaks as measured, with a
//! margin (see [`Footprint`]), so a case they refuse might by that margin have got by, and one
//! they pass may still run short (then it fails with its own error). Cases run one at
//! a time, so each case is held against the room alone, not their sum. The cases the scheduler
//! would skip anyway (a size the transport cannot carry, a workload it does not support) are
//! not held against it. With `--connect` the server's side is not ours: its shared memory and
//! queues are not counted.

use crate::report::size::{format_bytes, format_bytes_rounded, MessageSize};
use crate::system::memory::{memory_room, MemoryBound, MemoryRoom};
use crate::transport::os::mqueue::user_limit_bytes;
use crate::transport::os::shm::{shm_free_bytes, SHM_DIR};
use crate::transport::{CaseShape, Footprint, Pattern, TransportKind, TransportOptions, Workload};

/// A case that would take more than the machine has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoRoom {
    #[error("{case} needs {} of {SHM_DIR}{}; {SHM_DIR} has {} free", format_bytes_rounded(*.needed), in_parentheses(a_pair(*.needed, *.per_pair)), format_bytes_rounded(*.free))]
    SharedMemory {
        case: String,
        needed: u64,
        per_pair: u64,
        free: u64,
    },
    #[error("{case} needs {} of memory (both processes' buffers and shared memory{}); {}", format_bytes_rounded(*.needed), a_pair(*.needed, *.per_pair).map(|each| format!(", {each}")).unwrap_or_default(), room_text(.room))]
    Memory {
        case: String,
        needed: u64,
        per_pair: u64,
        room: MemoryRoom,
    },
    #[error("{case} needs at least {} of POSIX message queues{}; the per-user limit RLIMIT_MSGQUEUE (ulimit -q) is {}", format_bytes_rounded(*.needed), in_parentheses(a_pair(*.needed, *.per_pair)), format_bytes_rounded(*.limit))]
    MessageQueues {
        case: String,
        needed: u64,
        per_pair: u64,
        limit: u64,
    },
}

/// What the machine has, read once for the whole run.
#[derive(Debug, Clone)]
pub struct MachineRoom {
    pub shm_free: Option<u64>,
    pub memory: Option<MemoryRoom>,
    pub message_queue_limit: Option<u64>,
}

impl MachineRoom {
    /// What this machine has now.
    pub fn now() -> MachineRoom {
        MachineRoom {
            shm_free: shm_free_bytes(),
            memory: memory_room(),
            message_queue_limit: user_limit_bytes(),
        }
    }
}

/// A case that does not fit, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRefusal {
    pub size_bytes: usize,
    pub transport: TransportKind,
    pub reason: NoRoom,
}

/// What the command line asks of its cases, as far as their memory goes.
pub struct RunShape<'a> {
    pub sizes: &'a [MessageSize],
    pub transports: &'a [TransportKind],
    pub buffer_size: usize,
    pub workload: Workload,
    pub ring_depth: Option<usize>,
    pub pairs: usize,
    /// `--connect`: the server is not ours, nor its shared memory and queues.
    pub external_server: bool,
    /// What each side of `kind` is given.
    pub transport_options: &'a dyn Fn(TransportKind) -> TransportOptions,
}

/// The cases of `run` that `room` cannot hold; Err with the first one's reason when it can
/// hold none of the cases that would run.
pub fn check_room(run: &RunShape, room: &MachineRoom) -> Result<Vec<RoomRefusal>, NoRoom> {
    let mut refusals = Vec::new();
    let mut running = 0;
    for size in run.sizes {
        for &kind in run.transports {
            if !runs(run, kind, size.bytes) {
                continue;
            }
            running += 1;
            let case = CaseShape {
                message_bytes: size.bytes,
                buffer_size: run.buffer_size,
                options: (run.transport_options)(kind),
            };
            let mut per_pair = kind.footprint(&case);
            if run.external_server {
                per_pair.shared_bytes = 0;
                per_pair.message_queue_bytes = 0;
            }
            let described = || describe(run, kind, size.bytes);
            if let Err(reason) = check_case(per_pair, run.pairs, room, described) {
                let (size_bytes, transport) = (size.bytes, kind);
                refusals.push(RoomRefusal {
                    size_bytes,
                    transport,
                    reason,
                });
            }
        }
    }
    match refusals.first() {
        Some(first) if refusals.len() == running => Err(first.reason.clone()),
        _ => Ok(refusals),
    }
}

/// Whether the scheduler would run `kind` at `size_bytes` (it skips what the transport
/// cannot carry).
fn runs(run: &RunShape, kind: TransportKind, size_bytes: usize) -> bool {
    let within_limit = kind
        .max_message(run.buffer_size)
        .is_none_or(|limit| size_bytes <= limit.bytes);
    let workload = run.workload;
    workload.size_refusal(size_bytes).is_none() && kind.supports(workload).is_ok() && within_limit
}

/// Holds `pairs` pairs of `per_pair` against `room`; the refusal names the case `described`.
fn check_case(
    per_pair: Footprint,
    pairs: usize,
    room: &MachineRoom,
    described: impl Fn() -> String,
) -> Result<(), NoRoom> {
    let needed = per_pair * pairs;
    if let Some(free) = room.shm_free.filter(|&free| needed.shared_bytes > free) {
        return Err(NoRoom::SharedMemory {
            case: described(),
            needed: needed.shared_bytes,
            per_pair: per_pair.shared_bytes,
            free,
        });
    }
    if let Some(memory) =
        (room.memory.as_ref()).filter(|memory| needed.memory_bytes() > memory.bytes)
    {
        return Err(NoRoom::Memory {
            case: described(),
            needed: needed.memory_bytes(),
            per_pair: per_pair.memory_bytes(),
            room: memory.clone(),
        });
    }
    let limit = room.message_queue_limit;
    if let Some(limit) = limit.filter(|&limit| needed.message_queue_bytes > limit) {
        return Err(NoRoom::MessageQueues {
            case: described(),
            needed: needed.message_queue_bytes,
            per_pair: per_pair.message_queue_bytes,
            limit,
        });
    }
    Ok(())
}

/// The case as the command line asked for it: `shm-posix at 512 MiB with --pairs 64`.
fn describe(run: &RunShape, kind: TransportKind, size_bytes: usize) -> String {
    let mut flags = Vec::new();
    if run.pairs > 1 {
        flags.push(format!("--pairs {}", run.pairs));
    }
    if run.workload.in_flight() > 1 {
        flags.push(format!("--in-flight {}", run.workload.in_flight()));
    }
    if run.workload.pattern() != Pattern::RoundTrip {
        flags.push(format!("--pattern {}", run.workload.pattern()));
    }
    if let Some(depth) = run.ring_depth {
        flags.push(format!("--ring-depth {depth}"));
    }
    let case = format!("{} at {}", kind.name(), format_bytes(size_bytes));
    match flags.is_empty() {
        true => case,
        false => format!("{case} with {}", flags.join(" ")),
    }
}

/// What one pair of several takes, for people: `1.0 GiB a pair`; None for one pair.
fn a_pair(needed: u64, per_pair: u64) -> Option<String> {
    (needed != per_pair).then(|| format!("{} a pair", format_bytes_rounded(per_pair)))
}

/// ` (text)`, or nothing.
fn in_parentheses(text: Option<String>) -> String {
    text.map(|text| format!(" ({text})")).unwrap_or_default()
}

/// What bounds the memory, for people.
fn room_text(room: &MemoryRoom) -> String {
    let free = format_bytes_rounded(room.bytes);
    match &room.bound {
        MemoryBound::MemAvailable => {
            format!("the machine has {free} available (MemAvailable in /proc/meminfo)")
        }
        MemoryBound::Cgroup {
            dir, limit_bytes, ..
        } => format!(
            "this process's memory cgroup ({}) has {free} left of its {} limit",
            dir.display(),
            format_bytes_rounded(*limit_bytes)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn room(shm_free: u64, memory: u64, message_queue_limit: u64) -> MachineRoom {
        MachineRoom {
            shm_free: Some(shm_free),
            memory: Some(MemoryRoom {
                bytes: memory,
                bound: MemoryBound::MemAvailable,
            }),
            message_queue_limit: Some(message_queue_limit),
        }
    }

    fn pair(shared_bytes: u64, private_bytes: u64, message_queue_bytes: u64) -> Footprint {
        Footprint {
            shared_bytes,
            private_bytes,
            message_queue_bytes,
        }
    }

    fn refusal(per_pair: Footprint, pairs: usize, room: &MachineRoom) -> Option<String> {
        let described = || "a case".to_string();
        check_case(per_pair, pairs, room, described)
            .err()
            .map(|no_room| no_room.to_string())
    }

    #[test]
    fn pairs_are_held_against_dev_shm_then_memory_then_the_queue_limit() {
        let machine = room(12 * GIB, 20 * GIB, 819_200);
        assert_eq!(refusal(pair(GIB, GIB, 8192), 4, &machine), None);
        assert_eq!(
            refusal(pair(GIB, 0, 0), 64, &machine).unwrap(),
            "a case needs 64.0 GiB of /dev/shm (1.0 GiB a pair); /dev/shm has 12.0 GiB free"
        );
        assert_eq!(
            refusal(pair(GIB, 2 * GIB, 0), 8, &machine).unwrap(),
            "a case needs 24.0 GiB of memory (both processes' buffers and shared memory, 3.0 GiB a pair); the machine has 20.0 GiB available (MemAvailable in /proc/meminfo)"
        );
        assert_eq!(
            refusal(pair(0, 0, 16_576), 64, &machine).unwrap(),
            "a case needs at least 1.0 MiB of POSIX message queues (16.2 KiB a pair); the per-user limit RLIMIT_MSGQUEUE (ulimit -q) is 800.0 KiB"
        );
    }

    #[test]
    fn one_pair_is_not_said_per_pair_and_a_cgroup_is_named_with_its_limit() {
        let cgroup = MachineRoom {
            memory: Some(MemoryRoom {
                bytes: GIB,
                bound: MemoryBound::Cgroup {
                    dir: "/sys/fs/cgroup/tb".into(),
                    limit_bytes: 3 * GIB,
                    used_bytes: 2 * GIB,
                },
            }),
            ..room(u64::MAX, u64::MAX, u64::MAX)
        };
        assert_eq!(
            refusal(pair(0, 2 * GIB, 0), 1, &cgroup).unwrap(),
            "a case needs 2.0 GiB of memory (both processes' buffers and shared memory); this process's memory cgroup (/sys/fs/cgroup/tb) has 1.0 GiB left of its 3.0 GiB limit"
        );
    }

    #[test]
    fn a_machine_that_says_nothing_refuses_nothing() {
        let silent = MachineRoom {
            shm_free: None,
            memory: None,
            message_queue_limit: None,
        };
        assert_eq!(
            refusal(pair(u64::MAX, u64::MAX, u64::MAX), 64, &silent),
            None
        );
    }
}
