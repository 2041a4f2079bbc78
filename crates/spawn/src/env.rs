//! A service's environment: systemd's `EnvironmentFile=` syntax and the ordered,
//! later-wins variable list the child receives.
//!
//! This module reads no file and never looks at the manager's own environment:
//! the caller hands in text and values. It does know which of a manager's
//! variables must never reach a service ([`MANAGER_PROTOCOL_VARIABLES`]).

/// Variables through which a manager speaks to the processes it starts
/// (sd_notify, socket activation, the watchdog, `MAINPID`, `INVOCATION_ID`,
/// `MANAGERPID`, `SYSTEMD_EXEC_PID`, `PIDFILE`, `MONITOR_*`), and those
/// vigil-init and a re-executing vigild hand to vigild. Found in a manager's
/// own environment they are about the manager and its own supervisor, not a
/// service: inherited, `NOTIFY_SOCKET` would have a service notify whatever
/// started the container, `LISTEN_FDS` would have it take descriptors it does
/// not hold, `VIGIL_INIT_FD` names vigild's channel to vigil-init (vigil-init
/// drops a stale one too). So a service that inherits the manager's
/// environment (container mode) never gets these from it; the manager sets
/// its own where they apply.
pub const MANAGER_PROTOCOL_VARIABLES: &[&str] = &[
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "MAINPID",
    "INVOCATION_ID",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "MANAGERPID",
    "SYSTEMD_EXEC_PID",
    "PIDFILE",
    "MONITOR_SERVICE_RESULT",
    "MONITOR_EXIT_CODE",
    "MONITOR_EXIT_STATUS",
    "MONITOR_INVOCATION_ID",
    "MONITOR_UNIT",
    "VIGIL_INIT_FD",
    "VIGIL_STATE_FD",
];

/// Variables a shell keeps about itself (its working directory, the last one,
/// its depth, the last command): in the environment of a container's
/// vigil-init started by a shell, they describe that shell, not the service
/// (whose working directory is its own: `PWD` said the shell's). Not passed on
/// in container mode, as bash sets them afresh in each shell anyway.
pub const SHELL_STATE_VARIABLES: &[&str] = &["PWD", "OLDPWD", "SHLVL", "_"];

/// Variables in first-assignment order; assigning a name again replaces its value
/// in place (systemd's `strv_env_replace` behaviour).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: Vec<(String, String)>,
}

impl Environment {
    pub fn new() -> Environment {
        Environment::default()
    }

    pub fn set(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => {
                v.clear();
                v.push_str(value);
            }
            None => self.vars.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// `UnsetEnvironment=`: removes the variables `entries` name. A name removes
    /// the variable whatever its value; `NAME=VALUE` only while it has exactly
    /// that value.
    pub fn unset(&mut self, entries: &[String]) {
        self.vars.retain(|(name, value)| {
            !entries.iter().any(|entry| match entry.split_once('=') {
                Some((n, v)) => n == name && v == value,
                None => entry == name,
            })
        });
    }
}

/// systemd's rule for a variable name: not empty, ASCII letters, digits and `_`,
/// not starting with a digit.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    PreKey,
    Key,
    PreValue,
    Value,
    ValueEscape,
    SingleQuote,
    DoubleQuote,
    DoubleQuoteEscape,
    Comment,
}

