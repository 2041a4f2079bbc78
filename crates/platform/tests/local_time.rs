//! `time::next_local` and `time::local_text` (System V's `shutdown HH:MM`) in
//! time zones with summer time, as POSIX TZ rules (no tzdata needed): Central
//! Europe's, and Ireland's as tzdata has it (summer time is its standard,
//! winter a negative change). One process per zone: TZ is set before anything
//! reads it.

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

const CENTRAL_EUROPE: &str = "CET-1CEST,M3.5.0,M10.5.0/3";
const IRELAND: &str = "IST-1GMT0,M10.5.0,M3.5.0/1";

fn main() {
    // The zone is the environment's: this program runs itself again with each.
    match std::env::var("TZ").as_deref() {
        Ok(CENTRAL_EUROPE) => central_europe(),
        Ok(IRELAND) => ireland(),
        _ => {
            for zone in [CENTRAL_EUROPE, IRELAND] {
                let status = std::process::Command::new(std::env::current_exe().unwrap())
                    .env("TZ", zone)
                    .status()
                    .unwrap();
                assert!(status.success(), "{zone}: {status}");
            }
            println!("local_time: ok");
        }
    }
}

/// 2026-03-29: at 01:00 GMT the clock jumps to 02:00 IST; 01:32 never comes
/// and is taken to mean 02:32, never 00:32.
fn ireland() {
    let now = utc(2026, 3, 29, 0, 18); // 00:18 GMT
    check(
        "a skipped time moves on",
        next_local(now, 1, 32),
        Some(utc(2026, 3, 29, 1, 32)),
    );
    check(
        "before the jump",
        next_local(now, 0, 40),
        Some(utc(2026, 3, 29, 0, 40)),
    );
    // Summer (its standard time, IST): 12:00 asked at 12:30 is tomorrow's.
    let july = utc(2026, 7, 7, 11, 30); // 12:30 IST
    check(
        "passed in summer",
        next_local(july, 12, 0),
        Some(utc(2026, 7, 8, 11, 0)),
    );
}

fn central_europe() {
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
        // Summer: 12:00 asked at 12:30 CEST is tomorrow's, not 13:00 (the
        // guess of winter time, which reads 13:00).
        (
            "passed in summer",
            utc(2026, 7, 7, 10, 30),
            (12, 0),
            utc(2026, 7, 8, 10, 0),
        ),
        (
            "later in summer",
            utc(2026, 7, 7, 10, 30),
            (13, 0),
            utc(2026, 7, 7, 11, 0),
        ),
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
}
