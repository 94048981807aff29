//! Latencies as they are recorded: an HdrHistogram for percentiles (3 significant digits,
//! nanoseconds), plus exact count, mean, variance, min and max kept alongside it (the
//! histogram's own are bucket-rounded), and the form in which they cross between processes.
//!
//! It sits in the report layer, below both sides that record: the benchmark's timed loops and
//! the server of a one-way run (`peer/server.rs`), which records each message's one-way latency
//! and hands its recorder to the driver.

use hdrhistogram::Histogram;

use crate::report::result::LatencyStats;

/// Percentiles exported as the `histogram` curve of a result.
pub const CURVE_PERCENTILES: [f64; 14] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
];

/// Collects round-trip latencies. It crosses from a client process to the driver as
/// [`RecorderWire`]: the whole histogram and the exact statistics beside it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(into = "RecorderWire", try_from = "RecorderWire")]
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
    count: u64,
    /// The sum of the latencies and of their squares, exact: integer additions are all a
    /// recording costs (Welford's running mean divides per sample, in the loop whose cost
    /// docs/own-cost.md holds down), and the mean and variance come from them exactly when
    /// asked. A u128 holds the squares of 10^13 one-hour latencies.
    sum_ns: u128,
    sum_squares: u128,
    min_ns: u64,
    max_ns: u64,
}

impl LatencyRecorder {
    pub fn new() -> LatencyRecorder {
        // 1 ns to 1 hour; auto-resize covers anything longer rather than failing a run.
        let mut histogram = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
            .expect("constant histogram bounds are valid");
        histogram.auto(true);
        LatencyRecorder {
            histogram,
            count: 0,
            sum_ns: 0,
            sum_squares: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, latency_ns: u64) {
        // With auto-resize on, recording cannot fail for any u64.
        let _ = self.histogram.record(latency_ns.max(1));
        self.count += 1;
        let ns = u128::from(latency_ns);
        self.sum_ns += ns;
        // Unchecked, to stay two additions: `variance` tells when the sum may have wrapped.
        self.sum_squares = self.sum_squares.wrapping_add(ns * ns);
        self.min_ns = self.min_ns.min(latency_ns);
        self.max_ns = self.max_ns.max(latency_ns);
    }

    /// Adds another recorder's samples.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        if other.count == 0 {
            return;
        }
        let _ = self.histogram.add(&other.histogram);
        self.count += other.count;
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.sum_squares = self.sum_squares.saturating_add(other.sum_squares);
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The histogram itself (ns), bucket-rounded.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }

    /// The latency at `percentile` (0 to 100), kept within the exact min and max.
    pub fn percentile_ns(&self, percentile: f64) -> u64 {
        let value = self.histogram.value_at_percentile(percentile);
        value.clamp(self.min_ns, self.max_ns)
    }

    /// The summary, or None if nothing was recorded.
    pub fn stats(&self) -> Option<LatencyStats> {
        if self.count == 0 {
            return None;
        }
        Some(LatencyStats {
            count: self.count,
            mean_ns: self.sum_ns as f64 / self.count as f64,
            stddev_ns: self.variance().sqrt(),
            min_ns: self.min_ns,
            p50_ns: self.percentile_ns(50.0),
            p90_ns: self.percentile_ns(90.0),
            p99_ns: self.percentile_ns(99.0),
            p999_ns: self.percentile_ns(99.9),
            max_ns: self.max_ns,
        })
    }

    /// The sample variance, from the exact sums: n·Σx² − (Σx)² is the sum of squared
    /// deviations times n, computed in integers so that nothing cancels (a 10 ns spread on a
    /// 1 s mean survives), and in floating point only should it overflow. Where the sum of
    /// squares may itself have wrapped (n·max² past a u128: five million latencies of 100
    /// days, the uptime a one-way latency from a stamp of 0 would read), the histogram's
    /// spread, to its three significant digits, not a wrapped sum's.
    fn variance(&self) -> f64 {
        let n = u128::from(self.count);
        if n < 2 {
            return 0.0;
        }
        let max = u128::from(self.max_ns);
        if (max * max).checked_mul(n).is_none() {
            let spread = self.histogram.stdev();
            return spread * spread * n as f64 / (n - 1) as f64;
        }
        let scaled = n
            .checked_mul(self.sum_squares)
            .zip(self.sum_ns.checked_mul(self.sum_ns))
            .map(|(a, b)| a.saturating_sub(b) as f64);
        let scaled = scaled.unwrap_or_else(|| {
            let mean = self.sum_ns as f64 / n as f64;
            (self.sum_squares as f64 - mean * self.sum_ns as f64).max(0.0) * n as f64
        });
        scaled / (n as f64 * (n - 1) as f64)
    }

    /// The whole histogram (ns) in HdrHistogram's compressed V2 encoding, base64; None if
    /// nothing was recorded.
    pub fn hdr_v2(&self) -> Option<String> {
        (self.count > 0).then(|| crate::report::hdr::encode_v2(&self.histogram))
    }

    /// `(percentile, latency in ns)` at each of [`CURVE_PERCENTILES`].
    pub fn curve(&self) -> Vec<(f64, u64)> {
        if self.count == 0 {
            return Vec::new();
        }
        CURVE_PERCENTILES
            .iter()
            .map(|&p| (p, self.percentile_ns(p)))
            .collect()
    }
}

/// A [`LatencyRecorder`] as it travels between processes: the histogram in HdrHistogram's
/// compressed V2 encoding (lossless), and the exact figures kept beside it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RecorderWire {
    histogram_v2: String,
    count: u64,
    sum_ns: u128,
    sum_squares: u128,
    min_ns: u64,
    max_ns: u64,
}

impl From<LatencyRecorder> for RecorderWire {
    fn from(recorder: LatencyRecorder) -> RecorderWire {
        RecorderWire {
            histogram_v2: crate::report::hdr::encode_v2(&recorder.histogram),
            count: recorder.count,
            sum_ns: recorder.sum_ns,
            sum_squares: recorder.sum_squares,
            min_ns: recorder.min_ns,
            max_ns: recorder.max_ns,
        }
    }
}

impl TryFrom<RecorderWire> for LatencyRecorder {
    type Error = crate::report::hdr::HdrDecodeError;

    fn try_from(wire: RecorderWire) -> Result<LatencyRecorder, Self::Error> {
        let mut histogram = crate::report::hdr::decode_v2(&wire.histogram_v2)?;
        histogram.auto(true);
        Ok(LatencyRecorder {
            histogram,
            count: wire.count,
            sum_ns: wire.sum_ns,
            sum_squares: wire.sum_squares,
            min_ns: wire.min_ns,
            max_ns: wire.max_ns,
        })
    }
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}
