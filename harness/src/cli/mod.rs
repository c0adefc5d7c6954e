//! The command line: parses arguments, calls the library, and maps what
//! came back to an exit code. Nothing else lives here, and nothing but
//! `main.rs` imports it.
//!
//! Subcommands: `run`, `list`, `info` ([`run`], [`info`]); `merge`, `gate`,
//! `matrix`, `report` ([`results`]); `certify`, `verify` ([`cert`]);
//! `new-backend`, `repro`, `onnx-tests` ([`tools`]); and the hidden `worker`, which serves
//! one backend to a run's worker proxy.
//!
//! Exit codes (stable, documented in the README), all through [`ExitCode`]:
//! * 0: conformant (no fail, error, crash or timeout), or the command succeeded;
//! * 1: conformance failures (or gate regressions, no certification level,
//!   a rejected bundle);
//! * 2: usage or configuration error (bad flags, a suite with a mistake);
//! * 3: the backend could not be loaded;
//! * 4: the backend cut the run short by ending the xpucert process
//!   (`exit()` inside it, or a call over its limit under `--isolation none`;
//!   `--resume` records that case and continues);
//! * 130: interrupted by SIGINT/SIGTERM (`--resume` continues the run);
//! * 141: stdout was closed before the command finished writing to it.
//!
//! [`EXIT_CODES`] says the same in `--help`. Every error is one line on stderr, `xpucert: error: ...`; never a panic.

mod cert;
mod info;
mod results;
mod run;
mod tools;

use clap::{Parser, Subcommand, ValueEnum};

use crate::backend;

/// The exit codes, as `--help` shows them (the README's table in short).
pub const EXIT_CODES: &str = "\
Exit codes:
  0    conformant (no fail, error, crash or timeout, and at least one case ran; waived failures are
       counted, not failures), or the command succeeded
  1    conformance failures (an expired waiver waives nothing), nothing ran (UNTESTED), or an oracle
       mismatch (the oracle disagrees with a case's published outputs); gate: a
       regression; verify: rejected; certify: no level; report --check: not conformant
  2    usage or configuration error: bad flags, a suite mistake (file:line:col), a case over --memory-budget,
       another run writing into --out, a results file that cannot be written
  3    the backend could not be loaded (the loader's reason is given)
  4    the backend ended the xpucert process (exit() in it, or an in-process call over its limit); --resume continues
  130  interrupted by SIGINT/SIGTERM; --resume continues
  141  stdout was closed before xpucert finished writing to it (| head)";

/// Certify AI operators and models on a backend.
#[derive(Parser, Debug)]
#[command(name = "xpucert", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run suites against a backend and write results.
    Run(run::RunArgs),
    /// List the case ids of suites.
    List(run::ListArgs),
    /// Show a backend's manifest and declared capabilities.
    Info(info::InfoArgs),
    /// Join the results.json files of `run --shard` into one.
    Merge(results::MergeArgs),
    /// Compare a run with a baseline; exit 1 on regressions.
    Gate(results::GateArgs),
    /// One compatibility matrix across backends (one results.json each).
    Matrix(results::MatrixArgs),
    /// Render a results.json as table, json, junit, md or html.
    Report(results::ReportArgs),
    /// Run a certification profile and write a verifiable bundle.
    Certify(cert::CertifyArgs),
    /// Re-check every hash and the level of a certificate bundle.
    Verify(cert::VerifyArgs),
    /// Write an ed25519 key pair for `certify --sign` and `verify --pubkey`.
    Keygen(cert::KeygenArgs),
    /// Write a backend skeleton (C, C++ or Rust) that builds and loads.
    NewBackend(tools::NewBackendArgs),
    /// Rerun one case and dump inputs, expected, actual and errors as .npy.
    Repro(tools::ReproArgs),
    /// ONNX's official node tests: convert them into a suite.
    OnnxTests(tools::OnnxTestsArgs),
    /// Serve one backend over stdin/stdout frames (started by `run`).
    #[command(hide = true)]
    Worker,
}

/// The exit codes of every command: the only place they are spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Conformant, or the command succeeded.
    Success = 0,
    /// Conformance failures, gate regressions, no certification level, a
    /// rejected bundle.
    Failures = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// The backend could not be loaded (also what the run's exit guard
    /// uses for an `exit()` during loading).
    Load = crate::run::guard::LOAD_EXIT_CODE,
    /// The backend ended the xpucert process during the run (the exit
    /// guard's and the `--isolation none` watchdog's code).
    CutShort = crate::run::guard::EXIT_CODE,
    /// Stopped by SIGINT/SIGTERM (128 + SIGINT, as shells report it; the
    /// signal handler's second-signal exit uses the same number).
    Interrupted = crate::run::interrupt::EXIT_CODE,
}

