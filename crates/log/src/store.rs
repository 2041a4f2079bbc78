//! Every unit's ring, and the sequence numbers that tie them together.
//!
//! The store numbers every record it is given, across all units, so that
//! `vigil log -f` can resume after the last number it saw for one unit or for
//! all of them. It makes a unit's ring on the unit's first line and never does
//! I/O.
//!
//! The manager's own lines about units (state changes, exits) go to one shared,
//! bounded events ring rather than to the units' rings: a unit that never
//! writes costs no ring, and a thousand quiet services cost one ring, not a
//! thousand. Reads merge the two by sequence number.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::record::{Entry, Record, Stream};
use crate::ring::{DEFAULT_RING_BYTES, Ring};

/// The log rings of all units (see the module documentation).
#[derive(Debug)]
pub struct LogStore {
    rings: HashMap<Arc<str>, Ring>,
    /// Every unit's [`Stream::Manager`] lines.
    events: Ring,
    ring_bytes: usize,
    last_seq: u64,
    /// One copy of each unit's name, shared by its records ([`LogStore::intern`]):
    /// every record in `events` holds the copy kept here, so a unit's events are
    /// found by comparing pointers, without reading the name of every record in
    /// the ring (`vigil status` read the 1,500 names of a thousand units' events).
    names: HashSet<Arc<str>>,
    /// When `names` reaches this, the names no record (nor anyone else) holds
    /// any more are dropped: units that come and go (an instance per
    /// connection) must not leave a name each behind.
    names_bound: usize,
}

/// The least [`LogStore::names_bound`].
const NAMES_BOUND: usize = 1024;

/// The size of the shared events ring: about 1,500 state changes.
pub const EVENT_RING_BYTES: usize = 128 * 1024;

impl Default for LogStore {
    fn default() -> Self {
        LogStore::new(DEFAULT_RING_BYTES)
    }
}

/// What a follower gets: the new records, and whether some were evicted before
/// it asked (the follower should say so rather than pretend the log is whole).
#[derive(Debug)]
pub struct Since<'a> {
    pub entries: Vec<&'a Entry>,
    pub missed: bool,
}

impl LogStore {
    /// A store whose rings keep `ring_bytes` bytes each.
    pub fn new(ring_bytes: usize) -> LogStore {
        LogStore {
            rings: HashMap::new(),
            events: Ring::new(EVENT_RING_BYTES),
            ring_bytes,
            last_seq: 0,
            names: HashSet::new(),
            names_bound: NAMES_BOUND,
        }
    }

    /// Keeps a record in its unit's ring and returns its sequence number
    /// (the first is 1; 0 means "nothing seen yet" to [`LogStore::since`]).
    pub fn push(&mut self, record: Record) -> u64 {
        self.last_seq = self.last_seq.saturating_add(1);
        let seq = self.last_seq;
        if record.stream == Stream::Manager {
            let mut record = record;
            match self.names.get(&*record.unit) {
                Some(name) => record.unit = Arc::clone(name),
                None => self.remember(Arc::clone(&record.unit)),
            }
            self.events.push(seq, record);
            return seq;
        }
        let ring_bytes = self.ring_bytes;
        self.rings
            .entry(Arc::clone(&record.unit))
            .or_insert_with(|| Ring::new(ring_bytes))
            .push(seq, record);
        seq
    }

    /// The highest sequence number given out so far (0 before the first record).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Changes the size of every ring, present and future.
    pub fn set_ring_bytes(&mut self, ring_bytes: usize) {
        self.ring_bytes = ring_bytes;
        for ring in self.rings.values_mut() {
            ring.set_limit(ring_bytes);
        }
    }

    pub fn ring(&self, unit: &str) -> Option<&Ring> {
        self.rings.get(unit)
    }

    /// Units that have a ring (that wrote at least one line), in no order.
    pub fn units(&self) -> impl Iterator<Item = &str> {
        self.rings.keys().map(|k| &**k)
    }

    /// Forgets a unit's lines (a unit that was removed from the configuration).
    pub fn remove(&mut self, unit: &str) -> Option<Ring> {
        self.rings.remove(unit)
    }

    /// The last `n` records of one unit, oldest first.
    pub fn tail(&self, unit: &str, n: usize) -> Vec<&Entry> {
        let mut all: Vec<&Entry> = self
            .rings
            .get(unit)
            .map(|r| r.tail(n).collect())
            .unwrap_or_default();
        all.extend(self.events_of(unit, self.events.iter()));
        all.sort_by_key(|e| e.seq);
        let skip = all.len().saturating_sub(n);
        all.split_off(skip)
    }

    /// The shared copy of `unit`'s name, made on first use: a unit's records,
    /// pipes and tag share one allocation.
    pub fn intern(&mut self, unit: &str) -> Arc<str> {
        if let Some(name) = self.names.get(unit) {
            return Arc::clone(name);
        }
        let name: Arc<str> = Arc::from(unit);
        self.remember(Arc::clone(&name));
        name
    }

