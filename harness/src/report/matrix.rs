//! The compatibility matrix: rows op x dtype (then one row per model x
//! dtype), one column per results file (a backend, with its options), each
//! cell a verdict with the declared compute precision and the worst
//! headroom. Rendered as Markdown, HTML, JSON or a terminal table.
//!
//! A cell is `fail` if any of its cases failed, errored, crashed or timed
//! out; else `unsupported` if none ran; else `warn` if any warned; else
//! `emulated` if the backend declared any of them emulated; else `pass`.

use std::collections::BTreeMap;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

use crate::run::{CaseResult, ResultsFile, Status};

/// The verdict of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every case passed.
    Pass,
    /// Conformant, some beyond the quality bound.
    Warn,
    /// Passed, but the backend declared emulation.
    Emulated,
    /// Nothing ran.
    Unsupported,
    /// No failure, but failures the run's waivers expect (`waived`).
    Waived,
    /// A failure.
    Fail,
    /// No failure, but the oracle disagrees with a case's published
    /// outputs (`oracle_mismatch`): the backend is not judged there.
    OracleMismatch,
}

impl Verdict {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Emulated => "emulated",
            Verdict::Unsupported => "unsupported",
            Verdict::Waived => "waived",
            Verdict::Fail => "fail",
            Verdict::OracleMismatch => "oracle_mismatch",
        }
    }
}

/// One backend column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// Shown name: the backend's name and its `--option`s.
    pub label: String,
    /// The library's self-reported name.
    pub backend: String,
    /// sha256 of the library.
    pub backend_sha256: String,
    /// Backend options of the run.
    pub options: Vec<String>,
}

/// One row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RowKey {
    /// `op` or `model`.
    pub kind: String,
    /// Op name or model name.
    pub name: String,
    /// dtype.
    pub dtype: String,
}

/// One cell.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixCell {
    /// The verdict.
    pub verdict: Verdict,
    /// Number of cases.
    pub cases: usize,
    /// Count per status.
    pub by_status: BTreeMap<String, usize>,
    /// Declared compute precision when not the default, and declared
    /// subnormal flushing (`daz`, `ftz`): see [`super::declared`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// Worst headroom over cases that ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_headroom: Option<f64>,
}

/// The whole matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// Backends.
    pub columns: Vec<Column>,
    /// Rows, in op vocabulary order, then models.
    pub rows: Vec<RowKey>,
    /// `cells[row][column]`; `None` where a backend has no case of the row.
    pub cells: Vec<Vec<Option<MatrixCell>>>,
}

fn row_key(c: &CaseResult) -> RowKey {
    match &c.model {
        Some(m) => RowKey {
            kind: "model".into(),
            name: m.name.clone(),
            dtype: c.dtype.clone(),
        },
        None => RowKey {
            kind: "op".into(),
            name: c.op.clone(),
            dtype: c.dtype.clone(),
        },
    }
}

fn cell(cases: &[&CaseResult]) -> MatrixCell {
    let mut by_status = BTreeMap::new();
    for c in cases {
        *by_status.entry(c.status.name().to_string()).or_insert(0) += 1;
    }
    let ran: Vec<&&CaseResult> = cases
        .iter()
        .filter(|c| !matches!(c.status, Status::Unsupported | Status::Skip))
        .collect();
    let verdict = if cases.iter().any(|c| c.status.is_failure()) {
        Verdict::Fail
    } else if cases.iter().any(|c| c.status == Status::OracleMismatch) {
        Verdict::OracleMismatch
    } else if cases.iter().any(|c| c.status == Status::Waived) {
        Verdict::Waived
    } else if ran.is_empty() {
        Verdict::Unsupported
    } else if ran.iter().any(|c| c.status == Status::Warn) {
        Verdict::Warn
    } else if ran.iter().any(|c| c.support.as_deref() == Some("emulated")) {
        Verdict::Emulated
    } else {
        Verdict::Pass
    };
    let precision = cases.iter().find_map(|c| super::declared(c));
    let worst_headroom = ran
        .iter()
        .filter(|c| !c.outputs.is_empty())
        .map(|c| c.headroom())
        .fold(None, |a: Option<f64>, h| Some(a.map_or(h, |a| a.max(h))));
    MatrixCell {
        verdict,
        cases: cases.len(),
        by_status,
        precision,
        worst_headroom,
    }
}

/// The column label of a results file.
pub fn label(r: &ResultsFile) -> String {
    let opts = crate::run::shard::command_options(&r.provenance.command);
    if opts.is_empty() {
        r.provenance.backend_name.clone()
    } else {
        format!("{} ({})", r.provenance.backend_name, opts.join(", "))
    }
}

/// Builds the matrix of `files` (one column each, in order).
pub fn build(files: &[ResultsFile]) -> Matrix {
    let order: Vec<&str> = crate::ops::names().collect();
    let mut columns: Vec<Column> = Vec::new();
    let mut by_row: BTreeMap<RowKey, Vec<Vec<&CaseResult>>> = BTreeMap::new();
    for (ci, r) in files.iter().enumerate() {
        let mut l = label(r);
        let n = columns
            .iter()
            .filter(|c| c.label == l || c.label.starts_with(&format!("{l} #")))
            .count();
        if n > 0 {
            l = format!("{l} #{}", n + 1);
        }
        columns.push(Column {
            label: l,
            backend: r.provenance.backend_name.clone(),
            backend_sha256: r.provenance.backend_sha256.clone(),
            options: crate::run::shard::command_options(&r.provenance.command),
        });
        for c in &r.cases {
            let v = by_row
                .entry(row_key(c))
                .or_insert_with(|| vec![Vec::new(); files.len()]);
            v[ci].push(c);
        }
    }
    let mut rows: Vec<RowKey> = by_row.keys().cloned().collect();
    rows.sort_by_key(|k| {
        (
            k.kind == "model",
            order
                .iter()
                .position(|o| *o == k.name)
                .unwrap_or(usize::MAX),
            k.name.clone(),
            k.dtype.clone(),
        )
    });
    let cells = rows
        .iter()
        .map(|k| {
            by_row[k]
                .iter()
                .map(|cases| (!cases.is_empty()).then(|| cell(cases)))
                .collect()
        })
        .collect();
    Matrix {
        columns,
        rows,
        cells,
    }
}

