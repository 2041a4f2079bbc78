//! Sinks: where log lines go when they leave the manager (its stdout, /dev/kmsg,
//! a file).
//!
//! A sink must never block the manager: it writes to a non-blocking fd (or
//! sends to a socket with `MSG_DONTWAIT`, which is non-blocking per call), keeps
//! what the fd would not take in a bounded queue, and asks to be told when the fd
//! is writable again ([`Sink::wants_writable`], [`Sink::on_writable`]). When the
//! queue is full a line is dropped and counted, never waited for; as soon as
//! there is room again the sink writes `vigil: N lines dropped` in the stream, at
//! the place where the lines went missing. A sink does not poll, sleep or log
//! about itself: hard write errors are returned to the caller, which decides.
//!
//! A hard write error (a full disk, an I/O error, a reader that went away)
//! loses what was queued, and the count stays exact: every lost line is counted
//! once, a lost notice hands its count on to the next one, and a line the error
//! cut in the middle is counted and ended with a line end before anything else
//! is written. The sink remembers that it is failing, and
//! [`Sink::take_state_change`] tells its owner once when it starts failing and
//! once when it writes again, so the owner can say so without repeating itself
//! on every line.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendFlags};

use crate::record::{Record, Stream};

/// The default bound of a sink's queue, in bytes.
pub const DEFAULT_QUEUE_BYTES: usize = 64 * 1024;

/// The longest record written to /dev/kmsg, prefix included. The kernel keeps
/// records of up to 1024 bytes including its own header; this leaves it room.
pub const KMSG_MAX: usize = 976;

/// syslog facility `daemon`, as the kernel expects it in a `<PRI>` prefix.
const FACILITY_DAEMON: u8 = 3 << 3;
const LEVEL_WARNING: u8 = 4;
const LEVEL_NOTICE: u8 = 5;
const LEVEL_INFO: u8 = 6;

/// Most messages handed to one `writev`.
const WRITEV_BATCH: usize = 64;

/// What a pipe writes whole (PIPE_BUF): the most a write to an fd others
/// write to as well (a container's stdout) holds, so that no other writer's
/// line lands inside one of ours.
const WHOLE_WRITE: usize = 4096;

/// How a sink sends to a socket: without waiting, whatever the description's
/// `O_NONBLOCK` says, and with an error rather than a SIGPIPE when the reader
/// went away.
const SEND_FLAGS: SendFlags = SendFlags::DONTWAIT.union(SendFlags::NOSIGNAL);

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A write failed for another reason than a full fd (the reader went away,
    /// the disk is full, ...). The queued lines were dropped and counted; a
    /// queued notice was not written and its count goes to the next notice.
    #[error("cannot write to the {sink} log sink")]
    Write {
        sink: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot open log sink {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot prepare fd {fd} as a non-blocking console")]
    Console {
        fd: i32,
        #[source]
        source: io::Error,
    },
}

/// A destination for log lines that never blocks (see the module documentation).
///
/// The manager registers [`AsFd::as_fd`] in epoll for writability while
/// [`Sink::wants_writable`] is true, and calls [`Sink::on_writable`] when it is.
pub trait Sink: AsFd + fmt::Debug {
    /// Writes the record now if the fd takes it, queues it otherwise, or drops
    /// and counts it when the queue is full. Never blocks.
    fn push(&mut self, record: &Record) -> Result<(), SinkError>;
    /// Whether data is waiting for the fd to become writable.
    fn wants_writable(&self) -> bool;
    /// Writes as much of the queue as the fd takes now.
    fn on_writable(&mut self) -> Result<(), SinkError>;
    /// Lines dropped since the sink was made (the notices report them too).
    fn dropped(&self) -> u64;
    /// Bytes waiting in the queue.
    fn queued(&self) -> usize;
    /// With `true`, [`Sink::push`] only queues (still bounded, still counting
    /// drops); the caller writes the queue out with [`Sink::on_writable`].
    fn set_deferred(&mut self, deferred: bool);
    /// Whether the sink has started failing, or works again, since the last
    /// call: `Some` only when its health differs from what the last `Some`
    /// said (a sink starts out working). A write that fails sets the sink
    /// failing ([`Sink::push`] and [`Sink::on_writable`] return the error each
    /// time); the first write that goes through afterwards sets it working.
    /// A failure that ends before this is called is not reported (the
    /// `N lines dropped` notice in the stream still counts its lines).
    ///
    /// Meant to be polled after [`Sink::push`] and [`Sink::on_writable`], so
    /// the owner reports a failing sink once instead of on every line. The
    /// default, for a sink that never fails, is `None`.
    fn take_state_change(&mut self) -> Option<SinkHealth> {
        None
    }
    /// A copy of what the sink has not written yet: its queue, its count of
    /// dropped lines not yet reported, whether a line is cut, and its health.
    /// Another sink writes it on after [`Sink::take_over`]; this one is left
    /// as it was (should the hand-over fail, it goes on).
    fn backlog(&self) -> Backlog;
    /// Takes on `backlog`, another sink's (see [`Sink::backlog`]), as if that
    /// sink had been this one: its queue is written first, its count is
    /// reported in the stream where its lines went missing, and what this
    /// sink queued itself follows. Meant for a sink that has written nothing
    /// yet; nothing of the backlog is dropped, even past the queue's bound.
    fn take_over(&mut self, backlog: Backlog);
}

/// What a sink has not written yet, taken out of it so that another sink
/// writes it on: the same sink in the next image of the manager after
/// `vigil reexec` (queues are process memory and would not cross the exec),
/// or the file opened again at SIGHUP after a log rotation. Serialized
/// (into the manager's saved state) without its bytes, which travel apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Backlog {
    /// The queued messages, one after another, whole.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Each queued message in order: its length in `bytes` and what it is.
    pub messages: Vec<(usize, Kind)>,
    /// Bytes of the first message already written.
    pub written: usize,
    /// Lines dropped since the last notice was queued.
    pub unreported: u64,
    /// A failed write cut a line in the stream: a line end goes first.
    pub cut: bool,
    /// Lines dropped in all.
    pub dropped: u64,
    /// The write failure the sink is in: the errno, and `dropped` before it
    /// began (so the sink that writes again says how many it cost).
    pub failure: Option<(i32, u64)>,
    /// Whether the owner was told that the sink fails (not told again).
    pub told_failing: bool,
}

impl Backlog {
    /// The backlog for a new file in place of the one renamed away (SIGHUP):
    /// a line the old file holds the first part of is written again whole
    /// (the old file keeps its cut part), and a line cut by a failed write
    /// is not ended in the new file, where it is not.
    pub fn for_new_file(mut self) -> Backlog {
        let mut start = 0usize;
        while let Some(&(len, Kind::LineEnd)) = self.messages.first() {
            start = start.saturating_add(len);
            self.messages.remove(0);
        }
        self.bytes.drain(..start.min(self.bytes.len()));
        self.written = 0;
        self.cut = false;
        self
    }
}

/// A change in whether a sink's writes go through, from
/// [`Sink::take_state_change`].
#[derive(Debug)]
pub enum SinkHealth {
    /// Writes fail for another reason than a full fd (`source`: a full disk,
    /// an I/O error, a reader that went away). Lines are dropped and counted
    /// until a write goes through again.
    Failing {
        sink: &'static str,
        source: io::Error,
    },
    /// A write went through again after a reported failure. `dropped` lines
    /// were lost from the first failed write to this one; the
    /// `N lines dropped` notice in the stream counts them too.
    Working { sink: &'static str, dropped: u64 },
}

impl fmt::Display for SinkHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkHealth::Failing { sink, source } => write!(
                f,
                "cannot write to the {sink} log sink ({source}); its lines are dropped and counted"
            ),
            SinkHealth::Working { sink, dropped } => write!(
                f,
                "the {sink} log sink writes again; {dropped} lines were dropped"
            ),
        }
    }
}

