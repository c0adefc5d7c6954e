//! One self-contained HTML report of a run: inline CSS, inline JavaScript
//! (filters only), inline SVG charts; nothing is fetched at view time.
//!
//! The markup is in `harness/templates/report/` (rendered by
//! [`super::templates`], which escapes every value). This module only
//! gathers the figures and does the charts' layout arithmetic; every string
//! it hands over (backend name, manifest, messages, case ids, suite names,
//! options) is plain text that the template engine escapes, in text and
//! attribute positions alike. The JavaScript reads only `data-*` attributes.

use serde::Serialize;

use super::{matrix, templates};
use crate::run::{CaseResult, ResultsFile, Status};

/// Headroom histogram bins: ten of width 0.1 below 1, then `>= 1`.
pub fn headroom_bins(cases: &[CaseResult]) -> [usize; 11] {
    let mut bins = [0usize; 11];
    for c in cases.iter().filter(|c| !c.outputs.is_empty()) {
        let h = c.headroom();
        let i = if h.is_finite() && h < 1.0 {
            ((h.max(0.0) * 10.0) as usize).min(9)
        } else {
            10
        };
        bins[i] += 1;
    }
    bins
}

/// The headroom histogram's layout (`headroom.html.j2`). Coordinates are
/// preformatted so the SVG reads exactly as written here.
#[derive(Serialize)]
struct Histogram {
    width: String,
    height: String,
    left: String,
    axis_y: String,
    axis_x2: String,
    caption_y: String,
    bars: Vec<HistogramBar>,
}

/// One bin of [`Histogram`].
#[derive(Serialize)]
struct HistogramBar {
    x: String,
    y: String,
    width: String,
    height: String,
    colour: &'static str,
    label: String,
    count: usize,
    text_x: String,
    count_y: String,
    label_y: String,
}

fn histogram(cases: &[CaseResult]) -> Histogram {
    let bins = headroom_bins(cases);
    let max = bins.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (w, h, left, bottom) = (560.0_f64, 200.0_f64, 40.0_f64, 30.0_f64);
    let bw = (w - left - 10.0) / 11.0;
    let bars = bins
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let bh = (h - bottom - 15.0) * (*n as f64) / max;
            let x = left + i as f64 * bw;
            let colour = if i == 10 {
                "#d9534f"
            } else if i >= 5 {
                "#e6b800"
            } else {
                "#5cb85c"
            };
            let label = if i == 10 {
                "\u{2265}1".to_string()
            } else {
                format!("{:.1}", i as f64 / 10.0)
            };
            HistogramBar {
                x: format!("{:.1}", x + 2.0),
                y: format!("{:.1}", h - bottom - bh),
                width: format!("{:.1}", bw - 4.0),
                height: format!("{bh:.1}"),
                colour,
                label,
                count: *n,
                text_x: format!("{:.1}", x + bw / 2.0),
                count_y: format!("{:.1}", h - bottom - bh - 3.0),
                label_y: format!("{:.1}", h - bottom + 14.0),
            }
        })
        .collect();
    Histogram {
        width: w.to_string(),
        height: h.to_string(),
        left: left.to_string(),
        axis_y: (h - bottom).to_string(),
        axis_x2: (w - 10.0).to_string(),
        caption_y: format!("{:.1}", h - 2.0),
        bars,
    }
}

/// One throughput chart (`throughput.html.j2`): the bars of one unit.
#[derive(Serialize)]
struct ThroughputChart {
    unit: &'static str,
    width: String,
    height: String,
    bars: Vec<ThroughputBar>,
}

/// One bar of a [`ThroughputChart`], coordinates preformatted.
#[derive(Serialize)]
struct ThroughputBar {
    /// The case id (or model and phase), whole for the tooltip.
    label: String,
    /// The same, cut to 48 characters for the axis.
    short_label: String,
    label_x: String,
    label_y: String,
    x: String,
    y: String,
    width: String,
    height: String,
    value: String,
    value_short: String,
    value_x: String,
    whisker_x1: String,
    whisker_x2: String,
    whisker_y: String,
}

