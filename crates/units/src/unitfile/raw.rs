//! The raw layer of unit files: exactly what the user wrote, as
//! `(section, key, value, file, line)` entries in file order.
//!
//! It knows systemd's syntax (sections, `#`/`;` comments, `\` continuations,
//! `key = value`) but no directive: it never interprets a value, and it reports
//! every syntax error in the file instead of stopping at the first.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use crate::Diagnostic;

/// One `Key=Value` assignment after continuation lines are joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Shared by the entries of one section.
    pub section: Arc<str>,
    pub key: String,
    pub value: String,
    /// Shared by every entry of the file: a thousand units' entries each
    /// with a copy of its path were thousands of small blocks to free again.
    pub path: Arc<Path>,
    /// The line the assignment starts on (counting from 1).
    pub line: u32,
}

/// Parses one file (a unit file or a drop-in). `sections` lists the section
/// names allowed here; sections starting with `X-` are extensions that systemd
/// ignores, and so does this parser. As in systemd, a broken section header is
/// an error; a line it can make nothing of (an unknown section and what it
/// holds, a line without `=`, an empty key, an assignment before any section)
/// is ignored with a warning.
pub fn parse(path: &Path, text: &str, sections: &[&str]) -> (Vec<RawEntry>, Vec<Diagnostic>) {
    let shared: Arc<Path> = Arc::from(path);
    let mut entries = Vec::new();
    let mut diags = Vec::new();
    // None before the first header; Some(None) inside an ignored X- section.
    let mut section: Option<Option<Arc<str>>> = None;
    let mut pending: Option<(u32, String)> = None;

    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (idx, physical) in text.lines().enumerate() {
        let lineno = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let physical = physical.strip_suffix('\r').unwrap_or(physical);
        // No value can hold a NUL (an argument, a path, a variable: each
        // becomes a C string), and a unit file is text: systemd refuses it
        // too. Said here, with its line, rather than as EINVAL at the start.
        if physical.contains('\0') {
            diags.push(Diagnostic::error(
                path,
                lineno,
                "the line has a NUL byte: a unit file is text",
            ));
            continue;
        }
        let trimmed = physical.trim_start();
        let is_comment = trimmed.starts_with('#') || trimmed.starts_with(';');

        // Borrowed from the text unless continuation lines are joined.
        let (start, logical) = match pending.take() {
            // systemd skips comment lines inside a continuation rather than
            // ending it, so commented-out arguments in long Exec lines work.
            Some((start, acc)) if is_comment => {
                pending = Some((start, acc));
                continue;
            }
            Some((start, acc)) => (start, Cow::Owned(acc + physical)),
            None => {
                if trimmed.is_empty() || is_comment {
                    continue;
                }
                (lineno, Cow::Borrowed(trimmed))
            }
        };

        // An odd number of trailing backslashes continues the line; the last
        // one becomes a space, as in systemd.
        let trailing = logical.bytes().rev().take_while(|&b| b == b'\\').count();
        if trailing % 2 == 1 {
            let mut logical = logical.into_owned();
            logical.pop();
            logical.push(' ');
            pending = Some((start, logical));
            continue;
        }
        handle_line(
            &shared,
            start,
            &logical,
            sections,
            &mut section,
            &mut entries,
            &mut diags,
        );
    }
    // A continuation on the last line simply ends there, as in systemd.
    if let Some((start, logical)) = pending {
        handle_line(
            &shared,
            start,
            &logical,
            sections,
            &mut section,
            &mut entries,
            &mut diags,
        );
    }
    (entries, diags)
}