impl ExitCode {
    /// [`ExitCode::Success`] if `ok`, else [`ExitCode::Failures`].
    fn verdict(ok: bool) -> Self {
        if ok {
            ExitCode::Success
        } else {
            ExitCode::Failures
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}

/// A failure that ends a command: its exit code and one line for stderr.
#[derive(Debug)]
struct Failure {
    code: ExitCode,
    message: String,
}

impl Failure {
    /// A usage or configuration error.
    fn usage(message: impl std::fmt::Display) -> Self {
        Failure {
            code: ExitCode::Usage,
            message: message.to_string(),
        }
    }
}

impl From<crate::run::RunError> for Failure {
    fn from(e: crate::run::RunError) -> Self {
        let code = match e {
            crate::run::RunError::Config(_) => ExitCode::Usage,
            crate::run::RunError::Load(_) => ExitCode::Load,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

impl From<backend::LoadError> for Failure {
    fn from(e: backend::LoadError) -> Self {
        Failure {
            code: ExitCode::Load,
            message: e.to_string(),
        }
    }
}

/// `--isolation`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum IsolationArg {
    /// In a worker child process.
    Process,
    /// In the xpucert process itself.
    None,
}

impl From<IsolationArg> for crate::run::Isolation {
    fn from(i: IsolationArg) -> Self {
        match i {
            IsolationArg::Process => crate::run::Isolation::Process,
            IsolationArg::None => crate::run::Isolation::None,
        }
    }
}

/// `--suite` values as files or directories: paths, or names (`core`) and
/// relative paths found in xpucert's data roots (home.rs).
fn suite_paths(args: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>, Failure> {
    args.iter()
        .map(|a| crate::home::suite(a).map_err(Failure::usage))
        .collect()
}

/// The help of every `--suite`.
const SUITE_HELP: &str = "Suite: a name (core, edge, precision, deepseek, coverage, minilm, smollm2, \
deepseek-tiny, bench; ops, models, perf for a whole directory), a suite file or a directory of suites \
(repeatable). A relative path not found here is looked up in $XPUCERT_HOME, PREFIX/share/xpucert \
and the suites built into xpucert.";

fn parse_option(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got `{s}`"))
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t.is_finite() && t <= 1e6 => Ok(t),
        _ => Err(format!("expected seconds in (0, 1e6], got `{s}`")),
    }
}

/// Entry point of the binary.
/// Exit code when stdout was closed before xpucert finished writing to it
/// (`xpucert list | head -1`): what a shell reports for a process ended by
/// SIGPIPE. What was written is complete up to that point.
pub const CLOSED_STDOUT: i32 = 141;

/// Makes a closed stdout end the command quietly with [`CLOSED_STDOUT`],
/// as it ends `cat`, instead of a panic and a backtrace. Rust ignores
/// SIGPIPE (and the harness must: a dead worker's pipe would kill it), so a
/// print to a closed pipe panics in `println!`; that one panic is turned
/// into the exit here, every other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            backend::worker::sweep();
            backend::worker::exit_now(CLOSED_STDOUT);
        }
        default(info)
    }));
}

pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    quiet_on_closed_stdout();
    if !matches!(cli.command, Command::Worker) {
        // Orphans of a backend (a daemon that left the worker's session)
        // reparent to us and are ended at each worker end and below.
        backend::worker::contain_descendants();
    }
    let outcome = match cli.command {
        Command::Run(a) => run::run(a),
        Command::List(a) => run::list(a),
        Command::Info(a) => info::info(a),
        Command::Merge(a) => results::merge(a),
        Command::Gate(a) => results::gate(a),
        Command::Matrix(a) => results::matrix(a),
        Command::Report(a) => results::report(a),
        Command::Certify(a) => cert::certify(a),
        Command::Verify(a) => cert::verify(a),
        Command::Keygen(a) => cert::keygen(a),
        Command::NewBackend(a) => tools::new_backend(a),
        Command::Repro(a) => tools::repro(a),
        Command::OnnxTests(a) => tools::onnx_tests(a),
        Command::Worker => {
            // The worker's stderr is its run's: it says which process failed.
            return match backend::worker::serve(&crate::model::run::worker_handlers()) {
                Ok(()) => ExitCode::Success.into(),
                Err(e) => {
                    eprintln!("xpucert worker: error: {}", crate::text::escape(&e));
                    ExitCode::Usage.into()
                }
            };
        }
    };
    // Whatever the backend started that is still around (children forked
    // in process with `--isolation none`, late orphans) ends with us.
    backend::worker::sweep();
    match outcome {
        Ok(code) => code.into(),
        Err(f) => {
            eprintln!("xpucert: error: {}", crate::text::escape(&f.message));
            f.code.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_numbers() {
        let codes = [
            (ExitCode::Success, 0u8),
            (ExitCode::Failures, 1),
            (ExitCode::Usage, 2),
            (ExitCode::Load, 3),
            (ExitCode::CutShort, 4),
            (ExitCode::Interrupted, 130),
        ];
        for (code, n) in codes {
            assert_eq!(code as u8, n, "{code:?}");
        }
        let config = Failure::from(crate::run::RunError::Config("x".into()));
        assert_eq!(config.code, ExitCode::Usage);
    }
}
