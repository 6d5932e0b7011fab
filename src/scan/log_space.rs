//! The recurrence through cumulative products, directly and in log space.
//!
//! Unrolled, $x_t = \sum_{s \le t} \big(\prod_{r=s+1}^{t} a_r\big) b_s
//! = \Pi_t \sum_{s \le t} b_s / \Pi_s$ with $\Pi_t = \prod_{r \le t} a_r$: two
//! cumulative operations (a product and a sum), each a scan. Directly, $\Pi_t$
//! underflows after a few hundred steps of $a \approx 0.1$ and $1/\Pi_s$
//! overflows; in log space both stay finite.

/// The direct closed form $x_t = \Pi_t \sum_{s \le t} b_s / \Pi_s$: correct in
/// exact arithmetic, but $\Pi_t$ underflows to 0 and $1/\Pi_s$ overflows to ∞
/// once $\prod a$ leaves the range of a double (about $10^{\pm 308}$), giving
/// `NaN`. Kept to show why the log-space form exists.
///
/// # Shapes
/// `a`, `b`: `(len,)` → `(len,)`.
///
/// # Panics
/// If `a` and `b` differ in length.
pub fn scan_cumulative_product(a: &[f64], b: &[f64]) -> Vec<f64> {
    assert_eq!(
        a.len(),
        b.len(),
        "scan_cumulative_product: a ({},) vs b ({},)",
        a.len(),
        b.len()
    );
    let (mut product, mut sum) = (1.0, 0.0);
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            product *= a;
            sum += b / product;
            product * sum
        })
        .collect()
}

/// The recurrence for positive multipliers in log space: with
/// $\Lambda_t = \sum_{r \le t} \log a_r$, the positive and negative parts of
/// $b$ are accumulated as $\log x^\pm_t = \Lambda_t + \log\sum_{s \le t}
/// e^{\log b^\pm_s - \Lambda_s}$ (a running log-sum-exp), and
/// $x_t = e^{\log x^+_t} - e^{\log x^-_t}$.
///
/// Implements Eq. (P6): $x_t = e^{\Lambda_t + \operatorname{lse}_{s \le t}(\log b^+_s - \Lambda_s)}
/// - e^{\Lambda_t + \operatorname{lse}_{s \le t}(\log b^-_s - \Lambda_s)}$.
///
/// # Shapes
/// `log_a`, `b`: `(len,)` → `(len,)`.
///
/// # Panics
/// If `log_a` and `b` differ in length.
///
/// # References
/// Heinsen (2023), "Efficient parallelization of a ubiquitous sequential
/// computation" (the log-space form, with complex logarithms for signs).
// ANCHOR: scan_log_space
pub fn scan_log_space(log_a: &[f64], b: &[f64]) -> Vec<f64> {
    assert_eq!(
        log_a.len(),
        b.len(),
        "scan_log_space: log_a ({},) vs b ({},)",
        log_a.len(),
        b.len()
    );
    let mut big_lambda = 0.0; // Λ_t = Σ log a_r
    let (mut positive, mut negative) = (LogSum::new(), LogSum::new());
    log_a
        .iter()
        .zip(b)
        .map(|(log_a, &b)| {
            big_lambda += log_a;
            if b > 0.0 {
                positive.add(b.ln() - big_lambda);
            } else if b < 0.0 {
                negative.add((-b).ln() - big_lambda);
            } else if b.is_nan() {
                big_lambda = f64::NAN; // as in the recurrence: NaN from here on
            }
            (big_lambda + positive.log()).exp() - (big_lambda + negative.log()).exp()
        })
        .collect()
}
// ANCHOR_END: scan_log_space

/// A running $\log\sum_s e^{v_s}$, kept as a maximum and a scaled sum so that
/// no term overflows.
struct LogSum {
    max: f64,
    scaled: f64, // Σ exp(v_s − max)
}

impl LogSum {
    fn new() -> Self {
        LogSum {
            max: f64::NEG_INFINITY,
            scaled: 0.0,
        }
    }

    fn add(&mut self, v: f64) {
        if v > self.max {
            self.scaled = self.scaled * (self.max - v).exp() + 1.0;
            self.max = v;
        } else {
            self.scaled += (v - self.max).exp();
        }
    }

    /// The log of the sum so far (−∞ while empty).
    fn log(&self) -> f64 {
        self.max + self.scaled.ln()
    }
}
