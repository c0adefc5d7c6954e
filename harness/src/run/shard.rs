//! Sharding a run across machines, and merging the shards back.
//!
//! `--shard K/N` (1-based K) keeps the cases of shard K of N. The split is
//! deterministic and balanced by expected cost: each case weighs
//! [`Case::cost`] (multiply-adds and elements touched, from its shapes) plus
//! [`CASE_OVERHEAD`] (a fixed cost per call, so a thousand tiny cases are not
//! free), and the cases are dealt longest first to the shard with the least
//! weight so far (ties: lower shard index; equal weights: id order). Every
//! shard computes the same assignment from the same suites and filters, so
//! the shards need not talk to each other. Within a shard, cases keep the
//! order of the unsharded run.
//!
//! A shard's `results.json` carries a [`ShardInfo`]: which shard it is, how
//! many cases the unsharded run selects, and the position of each of its
//! cases in that run. `xpucert merge` checks that the files come from one
//! run (schema, suites, backend, filters) and that the shards are all there
//! exactly once, then rebuilds the unsharded case order and the summary.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::run::{ResultsFile, Summary};
use crate::suite::Case;

/// The weight of one case beyond its arithmetic (generating inputs, the
/// oracle, checking outputs, process round trips), in [`Case::cost`] units.
/// Measured on the core suite with the reference backend in worker
/// isolation: about 13 ms per case of fixed cost, and about 1.4e8 cost
/// units per second through oracle + run_op (the 17x4096x1024 MatMul), so
/// one case's fixed cost is worth about 2e6 units.
pub const CASE_OVERHEAD: f64 = 2.0e6;

/// The name of the assignment rule, recorded in every shard.
pub const RULE: &str = "cost-lpt-v1";

/// Which shard of which split a results file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// 1-based shard index.
    pub index: usize,
    /// Number of shards.
    pub total: usize,
    /// The assignment rule ([`RULE`]).
    pub rule: String,
    /// Cases the unsharded run selects.
    pub selected_cases: usize,
    /// For each case of this file, its position in the unsharded run.
    pub positions: Vec<usize>,
}

/// A `--shard` request: `K/N` or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// 1-based index.
    pub index: usize,
    /// Number of shards.
    pub total: usize,
}

/// Problems with shards and merging.
#[derive(Debug, Error)]
pub enum ShardError {
    /// `--shard` could not be read.
    #[error("invalid --shard `{0}`: expected K/N with 1 <= K <= N (e.g. 2/4) or `auto`")]
    Syntax(String),
    /// `--shard auto` found no CI variables.
    #[error(
        "--shard auto found no shard index: set CI_NODE_INDEX and CI_NODE_TOTAL (GitLab `parallel:`), \
         JOB_COMPLETION_INDEX and XPUCERT_SHARD_TOTAL (Kubernetes Indexed Job), or XPUCERT_SHARD=K/N; \
         on GitHub Actions pass `--shard ${{{{ matrix.shard }}}}/N` from a matrix"
    )]
    NoEnvironment,
    /// A variable held something else than a number.
    #[error("--shard auto: {var}={value:?} is not a valid {what}")]
    BadVariable {
        /// Variable name.
        var: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        what: &'static str,
    },
    /// The files do not come from one run.
    #[error("cannot merge {a} and {b}: {what} differ ({va} vs {vb})")]
    Mismatch {
        /// First file.
        a: String,
        /// Other file.
        b: String,
        /// Which property.
        what: &'static str,
        /// Value in a.
        va: String,
        /// Value in b.
        vb: String,
    },
    /// A file is not a shard.
    #[error("{0} is not a shard (no `shard` record; was it run with --shard?)")]
    NotAShard(String),
    /// The same shard twice.
    #[error("shard {index}/{total} given twice: {a} and {b}")]
    Overlap {
        /// Shard index.
        index: usize,
        /// Shard count.
        total: usize,
        /// First file.
        a: String,
        /// Second file.
        b: String,
    },
    /// A case in two shards.
    #[error("case {id} appears in two shards ({a} and {b})")]
    CaseOverlap {
        /// Case id.
        id: String,
        /// First file.
        a: String,
        /// Second file.
        b: String,
    },
    /// Shards missing.
    #[error("missing shard(s) {missing:?} of {total}")]
    Missing {
        /// Missing indices.
        missing: Vec<usize>,
        /// Shard count.
        total: usize,
    },
    /// Positions do not tile the unsharded run.
    #[error("the shards do not add up to the unsharded run: {0}")]
    Inconsistent(String),
    /// No input.
    #[error("nothing to merge")]
    Empty,
}

/// What `--shard` asked for; `auto` is resolved when the run starts, from
/// the environment of that process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardRequest {
    /// `K/N`.
    Fixed(ShardSpec),
    /// `auto`.
    Auto,
}

