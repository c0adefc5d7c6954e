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
    /// `text`: the identity lines, the manifest and the capability table;
    /// `json`: one object with the same (`backend`, `library`, `sha256`,
    /// `abi`, `groups`, `manifest`, `capabilities`, `capability_error`).
    #[arg(long, value_enum, default_value_t = InfoFormat::Text)]
    format: InfoFormat,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
enum InfoFormat {
    /// Lines and tables.
    Text,
    /// One JSON object.
    Json,
}

/// Runs `info`.
pub(super) fn info(a: InfoArgs) -> Result<ExitCode, Failure> {
    let mut b = plan::open_backend(&a.backend, &a.options, a.isolation.into(), 60.0)?;
    let sha256 = library_sha256(b.path());
    let manifest_text = b
        .manifest()
        .map_err(|e| Failure::usage(format!("{}: get_manifest failed: {e}", b.path().display())))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&manifest_text).unwrap_or(serde_json::Value::Null);
    let capabilities = super::suite_paths(&a.suites)
        .map_err(|f| f.message)
        .and_then(|paths| plan::load_suites(&paths).map_err(|e| e.to_string()))
        .map(|suites| {
            crate::run::capabilities::probe(b.as_mut(), &plan::selected(&suites, &[]), &manifest)
        });
    if a.format == InfoFormat::Json {
        let (major, minor) = b.abi_version();
        let groups: serde_json::Map<String, serde_json::Value> = b
            .optional_groups()
            .into_iter()
            .map(|(g, present)| (g.replace(' ', "_"), present.into()))
            .collect();
        let (rows, error) = match &capabilities {
            Ok(rows) => (serde_json::to_value(rows).unwrap_or_default(), None),
            Err(e) => (serde_json::Value::Array(Vec::new()), Some(e.clone())),
        };
        let v = serde_json::json!({
            "backend": b.name(),
            "library": b.path().display().to_string(),
            "sha256": sha256,
            "abi": format!("{major}.{minor}"),
            "table_size": b.table_size(),
            "groups": groups,
            // The text as is when it is not JSON.
            "manifest": if manifest.is_null() { manifest_text.into() } else { manifest },
            "capabilities": rows,
            "capability_error": error,
        });
        let text = crate::text::to_json_pretty(&v)
            .map_err(|e| Failure::usage(format!("cannot write the info: {e}")))?;
        println!("{text}");
        return Ok(ExitCode::Success);
    }
    // Name, manifest and capability notes are the vendor's: escaped.
    println!(
        "{}",
        escape(&crate::report::info::identity(b.as_ref(), &sha256))
    );
    println!("{}", escape(&crate::report::info::manifest(&manifest_text)));
    match capabilities {
        Ok(rows) => println!("{}", escape(&crate::report::capabilities::render(&rows))),
        Err(e) => eprintln!("xpucert: warning: no capability table: {}", escape(&e)),
    }
    Ok(ExitCode::Success)
}
