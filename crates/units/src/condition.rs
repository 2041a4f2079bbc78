//! Evaluating `Condition*=` and `Assert*=` against the file system, with
//! systemd's semantics for the `|` (triggering) and `!` (negation) prefixes.
//!
//! Only reads metadata (stat and directory listings); never creates or changes
//! anything, and never decides what a failed check means for the unit.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::model::{Condition, ConditionKind};

/// The check itself, before negation.
fn check(kind: ConditionKind, arg: &str) -> bool {
    let path = Path::new(arg);
    match kind {
        ConditionKind::PathExists => fs::metadata(path).is_ok(),
        ConditionKind::PathIsDirectory => fs::metadata(path).is_ok_and(|m| m.is_dir()),
        ConditionKind::FileIsExecutable => {
            fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        ConditionKind::DirectoryNotEmpty => {
            fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some())
        }
        ConditionKind::FileNotEmpty => fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0),
    }
}

/// Whether one condition holds, negation included.
pub fn holds(c: &Condition) -> bool {
    check(c.kind, &c.arg) != c.negate
}

/// The condition as it was written: `ConditionPathExists=|!/etc/foo`.
pub fn written(c: &Condition, directive_prefix: &str) -> String {
    format!(
        "{directive_prefix}{}={}{}{}",
        c.kind.name(),
        if c.trigger { "|" } else { "" },
        if c.negate { "!" } else { "" },
        c.arg
    )
}

/// Evaluates `Condition*=` lines: every non-triggering condition must hold, and
/// when there are triggering (`|`) conditions, at least one of them must hold.
/// An empty list passes. The error names what failed, as written.
pub fn evaluate(conditions: &[Condition]) -> Result<(), String> {
    evaluate_as(conditions, "Condition")
}

/// [`evaluate`] for `Assert*=` lines (the same rules; messages say `Assert`).
pub fn evaluate_asserts(asserts: &[Condition]) -> Result<(), String> {
    evaluate_as(asserts, "Assert")
}

fn evaluate_as(conditions: &[Condition], prefix: &str) -> Result<(), String> {
    if let Some(failed) = conditions.iter().find(|c| !c.trigger && !holds(c)) {
        return Err(written(failed, prefix));
    }
    let mut triggers = conditions.iter().filter(|c| c.trigger).peekable();
    if triggers.peek().is_none() {
        return Ok(());
    }
    let mut failed = Vec::new();
    for c in triggers {
        if holds(c) {
            return Ok(());
        }
        failed.push(written(c, prefix));
    }
    Err(failed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vigil-units-cond-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn c(kind: ConditionKind, arg: &Path, trigger: bool, negate: bool) -> Condition {
        Condition {
            kind,
            trigger,
            negate,
            arg: arg.to_string_lossy().into_owned(),
            line: 1,
        }
    }

    #[test]
    fn every_kind_on_real_files() {
        let d = tmpdir("kinds");
        let file = d.join("file");
        fs::write(&file, "x").unwrap();
        let empty = d.join("empty");
        fs::write(&empty, "").unwrap();
        let exe = d.join("exe");
        fs::write(&exe, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o744)).unwrap();
        let full_dir = d.join("full");
        fs::create_dir(&full_dir).unwrap();
        fs::write(full_dir.join("a"), "").unwrap();
        let empty_dir = d.join("emptydir");
        fs::create_dir(&empty_dir).unwrap();
        let missing = d.join("missing");
        let dangling = d.join("dangling");
        symlink(&missing, &dangling).unwrap();
        let exe_dir = d.join("exedir");
        fs::create_dir(&exe_dir).unwrap();

        use ConditionKind::*;
        let cases: &[(ConditionKind, &Path, bool)] = &[
            (PathExists, &file, true),
            (PathExists, &full_dir, true),
            (PathExists, &missing, false),
            (PathExists, &dangling, false),
            (PathIsDirectory, &full_dir, true),
            (PathIsDirectory, &file, false),
            (PathIsDirectory, &missing, false),
            (FileIsExecutable, &exe, true),
            (FileIsExecutable, &file, false),
            (FileIsExecutable, &exe_dir, false),
            (FileIsExecutable, &missing, false),
            (DirectoryNotEmpty, &full_dir, true),
            (DirectoryNotEmpty, &empty_dir, false),
            (DirectoryNotEmpty, &file, false),
            (DirectoryNotEmpty, &missing, false),
            (FileNotEmpty, &file, true),
            (FileNotEmpty, &empty, false),
            (FileNotEmpty, &full_dir, false),
            (FileNotEmpty, &missing, false),
        ];
        for (kind, path, expect) in cases {
            assert_eq!(
                holds(&c(*kind, path, false, false)),
                *expect,
                "{kind:?} {path:?}"
            );
            assert_eq!(
                holds(&c(*kind, path, false, true)),
                !*expect,
                "!{kind:?} {path:?}"
            );
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn trigger_and_negate_semantics() {
        let d = tmpdir("sem");
        let yes = d.join("yes");
        fs::write(&yes, "x").unwrap();
        let no = d.join("no");
        let pe = ConditionKind::PathExists;

        assert_eq!(evaluate(&[]), Ok(()));
        assert_eq!(evaluate(&[c(pe, &yes, false, false)]), Ok(()));
        assert_eq!(
            evaluate(&[c(pe, &yes, false, false), c(pe, &yes, false, true)]),
            Err(format!("ConditionPathExists=!{}", yes.display()))
        );
        // One triggering condition passing is enough.
        assert_eq!(
            evaluate(&[c(pe, &no, true, false), c(pe, &yes, true, false)]),
            Ok(())
        );
        // All triggering failing fails, naming each.
        assert_eq!(
            evaluate(&[c(pe, &no, true, false), c(pe, &yes, true, true)]),
            Err(format!(
                "ConditionPathExists=|{}, ConditionPathExists=|!{}",
                no.display(),
                yes.display()
            ))
        );
        // A non-triggering failure wins even when a trigger passes.
        assert_eq!(
            evaluate(&[c(pe, &yes, true, false), c(pe, &no, false, false)]),
            Err(format!("ConditionPathExists={}", no.display()))
        );
        // `|!` passes when the path is missing.
        assert_eq!(evaluate(&[c(pe, &no, true, true)]), Ok(()));
        assert_eq!(
            evaluate_asserts(&[c(ConditionKind::PathIsDirectory, &yes, false, false)]),
            Err(format!("AssertPathIsDirectory={}", yes.display()))
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
