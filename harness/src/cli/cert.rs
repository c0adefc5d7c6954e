//! `certify`, `verify` and `keygen`.

use std::path::PathBuf;

use clap::Args;

use super::{ExitCode, Failure, parse_option};
use crate::cert::certify::{CertifyError, CertifyRequest, RerunError, RerunRequest, Source};
use crate::cert::sign::{self, SignatureCheck};
use crate::cert::{CertError, Verified};
use crate::report::live::SummaryReporter;
use crate::text::{escape, escape_line};

/// `xpucert certify`.
#[derive(Args, Debug)]
pub(super) struct CertifyArgs {
    /// Profile name (suites/profiles/NAME.yaml) or path.
    #[arg(long)]
    profile: String,
    /// Directory of the bundle.
    #[arg(long)]
    out: PathBuf,
    /// Backend to run (library path or bundled name); not with --results.
    #[arg(long, conflicts_with = "results")]
    backend: Option<String>,
    /// Backend option KEY=VALUE for the run (repeatable).
    #[arg(long = "option", value_parser = parse_option)]
    options: Vec<(String, String)>,
    /// Bundle this results.json (of an earlier `run --profile`) instead of running.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Sign certificate.json with this secret key (from `xpucert keygen`),
    /// writing certificate.sig.
    #[arg(long, value_name = "KEYFILE")]
    sign: Option<PathBuf>,
    /// Leave the library out of the bundle: record only its file name, size
    /// and sha256 (for a proprietary library).
    #[arg(long)]
    no_library: bool,
    /// Expected failures for the run (docs/waivers.md); the certificate
    /// lists the waivers that applied and bundles the file. Not with
    /// --results, whose run names its own waiver file.
    #[arg(long, conflicts_with = "results")]
    waivers: Option<PathBuf>,
}

/// Runs `certify`: 0 with a level, 1 without one.
pub(super) fn certify(a: CertifyArgs) -> Result<ExitCode, Failure> {
    let source = match (a.results, a.backend) {
        (Some(r), _) => Source::Results(r),
        (None, Some(backend)) => Source::Run {
            backend,
            options: a.options,
        },
        (None, None) => {
            return Err(Failure::usage(
                "certify needs --backend (to run) or --results (to bundle)",
            ));
        }
    };
    // A bad key is a usage error before any run, not after a long one.
    let key = a
        .sign
        .as_deref()
        .map(sign::read_secret)
        .transpose()
        .map_err(Failure::usage)?;
    let req = CertifyRequest {
        profile: a.profile,
        out: a.out,
        source,
        include_library: !a.no_library,
        sign: key,
        waivers: a.waivers,
    };
    let cert = match crate::cert::certify::certify(&req, &mut SummaryReporter) {
        Ok(cert) => cert,
        Err(e) => {
            let message = e.to_string();
            let code = match e {
                CertifyError::Cert(_) => ExitCode::Usage,
                CertifyError::Run(run) => {
                    // The run's own error first, then what it means here.
                    let inner = Failure::from(run);
                    eprintln!("xpucert: error: {}", escape(&inner.message));
                    inner.code
                }
                CertifyError::Interrupted => {
                    eprintln!("xpucert: {}", super::run::INTERRUPTED);
                    ExitCode::Interrupted
                }
            };
            return Err(Failure { code, message });
        }
    };
    println!(
        "{}",
        escape(&format!(
            "certificate: profile {}, backend {}, level {} -> {}",
            cert.profile,
            escape_line(&cert.backend_name),
            cert.level.describe(),
            req.out.join("certificate.json").display()
        ))
    );
    for b in &cert.level.blockers {
        println!("  not higher: {}", escape(b));
    }
    if !cert.library_included() {
        println!(
            "library: not included (sha256 {} only; --no-library)",
            cert.backend_sha256
        );
    }
    if let Some(key) = &req.sign {
        println!(
            "signed: {} by key {}",
            req.out.join(sign::SIG_FILE).display(),
            key.public().id()
        );
    }
    for w in &cert.waivers {
        println!(
            "  waiver: {}",
            escape(&format!(
                "`{}` ({}): {} ({}, expires {})",
                w.case, w.status, w.reason, w.link, w.expires
            ))
        );
    }
    Ok(ExitCode::verdict(cert.level.level >= 1))
}

/// `xpucert keygen`.
#[derive(Args, Debug)]
pub(super) struct KeygenArgs {
    /// The secret key file to write (mode 0600); the public key goes to
    /// KEYFILE.pub. Existing files are never overwritten.
    #[arg(long, value_name = "KEYFILE")]
    out: PathBuf,
}

/// Runs `keygen`: 0 written, 2 not.
pub(super) fn keygen(a: KeygenArgs) -> Result<ExitCode, Failure> {
    let public = sign::keygen(&a.out).map_err(Failure::usage)?;
    println!(
        "{}",
        escape(&format!(
            "key {}: secret key {} (keep it private), public key {}",
            public.id(),
            a.out.display(),
            sign::public_path(&a.out).display()
        ))
    );
    Ok(ExitCode::Success)
}

/// `xpucert verify`.
#[derive(Args, Debug)]
pub(super) struct VerifyArgs {
    /// A bundle directory written by `xpucert certify`.
    bundle: PathBuf,
    /// Public key (KEYFILE.pub of `xpucert keygen`): the bundle must be
    /// signed by it, checked before anything else.
    #[arg(long, value_name = "KEYFILE.pub")]
    pubkey: Option<PathBuf>,
    /// Also run the bundle's suites on --backend (a library with the
    /// certified sha256) and compare every case's status with the bundle's.
    #[arg(long, requires = "backend")]
    rerun: bool,
    /// The library to rerun (with --rerun).
    #[arg(long, requires = "rerun")]
    backend: Option<String>,
    /// Backend option KEY=VALUE for the rerun (repeatable; as certified).
    #[arg(long = "option", value_parser = parse_option, requires = "rerun")]
    options: Vec<(String, String)>,
    /// Directory of the rerun's results (default: a temporary directory,
    /// removed unless the statuses differ).
    #[arg(long, requires = "rerun")]
    out: Option<PathBuf>,
}

