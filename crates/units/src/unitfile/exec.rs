//! Command lines (`Exec*=`) and word lists (`Environment=`): systemd's quoting
//! and C escapes, the `-@:+!` prefixes, and the `$VAR` expansion rules applied
//! at spawn time.
//!
//! Splitting happens at load time and keeps `$VAR` untouched; expansion is a
//! separate pure function the spawner calls with the service's environment.
//! Nothing here runs or looks up a program.

use thiserror::Error;

use crate::model::ExecCommand;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SplitError {
    #[error("unterminated {quote} quote")]
    UnterminatedQuote { quote: char },
    #[error("trailing backslash")]
    TrailingBackslash,
    #[error("invalid escape sequence {seq:?}")]
    BadEscape { seq: String },
    /// Escapes are bytes (`\xc3\xa9` is "é", as systemd passes it); a word
    /// whose bytes are not UTF-8 cannot be passed, as vigil keeps arguments
    /// as text.
    #[error("the word {word:?} is not UTF-8 once its escapes are decoded")]
    NotUtf8 { word: String },
}

/// One word of a split value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// The word was written without quotes or escapes (a bare `;` is then a
    /// separator between command lines).
    pub plain: bool,
}

/// The result of splitting: the words, and the escape sequences that were not
/// understood and so were kept as written (systemd warns and goes on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub words: Vec<Word>,
    pub unknown_escapes: Vec<String>,
}

/// Splits `s` into words by systemd's rules (systemd.syntax(7), "Quoting"):
/// whitespace separates words; `"..."` and `'...'` quote anywhere in a word;
/// C escapes (`\n \t \\ \" \' \s \xHH \NNN \uHHHH \UHHHHHHHH` ...) work inside
/// and outside quotes. `\xHH` and `\NNN` are bytes, as systemd decodes them, so a
/// UTF-8 sequence written as escapes is its character; a word whose bytes are
/// then not UTF-8 is an error ([`SplitError::NotUtf8`]).
pub fn split_words(s: &str) -> Result<Split, SplitError> {
    let mut out = Split::default();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut word = Vec::new();
        let mut plain = true;
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => {
                    plain = false;
                    let Some(e) = chars.next() else {
                        return Err(SplitError::TrailingBackslash);
                    };
                    unescape_one(e, &mut chars, &mut word, &mut out.unknown_escapes)?;
                }
                (q, Some(open)) if q == open => quote = None,
                (_, Some(_)) => push_char(&mut word, c),
                ('"' | '\'', None) => {
                    plain = false;
                    quote = Some(c);
                }
                (c, None) if c.is_whitespace() => break,
                (c, None) => push_char(&mut word, c),
            }
        }
        if let Some(q) = quote {
            return Err(SplitError::UnterminatedQuote { quote: q });
        }
        let text = utf8_word(word)?;
        out.words.push(Word { text, plain });
    }
}

