//! systemd's value syntaxes shared by the directives: booleans, time spans,
//! signals, sizes, resource limits, exit statuses and file modes.
//!
//! Each parser takes the value text only and returns a typed value or a
//! [`ValueError`] saying what was expected; the caller adds the directive name
//! and file:line. Nothing here does I/O.

use std::time::Duration;

use thiserror::Error;

use crate::model::{ExitStatusSet, Limit, Resource};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    #[error("{value:?} is not a boolean (expected yes/no, true/false, on/off, 1/0)")]
    Bool { value: String },
    #[error("{value:?} is not a time span (expected e.g. 5s, 1min 30s, 500ms, infinity)")]
    TimeSpan { value: String },
    #[error("time span {value:?} is too large")]
    TimeSpanOverflow { value: String },
    #[error("{value:?} is not a signal name or number")]
    Signal { value: String },
    #[error("{value:?} is not a number")]
    Number { value: String },
    #[error(
        "{value:?} is not a size (expected a number with an optional K, M, G, T, P or E suffix)"
    )]
    Size { value: String },
    #[error("soft limit {soft} is greater than hard limit {hard}")]
    SoftAboveHard { soft: String, hard: u64 },
    #[error(
        "{value:?} is not an exit status (expected 0..255, an exit status name or a signal name)"
    )]
    ExitStatus { value: String },
    #[error("{value:?} is not base64")]
    Base64 { value: String },
    #[error("{value:?} is out of range (expected {range})")]
    Range { value: String, range: &'static str },
    #[error("{value:?} is not an octal file mode mask (expected e.g. 0022)")]
    Mode { value: String },
}

/// systemd's booleans: 1/yes/y/true/t/on and 0/no/n/false/f/off, any case.
pub fn parse_bool(s: &str) -> Result<bool, ValueError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Ok(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Ok(false),
        _ => Err(ValueError::Bool {
            value: s.to_string(),
        }),
    }
}

/// Time units in microseconds, every spelling systemd accepts (systemd.time(7)).
/// A month is 30.44 days and a year 365.25 days, as in systemd.
const TIME_UNITS: &[(&str, u64)] = &[
    ("usec", 1),
    ("us", 1),
    ("µs", 1),
    ("μs", 1),
    ("msec", 1_000),
    ("ms", 1_000),
    ("seconds", 1_000_000),
    ("second", 1_000_000),
    ("sec", 1_000_000),
    ("s", 1_000_000),
    ("minutes", 60_000_000),
    ("minute", 60_000_000),
    ("min", 60_000_000),
    ("m", 60_000_000),
    ("hours", 3_600_000_000),
    ("hour", 3_600_000_000),
    ("hr", 3_600_000_000),
    ("h", 3_600_000_000),
    ("days", 86_400_000_000),
    ("day", 86_400_000_000),
    ("d", 86_400_000_000),
    ("weeks", 604_800_000_000),
    ("week", 604_800_000_000),
    ("w", 604_800_000_000),
    ("months", 2_629_800_000_000),
    ("month", 2_629_800_000_000),
    ("M", 2_629_800_000_000),
    ("years", 31_557_600_000_000),
    ("year", 31_557_600_000_000),
    ("y", 31_557_600_000_000),
];

