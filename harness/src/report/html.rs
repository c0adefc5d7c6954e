//! One self-contained HTML report of a run: inline CSS, inline JavaScript
//! (filters only), inline SVG charts; nothing is fetched at view time.
//!
//! Every string that comes from a results file (backend name, manifest,
//! messages, case ids, suite names, options) goes through [`esc`] before it
//! reaches the page, in text and attribute positions alike; the page has no
//! other way in for data. The JavaScript reads only `data-*` attributes.

use std::fmt::Write as _;

use super::matrix;
use crate::run::{CaseResult, ResultsFile, Status};

/// Escapes text for HTML text and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page style (also used by the matrix page).
pub const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em;color:#1d1d1f;background:#fff}\
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.4em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.v-pass,.s-pass{background:#d9f2d9}.v-warn,.s-warn{background:#fff1c2}\
.v-fail,.s-fail,.s-error,.s-crash,.s-timeout{background:#f8d0d0}.v-unsupported,.s-unsupported,.s-skip{background:#e8e8e8;color:#555}\
.v-emulated{background:#dbe8fb}.v-none{color:#999}.verdict-ok{color:#116611}.verdict-bad{color:#aa1111}\
pre{background:#f7f7f7;padding:.5em;overflow:auto;max-height:20em;white-space:pre-wrap;word-break:break-all}\
.filters label{margin-right:1em}.muted{color:#666}svg text{font-size:11px;font-family:sans-serif}details summary{cursor:pointer}";

const SCRIPT: &str = "function applyFilters(){\
var s=document.getElementById('f-status').value,o=document.getElementById('f-op').value,d=document.getElementById('f-dtype').value,q=document.getElementById('f-text').value.toLowerCase();\
var rows=document.querySelectorAll('#cases tbody tr.case'),n=0;\
for(var i=0;i<rows.length;i++){var r=rows[i];var ok=(!s||r.dataset.status===s)&&(!o||r.dataset.op===o)&&(!d||r.dataset.dtype===d)&&(!q||r.dataset.id.toLowerCase().indexOf(q)>=0);\
r.style.display=ok?'':'none';var det=r.nextElementSibling;if(det&&det.classList.contains('detail'))det.style.display=ok?'':'none';if(ok)n++;}\
document.getElementById('f-count').textContent=n+' shown';}\
document.addEventListener('DOMContentLoaded',function(){['f-status','f-op','f-dtype','f-text'].forEach(function(id){var e=document.getElementById(id);e.addEventListener('input',applyFilters);e.addEventListener('change',applyFilters);});applyFilters();});";

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

/// The headroom histogram as inline SVG.
pub fn headroom_svg(cases: &[CaseResult]) -> String {
    let bins = headroom_bins(cases);
    let max = bins.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (w, h, left, bottom) = (560.0, 200.0, 40.0, 30.0);
    let bw = (w - left - 10.0) / 11.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"headroom-histogram\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"headroom histogram\">"
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#333\"/>",
        y = h - bottom,
        x2 = w - 10.0
    );
    for (i, n) in bins.iter().enumerate() {
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
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{label}: {n} cases</title></rect>\
<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{n}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            x + 2.0,
            h - bottom - bh,
            bw - 4.0,
            bh,
            x + bw / 2.0,
            h - bottom - bh - 3.0,
            x + bw / 2.0,
            h - bottom + 14.0
        );
    }
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"{:.1}\">worst headroom per case (measured error / allowed)</text></svg>",
        h - 2.0
    );
    s
}

/// Throughput chart: one horizontal bar per measured case (GFLOP/s when
/// the cost model gave flops, else GB/s, else calls per second), with the
/// p10..p90 spread as a whisker; model cases as tokens per second.
pub fn throughput_svg(cases: &[CaseResult]) -> String {
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
    if bars.is_empty() {
        return "<p class=\"muted\" id=\"throughput-none\">No throughput was measured in this run.</p>".into();
    }
    let mut out = String::new();
    let mut units: Vec<&str> = bars.iter().map(|b| b.unit).collect();
    units.sort();
    units.dedup();
    for unit in units {
        let group: Vec<&Bar> = bars.iter().filter(|b| b.unit == unit).take(60).collect();
        let max = group
            .iter()
            .map(|b| b.hi.max(b.value))
            .fold(0.0, f64::max)
            .max(1e-30);
        let (w, row, left) = (760.0, 16.0, 300.0);
        let h = row * group.len() as f64 + 30.0;
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"throughput\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"throughput in {unit}\"><text x=\"0\" y=\"12\">{unit} (bar: median; whisker: p90..p10 time)</text>"
        );
        for (i, b) in group.iter().enumerate() {
            let y = 20.0 + i as f64 * row;
            let scale = (w - left - 80.0) / max;
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#4a7fc1\"><title>{}: {:.4} {unit}</title></rect>\
<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#222\"/><text x=\"{:.1}\" y=\"{:.1}\">{:.3}</text>",
                left - 4.0,
                y + 11.0,
                esc(&b.label.chars().take(48).collect::<String>()),
                y + 2.0,
                b.value * scale,
                row - 4.0,
                esc(&b.label),
                b.value,
                left + b.lo * scale,
                left + b.hi * scale,
                y + row / 2.0,
                y + row / 2.0,
                left + b.hi.max(b.value) * scale + 4.0,
                y + 11.0,
                b.value
            );
        }
        out.push_str("</svg>");
    }
    out
}

