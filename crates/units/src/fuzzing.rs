//! The checks the fuzz targets in `fuzz/` run on one input, kept here so the
//! tests that replay the fuzz corpora on stable Rust run exactly the same code.
//!
//! These functions panic when a parser breaks one of its promises: that is their
//! job, and nothing but the fuzz targets and the corpus tests may call them. They
//! never touch the file system: every path here is only a label.

use std::path::{Path, PathBuf};

use crate::unitfile::{self, Source, raw};
use crate::{Diagnostic, SpecifierContext, UnitKind, name, yaml};

/// Names the unit-file input is parsed under: a plain service, a template
/// instance (so `%i` and friends expand) and a target (a different section list).
const UNIT_NAMES: [&str; 3] = ["fuzz.service", "fuzz@a-b\\x2dc.service", "fuzz.target"];

/// Feeds arbitrary bytes, read as lossy UTF-8, through the unit-file parser.
///
/// The text up to the first NUL is the main file; each later NUL-separated piece
/// is a drop-in, so the fuzzer can reach drop-in handling too. The first line,
/// when it is a valid unit name vigil loads, is also used as the unit's name.
pub fn unit_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut pieces = text.split('\0');
    let main_text = pieces.next().unwrap_or_default();
    let dropin_texts: Vec<&str> = pieces.collect();
    let main_path = Path::new("/fuzz/unit");
    let dropin_paths: Vec<PathBuf> = (0..dropin_texts.len())
        .map(|i| PathBuf::from(format!("/fuzz/unit.d/{i}.conf")))
        .collect();
    let dropins: Vec<Source<'_>> = dropin_texts
        .iter()
        .zip(&dropin_paths)
        .map(|(text, path)| Source { path, text })
        .collect();
    let main = Source {
        path: main_path,
        text: main_text,
    };

    for src in std::iter::once(&main).chain(&dropins) {
        check_raw(src, &["Unit", "Service", "Install"]);
        check_raw(src, &["Unit", "Install"]);
        check_raw(src, &[]);
    }

    let first_line = main_text.lines().next().unwrap_or_default().trim();
    check_escape(first_line);
    let from_input = (name::validate(first_line).is_ok() && name::kind_of(first_line).is_some())
        .then_some(first_line);
    let ctx = SpecifierContext::default();
    for unit_name in UNIT_NAMES.into_iter().chain(from_input) {
        let parsed = unitfile::parse(unit_name, main, &dropins, &ctx);
        let errors = parsed.diagnostics.iter().any(Diagnostic::is_error);
        assert_eq!(
            parsed.unit.is_some(),
            !errors,
            "a unit is returned exactly when there is no error: {:?}",
            parsed.diagnostics
        );
        if let Some(unit) = &parsed.unit {
            assert_eq!(unit.name, unit_name);
            assert_eq!(unit.source.as_deref(), Some(main_path));
            assert_eq!(
                unit.service.is_some(),
                unit.kind == UnitKind::Service,
                "a service, and only a service, has a [Service] part"
            );
        }
        for d in &parsed.diagnostics {
            assert!(
                d.path == main_path || dropin_paths.contains(&d.path),
                "diagnostic for a file that was not parsed: {d}"
            );
        }
        for r in &parsed.references {
            assert!(*r.path == *main_path || dropin_paths.iter().any(|d| **d == *r.path));
        }
        // The parser is a pure function of its input.
        assert_eq!(parsed, unitfile::parse(unit_name, main, &dropins, &ctx));
    }
}

/// The raw layer keeps its promises: entries only in allowed sections, with a
/// trimmed non-empty key and a line that exists; diagnostics for this file.
fn check_raw(src: &Source<'_>, sections: &[&str]) {
    let (entries, diags) = raw::parse(src.path, src.text, sections);
    let lines = src.text.lines().count();
    for e in &entries {
        assert!(sections.contains(&&*e.section), "{e:?}");
        assert!(!e.key.is_empty() && e.key.trim() == e.key, "{e:?}");
        assert_eq!(e.value.trim(), e.value, "{e:?}");
        assert_eq!(&*e.path, src.path);
        assert!(
            e.line >= 1 && usize::try_from(e.line).is_ok_and(|l| l <= lines),
            "{e:?}"
        );
    }
    for d in &diags {
        assert_eq!(d.path, src.path);
        assert!(usize::try_from(d.line).is_ok_and(|l| l <= lines), "{d}");
    }
}

/// systemd's unit-name escaping is undone by unescaping.
fn check_escape(s: &str) {
    let escaped = name::escape(s);
    assert_eq!(name::unescape(&escaped), s, "escaped as {escaped:?}");
}

/// Feeds arbitrary bytes, read as lossy UTF-8, through the zinit YAML loader.
pub fn yaml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("/fuzz/unit.yaml");
    for unit_name in ["fuzz", "fuzz.service"] {
        let (unit, diags) = yaml::parse(path, unit_name, &text);
        let errors = diags.iter().any(Diagnostic::is_error);
        assert_eq!(
            unit.is_some(),
            !errors,
            "a unit is returned exactly when there is no error: {diags:?}"
        );
        if let Some(unit) = &unit {
            assert_eq!(unit.name, "fuzz.service");
            assert_eq!(unit.kind, UnitKind::Service);
            assert!(unit.service.is_some());
        }
        for d in &diags {
            assert_eq!(d.path, path);
        }
        assert_eq!((unit, diags), yaml::parse(path, unit_name, &text));
    }
}
