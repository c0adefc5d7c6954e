//! Certificate bundles: writing one (the results, the library, the profile,
//! the suites and the fixtures, each with its sha256) and verifying one
//! (its signature first when a public key is given).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::profile::{LevelReport, level, load_profile, suite_files};
use super::sign::{self, PublicKey, SignatureCheck};
use super::{CertError, io};
use crate::run::ResultsFile;

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
    /// The backend library: file name, size, sha256, and whether its bytes
    /// are in the bundle (`certify --no-library` leaves them out). Absent
    /// in certificates made before it existed, whose library is always
    /// bundled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<LibraryRecord>,
    /// The waivers that applied (each waived at least one case), in the
    /// order of the run's waiver file, which the bundle holds as
    /// `waivers.yaml` (role `waivers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<crate::run::waivers::Waiver>,
}

/// What a certificate says about the backend library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryRecord {
    /// File name of the library that ran.
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256 (the certificate's `backend_sha256`).
    pub sha256: String,
    /// Whether the bundle holds the library (as its `library` file);
    /// false for a proprietary library whose hash alone is certified.
    pub included: bool,
}

impl Certificate {
    /// Whether the bundle holds the library's bytes.
    pub fn library_included(&self) -> bool {
        self.library.as_ref().is_none_or(|l| l.included)
    }
}

/// How to write a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleOptions {
    /// Copy the library into the bundle (else only its name, size and
    /// sha256 are recorded: `certify --no-library`).
    pub include_library: bool,
}

