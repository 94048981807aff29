//! The cost of timing itself: every recorded latency is bracketed by two clock reads.

use crate::system::clock::Tick;

/// Mean gap in nanoseconds between two back-to-back [`Tick::now`] calls, the reads the timed
/// loops make around each round trip: what the pair adds to each recorded latency, and so the
/// resolution floor of every figure.
pub fn clock_overhead_ns() -> f64 {
    const PAIRS: u32 = 100_000;
    let mut total_ns: u64 = 0;
    for _ in 0..PAIRS {
        let start = Tick::now();
        let end = Tick::now();
        total_ns += end.ns_since(start);
    }
    total_ns as f64 / f64::from(PAIRS)
}
