//! Expected failures (`--waivers FILE`), as the Vulkan and OpenCL CTS keep
//! them: a YAML list of case globs, each with the status it is known to
//! have, why, where that is tracked, and until when the waiver holds.
//!
//! ```yaml
//! waivers:
//!   - case: "core.matmul.bf16.*"
//!     status: fail
//!     reason: "bf16 accumulates in bf16 on rev A silicon"
//!     link: https://tracker.example.com/XPU-1234
//!     expires: 2027-03-31
//! ```
//!
//! A case whose real status is the status a live waiver expects becomes
//! [`Status::Waived`], with the waiver on its result
//! ([`CaseResult::waiver`]; the waiver's `status` is the real one, and the
//! message is kept): it counts as run and not as a failure, and every
//! report shows it as waived, never as a pass. A waiver whose `expires` day
//! is before today (UTC; [`TODAY_VAR`] overrides the day, for tests and for
//! reproducing a run) no longer waives: the case keeps its failure, with
//! a message that says the waiver expired and when. Every expired entry,
//! and every entry that waived nothing (it matched no case, or its cases
//! had other statuses: "unexpected pass, remove the waiver"), is a
//! [`WaiverNote`]: listed on stderr after the run and in `results.json`
//! (`provenance.waivers.notes`). Notes do not change the verdict, which
//! follows from the cases alone, so any reader can recount it.
//!
//! Only failure statuses can be waived (`fail`, `error`, `crash`,
//! `timeout`): `unsupported` is already not a failure, and a waiver that
//! turned it into something else would hide a gap in coverage.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use super::{CaseResult, Status, glob_match};
use crate::suite::SuiteError;

/// The environment variable that sets "today" (`YYYY-MM-DD`) for expiry
/// checks instead of the system clock's UTC date.
pub const TODAY_VAR: &str = "XPUCERT_TODAY";

/// Largest waiver file read, bytes.
const MAX_BYTES: u64 = 4 << 20;

/// Statuses a waiver may expect.
const WAIVABLE: [Status; 4] = [Status::Fail, Status::Error, Status::Crash, Status::Timeout];

/// One entry of a waiver file, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// Case id glob (`*`, `?`), as `--filter` takes.
    pub case: String,
    /// The status the matching cases are known to have.
    pub status: Status,
    /// Why.
    pub reason: String,
    /// Where it is tracked (an http or https URL).
    pub link: String,
    /// The last day (UTC) the waiver holds, `YYYY-MM-DD`.
    pub expires: String,
}

/// A parsed waiver file and the day its expiries are judged on.
#[derive(Debug, Clone)]
pub struct Waivers {
    /// The file as named.
    pub path: PathBuf,
    /// sha256 of its bytes.
    pub sha256: String,
    /// Its entries, in file order.
    pub entries: Vec<Waiver>,
    /// `YYYY-MM-DD`: an entry expiring before this day is expired.
    pub today: String,
}

/// What `results.json` records of the waiver file a run used
/// (`provenance.waivers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverRecord {
    /// The file as named.
    pub path: String,
    /// sha256 of its bytes.
    pub sha256: String,
    /// The day expiries were judged on, `YYYY-MM-DD`.
    pub judged_on: String,
    /// Its entries, in file order.
    pub entries: Vec<Waiver>,
    /// Entries that expired or waived nothing, in file order.
    #[serde(default)]
    pub notes: Vec<WaiverNote>,
}

/// Why an entry of the waiver file needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// Its `expires` day is past: it waives nothing any more.
    Expired,
    /// Its glob matched no case of the run.
    MatchedNothing,
    /// Its glob matched cases, but none had the expected status.
    StatusDiffers,
}

/// An entry of the waiver file that needs attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverNote {
    /// The entry's glob.
    pub case: String,
    /// The entry's expected status.
    pub status: Status,
    /// What is the matter.
    pub kind: NoteKind,
    /// The same in words, with what to do.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    waivers: Vec<Spanned<RawWaiver>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiver {
    case: Spanned<String>,
    status: Spanned<String>,
    reason: Spanned<String>,
    link: Spanned<String>,
    expires: Spanned<String>,
}

