//! zinit-style YAML service files (`NAME.yaml` defines `NAME.service`).
//!
//! This module owns the translation of zinit's format into the one service
//! model; it never touches the file system (the caller hands it the text) and
//! never guesses: an unknown key, a value of the wrong type or a missing `exec`
//! is an error with the line and column of the offending key or value, and every
//! error in the file is reported at once. The loader is built on saphyr's
//! span-carrying [`MarkedYaml`] so that every node knows where it was written.
//!
//! How zinit's semantics map onto the model (zinit's documented format:
//! `exec`, `test`, `oneshot`, `after`, `signal: {stop}`, `log`, `env`, `dir`,
//! `shutdown_timeout`; vigil also accepts `environ` as a spelling of `env`):
//!
//! - **`after`** becomes `Requires=` plus `After=` on each named unit. zinit does
//!   not start a service until each dependency is running (or, for a oneshot,
//!   exited successfully), and a dependency that never gets there holds the
//!   dependent back for good. In systemd terms the ordering is `After=`, and the
//!   "only if it succeeded" part is `Requires=` (a failed requirement fails the
//!   dependent with `dependency failed: NAME`, which is the visible form of
//!   zinit's "blocked"). `Wants=` would start the dependent even when the
//!   dependency failed, which zinit never does.
//! - **Respawn.** zinit respawns every service that is not a oneshot whenever it
//!   exits, whatever the exit status, about two seconds later, forever. So a
//!   non-oneshot service gets `Restart=always`, `RestartSec=2s`, and no start
//!   limit (a 2 s spacing keeps a crash loop cheap, and a start limit would make
//!   a YAML service stop where zinit would keep trying).
//! - **`oneshot: true`** is `Type=oneshot`, `Restart=no` and
//!   `RemainAfterExit=yes`: zinit calls a oneshot that exited 0 "ok" and its
//!   dependents may start; `RemainAfterExit` keeps it in `exited` so they see it
//!   done.
//! - **`test`** is the readiness probe ([`Service::ready_test`]); the type stays
//!   `simple` and the engine treats the probe specially.
//! - **Timeouts.** zinit has no start timeout, so `timeout_start` is infinity; its
//!   default stop timeout is 10 s, not systemd's 90 s.
//! - **`exec` and `test`** are split into words the way zinit does (shell-like
//!   quoting, no shell): see [`split_words`]. zinit never expands `$VAR`, so the
//!   commands are marked `no_expand`.
//! - **`log`**: `ring` (the default) is vigil's own log, `stdout` the manager's
//!   stdout prefixed by the unit name, `none` (or YAML `null`, as zinit's
//!   documentation writes it) discards; it applies to stdout and stderr alike.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

use saphyr::{MarkedYaml, Scalar, ScanError, YamlData, YamlLoader};
use saphyr_parser::{BufferedInput, Event, Parser as EventParser, SpannedEventReceiver};

use crate::name::{self as unit_name, NameError};
use crate::{
    Diagnostic, ExecCommand, Format, Output, RestartPolicy, Service, ServiceType, StartLimit, Unit,
    UnitKind, WorkingDir, WorkingDirectory,
};

/// zinit respawns a service that exited after this delay.
const RESPAWN_DELAY: Duration = Duration::from_secs(2);
/// zinit's default `shutdown_timeout`.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The keys of a zinit service file; each name is spelled once, in [`KEYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Exec,
    Oneshot,
    After,
    Env,
    Environ,
    Test,
    Log,
    Signal,
    ShutdownTimeout,
    Dir,
}

const KEYS: [(&str, Key); 10] = [
    ("exec", Key::Exec),
    ("oneshot", Key::Oneshot),
    ("after", Key::After),
    ("env", Key::Env),
    ("environ", Key::Environ),
    ("test", Key::Test),
    ("log", Key::Log),
    ("signal", Key::Signal),
    ("shutdown_timeout", Key::ShutdownTimeout),
    ("dir", Key::Dir),
];

/// The deepest nesting of lists and mappings a service file may have (the top
/// mapping is level 1; `env:` and `after:` are level 2). saphyr builds its tree
/// recursively, so a deeper file would overflow the stack of the manager.
const MAX_DEPTH: usize = 32;

/// The only key of the `signal` mapping.
const SIGNAL_STOP: &str = "stop";

/// Everything that can be wrong in a zinit file; each becomes one [`Diagnostic`].
#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error("yaml syntax: {info}")]
    Syntax { info: String },
    #[error("yaml nested too deeply: more than {limit} levels of lists and mappings")]
    TooDeep { limit: usize },
    #[error("only one yaml document is allowed in a service file")]
    ExtraDocument,
    #[error("the file is empty; a zinit service needs at least `exec`")]
    Empty,
    #[error("the top level must be a mapping of keys such as `exec`, found {found}")]
    TopNotMapping { found: String },
    #[error("keys must be strings, found {found}")]
    KeyNotString { found: String },
    #[error("unknown key `{key}`; known keys are {known}")]
    UnknownKey { key: String, known: String },
    #[error("`{key}` must be {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: String,
    },
    #[error("missing `exec`: a zinit service needs a command to run")]
    MissingExec,
    #[error("`{key}` and `{other}` are two spellings of the same key; use one")]
    BothEnvSpellings {
        key: &'static str,
        other: &'static str,
    },
    #[error("`{key}`: {reason}")]
    BadCommand {
        key: &'static str,
        reason: SplitError,
    },
    #[error("`{key}` contains a NUL character")]
    Nul { key: String },
    #[error("`{key}`: `{value}` is not a valid environment variable name")]
    BadEnvName { key: &'static str, value: String },
    #[error("`after`: `{value}` is not a valid unit name: {reason}")]
    BadUnitName { value: String, reason: NameError },
    #[error("`after`: {name} is a template and cannot be a dependency")]
    TemplateDependency { name: String },
    #[error("`log` must be one of ring, stdout, none; found `{value}`")]
    BadLog { value: String },
    #[error("`signal.stop`: unknown signal `{value}`")]
    BadSignal { value: String },
    #[error("`shutdown_timeout` must be a non-negative number of seconds, found {value}")]
    BadTimeout { value: String },
    #[error("`shutdown_timeout` is too large")]
    TimeoutTooLarge,
    #[error("`{key}`: the program name is empty")]
    EmptyProgram { key: &'static str },
    #[error("`dir` must be an absolute path, found `{value}`")]
    RelativeDir { value: String },
}

/// Why a command line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("unterminated {quote} quote")]
    UnterminatedQuote { quote: &'static str },
    #[error("trailing backslash")]
    TrailingBackslash,
    #[error("empty command line")]
    Empty,
}

/// Parses one zinit YAML file into a unit named `name` (`NAME.service`).
/// Returns the unit when there is no error, and every diagnostic found.
///
/// `name` may be given with or without the `.service` suffix.
pub fn parse(path: &Path, name: &str, text: &str) -> (Option<Unit>, Vec<Diagnostic>) {
    let mut parser = Parser {
        path,
        text,
        offsets: OnceCell::new(),
        diags: Vec::new(),
    };
    let unit = parser.unit(name);
    let failed = parser.diags.iter().any(Diagnostic::is_error);
    (if failed { None } else { unit }, parser.diags)
}

/// The result of reading one file: the diagnostics so far, and the text for
/// recovering how a scalar was written.
struct Parser<'a> {
    path: &'a Path,
    text: &'a str,
    /// Built the first time a scalar's source is needed.
    offsets: OnceCell<CharOffsets>,
    diags: Vec<Diagnostic>,
}