/// A time span: `5` (seconds), `5s`, `1min 30s`, `1min30s`, `500ms`, `1.5h`,
/// `2 weeks`, or `infinity` (returned as `None`).
pub fn parse_timespan(s: &str) -> Result<Option<Duration>, ValueError> {
    let err = || ValueError::TimeSpan {
        value: s.to_string(),
    };
    let t = s.trim();
    if t == "infinity" {
        return Ok(None);
    }
    if t.is_empty() {
        return Err(err());
    }
    let mut rest = t;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num.starts_with('.') && num.len() == 1 {
            return Err(err());
        }
        let (int_part, frac_part) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num, ""),
        };
        if frac_part.contains('.') {
            return Err(err());
        }
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let mult = if unit.is_empty() {
            1_000_000
        } else {
            TIME_UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, m)| *m)
                .ok_or_else(err)?
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| err())?
        };
        let mut value = int.checked_mul(u128::from(mult)).ok_or_else(err)?;
        if !frac_part.is_empty() {
            // Fractions count down to the microsecond, as in systemd.
            let digits = frac_part.get(..frac_part.len().min(18)).unwrap_or("");
            let frac: u128 = digits.parse().map_err(|_| err())?;
            let scale = 10u128.pow(u32::try_from(digits.len()).map_err(|_| err())?);
            // Checked: the whole part alone can already be a hair below u128::MAX.
            value = value
                .checked_add(frac * u128::from(mult) / scale)
                .ok_or_else(err)?;
        }
        total = total.checked_add(value).ok_or_else(err)?;
        rest = next.trim_start();
    }
    let micros = u64::try_from(total).map_err(|_| ValueError::TimeSpanOverflow {
        value: s.to_string(),
    })?;
    Ok(Some(Duration::from_micros(micros)))
}

/// Linux signal names and numbers (the generic numbering used on x86, arm and
/// riscv; systemd only accepts these names too).
pub const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// glibc's SIGRTMIN and SIGRTMAX (the kernel's 32 and 33 are used by libc).
pub const SIGRTMIN: i32 = 34;
pub const SIGRTMAX: i32 = 64;

/// A signal: `SIGTERM`, `TERM`, `15`, `SIGRTMIN+3`, `RTMIN+3`, `RTMAX-1`.
pub fn parse_signal(s: &str) -> Result<i32, ValueError> {
    let err = || ValueError::Signal {
        value: s.to_string(),
    };
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return if (1..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(err())
        };
    }
    let name = t.strip_prefix("SIG").unwrap_or(t);
    if let Some((_, n)) = SIGNALS.iter().find(|(n, _)| *n == name) {
        return Ok(*n);
    }
    let rt = |base: &str, offset_sign: i32, start: i32| -> Option<i32> {
        let rest = name.strip_prefix(base)?;
        if rest.is_empty() {
            return Some(start);
        }
        let off: i32 = rest
            .strip_prefix(if offset_sign > 0 { '+' } else { '-' })?
            .parse()
            .ok()?;
        let n = start + offset_sign * off;
        (SIGRTMIN..=SIGRTMAX).contains(&n).then_some(n)
    };
    rt("RTMIN", 1, SIGRTMIN)
        .or_else(|| rt("RTMAX", -1, SIGRTMAX))
        .ok_or_else(err)
}

/// The name of a signal number (`15` -> `SIGTERM`), for messages.
pub fn signal_name(n: i32) -> Option<String> {
    if let Some((name, _)) = SIGNALS.iter().find(|(_, v)| *v == n) {
        return Some(format!("SIG{name}"));
    }
    if (SIGRTMIN..=SIGRTMAX).contains(&n) {
        return Some(format!("SIGRTMIN+{}", n - SIGRTMIN));
    }
    None
}

/// A byte size with systemd's 1024-based suffixes: `B`, `K`, `M`, `G`, `T`, `P`, `E`.
pub fn parse_size(s: &str) -> Result<u64, ValueError> {
    let err = || ValueError::Size {
        value: s.to_string(),
    };
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c {
                'B' => 0,
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'P' => 50,
                'E' => 60,
                _ => return Err(err()),
            };
            (t.get(..i).unwrap_or("").trim_end(), 1u64 << shift)
        }
        _ => (t, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(err)
}

