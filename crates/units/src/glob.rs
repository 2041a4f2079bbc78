//! fnmatch(3) for unit conditions (`ConditionPathExistsGlob=`,
//! `ConditionHost=`, `ConditionEnvironment=`...), and the small part of glob(7)
//! that paths need: `*`, `?` and bracket sets in the components of a
//! `/`-separated path, matched against what exists below a root directory, for
//! vigil-boot's sysctl.d keys and `EnvironmentFile=`. No `**`, no braces.

use std::fs;
use std::io;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    One,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Compiles an fnmatch(3) pattern: `*`, `?`, `[...]` (with `!` or `^`, ranges),
/// and `\` escapes. An unclosed `[` is a literal. Linear: once a `[` finds
/// no `]` up to the end, no later one can, and none is looked for again (a
/// pattern of 30,000 `[` took minutes).
fn compile(pattern: &str) -> Vec<Tok> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut unclosed = false;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '*' => {
                if toks.last() != Some(&Tok::Star) {
                    toks.push(Tok::Star);
                }
            }
            '?' => toks.push(Tok::One),
            '\\' => match chars.get(i) {
                Some(&n) => {
                    toks.push(Tok::Lit(n));
                    i += 1;
                }
                None => toks.push(Tok::Lit('\\')),
            },
            '[' => match (!unclosed).then(|| class(&chars, i)).flatten() {
                Some((tok, next)) => {
                    toks.push(tok);
                    i = next;
                }
                None => {
                    unclosed = true;
                    toks.push(Tok::Lit('['));
                }
            },
            c => toks.push(Tok::Lit(c)),
        }
    }
    toks
}

/// A bracket expression starting after `[`: the token and the index after `]`.
fn class(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *chars.get(i)?
        } else {
            c
        };
        i += 1;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&n| n != ']') {
            let hi = *chars.get(i + 1)?;
            ranges.push((lo, hi));
            i += 2;
        } else {
            ranges.push((lo, lo));
        }
    }
}

