//! `vigil show`: the manager's facts about units (and itself) printed as
//! systemctl show prints them: `Key=Value` lines with systemd's property
//! names, in its order, and its formats for times (`Mon 2026-12-07 14:05:00
//! UTC`), spans (`1min 30s`, `100ms`, `infinity`) and booleans (`yes`).
//! Formatting only: what a property holds is the manager's word.

use vigil_proto::{ManagerProperties, UnitProperties};

use crate::out::outln;
use crate::render::print_json;

/// What `show` prints of the properties (its options).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// `-p`: only these properties (every one when empty).
    pub properties: Vec<String>,
    /// `--value`: the values alone.
    pub value: bool,
    /// `-a`: the empty ones too.
    pub all: bool,
}

/// One property: its name and its values, one a line (`ExecStart=` has
/// one per command and `Listen=` one per address, as systemctl prints
/// them: `many`; the others exactly one).
struct Prop {
    name: String,
    values: Vec<String>,
    many: bool,
}

impl Prop {
    fn is_empty(&self) -> bool {
        self.values.iter().all(String::is_empty)
    }
}

/// A property of one value, which stays on its line ([`printable`]).
fn one(name: &str, value: impl Into<String>) -> Prop {
    Prop {
        name: name.to_string(),
        values: vec![printable(value.into())],
        many: false,
    }
}