impl MatrixCell {
    /// Short text: `pass`, `warn bf16 h=0.62`, `fail 2/5`.
    pub fn text(&self) -> String {
        let mut s = self.verdict.name().to_string();
        if self.verdict == Verdict::Fail {
            let failed: usize = self
                .by_status
                .iter()
                .filter(|(k, _)| matches!(k.as_str(), "fail" | "error" | "crash" | "timeout"))
                .map(|(_, v)| v)
                .sum();
            s.push_str(&format!(" {failed}/{}", self.cases));
        }
        if self.verdict == Verdict::Waived {
            let waived = self.by_status.get("waived").copied().unwrap_or(0);
            s.push_str(&format!(" {waived}/{}", self.cases));
        }
        if let Some(p) = &self.precision {
            s.push_str(&format!(" [{p}]"));
        }
        if let Some(h) = self.worst_headroom
            && self.verdict != Verdict::Unsupported
        {
            s.push_str(&format!(" h={h:.2}"));
        }
        s
    }
}

fn row_name(k: &RowKey) -> String {
    if k.kind == "model" {
        format!("model {}", k.name)
    } else {
        k.name.clone()
    }
}

/// Markdown table (a legend line first). Vendor strings have `|` and
/// newlines neutralised so they cannot break the table.
pub fn markdown(m: &Matrix) -> String {
    let md = |s: &str| {
        s.replace('|', "\\|")
            .replace(['\n', '\r'], " ")
            .replace('<', "&lt;")
    };
    let mut out = String::from(
        "Cells: verdict, [declared compute precision, daz/ftz subnormal flushing], h = worst headroom (measured error / allowed).\n\n",
    );
    out.push_str("| op | dtype |");
    for c in &m.columns {
        out.push_str(&format!(" {} |", md(&c.label)));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(m.columns.len()));
    out.push('\n');
    for (k, row) in m.rows.iter().zip(&m.cells) {
        out.push_str(&format!("| {} | {} |", md(&row_name(k)), md(&k.dtype)));
        for c in row {
            out.push_str(&format!(
                " {} |",
                c.as_ref().map_or("—".to_string(), |c| md(&c.text()))
            ));
        }
        out.push('\n');
    }
    out
}

/// Terminal table.
pub fn table(m: &Matrix) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    let mut header = vec!["op".to_string(), "dtype".to_string()];
    header.extend(m.columns.iter().map(|c| c.label.clone()));
    t.set_header(header);
    for (k, row) in m.rows.iter().zip(&m.cells) {
        let mut cells = vec![row_name(k), k.dtype.clone()];
        cells.extend(
            row.iter()
                .map(|c| c.as_ref().map_or("-".into(), MatrixCell::text)),
        );
        t.add_row(cells);
    }
    t
}

/// The matrix as the HTML templates see it (`matrix_table.html.j2`): plain
/// strings, escaped by the template engine.
#[derive(Debug, Clone, Serialize)]
pub struct HtmlMatrix {
    columns: Vec<HtmlColumn>,
    rows: Vec<HtmlRow>,
}

/// A column head: the label, with the library's sha256 as its tooltip.
#[derive(Debug, Clone, Serialize)]
struct HtmlColumn {
    label: String,
    sha256: String,
}

/// A row: its key, shown name, and one cell per column.
#[derive(Debug, Clone, Serialize)]
struct HtmlRow {
    name: String,
    dtype: String,
    row_name: String,
    cells: Vec<Option<HtmlCell>>,
}

/// A cell: verdict (its CSS class), counts per status (tooltip), short text.
#[derive(Debug, Clone, Serialize)]
struct HtmlCell {
    verdict: &'static str,
    counts: String,
    text: String,
}

/// The matrix prepared for the HTML templates (classes `v-pass` ... for
/// colour).
pub fn html_matrix(m: &Matrix) -> HtmlMatrix {
    HtmlMatrix {
        columns: m
            .columns
            .iter()
            .map(|c| HtmlColumn {
                label: c.label.clone(),
                sha256: c.backend_sha256.clone(),
            })
            .collect(),
        rows: m
            .rows
            .iter()
            .zip(&m.cells)
            .map(|(k, row)| HtmlRow {
                name: k.name.clone(),
                dtype: k.dtype.clone(),
                row_name: row_name(k),
                cells: row
                    .iter()
                    .map(|c| {
                        c.as_ref().map(|c| HtmlCell {
                            verdict: c.verdict.name(),
                            counts: c
                                .by_status
                                .iter()
                                .map(|(k, v)| format!("{k}: {v}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            text: c.text(),
                        })
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// A standalone HTML page of the matrix.
pub fn html_page(m: &Matrix) -> String {
    #[derive(Serialize)]
    struct Page {
        matrix: HtmlMatrix,
    }
    super::templates::render(
        "matrix.html.j2",
        &Page {
            matrix: html_matrix(m),
        },
    )
}
