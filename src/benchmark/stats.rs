//! Latency statistics over what the recorders ([`LatencyRecorder`], in the report layer)
//! hold: how repeated runs spread, and whether a distribution has two modes.

pub use crate::report::latency::{LatencyRecorder, RecorderWire, CURVE_PERCENTILES};

/// How the means of repeated runs of one case spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunSpread {
    pub median_ns: f64,
    pub min_ns: f64,
    pub max_ns: f64,
}

/// Runs whose means differ by more than this fraction of their median are flagged as noisy.
pub const NOISY_SPREAD: f64 = 0.10;

impl RunSpread {
    pub fn of(run_means_ns: &[f64]) -> Option<RunSpread> {
        let mut sorted: Vec<f64> = run_means_ns.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median_ns = match n {
            0 => return None,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Some(RunSpread {
            median_ns,
            min_ns: sorted[0],
            max_ns: sorted[n - 1],
        })
    }

    /// (max - min) / median.
    pub fn relative_spread(&self) -> f64 {
        if self.median_ns > 0.0 {
            (self.max_ns - self.min_ns) / self.median_ns
        } else {
            0.0
        }
    }

    pub fn is_noisy(&self) -> bool {
        self.relative_spread() > NOISY_SPREAD
    }
}

/// Two clear modes in a latency distribution, as [`LatencyRecorder::bimodal`] finds them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bimodal {
    /// Share (0 to 1) of round trips in the faster mode.
    pub fast_share: f64,
    /// The median of each mode.
    pub fast_ns: u64,
    pub slow_ns: u64,
}

/// Width of a density bin, in decades: 0.1 decade is a factor of 1.26.
const BIN_DECADES: f64 = 0.1;
/// The two modes must be at least this many bins apart (0.5 decade: a factor of 3.2).
const MIN_SEPARATION_BINS: usize = 5;
/// The emptiest bin between the two peaks holds at most this share of the lower peak.
const MAX_VALLEY: f64 = 0.2;
/// Each mode holds at least this share of all round trips.
const MIN_MODE_SHARE: f64 = 0.05;

impl LatencyRecorder {
    /// Two modes, if the distribution has them: the round trips binned on a log scale, the
    /// two highest peaks at least a factor of 3.2 apart, an emptiest bin between them under a
    /// fifth of the lower peak, and at least 5% of round trips on each side of it. (The rule
    /// and its constants come from runs on a 2-vCPU VM: same-CPU and cross-CPU round trips
    /// differ by about 8×, tails within one mode by less than 3×.)
    pub fn bimodal(&self) -> Option<Bimodal> {
        let bins = self.log_density();
        let first = peak_in(&bins, 0..bins.len())?;
        let far = |i: usize| i.abs_diff(first) >= MIN_SEPARATION_BINS;
        let second = (0..bins.len())
            .filter(|&i| far(i) && is_local_peak(&bins, i))
            .max_by_key(|&i| bins[i])?;
        let (low, high) = (first.min(second), first.max(second));
        let valley = (low + 1..high).min_by_key(|&i| bins[i])?;
        if bins[valley] as f64 > MAX_VALLEY * bins[low].min(bins[high]) as f64 {
            return None;
        }
        let fast = bins[..=valley].iter().sum::<u64>() as f64 / self.count() as f64;
        if fast < MIN_MODE_SHARE || 1.0 - fast < MIN_MODE_SHARE {
            return None;
        }
        Some(Bimodal {
            fast_share: fast,
            fast_ns: self.percentile_ns(100.0 * fast / 2.0),
            slow_ns: self.percentile_ns(100.0 * (fast + (1.0 - fast) / 2.0)),
        })
    }

    /// Round trips per bin of [`BIN_DECADES`] on a log10 scale of nanoseconds.
    fn log_density(&self) -> Vec<u64> {
        let mut bins: Vec<u64> = Vec::new();
        for value in self.histogram().iter_recorded() {
            let ns = value.value_iterated_to().max(1) as f64;
            let bin = (ns.log10() / BIN_DECADES) as usize;
            if bins.len() <= bin {
                bins.resize(bin + 1, 0);
            }
            bins[bin] += value.count_at_value();
        }
        bins
    }
}

fn is_local_peak(bins: &[u64], i: usize) -> bool {
    let left = i.checked_sub(1).map_or(0, |j| bins[j]);
    let right = bins.get(i + 1).copied().unwrap_or(0);
    bins[i] > 0 && bins[i] >= left && bins[i] >= right
}

