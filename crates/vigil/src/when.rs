//! The times `vigil log --since` and `--until` take, written as systemd.time(7)
//! writes timestamps, read in UTC: the time `vigil log` shows its lines in.

/// A weekday's names, Monday first (the 1st of January 1970 was a Thursday).
const WEEKDAYS: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];

const DAY_US: u64 = 86_400_000_000;

/// `spec` as microseconds since the epoch, `now_us` being now: `now`,
/// `today`, `yesterday`, `tomorrow` (midnight), `@SECONDS[.FRACTION]`, a
/// span before or after now (`-1h`, `+5min`, `10min ago`, `1h 30min ago`),
/// or `[WEEKDAY] YYYY-MM-DD [HH:MM[:SS[.FRACTION]]] [UTC|±HH:MM]` (a `T`
/// between date and time, a `Z` for UTC, as ISO 8601 writes them; a year of
/// two digits is 19YY from 69, else 20YY, as systemd reads it) or
/// `HH:MM[:SS]` (today). The error says what was expected.
pub fn parse(spec: &str, now_us: u64) -> Result<u64, String> {
    let bad = |why: &str| format!("cannot read {spec:?} as a time: {why}");
    let s = spec.trim();
    let today = now_us - now_us % DAY_US;
    // `today UTC` is today: the words are in UTC anyway.
    let word = s.strip_suffix(" UTC").unwrap_or(s);
    match word {
        "now" => return Ok(now_us),
        "today" => return Ok(today),
        "yesterday" => return Ok(today.saturating_sub(DAY_US)),
        "tomorrow" => return today.checked_add(DAY_US).ok_or_else(|| bad("too late")),
        _ => {}
    }
    if let Some(epoch) = s.strip_prefix('@') {
        return seconds(epoch).ok_or_else(|| bad("@ takes seconds since 1970 (@1796652306.5)"));
    }
    let (ago, before) = match s.strip_suffix(" ago") {
        Some(span) => (Some(span), true),
        None => match s.strip_prefix('-') {
            Some(span) => (Some(span), true),
            None => (s.strip_prefix('+'), false),
        },
    };
    if let Some(span) = ago {
        let d = vigil_units::value::parse_timespan(span)
            .ok()
            .flatten()
            .ok_or_else(|| bad("not a time span (-1h, 10min ago, +30s)"))?;
        let us = u64::try_from(d.as_micros()).map_err(|_| bad("too long a span"))?;
        return match before {
            true => now_us.checked_sub(us).ok_or_else(|| bad("before 1970")),
            false => now_us.checked_add(us).ok_or_else(|| bad("too late")),
        };
    }
    let (s, offset) = utc_offset(s);
    let at = absolute(s, today).map_err(bad)?;
    let at = i128::from(at) - i128::from(offset) * 1_000_000;
    u64::try_from(at).map_err(|_| bad("before 1970"))
}

/// `s` without a UTC offset at its end (`+01:00`, `-0300`, after a time),
/// and that offset in seconds (0 without one).
fn utc_offset(s: &str) -> (&str, i64) {
    let Some(at) = s.rfind(['+', '-']) else {
        return (s, 0);
    };
    let (head, tail) = s.split_at(at);
    let digits: String = tail[1..].chars().filter(|&c| c != ':').collect();
    let well_formed = match tail.len() {
        6 => tail.as_bytes().get(3) == Some(&b':'),
        5 => !tail.contains(':'),
        _ => false,
    };
    // After a time (`15:10+01:00`), never the dashes of a date.
    if !well_formed || digits.len() != 4 || !head.contains(':') {
        return (s, 0);
    }
    let (Some(h), Some(m)) = (number(&digits[..2]), number(&digits[2..])) else {
        return (s, 0);
    };
    if h > 23 || m > 59 {
        return (s, 0);
    }
    let seconds = (h * 60 + m) as i64 * 60;
    let sign = if tail.starts_with('-') { -1 } else { 1 };
    (head.trim_end(), sign * seconds)
}

/// `[WEEKDAY] DATE [TIME] [UTC]` or `TIME [UTC]` (the day is today's).
fn absolute(s: &str, today: u64) -> Result<u64, &'static str> {
    const FORMS: &str = "a date and time (2026-12-07 14:05[:00]), a time of today \
        (14:05), today, yesterday, now, -1h, 10min ago or @SECONDS; in UTC, as vigil \
        log shows its lines";
    let s = s
        .strip_suffix(" UTC")
        .or_else(|| s.strip_suffix('Z'))
        .unwrap_or(s);
    let mut words = Vec::new();
    for w in s.split(' ').filter(|w| !w.is_empty()) {
        match w.split_once('T') {
            Some((date, time)) if w.starts_with(|c: char| c.is_ascii_digit()) => {
                words.extend([date, time]);
            }
            _ => words.push(w),
        }
    }
    let weekday = match words.first() {
        Some(w) if w.bytes().all(|b| b.is_ascii_alphabetic()) => {
            let w = w.to_ascii_lowercase();
            let day = (WEEKDAYS.iter())
                .position(|(short, long)| w == *short || w == *long)
                .ok_or(FORMS)?;
            words.remove(0);
            Some(day)
        }
        _ => None,
    };
    let (day, time) = match words.as_slice() {
        [date, time] => (date_days(date).ok_or(FORMS)?, Some(*time)),
        [one] if one.contains(':') => (today / DAY_US, Some(*one)),
        [date] => (date_days(date).ok_or(FORMS)?, None),
        _ => return Err(FORMS),
    };
    if let Some(w) = weekday
        && (day + 3) % 7 != w as u64
    {
        return Err("the weekday is not that date's");
    }
    let within = match time {
        Some(t) => time_of_day(t).ok_or(FORMS)?,
        None => 0,
    };
    day.checked_mul(DAY_US)
        .and_then(|d| d.checked_add(within))
        .ok_or("too late")
}

