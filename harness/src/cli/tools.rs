//! `new-backend` and `repro`: the vendor's tools (a skeleton to start
//! from, one case dumped for debugging).

use std::path::PathBuf;

use clap::ValueEnum;

use super::{ExitCode, Failure, IsolationArg, parse_option};
use crate::run::plan::{self, DEFAULT_TIMEOUT};
use crate::scaffold;

/// The language of `new-backend`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum LangArg {
    /// C99, Makefile and CMakeLists.txt.
    C,
    /// C++17, CMake, exception-safe entry points.
    Cpp,
    /// Rust, on the xpucert-abi crate.
    Rust,
}

/// `xpucert new-backend NAME --lang c|cpp|rust [--dir DIR]`.
#[derive(clap::Args, Debug)]
pub(super) struct NewBackendArgs {
    /// Backend name: lowercase letters, digits, `-` and `_` (e.g. `acme-npu`).
    name: String,
    /// Language of the skeleton.
    #[arg(long, value_enum)]
    lang: LangArg,
    /// Directory to create (default: ./NAME); must not exist or be empty.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// For `--lang rust`: depend on the `xpucert-abi` crate at this path
    /// (default: a copy of the crate this xpucert speaks, written into the
    /// skeleton's vendor/xpucert-abi, so it builds anywhere).
    #[arg(long)]
    abi_crate: Option<PathBuf>,
}

/// Runs `new-backend`.
pub(super) fn new_backend(a: NewBackendArgs) -> Result<ExitCode, Failure> {
    let lang = match a.lang {
        LangArg::C => scaffold::Lang::C,
        LangArg::Cpp => scaffold::Lang::Cpp,
        LangArg::Rust => scaffold::Lang::Rust,
    };
    let dir = a.dir.unwrap_or_else(|| PathBuf::from(&a.name));
    let files =
        scaffold::generate(&a.name, lang, &dir, a.abi_crate.as_deref()).map_err(Failure::usage)?;
    for f in &files {
        println!("wrote {}", f.display());
    }
    let build = match lang {
        scaffold::Lang::C => format!("make -C {}", dir.display()),
        scaffold::Lang::Cpp => format!(
            "cmake -S {d} -B {d}/build && cmake --build {d}/build",
            d = dir.display()
        ),
        scaffold::Lang::Rust => format!(
            "cargo build --release --manifest-path {}/Cargo.toml",
            dir.display()
        ),
    };
    let lib = dir.join(scaffold::library_path(lang, &a.name));
    println!("next: {build}");
    println!("then: xpucert info --backend {}", lib.display());
    println!("      xpucert run --backend {} --suite core", lib.display());
    Ok(ExitCode::Success)
}

/// `xpucert repro CASE --backend X --dump DIR`.
#[derive(clap::Args, Debug)]
pub(super) struct ReproArgs {
    /// The case id, as in results.json or `xpucert list`.
    case: String,
    /// Backend library path, or a bundled backend name.
    #[arg(long)]
    backend: String,
    /// Directory to write the arrays, case.json and check.py into.
    #[arg(long)]
    dump: PathBuf,
    #[arg(long = "suite", default_value = "core", help = super::SUITE_HELP)]
    suites: Vec<PathBuf>,
    /// Backend context option KEY=VALUE (repeatable).
    #[arg(long = "option", value_parser = parse_option)]
    options: Vec<(String, String)>,
    /// Where the backend runs (see `run --isolation`).
    #[arg(long, value_enum, default_value_t = IsolationArg::Process)]
    isolation: IsolationArg,
    /// Base time limit of one call in seconds.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT)]
    timeout: f64,
}

/// The `repro` command line that reruns `id` and dumps it.
fn repro_command(
    id: &str,
    backend: &str,
    suites: &[PathBuf],
    options: &[(String, String)],
    dump: &str,
) -> String {
    let mut s = format!("xpucert repro {id} --backend {backend}");
    for p in suites {
        s.push_str(&format!(" --suite {}", p.display()));
    }
    for (k, v) in options {
        s.push_str(&format!(" --option {k}={v}"));
    }
    s.push_str(&format!(" --dump {dump}"));
    s
}

