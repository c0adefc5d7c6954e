//! Markdown sized for a pull-request comment: the verdict, counts, the
//! failures (with figures), and the op x dtype matrix, cut to a bounded
//! length (GitHub refuses comments over 65,536 characters).

use super::matrix;
use crate::run::ResultsFile;

/// The default length bound, well under GitHub's comment limit.
pub const MAX_CHARS: usize = 60_000;

/// Neutralises Markdown and HTML in a vendor string on one line.
pub fn md_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

/// The report; never longer than `max_chars` (sections are cut with a note).
pub fn render(r: &ResultsFile, max_chars: usize) -> String {
    let s = &r.recounted_summary();
    let mut out = format!(
        "## xpucert: {} — {}\n\n",
        md_text(&r.provenance.backend_name),
        s.verdict_text()
    );
    let counts: Vec<String> = s
        .by_status
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    out.push_str(&format!(
        "{} cases: {}. Suites: {}. Library sha256 `{}`.\n\n",
        s.total,
        counts.join(", "),
        md_text(
            &r.provenance
                .suites
                .iter()
                .map(|x| x.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        md_text(
            &r.provenance
                .backend_sha256
                .chars()
                .take(16)
                .collect::<String>()
        )
    ));
    let failures: Vec<_> = r.cases.iter().filter(|c| c.status.is_failure()).collect();
    let budget_failures = max_chars / 2;
    if !failures.is_empty() {
        out.push_str(&format!(
            "### Failures ({})\n\n| case | status | what |\n|---|---|---|\n",
            failures.len()
        ));
        let start = out.len();
        let mut shown = 0;
        for c in &failures {
            let line = format!(
                "| `{}` | {} | {} |\n",
                md_text(&c.id),
                c.status,
                md_text(&super::junit::figures(c))
                    .chars()
                    .take(400)
                    .collect::<String>()
            );
            if out.len() - start + line.len() > budget_failures {
                break;
            }
            out.push_str(&line);
            shown += 1;
        }
        if shown < failures.len() {
            out.push_str(&format!(
                "\n… {} more failures in results.json\n",
                failures.len() - shown
            ));
        }
        out.push('\n');
    }
    let mismatches: Vec<_> = r
        .cases
        .iter()
        .filter(|c| c.status == crate::run::Status::OracleMismatch)
        .collect();
    if !mismatches.is_empty() {
        out.push_str(&format!(
            "### Oracle mismatches ({})

xpucert's oracle disagrees with the outputs these cases publish (`expected:`); the backend was not judged on them.

| case | what |
|---|---|
",
            mismatches.len()
        ));
        let start = out.len();
        let mut shown = 0;
        for c in &mismatches {
            let line = format!(
                "| `{}` | {} |\n",
                md_text(&c.id),
                md_text(c.message.as_deref().unwrap_or(""))
                    .chars()
                    .take(300)
                    .collect::<String>()
            );
            if out.len() - start + line.len() > max_chars / 8 {
                break;
            }
            out.push_str(&line);
            shown += 1;
        }
        if shown < mismatches.len() {
            out.push_str(&format!(
                "\n… {} more oracle mismatches in results.json\n",
                mismatches.len() - shown
            ));
        }
        out.push('\n');
    }
    let waived: Vec<_> = r
        .cases
        .iter()
        .filter(|c| c.status == crate::run::Status::Waived)
        .collect();
    if !waived.is_empty() {
        out.push_str(&format!(
            "### Waived ({})\n\n| case | waived | reason | link | expires |\n|---|---|---|---|---|\n",
            waived.len()
        ));
        let start = out.len();
        let mut shown = 0;
        for c in &waived {
            let Some(w) = &c.waiver else { continue };
            let line = format!(
                "| `{}` | {} | {} | {} | {} |\n",
                md_text(&c.id),
                w.status,
                md_text(&w.reason).chars().take(200).collect::<String>(),
                md_text(&w.link).chars().take(200).collect::<String>(),
                w.expires
            );
            if out.len() - start + line.len() > max_chars / 8 {
                break;
            }
            out.push_str(&line);
            shown += 1;
        }
        if shown < waived.len() {
            out.push_str(&format!(
                "\n… {} more waived cases in results.json\n",
                waived.len() - shown
            ));
        }
        out.push('\n');
    }
    let m = matrix::build(std::slice::from_ref(r));
    let table = matrix::markdown(&m);
    out.push_str("<details><summary>op × dtype matrix</summary>\n\n");
    let room = max_chars.saturating_sub(out.len() + 200);
    if table.len() <= room {
        out.push_str(&table);
    } else {
        let mut cut = 0;
        for (i, _) in table.match_indices('\n') {
            if i > room {
                break;
            }
            cut = i + 1;
        }
        out.push_str(&table[..cut]);
        out.push_str("\n… matrix cut to fit a comment; see report.html\n");
    }
    out.push_str("\n</details>\n");
    out
}
