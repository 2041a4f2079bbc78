//! Clocks and the timerfd that wakes the event loop at the next deadline.
//!
//! All deadlines are absolute CLOCK_MONOTONIC times expressed as a `Duration` since
//! the clock's origin ([`monotonic_now`]), which is the engine's `Time`; the wall
//! clock is only for showing times to people.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, SystemTime};

use rustix::io::Errno;
use rustix::time::{
    ClockId, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec,
};

/// CLOCK_MONOTONIC now, as a duration since the clock's origin.
pub fn monotonic_now() -> Duration {
    from_timespec(rustix::time::clock_gettime(ClockId::Monotonic))
}

/// The wall clock, for messages and `since` timestamps.
pub fn realtime_now() -> SystemTime {
    SystemTime::now()
}

fn from_timespec(ts: Timespec) -> Duration {
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}

pub(crate) fn to_timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// A non-blocking, close-on-exec CLOCK_MONOTONIC timerfd with one absolute deadline.
#[derive(Debug)]
pub struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    pub fn new() -> io::Result<TimerFd> {
        let fd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        Ok(TimerFd { fd })
    }

    /// Arms the timer to fire once at `deadline` (monotonic). A deadline in the past
    /// fires at once.
    pub fn set_deadline(&self, deadline: Duration) -> io::Result<()> {
        // An all-zero it_value would disarm the timer instead of firing it.
        let deadline = deadline.max(Duration::from_nanos(1));
        let spec = Itimerspec {
            it_interval: to_timespec(Duration::ZERO),
            it_value: to_timespec(deadline),
        };
        rustix::time::timerfd_settime(&self.fd, TimerfdTimerFlags::ABSTIME, &spec)?;
        Ok(())
    }

    pub fn disarm(&self) -> io::Result<()> {
        let spec = Itimerspec {
            it_interval: to_timespec(Duration::ZERO),
            it_value: to_timespec(Duration::ZERO),
        };
        rustix::time::timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
        Ok(())
    }

    /// Clears the readable state: the number of expirations since the last read, 0
    /// when it has not fired.
    pub fn read(&self) -> io::Result<u64> {
        let mut buf = [0u8; 8];
        loop {
            match rustix::io::read(&self.fd, &mut buf) {
                Ok(8) => return Ok(u64::from_ne_bytes(buf)),
                Ok(_) => return Ok(0),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(0),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for TimerFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// CLOCK_BOOTTIME: the time since the kernel started, what /proc/uptime shows.
pub fn boottime_now() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Duration::new(ts.tv_sec.unsigned_abs(), ts.tv_nsec.unsigned_abs() as u32)
}

/// CLOCK_BOOTTIME in clock ticks (USER_HZ, 100 per second on Linux): the unit
/// and origin of a process's start time in /proc/PID/stat.
pub fn boot_ticks() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    ts.tv_sec.unsigned_abs() * 100 + (ts.tv_nsec.unsigned_abs() / 10_000_000)
}

/// `tm` of `t` (seconds since the epoch) in the local time zone.
fn local_tm(t: libc::time_t) -> Option<libc::tm> {
    // SAFETY: localtime_r (which reads TZ and /etc/localtime the first time)
    // fills the tm we own, and returns null (checked) when the time does not fit.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        Some(tm)
    }
}

/// `t` (seconds since the epoch) as people read it, in the local time zone:
/// `Mon 2026-12-07 04:00:00 UTC`, as systemd's `shutdown` says it; None for
/// a time the C library cannot show (a year past its range).
pub fn local_text(t: i64) -> Option<String> {
    let tm = local_tm(libc::time_t::try_from(t).ok()?)?;
    let mut buf = [0u8; 64];
    // SAFETY: the format is NUL-terminated, `buf` is as long as said, `tm` filled.
    let n = unsafe {
        libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%a %Y-%m-%d %H:%M:%S %Z".as_ptr(),
            &tm,
        )
    };
    (n > 0).then(|| String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned())
}

