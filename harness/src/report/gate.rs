//! `xpucert gate`: compares a run with a baseline, case by case (by id), and
//! decides whether the change may land.
//!
//! A case **regresses** when
//! * its status got worse: statuses rank pass < warn < unsupported <
//!   fail = error = crash = timeout = waived (skip is not compared; a
//!   waived case is the failure it was, so failing -> waived is no change
//!   and passing -> waived is a regression);
//! * it is new and fails (a new waived case is reported, not a
//!   regression: its failure is known and tracked);
//! * it passed in both and its worst headroom (measured error / allowed
//!   error) grew by more than `--max-headroom-growth` (absolute, default
//!   0.25): still conformant, but much closer to the limit;
//! * both runs measured its throughput and it got slower, by the noise-aware
//!   rule: the median time grew by more than `--max-slowdown` percent AND the
//!   fastest tenth of the current samples (p10) is slower than the slowest
//!   tenth of the baseline (p90), so the two distributions barely overlap.
//!   A single noisy sample moves neither the median nor the quantiles enough;
//!   a real slowdown moves the whole distribution. When both carry
//!   `samples_s` (at least 5 each), the quantiles are recomputed from them.
//!
//! Improvements (better status, lower headroom, faster by the mirror rule)
//! and new or removed cases are reported; they never fail the gate. Files of
//! different schemas or suites are an error (exit 2), not a regression.

use std::collections::BTreeMap;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;
use thiserror::Error;

use crate::run::{CaseResult, ResultsFile, Status, Throughput};

/// Thresholds of the gate.
#[derive(Debug, Clone, Copy)]
pub struct GateRules {
    /// Allowed median slowdown, percent.
    pub max_slowdown_pct: f64,
    /// Allowed absolute growth of a passing case's headroom.
    pub max_headroom_growth: f64,
}

impl Default for GateRules {
    fn default() -> Self {
        GateRules {
            max_slowdown_pct: 10.0,
            max_headroom_growth: 0.25,
        }
    }
}

/// The two files cannot be compared.
#[derive(Debug, Error)]
pub enum GateError {
    /// Different schema or version.
    #[error(
        "baseline is {base}, current is {cur}: results of different schema versions cannot be compared (rerun the baseline with this xpucert)"
    )]
    Schema {
        /// Baseline schema.
        base: String,
        /// Current schema.
        cur: String,
    },
    /// Different suites.
    #[error(
        "baseline ran suites [{base}], current ran [{cur}]: the gate compares runs of the same suites"
    )]
    Suites {
        /// Baseline suite names.
        base: String,
        /// Current suite names.
        cur: String,
    },
}

/// What changed for one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Change {
    /// Status got worse.
    StatusWorse {
        /// Before.
        from: Status,
        /// After.
        to: Status,
    },
    /// A new case that fails.
    NewFailure {
        /// Its status.
        status: Status,
    },
    /// Headroom grew past the threshold.
    HeadroomGrew {
        /// Before.
        from: f64,
        /// After.
        to: f64,
    },
    /// Slower, beyond noise.
    Slower {
        /// Baseline median seconds.
        from_s: f64,
        /// Current median seconds.
        to_s: f64,
        /// Percent slower.
        pct: f64,
    },
    /// Status got better.
    StatusBetter {
        /// Before.
        from: Status,
        /// After.
        to: Status,
    },
    /// Headroom dropped by more than the threshold.
    HeadroomShrank {
        /// Before.
        from: f64,
        /// After.
        to: f64,
    },
    /// Faster, beyond noise.
    Faster {
        /// Baseline median seconds.
        from_s: f64,
        /// Current median seconds.
        to_s: f64,
        /// Percent faster.
        pct: f64,
    },
    /// Present now, absent in the baseline (and not failing).
    New {
        /// Its status.
        status: Status,
    },
    /// Present in the baseline only.
    Removed {
        /// Its status in the baseline.
        status: Status,
    },
}

impl Change {
    /// Whether this change fails the gate.
    pub fn is_regression(&self) -> bool {
        matches!(
            self,
            Change::StatusWorse { .. }
                | Change::NewFailure { .. }
                | Change::HeadroomGrew { .. }
                | Change::Slower { .. }
        )
    }