/// Throughput charts: one horizontal bar per measured case (GFLOP/s when
/// the cost model gave flops, else GB/s, else calls per second), with the
/// p10..p90 spread as a whisker; model cases as tokens per second. One
/// chart per unit, at most 60 bars each; none when nothing was measured.
fn throughput(cases: &[CaseResult]) -> Vec<ThroughputChart> {
    struct Bar {
        label: String,
        value: f64,
        lo: f64,
        hi: f64,
        unit: &'static str,
    }
    let mut bars = Vec::new();
    for c in cases {
        if let Some(t) = &c.throughput
            && t.median_s > 0.0
        {
            let (per, unit) = match (t.flops, t.bytes) {
                (Some(f), _) if f > 0.0 => (f / 1e9, "GFLOP/s"),
                (_, Some(b)) if b > 0.0 => (b / 1e9, "GB/s"),
                _ => (1.0, "calls/s"),
            };
            let hi = if t.p10_s > 0.0 {
                per / t.p10_s
            } else {
                per / t.median_s
            };
            let lo = if t.p90_s > 0.0 {
                per / t.p90_s
            } else {
                per / t.median_s
            };
            bars.push(Bar {
                label: c.id.clone(),
                value: per / t.median_s,
                lo,
                hi,
                unit,
            });
        }
        if let Some(m) = &c.model {
            for (what, v) in [
                ("prefill", m.prefill_tokens_per_s),
                ("decode", m.decode_tokens_per_s),
            ] {
                if let Some(v) = v.filter(|v| *v > 0.0) {
                    bars.push(Bar {
                        label: format!("{} {what}", m.name),
                        value: v,
                        lo: v,
                        hi: v,
                        unit: "tokens/s",
                    });
                }
            }
        }
    }
    let mut units: Vec<&'static str> = bars.iter().map(|b| b.unit).collect();
    units.sort();
    units.dedup();
    units
        .into_iter()
        .map(|unit| {
            let group: Vec<&Bar> = bars.iter().filter(|b| b.unit == unit).take(60).collect();
            let max = group
                .iter()
                .map(|b| b.hi.max(b.value))
                .fold(0.0, f64::max)
                .max(1e-30);
            let (w, row, left) = (760.0_f64, 16.0_f64, 300.0_f64);
            let h = row * group.len() as f64 + 30.0;
            let scale = (w - left - 80.0) / max;
            let bars = group
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let y = 20.0 + i as f64 * row;
                    ThroughputBar {
                        label: b.label.clone(),
                        short_label: b.label.chars().take(48).collect(),
                        label_x: format!("{:.1}", left - 4.0),
                        label_y: format!("{:.1}", y + 11.0),
                        x: left.to_string(),
                        y: format!("{:.1}", y + 2.0),
                        width: format!("{:.1}", b.value * scale),
                        height: format!("{:.1}", row - 4.0),
                        value: format!("{:.4}", b.value),
                        value_short: format!("{:.3}", b.value),
                        value_x: format!("{:.1}", left + b.hi.max(b.value) * scale + 4.0),
                        whisker_x1: format!("{:.1}", left + b.lo * scale),
                        whisker_x2: format!("{:.1}", left + b.hi * scale),
                        whisker_y: format!("{:.1}", y + row / 2.0),
                    }
                })
                .collect();
            ThroughputChart {
                unit,
                width: w.to_string(),
                height: h.to_string(),
                bars,
            }
        })
        .collect()
}

/// One line of the provenance table.
#[derive(Serialize)]
struct ProvenanceRow {
    key: &'static str,
    value: String,
}

/// One case: a row of the cases table and its details row.
#[derive(Serialize)]
struct CaseRow<'a> {
    id: &'a str,
    op: &'a str,
    dtype: &'a str,
    status: &'static str,
    /// Declared compute precision and subnormal flushing
    /// ([`super::declared`]); empty when nothing was declared.
    precision: String,
    /// Worst headroom to three decimals; empty when no output was checked.
    headroom: String,
    /// The first 160 characters of the message.
    message: String,
    /// The whole result as pretty JSON.
    details: String,
}

