//! Service logs in the manager: the per-unit pipes, reading them, the store of
//! recent lines, and the sinks lines are copied to.
//!
//! Each process that logs through vigild gets a pipe for its stdout and one for
//! its stderr. The manager keeps only the read ends and reads until EOF, so the
//! lines of a process that outlives its unit's restart still arrive, and no
//! descriptor is held for a process that is gone.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use vigil_log::sink::Kind;
use vigil_log::{
    Backlog, ConsoleSink, FileSink, KmsgSink, LineSplitter, LogStore, Record, Sink, Stream,
};
use vigil_platform::{Epoll, Interest};
use vigil_proto::LogLine;
use vigil_units::Output;
use vigil_units::glob::Pattern;

use crate::daemon::token;
use crate::options::{Options, SinkSpec};

/// The longest line kept whole; longer ones are split.
const MAX_LINE: usize = 4096;
/// How much is read from one pipe per wake-up, so one flooding service cannot
/// starve the others: epoll is level-triggered and comes back for the rest.
const READ_BUDGET: usize = 64 * 1024;
/// What a line costs a ring besides its text (vigil-log's `Record::cost`):
/// while `vigil log -f` follows, one read is at most the ring's size over
/// this, so that even empty lines cannot overflow the ring before they are
/// sent (each byte read ends at most one line).
const RING_COST_PER_LINE: usize = size_of::<vigil_log::Entry>();
/// At exit, at most this many budgets are read from each pipe.
const EXIT_DRAIN_ROUNDS: usize = 16;
/// Bytes a sink may hold back while its fd cannot take more; past that, lines
/// are dropped and counted.
const SINK_QUEUE: usize = 1024 * 1024;
/// In a container, where the console is the log: past this much queued for the
/// console, the pipes whose lines go there are not read until it is down to
/// `CONSOLE_RESUME`. Room is left for the read that crosses the mark (a read
/// budget, its lines prefixed with the unit's name).
const CONSOLE_HOLD: usize = SINK_QUEUE / 2;
const CONSOLE_RESUME: usize = SINK_QUEUE / 8;

struct Pipe {
    /// Numbers pipes for the hand-over to the next manager (slots are reused).
    id: u64,
    /// The name vigil-init keeps the read end under, when it keeps it.
    stored: Option<String>,
    unit: Arc<str>,
    stream: Stream,
    read: OwnedFd,
    splitter: LineSplitter,
    /// Where lines go besides the ring.
    console: bool,
    kmsg: bool,
    /// Registered with epoll: not while the console is held.
    watched: bool,
}

pub(crate) struct Logs {
    store: LogStore,
    /// Open pipes, by slot: the slot number is the epoll token, and freed slots
    /// are reused (a slab is a third of a hash map's size at 2,000 pipes).
    pipes: Vec<Option<Pipe>>,
    free_slots: Vec<usize>,
    /// Sinks by index.
    sinks: Vec<Box<dyn Sink>>,
    /// Bytes each unit's ring keeps (`--log-ring-size`).
    ring_size: usize,
    /// `--log-to console` / `kmsg`: every unit's lines go there, not only those
    /// of units that ask for it (`StandardOutput=kmsg`, `log: stdout`).
    console_all: bool,
    /// In a container the console is the log that counts (`docker logs`): a
    /// reader that falls behind slows the services down, as under tini, instead
    /// of losing their lines. Elsewhere a slow console (a serial line) drops.
    hold_console: bool,
    /// The console's pipes are not being read now (`CONSOLE_HOLD`).
    console_held: bool,
    /// Released, but a pipe could not be watched again: retried each turn.
    rewatch: bool,
    kmsg_all: bool,
    /// `--log-to file:`: every unit's lines.
    /// The file sinks: index into `sinks`, and the path (opened again at
    /// SIGHUP, after a log rotation).
    files: Vec<(usize, std::path::PathBuf)>,
    /// File sinks that could not be opened at start (a log directory not
    /// mounted yet): tried again at each SIGHUP.
    unopened: Vec<std::path::PathBuf>,
    console: Option<usize>,
    kmsg: Option<usize>,
    /// vigild's own messages: its stderr, non-blocking with a bounded queue like
    /// every sink, so a stderr nobody reads never stops the manager.
    stderr: Option<usize>,
    watched: Vec<bool>,
    /// The name vigild's own lines carry on stderr (`vigild: ...`).
    me: Arc<str>,
    /// `SyslogIdentifier=` of the units that set one: their lines carry it
    /// instead of the unit name in the sinks and in `vigil log`. Kept here, per
    /// unit, rather than in every record of the rings.
    tags: HashMap<Arc<str>, Arc<str>>,
    next_pipe_id: u64,
    /// With vigil-init: every read end is also kept in its fd store, so a
    /// crash of the manager neither closes a pipe (a service writing would
    /// die of SIGPIPE) nor loses what is in it. Changes wait here until the
    /// daemon sends them, before the service that writes to the pipe starts.
    keep_in_store: bool,
    pub store_changes: Vec<StoreChange>,
    /// Sinks that began to fail or work again, to be reported.
    health: Vec<(bool, String)>,
}