    fn describe(&self) -> String {
        match self {
            Change::StatusWorse { from, to } => format!("status {from} -> {to}"),
            Change::NewFailure { status } => format!("new case, {status}"),
            Change::HeadroomGrew { from, to } => format!("headroom {from:.3} -> {to:.3}"),
            Change::Slower { from_s, to_s, pct } => {
                format!(
                    "{:.1}% slower (median {} -> {})",
                    pct,
                    secs(*from_s),
                    secs(*to_s)
                )
            }
            Change::StatusBetter { from, to } => format!("status {from} -> {to}"),
            Change::HeadroomShrank { from, to } => format!("headroom {from:.3} -> {to:.3}"),
            Change::Faster { from_s, to_s, pct } => {
                format!(
                    "{:.1}% faster (median {} -> {})",
                    pct,
                    secs(*from_s),
                    secs(*to_s)
                )
            }
            Change::New { status } => format!("new case, {status}"),
            Change::Removed { status } => format!("removed (was {status})"),
        }
    }
}

fn secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} us", s * 1e6)
    }
}

/// One line of the diff.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// Case id.
    pub id: String,
    /// Op name.
    pub op: String,
    /// Case dtype.
    pub dtype: String,
    /// What changed.
    pub change: Change,
}

/// The gate's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    /// Regressions (any fails the gate).
    pub regressions: Vec<Diff>,
    /// Improvements, new and removed cases.
    pub notes: Vec<Diff>,
    /// Cases compared (present in both).
    pub compared: usize,
    /// Warnings about the comparison itself (suite file hashes differ, ...).
    pub warnings: Vec<String>,
}

impl GateReport {
    /// Whether the gate passes.
    pub fn passed(&self) -> bool {
        self.regressions.is_empty()
    }

    /// The ops with a regression, sorted, once each.
    pub fn regressed_ops(&self) -> Vec<String> {
        let mut ops: Vec<String> = self.regressions.iter().map(|d| d.op.clone()).collect();
        ops.sort();
        ops.dedup();
        ops
    }

    /// A short diff table (at most `limit` rows per kind) and the verdict.
    pub fn render(&self, limit: usize) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        for (title, list) in [
            ("regressions", &self.regressions),
            ("other changes", &self.notes),
        ] {
            if list.is_empty() {
                continue;
            }
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(["case", "op", "dtype", "change"]);
            for d in list.iter().take(limit) {
                t.add_row([
                    d.id.clone(),
                    d.op.clone(),
                    d.dtype.clone(),
                    d.change.describe(),
                ]);
            }
            out.push_str(&format!("{title} ({}):\n{t}\n", list.len()));
            if list.len() > limit {
                out.push_str(&format!("... and {} more\n", list.len() - limit));
            }
        }
        let improvements = self
            .notes
            .iter()
            .filter(|d| {
                matches!(
                    d.change,
                    Change::StatusBetter { .. }
                        | Change::HeadroomShrank { .. }
                        | Change::Faster { .. }
                )
            })
            .count();
        let new = self
            .notes
            .iter()
            .filter(|d| matches!(d.change, Change::New { .. }))
            .count();
        let removed = self
            .notes
            .iter()
            .filter(|d| matches!(d.change, Change::Removed { .. }))
            .count();
        out.push_str(&format!(
            "{} cases compared: {} regression(s){}, {} improvement(s), {} new, {} removed -> {}\n",
            self.compared,
            self.regressions.len(),
            if self.regressions.is_empty() {
                String::new()
            } else {
                format!(" in {}", self.regressed_ops().join(", "))
            },
            improvements,
            new,
            removed,
            if self.passed() {
                "GATE PASSED"
            } else {
                "GATE FAILED"
            }
        ));
        out
    }
}

/// Rank of a status for "worse" (None: not compared).
fn rank(s: Status) -> Option<u8> {
    match s {
        Status::Pass => Some(0),
        Status::Warn => Some(1),
        Status::Unsupported => Some(2),
        // A waived case is the failure it was: fail -> waived is no
        // change, pass -> waived a regression.
        Status::Fail | Status::Error | Status::Crash | Status::Timeout | Status::Waived => Some(3),
        // The backend was not judged: nothing to compare.
        Status::OracleMismatch | Status::Skip => None,
    }
}

