//! Diagnostics: errors and lint warnings found while loading, each with its
//! file and line. Loaders collect every diagnostic in a file instead of
//! stopping at the first one.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in one file. `line` and `column` count from 1; 0 means unknown
/// (a problem with the file as a whole, such as a name that is not valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: u32,
    pub column: u32,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(path: impl Into<PathBuf>, line: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.into(),
            line,
            column: 0,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(path: impl Into<PathBuf>, line: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(path, line, message)
        }
    }

    pub fn with_column(mut self, column: u32) -> Self {
        self.column = column;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Whether it says a directive is read but not enforced yet (a unit of a
    /// distribution has several: the manager sums them up at a load).
    pub fn is_not_enforced(&self) -> bool {
        self.severity == Severity::Warning && self.message.ends_with(NOT_ENFORCED_YET)
    }

    /// Whether it says a unit file is ignored, its type (`.timer`, `.mount`...) not
    /// supported yet: a distribution ships a score of them.
    pub fn is_type_not_supported(&self) -> bool {
        self.severity == Severity::Warning && self.message.contains(TYPE_NOT_SUPPORTED)
    }

    /// Whether it says a unit file is masked: the admin's choice, not a problem.
    pub fn is_masked_file(&self) -> bool {
        self.severity == Severity::Warning
            && (self.message.ends_with(MASKED_NOT_LOADED)
                || self.message.ends_with(MASKED_EMPTY_NOT_LOADED))
    }
}

/// The end of the warning about a directive read but not enforced yet.
pub const NOT_ENFORCED_YET: &str = "is not enforced yet";
/// What the warning about a unit file of a type vigil does not load says.
pub const TYPE_NOT_SUPPORTED: &str = "units are not supported yet, ignoring";
/// The end of the warning about a masked unit file.
pub const MASKED_NOT_LOADED: &str = "is masked (symlink to /dev/null), not loaded";
pub const MASKED_EMPTY_NOT_LOADED: &str = "is masked (empty file), not loaded";

/// Puts the diagnostics of one unit in reading order: file by file as `files`
/// lists them (the unit file, then its drop-ins in the order they apply), by
/// line and column within a file, and a problem with a file as a whole (line 0)
/// after that file's lines. The parsers find problems in passes (a line that is
/// not an assignment before a bad value above it), so the order they come in
/// is not the order of the file, and the first error is what a broken unit's
/// state shows. Stable: problems at the same place keep the order found.
pub fn sort_in_reading_order(diags: &mut [Diagnostic], files: &[&Path]) {
    diags.sort_by_key(|d| {
        let file = files
            .iter()
            .position(|f| *f == d.path)
            .unwrap_or(files.len());
        (file, d.line == 0, d.line, d.column)
    });
}

impl fmt::Display for Diagnostic {
    /// `path:line:column: error: message`, the form compilers use, so editors can jump to it.
    /// A problem with no file (a unit name given on the command line) is
    /// `error: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.as_os_str().is_empty() {
            write!(f, "{}", self.path.display())?;
            if self.line > 0 {
                write!(f, ":{}", self.line)?;
                if self.column > 0 {
                    write!(f, ":{}", self.column)?;
                }
            }
            write!(f, ": ")?;
        }
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}: {}", self.message)
    }
}
