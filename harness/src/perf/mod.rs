//! Throughput: how xpucert times an op on a backend, what one call costs,
//! and what a suite may require of the figures.
//!
//! * The timing loop itself (warm-up, minimum count and time, caps,
//!   anti-caching input perturbation) is a backend service,
//!   [`crate::backend::timing`], because it must run where the backend
//!   lives: in this process or inside the worker, so pipe and copy time
//!   never count. This module decides what to time and what the figures mean.
//! * [`stats`]: median, percentiles and spread of the per-call times.
//! * [`cost`]: FLOPs and bytes moved per call of each op (the cost models).
//!
//! Measuring one case end to end (input variants, the call, verification of
//! every variant's outputs, the [`Throughput`] record) and judging the
//! figures against a suite's requirements and a baseline (`min_gflops`,
//! `min_gbps`, `max_slowdown`) are the run's work: `run::measure` and
//! `run::require`.
//!
//! Measurement is opt-in (a `throughput:` section in the suite, or
//! `run --measure`), so a default run is not slower.
//!
//! [`Throughput`]: crate::run::Throughput

pub mod cost;
pub mod stats;

use serde::Deserialize;

use crate::backend::timing::MeasurePlan;

/// A `throughput:` section of a suite file or case, as written. Every field
/// is optional; a case's fields override its file's, the rest come from
/// [`MeasurePlan::default`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThroughputSpec {
    /// Untimed calls before timing.
    #[serde(default)]
    pub warmup: Option<u32>,
    /// Minimum number of timed calls.
    #[serde(default)]
    pub min_iters: Option<u32>,
    /// Minimum timed wall time, seconds.
    #[serde(default)]
    pub min_time: Option<f64>,
    /// Maximum number of timed calls.
    #[serde(default)]
    pub max_iters: Option<u32>,
    /// Maximum wall time of the measurement, seconds.
    #[serde(default)]
    pub max_time: Option<f64>,
    /// Fail below this many GFLOP/s (median time, cost model FLOPs).
    #[serde(default)]
    pub min_gflops: Option<f64>,
    /// Fail below this many GB/s (median time, cost model bytes).
    #[serde(default)]
    pub min_gbps: Option<f64>,
    /// Fail when slower than the baseline results file by more than this
    /// factor (`run --baseline`), beyond noise.
    #[serde(default)]
    pub max_slowdown: Option<f64>,
}

impl ThroughputSpec {
    /// `self`'s fields, or `outer`'s where `self` has none.
    pub fn or(self, outer: ThroughputSpec) -> ThroughputSpec {
        ThroughputSpec {
            warmup: self.warmup.or(outer.warmup),
            min_iters: self.min_iters.or(outer.min_iters),
            min_time: self.min_time.or(outer.min_time),
            max_iters: self.max_iters.or(outer.max_iters),
            max_time: self.max_time.or(outer.max_time),
            min_gflops: self.min_gflops.or(outer.min_gflops),
            min_gbps: self.min_gbps.or(outer.min_gbps),
            max_slowdown: self.max_slowdown.or(outer.max_slowdown),
        }
    }

    /// The timing plan this section asks for.
    pub fn plan(&self) -> MeasurePlan {
        let d = MeasurePlan::default();
        MeasurePlan {
            warmup: self.warmup.unwrap_or(d.warmup),
            min_iters: self.min_iters.unwrap_or(d.min_iters),
            min_time_s: self.min_time.unwrap_or(d.min_time_s),
            max_iters: self.max_iters.unwrap_or(d.max_iters),
            max_time_s: self.max_time.unwrap_or(d.max_time_s),
        }
    }

    /// Why the section is unusable, if it is (checked at suite load).
    pub fn problem(&self) -> Option<String> {
        let secs = |name: &str, v: Option<f64>| match v {
            Some(t) if !(t >= 0.0 && t.is_finite() && t <= 1e6) => Some(format!(
                "throughput {name} must be seconds in [0, 1e6], got {t}"
            )),
            _ => None,
        };
        let positive = |name: &str, v: Option<f64>| match v {
            Some(x) if !(x > 0.0 && x.is_finite()) => Some(format!(
                "throughput {name} must be a positive number, got {x}"
            )),
            _ => None,
        };
        secs("min_time", self.min_time)
            .or_else(|| secs("max_time", self.max_time))
            .or_else(|| positive("min_gflops", self.min_gflops))
            .or_else(|| positive("min_gbps", self.min_gbps))
            .or_else(|| match self.max_slowdown {
                Some(x) if !(x >= 1.0 && x.is_finite()) => Some(format!(
                    "throughput max_slowdown must be a factor >= 1, got {x}"
                )),
                _ => None,
            })
            .or_else(|| match (self.min_iters, self.max_iters) {
                (Some(lo), Some(hi)) if lo > hi => {
                    Some(format!("throughput min_iters {lo} exceeds max_iters {hi}"))
                }
                (_, Some(0)) => Some("throughput max_iters must be at least 1".into()),
                _ => None,
            })
    }
}