/// Whether a write may take part of a message (a byte stream) or must take a
/// whole message at once (a record-oriented device such as /dev/kmsg).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Stream,
    Record,
}

/// The methods of [`Sink`] that every sink leaves to its [`Outbox`] (`self.out`):
/// only how a record is formatted differs from sink to sink.
macro_rules! outbox_methods {
    () => {
        fn wants_writable(&self) -> bool {
            !self.out.queue.is_empty()
        }
        fn on_writable(&mut self) -> Result<(), SinkError> {
            self.out.drain()
        }
        fn dropped(&self) -> u64 {
            self.out.dropped
        }
        fn queued(&self) -> usize {
            self.out.queued
        }
        fn set_deferred(&mut self, deferred: bool) {
            self.out.deferred = deferred;
        }
        fn take_state_change(&mut self) -> Option<SinkHealth> {
            self.out.take_state_change()
        }
        fn backlog(&self) -> Backlog {
            self.out.backlog()
        }
        fn take_over(&mut self, backlog: Backlog) {
            self.out.take_over(backlog)
        }
    };
}

/// What a queued message is, so that a failed write can count what it lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// A line: lost, it counts as dropped.
    Line,
    /// A `N lines dropped` notice carrying `N`: those lines were counted when
    /// they were dropped; lost, the notice hands `N` back to the next notice.
    Notice(u64),
    /// The line end that closes a line a failed write cut in the middle.
    LineEnd,
}

#[derive(Debug)]
struct Message {
    bytes: Vec<u8>,
    kind: Kind,
}

/// A write failure the sink is in, until a write goes through.
#[derive(Debug, Clone, Copy)]
struct Failure {
    errno: Errno,
    /// [`Outbox::dropped`] before the failure began.
    dropped_before: u64,
}

/// Slots of an emptied queue kept for the next burst; beyond, its room goes.
const QUEUE_KEPT: usize = 64;

/// The queue and the write loop shared by every sink.
struct Outbox<F> {
    fd: F,
    sink: &'static str,
    framing: Framing,
    /// `fd` is a socket: written with `send`/`sendmsg` and [`SEND_FLAGS`], so
    /// its description can stay blocking for the others that share it.
    socket: bool,
    /// Most bytes in one write: [`WHOLE_WRITE`] of whole lines when `fd` is
    /// not a regular file (a pipe or a terminal other processes write to as
    /// well: services with `StandardOutput=inherit`, the manager's stderr on
    /// the same pipe), unbounded for a file.
    batch_bytes: usize,
    queue: VecDeque<Message>,
    /// Bytes of the front message already written (stream framing only).
    offset: usize,
    /// A failed write left a line unfinished in the stream: the next message
    /// queued goes after a line end.
    cut: bool,
    /// Bytes queued and not yet written.
    queued: usize,
    limit: usize,
    dropped: u64,
    /// Lines dropped since the last notice was queued.
    unreported: u64,
    notice: fn(u64) -> Vec<u8>,
    /// Queue only; the owner writes the queue out with `on_writable` (once per
    /// turn of its event loop, so a burst of lines costs one write, not one each).
    deferred: bool,
    failure: Option<Failure>,
    /// Lines lost in the last failure that ended.
    last_failure_dropped: u64,
    /// Whether the owner was last told that the sink fails.
    told_failing: bool,
}

