//! Untrusted text on its way out. A backend's name, manifest, error messages
//! and op names, and anything read back from a results file, may carry
//! terminal control sequences (`ESC[2J` clears the screen, `\r` overwrites a
//! line, U+202E reverses what follows) or bytes XML cannot hold at all.
//! Every output that is not JSON passes through [`escape`] (or
//! [`escape_line`] for a one-line field) when it is written; JSON output
//! goes through [`to_json_pretty`], which escapes the same characters as
//! `\uXXXX`, so the strings read back unchanged.
//!
//! Escaped, as visible text: C0 controls but `\n` and `\t` (`\x1b`), DEL
//! (`\x7f`), C1 controls (`\x9b`), and the bidirectional overrides and
//! isolates U+202A..U+202E, U+2066..U+2069 (`\u{202e}`). A backslash is not
//! escaped, so Windows paths and regular expressions stay readable; the
//! escapes are for the eye, not a reversible encoding.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

use serde::Serialize;

/// Whether `c` must not reach a terminal or a document as itself.
fn is_unsafe(c: char, keep_layout: bool) -> bool {
    match c {
        '\n' | '\t' => !keep_layout,
        '\0'..='\x1f' | '\x7f'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

fn escape_with(s: &str, keep_layout: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c, keep_layout)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_unsafe(c, keep_layout) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// `s` with every control character but newline and tab, and every
/// bidirectional override, written as a visible escape: for whole reports,
/// tables and messages.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, true)
}

/// [`escape`], and newlines and tabs escaped too: for a field that must stay
/// on its line (a backend name, a version), so it cannot forge the lines
/// that follow it.
pub fn escape_line(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// A serde_json formatter (pretty or compact) that also writes DEL, C1
/// controls and bidi overrides as `\uXXXX` (serde_json escapes the C0
/// controls itself).
struct SafeFormatter<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeFormatter<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c, true) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Pretty JSON of `value` into `writer`, with no character [`escape`] would
/// escape left raw in it (as `serde_json::to_writer_pretty` otherwise).
pub fn write_json_pretty<W: io::Write, T: ?Sized + Serialize>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(
        writer,
        SafeFormatter(serde_json::ser::PrettyFormatter::new()),
    );
    value.serialize(&mut ser)
}

/// Compact JSON of `value` into `writer` (one line), escaped like
/// [`write_json_pretty`]: for `results.jsonl`, which people `tail -f`.
pub fn write_json_line<W: io::Write, T: ?Sized + Serialize>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(
        writer,
        SafeFormatter(serde_json::ser::CompactFormatter),
    );
    value.serialize(&mut ser)
}

/// Pretty JSON of `value` as a string, like [`write_json_pretty`].
pub fn to_json_pretty<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    write_json_pretty(&mut out, value)?;
    // The serializer writes UTF-8 only.
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a\x1b[2J\rb\x07\u{202e}c\x7f\u{9b}d\ne\tf\\g é";

    #[test]
    fn escapes_controls_and_bidi_overrides_and_keeps_the_rest() {
        assert_eq!(
            escape(HOSTILE),
            "a\\x1b[2J\\x0db\\x07\\u{202e}c\\x7f\\x9bd\ne\tf\\g é"
        );
        assert_eq!(
            escape_line(HOSTILE),
            "a\\x1b[2J\\x0db\\x07\\u{202e}c\\x7f\\x9bd\\x0ae\\x09f\\g é"
        );
        assert!(matches!(escape("plain text, ünïcode"), Cow::Borrowed(_)));
        // idempotent: an escaped string has nothing left to escape
        assert_eq!(escape(&escape(HOSTILE)), escape(HOSTILE));
        for c in [
            '\u{202a}', '\u{202d}', '\u{2066}', '\u{2069}', '\0', '\u{80}',
        ] {
            assert!(escape(&c.to_string()).starts_with('\\'), "{c:?}");
        }
        for c in ['\u{2029}', '\u{a0}', '\u{2065}', '\u{202f}'] {
            assert_eq!(escape(&c.to_string()), c.to_string(), "{c:?}");
        }
    }

    #[test]
    fn json_escapes_the_same_characters_and_reads_back_unchanged() {
        let v = serde_json::json!({"name": HOSTILE, "list": [HOSTILE, 1.5]});
        let text = to_json_pretty(&v).unwrap();
        assert!(!text.chars().any(|c| is_unsafe(c, true)), "{text}");
        assert!(
            text.contains("\\u001b[2J") && text.contains("\\u202e") && text.contains("\\u009b")
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        let mut line = Vec::new();
        write_json_line(&mut line, &v).unwrap();
        let line = String::from_utf8(line).unwrap();
        assert!(!line.chars().any(|c| is_unsafe(c, false)), "{line}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&line).unwrap(), v);
        assert_eq!(
            text,
            serde_json::to_string_pretty(&v)
                .unwrap()
                .replace('\u{202e}', "\\u202e")
                .replace('\x7f', "\\u007f")
                .replace('\u{9b}', "\\u009b")
        );
    }
}