/// A change to vigil-init's fd store that the daemon has to send.
pub(crate) enum StoreChange {
    /// Keep the read end of the pipe at this slot (with its id) under the name.
    Add {
        slot: usize,
        id: u64,
        name: String,
    },
    Remove {
        name: String,
    },
}

/// A log pipe as the next manager needs it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedPipe {
    pub id: u64,
    pub unit: String,
    /// "stdout" or "stderr".
    pub stream: String,
    #[serde(default)]
    pub console: bool,
    #[serde(default)]
    pub kmsg: bool,
    /// vigil-init's name for it, when it keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
    /// At `vigil reexec` only: the descriptor left open across exec, and the
    /// unfinished line read so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial: Vec<u8>,
}

/// What a sink had not written yet when the manager re-executed itself
/// (`vigil reexec`): the next image's sink of the same name writes it on,
/// before any line it reads itself. The queued bytes travel in a memfd
/// (`start` is where this sink's begin); the rest is in the state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedSink {
    /// `stderr`, `console`, `kmsg` or `file:PATH`.
    pub name: String,
    pub start: usize,
    #[serde(flatten)]
    pub backlog: Backlog,
    /// A file sink's file (device, inode): a file renamed away meanwhile
    /// is not the one the next image opens.
    #[serde(default)]
    pub file: Option<(u64, u64)>,
}