/// p10, median, p90 of a throughput record: from the samples when there
/// are enough, else the recorded figures.
fn quantiles(t: &Throughput) -> (f64, f64, f64) {
    if t.samples_s.len() >= 5 {
        let mut s: Vec<f64> = t
            .samples_s
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        s.sort_by(f64::total_cmp);
        if s.len() >= 5 {
            let q = |p: f64| {
                // linear interpolation between closest ranks
                let x = p * (s.len() - 1) as f64;
                let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
                s[lo] + (s[hi] - s[lo]) * (x - lo as f64)
            };
            return (q(0.1), q(0.5), q(0.9));
        }
    }
    (t.p10_s, t.median_s, t.p90_s)
}

/// Compares the two throughput records; `Some(change)` when the
/// distributions moved beyond the threshold.
pub fn compare_throughput(
    base: &Throughput,
    cur: &Throughput,
    max_slowdown_pct: f64,
) -> Option<Change> {
    let (b10, bmed, b90) = quantiles(base);
    let (c10, cmed, c90) = quantiles(cur);
    if !(bmed > 0.0 && cmed > 0.0) {
        return None;
    }
    let slower_pct = (cmed / bmed - 1.0) * 100.0;
    if slower_pct > max_slowdown_pct && c10 > b90 {
        return Some(Change::Slower {
            from_s: bmed,
            to_s: cmed,
            pct: slower_pct,
        });
    }
    let faster_pct = (1.0 - cmed / bmed) * 100.0;
    if faster_pct > max_slowdown_pct && c90 < b10 {
        return Some(Change::Faster {
            from_s: bmed,
            to_s: cmed,
            pct: faster_pct,
        });
    }
    None
}

fn suite_names(r: &ResultsFile) -> Vec<String> {
    let mut v: Vec<String> = r.provenance.suites.iter().map(|s| s.name.clone()).collect();
    v.sort();
    v.dedup();
    v
}

