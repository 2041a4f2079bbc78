//! The file system check before a mount, as systemd-fsck@.service makes it
//! for an fstab entry whose sixth field (pass) is not 0: `fsck -a -T [-f]
//! [-t TYPE] DEVICE`, and its exit status read as systemd-fsck reads it.
//! Deciding is pure; `run` runs fsck(8).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::fstab::{Entry, Kind, helper, is_read_only};

/// fsck(8)'s exit status bits (fsck(8), "EXIT STATUS").
const CORRECTED: i32 = 1;
const SHOULD_REBOOT: i32 = 2;
const UNCORRECTED: i32 = 4;

/// How to check, from the kernel command line: `fsck.mode=auto|force|skip`
/// and `fsck.repair=preen|yes|no` (or another boolean), and the older
/// `fastboot` and `forcefsck` words and files, as systemd-fsck (built with
/// SysV compatibility, as Debian's is) reads them. Skipping wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub skip: bool,
    pub force: bool,
    /// `-a` (preen: what is safe to fix without asking), `-y` or `-n`.
    pub repair: &'static str,
}

impl Policy {
    /// The last of each option wins; an unknown value is said and ignored.
    /// `fastboot` and `forcefsck`: whether those files are in `/`.
    pub fn from_cmdline(
        cmdline: &str,
        (fastboot, forcefsck): (bool, bool),
        warnings: &mut Vec<String>,
    ) -> Policy {
        let mut p = Policy {
            skip: false,
            force: false,
            repair: "-a",
        };
        let old = |word: &str, mode: &str| {
            format!("{word}: fsck.mode={mode} is the way to say it now (as systemd says)")
        };
        for word in crate::cmdline::words(cmdline) {
            let word = word.as_str();
            match word.split_once('=') {
                Some(("fsck.mode", "auto")) => (p.skip, p.force) = (false, false),
                Some(("fsck.mode", "force")) => (p.skip, p.force) = (false, true),
                Some(("fsck.mode", "skip")) => (p.skip, p.force) = (true, false),
                Some(("fsck.repair", "preen")) => p.repair = "-a",
                Some(("fsck.repair", "yes" | "y" | "true" | "t" | "on" | "1")) => p.repair = "-y",
                Some(("fsck.repair", "no" | "n" | "false" | "f" | "off" | "0")) => p.repair = "-n",
                Some((key @ ("fsck.mode" | "fsck.repair"), value)) => warnings.push(format!(
                    "the kernel command line's {key}={value} is not a value of {key}: ignored"
                )),
                None if word == "fastboot" => {
                    p.skip = true;
                    warnings.push(old("the kernel command line's fastboot", "skip"));
                }
                None if word == "forcefsck" => {
                    p.force = true;
                    warnings.push(old("the kernel command line's forcefsck", "force"));
                }
                _ => {}
            }
        }
        if fastboot {
            p.skip = true;
            warnings.push(old("/fastboot", "skip"));
        }
        if forcefsck {
            p.force = true;
            warnings.push(old("/forcefsck", "force"));
        }
        p
    }
}

/// Whether the entry is checked before it is mounted: a pass that is not 0,
/// a new mount (the root's remount is decided by `root_needs_check`) and a
/// device node as its source, as systemd's fstab generator asks ("not a
/// device": an image, a bind, tmpfs are never checked).
pub fn wanted(e: &Entry) -> bool {
    e.pass != 0 && e.source.starts_with("/dev/") && (e.options.kind == Kind::New || e.target == "/")
}

/// The root is checked only when it is still read-only (checked while
/// written to, it could be damaged), the initramfs has not checked it
/// (initramfs-tools and dracut leave `/run/initramfs/fsck-root`), and the
/// entry's device is the one mounted on `/` (not a stale line; a root with
/// no device of its own, btrfs or a virtual one, has major number 0), as
/// systemd-fsck-root decides.
pub fn root_needs_check(e: &Entry) -> bool {
    use rustix::fs::{major, stat};
    let Ok(root) = stat("/") else {
        return false;
    };
    wanted(e)
        && major(root.st_dev) != 0
        && stat(e.source.as_str()).is_ok_and(|d| d.st_rdev == root.st_dev)
        && is_read_only(Path::new("/"))
        && !Path::new("/run/initramfs/fsck-root").exists()
}

/// The command line the check runs, as `--dry-run` shows it.
pub fn args(e: &Entry, policy: &Policy) -> Vec<String> {
    let mut args = vec![policy.repair.to_string(), "-T".to_string()];
    if policy.force {
        args.push("-f".to_string());
    }
    if e.fstype != "auto" {
        args.extend(["-t".to_string(), e.fstype.clone()]);
    }
    args.push(e.source.clone());
    args
}

