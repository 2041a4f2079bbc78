//! Service logs in the manager: the per-unit pipes, reading them, the store of
//! recent lines, and the sinks lines are copied to.
//!
//! Each unit that logs through vigild gets one pipe for stdout and one for
//! stderr, created at its first start and kept for its lifetime, so lines
//! written by a process that outlives a restart still arrive. The manager keeps
//! the write ends to hand them to each new process.

use std::collections::HashMap;
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

struct UnitPipes {
    stdout: Option<(u64, OwnedFd)>,
    stderr: Option<(u64, OwnedFd)>,
}

pub(crate) struct Logs {
    store: LogStore,
    pipes: HashMap<u64, Pipe>,
    by_unit: HashMap<String, UnitPipes>,
    next_pipe: u64,
    /// Sinks by index; the global ones from `--log-to` are flagged.
    sinks: Vec<Box<dyn Sink>>,
    global_console: Option<usize>,
    global_kmsg: Option<usize>,
    global_files: Vec<usize>,
    console: Option<usize>,
    kmsg: Option<usize>,
    watched: Vec<bool>,
}

impl Logs {
    pub fn new(opts: &Options) -> anyhow::Result<Logs> {
        let mut logs = Logs {
            store: LogStore::new(opts.ring_size),
            pipes: HashMap::new(),
            by_unit: HashMap::new(),
            next_pipe: 1,
            sinks: Vec::new(),
            global_console: None,
            global_kmsg: None,
            global_files: Vec::new(),
            console: None,
            kmsg: None,
            watched: Vec::new(),
        };
        for spec in &opts.sinks {
            match spec {
                SinkSpec::Console => logs.global_console = Some(logs.console_sink()?),
                SinkSpec::Kmsg => logs.global_kmsg = Some(logs.kmsg_sink()?),
                SinkSpec::File(path) => {
                    let sink = FileSink::open(path, SINK_QUEUE)
                        .with_context(|| format!("opening the log file {}", path.display()))?;
                    logs.sinks.push(Box::new(sink));
                    logs.watched.push(false);
                    logs.global_files.push(logs.sinks.len() - 1);
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
        self.sinks.push(Box::new(sink));
        self.watched.push(false);
        self.console = Some(self.sinks.len() - 1);
        Ok(self.sinks.len() - 1)
    }

    fn kmsg_sink(&mut self) -> anyhow::Result<usize> {
        if let Some(i) = self.kmsg {
            return Ok(i);
        }
        let sink = KmsgSink::open(std::path::Path::new("/dev/kmsg"), SINK_QUEUE)
            .context("opening /dev/kmsg")?;
        self.sinks.push(Box::new(sink));
        self.watched.push(false);
        self.kmsg = Some(self.sinks.len() - 1);
        Ok(self.sinks.len() - 1)
    }

    /// The write end of the unit's pipe for `stream`, created on first use.
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
        let entry = self.by_unit.entry(unit.to_string()).or_insert(UnitPipes {
            stdout: None,
            stderr: None,
        });
        let slot = match stream {
            Stream::Stderr => &mut entry.stderr,
            _ => &mut entry.stdout,
        };
        if slot.is_none() {
            let (read, write) = vigil_platform::pipe_cloexec()?;
            vigil_platform::set_nonblocking(read.as_fd(), true)?;
            let idx = self.next_pipe;
            self.next_pipe += 1;
            epoll.add(read.as_fd(), token::LOG_PIPE | idx, Interest::READABLE)?;
            self.pipes.insert(
                idx,
                Pipe {
                    unit: Arc::from(unit),
                    stream,
                    read,
                    splitter: LineSplitter::new(MAX_LINE),
                    console,
                    kmsg,
                },
            );
            *slot = Some((idx, write));
        }
        if let Some((idx, _)) = slot {
            // The unit's Standard* may have changed since the pipe was made (sync).
            if let Some(p) = self.pipes.get_mut(idx) {
                p.console = console;
                p.kmsg = kmsg;
            }
        }
        // A duplicate for the child, closed once it is spawned: the manager's own
        // write end stays for the next process of the unit.
        match slot {
            Some((_, write)) => write.try_clone(),
            None => Err(std::io::Error::other("log pipe missing")),
        }
    }

    /// Reads what a pipe has (up to a budget) and files every complete line.
    pub fn on_readable(&mut self, idx: u64, epoll: &Epoll) {
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0;
        let mut lines = Vec::new();
        let Some(pipe) = self.pipes.get_mut(&idx) else {
            return;
        };
        while total < READ_BUDGET {
            match vigil_platform::read_nonblocking(pipe.read.as_fd(), &mut buf) {
                Ok(Some(0)) | Ok(None) | Err(_) => break,
                Ok(Some(n)) => {
                    total += n;
                    pipe.splitter
                        .feed(buf.get(..n).unwrap_or_default(), &mut |l| lines.push(l));
                }
            }
        }
        let (unit, stream, console, kmsg) =
            (pipe.unit.clone(), pipe.stream, pipe.console, pipe.kmsg);
        for line in lines {
            let record = Record {
                time: SystemTime::now(),
                unit: unit.clone(),
                stream,
                pid: 0,
                line,
            };
            self.file(record, console, kmsg, epoll);
        }
    }

    /// A line of the manager's own about a unit (state changes, exits).
    pub fn manager_line(&mut self, unit: &str, message: &str, epoll: &Epoll) {
        let record = Record {
            time: SystemTime::now(),
            unit: Arc::from(unit),
            stream: Stream::Manager,
            pid: 0,
            line: message.to_string(),
        };
        self.store.push(record);
        let _ = epoll;
    }

    fn file(&mut self, record: Record, console: bool, kmsg: bool, epoll: &Epoll) {
        let mut targets: Vec<usize> = self.global_files.clone();
        if let Some(i) = self.global_console.filter(|_| true) {
            targets.push(i);
        } else if console {
            targets.extend(self.console);
        }
        if let Some(i) = self.global_kmsg {
            targets.push(i);
        } else if kmsg {
            targets.extend(self.kmsg);
        }
        targets.dedup();
        for i in targets {
            if let Some(sink) = self.sinks.get_mut(i) {
                // A sink that failed hard (its reader went away) has counted its
                // losses; the ring still has the line.
                let _ = sink.push(&record);
            }
            self.watch(i, epoll);
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