/// One `Limit*=` value: `N`, `infinity`, or `SOFT:HARD`, in systemd's units:
/// sizes (`K`, `M`, `G`, ... 1024-based) for the byte-valued limits, a time span
/// for `LimitCPU=` (seconds, rounded up) and `LimitRTTIME=` (a plain number is
/// microseconds), and for `LimitNICE=` either a raw 0..40 or a nice level with
/// a sign (`-20`..`+19`, stored as `20 - nice` as the kernel wants it).
pub fn parse_limit(resource: Resource, s: &str) -> Result<Limit, ValueError> {
    let number = |v: &str| {
        v.parse::<u64>().map_err(|_| ValueError::Number {
            value: v.to_string(),
        })
    };
    let one = |v: &str| -> Result<Option<u64>, ValueError> {
        let v = v.trim();
        if v == "infinity" {
            return Ok(None);
        }
        match resource {
            Resource::Fsize
            | Resource::Data
            | Resource::Stack
            | Resource::Core
            | Resource::Rss
            | Resource::As
            | Resource::Memlock
            | Resource::Msgqueue => parse_size(v).map(Some),
            Resource::Nofile
            | Resource::Nproc
            | Resource::Locks
            | Resource::Sigpending
            | Resource::Rtprio => number(v).map(Some),
            Resource::Cpu => {
                let d = parse_timespan(v)?.unwrap_or(Duration::MAX);
                let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
                Ok(Some(secs))
            }
            Resource::Rttime => {
                if v.bytes().all(|b| b.is_ascii_digit()) {
                    return number(v).map(Some);
                }
                let d = parse_timespan(v)?.unwrap_or(Duration::MAX);
                Ok(Some(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)))
            }
            Resource::Nice => {
                if v.starts_with(['-', '+']) {
                    let n: i64 = v.parse().map_err(|_| ValueError::Number {
                        value: v.to_string(),
                    })?;
                    if !(-20..=19).contains(&n) {
                        return Err(ValueError::Range {
                            value: v.to_string(),
                            range: "-20..19",
                        });
                    }
                    return Ok(Some((20 - n).unsigned_abs()));
                }
                let n = number(v)?;
                if n > 40 {
                    return Err(ValueError::Range {
                        value: v.to_string(),
                        range: "0..40",
                    });
                }
                Ok(Some(n))
            }
        }
    };
    let (soft, hard) = match s.split_once(':') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => {
            let v = one(s)?;
            (v, v)
        }
    };
    // `infinity` (None) is above any number.
    if let Some(hard) = hard
        && soft.is_none_or(|soft| soft > hard)
    {
        let soft = soft.map_or_else(|| "infinity".to_string(), |n| n.to_string());
        return Err(ValueError::SoftAboveHard { soft, hard });
    }
    Ok(Limit { soft, hard })
}

/// The exit status names systemd accepts where an exit status goes (systemd.exec(5),
/// "Process Exit Codes"): the generic and LSB ones, BSD's sysexits.h, systemd's own.
const EXIT_STATUS_NAMES: &[(&str, i32)] = &[
    ("SUCCESS", 0),
    ("FAILURE", 1),
    ("INVALIDARGUMENT", 2),
    ("NOTIMPLEMENTED", 3),
    ("NOPERMISSION", 4),
    ("NOTINSTALLED", 5),
    ("NOTCONFIGURED", 6),
    ("NOTRUNNING", 7),
    ("USAGE", 64),
    ("DATAERR", 65),
    ("NOINPUT", 66),
    ("NOUSER", 67),
    ("NOHOST", 68),
    ("UNAVAILABLE", 69),
    ("SOFTWARE", 70),
    ("OSERR", 71),
    ("OSFILE", 72),
    ("CANTCREAT", 73),
    ("IOERR", 74),
    ("TEMPFAIL", 75),
    ("PROTOCOL", 76),
    ("NOPERM", 77),
    ("CONFIG", 78),
    ("CHDIR", 200),
    ("NICE", 201),
    ("FDS", 202),
    ("EXEC", 203),
    ("MEMORY", 204),
    ("LIMITS", 205),
    ("OOM_ADJUST", 206),
    ("SIGNAL_MASK", 207),
    ("STDIN", 208),
    ("STDOUT", 209),
    ("CHROOT", 210),
    ("IOPRIO", 211),
    ("TIMERSLACK", 212),
    ("SECUREBITS", 213),
    ("SETSCHEDULER", 214),
    ("CPUAFFINITY", 215),
    ("GROUP", 216),
    ("USER", 217),
    ("CAPABILITIES", 218),
    ("CGROUP", 219),
    ("SETSID", 220),
    ("CONFIRM", 221),
    ("STDERR", 222),
    ("PAM", 224),
    ("NETWORK", 225),
    ("NAMESPACE", 226),
    ("NO_NEW_PRIVILEGES", 227),
    ("SECCOMP", 228),
    ("SELINUX_CONTEXT", 229),
    ("PERSONALITY", 230),
    ("APPARMOR_PROFILE", 231),
    ("ADDRESS_FAMILIES", 232),
    ("RUNTIME_DIRECTORY", 233),
    ("CHOWN", 235),
    ("SMACK_PROCESS_LABEL", 236),
    ("KEYRING", 237),
    ("STATE_DIRECTORY", 238),
    ("CACHE_DIRECTORY", 239),
    ("LOGS_DIRECTORY", 240),
    ("CONFIGURATION_DIRECTORY", 241),
    ("NUMA_POLICY", 242),
    ("CREDENTIALS", 243),
    ("BPF", 245),
];