/// What a check came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Clean, or errors corrected (true): mount it.
    Checked(bool),
    /// No checker for the type (`fsck.TYPE` missing, as systemd's generator
    /// then asks for none), or no fsck(8): mounted unchecked, with why.
    NotChecked(String),
    /// fsck(8) failed in a way that says nothing of the file system (an
    /// operational error, a usage error, cancelled): systemd ignores it, and
    /// so the mount goes on, with why.
    Ignored(String),
    /// Errors left uncorrected, or a change that needs a reboot: not mounted.
    Failed(String),
    /// The mounted root was changed: the system must reboot.
    Reboot,
}

pub fn run(e: &Entry, policy: &Policy) -> Outcome {
    // fsck(8): `$VIGIL_BOOT_FSCK` (a stand-in, for tests, which needs no
    // checker), else util-linux's or busybox's.
    let stand_in = std::env::var_os("VIGIL_BOOT_FSCK").map(PathBuf::from);
    let Some(fsck) = stand_in.clone().or_else(|| helper("fsck")) else {
        return Outcome::NotChecked("no fsck(8) is installed".into());
    };
    let checker = format!("fsck.{}", e.fstype);
    // `auto` and a list (`ext3,ext4`): fsck(8) finds the type itself.
    let named = e.fstype != "auto" && !e.fstype.contains(',');
    if named && stand_in.is_none() && helper(&checker).is_none() {
        return Outcome::NotChecked(format!("no {checker} is installed"));
    }
    let status = Command::new(&fsck)
        .args(args(e, policy))
        .stdin(Stdio::null())
        .status();
    let code = match status {
        Ok(s) => match s.code() {
            Some(code) => code,
            None => return Outcome::Ignored(format!("{} ended by {s}", fsck.display())),
        },
        Err(err) => return Outcome::Ignored(format!("cannot run {}: {err}", fsck.display())),
    };
    match code {
        0 | CORRECTED => Outcome::Checked(code == CORRECTED),
        c if c & SHOULD_REBOOT != 0 && e.target == "/" => Outcome::Reboot,
        c if c & (SHOULD_REBOOT | UNCORRECTED) != 0 => Outcome::Failed(format!(
            "fsck found errors it could not correct (exit status {c}): check {} by hand",
            e.source
        )),
        c => Outcome::Ignored(format!("fsck failed (exit status {c})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fstab::parse;

    fn entries(text: &str) -> Vec<Entry> {
        parse(Path::new("/etc/fstab"), text).0
    }

    #[test]
    fn devices_with_a_pass_are_checked() {
        let e = entries(
            "/dev/sda2 /home ext4 defaults 0 2\n\
             /dev/sda3 /srv ext4 defaults 0 0\n\
             /dev/sda4 /data ext4 defaults\n\
             /img /mnt/img ext4 loop 0 2\n\
             tmpfs /tmp tmpfs defaults 0 2\n\
             /home /mnt/home none bind 0 2\n\
             UUID=ab /boot/efi vfat umask=0077 0 1\n\
             /dev/sda1 / ext4 errors=remount-ro 0 1\n\
             /dev/sda5 /var ext4 defaults 0 -1\n",
        );
        let checked: Vec<bool> = e.iter().map(wanted).collect();
        assert_eq!(
            checked,
            [true, false, false, false, false, false, true, true, true]
        );
        // Not the device mounted on / (nor read-only, here).
        assert!(!root_needs_check(&e[7]));
    }

    #[test]
    fn the_command_line_and_the_kernel_options() {
        let e = &entries("/dev/sda2 /home ext4 defaults 0 2\n/dev/sdb1 /x auto defaults 0 2\n");
        let mut warnings = Vec::new();
        let none = (false, false);
        let p = Policy::from_cmdline("ro quiet", none, &mut warnings);
        assert_eq!(args(&e[0], &p), ["-a", "-T", "-t", "ext4", "/dev/sda2"]);
        assert_eq!(args(&e[1], &p), ["-a", "-T", "/dev/sdb1"]);
        let p = Policy::from_cmdline("fsck.mode=force fsck.repair=yes", none, &mut warnings);
        assert_eq!(
            args(&e[0], &p),
            ["-y", "-T", "-f", "-t", "ext4", "/dev/sda2"]
        );
        let p = Policy::from_cmdline("fsck.repair=no fsck.mode=skip", none, &mut warnings);
        assert!(p.skip && p.repair == "-n");
        let p = Policy::from_cmdline("fsck.repair=1", none, &mut warnings);
        assert_eq!(p.repair, "-y");
        assert!(warnings.is_empty());
        let p = Policy::from_cmdline("fsck.mode=later fsck.repair=maybe", none, &mut warnings);
        assert_eq!(p, Policy::from_cmdline("", none, &mut Vec::new()));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("fsck.mode=later"), "{warnings:?}");
        // The old words and files; skipping wins over forcing.
        warnings.clear();
        assert!(Policy::from_cmdline("forcefsck", none, &mut warnings).force);
        assert!(Policy::from_cmdline("", (false, true), &mut warnings).force);
        let p = Policy::from_cmdline("forcefsck", (true, false), &mut warnings);
        assert!(p.skip && p.force);
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(
            warnings[3].starts_with("/fastboot: fsck.mode=skip"),
            "{warnings:?}"
        );
    }
}