/// A property of one value a line (`ExecStart=`, `Listen=`), each kept on
/// its line: its control characters C-escaped ([`escape_controls`]).
fn lines(name: &str, values: impl IntoIterator<Item = String>) -> Prop {
    Prop {
        name: name.to_string(),
        values: values.into_iter().map(|v| escape_controls(&v)).collect(),
        many: true,
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// A list property (`Names=`, `Environment=`, `After=`...): its words, each
/// as systemctl show prints a word of a list ([`shell_quote`]), a space
/// between them: `Environment=A=1 "B=two words" "C=x\ny"`.
fn words(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|w| shell_quote(w)).collect();
    quoted.join(" ")
}

/// The characters for which a word of a list goes in double quotes (the
/// shell's blanks, quotes, globs and operators, as systemd's
/// `shell_maybe_quote` has them), besides the control characters.
const NEEDS_QUOTES: &str = " \t\n\r\"\\`$*?['()<>|&;!";

/// The characters that take a backslash inside the double quotes.
const NEEDS_BACKSLASH: &str = "\"\\`$";

/// A word of a list property as systemctl show prints it (systemd's
/// `shell_maybe_quote`): as it is when the shell would read it so, else in
/// double quotes with `"`, `\`, `` ` `` and `$` backslashed and the control
/// characters C-escaped (`\n`, `\t`, `\x1b`): one word a shell reads back,
/// and never a line broken.
fn shell_quote(word: &str) -> String {
    let special = |c: char| c.is_ascii_control() || NEEDS_QUOTES.contains(c);
    if !word.contains(special) {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if c.is_ascii_control() {
            out.push_str(&c_escape(c));
        } else {
            if NEEDS_BACKSLASH.contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A control character as C writes it: `\n`, `\t`... or `\xNN`.
fn c_escape(c: char) -> String {
    match c {
        '\u{7}' => "\\a".into(),
        '\u{8}' => "\\b".into(),
        '\u{c}' => "\\f".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\u{b}' => "\\v".into(),
        c => format!("\\x{:02x}", u32::from(c)),
    }
}

/// `value` with its control characters C-escaped (the rest as it is).
fn escape_controls(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c.is_ascii_control() {
            true => out.push_str(&c_escape(c)),
            false => out.push(c),
        }
    }
    out
}

/// A single value as systemctl show prints it: one with a newline is
/// `[unprintable]` (systemd's word: the line would break); the other
/// control characters, which systemd prints raw, vigil C-escapes, so that a
/// carriage return or a terminal's escape sequence cannot garble the lines.
fn printable(value: String) -> String {
    if value.contains('\n') {
        return "[unprintable]".into();
    }
    escape_controls(&value)
}

fn timestamp(us: Option<u64>) -> String {
    us.map(utc_date).unwrap_or_default()
}

/// systemd's timestamp, in UTC: `Mon 2026-12-07 14:05:00 UTC`.
fn utc_date(us: u64) -> String {
    let secs = us / 1_000_000;
    let days = secs / 86_400;
    let day = secs % 86_400;
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let (y, m, d) = civil(days);
    format!(
        "{weekday} {y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        day / 3600,
        (day / 60) % 60,
        day % 60
    )
}

/// The proleptic Gregorian date of a day since 1970-01-01 (the days-from-
/// civil algorithm run backwards, on 400-year eras of 146,097 days).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// systemd's time span, as systemctl show prints one (full precision):
/// `1min 30s`, `100ms`, `1.500000s`, `0`, `infinity`.
pub fn timespan(us: u64) -> String {
    const UNITS: [(&str, u64); 9] = [
        ("y", 31_557_600_000_000),
        ("month", 2_629_800_000_000),
        ("w", 604_800_000_000),
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("min", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1000),
        ("us", 1),
    ];
    if us == u64::MAX {
        return "infinity".into();
    }
    if us == 0 {
        return "0".into();
    }
    let mut out: Vec<String> = Vec::new();
    let mut left = us;
    for (suffix, size) in UNITS {
        if left == 0 {
            break;
        }
        if left < size {
            continue;
        }
        let (whole, rest) = (left / size, left % size);
        // Under a minute, what is left goes after a point (`1.500000s`).
        if left < 60_000_000 && rest > 0 && size > 1 {
            let digits = size.ilog10() as usize;
            out.push(format!("{whole}.{rest:0digits$}{suffix}"));
            break;
        }
        out.push(format!("{whole}{suffix}"));
        left = rest;
    }
    out.join(" ")
}

/// systemd's ActiveState for one of vigil's states, as `is-active` says it:
/// scripts compare the words (`[ "$(systemctl is-active x)" = active ]`).
pub fn active_state(state: &str) -> &str {
    match state {
        "running" | "exited" => "active",
        "waiting" | "starting" | "restarting" => "activating",
        "stopping" => "deactivating",
        other => other,
    }
}

/// systemd's SubState for one of vigil's states and the unit's type. vigil
/// has one state where systemd has several steps (`start-pre`, `start`,
/// `start-post` are all `starting`): the step itself is said.
fn sub_state<'a>(state: &'a str, name: &str) -> &'a str {
    let kind = name.rsplit('.').next().unwrap_or_default();
    match (state, kind) {
        ("inactive" | "waiting", _) => "dead",
        ("running" | "exited", "target") => "active",
        ("running", "socket") => "listening",
        ("starting", _) => "start",
        ("reloading", _) => "reload",
        ("stopping", _) => "stop",
        ("restarting", _) => "auto-restart",
        (other, _) => other,
    }
}

/// A PID, 0 for none, as systemd says it.
fn pid(pid: Option<u32>) -> String {
    pid.unwrap_or(0).to_string()
}

/// A file's mode as systemctl show prints one: `0644`.
fn mode(mode: u32) -> String {
    format!("{mode:04o}")
}

/// Every property of a unit vigil knows, in systemctl show's order: the
/// service's (or the socket's) first, then the unit's.
fn unit_props(u: &UnitProperties) -> Vec<Prop> {
    let mut props = Vec::new();
    if let Some(s) = &u.service {
        props.extend([
            one("Type", &s.service_type),
            one("Restart", &s.restart),
            one("NotifyAccess", &s.notify_access),
            one("RestartUSec", timespan(s.restart_us)),
            one("TimeoutStartUSec", timespan(s.timeout_start_us)),
            one("TimeoutStopUSec", timespan(s.timeout_stop_us)),
            one("TimeoutAbortUSec", timespan(s.timeout_abort_us)),
            one("WatchdogUSec", timespan(s.watchdog_us)),
            one("RemainAfterExit", yes(s.remain_after_exit)),
            one("MainPID", pid(u.main_pid)),
            one("ControlPID", pid(u.control_pid)),
            one("StatusText", u.status_text.clone().unwrap_or_default()),
            one("StatusErrno", u.status_errno.unwrap_or(0).to_string()),
            one("Result", u.result.clone().unwrap_or_default()),
            one("NRestarts", u.restarts.to_string()),
            one("ExecMainPID", pid(u.exec_main_pid)),
            one("ExecMainCode", u.exec_main_code.unwrap_or(0).to_string()),
            one(
                "ExecMainStatus",
                u.exec_main_status.unwrap_or(0).to_string(),
            ),
            lines(
                "ExecStart",
                s.exec_start.iter().map(|c| {
                    format!(
                        "{{ path={} ; argv[]={} ; ignore_errors={} }}",
                        c.path,
                        c.argv.join(" "),
                        yes(c.ignore_errors)
                    )
                }),
            ),
            one("Environment", words(&s.environment)),
            one(
                "WorkingDirectory",
                s.working_directory.clone().unwrap_or_default(),
            ),
            one("User", s.user.clone().unwrap_or_default()),
            one("Group", s.group.clone().unwrap_or_default()),
            one("KillMode", &s.kill_mode),
            one("KillSignal", s.kill_signal.to_string()),
            one("SendSIGKILL", yes(s.send_sigkill)),
        ]);
    } else if let Some(s) = &u.socket {
        props.extend([
            one("BindIPv6Only", &s.bind_ipv6_only),
            one("Backlog", s.backlog.to_string()),
            one("SocketUser", s.socket_user.clone().unwrap_or_default()),
            one("SocketGroup", s.socket_group.clone().unwrap_or_default()),
            one("SocketMode", mode(s.socket_mode)),
            one("DirectoryMode", mode(s.directory_mode)),
            one("Accept", yes(s.accept)),
            one("FreeBind", yes(s.free_bind)),
            one("PassCredentials", yes(s.pass_credentials)),
            one("RemoveOnStop", yes(s.remove_on_stop)),
            // `Listen=127.0.0.1:80 (Stream)`, one line for each.
            lines(
                "Listen",
                (s.listen.iter()).map(|l| format!("{} ({})", l.address, l.kind)),
            ),
            one("Symlinks", words(&s.symlinks)),
            one("MaxConnections", s.max_connections.to_string()),
            one("ReusePort", yes(s.reuse_port)),
            one("ControlPID", pid(u.control_pid)),
            one("Result", u.result.clone().unwrap_or_default()),
            one("NConnections", s.n_connections.to_string()),
            one("NAccepted", s.n_accepted.to_string()),
            one("FileDescriptorName", &s.fd_name),
        ]);
    }
    props.push(one("Id", &u.name));
    props.push(one("Names", words(&u.names)));
    if let Some(d) = &u.deps {
        props.extend([
            one("Requires", words(&d.requires)),
            one("Requisite", words(&d.requisite)),
            one("Wants", words(&d.wants)),
            one("BindsTo", words(&d.binds_to)),
            one("PartOf", words(&d.part_of)),
            one("RequiredBy", words(&d.required_by)),
            one("WantedBy", words(&d.wanted_by)),
            one("Conflicts", words(&d.conflicts)),
            one("Before", words(&d.before)),
            one("After", words(&d.after)),
            one("OnFailure", words(&d.on_failure)),
            one("Triggers", words(&d.triggers)),
            one("TriggeredBy", words(&d.triggered_by)),
        ]);
    }
    props.extend([
        // systemd's Description is the name when the unit sets none.
        one(
            "Description",
            match u.description.is_empty() {
                true => &u.name,
                false => &u.description,
            },
        ),
        one("LoadState", &u.load_state),
        one("ActiveState", active_state(&u.state)),
        one("SubState", sub_state(&u.state, &u.name)),
        one("FragmentPath", u.fragment_path.clone().unwrap_or_default()),
        one("DropInPaths", words(&u.drop_in_paths)),
        one(
            "UnitFileState",
            u.unit_file_state.clone().unwrap_or_default(),
        ),
        one("StateChangeTimestamp", timestamp(u.state_change_us)),
        one("InactiveExitTimestamp", timestamp(u.inactive_exit_us)),
        one("ActiveEnterTimestamp", timestamp(u.active_enter_us)),
        one("ActiveExitTimestamp", timestamp(u.active_exit_us)),
        one("InactiveEnterTimestamp", timestamp(u.inactive_enter_us)),
    ]);
    // What a unit that did not load could do is not known: left out.
    if u.load_state == "loaded" {
        props.extend([
            one("CanStart", yes(u.can_start)),
            one("CanStop", yes(u.can_stop)),
            one("CanReload", yes(u.can_reload)),
            one("RefuseManualStart", yes(u.refuse_manual_start)),
            one("RefuseManualStop", yes(u.refuse_manual_stop)),
        ]);
    }
    props.push(one("NeedDaemonReload", yes(u.need_daemon_reload)));
    props.extend([
        one("ConditionResult", yes(u.condition_result)),
        one("AssertResult", yes(u.assert_result)),
        one("ConditionTimestamp", timestamp(u.condition_us)),
        one("AssertTimestamp", timestamp(u.assert_us)),
    ]);
    if let (Some(interval), Some(burst)) = (u.start_limit_interval_us, u.start_limit_burst) {
        props.extend([
            one("StartLimitIntervalUSec", timespan(interval)),
            one("StartLimitBurst", burst.to_string()),
        ]);
    }
    if let Some(why) = &u.load_error {
        props.push(one("LoadError", load_error(u, why)));
    }
    props
}

/// systemd's LoadError: the D-Bus error's name and its message.
fn load_error(u: &UnitProperties, why: &str) -> String {
    let error = match u.load_state.as_str() {
        "not-found" => "org.freedesktop.systemd1.NoSuchUnit",
        "masked" => "org.freedesktop.systemd1.UnitMasked",
        _ => "org.freedesktop.systemd1.BadUnitSetting",
    };
    format!("{error} \"{why}\"")
}

/// The manager's properties, in systemctl show's order.
fn manager_props(m: &ManagerProperties) -> Vec<Prop> {
    vec![
        one("Version", &m.version),
        one("NNames", m.n_names.to_string()),
        one("NFailedUnits", m.n_failed_units.to_string()),
        one("NJobs", m.n_jobs.to_string()),
        one("UnitPath", words(&m.unit_path)),
        one("SystemState", &m.system_state),
        // vigil's own: what its control connections have not read.
        one(
            "QueuedReplyBytes",
            (m.queued_reply_bytes.map(|n| n.to_string())).unwrap_or_default(),
        ),
    ]
}

/// The properties to print: those `-p` asked for, in the listing's order,
/// then those vigil has not, empty (`PROP=`, as systemctl prints a name it
/// has no value for); without `-p`, every one, the empty ones only with
/// `-a`.
fn pick(props: Vec<Prop>, opts: &Options) -> Vec<Prop> {
    if opts.properties.is_empty() {
        return props
            .into_iter()
            .filter(|p| opts.all || !p.is_empty())
            .collect();
    }
    let asked = |name: &str| opts.properties.iter().any(|p| p == name);
    let unknown: Vec<Prop> = (opts.properties.iter())
        .filter(|p| !props.iter().any(|q| q.name == p.as_str()))
        .map(|p| one(p, ""))
        .collect();
    (props.into_iter())
        .filter(|p| asked(&p.name))
        .map(|mut p| {
            if p.values.is_empty() {
                p.values.push(String::new());
            }
            p
        })
        .chain(unknown)
        .collect()
}

fn print(props: &[Prop], opts: &Options) {
    for p in props {
        for value in &p.values {
            match opts.value {
                true => outln!("{value}"),
                false => outln!("{}={value}", p.name),
            }
        }
    }
}

/// The same properties as a JSON object, in the listing's order: names to
/// values (strings; `ExecStart` a list of its commands, `Listen` of its
/// addresses).
struct JsonObject<'a>(&'a [Prop]);