/// Converts saphyr's positions, which count characters, to byte offsets of one
/// text in constant time: the byte offset of every [`Self::STRIDE`]th
/// character boundary is kept, and a lookup walks at most `STRIDE - 1`
/// characters from the nearest one before it. Built in one pass over the text.
struct CharOffsets {
    /// `starts[k]` is the byte offset of character `k * STRIDE` (the end of the
    /// text counts as a boundary).
    starts: Vec<usize>,
}

impl CharOffsets {
    const STRIDE: usize = 64;

    fn new(text: &str) -> Self {
        let starts = text
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()))
            .step_by(Self::STRIDE)
            .collect();
        Self { starts }
    }

    /// The byte offset of character `chars` of `text` (the text this table was
    /// built from), or `None` past its end.
    fn byte(&self, text: &str, chars: usize) -> Option<usize> {
        let start = *self.starts.get(chars / Self::STRIDE)?;
        let rest = text.get(start..)?;
        rest.char_indices()
            .map(|(i, _)| start + i)
            .chain(std::iter::once(text.len()))
            .nth(chars % Self::STRIDE)
    }
}

/// Line (from 1) and column (from 1) of a node.
fn position(marker: &saphyr::Marker) -> (u32, u32) {
    let line = u32::try_from(marker.line()).unwrap_or(u32::MAX);
    let column = u32::try_from(marker.col().saturating_add(1)).unwrap_or(u32::MAX);
    (line, column)
}

