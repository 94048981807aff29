//! `--runs auto`: repeating a case until its mean is known well enough, as netperf's
//! `-I 99,5 -i 30,3` does. After each of its runs, a case whose run means give a 95%
//! confidence interval of their mean ([`half_width_pct`], in the report layer) no wider than
//! ±`target_pct` of that mean, with at least `min_runs` runs, is done; one that never gets
//! there stops at `max_runs`. The scheduler keeps interleaving: each round runs every case
//! that is not done yet once.

pub use crate::report::mean_interval::half_width_pct;
use crate::report::result::Confidence;
use crate::values::ConfidenceTarget;

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
