//! Unit names: suffixes, validation, templates and instances, and systemd's
//! unit-name escaping (used by the `%I` and `%P` specifiers).
//!
//! Everything here is pure string work on names; it never looks at the file
//! system and never decides whether a unit exists.

use thiserror::Error;

use crate::model::UnitKind;

/// Every unit-type suffix systemd knows. A name ending in one of these is kept
/// as written by [`normalize`]; vigil loads only `.service` and `.target`.
pub const SYSTEMD_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".target",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".timer",
    ".path",
    ".slice",
    ".scope",
];

/// systemd's limit on the length of a unit name.
pub const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("unit name is empty")]
    Empty,
    #[error("unit name {name:?} is longer than {MAX_NAME_LEN} characters")]
    TooLong { name: String },
    #[error("unit name {name:?} has no unit type suffix")]
    NoSuffix { name: String },
    #[error("unit name {name:?} has an empty prefix")]
    EmptyPrefix { name: String },
    #[error("unit name {name:?} contains the character {ch:?}, which is not allowed")]
    BadChar { name: String, ch: char },
    #[error("unit name {name:?} contains more than one '@' before the instance")]
    TooManyAts { name: String },
}

/// The unit-type suffix of `name` (with its dot), if it has a known one.
pub fn suffix_of(name: &str) -> Option<&'static str> {
    SYSTEMD_SUFFIXES
        .iter()
        .copied()
        .find(|s| name.len() > s.len() && name.ends_with(s))
}

/// The kind of unit vigil loads for this name, if it is one vigil handles.
pub fn kind_of(name: &str) -> Option<UnitKind> {
    match suffix_of(name)? {
        ".service" => Some(UnitKind::Service),
        ".target" => Some(UnitKind::Target),
        ".socket" => Some(UnitKind::Socket),
        _ => None,
    }
}

/// The full name of a unit as the CLI, YAML `after:` and dependency lists accept
/// it: a name without a known unit-type suffix gets `.service`, as systemctl does.
pub fn normalize(name: &str) -> String {
    let name = name.trim();
    if suffix_of(name).is_some() {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\')
}

/// Checks a full unit name by systemd's rules: a known suffix, a non-empty
/// prefix of `[A-Za-z0-9:_.\-]`, at most one `@`, an instance that may also
/// contain `@`, and at most 255 characters.
pub fn validate(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            name: name.to_string(),
        });
    }
    let Some(suffix) = suffix_of(name) else {
        return Err(NameError::NoSuffix {
            name: name.to_string(),
        });
    };
    let stem = &name[..name.len() - suffix.len()];
    let (prefix, instance) = match stem.split_once('@') {
        Some((p, i)) => (p, Some(i)),
        None => (stem, None),
    };
    if prefix.is_empty() {
        return Err(NameError::EmptyPrefix {
            name: name.to_string(),
        });
    }
    if let Some(ch) = prefix.chars().find(|&c| !is_name_char(c)) {
        return Err(NameError::BadChar {
            name: name.to_string(),
            ch,
        });
    }
    if let Some(ch) = instance.and_then(|i| i.chars().find(|&c| !is_name_char(c) && c != '@')) {
        return Err(NameError::BadChar {
            name: name.to_string(),
            ch,
        });
    }
    Ok(())
}

/// Why `name` cannot be a unit's name, for a name given by hand (`vigil start
/// foo@...`): [`validate`]'s error, and for an instance with a character
/// that is not allowed, the name with its instance escaped as `systemd-escape`
/// does (`foo@c/d e.service` -> `foo@c-d\x20e.service`; `%I` gives it back).
pub fn invalid_name_message(name: &str, error: &NameError) -> String {
    let hint = match (error, split_instance(name)) {
        (NameError::BadChar { .. }, Some(p)) if !p.instance.is_empty() => {
            let escaped = format!("{}@{}{}", p.prefix, escape(p.instance), p.suffix);
            match validate(&escaped) {
                Ok(()) => format!("; escape the instance as systemd-escape does: {escaped}"),
                Err(_) => String::new(),
            }
        }
        _ => String::new(),
    };
    format!("invalid unit name: {error}{hint}")
}

/// The parts of a template or instance name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceParts<'a> {
    /// Before the `@`: `getty` in `getty@tty1.service`.
    pub prefix: &'a str,
    /// After the `@`, before the suffix: `tty1`; empty for a template.
    pub instance: &'a str,
    /// `.service`.
    pub suffix: &'static str,
}

/// Splits `prefix@instance.suffix`; `None` for a name without `@` or without a known suffix.
pub fn split_instance(name: &str) -> Option<InstanceParts<'_>> {
    let suffix = suffix_of(name)?;
    let stem = &name[..name.len() - suffix.len()];
    let (prefix, instance) = stem.split_once('@')?;
    Some(InstanceParts {
        prefix,
        instance,
        suffix,
    })
}

/// `foo@.service`: a template, never loaded as a unit itself.
pub fn is_template(name: &str) -> bool {
    split_instance(name).is_some_and(|p| p.instance.is_empty())
}

/// `foo@bar.service`: an instance of a template.
pub fn is_instance(name: &str) -> bool {
    split_instance(name).is_some_and(|p| !p.instance.is_empty())
}

/// The template an instance is made from: `foo@bar.service` -> `foo@.service`.
pub fn template_of(name: &str) -> Option<String> {
    let parts = split_instance(name)?;
    if parts.instance.is_empty() {
        return None;
    }
    Some(format!("{}@{}", parts.prefix, parts.suffix))
}