impl Parser<'_> {
    fn error_at(&mut self, marker: &saphyr::Marker, problem: Problem) {
        let (line, column) = position(marker);
        self.diags
            .push(Diagnostic::error(self.path, line, problem.to_string()).with_column(column));
    }

    fn error(&mut self, node: &MarkedYaml<'_>, problem: Problem) {
        self.error_at(&node.span.start, problem);
    }

    fn unit(&mut self, name: &str) -> Option<Unit> {
        let docs = match load_documents(self.text) {
            Ok(docs) => docs,
            Err(LoadError::Syntax(e)) => {
                self.syntax_error(&e);
                return None;
            }
            Err(LoadError::TooDeep(at)) => {
                self.error_at(&at, Problem::TooDeep { limit: MAX_DEPTH });
                return None;
            }
        };
        let mut docs = docs.into_iter();
        let Some(top) = docs.next() else {
            self.diags
                .push(Diagnostic::error(self.path, 1, Problem::Empty.to_string()).with_column(1));
            return None;
        };
        if let Some(extra) = docs.next() {
            self.error(&extra, Problem::ExtraDocument);
        }
        let entries = match &top.data {
            YamlData::Mapping(map) => map,
            YamlData::Value(Scalar::Null) | YamlData::BadValue => {
                self.error(&top, Problem::Empty);
                return None;
            }
            _ => {
                let found = describe(&top);
                self.error(&top, Problem::TopNotMapping { found });
                return None;
            }
        };

        let full_name = if name.ends_with(UnitKind::Service.suffix()) {
            name.to_string()
        } else {
            format!("{name}{}", UnitKind::Service.suffix())
        };
        let mut unit = Unit::new(full_name, UnitKind::Service, Format::Yaml);
        unit.source = Some(self.path.to_path_buf());
        // zinit retries forever; see the module documentation.
        unit.start_limit = StartLimit {
            interval: Duration::ZERO,
            burst: StartLimit::default().burst,
        };
        let mut svc = Service {
            timeout_start: None,
            timeout_stop: Some(DEFAULT_SHUTDOWN_TIMEOUT),
            stdout: Output::Log,
            stderr: Output::Log,
            ..Service::default()
        };

        let mut exec = None;
        let mut oneshot = false;
        let mut env_key: Option<&'static str> = None;
        for (key_node, value) in entries {
            let Some(key) = self.key(key_node) else {
                continue;
            };
            match key {
                Key::Exec => exec = self.command(value, "exec"),
                Key::Test => *svc.ready_test = self.command(value, "test"),
                Key::Oneshot => oneshot = self.boolean(value, "oneshot").unwrap_or(false),
                Key::After => {
                    // `after` is one key (a repeated key is a syntax error), so
                    // these lists are empty before.
                    let deps = self.after(value);
                    unit.deps.requires.clone_from(&deps);
                    unit.deps.after = deps;
                }
                Key::Env | Key::Environ => {
                    let spelling = if key == Key::Env { "env" } else { "environ" };
                    if let Some(other) = env_key {
                        self.error(
                            key_node,
                            Problem::BothEnvSpellings {
                                key: spelling,
                                other,
                            },
                        );
                        continue;
                    }
                    env_key = Some(spelling);
                    svc.environment = self.environment(value, spelling);
                    // As zinit (Rust's Command): `exec` and `test` are looked
                    // for in the PATH given, its absolute directories here.
                    let path = (svc.environment.iter().rev()).find(|(k, _)| k == "PATH");
                    let dirs: Vec<&str> = path
                        .map(|(_, v)| v.split(':').filter(|d| d.starts_with('/')).collect())
                        .unwrap_or_default();
                    *svc.exec_search_path = (!dirs.is_empty()).then(|| dirs.join(":"));
                }
                Key::Log => {
                    if let Some(out) = self.log(value) {
                        svc.stdout = out.clone();
                        svc.stderr = out;
                    }
                }
                Key::Signal => {
                    if let Some(sig) = self.signal(value) {
                        svc.kill_signal = sig;
                    }
                }
                Key::ShutdownTimeout => {
                    if let Some(t) = self.timeout(value) {
                        svc.timeout_stop = Some(t);
                    }
                }
                Key::Dir => {
                    if let Some(dir) = self.dir(value) {
                        *svc.working_directory = Some(WorkingDir {
                            dir: WorkingDirectory::Path(dir),
                            optional: false,
                        });
                    }
                }
            }
        }

        let has_exec_key = entries
            .keys()
            .any(|k| scalar_str(k) == Some(key_name(Key::Exec)));
        match exec {
            Some(cmd) => svc.exec_start = vec![cmd],
            // A present but broken `exec` has already been reported.
            None if has_exec_key => {}
            None => self.error(&top, Problem::MissingExec),
        }
        if oneshot {
            svc.service_type = ServiceType::Oneshot;
            svc.restart = RestartPolicy::No;
            svc.remain_after_exit = true;
        } else {
            svc.service_type = ServiceType::Simple;
            svc.restart = RestartPolicy::Always;
            svc.restart_sec = RESPAWN_DELAY;
        }
        // systemd's TimeoutAbortSec= is the stop timeout when unset, and
        // zinit has no setting for it.
        svc.timeout_abort = svc.timeout_stop;
        unit.service = Some(svc);
        Some(unit)
    }

    fn syntax_error(&mut self, e: &ScanError) {
        let info = e.info();
        let problem = Problem::Syntax {
            info: info.to_string(),
        };
        let line = e.marker().line();
        // saphyr reports some tabs in a line's indentation elsewhere: one
        // indenting a plain scalar's next line at the start of the scalar, one
        // in block indentation after it (where the content begins), one
        // starting a block scalar's content at its `|` or `>`. Point at the tab.
        let tab = if info.ends_with("found a tab") {
            indenting_tab_after(self.text, line)
        } else if info.starts_with("tabs disallowed within this context") {
            indenting_tab_on(self.text, line)
        } else if info == "a block scalar content cannot start with a tab" {
            indenting_tab_on(self.text, line.saturating_add(1))
        } else {
            None
        };
        if let Some((line, column)) = tab {
            self.diags
                .push(Diagnostic::error(self.path, line, problem.to_string()).with_column(column));
            return;
        }
        self.error_at(e.marker(), problem);
    }

    fn key(&mut self, node: &MarkedYaml<'_>) -> Option<Key> {
        let Some(name) = scalar_str(node) else {
            let found = describe(node);
            self.error(node, Problem::KeyNotString { found });
            return None;
        };
        if let Some((_, key)) = KEYS.iter().find(|(n, _)| *n == name) {
            return Some(*key);
        }
        let known = KEYS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        self.error(
            node,
            Problem::UnknownKey {
                key: name.to_string(),
                known,
            },
        );
        None
    }

    fn wrong_type(&mut self, node: &MarkedYaml<'_>, key: &str, expected: &'static str) {
        let found = describe(node);
        self.error(
            node,
            Problem::WrongType {
                key: key.to_string(),
                expected,
                found,
            },
        );
    }

    /// A string value, or an error.
    fn string<'n>(&mut self, node: &'n MarkedYaml<'_>, key: &str) -> Option<&'n str> {
        let Some(s) = scalar_str(node) else {
            self.wrong_type(node, key, "a string");
            return None;
        };
        if s.contains('\0') {
            self.error(
                node,
                Problem::Nul {
                    key: key.to_string(),
                },
            );
            return None;
        }
        Some(s)
    }

    fn boolean(&mut self, node: &MarkedYaml<'_>, key: &str) -> Option<bool> {
        if let YamlData::Value(Scalar::Boolean(b)) = &node.data {
            return Some(*b);
        }
        self.wrong_type(node, key, "a boolean (true or false)");
        None
    }

    fn command(&mut self, node: &MarkedYaml<'_>, key: &'static str) -> Option<ExecCommand> {
        let line = self.string(node, key)?;
        let argv = match split_words(line) {
            Ok(argv) => argv,
            Err(reason) => {
                self.error(node, Problem::BadCommand { key, reason });
                return None;
            }
        };
        let program = argv.first()?.clone();
        // As `ExecStart="" x` in a unit file: nothing could ever be run.
        if program.is_empty() {
            self.error(node, Problem::EmptyProgram { key });
            return None;
        }
        Some(ExecCommand {
            program,
            argv,
            // zinit runs the words as they are, without `$VAR` expansion.
            no_expand: true,
            line: position(&node.span.start).0,
            ..ExecCommand::default()
        })
    }

    /// The names in `after`, each once, in the order first written.
    fn after(&mut self, node: &MarkedYaml<'_>) -> Vec<String> {
        let YamlData::Sequence(items) = &node.data else {
            self.wrong_type(node, "after", "a list of service names");
            return Vec::new();
        };
        let mut deps = Vec::new();
        let mut seen = HashSet::new();
        for item in items {
            let Some(name) = self.string(item, "after") else {
                continue;
            };
            // Names as systemctl reads them: `db` is `db.service`.
            let full = unit_name::normalize(name);
            let checked = if name.trim().is_empty() {
                Err(NameError::Empty)
            } else {
                unit_name::validate(&full)
            };
            match checked {
                // As `Requires=bar@.service` in a unit file.
                Ok(()) if unit_name::is_template(&full) => {
                    self.error(item, Problem::TemplateDependency { name: full });
                }
                Ok(()) => {
                    if seen.insert(full.clone()) {
                        deps.push(full);
                    }
                }
                Err(reason) => self.error(
                    item,
                    Problem::BadUnitName {
                        value: name.to_string(),
                        reason,
                    },
                ),
            }
        }
        deps
    }

    fn environment(&mut self, node: &MarkedYaml<'_>, key: &'static str) -> Vec<(String, String)> {
        let YamlData::Mapping(map) = &node.data else {
            self.wrong_type(node, key, "a mapping of variable names to values");
            return Vec::new();
        };
        let mut env = Vec::new();
        for (name_node, value_node) in map {
            let name = self.scalar_text(name_node);
            let value = self.scalar_text(value_node);
            let name = match name {
                Some(n) if valid_env_name(&n) => Some(n),
                Some(n) => {
                    self.error(name_node, Problem::BadEnvName { key, value: n });
                    None
                }
                None => {
                    self.wrong_type(name_node, key, "variable names that are strings");
                    None
                }
            };
            let value = match value {
                Some(v) if v.contains('\0') => {
                    self.error(
                        value_node,
                        Problem::Nul {
                            key: format!("{key}.{}", name.as_deref().unwrap_or("?")),
                        },
                    );
                    None
                }
                Some(v) => Some(v),
                None => {
                    let what = format!("{key}.{}", name.as_deref().unwrap_or("?"));
                    self.wrong_type(value_node, &what, "a string, number or boolean");
                    None
                }
            };
            if let (Some(n), Some(v)) = (name, value) {
                env.push((n, v));
            }
        }
        env
    }

    /// The text of a scalar as it was written (`1.50` stays `1.50`, not `1.5`);
    /// null is the empty string. `None` for collections and custom tags.
    fn scalar_text(&self, node: &MarkedYaml<'_>) -> Option<String> {
        let YamlData::Value(scalar) = &node.data else {
            return None;
        };
        Some(match scalar {
            Scalar::String(s) => s.to_string(),
            Scalar::Null => String::new(),
            other => match self.source_of(node) {
                // The source slice is only trusted when it reads back as the same
                // value (an anchor in front of it, for example, would not).
                Some(src) if Scalar::parse_from_cow(src.into()) == *other => src.to_string(),
                _ => match other {
                    Scalar::Boolean(b) => b.to_string(),
                    Scalar::Integer(i) => i.to_string(),
                    Scalar::FloatingPoint(f) => f.to_string(),
                    Scalar::Null | Scalar::String(_) => String::new(),
                },
            },
        })
    }

    /// The characters of the input that a node spans (saphyr's markers count
    /// characters, not bytes).
    fn source_of(&self, node: &MarkedYaml<'_>) -> Option<&str> {
        let offsets = self.offsets.get_or_init(|| CharOffsets::new(self.text));
        let start = offsets.byte(self.text, node.span.start.index())?;
        let end = offsets.byte(self.text, node.span.end.index())?;
        self.text.get(start..end)
    }

    fn log(&mut self, node: &MarkedYaml<'_>) -> Option<Output> {
        if let YamlData::Value(Scalar::Null) = &node.data {
            return Some(Output::Null);
        }
        let value = self.string(node, "log")?;
        match value {
            "ring" => Some(Output::Log),
            "stdout" => Some(Output::Console),
            "none" | "null" => Some(Output::Null),
            _ => {
                let value = value.to_string();
                self.error(node, Problem::BadLog { value });
                None
            }
        }
    }

    fn signal(&mut self, node: &MarkedYaml<'_>) -> Option<i32> {
        let YamlData::Mapping(map) = &node.data else {
            self.wrong_type(node, "signal", "a mapping such as `{stop: SIGTERM}`");
            return None;
        };
        let mut result = None;
        for (key_node, value) in map {
            match scalar_str(key_node) {
                Some(SIGNAL_STOP) => {}
                Some(other) => {
                    let key = format!("signal.{other}");
                    self.error(
                        key_node,
                        Problem::UnknownKey {
                            key,
                            known: SIGNAL_STOP.to_string(),
                        },
                    );
                    continue;
                }
                None => {
                    let found = describe(key_node);
                    self.error(key_node, Problem::KeyNotString { found });
                    continue;
                }
            }
            result = match &value.data {
                YamlData::Value(Scalar::Integer(n)) => match i32::try_from(*n) {
                    Ok(n) if (1..=MAX_SIGNAL).contains(&n) => Some(n),
                    _ => {
                        let text = n.to_string();
                        self.error(value, Problem::BadSignal { value: text });
                        None
                    }
                },
                YamlData::Value(Scalar::String(s)) => match signal_number(s) {
                    Some(n) => Some(n),
                    None => {
                        let text = s.to_string();
                        self.error(value, Problem::BadSignal { value: text });
                        None
                    }
                },
                _ => {
                    self.wrong_type(value, "signal.stop", "a signal name or number");
                    None
                }
            };
        }
        result
    }

    fn timeout(&mut self, node: &MarkedYaml<'_>) -> Option<Duration> {
        let seconds = match &node.data {
            YamlData::Value(Scalar::Integer(n)) => {
                let Ok(n) = u64::try_from(*n) else {
                    self.error(
                        node,
                        Problem::BadTimeout {
                            value: n.to_string(),
                        },
                    );
                    return None;
                };
                return Some(Duration::from_secs(n));
            }
            YamlData::Value(Scalar::FloatingPoint(f)) => f.into_inner(),
            _ => {
                self.wrong_type(node, "shutdown_timeout", "a number of seconds");
                return None;
            }
        };
        match Duration::try_from_secs_f64(seconds) {
            Ok(d) => Some(d),
            // Printing such a number would take hundreds of digits, or show one
            // other than the one written (2^64 prints as 18446744073709552000).
            Err(_) if seconds > 0.0 => {
                self.error(node, Problem::TimeoutTooLarge);
                None
            }
            Err(_) => {
                let value = seconds.to_string();
                self.error(node, Problem::BadTimeout { value });
                None
            }
        }
    }

    fn dir(&mut self, node: &MarkedYaml<'_>) -> Option<PathBuf> {
        let value = self.string(node, "dir")?;
        let path = PathBuf::from(value);
        if path.is_absolute() {
            return Some(path);
        }
        // A relative directory would be relative to wherever vigild happens to run.
        let value = value.to_string();
        self.error(node, Problem::RelativeDir { value });
        None
    }
}

