//! `info`: a backend's identity, manifest and capability table.

use std::path::{Path, PathBuf};

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
    /// query_op about (one representative case each; repeatable).
    #[arg(long = "suite", default_value = "suites/ops/core.yaml")]
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
    let paths: Vec<PathBuf> = a.suites.iter().map(|p| find_suite(p)).collect();
    match plan::load_suites(&paths) {
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
        Err(e) => eprintln!(
            "xpucert: warning: no capability table: {}",
            escape(&e.to_string())
        ),
    }
    Ok(ExitCode::Success)
}

/// A relative suite path that does not exist here is looked up in
/// `$XPUCERT_HOME` and then in the checkout xpucert was built from, so
/// `info` works from a vendor's own directory.
fn find_suite(path: &Path) -> PathBuf {
    if path.exists() || path.is_absolute() {
        return path.to_path_buf();
    }
    let homes = [
        std::env::var_os("XPUCERT_HOME").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")),
    ];
    homes
        .into_iter()
        .flatten()
        .map(|h| h.join(path))
        .find(|p| p.exists())
        .unwrap_or_else(|| path.to_path_buf())
}