fn is_newline(c: char) -> bool {
    c == '\n' || c == '\r'
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Characters a backslash escapes inside double quotes; before any other
/// character the backslash is kept, as in the shell.
fn needs_escape(c: char) -> bool {
    matches!(c, '"' | '\\' | '`' | '$')
}

/// Parses the text of an `EnvironmentFile=` with systemd's rules:
///
/// - one `KEY=VALUE` per line; blank lines and lines whose first non-blank
///   character is `#` or `;` are comments (there are no trailing comments);
/// - whitespace around the key and before the value is dropped, and so is
///   trailing whitespace of an unquoted value;
/// - a value may start with (or continue after a closing quote with) `'...'`,
///   where nothing is special, or `"..."`, where `\` escapes `"`, `\`, `` ` `` and
///   `$`, drops a following newline and is otherwise kept; quoted values may span
///   lines; a quote in the middle of an unquoted value is an ordinary character;
/// - outside quotes `\` takes the next character literally, and `\` at the end
///   of a line joins the next line;
/// - a line without `=`, or whose key is not a valid name (for example
///   `export FOO=1`), is ignored; variables are not expanded.
///
/// Pairs come back in file order, duplicates included (the later one wins when
/// they are applied).
pub fn parse_environment_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut state = State::PreKey;
    let mut key = String::new();
    let mut value = String::new();
    // Byte length of `value` before its trailing unquoted whitespace, if any.
    let mut value_trim: Option<usize> = None;

    let mut push = |key: &mut String, value: &mut String, trim: Option<usize>| {
        if let Some(len) = trim {
            value.truncate(len);
        }
        let name = key.trim_end_matches(is_whitespace);
        if is_valid_name(name) {
            out.push((name.to_owned(), std::mem::take(value)));
        }
        key.clear();
        value.clear();
    };

    for c in text.chars() {
        state = match state {
            State::PreKey => {
                if c == '#' || c == ';' {
                    State::Comment
                } else if is_whitespace(c) {
                    State::PreKey
                } else {
                    key.push(c);
                    State::Key
                }
            }
            State::Comment => {
                if is_newline(c) {
                    State::PreKey
                } else {
                    State::Comment
                }
            }
            State::Key => {
                if is_newline(c) {
                    key.clear();
                    State::PreKey
                } else if c == '=' {
                    value.clear();
                    value_trim = None;
                    State::PreValue
                } else {
                    key.push(c);
                    State::Key
                }
            }
            State::PreValue => {
                if is_newline(c) {
                    push(&mut key, &mut value, None);
                    State::PreKey
                } else if c == '\'' {
                    State::SingleQuote
                } else if c == '"' {
                    State::DoubleQuote
                } else if c == '\\' {
                    State::ValueEscape
                } else if is_whitespace(c) {
                    State::PreValue
                } else {
                    value_trim = None;
                    value.push(c);
                    State::Value
                }
            }
            State::Value => {
                if is_newline(c) {
                    push(&mut key, &mut value, value_trim);
                    State::PreKey
                } else if c == '\\' {
                    value_trim = None;
                    State::ValueEscape
                } else {
                    if !is_whitespace(c) {
                        value_trim = None;
                    } else if value_trim.is_none() {
                        value_trim = Some(value.len());
                    }
                    value.push(c);
                    State::Value
                }
            }
            State::ValueEscape => {
                // An escaped newline joins the lines; anything else is taken as is.
                if !is_newline(c) {
                    value.push(c);
                }
                State::Value
            }
            State::SingleQuote => {
                if c == '\'' {
                    State::PreValue
                } else {
                    value.push(c);
                    State::SingleQuote
                }
            }
            State::DoubleQuote => {
                if c == '"' {
                    State::PreValue
                } else if c == '\\' {
                    State::DoubleQuoteEscape
                } else {
                    value.push(c);
                    State::DoubleQuote
                }
            }
            State::DoubleQuoteEscape => {
                if needs_escape(c) {
                    value.push(c);
                } else if c != '\n' {
                    value.push('\\');
                    value.push(c);
                }
                State::DoubleQuote
            }
        };
    }
    match state {
        State::Value => push(&mut key, &mut value, value_trim),
        State::PreValue
        | State::ValueEscape
        | State::SingleQuote
        | State::DoubleQuote
        | State::DoubleQuoteEscape => push(&mut key, &mut value, None),
        State::PreKey | State::Key | State::Comment => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_environment_file(text)
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn plain_assignments_comments_and_blank_lines() {
        let text = "# comment\n; also comment\n\nA=1\n  B = two words  \nC=\n   # indented comment\nD=x # not a comment\n";
        assert_eq!(
            pairs(text),
            [
                p("A", "1"),
                p("B", "two words"),
                p("C", ""),
                p("D", "x # not a comment")
            ]
        );
    }

    #[test]
    fn quotes() {
        let text = "A='single $X \\n'\nB=\"double \\\"q\\\" \\$HOME \\\\ \\n\"\nC=\"a\" \"b\"\nD=\"x\"y\nE=a\"b c\"\n";
        assert_eq!(
            pairs(text),
            [
                p("A", "single $X \\n"),
                p("B", "double \"q\" $HOME \\ \\n"),
                p("C", "ab"),
                p("D", "xy"),
                p("E", "a\"b c\""),
            ]
        );
    }

    #[test]
    fn multi_line_values() {
        let text = "A=\"line1\nline2\"\nB=one\\\ntwo\nC=\"joined\\\nhere\"\nD='x\ny'\n";
        assert_eq!(
            pairs(text),
            [
                p("A", "line1\nline2"),
                p("B", "onetwo"),
                p("C", "joinedhere"),
                p("D", "x\ny")
            ]
        );
    }

    #[test]
    fn escapes_outside_quotes_keep_the_character() {
        assert_eq!(pairs("A=a\\ b\\\\c\\$d\\ \n"), [p("A", "a b\\c$d ")]);
    }

    #[test]
    fn invalid_lines_are_ignored() {
        let text = "export FOO=1\nNOEQUALS\n1BAD=x\nBAD-NAME=x\n=x\nGOOD_1=ok\n";
        assert_eq!(pairs(text), [p("GOOD_1", "ok")]);
    }

    #[test]
    fn end_of_file_without_newline_and_unterminated_quote() {
        assert_eq!(pairs("A=1"), [p("A", "1")]);
        assert_eq!(pairs("A=1   "), [p("A", "1")]);
        assert_eq!(pairs("A=\"open"), [p("A", "open")]);
        assert_eq!(pairs("A="), [p("A", "")]);
        assert_eq!(pairs("A"), []);
    }

    #[test]
    fn carriage_returns_end_lines() {
        assert_eq!(pairs("A=1\r\nB=2\r\n"), [p("A", "1"), p("B", "2")]);
    }

    #[test]
    fn duplicates_are_kept_in_order_and_later_wins_when_applied() {
        let parsed = pairs("A=1\nB=2\nA=3\n");
        assert_eq!(parsed, [p("A", "1"), p("B", "2"), p("A", "3")]);
        let mut env = Environment::new();
        for (k, v) in &parsed {
            env.set(k, v);
        }
        assert_eq!(env.vars(), [p("A", "3"), p("B", "2")]);
    }

    #[test]
    fn unset_takes_names_and_exact_assignments() {
        let mut env = Environment::new();
        for (k, v) in [("A", "1"), ("B", "2"), ("C", "3"), ("D", ""), ("E", "x=y")] {
            env.set(k, v);
        }
        let entries = ["A", "B=other", "C=3", "D=", "E=x=y", "ABSENT"].map(String::from);
        env.unset(&entries);
        assert_eq!(env.vars(), [p("B", "2")]);
    }

    #[test]
    fn names() {
        assert!(is_valid_name("_A1"));
        assert!(!is_valid_name("1A"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("A-B"));
        assert!(!is_valid_name("export FOO"));
    }
}
