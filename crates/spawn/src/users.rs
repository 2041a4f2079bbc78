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
}
