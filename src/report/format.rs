//! Number and unit formatting for people, shared by the terminal output and the exports' tables.

use std::time::Duration;

// The transports' errors write byte counts too, and the transports are the ground floor: the
// one grouping of digits lives below both, and the report's formatting hands it on.
pub use crate::numbers::thousands;

/// `4.03 s` under a minute, `2m 7.89s` above, as the seed benchmark printed durations;
/// `3.9 ms` under a second, where two decimals of a second would hide it, and `38.0 µs` under a
/// millisecond, where a tenth of one would show a run of 40 µs as `0.0 ms`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1e-3 {
        format!("{:.1} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1000.0)
    } else if secs < 60.0 {
        format!("{secs:.2} s")
    } else {
        let minutes = (secs / 60.0).floor();
        format!("{minutes:.0}m {:.2}s", secs - minutes * 60.0)
    }
}

/// A measured figure (µs, MB/s) with precision that suits its magnitude: `3.46`, `275.6`,
/// `12,345`.
pub fn figure(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else if value < 1000.0 {
        format!("{value:.1}")
    } else {
        thousands(value.round() as u64)
    }
}

/// The seed's relative column: `241.7% slower`, `12.0% faster`, from mean latencies.
pub fn relative(mean_us: f64, baseline_us: f64) -> String {
    if baseline_us <= 0.0 {
        return "n/a".into();
    }
    let diff = (mean_us - baseline_us) / baseline_us * 100.0;
    if diff >= 0.0 {
        format!("{diff:.1}% slower")
    } else {
        format!("{:.1}% faster", -diff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration(Duration::from_millis(4030)), "4.03 s");
        assert_eq!(duration(Duration::from_micros(3850)), "3.9 ms");
        assert_eq!(duration(Duration::from_nanos(38_040)), "38.0 µs");
        assert_eq!(duration(Duration::from_micros(999)), "999.0 µs");
        assert_eq!(duration(Duration::from_micros(1000)), "1.0 ms");
        assert_eq!(duration(Duration::from_millis(127_890)), "2m 7.89s");
        assert_eq!(figure(3.456), "3.46");
        assert_eq!(figure(275.65), "275.6");
        assert_eq!(figure(12_345.4), "12,345");
        assert_eq!(relative(275.65, 80.68), "241.7% slower");
        assert_eq!(relative(50.0, 100.0), "50.0% faster");
        assert_eq!(relative(100.0, 100.0), "0.0% slower");
    }
}