impl ShardRequest {
    /// Reads `K/N` or `auto`.
    pub fn parse(s: &str) -> Result<Self, ShardError> {
        if s == "auto" {
            Ok(ShardRequest::Auto)
        } else {
            ShardSpec::parse(s).map(ShardRequest::Fixed)
        }
    }

    /// The shard to run.
    pub fn resolve(self) -> Result<ShardSpec, ShardError> {
        match self {
            ShardRequest::Fixed(s) => Ok(s),
            ShardRequest::Auto => ShardSpec::from_env(|k| std::env::var(k).ok()),
        }
    }
}

impl ShardSpec {
    /// Reads `K/N`, or `auto` from the environment (see [`ShardSpec::from_env`]).
    pub fn parse(s: &str) -> Result<Self, ShardError> {
        if s == "auto" {
            return Self::from_env(|k| std::env::var(k).ok());
        }
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| ShardError::Syntax(s.into()))?;
        let index: usize = k.trim().parse().map_err(|_| ShardError::Syntax(s.into()))?;
        let total: usize = n.trim().parse().map_err(|_| ShardError::Syntax(s.into()))?;
        if index == 0 || total == 0 || index > total {
            return Err(ShardError::Syntax(s.into()));
        }
        Ok(ShardSpec { index, total })
    }

    /// The shard from CI variables, first found wins:
    /// `XPUCERT_SHARD=K/N`; GitLab `CI_NODE_INDEX` / `CI_NODE_TOTAL` (1-based);
    /// Kubernetes Indexed Job `JOB_COMPLETION_INDEX` (0-based) with
    /// `XPUCERT_SHARD_TOTAL`. GitHub Actions has no such variable: its
    /// workflow passes `K/N` from a matrix.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ShardError> {
        let num = |name: &'static str, what: &'static str| -> Result<Option<usize>, ShardError> {
            match var(name) {
                None => Ok(None),
                Some(v) => {
                    v.trim()
                        .parse::<usize>()
                        .map(Some)
                        .map_err(|_| ShardError::BadVariable {
                            var: name,
                            value: v,
                            what,
                        })
                }
            }
        };
        if let Some(s) = var("XPUCERT_SHARD") {
            return Self::parse_explicit(&s);
        }
        if let Some(index) = num("CI_NODE_INDEX", "1-based shard index")? {
            let total = num("CI_NODE_TOTAL", "shard count")?.unwrap_or(1);
            return Self::checked(index, total, "CI_NODE_INDEX");
        }
        if let Some(index0) = num("JOB_COMPLETION_INDEX", "0-based completion index")? {
            let total =
                num("XPUCERT_SHARD_TOTAL", "shard count")?.ok_or(ShardError::BadVariable {
                    var: "XPUCERT_SHARD_TOTAL",
                    value: String::new(),
                    what: "shard count (set it to the Job's `completions`)",
                })?;
            return Self::checked(index0 + 1, total, "JOB_COMPLETION_INDEX");
        }
        Err(ShardError::NoEnvironment)
    }

    fn parse_explicit(s: &str) -> Result<Self, ShardError> {
        if s == "auto" {
            return Err(ShardError::Syntax(s.into()));
        }
        Self::parse(s)
    }

    fn checked(index: usize, total: usize, var: &'static str) -> Result<Self, ShardError> {
        if index == 0 || total == 0 || index > total {
            return Err(ShardError::BadVariable {
                var,
                value: format!("{index} (of {total})"),
                what: "shard index within the shard count",
            });
        }
        Ok(ShardSpec { index, total })
    }
}

/// The expected cost of a case, as the split weighs it.
pub fn weight(case: &Case) -> f64 {
    case.cost().max(0.0) + CASE_OVERHEAD
}

/// The shard (0-based) of each weight: longest first to the lightest shard.
pub fn assign(weights: &[f64], total: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Stable sort: equal weights keep their run order, so the split depends
    // on nothing but the selected cases.
    order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]));
    let mut load = vec![0.0f64; total.max(1)];
    let mut shard = vec![0usize; weights.len()];
    for i in order {
        let (k, _) = load
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
            .expect("at least one shard");
        shard[i] = k;
        load[k] += weights[i];
    }
    shard
}

/// Keeps the cases of `spec`, in run order; returns them with the record
/// the shard's results file carries (positions filled in).
pub fn select<'a>(cases: &[&'a Case], spec: ShardSpec) -> (Vec<&'a Case>, ShardInfo) {
    let weights: Vec<f64> = cases.iter().map(|c| weight(c)).collect();
    let shard = assign(&weights, spec.total);
    let mut kept = Vec::new();
    let mut positions = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        if shard[i] + 1 == spec.index {
            kept.push(*c);
            positions.push(i);
        }
    }
    (
        kept,
        ShardInfo {
            index: spec.index,
            total: spec.total,
            rule: RULE.into(),
            selected_cases: cases.len(),
            positions,
        },
    )
}