impl Default for BundleOptions {
    fn default() -> Self {
        BundleOptions {
            include_library: true,
        }
    }
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

/// Every file under `path` (or `path` itself), sorted. A symlink to a file
/// is taken as that file (its content is what gets copied); a symlink to a
/// directory is refused, since following it could leave the fixture tree
/// or loop.
fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), CertError> {
    let meta = std::fs::symlink_metadata(path).map_err(io(path))?;
    if meta.file_type().is_symlink() && path.is_dir() {
        return Err(CertError::Other(format!(
            "{} is a symlink to a directory; list the directory itself as a fixture",
            path.display()
        )));
    }
    if meta.is_dir() {
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
    write_bundle_with(dir, profile_file, results_path, BundleOptions::default())
}

/// [`write_bundle`] with options. A `certificate.sig` left in `dir` by an
/// earlier certification is removed: it signs another certificate.
pub fn write_bundle_with(
    dir: &Path,
    profile_file: &Path,
    results_path: &Path,
    options: BundleOptions,
) -> Result<Certificate, CertError> {
    let profile = load_profile(profile_file)?;
    let bytes = std::fs::read(results_path).map_err(io(results_path))?;
    let results: ResultsFile = serde_json::from_slice(&bytes).map_err(|e| {
        CertError::Other(format!(
            "{}: not a results file: {e}",
            results_path.display()
        ))
    })?;
    if let Some(m) = results.summary_mismatch() {
        return Err(CertError::Other(format!(
            "{}: {m}; a certificate needs a consistent results file (rerun, or `xpucert merge` shards again)",
            results_path.display()
        )));
    }
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
    let lib_size = std::fs::metadata(&lib).map_err(io(&lib))?.len();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let stale_sig = dir.join(sign::SIG_FILE);
    if std::fs::symlink_metadata(&stale_sig).is_ok() {
        std::fs::remove_file(&stale_sig).map_err(io(&stale_sig))?;
    }
    let mut files = Vec::new();
    copy_in(dir, "results.json", results_path, "results", &mut files)?;
    let lib_name = lib
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backend.so".into());
    let lib_rel = format!("backend/{lib_name}");
    if options.include_library {
        copy_in(dir, &lib_rel, &lib, "library", &mut files)?;
    } else {
        // A library copied here by an earlier certification would travel
        // with a bundle meant to hold its hash only.
        let stale = dir.join(&lib_rel);
        if std::fs::symlink_metadata(&stale).is_ok() {
            std::fs::remove_file(&stale).map_err(io(&stale))?;
        }
    }
    copy_in(dir, "profile.yaml", profile_file, "profile", &mut files)?;
    for s in &results.provenance.suites {
        // A suite of a data root is named by its path inside the root.
        let found = crate::home::find(Path::new(&s.path));
        let path = found.as_deref().unwrap_or(Path::new(&s.path));
        let suite = suite_files(path).map_err(|e| {
            CertError::Other(format!("cannot read suite {} for the bundle: {e}", s.path))
        })?;
        if suite.sha256 != s.sha256 {
            return Err(CertError::Other(format!(
                "suite {} changed since the run (sha256 {} now, {} in the results)",
                s.path, suite.sha256, s.sha256
            )));
        }
        let root = path.parent().unwrap_or(Path::new("")).canonicalize().ok();
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
    bundle_waivers(dir, &results, &mut files)?;
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
        backend_sha256: lib_sha.clone(),
        manifest: results.provenance.manifest.clone(),
        harness_version: results.provenance.harness_version.clone(),
        harness_commit: results.provenance.harness_commit.clone(),
        summary: results.summary.clone(),
        files,
        created_at: crate::run::utc_now(),
        library: Some(LibraryRecord {
            file: lib_name,
            size: lib_size,
            sha256: lib_sha,
            included: options.include_library,
        }),
        waivers: applied_waivers(&results),
    };
    let path = dir.join("certificate.json");
    let text = crate::text::to_json_pretty(&cert).map_err(|e| CertError::Other(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(io(&path))?;
    Ok(cert)
}

/// `rel`, a path a certificate lists, as a path inside `dir`: relative,
/// `/`-separated, without `.`, `..` or empty components, and a regular file
/// reached without any symlink (a symlink could point anywhere, so the
/// bytes hashed would not be the bundle's). The message says which rule
/// broke.
fn confined(dir: &Path, rel: &str) -> Result<PathBuf, String> {
    if rel.starts_with('/') || rel.contains('\\') {
        return Err(format!(
            "file path `{rel}` leaves the bundle (absolute path)"
        ));
    }
    let mut p = dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || *part == "." || *part == ".." {
            return Err(format!(
                "file path `{rel}` leaves the bundle (`{part}` component)"
            ));
        }
        p.push(part);
        let meta =
            std::fs::symlink_metadata(&p).map_err(|e| format!("{rel}: {}: {e}", p.display()))?;
        if meta.file_type().is_symlink() {
            return Err(format!(
                "{rel}: {} is a symlink; a bundle holds its files themselves",
                p.display()
            ));
        }
        let last = i + 1 == parts.len();
        if last && !meta.is_file() {
            return Err(format!("{rel} is not a regular file"));
        }
        if !last && !meta.is_dir() {
            return Err(format!("{rel}: {} is not a directory", p.display()));
        }
    }
    Ok(p)
}

/// A bundle's JSON file, read only if it is a regular file of at most
/// `files::MAX_RESULTS_BYTES`.
fn read_capped(path: &Path) -> Result<Vec<u8>, CertError> {
    crate::files::read_regular(path, crate::files::MAX_RESULTS_BYTES, "a bundle file")
        .map_err(|e| io(path)(e.into_io()))
}

/// A bundle that verified, and what its verification did not cover.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The certificate.
    pub cert: Certificate,
    /// Whether its signature was checked, and by which key.
    pub signature: SignatureCheck,
    /// The bundled results (what `verify --rerun` compares with).
    pub results: ResultsFile,
    /// The bundled suite files the results ran, in their order (what
    /// `verify --rerun` runs).
    pub suites: Vec<PathBuf>,
}

/// Verifies a bundle without checking its signature: see [`verify_with`].
pub fn verify(dir: &Path) -> Result<Certificate, CertError> {
    verify_with(dir, None).map(|v| v.cert)
}

/// Verifies a bundle: with `public`, first that `certificate.sig` is that
/// key's signature of `certificate.json` (the bytes then parsed, read
/// once); then that no listed path leaves the bundle or passes through a
/// symlink, every listed file hashes as listed, no file is missing, the
/// results name the bundled library (or, for a bundle without it, the
/// certified hash) and suites, and the level recomputed from the bundled
/// results and profile is the one claimed.
pub fn verify_with(dir: &Path, public: Option<&PublicKey>) -> Result<Verified, CertError> {
    let reject = |msg: String| CertError::Rejected {
        bundle: dir.display().to_string(),
        msg,
    };
    let cpath = confined(dir, "certificate.json").map_err(reject)?;
    let cert_bytes = read_capped(&cpath)?;
    let signature = sign::check(dir, &cert_bytes, public).map_err(reject)?;
    let cert: Certificate = serde_json::from_slice(&cert_bytes)
        .map_err(|e| reject(format!("certificate.json is not a certificate: {e}")))?;
    if cert.schema != CERT_SCHEMA || cert.schema_version != 1 {
        return Err(reject(format!(
            "unknown certificate schema {} v{}",
            cert.schema, cert.schema_version
        )));
    }
    let mut by_role: BTreeMap<&str, Vec<&BundleFile>> = BTreeMap::new();
    for f in &cert.files {
        let p = confined(dir, &f.path).map_err(reject)?;
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
    let profile_f = one("profile")?;
    let results_path = dir.join(&results_f.path);
    let results: ResultsFile = serde_json::from_slice(&read_capped(&results_path)?)
        .map_err(|e| reject(format!("results.json does not parse: {e}")))?;
    if let Some(l) = cert
        .library
        .as_ref()
        .filter(|l| l.sha256 != cert.backend_sha256)
    {
        return Err(reject(format!(
            "the certificate's library record says sha256 {}, its backend_sha256 is {}",
            l.sha256, cert.backend_sha256
        )));
    }
    if cert.library_included() {
        let lib_f = one("library")?;
        if results.provenance.backend_sha256 != lib_f.sha256 || cert.backend_sha256 != lib_f.sha256
        {
            return Err(reject(format!(
                "the results were made with library sha256 {}, the bundled library is {}",
                results.provenance.backend_sha256, lib_f.sha256
            )));
        }
        if let Some(l) = &cert.library {
            let size = std::fs::metadata(dir.join(&lib_f.path))
                .map_err(io(dir))?
                .len();
            if l.size != size {
                return Err(reject(format!(
                    "the certificate says the library is {} bytes, {} has {size}",
                    l.size, lib_f.path
                )));
            }
        }
    } else {
        if let Some(f) = by_role.get("library").and_then(|v| v.first()) {
            return Err(reject(format!(
                "the certificate says the library is not included, yet lists {} as the library",
                f.path
            )));
        }
        if results.provenance.backend_sha256 != cert.backend_sha256 {
            return Err(reject(format!(
                "the results were made with library sha256 {}, the certificate certifies {}",
                results.provenance.backend_sha256, cert.backend_sha256
            )));
        }
    }
    let root = dir.canonicalize().map_err(io(dir))?;
    let mut suites = Vec::new();
    for s in &results.provenance.suites {
        let rel = inside("suites", Path::new(&s.path));
        suites.push(confined(dir, &rel).map_err(reject)?);
        let suite = suite_files(&dir.join(&rel))
            .map_err(|e| reject(format!("bundled suite {rel}: {e}")))?;
        // Includes are read too: each must be a file of the bundle.
        for f in &suite.files {
            let inside = f
                .strip_prefix(&root)
                .ok()
                .and_then(|r| r.to_str())
                .map(|r| r.replace(std::path::MAIN_SEPARATOR, "/"))
                .filter(|r| cert.files.iter().any(|b| &b.path == r));
            if inside.is_none() {
                return Err(reject(format!(
                    "bundled suite {rel} reads {}, which is not a file of the bundle",
                    f.display()
                )));
            }
        }
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
    // After the level: a claim that no longer follows is the clearer
    // message when both are wrong.
    if let Some(m) = results.summary_mismatch() {
        return Err(reject(format!("{}: {m}", results_f.path)));
    }
    if results.summary != cert.summary || results.provenance.manifest != cert.manifest {
        return Err(reject(
            "certificate summary or manifest differs from results.json".into(),
        ));
    }
    check_waivers(
        dir,
        &cert,
        &results,
        by_role.get("waivers").map(Vec::as_slice),
    )
    .map_err(reject)?;
    Ok(Verified {
        cert,
        signature,
        results,
        suites,
    })
}

/// Where a bundle keeps the run's waiver file.
const WAIVERS_FILE: &str = "waivers.yaml";

/// Copies the run's waiver file into the bundle, if it had one; it must
/// still hash to what the results recorded.
fn bundle_waivers(
    dir: &Path,
    results: &ResultsFile,
    files: &mut Vec<BundleFile>,
) -> Result<(), CertError> {
    let Some(w) = &results.provenance.waivers else {
        return Ok(());
    };
    let src = Path::new(&w.path);
    let sha = sha_file(src)?;
    if sha != w.sha256 {
        return Err(CertError::Other(format!(
            "waiver file {} changed since the run (sha256 {sha} now, {} in the results)",
            w.path, w.sha256
        )));
    }
    copy_in(dir, WAIVERS_FILE, src, "waivers", files)
}

/// The waivers that waived a case of `results`, in file order.
fn applied_waivers(results: &ResultsFile) -> Vec<crate::run::waivers::Waiver> {
    let Some(w) = &results.provenance.waivers else {
        return Vec::new();
    };
    w.entries
        .iter()
        .filter(|e| {
            results
                .cases
                .iter()
                .any(|c| c.status == crate::run::Status::Waived && c.waiver.as_ref() == Some(*e))
        })
        .cloned()
        .collect()
}

/// The waivers of a bundle hold: the bundled waiver file (already hashed
/// as listed) is the one the results name and says what they recorded,
/// every waived case is waived by one of its entries (its glob matches,
/// its status is the case's, it was in date on the day the run judged),
/// and the certificate lists exactly the entries that applied.
fn check_waivers(
    dir: &Path,
    cert: &Certificate,
    results: &ResultsFile,
    bundled: Option<&[&BundleFile]>,
) -> Result<(), String> {
    use crate::run::Status;
    use crate::run::waivers::Waivers;
    let waived = || results.cases.iter().filter(|c| c.status == Status::Waived);
    let Some(record) = &results.provenance.waivers else {
        if let Some(c) = waived().next() {
            return Err(format!(
                "case {} is waived, but the results name no waiver file",
                c.id
            ));
        }
        if bundled.is_some() || !cert.waivers.is_empty() {
            return Err("the certificate lists waivers the results do not name".into());
        }
        return Ok(());
    };
    let file = match bundled {
        Some([f]) => f,
        _ => return Err("the bundle must hold exactly one waivers file".into()),
    };
    if file.sha256 != record.sha256 {
        return Err(format!(
            "the bundled waiver file has sha256 {}, the results were judged with {}",
            file.sha256, record.sha256
        ));
    }
    let text =
        std::fs::read_to_string(dir.join(&file.path)).map_err(|e| format!("{}: {e}", file.path))?;
    let parsed = Waivers::parse(Path::new(&file.path), &text, record.judged_on.clone())
        .map_err(|e| format!("bundled waiver file {e}"))?;
    if parsed.entries != record.entries {
        return Err(
            "the bundled waiver file's entries differ from those the results recorded".into(),
        );
    }
    for c in waived() {
        let ok = c.waiver.as_ref().is_some_and(|w| {
            parsed.entries.contains(w)
                && crate::run::glob_match(&w.case, &c.id)
                && !parsed.expired(w)
        });
        if !ok {
            return Err(format!(
                "case {} is waived, but no in-date entry of the bundled waiver file waives it",
                c.id
            ));
        }
    }
    if cert.waivers != applied_waivers(results) {
        return Err("the certificate's waivers differ from those its results applied".into());
    }
    Ok(())
}
