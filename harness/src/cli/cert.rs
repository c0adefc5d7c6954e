//! `certify` and `verify`.

use std::path::PathBuf;

use clap::Args;

use super::{ExitCode, Failure, parse_option};
use crate::cert::certify::{CertifyError, CertifyRequest, Source};
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
    let req = CertifyRequest {
        profile: a.profile,
        out: a.out,
        source,
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

/// `xpucert verify`.
#[derive(Args, Debug)]
pub(super) struct VerifyArgs {
    /// A bundle directory written by `xpucert certify`.
    bundle: PathBuf,
}

/// Runs `verify`: 0 verified, 1 rejected, 2 unreadable.
pub(super) fn verify(a: VerifyArgs) -> Result<ExitCode, Failure> {
    match crate::cert::verify(&a.bundle) {
        Ok(cert) => {
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
            Ok(ExitCode::Success)
        }
        Err(e @ crate::cert::CertError::Rejected { .. }) => {
            eprintln!("xpucert: REJECTED: {}", escape(&e.to_string()));
            Ok(ExitCode::Failures)
        }
        Err(e) => Err(Failure::usage(e)),
    }
}