/// The weight each shard gets, for reports of balance.
pub fn loads(cases: &[&Case], total: usize) -> Vec<f64> {
    let weights: Vec<f64> = cases.iter().map(|c| weight(c)).collect();
    let mut load = vec![0.0; total];
    for (i, k) in assign(&weights, total).into_iter().enumerate() {
        load[k] += weights[i];
    }
    load
}

/// The backend `--option`s of a command line, `KEY=VALUE` in order.
pub fn command_options(command: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = command.iter();
    while let Some(a) = it.next() {
        if a == "--option" {
            if let Some(v) = it.next() {
                out.push(v.clone());
            }
        } else if let Some(v) = a.strip_prefix("--option=") {
            out.push(v.to_string());
        }
    }
    out
}

/// Filters of a command line (`--filter`), in order.
fn command_filters(command: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = command.iter();
    while let Some(a) = it.next() {
        if a == "--filter" {
            if let Some(v) = it.next() {
                out.push(v.clone());
            }
        } else if let Some(v) = a.strip_prefix("--filter=") {
            out.push(v.to_string());
        }
    }
    out
}

fn suites_key(r: &ResultsFile) -> String {
    r.provenance
        .suites
        .iter()
        .map(|s| format!("{}@{}", s.name, s.sha256))
        .collect::<Vec<_>>()
        .join(",")
}

/// Joins shard results (`(name, file)` pairs) into the results of the
/// unsharded run: cases in its order, summary recomputed, wall time the
/// longest shard's, start the earliest, end the latest.
pub fn merge(files: &[(String, ResultsFile)]) -> Result<ResultsFile, ShardError> {
    let (first_name, first) = files.first().ok_or(ShardError::Empty)?;
    let same = |what: &'static str, f: &dyn Fn(&ResultsFile) -> String| -> Result<(), ShardError> {
        for (name, r) in &files[1..] {
            let (va, vb) = (f(first), f(r));
            if va != vb {
                return Err(ShardError::Mismatch {
                    a: first_name.clone(),
                    b: name.clone(),
                    what,
                    va,
                    vb,
                });
            }
        }
        Ok(())
    };
    same("schemas", &|r| {
        format!("{} v{}", r.schema, r.schema_version)
    })?;
    same("suites", &suites_key)?;
    same("backend libraries (sha256)", &|r| {
        r.provenance.backend_sha256.clone()
    })?;
    same("backend options", &|r| {
        command_options(&r.provenance.command).join(" ")
    })?;
    same("filters", &|r| {
        command_filters(&r.provenance.command).join(" ")
    })?;
    same("waiver files (sha256)", &|r| {
        r.provenance
            .waivers
            .as_ref()
            .map_or_else(|| "none".into(), |w| w.sha256.clone())
    })?;
    let mut by_index: BTreeMap<usize, &str> = BTreeMap::new();
    let mut total = None;
    let mut selected = None;
    for (name, r) in files {
        let s = r
            .shard
            .as_ref()
            .ok_or_else(|| ShardError::NotAShard(name.clone()))?;
        if *total.get_or_insert(s.total) != s.total {
            return Err(ShardError::Mismatch {
                a: first_name.clone(),
                b: name.clone(),
                what: "shard counts",
                va: total.unwrap_or(0).to_string(),
                vb: s.total.to_string(),
            });
        }
        if *selected.get_or_insert(s.selected_cases) != s.selected_cases {
            return Err(ShardError::Inconsistent(format!(
                "{name} says the run selects {} cases, another shard says {}",
                s.selected_cases,
                selected.unwrap_or(0)
            )));
        }
        if s.positions.len() != r.cases.len() {
            return Err(ShardError::Inconsistent(format!(
                "{name} has {} cases but {} positions",
                r.cases.len(),
                s.positions.len()
            )));
        }
        if let Some(prev) = by_index.insert(s.index, name) {
            return Err(ShardError::Overlap {
                index: s.index,
                total: s.total,
                a: prev.to_string(),
                b: name.clone(),
            });
        }
    }
    let total = total.unwrap_or(0);
    let missing: Vec<usize> = (1..=total).filter(|k| !by_index.contains_key(k)).collect();
    if !missing.is_empty() {
        return Err(ShardError::Missing { missing, total });
    }
    let selected = selected.unwrap_or(0);
    let mut slots: Vec<Option<(usize, crate::run::CaseResult)>> = vec![None; selected];
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (fi, (name, r)) in files.iter().enumerate() {
        let s = r.shard.as_ref().expect("checked above");
        for (pos, c) in s.positions.iter().zip(&r.cases) {
            if let Some(prev) = seen.insert(&c.id, name) {
                return Err(ShardError::CaseOverlap {
                    id: c.id.clone(),
                    a: prev.to_string(),
                    b: name.clone(),
                });
            }
            let slot = slots.get_mut(*pos).ok_or_else(|| {
                ShardError::Inconsistent(format!("{name}: position {pos} beyond {selected}"))
            })?;
            if slot.is_some() {
                return Err(ShardError::Inconsistent(format!(
                    "position {pos} filled twice ({} and {name})",
                    files[slot.as_ref().map_or(0, |s| s.0)].0
                )));
            }
            *slot = Some((fi, c.clone()));
        }
    }
    let holes: BTreeSet<usize> = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| i)
        .collect();
    if !holes.is_empty() {
        return Err(ShardError::Inconsistent(format!(
            "{} case position(s) not covered, first {}",
            holes.len(),
            holes.first().copied().unwrap_or(0)
        )));
    }
    let cases: Vec<_> = slots.into_iter().flatten().map(|(_, c)| c).collect();
    let wall = files
        .iter()
        .map(|(_, r)| r.summary.wall_seconds)
        .fold(0.0, f64::max);
    let mut summary = Summary::of(&cases, wall);
    if files.iter().any(|(_, r)| r.summary.interrupted) {
        summary = summary.interrupted();
    }
    let mut provenance = first.provenance.clone();
    provenance.started_at = files
        .iter()
        .map(|(_, r)| r.provenance.started_at.clone())
        .min()
        .unwrap_or_default();
    provenance.finished_at = files
        .iter()
        .map(|(_, r)| r.provenance.finished_at.clone())
        .max()
        .unwrap_or_default();
    provenance.command = strip_shard(&provenance.command);
    // Each shard saw only its cases: a waiver is unused only if no shard
    // used it.
    provenance.waivers = provenance.waivers.map(|w| w.renoted(&cases));
    let mut merged = ResultsFile {
        schema: first.schema.clone(),
        schema_version: first.schema_version,
        provenance,
        summary,
        cases,
        shard: None,
        required: None,
    };
    merged.required = merged.required_coverage();
    Ok(merged)
}

