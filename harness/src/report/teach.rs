//! Failure messages that teach: what a check means in one line, and the
//! first mismatching elements with their indices, values and allowances.

use crate::numerics::check::{CheckSpec, Comparison};

/// One line saying what `spec` demands of each element.
pub fn check_meaning(spec: &CheckSpec) -> String {
    match spec {
        CheckSpec::Exact => {
            "every element bitwise equal to the oracle (any NaN matches any NaN)".into()
        }
        CheckSpec::Allclose { rtol, atol } => {
            format!("|got - expected| <= {atol:e} + {rtol:e} * |expected| per element")
        }
        CheckSpec::Ulp { n } => {
            format!("within {n} ulp of the exact result, counted in the output dtype")
        }
        CheckSpec::Bound { c } => format!(
            "|got - expected| <= {c:.1} * u * M + u_out * |expected|: u the compute precision's unit roundoff, M the sum of |terms| (an honest reduction's error bound)"
        ),
    }
}

/// The figures of a comparison on one line.
pub fn figures_line(c: &Comparison) -> String {
    let mut s = format!(
        "{} of {} elements outside; max abs err {:.3e}, max rel err {:.3e}, headroom {:.3}",
        c.mismatches, c.elements, c.max_abs_err, c.max_rel_err, c.headroom
    );
    if c.special_mismatches > 0 {
        s.push_str(&format!(", {} NaN/Inf mismatches", c.special_mismatches));
    }
    s
}

fn index_text(index: &[usize]) -> String {
    let parts: Vec<String> = index.iter().map(|i| i.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// The lines that explain one case: its status and id, then for each
/// failing output the check and what it means, the figures, the precision
/// the errors imply (for `bound`), and the first few mismatching elements;
/// the backend's message when no output was compared (or memory-safety
/// findings came first).
pub fn case_lines(c: &crate::run::CaseResult) -> Vec<String> {
    let mut out = vec![format!(
        "{} {} ({})",
        c.status.name().to_uppercase(),
        c.id,
        c.location
    )];
    let failing: Vec<_> = c.outputs.iter().filter(|o| !o.comparison.passed).collect();
    let explained_by_outputs = !failing.is_empty()
        && c.message
            .as_deref()
            .is_some_and(|m| m.starts_with("output "));
    if !explained_by_outputs && let Some(m) = &c.message {
        out.push(format!("    {m}"));
    }
    for o in failing {
        let cmp = &o.comparison;
        out.push(format!(
            "    output {} ({} {:?}): check {}: {}",
            o.index,
            o.dtype,
            o.shape,
            cmp.check,
            check_meaning(&cmp.check)
        ));
        out.push(format!("      {}", figures_line(cmp)));
        if let Some(why) = &o.explanation {
            out.push(format!("      {why}"));
        }
        let samples: Vec<_> = if cmp.mismatch_samples.is_empty() {
            cmp.first_mismatch.iter().collect()
        } else {
            cmp.mismatch_samples.iter().collect()
        };
        for m in samples {
            let err = (m.actual - m.expected).abs();
            let allowed = m
                .allowed
                .map_or_else(|| "exact".to_string(), |a| format!("{a:.3e}"));
            out.push(format!(
                "      at {}: expected {:e}, got {:e}, error {:.3e}, allowed {allowed}",
                index_text(&m.index),
                m.expected,
                m.actual,
                err
            ));
        }
        if cmp.mismatches > cmp.mismatch_samples.len().max(1) {
            out.push(format!(
                "      ... {} more elements outside",
                cmp.mismatches - cmp.mismatch_samples.len().max(1)
            ));
        }
    }
    out
}

/// One plain line per failed or waived case (or capability mismatch), for
/// CI logs: `FAIL <id> (<location>): <message>`, `WAIVED <id> (<location>):
/// waived fail: <reason> (<link>, expires <date>); <message>`; no colours,
/// no table.
pub fn ci_lines(results: &crate::run::ResultsFile) -> Vec<String> {
    results
        .cases
        .iter()
        .filter(|c| {
            c.status.is_failure() || c.status == crate::run::Status::Waived || c.capability_mismatch
        })
        .map(|c| {
            if c.status == crate::run::Status::Waived {
                return format!(
                    "WAIVED {} ({}): {}",
                    c.id,
                    c.location,
                    super::waived_text(c)
                );
            }
            let mut line = format!(
                "{} {} ({})",
                c.status.name().to_uppercase(),
                c.id,
                c.location
            );
            if let Some(m) = &c.message {
                line.push_str(": ");
                line.push_str(&m.replace('\n', " "));
            }
            line
        })
        .collect()
}