    /// The shared copy of `unit`'s name, when there is one (every pipe's and
    /// every record's unit is it, so they can be told by pointer).
    pub fn interned(&self, unit: &str) -> Option<&Arc<str>> {
        self.names.get(unit)
    }

    /// Keeps `name` as its unit's shared copy, first dropping, once there are
    /// `names_bound` of them, those that only this set still holds.
    fn remember(&mut self, name: Arc<str>) {
        if self.names.len() >= self.names_bound {
            self.names.retain(|n| Arc::strong_count(n) > 1);
            self.names_bound = self.names.len().saturating_mul(2).max(NAMES_BOUND);
        }
        self.names.insert(name);
    }

    /// The records of `unit` among `events` (entries of the events ring).
    fn events_of<'a>(
        &self,
        unit: &str,
        events: impl Iterator<Item = &'a Entry>,
    ) -> impl Iterator<Item = &'a Entry> {
        let name = self.names.get(unit).cloned();
        events.filter(move |e| {
            name.as_ref()
                .is_some_and(|n| Arc::ptr_eq(&e.record.unit, n))
        })
    }

    /// The last `n` records of all units, interleaved by time (sequence number
    /// breaking ties and keeping one unit's lines in order), oldest first.
    pub fn tail_all(&self, n: usize) -> Vec<&Entry> {
        self.tail_where(|_| true, n)
    }

    /// [`LogStore::tail_all`] of the units whose name `keep` accepts.
    pub fn tail_where(&self, keep: impl Fn(&str) -> bool, n: usize) -> Vec<&Entry> {
        // Only each ring's own last `n` can be among the last `n` overall.
        let rings = self.rings.iter().filter(|(unit, _)| keep(unit));
        let events = self.events.iter().rev().filter(|e| keep(&e.record.unit));
        let mut all: Vec<&Entry> = rings
            .flat_map(|(_, r)| r.tail(n))
            .chain(events.take(n))
            .collect();
        all.sort_by(|a, b| a.record.time.cmp(&b.record.time).then(a.seq.cmp(&b.seq)));
        let skip = all.len().saturating_sub(n);
        all.split_off(skip)
    }

    /// Records after sequence number `seq`, of one unit or (`None`) of all,
    /// in sequence order: what a follower has not seen yet.
    pub fn since(&self, unit: Option<&str>, seq: u64) -> Since<'_> {
        match unit {
            Some(unit) => {
                let ring = self.rings.get(unit);
                let mut entries: Vec<&Entry> =
                    ring.map(|r| r.since(seq).collect()).unwrap_or_default();
                entries.extend(self.events_of(unit, self.events.since(seq)));
                entries.sort_by_key(|e| e.seq);
                let missed = ring.is_some_and(|r| r.missed_since(seq));
                Since { entries, missed }
            }
            None => self.since_where(|_| true, seq),
        }
    }

    /// [`LogStore::since`] of the units whose name `keep` accepts.
    pub fn since_where(&self, keep: impl Fn(&str) -> bool, seq: u64) -> Since<'_> {
        let rings = || self.rings.iter().filter(|(unit, _)| keep(unit));
        let events = self.events.since(seq).filter(|e| keep(&e.record.unit));
        let mut entries: Vec<&Entry> = rings()
            .flat_map(|(_, r)| r.since(seq))
            .chain(events)
            .collect();
        entries.sort_by_key(|e| e.seq);
        let missed = rings().any(|(_, r)| r.missed_since(seq));
        Since { entries, missed }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::record::Stream;

    fn at(unit: &str, secs: u64, line: &str) -> Record {
        Record {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            unit: Arc::from(unit),
            stream: Stream::Stderr,
            pid: 1,
            line: line.to_string(),
        }
    }

    fn event(unit: &str, secs: u64, line: &str) -> Record {
        Record {
            stream: Stream::Manager,
            ..at(unit, secs, line)
        }
    }

    #[test]
    fn manager_lines_cost_no_unit_ring_and_merge_back_in_order() {
        let mut store = LogStore::new(1024);
        store.push(event("a", 1, "-> starting"));
        assert!(store.ring("a").is_none(), "a quiet unit got a ring");
        store.push(at("a", 2, "hello"));
        store.push(event("b", 3, "-> running"));
        store.push(event("a", 4, "-> running"));
        assert_eq!(
            texts(&store.tail("a", 10)),
            vec!["a:-> starting", "a:hello", "a:-> running"]
        );
        assert_eq!(texts(&store.tail("a", 2)), vec!["a:hello", "a:-> running"]);
        let since = store.since(Some("a"), 1);
        assert_eq!(texts(&since.entries), vec!["a:hello", "a:-> running"]);
        assert_eq!(store.tail_all(10).len(), 4);
    }

    #[test]
    fn names_of_units_whose_events_left_the_ring_are_forgotten() {
        let mut store = LogStore::default();
        // Far more units than the events ring holds records (an instance per
        // connection): each says one state change.
        for i in 0..20_000 {
            store.push(event(&format!("conn@{i}.service"), i, "-> running"));
        }
        let in_ring: HashSet<&str> = store.events.iter().map(|e| &*e.record.unit).collect();
        assert!(in_ring.len() < 20_000, "the ring kept every record");
        assert!(
            store.names.len() <= 2 * in_ring.len().max(NAMES_BOUND),
            "{} names kept for {} units in the ring",
            store.names.len(),
            in_ring.len()
        );
        // The newest are still found, by a name given anew.
        assert_eq!(
            texts(&store.tail("conn@19999.service", 5)),
            vec!["conn@19999.service:-> running"]
        );
        assert!(store.tail("conn@0.service", 5).is_empty());
    }

    fn texts(entries: &[&Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| format!("{}:{}", e.record.unit, e.record.line))
            .collect()
    }

    #[test]
    fn rings_are_made_on_first_line() {
        let mut store = LogStore::default();
        assert_eq!(store.units().count(), 0);
        assert!(store.ring("a").is_none());
        assert_eq!(store.push(at("a", 1, "x")), 1);
        assert_eq!(store.push(at("b", 1, "y")), 2);
        assert_eq!(store.push(at("a", 2, "z")), 3);
        assert_eq!(store.last_seq(), 3);
        let mut units: Vec<&str> = store.units().collect();
        units.sort_unstable();
        assert_eq!(units, ["a", "b"]);
        assert_eq!(store.ring("a").map(Ring::len), Some(2));
    }

    #[test]
    fn tail_of_one_unit() {
        let mut store = LogStore::default();
        for i in 0..10 {
            store.push(at("a", i, &i.to_string()));
            store.push(at("b", i, "other"));
        }
        assert_eq!(texts(&store.tail("a", 3)), ["a:7", "a:8", "a:9"]);
        assert!(store.tail("nope", 3).is_empty());
        assert!(store.tail("a", 0).is_empty());
    }

    #[test]
    fn tail_all_interleaves_by_time_then_sequence() {
        let mut store = LogStore::default();
        // Pushed out of time order across units: b's lines were read later but
        // carry earlier times.
        store.push(at("a", 10, "a10"));
        store.push(at("a", 30, "a30"));
        store.push(at("b", 20, "b20"));
        store.push(at("b", 30, "b30"));
        store.push(at("c", 5, "c5"));
        store.push(at("c", 40, "c40"));
        assert_eq!(
            texts(&store.tail_all(10)),
            ["c:c5", "a:a10", "b:b20", "a:a30", "b:b30", "c:c40"]
        );
        assert_eq!(texts(&store.tail_all(3)), ["a:a30", "b:b30", "c:c40"]);
        assert!(store.tail_all(0).is_empty());
    }

    #[test]
    fn following_resumes_after_the_last_sequence_number() {
        let mut store = LogStore::default();
        store.push(at("a", 1, "1"));
        store.push(at("b", 1, "2"));
        let first = store.since(None, 0);
        assert_eq!(texts(&first.entries), ["a:1", "b:2"]);
        assert!(!first.missed);
        let cursor = first.entries.last().map(|e| e.seq).unwrap_or(0);
        store.push(at("b", 2, "3"));
        store.push(at("a", 2, "4"));
        let next = store.since(None, cursor);
        assert_eq!(texts(&next.entries), ["b:3", "a:4"]);
        let only_a = store.since(Some("a"), cursor);
        assert_eq!(texts(&only_a.entries), ["a:4"]);
        assert!(store.since(Some("zzz"), 0).entries.is_empty());
        assert!(store.since(None, store.last_seq()).entries.is_empty());
    }

    #[test]
    fn a_slow_follower_is_told_it_missed_lines() {
        let one = at("a", 1, "x").cost();
        let mut store = LogStore::new(one * 2);
        for i in 0..5 {
            store.push(at("a", i, "x"));
        }
        let since = store.since(Some("a"), 1);
        assert!(since.missed);
        assert_eq!(since.entries.len(), 2);
        assert!(store.since(None, 1).missed);
        assert!(!store.since(None, 3).missed);
    }

    #[test]
    fn remove_and_resize() {
        let mut store = LogStore::default();
        for i in 0..4 {
            store.push(at("a", i, "line"));
        }
        store.set_ring_bytes(at("a", 0, "line").cost());
        assert_eq!(store.ring("a").map(Ring::len), Some(1));
        assert!(store.remove("a").is_some());
        assert!(store.ring("a").is_none());
        assert!(store.remove("a").is_none());
        // Sequence numbers never go back, even after a removal.
        assert_eq!(store.push(at("a", 9, "again")), 5);
    }
}