/// Line and column (from 1) of the first tab in the indentation of a line
/// after line `after` (from 1) that holds more than blanks.
fn indenting_tab_after(text: &str, after: usize) -> Option<(u32, u32)> {
    text.lines()
        .enumerate()
        .skip(after)
        .find_map(|(i, line)| {
            let (indent, tab) = indenting_tab(line)?;
            (indent < line.trim_end().len()).then_some((i + 1, tab + 1))
        })
        .map(line_column)
}

/// Line and column (from 1) of the first tab in the indentation of line
/// `line` (from 1).
fn indenting_tab_on(text: &str, line: usize) -> Option<(u32, u32)> {
    let i = line.checked_sub(1)?;
    let (_, tab) = indenting_tab(text.lines().nth(i)?)?;
    Some(line_column((line, tab + 1)))
}

/// The width of `line`'s indentation (its leading blanks) and the offset of
/// the first tab in it, when it has one.
fn indenting_tab(line: &str) -> Option<(usize, usize)> {
    let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
    let tab = line.get(..indent)?.find('\t')?;
    Some((indent, tab))
}

fn line_column((line, column): (usize, usize)) -> (u32, u32) {
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Why the text did not give documents.
enum LoadError {
    Syntax(ScanError),
    /// Nesting deeper than [`MAX_DEPTH`] starts (or an alias expands) here.
    TooDeep(saphyr::Marker),
}

/// The documents of `text`, as `MarkedYaml::load_from_str` gives them, but never
/// deeper than [`MAX_DEPTH`]. saphyr's event parser is an iterative state
/// machine while both its `Parser::load` and its tree builder recurse once per
/// level, so the events are pulled here in a loop, the depth is counted, and
/// each event is handed to saphyr's tree builder only once it is known not to
/// pass the limit. An alias counts as deep as the node its anchor names.
fn load_documents(text: &str) -> Result<Vec<MarkedYaml<'_>>, LoadError> {
    let mut loader = YamlLoader::<MarkedYaml<'_>>::default();
    // For each open list or mapping: its anchor and the height of its deepest
    // child so far (a scalar is 0, a list of scalars 1).
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut heights: HashMap<usize, usize> = HashMap::new();
    for event in EventParser::new(BufferedInput::new(text.chars())) {
        let (event, span) = event.map_err(LoadError::Syntax)?;
        let height = match &event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    return Err(LoadError::TooDeep(span.start));
                }
                open.push((*anchor, 0));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, deepest_child) = open.pop().unwrap_or_default();
                let height = deepest_child + 1;
                if anchor > 0 {
                    heights.insert(anchor, height);
                }
                Some(height)
            }
            Event::Alias(anchor) => {
                let height = heights.get(anchor).copied().unwrap_or(0);
                if open.len() + height > MAX_DEPTH {
                    return Err(LoadError::TooDeep(span.start));
                }
                Some(height)
            }
            _ => Some(0),
        };
        if let (Some(height), Some((_, deepest))) = (height, open.last_mut()) {
            *deepest = (*deepest).max(height);
        }
        loader.on_event(event, span);
    }
    match loader.error() {
        Some(e) => Err(LoadError::Syntax(e.clone())),
        None => Ok(loader.into_documents()),
    }
}

fn key_name(key: Key) -> &'static str {
    KEYS.iter()
        .find(|(_, k)| *k == key)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

fn scalar_str<'n>(node: &'n MarkedYaml<'_>) -> Option<&'n str> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s),
        _ => None,
    }
}

/// How a node is described in "found ..." messages.
fn describe(node: &MarkedYaml<'_>) -> String {
    match &node.data {
        YamlData::Value(Scalar::Null) => "null".to_string(),
        YamlData::Value(Scalar::Boolean(b)) => format!("the boolean `{b}`"),
        YamlData::Value(Scalar::Integer(i)) => format!("the integer `{i}`"),
        YamlData::Value(Scalar::FloatingPoint(f)) => format!("the number `{f}`"),
        YamlData::Value(Scalar::String(s)) => format!("the string `{s}`"),
        YamlData::Sequence(_) => "a list".to_string(),
        YamlData::Mapping(_) => "a mapping".to_string(),
        YamlData::Tagged(tag, _) => format!("a value with the unsupported tag `{tag}`"),
        YamlData::Representation(s, _, _) => format!("`{s}`"),
        YamlData::Alias(_) => "an alias".to_string(),
        YamlData::BadValue => "a value that does not match its tag".to_string(),
    }
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0'])
}

/// The highest signal number Linux knows (`SIGRTMAX`).
const MAX_SIGNAL: i32 = 64;

/// Signal names as zinit accepts them (`SIGTERM`), also without the `SIG`
/// prefix and in any case. The numbers are Linux's on the common architectures
/// (x86, arm, riscv); a number is accepted as well.
fn signal_number(text: &str) -> Option<i32> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i32>() {
        return (1..=MAX_SIGNAL).contains(&n).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    crate::value::SIGNALS
        .iter()
        .find(|(name, _)| *name == bare)
        .map(|(_, n)| *n)
}

