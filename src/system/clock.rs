//! The clock one-way latency is measured on: `CLOCK_MONOTONIC`, read as nanoseconds, which
//! both processes of a pair read (the client when it stamps a message, the server when the
//! message is whole), and whether another process reads the same one.
//!
//! On one host every process reads the same `CLOCK_MONOTONIC` (PID, network and mount
//! namespaces do not touch it), unless it runs in another time namespace (Linux 5.6 and later),
//! which offsets it: [`same_clock_as`] compares the two processes' time namespaces.

use nix::time::{clock_gettime, ClockId};

/// Now on `CLOCK_MONOTONIC`, in nanoseconds (a vDSO read, no system call). The clock cannot
/// fail for a valid clock id; should it, 0 makes every latency the server computes from it
/// impossible, which the server reports rather than records.
#[inline]
pub fn monotonic_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |now| {
        (now.tv_sec() as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(now.tv_nsec() as u64)
    })
}

/// Why the clocks of two processes could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum ClockCheckError {
    #[error("reading {path}: {source}")]
    Namespace {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Whether process `pid` reads this process's `CLOCK_MONOTONIC`: true when both are in one
/// time namespace, or when the kernel has none (no `/proc/self/ns/time`: nothing can offset
/// the clock).
pub fn same_clock_as(pid: u32) -> Result<bool, ClockCheckError> {
    let ours = "/proc/self/ns/time";
    let own = match std::fs::read_link(ours) {
        Ok(link) => link,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(source) => {
            return Err(ClockCheckError::Namespace {
                path: ours.into(),
                source,
            })
        }
    };
    let theirs = format!("/proc/{pid}/ns/time");
    let other = std::fs::read_link(&theirs).map_err(|source| ClockCheckError::Namespace {
        path: theirs,
        source,
    })?;
    Ok(own == other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward_and_this_process_shares_its_own() {
        let (first, second) = (monotonic_ns(), monotonic_ns());
        assert!(first > 0 && second >= first, "{first} then {second}");
        assert!(same_clock_as(std::process::id()).unwrap());
    }
}
