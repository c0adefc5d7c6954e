//! The report commands of the CLI: `merge`, `gate`, `matrix`, `report`,
//! `certify`, `verify`. `cli.rs` only declares them and dispatches here.
//!
//! Exit codes as everywhere: 0 success, 1 a verdict against (gate failed,
//! no level reached), 2 usage or input error, 3 the backend could not be
//! loaded (certify).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::run::{ResultsFile, results};

/// A failure with its exit code (mapped to the CLI's own type).
#[derive(Debug)]
pub struct CmdFailure {
    /// Exit code.
    pub code: u8,
    /// One-line message.
    pub message: String,
}

fn fail(message: impl Into<String>) -> CmdFailure {
    CmdFailure {
        code: 2,
        message: message.into(),
    }
}

/// Reads a results.json and checks its schema.
pub fn read_results(path: &Path) -> Result<ResultsFile, CmdFailure> {
    let bytes =
        std::fs::read(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| fail(format!("{} is not JSON: {e}", path.display())))?;
    let schema = v.get("schema").and_then(|s| s.as_str()).unwrap_or("");
    let version = v
        .get("schema_version")
        .and_then(|s| s.as_u64())
        .unwrap_or(0);
    if schema != results::SCHEMA {
        return Err(fail(format!(
            "{} is not an xpucert results file (schema `{schema}`)",
            path.display()
        )));
    }
    if version != u64::from(results::SCHEMA_VERSION) {
        return Err(fail(format!(
            "{} has schema version {version}; this xpucert reads version {} (rerun it with this xpucert)",
            path.display(),
            results::SCHEMA_VERSION
        )));
    }
    serde_json::from_value(v).map_err(|e| fail(format!("{}: {e}", path.display())))
}

fn write_or_print(out: Option<&Path>, text: &str) -> Result<(), CmdFailure> {
    match out {
        Some(p) => {
            if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(d)
                    .map_err(|e| fail(format!("cannot create {}: {e}", d.display())))?;
            }
            std::fs::write(p, text).map_err(|e| fail(format!("cannot write {}: {e}", p.display())))
        }
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// `xpucert merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' results.json files, in any order.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Where to write the merged results.json.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `merge`.
pub fn merge(a: MergeArgs) -> Result<u8, CmdFailure> {
    let mut files = Vec::new();
    for p in &a.results {
        files.push((p.display().to_string(), read_results(p)?));
    }
    let merged = super::shard::merge(&files).map_err(|e| fail(e.to_string()))?;
    if let Some(d) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d)
            .map_err(|e| fail(format!("cannot create {}: {e}", d.display())))?;
    }
    merged
        .write(&a.out)
        .map_err(|e| fail(format!("cannot write {}: {e}", a.out.display())))?;
    println!(
        "merged {} shards: {} cases -> {}",
        files.len(),
        merged.cases.len(),
        a.out.display()
    );
    println!("{}", crate::report::verdict_line(&merged));
    Ok(0)
}

/// `xpucert gate`.
#[derive(Args, Debug)]
pub struct GateArgs {
    /// The baseline results.json (e.g. from the main branch).
    #[arg(long)]
    baseline: PathBuf,
    /// The results.json of the change.
    #[arg(long)]
    current: PathBuf,
    /// Allowed median slowdown in percent (a slowdown must also clear the
    /// noise: current p10 slower than baseline p90).
    #[arg(long, default_value_t = 10.0)]
    max_slowdown: f64,
    /// Allowed growth of a passing case's worst headroom (absolute).
    #[arg(long, default_value_t = 0.25)]
    max_headroom_growth: f64,
    /// Rows shown per table.
    #[arg(long, default_value_t = 30)]
    limit: usize,
    /// Also write the comparison as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Runs `gate`.
pub fn gate(a: GateArgs) -> Result<u8, CmdFailure> {
    if !(a.max_slowdown >= 0.0 && a.max_headroom_growth >= 0.0) {
        return Err(fail(
            "--max-slowdown and --max-headroom-growth must be >= 0",
        ));
    }
    let base = read_results(&a.baseline)?;
    let cur = read_results(&a.current)?;
    let rules = super::gate::GateRules {
        max_slowdown_pct: a.max_slowdown,
        max_headroom_growth: a.max_headroom_growth,
    };
    let report = super::gate::gate(&base, &cur, rules).map_err(|e| fail(e.to_string()))?;
    print!("{}", report.render(a.limit));
    if let Some(p) = &a.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| fail(e.to_string()))?;
        write_or_print(Some(p), &text)?;
    }
    Ok(if report.passed() { 0 } else { 1 })
}

/// Output formats of `matrix`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum MatrixFormat {
    /// Terminal table.
    Table,
    /// Markdown table.
    Md,
    /// Standalone HTML page.
    Html,
    /// JSON.
    Json,
}

