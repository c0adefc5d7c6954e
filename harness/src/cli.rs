//! The command line: `xpucert run | list | info | new-backend | repro`.
//!
//! Exit codes (stable, documented in the README):
//! * 0: conformant (no fail, error, crash or timeout), or the command succeeded;
//! * 1: conformance failures;
//! * 2: usage or configuration error (bad flags, a suite with a mistake);
//! * 3: the backend could not be loaded.
//!
//! Every error is one line on stderr, `xpucert: error: ...`; never a panic.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;

use crate::backend::{self, DylibBackend, Executor, WorkerBackend};
use crate::model::{
    self,
    spec::{ModelCase, ModelSuite},
};
use crate::perf;
use crate::run::{self, CaseResult, ResultsFile, SuiteInfo, Summary};
use crate::suite::{self, Suite};

/// Certify AI operators and models on a backend.
#[derive(Parser, Debug)]
#[command(name = "xpucert", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run suites against a backend and write results.
    Run(RunArgs),
    /// List the case ids of suites.
    List(ListArgs),
    /// Show a backend's manifest and declared capabilities.
    Info(InfoArgs),
    /// Join the results.json files of `run --shard` into one.
    Merge(crate::report::cmd::MergeArgs),
    /// Compare a run with a baseline; exit 1 on regressions.
    Gate(crate::report::cmd::GateArgs),
    /// One compatibility matrix across backends (one results.json each).
    Matrix(crate::report::cmd::MatrixArgs),
    /// Render a results.json as table, json, junit, md or html.
    Report(crate::report::cmd::ReportArgs),
    /// Run a certification profile and write a verifiable bundle.
    Certify(crate::report::cmd::CertifyArgs),
    /// Re-check every hash and the level of a certificate bundle.
    Verify(crate::report::cmd::VerifyArgs),
    /// Write a backend skeleton (C, C++ or Rust) that builds and loads.
    NewBackend(crate::vendor::NewBackendArgs),
    /// Rerun one case and dump inputs, expected, actual and errors as .npy.
    Repro(crate::vendor::ReproArgs),
    /// Serve one backend over stdin/stdout frames (started by `run`).
    #[command(hide = true)]
    Worker,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Backend library path, or a bundled backend name (`reference`).
    #[arg(long)]
    backend: String,
    /// Suite file or directory of suites (repeatable).
    #[arg(long = "suite", default_value = "suites/ops/core.yaml")]
    suites: Vec<PathBuf>,
    /// Only cases whose id matches this glob (`*`, `?`; repeatable: any matches).
    #[arg(long = "filter")]
    filters: Vec<String>,
    /// Directory for results.jsonl and results.json.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Backend context option KEY=VALUE (repeatable).
    #[arg(long = "option", value_parser = parse_option)]
    options: Vec<(String, String)>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Where the backend runs: a worker process per backend, replaced after
    /// a crash or hang (`process`), or inside xpucert (`none`, for debugging).
    #[arg(long, value_enum, default_value_t = Isolation::Process)]
    isolation: Isolation,
    /// Base time limit of one backend call in seconds, scaled up by the
    /// case's cost; a suite or case `timeout:` replaces the base.
    #[arg(long, default_value = "30", value_parser = parse_seconds)]
    timeout: f64,
    /// Continue the run in `--out`: keep the cases results.jsonl already
    /// holds, run the others (the suites, backend, filters and options must
    /// be the same).
    #[arg(long)]
    resume: bool,
    /// Measure the throughput of every passing case (cases with a
    /// `throughput:` section in their suite are measured regardless).
    #[arg(long)]
    measure: bool,
    /// Results file (results.json) whose throughput figures `max_slowdown`
    /// requirements are judged against.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Run only shard K of N (`2/4`), split by expected cost; `auto` reads
    /// the index from CI variables (see docs/ci.md). `xpucert merge` joins
    /// the shards' results.json files.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<crate::report::shard::ShardRequest>,
    /// Run the suites of certification profile NAME (suites/profiles/NAME.yaml,
    /// or a path to a profile file) instead of `--suite`.
    #[arg(long)]
    profile: Option<String>,
}

fn parse_shard(s: &str) -> Result<crate::report::shard::ShardRequest, String> {
    crate::report::shard::ShardRequest::parse(s).map_err(|e| e.to_string())
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Isolation {
    /// In a worker child process.
    Process,
    /// In the xpucert process itself.
    None,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t.is_finite() && t <= 1e6 => Ok(t),
        _ => Err(format!("expected seconds in (0, 1e6], got `{s}`")),
    }
}

