//! The boot, runlevel and shutdown records of utmp and wtmp (`who -b`, `who -r`,
//! `last reboot`),
//! as systemd-update-utmp writes them, with glibc's utmpx functions.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::time::Duration;

/// Which record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// `BOOT_TIME`, user `reboot`.
    Boot,
    /// `RUN_LVL`, user `shutdown`.
    Shutdown,
    /// `RUN_LVL`, user `runlevel`: the runlevel reached (`b'3'`, `b'5'`), from
    /// none before (`N`), as sysvinit's and systemd's `who -r` reads it.
    Runlevel(u8),
}

fn copy(field: &mut [libc::c_char], text: &str) {
    // The last byte stays NUL when the text is as long as the field or longer.
    let room = field.len().saturating_sub(1);
    for (dst, &b) in field.iter_mut().zip(text.as_bytes().iter().take(room)) {
        *dst = b as libc::c_char;
    }
}

/// The record, dated `when` (since the epoch), with the kernel's `release` as
/// its host field, as systemd fills it.
fn entry(record: Record, when: Duration, release: &str) -> libc::utmpx {
    // SAFETY: utmpx is plain data: all-zero is an empty record.
    let mut ut: libc::utmpx = unsafe { std::mem::zeroed() };
    let (kind, user) = match record {
        Record::Boot => (libc::BOOT_TIME, "reboot"),
        Record::Shutdown => (libc::RUN_LVL, "shutdown"),
        Record::Runlevel(level) => {
            // The level in the low byte, the one before it in the next.
            ut.ut_pid = libc::pid_t::from(level) | (libc::pid_t::from(b'N') << 8);
            (libc::RUN_LVL, "runlevel")
        }
    };
    ut.ut_type = kind;
    copy(&mut ut.ut_line, "~");
    copy(&mut ut.ut_id, "~~");
    copy(&mut ut.ut_user, user);
    copy(&mut ut.ut_host, release);
    ut.ut_tv.tv_sec = when.as_secs() as _;
    ut.ut_tv.tv_usec = when.subsec_micros() as _;
    ut
}

/// The path of a file that must exist (glibc makes neither file), for C.
fn existing(path: &Path) -> io::Result<CString> {
    if !path.exists() {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)
}

/// Writes the record into the utmp file (which must exist: systemd's
/// tmpfiles makes /run/utmp).
pub fn write_utmp(record: Record, when: Duration, release: &str, utmp: &Path) -> io::Result<()> {
    let name = existing(utmp)?;
    let ut = entry(record, when, release);
    // SAFETY: glibc's utmp functions, on a NUL-terminated name and a record
    // that lives across the calls; vigil-boot has one thread.
    unsafe {
        if libc::utmpxname(name.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::setutxent();
        let r = libc::pututxline(&ut);
        let err = io::Error::last_os_error();
        libc::endutxent();
        if r.is_null() { Err(err) } else { Ok(()) }
    }
}

// glibc's, which the libc crate does not declare: it appends under a lock
// and first trims a torn last record.
unsafe extern "C" {
    fn updwtmpx(wtmpx_file: *const libc::c_char, utmpx: *const libc::utmpx);
}

/// Appends the record to the wtmp file (which must exist: updwtmpx does not
/// make it).
pub fn append_wtmp(record: Record, when: Duration, release: &str, wtmp: &Path) -> io::Result<()> {
    let name = existing(wtmp)?;
    let ut = entry(record, when, release);
    // SAFETY: a NUL-terminated path and a record that lives across the call.
    unsafe { updwtmpx(name.as_ptr(), &ut) };
    Ok(())
}

/// The runlevel record of the utmp file, as sysvinit's and systemd's
/// `runlevel` read it: (the one before, the current one) as their characters
/// (`b'N'` for none before). None when the file has no such record, or its
/// level is none (`shutdown`'s record, level 0). For a program of one
/// thread (as `write_utmp`): glibc's utmp functions share one file position
/// and record buffer.
pub fn read_runlevel(utmp: &Path) -> io::Result<Option<(u8, u8)>> {
    let name = existing(utmp)?;
    // SAFETY: a zeroed utmpx is a valid key; glibc's utmp functions on a
    // NUL-terminated name, the record copied out before endutxent frees it;
    // its callers have one thread (above).
    unsafe {
        if libc::utmpxname(name.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::setutxent();
        let mut key: libc::utmpx = std::mem::zeroed();
        key.ut_type = libc::RUN_LVL;
        let found = libc::getutxid(&key);
        let pid = if found.is_null() {
            None
        } else {
            Some((*found).ut_pid)
        };
        libc::endutxent();
        Ok(pid.and_then(levels))
    }
}

/// (previous, current) of a runlevel record's pid field, as printable bytes.
fn levels(pid: libc::pid_t) -> Option<(u8, u8)> {
    let current = (pid & 0xff) as u8;
    let previous = ((pid >> 8) & 0xff) as u8;
    if !current.is_ascii_graphic() {
        return None;
    }
    let previous = if previous.is_ascii_graphic() {
        previous
    } else {
        b'N'
    };
    Some((previous, current))
}
