//! Human and JSON output of replies. Colours only when stdout is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vigil_proto::{
    BlameEntry, DependencyNode, FILE_REMOVED, LogLine, QueuedJob, UnitFile, UnitStatus, UnitSummary,
};

fn colour_on() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn paint(state: &str, text: &str, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let code = match state {
        "running" | "exited" => "32",
        "failed" => "31",
        "starting" | "waiting" | "reloading" | "stopping" | "restarting" => "33",
        _ => return text.to_string(),
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

use crate::out::{outln, stdout};

pub(crate) fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => outln!("{s}"),
        Err(e) => eprintln!("vigil: cannot encode JSON: {e}"),
    }
}

/// Pads `cells` into aligned columns; the last column is not padded.
fn table(rows: &[Vec<String>], colour_col: Option<usize>, states: &[String]) {
    let colour = colour_on();
    let mut out = stdout();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    for (r, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let last = i + 1 == row.len();
            let pad = if last {
                0
            } else {
                widths[i] - cell.chars().count() + 2
            };
            let text = match (colour_col, states.get(r)) {
                (Some(c), Some(state)) if c == i && r > 0 => paint(state, cell, colour),
                _ => cell.clone(),
            };
            line.push_str(&text);
            line.extend(std::iter::repeat_n(' ', pad));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

pub fn list(units: &[UnitSummary], json: bool) {
    if json {
        print_json(&units);
        return;
    }
    let mut rows = vec![vec![
        "UNIT".to_string(),
        "STATE".to_string(),
        "PID".to_string(),
        "RESTARTS".to_string(),
        "DESCRIPTION".to_string(),
    ]];
    let mut states = vec![String::new()];
    for u in units {
        rows.push(vec![
            u.name.clone(),
            list_state(&u.state, u.reason.as_deref()),
            u.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            u.restarts.to_string(),
            u.description.clone(),
        ]);
        states.push(u.state.clone());
    }
    table(&rows, Some(1), &states);
}

/// The longest reason `vigil list` shows, ellipsis included.
const LIST_REASON_MAX: usize = 40;

/// The STATE cell of `vigil list`. The column is as wide as its longest cell,
/// so one long reason would widen every row: the table keeps only the kind of
/// a condition or a load error (whose text starts with a file path) and cuts
/// any other reason at [`LIST_REASON_MAX`] characters. `vigil status` and
/// `--json` give the reason whole, as systemctl leaves details to `status`.
fn list_state(state: &str, reason: Option<&str>) -> String {
    let Some(reason) = reason else {
        return state.to_string();
    };
    if reason.starts_with("condition failed") {
        return format!("{state} (condition failed)");
    }
    if reason == FILE_REMOVED {
        return format!("{state} ({FILE_REMOVED})");
    }
    if state != "failed" && state != "inactive" {
        return state.to_string();
    }
    if reason.starts_with("load error") {
        return format!("{state} (load error)");
    }
    if reason.chars().count() <= LIST_REASON_MAX {
        return format!("{state} ({reason})");
    }
    let cut: String = reason.chars().take(LIST_REASON_MAX - 1).collect();
    format!("{state} ({}…)", cut.trim_end())
}

/// `--json`: an object when `array` is false (exactly one plain name was
/// given), else an array of every unit found (maybe empty).
pub fn status(units: &[UnitStatus], json: bool, array: bool) {
    if json {
        match units {
            [one] if !array => print_json(one),
            many => print_json(&many),
        }
        return;
    }
    let terminal = std::io::stdout().is_terminal();
    status_to(&mut stdout(), units, colour_on(), terminal);
}

/// The text of `vigil status`. What a service chose (its `STATUS=`, and the
/// reason, which may quote its PID file) is shown as [`for_terminal`] does.
fn status_to(out: &mut impl Write, units: &[UnitStatus], colour: bool, terminal: bool) {
    let shown = |text: &'_ str| match terminal {
        true => for_terminal(text).into_owned(),
        false => text.to_string(),
    };
    for (i, u) in units.iter().enumerate() {
        if i > 0 {
            let _ = writeln!(out);
        }
        let title = if u.description.is_empty() {
            u.name.clone()
        } else {
            format!("{} - {}", u.name, u.description)
        };
        let _ = writeln!(out, "{title}");
        if let Some(src) = &u.source {
            let _ = writeln!(out, "     source: {src}");
        }
        for dropin in &u.drop_ins {
            let _ = writeln!(out, "    drop-in: {dropin}");
        }
        let mut state = paint(&u.state, &u.state, colour);
        if let Some(r) = &u.reason {
            state.push_str(&format!(" ({})", shown(r)));
        }
        match u.since_us {
            // An instance not loaded (read from its template): never started.
            0 => {
                let _ = writeln!(out, "      state: {state}");
            }
            since => {
                let _ = writeln!(out, "      state: {state} since {}", when(since));
            }
        }
        if !u.waiting_for.is_empty() {
            let _ = writeln!(out, "waiting for: {}", u.waiting_for.join(", "));
        }
        if let Some(next) = u.next_restart_us {
            let _ = writeln!(out, "   next try: {}", when(next));
        }
        if let Some(pid) = u.pid {
            let _ = writeln!(out, "   main pid: {pid}");
        }
        let _ = writeln!(out, "   restarts: {}", u.restarts);
        if let Some(exit) = &u.last_exit {
            let _ = writeln!(out, "  last exit: {exit}");
        }
        if let Some(text) = &u.status_text {
            let _ = writeln!(out, "     status: {}", shown(text));
        }
        if let Some(errno) = u.status_errno {
            let words = vigil_engine::errno_words(errno);
            let _ = writeln!(out, "      errno: {errno} ({words})");
        }
        if let Some(bus) = &u.bus_name {
            let _ = writeln!(out, "   bus name: {bus} (not watched: vigil has no D-Bus)");
        }
        if let Some(cycle) = &u.cycle {
            let _ = writeln!(out, "      cycle: {cycle}");
        }
        for (i, listen) in u.listen.iter().enumerate() {
            let label = if i == 0 { "listen:" } else { "" };
            let _ = writeln!(out, "{label:>12} {listen}");
        }
        if let Some(service) = &u.triggers {
            let _ = writeln!(out, "   triggers: {service}");
        }
        if !u.triggered_by.is_empty() {
            let _ = writeln!(out, "triggered by: {}", u.triggered_by.join(", "));
        }
        if !u.not_enforced.is_empty() {
            let _ = writeln!(out, "not enforced: {}", u.not_enforced.join(", "));
        }
        if !u.logs.is_empty() {
            let _ = writeln!(out);
            log_to(out, &u.logs, false, terminal);
        }
        if u.need_daemon_reload {
            // After what was printed of the unit, on stderr, as systemctl
            // status warns.
            let _ = out.flush();
            eprintln!("{}", changed_on_disk(&u.name));
        }
    }
}

/// systemctl's warning of a unit whose files changed on disk since they
/// were read, with vigil's verb for a daemon-reload.
pub fn changed_on_disk(unit: &str) -> String {
    format!(
        "Warning: The unit file, source configuration file or drop-ins of {unit} changed on disk. \
         Run 'vigil sync' to reload units."
    )
}

pub fn log(lines: &[LogLine], json: bool) {
    log_to(&mut stdout(), lines, json, std::io::stdout().is_terminal());
}

/// A service's line as a terminal gets it: control characters (an escape
/// sequence that would move the cursor, retitle the window or hide what
/// follows; a carriage return that would overwrite the line) shown as
/// `\xNN`, as `journalctl` keeps them off the terminal too. Tabs stay. Into
/// a pipe or a file the line goes as it is.
fn for_terminal(line: &str) -> std::borrow::Cow<'_, str> {
    let control = |c: char| c.is_control() && c != '\t';
    if !line.chars().any(control) {
        return line.into();
    }
    let mut out = String::with_capacity(line.len() + 8);
    // Unicode's control characters are C0, DEL and C1: all below 0x100.
    for c in line.chars() {
        match c {
            c if control(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.into()
}

fn log_to(out: &mut impl Write, lines: &[LogLine], json: bool, terminal: bool) {
    for l in lines {
        if json {
            match serde_json::to_string(l) {
                Ok(s) => {
                    let _ = writeln!(out, "{s}");
                }
                Err(e) => eprintln!("vigil: cannot encode JSON: {e}"),
            }
            continue;
        }
        // A marker, not a count (docs/PROTOCOL.md): the ring does not count
        // what it evicts. "-- 1 lines dropped --" stood for 36,000 lost.
        if l.dropped_before > 0 {
            let _ = writeln!(out, "-- lines dropped here: this follower fell behind --");
        }
        // stdout as `unit: line`; the other streams are named.
        let tag = match l.stream.as_str() {
            "stdout" => "",
            "stderr" => "[stderr]",
            _ => "[vigil]",
        };
        // A unit's SyslogIdentifier= names its lines, as in journalctl.
        let from = l.tag.as_deref().unwrap_or(&l.unit);
        let text = match terminal {
            true => for_terminal(&l.line),
            false => l.line.as_str().into(),
        };
        let _ = writeln!(out, "{} {from}{tag}: {text}", clock(l.time_us));
    }
}

/// `list-unit-files`: systemctl's columns and its count line after them.
pub fn unit_files(files: &[UnitFile], json: bool) {
    if json {
        print_json(&files);
        return;
    }
    let mut rows = vec![vec!["UNIT FILE".to_string(), "STATE".to_string()]];
    rows.extend((files.iter()).map(|f| vec![f.unit_file.clone(), f.state.clone()]));
    table(&rows, None, &[]);
    outln!("\n{} unit files listed.", files.len());
}

/// `list-jobs`: systemctl's columns (without its job numbers: vigil's jobs
/// have none) and its count line, or `No jobs running.`.
pub fn jobs(jobs: &[QueuedJob], json: bool) {
    if json {
        print_json(&jobs);
        return;
    }
    if jobs.is_empty() {
        outln!("No jobs running.");
        return;
    }
    let mut rows = vec![vec!["UNIT".into(), "TYPE".into(), "STATE".into()]];
    rows.extend((jobs.iter()).map(|j| vec![j.unit.clone(), j.job_type.clone(), j.state.clone()]));
    table(&rows, None, &[]);
    outln!("\n{} jobs listed.", jobs.len());
}

/// How `list-dependencies` draws its tree.
#[derive(Debug, Clone, Copy)]
pub struct TreeStyle {
    /// Every unit is expanded, not only targets.
    pub all: bool,
    /// A list: no glyphs, no nesting, each unit once.
    pub plain: bool,
}

/// systemctl's order of a unit's dependencies: other units first, then
/// targets, each by name regardless of case.
fn dependency_order(a: &str, b: &str) -> std::cmp::Ordering {
    let target = |n: &str| n.ends_with(".target");
    let lower = |n: &str| n.to_ascii_lowercase();
    (target(a), lower(a)).cmp(&(target(b), lower(b)))
}

/// systemctl's mark of a unit's state in the tree, and its colour: ● active
/// or on its way up or down, ↻ reloading, ○ inactive, × failed.
fn state_mark(state: &str) -> (&'static str, &'static str) {
    match crate::show::active_state(state) {
        "active" | "activating" => ("\u{25cf}", "\x1b[0;1;32m"),
        "reloading" => ("\u{21bb}", "\x1b[0;1;32m"),
        "deactivating" => ("\u{25cf}", ""),
        "failed" => ("\u{d7}", "\x1b[0;1;31m"),
        _ => ("\u{25cb}", ""),
    }
}

/// `list-dependencies`: `root`, then what it reaches as systemctl draws it.
/// Each line is the unit's state mark, the branches (`├─`, `└─`, `│ `) and
/// its name; targets are expanded (every unit with `all`); a unit already on
/// the way from the root is not expanded again but marked `...` under its
/// parent, so a cycle ends. `plain`: `  NAME` lines, each unit once.
pub fn dependencies(root: &str, units: &[DependencyNode], style: TreeStyle) {
    dependencies_to(&mut stdout(), root, units, style, colour_on());
}

fn dependencies_to(
    out: &mut impl Write,
    root: &str,
    units: &[DependencyNode],
    style: TreeStyle,
    colour: bool,
) {
    let by_name: std::collections::HashMap<&str, &DependencyNode> =
        units.iter().map(|u| (u.name.as_str(), u)).collect();
    let sorted = |name: &str| -> Vec<String> {
        let mut deps = (by_name.get(name))
            .map(|u| u.deps.clone())
            .unwrap_or_default();
        deps.sort_by(|a, b| dependency_order(a, b));
        deps
    };
    let _ = writeln!(out, "{root}");
    // The units on the way from the root (every unit seen, when plain),
    // counted: a name may be on it once only, but the count is cheap.
    let mut on_path: std::collections::HashMap<String, usize> =
        std::collections::HashMap::from([(root.to_string(), 1)]);
    // One frame per level: its dependencies and the next to draw. `more`:
    // for each level below the root, whether its unit has siblings after
    // it (a `│ ` goes down past the level then).
    let mut frames: Vec<(Vec<String>, usize)> = vec![(sorted(root), 0)];
    let mut path: Vec<String> = vec![root.to_string()];
    let mut more: Vec<bool> = Vec::new();
    let branches = |more: &[bool]| -> String {
        more.iter()
            .map(|&m| if m { "\u{2502} " } else { "  " })
            .collect()
    };
    while let Some((deps, next)) = frames.last_mut() {
        let Some(name) = deps.get(*next).cloned() else {
            frames.pop();
            more.pop();
            if let Some(done) = path.pop().filter(|_| !style.plain)
                && let Some(n) = on_path.get_mut(&done)
            {
                *n = n.saturating_sub(1);
            }
            continue;
        };
        *next += 1;
        let last = *next == deps.len();
        if on_path.get(&name).is_some_and(|&n| n > 0) {
            if !style.plain {
                let mut deeper = more.clone();
                deeper.push(!last);
                let _ = writeln!(out, "  {}\u{2514}\u{2500}...", branches(&deeper));
            }
            continue;
        }
        let state = by_name.get(name.as_str()).map_or("inactive", |u| &u.state);
        if style.plain {
            let _ = writeln!(out, "  {name}");
        } else {
            let (mark, on) = state_mark(state);
            let mark = match (colour, on.is_empty()) {
                (true, false) => format!("{on}{mark}\x1b[0m"),
                _ => mark.to_string(),
            };
            let branch = if last {
                "\u{2514}\u{2500}"
            } else {
                "\u{251c}\u{2500}"
            };
            let _ = writeln!(out, "{mark} {}{branch}{name}", branches(&more));
        }
        let expand = style.all || name.ends_with(".target");
        if expand || style.plain {
            *on_path.entry(name.clone()).or_insert(0) += 1;
        }
        if expand {
            more.push(!last);
            frames.push((sorted(&name), 0));
            path.push(name);
        }
    }
}

pub fn blame(entries: &[BlameEntry], json: bool) {
    if json {
        print_json(&entries);
        return;
    }
    let mut out = stdout();
    for e in entries {
        let _ = writeln!(
            out,
            "{:>10} {}",
            span(Duration::from_micros(e.time_us)),
            e.unit
        );
    }
}

/// `12:03:04.123` in UTC: the log's timestamps, short enough to scan.
fn clock(us: u64) -> String {
    let secs = us / 1_000_000;
    let ms = (us / 1000) % 1000;
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        day / 3600,
        (day / 60) % 60,
        day % 60
    )
}

/// A human description of a wall-clock time relative to now: `3s ago`, `in 200ms`.
fn when(us: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64;
    if us <= now {
        format!("{} ago", span(Duration::from_micros(now - us)))
    } else {
        format!("in {}", span(Duration::from_micros(us - now)))
    }
}

fn span(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{}ms", ms)
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else if ms < 3_600_000 {
        format!("{}min {}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h {}min", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review finding: a service's escape sequences reached the admin's
    /// terminal as they were (`vigil log`), as did a carriage return that
    /// overwrote the line. On a terminal they are shown escaped; into a pipe
    /// the line is what the service wrote.
    /// Review finding: a service running as nobody had `STATUS=` put escape
    /// sequences on root's terminal through `vigil status` (its log lines
    /// were escaped already).
    #[test]
    fn a_status_text_is_escaped_on_a_terminal_only() {
        let unit: UnitStatus = serde_json::from_str(
            r#"{"name": "x.service", "description": "", "state": "running",
                "since_us": 0, "restarts": 0, "status_text": "\u001b[2Jhi\r"}"#,
        )
        .unwrap();
        let shown = |terminal| {
            let mut out = Vec::new();
            status_to(&mut out, std::slice::from_ref(&unit), false, terminal);
            String::from_utf8(out).unwrap()
        };
        assert!(
            shown(true).contains("     status: \\x1b[2Jhi\\x0d\n"),
            "{}",
            shown(true)
        );
        assert!(
            shown(false).contains("     status: \x1b[2Jhi\r\n"),
            "{}",
            shown(false)
        );
    }

    /// Review finding: `ERRNO=5` showed as `(Input/output error (os error 5))`.
    #[test]
    fn errno_reads_right() {
        let unit: UnitStatus = serde_json::from_str(
            r#"{"name": "x.service", "description": "", "state": "running", "pid": 7,
                "since_us": 0, "restarts": 0, "status_errno": 5}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        status_to(&mut out, std::slice::from_ref(&unit), false, false);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("      errno: 5 (Input/output error)\n"),
            "{text}"
        );
    }

    #[test]
    fn control_characters_are_escaped_on_a_terminal_only() {
        let line = LogLine {
            time_us: 0,
            unit: "x.service".into(),
            stream: "stdout".into(),
            line: "\x1b]0;owned\x07a\tb\rc\u{85}é".into(),
            tag: None,
            dropped_before: 0,
        };
        let shown = |terminal| {
            let mut out = Vec::new();
            log_to(&mut out, std::slice::from_ref(&line), false, terminal);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            shown(true),
            "00:00:00.000 x.service: \\x1b]0;owned\\x07a\tb\\x0dc\\x85é\n"
        );
        assert_eq!(
            shown(false),
            format!("00:00:00.000 x.service: {}\n", line.line)
        );
    }

    /// Found by following a flood: `-- 1 lines dropped --` where 36,000
    /// lines had gone. The field is a marker (docs/PROTOCOL.md).
    #[test]
    fn a_gap_in_a_followed_log_is_marked_without_a_count() {
        let line = LogLine {
            time_us: 0,
            unit: "x.service".into(),
            stream: "stdout".into(),
            line: "after".into(),
            tag: None,
            dropped_before: 1,
        };
        let mut out = Vec::new();
        log_to(&mut out, std::slice::from_ref(&line), false, false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-- lines dropped here: this follower fell behind --\n00:00:00.000 x.service: after\n"
        );
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(Duration::from_millis(5)), "5ms");
        assert_eq!(span(Duration::from_millis(1500)), "1.5s");
        assert_eq!(span(Duration::from_secs(90)), "1min 30s");
        assert_eq!(span(Duration::from_secs(7260)), "2h 1min");
    }

    /// Review finding: a load error's text (about 150 characters) made the
    /// STATE column, and so every row of `vigil list`, about 230 columns wide.
    #[test]
    fn list_keeps_long_reasons_out_of_the_state_column() {
        let load = "load error: /etc/vigil/broken.service:6: Type=simpel: \
                    expected one of simple, exec, oneshot, notify, forking";
        assert_eq!(list_state("failed", Some(load)), "failed (load error)");
        let cycle = "ordering cycle: a.service -> b.service -> c.service -> a.service";
        let cut = list_state("failed", Some(cycle));
        assert_eq!(cut, "failed (ordering cycle: a.service -> b.service…)");
        assert!(cut.chars().count() <= "failed ()".len() + LIST_REASON_MAX);
        // Short reasons are shown whole, as before.
        for (state, reason, cell) in [
            ("failed", "start limit hit", "failed (start limit hit)"),
            (
                "failed",
                "dependency failed: db.service",
                "failed (dependency failed: db.service)",
            ),
            (
                "inactive",
                "condition failed: ConditionPathExists=/x",
                "inactive (condition failed)",
            ),
            ("running", "exit code 1", "running"),
            ("running", "file removed", "running (file removed)"),
        ] {
            assert_eq!(list_state(state, Some(reason)), cell);
        }
        assert_eq!(list_state("running", None), "running");
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(clock(3_723_004_000), "01:02:03.004");
    }
}
