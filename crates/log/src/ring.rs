//! The recent lines of one unit, bounded by bytes.
//!
//! A ring owns its records and nothing else: it does no I/O and never grows past
//! its limit (the oldest lines go first, and are counted). It allocates nothing
//! until its first line, so a thousand quiet services cost a thousand empty rings.

use std::collections::VecDeque;

use crate::record::{Entry, Record};

/// The default size of a unit's ring, in bytes of [`Record::cost`].
pub const DEFAULT_RING_BYTES: usize = 64 * 1024;

/// The lines of one unit, oldest first (see the module documentation).
#[derive(Debug)]
pub struct Ring {
    entries: VecDeque<Entry>,
    bytes: usize,
    limit: usize,
    evicted: u64,
    /// The highest sequence number that was evicted (0: none yet); a follower
    /// whose cursor is below it has missed lines.
    evicted_seq: u64,
}

impl Ring {
    /// An empty ring that keeps at most `limit` bytes of records (the newest
    /// record is always kept, even when it alone is larger).
    pub fn new(limit: usize) -> Ring {
        Ring {
            entries: VecDeque::new(),
            bytes: 0,
            limit,
            evicted: 0,
            evicted_seq: 0,
        }
    }

    /// Adds a record under sequence number `seq`, which must be higher than
    /// every number already in the ring, and evicts the oldest records while
    /// the ring is over its limit.
    pub fn push(&mut self, seq: u64, record: Record) {
        self.bytes = self.bytes.saturating_add(record.cost());
        self.entries.push_back(Entry { seq, record });
        while self.bytes > self.limit && self.entries.len() > 1 {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(old.record.cost());
            self.evicted = self.evicted.saturating_add(1);
            self.evicted_seq = old.seq;
        }
    }

    /// Changes the limit, evicting at once if the ring is now over it.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
        while self.bytes > self.limit && !self.entries.is_empty() {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(old.record.cost());
            self.evicted = self.evicted.saturating_add(1);
            self.evicted_seq = old.seq;
        }
        if self.entries.is_empty() {
            // Give the memory back: a ring that was shrunk to nothing should
            // cost nothing, like one that never had a line.
            self.entries = VecDeque::new();
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes of records held, as counted against the limit.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many records the ring has room for without reallocating: 0 until the
    /// first push.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Records evicted to stay within the limit, since the ring was made.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// All records, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> + ExactSizeIterator {
        self.entries.iter()
    }

    /// The last `n` records, oldest first.
    pub fn tail(&self, n: usize) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .skip(self.entries.len().saturating_sub(n))
    }

    /// Records with a sequence number above `seq`, oldest first.
    pub fn since(&self, seq: u64) -> impl Iterator<Item = &Entry> {
        // Sequence numbers grow along the ring, so the start is a binary search.
        let start = self.entries.partition_point(|e| e.seq <= seq);
        self.entries.range(start..)
    }

    /// Whether records above `seq` were evicted before a follower at `seq`
    /// could read them.
    pub fn missed_since(&self, seq: u64) -> bool {
        self.evicted_seq > seq
    }

    /// The sequence number of the newest record.
    pub fn last_seq(&self) -> Option<u64> {
        self.entries.back().map(|e| e.seq)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::record::Stream;

    fn record(line: &str) -> Record {
        Record {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            unit: Arc::from("a.service"),
            stream: Stream::Stdout,
            pid: 7,
            line: line.to_string(),
        }
    }

    fn lines(ring: &Ring) -> Vec<&str> {
        ring.iter().map(|e| e.record.line.as_str()).collect()
    }

    #[test]
    fn allocates_nothing_before_the_first_line() {
        let mut ring = Ring::new(DEFAULT_RING_BYTES);
        assert_eq!(ring.capacity(), 0);
        assert!(ring.is_empty());
        assert_eq!(ring.tail(10).count(), 0);
        assert_eq!(ring.since(0).count(), 0);
        assert_eq!(ring.last_seq(), None);
        ring.push(1, record("x"));
        assert!(ring.capacity() >= 1);
    }

    #[test]
    fn evicts_oldest_by_bytes_and_counts() {
        let per = record("0123456789").cost();
        let mut ring = Ring::new(per * 3);
        for seq in 1..=5 {
            ring.push(seq, record(&format!("line-{seq:04}")));
        }
        assert_eq!(record("line-0001").cost(), per - 1);
        // Each line costs per-1 bytes, so three fit in per*3.
        assert_eq!(lines(&ring), ["line-0003", "line-0004", "line-0005"]);
        assert_eq!(ring.evicted(), 2);
        assert!(ring.bytes() <= ring.limit());
        assert_eq!(ring.bytes(), 3 * (per - 1));
    }

    #[test]
    fn a_big_line_evicts_many_small_ones() {
        let small = record("a").cost();
        let mut ring = Ring::new(small * 4);
        for seq in 1..=4 {
            ring.push(seq, record("a"));
        }
        assert_eq!(ring.len(), 4);
        let big = "b".repeat(small * 2);
        ring.push(5, record(&big));
        assert_eq!(ring.len(), 2, "{:?}", lines(&ring));
        assert_eq!(ring.evicted(), 3);
        assert!(ring.bytes() <= ring.limit());
    }

    #[test]
    fn the_newest_line_is_kept_even_when_larger_than_the_limit() {
        let mut ring = Ring::new(10);
        ring.push(1, record("short"));
        ring.push(2, record(&"x".repeat(100)));
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.last_seq(), Some(2));
        assert_eq!(ring.evicted(), 1);
    }

    #[test]
    fn tail_and_since_follow_sequence_numbers() {
        let mut ring = Ring::new(DEFAULT_RING_BYTES);
        // The store's numbers are global, so one unit's are not contiguous.
        for seq in [3, 4, 9, 10, 15] {
            ring.push(seq, record(&seq.to_string()));
        }
        let tail: Vec<u64> = ring.tail(2).map(|e| e.seq).collect();
        assert_eq!(tail, [10, 15]);
        assert_eq!(ring.tail(100).count(), 5);
        let since: Vec<u64> = ring.since(4).map(|e| e.seq).collect();
        assert_eq!(since, [9, 10, 15]);
        let since: Vec<u64> = ring.since(5).map(|e| e.seq).collect();
        assert_eq!(since, [9, 10, 15]);
        assert_eq!(ring.since(0).count(), 5);
        assert_eq!(ring.since(15).count(), 0);
    }

    #[test]
    fn a_follower_learns_it_missed_lines() {
        let per = record("1").cost();
        let mut ring = Ring::new(per * 2);
        ring.push(1, record("1"));
        ring.push(2, record("2"));
        assert!(!ring.missed_since(0));
        ring.push(3, record("3"));
        // Record 1 is gone: a follower that had seen nothing missed it.
        assert!(ring.missed_since(0));
        assert!(!ring.missed_since(1));
        let since: Vec<u64> = ring.since(0).map(|e| e.seq).collect();
        assert_eq!(since, [2, 3]);
    }

    #[test]
    fn shrinking_evicts_and_releases() {
        let mut ring = Ring::new(DEFAULT_RING_BYTES);
        for seq in 1..=10 {
            ring.push(seq, record("abc"));
        }
        ring.set_limit(record("abc").cost() * 2);
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.evicted(), 8);
        ring.set_limit(0);
        assert_eq!(ring.len(), 0);
        assert_eq!(ring.capacity(), 0);
        assert_eq!(ring.bytes(), 0);
    }
}
