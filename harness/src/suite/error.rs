//! Errors in suite files, always pointing at the file, and where known at the
//! line and column of the offending YAML node.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::{Location, MessageFormatter};

/// A user error in a suite file. `Display` is one line,
/// `path/to/file.yaml:LINE:COL: message` (or `path: message` when there is no
/// position, e.g. a missing file), so editors and CI logs can jump to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteError {
    /// The file as the user named it (includes: joined to the including file's directory).
    pub file: PathBuf,
    /// 1-based line and column, when the error has a position.
    pub position: Option<(u64, u64)>,
    /// What is wrong, a lowercase sentence fragment on one line.
    pub message: String,
    /// The offending source line with a caret under the column, for terminals.
    pub snippet: Option<String>,
}

impl SuiteError {
    /// An error about a file as a whole (unreadable, empty, ...).
    pub(crate) fn file(file: &Path, message: impl Into<String>) -> Self {
        SuiteError {
            file: file.to_path_buf(),
            position: None,
            message: one_line(&message.into()),
            snippet: None,
        }
    }

    /// An error at a location in `source`, the text of `file`.
    pub(crate) fn at(file: &Path, source: &str, loc: Location, message: impl Into<String>) -> Self {
        if loc == Location::UNKNOWN {
            return Self::file(file, message);
        }
        let (line, col) = (loc.line(), loc.column());
        SuiteError {
            file: file.to_path_buf(),
            position: Some((line, col)),
            message: one_line(&message.into()),
            snippet: snippet(source, line, col),
        }
    }

    /// Converts a serde-saphyr error, keeping its location but not its own
    /// rendering (which spans several lines and names no file).
    pub(crate) fn from_yaml(file: &Path, source: &str, err: &serde_saphyr::Error) -> Self {
        let inner = err.without_snippet();
        let msg = short_quotes(&serde_saphyr::DefaultMessageFormatter.format_message(inner));
        match err.location() {
            Some(loc) => Self::at(file, source, loc, msg),
            None => Self::file(file, msg),
        }
    }

    /// The error followed by its snippet, for terminals.
    pub fn render(&self) -> String {
        match &self.snippet {
            Some(s) => format!("{self}\n{s}"),
            None => self.to_string(),
        }
    }
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for SuiteError {}

/// Formats a location as `file:line:col` (used for case locations).
pub(crate) fn location_string(file: &Path, loc: Location) -> String {
    if loc == Location::UNKNOWN {
        file.display().to_string()
    } else {
        format!("{}:{}:{}", file.display(), loc.line(), loc.column())
    }
}

/// Longest message kept, in characters: a parser's message may quote the
/// file, and a file that is not a suite at all (a key file, a log) must not
/// be echoed beyond a short excerpt.
const MAX_MESSAGE: usize = 240;
/// Longest excerpt of a source line shown under an error.
const MAX_EXCERPT: usize = 48;
/// Longest quotation of the file kept inside a parser's message.
const MAX_QUOTE: usize = 16;

/// A parser message with every quoted excerpt of the file (between `"` or
/// backticks) cut to [`MAX_QUOTE`] characters: "unknown field `root:$6$...`"
/// must not repeat a whole line of a file that is not a suite.
fn short_quotes(msg: &str) -> String {
    let mut out = String::new();
    let mut open: Option<(char, usize)> = None;
    for c in msg.chars() {
        match open {
            Some((q, _)) if c == q => {
                open = None;
                out.push(c);
            }
            Some((q, n)) => {
                if n < MAX_QUOTE {
                    out.push(c);
                } else if n == MAX_QUOTE {
                    out.push('…');
                }
                open = Some((q, n + 1));
            }
            None => {
                if c == '"' || c == '`' {
                    open = Some((c, 0));
                }
                out.push(c);
            }
        }
    }
    out
}

// The Display form must stay on one line whatever a message embeds, with
// no control character reaching the terminal, and short.
fn one_line(s: &str) -> String {
    let flat = s.trim().replace(['\n', '\r'], " ");
    escaped(&flat, MAX_MESSAGE)
}

/// `s` with control characters and bidi overrides made visible
/// (`crate::text::escape_line`), cut to `max` characters with an ellipsis.
fn escaped(s: &str, max: usize) -> String {
    let cut: String = s.chars().take(max).collect();
    let mut out = crate::text::escape_line(&cut).into_owned();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

fn snippet(source: &str, line: u64, col: u64) -> Option<String> {
    let text: Vec<char> = source
        .lines()
        .nth(line.checked_sub(1)? as usize)?
        .chars()
        .collect();
    // A window of the line that holds the column.
    let col = col.saturating_sub(1) as usize;
    let start = col.saturating_sub(MAX_EXCERPT / 2).min(text.len());
    let window: String = text[start..].iter().take(MAX_EXCERPT).collect();
    let shown = escaped(&window, MAX_EXCERPT);
    let lead = if start > 0 { "…" } else { "" };
    let pad = " ".repeat(col - start + lead.chars().count());
    Some(format!("  | {lead}{shown}\n  | {pad}^"))
}
