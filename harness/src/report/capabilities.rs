//! The capability table of `xpucert info`: the rows of
//! [`crate::run::capabilities::probe`] as a terminal table with a summary.

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;

use crate::run::capabilities::Capability;

/// The table printed by `info`.
pub fn table(rows: &[Capability]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_header([
        "op",
        "dtype",
        "query_op",
        "compute precision",
        "manifest",
        "check",
    ]);
    for r in rows {
        let support = match r.support.as_str() {
            "native" => "supported".to_string(),
            "emulated" => "emulated".to_string(),
            "none" => "unsupported".to_string(),
            other => other.to_string(),
        };
        t.add_row([
            r.op.clone(),
            r.dtype.clone(),
            support,
            r.precision.clone().unwrap_or_else(|| "-".into()),
            if r.declared { "declared" } else { "-" }.to_string(),
            match &r.mismatch {
                Some(m) => format!("MISMATCH: {m}"),
                None => "ok".into(),
            },
        ]);
    }
    t
}

/// The capability section of `info`: a title line, the table and a
/// summary line.
pub fn render(rows: &[Capability]) -> String {
    let mut out =
        String::from("capabilities (query_op on one case of each op x dtype of the suites):\n");
    out.push_str(&format!("{}\n", table(rows)));
    let count = |s: &str| rows.iter().filter(|r| r.support == s).count();
    let mismatches = rows.iter().filter(|r| r.mismatch.is_some()).count();
    out.push_str(&format!(
        "{} op x dtype: {} supported, {} emulated, {} unsupported, {} query errors; {} manifest mismatch{}",
        rows.len(),
        count("native"),
        count("emulated"),
        count("none"),
        rows.iter()
            .filter(|r| r.support.starts_with("error"))
            .count(),
        mismatches,
        if mismatches == 1 { "" } else { "es" }
    ));
    out
}
