//! fnmatch(3) for unit conditions (`ConditionPathExistsGlob=`,
//! `ConditionHost=`, `ConditionEnvironment=`...) and vigil-boot's sysctl.d keys.

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
/// and `\` escapes. An unclosed `[` is a literal.
fn compile(pattern: &str) -> Vec<Tok> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
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
            '[' => match class(&chars, i) {
                Some((tok, next)) => {
                    toks.push(tok);
                    i = next;
                }
                None => toks.push(Tok::Lit('[')),
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
    let toks = compile(pattern);
    let name: Vec<char> = name.chars().collect();
    let (mut t, mut n) = (0, 0);
    // Where to resume after the last `*`: (token after it, name position).
    let mut back: Option<(usize, usize)> = None;
    while n < name.len() {
        match toks.get(t) {
            Some(Tok::Star) => {
                back = Some((t + 1, n));
                t += 1;
            }
            Some(tok) if name.get(n).is_some_and(|&c| tok_matches(tok, c, fold)) => {
                t += 1;
                n += 1;
            }
            _ => match back {
                Some((bt, bn)) => {
                    t = bt;
                    n = bn + 1;
                    back = Some((bt, bn + 1));
                }
                None => return false,
            },
        }
    }
    toks.get(t..)
        .is_some_and(|rest| rest.iter().all(|x| *x == Tok::Star))
}
