//! The shipped unit files load cleanly with vigil's own parser, and an
//! enabled set (the symlinks `vigil enable` makes) gives the dependencies
//! the boot order relies on.

use std::fs;
use std::path::PathBuf;

use vigil_units::load::load_dirs;
use vigil_units::specifier::SpecifierContext;

fn units_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("units")
}

const SERVICES: [&str; 5] = [
    "vigil-hostname.service",
    "vigil-sysctl.service",
    "vigil-modules.service",
    "vigil-fstab.service",
    "vigil-rundirs.service",
];

#[test]
fn shipped_units_load_without_diagnostics() {
    let set = load_dirs(&[units_dir()], &SpecifierContext::from_environment());
    assert!(set.broken.is_empty(), "{:?}", set.broken);
    assert!(set.diagnostics.is_empty(), "{:?}", set.diagnostics);
    for name in SERVICES
        .iter()
        .chain(&["local-fs.target", "sysinit.target"])
    {
        assert!(set.get(name).is_some(), "{name} missing");
    }
}

#[test]
fn enabled_units_are_wanted_and_fstab_is_required_by_local_fs() {
    let dir = std::env::temp_dir().join(format!("vigil-boot-units-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("sysinit.target.wants")).unwrap();
    fs::create_dir_all(dir.join("local-fs.target.requires")).unwrap();
    for entry in fs::read_dir(units_dir()).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    // What `vigil enable` makes from the [Install] sections; vigil-sysctl
    // left out, as after `vigil disable vigil-sysctl`.
    for s in SERVICES.iter().filter(|s| **s != "vigil-sysctl.service") {
        std::os::unix::fs::symlink(dir.join(s), dir.join("sysinit.target.wants").join(s)).unwrap();
    }
    std::os::unix::fs::symlink(
        dir.join("vigil-fstab.service"),
        dir.join("local-fs.target.requires/vigil-fstab.service"),
    )
    .unwrap();
    let set = load_dirs(
        std::slice::from_ref(&dir),
        &SpecifierContext::from_environment(),
    );
    let sysinit = &set.get("sysinit.target").unwrap().deps;
    let mut wants = sysinit.wants.clone();
    wants.sort();
    assert_eq!(
        wants,
        [
            "local-fs.target",
            "vigil-fstab.service",
            "vigil-hostname.service",
            "vigil-modules.service",
            "vigil-rundirs.service",
        ]
    );
    let local = &set.get("local-fs.target").unwrap().deps;
    assert_eq!(local.requires, ["vigil-fstab.service"]);
    assert!(local.after.contains(&"vigil-fstab.service".to_string()));
    // A file system's driver may be one that modules-load.d lists.
    let fstab = &set.get("vigil-fstab.service").unwrap().deps;
    assert!(fstab.after.contains(&"vigil-modules.service".to_string()));
    let sysctl = &set.get("vigil-sysctl.service").unwrap().deps;
    assert!(sysctl.after.contains(&"vigil-modules.service".to_string()));
    // /var may be a mount of its own: the links under it wait for local-fs.
    let rundirs = &set.get("vigil-rundirs.service").unwrap().deps;
    assert!(rundirs.after.contains(&"local-fs.target".to_string()));
    fs::remove_dir_all(&dir).unwrap();
}
