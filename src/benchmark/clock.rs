//! The cost of timing itself: every recorded latency is bracketed by two clock reads.

use std::time::Instant;

/// Mean gap in nanoseconds between two back-to-back `Instant::now()` calls: what the pair of
/// clock reads around each round trip adds to its recorded latency, and so the resolution floor
/// of every figure.
pub fn clock_overhead_ns() -> f64 {
    const PAIRS: u32 = 100_000;
    let mut total_ns: u128 = 0;
    for _ in 0..PAIRS {
        let start = Instant::now();
        let end = Instant::now();
        total_ns += (end - start).as_nanos();
    }
    total_ns as f64 / f64::from(PAIRS)
}