#[derive(clap::Args, Debug)]
struct ListArgs {
    /// Suite file or directory of suites (repeatable).
    #[arg(long = "suite", default_value = "suites/ops/core.yaml")]
    suites: Vec<PathBuf>,
    /// Only cases whose id matches this glob.
    #[arg(long = "filter")]
    filters: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct InfoArgs {
    /// Backend library path, or a bundled backend name (`reference`).
    #[arg(long)]
    backend: String,
    /// Backend context option KEY=VALUE (repeatable).
    #[arg(long = "option", value_parser = parse_option)]
    options: Vec<(String, String)>,
    /// Where the backend is loaded (see `run --isolation`).
    #[arg(long, value_enum, default_value_t = Isolation::Process)]
    isolation: Isolation,
    /// Suites whose op x dtype combinations the capability table asks
    /// query_op about (one representative case each; repeatable).
    #[arg(long = "suite", default_value = "suites/ops/core.yaml")]
    suites: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Format {
    /// The op x dtype summary table, failures, and the verdict.
    Table,
    /// results.json on stdout.
    Json,
    /// JUnit XML on stdout (one testcase per case).
    Junit,
    /// Markdown on stdout, sized for a pull-request comment.
    Md,
    /// A self-contained HTML report on stdout.
    Html,
    /// For CI logs: one plain line per failed case, then the verdict.
    Lines,
}

pub(crate) fn parse_option(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got `{s}`"))
}

/// A failure that ends the command with a documented exit code.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
    pub(crate) fn backend(e: backend::LoadError) -> Self {
        Failure {
            code: 3,
            message: e.to_string(),
        }
    }
}

impl From<crate::report::cmd::CmdFailure> for Failure {
    fn from(f: crate::report::cmd::CmdFailure) -> Self {
        Failure {
            code: f.code,
            message: f.message,
        }
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(a) => cmd_run(a),
        Command::List(a) => cmd_list(a),
        Command::Info(a) => cmd_info(a),
        Command::Merge(a) => crate::report::cmd::merge(a).map_err(Failure::from),
        Command::Gate(a) => crate::report::cmd::gate(a).map_err(Failure::from),
        Command::Matrix(a) => crate::report::cmd::matrix(a).map_err(Failure::from),
        Command::Report(a) => crate::report::cmd::report(a).map_err(Failure::from),
        Command::Certify(a) => crate::report::cmd::certify(a).map_err(Failure::from),
        Command::Verify(a) => crate::report::cmd::verify(a).map_err(Failure::from),
        Command::NewBackend(a) => crate::vendor::cmd_new_backend(a),
        Command::Repro(a) => crate::vendor::cmd_repro(a),
        Command::Worker => {
            return match backend::worker::serve() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("xpucert worker: error: {e}");
                    ExitCode::from(2)
                }
            };
        }
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("xpucert: error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

pub(crate) fn load_suites(paths: &[PathBuf]) -> Result<Vec<Suite>, Failure> {
    suite::load_all(paths).map_err(|e| Failure::config(e.to_string()))
}

/// Op suites, the selected model cases, and the model suites.
type Loaded = (Vec<Suite>, Vec<ModelCase>, Vec<ModelSuite>);

/// Op suites and model cases from `--suite` arguments; model suites are the
/// files whose top level has `model:`.
fn load_all_suites(paths: &[PathBuf], filters: &[String]) -> Result<Loaded, Failure> {
    let cfg = |e: suite::SuiteError| Failure::config(e.to_string());
    let (op_paths, model_paths) = model::spec::split_paths(paths).map_err(cfg)?;
    let suites = if op_paths.is_empty() {
        Vec::new()
    } else {
        load_suites(&op_paths)?
    };
    let mut model_suites = Vec::new();
    for p in &model_paths {
        model_suites.push(model::spec::load(p).map_err(cfg)?);
    }
    let model_cases = model_suites
        .iter()
        .flat_map(ModelSuite::cases)
        .filter(|c| filters.is_empty() || filters.iter().any(|f| run::glob_match(f, &c.id)))
        .collect();
    Ok((suites, model_cases, model_suites))
}

fn selected<'a>(suites: &'a [Suite], filters: &[String]) -> Vec<&'a suite::Case> {
    suites
        .iter()
        .flat_map(|s| &s.cases)
        .filter(|c| filters.is_empty() || filters.iter().any(|f| run::glob_match(f, &c.id)))
        .collect()
}

