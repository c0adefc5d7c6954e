//! What `xpucert info` prints about a backend: who it is (name, library,
//! sha256, ABI, optional groups) and what its manifest declares. The
//! capability table that follows is [`super::capabilities`].

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;

use crate::backend::Executor;
use crate::text::escape_line;

/// The identity lines: name, library path and sha256, ABI version, and
/// which optional function groups the library provides.
pub fn identity(b: &dyn Executor, sha256: &str) -> String {
    let (major, minor) = b.abi_version();
    let mut lines = vec![
        format!("backend:   {}", escape_line(b.name())),
        format!("library:   {}", b.path().display()),
        format!("sha256:    {sha256}"),
        format!(
            "abi:       {major}.{minor} (function table {} bytes)",
            b.table_size()
        ),
    ];
    for (group, present) in b.optional_groups() {
        lines.push(format!(
            "{:<10} {}",
            format!("{group}:"),
            if present { "provided" } else { "not provided" }
        ));
    }
    lines.join("\n")
}

/// The manifest's version fields and its op table (op, opsets, dtypes), or
/// the text as is when it is not JSON.
pub fn manifest(text: &str) -> String {
    let v = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v,
        Err(e) => return format!("manifest is not valid JSON ({e}):\n{text}"),
    };
    let mut out = String::new();
    for key in [
        "vendor",
        "device",
        "backend_version",
        "driver_version",
        "firmware_version",
        "sdk_version",
    ] {
        if let Some(s) = v.get(key).and_then(|x| x.as_str()) {
            out.push_str(&format!("{:<10} {}\n", format!("{key}:"), escape_line(s)));
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
        t.add_row([
            escape_line(&full).into_owned(),
            escape_line(&join("opsets")).into_owned(),
            escape_line(&join("dtypes")).into_owned(),
        ]);
    }
    out.push_str(&t.to_string());
    out
}
