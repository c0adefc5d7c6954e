//! Renderers: everything that turns results into text for people and CI.
//! All of them read a [`crate::run::ResultsFile`] (or, for `info`, what a
//! backend says about itself); none runs anything.
//!
//! Here: the terminal summary of a run, grouped by op x dtype, and the list
//! of what went wrong with the commands that rerun and debug each case;
//! [`junit`], [`markdown`] and [`html`] reports; the compatibility
//! [`matrix`] across backends; the [`gate`] comparison of two runs; failure
//! messages that teach ([`teach`]); the reports of a live run as observers
//! of its events ([`live`]); and the `info` output ([`info`],
//! [`capabilities`]).

pub mod capabilities;
pub mod gate;
pub mod html;
pub mod info;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod matrix;
mod templates;

use std::collections::BTreeMap;

pub mod teach;
pub use teach::check_meaning;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use crate::run::{CaseResult, ResultsFile, Status};

/// What a case's backend declared beyond plain IEEE arithmetic in the
/// io dtype, for the places reports show it: a compute precision other
/// than the default, and subnormal flushing (`daz`: inputs read as zero,
/// `ftz`: results written as zero). `None` when nothing was declared.
pub fn declared(c: &CaseResult) -> Option<String> {
    let mut parts: Vec<&str> = c
        .compute_precision
        .iter()
        .map(String::as_str)
        .filter(|p| *p != "default")
        .collect();
    for f in &c.flushes {
        parts.push(match f.as_str() {
            "inputs" => "daz",
            "outputs" => "ftz",
            other => other,
        });
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A waived case in words, on one line: `waived fail: REASON (LINK,
/// expires DATE)`, then its own message. What every report shows instead
/// of a pass.
pub fn waived_text(c: &CaseResult) -> String {
    let Some(w) = &c.waiver else {
        return c.status.name().to_string();
    };
    let mut s = format!(
        "waived {}: {} ({}, expires {})",
        w.status, w.reason, w.link, w.expires
    );
    if let Some(m) = &c.message {
        s.push_str("; ");
        s.push_str(m);
    }
    s.replace(['\n', '\r'], " ")
}

/// Counts for one op x dtype row.
#[derive(Default)]
struct Row {
    counts: BTreeMap<Status, usize>,
    worst_headroom: f64,
    precision: Option<String>,
}

/// The op x dtype summary table.
pub fn summary_table(results: &ResultsFile) -> Table {
    let mut rows: BTreeMap<(String, String), Row> = BTreeMap::new();
    let order: Vec<String> = crate::ops::names().map(str::to_string).collect();
    for c in &results.cases {
        let row = rows.entry((c.op.clone(), c.dtype.clone())).or_default();
        *row.counts.entry(c.status).or_default() += 1;
        if c.status != Status::Unsupported {
            row.worst_headroom = row.worst_headroom.max(c.headroom());
        }
        if row.precision.is_none() {
            row.precision = declared(c);
        }
    }
    let mut keys: Vec<_> = rows.keys().cloned().collect();
    keys.sort_by_key(|(op, dt)| {
        (
            order.iter().position(|o| o == op).unwrap_or(usize::MAX),
            dt.clone(),
        )
    });

    let summary = results.recounted_summary();
    let statuses: Vec<Status> = Status::ALL
        .into_iter()
        .filter(|s| summary.count(*s) > 0)
        .collect();
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    let mut header = vec![Cell::new("op"), Cell::new("dtype"), Cell::new("cases")];
    header.extend(statuses.iter().map(|s| Cell::new(s.name())));
    header.push(Cell::new("worst headroom"));
    header.push(Cell::new("verdict"));
    t.set_header(header);
    for key in keys {
        let row = &rows[&key];
        let total: usize = row.counts.values().sum();
        let mut cells = vec![
            Cell::new(&key.0),
            Cell::new(match &row.precision {
                Some(p) => format!("{} ({p})", key.1),
                None => key.1.clone(),
            }),
            Cell::new(total).set_alignment(CellAlignment::Right),
        ];
        for s in &statuses {
            let n = row.counts.get(s).copied().unwrap_or(0);
            let text = if n == 0 { String::new() } else { n.to_string() };
            cells.push(Cell::new(text).set_alignment(CellAlignment::Right));
        }
        cells
            .push(Cell::new(headroom_text(row.worst_headroom)).set_alignment(CellAlignment::Right));
        let verdict = if row.counts.keys().any(|s| s.is_failure()) {
            "FAIL"
        } else if row.counts.contains_key(&Status::OracleMismatch) {
            "ORACLE MISMATCH"
        } else if row.counts.contains_key(&Status::Waived) {
            "WAIVED"
        } else if row
            .counts
            .keys()
            .all(|s| *s == Status::Unsupported || *s == Status::Skip)
        {
            "unsupported"
        } else {
            "ok"
        };
        cells.push(Cell::new(verdict));
        t.add_row(cells);
    }
    t
}

fn headroom_text(h: f64) -> String {
    if h == 0.0 {
        "-".into()
    } else if h.is_infinite() {
        "inf".into()
    } else {
        format!("{h:.3}")
    }
}

/// Lines describing every failed case (at most `limit`): the check and its
/// meaning, the figures, the first mismatching elements, and the commands
/// that rerun it alone and dump it for debugging (`xpucert repro`).
/// `rerun_prefix` is the `xpucert run ...` command line without filters.
/// `out_dir` is the run's `--out` directory (model cases leave their outputs
/// under it).
pub fn failure_details(
    results: &ResultsFile,
    rerun_prefix: &str,
    out_dir: &std::path::Path,
    limit: usize,
) -> Vec<String> {
    let failed: Vec<&CaseResult> = results
        .cases
        .iter()
        .filter(|c| c.status.is_failure() || c.capability_mismatch)
        .collect();
    let mut out = Vec::new();
    for c in failed.iter().take(limit) {
        out.extend(teach::case_lines(c));
        out.push(format!("    rerun: {rerun_prefix} --filter '{}'", c.id));
        if c.model.is_some() {
            // `repro` is for op cases; a model case leaves both paths'
            // outputs and its layer profile in the run's directory.
            out.push(format!(
                "    debug: {} holds oracle.npy, backend.npy and paths.json (docs/model-suites.md)",
                out_dir.join("models").join(&c.id).display()
            ));
        } else if let Some(args) = rerun_prefix.strip_prefix("xpucert run ") {
            out.push(format!(
                "    debug: xpucert repro {} {args} --dump repro/{}",
                c.id, c.id
            ));
        }
    }
    if failed.len() > limit {
        out.push(format!(
            "... and {} more; every case is in results.json",
            failed.len() - limit
        ));
    }
    out
}

/// One line per oracle mismatch (at most `limit`): cases whose published
/// outputs (`expected:`) xpucert's oracle disagrees with. They judge
/// nothing of the backend; each is a finding about the oracle (or the
/// converter that wrote the case) to report to xpucert's maintainers.
pub fn oracle_mismatch_lines(results: &ResultsFile, limit: usize) -> Vec<String> {
    let found: Vec<&CaseResult> = results
        .cases
        .iter()
        .filter(|c| c.status == Status::OracleMismatch)
        .collect();
    let mut out: Vec<String> = found
        .iter()
        .take(limit)
        .map(|c| {
            format!(
                "ORACLE MISMATCH {}: {}",
                c.id,
                c.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    if found.len() > limit {
        out.push(format!(
            "... and {} more oracle mismatches; every case is in results.json",
            found.len() - limit
        ));
    }
    if !found.is_empty() {
        out.push(format!(
            "{} {}: xpucert's oracle disagrees with the outputs these cases publish; the backend was not judged on them (report them to xpucert's maintainers)",
            found.len(),
            if found.len() == 1 { "oracle mismatch" } else { "oracle mismatches" }
        ));
    }
    out
}

/// One line per waived case (at most `limit`), then one per waiver that
/// needs attention (expired, or waived nothing): what the terminal
/// summary shows between the failures and the verdict.
pub fn waiver_lines(results: &ResultsFile, limit: usize) -> Vec<String> {
    let waived: Vec<&CaseResult> = results
        .cases
        .iter()
        .filter(|c| c.status == Status::Waived)
        .collect();
    let mut out: Vec<String> = waived
        .iter()
        .take(limit)
        .map(|c| format!("WAIVED {}: {}", c.id, waived_text(c)))
        .collect();
    if waived.len() > limit {
        out.push(format!(
            "... and {} more waived; every case is in results.json",
            waived.len() - limit
        ));
    }
    if let Some(w) = &results.provenance.waivers {
        out.extend(w.notes.iter().map(|n| format!("attention: {}", n.line())));
    }
    out
}

/// The closing line: counts and the verdict.
pub fn verdict_line(results: &ResultsFile) -> String {
    let s = &results.recounted_summary();
    let counts: Vec<String> = s
        .by_status
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let required = results
        .required_coverage()
        .map(|r| format!("; {}", r.describe()))
        .unwrap_or_default();
    format!(
        "{} cases: {} in {:.1} s; {}{required} -> {}",
        s.total,
        counts.join(", "),
        s.wall_seconds,
        s.coverage(),
        s.verdict_text()
    )
}