/// Days since 1970-01-01 of `YYYY-MM-DD` (none before 1970).
fn date_days(date: &str) -> Option<u64> {
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !matches!(y.len(), 2 | 4) || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let two_digits = y.len() == 2;
    let (y, m, d) = (number(y)?, number(m)?, number(d)?);
    let y = match y {
        0..=68 if two_digits => y + 2000,
        69..=99 if two_digits => y + 1900,
        _ => y,
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let last = *month_days.get(usize::try_from(m).ok()?.checked_sub(1)?)?;
    if y < 1970 || d == 0 || d > last {
        return None;
    }
    let leaps_before = |y: u64| (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
    let years = (y - 1970) * 365 + leaps_before(y) - leaps_before(1970);
    let months: u64 = month_days.iter().take((m - 1) as usize).sum();
    Some(years + months + d - 1)
}

/// Microseconds since midnight of `HH:MM[:SS[.FRACTION]]`.
fn time_of_day(t: &str) -> Option<u64> {
    let mut parts = t.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next());
    if parts.next().is_some() || h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m) = (number(h)?, number(m)?);
    let s = match s {
        Some(s) if s.split('.').next().is_some_and(|whole| whole.len() == 2) => seconds(s)?,
        Some(_) => return None,
        None => 0,
    };
    (h < 24 && m < 60 && s < 60_000_000).then(|| (h * 60 + m) * 60_000_000 + s)
}

/// Microseconds of `SECONDS[.FRACTION]` (digits only; the fraction to the µs).
fn seconds(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let whole = number(whole)?;
    let micros = match frac {
        "" if !s.ends_with('.') => 0,
        f if f.len() <= 6 => number(f)? * 10u64.pow(6 - f.len() as u32),
        _ => return None,
    };
    whole.checked_mul(1_000_000)?.checked_add(micros)
}

fn number(s: &str) -> Option<u64> {
    match !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        true => s.parse().ok(),
        false => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mon 2026-12-07 14:05:06.250 UTC.
    const NOW: u64 = 1_796_652_306_250_000;
    const MIDNIGHT: u64 = 1_796_601_600_000_000;

    fn at(s: &str) -> u64 {
        parse(s, NOW).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn dates_and_times_are_utc() {
        assert_eq!(at("2026-12-07"), MIDNIGHT);
        assert_eq!(at("2026-12-07 14:05"), MIDNIGHT + 50_700_000_000);
        assert_eq!(at("2026-12-07 14:05:06"), NOW - 250_000);
        assert_eq!(at("2026-12-07T14:05:06.25Z"), NOW);
        assert_eq!(at("Mon 2026-12-07 14:05:06.250 UTC"), NOW);
        assert_eq!(at("monday 2026-12-07"), MIDNIGHT);
        assert_eq!(at("1970-01-01 00:00:01"), 1_000_000);
        assert_eq!(at("2000-03-01"), 951_868_800_000_000);
        assert_eq!(at("2024-02-29 23:59:59"), 1_709_251_199_000_000);
        assert_eq!(at("14:05"), MIDNIGHT + 50_700_000_000);
        assert_eq!(at("9:00:30"), MIDNIGHT + 32_430_000_000);
        // Review findings: systemd.time(7)'s other forms.
        assert_eq!(at("26-12-07"), MIDNIGHT);
        assert_eq!(at("70-01-01 00:00:01"), 1_000_000);
        assert_eq!(at("2026-12-07T14:05:06.25+00:00"), NOW);
        assert_eq!(at("2026-12-07T15:05:06.25+01:00"), NOW);
        assert_eq!(at("2026-12-07 11:05:06.25 -0300"), NOW);
        assert_eq!(at("16:05:06.25+02:00"), NOW);
    }

    #[test]
    fn words_spans_and_epoch_seconds() {
        assert_eq!(at("now"), NOW);
        assert_eq!(at("now UTC"), NOW);
        assert_eq!(at("today UTC"), MIDNIGHT);
        assert_eq!(at("today"), MIDNIGHT);
        assert_eq!(at("yesterday"), MIDNIGHT - DAY_US);
        assert_eq!(at("tomorrow"), MIDNIGHT + DAY_US);
        assert_eq!(at("-1h"), NOW - 3_600_000_000);
        assert_eq!(at("1h 30min ago"), NOW - 5_400_000_000);
        assert_eq!(at("+30s"), NOW + 30_000_000);
        assert_eq!(at("@1796652306.25"), NOW);
        assert_eq!(at("@0"), 0);
    }

    #[test]
    fn what_is_no_time_is_said() {
        for bad in [
            "",
            "soon",
            "2026-13-01",
            "2026-02-29",
            "2026-12-7",
            "1969-12-31",
            "24:00",
            "12:60",
            "12:00:61",
            "Tue 2026-12-07",
            "2026-12-07 12:00 CET",
            "@",
            "@1.",
            "@-1",
            "-",
            "-1 fortnight",
            "@1.1234567",
            "2026-12-07 12",
            "2026-12-07 12:00+24:00",
            "2026-12-07 12:00+1:00",
            "1970-01-01 00:00+01:00",
            "0026-12-07",
        ] {
            assert!(parse(bad, NOW).is_err(), "{bad:?} was taken");
        }
        let e = parse("Tue 2026-12-07", NOW).unwrap_err();
        assert!(e.contains("weekday"), "{e}");
        let e = parse("soon", NOW).unwrap_err();
        assert!(e.contains("\"soon\"") && e.contains("UTC"), "{e}");
    }
}