/// An exit status name (`DATAERR`, `EXIT_DATAERR`, `TEMPFAIL`, `CHDIR`) as a number.
fn exit_status_name(word: &str) -> Option<i32> {
    let name = word.strip_prefix("EXIT_").unwrap_or(word);
    EXIT_STATUS_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, code)| code)
}

/// Adds a whitespace-separated list of exit statuses (`0`..`255` or a name such as
/// `TEMPFAIL`) and signal names (`SIGKILL`, `KILL`) to `set`.
pub fn parse_exit_statuses(s: &str, set: &mut ExitStatusSet) -> Result<(), ValueError> {
    for word in s.split_whitespace() {
        if let Some(n) = word.parse::<i32>().ok().or_else(|| exit_status_name(word)) {
            if !(0..=255).contains(&n) {
                return Err(ValueError::ExitStatus {
                    value: word.to_string(),
                });
            }
            if !set.codes.contains(&n) {
                set.codes.push(n);
            }
            continue;
        }
        let sig = parse_signal(word).map_err(|_| ValueError::ExitStatus {
            value: word.to_string(),
        })?;
        if !set.signals.contains(&sig) {
            set.signals.push(sig);
        }
    }
    Ok(())
}

/// Standard base64 (RFC 4648, `=` padding optional), whitespace ignored, as
/// `StandardInputData=` takes it.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, ValueError> {
    let err = || ValueError::Base64 {
        value: s.to_string(),
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            _ => return Err(err()),
        };
        if padding > 0 {
            return Err(err());
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero padding of the last byte (at most 4 of them).
    if bits >= 6 || acc != 0 || padding > 2 {
        return Err(err());
    }
    Ok(out)
}

