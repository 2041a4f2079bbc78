//! `time::next_local` and `time::local_text` (System V's `shutdown HH:MM`) in a
//! time zone with summer time: Central Europe's, as a POSIX TZ rule (no tzdata
//! needed). Its own process: TZ is set before anything reads it.

use vigil_platform::time::{local_text, next_local};

/// Seconds since the epoch of a UTC date and time.
fn utc(y: i64, mo: i64, d: i64, h: i64, mi: i64) -> i64 {
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h * 3600 + mi * 60
}

fn check(what: &str, got: Option<i64>, want: Option<i64>) {
    assert_eq!(
        got,
        want,
        "{what}: got {:?}, want {:?}",
        got.and_then(local_text),
        want.and_then(local_text)
    );
}

const ZONE: &str = "CET-1CEST,M3.5.0,M10.5.0/3";

fn main() {
    // The zone is the environment's: this program runs itself again with it.
    if std::env::var("TZ").as_deref() != Ok(ZONE) {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("TZ", ZONE)
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    assert_eq!(
        local_text(utc(2026, 12, 7, 3, 0)).as_deref(),
        Some("Mon 2026-12-07 04:00:00 CET")
    );
    assert_eq!(local_text(i64::MAX), None);
    let december = utc(2026, 12, 7, 3, 0); // 04:00 CET
    // 2026-10-25: at 03:00 CEST the clock goes back to 02:00 CET.
    let autumn = utc(2026, 10, 25, 0, 45); // 02:45 CEST
    // 2026-03-29: at 02:00 CET the clock jumps to 03:00 CEST; 02:30 never comes.
    let spring = utc(2026, 3, 29, 0, 0); // 01:00 CET
    let cases = [
        ("later today", december, (23, 30), utc(2026, 12, 7, 22, 30)),
        ("passed: tomorrow", december, (3, 0), utc(2026, 12, 8, 2, 0)),
        ("now is not next", december, (4, 0), utc(2026, 12, 8, 3, 0)),
        (
            "02:50 comes first in summer time",
            autumn,
            (2, 50),
            utc(2026, 10, 25, 0, 50),
        ),
        (
            "02:30 comes again in winter time",
            autumn,
            (2, 30),
            utc(2026, 10, 25, 1, 30),
        ),
        (
            "a skipped time moves an hour on",
            spring,
            (2, 30),
            utc(2026, 3, 29, 1, 30),
        ),
        ("after the jump", spring, (3, 30), utc(2026, 3, 29, 1, 30)),
    ];
    for (what, now, (h, m), want) in cases {
        check(what, next_local(now, h, m), Some(want));
    }
    let now = spring;
    assert_eq!(next_local(now, 24, 0), None);
    assert_eq!(next_local(now, 1, 60), None);
    println!("local_time: ok");
}
