//! `vigil verify PATH...`: the daemon's own loaders, offline. Prints every error
//! and warning with file:line, and the ordering cycles among the units found.

use std::path::PathBuf;

use vigil_units::SpecifierContext;
use vigil_units::load::load_paths;

use crate::Exit;
use crate::out::outln;

pub fn run(paths: &[PathBuf]) -> Exit {
    for p in paths {
        if !p.exists() {
            eprintln!("{}: error: no such file or directory", p.display());
            return Exit::Failed;
        }
    }
    let ctx = SpecifierContext::from_environment();
    let set = load_paths(paths, &ctx);
    let mut errors = 0;
    let mut warnings = 0;
    for d in &set.diagnostics {
        if d.is_error() {
            errors += 1;
        } else {
            warnings += 1;
        }
        outln!("{d}");
    }
    for cycle in vigil_engine::find_cycles(&set.units) {
        errors += 1;
        let origin = set
            .units
            .iter()
            .find(|u| Some(&u.name) == cycle.first())
            .and_then(|u| u.source.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<units>".into());
        outln!(
            "{origin}: error: ordering cycle: {}",
            vigil_engine::cycle_text(&cycle)
        );
    }
    // The built-in targets the files refer to are no units of theirs.
    let loaded = (set.units.iter())
        .filter(|u| u.format != vigil_units::Format::Builtin)
        .count();
    outln!(
        "{loaded} units loaded, {} failed; {errors} errors, {warnings} warnings",
        set.broken.len()
    );
    if errors > 0 {
        Exit::Failed
    } else {
        Exit::Success
    }
}
