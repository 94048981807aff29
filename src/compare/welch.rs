//! Welch's t-test on two small samples (the run means of a case in two reports), and the
//! Student t quantile it compares against, so that no statistics crate is needed for one
//! quantile.
//!
//! The quantile inverts the Student t distribution function, itself computed from the
//! regularized incomplete beta function (Numerical Recipes' continued fraction, evaluated by
//! the modified Lentz method) and a Lanczos log-gamma. Welch's degrees of freedom are
//! fractional, so a table of integer degrees of freedom would have to be interpolated; the
//! inversion is exact to 1e-9 instead.

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

/// The `probability` quantile of Student's t with `degrees_of_freedom` (> 0, may be
/// fractional), for `probability` in (0, 1): bisection on the distribution function, which is
/// monotonic, so it always converges.
pub fn student_t_quantile(probability: f64, degrees_of_freedom: f64) -> f64 {
    if probability < 0.5 {
        return -student_t_quantile(1.0 - probability, degrees_of_freedom);
    }
    let (mut low, mut high) = (0.0_f64, 1.0_f64);
    while student_t_cdf(high, degrees_of_freedom) < probability && high < 1e12 {
        high *= 2.0;
    }
    while high - low > 1e-12 * high.max(1.0) {
        let middle = (low + high) / 2.0;
        if student_t_cdf(middle, degrees_of_freedom) < probability {
            low = middle;
        } else {
            high = middle;
        }
    }
    (low + high) / 2.0
}

/// P(T ≤ t) for Student's t with `degrees_of_freedom`: the two tails together are
/// I_{ν/(ν+t²)}(ν/2, 1/2).
pub fn student_t_cdf(t: f64, degrees_of_freedom: f64) -> f64 {
    let nu = degrees_of_freedom;
    let both_tails = regularized_incomplete_beta(nu / (nu + t * t), nu / 2.0, 0.5);
    if t >= 0.0 {
        1.0 - both_tails / 2.0
    } else {
        both_tails / 2.0
    }
}

/// I_x(a, b), by the continued fraction where it converges fast, and the symmetry
/// I_x(a, b) = 1 − I_{1−x}(b, a) elsewhere.
fn regularized_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let log_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        log_front.exp() * beta_continued_fraction(x, a, b) / a
    } else {
        1.0 - log_front.exp() * beta_continued_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of I_x(a, b) (Numerical Recipes `betacf`), by modified Lentz.
fn beta_continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let clamp = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / clamp(1.0 - (a + b) * x / (a + 1.0));
    let mut fraction = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / clamp(1.0 + even * d);
        c = clamp(1.0 + even / c);
        fraction *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / clamp(1.0 + odd * d);
        c = clamp(1.0 + odd / c);
        let step = d * c;
        fraction *= step;
        if (step - 1.0).abs() < 1e-15 {
            break;
        }
    }
    fraction
}

/// ln Γ(x) for x > 0: the Lanczos approximation (g = 7, 9 coefficients), good to ~1e-15.
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, coefficient) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += coefficient / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= tolerance
    }

    #[test]
    fn the_t_quantile_matches_the_textbook_table() {
        // Two-sided 95% critical values, t(0.975, df), from any table of Student's t.
        for (df, expected) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (3.0, 3.182),
            (4.0, 2.776),
            (5.0, 2.571),
            (10.0, 2.228),
            (30.0, 2.042),
            (1e6, 1.960),
        ] {
            let quantile = student_t_quantile(0.975, df);
            assert!(close(quantile, expected, 5e-4), "df {df}: {quantile}");
        }
        // One-sided 99% and 90%, and the lower tail by symmetry.
        assert!(close(student_t_quantile(0.99, 10.0), 2.764, 5e-4));
        assert!(close(student_t_quantile(0.90, 3.0), 1.638, 5e-4));
        assert!(close(student_t_quantile(0.025, 4.0), -2.776, 5e-4));
        assert!(close(student_t_quantile(0.5, 7.0), 0.0, 1e-9));
    }

    #[test]
    fn the_t_distribution_has_its_closed_forms() {
        // df 1 is Cauchy: F(t) = 1/2 + atan(t)/π; df 2: F(t) = 1/2 + t / (2 sqrt(2 + t²)).
        for t in [-3.0, -0.5, 0.0, 0.7, 2.0, 40.0] {
            let cauchy = 0.5 + f64::atan(t) / std::f64::consts::PI;
            assert!(close(student_t_cdf(t, 1.0), cauchy, 1e-12), "df 1, t {t}");
            let two = 0.5 + t / (2.0 * (2.0 + t * t).sqrt());
            assert!(close(student_t_cdf(t, 2.0), two, 1e-12), "df 2, t {t}");
        }
        // Between the integers the quantile falls between theirs.
        let fractional = student_t_quantile(0.975, 2.5);
        assert!(fractional < 4.303 && fractional > 3.182, "{fractional}");
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