impl<F> fmt::Debug for Outbox<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("sink", &self.sink)
            .field("queued", &self.queued)
            .field("messages", &self.queue.len())
            .field("limit", &self.limit)
            .field("dropped", &self.dropped)
            .field("unreported", &self.unreported)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl<F: AsFd> Outbox<F> {
    fn new(
        fd: F,
        sink: &'static str,
        framing: Framing,
        limit: usize,
        notice: fn(u64) -> Vec<u8>,
    ) -> Self {
        let kind = rustix::fs::fstat(&fd).map(|st| FileType::from_raw_mode(st.st_mode));
        let socket = kind == Ok(FileType::Socket);
        let batch_bytes = if kind == Ok(FileType::RegularFile) {
            usize::MAX
        } else {
            WHOLE_WRITE
        };
        Outbox {
            fd,
            sink,
            framing,
            socket,
            batch_bytes,
            queue: VecDeque::new(),
            offset: 0,
            cut: false,
            queued: 0,
            limit,
            dropped: 0,
            unreported: 0,
            notice,
            deferred: false,
            failure: None,
            last_failure_dropped: 0,
            told_failing: false,
        }
    }

    /// Whether `n` more bytes fit. An empty queue takes anything, so a limit
    /// smaller than one line does not silence the sink.
    fn fits(&self, n: usize) -> bool {
        self.queue.is_empty() || self.queued.saturating_add(n) <= self.limit
    }

    fn drop_lines(&mut self, n: u64) {
        self.dropped = self.dropped.saturating_add(n);
        self.unreported = self.unreported.saturating_add(n);
    }

    fn enqueue(&mut self, msg: Vec<u8>) -> Result<(), SinkError> {
        if self.unreported > 0 {
            // The notice goes right before the next line that gets through, so
            // the reader sees the gap where it is.
            let notice = (self.notice)(self.unreported);
            if !self.fits(notice.len().saturating_add(msg.len())) {
                self.drop_lines(1);
                return Ok(());
            }
            self.queue_notice(notice);
        } else if !self.fits(msg.len()) {
            self.drop_lines(1);
            return Ok(());
        }
        self.queue_message(msg, Kind::Line);
        if self.deferred {
            return Ok(());
        }
        self.drain()
    }

    /// Queues `notice`, which reports every line dropped so far.
    fn queue_notice(&mut self, notice: Vec<u8>) {
        let count = std::mem::take(&mut self.unreported);
        self.queue_message(notice, Kind::Notice(count));
    }

    fn queue_message(&mut self, bytes: Vec<u8>, kind: Kind) {
        if std::mem::take(&mut self.cut) {
            self.queue_message(b"\n".to_vec(), Kind::LineEnd);
        }
        self.queued = self.queued.saturating_add(bytes.len());
        self.queue.push_back(Message { bytes, kind });
    }

    /// Writes until the queue is empty or the fd is full.
    fn drain(&mut self) -> Result<(), SinkError> {
        loop {
            if self.unreported > 0 {
                let notice = (self.notice)(self.unreported);
                if self.fits(notice.len()) {
                    self.queue_notice(notice);
                }
            }
            if self.queue.is_empty() {
                // A burst (a thousand units starting) grew it to thousands of
                // slots: not kept for the manager's whole life.
                if self.queue.capacity() > QUEUE_KEPT {
                    self.queue = VecDeque::new();
                }
                return Ok(());
            }
            match self.write_some() {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    self.consume(n);
                    if let Some(failure) = self.failure.take() {
                        self.last_failure_dropped =
                            self.dropped.saturating_sub(failure.dropped_before);
                    }
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(()),
                Err(errno) => {
                    if self.failure.is_none() {
                        self.failure = Some(Failure {
                            errno,
                            dropped_before: self.dropped,
                        });
                    }
                    self.lose_queue();
                    return Err(SinkError::Write {
                        sink: self.sink,
                        source: errno.into(),
                    });
                }
            }
        }
    }

    /// Forgets the queue after a hard write error, keeping the count exact:
    /// each line in it counts as dropped, and each notice hands its count back
    /// so the next notice that gets through carries every line lost so far. A
    /// line already partly written stays cut in the stream; it counts as
    /// dropped, and the next message starts on a line of its own.
    fn lose_queue(&mut self) {
        let ended = self.offset == 0
            && self
                .queue
                .front()
                .is_none_or(|front| front.kind != Kind::LineEnd);
        self.cut = self.framing == Framing::Stream && !ended;
        let mut lines = 0u64;
        let mut noticed = 0u64;
        for msg in self.queue.drain(..) {
            match msg.kind {
                Kind::Line => lines = lines.saturating_add(1),
                Kind::Notice(count) => noticed = noticed.saturating_add(count),
                Kind::LineEnd => {}
            }
        }
        self.queued = 0;
        self.offset = 0;
        self.drop_lines(lines);
        self.unreported = self.unreported.saturating_add(noticed);
    }

    fn backlog(&self) -> Backlog {
        let mut bytes = Vec::with_capacity(self.queued.saturating_add(self.offset));
        let mut messages = Vec::with_capacity(self.queue.len());
        for msg in &self.queue {
            bytes.extend_from_slice(&msg.bytes);
            messages.push((msg.bytes.len(), msg.kind));
        }
        Backlog {
            bytes,
            messages,
            written: self.offset,
            unreported: self.unreported,
            cut: self.cut,
            dropped: self.dropped,
            failure: self
                .failure
                .map(|f| (f.errno.raw_os_error(), f.dropped_before)),
            told_failing: self.told_failing,
        }
    }

    fn take_over(&mut self, backlog: Backlog) {
        // What this sink queued itself goes after the backlog.
        let own = std::mem::take(&mut self.queue);
        let own_unreported = std::mem::take(&mut self.unreported);
        let own_dropped = self.dropped;
        self.queued = 0;
        self.offset = 0;
        let mut rest = backlog.bytes.as_slice();
        for &(len, kind) in &backlog.messages {
            let Some((bytes, after)) = rest.split_at_checked(len) else {
                break;
            };
            rest = after;
            self.queued = self.queued.saturating_add(len);
            self.queue.push_back(Message {
                bytes: bytes.to_vec(),
                kind,
            });
        }
        if let Some(front) = self.queue.front() {
            self.offset = backlog.written.min(front.bytes.len());
            self.queued = self.queued.saturating_sub(self.offset);
        }
        self.cut = backlog.cut;
        self.unreported = backlog.unreported;
        self.dropped = own_dropped.saturating_add(backlog.dropped);
        self.failure = backlog.failure.map(|(errno, before)| Failure {
            errno: Errno::from_raw_os_error(errno),
            dropped_before: before.saturating_add(own_dropped),
        });
        self.told_failing = backlog.told_failing;
        if !own.is_empty() {
            if self.unreported > 0 {
                let notice = (self.notice)(self.unreported);
                self.queue_notice(notice);
            }
            for msg in own {
                self.queue_message(msg.bytes, msg.kind);
            }
        }
        self.unreported = self.unreported.saturating_add(own_unreported);
    }

    fn take_state_change(&mut self) -> Option<SinkHealth> {
        if self.failure.is_some() == self.told_failing {
            return None;
        }
        self.told_failing = self.failure.is_some();
        Some(match self.failure {
            Some(failure) => SinkHealth::Failing {
                sink: self.sink,
                source: failure.errno.into(),
            },
            None => SinkHealth::Working {
                sink: self.sink,
                dropped: self.last_failure_dropped,
            },
        })
    }

    fn write_some(&self) -> Result<usize, Errno> {
        match self.framing {
            Framing::Stream => {
                let mut slices = Vec::with_capacity(self.queue.len().min(WRITEV_BATCH));
                let mut total = 0usize;
                for (i, msg) in self.queue.iter().take(WRITEV_BATCH).enumerate() {
                    let start = if i == 0 { self.offset } else { 0 };
                    let bytes = msg.bytes.get(start..).unwrap_or_default();
                    total = total.saturating_add(bytes.len());
                    // Whole messages only, the first one whatever its length.
                    if i > 0 && total > self.batch_bytes {
                        break;
                    }
                    slices.push(IoSlice::new(bytes));
                }
                if self.socket {
                    let mut no_control = SendAncillaryBuffer::default();
                    rustix::net::sendmsg(&self.fd, &slices, &mut no_control, SEND_FLAGS)
                } else {
                    rustix::io::writev(&self.fd, &slices)
                }
            }
            Framing::Record => match self.queue.front() {
                Some(msg) if self.socket => rustix::net::send(&self.fd, &msg.bytes, SEND_FLAGS),
                Some(msg) => rustix::io::write(&self.fd, &msg.bytes),
                None => Ok(0),
            },
        }
    }

    /// Forgets `n` written bytes from the front of the queue.
    fn consume(&mut self, mut n: usize) {
        if self.framing == Framing::Record {
            // A record device takes a record whole or not at all.
            if let Some(msg) = self.queue.pop_front() {
                self.queued = self.queued.saturating_sub(msg.bytes.len());
            }
            return;
        }
        while n > 0 {
            let Some(front) = self.queue.front() else {
                break;
            };
            let left = front.bytes.len().saturating_sub(self.offset);
            if n < left {
                self.offset = self.offset.saturating_add(n);
                self.queued = self.queued.saturating_sub(n);
                return;
            }
            n = n.saturating_sub(left);
            self.queued = self.queued.saturating_sub(left);
            self.offset = 0;
            self.queue.pop_front();
        }
        // Empty messages never reach the queue, but a stray one must not
        // keep the sink asking for writability.
        while self
            .queue
            .front()
            .is_some_and(|m| m.bytes.len() <= self.offset)
        {
            self.queue.pop_front();
            self.offset = 0;
        }
    }
}

/// Lines on the manager's stdout (or any stream), as `unit: line`, the way
/// container logs show several services at once.
#[derive(Debug)]
pub struct ConsoleSink<F: AsFd = OwnedFd> {
    out: Outbox<F>,
}