fn peak_in(bins: &[u64], range: std::ops::Range<usize>) -> Option<usize> {
    range.filter(|&i| bins[i] > 0).max_by_key(|&i| bins[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder_of(samples: &[u64]) -> LatencyRecorder {
        let mut recorder = LatencyRecorder::new();
        for &s in samples {
            recorder.record(s);
        }
        recorder
    }

    #[test]
    fn mean_stddev_min_max_are_exact() {
        // 2,4,4,4,5,5,7,9: mean 5, sum of squared deviations 32, sample variance 32/7.
        let stats = recorder_of(&[2000, 4000, 4000, 4000, 5000, 5000, 7000, 9000])
            .stats()
            .unwrap();
        assert_eq!(stats.count, 8);
        assert!((stats.mean_ns - 5000.0).abs() < 1e-9);
        assert!((stats.stddev_ns - (32.0f64 / 7.0).sqrt() * 1000.0).abs() < 1e-6);
        assert_eq!(stats.min_ns, 2000);
        assert_eq!(stats.max_ns, 9000);
    }

    #[test]
    fn a_narrow_spread_on_a_long_mean_keeps_its_variance() {
        // 1 s ± 10 ns, a million times: a float sum of squares would cancel to noise.
        let mut recorder = LatencyRecorder::new();
        for i in 0..1_000_000u64 {
            recorder.record(1_000_000_000 + if i % 2 == 0 { 10 } else { 0 } - 5);
        }
        let stats = recorder.stats().unwrap();
        assert_eq!(stats.mean_ns, 1_000_000_000.0);
        assert!((stats.stddev_ns - 5.0).abs() < 1e-3, "{}", stats.stddev_ns);
        // And the recorder survives its trip between processes whole.
        let json = serde_json::to_string(&recorder).unwrap();
        let back: LatencyRecorder = serde_json::from_str(&json).unwrap();
        assert_eq!(back.stats(), Some(stats));
    }

    /// Squares that add up past a u128 (here 2^62 ns and 0, sixteen times each: 2^128) give
    /// the histogram's spread, not the spread of a sum that wrapped to 0 (which read 0).
    #[test]
    fn squares_past_the_exact_sums_range_keep_their_spread() {
        let mut recorder = LatencyRecorder::new();
        for _ in 0..16 {
            recorder.record(1 << 62);
            recorder.record(0);
        }
        let stats = recorder.stats().unwrap();
        // Half at 2^62, half at 0: a sample deviation of 2^61·√(32/31).
        let exact = 2f64.powi(61) * (32.0f64 / 31.0).sqrt();
        assert!(
            (stats.stddev_ns / exact - 1.0).abs() < 0.01,
            "{} instead of {exact}",
            stats.stddev_ns
        );
        assert_eq!(stats.mean_ns, 2f64.powi(61));
    }

    #[test]
    fn percentiles_match_hand_computed_values() {
        // 0.1 µs, 0.2 µs, ... 1000 µs: nearest rank puts the p-th percentile at p * 10 µs.
        // (10,000 samples keep every rank far from a float rounding edge.)
        let samples: Vec<u64> = (1..=10_000).map(|i| i * 100).collect();
        let stats = recorder_of(&samples).stats().unwrap();
        let close = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.001;
        assert!(close(stats.p50_ns, 500_000), "p50 {}", stats.p50_ns);
        assert!(close(stats.p90_ns, 900_000), "p90 {}", stats.p90_ns);
        assert!(close(stats.p99_ns, 990_000), "p99 {}", stats.p99_ns);
        assert!(close(stats.p999_ns, 999_000), "p99.9 {}", stats.p999_ns);
        assert_eq!(stats.min_ns, 100);
        assert_eq!(stats.max_ns, 1_000_000);
        assert!((stats.mean_ns - 500_050.0).abs() < 1e-6);
    }

    #[test]
    fn merging_equals_recording_everything() {
        let mut a = recorder_of(&[1000, 2000, 3000]);
        let b = recorder_of(&[10_000, 20_000]);
        a.merge(&b);
        let all = recorder_of(&[1000, 2000, 3000, 10_000, 20_000])
            .stats()
            .unwrap();
        let merged = a.stats().unwrap();
        assert_eq!(merged.count, all.count);
        assert!((merged.mean_ns - all.mean_ns).abs() < 1e-6);
        assert!((merged.stddev_ns - all.stddev_ns).abs() < 1e-6);
        assert_eq!((merged.min_ns, merged.max_ns), (all.min_ns, all.max_ns));
        assert_eq!(merged.p50_ns, all.p50_ns);
    }

    #[test]
    fn empty_recorder_has_no_stats() {
        assert!(LatencyRecorder::new().stats().is_none());
        assert!(LatencyRecorder::new().curve().is_empty());
    }

    #[test]
    fn two_separate_modes_are_found_and_one_mode_with_a_tail_is_not() {
        // 40% near 5 µs, 60% near 40 µs: what shared and separate CPUs give on a VM.
        let mut samples: Vec<u64> = (0..400).map(|i| 4_800 + i % 50 * 10).collect();
        samples.extend((0..600).map(|i| 39_000 + i % 100 * 20));
        let modes = recorder_of(&samples).bimodal().expect("two modes");
        assert!((modes.fast_share - 0.4).abs() < 0.01, "{modes:?}");
        assert!((4_800..5_400).contains(&modes.fast_ns), "{modes:?}");
        assert!((39_000..41_000).contains(&modes.slow_ns), "{modes:?}");
        // One mode with a long thin tail (1% of samples up to 20×): not bimodal.
        let mut tail: Vec<u64> = (0..990).map(|i| 5_000 + i % 100 * 10).collect();
        tail.extend((0..10).map(|i| 20_000 + i * 8_000));
        assert_eq!(recorder_of(&tail).bimodal(), None);
        // Two modes too close to tell apart (2×): not bimodal.
        let mut close: Vec<u64> = (0..500).map(|_| 5_000).collect();
        close.extend((0..500).map(|_| 10_000));
        assert_eq!(recorder_of(&close).bimodal(), None);
        // A small second mode (3%): not reported.
        let mut small: Vec<u64> = (0..970).map(|_| 5_000).collect();
        small.extend((0..30).map(|_| 40_000));
        assert_eq!(recorder_of(&small).bimodal(), None);
    }

    #[test]
    fn run_spread_flags_noise() {
        let steady = RunSpread::of(&[100.0, 102.0, 101.0]).unwrap();
        assert_eq!(steady.median_ns, 101.0);
        assert!(!steady.is_noisy());
        let noisy = RunSpread::of(&[100.0, 123.0]).unwrap();
        assert_eq!(noisy.median_ns, 111.5);
        assert!(noisy.is_noisy());
        assert!(RunSpread::of(&[]).is_none());
    }
}
