//! Certification profiles, levels, and verifiable certificate bundles.
//!
//! A profile (`suites/profiles/NAME.yaml`) names the operator suites to run,
//! the op x dtype pairs a deployment needs, the model suites it must pass and
//! the measurement rule for throughput. Levels are cumulative:
//!
//! * **L1** loads and reports capabilities: the run has results and the
//!   library returned a JSON manifest.
//! * **L2** operator-conformant: every required op x dtype pair has at least
//!   one case, and every such case passed (or warned); the run was not
//!   interrupted.
//! * **L3** model-conformant: every model the profile names has a model case
//!   that passed. A profile that names no model cannot give L3.
//! * **L4** throughput reported under the measurement rules: every case of
//!   the required pairs carries a throughput record with at least
//!   `throughput.min_iterations` timed iterations and its samples, and every
//!   model case reports prefill and decode tokens per second.
//!
//! A bundle is a directory: `certificate.json` (the claim: profile, level,
//! provenance, and the sha256 of every other file), `results.json`, the
//! backend library under `backend/`, the profile, the suite files and the
//! fixtures the profile lists. `xpucert verify` re-hashes every file,
//! checks that the results name the bundled library and suites, recomputes
//! the level from the bundled results and profile, and refuses any
//! difference.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::run::{ResultsFile, Status};

/// Errors of profiles, bundles and verification.
#[derive(Debug, Error)]
pub enum CertError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A profile file is wrong.
    #[error("profile {path}: {msg}")]
    Profile {
        /// Path.
        path: String,
        /// What.
        msg: String,
    },
    /// A bundle does not verify.
    #[error("bundle {bundle} does not verify: {msg}")]
    Rejected {
        /// Bundle path.
        bundle: String,
        /// What is wrong.
        msg: String,
    },
    /// Anything else that prevents making a bundle.
    #[error("{0}")]
    Other(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.display().to_string(),
        source,
    }
}

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

/// Where profile NAME lives (a path is taken as given).
pub fn profile_path(name: &str) -> PathBuf {
    if name.ends_with(".yaml") || name.contains('/') {
        PathBuf::from(name)
    } else {
        PathBuf::from("suites/profiles").join(format!("{name}.yaml"))
    }
}

/// Reads a profile file.
pub fn load_profile(path: &Path) -> Result<Profile, CertError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    parse_profile(path, &text)
}

