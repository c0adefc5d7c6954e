//! `merge`, `gate`, `matrix` and `report`: commands over results.json files.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{ExitCode, Failure};
use crate::report;
use crate::run::ResultsFile;
use crate::text::{escape, to_json_pretty};

/// Reads a results.json and checks its schema. A stored summary that its
/// cases do not support is named on stderr; every command here reports
/// from the cases (`ResultsFile::recounted_summary`), so the exit code does
/// not change (docs/reports.md).
fn read_results(path: &Path) -> Result<ResultsFile, Failure> {
    let r = ResultsFile::read(path).map_err(Failure::usage)?;
    if let Some(m) = r.summary_mismatch() {
        eprintln!(
            "xpucert: warning: {}",
            escape(&format!(
                "{}: {m}; reporting from the cases",
                path.display()
            ))
        );
    }
    Ok(r)
}

/// Writes a report (every format goes through [`escape`]: the JSON ones
/// have nothing left for it, the others may carry vendor strings).
fn write_or_print(out: Option<&Path>, text: &str) -> Result<(), Failure> {
    let text = escape(text);
    match out {
        Some(p) => {
            if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(d)
                    .map_err(|e| Failure::usage(format!("cannot create {}: {e}", d.display())))?;
            }
            std::fs::write(p, text.as_bytes())
                .map_err(|e| Failure::usage(format!("cannot write {}: {e}", p.display())))
        }
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// `xpucert merge`.
#[derive(Args, Debug)]
pub(super) struct MergeArgs {
    /// The shards' results.json files, in any order.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Where to write the merged results.json.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `merge`.
pub(super) fn merge(a: MergeArgs) -> Result<ExitCode, Failure> {
    let mut files = Vec::new();
    for p in &a.results {
        files.push((p.display().to_string(), read_results(p)?));
    }
    let merged = crate::run::shard::merge(&files).map_err(|e| Failure::usage(e.to_string()))?;
    if let Some(d) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d)
            .map_err(|e| Failure::usage(format!("cannot create {}: {e}", d.display())))?;
    }
    merged
        .write(&a.out)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", a.out.display())))?;
    println!(
        "{}",
        escape(&format!(
            "merged {} shards: {} cases -> {}",
            files.len(),
            merged.cases.len(),
            a.out.display()
        ))
    );
    println!("{}", escape(&report::verdict_line(&merged)));
    Ok(ExitCode::Success)
}

/// `xpucert gate`.
#[derive(Args, Debug)]
pub(super) struct GateArgs {
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
pub(super) fn gate(a: GateArgs) -> Result<ExitCode, Failure> {
    if !(a.max_slowdown >= 0.0 && a.max_headroom_growth >= 0.0) {
        return Err(Failure::usage(
            "--max-slowdown and --max-headroom-growth must be >= 0",
        ));
    }
    let base = read_results(&a.baseline)?;
    let cur = read_results(&a.current)?;
    let rules = report::gate::GateRules {
        max_slowdown_pct: a.max_slowdown,
        max_headroom_growth: a.max_headroom_growth,
    };
    let report =
        report::gate::gate(&base, &cur, rules).map_err(|e| Failure::usage(e.to_string()))?;
    print!("{}", escape(&report.render(a.limit)));
    if let Some(p) = &a.json {
        let text = to_json_pretty(&report).map_err(|e| Failure::usage(e.to_string()))?;
        write_or_print(Some(p), &text)?;
    }
    Ok(ExitCode::verdict(report.passed()))
}

/// Output formats of `matrix`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum MatrixFormat {
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
pub(super) struct MatrixArgs {
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
pub(super) fn matrix(a: MatrixArgs) -> Result<ExitCode, Failure> {
    let files = a
        .results
        .iter()
        .map(|p| read_results(p))
        .collect::<Result<Vec<_>, _>>()?;
    let m = report::matrix::build(&files);
    let text = match a.format {
        MatrixFormat::Table => report::matrix::table(&m).to_string(),
        MatrixFormat::Md => report::matrix::markdown(&m),
        MatrixFormat::Html => report::matrix::html_page(&m),
        MatrixFormat::Json => to_json_pretty(&m).map_err(|e| Failure::usage(e.to_string()))?,
    };
    write_or_print(a.out.as_deref(), &text)?;
    Ok(ExitCode::Success)
}

/// Output formats of `report`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum ReportFormat {
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
pub(super) struct ReportArgs {
    /// A results.json.
    results: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
    /// Write here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Longest Markdown output, in characters.
    #[arg(long, default_value_t = report::markdown::MAX_CHARS)]
    max_chars: usize,
    /// Exit with the results' verdict, as `run` does: 1 unless conformant
    /// (a failure without a waiver, or nothing ran), 0 if conformant. For a
    /// CI gate on merged shards.
    #[arg(long)]
    check: bool,
}

/// Runs `report`.
pub(super) fn report(a: ReportArgs) -> Result<ExitCode, Failure> {
    let r = read_results(&a.results)?;
    let text = match a.format {
        ReportFormat::Table => {
            let mut lines = vec![report::summary_table(&r).to_string()];
            lines.extend(report::waiver_lines(&r, usize::MAX));
            lines.extend(report::oracle_mismatch_lines(&r, usize::MAX));
            lines.push(report::verdict_line(&r));
            lines.join("\n")
        }
        ReportFormat::Json => to_json_pretty(&r).map_err(|e| Failure::usage(e.to_string()))?,
        ReportFormat::Junit => report::junit::render(&r),
        ReportFormat::Md => report::markdown::render(&r, a.max_chars),
        ReportFormat::Html => report::html::render(&r),
    };
    write_or_print(a.out.as_deref(), &text)?;
    if a.check {
        return Ok(ExitCode::verdict(r.recounted_summary().conformant));
    }
    Ok(ExitCode::Success)
}