/// Runs `repro`: exit 0 if the case passes (or is unsupported), 1 if it
/// fails, like `run`.
pub(super) fn repro(a: ReproArgs) -> Result<ExitCode, Failure> {
    // Only the wanted case's entry needs expanding.
    let suites = plan::load_selected_suites(
        &super::suite_paths(&a.suites)?,
        std::slice::from_ref(&a.case),
    )?;
    let Some(case) = suites
        .iter()
        .flat_map(|s| &s.cases)
        .find(|c| c.id == a.case)
    else {
        return Err(Failure::usage(format!(
            "no case `{}` in {} suite(s); `xpucert list` shows the ids",
            a.case,
            suites.len()
        )));
    };
    plan::check_budget(&[case], plan::machine_budget())?;
    let mut b = plan::open_backend(
        &a.backend,
        &a.options,
        a.isolation.into(),
        a.timeout.max(60.0),
    )?;
    let limit = crate::run::time_limit(case, std::time::Duration::from_secs_f64(a.timeout));
    let command = repro_command(
        &case.id,
        &a.backend,
        &a.suites,
        &a.options,
        &a.dump.display().to_string(),
    );
    let r =
        crate::repro::repro(b.as_mut(), case, limit, &a.dump, &command).map_err(Failure::usage)?;
    for line in crate::report::teach::case_lines(&r.result) {
        // The backend's messages are in these lines.
        println!("{}", crate::text::escape(&line));
    }
    if let Some(u) = &r.unstable {
        println!("warning: {}", crate::text::escape(u));
    }
    println!(
        "wrote {} files to {}; `python3 {}` recomputes the figures with numpy",
        r.files.len(),
        a.dump.display(),
        a.dump.join("check.py").display()
    );
    Ok(ExitCode::verdict(!r.result.status.is_failure()))
}

/// `xpucert onnx-tests ...`.
#[derive(clap::Args, Debug)]
pub(super) struct OnnxTestsArgs {
    #[command(subcommand)]
    command: OnnxTestsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum OnnxTestsCommand {
    /// Convert ONNX's node tests (fixtures/fetch-onnx-tests.sh) into a suite
    /// with ONNX's published outputs as `expected`, and report what was not
    /// converted and why.
    Convert(ConvertArgs),
}

/// `xpucert onnx-tests convert [--from DIR] --out FILE.yaml [--report FILE.md]`.
#[derive(clap::Args, Debug)]
struct ConvertArgs {
    /// The node tests: a directory of test_* directories (default:
    /// $XPUCERT_ONNX_NODE_DIR, else fixtures/onnx-node).
    #[arg(long)]
    from: Option<PathBuf>,
    /// The suite to write; its per-operator files go into a directory named
    /// after it (FILE/ without .yaml) beside it.
    #[arg(long)]
    out: PathBuf,
    /// The Markdown report (default: FILE.report.md beside the suite; a
    /// FILE.report.json is written beside the suite as well).
    #[arg(long)]
    report: Option<PathBuf>,
}

/// Runs `onnx-tests`.
pub(super) fn onnx_tests(a: OnnxTestsArgs) -> Result<ExitCode, Failure> {
    let OnnxTestsCommand::Convert(a) = a.command;
    use crate::onnx::node_tests;
    let from = a
        .from
        .or_else(|| std::env::var_os("XPUCERT_ONNX_NODE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("fixtures/onnx-node"));
    if a.out.extension().is_none_or(|x| x != "yaml") {
        return Err(Failure::usage(format!(
            "--out {} must name a .yaml file",
            a.out.display()
        )));
    }
    // The pin the tests came from, when they are the fetch script's.
    let origin = from
        .parent()
        .map(|p| p.join("onnx-tests.lock"))
        .and_then(|l| std::fs::read_to_string(l).ok())
        .and_then(|t| {
            // The lock's `wheel <requirement> ...` line.
            t.lines().find_map(|line| {
                line.strip_prefix("wheel ")
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_string)
            })
        })
        .map_or_else(
            || format!("the node tests in {}", from.display()),
            |req| format!("the `{req}` wheel"),
        );
    let c = node_tests::convert_dir(&from).map_err(Failure::usage)?;
    let written = node_tests::write_suite(&c, &a.out, &origin)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", a.out.display())))?;
    let stem = a.out.with_extension("");
    let report = a
        .report
        .unwrap_or_else(|| PathBuf::from(format!("{}.report.md", stem.display())));
    let json = PathBuf::from(format!("{}.report.json", stem.display()));
    let write = |p: &PathBuf, text: String| {
        std::fs::write(p, text)
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", p.display())))
    };
    write(&report, node_tests::report_markdown(&c, &origin))?;
    write(
        &json,
        crate::text::to_json_pretty(&c).map_err(|e| Failure::usage(e.to_string()))?,
    )?;
    println!(
        "{} node tests, {} of registry operators; converted {} ({} cases) into {} ({} files)",
        c.tests,
        c.registry_op_tests,
        c.converted,
        c.cases,
        a.out.display(),
        written.len()
    );
    for (reason, n) in &c.skipped {
        println!("  not converted, {reason}: {n}");
    }
    println!("report: {} and {}", report.display(), json.display());
    Ok(ExitCode::Success)
}
