//! The manager's event loop primitive: a level-triggered, close-on-exec epoll.
//!
//! Every source is registered with a caller-chosen `u64` token; a wait returns the
//! tokens that are ready. This module owns no sources and never closes what it is
//! given: the caller deletes a source before dropping its descriptor.

use std::io;
use std::ops::BitOr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::event::Timespec;
use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};

/// What a source is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest(u8);

impl Interest {
    /// Nothing but hang-ups and errors (which epoll always reports).
    pub const NONE: Interest = Interest(0);
    pub const READABLE: Interest = Interest(1);
    pub const WRITABLE: Interest = Interest(2);

    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }

    fn flags(self) -> EventFlags {
        let mut flags = EventFlags::empty();
        // A peer's half close matters to a reader only: one not reading now
        // would otherwise be woken by it at every turn.
        if self.is_readable() {
            flags |= EventFlags::IN | EventFlags::RDHUP;
        }
        if self.is_writable() {
            flags |= EventFlags::OUT;
        }
        flags
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

/// One ready source, as returned by [`Epoll::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub token: u64,
    pub readable: bool,
    pub writable: bool,
    /// The peer hung up (EPOLLHUP or EPOLLRDHUP): a pipe's writers are all gone, a
    /// socket was shut down. Data may still be readable before EOF.
    pub hangup: bool,
    /// EPOLLERR: the next operation on the descriptor reports the error.
    pub error: bool,
}

/// The buffer a wait fills; reused across iterations so the loop does not allocate.
pub struct Events {
    list: Vec<Event>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Events {
    /// Room for at most `capacity` ready sources per wait (at least 1).
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            list: Vec::with_capacity(capacity.max(1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = Readiness> + '_ {
        self.list.iter().map(|event| {
            let flags = event.flags;
            Readiness {
                token: event.data.u64(),
                readable: flags.contains(EventFlags::IN),
                writable: flags.contains(EventFlags::OUT),
                hangup: flags.intersects(EventFlags::HUP | EventFlags::RDHUP),
                error: flags.contains(EventFlags::ERR),
            }
        })
    }
}

#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        let fd = epoll::create(CreateFlags::CLOEXEC)?;
        Ok(Epoll { fd })
    }

    pub fn add(&self, source: impl AsFd, token: u64, interest: Interest) -> io::Result<()> {
        epoll::add(
            &self.fd,
            source,
            EventData::new_u64(token),
            interest.flags(),
        )?;
        Ok(())
    }

    pub fn modify(&self, source: impl AsFd, token: u64, interest: Interest) -> io::Result<()> {
        epoll::modify(
            &self.fd,
            source,
            EventData::new_u64(token),
            interest.flags(),
        )?;
        Ok(())
    }

    pub fn delete(&self, source: impl AsFd) -> io::Result<()> {
        epoll::delete(&self.fd, source)?;
        Ok(())
    }

    /// Waits until a source is ready or `timeout` passes (`None`: forever), filling
    /// `events`. An interrupted wait (EINTR) returns with no events, so the caller's
    /// loop simply recomputes its timeout and waits again.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let timespec = timeout.map(|t| Timespec {
            tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        match epoll::wait(
            &self.fd,
            rustix::buffer::spare_capacity(&mut events.list),
            timespec.as_ref(),
        ) {
            Ok(_) => Ok(()),
            Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl AsFd for Epoll {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipe::pipe_cloexec;
    use std::io::Write;

    #[test]
    fn reports_a_readable_pipe_with_its_token() {
        let ep = Epoll::new().unwrap();
        let (r, w) = pipe_cloexec().unwrap();
        ep.add(&r, 42, Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(8);
        ep.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty(), "nothing written yet");

        std::fs::File::from(w.try_clone().unwrap())
            .write_all(b"x")
            .unwrap();
        ep.wait(&mut events, Some(Duration::from_secs(5))).unwrap();
        let ready: Vec<_> = events.iter().collect();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].token, 42);
        assert!(ready[0].readable);
        assert!(!ready[0].hangup);

        drop(w);
        ep.wait(&mut events, Some(Duration::from_secs(5))).unwrap();
        let ready: Vec<_> = events.iter().collect();
        assert!(ready[0].hangup, "all writers closed");

        ep.delete(&r).unwrap();
        ep.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty());
    }

    #[test]
    fn interest_combines() {
        let both = Interest::READABLE | Interest::WRITABLE;
        assert!(both.is_readable() && both.is_writable());
        assert!(!Interest::READABLE.is_writable());
    }
}