impl Waivers {
    /// Reads and validates a waiver file; expiries are judged on
    /// [`today`]. Errors are one line, `file:line:col: message`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let bytes = crate::files::read_regular(path, MAX_BYTES, "a waiver file")
            .map_err(|e| format!("cannot read waiver file {}: {e}", path.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("waiver file {} is not UTF-8", path.display()))?;
        let today = today()?;
        Self::parse(path, &text, today).map_err(|e| format!("waiver file {e}"))
    }

    /// Parses waiver file text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str, today: String) -> Result<Self, SuiteError> {
        let options = crate::suite::yaml_options();
        let raw: RawFile = serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| SuiteError::from_yaml(path, text, &e))?;
        let at = |loc: Location, msg: String| SuiteError::at(path, text, loc, msg);
        let mut entries: Vec<Waiver> = Vec::new();
        let mut lines: Vec<Location> = Vec::new();
        for rw in &raw.waivers {
            let w = &rw.value;
            let case = w.case.value.trim();
            if case.is_empty() {
                return Err(at(w.case.referenced, "`case` is empty".into()));
            }
            if case.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(at(
                    w.case.referenced,
                    "`case` holds whitespace or control characters; case ids have none".into(),
                ));
            }
            let status = WAIVABLE
                .into_iter()
                .find(|s| s.name() == w.status.value)
                .ok_or_else(|| {
                    at(
                        w.status.referenced,
                        format!(
                            "status `{}` cannot be waived (one of fail, error, crash, timeout)",
                            w.status.value
                        ),
                    )
                })?;
            // One line in every report: a folded or multi-line reason is
            // joined with single spaces.
            let reason = w
                .reason
                .value
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if reason.is_empty() {
                return Err(at(
                    w.reason.referenced,
                    "`reason` is empty: say why the case is expected to fail".into(),
                ));
            }
            let link = w.link.value.trim();
            if !is_url(link) {
                return Err(at(
                    w.link.referenced,
                    format!(
                        "`link` `{link}` is not an http(s) URL (the issue that tracks the failure)"
                    ),
                ));
            }
            let expires = w.expires.value.trim();
            if !is_date(expires) {
                return Err(at(
                    w.expires.referenced,
                    format!("`expires` `{expires}` is not a date YYYY-MM-DD"),
                ));
            }
            let waiver = Waiver {
                case: case.to_string(),
                status,
                reason,
                link: link.to_string(),
                expires: expires.to_string(),
            };
            if let Some(i) = entries
                .iter()
                .position(|e| e.case == waiver.case && e.status == waiver.status)
            {
                return Err(at(
                    rw.referenced,
                    format!(
                        "a second waiver of `{case}` ({status}); the first is at line {}",
                        lines[i].line()
                    ),
                ));
            }
            entries.push(waiver);
            lines.push(rw.referenced);
        }
        Ok(Waivers {
            path: path.to_path_buf(),
            sha256: crate::digest::sha256_hex(text.as_bytes()),
            entries,
            today,
        })
    }

    /// Whether `w` is past its expiry day.
    pub fn expired(&self, w: &Waiver) -> bool {
        w.expires < self.today
    }

    /// Applies the waivers to one result: a failure that a live waiver
    /// expects becomes `waived` (the first such entry in file order); one
    /// that only an expired waiver expects stays a failure and says so.
    pub fn apply(&self, r: &mut CaseResult) {
        if !r.status.is_failure() {
            return;
        }
        let mut matching = self
            .entries
            .iter()
            .filter(|w| w.status == r.status && glob_match(&w.case, &r.id));
        let Some(first) = matching.next() else {
            return;
        };
        let live = std::iter::once(first)
            .chain(matching)
            .find(|w| !self.expired(w));
        match live {
            Some(w) => {
                r.waiver = Some(w.clone());
                r.status = Status::Waived;
            }
            None => {
                let why = format!(
                    "the waiver of `{}` ({}) expired on {}; {}: {}",
                    first.case, first.status, first.expires, first.reason, first.link
                );
                r.message = Some(match r.message.take() {
                    Some(m) => format!("{why}; {m}"),
                    None => why,
                });
                r.waiver = Some(first.clone());
            }
        }
    }

    /// The entries that need attention after a run of `cases`: expired
    /// ones, and those that waived nothing (with what their cases were).
    pub fn notes(&self, cases: &[CaseResult]) -> Vec<WaiverNote> {
        let mut notes = Vec::new();
        for w in &self.entries {
            let note = |kind, message| WaiverNote {
                case: w.case.clone(),
                status: w.status,
                kind,
                message,
            };
            if self.expired(w) {
                let hit = cases
                    .iter()
                    .filter(|c| c.status == w.status && c.waiver.as_ref() == Some(w))
                    .count();
                let effect = if hit > 0 {
                    format!("; {hit} {} case(s) it matched count as failures", w.status)
                } else {
                    String::new()
                };
                notes.push(note(
                    NoteKind::Expired,
                    format!(
                        "expired on {} (today is {}){effect}: fix the cases, or renew the waiver with a new date",
                        w.expires, self.today
                    ),
                ));
                continue;
            }
            let matched: Vec<&CaseResult> = cases
                .iter()
                .filter(|c| glob_match(&w.case, &c.id))
                .collect();
            if matched.iter().any(|c| c.waiver.as_ref() == Some(w)) {
                continue;
            }
            if matched.is_empty() {
                notes.push(note(
                    NoteKind::MatchedNothing,
                    "matched no case of this run".into(),
                ));
                continue;
            }
            let mut counts: std::collections::BTreeMap<Status, usize> = Default::default();
            for c in &matched {
                *counts.entry(c.status).or_default() += 1;
            }
            let seen: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
            let passing = counts
                .keys()
                .all(|s| matches!(s, Status::Pass | Status::Warn));
            let advice = if passing {
                "unexpected pass: remove the waiver"
            } else {
                "correct its status or remove it"
            };
            notes.push(note(
                NoteKind::StatusDiffers,
                format!(
                    "expects {}, but its {} matching case(s) were {}: {advice}",
                    w.status,
                    matched.len(),
                    seen.join(", ")
                ),
            ));
        }
        notes
    }

    /// What `results.json` records after a run of `cases`.
    pub fn record(&self, cases: &[CaseResult]) -> WaiverRecord {
        WaiverRecord {
            path: self.path.display().to_string(),
            sha256: self.sha256.clone(),
            judged_on: self.today.clone(),
            entries: self.entries.clone(),
            notes: self.notes(cases),
        }
    }
}

