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
        let msg = serde_saphyr::DefaultMessageFormatter.format_message(inner);
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

// The Display form must stay on one line whatever a message embeds.
fn one_line(s: &str) -> String {
    s.trim().replace(['\n', '\r'], " ")
}

fn snippet(source: &str, line: u64, col: u64) -> Option<String> {
    let text = source.lines().nth(line.checked_sub(1)? as usize)?;
    let pad = " ".repeat(col.saturating_sub(1) as usize);
    Some(format!("  | {text}\n  | {pad}^"))
}
