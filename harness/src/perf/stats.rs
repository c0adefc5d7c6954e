//! Order statistics of the per-call times a measurement returns (see
//! [`crate::backend::timing`] for how they are taken).

/// Order statistics of per-call times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Median.
    pub median: f64,
    /// 10th percentile (linear interpolation between order statistics).
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Median absolute deviation from the median (unscaled).
    pub mad: f64,
}

/// The statistics of `samples`; `None` when empty.
pub fn stats(samples: &[f64]) -> Option<Stats> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let median = quantile(&s, 0.5);
    let mut dev: Vec<f64> = s.iter().map(|x| (x - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    Some(Stats {
        median,
        p10: quantile(&s, 0.1),
        p90: quantile(&s, 0.9),
        mad: quantile(&dev, 0.5),
    })
}

/// Quantile `q` of sorted `s` (non-empty), linear between order statistics.
fn quantile(s: &[f64], q: f64) -> f64 {
    let pos = q * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_known_samples() {
        let s = stats(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(s.median, 3.0);
        assert!((s.p10 - 1.4).abs() < 1e-12);
        assert!((s.p90 - 4.6).abs() < 1e-12);
        assert_eq!(s.mad, 1.0);
        assert!(stats(&[]).is_none());
    }
}
