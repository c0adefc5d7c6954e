//! Throughput requirements: `min_gflops`, `min_gbps` and `max_slowdown`
//! against a baseline results file, judged with the noise in mind.
//!
//! The rule: a time is known to within `3·se` of its median, where
//! `se = 1.2533·σ̂/√n` is the standard error of a median of `n` samples and
//! `σ̂ = 1.4826·MAD` the robust standard deviation (both standard factors
//! for normal noise). A requirement fails only if it is missed even at the
//! favourable end of that interval: `min_gflops` fails when
//! `flops / (median − 3·se) < min_gflops` (same for GB/s); `max_slowdown`
//! fails when `(median − 3·se) > max_slowdown · (baseline median + 3·se_b)`.
//! A noisy measurement is thus given the benefit of its own doubt, and a
//! stable one is held to its median. The message always quotes the
//! medians, the spread and the figures compared.

use std::collections::HashMap;
use std::path::Path;

use super::{ResultsFile, Throughput};

use crate::perf::ThroughputSpec;

/// A baseline: per case id, its throughput record.
#[derive(Debug, Default, Clone)]
pub struct Baseline {
    cases: HashMap<String, Throughput>,
    /// Where it was read from, for messages.
    pub path: String,
}

/// Why a baseline file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Reading failed.
    #[error("cannot read baseline {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a results file.
    #[error("baseline {path} is not an xpucert results.json: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        source: serde_json::Error,
    },
}

impl Baseline {
    /// Reads a `results.json` written by `xpucert run`.
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let p = path.display().to_string();
        let text = crate::files::read_text(path, crate::files::MAX_RESULTS_BYTES, "a baseline")
            .map_err(|e| BaselineError::Io {
                path: p.clone(),
                source: e.into_io(),
            })?;
        let file: ResultsFile =
            serde_json::from_str(&text).map_err(|source| BaselineError::Parse {
                path: p.clone(),
                source,
            })?;
        Ok(Baseline {
            cases: file
                .cases
                .into_iter()
                .filter_map(|c| c.throughput.map(|t| (c.id, t)))
                .collect(),
            path: p,
        })
    }

    /// The baseline's figures for a case.
    pub fn get(&self, id: &str) -> Option<&Throughput> {
        self.cases.get(id)
    }
}

/// Standard error of the median time of `t`.
pub fn median_se(t: &Throughput) -> f64 {
    let n = t.iterations.max(1) as f64;
    1.2533 * 1.4826 * t.mad_s / n.sqrt()
}

/// The favourable (fast) and unfavourable (slow) ends of the median's
/// interval.
fn interval(t: &Throughput) -> (f64, f64) {
    let se = median_se(t);
    (
        (t.median_s - 3.0 * se).max(f64::MIN_POSITIVE),
        t.median_s + 3.0 * se,
    )
}

/// Every requirement of `spec` that `t` misses, one message each. A
/// `max_slowdown` without a baseline entry for `id` is reported as missing
/// when a baseline was given (a gate must not pass by omission).
pub fn violations(
    spec: &ThroughputSpec,
    id: &str,
    t: &Throughput,
    baseline: Option<&Baseline>,
) -> Vec<String> {
    let mut out = Vec::new();
    let (fast, _) = interval(t);
    let spread = format!(
        "median {:.4e} s, p10 {:.4e} s, p90 {:.4e} s, MAD {:.2e} s, n = {}",
        t.median_s, t.p10_s, t.p90_s, t.mad_s, t.iterations
    );
    let mut rate = |what: &str, unit: &str, amount: Option<f64>, figure: Option<f64>, min| {
        if let (Some(min), Some(amount)) = (min, amount) {
            let best = amount / fast / 1e9;
            if best < min {
                out.push(format!(
                    "throughput {:.3} {unit} is below the required min_{what} {min} \
                     (even at the fast end of the noise interval: {best:.3} {unit}; {spread})",
                    figure.unwrap_or(amount / t.median_s / 1e9)
                ));
            }
        }
    };
    rate("gflops", "GFLOP/s", t.flops, t.gflops, spec.min_gflops);
    rate("gbps", "GB/s", t.bytes, t.gbps, spec.min_gbps);
    if let (Some(max), Some(b)) = (spec.max_slowdown, baseline) {
        match b.get(id) {
            None => out.push(format!(
                "max_slowdown {max} cannot be judged: the baseline {} has no throughput for this case",
                b.path
            )),
            Some(base) => {
                let (_, base_slow) = interval(base);
                if fast > max * base_slow {
                    out.push(format!(
                        "{:.2}x slower than the baseline (median {:.4e} s vs {:.4e} s in {}), \
                         beyond the allowed max_slowdown {max} and the noise ({spread}; baseline MAD {:.2e} s, n = {})",
                        t.median_s / base.median_s,
                        t.median_s,
                        base.median_s,
                        b.path,
                        base.mad_s,
                        base.iterations
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(median: f64, mad: f64, n: u64) -> Throughput {
        Throughput {
            iterations: n,
            samples_s: Vec::new(),
            median_s: median,
            p10_s: median - mad,
            p90_s: median + mad,
            mad_s: mad,
            flops: Some(1e9),
            bytes: Some(4e8),
            gflops: Some(1e9 / median / 1e9),
            gbps: Some(4e8 / median / 1e9),
        }
    }

    #[test]
    fn min_gflops_uses_the_fast_end_of_the_interval() {
        let spec = ThroughputSpec {
            min_gflops: Some(10.0),
            ..Default::default()
        };
        // 1 GFLOP in 0.1 s = 10 GFLOP/s: passes.
        assert!(violations(&spec, "c", &tp(0.1, 0.0, 10), None).is_empty());
        // 1 GFLOP in 0.125 s = 8 GFLOP/s, no noise: fails, with the figure.
        let v = violations(&spec, "c", &tp(0.125, 0.0, 10), None);
        assert_eq!(v.len(), 1);
        assert!(v[0].contains("8.000 GFLOP/s"), "{}", v[0]);
        // Same median, but so noisy that 10 GFLOP/s is within the interval.
        assert!(violations(&spec, "c", &tp(0.125, 0.05, 10), None).is_empty());
    }

    #[test]
    fn slowdown_against_a_baseline() {
        let spec = ThroughputSpec {
            max_slowdown: Some(1.5),
            ..Default::default()
        };
        let mut b = Baseline {
            path: "base.json".into(),
            ..Default::default()
        };
        b.cases.insert("c".into(), tp(0.1, 0.001, 20));
        assert!(violations(&spec, "c", &tp(0.14, 0.001, 20), Some(&b)).is_empty());
        let v = violations(&spec, "c", &tp(0.2, 0.001, 20), Some(&b));
        assert_eq!(v.len(), 1);
        assert!(v[0].contains("2.00x slower"), "{}", v[0]);
        // A missing baseline entry is a violation, not a silent pass.
        assert_eq!(
            violations(&spec, "other", &tp(0.1, 0.0, 5), Some(&b)).len(),
            1
        );
        // Without --baseline, max_slowdown is not judged.
        assert!(violations(&spec, "c", &tp(0.2, 0.0, 5), None).is_empty());
    }
}
