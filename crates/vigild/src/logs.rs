//! Service logs in the manager: the per-unit pipes, reading them, the store of
//! recent lines, and the sinks lines are copied to.
//!
//! Each process that logs through vigild gets a pipe for its stdout and one for
//! its stderr. The manager keeps only the read ends and reads until EOF, so the
//! lines of a process that outlives its unit's restart still arrive, and no
//! descriptor is held for a process that is gone.

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use vigil_log::{ConsoleSink, FileSink, KmsgSink, LineSplitter, LogStore, Record, Sink, Stream};
use vigil_platform::{Epoll, Interest};
use vigil_proto::LogLine;
use vigil_units::Output;

use crate::daemon::token;
use crate::options::{Options, SinkSpec};

/// The longest line kept whole; longer ones are split.
const MAX_LINE: usize = 4096;
/// How much is read from one pipe per wake-up, so one flooding service cannot
/// starve the others: epoll is level-triggered and comes back for the rest.
const READ_BUDGET: usize = 64 * 1024;
/// Bytes a sink may hold back while its fd cannot take more; past that, lines
/// are dropped and counted.
const SINK_QUEUE: usize = 1024 * 1024;

struct Pipe {
    unit: Arc<str>,
    stream: Stream,
    read: OwnedFd,
    splitter: LineSplitter,
    /// Where lines go besides the ring.
    console: bool,
    kmsg: bool,
}

pub(crate) struct Logs {
    store: LogStore,
    /// Open pipes, by slot: the slot number is the epoll token, and freed slots
    /// are reused (a slab is a third of a hash map's size at 2,000 pipes).
    pipes: Vec<Option<Pipe>>,
    free_slots: Vec<usize>,
    names: HashSet<Arc<str>>,
    /// Sinks by index.
    sinks: Vec<Box<dyn Sink>>,
    /// `--log-to console` / `kmsg`: every unit's lines go there, not only those
    /// of units that ask for it (`StandardOutput=kmsg`, `log: stdout`).
    console_all: bool,
    kmsg_all: bool,
    /// `--log-to file:`: every unit's lines.
    files: Vec<usize>,
    console: Option<usize>,
    kmsg: Option<usize>,
    /// vigild's own messages: its stderr, non-blocking with a bounded queue like
    /// every sink, so a stderr nobody reads never stops the manager.
    stderr: Option<usize>,
    watched: Vec<bool>,
    /// The name vigild's own lines carry on stderr (`vigild: ...`).
    me: Arc<str>,
}

impl Logs {
    pub fn new(opts: &Options) -> anyhow::Result<Logs> {
        let mut logs = Logs {
            store: LogStore::new(opts.ring_size),
            pipes: Vec::new(),
            free_slots: Vec::new(),
            names: HashSet::new(),
            sinks: Vec::new(),
            console_all: false,
            kmsg_all: false,
            files: Vec::new(),
            console: None,
            kmsg: None,
            stderr: None,
            watched: Vec::new(),
            me: Arc::from("vigild"),
        };
        // Without a usable fd 2 the messages are dropped; the rings still have them.
        if let Ok(fd) = vigil_log::sink::console_fd(std::io::stderr().as_fd()) {
            logs.stderr = Some(logs.add_sink(Box::new(ConsoleSink::new(fd, SINK_QUEUE))));
        }
        for spec in &opts.sinks {
            match spec {
                SinkSpec::Console => {
                    logs.console_sink()?;
                    logs.console_all = true;
                }
                // /dev/kmsg is used when it is writable (seed 002); without it
                // the manager still runs, and says so.
                SinkSpec::Kmsg => match logs.kmsg_sink() {
                    Ok(_) => logs.kmsg_all = true,
                    Err(e) => logs.manager_stderr(format!("warning: --log-to kmsg: {e:#}")),
                },
                SinkSpec::File(path) => {
                    let sink = FileSink::open(path, SINK_QUEUE)
                        .with_context(|| format!("opening the log file {}", path.display()))?;
                    let i = logs.add_sink(Box::new(sink));
                    logs.files.push(i);
                }
            }
        }
        Ok(logs)
    }