/// The context of `report.html.j2`.
#[derive(Serialize)]
struct Page<'a> {
    backend_name: &'a str,
    conformant: bool,
    /// `CONFORMANT`, `NOT CONFORMANT` or `UNTESTED`, with the waived
    /// failures it leans on.
    verdict: String,
    /// `ran N of M cases (P%)`.
    coverage: String,
    interrupted: bool,
    total: usize,
    /// `3 pass, 1 fail`.
    counts: String,
    provenance: Vec<ProvenanceRow>,
    /// The manifest as pretty JSON.
    manifest: String,
    matrix: matrix::HtmlMatrix,
    headroom: Histogram,
    throughput: Vec<ThroughputChart>,
    filter_statuses: Vec<String>,
    filter_ops: Vec<String>,
    filter_dtypes: Vec<String>,
    cases: Vec<CaseRow<'a>>,
}

/// Sorted, without duplicates: the choices of a filter.
fn choices(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = values.collect();
    v.sort();
    v.dedup();
    v
}

/// The whole page.
pub fn render(r: &ResultsFile) -> String {
    let p = &r.provenance;
    let s = &r.recounted_summary();
    let mut provenance = vec![
        ("library", p.backend_path.clone()),
        ("sha256", p.backend_sha256.clone()),
        ("ABI", p.backend_abi.clone()),
        (
            "harness",
            format!(
                "{} {}",
                p.harness_version,
                p.harness_commit.clone().unwrap_or_default()
            ),
        ),
        ("started", p.started_at.clone()),
        ("finished", p.finished_at.clone()),
        ("command", p.command.join(" ")),
        (
            "host",
            p.host
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ];
    for su in &p.suites {
        provenance.push((
            "suite",
            format!(
                "{} ({}, {} cases, sha256 {})",
                su.name, su.path, su.cases, su.sha256
            ),
        ));
    }
    if let Some(w) = &p.waivers {
        provenance.push((
            "waivers",
            format!(
                "{} ({} entries, sha256 {}, judged on {})",
                w.path,
                w.entries.len(),
                w.sha256,
                w.judged_on
            ),
        ));
        for n in &w.notes {
            provenance.push(("waiver attention", n.line()));
        }
    }
    let cases = r
        .cases
        .iter()
        .map(|c| CaseRow {
            id: &c.id,
            op: &c.op,
            dtype: &c.dtype,
            status: c.status.name(),
            precision: super::declared(c).unwrap_or_default(),
            headroom: if c.outputs.is_empty() {
                String::new()
            } else {
                format!("{:.3}", c.headroom())
            },
            message: match c.status {
                Status::Waived => super::waived_text(c),
                _ => c.message.clone().unwrap_or_default(),
            }
            .chars()
            .take(160)
            .collect(),
            details: serde_json::to_string_pretty(c).unwrap_or_default(),
        })
        .collect();
    let page = Page {
        backend_name: &p.backend_name,
        conformant: s.conformant,
        verdict: s.verdict_text(),
        coverage: s.coverage(),
        interrupted: s.interrupted,
        total: s.total,
        counts: s
            .by_status
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        provenance: provenance
            .into_iter()
            .map(|(key, value)| ProvenanceRow { key, value })
            .collect(),
        manifest: serde_json::to_string_pretty(&p.manifest).unwrap_or_default(),
        matrix: matrix::html_matrix(&matrix::build(std::slice::from_ref(r))),
        headroom: histogram(&r.cases),
        throughput: throughput(&r.cases),
        filter_statuses: choices(
            Status::ALL
                .iter()
                .filter(|st| s.count(**st) > 0)
                .map(|st| st.name().to_string()),
        ),
        filter_ops: choices(r.cases.iter().map(|c| c.op.clone())),
        filter_dtypes: choices(r.cases.iter().map(|c| c.dtype.clone())),
        cases,
    };
    templates::render("report.html.j2", &page)
}