impl WaiverRecord {
    /// The record with its notes recomputed for `cases` (after `merge`
    /// joined shards, each of which saw only its own cases).
    pub fn renoted(&self, cases: &[CaseResult]) -> WaiverRecord {
        let w = Waivers {
            path: PathBuf::from(&self.path),
            sha256: self.sha256.clone(),
            entries: self.entries.clone(),
            today: self.judged_on.clone(),
        };
        WaiverRecord {
            notes: w.notes(cases),
            ..self.clone()
        }
    }
}

impl WaiverNote {
    /// One line: `waiver `GLOB` (STATUS): MESSAGE`.
    pub fn line(&self) -> String {
        format!("waiver `{}` ({}): {}", self.case, self.status, self.message)
    }
}

/// Today's date, `YYYY-MM-DD`: [`TODAY_VAR`] if set (an error if it is
/// not a date), else the system clock's UTC date.
pub fn today() -> Result<String, String> {
    match std::env::var(TODAY_VAR) {
        Ok(v) if is_date(&v) => Ok(v),
        Ok(v) => Err(format!("{TODAY_VAR}=`{v}` is not a date YYYY-MM-DD")),
        Err(_) => Ok(super::utc_now()[..10].to_string()),
    }
}

/// `YYYY-MM-DD`, a real day of the proleptic Gregorian calendar.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// An `http://` or `https://` URL with a host and no whitespace.
fn is_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::DType;

    const FILE: &str = "\
waivers:
  - case: \"core.matmul.bf16.*\"
    status: fail
    reason: bf16 accumulates in bf16
    link: https://tracker.example.com/XPU-1
    expires: 2027-03-31
  - case: core.add.*
    status: crash
    reason: old driver
    link: http://t.example/2
    expires: 2026-01-01