/// The instance name made from a template: (`foo@.service`, `bar`) -> `foo@bar.service`.
pub fn instance_name(template: &str, instance: &str) -> Option<String> {
    let parts = split_instance(template)?;
    Some(format!("{}@{}{}", parts.prefix, instance, parts.suffix))
}

/// The name without its suffix: `foo@bar.service` -> `foo@bar` (`%N`).
pub fn strip_suffix(name: &str) -> &str {
    match suffix_of(name) {
        Some(s) => &name[..name.len() - s.len()],
        None => name,
    }
}

/// The prefix of a name: `foo@bar.service` -> `foo`, `foo.service` -> `foo` (`%p`).
pub fn prefix_of(name: &str) -> &str {
    let stem = strip_suffix(name);
    match stem.split_once('@') {
        Some((p, _)) => p,
        None => stem,
    }
}

/// systemd's unit-name escaping of a string: `/` becomes `-`, and every byte that
/// is not `[A-Za-z0-9:_.]` (and a leading `.`) becomes `\xNN`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.') => {
                out.push(char::from(b))
            }
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The reverse of [`escape`]: `-` becomes `/` and `\xNN` the byte it names.
/// A malformed `\x` sequence is kept as written. Bytes that do not form UTF-8
/// are replaced, since the result is used in text values.
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'-' => {
                out.push(b'/');
                i += 1;
            }
            b'\\' if bytes.get(i + 1) == Some(&b'x') => {
                let hex = bytes
                    .get(i + 2..i + 4)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 4;
                    }
                    None => {
                        out.push(b'\\');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a terminal's name (`/dev/` left out) is a virtual console of the
/// kernel: `ttyN`, N from 0 to 63 (`tty0` is the one in the foreground), as
/// systemd's tty_is_vc. A serial console (`ttyS0`) or a pseudo-terminal is not.
pub fn is_virtual_console(tty: &str) -> bool {
    tty.strip_prefix("tty").is_some_and(|n| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && n.parse().is_ok_and(|n: u32| n <= 63)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_adds_service_only_without_a_known_suffix() {
        assert_eq!(normalize("web"), "web.service");
        assert_eq!(normalize("web.service"), "web.service");
        assert_eq!(normalize("multi-user.target"), "multi-user.target");
        assert_eq!(normalize("ssh.socket"), "ssh.socket");
        assert_eq!(normalize("foo.bar"), "foo.bar.service");
        assert_eq!(normalize(" web "), "web.service");
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of("a.service"), Some(UnitKind::Service));
        assert_eq!(kind_of("a.target"), Some(UnitKind::Target));
        assert_eq!(kind_of("a.socket"), Some(UnitKind::Socket));
        assert_eq!(kind_of("a.timer"), None);
        assert_eq!(kind_of(".service"), None);
    }

    #[test]
    fn validation() {
        assert!(validate("a.service").is_ok());
        assert!(validate("getty@tty1.service").is_ok());
        assert!(validate("foo@.service").is_ok());
        assert!(validate("x@a@b.service").is_ok());
        assert!(validate("sys-dev\\x2dx.service").is_ok());
        assert_eq!(validate(""), Err(NameError::Empty));
        assert!(matches!(
            validate("a b.service"),
            Err(NameError::BadChar { ch: ' ', .. })
        ));
        assert!(matches!(validate("a"), Err(NameError::NoSuffix { .. })));
        assert!(matches!(
            validate("@x.service"),
            Err(NameError::EmptyPrefix { .. })
        ));
        assert!(matches!(
            validate("a/b.service"),
            Err(NameError::BadChar { ch: '/', .. })
        ));
        let long = format!("{}.service", "a".repeat(250));
        assert!(matches!(validate(&long), Err(NameError::TooLong { .. })));
    }

    #[test]
    fn templates_and_instances() {
        assert!(is_template("foo@.service"));
        assert!(!is_template("foo@x.service"));
        assert!(is_instance("foo@x.service"));
        assert!(!is_instance("foo.service"));
        assert_eq!(
            template_of("foo@x.service").as_deref(),
            Some("foo@.service")
        );
        assert_eq!(template_of("foo@.service"), None);
        assert_eq!(template_of("foo.service"), None);
        assert_eq!(
            instance_name("foo@.service", "a").as_deref(),
            Some("foo@a.service")
        );
        let p = split_instance("getty@tty1.service");
        assert_eq!(
            p,
            Some(InstanceParts {
                prefix: "getty",
                instance: "tty1",
                suffix: ".service"
            })
        );
        assert_eq!(prefix_of("getty@tty1.service"), "getty");
        assert_eq!(prefix_of("a-b.service"), "a-b");
        assert_eq!(strip_suffix("getty@tty1.service"), "getty@tty1");
    }

    #[test]
    fn escaping_round_trips() {
        assert_eq!(escape("dev/sda 1"), "dev-sda\\x201");
        assert_eq!(escape(".hidden"), "\\x2ehidden");
        assert_eq!(escape("a-b"), "a\\x2db");
        assert_eq!(unescape("dev-sda\\x201"), "dev/sda 1");
        assert_eq!(unescape("a\\x2db"), "a-b");
        assert_eq!(unescape("bad\\xZZ"), "bad\\xZZ");
        for s in ["/var/lib/x y", "a-b_c:d.e", "ü"] {
            assert_eq!(unescape(&escape(s)), s);
        }
    }
}