fn handle_line(
    path: &Arc<Path>,
    line: u32,
    logical: &str,
    sections: &[&str],
    section: &mut Option<Option<Arc<str>>>,
    entries: &mut Vec<RawEntry>,
    diags: &mut Vec<Diagnostic>,
) {
    let l = logical.trim();
    if l.is_empty() {
        return;
    }
    if let Some(rest) = l.strip_prefix('[') {
        let Some(name) = rest.strip_suffix(']') else {
            diags.push(Diagnostic::error(
                &**path,
                line,
                format!("invalid section header {l:?}: missing ']'"),
            ));
            // Keys below a broken header must not land in the previous section.
            *section = Some(None);
            return;
        };
        if name.is_empty() || name.contains(['[', ']']) {
            diags.push(Diagnostic::error(
                &**path,
                line,
                format!("invalid section header {l:?}"),
            ));
            *section = Some(None);
        } else if sections.contains(&name) {
            *section = Some(Some(Arc::from(name)));
        } else if name.starts_with("X-") {
            *section = Some(None);
        } else {
            diags.push(Diagnostic::warning(
                &**path,
                line,
                format!(
                    "unknown section [{name}], ignored with what it holds (expected {})",
                    sections
                        .iter()
                        .map(|s| format!("[{s}]"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            *section = Some(None);
        }
        return;
    }
    let Some((key, value)) = l.split_once('=') else {
        diags.push(Diagnostic::warning(
            &**path,
            line,
            format!("line is not an assignment (expected Key=Value), ignored: {l:?}"),
        ));
        return;
    };
    let key = key.trim();
    let value = value.trim();
    if key.is_empty() {
        diags.push(Diagnostic::warning(
            &**path,
            line,
            "assignment has no key name, ignored",
        ));
        return;
    }
    match section {
        None => diags.push(Diagnostic::warning(
            &**path,
            line,
            format!("assignment {key}= outside of any section, ignored"),
        )),
        Some(None) => {}
        Some(Some(name)) => entries.push(RawEntry {
            section: Arc::clone(name),
            key: key.to_string(),
            value: value.to_string(),
            path: Arc::clone(path),
            line,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTIONS: &[&str] = &["Unit", "Service", "Install"];

    fn p(text: &str) -> (Vec<RawEntry>, Vec<Diagnostic>) {
        parse(Path::new("/t/a.service"), text, SECTIONS)
    }

    fn kv(entries: &[RawEntry]) -> Vec<(&str, &str, &str, u32)> {
        entries
            .iter()
            .map(|e| (&*e.section, e.key.as_str(), e.value.as_str(), e.line))
            .collect()
    }

    #[test]
    fn sections_comments_and_whitespace() {
        let (e, d) = p(
            "# c\n; c\n\n[Unit]\nDescription = hello world  \n  After=a b\n[Service]\nExecStart=/bin/x\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            kv(&e),
            vec![
                ("Unit", "Description", "hello world", 5),
                ("Unit", "After", "a b", 6),
                ("Service", "ExecStart", "/bin/x", 8),
            ]
        );
    }

    #[test]
    fn continuation_joins_lines_and_skips_comments() {
        let text =
            "[Service]\nExecStart=/bin/echo a \\\n# skipped\n; skipped too\n  b \\\n  c\nUser=x\n";
        let (e, d) = p(text);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            kv(&e),
            vec![
                ("Service", "ExecStart", "/bin/echo a    b    c", 2),
                ("Service", "User", "x", 7),
            ]
        );
    }

    #[test]
    fn escaped_backslash_does_not_continue() {
        let (e, _) = p("[Service]\nExecStart=/bin/echo a\\\\\nUser=x\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].value, "/bin/echo a\\\\");
    }

    #[test]
    fn continuation_at_end_of_file() {
        let (e, d) = p("[Unit]\nDescription=a \\");
        assert!(d.is_empty());
        assert_eq!(e[0].value, "a");
    }

    #[test]
    fn empty_value_is_kept() {
        let (e, _) = p("[Unit]\nAfter=\n");
        assert_eq!(kv(&e), vec![("Unit", "After", "", 2)]);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "Description=x\n[Unit]\nno equals here\n[Bogus]\nKey=v\n[Unit\n=v\n[Service]\nUser=ok\n";
        let (e, d) = p(text);
        let lines: Vec<u32> = d.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![1, 3, 4, 6, 7], "{d:?}");
        // As in systemd, only the broken header fails the file.
        let errors: Vec<bool> = d.iter().map(|d| d.is_error()).collect();
        assert_eq!(errors, [false, false, false, true, false], "{d:?}");
        assert!(d[0].message.contains("outside of any section"));
        assert!(d[1].message.contains("not an assignment"));
        assert!(d[2].message.contains("unknown section [Bogus]"));
        assert!(d[3].message.contains("missing ']'"));
        assert!(d[4].message.contains("no key name"));
        // Keys in a bad section are dropped, good ones after it still count.
        assert_eq!(kv(&e), vec![("Service", "User", "ok", 9)]);
    }

    #[test]
    fn extension_sections_are_ignored() {
        let (e, d) = p("[X-Mine]\nAnything=goes\n[Unit]\nDescription=d\n");
        assert!(d.is_empty());
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn crlf_and_bom() {
        let (e, d) = p("\u{feff}[Unit]\r\nDescription=x\r\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(e[0].value, "x");
    }
}