";

    fn parse(text: &str) -> Result<Waivers, String> {
        Waivers::parse(Path::new("w.yaml"), text, "2026-12-06".into()).map_err(|e| e.to_string())
    }

    fn case(id: &str, status: Status) -> CaseResult {
        CaseResult::for_model(id, DType::F32, "x:1:1".into(), status, Some("off".into()))
    }

    #[test]
    fn parses_entries_in_order() {
        let w = parse(FILE).unwrap();
        assert_eq!(w.entries.len(), 2);
        assert_eq!(w.entries[0].case, "core.matmul.bf16.*");
        assert_eq!(w.entries[0].status, Status::Fail);
        assert_eq!(w.entries[0].expires, "2027-03-31");
        assert_eq!(w.entries[1].status, Status::Crash);
        assert_eq!(w.entries[1].link, "http://t.example/2");
        assert_eq!(w.sha256, crate::digest::sha256_hex(FILE.as_bytes()));
        assert!(!w.expired(&w.entries[0]));
        assert!(w.expired(&w.entries[1]));
    }

    #[test]
    fn mistakes_are_errors_at_their_line() {
        let cases = [
            (
                "status: fail",
                "status: pass",
                "w.yaml:3:13: status `pass` cannot be waived",
            ),
            (
                "reason: bf16 accumulates in bf16",
                "reason: \"  \"",
                "w.yaml:4:13: `reason` is empty",
            ),
            (
                "link: https://tracker.example.com/XPU-1",
                "link: XPU-1",
                "w.yaml:5:11: `link` `XPU-1` is not",
            ),
            (
                "expires: 2027-03-31",
                "expires: 2027-02-29",
                "w.yaml:6:14: `expires` `2027-02-29` is not a date",
            ),
            (
                "expires: 2027-03-31",
                "expires: tomorrow",
                "w.yaml:6:14: `expires` `tomorrow`",
            ),
            (
                "expires: 2027-03-31",
                "expires: 2027-03-31\n    owner: me",
                "w.yaml:7:5: unknown field",
            ),
            (
                "    expires: 2027-03-31\n",
                "",
                "w.yaml:5:5: missing field `expires`",
            ),
        ];
        for (from, to, want) in cases {
            let text = FILE.replacen(from, to, 1);
            let e = parse(&text).unwrap_err();
            assert!(e.starts_with(want), "{to:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let twice = format!(
            "{FILE}{}",
            &FILE["waivers:\n".len()..FILE.find("  - case: core").unwrap()]
        );
        let e = parse(&twice).unwrap_err();
        assert!(e.starts_with("w.yaml:12:5: a second waiver of `core.matmul.bf16.*` (fail); the first is at line 2"), "{e}");
        assert!(parse("").is_err());
        assert!(parse("waivers: []").unwrap().entries.is_empty());
    }

    #[test]
    fn a_multi_line_reason_is_one_line() {
        let text = FILE.replacen(
            "reason: bf16 accumulates in bf16",
            "reason: |\n      bf16 accumulates\n      in bf16 -> CONFORMANT",
            1,
        );
        let w = parse(&text).unwrap();
        assert_eq!(
            w.entries[0].reason,
            "bf16 accumulates in bf16 -> CONFORMANT"
        );
        let e = parse(&FILE.replacen("core.add.*", "\"core.add .*\"", 1)).unwrap_err();
        assert!(e.starts_with("w.yaml:7:11: `case` holds whitespace"), "{e}");
    }

    #[test]
    fn dates_and_urls() {
        for d in ["2024-02-29", "2000-02-29", "1999-12-31"] {
            assert!(is_date(d), "{d}");
        }
        for d in [
            "1900-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "2026-01-32",
            "+026-01-01",
        ] {
            assert!(!is_date(d), "{d}");
        }
        assert!(is_url("https://a.b/c?d#e"));
        assert!(!is_url("https:///x"));
        assert!(!is_url("ftp://a.b"));
        assert!(!is_url("https://a.b/c d"));
    }

    #[test]
    fn a_live_waiver_waives_only_its_status() {
        let w = parse(FILE).unwrap();
        let mut r = case("core.matmul.bf16.square", Status::Fail);
        w.apply(&mut r);
        assert_eq!(r.status, Status::Waived);
        assert_eq!(r.waiver.as_ref(), Some(&w.entries[0]));
        assert_eq!(r.message.as_deref(), Some("off"));
        // The same glob, another status: not waived.
        let mut r = case("core.matmul.bf16.square", Status::Error);
        w.apply(&mut r);
        assert_eq!((r.status, r.waiver.is_none()), (Status::Error, true));
        // A pass is never touched.
        let mut r = case("core.matmul.bf16.square", Status::Pass);
        w.apply(&mut r);
        assert_eq!((r.status, r.waiver.is_none()), (Status::Pass, true));
    }

    #[test]
    fn an_expired_waiver_keeps_the_failure_and_says_when() {
        let w = parse(FILE).unwrap();
        let mut r = case("core.add.f32.x", Status::Crash);
        w.apply(&mut r);
        assert_eq!(r.status, Status::Crash);
        let m = r.message.unwrap();
        assert!(
            m.starts_with("the waiver of `core.add.*` (crash) expired on 2026-01-01; old driver: http://t.example/2; off"),
            "{m}"
        );
        // A live entry for the same case wins over an expired one.
        let text = format!(
            "{FILE}  - {{case: \"core.add.f32.*\", status: crash, reason: r, link: \"https://x.y\", expires: 2030-01-01}}\n"
        );
        let w = parse(&text).unwrap();
        let mut r = case("core.add.f32.x", Status::Crash);
        w.apply(&mut r);
        assert_eq!(r.status, Status::Waived);
        assert_eq!(r.waiver.unwrap().case, "core.add.f32.*");
    }

    #[test]
    fn notes_list_expired_unmatched_and_mismatched_entries() {
        let text = format!(
            "{FILE}  - {{case: \"core.relu.*\", status: fail, reason: r, link: \"https://x.y\", expires: 2030-01-01}}\n  - {{case: \"nothing.*\", status: fail, reason: r, link: \"https://x.y\", expires: 2030-01-01}}\n"
        );
        let w = parse(&text).unwrap();
        let mut cases = vec![
            case("core.matmul.bf16.a", Status::Fail),
            case("core.add.f32.x", Status::Crash),
            case("core.relu.f32.x", Status::Pass),
            case("core.relu.f16.x", Status::Warn),
        ];
        for c in &mut cases {
            w.apply(c);
        }
        let notes = w.notes(&cases);
        let kinds: Vec<(&str, NoteKind)> =
            notes.iter().map(|n| (n.case.as_str(), n.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("core.add.*", NoteKind::Expired),
                ("core.relu.*", NoteKind::StatusDiffers),
                ("nothing.*", NoteKind::MatchedNothing),
            ]
        );
        assert_eq!(
            notes[0].message,
            "expired on 2026-01-01 (today is 2026-12-06); 1 crash case(s) it matched count as failures: fix the cases, or renew the waiver with a new date"
        );
        assert_eq!(
            notes[1].line(),
            "waiver `core.relu.*` (fail): expects fail, but its 2 matching case(s) were 1 pass, 1 warn: unexpected pass: remove the waiver"
        );
        let record = w.record(&cases);
        assert_eq!(record.judged_on, "2026-12-06");
        assert_eq!(record.renoted(&cases), record);
    }

    #[test]
    fn today_is_a_date() {
        // The variable is not set in unit tests; the clock's date is one.
        if std::env::var(TODAY_VAR).is_err() {
            assert!(is_date(&today().unwrap()));
        }
    }
}
