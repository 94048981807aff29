//! The Student t distribution and its quantile, so that no statistics crate is needed for one
//! quantile: `compare`'s Welch test reads its critical value here, and `--runs auto` the width
//! of a confidence interval of a case's run means. Both read the report layer, so it lives here.
//!
//! The quantile inverts the Student t distribution function, itself computed from the
//! regularized incomplete beta function (Numerical Recipes' continued fraction, evaluated by
//! the modified Lentz method) and a Lanczos log-gamma. Welch's degrees of freedom are
//! fractional, so a table of integer degrees of freedom would have to be interpolated; the
//! inversion is exact to 1e-9 instead.

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

/// The mean of `samples` and the half width of its two-sided `confidence` interval (Student's
/// t with n − 1 degrees of freedom, the samples taken as independent); None with fewer than two
/// samples, or when either is not finite.
pub fn mean_and_half_width(samples: &[f64], confidence: f64) -> Option<(f64, f64)> {
    if samples.len() < 2 {
        return None;
    }
    let count = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / count;
    let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (count - 1.0);
    let t = student_t_quantile(1.0 - (1.0 - confidence) / 2.0, count - 1.0);
    let half_width = t * (variance / count).sqrt();
    (mean.is_finite() && half_width.is_finite()).then_some((mean, half_width))
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
            (100.0, 1.984),
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

    /// More of the published table (NIST/SEMATECH e-Handbook of Statistical Methods, 1.3.6.7.2,
    /// "Critical values of the Student's t distribution", three decimals): upper tails 0.05 and
    /// 0.01, so that this code is held to the table, not to itself.
    #[test]
    fn the_t_quantile_matches_the_one_sided_table() {
        for (probability, df, expected) in [
            (0.95, 5.0, 2.015),
            (0.95, 100.0, 1.660),
            (0.99, 30.0, 2.457),
            (0.99, 100.0, 2.364),
        ] {
            let quantile = student_t_quantile(probability, df);
            assert!(
                close(quantile, expected, 5e-4),
                "{probability} df {df}: {quantile}"
            );
        }
    }

    #[test]
    fn a_mean_and_its_interval_from_three_samples() {
        // mean 10, sample variance 1, n 3: half width t(0.975, 2) * sqrt(1/3) = 4.303 * 0.57735.
        let (mean, half_width) = mean_and_half_width(&[9.0, 10.0, 11.0], 0.95).unwrap();
        assert!(close(mean, 10.0, 1e-12));
        assert!(close(half_width, 2.484, 1e-3), "{half_width}");
        assert_eq!(mean_and_half_width(&[5.0], 0.95), None);
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
}
