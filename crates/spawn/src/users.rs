//! `User=` and `Group=`: reading /etc/passwd and /etc/group directly.
//!
//! No NSS and no libc getpwnam: those may load modules, open sockets to daemons or
//! take locks, none of which the manager (or PID 1, before anything runs) can rely
//! on. The parsers take the file text, so they are tested without touching /etc.

/// One /etc/passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// One /etc/group entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Lines that can be entries: not blank, not comments, not NIS `+`/`-` markers.
fn entry_lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('#') && !l.starts_with('+') && !l.starts_with('-')
        })
        .map(|l| l.split(':').collect())
}

/// Parses /etc/passwd text; malformed lines are skipped.
pub fn parse_passwd(text: &str) -> Vec<UserEntry> {
    entry_lines(text)
        .filter_map(|f| match f.as_slice() {
            [name, _pw, uid, gid, _gecos, home, shell] => Some(UserEntry {
                name: (*name).to_owned(),
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
                home: (*home).to_owned(),
                shell: (*shell).to_owned(),
            }),
            _ => None,
        })
        .collect()
}

/// Parses /etc/group text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    entry_lines(text)
        .filter_map(|f| match f.as_slice() {
            [name, _pw, gid, members] => Some(GroupEntry {
                name: (*name).to_owned(),
                gid: gid.parse().ok()?,
                members: members
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
            }),
            _ => None,
        })
        .collect()
}

/// Finds a user by name, or by number when `user` is all digits and no user has
/// that name (systemd's order).
pub fn find_user<'a>(users: &'a [UserEntry], user: &str) -> Option<&'a UserEntry> {
    users.iter().find(|u| u.name == user).or_else(|| {
        let uid: u32 = user.parse().ok()?;
        users.iter().find(|u| u.uid == uid)
    })
}

pub fn find_group<'a>(groups: &'a [GroupEntry], group: &str) -> Option<&'a GroupEntry> {
    groups.iter().find(|g| g.name == group).or_else(|| {
        let gid: u32 = group.parse().ok()?;
        groups.iter().find(|g| g.gid == gid)
    })
}

/// A user or group written as a number that no database entry has: systemd
/// accepts any number (but -1, which means "unchanged" to the kernel).
fn numeric_id(name: &str) -> Option<u32> {
    name.parse::<u32>().ok().filter(|&id| id != u32::MAX)
}

/// [`find_user`], or for a number no entry has, a user of that uid with its own
/// number as gid, `/` as home and `/bin/sh` as shell.
pub fn user_or_number(users: &[UserEntry], user: &str) -> Option<UserEntry> {
    find_user(users, user).cloned().or_else(|| {
        numeric_id(user).map(|uid| UserEntry {
            name: user.to_owned(),
            uid,
            gid: uid,
            home: "/".into(),
            shell: "/bin/sh".into(),
        })
    })
}

/// [`user_or_number`] from /etc/passwd as it is now (an unreadable file has
/// no users): for the manager's own lookups, outside a spawn.
pub fn system_user(user: &str) -> Option<UserEntry> {
    let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    user_or_number(&parse_passwd(&text), user)
}

/// The gid of [`find_group`], or any number.
pub fn group_or_number(groups: &[GroupEntry], group: &str) -> Option<u32> {
    find_group(groups, group)
        .map(|g| g.gid)
        .or_else(|| numeric_id(group))
}

/// What `initgroups` would give `user`: its primary group first, then every group
/// that lists it as a member, without duplicates.
pub fn supplementary_groups(groups: &[GroupEntry], user: &str, primary: u32) -> Vec<u32> {
    let mut out = vec![primary];
    for g in groups {
        if g.members.iter().any(|m| m == user) && !out.contains(&g.gid) {
            out.push(g.gid);
        }
    }
    out
}

/// Whether systemd would take `name` as it is for a user it defines itself
/// (its strict rules): `[A-Za-z_][A-Za-z0-9_-]*`, at most 31 characters (what
/// fits utmp's name field); no dots, since `chown` reads one as a separator.
pub fn is_valid_user_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok
        && name.len() <= 31
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The user name `DynamicUser=` derives from a unit name's prefix (`web` for
/// `web@a.service`): the prefix itself when it is a valid user name
/// ([`is_valid_user_name`]), else `_du` and 16 hex digits of its SipHash-2-4
/// under systemd's key, the name systemd gives the same unit.
pub fn dynamic_user_name_for(prefix: &str) -> String {
    if is_valid_user_name(prefix) {
        return prefix.to_owned();
    }
    format!("_du{:016x}", siphash24(prefix.as_bytes(), DYNAMIC_NAME_KEY))
}

/// systemd's key for hashing unit prefixes into dynamic user names: a fixed
/// value, so a unit gets the same name on every machine and at every start.
const DYNAMIC_NAME_KEY: [u8; 16] = [
    0x58, 0x1a, 0xaf, 0xe6, 0x28, 0x58, 0x4e, 0x96, 0xb4, 0x4e, 0xf5, 0x3b, 0x8c, 0x92, 0x07, 0xec,
];