impl serde::Serialize for JsonObject<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for p in self.0 {
            match p.many {
                true => map.serialize_entry(&p.name, &p.values)?,
                false => map.serialize_entry(&p.name, &p.values.concat())?,
            }
        }
        map.end()
    }
}

/// Prints the units' properties, a blank line between units (an object,
/// or an array when `array`, with `--json`).
pub fn units(units: &[UnitProperties], opts: &Options, json: bool, array: bool) {
    let picked: Vec<Vec<Prop>> = units.iter().map(|u| pick(unit_props(u), opts)).collect();
    if json {
        let objects: Vec<JsonObject> = picked.iter().map(|p| JsonObject(p)).collect();
        match (array, objects.first()) {
            (false, Some(object)) => print_json(object),
            (false, None) => outln!("null"),
            (true, _) => print_json(&objects),
        }
        return;
    }
    for (i, props) in picked.iter().enumerate() {
        if i > 0 {
            outln!("");
        }
        print(props, opts);
    }
}

pub fn manager(m: &ManagerProperties, opts: &Options, json: bool) {
    let props = pick(manager_props(m), opts);
    match json {
        true => print_json(&JsonObject(&props)),
        false => print(&props, opts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_as_systemd_prints_them() {
        assert_eq!(timespan(100_000), "100ms");
        assert_eq!(timespan(90_000_000), "1min 30s");
        assert_eq!(timespan(1_500_000), "1.500000s");
        assert_eq!(timespan(90_500_000), "1min 30.500000s");
        assert_eq!(timespan(3_600_000_000), "1h");
        assert_eq!(timespan(0), "0");
        assert_eq!(timespan(u64::MAX), "infinity");
    }

    #[test]
    fn list_words_quoted_as_systemd_quotes_them() {
        assert_eq!(shell_quote("A=1"), "A=1");
        assert_eq!(shell_quote("F=ünïcödé"), "F=ünïcödé");
        assert_eq!(shell_quote("B=two words"), r#""B=two words""#);
        assert_eq!(shell_quote("B=x\ny"), r#""B=x\ny""#);
        assert_eq!(shell_quote("C=$HOME `id`"), r#""C=\$HOME \`id\`""#);
        assert_eq!(shell_quote("D=a'b\\c"), r#""D=a'b\\c""#);
        assert_eq!(shell_quote("E=\u{1b}[1m\u{7f}"), r#""E=\x1b[1m\x7f""#);
        assert_eq!(words(&["a".into(), "b c".into()]), r#"a "b c""#);
    }

    #[test]
    fn single_values_stay_on_their_line() {
        assert_eq!(printable("a\nb".into()), "[unprintable]");
        assert_eq!(printable("a\rb\tc".into()), r"a\rb\tc");
        assert_eq!(printable("say \"hi\" $x".into()), "say \"hi\" $x");
        assert_eq!(escape_controls("a\nb"), r"a\nb");
    }

    #[test]
    fn timestamps_as_systemd_prints_them() {
        assert_eq!(utc_date(0), "Thu 1970-01-01 00:00:00 UTC");
        // 2026-12-07 14:05:00 UTC, a Monday.
        assert_eq!(
            utc_date(1_796_652_300 * 1_000_000),
            "Mon 2026-12-07 14:05:00 UTC"
        );
        assert_eq!(
            utc_date(951_782_400 * 1_000_000),
            "Tue 2000-02-29 00:00:00 UTC"
        );
    }

    #[test]
    fn asked_properties_come_in_the_listings_order_and_unknown_ones_empty() {
        let unit = UnitProperties {
            name: "a.service".into(),
            load_state: "loaded".into(),
            state: "running".into(),
            ..UnitProperties::default()
        };
        let opts = Options {
            properties: vec!["SubState".into(), "Nope".into(), "Id".into()],
            ..Options::default()
        };
        let got: Vec<(String, Vec<String>)> = (pick(unit_props(&unit), &opts).into_iter())
            .map(|p| (p.name, p.values))
            .collect();
        assert_eq!(
            got,
            [
                ("Id".to_string(), vec!["a.service".to_string()]),
                ("SubState".to_string(), vec!["running".to_string()]),
                ("Nope".to_string(), vec![String::new()]),
            ]
        );
    }
}
