//! `info`: a backend's identity, manifest and capability table.

use std::path::PathBuf;

use super::{ExitCode, Failure, IsolationArg, parse_option};
use crate::run::plan::{self, library_sha256};
use crate::text::escape;

#[derive(clap::Args, Debug)]
pub(super) struct InfoArgs {
    /// Backend library path, or a bundled backend name (`reference`).
    #[arg(long)]
    backend: String,
    /// Backend context option KEY=VALUE (repeatable).
    #[arg(long = "option", value_parser = parse_option)]
    options: Vec<(String, String)>,
    /// Where the backend is loaded (see `run --isolation`).
    #[arg(long, value_enum, default_value_t = IsolationArg::Process)]
    isolation: IsolationArg,
    /// Suites whose op x dtype combinations the capability table asks
    /// query_op about (one representative case each; repeatable); a name
    /// (`core`) or a path, as for `run --suite`.
    #[arg(long = "suite", default_value = "core")]
    suites: Vec<PathBuf>,
}

/// Runs `info`.
pub(super) fn info(a: InfoArgs) -> Result<ExitCode, Failure> {
    let mut b = plan::open_backend(&a.backend, &a.options, a.isolation.into(), 60.0)?;
    // Name, manifest and capability notes are the vendor's: escaped.
    println!(
        "{}",
        escape(&crate::report::info::identity(
            b.as_ref(),
            &library_sha256(b.path())
        ))
    );
    let manifest = b
        .manifest()
        .map_err(|e| Failure::usage(format!("{}: get_manifest failed: {e}", b.path().display())))?;
    println!("{}", escape(&crate::report::info::manifest(&manifest)));
    match super::suite_paths(&a.suites)
        .map_err(|f| f.message)
        .and_then(|paths| plan::load_suites(&paths).map_err(|e| e.to_string()))
    {
        Ok(suites) => {
            let manifest: serde_json::Value =
                serde_json::from_str(&manifest).unwrap_or(serde_json::Value::Null);
            let rows = crate::run::capabilities::probe(
                b.as_mut(),
                &plan::selected(&suites, &[]),
                &manifest,
            );
            println!("{}", escape(&crate::report::capabilities::render(&rows)));
        }
        Err(e) => eprintln!("xpucert: warning: no capability table: {}", escape(&e)),
    }
    Ok(ExitCode::Success)
}
