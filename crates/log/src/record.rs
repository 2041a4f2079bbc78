//! One log line and where it came from. Plain data: no I/O, no formatting for
//! any particular sink.

use std::mem::size_of;
use std::sync::Arc;
use std::time::SystemTime;

/// Which stream a line was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
    /// A line the manager wrote about the unit (started, exited, lines dropped).
    Manager,
}

impl Stream {
    /// The name used in messages and in the control protocol.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Manager => "manager",
        }
    }
}

/// One line, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Wall-clock time at which the manager read the line.
    pub time: SystemTime,
    /// Full unit name (`web.service`); shared by every record of the unit.
    pub unit: Arc<str>,
    pub stream: Stream,
    /// The main PID of the unit when the line was read (0 when unknown).
    pub pid: u32,
    pub line: String,
}

impl Record {
    /// What keeping this record in a ring costs, in bytes: the text plus the
    /// fixed part of an entry, so that a flood of empty lines is bounded too.
    pub fn cost(&self) -> usize {
        self.line.len().saturating_add(size_of::<Entry>())
    }
}

/// A record in a ring, with the sequence number the store gave it. Sequence
/// numbers grow by one for every record pushed into a store, across all units,
/// so a follower can ask for everything after the last number it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub record: Record,
}