fn cmd_list(a: ListArgs) -> Result<u8, Failure> {
    let (suites, model_cases, _) = load_all_suites(&a.suites, &a.filters)?;
    for c in selected(&suites, &a.filters) {
        println!("{}", c.id);
    }
    for c in &model_cases {
        println!("{}", c.id);
    }
    Ok(0)
}

pub(crate) fn open_backend(
    spec: &str,
    options: &[(String, String)],
    isolation: Isolation,
    startup_limit: f64,
) -> Result<Box<dyn Executor>, Failure> {
    let path = backend::resolve(spec).map_err(Failure::backend)?;
    Ok(match isolation {
        Isolation::None => Box::new(DylibBackend::open(&path, options).map_err(Failure::backend)?),
        Isolation::Process => Box::new(
            WorkerBackend::open(
                &path,
                options,
                std::time::Duration::from_secs_f64(startup_limit),
            )
            .map_err(Failure::backend)?,
        ),
    })
}

/// The sha256 of a backend library for provenance; a file that cannot be
/// read says so in place of the hash.
pub(crate) fn sha256_file(path: &Path) -> String {
    crate::digest::sha256_file(path).unwrap_or_else(|e| format!("unreadable: {e}"))
}

fn cmd_info(a: InfoArgs) -> Result<u8, Failure> {
    let mut b = open_backend(&a.backend, &a.options, a.isolation, 60.0)?;
    let (major, minor) = b.abi_version();
    println!("backend:   {}", b.name());
    println!("library:   {}", b.path().display());
    println!("sha256:    {}", sha256_file(b.path()));
    println!(
        "abi:       {major}.{minor} (function table {} bytes)",
        b.table_size()
    );
    for (group, present) in b.optional_groups() {
        println!(
            "{:<10} {}",
            format!("{group}:"),
            if present { "provided" } else { "not provided" }
        );
    }
    let manifest = b.manifest().map_err(|e| {
        Failure::config(format!("{}: get_manifest failed: {e}", b.path().display()))
    })?;
    match serde_json::from_str::<serde_json::Value>(&manifest) {
        Ok(v) => {
            for key in [
                "vendor",
                "device",
                "backend_version",
                "driver_version",
                "firmware_version",
                "sdk_version",
            ] {
                if let Some(s) = v.get(key).and_then(|x| x.as_str()) {
                    println!("{:<10} {s}", format!("{key}:"));
                }
            }
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_header(["op", "opsets", "dtypes"]);
            for op in v
                .get("ops")
                .and_then(|o| o.as_array())
                .into_iter()
                .flatten()
            {
                let name = op.get("op").and_then(|x| x.as_str()).unwrap_or("?");
                let domain = op.get("domain").and_then(|x| x.as_str()).unwrap_or("");
                let join = |k: &str| -> String {
                    op.get(k)
                        .and_then(|x| x.as_array())
                        .map(|a| {
                            a.iter()
                                .map(|x| x.to_string().trim_matches('"').to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default()
                };
                let full = if domain.is_empty() {
                    name.to_string()
                } else {
                    format!("{domain}.{name}")
                };
                t.add_row([full, join("opsets"), join("dtypes")]);
            }
            println!("{t}");
        }
        Err(e) => println!("manifest is not valid JSON ({e}):\n{manifest}"),
    }
    let paths: Vec<PathBuf> = a
        .suites
        .iter()
        .map(|p| crate::vendor::find_suite(p))
        .collect();
    match load_suites(&paths) {
        Ok(suites) => {
            crate::vendor::capabilities::print(b.as_mut(), &selected(&suites, &[]), &manifest)
        }
        Err(f) => eprintln!("xpucert: warning: no capability table: {}", f.message),
    }
    Ok(0)
}

fn cmd_run(a: RunArgs) -> Result<u8, Failure> {
    let started_at = run::utc_now();
    let start = Instant::now();
    let mut a = a;
    if let Some(name) = &a.profile {
        a.suites = crate::report::cert::profile_suites(name)
            .map_err(|e| Failure::config(e.to_string()))?;
    }
    let (suites, model_cases, model_suites) = load_all_suites(&a.suites, &a.filters)?;
    let cases = selected(&suites, &a.filters);
    if cases.is_empty() && model_cases.is_empty() {
        return Err(Failure::config(format!(
            "no case matches the filter {:?} in {} suite(s)",
            a.filters,
            suites.len()
        )));
    }
    let baseline = match &a.baseline {
        Some(p) => {
            Some(perf::require::Baseline::load(p).map_err(|e| Failure::config(e.to_string()))?)
        }
        None => None,
    };
    if a.shard.is_some() && !model_cases.is_empty() {
        // Shards split op cases by cost and merge by position; a model case
        // is one long case, best run as its own CI job.
        return Err(Failure::config(
            "--shard applies to op suites; run model suites (suites/models) in their own job",
        ));
    }
    let (cases, shard) = match a.shard {
        Some(request) => {
            let spec = request
                .resolve()
                .map_err(|e| Failure::config(e.to_string()))?;
            let (kept, info) = crate::report::shard::select(&cases, spec);
            (kept, Some(info))
        }
        None => (cases, None),
    };
    let mut b = open_backend(&a.backend, &a.options, a.isolation, a.timeout.max(60.0))?;
    let manifest = match b.manifest() {
        Ok(m) => serde_json::from_str(&m).unwrap_or(serde_json::Value::String(m)),
        Err(e) => {
            eprintln!("xpucert: warning: get_manifest failed: {e}");
            serde_json::Value::Null
        }
    };
    let suite_infos: Vec<SuiteInfo> = suites
        .iter()
        .map(|s| SuiteInfo {
            name: s.name.clone(),
            path: s.path.display().to_string(),
            sha256: s.sha256.clone(),
            cases: s.cases.len(),
        })
        .chain(model_suites.iter().map(|s| SuiteInfo {
            name: format!("models.{}", s.model),
            path: s.path.display().to_string(),
            sha256: s.sha256.clone(),
            cases: s.dtypes.len(),
        }))
        .collect();
    let mut settings: std::collections::BTreeMap<String, String> = a
        .options
        .iter()
        .map(|(k, v)| (format!("option.{k}"), v.clone()))
        .collect();
    settings.insert(
        "isolation".into(),
        format!("{:?}", a.isolation).to_lowercase(),
    );
    settings.insert("timeout".into(), a.timeout.to_string());
    if let Some(s) = &shard {
        settings.insert("shard".into(), format!("{}/{}", s.index, s.total));
    }
    let header = run::RunHeader {
        record: run::RunHeader::RECORD.into(),
        schema: run::results::SCHEMA.into(),
        schema_version: run::results::SCHEMA_VERSION,
        suites: suite_infos.clone(),
        backend_path: b
            .path()
            .canonicalize()
            .unwrap_or_else(|_| b.path().to_path_buf())
            .display()
            .to_string(),
        backend_sha256: sha256_file(b.path()),
        filters: a.filters.clone(),
        settings,
        started_at,
    };
    let mut session = if a.resume {
        let model_ids: Vec<&str> = model_cases.iter().map(|c| c.id.as_str()).collect();
        run::resume::Session::resume(&a.out, &header, &cases, &model_ids)
    } else {
        run::resume::Session::fresh(&a.out, &header)
    }
    .map_err(|e| Failure::config(e.to_string()))?;
    let started_at = session.started_at.clone();
    if let Err(e) = run::interrupt::install() {
        eprintln!("xpucert: warning: cannot catch Ctrl-C: {e}");
    }

    let already = cases.iter().filter(|c| session.is_done(&c.id)).count()
        + model_cases
            .iter()
            .filter(|c| session.is_done(&c.id))
            .count();
    let mut progress = crate::vendor::progress::Progress::new(
        cases.len() + model_cases.len(),
        already,
        crate::vendor::progress::wanted(),
    );
    for case in cases.iter() {
        if session.is_done(&case.id) {
            continue;
        }
        if run::interrupt::requested() {
            break;
        }
        progress.start(&case.id);
        let limit = run::time_limit(case, std::time::Duration::from_secs_f64(a.timeout));
        let mut r = run::run_case(b.as_mut(), case, limit);
        perf::case::after_run(
            b.as_mut(),
            case,
            a.measure,
            limit,
            baseline.as_ref(),
            &mut r,
        );
        if run::interrupt::requested() {
            // Abandoned: its worker may have been killed by the same signal,
            // so the result says nothing; a resume runs it again.
            break;
        }
        let status = r.status;
        session
            .record(r)
            .map_err(|e| Failure::config(e.to_string()))?;
        progress.finish_case(status);
    }
    // Model cases after the op cases: each runs the oracle here and the
    // backend path where the library lives (the worker), then judges.
    let reference = backend::resolve("reference").ok().filter(|p| p.exists());
    let dump_dir = a.out.join("models");
    for mc in &model_cases {
        if session.is_done(&mc.id) || run::interrupt::requested() {
            continue;
        }
        progress.start(&mc.id);
        let ctx = model::run::ModelRunCtx {
            reference: reference.as_deref(),
            dump_dir: Some(&dump_dir),
            limit: std::time::Duration::from_secs_f64(
                mc.suite.timeout.unwrap_or(900.0).max(a.timeout),
            ),
        };
        let r = model::run::run_model_case(b.as_mut(), mc, &ctx);
        if run::interrupt::requested() {
            break;
        }
        let status = r.status;
        session
            .record(r)
            .map_err(|e| Failure::config(e.to_string()))?;
        progress.finish_case(status);
    }
    let interrupted = run::interrupt::requested();
    let model_results: Vec<CaseResult> = model_cases
        .iter()
        .map(|mc| {
            session.take(&mc.id).unwrap_or_else(|| {
                CaseResult::for_model(
                    &mc.id,
                    mc.dtype,
                    mc.suite.path.display().to_string(),
                    run::Status::Skip,
                    Some("not run: interrupted".into()),
                )
            })
        })
        .collect();
    let mut results: Vec<CaseResult> = session.finish(&cases, "not run: interrupted");
    results.extend(model_results);
    progress.clear();

    let canonical = b
        .path()
        .canonicalize()
        .unwrap_or_else(|_| b.path().to_path_buf());
    let (major, minor) = b.abi_version();
    let file = ResultsFile {
        schema: run::results::SCHEMA.to_string(),
        schema_version: run::results::SCHEMA_VERSION,
        provenance: run::Provenance {
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            harness_commit: Some(env!("XPUCERT_GIT_COMMIT").to_string()).filter(|s| !s.is_empty()),
            backend_path: canonical.display().to_string(),
            backend_sha256: sha256_file(b.path()),
            backend_name: b.name().to_string(),
            backend_abi: format!("{major}.{minor}"),
            manifest,
            host: [
                ("os", std::env::consts::OS.to_string()),
                ("arch", std::env::consts::ARCH.to_string()),
                (
                    "cpus",
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1)
                        .to_string(),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            suites: suite_infos.clone(),
            command: std::env::args().collect(),
            started_at,
            finished_at: run::utc_now(),
        },
        summary: {
            let s = Summary::of(&results, start.elapsed().as_secs_f64());
            if interrupted { s.interrupted() } else { s }
        },
        cases: results,
        shard,
    };
    let json_path = a.out.join("results.json");
    file.write(&json_path)
        .map_err(|e| Failure::config(format!("cannot write {}: {e}", json_path.display())))?;

    match a.format {
        Format::Junit | Format::Md | Format::Html => {
            let text = match a.format {
                Format::Junit => crate::report::junit::render(&file),
                Format::Md => {
                    crate::report::markdown::render(&file, crate::report::markdown::MAX_CHARS)
                }
                _ => crate::report::html::render(&file),
            };
            println!("{text}");
        }
        Format::Json => {
            let text =
                serde_json::to_string_pretty(&file).map_err(|e| Failure::config(e.to_string()))?;
            println!("{text}");
        }
        Format::Lines => {
            for line in crate::report::teach::ci_lines(&file) {
                println!("{line}");
            }
            println!("{}", crate::report::verdict_line(&file));
            println!("results: {}", json_path.display());
        }
        Format::Table => {
            println!("{}", crate::report::summary_table(&file));
            let suites_arg: Vec<String> = a
                .suites
                .iter()
                .map(|s| format!("--suite {}", s.display()))
                .collect();
            let options_arg: Vec<String> = a
                .options
                .iter()
                .map(|(k, v)| format!(" --option {k}={v}"))
                .collect();
            let prefix = format!(
                "xpucert run --backend {} {}{}",
                a.backend,
                suites_arg.join(" "),
                options_arg.concat()
            );
            for line in crate::report::failure_details(&file, &prefix, &a.out, 20) {
                println!("{line}");
            }
            for line in file.cases.iter().filter_map(model::run::summary_line) {
                println!("{line}");
            }
            println!("{}", crate::report::verdict_line(&file));
            println!("results: {}", json_path.display());
        }
    }
    if interrupted {
        eprintln!("xpucert: interrupted; `--resume` with the same arguments continues the run");
        return Ok(run::interrupt::EXIT_CODE);
    }
    Ok(if file.summary.conformant { 0 } else { 1 })
}