    fn console_sink(&mut self) -> anyhow::Result<usize> {
        if let Some(i) = self.console {
            return Ok(i);
        }
        let fd = vigil_log::sink::console_fd(std::io::stdout().as_fd())
            .context("setting up the console log sink")?;
        let sink = ConsoleSink::new(fd, SINK_QUEUE);
        let i = self.add_sink(Box::new(sink));
        self.console = Some(i);
        Ok(i)
    }

    fn kmsg_sink(&mut self) -> anyhow::Result<usize> {
        if let Some(i) = self.kmsg {
            return Ok(i);
        }
        let sink = KmsgSink::open(std::path::Path::new("/dev/kmsg"), SINK_QUEUE)
            .context("opening /dev/kmsg")?;
        let i = self.add_sink(Box::new(sink));
        self.kmsg = Some(i);
        Ok(i)
    }

    /// A new pipe for one stream of one process of `unit`; returns the write end
    /// for the child. The manager keeps only the read end, so the pipe ends (EOF)
    /// when the last process writing to it is gone, and a manager with a thousand
    /// services holds one descriptor per stream of a running process, not more:
    /// every descriptor the manager holds is one more that each new child must
    /// close at exec.
    pub fn pipe_for(
        &mut self,
        unit: &str,
        stream: Stream,
        output: &Output,
        epoll: &Epoll,
    ) -> std::io::Result<OwnedFd> {
        let console = matches!(output, Output::Console);
        let kmsg = matches!(output, Output::Kmsg);
        if console {
            let _ = self.console_sink();
        }
        if kmsg {
            let _ = self.kmsg_sink();
        }
        let (read, write) = vigil_platform::log_pipe()?;
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.pipes.push(None);
                self.pipes.len() - 1
            }
        };
        if let Err(e) = epoll.add(
            read.as_fd(),
            token::LOG_PIPE | slot as u64,
            Interest::READABLE,
        ) {
            self.free_slots.push(slot);
            return Err(e);
        }
        let pipe = Pipe {
            unit: intern(&mut self.names, unit),
            stream,
            read,
            splitter: LineSplitter::new(MAX_LINE),
            console,
            kmsg,
        };
        if let Some(entry) = self.pipes.get_mut(slot) {
            *entry = Some(pipe);
        }
        Ok(write)
    }

    /// Reads what a pipe has (up to a budget) and files every complete line.
    pub fn on_readable(&mut self, idx: u64, epoll: &Epoll) {
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0;
        let mut lines = Vec::new();
        let slot = idx as usize;
        let Some(Some(pipe)) = self.pipes.get_mut(slot) else {
            return;
        };
        let mut ended = false;
        while total < READ_BUDGET {
            match vigil_platform::read_nonblocking(pipe.read.as_fd(), &mut buf) {
                Ok(None) => break,
                // Every writer is gone (or the pipe broke): file the last partial
                // line and forget the pipe.
                Ok(Some(0)) | Err(_) => {
                    ended = true;
                    lines.extend(pipe.splitter.flush());
                    break;
                }
                Ok(Some(n)) => {
                    total += n;
                    pipe.splitter
                        .feed(buf.get(..n).unwrap_or_default(), &mut |l| lines.push(l));
                }
            }
        }
        let (unit, stream, console, kmsg) =
            (pipe.unit.clone(), pipe.stream, pipe.console, pipe.kmsg);
        if ended && let Some(pipe) = self.pipes.get_mut(slot).and_then(Option::take) {
            let _ = epoll.delete(pipe.read.as_fd());
            self.free_slots.push(slot);
        }
        for line in lines {
            let record = Record {
                time: SystemTime::now(),
                unit: unit.clone(),
                stream,
                pid: 0,
                line,
            };
            self.file(record, console, kmsg);
        }
    }

    /// Every sink only queues when a line is pushed; [`Logs::flush`] writes the
    /// queues out once per turn of the event loop.
    fn add_sink(&mut self, mut sink: Box<dyn Sink>) -> usize {
        sink.set_deferred(true);
        self.sinks.push(sink);
        self.watched.push(false);
        self.sinks.len() - 1
    }

    /// Writes what every sink has queued, as far as its fd takes it now, and
    /// watches for writability where something is left.
    pub fn flush(&mut self, epoll: &Epoll) {
        for i in 0..self.sinks.len() {
            if let Some(sink) = self.sinks.get_mut(i)
                && sink.queued() > 0
            {
                let _ = sink.on_writable();
                self.watch(i, epoll);
            }
        }
    }

    /// One of vigild's own messages, to its stderr (as `vigild: text`).
    pub fn manager_stderr(&mut self, text: String) {
        let Some(i) = self.stderr else {
            return;
        };
        let record = Record {
            time: SystemTime::now(),
            unit: self.me.clone(),
            stream: Stream::Manager,
            pid: 0,
            line: text,
        };
        // Written by the next flush, at the end of this turn of the loop.
        if let Some(sink) = self.sinks.get_mut(i) {
            let _ = sink.push(&record);
        }
    }

    /// A line of the manager's own about a unit (state changes, exits).
    pub fn manager_line(&mut self, unit: &str, message: &str) {
        let record = Record {
            time: SystemTime::now(),
            unit: intern(&mut self.names, unit),
            stream: Stream::Manager,
            pid: 0,
            line: message.to_string(),
        };
        self.store.push(record);
    }

    /// Keeps a service's line in its ring and copies it to the sinks it goes to.
    fn file(&mut self, record: Record, console: bool, kmsg: bool) {
        let console = self.console.filter(|_| console || self.console_all);
        let kmsg = self.kmsg.filter(|_| kmsg || self.kmsg_all);
        for i in self.files.iter().copied().chain(console).chain(kmsg) {
            if let Some(sink) = self.sinks.get_mut(i) {
                // A sink that failed hard (its reader went away) has counted its
                // losses; the ring still has the line.
                let _ = sink.push(&record);
            }
        }
        self.store.push(record);
    }

    /// Registers a sink for writability while it has a backlog, and only then.
    fn watch(&mut self, i: usize, epoll: &Epoll) {
        let (Some(sink), Some(watched)) = (self.sinks.get(i), self.watched.get_mut(i)) else {
            return;
        };
        let want = sink.wants_writable();
        if want == *watched {
            return;
        }
        let res = if want {
            epoll.add(sink.as_fd(), token::SINK | i as u64, Interest::WRITABLE)
        } else {
            epoll.delete(sink.as_fd())
        };
        if res.is_ok() {
            *watched = want;
        }
    }

    pub fn on_sink_writable(&mut self, i: u64, epoll: &Epoll) {
        let i = i as usize;
        if let Some(sink) = self.sinks.get_mut(i) {
            let _ = sink.on_writable();
        }
        self.watch(i, epoll);
    }

    pub fn last_seq(&self) -> u64 {
        self.store.last_seq()
    }

    /// The last `n` lines of a unit, or of every unit interleaved by time.
    pub fn tail(&self, unit: Option<&str>, n: usize) -> Vec<LogLine> {
        let entries = match unit {
            Some(u) => self.store.tail(u, n),
            None => self.store.tail_all(n),
        };
        entries.into_iter().map(|e| to_line(&e.record)).collect()
    }

    /// Lines after `seq` (of one unit or all), and the new position.
    pub fn since(&self, unit: Option<&str>, seq: u64) -> (Vec<LogLine>, u64) {
        let since = self.store.since(unit, seq);
        let last = since.entries.last().map(|e| e.seq).unwrap_or(seq);
        let mut lines: Vec<LogLine> = since.entries.iter().map(|e| to_line(&e.record)).collect();
        if since.missed {
            // The follower fell behind the ring: say so on the first line it gets.
            if let Some(first) = lines.first_mut() {
                first.dropped_before = first.dropped_before.max(1);
            }
        }
        (lines, last)
    }
}

/// The unit's name as shared by every record of the unit, allocated once.
fn intern(names: &mut HashSet<Arc<str>>, unit: &str) -> Arc<str> {
    if let Some(name) = names.get(unit) {
        return name.clone();
    }
    let name: Arc<str> = Arc::from(unit);
    names.insert(name.clone());
    name
}

fn to_line(r: &Record) -> LogLine {
    LogLine {
        time_us: r
            .time
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_micros() as u64,
        unit: r.unit.to_string(),
        stream: match r.stream {
            Stream::Manager => "vigil".into(),
            s => s.name().into(),
        },
        line: r.line.clone(),
        dropped_before: 0,
    }
}
