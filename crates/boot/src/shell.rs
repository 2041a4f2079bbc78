//! The root shell of `rescue.service` and `emergency.service`, as systemd's
//! sulogin shell: what to run (util-linux's `sulogin`, which asks for root's
//! password, where it is installed; `/bin/sh` otherwise), whether sulogin is
//! to let root in without one, and what the console is told. Running it, and
//! going back to the default target afterwards, is main.rs's.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The modes a shell is started for: the targets that require the units.
pub const MODES: [&str; 2] = ["rescue", "emergency"];

/// Where Debian's util-linux installs sulogin (`/sbin`, which merged-/usr
/// links to `/usr/sbin`), relative to the root.
const SULOGIN: [&str; 2] = ["sbin/sulogin", "usr/sbin/sulogin"];

/// The program a shell unit runs.
#[derive(Debug, PartialEq, Eq)]
pub struct Program {
    pub path: PathBuf,
    pub args: Vec<String>,
    /// sulogin, which asks for root's password; else a shell that does not.
    pub sulogin: bool,
}

/// sulogin where an executable one is installed under `root`, with
/// `--force` when `force` says why (root may then log in without a password
/// when its account is locked, as sulogin's option means); else `bin/sh`.
pub fn choose(root: &Path, force: Option<&str>) -> Program {
    let sulogin = SULOGIN.iter().map(|p| root.join(p)).find(|p| executable(p));
    match sulogin {
        Some(path) => Program {
            path,
            args: force.map(|_| "--force".to_string()).into_iter().collect(),
            sulogin: true,
        },
        None => Program {
            path: root.join("bin/sh"),
            args: Vec::new(),
            sulogin: false,
        },
    }
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why sulogin gets `--force`, if it does, as systemd's sulogin shell
/// decides it: `$SYSTEMD_SULOGIN_FORCE` is true (a drop-in's
/// `Environment=`, or vigild's `--default-environment`), or root's account
/// is locked in `shadow` (its password field starts with `!` or `*`: no
/// password could be typed, and the rescue shell would be out of reach).
pub fn forced(env: Option<&str>, shadow: Option<&str>) -> Option<&'static str> {
    use vigil_units::value::parse_bool;
    if env.is_some_and(|v| parse_bool(v) == Ok(true)) {
        return Some("$SYSTEMD_SULOGIN_FORCE is set");
    }
    let root = shadow?
        .lines()
        .find_map(|l| l.strip_prefix("root:"))?
        .split(':')
        .next()?;
    (root.starts_with('!') || root.starts_with('*')).then_some("root's account is locked")
}

/// What the console is told before the shell starts.
pub fn banner(mode: &str, program: &Program) -> String {
    let mut text = format!(
        "You are in {mode} mode. After logging in, `vigil log` shows the system's log, \
         `vigil reboot` reboots, and `vigil default` or leaving the shell (exit, ^D) \
         starts the default target again.\n"
    );
    if !program.sulogin {
        text.push_str(&format!(
            "No sulogin is installed (Debian's util-linux has it): {} asks for no password.\n",
            program.path.display()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_by_the_environment_or_a_locked_root() {
        let open = "root:$y$j9T$salt$hash:19000:0:99999:7:::\nbin:*:19000::::::\n";
        assert_eq!(forced(None, Some(open)), None);
        assert_eq!(forced(Some("0"), Some(open)), None);
        assert!(forced(Some("yes"), Some(open)).is_some());
        assert!(forced(Some("1"), None).is_some());
        // Debian's installer locks root when a sudo user is made: `*` or `!`.
        assert!(forced(None, Some("root:*:19000:0:99999:7:::\n")).is_some());
        assert!(forced(None, Some("root:!$y$j9T$x:19000::::::\n")).is_some());
        // Another account locked is not root's; an unreadable shadow forces nothing.
        assert_eq!(forced(None, Some("bin:*:1::::::\nroot:x:1::::::\n")), None);
        assert_eq!(forced(None, None), None);
        assert_eq!(forced(Some("maybe"), Some("")), None);
    }
}