/// SipHash-2-4 of `data` under `key`, as std's `SipHasher` computes it: the
/// hash systemd uses, with its key read as two little-endian words.
fn siphash24(data: &[u8], key: [u8; 16]) -> u64 {
    use std::hash::Hasher;
    let (k0, k1) = key.split_at(8);
    let word = |half: &[u8]| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(half);
        u64::from_le_bytes(bytes)
    };
    // Deprecated only in favour of DefaultHasher, whose algorithm is not
    // promised; this one is SipHash-2-4 and stays.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new_with_keys(word(k0), word(k1));
    hasher.write(data);
    hasher.finish()
}

/// systemd's range for `DynamicUser=` ids.
pub const DYNAMIC_ID_MIN: u32 = 61184;
pub const DYNAMIC_ID_MAX: u32 = 65519;

/// A free id for the dynamic user `name`: one that is neither a uid in
/// /etc/passwd nor a gid in /etc/group, and that `in_use` does not claim (held
/// by another running service). The search starts at a point derived from the
/// name, so a service usually gets the same id back at its next start (its
/// StateDirectory= then needs no new owner).
pub fn allocate_dynamic_id(
    name: &str,
    users: &[UserEntry],
    groups: &[GroupEntry],
    in_use: &dyn Fn(u32) -> bool,
) -> Option<u32> {
    let span = DYNAMIC_ID_MAX - DYNAMIC_ID_MIN + 1;
    // FNV-1a: stable across runs and builds, unlike std's hasher.
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (0..span)
        .map(|i| DYNAMIC_ID_MIN + (hash.wrapping_add(i) % span))
        .find(|&id| {
            !in_use(id) && !users.iter().any(|u| u.uid == id) && !groups.iter().any(|g| g.gid == id)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
+nisuser::::::
broken:line
www:x:33:33:www-data:/var/www:/usr/sbin/nologin
1000:x:1001:1001::/home/numeric:/bin/sh
alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh
";
    const GROUP: &str = "\
root:x:0:
www:x:33:
users:x:100:alice,bob
alice:x:1000:
audio:x:29:bob,alice
bad
";

    #[test]
    fn parses_and_finds_users_by_name_then_number() {
        let users = parse_passwd(PASSWD);
        assert_eq!(users.len(), 4);
        let alice = find_user(&users, "alice").unwrap();
        assert_eq!((alice.uid, alice.gid), (1000, 1000));
        assert_eq!(alice.home, "/home/alice");
        assert_eq!(alice.shell, "/bin/zsh");
        assert_eq!(find_user(&users, "33").unwrap().name, "www");
        // A user *named* 1000 wins over uid 1000.
        assert_eq!(find_user(&users, "1000").unwrap().home, "/home/numeric");
        assert!(find_user(&users, "nobody").is_none());
        assert!(find_user(&users, "nisuser").is_none());
    }

    #[test]
    fn groups_and_membership() {
        let groups = parse_group(GROUP);
        assert_eq!(groups.len(), 5);
        assert_eq!(find_group(&groups, "audio").unwrap().gid, 29);
        assert_eq!(find_group(&groups, "33").unwrap().name, "www");
        assert!(find_group(&groups, "video").is_none());
        assert_eq!(
            supplementary_groups(&groups, "alice", 1000),
            [1000, 100, 29]
        );
        assert_eq!(supplementary_groups(&groups, "www", 33), [33]);
    }

    #[test]
    fn siphash_matches_the_reference_vector() {
        // The SipHash paper's test vector: key 00..0f, message 00..0e.
        let key: [u8; 16] = std::array::from_fn(|i| i as u8);
        let message: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(&message, key), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn dynamic_user_names_are_prefixes_or_hashes() {
        assert_eq!(dynamic_user_name_for("web"), "web");
        assert_eq!(dynamic_user_name_for("_a-b_9"), "_a-b_9");
        let long = "a".repeat(31);
        assert_eq!(dynamic_user_name_for(&long), long);
        for bad in ["foo.bar", "9lives", "-x", "", &"a".repeat(32), "caf\u{e9}"] {
            let name = dynamic_user_name_for(bad);
            assert!(name.starts_with("_du") && name.len() == 19, "{bad}: {name}");
            assert!(name[3..].bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
            assert!(is_valid_user_name(&name), "{name}");
        }
        // The same prefix, the same name; another prefix, another name.
        assert_eq!(
            dynamic_user_name_for("foo.bar"),
            dynamic_user_name_for("foo.bar")
        );
        assert_ne!(
            dynamic_user_name_for("foo.bar"),
            dynamic_user_name_for("foo.baz")
        );
    }

    #[test]
    fn dynamic_ids_are_stable_free_and_in_systemds_range() {
        let first = allocate_dynamic_id("web", &[], &[], &|_| false).unwrap();
        assert!((DYNAMIC_ID_MIN..=DYNAMIC_ID_MAX).contains(&first));
        assert_eq!(
            allocate_dynamic_id("web", &[], &[], &|_| false),
            Some(first)
        );
        let taken = UserEntry {
            name: "static".into(),
            uid: first,
            gid: 1,
            home: "/".into(),
            shell: "/bin/sh".into(),
        };
        let second = allocate_dynamic_id("web", &[taken], &[], &|_| false).unwrap();
        assert_ne!(second, first);
        let group = GroupEntry {
            name: "g".into(),
            gid: second,
            members: vec![],
        };
        let third = allocate_dynamic_id("web", &[], &[group], &|id| id == first).unwrap();
        assert!(third != first && third != second);
        assert_eq!(allocate_dynamic_id("web", &[], &[], &|_| true), None);
    }
}
