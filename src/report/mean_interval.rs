//! The 95% confidence interval of a case's mean from its run means (Student's t, n − 1
//! degrees of freedom): what `--runs auto` stops on, and what the summary table, the
//! Markdown and the HTML show beside the mean whenever a case has two runs or more. Here, in
//! the report layer, so that the benchmark and every renderer compute it one way.

use crate::report::student_t::mean_and_half_width;

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
}
