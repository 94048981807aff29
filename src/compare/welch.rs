//! Welch's t-test on two small samples (the run means of a case in two reports), against the
//! Student t quantile of [`crate::report::student_t`].

use crate::report::student_t::student_t_quantile;

/// The confidence of the test: a change stands out when it would happen by chance in fewer
/// than 5% of comparisons of two equal transports (two-sided).
pub const CONFIDENCE: f64 = 0.95;

/// The fewest run means per side that the test is run with: with two, each side's variance
/// rests on one degree of freedom, and the critical value (12.7 at df 1) says nothing useful.
pub const MIN_RUNS: usize = 3;

/// The outcome of one test of `new` against `base`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WelchTest {
    /// (mean of new − mean of base) / its standard error: positive when new is larger.
    pub t: f64,
    /// The Welch–Satterthwaite degrees of freedom.
    pub degrees_of_freedom: f64,
    /// |t| beyond which the difference stands out at [`CONFIDENCE`].
    pub critical_t: f64,
}

impl WelchTest {
    /// Whether the difference of the means stands out from the spread of the samples.
    pub fn stands_out(&self) -> bool {
        self.t.abs() > self.critical_t
    }
}

/// Why two samples cannot be tested.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum NotTestable {
    #[error("runs: {base} in BASE, {new} in NEW; the test needs at least {MIN_RUNS} on each side")]
    TooFewRuns { base: usize, new: usize },
    #[error("the run means of both sides are all equal: there is no spread to test against")]
    NoSpread,
    #[error("a run mean is {0} µs: a latency is a positive time")]
    NotATime(f64),
}

/// Welch's t-test of the means of `base` and `new` (each at least [`MIN_RUNS`] values).
pub fn welch_t_test(base: &[f64], new: &[f64]) -> Result<WelchTest, NotTestable> {
    if base.len() < MIN_RUNS || new.len() < MIN_RUNS {
        return Err(NotTestable::TooFewRuns {
            base: base.len(),
            new: new.len(),
        });
    }
    if let Some(&bad) = base
        .iter()
        .chain(new)
        .find(|x| !(x.is_finite() && **x > 0.0))
    {
        return Err(NotTestable::NotATime(bad));
    }
    let (base_mean, base_var_of_mean) = mean_and_variance_of_mean(base);
    let (new_mean, new_var_of_mean) = mean_and_variance_of_mean(new);
    let variance_of_difference = base_var_of_mean + new_var_of_mean;
    if variance_of_difference <= 0.0 {
        return Err(NotTestable::NoSpread);
    }
    let t = (new_mean - base_mean) / variance_of_difference.sqrt();
    let degrees_of_freedom = variance_of_difference.powi(2)
        / (base_var_of_mean.powi(2) / (base.len() - 1) as f64
            + new_var_of_mean.powi(2) / (new.len() - 1) as f64);
    // A spread so small beside the means that its square underflows leaves no test.
    if !(t.is_finite() && degrees_of_freedom.is_finite() && degrees_of_freedom > 0.0) {
        return Err(NotTestable::NoSpread);
    }
    let critical_t = student_t_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0, degrees_of_freedom);
    Ok(WelchTest {
        t,
        degrees_of_freedom,
        critical_t,
    })
}

/// The sample mean, and the squared standard error of it (sample variance / n).
fn mean_and_variance_of_mean(sample: &[f64]) -> (f64, f64) {
    let n = sample.len() as f64;
    let mean = sample.iter().sum::<f64>() / n;
    let variance = sample.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= tolerance
    }

    #[test]
    fn welch_matches_a_hand_computed_example() {
        // base: mean 10, variance 1 (n 3); new: mean 13, variance 4 (n 3).
        // se² = 1/3 + 4/3 = 5/3; t = 3 / sqrt(5/3) = 2.32379;
        // df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = (25/9) / (17/18) = 50/17 = 2.94118.
        let test = welch_t_test(&[9.0, 10.0, 11.0], &[11.0, 13.0, 15.0]).unwrap();
        assert!(close(test.t, 2.323_79, 1e-5), "{test:?}");
        assert!(
            close(test.degrees_of_freedom, 50.0 / 17.0, 1e-12),
            "{test:?}"
        );
        // Between t(0.975, 2) = 4.303 and t(0.975, 3) = 3.182: 2.32 does not stand out.
        assert!(test.critical_t > 3.182 && test.critical_t < 4.303);
        assert!(!test.stands_out());
        let reversed = welch_t_test(&[11.0, 13.0, 15.0], &[9.0, 10.0, 11.0]).unwrap();
        assert!(close(reversed.t, -test.t, 1e-12));
    }

    #[test]
    fn welch_matches_the_wikipedia_example() {
        // Wikipedia, "Welch's t-test", example 1: t = -2.46, df = 25.0, p = 0.021.
        let a1 = [
            27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7,
            21.4,
        ];
        let a2 = [
            27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5,
            24.4,
        ];
        let test = welch_t_test(&a2, &a1).unwrap();
        assert!(close(test.t, -2.46, 0.005), "{test:?}");
        assert!(close(test.degrees_of_freedom, 25.0, 0.05), "{test:?}");
        assert!(test.stands_out());
    }

    /// Run means that are no time (0, negative, NaN) are refused, not tested into a verdict;
    /// a spread that underflows is none.
    #[test]
    fn run_means_that_are_no_time_or_no_spread_are_not_tested() {
        let refused = welch_t_test(&[0.0, 0.0, 1e-160], &[1.0, 2.0, 3.0]);
        assert_eq!(refused, Err(NotTestable::NotATime(0.0)));
        let nan = welch_t_test(&[1.0, f64::NAN, 2.0], &[1.0, 2.0, 3.0]);
        assert!(matches!(nan, Err(NotTestable::NotATime(_))), "{nan:?}");
        let tiny = welch_t_test(&[1e-300, 1e-300, 2e-300], &[1e-300, 2e-300, 1e-300]);
        assert_eq!(tiny, Err(NotTestable::NoSpread));
    }

    #[test]
    fn a_clear_shift_stands_out_and_untestable_samples_say_why() {
        let shifted = welch_t_test(&[10.0, 10.5, 9.5], &[20.0, 21.0, 19.0]).unwrap();
        assert!(shifted.stands_out() && shifted.t > 0.0);
        assert_eq!(
            welch_t_test(&[1.0, 2.0], &[1.0, 2.0, 3.0]),
            Err(NotTestable::TooFewRuns { base: 2, new: 3 })
        );
        assert_eq!(
            welch_t_test(&[5.0; 3], &[5.0; 4]),
            Err(NotTestable::NoSpread)
        );
    }
}