/// Splits a command line into words as a POSIX shell would, without running
/// one: whitespace separates words; `'...'` is literal; inside `"..."` a
/// backslash escapes only `"`, `\`, `$`, `` ` `` and a newline; outside quotes a
/// backslash escapes any character; backslash-newline joins lines. No variable,
/// glob or `#` comment processing: zinit passes the words to exec as they are.
pub fn split_words(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word has started even when it is still empty (`""` is one empty argument).
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote { quote: "single" }),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::UnterminatedQuote { quote: "double" }),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote { quote: "double" }),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err(SplitError::TrailingBackslash),
            },
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err(SplitError::Empty);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Severity, WorkingDirectory};

    fn load(text: &str) -> (Option<Unit>, Vec<Diagnostic>) {
        parse(Path::new("/etc/zinit/web.yaml"), "web", text)
    }

    fn service(text: &str) -> (Unit, Service) {
        let (unit, diags) = load(text);
        assert!(diags.is_empty(), "unexpected diagnostics: {diags:?}");
        let unit = unit.expect("unit");
        let svc = unit.service.clone().expect("service");
        (unit, svc)
    }

    /// Every error as `(line, column, message)`, and no unit.
    fn errors(text: &str) -> Vec<(u32, u32, String)> {
        let (unit, diags) = load(text);
        assert!(unit.is_none(), "a file with errors must not give a unit");
        assert!(!diags.is_empty());
        diags
            .into_iter()
            .map(|d| {
                assert_eq!(d.severity, Severity::Error);
                assert_eq!(d.path, Path::new("/etc/zinit/web.yaml"));
                (d.line, d.column, d.message)
            })
            .collect()
    }

    fn one_error(text: &str) -> (u32, u32, String) {
        let mut errs = errors(text);
        assert_eq!(errs.len(), 1, "expected one error: {errs:?}");
        errs.remove(0)
    }

    #[test]
    fn minimal_service_gets_zinit_defaults() {
        let (unit, svc) = service("exec: /bin/sleep 10\n");
        assert_eq!(unit.name, "web.service");
        assert_eq!(unit.kind, UnitKind::Service);
        assert_eq!(unit.format, Format::Yaml);
        assert_eq!(
            unit.source.as_deref(),
            Some(Path::new("/etc/zinit/web.yaml"))
        );
        assert_eq!(unit.description, "");
        assert_eq!(unit.start_limit.interval, Duration::ZERO);
        assert_eq!(svc.service_type, ServiceType::Simple);
        assert_eq!(svc.restart, RestartPolicy::Always);
        assert_eq!(svc.restart_sec, Duration::from_secs(2));
        assert!(!svc.remain_after_exit);
        assert_eq!(svc.timeout_start, None);
        assert_eq!(svc.timeout_stop, Some(Duration::from_secs(10)));
        assert_eq!(svc.timeout_abort, svc.timeout_stop);
        assert_eq!(svc.stdout, Output::Log);
        assert_eq!(svc.stderr, Output::Log);
        assert_eq!(svc.kill_signal, 15);
        assert_eq!(*svc.ready_test, None);
        assert_eq!(*svc.working_directory, None);
        assert!(svc.environment.is_empty());
        assert_eq!(
            svc.exec_start,
            vec![ExecCommand {
                program: "/bin/sleep".into(),
                argv: vec!["/bin/sleep".into(), "10".into()],
                no_expand: true,
                line: 1,
                ..ExecCommand::default()
            }]
        );
    }

    #[test]
    fn name_with_suffix_is_kept() {
        let (unit, _) = parse(Path::new("a.yaml"), "a.service", "exec: x\n");
        assert_eq!(unit.expect("unit").name, "a.service");
    }

    #[test]
    fn every_key_at_once() {
        let text = "\
# a comment
exec: \"/usr/bin/web --title 'my site' \\\"q\\\"\"
test: curl -sf http://localhost/
oneshot: false
after:
  - db
  - cache.service
  - net.target
env:
  PORT: 8080
  MODE: prod
log: stdout
signal:
  stop: SIGINT
shutdown_timeout: 2.5
dir: /srv/web
";
        let (unit, svc) = service(text);
        let exec = svc.exec_start.first().expect("exec");
        assert_eq!(exec.program, "/usr/bin/web");
        // YAML unescapes `\"` first, then the shell-like split removes the quotes.
        assert_eq!(exec.argv, ["/usr/bin/web", "--title", "my site", "q"]);
        assert_eq!(exec.line, 2);
        let test = svc.ready_test.as_ref().expect("test");
        assert_eq!(test.argv, ["curl", "-sf", "http://localhost/"]);
        assert_eq!(test.line, 3);
        assert_eq!(
            unit.deps.requires,
            ["db.service", "cache.service", "net.target"]
        );
        assert_eq!(unit.deps.after, unit.deps.requires);
        assert!(unit.deps.wants.is_empty());
        assert_eq!(
            svc.environment,
            [
                ("PORT".to_string(), "8080".to_string()),
                ("MODE".to_string(), "prod".to_string())
            ]
        );
        assert_eq!(svc.stdout, Output::Console);
        assert_eq!(svc.stderr, Output::Console);
        assert_eq!(svc.kill_signal, 2);
        assert_eq!(svc.timeout_stop, Some(Duration::from_millis(2500)));
        assert_eq!(
            *svc.working_directory,
            Some(WorkingDir {
                dir: WorkingDirectory::Path("/srv/web".into()),
                optional: false
            })
        );
        assert_eq!(svc.service_type, ServiceType::Simple);
        assert_eq!(svc.restart, RestartPolicy::Always);
    }

    #[test]
    fn oneshot_is_done_when_it_exits() {
        let (_, svc) = service("exec: /bin/true\noneshot: true\n");
        assert_eq!(svc.service_type, ServiceType::Oneshot);
        assert_eq!(svc.restart, RestartPolicy::No);
        assert!(svc.remain_after_exit);
    }

    #[test]
    fn oneshot_must_be_a_boolean() {
        let (line, col, msg) = one_error("exec: x\noneshot: yes\n");
        assert_eq!((line, col), (2, 10));
        assert_eq!(
            msg,
            "`oneshot` must be a boolean (true or false), found the string `yes`"
        );
    }

    #[test]
    fn both_env_spellings_are_accepted() {
        for key in ["env", "environ"] {
            let (_, svc) = service(&format!("exec: x\n{key}:\n  A: b\n"));
            assert_eq!(svc.environment, [("A".to_string(), "b".to_string())]);
        }
    }

    #[test]
    fn env_and_environ_together_is_an_error() {
        let (line, col, msg) = one_error("exec: x\nenv:\n  A: b\nenviron:\n  C: d\n");
        assert_eq!((line, col), (4, 1));
        assert!(msg.contains("`environ` and `env`"), "{msg}");
    }

    #[test]
    fn env_scalars_keep_their_written_text() {
        let text = "exec: x\nenv:\n  F: 1.50\n  H: 0x10\n  B: true\n  N:\n  T: ~\n  Q: \"007\"\n  A: &a 12\n  R: *a\n";
        let (_, svc) = service(text);
        let env: Vec<(&str, &str)> = svc
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("F", "1.50"),
                ("H", "0x10"),
                ("B", "true"),
                ("N", ""),
                ("T", ""),
                ("Q", "007"),
                ("A", "12"),
                ("R", "12"),
            ]
        );
    }

    #[test]
    fn char_offsets_match_char_indices() {
        let naive = |text: &str, chars: usize| {
            text.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(text.len()))
                .nth(chars)
        };
        for len in [0, 1, 63, 64, 65, 127, 128, 129, 300] {
            for text in [
                "a".repeat(len),
                "é".repeat(len),
                "a€😀é".chars().cycle().take(len).collect::<String>(),
            ] {
                let offsets = CharOffsets::new(&text);
                for chars in 0..=len + 2 {
                    assert_eq!(
                        offsets.byte(&text, chars),
                        naive(&text, chars),
                        "{text:?} at {chars}"
                    );
                }
            }
        }
    }

    /// An env mapping of `n` numbers and booleans, each line with multi-byte
    /// text before the value, and the values as written.
    fn numbers_after_multibyte_text(n: usize) -> (String, Vec<(String, String)>) {
        let written = ["1.50", "0x1F", "007", "true", "-0", "1e3", "0o17", "False"];
        let mut text = String::from("# zinit ☃ service ünïcödé\nexec: x\nenv:\n");
        let mut env = Vec::new();
        for i in 0..n {
            let value = written[i % written.len()];
            let pad = "é€😀".repeat(i % 40);
            text.push_str(&format!("  # {pad}\n  K{i}: {value}   # ü {pad}\n"));
            env.push((format!("K{i}"), value.to_string()));
        }
        (text, env)
    }

    #[test]
    fn env_numbers_after_multibyte_text_keep_their_written_text() {
        let (text, env) = numbers_after_multibyte_text(200);
        let (_, svc) = service(&text);
        assert_eq!(svc.environment, env);
    }

    #[test]
    fn many_numbers_and_dependencies_load_in_linear_time() {
        // Finding each scalar's source by counting characters from the start
        // of the file, and deduplicating `after` by searching the list, made
        // this file take many minutes (4,000 of these numbers alone took 87 s
        // in a debug build); both are linear now.
        let (mut text, env) = numbers_after_multibyte_text(10_000);
        text.push_str("after:\n");
        for i in 0..100_000 {
            text.push_str(&format!("  - s{}\n", i % 50_000));
        }
        let (unit, svc) = service(&text);
        assert_eq!(svc.environment, env);
        let names: Vec<String> = (0..50_000).map(|i| format!("s{i}.service")).collect();
        assert_eq!(unit.deps.requires, names);
        assert_eq!(unit.deps.after, names);
    }

    #[test]
    fn env_wrong_types() {
        let errs = errors("exec: x\nenv:\n  A: [1, 2]\n  B:\n    c: d\n  C=D: x\n  [k]: v\n");
        let at: Vec<(u32, u32)> = errs.iter().map(|(l, c, _)| (*l, *c)).collect();
        // A nested mapping starts at its first key.
        assert_eq!(at, [(3, 6), (5, 5), (6, 3), (7, 3)], "{errs:?}");
        assert!(
            errs[0]
                .2
                .contains("`env.A` must be a string, number or boolean, found a list")
        );
        assert!(errs[1].2.contains("found a mapping"));
        assert!(
            errs[2]
                .2
                .contains("`C=D` is not a valid environment variable name")
        );
        assert!(errs[3].2.contains("variable names that are strings"));
        let (line, col, msg) = one_error("exec: x\nenviron: [A=b]\n");
        assert_eq!((line, col), (2, 10));
        assert_eq!(
            msg,
            "`environ` must be a mapping of variable names to values, found a list"
        );
    }

    #[test]
    fn after_names_are_normalised_and_deduplicated() {
        let (unit, _) = service("exec: x\nafter: [a, a.service, b.target, c.d]\n");
        assert_eq!(unit.deps.requires, ["a.service", "b.target", "c.d.service"]);
        assert_eq!(unit.deps.after, unit.deps.requires);
    }

    #[test]
    fn after_wrong_types() {
        let (line, col, msg) = one_error("exec: x\nafter: db\n");
        assert_eq!((line, col), (2, 8));
        assert_eq!(
            msg,
            "`after` must be a list of service names, found the string `db`"
        );
        let errs = errors("exec: x\nafter:\n  - ok\n  - 12\n  - {a: b}\n  - a/b\n  - ''\n");
        let at: Vec<(u32, u32)> = errs.iter().map(|(l, c, _)| (*l, *c)).collect();
        assert_eq!(at, [(4, 5), (5, 5), (6, 5), (7, 5)], "{errs:?}");
        assert!(errs[0].2.contains("found the integer `12`"));
        assert!(
            errs[2].2.contains("`a/b` is not a valid unit name: "),
            "{errs:?}"
        );
        assert_eq!(
            errs[3].2,
            "`after`: `` is not a valid unit name: unit name is empty"
        );
    }

    #[test]
    fn after_a_template_is_an_error() {
        let errs = errors("exec: x\nafter: [\"bar@\", ok, baz@.service, inst@x]\n");
        assert_eq!(
            errs,
            [
                (
                    2,
                    9,
                    "`after`: bar@.service is a template and cannot be a dependency".to_string()
                ),
                (
                    2,
                    21,
                    "`after`: baz@.service is a template and cannot be a dependency".to_string()
                ),
            ]
        );
    }

    #[test]
    fn log_values() {
        for (value, out) in [
            ("ring", Output::Log),
            ("stdout", Output::Console),
            ("none", Output::Null),
            ("null", Output::Null),
            ("~", Output::Null),
        ] {
            let (_, svc) = service(&format!("exec: x\nlog: {value}\n"));
            assert_eq!(svc.stdout, out, "log: {value}");
            assert_eq!(svc.stderr, out, "log: {value}");
        }
        let (line, col, msg) = one_error("exec: x\nlog: file\n");
        assert_eq!((line, col), (2, 6));
        assert_eq!(msg, "`log` must be one of ring, stdout, none; found `file`");
        let (line, col, msg) = one_error("exec: x\nlog: 3\n");
        assert_eq!((line, col), (2, 6));
        assert_eq!(msg, "`log` must be a string, found the integer `3`");
    }

    #[test]
    fn stop_signal_by_name_or_number() {
        for (value, n) in [
            ("SIGKILL", 9),
            ("TERM", 15),
            ("sighup", 1),
            ("Usr1", 10),
            ("9", 9),
            ("'34'", 34),
        ] {
            let (_, svc) = service(&format!("exec: x\nsignal:\n  stop: {value}\n"));
            assert_eq!(svc.kill_signal, n, "stop: {value}");
        }
        let (_, svc) = service("exec: x\nsignal: {stop: 3}\n");
        assert_eq!(svc.kill_signal, 3);
    }

    #[test]
    fn signal_errors() {
        let (line, col, msg) = one_error("exec: x\nsignal:\n  stop: SIGFOO\n");
        assert_eq!((line, col), (3, 9));
        assert_eq!(msg, "`signal.stop`: unknown signal `SIGFOO`");
        let (line, col, _) = one_error("exec: x\nsignal:\n  stop: 0\n");
        assert_eq!((line, col), (3, 9));
        let (line, col, _) = one_error("exec: x\nsignal:\n  stop: 65\n");
        assert_eq!((line, col), (3, 9));
        let (line, col, msg) = one_error("exec: x\nsignal:\n  reload: HUP\n");
        assert_eq!((line, col), (3, 3));
        assert!(msg.starts_with("unknown key `signal.reload`"), "{msg}");
        let (line, col, msg) = one_error("exec: x\nsignal: SIGKILL\n");
        assert_eq!((line, col), (2, 9));
        assert!(msg.starts_with("`signal` must be a mapping"), "{msg}");
        let (line, col, msg) = one_error("exec: x\nsignal:\n  stop: [9]\n");
        assert_eq!((line, col), (3, 9));
        assert_eq!(
            msg,
            "`signal.stop` must be a signal name or number, found a list"
        );
    }

    #[test]
    fn shutdown_timeout_values() {
        let (_, svc) = service("exec: x\nshutdown_timeout: 30\n");
        assert_eq!(svc.timeout_stop, Some(Duration::from_secs(30)));
        assert_eq!(
            svc.timeout_abort, svc.timeout_stop,
            "TimeoutAbortSec= follows"
        );
        let (_, svc) = service("exec: x\nshutdown_timeout: 0.25\n");
        assert_eq!(svc.timeout_stop, Some(Duration::from_millis(250)));
        let (_, svc) = service("exec: x\nshutdown_timeout: 0\n");
        assert_eq!(svc.timeout_stop, Some(Duration::ZERO));
        let (line, col, msg) = one_error("exec: x\nshutdown_timeout: -1\n");
        assert_eq!((line, col), (2, 19));
        assert_eq!(
            msg,
            "`shutdown_timeout` must be a non-negative number of seconds, found -1"
        );
        let (line, col, _) = one_error("exec: x\nshutdown_timeout: -0.5\n");
        assert_eq!((line, col), (2, 19));
        let (line, col, _) = one_error("exec: x\nshutdown_timeout: .inf\n");
        assert_eq!((line, col), (2, 19));
        for big in ["1e300", "18446744073709551616", ".inf"] {
            let (line, col, msg) = one_error(&format!("exec: x\nshutdown_timeout: {big}\n"));
            assert_eq!((line, col), (2, 19));
            assert_eq!(msg, "`shutdown_timeout` is too large", "{big}");
        }
        let (line, col, msg) = one_error("exec: x\nshutdown_timeout: 10s\n");
        assert_eq!((line, col), (2, 19));
        assert_eq!(
            msg,
            "`shutdown_timeout` must be a number of seconds, found the string `10s`"
        );
    }

    #[test]
    fn dir_values() {
        let (line, col, msg) = one_error("exec: x\ndir: srv/web\n");
        assert_eq!((line, col), (2, 6));
        assert_eq!(msg, "`dir` must be an absolute path, found `srv/web`");
        let (line, col, msg) = one_error("exec: x\ndir: 7\n");
        assert_eq!((line, col), (2, 6));
        assert_eq!(msg, "`dir` must be a string, found the integer `7`");
    }

    #[test]
    fn exec_and_test_errors() {
        let (line, col, msg) = one_error("exec: 42\n");
        assert_eq!((line, col), (1, 7));
        assert_eq!(msg, "`exec` must be a string, found the integer `42`");
        let (line, col, msg) = one_error("exec: [a, b]\n");
        assert_eq!((line, col), (1, 7));
        assert_eq!(msg, "`exec` must be a string, found a list");
        let (line, col, msg) = one_error("exec:\n");
        // An empty value is a null right after its key.
        assert_eq!((line, col), (1, 5));
        assert_eq!(msg, "`exec` must be a string, found null");
        let (line, col, msg) = one_error("exec: \"  \"\n");
        assert_eq!((line, col), (1, 7));
        assert_eq!(msg, "`exec`: empty command line");
        let (line, col, msg) = one_error("exec: x\ntest: echo 'oops\n");
        assert_eq!((line, col), (2, 7));
        assert_eq!(msg, "`test`: unterminated single quote");
        // As `ExecStart="" x` in a unit file.
        for text in ["exec: '\"\" x'\n", "exec: x\ntest: \"'' -v\"\n"] {
            let (line, col, msg) = one_error(text);
            assert_eq!(col, 7, "{text}");
            assert!(msg.ends_with("`: the program name is empty"), "{msg}");
            assert_eq!(line, if text.contains("test") { 2 } else { 1 });
        }
        let (line, col, msg) = one_error("exec: \"a\\0b\"\n");
        assert_eq!((line, col), (1, 7));
        assert_eq!(msg, "`exec` contains a NUL character");
    }

    #[test]
    fn missing_exec_points_at_the_mapping() {
        let (line, col, msg) = one_error("# header\n\noneshot: true\n");
        assert_eq!((line, col), (3, 1));
        assert_eq!(
            msg,
            "missing `exec`: a zinit service needs a command to run"
        );
    }

    #[test]
    fn unknown_key() {
        let (line, col, msg) = one_error("exec: x\n  \nrestart: always\n");
        assert_eq!((line, col), (3, 1));
        assert!(
            msg.starts_with("unknown key `restart`; known keys are exec, oneshot"),
            "{msg}"
        );
        let (line, col, msg) = one_error("exec: x\n1: y\n");
        assert_eq!((line, col), (2, 1));
        assert_eq!(msg, "keys must be strings, found the integer `1`");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (line, col, msg) = one_error("exec: x\nafter: [a,\n");
        assert_eq!((line, col), (3, 1));
        assert!(msg.starts_with("yaml syntax: "), "{msg}");
        let (line, col, msg) = one_error("exec: x\nexec: y\n");
        assert_eq!((line, col), (2, 1));
        assert_eq!(msg, "yaml syntax: duplicated key in mapping");
        let (line, col, _) = one_error("exec: x\n  bad: indent\n");
        assert_eq!(line, 2, "column {col}");
        // A tab indenting a line is reported where it is, not at the value
        // before it (saphyr's position).
        let (line, col, msg) = one_error("exec: /bin/true\n\toneshot: true\n");
        assert_eq!((line, col), (2, 1));
        assert_eq!(
            msg,
            "yaml syntax: while scanning a plain scalar, found a tab"
        );
        // A line of blanks may hold tabs.
        let (line, col, msg) = one_error("exec: /bin/true\n \t\n\n\toneshot: true\n");
        assert_eq!((line, col), (4, 1));
        assert!(msg.ends_with("found a tab"), "{msg}");
    }

    #[test]
    fn a_tab_in_block_indentation_is_reported_at_the_tab() {
        // saphyr places these where the content after the tab begins, or at
        // the block scalar's `|`.
        for (text, at) in [
            ("exec: /bin/sleep 100\nafter:\n\t- a\n", (3, 1)),
            ("exec: /bin/sleep 100\nenv:\n\tA: 1\n", (3, 1)),
            ("exec: x\nenv:\n  B:\n\t\t2\n", (4, 1)),
            ("exec: x\nenv:\n  B:\n  \t 2\n", (4, 3)),
            ("exec: |\n\tfoo\n", (2, 1)),
            ("exec: | # a comment\n\tfoo\n", (2, 1)),
        ] {
            let (line, col, msg) = one_error(text);
            assert_eq!((line, col), at, "{text:?}: {msg}");
            assert!(msg.starts_with("yaml syntax: "), "{text:?}: {msg}");
            assert!(msg.contains("tab"), "{text:?}: {msg}");
        }
        // A tab after the indentation is no indentation: saphyr's place.
        let (line, col, _) = one_error("exec: x\nafter:\n-\t- a\n");
        assert_eq!((line, col), (3, 3));
    }

    #[test]
    fn empty_files() {
        for text in ["", "# only a comment\n", "---\n", "~\n"] {
            let (line, col, msg) = one_error(text);
            assert!(line <= 2 && col == 1, "{text:?}: {line}:{col}");
            assert_eq!(
                msg,
                "the file is empty; a zinit service needs at least `exec`"
            );
        }
        assert_eq!(one_error("").0, 1);
    }

    #[test]
    fn top_level_must_be_a_mapping() {
        let (line, col, msg) = one_error("- exec: x\n");
        assert_eq!((line, col), (1, 1));
        assert_eq!(
            msg,
            "the top level must be a mapping of keys such as `exec`, found a list"
        );
        let (line, col, msg) = one_error("\n  /bin/true\n");
        assert_eq!((line, col), (2, 3));
        assert!(msg.ends_with("found the string `/bin/true`"), "{msg}");
    }

    /// `(line, column)` of the single "nested too deeply" error for `text`.
    fn too_deep(text: &str) -> (u32, u32) {
        let (line, col, msg) = one_error(text);
        assert_eq!(
            msg,
            "yaml nested too deeply: more than 32 levels of lists and mappings"
        );
        (line, col)
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        const LEVELS: usize = 100_000;
        // Compact block lists (`- - - x`): the top mapping is level 1, the
        // value of `env` level 2, of `A` level 3, so the 31st `-` opens level 33.
        let text = format!(
            "exec: /bin/true\nenv:\n  A:\n    {}x\n",
            "- ".repeat(LEVELS)
        );
        assert_eq!(too_deep(&text), (4, 5 + 2 * 30));
        // Flow lists and mappings, on one line or one level a line.
        let text = format!("exec: x\nenv: {}\n", "[".repeat(200));
        assert_eq!(too_deep(&text), (2, 6 + 31));
        let text = format!("exec: x\nenv: {}\n", "{a: ".repeat(200));
        assert_eq!(too_deep(&text), (2, 6 + 4 * 31));
        let text = format!("exec: x\nenv: {}\n", " [\n".repeat(200));
        assert_eq!(too_deep(&text), (2 + 31, 2));
        let text = format!("exec: x\nenv: {}\n", " {a:\n".repeat(200));
        assert_eq!(too_deep(&text), (2 + 31, 2));
        // saphyr's scanner reads flow collections ahead, and stops at its own
        // limit of 255 levels before it hands out the first event.
        let text = format!("exec: x\nenv: {}\n", "[".repeat(LEVELS));
        assert_eq!(
            one_error(&text),
            (
                2,
                6 + 255,
                "yaml syntax: recursion limit exceeded".to_string()
            )
        );
        // Block lists each on its own line, and block mappings, one more space
        // of indentation per level (the text grows with the square of the depth).
        let mut text = String::from("exec: x\nenv:\n");
        for level in 0..3_000 {
            text.push_str(&" ".repeat(level + 1));
            text.push_str("-\n");
        }
        assert_eq!(too_deep(&text), (3 + 31, 33));
        let mut text = String::from("exec: x\nenv:\n");
        for level in 0..3_000 {
            text.push_str(&" ".repeat(level + 1));
            text.push_str("a:\n");
        }
        assert_eq!(too_deep(&text), (3 + 31, 33));
    }

    #[test]
    fn nesting_up_to_the_limit_is_only_a_type_error() {
        // 1 (top) + 1 (env) + 30 = 32 levels.
        let text = format!("exec: x\nenv:\n  A: {}{}\n", "[".repeat(30), "]".repeat(30));
        let (line, col, msg) = one_error(&text);
        assert_eq!((line, col), (3, 6));
        assert_eq!(
            msg,
            "`env.A` must be a string, number or boolean, found a list"
        );
        let text = format!("exec: x\nenv:\n  A: {}{}\n", "[".repeat(31), "]".repeat(31));
        assert_eq!(too_deep(&text), (3, 6 + 30));
    }

    #[test]
    fn an_alias_counts_as_deep_as_its_anchor() {
        // Each anchor alone is 30 levels deep; the alias of `a` inside `b`
        // would build 2 + 30 + 30 levels.
        let deep = |inner: &str| format!("{}{inner}{}", "[".repeat(30), "]".repeat(30));
        let text = format!("exec: x\nenv:\n  A: &a {}\n  B: {}\n", deep(""), deep("*a"));
        assert_eq!(too_deep(&text), (4, 6 + 30));
        // An alias of a scalar is no deeper than the scalar.
        let (_, svc) = service("exec: x\nenv:\n  A: &a x\n  C: *a\n");
        assert_eq!(svc.environment[1], ("C".to_string(), "x".to_string()));
    }

    #[test]
    fn a_second_document_is_an_error() {
        let (line, col, msg) = one_error("exec: x\n---\nexec: y\n");
        assert_eq!((line, col), (3, 1));
        assert_eq!(msg, "only one yaml document is allowed in a service file");
    }

    #[test]
    fn custom_tags_are_wrong_types() {
        let (line, col, msg) = one_error("exec: !cmd x\n");
        assert_eq!((line, col), (1, 7));
        assert_eq!(
            msg,
            "`exec` must be a string, found a value with the unsupported tag `!cmd`"
        );
        // Core-schema tags are just types.
        let (_, svc) = service("exec: x\nenv:\n  A: !!str 1\n");
        assert_eq!(svc.environment, [("A".to_string(), "1".to_string())]);
    }

    #[test]
    fn all_errors_are_collected_in_order() {
        let text = "\
oneshot: 1
after: x
log: loud
colour: blue
signal: {stop: NOPE}
shutdown_timeout: soon
dir: rel
env: 3
";
        let errs = errors(text);
        let at: Vec<(u32, u32)> = errs.iter().map(|(l, c, _)| (*l, *c)).collect();
        assert_eq!(
            at,
            [
                (1, 10),
                (2, 8),
                (3, 6),
                (4, 1),
                (5, 16),
                (6, 19),
                (7, 6),
                (8, 6),
                (1, 1)
            ],
            "{errs:?}"
        );
        assert!(errs[8].2.starts_with("missing `exec`"));
    }

    #[test]
    fn diagnostics_display_like_a_compiler() {
        let (_, diags) = load("exec: x\nbogus: 1\n");
        let shown = diags.first().expect("a diagnostic").to_string();
        assert!(
            shown.starts_with("/etc/zinit/web.yaml:2:1: error: unknown key `bogus`"),
            "{shown}"
        );
    }

    #[test]
    fn split_words_quoting() {
        let ok = |s: &str| split_words(s).expect(s);
        assert_eq!(ok("a b\tc\n d"), ["a", "b", "c", "d"]);
        assert_eq!(ok("  lead  trail  "), ["lead", "trail"]);
        assert_eq!(ok("'a b' \"c d\""), ["a b", "c d"]);
        assert_eq!(ok("a'b'\"c\"d"), ["abcd"]);
        assert_eq!(ok("'' \"\" x"), ["", "", "x"]);
        assert_eq!(ok(r#"'a\b' "a\b" a\b"#), [r"a\b", r"a\b", "ab"]);
        assert_eq!(ok(r#""\" \\ \$ \`""#), [r#"" \ $ `"#]);
        assert_eq!(ok(r"a\ b"), ["a b"]);
        assert_eq!(ok("a\\\nb"), ["ab"]);
        assert_eq!(ok("\"a\\\nb\""), ["ab"]);
        assert_eq!(ok("echo $HOME #x"), ["echo", "$HOME", "#x"]);
        assert_eq!(ok("'it''s'"), ["its"]);
        assert_eq!(ok("\"it's\""), ["it's"]);
        assert_eq!(
            ok("sh -c 'echo \"hi there\"'"),
            ["sh", "-c", "echo \"hi there\""]
        );
        assert_eq!(
            split_words("'abc"),
            Err(SplitError::UnterminatedQuote { quote: "single" })
        );
        assert_eq!(
            split_words("\"abc"),
            Err(SplitError::UnterminatedQuote { quote: "double" })
        );
        assert_eq!(
            split_words("\"abc\\"),
            Err(SplitError::UnterminatedQuote { quote: "double" })
        );
        assert_eq!(split_words("abc\\"), Err(SplitError::TrailingBackslash));
        assert_eq!(split_words(""), Err(SplitError::Empty));
        assert_eq!(split_words(" \n\t"), Err(SplitError::Empty));
    }

    #[test]
    fn signal_table() {
        assert_eq!(signal_number("SIGTERM"), Some(15));
        assert_eq!(signal_number("kill"), Some(9));
        assert_eq!(signal_number("SIGIOT"), Some(6));
        assert_eq!(signal_number("64"), Some(64));
        assert_eq!(signal_number("SIG"), None);
        assert_eq!(signal_number("-1"), None);
        assert_eq!(signal_number(""), None);
    }
}