/// A command line without its `--shard` and `--out` arguments (what the
/// unsharded run would have been).
fn strip_shard(command: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = command.iter();
    while let Some(a) = it.next() {
        if a == "--shard" {
            it.next();
        } else if !a.starts_with("--shard=") {
            out.push(a.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_k_of_n() {
        assert_eq!(
            ShardSpec::parse("2/4").unwrap(),
            ShardSpec { index: 2, total: 4 }
        );
        for bad in ["0/4", "5/4", "1/0", "x/2", "3", ""] {
            assert!(ShardSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_gitlab_kubernetes_and_explicit() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            ShardSpec::from_env(env(&[("CI_NODE_INDEX", "3"), ("CI_NODE_TOTAL", "4")])).unwrap(),
            ShardSpec { index: 3, total: 4 }
        );
        assert_eq!(
            ShardSpec::from_env(env(&[
                ("JOB_COMPLETION_INDEX", "0"),
                ("XPUCERT_SHARD_TOTAL", "4")
            ]))
            .unwrap(),
            ShardSpec { index: 1, total: 4 }
        );
        assert_eq!(
            ShardSpec::from_env(env(&[("XPUCERT_SHARD", "4/4")])).unwrap(),
            ShardSpec { index: 4, total: 4 }
        );
        assert!(matches!(
            ShardSpec::from_env(env(&[])),
            Err(ShardError::NoEnvironment)
        ));
        assert!(ShardSpec::from_env(env(&[("JOB_COMPLETION_INDEX", "1")])).is_err());
        assert!(
            ShardSpec::from_env(env(&[
                ("JOB_COMPLETION_INDEX", "4"),
                ("XPUCERT_SHARD_TOTAL", "4")
            ]))
            .is_err()
        );
    }

    #[test]
    fn longest_first_balances() {
        let w = [10.0, 1.0, 1.0, 1.0, 9.0, 2.0, 7.0];
        let s = assign(&w, 3);
        let mut load = [0.0; 3];
        for (i, k) in s.iter().enumerate() {
            load[*k] += w[i];
        }
        // 10 | 9 + 1 | 7 + 2 + 1 + ... : no shard above 11.
        assert!(load.iter().all(|l| *l <= 11.0), "{load:?}");
        assert_eq!(s[0], 0);
        // deterministic
        assert_eq!(s, assign(&w, 3));
    }
}