/// Compares `current` with `baseline`.
pub fn gate(
    baseline: &ResultsFile,
    current: &ResultsFile,
    rules: GateRules,
) -> Result<GateReport, GateError> {
    let sb = format!("{} v{}", baseline.schema, baseline.schema_version);
    let sc = format!("{} v{}", current.schema, current.schema_version);
    if sb != sc {
        return Err(GateError::Schema { base: sb, cur: sc });
    }
    let (nb, nc) = (suite_names(baseline), suite_names(current));
    if nb != nc {
        return Err(GateError::Suites {
            base: nb.join(", "),
            cur: nc.join(", "),
        });
    }
    let mut warnings = Vec::new();
    for s in &current.provenance.suites {
        if let Some(b) = baseline.provenance.suites.iter().find(|b| b.name == s.name)
            && b.sha256 != s.sha256
        {
            warnings.push(format!(
                "suite `{}` changed since the baseline (sha256 {} -> {}); cases are matched by id",
                s.name,
                &b.sha256[..b.sha256.len().min(12)],
                &s.sha256[..s.sha256.len().min(12)]
            ));
        }
    }
    let base: BTreeMap<&str, &CaseResult> =
        baseline.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut regressions = Vec::new();
    let mut notes = Vec::new();
    let mut compared = 0;
    let diff = |c: &CaseResult, change: Change| Diff {
        id: c.id.clone(),
        op: c.op.clone(),
        dtype: c.dtype.clone(),
        change,
    };
    for c in &current.cases {
        let Some(b) = base.get(c.id.as_str()) else {
            if c.status.is_failure() {
                regressions.push(diff(c, Change::NewFailure { status: c.status }));
            } else if c.status != Status::Skip {
                notes.push(diff(c, Change::New { status: c.status }));
            }
            continue;
        };
        let (Some(rb), Some(rc)) = (rank(b.status), rank(c.status)) else {
            continue;
        };
        compared += 1;
        if rc > rb {
            regressions.push(diff(
                c,
                Change::StatusWorse {
                    from: b.status,
                    to: c.status,
                },
            ));
            continue;
        }
        if rc < rb {
            notes.push(diff(
                c,
                Change::StatusBetter {
                    from: b.status,
                    to: c.status,
                },
            ));
        }
        if rb <= 1 && rc <= 1 {
            let (hb, hc) = (b.headroom(), c.headroom());
            if hc - hb > rules.max_headroom_growth {
                regressions.push(diff(c, Change::HeadroomGrew { from: hb, to: hc }));
            } else if hb - hc > rules.max_headroom_growth {
                notes.push(diff(c, Change::HeadroomShrank { from: hb, to: hc }));
            }
        }
        if let (Some(tb), Some(tc)) = (&b.throughput, &c.throughput)
            && let Some(ch) = compare_throughput(tb, tc, rules.max_slowdown_pct)
        {
            if ch.is_regression() {
                regressions.push(diff(c, ch));
            } else {
                notes.push(diff(c, ch));
            }
        }
    }
    let current_ids: std::collections::BTreeSet<&str> =
        current.cases.iter().map(|c| c.id.as_str()).collect();
    for b in &baseline.cases {
        if !current_ids.contains(b.id.as_str()) && b.status != Status::Skip {
            notes.push(diff(b, Change::Removed { status: b.status }));
        }
    }
    Ok(GateReport {
        regressions,
        notes,
        compared,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(samples: &[f64]) -> Throughput {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        Throughput {
            iterations: s.len() as u64,
            samples_s: samples.to_vec(),
            median_s: s[s.len() / 2],
            p10_s: s[s.len() / 10],
            p90_s: s[s.len() * 9 / 10],
            ..Default::default()
        }
    }

    fn results(cases: &[(&str, Status)]) -> ResultsFile {
        let cases: Vec<CaseResult> = cases
            .iter()
            .map(|(id, s)| {
                CaseResult::for_model(id, crate::numerics::DType::F32, "x".into(), *s, None)
            })
            .collect();
        ResultsFile::sample(cases)
    }

    #[test]
    fn a_waived_case_is_the_failure_it_was() {
        let base = results(&[
            ("m.failing", Status::Fail),
            ("m.waived", Status::Waived),
            ("m.passing", Status::Pass),
        ]);
        let cur = results(&[
            ("m.failing", Status::Waived),
            ("m.waived", Status::Crash),
            ("m.passing", Status::Waived),
            ("m.new", Status::Waived),
        ]);
        let g = gate(&base, &cur, GateRules::default()).unwrap();
        let regressions: Vec<(&str, &Change)> = g
            .regressions
            .iter()
            .map(|d| (d.id.as_str(), &d.change))
            .collect();
        assert_eq!(
            regressions,
            [(
                "m.passing",
                &Change::StatusWorse {
                    from: Status::Pass,
                    to: Status::Waived
                }
            )]
        );
        assert!(g.notes.iter().any(|d| d.id == "m.new"
            && d.change
                == Change::New {
                    status: Status::Waived
                }));
        assert_eq!(g.compared, 3);
    }

    #[test]
    fn noise_is_not_a_slowdown_but_a_shift_is() {
        let base = tp(&[1.0, 1.02, 0.98, 1.01, 0.99, 1.3, 1.0, 1.01, 0.97, 1.03]);
        // one huge outlier and slightly higher median: overlapping distributions
        let noisy = tp(&[1.05, 1.0, 2.5, 1.04, 1.1, 0.99, 1.12, 1.0, 1.08, 1.02]);
        assert_eq!(compare_throughput(&base, &noisy, 10.0), None);
        let slow = tp(&[1.4, 1.42, 1.38, 1.41, 1.39, 1.5, 1.4, 1.41, 1.37, 1.43]);
        match compare_throughput(&base, &slow, 10.0) {
            Some(Change::Slower { pct, .. }) => assert!(pct > 30.0 && pct < 50.0, "{pct}"),
            other => panic!("expected a slowdown, got {other:?}"),
        }
        // the same shift under a 50% threshold passes
        assert_eq!(compare_throughput(&base, &slow, 50.0), None);
        assert!(matches!(
            compare_throughput(&slow, &base, 10.0),
            Some(Change::Faster { .. })
        ));
    }
}