fn tok_matches(t: &Tok, c: char, fold: bool) -> bool {
    let eq = |a: char, b: char| {
        if fold {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    match t {
        Tok::Lit(l) => eq(*l, c),
        Tok::One => true,
        Tok::Star => false,
        Tok::Class { negated, ranges } => {
            let inside = ranges.iter().any(|&(lo, hi)| {
                (lo..=hi).contains(&c)
                    || (fold
                        && c.to_lowercase()
                            .chain(c.to_uppercase())
                            .any(|x| (lo..=hi).contains(&x)))
            });
            inside != *negated
        }
    }
}

/// fnmatch(3) without flags (or with FNM_CASEFOLD): `*` and `?` match any
/// character, `/` included (file names never contain one).
pub fn fnmatch(pattern: &str, name: &str, fold: bool) -> bool {
    Pattern::new(pattern).matches(name, fold)
}

/// A pattern compiled once, to be matched against many names (every unit,
/// every line of a log).
#[derive(Debug, Clone)]
pub struct Pattern {
    toks: Vec<Tok>,
    /// Characters a name needs at least: one per token but `*`.
    least: usize,
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        let toks = compile(pattern);
        let least = toks.iter().filter(|t| **t != Tok::Star).count();
        Pattern { toks, least }
    }

    /// As [`fnmatch`]. A name shorter than the pattern needs fails at once:
    /// the matching below takes up to name × pattern steps. Nothing is
    /// allocated: a request matches each of its patterns against every
    /// unit loaded (a Vec of the name's characters for each made 1.65
    /// million allocations of a `status` of 15,000 patterns, 110 units).
    pub fn matches(&self, name: &str, fold: bool) -> bool {
        // Bytes first (never fewer than characters), then characters.
        if name.len() < self.least || name.chars().count() < self.least {
            return false;
        }
        let toks = &self.toks;
        // `n` is a byte offset into `name`, always at a character boundary.
        let (mut t, mut n) = (0, 0);
        // Where to resume after the last `*`: (token after it, name position).
        let mut back: Option<(usize, usize)> = None;
        while let Some(c) = name.get(n..).and_then(|rest| rest.chars().next()) {
            match toks.get(t) {
                Some(Tok::Star) => {
                    back = Some((t + 1, n));
                    t += 1;
                }
                Some(tok) if tok_matches(tok, c, fold) => {
                    t += 1;
                    n += c.len_utf8();
                }
                _ => match back {
                    Some((bt, bn)) => {
                        // The `*` takes one more character of the name.
                        let skipped = name.get(bn..).and_then(|r| r.chars().next());
                        let bn = bn + skipped.map_or(1, char::len_utf8);
                        (t, n) = (bt, bn);
                        back = Some((bt, bn));
                    }
                    None => return false,
                },
            }
        }
        toks.get(t..)
            .is_some_and(|rest| rest.iter().all(|x| *x == Tok::Star))
    }
}

/// Whether `s` has a character that makes it a pattern (as systemd's
/// `string_is_glob`).
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The `/`-separated paths below `root` that `pattern` matches, sorted as
/// glob(3) sorts them. Only existing paths are returned; a component that
/// names no directory simply matches nothing.
pub fn expand(root: &Path, pattern: &str) -> io::Result<Vec<String>> {
    let mut found = vec![String::new()];
    for component in pattern.split('/') {
        let mut next = Vec::new();
        for prefix in &found {
            if !is_glob(component) {
                next.push(join(prefix, component));
                continue;
            }
            for name in list(&root.join(prefix))? {
                // As glob(3): a leading dot is matched only by a dot.
                let hidden = name.starts_with('.') && !component.starts_with('.');
                if !hidden && fnmatch(component, &name, false) {
                    next.push(join(prefix, &name));
                }
            }
        }
        found = next;
    }
    found.retain(|p| fs::symlink_metadata(root.join(p)).is_ok());
    Ok(found)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The sorted names in `dir`; nothing when it is missing or not a
/// directory. Names that are not UTF-8 cannot be written in a
/// configuration file either, so they are left out.
fn list(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unclosed_bracket_is_a_literal_and_so_are_those_after_it() {
        assert!(fnmatch("a[b", "a[b", false));
        assert!(fnmatch("[[[a*", "[[[abc", false));
        // A `[` that closes is a set, also after an unclosed one before it
        // cannot be: `]` would have closed that one.
        assert!(fnmatch("[[x]", "x", false) && fnmatch("[[x]", "[", false));
        let pattern = Pattern::new(&"[".repeat(50_000));
        assert!(pattern.matches(&"[".repeat(50_000), false));
        assert!(!pattern.matches("[", false));
    }

    #[test]
    fn fnmatch_subset() {
        assert!(is_glob("a*") && is_glob("a?") && is_glob("a[b]") && !is_glob("a.b"));
        for (p, n) in [
            ("*", "eth0"),
            ("eth*", "eth0.1"),
            ("*0", "eth0"),
            ("e?h0", "eth0"),
            ("*th*", "eth0"),
            ("a*b*c", "aXbYbZc"),
            ("[el]*", "lo"),
            ("eth[0-9]", "eth7"),
            ("[!a]", "b"),
            ("[]]", "]"),
            ("a[", "a["),
            ("**", ""),
        ] {
            assert!(fnmatch(p, n, false), "{p} should match {n}");
        }
        for (p, n) in [
            ("eth*", "lo"),
            ("?", ""),
            ("e?h0", "eh0"),
            ("eth[0-3]", "eth7"),
            ("[!a]", "a"),
            ("a*b*c", "aXbYbZ"),
            ("a[", "ab"),
        ] {
            assert!(!fnmatch(p, n, false), "{p} should not match {n}");
        }
    }

    /// The matcher walks the name by byte offsets: a character of several
    /// bytes is one for `?`, a set and a `*`'s backtracking.
    #[test]
    fn characters_of_several_bytes_are_one_each() {
        for (p, n) in [
            ("caf?.service", "café.service"),
            ("*é*", "café.service"),
            ("*[à-ü].service", "café.service"),
            ("*ü*ü", "xüyüzü"),
            ("??", "éé"),
        ] {
            assert!(fnmatch(p, n, false), "{p} should match {n}");
        }
        for (p, n) in [("???", "éé"), ("caf??.service", "café.service")] {
            assert!(!fnmatch(p, n, false), "{p} should not match {n}");
        }
        assert!(fnmatch("CAFÉ*", "café.service", true));
        assert!(!fnmatch("CAFÉ*", "café.service", false));
    }

    #[test]
    fn expands_against_a_real_tree_in_order() {
        let root = std::env::temp_dir().join(format!("vigil-boot-glob-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for d in [
            "conf/lo",
            "conf/eth0.1",
            "conf/all",
            "conf/.hidden",
            "conf/empty",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "conf/lo/rp",
            "conf/eth0.1/rp",
            "conf/all/rp",
            "conf/.hidden/rp",
        ] {
            fs::write(root.join(f), "0\n").unwrap();
        }
        assert_eq!(
            expand(&root, "conf/*/rp").unwrap(),
            vec!["conf/all/rp", "conf/eth0.1/rp", "conf/lo/rp"]
        );
        assert_eq!(expand(&root, "conf/[el]*/rp").unwrap().len(), 2);
        assert!(expand(&root, "nope/*/rp").unwrap().is_empty());
        assert!(expand(&root, "conf/lo/rp/*").unwrap().is_empty());
        fs::remove_dir_all(&root).unwrap();
    }
}