/// Parses profile text.
pub fn parse_profile(path: &Path, text: &str) -> Result<Profile, CertError> {
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
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
        if crate::op::names().all(|n| n != r.op) {
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
struct SuiteFiles {
    sha256: String,
    files: Vec<PathBuf>,
}

fn suite_files(path: &Path) -> Result<SuiteFiles, crate::suite::SuiteError> {
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
/// its models then cannot reach L3).
pub fn profile_suites(name: &str) -> Result<Vec<PathBuf>, CertError> {
    let path = profile_path(name);
    let p = load_profile(&path)?;
    let mut suites = p.suites.clone();
    for m in &p.models {
        if m.suite.exists() {
            if !suites.contains(&m.suite) {
                suites.push(m.suite.clone());
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
    Ok(suites)
}

/// A level and why the next one was not reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelReport {
    /// 0 (nothing) to 4.
    pub level: u8,
    /// Why each level above `level` was not reached (the first blocker of
    /// the next level, then later ones).
    pub blockers: Vec<String>,
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
        return LevelReport { level: 0, blockers };
    }
    let mut level = 1;
    // L2
    let mut l2 = Vec::new();
    if r.summary.interrupted {
        l2.push("L2: the run was interrupted".to_string());
    }
    for req in &profile.required {
        for dt in &req.dtypes {
            let cases: Vec<_> = r
                .cases
                .iter()
                .filter(|c| c.model.is_none() && c.op == req.op && &c.dtype == dt)
                .collect();
            if cases.is_empty() {
                l2.push(format!("L2: no case of {} x {dt} in the results", req.op));
                continue;
            }
            let bad: Vec<_> = cases
                .iter()
                .filter(|c| !matches!(c.status, Status::Pass | Status::Warn))
                .collect();
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
        if cases.is_empty() {
            l3.push(format!(
                "L3: no result for model {} ({})",
                m.name,
                m.suite.display()
            ));
        } else if let Some(c) = cases
            .iter()
            .find(|c| !matches!(c.status, Status::Pass | Status::Warn))
        {
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
    LevelReport { level, blockers }
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    /// Path inside the bundle, `/`-separated.
    pub path: String,
    /// What it is: `results`, `library`, `profile`, `suite`, `fixture`.
    pub role: String,
    /// sha256 hex.
    pub sha256: String,
}

/// `certificate.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    /// Always `xpucert.certificate`.
    pub schema: String,
    /// 1.
    pub schema_version: u32,
    /// Profile name.
    pub profile: String,
    /// The level claimed and why not higher.
    pub level: LevelReport,
    /// Backend self-reported name.
    pub backend_name: String,
    /// sha256 of the library (same as its file entry).
    pub backend_sha256: String,
    /// The backend's manifest (driver and firmware versions live here).
    pub manifest: serde_json::Value,
    /// xpucert version and commit that made the results.
    pub harness_version: String,
    /// Commit, when known.
    pub harness_commit: Option<String>,
    /// Results summary.
    pub summary: crate::run::Summary,
    /// Every file of the bundle but this one.
    pub files: Vec<BundleFile>,
    /// When the bundle was made.
    pub created_at: String,
}

/// The certificate's schema name.
pub const CERT_SCHEMA: &str = "xpucert.certificate";

fn sha_file(path: &Path) -> Result<String, CertError> {
    crate::digest::sha256_file(path).map_err(io(path))
}

/// A relative, `/`-separated path inside a bundle for a source path (a
/// relative path as given, an absolute path by its file name under `abs/`).
fn inside(prefix: &str, src: &Path) -> String {
    let rel: Vec<String> = src
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if src.is_absolute() {
        format!("{prefix}/abs/{}", rel.join("/"))
    } else {
        format!("{prefix}/{}", rel.join("/"))
    }
}

fn copy_in(
    dir: &Path,
    rel: &str,
    src: &Path,
    role: &str,
    files: &mut Vec<BundleFile>,
) -> Result<(), CertError> {
    if files.iter().any(|f| f.path == rel) {
        return Ok(());
    }
    let dst = dir.join(rel);
    if let Some(p) = dst.parent() {
        std::fs::create_dir_all(p).map_err(io(p))?;
    }
    std::fs::copy(src, &dst).map_err(io(src))?;
    files.push(BundleFile {
        path: rel.to_string(),
        role: role.to_string(),
        sha256: sha_file(&dst)?,
    });
    Ok(())
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), CertError> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io(path))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            walk(&e, out)?;
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Writes a bundle for `results` (read from `results_path`) under
/// `profile` (read from `profile_file`) into `dir`. The library is the one
/// the results name; it must still hash to what they recorded.
pub fn write_bundle(
    dir: &Path,
    profile_file: &Path,
    results_path: &Path,
) -> Result<Certificate, CertError> {
    let profile = load_profile(profile_file)?;
    let bytes = std::fs::read(results_path).map_err(io(results_path))?;
    let results: ResultsFile = serde_json::from_slice(&bytes).map_err(|e| {
        CertError::Other(format!(
            "{}: not a results file: {e}",
            results_path.display()
        ))
    })?;
    if results.shard.is_some() {
        return Err(CertError::Other(format!(
            "{} holds one shard; `xpucert merge` the shards first",
            results_path.display()
        )));
    }
    let lib = PathBuf::from(&results.provenance.backend_path);
    let lib_sha = sha_file(&lib)?;
    if lib_sha != results.provenance.backend_sha256 {
        return Err(CertError::Other(format!(
            "{} changed since the run (sha256 {} now, {} in the results)",
            lib.display(),
            lib_sha,
            results.provenance.backend_sha256
        )));
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut files = Vec::new();
    copy_in(dir, "results.json", results_path, "results", &mut files)?;
    let lib_name = lib
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backend.so".into());
    copy_in(
        dir,
        &format!("backend/{lib_name}"),
        &lib,
        "library",
        &mut files,
    )?;
    copy_in(dir, "profile.yaml", profile_file, "profile", &mut files)?;
    for s in &results.provenance.suites {
        let suite = suite_files(Path::new(&s.path)).map_err(|e| {
            CertError::Other(format!("cannot read suite {} for the bundle: {e}", s.path))
        })?;
        if suite.sha256 != s.sha256 {
            return Err(CertError::Other(format!(
                "suite {} changed since the run (sha256 {} now, {} in the results)",
                s.path, suite.sha256, s.sha256
            )));
        }
        let root = Path::new(&s.path)
            .parent()
            .unwrap_or(Path::new(""))
            .canonicalize()
            .ok();
        for f in &suite.files {
            // Keep paths relative to the root suite's directory so includes
            // resolve inside the bundle as they did in the run.
            let rel_to_root = root
                .as_ref()
                .and_then(|r| f.strip_prefix(r).ok())
                .map(|p| Path::new(&s.path).parent().unwrap_or(Path::new("")).join(p))
                .unwrap_or_else(|| f.clone());
            copy_in(dir, &inside("suites", &rel_to_root), f, "suite", &mut files)?;
        }
    }
    for fx in &profile.fixtures {
        let mut all = Vec::new();
        walk(fx, &mut all)?;
        for f in all {
            copy_in(dir, &inside("fixtures", &f), &f, "fixture", &mut files)?;
        }
    }
    let cert = Certificate {
        schema: CERT_SCHEMA.into(),
        schema_version: 1,
        profile: profile.profile.clone(),
        level: level(&profile, &results),
        backend_name: results.provenance.backend_name.clone(),
        backend_sha256: lib_sha,
        manifest: results.provenance.manifest.clone(),
        harness_version: results.provenance.harness_version.clone(),
        harness_commit: results.provenance.harness_commit.clone(),
        summary: results.summary.clone(),
        files,
        created_at: crate::run::utc_now(),
    };
    let path = dir.join("certificate.json");
    let text = serde_json::to_string_pretty(&cert).map_err(|e| CertError::Other(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(io(&path))?;
    Ok(cert)
}

/// Verifies a bundle: every listed file hashes as listed, no file is
/// missing, the results name the bundled library and suites, and the level
/// recomputed from the bundled results and profile is the one claimed.
pub fn verify(dir: &Path) -> Result<Certificate, CertError> {
    let reject = |msg: String| CertError::Rejected {
        bundle: dir.display().to_string(),
        msg,
    };
    let cpath = dir.join("certificate.json");
    let cert: Certificate = serde_json::from_slice(&std::fs::read(&cpath).map_err(io(&cpath))?)
        .map_err(|e| reject(format!("certificate.json is not a certificate: {e}")))?;
    if cert.schema != CERT_SCHEMA || cert.schema_version != 1 {
        return Err(reject(format!(
            "unknown certificate schema {} v{}",
            cert.schema, cert.schema_version
        )));
    }
    let mut by_role: BTreeMap<&str, Vec<&BundleFile>> = BTreeMap::new();
    for f in &cert.files {
        if f.path.split('/').any(|c| c == ".." || c.is_empty()) || f.path.starts_with('/') {
            return Err(reject(format!("file path `{}` leaves the bundle", f.path)));
        }
        let p = dir.join(&f.path);
        let got = sha_file(&p).map_err(|e| reject(format!("{}: {e}", f.path)))?;
        if got != f.sha256 {
            return Err(reject(format!(
                "{} ({}) has sha256 {got}, the certificate says {}",
                f.path, f.role, f.sha256
            )));
        }
        by_role.entry(f.role.as_str()).or_default().push(f);
    }
    let one = |role: &str| -> Result<&BundleFile, CertError> {
        match by_role.get(role).map(Vec::as_slice) {
            Some([f]) => Ok(f),
            _ => Err(reject(format!(
                "the bundle must hold exactly one {role} file"
            ))),
        }
    };
    let results_f = one("results")?;
    let lib_f = one("library")?;
    let profile_f = one("profile")?;
    let results: ResultsFile = serde_json::from_slice(
        &std::fs::read(dir.join(&results_f.path)).map_err(io(&dir.join(&results_f.path)))?,
    )
    .map_err(|e| reject(format!("results.json does not parse: {e}")))?;
    if results.provenance.backend_sha256 != lib_f.sha256 || cert.backend_sha256 != lib_f.sha256 {
        return Err(reject(format!(
            "the results were made with library sha256 {}, the bundled library is {}",
            results.provenance.backend_sha256, lib_f.sha256
        )));
    }
    for s in &results.provenance.suites {
        let rel = inside("suites", Path::new(&s.path));
        let suite = suite_files(&dir.join(&rel))
            .map_err(|e| reject(format!("bundled suite {rel}: {e}")))?;
        if suite.sha256 != s.sha256 {
            return Err(reject(format!(
                "bundled suite {rel} has sha256 {}, the results ran {}",
                suite.sha256, s.sha256
            )));
        }
    }
    let profile = load_profile(&dir.join(&profile_f.path))?;
    if profile.profile != cert.profile {
        return Err(reject(format!(
            "certificate claims profile {}, bundled profile is {}",
            cert.profile, profile.profile
        )));
    }
    let recomputed = level(&profile, &results);
    if recomputed.level != cert.level.level {
        return Err(reject(format!(
            "certificate claims {}, the bundled results reach {}",
            cert.level.name(),
            recomputed.name()
        )));
    }
    if results.summary != cert.summary || results.provenance.manifest != cert.manifest {
        return Err(reject(
            "certificate summary or manifest differs from results.json".into(),
        ));
    }
    Ok(cert)
}
