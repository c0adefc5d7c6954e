//! Certification profiles (`suites/profiles/NAME.yaml`) and the level a
//! results file reaches under one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CertError;
use crate::run::{ResultsFile, Status};

/// A required op and its dtypes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Required {
    /// ONNX op name.
    pub op: String,
    /// Case dtypes.
    pub dtypes: Vec<String>,
    /// Why the deployment needs it.
    #[serde(default)]
    pub why: String,
}

/// A model the profile needs (L3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelReq {
    /// Model name as in its model case (`ModelSummary::name`).
    pub name: String,
    /// The model suite that holds it.
    pub suite: PathBuf,
}

/// Measurement rule for L4.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThroughputRule {
    /// Minimum timed iterations per case.
    pub min_iterations: u64,
}

/// A certification profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name (`[a-z0-9_]+`).
    pub profile: String,
    /// What it certifies.
    #[serde(default)]
    pub description: String,
    /// Operator suites to run (paths from the repository root).
    pub suites: Vec<PathBuf>,
    /// The op x dtype set of L2.
    pub required: Vec<Required>,
    /// Models of L3.
    #[serde(default)]
    pub models: Vec<ModelReq>,
    /// The rule of L4.
    pub throughput: ThroughputRule,
    /// Fixture files or directories whose hashes go into the bundle.
    #[serde(default)]
    pub fixtures: Vec<PathBuf>,
}

impl Profile {
    /// The profile as a run records it: its name and required pairs.
    pub fn reference(&self) -> crate::run::required::ProfileRef {
        crate::run::required::ProfileRef {
            name: self.profile.clone(),
            required: self
                .required
                .iter()
                .map(|r| crate::run::required::RequiredOp {
                    op: r.op.clone(),
                    dtypes: r.dtypes.clone(),
                })
                .collect(),
        }
    }
}

/// Where profile NAME (`core`: `suites/profiles/core.yaml`) or a profile
/// path is, found as [`crate::home::profile`] finds it.
pub fn profile_path(name: &str) -> Result<PathBuf, CertError> {
    crate::home::profile(name).map_err(CertError::Other)
}

/// A suite path a profile lists: inside the data root the profile belongs
/// to (a profile at `ROOT/suites/profiles/` names `suites/ops/core.yaml`
/// of ROOT), else as `--suite` finds it (here, then the data roots; a name
/// such as `core` too).
fn profile_entry(profile_file: &Path, entry: &Path) -> Result<PathBuf, CertError> {
    if entry.is_relative()
        && let Some(p) = crate::home::root_of(profile_file)
            .map(|root| root.join(entry))
            .filter(|p| p.exists())
    {
        return Ok(p);
    }
    crate::home::suite(entry).map_err(|e| CertError::Profile {
        path: profile_file.display().to_string(),
        msg: e,
    })
}

/// Reads a profile file.
pub fn load_profile(path: &Path) -> Result<Profile, CertError> {
    let text =
        crate::files::read_text(path, 1 << 20, "a profile").map_err(|e| CertError::Profile {
            path: path.display().to_string(),
            msg: format!("cannot read: {e}"),
        })?;
    parse_profile(path, &text)
}

/// Parses profile text.
pub fn parse_profile(path: &Path, text: &str) -> Result<Profile, CertError> {
    let options = crate::suite::yaml_options();
    let p: Profile =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| CertError::Profile {
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
    if p.profile.is_empty()
        || !p
            .profile
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(CertError::Profile {
            path: path.display().to_string(),
            msg: format!("profile name `{}` must match [a-z0-9_]+", p.profile),
        });
    }
    for r in &p.required {
        if crate::ops::names().all(|n| n != r.op) {
            return Err(CertError::Profile {
                path: path.display().to_string(),
                msg: format!("required op `{}` is not in xpucert's op vocabulary", r.op),
            });
        }
        for d in &r.dtypes {
            if crate::numerics::DType::from_name(d).is_none() {
                return Err(CertError::Profile {
                    path: path.display().to_string(),
                    msg: format!(
                        "required dtype `{d}` of {} is not a dtype xpucert knows",
                        r.op
                    ),
                });
            }
        }
    }
    Ok(p)
}

/// A suite's digest and the files it reads: an op suite with its includes,
/// or a model suite (its file; the weights it names are pinned in it by
/// sha256 and were checked by the run).
pub(super) struct SuiteFiles {
    pub(super) sha256: String,
    pub(super) files: Vec<PathBuf>,
}

pub(super) fn suite_files(path: &Path) -> Result<SuiteFiles, crate::suite::SuiteError> {
    if crate::model::spec::is_model_suite(path) {
        let m = crate::model::spec::load(path)?;
        let file = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        return Ok(SuiteFiles {
            sha256: m.sha256,
            files: vec![file],
        });
    }
    let s = crate::suite::load(path)?;
    Ok(SuiteFiles {
        sha256: s.sha256,
        files: s.files,
    })
}

/// The suites `run --profile NAME` runs: the profile's operator suites and
/// those of its model suites that exist (a missing one is named on stderr:
/// its models then cannot reach L3); and the profile.
pub fn profile_suites(name: &str) -> Result<(Vec<PathBuf>, Profile), CertError> {
    let path = profile_path(name)?;
    let p = load_profile(&path)?;
    let mut suites = Vec::new();
    for s in &p.suites {
        suites.push(profile_entry(&path, s)?);
    }
    for m in &p.models {
        if let Ok(found) = profile_entry(&path, &m.suite) {
            if !suites.contains(&found) {
                suites.push(found);
            }
        } else {
            eprintln!(
                "xpucert: warning: profile {}: model suite {} (model {}) does not exist yet; L3 is out of reach",
                p.profile,
                m.suite.display(),
                m.name
            );
        }
    }
    Ok((suites, p))
}