/// The (device, inode) of the file `fd` is open on.
fn file_id(fd: std::os::fd::BorrowedFd<'_>) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// vigil-init's name for a log pipe: `log:ID:o|e:UNIT`, or without the unit
/// when the name would pass the store's 64 bytes (the state names it then).
pub(crate) fn store_name(id: u64, stream: Stream, unit: &str) -> String {
    let s = if stream == Stream::Stderr { 'e' } else { 'o' };
    let long = format!("log:{id}:{s}:{unit}");
    if long.len() <= 64 && long.bytes().all(|b| b.is_ascii_graphic()) {
        long
    } else {
        format!("log:{id}:{s}")
    }
}

/// The parts of a log pipe's store name: id, stream, unit when present.
pub(crate) fn parse_store_name(name: &str) -> Option<(u64, Stream, Option<&str>)> {
    let rest = name.strip_prefix("log:")?;
    let mut parts = rest.splitn(3, ':');
    let id = parts.next()?.parse().ok()?;
    let stream = match parts.next()? {
        "o" => Stream::Stdout,
        "e" => Stream::Stderr,
        _ => return None,
    };
    Some((id, stream, parts.next()))
}

impl Logs {
    pub fn new(opts: &Options) -> anyhow::Result<Logs> {
        let mut logs = Logs {
            store: LogStore::new(opts.ring_size),
            ring_size: opts.ring_size,
            pipes: Vec::new(),
            free_slots: Vec::new(),
            sinks: Vec::new(),
            console_all: false,
            hold_console: opts.container,
            console_held: false,
            rewatch: false,
            kmsg_all: false,
            files: Vec::new(),
            unopened: Vec::new(),
            console: None,
            kmsg: None,
            stderr: None,
            watched: Vec::new(),
            me: Arc::from("vigild"),
            tags: HashMap::new(),
            next_pipe_id: 1,
            keep_in_store: false,
            store_changes: Vec::new(),
            health: Vec::new(),
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
                // A file that cannot be opened (its directory gone, a disk
                // remounted read-only) costs that sink only: the manager must
                // run, after a `vigil reexec` above all, when it has just
                // taken every service over.
                SinkSpec::File(path) => match FileSink::open(path, SINK_QUEUE) {
                    Ok(sink) => {
                        let i = logs.add_sink(Box::new(sink));
                        logs.files.push((i, path.clone()));
                    }
                    Err(e) => {
                        logs.manager_stderr(format!(
                            "warning: --log-to file:{}: {:#}: its lines are kept in the rings \
                             only until it opens (tried again at SIGHUP)",
                            path.display(),
                            anyhow::Error::new(e)
                        ));
                        logs.unopened.push(path.clone());
                    }
                },
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
        let id = self.next_pipe_id;
        self.next_pipe_id += 1;
        let slot = self.add_pipe(id, unit, stream, read, console, kmsg, &[], epoll)?;
        if self.keep_in_store {
            let name = store_name(id, stream, unit);
            if let Some(Some(pipe)) = self.pipes.get_mut(slot) {
                pipe.stored = Some(name.clone());
            }
            self.store_changes.push(StoreChange::Add { slot, id, name });
        }
        Ok(write)
    }

    /// Watches a read end and files what comes out of it under `unit`;
    /// `partial` is an unfinished line read before (by a previous manager).
    #[allow(clippy::too_many_arguments)]
    fn add_pipe(
        &mut self,
        id: u64,
        unit: &str,
        stream: Stream,
        read: OwnedFd,
        console: bool,
        kmsg: bool,
        partial: &[u8],
        epoll: &Epoll,
    ) -> std::io::Result<usize> {
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
        let mut splitter = LineSplitter::new(MAX_LINE);
        // Lines cannot complete here: the predecessor filed every whole one.
        splitter.feed(partial, &mut |_| {});
        let mut pipe = Pipe {
            id,
            stored: None,
            unit: self.store.intern(unit),
            stream,
            read,
            splitter,
            console,
            kmsg,
            watched: true,
        };
        if self.console_held && Logs::to_console(self.console, self.console_all, &pipe) {
            let _ = epoll.delete(pipe.read.as_fd());
            pipe.watched = false;
        }
        if let Some(entry) = self.pipes.get_mut(slot) {
            *entry = Some(pipe);
        }
        Ok(slot)
    }

    /// From now on, every new pipe's read end is also kept by vigil-init.
    pub fn keep_pipes_in_store(&mut self) {
        self.keep_in_store = true;
    }

    /// The read end of the pipe at `slot`, if it is still the pipe `id`.
    pub fn read_end(&self, slot: usize, id: u64) -> Option<std::os::fd::BorrowedFd<'_>> {
        match self.pipes.get(slot) {
            Some(Some(p)) if p.id == id => Some(p.read.as_fd()),
            _ => None,
        }
    }

    /// Takes over a pipe a previous manager read from.
    pub fn adopt_pipe(&mut self, saved: &SavedPipe, read: OwnedFd, epoll: &Epoll) {
        let stream = if saved.stream == "stderr" {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        if saved.console {
            let _ = self.console_sink();
        }
        if saved.kmsg {
            let _ = self.kmsg_sink();
        }
        self.next_pipe_id = self.next_pipe_id.max(saved.id + 1);
        let added = self.add_pipe(
            saved.id,
            &saved.unit,
            stream,
            read,
            saved.console,
            saved.kmsg,
            &saved.partial,
            epoll,
        );
        match added {
            Ok(slot) => {
                if let Some(Some(pipe)) = self.pipes.get_mut(slot) {
                    pipe.stored = saved.stored.clone();
                }
            }
            Err(e) => self.manager_stderr(format!(
                "error: {}: cannot watch its {} pipe again: {e}",
                saved.unit, saved.stream
            )),
        }
    }

    /// Every open pipe, for the state the next manager reads. With
    /// `for_exec`, each read end is left open across exec (its number is in
    /// the state) and its unfinished line is taken along.
    pub fn save_pipes(&mut self, for_exec: bool) -> Vec<SavedPipe> {
        let mut out = Vec::new();
        for pipe in self.pipes.iter_mut().flatten() {
            let mut saved = SavedPipe {
                id: pipe.id,
                unit: pipe.unit.to_string(),
                stream: pipe.stream.name().to_string(),
                console: pipe.console,
                kmsg: pipe.kmsg,
                stored: pipe.stored.clone(),
                fd: None,
                partial: Vec::new(),
            };
            if for_exec && vigil_platform::set_cloexec(&pipe.read, false).is_ok() {
                use std::os::fd::AsRawFd;
                saved.fd = Some(pipe.read.as_raw_fd());
                // A copy: should the exec fail, this image goes on with it.
                saved.partial = pipe.splitter.pending_bytes().to_vec();
            }
            out.push(saved);
        }
        out
    }

    /// After a failed re-exec: the read ends are close-on-exec again (their
    /// unfinished lines were only copied for the next image).
    pub fn restore_cloexec(&mut self) {
        for pipe in self.pipes.iter().flatten() {
            let _ = vigil_platform::set_cloexec(&pipe.read, true);
        }
    }

    /// Every sink with its name in the state (`SavedSink::name`).
    fn sink_names(&self) -> Vec<(usize, String)> {
        let fixed = [
            (self.stderr, "stderr"),
            (self.console, "console"),
            (self.kmsg, "kmsg"),
        ];
        let fixed = fixed
            .into_iter()
            .filter_map(|(i, name)| Some((i?, name.to_string())));
        let files = self
            .files
            .iter()
            .map(|(i, path)| (*i, format!("file:{}", path.display())));
        fixed.chain(files).collect()
    }

    /// For `vigil reexec`: what every sink has not written yet, and the bytes
    /// it queued (one after another, each sink's from its `start`). Copies:
    /// should the exec fail, the sinks go on with it.
    pub fn save_sinks(&self) -> (Vec<SavedSink>, Vec<u8>) {
        let mut saved = Vec::new();
        let mut bytes = Vec::new();
        for (i, name) in self.sink_names() {
            let Some(sink) = self.sinks.get(i) else {
                continue;
            };
            let mut backlog = sink.backlog();
            let file = name
                .starts_with("file:")
                .then(|| file_id(sink.as_fd()))
                .flatten();
            let start = bytes.len();
            bytes.append(&mut backlog.bytes);
            saved.push(SavedSink {
                name,
                start,
                backlog,
                file,
            });
        }
        (saved, bytes)
    }

    /// After `vigil reexec`, before any pipe is read: each sink takes on what
    /// the one of the same name in the previous image had not written, so it
    /// comes out first and in order, with its count of dropped lines. `bytes`
    /// is what the previous image queued, or why it could not be read. A
    /// sink that is not there now (a file that does not open) says what it
    /// loses.
    pub fn restore_sinks(&mut self, saved: Vec<SavedSink>, bytes: std::io::Result<Vec<u8>>) {
        for sink in saved {
            let lost = || {
                let backlog = &sink.backlog;
                let lines = (backlog.messages.iter())
                    .filter(|m| m.1 == Kind::Line)
                    .count() as u64;
                lines.saturating_add(backlog.unreported)
            };
            let found = match &bytes {
                Ok(bytes) => self.sink_named(&sink.name).map(|i| (i, bytes)),
                Err(_) => None,
            };
            let Some((i, bytes)) = found else {
                let why = match &bytes {
                    Ok(_) => "the sink is not there any more".to_string(),
                    Err(e) => format!("cannot read them: {e}"),
                };
                let lost = lost();
                if lost > 0 {
                    self.manager_stderr(format!(
                        "warning: the {name} log sink lost {lost} lines queued before the re-exec ({why})",
                        name = sink.name,
                    ));
                }
                continue;
            };
            let mut backlog = sink.backlog;
            let len = (backlog.messages.iter()).fold(0usize, |n, m| n.saturating_add(m.0));
            let end = sink.start.saturating_add(len);
            backlog.bytes = bytes.get(sink.start..end).unwrap_or_default().to_vec();
            let Some(target) = self.sinks.get_mut(i) else {
                continue;
            };
            if sink.file.is_some() && sink.file != file_id(target.as_fd()) {
                backlog = backlog.for_new_file();
            }
            target.take_over(backlog);
        }
        // A console with a full queue again: its pipes wait, as they did.
        self.console_held = self.hold_console && self.console_queued() >= CONSOLE_HOLD;
    }

    /// The sink of that name, made if it is the console or kmsg (made at
    /// start only when a unit writes there).
    fn sink_named(&mut self, name: &str) -> Option<usize> {
        match name {
            "stderr" => self.stderr,
            "console" => self.console_sink().ok(),
            "kmsg" => self.kmsg_sink().ok(),
            _ => {
                let path = name.strip_prefix("file:")?;
                let found = self.files.iter().find(|f| f.1.as_os_str() == path);
                found.map(|f| f.0)
            }
        }
    }

    /// The id the next pipe gets (saved, so ids are never reused).
    pub fn next_pipe_id(&self) -> u64 {
        self.next_pipe_id
    }

    pub fn set_next_pipe_id(&mut self, id: u64) {
        self.next_pipe_id = self.next_pipe_id.max(id);
    }

    /// Every line in the rings, oldest first, for a manager that re-executes
    /// itself; [`Logs::import`] files them again.
    pub fn export(&self) -> Vec<LogLine> {
        // In the order the lines were filed (sequence), not by their wall-clock
        // time: a clock stepped back must not reorder a unit's lines.
        let all = self.store.since(None, 0);
        all.entries
            .iter()
            .map(|e| to_line(&e.record, &self.tags))
            .collect()
    }

    /// Sets or clears the tag of `unit`'s lines (`SyslogIdentifier=`).
    pub fn set_tag(&mut self, unit: &str, tag: Option<&str>) {
        match tag {
            Some(tag) if self.tags.get(unit).is_none_or(|t| &**t != tag) => {
                let unit = self.store.intern(unit);
                self.tags.insert(unit, Arc::from(tag));
            }
            Some(_) => {}
            None => {
                self.tags.remove(unit);
            }
        }
    }

    pub fn import(&mut self, lines: Vec<LogLine>) {
        for l in lines {
            if let Some(tag) = &l.tag {
                self.set_tag(&l.unit, Some(tag));
            }
            let stream = match l.stream.as_str() {
                "stdout" => Stream::Stdout,
                "stderr" => Stream::Stderr,
                _ => Stream::Manager,
            };
            let record = Record {
                time: UNIX_EPOCH + Duration::from_micros(l.time_us),
                unit: self.store.intern(&l.unit),
                stream,
                pid: 0,
                line: l.line,
            };
            self.store.push(record);
        }
    }

    /// Reads what a pipe has (up to a budget) and files every complete line;
    /// returns the bytes read. `followed`: a `vigil log -f` client is
    /// following, and gets the lines after each read: the read is then small
    /// enough that the ring keeps all it files until they are sent (a 64 KiB
    /// read of short lines held more lines than a 64 KiB ring keeps). At
    /// most `max` bytes. Returns the bytes read.
    pub fn on_readable(&mut self, idx: u64, epoll: &Epoll, followed: bool, max: usize) -> usize {
        let budget = match followed {
            true => (self.ring_size / RING_COST_PER_LINE).clamp(256, READ_BUDGET),
            false => READ_BUDGET,
        };
        let read = self.read_pipe(idx, epoll, false, budget.min(max));
        if self.hold_console && !self.console_held && self.console_queued() >= CONSOLE_HOLD {
            self.hold(epoll, true);
        }
        read
    }

    /// The pipes of `unit` that hold something now: their slots (epoll
    /// tokens), and how many bytes each holds.
    pub fn waiting_pipes_of(&self, unit: &str) -> Vec<(u64, usize)> {
        // Each pipe holds its unit's shared name ([`LogStore::intern`]), which
        // the store keeps while anything does: pointers are compared, not the
        // names of every pipe, at each process's end.
        let Some(name) = self.store.interned(unit) else {
            return Vec::new();
        };
        (self.pipes.iter().enumerate())
            .filter_map(|(slot, p)| {
                let p = p.as_ref().filter(|p| Arc::ptr_eq(&p.unit, name))?;
                let n = vigil_platform::bytes_waiting(p.read.as_fd());
                (n > 0).then_some((slot as u64, n))
            })
            .collect()
    }

    /// Whether the lines of `pipe` go to the console (a free function: `hold`
    /// asks it while it holds the pipes mutably).
    fn to_console(console: Option<usize>, all: bool, pipe: &Pipe) -> bool {
        console.is_some() && (pipe.console || all)
    }

    fn console_queued(&self) -> usize {
        self.console
            .and_then(|i| self.sinks.get(i))
            .map_or(0, |sink| sink.queued())
    }

    /// Stops (`held`) or starts again reading the pipes whose lines go to
    /// the console. A held pipe fills, and its writers wait.
    fn hold(&mut self, epoll: &Epoll, held: bool) {
        self.console_held = held;
        let (console, all) = (self.console, self.console_all);
        for (slot, pipe) in self.pipes.iter_mut().enumerate() {
            let Some(pipe) = pipe.as_mut().filter(|p| Logs::to_console(console, all, p)) else {
                continue;
            };
            if held && pipe.watched {
                pipe.watched = epoll.delete(pipe.read.as_fd()).is_err();
            } else if !held && !pipe.watched {
                let token = token::LOG_PIPE | slot as u64;
                pipe.watched = epoll
                    .add(pipe.read.as_fd(), token, Interest::READABLE)
                    .is_ok();
                // Not watched again (ENOMEM): tried again at the next turn,
                // rather than a pipe never read and its writer stuck.
                self.rewatch |= !pipe.watched;
            }
        }
    }

    /// Reads one pipe, up to a budget; a held one only when `force`d (at exit).
    fn read_pipe(&mut self, idx: u64, epoll: &Epoll, force: bool, budget: usize) -> usize {
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0;
        let mut lines = Vec::new();
        let slot = idx as usize;
        let Some(Some(pipe)) = self.pipes.get_mut(slot) else {
            return 0;
        };
        // An event from before the hold, in the same turn of the loop.
        let held = self.console_held && Logs::to_console(self.console, self.console_all, pipe);
        if held && !force {
            return 0;
        }
        let mut ended = false;
        while total < budget {
            let room = buf.len().min(budget - total);
            let into = buf.get_mut(..room).unwrap_or_default();
            match vigil_platform::read_nonblocking(pipe.read.as_fd(), into) {
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
        let whose = (pipe.unit.clone(), pipe.stream, pipe.console, pipe.kmsg);
        if ended && let Some(pipe) = self.pipes.get_mut(slot).and_then(Option::take) {
            if pipe.watched {
                let _ = epoll.delete(pipe.read.as_fd());
            }
            self.free_slots.push(slot);
            if let Some(name) = pipe.stored {
                self.store_changes.push(StoreChange::Remove { name });
            }
        }
        self.file_lines(whose, lines);
        total
    }

    /// Files lines read from a pipe: its unit, stream and where it goes.
    fn file_lines(&mut self, whose: (Arc<str>, Stream, bool, bool), lines: Vec<String>) {
        let (unit, stream, console, kmsg) = whose;
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

    /// At the manager's exit, once every unit has stopped: what the pipes
    /// still hold is read and filed. A service's last lines, written just
    /// before it exited, are in its pipe even when the loop had not seen the
    /// pipe readable yet (its exit came in the same turn as the last unit's).
    /// Each pipe's unfinished line is filed too. Bounded: a process left
    /// behind (`KillMode=none`) may still be writing.
    /// A held console (in a container) gets until `deadline` to take its queue
    /// down before more of its pipes are read, instead of dropping their lines.
    pub fn drain_at_exit(&mut self, epoll: &Epoll, deadline: std::time::Instant) {
        for slot in 0..self.pipes.len() {
            for _ in 0..EXIT_DRAIN_ROUNDS {
                if self.hold_console && self.console_queued() >= CONSOLE_HOLD {
                    self.wait_for_console(deadline);
                }
                if self.read_pipe(slot as u64, epoll, true, READ_BUDGET) == 0 {
                    break;
                }
            }
            let Some(Some(pipe)) = self.pipes.get_mut(slot) else {
                continue;
            };
            let whose = (pipe.unit.clone(), pipe.stream, pipe.console, pipe.kmsg);
            let last = pipe.splitter.flush().into_iter().collect();
            self.file_lines(whose, last);
        }
    }

    /// Writes the console's queue out until it is down to `CONSOLE_RESUME`, or
    /// `deadline` passes.
    fn wait_for_console(&mut self, deadline: std::time::Instant) {
        let Some(i) = self.console else {
            return;
        };
        loop {
            self.write_out(i);
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Some(sink) = self.sinks.get(i).filter(|s| s.queued() > CONSOLE_RESUME) else {
                return;
            };
            if left.is_zero() || vigil_platform::wait_writable(&[sink.as_fd()], left).is_err() {
                return;
            }
        }
    }

    /// At the manager's exit: writes out what the sinks have queued, waiting
    /// up to `limit` for their descriptors to take it (a container's log
    /// reader that is a moment behind, a slow serial console); what is still
    /// queued then is lost with the process. (`vigil reexec` does not wait:
    /// the queues cross the exec, [`Logs::save_sinks`].)
    pub fn flush_at_exit(&mut self, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            for sink in &mut self.sinks {
                if sink.queued() > 0 {
                    let _ = sink.on_writable();
                }
            }
            let waiting: Vec<_> = self
                .sinks
                .iter()
                .filter(|s| s.queued() > 0)
                .map(|s| s.as_fd())
                .collect();
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if waiting.is_empty()
                || left.is_zero()
                || vigil_platform::wait_writable(&waiting, left).is_err()
            {
                return;
            }
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
            if self.sinks.get(i).is_some_and(|s| s.queued() > 0) {
                self.write_out(i);
                self.watch(i, epoll);
            }
        }
        self.release_console(epoll);
    }

    /// Reads the console's pipes again once the console has caught up.
    fn release_console(&mut self, epoll: &Epoll) {
        let caught_up = self.console_held && self.console_queued() <= CONSOLE_RESUME;
        let retry = !self.console_held && std::mem::take(&mut self.rewatch);
        if caught_up || retry {
            self.hold(epoll, false);
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
            unit: self.store.intern(unit),
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
        let mut sinks = self
            .files
            .iter()
            .map(|f| f.0)
            .chain(console)
            .chain(kmsg)
            .peekable();
        // The sinks show the unit's tag where the ring keeps the unit's name.
        let tagged = match (sinks.peek(), self.tags.get(&record.unit)) {
            (Some(_), Some(tag)) => Some(Record {
                unit: tag.clone(),
                ..record.clone()
            }),
            _ => None,
        };
        for i in sinks {
            if let Some(sink) = self.sinks.get_mut(i) {
                // A sink that failed hard (its reader went away) has counted its
                // losses; the ring still has the line.
                let _ = sink.push(tagged.as_ref().unwrap_or(&record));
            }
        }
        self.store.push(record);
    }

    /// Opens every log file again (SIGHUP, as logrotate's `postrotate` sends
    /// it): lines go to the file now at the path, not to the one renamed
    /// away. What the old one had not written goes to the new one, first
    /// ([`Logs::backlog_for`]); a path that cannot be opened keeps the old
    /// file, with a warning. A file that could not be opened at start is
    /// tried again.
    pub fn reopen_files(&mut self, epoll: &Epoll) -> Vec<String> {
        let mut problems = Vec::new();
        for path in std::mem::take(&mut self.unopened) {
            match FileSink::open(&path, SINK_QUEUE) {
                Ok(sink) => {
                    let i = self.add_sink(Box::new(sink));
                    self.files.push((i, path));
                }
                Err(e) => {
                    let e = anyhow::Error::new(e);
                    problems.push(format!("opening the log file {}: {e:#}", path.display()));
                    self.unopened.push(path);
                }
            }
        }
        for (i, path) in self.files.clone() {
            let sink = match FileSink::open(&path, SINK_QUEUE) {
                Ok(sink) => sink,
                Err(e) => {
                    let e = anyhow::Error::new(e);
                    problems.push(format!("reopening the log file {}: {e:#}", path.display()));
                    continue;
                }
            };
            if self.watched.get(i).copied().unwrap_or(false)
                && let Some(old) = self.sinks.get(i)
            {
                let _ = epoll.delete(old.as_fd());
            }
            if let (Some(slot), Some(watched)) = (self.sinks.get_mut(i), self.watched.get_mut(i)) {
                let mut sink: Box<dyn Sink> = Box::new(sink);
                sink.set_deferred(true);
                sink.take_over(Logs::backlog_for(slot.as_ref(), sink.as_ref()));
                *slot = sink;
                *watched = false;
            }
        }
        problems
    }

    /// What the file sink `new`, opened again at SIGHUP, takes on of `old`:
    /// everything `old` had not written, its count of dropped lines first, so
    /// a count pending on a full disk is the first line of the file that
    /// replaces the one rotated away (at the place of the gap). The same
    /// file opened again (a SIGHUP for a rescan) goes on as `old` would.
    fn backlog_for(old: &dyn Sink, new: &dyn Sink) -> Backlog {
        let backlog = old.backlog();
        match file_id(old.as_fd()) == file_id(new.as_fd()) {
            true => backlog,
            false => backlog.for_new_file(),
        }
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
        self.write_out(i);
        self.watch(i, epoll);
        self.release_console(epoll);
    }

    /// Writes what sink `i` queued, as far as its fd takes it now; a sink that
    /// starts failing (a full disk, an I/O error) or works again is noted
    /// for [`Logs::take_health`], once for each change. Its losses are counted
    /// in the stream either way.
    fn write_out(&mut self, i: usize) {
        if let Some(sink) = self.sinks.get_mut(i) {
            let _ = sink.on_writable();
            if let Some(change) = sink.take_state_change() {
                let failing = matches!(change, vigil_log::SinkHealth::Failing { .. });
                self.health.push((failing, change.to_string()));
            }
        }
    }

    /// The sinks' changes between failing and working since the last call:
    /// (failing, what to say).
    pub fn take_health(&mut self) -> Vec<(bool, String)> {
        std::mem::take(&mut self.health)
    }

    pub fn last_seq(&self) -> u64 {
        self.store.last_seq()
    }

    /// Drops the rings of the units `gone` names, all but the `keep` that
    /// wrote last.
    pub fn trim_gone(&mut self, gone: impl Fn(&str) -> bool, keep: usize) {
        let mut old: Vec<(u64, Arc<str>)> = (self.store.units())
            .filter(|u| gone(u))
            .filter_map(|u| Some((self.store.ring(u)?.last_seq()?, Arc::from(u))))
            .collect();
        let n = old.len().saturating_sub(keep);
        if n == 0 {
            return;
        }
        old.sort_unstable();
        for (_, unit) in old.into_iter().take(n) {
            self.store.remove(&unit);
            self.tags.remove(&unit);
        }
    }

    /// The last `n` lines of a unit, or of several or every unit interleaved
    /// by time.
    pub fn tail(&self, which: &Select, n: usize) -> Vec<LogLine> {
        let entries = match which {
            Select::Unit(u) => self.store.tail(u, n),
            Select::All => self.store.tail_all(n),
            Select::Pattern(p) => self.store.tail_where(matcher(p), n),
        };
        entries
            .into_iter()
            .map(|e| to_line(&e.record, &self.tags))
            .collect()
    }

    /// The last `n` of the kept lines filed within `span` (µs since the
    /// epoch, both ends in): `vigil log --since/--until`, and where a
    /// follower was when the manager re-executed.
    pub fn tail_between(
        &self,
        which: &Select,
        span: RangeInclusive<u64>,
        n: usize,
    ) -> Vec<LogLine> {
        let entries = match which {
            Select::Unit(u) => self.store.tail(u, usize::MAX),
            Select::All => self.store.tail_all(usize::MAX),
            Select::Pattern(p) => self.store.tail_where(matcher(p), usize::MAX),
        };
        let kept: Vec<_> = (entries.into_iter())
            .filter(|e| span.contains(&micros(e.record.time)))
            .collect();
        let skip = kept.len().saturating_sub(n);
        (kept.into_iter().skip(skip))
            .map(|e| to_line(&e.record, &self.tags))
            .collect()
    }

    /// Lines after `seq`, and the new position.
    pub fn since(&self, which: &Select, seq: u64) -> (Vec<LogLine>, u64) {
        let since = match which {
            Select::Unit(u) => self.store.since(Some(u), seq),
            Select::All => self.store.since(None, seq),
            Select::Pattern(p) => self.store.since_where(matcher(p), seq),
        };
        let last = since.entries.last().map(|e| e.seq).unwrap_or(seq);
        let mut lines: Vec<LogLine> = since
            .entries
            .iter()
            .map(|e| to_line(&e.record, &self.tags))
            .collect();
        if since.missed {
            // The follower fell behind the ring: say so on the first line it gets.
            if let Some(first) = lines.first_mut() {
                first.dropped_before = first.dropped_before.max(1);
            }
        }
        (lines, last)
    }
}

/// Whose lines `vigil log` shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Select {
    All,
    Unit(String),
    /// Every unit whose whole name the glob(7) pattern matches (`worker@*`).
    Pattern(String),
}

/// A line's time as it is shown and asked for: µs since the epoch.
fn micros(t: SystemTime) -> u64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

fn to_line(r: &Record, tags: &HashMap<Arc<str>, Arc<str>>) -> LogLine {
    LogLine {
        time_us: micros(r.time),
        unit: r.unit.to_string(),
        stream: match r.stream {
            Stream::Manager => "vigil".into(),
            s => s.name().into(),
        },
        line: r.line.clone(),
        // The manager's own lines about a unit keep the unit's name.
        tag: match r.stream {
            Stream::Manager => None,
            _ => tags.get(&r.unit).map(|t| t.to_string()),
        },
        dropped_before: 0,
    }
}

/// Whether a line's unit matches `pattern`: compiled once, and each unit's
/// answer kept (a log holds many lines of few units).
fn matcher(pattern: &str) -> impl Fn(&str) -> bool {
    let pattern = Pattern::new(pattern);
    let seen: std::cell::RefCell<HashMap<String, bool>> = Default::default();
    move |unit| {
        if let Some(&answer) = seen.borrow().get(unit) {
            return answer;
        }
        let answer = pattern.matches(unit, false);
        seen.borrow_mut().insert(unit.to_string(), answer);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock stepped back between two lines: the hand-over keeps them in the
    /// order they were read.
    #[test]
    fn the_rings_are_handed_over_in_the_order_the_lines_came() {
        let opts = crate::options::parse(&[]).unwrap();
        let mut logs = Logs::new(&opts).unwrap();
        let late = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let early = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        for (time, line) in [(late, "first"), (early, "second, after the step back")] {
            let unit = logs.store.intern("w.service");
            let record = Record {
                time,
                unit,
                stream: Stream::Stdout,
                pid: 0,
                line: line.into(),
            };
            logs.store.push(record);
        }
        let lines: Vec<String> = logs.export().into_iter().map(|l| l.line).collect();
        assert_eq!(lines, ["first", "second, after the step back"]);
    }
}
