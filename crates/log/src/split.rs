//! Turning the raw bytes a service writes into lines.
//!
//! A pipe read returns whatever the service wrote so far: half a line, several
//! lines, a line without its end. [`LineSplitter`] keeps the unfinished tail
//! between reads and hands out complete lines. It never reads anything itself and
//! never holds more than one maximum line length of a service's output, so a
//! service that writes megabytes without a newline costs the manager nothing more.

/// Appended to each piece of a line that was longer than the maximum, except
/// the last: the line goes on in the next record.
pub const SPLIT_MARKER: &str = " [continued]";

/// The default longest line, in bytes; longer lines are split.
pub const DEFAULT_MAX_LINE: usize = 4096;

/// Splits a byte stream into lines (see the module documentation).
///
/// A line ends at `\n`; a `\r` just before it is dropped too. Bytes that are not
/// UTF-8 are replaced by U+FFFD. A line longer than the maximum is cut into
/// pieces of at most the maximum (at a character boundary when the text is
/// UTF-8), each but the last ending with [`SPLIT_MARKER`].
#[derive(Debug)]
pub struct LineSplitter {
    /// The unfinished line: never longer than `max` after `feed` returns.
    pending: Vec<u8>,
    max: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        LineSplitter::new(DEFAULT_MAX_LINE)
    }
}

impl LineSplitter {
    /// A splitter that cuts lines longer than `max_line` bytes (at least 4).
    pub fn new(max_line: usize) -> LineSplitter {
        LineSplitter {
            pending: Vec::new(),
            // A UTF-8 character is up to 4 bytes; a smaller maximum could not
            // always make progress at a character boundary.
            max: max_line.max(4),
        }
    }

    /// Bytes of an unfinished line waiting for its end.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Feeds bytes read from the pipe; calls `out` with every line completed.
    pub fn feed(&mut self, mut data: &[u8], out: &mut impl FnMut(String)) {
        while let Some(nl) = data.iter().position(|&b| b == b'\n') {
            let (head, rest) = data.split_at(nl);
            data = rest.get(1..).unwrap_or_default();
            if self.pending.is_empty() {
                // The common case, a whole line in one read: no copy into `pending`.
                self.emit_line(strip_cr(head), out);
            } else {
                self.pending.extend_from_slice(head);
                let line = std::mem::take(&mut self.pending);
                self.emit_line(strip_cr(&line), out);
            }
        }
        if data.is_empty() {
            return;
        }
        self.pending.extend_from_slice(data);
        // Keep the pending tail within one maximum line. A tail of exactly `max`
        // stays: its newline may be in the next read; so does one of `max`
        // and a `\r`, whose `\n` may come next (a CRLF line of the maximum).
        let room = |p: &[u8]| self.max + usize::from(p.last() == Some(&b'\r'));
        while self.pending.len() > room(&self.pending) {
            let cut = cut_point(&self.pending, self.max);
            let piece: Vec<u8> = self.pending.drain(..cut).collect();
            out(piece_text(&piece, true));
        }
    }

    /// The bytes of the unfinished line, taken as they are (a manager that
    /// re-executes itself hands them to its next image, which feeds them first).
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// The bytes of the unfinished line, left in place (a reexec that may
    /// fail copies them for the next image).
    pub fn pending_bytes(&self) -> &[u8] {
        &self.pending
    }

    /// At end of file: the unfinished line, if there is one.
    pub fn flush(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let line = std::mem::take(&mut self.pending);
        Some(piece_text(strip_cr(&line), false))
    }

    fn emit_line(&self, mut line: &[u8], out: &mut impl FnMut(String)) {
        while line.len() > self.max {
            let cut = cut_point(line, self.max);
            let (piece, rest) = line.split_at(cut);
            out(piece_text(piece, true));
            line = rest;
        }
        out(piece_text(line, false));
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Where to cut `bytes` (longer than `max`) so that the piece is at most `max`
/// bytes and, if possible, does not end inside a UTF-8 character.
fn cut_point(bytes: &[u8], max: usize) -> usize {
    let is_continuation = |i: usize| bytes.get(i).is_some_and(|b| b & 0xC0 == 0x80);
    // A character is at most 4 bytes, so look back at most 3.
    (max.saturating_sub(3)..=max)
        .rev()
        .find(|&i| i > 0 && !is_continuation(i))
        .unwrap_or(max)
}

fn piece_text(bytes: &[u8], split: bool) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if split {
        text.push_str(SPLIT_MARKER);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(splitter: &mut LineSplitter, chunks: &[&[u8]]) -> Vec<String> {
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, &mut |l| lines.push(l));
        }
        lines
    }

    #[test]
    fn whole_lines_in_one_read() {
        let mut s = LineSplitter::default();
        assert_eq!(
            feed_all(&mut s, &[b"a\nbb\n\nccc\n"]),
            ["a", "bb", "", "ccc"]
        );
        assert_eq!(s.pending(), 0);
        assert_eq!(s.flush(), None);
    }