/// Cases listed by name when a rerun's statuses differ.
const LISTED_MISMATCHES: usize = 10;

/// Runs `verify`: 0 verified, 1 rejected, 2 unreadable (a bad key file).
pub(super) fn verify(a: VerifyArgs) -> Result<ExitCode, Failure> {
    let public = a
        .pubkey
        .as_deref()
        .map(sign::read_public)
        .transpose()
        .map_err(Failure::usage)?;
    let reject = |msg: &str| {
        eprintln!(
            "xpucert: REJECTED: bundle {} does not verify: {}",
            a.bundle.display(),
            escape(msg)
        );
        Ok(ExitCode::Failures)
    };
    let verified = match crate::cert::verify_with(&a.bundle, public.as_ref()) {
        Ok(v) => v,
        Err(e @ CertError::Rejected { .. }) => {
            eprintln!("xpucert: REJECTED: {}", escape(&e.to_string()));
            return Ok(ExitCode::Failures);
        }
        Err(e) => return Err(Failure::usage(e)),
    };
    print_verified(&verified);
    let Some(backend) = a.backend.filter(|_| a.rerun) else {
        return Ok(ExitCode::Success);
    };
    let (out, temporary) = match a.out {
        Some(out) => (out, false),
        None => (rerun_dir(), true),
    };
    let req = RerunRequest {
        backend,
        options: a.options,
        out: out.clone(),
    };
    let comparison = match crate::cert::certify::rerun(&verified, &req) {
        Ok(c) => c,
        Err(e) => {
            if temporary {
                let _ = std::fs::remove_dir_all(&out);
            }
            return match e {
                RerunError::WrongLibrary { .. } => reject(&format!("rerun: {e}")),
                RerunError::Library(m) => Err(Failure::usage(m)),
                RerunError::Run(run) => {
                    let inner = Failure::from(run);
                    Err(Failure {
                        code: inner.code,
                        message: format!("the rerun did not complete: {}", inner.message),
                    })
                }
                RerunError::Interrupted => {
                    eprintln!("xpucert: {}", super::run::INTERRUPTED);
                    Ok(ExitCode::Interrupted)
                }
            };
        }
    };
    println!(
        "rerun: {} has the certified sha256 {}",
        escape(&req.backend),
        verified.cert.backend_sha256
    );
    println!(
        "rerun: {} cases, {} with the certified status",
        comparison.cases, comparison.same
    );
    if !comparison.pass_warn.is_empty() {
        println!(
            "  {} cases pass on one side and warn on the other: equal (both conformant), e.g. {}",
            comparison.pass_warn.len(),
            escape_line(&comparison.pass_warn[0])
        );
    }
    if !comparison.timeouts.is_empty() {
        println!(
            "  {} cases timed out on one side: not compared (timing-dependent), e.g. {}",
            comparison.timeouts.len(),
            escape_line(&comparison.timeouts[0])
        );
    }
    if comparison.matches() {
        if temporary {
            let _ = std::fs::remove_dir_all(&out);
        }
        println!("rerun: statuses match the certificate");
        return Ok(ExitCode::Success);
    }
    let name = |s: Option<crate::run::Status>| s.map_or("absent", crate::run::Status::name);
    for m in comparison.mismatches.iter().take(LISTED_MISMATCHES) {
        println!(
            "  {}: certified {}, rerun {}",
            escape_line(&m.id),
            name(m.certified),
            name(m.rerun)
        );
    }
    let more = comparison
        .mismatches
        .len()
        .saturating_sub(LISTED_MISMATCHES);
    if more > 0 {
        println!("  ... and {more} more");
    }
    println!("rerun results kept in {}", out.display());
    reject(&format!(
        "rerun: {} of {} cases have another status than the certificate's",
        comparison.mismatches.len(),
        comparison.cases
    ))
}

/// The lines of a verified bundle: what was checked, and plainly what was
/// not (the signature without --pubkey, the library's bytes without it).
fn print_verified(v: &Verified) {
    let cert = &v.cert;
    match &v.signature {
        SignatureCheck::Verified { key_id } => {
            println!("signature: verified, key {}", escape_line(key_id))
        }
        SignatureCheck::NotChecked { key_id } => println!(
            "signature: NOT checked (signed by key {}; give --pubkey to check it)",
            escape_line(key_id)
        ),
        SignatureCheck::Unsigned => {
            println!(
                "signature: NOT checked: the bundle is unsigned (no {})",
                sign::SIG_FILE
            )
        }
    }
    println!(
        "{}",
        escape(&format!(
            "verified: {} files, profile {}, backend {} (sha256 {}), level {}",
            cert.files.len(),
            escape_line(&cert.profile),
            escape_line(&cert.backend_name),
            cert.backend_sha256,
            cert.level.describe()
        ))
    );
    if !cert.library_included() {
        let file = cert.library.as_ref().map_or("", |l| l.file.as_str());
        println!(
            "library: not included ({}); its bytes were NOT checked against sha256 {} (verify --rerun --backend LIB checks a copy)",
            escape_line(file),
            cert.backend_sha256
        );
    }
}

/// A fresh directory for a rerun's results under the system's temporary
/// directory.
fn rerun_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("xpucert-rerun-{}-{nanos}", std::process::id()))
}