fn options(values: impl Iterator<Item = String>) -> String {
    let mut v: Vec<String> = values.collect();
    v.sort();
    v.dedup();
    v.iter()
        .map(|x| format!("<option value=\"{0}\">{0}</option>", esc(x)))
        .collect()
}

/// The whole page.
pub fn render(r: &ResultsFile) -> String {
    let p = &r.provenance;
    let s = &r.summary;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
<title>xpucert report: {}</title><style>{CSS}</style></head><body>",
        esc(&p.backend_name)
    );
    let _ = write!(
        out,
        "<h1>xpucert report: <span id=\"backend-name\">{}</span></h1><p class=\"{}\" id=\"verdict\"><b>{}</b> — {} cases: {}{}</p>",
        esc(&p.backend_name),
        if s.conformant {
            "verdict-ok"
        } else {
            "verdict-bad"
        },
        if s.conformant {
            "CONFORMANT"
        } else {
            "NOT CONFORMANT"
        },
        s.total,
        esc(&s
            .by_status
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")),
        if s.interrupted { " (interrupted)" } else { "" }
    );
    // provenance
    out.push_str("<h2>Provenance</h2><table id=\"provenance\">");
    let mut prov = vec![
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
        prov.push((
            "suite",
            format!(
                "{} ({}, {} cases, sha256 {})",
                su.name, su.path, su.cases, su.sha256
            ),
        ));
    }
    for (k, v) in prov {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    out.push_str("</table><details><summary>manifest</summary><pre id=\"manifest\">");
    out.push_str(&esc(
        &serde_json::to_string_pretty(&p.manifest).unwrap_or_default()
    ));
    out.push_str("</pre></details>");
    // matrix
    out.push_str("<h2>Matrix (op × dtype)</h2>");
    out.push_str(&matrix::html_table(&matrix::build(std::slice::from_ref(r))));
    // charts
    out.push_str("<h2>Headroom</h2>");
    out.push_str(&headroom_svg(&r.cases));
    out.push_str("<h2>Throughput</h2>");
    out.push_str(&throughput_svg(&r.cases));
    // cases
    let statuses: Vec<String> = Status::ALL
        .iter()
        .filter(|st| s.count(**st) > 0)
        .map(|st| st.name().to_string())
        .collect();
    let _ = write!(
        out,
        "<h2>Cases</h2><div class=\"filters\"><label>status <select id=\"f-status\"><option value=\"\">all</option>{}</select></label>\
<label>op <select id=\"f-op\"><option value=\"\">all</option>{}</select></label>\
<label>dtype <select id=\"f-dtype\"><option value=\"\">all</option>{}</select></label>\
<label>id <input id=\"f-text\" type=\"search\"></label><span id=\"f-count\" class=\"muted\"></span></div>",
        options(statuses.into_iter()),
        options(r.cases.iter().map(|c| c.op.clone())),
        options(r.cases.iter().map(|c| c.dtype.clone()))
    );
    out.push_str("<table id=\"cases\"><thead><tr><th>case</th><th>op</th><th>dtype</th><th>status</th><th>precision</th><th>headroom</th><th>message</th></tr></thead><tbody>");
    for c in &r.cases {
        let _ = write!(
            out,
            "<tr class=\"case s-{st}\" data-status=\"{st}\" data-op=\"{op}\" data-dtype=\"{dt}\" data-id=\"{id}\"><td>{id}</td><td>{op}</td><td>{dt}</td><td>{st}</td><td>{pr}</td><td>{hr}</td><td>{msg}</td></tr>",
            st = c.status.name(),
            op = esc(&c.op),
            dt = esc(&c.dtype),
            id = esc(&c.id),
            pr = esc(c.compute_precision.as_deref().unwrap_or("")),
            hr = if c.outputs.is_empty() {
                String::new()
            } else {
                format!("{:.3}", c.headroom())
            },
            msg = esc(&c
                .message
                .clone()
                .unwrap_or_default()
                .chars()
                .take(160)
                .collect::<String>()),
        );
        let _ = write!(
            out,
            "<tr class=\"detail\"><td colspan=\"7\"><details><summary>details</summary><pre>{}</pre></details></td></tr>",
            esc(&serde_json::to_string_pretty(c).unwrap_or_default())
        );
    }
    out.push_str("</tbody></table>");
    let _ = writeln!(out, "<script>{SCRIPT}</script></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