/// The next time (seconds since the epoch) after `now` that the local clock
/// reads `hour`:`minute`: today, or tomorrow when that has passed (as
/// `shutdown 23:00` means). On the day summer time ends the hour before the
/// change comes twice: the first after `now` is taken. A time the clock
/// skips (the spring's hour) is the latest that mktime moves it to: the
/// jump's length later (an hour; Lord Howe's half hour), never earlier.
/// None for an hour or minute out of range.
pub fn next_local(now: i64, hour: u32, minute: u32) -> Option<i64> {
    if hour > 23 || minute > 59 {
        return None;
    }
    let today = local_tm(libc::time_t::try_from(now).ok()?)?;
    let reads = |t: i64| {
        local_tm(t as libc::time_t).is_some_and(|tm| {
            tm.tm_hour == hour as libc::c_int && tm.tm_min == minute as libc::c_int
        })
    };
    for day in 0..2 {
        let (mut exact, mut moved, mut reads_any) = (None, None, false);
        // Summer time or not at that hour: both asked, as the hour may be
        // either (or both, once a year). An answer that does not read
        // H:MM is the wrong guess, or a time the clock skips: used only
        // when none of the day's answers reads H:MM (else `12:00` asked at
        // 12:30 in summer was 13:00, the guess of winter time).
        for isdst in [-1, 0, 1] {
            let mut tm = today;
            tm.tm_mday += day;
            tm.tm_hour = hour as libc::c_int;
            tm.tm_min = minute as libc::c_int;
            tm.tm_sec = 0;
            tm.tm_isdst = isdst;
            // SAFETY: mktime normalises the tm we own (a day past the month's end too).
            let t: i64 = unsafe { libc::mktime(&mut tm) };
            if t == -1 {
                continue;
            }
            if reads(t) {
                reads_any = true;
                if t > now {
                    exact = Some(exact.map_or(t, |e: i64| e.min(t)));
                }
            } else if t > now {
                moved = Some(moved.map_or(t, |m: i64| m.max(t)));
            }
        }
        match (reads_any, exact, moved) {
            (true, Some(t), _) | (false, _, Some(t)) => return Some(t),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epoll::{Epoll, Events, Interest};
    use crate::pipe::is_cloexec;

    #[test]
    fn monotonic_clock_advances() {
        let a = monotonic_now();
        let b = monotonic_now();
        assert!(b >= a);
        assert!(a > Duration::ZERO);
    }

    #[test]
    fn timer_fires_at_its_deadline_through_epoll() {
        let timer = TimerFd::new().unwrap();
        assert!(is_cloexec(&timer).unwrap());
        let ep = Epoll::new().unwrap();
        ep.add(&timer, 7, Interest::READABLE).unwrap();
        assert_eq!(timer.read().unwrap(), 0, "not armed");

        let start = monotonic_now();
        let deadline = start + Duration::from_millis(30);
        timer.set_deadline(deadline).unwrap();
        let mut events = Events::with_capacity(4);
        loop {
            ep.wait(&mut events, Some(Duration::from_secs(10))).unwrap();
            if !events.is_empty() {
                break;
            }
        }
        assert!(monotonic_now() >= deadline, "fired early");
        assert_eq!(events.iter().next().unwrap().token, 7);
        assert_eq!(timer.read().unwrap(), 1);
        assert_eq!(timer.read().unwrap(), 0, "read clears");
    }

    #[test]
    fn past_deadline_fires_at_once_and_disarm_stops_it() {
        let timer = TimerFd::new().unwrap();
        timer.set_deadline(Duration::ZERO).unwrap();
        let ep = Epoll::new().unwrap();
        ep.add(&timer, 1, Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(4);
        ep.wait(&mut events, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(timer.read().unwrap(), 1);

        timer
            .set_deadline(monotonic_now() + Duration::from_millis(1))
            .unwrap();
        timer.disarm().unwrap();
        ep.wait(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        assert!(events.is_empty(), "a disarmed timer never fires");
    }
}