/// `xpucert matrix`.
#[derive(Args, Debug)]
pub struct MatrixArgs {
    /// One results.json per backend column.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = MatrixFormat::Table)]
    format: MatrixFormat,
    /// Write here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `matrix`.
pub fn matrix(a: MatrixArgs) -> Result<u8, CmdFailure> {
    let files = a
        .results
        .iter()
        .map(|p| read_results(p))
        .collect::<Result<Vec<_>, _>>()?;
    let m = super::matrix::build(&files);
    let text = match a.format {
        MatrixFormat::Table => super::matrix::table(&m).to_string(),
        MatrixFormat::Md => super::matrix::markdown(&m),
        MatrixFormat::Html => super::matrix::html_page(&m),
        MatrixFormat::Json => serde_json::to_string_pretty(&m).map_err(|e| fail(e.to_string()))?,
    };
    write_or_print(a.out.as_deref(), &text)?;
    Ok(0)
}

/// Output formats of `report`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    /// The terminal summary.
    Table,
    /// results.json as is.
    Json,
    /// JUnit XML.
    Junit,
    /// Markdown for a pull-request comment.
    Md,
    /// Self-contained HTML.
    Html,
}

/// `xpucert report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A results.json.
    results: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
    /// Write here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Longest Markdown output, in characters.
    #[arg(long, default_value_t = super::markdown::MAX_CHARS)]
    max_chars: usize,
}

/// Runs `report`.
pub fn report(a: ReportArgs) -> Result<u8, CmdFailure> {
    let r = read_results(&a.results)?;
    let text = match a.format {
        ReportFormat::Table => format!(
            "{}\n{}",
            crate::report::summary_table(&r),
            crate::report::verdict_line(&r)
        ),
        ReportFormat::Json => serde_json::to_string_pretty(&r).map_err(|e| fail(e.to_string()))?,
        ReportFormat::Junit => super::junit::render(&r),
        ReportFormat::Md => super::markdown::render(&r, a.max_chars),
        ReportFormat::Html => super::html::render(&r),
    };
    write_or_print(a.out.as_deref(), &text)?;
    Ok(0)
}

/// `xpucert certify`.
#[derive(Args, Debug)]
pub struct CertifyArgs {
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
    #[arg(long = "option")]
    options: Vec<String>,
    /// Bundle this results.json (of an earlier `run --profile`) instead of running.
    #[arg(long)]
    results: Option<PathBuf>,
}

/// Runs `certify`.
pub fn certify(a: CertifyArgs) -> Result<u8, CmdFailure> {
    let profile_file = super::cert::profile_path(&a.profile);
    super::cert::load_profile(&profile_file).map_err(|e| fail(e.to_string()))?;
    let results_path = match (&a.results, &a.backend) {
        (Some(r), _) => r.clone(),
        (None, Some(b)) => {
            let run_dir = a.out.with_extension("run");
            let exe = std::env::current_exe()
                .map_err(|e| fail(format!("cannot find xpucert itself: {e}")))?;
            let mut cmd = std::process::Command::new(exe);
            cmd.args(["run", "--backend", b, "--profile", &a.profile, "--out"])
                .arg(&run_dir)
                .args(["--format", "table"]);
            for o in &a.options {
                cmd.args(["--option", o]);
            }
            let status = cmd
                .status()
                .map_err(|e| fail(format!("cannot run xpucert: {e}")))?;
            match status.code() {
                Some(0 | 1) => {}
                Some(c) => {
                    return Err(CmdFailure {
                        code: u8::try_from(c).unwrap_or(2),
                        message: "the certification run did not complete".into(),
                    });
                }
                None => return Err(fail("the certification run was killed")),
            }
            run_dir.join("results.json")
        }
        (None, None) => {
            return Err(fail(
                "certify needs --backend (to run) or --results (to bundle)",
            ));
        }
    };
    let cert = super::cert::write_bundle(&a.out, &profile_file, &results_path)
        .map_err(|e| fail(e.to_string()))?;
    println!(
        "certificate: profile {}, backend {}, level {} -> {}",
        cert.profile,
        cert.backend_name,
        cert.level.name(),
        a.out.join("certificate.json").display()
    );
    for b in &cert.level.blockers {
        println!("  not higher: {b}");
    }
    Ok(if cert.level.level >= 1 { 0 } else { 1 })
}

/// `xpucert verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A bundle directory written by `xpucert certify`.
    bundle: PathBuf,
}

/// Runs `verify`: 0 verified, 1 rejected, 2 unreadable.
pub fn verify(a: VerifyArgs) -> Result<u8, CmdFailure> {
    match super::cert::verify(&a.bundle) {
        Ok(cert) => {
            println!(
                "verified: {} files, profile {}, backend {} (sha256 {}), level {}",
                cert.files.len(),
                cert.profile,
                cert.backend_name,
                cert.backend_sha256,
                cert.level.name()
            );
            Ok(0)
        }
        Err(e @ super::cert::CertError::Rejected { .. }) => {
            eprintln!("xpucert: REJECTED: {e}");
            Ok(1)
        }
        Err(e) => Err(fail(e.to_string())),
    }
}