    #[test]
    fn partial_lines_across_reads() {
        let mut s = LineSplitter::default();
        let lines = feed_all(&mut s, &[b"hel", b"lo\nwor", b"", b"ld", b"\nta"]);
        assert_eq!(lines, ["hello", "world"]);
        assert_eq!(s.pending(), 2);
        assert_eq!(s.flush().as_deref(), Some("ta"));
        assert_eq!(s.flush(), None);
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut s = LineSplitter::default();
        let text = b"one\r\ntwo\nthree";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(feed_all(&mut s, &chunks), ["one", "two"]);
        assert_eq!(s.flush().as_deref(), Some("three"));
    }

    #[test]
    fn crlf_is_one_line_end_even_across_reads() {
        let mut s = LineSplitter::default();
        let lines = feed_all(&mut s, &[b"a\r\nb\r", b"\nc\rd\n\r\n"]);
        // A lone \r inside a line is kept; only the one before \n goes.
        assert_eq!(lines, ["a", "b", "c\rd", ""]);
        s.feed(b"tail\r", &mut |_| {});
        assert_eq!(s.flush().as_deref(), Some("tail"));
    }

    /// Review finding: a CRLF line of the maximum length whose `\n` came in
    /// the next read was cut into the line plus `\r` (marked as continued)
    /// and an empty line.
    #[test]
    fn a_crlf_line_of_the_maximum_across_reads_is_one_line() {
        let mut s = LineSplitter::new(8);
        let lines = feed_all(&mut s, &[b"01234567\r", b"\nnext\n"]);
        assert_eq!(lines, ["01234567", "next"]);
        // A lone \r past the maximum is still cut when more comes.
        let mut s = LineSplitter::new(8);
        let lines = feed_all(&mut s, &[b"01234567\r", b"x\n"]);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("01234567"), "{lines:?}");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut s = LineSplitter::default();
        let lines = feed_all(&mut s, &[b"ok \xff\xfe end\n", b"\xc3", b"\xa9\n"]);
        assert_eq!(lines, ["ok \u{fffd}\u{fffd} end", "é"]);
    }

    #[test]
    fn overlong_line_in_one_read_is_split_with_markers() {
        let mut s = LineSplitter::new(8);
        let lines = feed_all(&mut s, &[b"0123456789abcdefXY\nok\n"]);
        assert_eq!(
            lines,
            [
                format!("01234567{SPLIT_MARKER}"),
                format!("89abcdef{SPLIT_MARKER}"),
                "XY".to_string(),
                "ok".to_string()
            ]
        );
    }

    #[test]
    fn overlong_line_across_reads_keeps_memory_bounded() {
        let mut s = LineSplitter::new(8);
        let mut lines = Vec::new();
        for _ in 0..100 {
            s.feed(b"abcdefghij", &mut |l| lines.push(l));
            assert!(s.pending() <= 8, "pending {}", s.pending());
        }
        s.feed(b"\n", &mut |l| lines.push(l));
        let total: usize = lines
            .iter()
            .map(|l| l.strip_suffix(SPLIT_MARKER).unwrap_or(l).len())
            .sum();
        assert_eq!(total, 1000);
        assert!(
            lines
                .iter()
                .all(|l| l.trim_end_matches(SPLIT_MARKER).len() <= 8)
        );
        let (last, pieces) = lines.split_last().expect("lines");
        assert!(pieces.iter().all(|l| l.ends_with(SPLIT_MARKER)));
        assert!(!last.ends_with(SPLIT_MARKER));
    }

    #[test]
    fn exactly_max_is_not_split() {
        let mut s = LineSplitter::new(8);
        assert_eq!(feed_all(&mut s, &[b"01234567", b"\n"]), ["01234567"]);
        assert_eq!(feed_all(&mut s, &[b"01234567\n"]), ["01234567"]);
    }

    #[test]
    fn split_does_not_cut_a_character() {
        let mut s = LineSplitter::new(8);
        // "aaaaaa" + "é" (2 bytes) + "€" (3 bytes): byte 8 is inside "€".
        let text = "aaaaaaé€z\n";
        let lines = feed_all(&mut s, &[text.as_bytes()]);
        assert_eq!(lines, [format!("aaaaaaé{SPLIT_MARKER}"), "€z".to_string()]);
        assert!(lines.iter().all(|l| !l.contains('\u{fffd}')));
        // The same through the pending path.
        let lines = feed_all(&mut s, &[b"aaaa", "aaé€".as_bytes(), b"z", b"\n"]);
        assert_eq!(lines, [format!("aaaaaaé{SPLIT_MARKER}"), "€z".to_string()]);
    }

    #[test]
    fn flush_of_an_empty_splitter_is_none() {
        let mut s = LineSplitter::new(0);
        assert_eq!(s.flush(), None);
        s.feed(b"\n", &mut |l| assert_eq!(l, ""));
        assert_eq!(s.flush(), None);
    }
}