/// A level and why the next one was not reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelReport {
    /// 0 (nothing) to 4.
    pub level: u8,
    /// Why each level above `level` was not reached (the first blocker of
    /// the next level, then later ones).
    pub blockers: Vec<String>,
    /// Cases of the required pairs and models that are `waived`: they did
    /// not block L2/L3, and the level is stated with them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waived: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl LevelReport {
    /// `L2`, or `none`.
    pub fn name(&self) -> String {
        if self.level == 0 {
            "none".into()
        } else {
            format!("L{}", self.level)
        }
    }

    /// The level with the waived cases it leans on: `L2 with 3 waived
    /// cases`, or just [`LevelReport::name`].
    pub fn describe(&self) -> String {
        match self.waived {
            0 => self.name(),
            1 => format!("{} with 1 waived case", self.name()),
            n => format!("{} with {n} waived cases", self.name()),
        }
    }
}

/// The level `results` reach under `profile`.
pub fn level(profile: &Profile, r: &ResultsFile) -> LevelReport {
    let mut blockers = Vec::new();
    // L1
    let manifest_ok = r.provenance.manifest.is_object();
    if r.cases.is_empty() || !manifest_ok {
        blockers.push(if r.cases.is_empty() {
            "L1: the run has no results".into()
        } else {
            "L1: the library returned no JSON manifest".into()
        });
        return LevelReport {
            level: 0,
            blockers,
            waived: 0,
        };
    }
    let mut level = 1;
    // A waived case (a failure the run's waiver file expects, still in
    // date when it ran) does not block L2 or L3; the level is stated with
    // the number of them (`describe`), and the certificate lists the
    // waivers.
    let conforms = |s: Status| matches!(s, Status::Pass | Status::Warn | Status::Waived);
    let mut waived = 0;
    // L2
    let mut l2 = Vec::new();
    if r.summary.interrupted {
        l2.push("L2: the run was interrupted".to_string());
    }
    let coverage = crate::run::required::RequiredCoverage::of(&profile.reference(), &r.cases);
    if !coverage.missing.is_empty() {
        l2.push(format!(
            "L2: {} of {} required op x dtype pairs not covered: {}",
            coverage.missing.len(),
            coverage.pairs,
            coverage.missing_list()
        ));
    }
    for req in &profile.required {
        for dt in &req.dtypes {
            let cases: Vec<_> = r
                .cases
                .iter()
                .filter(|c| c.model.is_none() && c.op == req.op && &c.dtype == dt)
                .collect();
            let missing = coverage
                .missing
                .iter()
                .any(|m| m.op == req.op && &m.dtype == dt);
            if missing {
                continue;
            }
            waived += cases.iter().filter(|c| c.status == Status::Waived).count();
            let bad: Vec<_> = cases.iter().filter(|c| !conforms(c.status)).collect();
            if let Some(first) = bad.first() {
                l2.push(format!(
                    "L2: {} x {dt}: {} of {} cases not conformant (first: {} {})",
                    req.op,
                    bad.len(),
                    cases.len(),
                    first.id,
                    first.status
                ));
            }
        }
    }
    let l2_ok = l2.is_empty();
    blockers.extend(l2);
    // L3
    let mut l3 = Vec::new();
    if profile.models.is_empty() {
        l3.push("L3: the profile names no model".to_string());
    }
    for m in &profile.models {
        let cases: Vec<_> = r
            .cases
            .iter()
            .filter(|c| c.model.as_ref().is_some_and(|s| s.name == m.name))
            .collect();
        waived += cases.iter().filter(|c| c.status == Status::Waived).count();
        if cases.is_empty() {
            l3.push(format!(
                "L3: no result for model {} ({})",
                m.name,
                m.suite.display()
            ));
        } else if let Some(c) = cases.iter().find(|c| !conforms(c.status)) {
            l3.push(format!("L3: model {}: {} is {}", m.name, c.id, c.status));
        }
    }
    let l3_ok = l3.is_empty();
    blockers.extend(l3);
    // L4
    let mut l4 = Vec::new();
    let min = profile.throughput.min_iterations;
    for req in &profile.required {
        for c in r
            .cases
            .iter()
            .filter(|c| c.model.is_none() && c.op == req.op && req.dtypes.contains(&c.dtype))
        {
            match &c.throughput {
                None => {
                    l4.push(format!("L4: {} has no throughput record", c.id));
                }
                Some(t) if t.iterations < min || (t.samples_s.len() as u64) < min => {
                    l4.push(format!(
                        "L4: {} measured {} iterations ({} samples), the rule needs {min}",
                        c.id,
                        t.iterations,
                        t.samples_s.len()
                    ));
                }
                Some(_) => {}
            }
        }
    }
    for c in r.cases.iter().filter(|c| c.model.is_some()) {
        let m = c.model.as_ref().expect("filtered");
        // An encoder has no decode phase: its prefill figure is its figure.
        let decodes = m.family != "bert";
        if m.prefill_tokens_per_s.is_none() || (decodes && m.decode_tokens_per_s.is_none()) {
            l4.push(format!(
                "L4: model case {} reports no prefill/decode tokens per second",
                c.id
            ));
        }
    }
    let l4_ok = l4.is_empty();
    // Report only the first few L4 blockers: one per case would drown the rest.
    let n4 = l4.len();
    blockers.extend(l4.into_iter().take(5));
    if n4 > 5 {
        blockers.push(format!(
            "L4: ... {} more cases without a conforming throughput record",
            n4 - 5
        ));
    }
    if l2_ok {
        level = 2;
        if l3_ok {
            level = 3;
            if l4_ok {
                level = 4;
            }
        }
    }
    LevelReport {
        level,
        blockers,
        waived,
    }
}