impl<F: AsFd> ConsoleSink<F> {
    /// A sink writing to `fd`, which must be non-blocking unless it is a socket
    /// (see [`console_fd`]), queueing at most `queue_bytes`.
    pub fn new(fd: F, queue_bytes: usize) -> Self {
        ConsoleSink {
            out: Outbox::new(fd, "console", Framing::Stream, queue_bytes, |n| {
                format!("vigil: {n} lines dropped\n").into_bytes()
            }),
        }
    }
}

impl<F: AsFd> AsFd for ConsoleSink<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.out.fd.as_fd()
    }
}

impl<F: AsFd + fmt::Debug> Sink for ConsoleSink<F> {
    fn push(&mut self, record: &Record) -> Result<(), SinkError> {
        let mut msg = Vec::with_capacity(record.unit.len() + record.line.len() + 3);
        msg.extend_from_slice(record.unit.as_bytes());
        msg.extend_from_slice(b": ");
        msg.extend_from_slice(record.line.as_bytes());
        msg.push(b'\n');
        self.out.enqueue(msg)
    }
    outbox_methods!();
}

/// Lines in the kernel log, one `write` per record: `<PRI>unit[pid]: line`,
/// with facility `daemon` and level info (notice for the manager's own lines).
#[derive(Debug)]
pub struct KmsgSink {
    out: Outbox<OwnedFd>,
}

impl KmsgSink {
    /// Opens `path` (normally `/dev/kmsg`) for writing, non-blocking. Failing
    /// here is how the caller learns that the kernel log is not writable.
    pub fn open(path: &Path, queue_bytes: usize) -> Result<KmsgSink, SinkError> {
        let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| SinkError::Open {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(KmsgSink::new(fd, queue_bytes))
    }

    /// A sink on an fd that keeps record boundaries, which must be non-blocking.
    pub fn new(fd: OwnedFd, queue_bytes: usize) -> KmsgSink {
        KmsgSink {
            out: Outbox::new(fd, "kmsg", Framing::Record, queue_bytes, |n| {
                format!(
                    "<{}>vigil: {n} lines dropped\n",
                    FACILITY_DAEMON | LEVEL_WARNING
                )
                .into_bytes()
            }),
        }
    }
}

impl AsFd for KmsgSink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.out.fd.as_fd()
    }
}

impl Sink for KmsgSink {
    fn push(&mut self, record: &Record) -> Result<(), SinkError> {
        let level = match record.stream {
            Stream::Stdout | Stream::Stderr => LEVEL_INFO,
            Stream::Manager => LEVEL_NOTICE,
        };
        // The kernel takes the text up to a NUL: one is shown, not cut at.
        let mut text = format!(
            "<{}>{}[{}]: {}",
            FACILITY_DAEMON | level,
            record.unit,
            record.pid,
            record.line.replace('\0', "\\x00")
        );
        truncate_at_char(&mut text, KMSG_MAX - 1);
        // Ended, or the kernel keeps the record open for a continuation and
        // `dmesg` does not show it until some other message comes.
        text.push('\n');
        self.out.enqueue(text.into_bytes())
    }
    outbox_methods!();
}

/// Lines appended to a file, each with its UTC time:
/// `2024-02-29T23:59:59.000001Z unit[pid]: line`.
#[derive(Debug)]
pub struct FileSink {
    out: Outbox<OwnedFd>,
}

impl FileSink {
    /// Opens `path` for appending, creating it (mode 0640) when missing.
    pub fn open(path: &Path, queue_bytes: usize) -> Result<FileSink, SinkError> {
        let flags = OFlags::WRONLY
            | OFlags::APPEND
            | OFlags::CREATE
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC
            | OFlags::NOCTTY;
        let mode = Mode::from_raw_mode(0o640);
        let fd = rustix::fs::open(path, flags, mode).map_err(|e| SinkError::Open {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(FileSink::new(fd, queue_bytes))
    }

    /// A sink on an fd opened by the caller (a FIFO must be non-blocking).
    pub fn new(fd: OwnedFd, queue_bytes: usize) -> FileSink {
        FileSink {
            out: Outbox::new(fd, "file", Framing::Stream, queue_bytes, |n| {
                format!(
                    "{} vigil: {n} lines dropped\n",
                    rfc3339_utc(SystemTime::now())
                )
                .into_bytes()
            }),
        }
    }
}

impl AsFd for FileSink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.out.fd.as_fd()
    }
}

impl Sink for FileSink {
    fn push(&mut self, record: &Record) -> Result<(), SinkError> {
        let msg = format!(
            "{} {}[{}]: {}\n",
            rfc3339_utc(record.time),
            record.unit,
            record.pid,
            record.line
        );
        self.out.enqueue(msg.into_bytes())
    }
    outbox_methods!();
}

/// An fd for a [`ConsoleSink`] on the manager's stdout (or stderr) that the
/// sink can write to without blocking, without making the original fd
/// non-blocking too.
///
/// `O_NONBLOCK` belongs to the open file description, which a terminal, pipe or
/// socket shares with whoever started the manager and with every service that
/// inherits the manager's stdout; setting it on fd 1 would make their own reads
/// and writes fail with `EAGAIN`. So a pipe or terminal is reopened through
/// `/proc/self/fd/N`, which makes a new description. A socket cannot be
/// reopened that way; it is only duplicated, and the sink sends to it with
/// `MSG_DONTWAIT`, which is non-blocking for that call only. A regular file is
/// only duplicated too: files never return `EAGAIN`. When reopening a pipe or
/// terminal is not possible (no /proc yet), the duplicate is made non-blocking,
/// which does change the shared description.
pub fn console_fd(fd: BorrowedFd<'_>) -> Result<OwnedFd, SinkError> {
    let raw = fd.as_raw_fd();
    let fail = |e: Errno| SinkError::Console {
        fd: raw,
        source: e.into(),
    };
    let stat = rustix::fs::fstat(fd).map_err(fail)?;
    if matches!(
        FileType::from_raw_mode(stat.st_mode),
        FileType::RegularFile | FileType::Socket
    ) {
        return rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(fail);
    }
    let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let proc_path = format!("/proc/self/fd/{raw}");
    if let Ok(fresh) = rustix::fs::open(proc_path.as_str(), flags, Mode::empty()) {
        return Ok(fresh);
    }
    let dup = rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(fail)?;
    let current = rustix::fs::fcntl_getfl(&dup).map_err(fail)?;
    rustix::fs::fcntl_setfl(&dup, current | OFlags::NONBLOCK).map_err(fail)?;
    Ok(dup)
}

