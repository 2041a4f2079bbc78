//! End-to-end use of the public API on Debian's own unit files: load a
//! configuration directory, expand a command line as the spawner will, enable
//! and disable by symlinks, and evaluate conditions on the real file system.

use std::fs;
use std::path::{Path, PathBuf};

use vigil_units::condition;
use vigil_units::install::{self, InstallChange};
use vigil_units::load::{load_dirs, load_paths};
use vigil_units::unitfile::expand_exec_words;
use vigil_units::{ServiceType, SpecifierContext};

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-units-it-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn data(name: &str) -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

#[test]
fn ssh_and_cron_from_debian_enable_load_and_expand() {
    let d = tmp("debian");
    fs::write(d.join("ssh.service"), data("ssh.service")).unwrap();
    fs::write(d.join("cron.service"), data("cron.service")).unwrap();
    // A local override, as an administrator would write it.
    fs::create_dir_all(d.join("ssh.service.d")).unwrap();
    fs::write(
        d.join("ssh.service.d/override.conf"),
        "[Service]\nEnvironment=SSHD_OPTS=\"-o LogLevel=VERBOSE\"\n",
    )
    .unwrap();
    let ctx = SpecifierContext::default();

    let set = load_dirs(std::slice::from_ref(&d), &ctx);
    assert!(!set.has_errors(), "{:#?}", set.diagnostics);
    let ssh = set.get("ssh").unwrap();
    let svc = ssh.service.as_ref().unwrap();
    assert_eq!(svc.service_type, ServiceType::Notify);

    // Expansion at spawn time: `$SSHD_OPTS` alone is split at whitespace.
    let env = svc.environment.clone();
    let lookup = |k: &str| {
        env.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        expand_exec_words(&svc.exec_start[0].argv, &lookup),
        ["/usr/sbin/sshd", "-D", "-o", "LogLevel=VERBOSE"]
    );
    let none = |_: &str| None;
    assert_eq!(
        expand_exec_words(&svc.exec_start[0].argv, &none),
        ["/usr/sbin/sshd", "-D"]
    );

    // ConditionPathExists=!/etc/ssh/sshd_not_to_be_run.
    let expected = if Path::new("/etc/ssh/sshd_not_to_be_run").exists() {
        Err("ConditionPathExists=!/etc/ssh/sshd_not_to_be_run".to_string())
    } else {
        Ok(())
    };
    assert_eq!(condition::evaluate(&ssh.conditions), expected);

    // Enable both, reload: multi-user.target (built in) wants them; sshd is an alias.
    for name in ["ssh", "cron"] {
        let plan = install::enable_plan(&set, &d, name).unwrap();
        install::apply(&plan).unwrap();
    }
    let set = load_dirs(std::slice::from_ref(&d), &ctx);
    let mu = set.get("multi-user.target").unwrap();
    assert_eq!(mu.deps.wants, ["cron.service", "ssh.service"]);
    assert_eq!(set.get("sshd.service").unwrap().name, "ssh.service");

    let plan = install::disable_plan(&set, &d, "ssh").unwrap();
    assert!(plan.contains(&InstallChange::Remove {
        link: d.join("sshd.service")
    }));
    install::apply(&plan).unwrap();
    let set = load_dirs(std::slice::from_ref(&d), &ctx);
    assert_eq!(
        set.get("multi-user.target").unwrap().deps.wants,
        ["cron.service"]
    );

    // `vigil verify` on the single file gives the same answer: every
    // directive ssh.service uses is enforced now (RuntimeDirectory= was the
    // last one), so there is nothing to warn about.
    let v = load_paths(&[d.join("ssh.service")], &ctx);
    assert!(!v.has_errors());
    let warnings: Vec<String> = v.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    fs::remove_dir_all(&d).unwrap();
}
