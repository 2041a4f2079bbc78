//! `vigil verify PATH...`: the daemon's own loaders, offline. Prints every error
//! and warning with file:line, and the ordering cycles among the units found.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use vigil_units::load::load_paths;
use vigil_units::{ExecCommand, Format, SpecifierContext, Unit};

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
    for unit in &set.units {
        for problem in command_problems(unit) {
            errors += 1;
            outln!("{problem}");
        }
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

/// systemd's PATH for services: where the manager looks a bare program up
/// (vigil_spawn::DEFAULT_PATH, which this offline tool does not link).
const SERVICE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Each command of the unit whose program cannot be run, as systemd-analyze
/// verify says it: `FILE:LINE: error: command PROGRAM (ExecStart=) ...`. A
/// command whose failure is ignored (`-`) is not checked, as there.
fn command_problems(unit: &Unit) -> Vec<String> {
    let Some(svc) = &unit.service else {
        return Vec::new();
    };
    let yaml = unit.format == Format::Yaml;
    let lists: [(&str, &[ExecCommand]); 7] = [
        ("ExecCondition=", &svc.exec_condition),
        ("ExecStartPre=", &svc.exec_start_pre),
        ("ExecStart=", &svc.exec_start),
        ("ExecStartPost=", &svc.exec_start_post),
        ("ExecReload=", &svc.exec_reload),
        ("ExecStop=", &svc.exec_stop),
        ("ExecStopPost=", &svc.exec_stop_post),
    ];
    let test = svc.ready_test.as_ref().map(std::slice::from_ref);
    let lists = lists.into_iter().chain(test.map(|t| ("test", t)));
    let mut problems = Vec::new();
    for (directive, commands) in lists {
        // zinit's keys for a YAML unit: its command is `exec`.
        let directive = if yaml && directive == "ExecStart=" {
            "exec"
        } else {
            directive
        };
        for cmd in commands.iter().filter(|c| !c.ignore_failure) {
            let path = svc.exec_search_path.as_deref().unwrap_or(SERVICE_PATH);
            let Some(why) = not_runnable(&cmd.program, path) else {
                continue;
            };
            let file = (cmd.dropin.as_deref())
                .or(unit.source.as_deref())
                .map_or_else(|| unit.name.clone(), |p| p.display().to_string());
            let at = if cmd.line > 0 {
                format!("{file}:{}", cmd.line)
            } else {
                file
            };
            problems.push(format!(
                "{at}: error: command {} ({directive}) {why}",
                cmd.program
            ));
        }
    }
    problems
}

/// Why `program` cannot be executed, or `None` when it can: an absolute
/// path must be an executable regular file; a bare name must be one in
/// `path`, the services' PATH or the unit's `ExecSearchPath=`.
fn not_runnable(program: &str, path: &str) -> Option<String> {
    if program.contains('/') {
        return match std::fs::metadata(program) {
            Err(e) => Some(format!(
                "is not executable: {}",
                e.raw_os_error()
                    .map_or_else(|| e.to_string(), vigil_engine::errno_words)
            )),
            Ok(m) if !m.is_file() => Some("is not executable: not a regular file".into()),
            Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                Some("is not executable: permission denied".into())
            }
            Ok(_) => None,
        };
    }
    let found = path.split(':').any(|dir| {
        let m = std::fs::metadata(Path::new(dir).join(program));
        m.is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    });
    (!found).then(|| format!("is not found in {path}"))
}
