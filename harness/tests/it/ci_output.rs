//! Output for CI logs: `--format lines` prints one plain line per failure
//! and the verdict, and nothing on stdout or stderr carries ANSI escapes or
//! progress redraws when they are not terminals.

use crate::common;

#[test]
fn lines_format_is_one_plain_line_per_failure() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = common::failing_softmax_run(out_dir.path(), &["--format", "lines"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let fails: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FAIL ")).collect();
    assert!(!fails.is_empty(), "{}", out.stdout);
    assert!(
        fails
            .iter()
            .all(|l| l.contains("core.softmax.f32.") && l.contains("): output 0:")),
        "{}",
        out.stdout
    );
    // failures, the verdict, the results path: nothing else
    assert_eq!(lines.len(), fails.len() + 2, "{}", out.stdout);
    assert!(lines[fails.len()].ends_with("-> NOT CONFORMANT"));
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains('\x1b'), "ANSI escape in {text:?}");
        assert!(!text.contains('\r'), "carriage return in {text:?}");
        assert!(!text.contains('│'), "a table in {text:?}");
    }
}