/// An octal file-mode mask such as `UMask=0027`.
pub fn parse_mode(s: &str) -> Result<u32, ValueError> {
    let t = s.trim();
    let err = || ValueError::Mode {
        value: s.to_string(),
    };
    if t.is_empty() || !t.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(err());
    }
    let v = u32::from_str_radix(t, 8).map_err(|_| err())?;
    if v > 0o7777 { Err(err()) } else { Ok(v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn booleans_every_spelling() {
        for t in [
            "1", "yes", "y", "true", "t", "on", "YES", "True", "On", " y ",
        ] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "no", "n", "false", "f", "off", "NO", "False", "OFF"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        for bad in ["", "2", "yess", "enabled"] {
            assert!(parse_bool(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_spans() {
        assert_eq!(parse_timespan("5"), Ok(secs(5)));
        assert_eq!(parse_timespan("5s"), Ok(secs(5)));
        assert_eq!(parse_timespan("1min 30s"), Ok(secs(90)));
        assert_eq!(parse_timespan("1min30s"), Ok(secs(90)));
        assert_eq!(
            parse_timespan("500ms"),
            Ok(Some(Duration::from_millis(500)))
        );
        assert_eq!(parse_timespan("2h"), Ok(secs(7200)));
        assert_eq!(parse_timespan("1d"), Ok(secs(86400)));
        assert_eq!(parse_timespan("10us"), Ok(Some(Duration::from_micros(10))));
        assert_eq!(parse_timespan("10µs"), Ok(Some(Duration::from_micros(10))));
        assert_eq!(parse_timespan("3 usec"), Ok(Some(Duration::from_micros(3))));
        assert_eq!(
            parse_timespan("1.5s"),
            Ok(Some(Duration::from_millis(1500)))
        );
        assert_eq!(parse_timespan(".5s"), Ok(Some(Duration::from_millis(500))));
        assert_eq!(parse_timespan("2 weeks"), Ok(secs(1_209_600)));
        assert_eq!(parse_timespan("1w"), Ok(secs(604_800)));
        assert_eq!(parse_timespan("1M"), Ok(secs(2_629_800)));
        assert_eq!(parse_timespan("1y"), Ok(secs(31_557_600)));
        assert_eq!(parse_timespan("1 hour 2 minutes 3 seconds"), Ok(secs(3723)));
        assert_eq!(parse_timespan("1hr 1m 1sec"), Ok(secs(3661)));
        assert_eq!(parse_timespan("1 msec"), Ok(Some(Duration::from_millis(1))));
        assert_eq!(parse_timespan("0"), Ok(secs(0)));
        assert_eq!(parse_timespan("infinity"), Ok(None));
        assert_eq!(parse_timespan(" 5s "), Ok(secs(5)));
        for bad in [
            "",
            "s",
            "5x",
            "five",
            "-5",
            "1.2.3s",
            "5 s s",
            "infinity5",
            ".",
        ] {
            assert!(parse_timespan(bad).is_err(), "{bad}");
        }
        assert!(parse_timespan("99999999999999999999y").is_err());
    }

    /// Found by the unit_file fuzz target: a whole part just below u128::MAX
    /// plus its fraction overflowed the running sum (a panic in debug builds).
    #[test]
    fn timespan_fraction_overflowing_the_sum_is_an_error_not_a_panic() {
        assert!(parse_timespan("3938453320844195178974243141.999999d").is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("15"), Ok(15));
        assert_eq!(parse_signal("SIGKILL"), Ok(9));
        assert_eq!(parse_signal("HUP"), Ok(1));
        assert_eq!(parse_signal("SIGRTMIN+2"), Ok(36));
        assert_eq!(parse_signal("RTMIN"), Ok(34));
        assert_eq!(parse_signal("RTMAX-1"), Ok(63));
        for bad in ["", "0", "65", "SIGFOO", "sigterm", "RTMIN+40", "-1"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
        assert_eq!(signal_name(15).as_deref(), Some("SIGTERM"));
        assert_eq!(signal_name(35).as_deref(), Some("SIGRTMIN+1"));
        assert_eq!(signal_name(0), None);
    }

    #[test]
    fn sizes_and_limits() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("7B"), Ok(7));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("99999999999E").is_err());

        let l = |s, h| Limit { soft: s, hard: h };
        assert_eq!(
            parse_limit(Resource::Nofile, "1024"),
            Ok(l(Some(1024), Some(1024)))
        );
        assert_eq!(
            parse_limit(Resource::Nofile, "1024:4096"),
            Ok(l(Some(1024), Some(4096)))
        );
        assert_eq!(parse_limit(Resource::Nofile, "infinity"), Ok(l(None, None)));
        assert_eq!(
            parse_limit(Resource::Nproc, "10:infinity"),
            Ok(l(Some(10), None))
        );
        assert_eq!(parse_limit(Resource::Core, "0"), Ok(l(Some(0), Some(0))));
        assert_eq!(
            parse_limit(Resource::Memlock, "64K:1M"),
            Ok(l(Some(65536), Some(1 << 20)))
        );
        assert!(parse_limit(Resource::Nofile, "1K").is_err());
        assert_eq!(
            parse_limit(Resource::Fsize, "1G:infinity"),
            Ok(l(Some(1 << 30), None))
        );
        assert_eq!(parse_limit(Resource::Cpu, "90"), Ok(l(Some(90), Some(90))));
        assert_eq!(
            parse_limit(Resource::Cpu, "1min 500ms"),
            Ok(l(Some(61), Some(61)))
        );
        assert_eq!(
            parse_limit(Resource::Rttime, "250"),
            Ok(l(Some(250), Some(250)))
        );
        assert_eq!(
            parse_limit(Resource::Rttime, "2ms:1s"),
            Ok(l(Some(2000), Some(1_000_000)))
        );
        assert_eq!(parse_limit(Resource::Nice, "-5"), Ok(l(Some(25), Some(25))));
        assert_eq!(parse_limit(Resource::Nice, "+19"), Ok(l(Some(1), Some(1))));
        assert_eq!(parse_limit(Resource::Nice, "40"), Ok(l(Some(40), Some(40))));
        assert!(parse_limit(Resource::Nice, "41").is_err());
        assert!(parse_limit(Resource::Nice, "-21").is_err());
        assert!(parse_limit(Resource::Sigpending, "1K").is_err());
        assert_eq!(
            parse_limit(Resource::Nofile, "10:5"),
            Err(ValueError::SoftAboveHard {
                soft: "10".into(),
                hard: 5
            })
        );
        // A tester's finding: loaded, then every start failed with EINVAL.
        assert_eq!(
            parse_limit(Resource::Nofile, "infinity:5"),
            Err(ValueError::SoftAboveHard {
                soft: "infinity".into(),
                hard: 5
            })
        );
        assert_eq!(
            parse_limit(Resource::Nofile, "5:infinity"),
            Ok(l(Some(5), None))
        );
        assert!(parse_limit(Resource::Nofile, "abc").is_err());
    }

    #[test]
    fn base64_with_and_without_padding() {
        assert_eq!(decode_base64("aGVsbG8K").unwrap(), b"hello\n");
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert_eq!(decode_base64(" aG Vs\nbG8K ").unwrap(), b"hello\n");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("a").is_err());
        assert!(decode_base64("aGk=x").is_err());
        assert!(decode_base64("a*b=").is_err());
    }

    #[test]
    fn exit_statuses() {
        let mut set = ExitStatusSet::default();
        parse_exit_statuses("0 1 SIGTERM KILL 255", &mut set).unwrap();
        assert_eq!(set.codes, vec![0, 1, 255]);
        assert_eq!(set.signals, vec![15, 9]);
        assert!(parse_exit_statuses("256", &mut set).is_err());
        assert!(parse_exit_statuses("SIGNOPE", &mut set).is_err());
        // Debian's systemd-tmpfiles-setup.service: SuccessExitStatus=DATAERR CANTCREAT
        let mut set = ExitStatusSet::default();
        parse_exit_statuses("DATAERR CANTCREAT EXIT_TEMPFAIL CHDIR", &mut set).unwrap();
        assert_eq!(set.codes, vec![65, 73, 75, 200]);
        assert!(parse_exit_statuses("EXIT_NOPE", &mut set).is_err());
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0022"), Ok(0o022));
        assert_eq!(parse_mode("077"), Ok(0o077));
        assert!(parse_mode("0889").is_err());
        assert!(parse_mode("").is_err());
        assert!(parse_mode("77777").is_err());
    }
}