/// Cuts `text` to at most `max` bytes without splitting a character.
fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let cut = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text.truncate(cut);
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`; times before 1970 show as 1970.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01. Counts in 400-year
/// eras of 146097 days starting on a 1 March, so the leap day is the last day of
/// its year and needs no special case.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // 1970-01-01 is day 719468 counted from 0000-03-01.
    let z = days.saturating_add(719_468);
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 is March, 11 is February.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::{UnixDatagram, UnixStream};
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use rustix::pipe::{PipeFlags, fcntl_setpipe_size, pipe_with};

    use super::*;

    fn record(unit: &str, line: &str) -> Record {
        Record {
            time: UNIX_EPOCH + Duration::from_micros(1_709_251_199_000_042),
            unit: Arc::from(unit),
            stream: Stream::Stdout,
            pid: 42,
            line: line.to_string(),
        }
    }

    /// A pipe whose both ends are non-blocking, as small as the kernel allows.
    fn small_pipe() -> (OwnedFd, OwnedFd) {
        let (r, w) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).expect("pipe");
        fcntl_setpipe_size(&w, 4096).expect("pipe size");
        (r, w)
    }

    /// Everything the pipe holds right now.
    fn read_available(r: &OwnedFd) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match rustix::io::read(r, &mut buf) {
                Ok(0) | Err(Errno::AGAIN) => return out,
                Ok(n) => out.extend_from_slice(buf.get(..n).expect("n <= len")),
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Runs `f` on another thread and fails the test if it does not finish: a
    /// sink that blocked would hang here instead of returning.
    fn must_not_block<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the sink blocked")
    }

    /// The reader wakes up: reads, and tells the sink the fd is writable, until
    /// the sink has nothing left.
    fn read_everything(sink: &mut impl Sink, r: &OwnedFd) -> String {
        let mut out = Vec::new();
        loop {
            out.extend(read_available(r));
            if !sink.wants_writable() {
                break;
            }
            sink.on_writable().expect("on_writable");
        }
        out.extend(read_available(r));
        String::from_utf8(out).expect("utf8")
    }

    /// Checks what a console sink flooded with `flood: line N` (N counting from
    /// 0 to `pushed`) finally wrote, once its reader caught up.
    fn assert_flood_accounted(text: &str, pushed: u64, dropped: u64) {
        let lines: Vec<&str> = text.lines().collect();
        let notice = format!("vigil: {dropped} lines dropped");
        assert_eq!(lines.last().copied(), Some(notice.as_str()), "{lines:?}");
        let delivered: Vec<u64> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("flood: line "))
            .map(|n| n.parse().expect("number"))
            .collect();
        // Nothing lost silently: what arrived plus what was reported is all.
        assert_eq!(delivered.len() as u64 + dropped, pushed);
        // What arrived is the first lines, in order, without holes.
        assert!(delivered.iter().copied().eq(0..delivered.len() as u64));
    }

    /// A file sink on /dev/full, which fails every write with ENOSPC as a full
    /// filesystem does.
    fn full_disk() -> FileSink {
        let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::open("/dev/full", flags, Mode::empty()).expect("open /dev/full");
        FileSink::new(fd, DEFAULT_QUEUE_BYTES)
    }

    fn assert_write_error(err: &SinkError, errno: Errno) {
        match err {
            SinkError::Write { sink, source } => {
                assert_eq!(*sink, "file");
                assert_eq!(source.raw_os_error(), Some(errno.raw_os_error()));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A FIFO in a directory of its own, removed on drop. Unlike a pipe, a FIFO
    /// can get a reader again after its last one went away, so a sink writing
    /// to it can fail (EPIPE) and then recover on the same fd.
    struct Fifo {
        dir: PathBuf,
        path: PathBuf,
    }

    impl Fifo {
        fn new(name: &str) -> Fifo {
            let dir = std::env::temp_dir().join(format!("vigil-log-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            let path = dir.join("fifo");
            rustix::fs::mkfifoat(rustix::fs::CWD, &path, Mode::from_raw_mode(0o600))
                .expect("mkfifo");
            Fifo { dir, path }
        }

        /// A new non-blocking read end.
        fn reader(&self) -> OwnedFd {
            let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
            rustix::fs::open(&self.path, flags, Mode::empty()).expect("open the reader")
        }

        /// The non-blocking write end (it needs a reader), holding one page.
        fn writer(&self) -> OwnedFd {
            let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let w = rustix::fs::open(&self.path, flags, Mode::empty()).expect("open the writer");
            fcntl_setpipe_size(&w, 4096).expect("pipe size");
            w
        }
    }

    impl Drop for Fifo {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn console_lines_carry_the_unit_name() {
        let (r, w) = small_pipe();
        let mut sink = ConsoleSink::new(w, DEFAULT_QUEUE_BYTES);
        sink.push(&record("web.service", "hello")).expect("push");
        sink.push(&record("db.service", "")).expect("push");
        assert!(!sink.wants_writable());
        assert_eq!(
            String::from_utf8(read_available(&r)).expect("utf8"),
            "web.service: hello\ndb.service: \n"
        );
        assert_eq!(sink.dropped(), 0);
    }

    #[test]
    fn a_stuck_reader_never_blocks_the_console_and_drops_are_reported() {
        let (r, w) = small_pipe();
        let total = 5000u64;
        let limit = 2048;
        let sink = must_not_block(move || {
            let mut sink = ConsoleSink::new(w, limit);
            for i in 0..total {
                sink.push(&record("flood", &format!("line {i:05}")))
                    .expect("push");
                assert!(sink.queued() <= limit);
            }
            sink
        });
        assert!(sink.wants_writable(), "the pipe is full, data must wait");
        assert!(sink.dropped() > 0);
        let dropped = sink.dropped();

        let mut sink = sink;
        assert_flood_accounted(&read_everything(&mut sink, &r), total, dropped);

        // After the notice, lines flow again, and a new gap is counted anew.
        sink.push(&record("flood", "after")).expect("push");
        assert_eq!(read_available(&r), b"flood: after\n");
        assert_eq!(sink.dropped(), dropped);
    }

    #[test]
    fn the_notice_sits_where_the_gap_is() {
        let (r, w) = small_pipe();
        let mut sink = ConsoleSink::new(w, 64);
        let mut i = 0;
        // Fill the pipe and the queue, then drop exactly three lines.
        while sink.dropped() == 0 {
            sink.push(&record("u", &format!("{i}"))).expect("push");
            i += 1;
        }
        sink.push(&record("u", "x")).expect("push");
        sink.push(&record("u", "x")).expect("push");
        assert_eq!(sink.dropped(), 3);
        let mut out = read_available(&r);
        // Until the sink hears the fd is writable its queue is still full, so a
        // line now would be the fourth dropped one; once it has been told, a line
        // must come after the notice, not before it.
        sink.on_writable().expect("on_writable");
        sink.push(&record("u", "later")).expect("push");
        while sink.wants_writable() {
            sink.on_writable().expect("on_writable");
            out.extend(read_available(&r));
        }
        out.extend(read_available(&r));
        let text = String::from_utf8(out).expect("utf8");
        let tail: Vec<&str> = text.lines().rev().take(2).collect();
        assert_eq!(tail, ["u: later", "vigil: 3 lines dropped"]);
    }

    #[test]
    fn a_reader_that_went_away_is_an_error_not_a_hang() {
        let (r, w) = small_pipe();
        drop(r);
        let mut sink = ConsoleSink::new(w, DEFAULT_QUEUE_BYTES);
        let err = sink.push(&record("u", "x")).expect_err("broken pipe");
        match &err {
            SinkError::Write { sink, source } => {
                assert_eq!(*sink, "console");
                assert_eq!(source.raw_os_error(), Some(Errno::PIPE.raw_os_error()));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(err.to_string(), "cannot write to the console log sink");
        assert_eq!(sink.dropped(), 1);
        assert!(!sink.wants_writable());
    }

    #[test]
    fn a_full_disk_counts_each_lost_line_once() {
        let mut sink = full_disk();
        for i in 0..5 {
            let err = sink
                .push(&record("u", &format!("line {i}")))
                .expect_err("ENOSPC");
            assert_write_error(&err, Errno::NOSPC);
        }
        // The notice the sink tries to write before each line is not a line:
        // losing it loses no line of the service's.
        assert_eq!(sink.dropped(), 5);
        assert!(!sink.wants_writable());
        assert_eq!(sink.queued(), 0);
    }

    #[test]
    fn an_emptied_queue_gives_back_the_room_a_burst_took() {
        let (r, w) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).expect("pipe");
        let mut sink = ConsoleSink::new(w, DEFAULT_QUEUE_BYTES);
        sink.set_deferred(true);
        for i in 0..1000 {
            sink.push(&record("u", &format!("line {i}")))
                .expect("queued");
        }
        assert!(sink.out.queue.capacity() >= 1000);
        // The pipe takes them all in one turn or a few.
        let mut got = Vec::new();
        while sink.queued() > 0 {
            sink.on_writable().expect("written");
            got.extend(read_available(&r));
        }
        assert_eq!(got.iter().filter(|&&b| b == b'\n').count(), 1000);
        assert!(sink.out.queue.capacity() <= QUEUE_KEPT);
    }

    #[test]
    fn a_full_disk_counts_each_lost_line_once_when_written_once_a_turn() {
        // The way vigild drives its sinks: a push only queues, one write a turn.
        let mut sink = full_disk();
        sink.set_deferred(true);
        let mut pushed = 0u64;
        for turn in 0..4 {
            for i in 0..3 {
                sink.push(&record("u", &format!("turn {turn} line {i}")))
                    .expect("a push only queues");
                pushed += 1;
            }
            let err = sink.on_writable().expect_err("ENOSPC");
            assert_write_error(&err, Errno::NOSPC);
            assert_eq!(sink.dropped(), pushed, "after turn {turn}");
        }
    }

    #[test]
    fn the_notice_after_a_failure_counts_every_lost_line_and_starts_a_new_line() {
        let fifo = Fifo::new("cut-line");
        let reader = fifo.reader();
        let mut sink = FileSink::new(fifo.writer(), DEFAULT_QUEUE_BYTES);

        // A line longer than the pipe holds: only its first part is written.
        let long = "x".repeat(6000);
        sink.push(&record("u", &long)).expect("push");
        assert!(sink.wants_writable(), "the rest of the line waits");

        // The reader goes away: the rest of that line is lost, and so is every
        // line pushed until a reader is back, one failed write each.
        drop(reader);
        for i in 0..3 {
            let err = sink
                .push(&record("u", &format!("lost {i}")))
                .expect_err("EPIPE");
            assert_write_error(&err, Errno::PIPE);
        }

        // A reader again; what was written before is still in the pipe.
        let reader = fifo.reader();
        sink.push(&record("u", "after")).expect("push");
        let text = read_everything(&mut sink, &reader);
        let shown = text.replace(&"x".repeat(64), "x");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{shown:?}");
        let head = "2024-02-29T23:59:59.000042Z u[42]: ";
        let kept = lines.first().and_then(|l| l.strip_prefix(head));
        assert!(
            kept.is_some_and(|k| !k.is_empty() && k.len() < long.len() && k.ends_with('x')),
            "the first part of the long line, and only it: {shown:?}"
        );
        let notice = lines.get(1).copied().unwrap_or_default();
        assert!(
            notice.ends_with("Z vigil: 4 lines dropped") && !notice.contains("u[42]"),
            "{shown:?}"
        );
        assert_eq!(
            lines.get(2).copied(),
            Some("2024-02-29T23:59:59.000042Z u[42]: after")
        );
        assert!(text.ends_with('\n'));
        assert_eq!(sink.dropped(), 4, "the cut line and the three after it");
    }

    #[test]
    fn a_full_disk_is_reported_once() {
        let mut sink = full_disk();
        assert!(sink.take_state_change().is_none(), "a new sink works");

        sink.push(&record("u", "one")).expect_err("ENOSPC");
        let change = sink.take_state_change().expect("the sink fails now");
        match &change {
            SinkHealth::Failing { sink, source } => {
                assert_eq!(*sink, "file");
                assert_eq!(source.raw_os_error(), Some(Errno::NOSPC.raw_os_error()));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            change
                .to_string()
                .starts_with("cannot write to the file log sink ("),
            "{change}"
        );
        for i in 0..3 {
            sink.push(&record("u", &format!("more {i}")))
                .expect_err("ENOSPC");
            assert!(sink.take_state_change().is_none(), "said once");
        }
    }

    #[test]
    fn a_sink_that_writes_again_says_so_once_with_what_it_lost() {
        let fifo = Fifo::new("health");
        let reader = fifo.reader();
        let mut sink = FileSink::new(fifo.writer(), DEFAULT_QUEUE_BYTES);
        sink.push(&record("u", "before")).expect("push");
        assert!(sink.take_state_change().is_none());

        drop(reader);
        for i in 0..3 {
            sink.push(&record("u", &format!("lost {i}")))
                .expect_err("EPIPE");
        }
        assert!(matches!(
            sink.take_state_change(),
            Some(SinkHealth::Failing { sink: "file", .. })
        ));

        let reader = fifo.reader();
        sink.push(&record("u", "after")).expect("push");
        let change = sink.take_state_change().expect("the sink works again");
        assert!(
            matches!(
                change,
                SinkHealth::Working {
                    sink: "file",
                    dropped: 3
                }
            ),
            "{change:?}"
        );
        assert_eq!(
            change.to_string(),
            "the file log sink writes again; 3 lines were dropped"
        );
        assert!(sink.take_state_change().is_none(), "said once");
        let text = read_everything(&mut sink, &reader);
        assert!(text.contains(" vigil: 3 lines dropped\n"), "{text}");
    }

    /// Review finding (container mode): one writev carried up to 64 lines,
    /// more than a pipe writes whole, so a line another process wrote to the
    /// same stdout (a service with `StandardOutput=inherit`, the manager's
    /// stderr) landed inside one of them. Each write is whole lines of at most
    /// 4096 bytes now (a datagram socket shows where each write ends).
    #[test]
    fn console_writes_are_whole_lines_a_pipe_keeps_whole() {
        let (rx, tx) = UnixDatagram::pair().expect("socketpair");
        rx.set_nonblocking(true).expect("nonblocking");
        let mut sink = ConsoleSink::new(OwnedFd::from(tx), DEFAULT_QUEUE_BYTES);
        sink.set_deferred(true);
        let text = "x".repeat(150);
        for i in 0..200 {
            let line = format!("{i:03} {text}");
            sink.push(&record("b.service", &line)).expect("push");
        }
        sink.on_writable().expect("write");
        let mut buf = vec![0u8; 65536];
        let mut writes = Vec::new();
        while let Ok(n) = rx.recv(&mut buf) {
            writes.push(String::from_utf8(buf.get(..n).expect("n").to_vec()).expect("utf8"));
        }
        for w in &writes {
            assert!(w.len() <= 4096 && w.ends_with('\n'), "{} bytes", w.len());
        }
        let lines: Vec<&str> = writes.iter().flat_map(|w| w.lines()).collect();
        assert_eq!(lines.len(), 200);
        assert!(
            lines
                .iter()
                .enumerate()
                .all(|(i, l)| l.starts_with(&format!("b.service: {i:03} ")))
        );
        // Still batched: about 24 lines a write.
        assert!(writes.len() < 20, "{} writes", writes.len());
    }

    /// Review findings: a record without a line end is held open by the
    /// kernel for a continuation (`dmesg` showed a service's last line only
    /// once some other message came), and the kernel cuts the text at a NUL.
    #[test]
    fn kmsg_writes_one_ended_record_per_write_and_truncates() {
        let (rx, tx) = UnixDatagram::pair().expect("socketpair");
        tx.set_nonblocking(true).expect("nonblocking");
        let mut sink = KmsgSink::new(OwnedFd::from(tx), DEFAULT_QUEUE_BYTES);
        sink.push(&record("web.service", "hello")).expect("push");
        let mut manager = record("web.service", "started");
        manager.stream = Stream::Manager;
        sink.push(&manager).expect("push");
        let long = "é".repeat(1000);
        sink.push(&record("web.service", &long)).expect("push");
        sink.push(&record("web.service", "before\0after"))
            .expect("push");
        let mut buf = [0u8; 4096];
        let mut next = || {
            let n = rx.recv(&mut buf).expect("recv");
            String::from_utf8(buf.get(..n).expect("n").to_vec()).expect("utf8")
        };
        assert_eq!(next(), "<30>web.service[42]: hello\n");
        assert_eq!(next(), "<29>web.service[42]: started\n");
        let truncated = next();
        assert!(truncated.len() <= KMSG_MAX && truncated.len() >= KMSG_MAX - 2);
        assert!(truncated.starts_with("<30>web.service[42]: éé"));
        assert!(truncated.ends_with("é\n"));
        assert_eq!(next(), "<30>web.service[42]: before\\x00after\n");
    }

    #[test]
    fn kmsg_full_drops_and_reports() {
        let (rx, tx) = UnixDatagram::pair().expect("socketpair");
        tx.set_nonblocking(true).expect("nonblocking");
        rx.set_nonblocking(true).expect("nonblocking");
        let mut sink = must_not_block(move || {
            let mut sink = KmsgSink::new(OwnedFd::from(tx), 4096);
            let mut i = 0u64;
            while sink.dropped() < 10 {
                sink.push(&record("u", &format!("{i}"))).expect("push");
                i += 1;
            }
            sink
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            while let Ok(n) = rx.recv(&mut buf) {
                got.push(String::from_utf8(buf.get(..n).expect("n").to_vec()).expect("utf8"));
            }
            if !sink.wants_writable() {
                break;
            }
            sink.on_writable().expect("on_writable");
        }
        assert_eq!(
            got.last().map(String::as_str),
            Some("<28>vigil: 10 lines dropped\n")
        );
        assert!(
            got.iter().all(|m| m.starts_with('<')),
            "one record per datagram"
        );
    }

    #[test]
    fn file_sink_appends_with_timestamps() {
        let dir = std::env::temp_dir().join(format!("vigil-log-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("all.log");
        std::fs::write(&path, "earlier\n").expect("seed");
        let mut sink = FileSink::open(&path, DEFAULT_QUEUE_BYTES).expect("open");
        sink.push(&record("web.service", "hello")).expect("push");
        sink.push(&record("web.service", "again")).expect("push");
        assert!(!sink.wants_writable());
        drop(sink);
        let mut text = String::new();
        std::fs::File::open(&path)
            .expect("open")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(
            text,
            "earlier\n\
             2024-02-29T23:59:59.000042Z web.service[42]: hello\n\
             2024-02-29T23:59:59.000042Z web.service[42]: again\n"
        );
        let err = FileSink::open(&dir.join("no/such/dir/x.log"), 1).expect_err("missing dir");
        assert!(
            err.to_string().starts_with("cannot open log sink "),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn kmsg_open_reports_the_path() {
        let err = KmsgSink::open(Path::new("/nonexistent/kmsg"), 1).expect_err("missing");
        assert_eq!(err.to_string(), "cannot open log sink /nonexistent/kmsg");
    }

    #[test]
    fn console_fd_leaves_the_original_blocking() {
        let (r, w) = pipe_with(PipeFlags::CLOEXEC).expect("pipe");
        let fresh = console_fd(w.as_fd()).expect("console fd");
        let flags = rustix::fs::fcntl_getfl(&fresh).expect("getfl");
        assert!(flags.contains(OFlags::NONBLOCK));
        let original = rustix::fs::fcntl_getfl(&w).expect("getfl");
        assert!(!original.contains(OFlags::NONBLOCK));
        let mut sink = ConsoleSink::new(fresh, 16);
        sink.push(&record("u", "via proc")).expect("push");
        drop(w);
        drop(sink);
        let mut text = String::new();
        std::fs::File::from(r)
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "u: via proc\n");
    }

    /// A stream socketpair, both ends blocking, as a supervisor or journald
    /// hands the manager for its stdout.
    fn blocking_socketpair() -> (UnixStream, UnixStream) {
        let (ours, peer) = UnixStream::pair().expect("socketpair");
        assert!(!is_nonblocking(&ours));
        (ours, peer)
    }

    fn is_nonblocking(fd: impl AsFd) -> bool {
        rustix::fs::fcntl_getfl(fd)
            .expect("getfl")
            .contains(OFlags::NONBLOCK)
    }

    #[test]
    fn console_fd_on_a_socket_leaves_its_description_blocking() {
        let (stdout, mut peer) = blocking_socketpair();
        let fd = console_fd(stdout.as_fd()).expect("console fd");
        // Services that inherit the manager's stdout share this description.
        assert!(!is_nonblocking(&stdout), "the shared description changed");
        let mut sink = ConsoleSink::new(fd, 16);
        sink.push(&record("u", "via socket")).expect("push");
        assert!(!is_nonblocking(&stdout));
        drop(stdout);
        drop(sink);
        let mut text = String::new();
        peer.read_to_string(&mut text).expect("read");
        assert_eq!(text, "u: via socket\n");
    }

    #[test]
    fn a_full_socket_never_blocks_the_console_and_drops_are_reported() {
        let (stdout, peer) = blocking_socketpair();
        let fd = console_fd(stdout.as_fd()).expect("console fd");
        let (sink, pushed) = must_not_block(move || {
            let mut sink = ConsoleSink::new(fd, 2048);
            let mut pushed = 0u64;
            while sink.dropped() < 10 {
                sink.push(&record("flood", &format!("line {pushed:07}")))
                    .expect("push");
                pushed += 1;
            }
            (sink, pushed)
        });
        assert!(!is_nonblocking(&stdout), "the shared description changed");
        let dropped = sink.dropped();

        peer.set_nonblocking(true).expect("nonblocking");
        let mut sink = sink;
        let text = read_everything(&mut sink, &OwnedFd::from(peer));
        assert_flood_accounted(&text, pushed, dropped);
    }

    #[test]
    fn a_backlog_taken_over_is_written_first_with_its_count() {
        // The old sink: a pipe nobody reads, a queue that overflowed.
        let (old_r, old_w) = small_pipe();
        let mut old = ConsoleSink::new(old_w, 2048);
        let mut pushed = 0u64;
        while old.dropped() < 10 {
            old.push(&record("flood", &format!("line {pushed:07}")))
                .expect("push");
            pushed += 1;
        }
        // What the old pipe took (it may end in the middle of a line).
        let mut text = String::from_utf8(read_available(&old_r)).expect("utf8");
        let backlog = old.backlog();
        assert!(backlog.written > 0 || !backlog.messages.is_empty());

        let (new_r, new_w) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).expect("pipe");
        let mut new = ConsoleSink::new(new_w, 2048);
        new.set_deferred(true);
        // A line the new sink queued before it took the backlog over.
        new.push(&record("flood", &format!("line {pushed:07}")))
            .expect("push");
        new.take_over(backlog);
        text.push_str(&read_everything(&mut new, &new_r));

        let lines: Vec<&str> = text.lines().collect();
        let last = format!("flood: line {pushed:07}");
        assert_eq!(lines.last().copied(), Some(last.as_str()), "{lines:?}");
        let notice = lines.len().checked_sub(2).and_then(|i| lines.get(i));
        assert_eq!(notice.copied(), Some("vigil: 10 lines dropped"));
        let delivered: Vec<u64> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("flood: line "))
            .map(|n| n.parse().expect("a whole line"))
            .collect();
        assert_eq!(delivered.len() as u64 + 10, pushed + 1);
        assert!(
            delivered
                .iter()
                .rev()
                .skip(1)
                .rev()
                .copied()
                .eq(0..delivered.len() as u64 - 1)
        );
        assert_eq!(new.dropped(), 10);
    }

    #[test]
    fn a_failing_sinks_count_and_cut_line_go_to_the_sink_that_takes_over() {
        let fifo = Fifo::new("backlog-cut");
        let reader = fifo.reader();
        let mut old = FileSink::new(fifo.writer(), DEFAULT_QUEUE_BYTES);
        old.push(&record("u", &"x".repeat(6000))).expect("push");
        drop(reader);
        for i in 0..3 {
            old.push(&record("u", &format!("lost {i}")))
                .expect_err("EPIPE");
        }
        assert!(matches!(
            old.take_state_change(),
            Some(SinkHealth::Failing { .. })
        ));
        let backlog = old.backlog();
        assert!(backlog.cut);
        assert_eq!(backlog.unreported, 4);

        // The same file, written by the next image of the manager.
        let reader = fifo.reader();
        let mut new = FileSink::new(fifo.writer(), DEFAULT_QUEUE_BYTES);
        new.take_over(backlog);
        new.push(&record("u", "after")).expect("push");
        let text = read_everything(&mut new, &reader);
        let change = new.take_state_change();
        assert!(
            matches!(
                change,
                Some(SinkHealth::Working {
                    sink: "file",
                    dropped: 4
                })
            ),
            "{change:?}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{:?}", text.replace(&"x".repeat(64), "x"));
        assert!(lines.first().is_some_and(|l| l.ends_with('x')));
        assert!(
            lines
                .get(1)
                .is_some_and(|l| l.ends_with("Z vigil: 4 lines dropped")),
            "{lines:?}"
        );
        assert_eq!(
            lines.get(2).copied(),
            Some("2024-02-29T23:59:59.000042Z u[42]: after")
        );
        assert_eq!(new.dropped(), 4);
    }

    #[test]
    fn a_new_file_gets_whole_the_line_the_old_one_has_a_part_of() {
        let fifo = Fifo::new("backlog-new-file");
        let _reader = fifo.reader();
        let mut old = FileSink::new(fifo.writer(), DEFAULT_QUEUE_BYTES);
        let long = "x".repeat(6000);
        old.push(&record("u", &long)).expect("push");
        old.push(&record("u", "queued")).expect("push");
        let backlog = old.backlog();
        assert!(
            backlog.written > 0,
            "the old file has part of the long line"
        );
        let backlog = backlog.for_new_file();
        assert_eq!((backlog.written, backlog.cut), (0, false));

        let (r, w) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).expect("pipe");
        let mut new = FileSink::new(w, DEFAULT_QUEUE_BYTES);
        new.take_over(backlog);
        let text = read_everything(&mut new, &r);
        let head = "2024-02-29T23:59:59.000042Z u[42]: ";
        assert_eq!(text, format!("{head}{long}\n{head}queued\n"));
        assert_eq!(new.dropped(), 0);
    }

    #[test]
    fn a_new_file_gets_the_count_of_a_failing_one_first() {
        let mut old = full_disk();
        old.push(&record("u", "lost")).expect_err("ENOSPC");
        let backlog = old.backlog().for_new_file();
        let (r, w) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).expect("pipe");
        let mut new = FileSink::new(w, DEFAULT_QUEUE_BYTES);
        new.set_deferred(true);
        new.push(&record("u", "after")).expect("push");
        new.take_over(backlog);
        let text = read_everything(&mut new, &r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        assert!(
            lines
                .first()
                .is_some_and(|l| l.ends_with("Z vigil: 1 lines dropped")),
            "{text:?}"
        );
        assert_eq!(
            lines.get(1).copied(),
            Some("2024-02-29T23:59:59.000042Z u[42]: after")
        );
    }

    #[test]
    fn console_on_stdout_borrows_it() {
        // The manager's stdout is borrowed, never owned: dropping the sink must
        // leave fd 1 open.
        // `Stdout` is itself `AsFd`, so a sink can hold it for as long as it likes.
        let sink = ConsoleSink::new(std::io::stdout(), 16);
        assert_eq!(sink.as_fd().as_raw_fd(), 1);
        drop(sink);
        assert!(rustix::fs::fstat(std::io::stdout()).is_ok());
    }

    #[test]
    fn timestamps() {
        let t = |s: u64| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(t(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(t(951_782_400), "2000-02-29T00:00:00.000000Z");
        assert_eq!(t(1_709_251_199), "2024-02-29T23:59:59.000000Z");
        assert_eq!(t(1_234_567_890), "2009-02-13T23:31:30.000000Z");
        assert_eq!(t(4_102_444_800), "2100-01-01T00:00:00.000000Z");
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(rfc3339_utc(before), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH + Duration::from_nanos(1_999)),
            "1970-01-01T00:00:00.000001Z"
        );
    }

    #[test]
    fn truncation_respects_characters() {
        let mut s = "aé".to_string();
        truncate_at_char(&mut s, 2);
        assert_eq!(s, "a");
        let mut s = "abc".to_string();
        truncate_at_char(&mut s, 5);
        assert_eq!(s, "abc");
    }
}