pub(super) fn push_char(word: &mut Vec<u8>, c: char) {
    word.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

/// A word's decoded bytes as text, or the error that names it (invalid
/// bytes shown as U+FFFD).
pub(super) fn utf8_word(word: Vec<u8>) -> Result<String, SplitError> {
    String::from_utf8(word).map_err(|e| SplitError::NotUtf8 {
        word: String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn take_digits(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    n: usize,
    radix: u32,
) -> Option<(u32, String)> {
    let mut s = String::new();
    for _ in 0..n {
        let c = chars.next_if(|c| c.is_digit(radix))?;
        s.push(c);
    }
    u32::from_str_radix(&s, radix).ok().map(|v| (v, s))
}

/// Resolves the escape `\e` (its digits, if any, from `chars`) into `word`; an
/// unknown one is kept as written and listed in `unknown`. `\xHH` and `\NNN`
/// are one byte each (as systemd's cunescape); `\uHHHH` and `\UHHHHHHHH` are a
/// code point, added as its UTF-8 bytes.
pub(super) fn unescape_one(
    e: char,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    word: &mut Vec<u8>,
    unknown: &mut Vec<String>,
) -> Result<(), SplitError> {
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        's' => Some(' '),
        '\\' | '"' | '\'' => Some(e),
        // `\;` is the documented way to pass a lone semicolon (find -exec ... \;).
        ';' => Some(';'),
        _ => None,
    };
    if let Some(c) = simple {
        push_char(word, c);
        return Ok(());
    }
    let (digits, radix, octal) = match e {
        'x' => (2, 16, false),
        'u' => (4, 16, false),
        'U' => (8, 16, false),
        '0'..='7' => (2, 8, true),
        _ => {
            unknown.push(format!("\\{e}"));
            word.push(b'\\');
            push_char(word, e);
            return Ok(());
        }
    };
    let Some((v, text)) = take_digits(chars, digits, radix) else {
        return Err(SplitError::BadEscape {
            seq: format!("\\{e}"),
        });
    };
    let value = if octal {
        // Octal: `e` is the first of three digits.
        let first = e.to_digit(8).unwrap_or(0);
        first * 64 + v
    } else {
        v
    };
    let bad = || SplitError::BadEscape {
        seq: format!("\\{e}{text}"),
    };
    if value == 0 {
        return Err(bad());
    }
    if octal || e == 'x' {
        // A byte: `\400` and above do not fit in one.
        word.push(u8::try_from(value).map_err(|_| bad())?);
        return Ok(());
    }
    let c = char::from_u32(value).ok_or_else(bad)?;
    push_char(word, c);
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExecError {
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error("empty command line")]
    Empty,
    #[error("prefix {prefix:?} given more than once")]
    RepeatedPrefix { prefix: char },
    #[error("prefixes '+' and '!' cannot be combined")]
    PlusAndBang,
    #[error("'@' needs a second word to use as argv[0]")]
    MissingArgv0,
    #[error("executable path {path:?} is neither absolute nor a plain file name")]
    BadPath { path: String },
}

/// The command lines of one `Exec*=` value (several when `;` separates
/// them), and the escapes not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedExec {
    pub commands: Vec<ExecCommand>,
    pub unknown_escapes: Vec<String>,
}

/// Parses one `Exec*=` value: one command line, or several separated by a
/// `;` written as a word of its own (systemd's syntax; `\;` or `";"` is a
/// literal semicolon). `expand` is applied to every word after splitting
/// (specifiers are resolved per word, so `%I` with spaces stays one
/// argument).
pub fn parse_exec(
    value: &str,
    line: u32,
    expand: &mut dyn FnMut(&str) -> String,
) -> Result<ParsedExec, ExecError> {
    let split = split_words(value)?;
    let mut commands = Vec::new();
    let mut words = split.words.into_iter().peekable();
    while words.peek().is_some() {
        let mut command = Vec::new();
        for word in words.by_ref() {
            if word.plain && word.text == ";" {
                break;
            }
            command.push(word);
        }
        // An empty one (`;;`, a `;` at the end) is nothing, as in systemd.
        if !command.is_empty() {
            commands.push(parse_command(command, line, expand)?);
        }
    }
    if commands.is_empty() {
        return Err(ExecError::Empty);
    }
    Ok(ParsedExec {
        commands,
        unknown_escapes: split.unknown_escapes,
    })
}

/// One command line's words: prefixes, program and arguments.
fn parse_command(
    words: Vec<Word>,
    line: u32,
    expand: &mut dyn FnMut(&str) -> String,
) -> Result<ExecCommand, ExecError> {
    let mut words = words.into_iter();
    let Some(first) = words.next() else {
        return Err(ExecError::Empty);
    };
    let mut cmd = ExecCommand {
        line,
        ..ExecCommand::default()
    };
    let mut rest = first.text.as_str();
    loop {
        let (flag, len, prefix): (&mut bool, usize, char) = if rest.starts_with("!!") {
            (&mut cmd.ambient, 2, '!')
        } else {
            match rest.chars().next() {
                Some('-') => (&mut cmd.ignore_failure, 1, '-'),
                Some('@') => (&mut cmd.arg0_override, 1, '@'),
                Some(':') => (&mut cmd.no_expand, 1, ':'),
                Some('+') => (&mut cmd.full_privileges, 1, '+'),
                Some('!') => (&mut cmd.ambient, 1, '!'),
                _ => break,
            }
        };
        // `!` and `!!` share a flag: either given twice is a repeat.
        if *flag {
            return Err(ExecError::RepeatedPrefix { prefix });
        }
        *flag = true;
        // `!`: User=, Group= and SupplementaryGroups= are not applied. (`!!` only
        // matters on kernels without ambient capabilities: nothing to do.)
        cmd.keep_credentials |= prefix == '!' && len == 1;
        rest = rest.get(len..).unwrap_or("");
    }
    if cmd.full_privileges && cmd.ambient {
        return Err(ExecError::PlusAndBang);
    }
    let mut remaining: Vec<Word> = words.collect();
    // `-/bin/foo` is one word; `- /bin/foo` leaves the program in the next word.
    let program_word = if rest.is_empty() {
        if remaining.is_empty() {
            return Err(ExecError::Empty);
        }
        remaining.remove(0).text
    } else {
        rest.to_string()
    };
    let program = expand(&program_word);
    if program.is_empty() {
        return Err(ExecError::Empty);
    }
    if !program.starts_with('/') && program.contains('/') {
        return Err(ExecError::BadPath { path: program });
    }
    let mut args = remaining.into_iter().map(|w| expand(&w.text));
    if cmd.arg0_override {
        let Some(arg0) = args.next() else {
            return Err(ExecError::MissingArgv0);
        };
        cmd.argv.push(arg0);
    } else {
        cmd.argv.push(program.clone());
    }
    cmd.argv.extend(args);
    cmd.program = program;
    Ok(cmd)
}

fn is_env_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands environment variables in command words by systemd's rules:
/// a word that is exactly `$NAME` becomes the value split into words as a
/// shell would, quotes removed ([`split_value`]: zero or more words);
/// `${NAME}` anywhere in a word is replaced in place without
/// splitting; `$$` is a literal `$`; an undefined variable expands to nothing.
/// A `$` followed by anything else is kept as written. `$MAINPID` is an
/// ordinary variable here: the caller puts it into `env`.
pub fn expand_exec_words(words: &[String], env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    for word in words {
        if let Some(name) = word
            .strip_prefix('$')
            .filter(|n| !n.is_empty() && n.chars().all(is_env_name_char))
        {
            if let Some(v) = env(name) {
                out.extend(split_value(&v));
            }
            continue;
        }
        out.push(expand_in_word(word, env));
    }
    out
}

/// A value as `$NAME` alone in a word gives it, as systemd's replace_env_argv
/// splits it (EXTRACT_RELAX | EXTRACT_UNQUOTE): words at whitespace, quotes
/// removed and the whitespace inside them kept (`--title "a b"` is two
/// words), a backslash taking the next character as it is; an unbalanced
/// quote runs to the end, a trailing backslash stays.
fn split_value(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let (mut in_word, mut quote) = (false, None);
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                in_word = true;
                word.push(chars.next().unwrap_or('\\'));
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => (quote, in_word) = (Some(c), true),
            (None, c) if c.is_whitespace() => {
                if std::mem::take(&mut in_word) {
                    out.push(std::mem::take(&mut word));
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

fn expand_in_word(word: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(pos) = rest.find('$') {
        out.push_str(rest.get(..pos).unwrap_or(""));
        let after = rest.get(pos + 1..).unwrap_or("");
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            // `${NAME:-default}` and the like are the shell's, not systemd's:
            // kept as written (a `${NAME}` inside still expanded), for the
            // `sh -c '... ${OPTS:-x}'` the line may run.
            match inner
                .find(['}', ':'])
                .filter(|&end| inner.get(end..end + 1) == Some("}"))
            {
                Some(end) => {
                    let name = inner.get(..end).unwrap_or("");
                    if let Some(v) = env(name) {
                        out.push_str(&v);
                    }
                    rest = inner.get(end + 1..).unwrap_or("");
                }
                None => {
                    // So is an unterminated `${`, as systemd does.
                    out.push_str("${");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_words(s)
            .unwrap()
            .words
            .into_iter()
            .map(|w| w.text)
            .collect()
    }

    #[test]
    fn splitting_quotes_and_escapes() {
        assert_eq!(words("a  b\tc"), ["a", "b", "c"]);
        assert_eq!(words(r#""a b" 'c d' e"#), ["a b", "c d", "e"]);
        assert_eq!(words(r#"--x="a b"c"#), ["--x=a bc"]);
        assert_eq!(words(r#"'it''s'"#), ["its"]);
        assert_eq!(words(r#""say \"hi\"""#), [r#"say "hi""#]);
        assert_eq!(
            words(r"a\sb \x41 \101 \u00e9 \n"),
            ["a b", "A", "A", "é", "\n"]
        );
        assert_eq!(words(r"'\t'"), ["\t"]);
        assert_eq!(words(r#""""#), [""]);
        assert_eq!(words("   "), Vec::<String>::new());
        assert_eq!(words(r"\;"), [";"]);
    }

    /// Review finding: `caf\303\251` and `caf\xc3\xa9` were decoded as the code
    /// points U+00C3 U+00A9 ("cafÃ©"); systemd decodes them as bytes, so a
    /// UTF-8 sequence written as escapes is its character.
    #[test]
    fn byte_escapes_are_bytes_and_the_word_is_utf8() {
        assert_eq!(
            words(r"caf\303\251 caf\xc3\xa9 caf\u00e9 \U0001F600 \xe2\x82\xac"),
            ["café", "café", "café", "😀", "€"]
        );
        assert_eq!(words(r"\x41\102 '\x7e'"), ["AB", "~"]);
        // Bytes that are not UTF-8 cannot become an argument: said, not mangled.
        for bad in [r"\xff", r"caf\303", r"a\351b"] {
            assert!(
                matches!(split_words(bad), Err(SplitError::NotUtf8 { .. })),
                "{bad}"
            );
        }
        // An octal escape is one byte: \400 and above are not.
        assert!(matches!(
            split_words(r"\400"),
            Err(SplitError::BadEscape { .. })
        ));
        assert!(matches!(
            split_words(r"\x00"),
            Err(SplitError::BadEscape { .. })
        ));
    }

    #[test]
    fn splitting_errors_and_unknown_escapes() {
        assert_eq!(
            split_words("'abc"),
            Err(SplitError::UnterminatedQuote { quote: '\'' })
        );
        assert_eq!(
            split_words("\"abc"),
            Err(SplitError::UnterminatedQuote { quote: '"' })
        );
        assert_eq!(split_words("abc\\"), Err(SplitError::TrailingBackslash));
        assert!(matches!(
            split_words(r"\xZZ"),
            Err(SplitError::BadEscape { .. })
        ));
        assert!(matches!(
            split_words(r"\000"),
            Err(SplitError::BadEscape { .. })
        ));
        let s = split_words(r"echo \$HOME \d").unwrap();
        assert_eq!(s.words[1].text, "\\$HOME");
        assert_eq!(
            s.unknown_escapes,
            vec!["\\$".to_string(), "\\d".to_string()]
        );
    }

    fn exec(s: &str) -> Result<ExecCommand, ExecError> {
        let mut parsed = execs(s)?;
        assert_eq!(parsed.len(), 1, "{s}");
        Ok(parsed.remove(0))
    }

    fn execs(s: &str) -> Result<Vec<ExecCommand>, ExecError> {
        parse_exec(s, 7, &mut |w| w.replace("%i", "inst")).map(|p| p.commands)
    }

    #[test]
    fn exec_plain() {
        let c = exec("/usr/sbin/sshd -D $SSHD_OPTS").unwrap();
        assert_eq!(c.program, "/usr/sbin/sshd");
        assert_eq!(c.argv, ["/usr/sbin/sshd", "-D", "$SSHD_OPTS"]);
        assert_eq!(c.line, 7);
        assert!(!c.ignore_failure && !c.arg0_override && !c.no_expand);
        assert!(!c.full_privileges && !c.ambient);
        let c = exec("sleep 1").unwrap();
        assert_eq!(c.program, "sleep");
    }

    #[test]
    fn exec_prefixes_in_any_order() {
        let c = exec("-@:/bin/sh mysh -c 'echo %i'").unwrap();
        assert!(c.ignore_failure && c.arg0_override && c.no_expand);
        assert_eq!(c.program, "/bin/sh");
        assert_eq!(c.argv, ["mysh", "-c", "echo inst"]);
        let c = exec(":-+/bin/true").unwrap();
        assert!(c.ignore_failure && c.no_expand && c.full_privileges && !c.keep_credentials);
        // `!!` changes nothing on a kernel with ambient capabilities; `!` keeps
        // the manager's user and groups only.
        let c = exec("!!/bin/true").unwrap();
        assert!(c.ambient && !c.full_privileges && !c.keep_credentials);
        let c = exec("!-/bin/true").unwrap();
        assert!(c.ambient && c.ignore_failure && c.keep_credentials && !c.full_privileges);
        let c = exec("- /bin/true x").unwrap();
        assert!(c.ignore_failure);
        assert_eq!(c.argv, ["/bin/true", "x"]);
    }

    #[test]
    fn exec_errors() {
        assert_eq!(exec(""), Err(ExecError::Empty));
        assert_eq!(exec("-"), Err(ExecError::Empty));
        assert_eq!(
            exec("--/bin/x"),
            Err(ExecError::RepeatedPrefix { prefix: '-' })
        );
        assert_eq!(
            exec("!!!/bin/x"),
            Err(ExecError::RepeatedPrefix { prefix: '!' })
        );
        assert_eq!(exec("+!/bin/x"), Err(ExecError::PlusAndBang));
        assert_eq!(exec("@/bin/x"), Err(ExecError::MissingArgv0));
        assert!(matches!(exec("bin/x"), Err(ExecError::BadPath { .. })));
        assert!(matches!(exec("./x"), Err(ExecError::BadPath { .. })));
        // systemd's separator: a `;` word of its own.
        let two = execs("-/bin/a x ; /bin/b ;").unwrap();
        let argv: Vec<&[String]> = two.iter().map(|c| c.argv.as_slice()).collect();
        assert_eq!(argv, [&["/bin/a", "x"][..], &["/bin/b"][..]]);
        assert!(two[0].ignore_failure && !two[1].ignore_failure);
        assert_eq!(execs(";"), Err(ExecError::Empty));
        assert_eq!(exec("/bin/echo a;b").unwrap().argv, ["/bin/echo", "a;b"]);
        assert!(matches!(exec("/bin/a 'x"), Err(ExecError::Split(_))));
        let c = exec(r"/usr/bin/find . -exec rm {} \;").unwrap();
        assert_eq!(c.argv.last().map(String::as_str), Some(";"));
        let c = exec(r#"/bin/echo ";""#).unwrap();
        assert_eq!(c.argv, ["/bin/echo", ";"]);
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "OPTS" => Some("-a  -b\t-c".into()),
            "ONE" => Some("x y".into()),
            "EMPTY" => Some(String::new()),
            "MAINPID" => Some("42".into()),
            "QUOTED" => Some(r#"--title "hello world" -v 'a b'c "" x\ y "open end"#.into()),
            _ => None,
        }
    }

    fn expand(ws: &[&str]) -> Vec<String> {
        let ws: Vec<String> = ws.iter().map(|s| s.to_string()).collect();
        expand_exec_words(&ws, &env)
    }

    #[test]
    fn expansion_rules() {
        assert_eq!(expand(&["/bin/x", "$OPTS"]), ["/bin/x", "-a", "-b", "-c"]);
        assert_eq!(expand(&["${ONE}"]), ["x y"]);
        assert_eq!(expand(&["a${ONE}b"]), ["ax yb"]);
        assert_eq!(expand(&["$UNDEFINED", "z"]), ["z"]);
        assert_eq!(expand(&["$EMPTY"]), Vec::<String>::new());
        assert_eq!(expand(&["[${UNDEFINED}]"]), ["[]"]);
        assert_eq!(expand(&["$$ONE"]), ["$ONE"]);
        assert_eq!(expand(&["cost$$"]), ["cost$"]);
        assert_eq!(expand(&["a$ONE"]), ["a$ONE"]);
        assert_eq!(expand(&["${ONE"]), ["${ONE"]);
        // The shell's forms are left to the shell, as systemd leaves them;
        // a `${NAME}` inside is still systemd's.
        assert_eq!(expand(&["${NOPE:-dflt}"]), ["${NOPE:-dflt}"]);
        assert_eq!(expand(&["${ONE:+alt}x"]), ["${ONE:+alt}x"]);
        assert_eq!(expand(&["${FOO:-${ONE}}"]), ["${FOO:-x y}"]);
        assert_eq!(
            expand(&["kill", "-HUP", "$MAINPID"]),
            ["kill", "-HUP", "42"]
        );
        assert_eq!(expand(&["$"]), ["$"]);
        assert_eq!(expand(&["$ONE-x"]), ["$ONE-x"]);
    }

    /// A whole-word `$NAME` splits its value as systemd does: quotes group
    /// and go (an EnvironmentFile= line `OPTS='--title "hello world"'`).
    #[test]
    fn a_split_value_honours_quotes() {
        assert_eq!(
            expand(&["$QUOTED"]),
            [
                "--title",
                "hello world",
                "-v",
                "a bc",
                "",
                "x y",
                "open end"
            ]
        );
        assert_eq!(expand(&["${QUOTED}"]).len(), 1, "braces never split");
    }
}
