//! `--runs auto`: repeating a case until its mean is known well enough, as netperf's
//! `-I 99,5 -i 30,3` does. After each of its runs, a case whose run means give a 95%
//! confidence interval of their mean (Student's t, n − 1 degrees of freedom) no wider than
//! ±`target_pct` of that mean, with at least `min_runs` runs, is done; one that never gets
//! there stops at `max_runs`. The scheduler keeps interleaving: each round runs every case
//! that is not done yet once.

use crate::report::result::Confidence;
use crate::report::student_t::mean_and_half_width;
use crate::values::ConfidenceTarget;

/// The confidence of the interval.
pub const CONFIDENCE: f64 = 0.95;

/// The half width of the 95% confidence interval of the mean of `run_means`, in percent of
/// that mean; None with fewer than two, or when the mean is no positive time.
pub fn half_width_pct(run_means: &[f64]) -> Option<f64> {
    let (mean, half_width) = mean_and_half_width(run_means, CONFIDENCE)?;
    if mean <= 0.0 {
        return None;
    }
    let half_width_pct = 100.0 * half_width / mean;
    half_width_pct.is_finite().then_some(half_width_pct)
}

impl ConfidenceTarget {
    /// Whether a case with these run means needs no more runs for the target: at least
    /// `min_runs` of them, and an interval within it. (`max_runs` is the scheduler's to count.)
    pub fn reached(&self, run_means: &[f64]) -> bool {
        run_means.len() >= self.min_runs as usize
            && half_width_pct(run_means).is_some_and(|pct| pct <= self.target_pct)
    }

    /// What the report says of a case with these run means.
    pub fn of(&self, run_means: &[f64]) -> Confidence {
        Confidence {
            target_pct: self.target_pct,
            half_width_pct: half_width_pct(run_means),
            runs: run_means.len() as u32,
            reached: self.reached(run_means),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_half_width_is_t_times_the_standard_error_in_percent_of_the_mean() {
        // Mean 10, sample stddev 1, n 3: t(0.975, 2) = 4.303, so ±4.303 / sqrt(3) = ±2.484
        // µs, 24.84% of the mean.
        let pct = half_width_pct(&[9.0, 10.0, 11.0]).unwrap();
        assert!((pct - 24.843).abs() < 0.01, "{pct}");
        assert_eq!(half_width_pct(&[5.0]), None);
        assert_eq!(half_width_pct(&[0.0, 0.0]), None);
        assert_eq!(half_width_pct(&[4.0, 4.0, 4.0]), Some(0.0));
    }

    #[test]
    fn a_target_is_reached_with_enough_runs_close_enough() {
        let target = ConfidenceTarget {
            target_pct: 5.0,
            min_runs: 3,
            max_runs: 30,
        };
        assert!(!target.reached(&[10.0, 10.0]), "fewer than min_runs");
        assert!(target.reached(&[10.0, 10.0, 10.1]));
        assert!(!target.reached(&[9.0, 10.0, 11.0]));
        let said = target.of(&[9.0, 10.0, 11.0]);
        assert_eq!((said.runs, said.reached, said.target_pct), (3, false, 5.0));
        assert!(said.half_width_pct.unwrap() > 5.0);
    }
}
