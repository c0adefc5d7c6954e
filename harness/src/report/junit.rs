//! JUnit XML (through quick-junit): one `<testsuite>` per suite file of the
//! run, one `<testcase>` per case (classname = op, name = case id); fail,
//! error, crash and timeout become failures or errors whose text carries
//! the figures (check, max errors, headroom, first mismatch); unsupported
//! and skip are skipped with the reason.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::run::{CaseResult, ResultsFile, Status};

/// The figures of a case, one line per output.
pub fn figures(c: &CaseResult) -> String {
    let mut lines = Vec::new();
    if let Some(m) = &c.message {
        lines.push(m.clone());
    }
    for o in &c.outputs {
        let k = &o.comparison;
        lines.push(format!(
            "output {} ({} {:?}): check {}, max abs err {:.3e}, max rel err {:.3e}, headroom {:.3}, {} of {} elements mismatched, {} NaN/Inf mismatches",
            o.index,
            o.dtype,
            o.shape,
            serde_json::to_string(&k.check).unwrap_or_default(),
            k.max_abs_err,
            k.max_rel_err,
            k.headroom,
            k.mismatches,
            k.elements,
            k.special_mismatches
        ));
        if let Some(f) = &k.first_mismatch {
            lines.push(format!(
                "  first mismatch: {}",
                serde_json::to_string(f).unwrap_or_default()
            ));
        }
    }
    if let Some(p) = &c.compute_precision {
        lines.push(format!("declared compute precision: {p}"));
    }
    if !c.flushes.is_empty() {
        lines.push(format!(
            "declared subnormal flushing: {}",
            c.flushes.join(", ")
        ));
    }
    lines.push(format!("at {}", c.location));
    lines.join("\n")
}

/// The JUnit XML of a run.
pub fn render(r: &ResultsFile) -> String {
    let mut report = Report::new(format!("xpucert {}", r.provenance.backend_name));
    // Cases go to the suite whose name prefixes their id (ids are
    // `<suite>.<...>`), else to one named after the op.
    let suites: Vec<String> = r.provenance.suites.iter().map(|s| s.name.clone()).collect();
    let mut groups: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
    for c in &r.cases {
        let g = suites
            .iter()
            .filter(|s| c.id.starts_with(&format!("{s}.")))
            .max_by_key(|s| s.len())
            .cloned()
            .unwrap_or_else(|| c.op.clone());
        groups.entry(g).or_default().push(c);
    }
    for (name, cases) in groups {
        let mut ts = TestSuite::new(name);
        for c in cases {
            let status = match c.status {
                Status::Pass | Status::Warn => TestCaseStatus::success(),
                Status::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(
                        c.message
                            .clone()
                            .unwrap_or_else(|| "outside tolerance".into()),
                    )
                    .set_type("fail")
                    .set_description(figures(c));
                    s
                }
                Status::Error | Status::Crash | Status::Timeout => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    s.set_message(c.message.clone().unwrap_or_else(|| c.status.name().into()))
                        .set_type(c.status.name())
                        .set_description(figures(c));
                    s
                }
                // An error of the test itself, not a failure of the
                // backend: xpucert's oracle disagrees with the published
                // outputs, so the backend was not judged.
                Status::OracleMismatch => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    s.set_message(c.message.clone().unwrap_or_else(|| c.status.name().into()))
                        .set_type(c.status.name())
                        .set_description(figures(c));
                    s
                }
                // Skipped with a message, as CI test views show expected
                // failures: neither a pass nor a failure.
                Status::Waived => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(super::waived_text(c)).set_type("waived");
                    s
                }
                Status::Unsupported | Status::Skip => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(c.message.clone().unwrap_or_else(|| c.status.name().into()))
                        .set_type(c.status.name());
                    s
                }
            };
            let mut tc = TestCase::new(c.id.clone(), status);
            tc.set_classname(format!("{}.{}", c.op, c.dtype));
            if c.run_seconds.is_finite() && c.run_seconds >= 0.0 {
                tc.set_time(Duration::from_secs_f64(c.run_seconds));
            }
            if c.status == Status::Warn {
                tc.set_system_out(format!("warn: {}", figures(c)));
            }
            ts.add_test_case(tc);
        }
        report.add_test_suite(ts);
    }
    let xml = report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- junit serialization failed: {e} -->"));
    // XML 1.0 cannot hold most control characters even as references, so a
    // vendor message's ESC would make the whole file unreadable: visible
    // escapes instead (the markup itself has none).
    crate::text::escape(&xml).into_owned()
}
